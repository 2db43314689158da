// Population reports (issue 6): a region's or a clinic's HEARTS indicators for
// a month, read from GET /api/v1/reports/{regions|clinics}/{id}. The page
// shows only what the API published: a suppressed cell arrives as null. A
// true count of 1–4 (listed in suppressed_small) is shown as "<5"; a cell
// hidden only so that no subtraction reveals another says "hidden", never
// "<5", which would tell a health authority something false. The page never
// computes a figure of its own, so the screen, the CSV, the JSON and the FHIR
// export carry the same numbers.
//
// Route: #/reports/region/ID?month=YYYY-MM or #/reports/clinic/ID?month=...
import "./reports.css";
import { ApiError, query } from "../lib/api";
import { chart } from "../lib/charts";
import { h, replace } from "../lib/dom";
import { addWords, t } from "../lib/i18n";
import { api, state } from "./state";

addWords({
  reports: "人群报表", rep_month: "月份", rep_zone: "时区 {tz}", rep_path: "行政区划", rep_csv: "下载 CSV",
  rep_csv_trend: "下载趋势 CSV", rep_suppression: "为保护隐私，1–4 的计数不予公布（显示为 <5）；可由减法推出它们的单元格也不公布（显示为“已隐藏”，其值可大可小）。公布的最小计数为 {n}。",
  rep_registered_cumulative: "累计登记", rep_registered_month: "本月新登记", rep_cohort: "纳入管理（登记满3个月）",
  rep_controlled: "控制达标", rep_uncontrolled: "未达标", rep_missed_visit: "3个月内无随访", rep_visit_no_measure: "有随访但未测量",
  rep_ltfu: "失访（12个月无记录）", rep_rate_columns: "各行依次为：人数、占管理人数比例、占未失访人数比例。",
  rep_trend: "12个月趋势", rep_trend_title: "控制率与漏访率（%）", rep_htn_controlled: "高血压控制率",
  rep_dm_controlled: "糖尿病控制率", rep_htn_missed: "高血压漏访率", rep_dm_missed: "糖尿病漏访率",
  rep_children: "下级单位对比", rep_clinic_self: "下级单位", rep_no_children: "没有下级单位。", rep_unit: "单位",
  rep_breakdowns: "按性别和年龄组", rep_group: "分组", rep_cohorts: "季度队列结局", rep_quarter: "登记季度",
  rep_cohorts_hint: "按登记季度分组的患者在所选月份的结局。", rep_risk: "风险分层", rep_alert_actions: "警报处理率",
  rep_alert_type: "警报类型", rep_all_types: "全部", suppressed_hint: "1–4 例，为保护隐私不予公布", complement_hint: "为防止推算出小计数而隐藏，并非小计数", hidden: "已隐藏", not_applicable: "不适用",
  col_htn_cohort: "高血压管理人数", col_htn_controlled: "高血压达标", col_htn_uncontrolled: "高血压未达标",
  col_htn_missed_visit: "高血压漏访", col_htn_ltfu: "高血压失访", col_htn_controlled_rate: "高血压控制率",
  col_htn_missed_visit_rate: "高血压漏访率", col_htn_ltfu_rate: "高血压失访率",
  col_dm_cohort: "糖尿病管理人数", col_dm_controlled: "糖尿病达标", col_dm_uncontrolled: "糖尿病未达标",
  col_dm_missed_visit: "糖尿病漏访", col_dm_ltfu: "糖尿病失访", col_dm_controlled_rate: "糖尿病控制率",
  col_dm_missed_visit_rate: "糖尿病漏访率", col_dm_ltfu_rate: "糖尿病失访率", col_patients_registered: "登记患者",
  col_risk_high: "高风险", col_risk_moderate: "中风险", col_risk_low: "低风险", col_risk_unscored: "未评分",
  col_alerts: "警报数", col_acted: "已处理", col_action_rate: "处理率",
}, {
  reports: "Population reports", rep_month: "Month", rep_zone: "time zone {tz}", rep_path: "Region tree",
  rep_csv: "Download CSV", rep_csv_trend: "Download trend CSV",
  rep_suppression: "To protect privacy, counts of 1–4 are not published (shown as <5), nor are the cells that would reveal them by subtraction (shown as hidden; they may be of any size). The smallest published count is {n}.",
  rep_registered_cumulative: "Registered (cumulative)", rep_registered_month: "Registered this month",
  rep_cohort: "Under management (registered ≥ 3 months)", rep_controlled: "Controlled", rep_uncontrolled: "Uncontrolled",
  rep_missed_visit: "No visit in 3 months", rep_visit_no_measure: "Visit without a measurement",
  rep_ltfu: "Lost to follow-up (no record in 12 months)",
  rep_rate_columns: "Columns: count, share of those under management, share excluding the lost to follow-up.",
  rep_trend: "12-month trend", rep_trend_title: "Control and missed-visit rates (%)",
  rep_htn_controlled: "Hypertension controlled", rep_dm_controlled: "Diabetes controlled",
  rep_htn_missed: "Hypertension missed visit", rep_dm_missed: "Diabetes missed visit",
  rep_children: "Sub-units side by side", rep_clinic_self: "Sub-units", rep_no_children: "No sub-units.", rep_unit: "Unit",
  rep_breakdowns: "By sex and age band", rep_group: "Group", rep_cohorts: "Quarterly cohort outcomes",
  rep_quarter: "Registered in", rep_cohorts_hint: "Patients grouped by the quarter they were registered in, as of the chosen month.",
  rep_risk: "Risk bands", rep_alert_actions: "Alert action rates", rep_alert_type: "Alert type", rep_all_types: "All",
  suppressed_hint: "1 to 4, not published to protect privacy", complement_hint: "Hidden so that no small count can be worked out; not a small count", hidden: "hidden", not_applicable: "Not applicable",
  col_htn_cohort: "HTN managed", col_htn_controlled: "HTN controlled", col_htn_uncontrolled: "HTN uncontrolled",
  col_htn_missed_visit: "HTN missed visit", col_htn_ltfu: "HTN lost", col_htn_controlled_rate: "HTN control rate",
  col_htn_missed_visit_rate: "HTN missed-visit rate", col_htn_ltfu_rate: "HTN lost rate",
  col_dm_cohort: "DM managed", col_dm_controlled: "DM controlled", col_dm_uncontrolled: "DM uncontrolled",
  col_dm_missed_visit: "DM missed visit", col_dm_ltfu: "DM lost", col_dm_controlled_rate: "DM control rate",
  col_dm_missed_visit_rate: "DM missed-visit rate", col_dm_ltfu_rate: "DM lost rate",
  col_patients_registered: "Registered patients", col_risk_high: "High risk", col_risk_moderate: "Moderate risk",
  col_risk_low: "Low risk", col_risk_unscored: "Not scored", col_alerts: "Alerts", col_acted: "Acted on",
  col_action_rate: "Action rate",
});

