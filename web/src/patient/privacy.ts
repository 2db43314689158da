// The patient's privacy view (/patient#privacy): the consent to processing
// health data with its history (withdraw, with a confirmation; consent
// again), who opened the record (GET /api/v1/me/access-log, newest first,
// paged with next_before), and the download of the whole record as a FHIR R4
// Bundle (GET /api/v1/me/export).
import { Api, ApiError, query } from "../lib/api";
import { h, modal, replace } from "../lib/dom";
import { downloadFile } from "../lib/download";
import { dateTime } from "../lib/format";
import { addWords, t } from "../lib/i18n";
import { consentScreen, type ConsentRecord } from "./consent";

addWords({
  privacy: "隐私与我的数据", back: "返回",
  consent_section: "健康信息处理同意",
  consent_status_granted: "您已同意处理健康信息（同意书版本 {v}）。",
  consent_status_withdrawn: "您已撤回同意：新记录只保存在本手机上，不会发送给诊所。",
  consent_status_none: "您尚未同意处理健康信息：新记录只保存在本手机上，不会发送给诊所。",
  consent_history: "同意记录", decision: "决定", decision_granted: "同意", decision_withdrawn: "撤回",
  withdraw: "撤回同意",
  withdraw_confirm: "撤回后，您之后记录的测量只保存在本手机上，不会发送给诊所，诊所医生也看不到这些新数据，直到您再次同意。您可以随时重新同意。确定要撤回吗？",
  withdraw_do: "确认撤回", withdrawn_done: "已撤回同意。",
  access_log: "谁查看了我的档案", access_lead: "诊所工作人员每次查看或修改您的档案，以及被拒绝的访问，都记录在这里。",
  who: "谁", what: "做了什么", you: "您本人", outcome_refused: "已拒绝", more: "更多", no_access: "暂无记录。",
  export_record: "导出我的档案",
  export_lead: "下载您的完整档案（FHIR R4 格式的 JSON 文件），可以自己保存或交给其他医疗机构。",
  export_do: "下载档案", export_done: "已下载：{name}",
  role_doctor: "医生", role_nurse: "护士", role_admin: "管理员", role_authority: "卫生健康主管部门", role_patient: "患者",
  "act_patient.read": "查看了档案", "act_readings.read": "查看了测量记录", "act_readings.write": "记录了测量",
  "act_visits.read": "查看了随访记录", "act_measurements.read": "查看了体检测量", "act_care_plans.read": "查看了照护计划",
  "act_alerts.read": "查看了警报", "act_risk.read": "查看了风险评分", "act_fhir.observation.read": "通过 FHIR 接口读取了测量",
  "act_fhir.observation.create": "通过 FHIR 接口写入了测量", "act_record.export": "导出了档案",
  "act_consent.granted": "同意处理健康信息", "act_consent.withdrawn": "撤回了同意", "act_access.refused": "访问被拒绝",
  "act_user.deactivate": "停用了账户", "act_user.reactivate": "恢复了账户", "act_user.revoke_sessions": "结束了账户的所有登录",
  "act_patient.anonymise": "匿名化了档案",
}, {
  privacy: "Privacy and my data", back: "Back",
  consent_section: "Consent to processing health data",
  consent_status_granted: "You consent to your health data being processed (consent text version {v}).",
  consent_status_withdrawn: "You have withdrawn your consent: new entries stay on this phone and are not sent to your clinic.",
  consent_status_none: "You have not consented to your health data being processed: new entries stay on this phone and are not sent to your clinic.",
  consent_history: "Consent history", decision: "Decision", decision_granted: "Consented", decision_withdrawn: "Withdrawn",
  withdraw: "Withdraw consent",
  withdraw_confirm: "After withdrawing, readings you record stay on this phone and are not sent; your clinic's doctors will not see them until you consent again. You can consent again at any time. Withdraw your consent?",
  withdraw_do: "Withdraw", withdrawn_done: "Consent withdrawn.",
  access_log: "Who opened my record", access_lead: "Every time clinic staff open or change your record, and every refused attempt, is listed here.",
  who: "Who", what: "What", you: "You", outcome_refused: "Refused", more: "More", no_access: "Nothing yet.",
  export_record: "Download my record",
  export_lead: "Download your whole record as a file (FHIR R4, JSON) to keep or to give to another provider.",
  export_do: "Download", export_done: "Downloaded: {name}",
  role_doctor: "doctor", role_nurse: "nurse", role_admin: "administrator", role_authority: "health authority", role_patient: "patient",
  "act_patient.read": "Opened the record", "act_readings.read": "Viewed readings", "act_readings.write": "Recorded readings",
  "act_visits.read": "Viewed follow-up visits", "act_measurements.read": "Viewed clinic measurements",
  "act_care_plans.read": "Viewed the care plan", "act_alerts.read": "Viewed alerts", "act_risk.read": "Viewed risk scores",
  "act_fhir.observation.read": "Read observations through FHIR", "act_fhir.observation.create": "Wrote observations through FHIR",
  "act_record.export": "Exported the record", "act_consent.granted": "Consented to processing health data",
  "act_consent.withdrawn": "Withdrew consent", "act_access.refused": "Access refused",
  "act_user.deactivate": "Deactivated the account", "act_user.reactivate": "Reactivated the account",
  "act_user.revoke_sessions": "Ended all the account's sessions", "act_patient.anonymise": "Anonymised the record",
});

