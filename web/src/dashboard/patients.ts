// Patients: search, filters, sort and pages over the clinic's ranked list;
// register a patient and hand over the activation code and its QR code.
import qrcode from "qrcode-generator";
import { ApiError, query } from "../lib/api";
import { h, modal, replace } from "../lib/dom";
import { ago, dateTime, glucose } from "../lib/format";
import { t } from "../lib/i18n";
import { api, clinicParam, state, type PatientSummary } from "./state";

const FILTERS = ["uncontrolled_bp", "uncontrolled_glucose", "high_risk", "overdue", "no_data", "open_alerts"];
const SORTS = ["priority", "name", "last_reading", "id"];
const PAGE = 25;

export function renderPatients(main: HTMLElement, params: URLSearchParams): () => void {
  const q = params.get("q") ?? "";
  const filters = new Set((params.get("filter") ?? "").split(",").filter((f) => FILTERS.includes(f)));
  const sort = SORTS.includes(params.get("sort") ?? "") ? (params.get("sort") as string) : "priority";
  const cursors: string[] = (params.get("pages") ?? "").split("|").filter(Boolean);

  function go(next: { q?: string; filters?: Set<string>; sort?: string; pages?: string[] }): void {
    const p = new URLSearchParams();
    const nq = next.q ?? q;
    const nf = next.filters ?? filters;
    if (nq) p.set("q", nq);
    if (nf.size) p.set("filter", [...nf].join(","));
    const ns = next.sort ?? sort;
    if (ns !== "priority") p.set("sort", ns);
    const pages = next.pages ?? [];
    if (pages.length) p.set("pages", pages.join("|"));
    location.hash = `#/patients${p.toString() ? "?" + p.toString() : ""}`;
  }

  const search = h("input", { type: "search", id: "patient-search", value: q, placeholder: t("search"), "aria-label": t("search") });
  let timer = 0;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => go({ q: search.value.trim(), pages: [] }), 350);
  });
  const chips = h("div", { class: "chips", role: "group", "aria-label": "filters" },
    FILTERS.map((f) => h("button", {
      type: "button", class: "chip", "aria-pressed": filters.has(f) ? "true" : "false", "data-filter": f,
      onclick: () => {
        const nf = new Set(filters);
        if (nf.has(f)) nf.delete(f);
        else nf.add(f);
        go({ filters: nf, pages: [] });
      },
    }, t(`filter_${f}`))));
  const sortSel = h("select", { id: "patient-sort", "aria-label": t("sort") },
    SORTS.map((s) => h("option", { value: s, selected: s === sort }, t(`sort_${s}`))));
  sortSel.addEventListener("change", () => go({ sort: sortSel.value, pages: [] }));
  const table = h("div", { class: "table-wrap" }, t("loading"));
  const pager = h("div", { class: "pager" });
  replace(main,
    h("div", { class: "view-head" }, h("h1", {}, t("patients")),
      h("button", { type: "button", class: "primary", "data-testid": "register", onclick: register }, t("register"))),
    h("div", { class: "card toolbar" }, search, h("label", { for: "patient-sort" }, t("sort")), sortSel, chips),
    h("section", { class: "card" }, table, pager));
  if (q) {
    search.focus();
    search.setSelectionRange(q.length, q.length);
  }

  let alive = true;
  void (async () => {
    try {
      const page = await api.get<{ items: PatientSummary[]; total: number; next: string | null }>(
        `/api/v1/clinic/patients${query({ ...clinicParam(), q, filter: [...filters].join(","), sort, limit: PAGE, cursor: cursors[cursors.length - 1] })}`);
      if (!alive) return;
      for (const p of page.items) state.names.set(p.id, p.name);
      replace(table, h("p", { class: "muted", "data-testid": "total" }, t("total", { n: page.total })), tableOf(page.items));
      replace(pager,
        h("button", { type: "button", disabled: cursors.length === 0, onclick: () => go({ pages: cursors.slice(0, -1) }) }, t("prev")),
        h("span", {}, String(cursors.length + 1)),
        h("button", { type: "button", disabled: !page.next, onclick: () => page.next && go({ pages: [...cursors, page.next] }) }, t("next")));
    } catch (e) {
      replace(table, h("p", { class: "error", role: "alert" }, e instanceof Error ? e.message : String(e)));
    }
  })();
  return () => {
    alive = false;
    clearTimeout(timer);
  };
}