type Unit = { id: number; level?: string; name: string; type: "region" | "clinic" };
type Values = Record<string, number | null>;
interface Row {
  unit: Unit;
  breakdown: string;
  group: string;
  values: Values;
  suppressed: string[];
  suppressed_small?: string[];  // of those, the true counts of 1–4
}
interface Table {
  columns: string[];
  rows: Row[];
}
interface Report {
  unit: Unit;
  month: string;
  time_zone: string;
  path: Unit[];
  children: Unit[];
  indicators: Table;
  trend: Table;
  cohorts: Table;
  alerts: Table;
  suppression: { min_published: number; rule: string };
}

export type UnitType = "region" | "clinic";

// Where an account's reports start: an authority at its region, a doctor at
// its clinic, an administrator at the clinic in view (its path leads up).
export function defaultReportHash(): string {
  const u = state.user;
  if (u?.role === "authority" && u.region_id) return `#/reports/region/${u.region_id}`;
  if (u?.clinic_id) return `#/reports/clinic/${u.clinic_id}`;
  if (state.clinicId) return `#/reports/clinic/${state.clinicId}`;
  return "#/reports/region/1";
}

function unitHash(u: Unit, month: string): string {
  return `#/reports/${u.type}/${u.id}${query({ month })}`;
}

// A published count or rate; null is a suppressed cell (or a rate over 0).
function cell(row: Row | undefined, column: string, kind: "count" | "rate" = "count"): HTMLElement {
  if (!row) return h("td", { class: "num muted" }, "—");
  const v = row.values[column];
  if (v === null || v === undefined) {
    const suppressed = row.suppressed.includes(column);
    if (!suppressed) return h("td", { class: "num muted", title: t("not_applicable") }, "—");
    const small = (row.suppressed_small ?? []).includes(column);
    return h("td", { class: "num muted", title: small ? t("suppressed_hint") : t("complement_hint"),
      "data-suppressed": small ? "small" : "complement", "data-hidden-column": column },
      small ? "<5" : t("hidden"));
  }
  return h("td", { class: "num", "data-column": column }, kind === "rate" ? percent(v) : String(v));
}

