// The care plan panel: the proposed version beside the approved one, with
// the rules that produced it, and approve / edit / reject (contracts.md).
import { ApiError } from "../lib/api";
import { h, modal, replace } from "../lib/dom";
import { dateTime } from "../lib/format";
import { t, words } from "../lib/i18n";
import { api } from "./state";

export interface PlanVersion {
  version: number;
  status: string;
  protocols: { id: string; version: string }[];
  created_at: string;
  decided_by: { id: number; name: string } | null;
  decided_at: string | null;
  decision_note: string | null;
  plan: Record<string, unknown>;
  rationale: unknown[];
  diff: unknown[] | null;
  edited_from: number | null;
}

type Json = Record<string, unknown>;
const arr = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);

function planBody(plan: Json): HTMLElement {
  const parts: HTMLElement[] = [];
  const targets = arr(plan.targets);
  if (targets.length)
    parts.push(h("h4", {}, t("targets")), h("ul", {}, targets.map((x) => h("li", {}, `${words(x.label) || String(x.target)}: ${String(x.value)} ${String(x.unit ?? "")}`))));
  const mon = arr(plan.monitoring);
  if (mon.length) parts.push(h("h4", {}, t("monitoring")), h("ul", {}, mon.map((x) => h("li", {}, words(x.text) || String(x.measure)))));
  const fu = plan.follow_up as Json | null | undefined;
  if (fu) parts.push(h("h4", {}, t("follow_up")), h("p", {}, `${String(fu.due ?? "")} (≤ ${String(fu.within_days ?? "")} ${t("days")}) ${words(fu.reason)}`));
  const meds = arr(plan.medication);
  if (meds.length)
    parts.push(h("h4", {}, t("medication")), h("ul", {}, meds.map((m) => {
      const step = (m.suggested_step ?? {}) as Json;
      const label = words(step.label) || words(step.text) || String(step.id ?? "");
      return h("li", {}, `${String(m.action ?? "")}${label ? ": " + label : ""}${m.reason ? " — " + String(m.reason) : ""}`);
    })));
  const life = arr(plan.lifestyle);
  if (life.length) parts.push(h("h4", {}, t("lifestyle")), h("ul", {}, life.map((x) => h("li", {}, words(x.text)))));
  const ref = plan.referral as Json | undefined;
  if (ref && ref.urgency && ref.urgency !== "none")
    parts.push(h("h4", {}, t("referral")), h("p", {}, `${String(ref.urgency)}: ${arr(ref.reasons).map((r) => words(r.reason)).join("; ")}`));
  return h("div", { class: "plan-body" }, parts.length ? parts : h("p", { class: "muted" }, t("none")));
}

function rationale(items: unknown[]): HTMLElement {
  return h("details", { open: true }, h("summary", {}, t("rationale")),
    h("ul", { class: "small" }, items.map((r) => {
      if (typeof r === "string") return h("li", {}, r);
      const o = r as Json;
      const facts = arr(o.facts).map((f) => `${String(f.fact ?? f.name ?? "")}=${String(f.value ?? "")}${f.unit ? " " + String(f.unit) : ""}`);
      return h("li", {}, `${String(o.rule ?? o.id ?? "")} ${words(o.text) || words(o.reason) || ""}${facts.length ? " (" + facts.join(", ") + ")" : ""}`);
    })));
}

function column(title: string, v: PlanVersion | null, testid: string): HTMLElement {
  if (!v) return h("div", { class: "plan-col", "data-testid": testid }, h("h3", {}, title), h("p", { class: "muted" }, t("none")));
  return h("div", { class: "plan-col", "data-testid": testid, "data-version": v.version },
    h("h3", {}, `${title} · ${t("version")} ${v.version}`),
    h("p", { class: "muted small" }, v.protocols.map((p) => `${p.id} ${p.version}`).join(", "), " · ", dateTime(v.created_at),
      v.decided_by ? ` · ${t("decided")} ${v.decided_by.name} ${dateTime(v.decided_at)}` : ""),
    planBody(v.plan as Json),
    v.rationale?.length ? rationale(v.rationale) : null);
}

export function renderPlan(box: HTMLElement, patientId: number, current: PlanVersion | null, proposed: PlanVersion | null, reload: () => void): void {
  const base = `/api/v1/clinic/patients/${patientId}/care-plans`;
  const err = h("p", { class: "error", role: "alert" });
  const act = async (path: string, body: unknown) => {
    try {
      await api.post(path, body);
      reload();
    } catch (e) {
      err.textContent = e instanceof ApiError ? e.message : String(e);
    }
  };
  const buttons = proposed && proposed.status === "proposed" ? h("div", { class: "buttons" },
    h("button", { type: "button", class: "primary", "data-testid": "plan-approve", onclick: () => {
      const note = h("textarea", { id: "approve-note", rows: 2 });
      const f = h("form", { class: "stack" }, h("label", { for: "approve-note" }, t("note")), note,
        h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, t("approve")),
          h("button", { type: "button", onclick: () => dlg.close() }, t("cancel"))));
      f.addEventListener("submit", (e) => {
        e.preventDefault();
        dlg.close();
        void act(`${base}/${proposed.version}/approve`, note.value ? { note: note.value } : {});
      });
      const dlg = modal(t("approve"), f);
      note.focus();
    } }, t("approve")),
    h("button", { type: "button", "data-testid": "plan-edit", onclick: () => {
      const text = h("textarea", { id: "edit-plan", rows: 18, class: "mono" });
      text.value = JSON.stringify(proposed.plan, null, 2);
      const note = h("input", { id: "edit-note" });
      const ferr = h("p", { class: "error", role: "alert" });
      const f = h("form", { class: "stack" }, h("label", { for: "edit-plan" }, t("plan_json")), text,
        h("label", { for: "edit-note" }, t("note")), note, ferr,
        h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, t("edit")),
          h("button", { type: "button", onclick: () => dlg.close() }, t("cancel"))));
      f.addEventListener("submit", (e) => {
        e.preventDefault();
        let plan: unknown;
        try {
          plan = JSON.parse(text.value);
        } catch (ex) {
          ferr.textContent = String(ex);
          return;
        }
        dlg.close();
        void act(`${base}/${proposed.version}/edit`, note.value ? { plan, note: note.value } : { plan });
      });
      const dlg = modal(t("edit"), f);
      text.focus();
    } }, t("edit")),
    h("button", { type: "button", "data-testid": "plan-reject", onclick: () => {
      const reason = h("textarea", { id: "reject-reason", rows: 3, required: true });
      const f = h("form", { class: "stack" }, h("label", { for: "reject-reason" }, t("reason")), reason,
        h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, t("reject")),
          h("button", { type: "button", onclick: () => dlg.close() }, t("cancel"))));
      f.addEventListener("submit", (e) => {
        e.preventDefault();
        if (!reason.value.trim()) return;
        dlg.close();
        void act(`${base}/${proposed.version}/reject`, { reason: reason.value.trim() });
      });
      const dlg = modal(t("reject"), f);
      reason.focus();
    } }, t("reject"))) : null;
  replace(box, h("h2", {}, t("care_plan")),
    h("div", { class: "plan-cols" }, column(t("proposed_plan"), proposed, "plan-proposed"), column(t("current_plan"), current, "plan-current")),
    buttons, err);
}
