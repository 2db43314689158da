// The patient's separate consent to processing health data (PIPL art. 28-29:
// health data is sensitive personal information and needs its own consent,
// apart from creating the account). The wording is the server's
// (GET /api/v1/consent/health-data, both languages and a version); the page
// always sends the version it showed, and a 422 on /consent/version means the
// wording changed meanwhile: fetch it again and ask again.
import { Api, ApiError } from "../lib/api";
import { h, replace } from "../lib/dom";
import { addWords, t, words } from "../lib/i18n";

addWords({
  consent_legend: "单独同意：处理您的健康信息",
  consent_accept: "我已阅读上述内容，单独同意按其所述处理我的健康信息（血压、血糖、体重、用药等）。",
  consent_required: "请阅读并勾选“单独同意处理健康信息”后再激活账户。",
  consent_changed: "同意书已更新，请阅读新版本后重新勾选。",
  consent_unavailable: "无法加载同意书（需要联网）。", retry: "重试",
  consent_screen_title: "处理健康信息需要您的单独同意",
  consent_screen_lead: "只有在您同意后，您记录的测量才会发送给诊所。您也可以暂不同意：记录会保存在本手机上，但不会发送。",
  consent_new_version: "同意书有了新版本（{v}），请阅读并重新作出决定。",
  consent_grant: "同意", consent_later: "暂不同意", consent_tick_first: "请先勾选同意。",
  consent_version: "同意书版本 {v}", account_step: "账户",
  queued_consent: "等待您同意后发送",
  consent_missing_note: "您尚未同意处理健康信息：记录只保存在本手机上，不会发送给诊所，直到您同意。",
  consent_review: "阅读并同意",
}, {
  consent_legend: "Separate consent: processing your health data",
  consent_accept: "I have read the text above and separately consent to my health data (blood pressure, glucose, weight, medication) being processed as it describes.",
  consent_required: "Read and tick the separate consent to processing health data to activate your account.",
  consent_changed: "The consent text has changed: please read the new version and tick again.",
  consent_unavailable: "The consent text could not be loaded (you need to be online).", retry: "Try again",
  consent_screen_title: "Your separate consent is needed to process your health data",
  consent_screen_lead: "The readings you record are sent to your clinic only once you consent. You may also decline for now: entries are kept on this phone but not sent.",
  consent_new_version: "There is a new version ({v}) of the consent text: please read it and decide again.",
  consent_grant: "I consent", consent_later: "Not now", consent_tick_first: "Tick the box to consent first.",
  consent_version: "Consent text version {v}", account_step: "Your account",
  queued_consent: "Waits for your consent",
  consent_missing_note: "You have not consented to your health data being processed: entries stay on this phone and are not sent to your clinic until you do.",
  consent_review: "Read and consent",
});

type Words = Record<string, string>;

export interface ConsentDoc {
  purpose: string;
  version: string;
  title: Words;
  text: Words;
  sha256: string;
}

export interface ConsentState {
  purpose: string;
  current_version: string;
  status: "granted" | "withdrawn" | "none";
  granted_version: string | null;
  needs_decision: boolean;
}

export interface ConsentRecord extends ConsentState {
  history: { version: string; decision: "granted" | "withdrawn"; at: string; sha256: string }[];
}

// Whether the patient must be asked: no decision for the current wording, or not granted.
export function needsConsent(c: ConsentState | null | undefined): boolean {
  return !!c && (c.needs_decision || c.status !== "granted");
}

export function isGranted(c: ConsentState | null | undefined): boolean {
  // A server without consent (no field) stores readings as before.
  return !c || c.status === "granted";
}

let cached: ConsentDoc | null = null;

export async function consentDoc(api: Api, fresh = false): Promise<ConsentDoc> {
  if (!fresh && cached) return cached;
  cached = await api.callAs<ConsentDoc>(null, "GET", "/api/v1/consent/health-data");
  return cached;
}

// The wording in the current language, with its version; text kept as text (white-space: pre-wrap).
export function wording(doc: ConsentDoc): HTMLElement {
  return h("div", { class: "consent-doc", "data-testid": "consent-doc", "data-version": doc.version },
    h("h3", {}, words(doc.title)),
    h("div", { class: "consent-text", tabindex: 0, role: "document", "aria-label": words(doc.title) }, words(doc.text)),
    h("p", { class: "muted small", "data-testid": "consent-version" }, t("consent_version", { v: doc.version })));
}

// A box that shows the wording once loaded (or says it could not be, with a retry); the
// checkbox below it stays disabled until a wording is shown. Returns the version shown.
export interface ConsentBox {
  el: HTMLElement;
  box: HTMLInputElement;
  shown(): ConsentDoc | null;
  reload(): Promise<void>;
}

export function consentBox(api: Api, id: string, label: string): ConsentBox {
  const host = h("div", { class: "consent-host" }, t("loading"));
  const box = h("input", { type: "checkbox", id, disabled: true, "aria-required": "true", "data-testid": "consent-accept" });
  let doc: ConsentDoc | null = null;
  const load = async (fresh: boolean) => {
    doc = null;
    box.checked = false;
    box.disabled = true;
    try {
      doc = await consentDoc(api, fresh);
      replace(host, wording(doc));
      box.disabled = false;
      box.dataset.version = doc.version;
    } catch {
      replace(host, h("p", { class: "error", role: "alert" }, t("consent_unavailable"), " ",
        h("button", { type: "button", onclick: () => void load(true) }, t("retry"))));
    }
  };
  void load(false);
  const el = h("div", { class: "consent-step" }, host,
    h("div", { class: "check" }, box, h("label", { for: id }, label)));
  return { el, box, shown: () => doc, reload: () => load(true) };
}

// The consent screen (after login, or from Privacy): the wording, a box to tick, consent or not now.
export function consentScreen(api: Api, token: string, opts: {
  state: ConsentState | null;
  onDecided: (c: ConsentRecord) => void;
  onLater?: () => void;
}): HTMLElement {
  const err = h("p", { class: "error", role: "alert" });
  const cb = consentBox(api, "c-accept", t("consent_accept"));
  const form = h("form", { class: "card stack consent-screen", "data-testid": "consent-screen" },
    h("h2", {}, t("consent_screen_title")),
    opts.state?.status === "granted" && opts.state.needs_decision
      ? h("p", { class: "notice" }, t("consent_new_version", { v: opts.state.current_version }))
      : h("p", {}, t("consent_screen_lead")),
    cb.el, err,
    h("div", { class: "buttons" },
      h("button", { type: "submit", class: "primary", "data-testid": "consent-grant" }, t("consent_grant")),
      opts.onLater ? h("button", { type: "button", "data-testid": "consent-later", onclick: opts.onLater }, t("consent_later")) : null));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const doc = cb.shown();
    if (!doc) return;
    if (!cb.box.checked) {
      err.textContent = t("consent_tick_first");
      cb.box.setAttribute("aria-invalid", "true");
      cb.box.focus();
      return;
    }
    try {
      const r = await api.callAs<ConsentRecord>(token, "POST", "/api/v1/me/consent", { version: doc.version, decision: "granted" });
      opts.onDecided(r);
    } catch (ex) {
      // The wording changed since it was shown: show the new one and ask again.
      if (ex instanceof ApiError && ex.status === 422 && (ex.names("/version") || ex.names("/consent/version"))) {
        await cb.reload();
        err.textContent = t("consent_changed");
      } else {
        err.textContent = ex instanceof ApiError ? ex.message : t("offline");
      }
    }
  });
  return form;
}
