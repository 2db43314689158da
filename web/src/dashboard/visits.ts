// Follow-up visits of one patient: the list (newest first) and a dialog to
// record one — when, at the clinic / at home / by phone, the follow-up form's
// classification, the clinic's blood pressure (stored as a reading) and a
// note, and optionally the annual check's measurements (waist, lab fasting
// glucose, lipids: POST .../measurements with the visit's id; they are risk
// model inputs). A visit moves the care plan's follow-up date; two
// consecutive uncontrolled visits make the next plan propose a referral.
// Below the visits: the newest value of each clinic measurement.
import { ApiError, query, uuid } from "../lib/api";
import { h, modal, replace } from "../lib/dom";
import { dateTime, localIso } from "../lib/format";
import { addWords, t } from "../lib/i18n";
import { api } from "./state";

addWords({
  visits: "随访记录", record_visit: "记录随访", visited_at: "随访时间", visit_kind: "随访方式",
  visit_clinic: "门诊", visit_home: "家庭", visit_phone: "电话",
  classification: "此次随访分类", cls_controlled: "控制满意", cls_uncontrolled: "控制不满意",
  cls_adverse_reaction: "不良反应", cls_complication: "并发症",
  office_bp: "诊室血压（可选）", consecutive_uncontrolled: "连续 {n} 次随访控制不满意",
  measurements_optional: "体检测量（可选）", latest_measurements: "最近体检测量", measured_at: "测量时间",
  m_waist_cm: "腰围", m_fasting_glucose_mmol_l: "空腹血糖（静脉）", m_hdl_mmol_l: "高密度脂蛋白胆固醇",
  m_triglycerides_mmol_l: "甘油三酯", m_total_cholesterol_mmol_l: "总胆固醇", m_ldl_mmol_l: "低密度脂蛋白胆固醇",
  m_weight_kg: "体重", m_height_cm: "身高",
}, {
  visits: "Follow-up visits", record_visit: "Record a visit", visited_at: "Visited at", visit_kind: "Visit",
  visit_clinic: "At the clinic", visit_home: "At home", visit_phone: "By phone",
  classification: "Classification", cls_controlled: "Controlled", cls_uncontrolled: "Not controlled",
  cls_adverse_reaction: "Adverse drug reaction", cls_complication: "Complication",
  office_bp: "Clinic blood pressure (optional)", consecutive_uncontrolled: "{n} consecutive visits not controlled",
  measurements_optional: "Health check measurements (optional)", latest_measurements: "Latest clinic measurements",
  measured_at: "Measured",
  m_waist_cm: "Waist", m_fasting_glucose_mmol_l: "Fasting glucose (lab)", m_hdl_mmol_l: "HDL cholesterol",
  m_triglycerides_mmol_l: "Triglycerides", m_total_cholesterol_mmol_l: "Total cholesterol", m_ldl_mmol_l: "LDL cholesterol",
  m_weight_kg: "Weight", m_height_cm: "Height",
});

interface Measurement {
  id: number;
  kind: string;
  value: number;
  unit: string;
  measured_at: string;
  loinc: { code: string; display: string };
}

// The measurement fields of the dialog: kind, unit shown, step and plausible range (mobile-api/README.md).
const MEASURES: [string, string, number, number, number][] = [
  ["waist_cm", "cm", 0.5, 40, 200],
  ["fasting_glucose_mmol_l", "mmol/L", 0.01, 0.5, 55],
  ["hdl_mmol_l", "mmol/L", 0.01, 0.1, 5],
  ["triglycerides_mmol_l", "mmol/L", 0.01, 0.1, 50],
  ["total_cholesterol_mmol_l", "mmol/L", 0.01, 1, 30],
];

interface Visit {
  id: number;
  visited_at: string;
  kind: string;
  classification: string;
  by: { id: number; name: string };
  note: string;
}

const KINDS = ["clinic", "home", "phone"];
const CLASSES = ["controlled", "uncontrolled", "adverse_reaction", "complication"];

// A datetime-local value ("2026-11-25T09:30") as ISO 8601 with this device's offset.
function fromLocalInput(v: string): string {
  return localIso(new Date(v));
}

