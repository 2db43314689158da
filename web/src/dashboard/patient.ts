// One patient: charts (BP with target band and medication changes, glucose
// with its range band, fasting apart from non-fasting, weight, pulse) over
// 7/30/90 days or a custom range, the readings, the care plan (proposed
// beside current, approve / edit / reject), risk scores and alert history;
// export of the record (FHIR) and, for an administrator, anonymisation.
import { ApiError, query } from "../lib/api";
import { chart } from "../lib/charts";
import { h, replace } from "../lib/dom";
import { date, dateTime, glucose, glucoseUnit, glucoseValue, isoSeconds, zoneDay, zoneDayStart } from "../lib/format";
import { t, words } from "../lib/i18n";
import { renderPlan, type PlanVersion } from "./plan";
import { recordActions } from "./privacy";
import { renderVisits } from "./visits";
import { api, clinicParam, state, type Alert, type PatientSummary } from "./state";

interface Reading {
  id: number;
  kind: string;
  taken_at: string;
  systolic?: number;
  diastolic?: number;
  pulse?: number;
  value?: number;
  unit?: string;
  context?: string;
  name?: string;
  status?: string;
  source?: string;
}
interface Profile {
  id: number;
  name: string;
  sex: string;
  birth_date: string;
  diagnoses: { code: string; diagnosed_on: string }[];
  comorbidities: string[];
  medications: { name: string; dose: string; since: string }[];
}
interface RiskScore {
  model_id: string;
  title?: string;
  probability: number;
  band: string;
  computed_at: string;
  factors: { label: string; value: number | null; unit: string; contribution_log_odds: number; text: string }[];
}

const secs = (iso: string) => Math.floor(new Date(iso).getTime() / 1000);

