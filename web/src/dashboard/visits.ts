// Follow-up visits of one patient: the list (newest first) and a dialog to
// record one — when, at the clinic / at home / by phone, the follow-up form's
// classification, the clinic's blood pressure (stored as a reading) and a
// note. A visit moves the care plan's follow-up date; two consecutive
// uncontrolled visits make the next plan propose a referral.
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
}, {
  visits: "Follow-up visits", record_visit: "Record a visit", visited_at: "Visited at", visit_kind: "Visit",
  visit_clinic: "At the clinic", visit_home: "At home", visit_phone: "By phone",
  classification: "Classification", cls_controlled: "Controlled", cls_uncontrolled: "Not controlled",
  cls_adverse_reaction: "Adverse drug reaction", cls_complication: "Complication",
  office_bp: "Clinic blood pressure (optional)", consecutive_uncontrolled: "{n} consecutive visits not controlled",
});

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
  const err = h("p", { class: "error", role: "alert", "data-testid": "visit-error" });
  // One id per dialog: pressing save twice (or again after a timeout) cannot record two visits.
  const visitId = uuid();
  const bpId = uuid();
  const f = h("form", { method: "dialog", class: "stack" },
    h("label", { for: "visit-when" }, t("visited_at")), when,
    h("label", { for: "visit-kind" }, t("visit_kind")), kind,
    h("label", { for: "visit-class" }, t("classification")), cls,
    h("label", { for: "visit-sys" }, t("office_bp")), h("div", { class: "row" }, sys, " / ", dia),
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
      await api.post(`/api/v1/clinic/patients/${patientId}/visits`, body);
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
    const r = await api.get<{ items: Visit[]; consecutive_uncontrolled: number }>(`/api/v1/clinic/patients/${patientId}/visits${query({ limit: 20 })}`);
    replace(box, h("div", { class: "card-head" }, h("h2", {}, t("visits")), button),
      r.consecutive_uncontrolled >= 2 ? h("p", { class: "flag" }, t("consecutive_uncontrolled", { n: r.consecutive_uncontrolled })) : null,
      r.items.length ? h("table", { class: "small", "data-testid": "visit-list" },
        h("thead", {}, h("tr", {}, [t("visited_at"), t("visit_kind"), t("classification"), t("note")].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, r.items.map((v) => h("tr", {},
          h("td", {}, dateTime(v.visited_at)),
          h("td", {}, t(`visit_${v.kind}`)),
          h("td", {}, t(`cls_${v.classification}`)),
          h("td", {}, [v.note, v.by.name ? `— ${v.by.name}` : ""].filter(Boolean).join(" ")))))) :
        h("p", { class: "muted" }, t("none")));
  } catch (e) {
    replace(box, h("h2", {}, t("visits")), h("p", { class: "muted" }, String(e)));
  }
}