function tableOf(items: PatientSummary[]): HTMLTableElement {
  return h("table", { class: "patients", "data-testid": "patient-table" },
    h("thead", {}, h("tr", {},
      [t("name"), t("age"), t("diagnoses"), t("bp_30d"), t("glucose_30d"), t("risk"), t("alerts"), t("last_reading"), t("flags")]
        .map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, items.map((p) => h("tr", { "data-patient-id": p.id },
      h("td", {}, h("a", { href: `#/patients/${p.id}` }, p.name), h("div", { class: "muted small" }, `#${p.id}${p.phone ? " · " + p.phone : ""}`)),
      h("td", {}, `${p.age}${t("years")} ${t(p.sex)}`),
      h("td", {}, p.diagnoses.map((d) => t(d)).join("、")),
      h("td", { class: p.flags.includes("uncontrolled_bp") ? "bad" : "" },
        p.bp_30d ? `${Math.round(p.bp_30d.systolic_mean)}/${Math.round(p.bp_30d.diastolic_mean)} (${p.bp_30d.readings})` : "—"),
      h("td", { class: p.flags.includes("uncontrolled_glucose") ? "bad" : "" },
        p.glucose_30d ? glucose(p.glucose_30d.fasting_mean_mmol_l ?? p.glucose_30d.nonfasting_mean_mmol_l) : "—"),
      h("td", {}, p.risk ? h("span", { class: `band band-${p.risk.band}` }, `${t(`band_${p.risk.band}`)} ${Math.round(p.risk.probability * 100)}%`) : "—"),
      h("td", {}, p.alerts.critical ? h("span", { class: "badge critical" }, `${t("critical")} ${p.alerts.critical}`) : null,
        p.alerts.warning ? h("span", { class: "badge warning" }, `${t("warning")} ${p.alerts.warning}`) : null),
      h("td", { title: dateTime(p.last_reading_at) }, ago(p.last_reading_at)),
      h("td", {}, p.flags.map((f) => h("span", { class: "flag" }, t(`filter_${f}`))))))));
}

function register(): void {
  const err = h("p", { class: "error", role: "alert" });
  const name = h("input", { id: "reg-name", required: true, maxlength: 100 });
  const sex = h("select", { id: "reg-sex" }, h("option", { value: "female" }, t("female")), h("option", { value: "male" }, t("male")));
  const birth = h("input", { id: "reg-birth", type: "date", required: true });
  const phone = h("input", { id: "reg-phone", type: "tel", maxlength: 32 });
  const ext = h("input", { id: "reg-ext", maxlength: 64 });
  const htn = h("input", { id: "reg-htn", type: "checkbox" });
  const dm = h("input", { id: "reg-dm", type: "checkbox" });
  const form = h("form", { class: "stack" },
    h("label", { for: "reg-name" }, t("name")), name,
    h("label", { for: "reg-sex" }, t("sex")), sex,
    h("label", { for: "reg-birth" }, t("birth_date")), birth,
    h("label", { for: "reg-phone" }, t("phone")), phone,
    h("label", { for: "reg-ext" }, t("external_id")), ext,
    h("fieldset", {}, h("legend", {}, t("diagnoses")),
      h("label", { class: "inline" }, htn, " ", t("hypertension")),
      h("label", { class: "inline" }, dm, " ", t("diabetes_t2"))),
    err,
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, t("register")),
      h("button", { type: "button", onclick: () => dlg.close() }, t("cancel"))));
  const dlg = modal(t("register"), form);
  name.focus();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const today = new Date().toISOString().slice(0, 10);
    const body: Record<string, unknown> = { name: name.value.trim(), sex: sex.value, birth_date: birth.value };
    if (phone.value.trim()) body.phone = phone.value.trim();
    if (ext.value.trim()) body.external_id = ext.value.trim();
    const dx = [];
    if (htn.checked) dx.push({ code: "hypertension", diagnosed_on: today });
    if (dm.checked) dx.push({ code: "diabetes_t2", diagnosed_on: today });
    if (dx.length) body.diagnoses = dx;
    if (state.user?.role === "admin" && state.clinicId) body.clinic_id = state.clinicId;
    try {
      const r = await api.post<{ patient: { id: number; name: string }; activation: { code: string; expires_at: string } }>(
        "/api/v1/clinic/patients", body);
      dlg.close();
      showCode(r.patient, r.activation);
    } catch (ex) {
      err.textContent = ex instanceof ApiError
        ? [ex.message, ...(ex.problem?.errors ?? []).map((x) => `${x.pointer}: ${x.detail}`)].join(" · ")
        : String(ex);
    }
  });
}

export function showCode(patient: { id: number; name: string }, activation: { code: string; expires_at: string }): void {
  // The QR code opens the patient page with the code filled in (a phone's camera app understands it).
  const link = `${location.origin}/patient#activate=${activation.code}`;
  const qr = qrcode(0, "M");
  qr.addData(link);
  qr.make();
  const body = h("div", { class: "stack activation" },
    h("p", {}, patient.name, ` (#${patient.id})`),
    h("p", { class: "code", "data-testid": "activation-code" }, activation.code),
    h("img", { src: qr.createDataURL(6, 8), alt: `QR: ${link}`, width: 240, height: 240, "data-testid": "activation-qr" }),
    h("p", { class: "muted" }, t("activation_hint", { t: dateTime(activation.expires_at) })),
    h("div", { class: "buttons" },
      h("a", { href: `#/patients/${patient.id}`, class: "button", onclick: () => dlg.close() }, patient.name),
      h("button", { type: "button", class: "primary", onclick: () => dlg.close() }, t("close"))));
  const dlg = modal(t("activation_code"), body);
}
