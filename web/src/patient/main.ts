// The patient page (/patient), mobile first: activate with the clinic's
// code or log in; log BP, glucose, weight and medication taken (queued
// offline, sent when online); see the last 30 days, the approved care plan
// and the clinic's messages. A shared phone is the normal case: the session,
// the queue and the cached profile belong to one account each (session.ts).
// Health data is sent only with the patient's separate consent (consent.ts):
// without it entries stay queued on the phone; #privacy shows the consent,
// who opened the record, and the download of the record (privacy.ts).
import "../styles.css";
import { Api, ApiError, query, uuid } from "../lib/api";
import { chart } from "../lib/charts";
import { h, replace } from "../lib/dom";
import { dateTime, glucoseUnit, isoSeconds, localIso, MG_PER_MMOL, setGlucoseUnit } from "../lib/format";
import { lang, onLangChange, setLang, t, words } from "../lib/i18n";
import { consentBox, consentScreen, isGranted, needsConsent, type ConsentRecord, type ConsentState } from "./consent";
import { renderPrivacy } from "./privacy";
import {
  discardUnattributed, enqueue, entries, flush, forgetSettled, hold, isHeld, migrate, onChange, release, waiting,
  type Entry,
} from "./queue";
import {
  adoptOldSession, begin, cacheProfile, cachedProfile, end, forgetProfile, isSessionKey, sameSession, session,
  type Account, type Session,
} from "./session";

const api = new Api({
  get: () => session()?.token ?? null,
  // The client only ever clears the token (on a 401); a session begins with its account (startSession).
  set: (token) => {
    if (token) throw new Error("a patient session begins with its account");
    closeSession();
  },
});
// The session the page is drawn for: a page drawn for one account never files an entry under another.
let shown: Session | null = null;
let redrawEntries: (() => void) | null = null;
// The home view's send (it notices a refusal for want of consent); null on other views.
let sendNow: (() => Promise<void>) | null = null;
// Accounts whose patient chose "not now" on the consent screen since this page loaded.
const later = new Set<Account>();
// Accounts whose entries the server refused for want of consent since the page last heard it granted.
const refused = new Set<Account>();
const root = document.getElementById("app") as HTMLElement;

interface Me {
  user: { id: number; username: string; display_name: string };
  patient: { name: string; medications: { name: string; dose: string }[] };
  targets: { bp?: { systolic_below: number; diastolic_below: number } } | null;
  consent?: ConsentState;
}

function topBar(): HTMLElement {
  return h("header", { class: "top" }, h("span", { class: "brand" }, t("app_name")), h("span", { class: "spacer" }),
    h("span", { class: `net ${navigator.onLine ? "on" : "off"}`, "data-testid": "net-state", role: "status" },
      navigator.onLine ? t("online") : t("offline")),
    h("button", { type: "button", class: "lang", "data-testid": "lang-switch", "aria-label": t("lang_label"),
      onclick: () => setLang(lang() === "en" ? "zh-CN" : "en") }, t("language")),
    api.token ? h("button", { type: "button", "data-testid": "logout", onclick: logout }, t("logout")) : null);
}

function startSession(answer: { token: string; user: { id: number } }): void {
  const prior = session();
  if (prior && prior.account !== answer.user.id) closeSession();
  begin({ token: answer.token, account: answer.user.id });
  render();
}

// Ends the session on this phone and forgets the account's cached profile and
// settled entries; its unsent entries stay, to be sent when it logs in again.
function closeSession(): Session | null {
  const s = session();
  end();
  if (s) {
    forgetProfile(s.account);
    void forgetSettled(s.account);
    // The next login asks the server about consent afresh.
    later.delete(s.account);
    refused.delete(s.account);
  }
  return s;
}

async function logout(): Promise<void> {
  const s = closeSession();
  if (location.hash.startsWith("#privacy")) history.replaceState(null, "", "/patient");
  render();
  // Revoke the token on the server; offline it cannot be, and it stays valid there until it expires.
  if (s) await api.callAs(s.token, "POST", "/api/v1/auth/logout", {}).catch(() => undefined);
}

