// The dashboard: log in, then for a doctor (or the administrator) Today
// (#/today), Patients (#/patients), one patient (#/patients/ID) and the
// clinic's reports; for a health authority the population reports of its
// region (#/reports/region/ID, #/reports/clinic/ID) and nothing else.
import "../styles.css";
import { ApiError } from "../lib/api";
import { h, replace } from "../lib/dom";
import { glucoseUnit, setGlucoseUnit } from "../lib/format";
import { lang, onLangChange, setLang, t } from "../lib/i18n";
import { renderPatient } from "./patient";
import { renderPatients } from "./patients";
import { defaultReportHash, renderReports } from "./reports";
import { api, loadClinics, setClinic, setUser, state, type User } from "./state";
import { renderToday } from "./today";

const root = document.getElementById("app") as HTMLElement;
let teardown: (() => void) | null = null;

function langButton(): HTMLButtonElement {
  return h("button", {
    type: "button", class: "lang", "data-testid": "lang-switch", "aria-label": t("lang_label"),
    onclick: () => setLang(lang() === "en" ? "zh-CN" : "en"),
  }, t("language"));
}

function renderLogin(): void {
  const err = h("p", { class: "error", role: "alert" });
  const user = h("input", { id: "username", name: "username", autocomplete: "username", required: true });
  const pass = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "login card" },
    h("h1", {}, t("app")),
    h("label", { for: "username" }, t("username")), user,
    h("label", { for: "password" }, t("password")), pass,
    err,
    h("button", { type: "submit", class: "primary" }, t("login")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const s = await api.post<{ token: string; user: User }>("/api/v1/auth/login", { username: user.value, password: pass.value });
      if (s.user.role !== "doctor" && s.user.role !== "admin" && s.user.role !== "authority") {
        err.textContent = t("login_failed");
        return;
      }
      api.token = s.token;
      setUser(s.user);
      await start();
    } catch (ex) {
      err.textContent = ex instanceof ApiError && ex.status === 429 ? ex.message : t("login_failed");
    }
  });
  replace(root, h("header", { class: "top" }, h("span", { class: "brand" }, "CareLoop"), h("span", { class: "spacer" }), langButton()),
    h("main", { id: "main" }, form));
  user.focus();
}

function isAuthority(): boolean {
  return state.user?.role === "authority";
}

function header(active: string): HTMLElement {
  const reportsLink = h("a", { href: defaultReportHash(), "aria-current": active === "reports" ? "page" : null }, t("reports"));
  const nav = isAuthority()
    ? h("nav", { "aria-label": "main" }, reportsLink)
    : h("nav", { "aria-label": "main" },
      h("a", { href: "#/today", "aria-current": active === "today" ? "page" : null }, t("today")),
      h("a", { href: "#/patients", "aria-current": active === "patients" ? "page" : null }, t("patients")),
      reportsLink);
  let clinicPicker: HTMLElement | null = null;
  if (state.user?.role === "admin" && state.clinics.length) {
    const sel = h("select", { id: "clinic", "aria-label": t("clinic") },
      state.clinics.map((c) => h("option", { value: c.id, selected: c.id === state.clinicId }, c.name)));
    sel.addEventListener("change", () => {
      setClinic(Number(sel.value));
      route();
    });
    clinicPicker = sel;
  }
  const unit = isAuthority() ? null : h("select", { id: "glucose-unit", "aria-label": t("glucose_unit") },
    h("option", { value: "mmol/L", selected: glucoseUnit() === "mmol/L" }, "mmol/L"),
    h("option", { value: "mg/dL", selected: glucoseUnit() === "mg/dL" }, "mg/dL"));
  unit?.addEventListener("change", () => {
    setGlucoseUnit(unit.value as "mmol/L" | "mg/dL");
    route();
  });
  return h("header", { class: "top" },
    h("span", { class: "brand" }, "CareLoop"), nav, h("span", { class: "spacer" }),
    clinicPicker, unit, h("span", { class: "who" }, state.user?.display_name || state.user?.username || ""),
    langButton(),
    h("button", { type: "button", onclick: logout }, t("logout")));
}

async function logout(): Promise<void> {
  try {
    await api.post("/api/v1/auth/logout");
  } catch {
    // the session may already be gone
  }
  api.token = null;
  setUser(null);
  location.hash = "";
  route();
}

function route(): void {
  teardown?.();
  teardown = null;
  if (!api.token || !state.user) {
    renderLogin();
    return;
  }
  const hash = location.hash.replace(/^#/, "") || (isAuthority() ? defaultReportHash().slice(1) : "/today");
  const main = h("main", { id: "main", tabindex: "-1" });
  const report = hash.match(/^\/reports\/(region|clinic)\/(\d+)/);
  if (hash.startsWith("/reports") && !report) {
    location.hash = defaultReportHash();
    return;
  }
  // An authority sees aggregates only: every other view is a patient's record.
  if (isAuthority() && !report) {
    location.hash = defaultReportHash();
    return;
  }
  let active = "today";
  const m = hash.match(/^\/patients\/(\d+)/);
  if (report) active = "reports";
  else if (m) active = "patients";
  else if (hash.startsWith("/patients")) active = "patients";
  replace(root, header(active), main);
  if (report) teardown = renderReports(main, report[1] as "region" | "clinic", Number(report[2]), new URLSearchParams(hash.split("?")[1] || ""));
  else if (m) teardown = renderPatient(main, Number(m[1]));
  else if (hash.startsWith("/patients")) teardown = renderPatients(main, new URLSearchParams(hash.split("?")[1] || ""));
  else teardown = renderToday(main);
}

async function start(): Promise<void> {
  if (isAuthority()) {
    if (!location.hash.startsWith("#/reports")) location.hash = defaultReportHash();
    else route();
    return;
  }
  try {
    await loadClinics();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      renderLogin();
      return;
    }
  }
  // Setting the hash routes (hashchange); otherwise route now.
  if (!location.hash || location.hash === "#/") location.hash = "#/today";
  else route();
}

window.addEventListener("hashchange", route);
window.addEventListener("careloop:logged-out", () => {
  setUser(null);
  route();
});
onLangChange(route);
if (api.token && state.user) void start();
else renderLogin();