function wrap(table: HTMLElement): HTMLElement {
  return h("div", { class: "table-wrap" }, table);
}

function percent(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
}

function currentMonth(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}`;
}

// Downloads a format with the session's token (a plain link cannot send it).
async function download(type: UnitType, id: number, month: string, format: string, table = "indicators"): Promise<void> {
  const path = `/api/v1/reports/${type === "region" ? "regions" : "clinics"}/${id}${query({ month, format, table: format === "csv" ? table : undefined })}`;
  const res = await fetch(path, { headers: { Authorization: `Bearer ${api.token ?? ""}` } });
  if (!res.ok) throw new ApiError(res.status, null);
  const blob = await res.blob();
  const ext = format === "csv" ? "csv" : "json";
  const name = `careloop-${type}-${id}-${month}-${format === "csv" ? table : format}.${ext}`;
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const CONDITIONS = [
  { key: "htn", label: "hypertension" },
  { key: "dm", label: "diabetes_t2" },
] as const;

function headline(unitRow: Row | undefined): HTMLElement {
  const cards = CONDITIONS.map((c) => {
    const rate = (col: string) => cell(unitRow, `${c.key}_${col}`, "rate");
    const count = (col: string) => cell(unitRow, `${c.key}_${col}`);
    return h("section", { class: "card report-card", "data-condition": c.key },
      h("h3", {}, t(c.label)),
      h("table", { class: "kv" },
        h("tbody", {},
          h("tr", {}, h("th", {}, t("rep_registered_cumulative")), count("registered_cumulative")),
          h("tr", {}, h("th", {}, t("rep_registered_month")), count("registered_month")),
          h("tr", {}, h("th", {}, t("rep_cohort")), count("cohort")),
          h("tr", {}, h("th", {}, t("rep_controlled")), count("controlled"), rate("controlled_rate"), rate("controlled_rate_excl_ltfu")),
          h("tr", {}, h("th", {}, t("rep_uncontrolled")), count("uncontrolled"), rate("uncontrolled_rate"), rate("uncontrolled_rate_excl_ltfu")),
          h("tr", {}, h("th", {}, t("rep_missed_visit")), count("missed_visit"), rate("missed_visit_rate"), rate("missed_visit_rate_excl_ltfu")),
          h("tr", {}, h("th", {}, t("rep_visit_no_measure")), count("visit_no_measure"), rate("visit_no_measure_rate"), rate("visit_no_measure_rate_excl_ltfu")),
          h("tr", {}, h("th", {}, t("rep_ltfu")), count("ltfu"), rate("ltfu_rate")),
        ),
      ),
      h("p", { class: "small muted" }, t("rep_rate_columns")));
  });
  return h("div", { class: "report-cards" }, cards);
}

function comparison(r: Report): HTMLElement {
  const childRows = r.indicators.rows.filter((x) => x.unit.id !== r.unit.id || x.unit.type !== r.unit.type);
  if (!childRows.length) return h("p", { class: "muted" }, t("rep_no_children"));
  const cols: [string, "count" | "rate"][] = [
    ["htn_cohort", "count"], ["htn_controlled_rate", "rate"], ["htn_missed_visit_rate", "rate"], ["htn_ltfu_rate", "rate"],
    ["dm_cohort", "count"], ["dm_controlled_rate", "rate"], ["dm_missed_visit_rate", "rate"], ["dm_ltfu_rate", "rate"],
    ["patients_registered", "count"], ["risk_high", "count"],
  ];
  return wrap(h("table", { class: "grid", "data-testid": "report-children" },
    h("thead", {}, h("tr", {}, h("th", {}, t("rep_unit")), cols.map(([c]) => h("th", { class: "num" }, t("col_" + c))))),
    h("tbody", {}, childRows.map((row) =>
      h("tr", { "data-unit": `${row.unit.type}-${row.unit.id}` },
        h("th", {}, h("a", { href: unitHash(row.unit, r.month) }, row.unit.name)),
        cols.map(([c, k]) => cell(row, c, k)))))));
}

function breakdowns(r: Report): HTMLElement {
  const rows = r.indicators.rows.filter((x) => x.unit.id === r.unit.id && x.unit.type === r.unit.type &&
    (x.breakdown === "sex" || x.breakdown === "age"));
  const cols: [string, "count" | "rate"][] = [
    ["htn_cohort", "count"], ["htn_controlled", "count"], ["htn_controlled_rate", "rate"],
    ["dm_cohort", "count"], ["dm_controlled", "count"], ["dm_controlled_rate", "rate"],
  ];
  const label = (row: Row) => row.breakdown === "sex" ? t(row.group) : `${row.group} ${t("years")}`;
  return wrap(h("table", { class: "grid", "data-testid": "report-breakdowns" },
    h("thead", {}, h("tr", {}, h("th", {}, t("rep_group")), cols.map(([c]) => h("th", { class: "num" }, t("col_" + c))))),
    h("tbody", {}, rows.map((row) => h("tr", {}, h("th", {}, label(row)), cols.map(([c, k]) => cell(row, c, k)))))));
}

function cohorts(r: Report): HTMLElement {
  const cols: [string, "count" | "rate"][] = [
    ["htn_cohort", "count"], ["htn_controlled", "count"], ["htn_uncontrolled", "count"], ["htn_missed_visit", "count"],
    ["htn_ltfu", "count"], ["htn_controlled_rate", "rate"],
    ["dm_cohort", "count"], ["dm_controlled", "count"], ["dm_uncontrolled", "count"], ["dm_missed_visit", "count"],
    ["dm_ltfu", "count"], ["dm_controlled_rate", "rate"],
  ];
  return wrap(h("table", { class: "grid", "data-testid": "report-cohorts" },
    h("thead", {}, h("tr", {}, h("th", {}, t("rep_quarter")), cols.map(([c]) => h("th", { class: "num" }, t("col_" + c))))),
    h("tbody", {}, r.cohorts.rows.map((row) => h("tr", {}, h("th", {}, row.group), cols.map(([c, k]) => cell(row, c, k)))))));
}

function risk(unitRow: Row | undefined): HTMLElement {
  const cols = ["risk_high", "risk_moderate", "risk_low", "risk_unscored"];
  return h("table", { class: "grid" },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", { class: "num" }, t("col_" + c))))),
    h("tbody", {}, h("tr", {}, cols.map((c) => cell(unitRow, c)))));
}

function alertActions(r: Report): HTMLElement {
  if (!r.alerts.rows.length) return h("p", { class: "muted" }, t("none"));
  return h("table", { class: "grid" },
    h("thead", {}, h("tr", {}, h("th", {}, t("rep_alert_type")), h("th", { class: "num" }, t("col_alerts")),
      h("th", { class: "num" }, t("col_acted")), h("th", { class: "num" }, t("col_action_rate")))),
    h("tbody", {}, r.alerts.rows.map((row) => h("tr", {}, h("th", {}, row.group === "all" ? t("rep_all_types") : row.group),
      cell(row, "alerts"), cell(row, "acted"), cell(row, "action_rate", "rate")))));
}

function trendChart(host: HTMLElement, r: Report): void {
  const x = r.trend.rows.map((row) => Date.UTC(Number(row.group.slice(0, 4)), Number(row.group.slice(5, 7)) - 1, 15) / 1000);
  if (x.length < 2) return;
  const pct = (c: string) => r.trend.rows.map((row) => (row.values[c] === null ? null : Math.round((row.values[c] as number) * 1000) / 10));
  chart(host, {
    title: t("rep_trend_title"),
    unit: "%",
    x,
    series: [
      { label: t("rep_htn_controlled"), color: "#1f5fa8", values: pct("htn_controlled_rate") },
      { label: t("rep_dm_controlled"), color: "#b34700", values: pct("dm_controlled_rate") },
      { label: t("rep_htn_missed"), color: "#1f5fa8", values: pct("htn_missed_visit_rate"), dash: [5, 4] },
      { label: t("rep_dm_missed"), color: "#b34700", values: pct("dm_missed_visit_rate"), dash: [5, 4] },
    ],
    range: [x[0] - 15 * 86400, x[x.length - 1] + 15 * 86400],
    y: [0, 100],
  });
}

export function renderReports(main: HTMLElement, type: UnitType, id: number, params: URLSearchParams): () => void {
  let alive = true;
  const month = params.get("month") || currentMonth();
  replace(main, h("p", { class: "muted" }, t("loading")));
  const path = `/api/v1/reports/${type === "region" ? "regions" : "clinics"}/${id}${query({ month })}`;
  api.get<Report>(path).then((r) => {
    if (!alive) return;
    const unitRow = r.indicators.rows.find((x) => x.unit.id === r.unit.id && x.unit.type === r.unit.type &&
      x.breakdown === "all");
    const monthInput = h("input", { type: "month", id: "report-month", value: r.month, max: currentMonth(),
      "aria-label": t("rep_month") });
    monthInput.addEventListener("change", () => {
      if (monthInput.value) location.hash = unitHash(r.unit, monthInput.value);
    });
    const status = h("p", { class: "error", role: "alert" });
    const dl = (label: string, format: string, table?: string) =>
      h("button", { type: "button", "data-testid": `download-${format}${table ? "-" + table : ""}`,
        onclick: () => download(type, id, r.month, format, table).catch((e) => (status.textContent = String(e))) }, label);
    const trendHost = h("div", { class: "chart", "data-testid": "report-trend" });
    replace(main,
      h("nav", { class: "crumbs", "aria-label": t("rep_path") },
        r.path.flatMap((u) => [h("a", { href: unitHash(u, r.month) }, u.name), " › "]),
        h("strong", { "data-testid": "report-unit" }, r.unit.name)),
      h("div", { class: "view-head" },
        h("h1", {}, t("reports")),
        h("label", { for: "report-month" }, t("rep_month")), monthInput,
        h("span", { class: "muted small" }, t("rep_zone", { tz: r.time_zone })),
        h("span", { class: "spacer" }),
        h("div", { class: "buttons" },
          dl(t("rep_csv"), "csv", "indicators"), dl(t("rep_csv_trend"), "csv", "trend"),
          dl("JSON", "json"), dl("FHIR MeasureReport", "fhir"))),
      status,
      h("p", { class: "small muted" }, t("rep_suppression", { n: r.suppression.min_published })),
      headline(unitRow),
      h("section", { class: "card" }, h("h2", {}, t("rep_trend")), trendHost),
      h("section", { class: "card" }, h("h2", {}, r.unit.type === "clinic" ? t("rep_clinic_self") : t("rep_children")),
        comparison(r)),
      h("section", { class: "card" }, h("h2", {}, t("rep_breakdowns")), breakdowns(r)),
      h("section", { class: "card" }, h("h2", {}, t("rep_cohorts")), h("p", { class: "small muted" }, t("rep_cohorts_hint")), cohorts(r)),
      h("div", { class: "report-cards" },
        h("section", { class: "card" }, h("h2", {}, t("rep_risk")), risk(unitRow)),
        h("section", { class: "card" }, h("h2", {}, t("rep_alert_actions")), alertActions(r))));
    trendChart(trendHost, r);
    document.title = `${r.unit.name} · ${r.month} · CareLoop`;
  }).catch((e) => {
    if (!alive) return;
    const msg = e instanceof ApiError ? `${e.status}: ${e.message}` : String(e);
    replace(main, h("p", { class: "error", role: "alert" }, t("error") + " — " + msg));
  });
  return () => {
    alive = false;
  };
}