// How many entries on this phone wait for other accounts, never what they are.
async function drawWaiting(box: HTMLElement, account: Account | null): Promise<void> {
  const w = await waiting();
  let others = 0;
  for (const [a, n] of w.byAccount) if (a !== account) others += n;
  replace(box,
    others ? h("p", { class: "notice", "data-testid": "waiting-elsewhere", "data-count": others },
      t(account === null ? "waiting_accounts" : "waiting_other", { n: others })) : null,
    w.unattributed ? h("p", { class: "notice", "data-testid": "unattributed", "data-count": w.unattributed },
      t("unattributed", { n: w.unattributed }), " ",
      h("button", { type: "button", onclick: async () => {
        await discardUnattributed();
        void drawWaiting(box, account);
      } }, t("discard_unattributed"))) : null);
}

function renderLogin(): void {
  const code = (location.hash.match(/activate=([A-Z0-9]+)/) || [])[1] ?? "";
  const err = h("p", { class: "error", role: "alert" });
  const user = h("input", { id: "p-user", autocomplete: "username", required: true });
  const pass = h("input", { id: "p-pass", type: "password", autocomplete: "current-password", required: true });
  const login = h("form", { class: "card stack" }, h("h2", {}, t("login")),
    h("label", { for: "p-user" }, t("username")), user, h("label", { for: "p-pass" }, t("password")), pass, err,
    h("button", { type: "submit", class: "primary" }, t("login")));
  login.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      startSession(await api.post<{ token: string; user: { id: number } }>("/api/v1/auth/login",
        { username: user.value, password: pass.value }));
    } catch (ex) {
      err.textContent = ex instanceof ApiError && ex.status === 429 ? ex.message : t("login_failed");
    }
  });
  const aerr = h("p", { class: "error", role: "alert" });
  const acode = h("input", { id: "a-code", value: code, required: true, autocapitalize: "characters", maxlength: 10 });
  const auser = h("input", { id: "a-user", autocomplete: "username", required: true });
  const apass = h("input", { id: "a-pass", type: "password", autocomplete: "new-password", required: true, minlength: 8 });
  // The separate consent to processing health data: its own step, apart from the account's fields,
  // unticked until the patient ticks it; the version sent is the one shown.
  const consent = consentBox(api, "a-consent", t("consent_accept"));
  const activate = h("form", { class: "card stack", "data-testid": "activate-form", novalidate: true }, h("h2", {}, t("activate")),
    h("p", { class: "muted" }, t("have_code")),
    h("fieldset", { class: "stack" }, h("legend", {}, `1 · ${t("account_step")}`),
      h("label", { for: "a-code" }, t("code")), acode, h("label", { for: "a-user" }, t("username")), auser,
      h("label", { for: "a-pass" }, t("password")), apass),
    h("fieldset", { class: "stack consent", "data-testid": "activation-consent" }, h("legend", {}, `2 · ${t("consent_legend")}`), consent.el),
    aerr, h("button", { type: "submit", "data-testid": "activate-submit" }, t("activate")));
  activate.addEventListener("submit", async (e) => {
    e.preventDefault();
    consent.box.removeAttribute("aria-invalid");
    const fields = [acode, auser, apass].find((x) => !x.checkValidity());
    if (fields) {
      fields.reportValidity();
      return;
    }
    const doc = consent.shown();
    if (!doc || !consent.box.checked) {
      aerr.textContent = doc ? t("consent_required") : t("consent_unavailable");
      consent.box.setAttribute("aria-invalid", "true");
      if (doc) consent.box.focus();
      return;
    }
    try {
      const answer = await api.post<{ token: string; user: { id: number } }>("/api/v1/auth/activate",
        { code: acode.value.trim().toUpperCase(), username: auser.value.trim(), password: apass.value,
          consent: { version: doc.version, accepted: true } });
      history.replaceState(null, "", "/patient");
      startSession(answer);
    } catch (ex) {
      if (ex instanceof ApiError && ex.status === 422 && ex.names("/consent/version")) {
        // The wording changed since it was shown: show the new one and ask again.
        await consent.reload();
        aerr.textContent = t("consent_changed");
        return;
      }
      aerr.textContent = ex instanceof ApiError
        ? [ex.message, ...(ex.problem?.errors ?? []).map((x) => x.detail)].join(" · ") : String(ex);
    }
  });
  const notices = h("div", { class: "notices" });
  replace(root, topBar(), h("main", { class: "narrow" }, h("h1", {}, t("p_title")), notices,
    code ? [activate, login] : [login, activate]));
  void drawWaiting(notices, null);
}