export interface AccessEntry {
  id: number;
  at: string;
  action: string;
  outcome: "allowed" | "refused";
  actor: { self: boolean; role: string | null; display_name: string; clinic: string | null };
}

// An action code in words, or the code itself when there are none for it.
export function actionWords(code: string): string {
  const key = `act_${code}`;
  const w = t(key);
  return w === key ? code : w;
}

function roleWords(role: string | null): string {
  if (!role) return "";
  const key = `role_${role}`;
  const w = t(key);
  return w === key ? role : w;
}

export function whoWords(a: AccessEntry["actor"]): string {
  if (a.self) return t("you");
  return [a.display_name, roleWords(a.role), a.clinic].filter(Boolean).join(" · ");
}

export interface PrivacyContext {
  api: Api;
  token: string;
  alive: () => boolean;
  // The consent changed (granted or withdrawn): the page updates its cache and the queue's hold.
  onConsent: (c: ConsentRecord) => void;
}

export function renderPrivacy(main: HTMLElement, ctx: PrivacyContext): void {
  const consentBoxEl = h("section", { class: "card", "data-testid": "privacy-consent" }, h("h2", {}, t("consent_section")), t("loading"));
  const logBox = h("section", { class: "card", "data-testid": "access-log" });
  const exportBox = h("section", { class: "card", "data-testid": "export" });
  replace(main, h("p", {}, h("a", { href: "#", "data-testid": "privacy-back" }, `← ${t("back")}`)),
    h("h1", {}, t("privacy")), consentBoxEl, logBox, exportBox);
  void drawConsent(consentBoxEl, ctx);
  drawAccessLog(logBox, ctx);
  drawExport(exportBox, ctx);
}

