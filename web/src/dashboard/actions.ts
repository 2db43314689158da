// Acknowledge (action + note), snooze and resolve an alert, each in a dialog.
import { ApiError } from "../lib/api";
import { h, modal } from "../lib/dom";
import { t } from "../lib/i18n";
import { api, type Alert } from "./state";

const ACTIONS = ["called_patient", "changed_medication", "referred", "advised_emergency_care", "no_action"];

function form(fields: HTMLElement[], submit: string, onSubmit: (err: HTMLElement) => Promise<void>): HTMLFormElement {
  const err = h("p", { class: "error", role: "alert" });
  const f = h("form", { method: "dialog", class: "stack" }, fields, err,
    h("div", { class: "buttons" },
      h("button", { type: "submit", class: "primary" }, submit),
      h("button", { type: "button", value: "cancel", onclick: () => f.closest("dialog")?.close() }, t("cancel"))));
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await onSubmit(err);
    } catch (ex) {
      err.textContent = ex instanceof ApiError ? ex.message : String(ex);
    }
  });
  return f;
}

export function acknowledge(a: Alert, done: (updated: Alert) => void): void {
  const action = h("select", { id: "ack-action", name: "action", required: true },
    ACTIONS.map((x) => h("option", { value: x }, t(x))));
  const note = h("textarea", { id: "ack-note", name: "note", rows: 3, maxlength: 2000 });
  const dlg = modal(t("acknowledge"), form(
    [h("label", { for: "ack-action" }, t("action")), action, h("label", { for: "ack-note" }, t("note")), note],
    t("acknowledge"),
    async () => {
      const r = await api.post<{ alert: Alert }>(`/api/v1/clinic/alerts/${a.id}/acknowledge`, { action: action.value, note: note.value });
      dlg.close();
      done(r.alert);
    }));
  action.focus();
}

export function snooze(a: Alert, done: (updated: Alert) => void): void {
  const hours = h("select", { id: "snooze-hours", name: "hours" },
    [4, 24, 72, 168].map((n) => h("option", { value: n }, n < 24 ? `${n} ${t("hours")}` : `${n / 24} ${t("days")}`)));
  const note = h("textarea", { id: "snooze-note", name: "note", rows: 2, maxlength: 2000 });
  const dlg = modal(t("snooze"), form(
    [h("label", { for: "snooze-hours" }, t("until")), hours, h("label", { for: "snooze-note" }, t("note")), note],
    t("snooze"),
    async () => {
      const until = new Date(Date.now() + Number(hours.value) * 3600_000).toISOString().replace(/\.\d{3}Z$/, "Z");
      const body: Record<string, string> = { until };
      if (note.value) body.note = note.value;
      const r = await api.post<{ alert: Alert }>(`/api/v1/clinic/alerts/${a.id}/snooze`, body);
      dlg.close();
      done(r.alert);
    }));
  hours.focus();
}

export function resolve(a: Alert, done: (updated: Alert) => void): void {
  const note = h("textarea", { id: "resolve-note", name: "note", rows: 3, maxlength: 2000 });
  const dlg = modal(t("resolve"), form(
    [h("label", { for: "resolve-note" }, t("note")), note],
    t("resolve"),
    async () => {
      const r = await api.post<{ alert: Alert }>(`/api/v1/clinic/alerts/${a.id}/resolve`, note.value ? { note: note.value } : {});
      dlg.close();
      done(r.alert);
    }));
  note.focus();
}