function entryLine(e: Entry, waitsForConsent = false): HTMLElement {
  const r = e.reading;
  let what = "";
  if (r.kind === "blood_pressure") what = `${t("bp")} ${r.systolic}/${r.diastolic}`;
  else if (r.kind === "glucose") what = `${t("glucose")} ${r.value} ${r.unit}`;
  else if (r.kind === "weight") what = `${t("weight")} ${r.value} kg`;
  else what = `${t("medication")} ${r.name} · ${t(String(r.status))}`;
  const label = e.state === "saved" ? t("saved") : e.state === "rejected" ? `${t("rejected")}: ${e.error ?? ""}`
    : waitsForConsent ? t("queued_consent") : t("queued");
  return h("li", { class: `entry ${e.state}`, "data-client-id": e.client_id, "data-state": e.state },
    h("span", {}, what), h("span", { class: "muted small" }, dateTime(String(r.taken_at))), h("span", { class: "state" }, label));
}

function numberInput(id: string, label: string, min: number, max: number, step = "1"): [HTMLLabelElement, HTMLInputElement] {
  return [h("label", { for: id }, label), h("input", { id, type: "number", inputmode: "decimal", min, max, step, required: true })];
}

async function renderHome(s: Session): Promise<void> {
  const main = h("main", { class: "narrow" });
  replace(root, topBar(), main);
  let me: Me | null = null;
  let fresh = false;
  try {
    me = await api.get<Me>("/api/v1/me");
    fresh = true;
    if (shown !== s) return;
    // The token answers for another account than the session says: trust neither.
    if (me.user.id !== s.account) {
      closeSession();
      return render();
    }
    cacheProfile(s.account, me);
  } catch (e) {
    if (shown !== s) return;
    if (e instanceof ApiError && e.status === 401) return render();
    me = cachedProfile<Me>(s.account);
  }
  // Without the patient's consent nothing is sent: ask first (unless they said "not now" on this page load).
  const consented = isGranted(me?.consent) && !refused.has(s.account);
  if (consented) release(s.account);
  else hold(s.account);
  if (fresh && (needsConsent(me?.consent) || refused.has(s.account)) && !later.has(s.account)) {
    replace(main, h("h1", {}, me ? `${t("p_title")} · ${me.patient.name}` : t("p_title")),
      consentScreen(api, s.token, {
        state: me?.consent ?? null,
        onDecided: (c) => consentChanged(s, c),
        onLater: () => {
          later.add(s.account);
          render();
        },
      }));
    return;
  }
  const list = h("ol", { class: "entries", "data-testid": "entries" });
  const notices = h("div", { class: "notices" });
  const consentNote = consented ? null : h("p", { class: "notice", "data-testid": "consent-missing" }, t("consent_missing_note"), " ",
    h("button", { type: "button", "data-testid": "consent-review", onclick: () => {
      later.delete(s.account);
      render();
    } }, t("consent_review")));
  const drawEntries = async () => {
    const mine = await entries(s.account);
    if (shown !== s) return;
    const waits = !consented || isHeld(s.account);
    replace(list, mine.slice().reverse().slice(0, 15).map((e) => entryLine(e, waits)));
    await drawWaiting(notices, s.account);
  };
  redrawEntries = () => void drawEntries();
  const send = async () => {
    if (sameSession(session(), s) && (await flush(api, s)) === "consent" && consented && shown === s) {
      // The server refused the entries for want of consent (withdrawn elsewhere): they stay queued; ask.
      refused.add(s.account);
      later.delete(s.account);
      return render();
    }
    await drawEntries();
  };
  sendNow = send;
  const submit = async (reading: Record<string, unknown>, form: HTMLFormElement) => {
    // Another tab may have logged out or in since this page was drawn.
    if (!sameSession(session(), s)) return render();
    await enqueue(s.account, { client_id: uuid(), taken_at: localIso(), source: "careloop-web", ...reading });
    requestSync();
    form.reset();
    await drawEntries();
    await send();
  };

  const [sysL, sys] = numberInput("bp-sys", t("systolic"), 50, 300);
  const [diaL, dia] = numberInput("bp-dia", t("diastolic"), 20, 200);
  const [pulL, pul] = numberInput("bp-pulse", t("pulse"), 20, 300);
  pul.required = false;
  const bpForm = h("form", { class: "card stack", "data-testid": "form-bp" }, h("h2", {}, t("log_bp")), sysL, sys, diaL, dia, pulL, pul,
    h("button", { type: "submit", class: "primary" }, t("record")));
  bpForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const r: Record<string, unknown> = { kind: "blood_pressure", systolic: Number(sys.value), diastolic: Number(dia.value), unit: "mmHg" };
    if (pul.value) r.pulse = Number(pul.value);
    void submit(r, bpForm);
  });

  const unit = glucoseUnit();
  const [glL, gl] = numberInput("gl-value", `${t("glucose")} (${unit})`, unit === "mg/dL" ? 9 : 0.5, unit === "mg/dL" ? 990 : 55, unit === "mg/dL" ? "1" : "0.1");
  const ctx = h("select", { id: "gl-context" }, ["fasting", "before_meal", "after_meal", "bedtime", "random"].map((c) => h("option", { value: c }, t(c))));
  const unitSel = h("select", { id: "gl-unit", "aria-label": t("glucose_unit") },
    ["mmol/L", "mg/dL"].map((u) => h("option", { value: u, selected: u === unit }, u)));
  unitSel.addEventListener("change", () => {
    setGlucoseUnit(unitSel.value as "mmol/L" | "mg/dL");
    render();
  });
  const glForm = h("form", { class: "card stack", "data-testid": "form-glucose" }, h("h2", {}, t("log_glucose")), glL, gl,
    h("label", { for: "gl-context" }, t("context")), ctx, h("label", { for: "gl-unit" }, t("glucose_unit")), unitSel,
    h("button", { type: "submit", class: "primary" }, t("record")));
  glForm.addEventListener("submit", (e) => {
    e.preventDefault();
    void submit({ kind: "glucose", value: Number(gl.value), unit, context: ctx.value }, glForm);
  });

  const [wtL, wt] = numberInput("wt-value", `${t("weight")} (kg)`, 2, 400, "0.1");
  const wtForm = h("form", { class: "card stack", "data-testid": "form-weight" }, h("h2", {}, t("log_weight")), wtL, wt,
    h("button", { type: "submit", class: "primary" }, t("record")));
  wtForm.addEventListener("submit", (e) => {
    e.preventDefault();
    void submit({ kind: "weight", value: Number(wt.value), unit: "kg" }, wtForm);
  });

  const meds = me?.patient.medications ?? [];
  const drug = meds.length
    ? h("select", { id: "med-name" }, meds.map((m) => h("option", { value: m.name }, `${m.name} ${m.dose}`)))
    : h("input", { id: "med-name", required: true, maxlength: 100 });
  const taken = h("select", { id: "med-status" }, h("option", { value: "taken" }, t("taken")), h("option", { value: "missed" }, t("missed")));
  const medForm = h("form", { class: "card stack", "data-testid": "form-med" }, h("h2", {}, t("log_med")),
    h("label", { for: "med-name" }, t("drug")), drug, h("label", { for: "med-status" }, t("status")), taken,
    h("button", { type: "submit", class: "primary" }, t("record")));
  medForm.addEventListener("submit", (e) => {
    e.preventDefault();
    void submit({ kind: "medication", name: (drug as HTMLInputElement).value, status: taken.value }, medForm);
  });

  const historyBox = h("section", { class: "card", "data-testid": "history" }, h("h2", {}, t("history")));
  const planBox = h("section", { class: "card", "data-testid": "my-plan" }, h("h2", {}, t("my_plan")), t("loading"));
  const msgBox = h("section", { class: "card", "data-testid": "messages" }, h("h2", {}, t("messages")), t("loading"));
  replace(main, h("h1", {}, me ? `${t("p_title")} · ${me.patient.name}` : t("p_title")),
    h("p", { class: "links" }, h("a", { href: "#privacy", "data-testid": "privacy-link" }, t("privacy"))),
    h("section", { class: "card" }, h("h2", {}, t("recent_entries")), consentNote, list, notices),
    h("div", { class: "forms" }, bpForm, glForm, wtForm, medForm), historyBox, planBox, msgBox);
  void send();
  void loadHistory(historyBox, me);
  void loadPlan(planBox);
  void loadMessages(msgBox);
}