async function drawConsent(box: HTMLElement, ctx: PrivacyContext, note = ""): Promise<void> {
  let c: ConsentRecord;
  try {
    c = await ctx.api.callAs<ConsentRecord>(ctx.token, "GET", "/api/v1/me/consent");
  } catch (e) {
    if (!ctx.alive()) return;
    replace(box, h("h2", {}, t("consent_section")), h("p", { class: "error" }, e instanceof ApiError ? e.message : t("offline")));
    return;
  }
  if (!ctx.alive()) return;
  draw(c, note);

  function draw(c: ConsentRecord, note: string): void {
    const status = c.status === "granted"
      ? t("consent_status_granted", { v: c.granted_version ?? c.current_version })
      : t(c.status === "withdrawn" ? "consent_status_withdrawn" : "consent_status_none");
    const history = c.history.length
      ? h("table", { class: "small", "data-testid": "consent-history" },
        h("caption", {}, t("consent_history")),
        h("thead", {}, h("tr", {}, [t("time"), t("decision"), t("version")].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, c.history.map((x) => h("tr", { "data-decision": x.decision },
          h("td", {}, dateTime(x.at)), h("td", {}, t(`decision_${x.decision}`)), h("td", {}, x.version)))))
      : null;
    const asking = c.status !== "granted" || c.needs_decision;
    replace(box, h("h2", {}, t("consent_section")),
      h("p", { "data-testid": "consent-status", "data-status": c.status, class: c.status === "granted" ? "" : "notice" }, status),
      note ? h("p", { role: "status" }, note) : null,
      asking ? ask(c) : null,
      c.status === "granted"
        ? h("div", { class: "buttons" }, h("button", { type: "button", "data-testid": "consent-withdraw", onclick: () => confirmWithdraw(c) }, t("withdraw")))
        : null,
      history);
  }

  // The consent screen inside this card (not a card of its own).
  function ask(c: ConsentRecord): HTMLElement {
    const form = consentScreen(ctx.api, ctx.token, {
      state: c,
      onDecided: (r) => {
        ctx.onConsent(r);
        if (ctx.alive()) draw(r, "");
      },
    });
    form.classList.remove("card");
    return form;
  }

  function confirmWithdraw(c: ConsentRecord): void {
    const err = h("p", { class: "error", role: "alert" });
    const form = h("form", { method: "dialog", class: "stack" }, h("p", {}, t("withdraw_confirm")), err,
      h("div", { class: "buttons" },
        h("button", { type: "submit", class: "danger", "data-testid": "withdraw-confirm" }, t("withdraw_do")),
        h("button", { type: "button", onclick: () => dlg.close() }, t("cancel"))));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const r = await ctx.api.callAs<ConsentRecord>(ctx.token, "POST", "/api/v1/me/consent",
          { version: c.current_version, decision: "withdrawn" });
        dlg.close();
        ctx.onConsent(r);
        if (ctx.alive()) draw(r, t("withdrawn_done"));
      } catch (ex) {
        err.textContent = ex instanceof ApiError ? [ex.message, ...(ex.problem?.errors ?? []).map((x) => x.detail)].join(" · ") : t("offline");
      }
    });
    const dlg = modal(t("withdraw"), form);
    (form.querySelector("button[type=button]") as HTMLButtonElement).focus();
  }
}

function drawAccessLog(box: HTMLElement, ctx: PrivacyContext): void {
  const list = h("ol", { class: "access-log", "data-testid": "access-entries" });
  const status = h("p", { class: "muted", role: "status" }, t("loading"));
  const more = h("button", { type: "button", "data-testid": "access-more", hidden: true }, t("more"));
  let before: number | null = null;
  const load = async () => {
    more.disabled = true;
    try {
      const r = await ctx.api.callAs<{ entries: AccessEntry[]; next_before: number | null }>(ctx.token, "GET",
        `/api/v1/me/access-log${query({ limit: 50, before })}`);
      if (!ctx.alive()) return;
      for (const e of r.entries) list.appendChild(entryLine(e));
      before = r.next_before;
      more.hidden = before === null;
      status.textContent = list.childElementCount ? "" : t("no_access");
    } catch (e) {
      if (!ctx.alive()) return;
      status.textContent = e instanceof ApiError ? e.message : t("offline");
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener("click", () => void load());
  replace(box, h("h2", {}, t("access_log")), h("p", { class: "muted small" }, t("access_lead")), list, status, more);
  void load();
}

function entryLine(e: AccessEntry): HTMLElement {
  const refused = e.outcome === "refused";
  return h("li", {
    class: `access ${refused ? "refused" : ""}`, "data-entry-id": e.id, "data-action": e.action, "data-outcome": e.outcome,
    "data-self": e.actor.self ? "true" : "false", "data-role": e.actor.role,
  },
  h("div", { class: "muted small" }, dateTime(e.at)),
  h("div", {}, h("strong", { class: "who" }, whoWords(e.actor))),
  h("div", { class: "what" }, actionWords(e.action), refused ? h("span", { class: "badge refused" }, t("outcome_refused")) : null));
}

function drawExport(box: HTMLElement, ctx: PrivacyContext): void {
  const status = h("p", { class: "muted small", role: "status" });
  const button = h("button", { type: "button", class: "primary", "data-testid": "export-record" }, t("export_do"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = t("loading");
    try {
      const name = await downloadFile("/api/v1/me/export", ctx.token, "application/fhir+json, application/json", "careloop-record.json");
      status.textContent = t("export_done", { name });
    } catch (e) {
      status.textContent = e instanceof ApiError ? e.message : t("offline");
    } finally {
      button.disabled = false;
    }
  });
  replace(box, h("h2", {}, t("export_record")), h("p", { class: "muted small" }, t("export_lead")), button, status);
}