function recordDialog(patientId: number, done: () => void): void {
  const now = localIso().slice(0, 16);
  const when = h("input", { id: "visit-when", type: "datetime-local", required: true, value: now, max: now });
  const kind = h("select", { id: "visit-kind" }, KINDS.map((k) => h("option", { value: k }, t(`visit_${k}`))));
  const cls = h("select", { id: "visit-class" }, CLASSES.map((c) => h("option", { value: c }, t(`cls_${c}`))));
  const sys = h("input", { id: "visit-sys", type: "number", min: 50, max: 300, step: 1, inputmode: "numeric", "aria-label": "systolic", placeholder: "mmHg" });
  const dia = h("input", { id: "visit-dia", type: "number", min: 20, max: 200, step: 1, inputmode: "numeric", "aria-label": "diastolic", placeholder: "mmHg" });
  const note = h("textarea", { id: "visit-note", rows: 3, maxlength: 2000 });
  const measures = MEASURES.map(([kind, unit, step, min, max]) => ({
    kind,
    input: h("input", { id: `measure-${kind}`, type: "number", step, min, max, inputmode: "decimal", placeholder: unit }),
  }));
  const err = h("p", { class: "error", role: "alert", "data-testid": "visit-error" });
  // One id per dialog: pressing save twice (or again after a timeout) cannot record two visits.
  const visitId = uuid();
  const bpId = uuid();
  const measureId = uuid();
  const f = h("form", { method: "dialog", class: "stack" },
    h("label", { for: "visit-when" }, t("visited_at")), when,
    h("label", { for: "visit-kind" }, t("visit_kind")), kind,
    h("label", { for: "visit-class" }, t("classification")), cls,
    h("label", { for: "visit-sys" }, t("office_bp")), h("div", { class: "row" }, sys, " / ", dia),
    h("fieldset", { class: "stack" }, h("legend", {}, t("measurements_optional")),
      measures.flatMap((m) => [h("label", { for: m.input.id }, t(`m_${m.kind}`)), m.input])),
    h("label", { for: "visit-note" }, t("note")), note, err,
    h("div", { class: "buttons" },
      h("button", { type: "submit", class: "primary" }, t("record_visit")),
      h("button", { type: "button", onclick: () => f.closest("dialog")?.close() }, t("cancel"))));
  const dlg = modal(t("record_visit"), f);
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    try {
      const at = fromLocalInput(when.value);
      if (sys.value || dia.value) {
        await api.post(`/api/v1/clinic/patients/${patientId}/readings`, {
          readings: [{ client_id: bpId, kind: "blood_pressure", taken_at: at, systolic: Number(sys.value), diastolic: Number(dia.value), unit: "mmHg", source: "clinic-visit" }],
        });
      }
      const body: Record<string, string> = { client_id: visitId, visited_at: at, kind: kind.value, classification: cls.value };
      if (note.value) body.note = note.value;
      const visit = await api.post<Visit>(`/api/v1/clinic/patients/${patientId}/visits`, body);
      const values: Record<string, number> = {};
      for (const m of measures) if (m.input.value) values[m.kind] = Number(m.input.value);
      if (Object.keys(values).length) {
        // Resending the dialog resends the visit (same id: the stored one) and then these.
        await api.post(`/api/v1/clinic/patients/${patientId}/measurements`, {
          client_id: measureId, measured_at: at, visit_id: visit.id, values,
        });
      }
      dlg.close();
      done();
    } catch (ex) {
      const fields = ex instanceof ApiError ? ex.problem?.errors ?? [] : [];
      err.textContent = fields.length ? fields.map((x) => `${x.pointer}: ${x.detail}`).join("; ") : ex instanceof Error ? ex.message : String(ex);
    }
  });
  when.focus();
}

export async function renderVisits(box: HTMLElement, patientId: number, changed: () => void): Promise<void> {
  const button = h("button", { type: "button", "data-testid": "record-visit", onclick: () => recordDialog(patientId, () => { void renderVisits(box, patientId, changed); changed(); }) }, t("record_visit"));
  try {
    const [r, m] = await Promise.all([
      api.get<{ items: Visit[]; consecutive_uncontrolled: number }>(`/api/v1/clinic/patients/${patientId}/visits${query({ limit: 20 })}`),
      api.get<{ items: Measurement[] }>(`/api/v1/clinic/patients/${patientId}/measurements${query({ limit: 200 })}`),
    ]);
    // The newest value of each kind (the list is newest first).
    const latest = new Map<string, Measurement>();
    for (const x of m.items) if (!latest.has(x.kind)) latest.set(x.kind, x);
    replace(box, h("div", { class: "card-head" }, h("h2", {}, t("visits")), button),
      r.consecutive_uncontrolled >= 2 ? h("p", { class: "flag" }, t("consecutive_uncontrolled", { n: r.consecutive_uncontrolled })) : null,
      r.items.length ? h("table", { class: "small", "data-testid": "visit-list" },
        h("thead", {}, h("tr", {}, [t("visited_at"), t("visit_kind"), t("classification"), t("note")].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, r.items.map((v) => h("tr", {},
          h("td", {}, dateTime(v.visited_at)),
          h("td", {}, t(`visit_${v.kind}`)),
          h("td", {}, t(`cls_${v.classification}`)),
          h("td", {}, [v.note, v.by.name ? `— ${v.by.name}` : ""].filter(Boolean).join(" ")))))) :
        h("p", { class: "muted" }, t("none")),
      h("h3", {}, t("latest_measurements")),
      latest.size ? h("table", { class: "small", "data-testid": "measurement-list" },
        h("thead", {}, h("tr", {}, ["", "", t("measured_at")].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, [...latest.values()].map((x) => h("tr", { "data-kind": x.kind, title: `LOINC ${x.loinc.code} ${x.loinc.display}` },
          h("td", {}, t(`m_${x.kind}`)),
          h("td", {}, `${Number(x.value.toFixed(2))} ${x.unit}`),
          h("td", {}, dateTime(x.measured_at)))))) :
        h("p", { class: "muted" }, t("none")));
  } catch (e) {
    replace(box, h("h2", {}, t("visits")), h("p", { class: "muted" }, String(e)));
  }
}
