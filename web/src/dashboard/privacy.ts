// A patient's record leaving the clinic or losing its identity: staff export
// the whole record as a FHIR R4 Bundle (GET /api/v1/clinic/patients/{id}/export,
// audited as record.export); an administrator anonymises a patient
// (POST /api/v1/admin/patients/{id}/anonymise) after giving a reason and
// typing the patient's id — the account is deactivated, its sessions end and
// the patient leaves the clinic's list.
import { ApiError } from "../lib/api";
import { h, modal } from "../lib/dom";
import { downloadFile } from "../lib/download";
import { addWords, t } from "../lib/i18n";
import { api, state } from "./state";

addWords({
  export_fhir: "导出档案（FHIR）", exported: "已导出：{name}", anonymise: "匿名化",
  anon_lead: "匿名化会去除该患者的身份信息，停用其账户并结束其所有登录；患者将不再出现在诊所的患者列表中。此操作无法撤销。",
  anon_reason: "理由（必填，最多 500 字）", anon_confirm: "请输入患者编号 {id} 以确认",
  anon_mismatch: "输入的编号与该患者不符。", anon_reason_required: "请填写理由。", anon_done: "患者 #{id} 已匿名化。",
}, {
  export_fhir: "Export record (FHIR)", exported: "Exported: {name}", anonymise: "Anonymise",
  anon_lead: "Anonymising removes this patient's identity, deactivates their account and ends all their sessions; the patient no longer appears in the clinic's patient list. This cannot be undone.",
  anon_reason: "Reason (required, at most 500 characters)", anon_confirm: "Type the patient's id {id} to confirm",
  anon_mismatch: "The id typed is not this patient's.", anon_reason_required: "A reason is required.",
  anon_done: "Patient #{id} was anonymised.",
});

export function isAdmin(): boolean {
  return state.user?.role === "admin";
}

// The export button and, for an administrator, the anonymise button; status says what happened.
export function recordActions(id: number, onAnonymised: () => void): HTMLElement {
  const status = h("span", { class: "muted small", role: "status", "data-testid": "record-action-status" });
  const exportButton = h("button", { type: "button", "data-testid": "export-record" }, t("export_fhir"));
  exportButton.addEventListener("click", async () => {
    exportButton.disabled = true;
    status.textContent = t("loading");
    try {
      const name = await downloadFile(`/api/v1/clinic/patients/${id}/export`, api.token,
        "application/fhir+json, application/json", `careloop-patient-${id}.json`);
      status.textContent = t("exported", { name });
    } catch (e) {
      status.textContent = e instanceof ApiError ? e.message : String(e);
    } finally {
      exportButton.disabled = false;
    }
  });
  const anonButton = isAdmin()
    ? h("button", { type: "button", class: "danger", "data-testid": "anonymise", onclick: () => anonymiseDialog(id, onAnonymised) }, t("anonymise"))
    : null;
  return h("div", { class: "buttons" }, exportButton, anonButton, status);
}

function anonymiseDialog(id: number, done: () => void): void {
  const reason = h("textarea", { id: "anon-reason", rows: 3, maxlength: 500, required: true });
  const confirm = h("input", { id: "anon-confirm", inputmode: "numeric", autocomplete: "off", required: true });
  const err = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit", class: "danger", "data-testid": "anonymise-confirm" }, t("anonymise"));
  const form = h("form", { method: "dialog", class: "stack", novalidate: true },
    h("p", {}, t("anon_lead")),
    h("label", { for: "anon-reason" }, t("anon_reason")), reason,
    h("label", { for: "anon-confirm" }, t("anon_confirm", { id })), confirm, err,
    h("div", { class: "buttons" }, submit, h("button", { type: "button", onclick: () => dlg.close() }, t("cancel"))));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const why = reason.value.trim();
    if (!why) {
      err.textContent = t("anon_reason_required");
      reason.focus();
      return;
    }
    if (confirm.value.trim() !== String(id)) {
      err.textContent = t("anon_mismatch");
      confirm.focus();
      return;
    }
    submit.disabled = true;
    try {
      await api.post(`/api/v1/admin/patients/${id}/anonymise`, { reason: why, confirm_patient_id: id });
      dlg.close();
      state.names.delete(id);
      done();
    } catch (ex) {
      err.textContent = ex instanceof ApiError
        ? [ex.message, ...(ex.problem?.errors ?? []).map((x) => x.detail)].join(" · ") : String(ex);
    } finally {
      submit.disabled = false;
    }
  });
  const dlg = modal(t("anonymise"), form);
  reason.focus();
}
