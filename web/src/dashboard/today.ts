// Today: the clinic's open alerts, live over the event stream, critical
// first then oldest first; overdue follow-ups and silent patients in a
// section of their own. The tab title counts the open alerts per tier.
import { query } from "../lib/api";
import { h, replace } from "../lib/dom";
import { ago, dateTime } from "../lib/format";
import { t, words } from "../lib/i18n";
import { openStream } from "../lib/sse";
import { acknowledge, resolve, snooze } from "./actions";
import { api, clinicParam, patientNames, state, type Alert } from "./state";

const SCHEDULE_SIGNALS = new Set(["follow_up_overdue", "stale_data"]);

function tierRank(a: Alert): number {
  return a.tier === "critical" ? 0 : 1;
}

// The facts that fired the rule, with their values: "systolic 192 mmHg · diastolic 121 mmHg".
function factsText(latest: unknown): string {
  if (!Array.isArray(latest)) return "";
  return latest
    .filter((f: { value?: unknown }) => f && f.value !== null && f.value !== undefined)
    .map((f: { fact?: string; value?: unknown; unit?: string }) => {
      const v = typeof f.value === "number" ? Math.round(f.value * 10) / 10 : String(f.value);
      const name = (f.fact ?? "").split(".").pop() ?? "";
      return `${name} ${v}${f.unit ? " " + f.unit : ""}`.trim();
    })
    .join(" · ");
}

export function renderToday(main: HTMLElement): () => void {
  const alerts = new Map<number, Alert>();
  const status = h("span", { class: "live", "data-testid": "live-state", "data-state": "connecting", role: "status" }, t("reconnecting"));
  const counts = h("div", { class: "counts", "aria-live": "polite" });
  const list = h("ol", { class: "alerts", "data-testid": "open-alerts", "aria-label": t("open_alerts") });
  const schedule = h("ol", { class: "alerts", "data-testid": "followups", "aria-label": t("followups") });
  replace(main,
    h("div", { class: "view-head" }, h("h1", {}, t("today")), counts, status),
    h("section", { class: "card" }, h("h2", {}, t("open_alerts")), list),
    h("section", { class: "card" }, h("h2", {}, t("followups")), schedule));

  function upsert(a: Alert): void {
    const had = alerts.get(a.id);
    if (had && had.updated_at > a.updated_at) return;
    if (a.status === "open") alerts.set(a.id, a);
    else alerts.delete(a.id);
  }

  function card(a: Alert): HTMLElement {
    const done = (u: Alert) => {
      upsert(u);
      draw();
    };
    const name = state.names.get(a.patient_id) ?? `#${a.patient_id}`;
    return h("li", { class: `alert tier-${a.tier}`, "data-alert-id": a.id, "data-testid": "alert" },
      h("div", { class: "alert-main" },
        h("span", { class: `badge ${a.tier}` }, t(a.tier)),
        h("a", { href: `#/patients/${a.patient_id}`, class: "patient-link" }, name),
        h("span", { class: "signal" }, SCHEDULE_SIGNALS.has(a.signal) ? t(`signal_${a.signal}`) : a.signal),
        h("span", { class: "values" }, factsText(a.latest)),
        h("p", { class: "reason" }, words(a.reason)),
        h("span", { class: "muted" }, `${t("opened")} ${dateTime(a.opened_at)} (${ago(a.opened_at)})`,
          a.count > 1 ? ` · ${t("count")} ${a.count}` : "")),
      h("div", { class: "alert-actions" },
        h("button", { type: "button", class: "primary", onclick: () => acknowledge(a, done) }, t("acknowledge")),
        h("button", { type: "button", onclick: () => snooze(a, done) }, t("snooze")),
        h("button", { type: "button", onclick: () => resolve(a, done) }, t("resolve"))));
  }

  function draw(): void {
    const all = [...alerts.values()].sort(
      (x, y) => tierRank(x) - tierRank(y) || x.opened_at.localeCompare(y.opened_at) || x.id - y.id);
    const live = all.filter((a) => !SCHEDULE_SIGNALS.has(a.signal));
    const sched = all.filter((a) => SCHEDULE_SIGNALS.has(a.signal));
    replace(list, live.length ? live.map(card) : h("li", { class: "empty" }, t("no_open_alerts")));
    replace(schedule, sched.length ? sched.map(card) : h("li", { class: "empty" }, t("no_followups")));
    const crit = all.filter((a) => a.tier === "critical").length;
    const warn = all.length - crit;
    replace(counts,
      h("span", { class: "badge critical", "data-testid": "count-critical" }, `${t("critical")} ${crit}`),
      h("span", { class: "badge warning", "data-testid": "count-warning" }, `${t("warning")} ${warn}`));
    document.title = `(${crit} · ${warn}) ${t("today")} — CareLoop`;
  }

  let redraw = 0;
  // A failed load (a lost session logs out by itself) is shown, never left unhandled.
  function showError(e: unknown): void {
    replace(list, h("li", { class: "error", role: "alert" }, e instanceof Error ? e.message : String(e)));
  }
  async function refreshNames(): Promise<void> {
    try {
      await patientNames([...alerts.values()].map((a) => a.patient_id));
    } catch {
      // names fall back to ids
    }
    draw();
  }

  const stream = openStream(
    `/api/v1/clinic/events${query(clinicParam())}`,
    () => api.token,
    (ev) => {
      try {
        const payload = JSON.parse(ev.data) as { alert?: Alert; event?: string; patient_id?: number };
        if (payload.alert) {
          upsert(payload.alert);
          draw();
          if (!state.names.has(payload.alert.patient_id)) void refreshNames();
        } else if (payload.event === "patient.anonymised") {
          // The record left care: its alerts were resolved with it.
          for (const [id, a] of alerts) if (a.patient_id === payload.patient_id) alerts.delete(id);
          draw();
        }
      } catch {
        // not an alert event
      }
    },
    (s) => {
      status.textContent = t(s);
      status.dataset.state = s;
      // After a (re)connection the stream resumes from the last event; a full reload covers the first connect.
      if (s === "live" && !redraw++) void load().catch(showError);
    },
  );

  async function load(): Promise<void> {
    let cursor: string | undefined;
    for (let page = 0; page < 20; page++) {
      const r = await api.get<{ alerts: Alert[]; next_cursor?: string }>(
        `/api/v1/clinic/alerts${query({ ...clinicParam(), status: "open", limit: 500, cursor })}`);
      for (const a of r.alerts) upsert(a);
      if (!r.next_cursor) break;
      cursor = r.next_cursor;
    }
    await refreshNames();
  }
  draw();
  // Without a stream (a proxy that buffers it), the list still loads.
  const fallback = setTimeout(() => {
    if (!redraw++) void load().catch(showError);
  }, 3000);
  const tick = setInterval(draw, 60_000);
  return () => {
    stream.close();
    clearInterval(tick);
    clearTimeout(fallback);
    document.title = "CareLoop";
  };
}