async function loadHistory(box: HTMLElement, me: Me | null): Promise<void> {
  const now = new Date();
  const from = new Date(now.getTime() - 30 * 86400_000);
  try {
    const r = await api.get<{ readings: { kind: string; taken_at: string; systolic?: number; diastolic?: number; value?: number; context?: string }[] }>(
      `/api/v1/me/readings${query({ from: isoSeconds(from), limit: 1000 })}`);
    const bp = r.readings.filter((x) => x.kind === "blood_pressure");
    const gl = r.readings.filter((x) => x.kind === "glucose" && typeof x.value === "number");
    const xr: [number, number] = [from.getTime() / 1000, now.getTime() / 1000];
    const host = h("div", { class: "chart" });
    box.appendChild(host);
    const target = me?.targets?.bp;
    if (bp.length)
      chart(host, {
        title: t("bp"), unit: "mmHg", x: bp.map((x) => new Date(x.taken_at).getTime() / 1000), range: xr,
        series: [
          { label: t("systolic"), color: "#b00020", values: bp.map((x) => x.systolic ?? null) },
          { label: t("diastolic"), color: "#0b5394", values: bp.map((x) => x.diastolic ?? null) },
        ],
        bands: target ? [{ from: target.diastolic_below, to: target.systolic_below, color: "rgba(46, 125, 50, 0.12)" }] : [],
      });
    if (gl.length) {
      const host2 = h("div", { class: "chart" });
      box.appendChild(host2);
      const mg = glucoseUnit() === "mg/dL" ? MG_PER_MMOL : 1;
      chart(host2, {
        title: t("glucose"), unit: glucoseUnit(), x: gl.map((x) => new Date(x.taken_at).getTime() / 1000), range: xr,
        series: [{ label: t("glucose"), color: "#6a1b9a", points: true, values: gl.map((x) => (x.value as number) * mg) }],
        bands: [{ from: 3.9 * mg, to: 10 * mg, color: "rgba(46, 125, 50, 0.12)" }],
      });
    }
    if (!bp.length && !gl.length) box.appendChild(h("p", { class: "muted" }, t("no_readings")));
  } catch {
    box.appendChild(h("p", { class: "muted" }, t("offline")));
  }
}

