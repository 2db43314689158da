// Dates in the clinic's time zone, glucose in the preferred unit.
import { lang, t } from "./i18n";

let zone = "Asia/Shanghai";
export function setTimeZone(tz: string | undefined): void {
  if (tz) zone = tz;
}
export function timeZone(): string {
  return zone;
}

function fmt(opts: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat(lang() === "en" ? "en-GB" : "zh-CN", { timeZone: zone, hour12: false, ...opts });
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  return fmt({ year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }).format(new Date(iso));
}

export function date(iso: string | number | Date): string {
  return fmt({ year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(iso));
}

// "3 h ago" / "3 小时前"
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return t("never");
  const s = Math.max(0, (now - new Date(iso).getTime()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(lang() === "en" ? "en" : "zh-CN", { numeric: "auto" });
  if (s < 60) return rtf.format(-Math.round(s), "second");
  if (s < 3600) return rtf.format(-Math.round(s / 60), "minute");
  if (s < 86400) return rtf.format(-Math.round(s / 3600), "hour");
  return rtf.format(-Math.round(s / 86400), "day");
}

// The calendar day (YYYY-MM-DD) of an instant in the clinic's zone.
export function zoneDay(d: Date): string {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(d);
  return parts;
}

// The instant a YYYY-MM-DD day starts in the clinic's zone.
export function zoneDayStart(day: string): Date {
  const guess = new Date(`${day}T00:00:00Z`);
  // The zone's offset at that instant, from its wall clock.
  const wall = new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(guess);
  const get = (k: string) => Number(wall.find((p) => p.type === k)?.value);
  const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return new Date(guess.getTime() - (asUtc - guess.getTime()));
}

// ISO 8601 with this device's offset, as readings are sent (the API keeps the offset).
export function localIso(d = new Date()): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const pad = (n: number) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${sign}${pad(off / 60)}:${pad(off % 60)}`;
}

export type GlucoseUnit = "mmol/L" | "mg/dL";
const GKEY = "careloop.glucoseUnit";
export const MG_PER_MMOL = 18.016;

export function glucoseUnit(): GlucoseUnit {
  return localStorage.getItem(GKEY) === "mg/dL" ? "mg/dL" : "mmol/L";
}
export function setGlucoseUnit(u: GlucoseUnit): void {
  localStorage.setItem(GKEY, u);
}
export function glucose(mmol: number | null | undefined, withUnit = true): string {
  if (mmol === null || mmol === undefined) return "—";
  const u = glucoseUnit();
  const v = u === "mg/dL" ? Math.round(mmol * MG_PER_MMOL) : Math.round(mmol * 10) / 10;
  return withUnit ? `${v} ${u}` : String(v);
}
export function glucoseValue(mmol: number): number {
  return glucoseUnit() === "mg/dL" ? mmol * MG_PER_MMOL : mmol;
}

// RFC 3339 in UTC without fractional seconds, as query parameters take it.
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}