export function renderPatient(main: HTMLElement, id: number): () => void {
  let alive = true;
  const head = h("div", { class: "view-head" }, h("h1", {}, t("loading")));
  const rangeBar = h("div", { class: "card toolbar", role: "group", "aria-label": t("range") });
  const charts = h("section", { class: "charts" });
  const readingsBox = h("section", { class: "card" });
  const planBox = h("section", { class: "card plan", "data-testid": "care-plan" });
  const riskBox = h("section", { class: "card" });
  const alertsBox = h("section", { class: "card" });
  const visitsBox = h("section", { class: "card", "data-testid": "visits" });
  replace(main, head, rangeBar, h("div", { class: "patient-grid" },
    h("div", { class: "col-main" }, charts, readingsBox),
    h("div", { class: "col-side" }, planBox, visitsBox, riskBox, alertsBox)));

  let profile: Profile | null = null;
  let summary: PatientSummary | null = null;
  let days = 30;
  let custom: [string, string] | null = null;

  function drawRangeBar(): void {
    const from = h("input", { type: "date", id: "range-from", value: custom?.[0] ?? "" });
    const to = h("input", { type: "date", id: "range-to", value: custom?.[1] ?? "" });
    replace(rangeBar,
      h("span", {}, t("range")),
      [7, 30, 90].map((d) => h("button", {
        type: "button", class: "chip", "aria-pressed": !custom && days === d ? "true" : "false", "data-range": d,
        onclick: () => { days = d; custom = null; void loadReadings(); drawRangeBar(); },
      }, `${d} ${t("days")}`)),
      h("label", { for: "range-from" }, t("from")), from, h("label", { for: "range-to" }, t("to")), to,
      h("button", { type: "button", onclick: () => {
        if (from.value && to.value && from.value <= to.value) { custom = [from.value, to.value]; void loadReadings(); drawRangeBar(); }
      } }, t("apply")));
  }

  function range(): [Date, Date] {
    if (custom) {
      const end = zoneDayStart(custom[1]);
      return [zoneDayStart(custom[0]), new Date(end.getTime() + 86400_000)];
    }
    const now = new Date();
    const start = zoneDayStart(zoneDay(new Date(now.getTime() - (days - 1) * 86400_000)));
    return [start, now];
  }

  async function loadReadings(): Promise<void> {
    const [from, to] = range();
    const all: Reading[] = [];
    let cursor: string | undefined;
    try {
      for (let page = 0; page < 20; page++) {
        const r = await api.get<{ readings: Reading[]; next_cursor?: string }>(
          `/api/v1/clinic/patients/${id}/readings${query({ from: isoSeconds(from), to: isoSeconds(to), limit: 1000, cursor })}`);
        all.push(...r.readings);
        if (!r.next_cursor) break;
        cursor = r.next_cursor;
      }
    } catch (e) {
      replace(charts, h("p", { class: "error" }, String(e)));
      return;
    }
    if (!alive) return;
    drawCharts(all, [secs(from.toISOString()), secs(to.toISOString())]);
    drawReadings(all);
  }

  function drawCharts(rs: Reading[], xr: [number, number]): void {
    replace(charts);
    const markers = (profile?.medications ?? []).map((m) => ({ at: secs(zoneDayStart(m.since).toISOString()), label: `${m.name} ${m.dose}` }));
    const bp = rs.filter((r) => r.kind === "blood_pressure");
    const target = summary?.bp_30d?.target ?? { systolic: 140, diastolic: 90 };
    const boxes: HTMLElement[] = [];
    const add = (testid: string) => {
      const el = h("div", { class: "card chart", "data-testid": testid });
      charts.appendChild(el);
      boxes.push(el);
      return el;
    };
    if (!rs.length) {
      charts.appendChild(h("p", { class: "card muted" }, t("no_readings")));
    }
    if (bp.length) {
      chart(add("chart-bp"), {
        title: `${t("bp")} — ${t("target_band")} <${target.systolic}/${target.diastolic}`,
        unit: "mmHg", x: bp.map((r) => secs(r.taken_at)), range: xr,
        series: [
          { label: t("systolic"), color: "#b00020", values: bp.map((r) => r.systolic ?? null) },
          { label: t("diastolic"), color: "#0b5394", values: bp.map((r) => r.diastolic ?? null) },
        ],
        bands: [{ from: target.diastolic, to: target.systolic, color: "rgba(46, 125, 50, 0.12)" }],
        markers,
      });
    }
    const gl = rs.filter((r) => r.kind === "glucose" && typeof r.value === "number");
    if (gl.length) {
      const fasting = (r: Reading) => r.context === "fasting";
      chart(add("chart-glucose"), {
        title: `${t("glucose")} — ${t("target_band")} ${glucose(3.9, false)}–${glucose(10, false)} ${glucoseUnit()}`,
        unit: glucoseUnit(), x: gl.map((r) => secs(r.taken_at)), range: xr,
        series: [
          { label: t("fasting"), color: "#6a1b9a", points: true, values: gl.map((r) => (fasting(r) ? glucoseValue(r.value as number) : null)) },
          { label: t("nonfasting"), color: "#e65100", points: true, values: gl.map((r) => (!fasting(r) ? glucoseValue(r.value as number) : null)) },
        ],
        bands: [{ from: glucoseValue(3.9), to: glucoseValue(10), color: "rgba(46, 125, 50, 0.12)" }],
        markers,
      });
    }
    const wt = rs.filter((r) => r.kind === "weight" && typeof r.value === "number");
    if (wt.length) {
      chart(add("chart-weight"), {
        title: t("weight"), unit: "kg", x: wt.map((r) => secs(r.taken_at)), range: xr,
        series: [{ label: t("weight"), color: "#1b5e20", values: wt.map((r) => r.value as number) }], markers,
      });
    }
    const pulse = rs.filter((r) => (r.kind === "blood_pressure" && typeof r.pulse === "number") || r.kind === "heart_rate");
    if (pulse.length) {
      chart(add("chart-pulse"), {
        title: t("pulse"), unit: "/min", x: pulse.map((r) => secs(r.taken_at)), range: xr,
        series: [{ label: t("pulse"), color: "#37474f", values: pulse.map((r) => (r.kind === "heart_rate" ? (r.value ?? null) : (r.pulse ?? null))) }],
      });
    }
  }

  function valueOf(r: Reading): string {
    switch (r.kind) {
      case "blood_pressure": return `${r.systolic}/${r.diastolic} mmHg${r.pulse ? ` · ${r.pulse}/min` : ""}`;
      case "glucose": return `${glucose(r.value)}${r.context ? ` · ${t(r.context === "fasting" ? "fasting" : r.context)}` : ""}`;
      case "medication": return `${r.name ?? ""} · ${t(r.status ?? "")}`;
      default: return `${r.value ?? ""} ${r.unit ?? ""}`;
    }
  }

  function drawReadings(rs: Reading[]): void {
    const newest = [...rs].reverse().slice(0, 300);
    replace(readingsBox, h("h2", {}, `${t("readings")} (${rs.length})`),
      h("div", { class: "table-wrap scroll" }, h("table", { "data-testid": "readings-table" },
        h("thead", {}, h("tr", {}, [t("time"), t("kind"), t("value"), t("source")].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, newest.map((r) => h("tr", { "data-reading-id": r.id },
          h("td", {}, dateTime(r.taken_at)), h("td", {}, t(r.kind === "blood_pressure" ? "bp" : r.kind)),
          h("td", {}, valueOf(r)), h("td", { class: "muted" }, r.source ?? "")))))));
  }

  async function loadRisk(): Promise<void> {
    try {
      const r = await api.get<{ scores: RiskScore[] }>(`/api/v1/clinic/patients/${id}/risk`);
      replace(riskBox, h("h2", {}, t("risk_scores")), r.scores.length ? h("ul", { class: "risks" }, r.scores.map((s) => h("li", {},
        h("div", {}, h("strong", {}, s.title ?? s.model_id), " ",
          h("span", { class: `band band-${s.band}` }, `${t(`band_${s.band}`)} ${(s.probability * 100).toFixed(1)}%`)),
        h("div", { class: "muted small" }, dateTime(s.computed_at)),
        h("div", { class: "small" }, t("top_factors"), ":"),
        h("ol", { class: "factors" }, s.factors.map((f) => h("li", {}, `${f.text} `,
          h("span", { class: f.contribution_log_odds > 0 ? "up" : "down" }, f.contribution_log_odds > 0 ? "▲" : "▼"))))))) : h("p", { class: "muted" }, t("none")));
    } catch (e) {
      replace(riskBox, h("h2", {}, t("risk_scores")), h("p", { class: "muted" }, String(e)));
    }
  }

  async function loadAlerts(): Promise<void> {
    try {
      const r = await api.get<{ alerts: Alert[] }>(`/api/v1/clinic/alerts${query({ ...clinicParam(), clinic_id: summary?.clinic_id ?? state.clinicId, patient_id: id, status: "all", limit: 100 })}`);
      replace(alertsBox, h("h2", {}, t("alert_history")), r.alerts.length ? h("table", { class: "small", "data-testid": "alert-history" },
        h("thead", {}, h("tr", {}, [t("opened"), t("status"), t("reason"), t("action")].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, r.alerts.map((a) => h("tr", {},
          h("td", {}, dateTime(a.opened_at)),
          h("td", {}, h("span", { class: `badge ${a.tier}` }, t(a.tier)), " ", t(`status_${a.status}`)),
          h("td", {}, words(a.reason)),
          h("td", {}, a.acknowledgement ? `${t(a.acknowledgement.action)}${a.acknowledgement.note ? ": " + a.acknowledgement.note : ""}` : "—"))))) :
        h("p", { class: "muted" }, t("none")));
    } catch (e) {
      replace(alertsBox, h("h2", {}, t("alert_history")), h("p", { class: "muted" }, String(e)));
    }
  }

  async function loadPlan(): Promise<void> {
    try {
      const r = await api.get<{ current: PlanVersion | null; proposed: PlanVersion | null }>(`/api/v1/clinic/patients/${id}/care-plans`);
      renderPlan(planBox, id, r.current, r.proposed, () => void loadPlan());
    } catch (e) {
      // The router's own 404 ("No resource at ..."): the care plan API is not on this server.
      const missing = e instanceof ApiError && e.status === 404 && /^No resource at/.test(e.problem?.detail ?? "");
      replace(planBox, h("h2", {}, t("care_plan")),
        h("p", { class: "muted", "data-testid": missing ? "plan-unavailable" : "plan-error" }, missing ? t("plan_unavailable") : String(e)));
    }
  }

  void (async () => {
    try {
      const [rec, list] = await Promise.all([
        api.get<{ patient: Profile; account: { username: string } | null }>(`/api/v1/clinic/patients/${id}`),
        api.get<{ items: PatientSummary[] }>(`/api/v1/clinic/patients${query({ ...clinicParam(), q: id })}`),
      ]);
      if (!alive) return;
      profile = rec.patient;
      summary = list.items.find((p) => p.id === id) ?? null;
      state.names.set(id, profile.name);
      document.title = `${profile.name} — CareLoop`;
      replace(head, h("div", {},
        h("h1", { "data-testid": "patient-name" }, profile.name),
        h("p", { class: "muted" },
          [`#${profile.id}`, `${summary?.age ?? ""}${t("years")} ${t(profile.sex)}`, date(profile.birth_date),
            profile.diagnoses.map((d) => t(d.code)).join("、"), profile.comorbidities.join(", ")].filter(Boolean).join(" · ")),
        profile.medications.length ? h("p", {}, `${t("medications")}: `, profile.medications.map((m) => `${m.name} ${m.dose} (${date(m.since)})`).join("; ")) : null,
        recordActions(id, () => {
          if (!alive) return;
          replace(main, h("p", { class: "card", role: "status", "data-testid": "anonymised" }, t("anon_done", { id }), " ",
            h("a", { href: "#/patients" }, t("patients"))));
        })),
        summary?.flags.length ? h("div", {}, summary.flags.map((f) => h("span", { class: "flag" }, t(`filter_${f}`)))) : null);
    } catch (e) {
      replace(head, h("p", { class: "error", role: "alert" }, e instanceof Error ? e.message : String(e)));
      return;
    }
    drawRangeBar();
    await Promise.all([loadReadings(), loadPlan(), loadRisk(), loadAlerts(),
      renderVisits(visitsBox, id, () => { void loadReadings(); setTimeout(() => void loadPlan(), 3000); })]);
  })();

  return () => {
    alive = false;
    document.title = "CareLoop";
  };
}