async function loadPlan(box: HTMLElement): Promise<void> {
  try {
    const r = await api.get<{ care_plan: null | { version: number; approved_at: string; text?: Record<string, string>; plan: Record<string, unknown> } }>("/api/v1/me/care-plan");
    const p = r.care_plan;
    replace(box, h("h2", {}, t("my_plan")), p
      ? [h("p", { class: "muted small" }, `${t("version")} ${p.version} · ${dateTime(p.approved_at)}`),
        h("p", { class: "plan-text" }, p.text ? words(p.text) : JSON.stringify(p.plan))]
      : h("p", { class: "muted" }, t("no_plan")));
  } catch {
    replace(box, h("h2", {}, t("my_plan")), h("p", { class: "muted" }, t("no_plan")));
  }
}

async function loadMessages(box: HTMLElement): Promise<void> {
  // The sync feed from the start (messages are few); alerts carry advice too.
  const items: { at: string; from: string; text: string }[] = [];
  try {
    let since = 0;
    for (let i = 0; i < 50; i++) {
      const r = await api.get<{ changes: { entity: string; at: string; data: Record<string, unknown> }[]; next: number; more: boolean }>(
        `/api/v1/me/sync${query({ since, limit: 500 })}`);
      for (const c of r.changes) {
        if (c.entity === "message")
          items.push({ at: c.at, from: String((c.data.from as { display_name?: string })?.display_name ?? ""), text: String(c.data.text) });
        else if (c.entity === "alert")
          items.push({ at: c.at, from: "CareLoop", text: c.data.messages ? words(c.data.messages) : String(c.data.message ?? "") });
      }
      since = r.next;
      if (!r.more) break;
    }
    items.reverse();
    replace(box, h("h2", {}, t("messages")), items.length
      ? h("ul", { class: "messages" }, items.slice(0, 20).map((m) => h("li", {}, h("div", { class: "muted small" }, `${m.from} · ${dateTime(m.at)}`), h("p", {}, m.text))))
      : h("p", { class: "muted" }, t("no_messages")));
  } catch {
    replace(box, h("h2", {}, t("messages")), h("p", { class: "muted" }, t("offline")));
  }
}

// The consent was granted or withdrawn (consent screen or #privacy): keep the profile cache
// and the queue's hold in step; once granted, what waited is sent.
function consentChanged(s: Session, c: ConsentRecord): void {
  const { history: _history, ...state } = c;
  const me = cachedProfile<Me>(s.account);
  if (me) cacheProfile(s.account, { ...me, consent: state });
  if (c.status === "granted" && !c.needs_decision) {
    refused.delete(s.account);
    release(s.account);
  } else {
    hold(s.account);
  }
  if (shown === s && !location.hash.startsWith("#privacy")) render();
}

function renderPrivacyView(s: Session): void {
  const main = h("main", { class: "narrow" });
  replace(root, topBar(), main);
  renderPrivacy(main, {
    api, token: s.token, alive: () => shown === s && location.hash.startsWith("#privacy"),
    onConsent: (c) => consentChanged(s, c),
  });
}

function render(): void {
  redrawEntries = null;
  sendNow = null;
  const s = session();
  shown = s;
  if (s && location.hash.startsWith("#privacy")) renderPrivacyView(s);
  else if (s) void renderHome(s);
  else renderLogin();
}

function showNet(): void {
  const el = document.querySelector("[data-testid=net-state]");
  if (!el) return;
  el.textContent = navigator.onLine ? t("online") : t("offline");
  el.className = `net ${navigator.onLine ? "on" : "off"}`;
}

async function sendQueued(): Promise<void> {
  const s = session();
  if (!s) return;
  if (sendNow) return sendNow();
  await flush(api, s);
}

window.addEventListener("online", () => {
  showNet();
  void sendQueued();
});
window.addEventListener("offline", showNet);
window.addEventListener("careloop:logged-out", render);
// #privacy, back, or a new #activate=CODE.
window.addEventListener("hashchange", render);
// Another tab logged out or in: redraw for whoever is logged in now.
window.addEventListener("storage", (e) => {
  const now = session();
  if (isSessionKey(e.key) && (now || shown) && !sameSession(now, shown)) render();
});
// Another tab changed a queue (IndexedDB has no storage event: queue.ts tells through a BroadcastChannel).
onChange(() => redrawEntries?.());
onLangChange(render);
// The installable offline app: the service worker (patient-sw.ts) keeps the
// page's shell so it opens with no network; its Background Sync only wakes
// this page, which sends with the account's token.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/patient-sw.js", { scope: "/patient" }).catch(() => undefined);
  navigator.serviceWorker.addEventListener("message", (e: MessageEvent) => {
    if ((e.data as { type?: string } | null)?.type === "careloop:send-queue") void sendQueued();
  });
}
// Background Sync, where the browser has it: the worker wakes this page when the network is back.
function requestSync(): void {
  if (!("serviceWorker" in navigator)) return;
  type WithSync = ServiceWorkerRegistration & { sync?: { register(tag: string): Promise<void> } };
  void navigator.serviceWorker.ready
    .then((r) => (r as WithSync).sync?.register("careloop-queue"))
    .catch(() => undefined);
}
// Also retry on a timer: "online" may come before the server is reachable.
setInterval(() => void sendQueued(), 3000);
// The queues an earlier page kept in localStorage move to IndexedDB first; should that fail they stay
// where they are, and the page opens all the same.
void migrate().catch(() => undefined).then(() => {
  render();
  return adoptOldSession(api);
}).then(() => {
  if (!shown && session()) render();
});
