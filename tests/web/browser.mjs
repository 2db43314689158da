#!/usr/bin/env node
// Browser tests of the doctor's dashboard and the patient page, in Debian's
// chromium (headless) driven by playwright-core, against `careloop serve`
// with a demo county. No browser is ever downloaded: the executable is
// /usr/bin/chromium (or CARELOOP_CHROMIUM).
//
//   node tests/web/browser.mjs --careloop build/app/careloop --web web [--screenshots DIR]
//
// Each check prints "ok"/"FAIL"/"SKIP"; the last line is "N passed, N failed, N skipped".
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomUUID } from "node:crypto";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const careloop = resolve(args.careloop ?? "build/app/careloop");
const webDir = resolve(args.web ?? "web");
const shots = args.screenshots ? resolve(args.screenshots) : null;
const chromiumPath = process.env.CARELOOP_CHROMIUM ?? "/usr/bin/chromium";
const results = { passed: 0, failed: 0, skipped: 0 };

function fatal(msg) {
  console.error(`web/browser: ${msg}`);
  console.log("0 passed, 1 failed");
  process.exit(1);
}

if (!existsSync(join(webDir, "dist", "index.html")))
  fatal(`${webDir}/dist is not built: run scripts/build (it runs npm ci && npm run build in web/)`);
if (!existsSync(join(webDir, "node_modules", "playwright-core")))
  fatal(`playwright-core is not installed in ${webDir}/node_modules: run scripts/build (npm ci)`);
if (!existsSync(chromiumPath)) fatal(`no chromium at ${chromiumPath}: run scripts/deps (apt package chromium)`);

const require = createRequire(join(webDir, "package.json"));
const { chromium } = require("playwright-core");

async function check(name, fn) {
  const started = Date.now();
  try {
    const note = await fn();
    if (note && typeof note === "object" && note.skip) {
      results.skipped++;
      console.log(`SKIP ${name}: ${note.skip}`);
    } else {
      results.passed++;
      console.log(`ok   ${name} (${Date.now() - started} ms)${note ? " — " + note : ""}`);
    }
  } catch (e) {
    results.failed++;
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

// ---------------------------------------------------------------- the server
const work = mkdtempSync(join(tmpdir(), "careloop-web-"));
const db = join(work, "demo.db");
const demo = spawnSync(careloop, ["--db", db, "demo", "--patients", "80", "--clinics", "2", "--days", "30"], { encoding: "utf8" });
if (demo.status !== 0) fatal(`careloop demo failed: ${demo.stderr}`);
const score = spawnSync(careloop, ["--db", db, "score", "--all"], { encoding: "utf8" });
if (score.status !== 0) fatal(`careloop score failed: ${score.stderr}`);

const server = spawn(careloop, ["--db", db, "serve", "--port", "0", "--web-dir", join(webDir, "dist")], {
  stdio: ["ignore", "ignore", "pipe"],
});
const serverLog = [];
const port = await new Promise((res, rej) => {
  const timer = setTimeout(() => rej(new Error("the server did not start:\n" + serverLog.slice(-20).join("\n"))), 30000);
  let buf = "";
  server.stderr.setEncoding("utf8");
  server.stderr.on("data", (chunk) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      serverLog.push(line);
      const m = line.match(/serving .* on https?:\/\/[^:]+:(\d+)/);
      if (m) {
        clearTimeout(timer);
        res(Number(m[1]));
      }
    }
  });
  server.on("exit", (code) => rej(new Error(`the server exited (${code}):\n${serverLog.slice(-20).join("\n")}`)));
}).catch((e) => fatal(e.message));
const base = `http://127.0.0.1:${port}`;

async function call(method, path, token, body) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, json, headers: res.headers };
}

async function login(username, password) {
  const r = await call("POST", "/api/v1/auth/login", null, { username, password });
  assert(r.status === 200, `login ${username}: ${r.status}`);
  return r.json;
}

function shanghaiIso(msAgo = 0) {
  const d = new Date(Date.now() - msAgo + 8 * 3600_000);
  return d.toISOString().replace(/\.\d{3}Z$/, "+08:00");
}

// ---------------------------------------------------------------- the browser
const profile = mkdtempSync(join(tmpdir(), "careloop-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: chromiumPath,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
  viewport: { width: 1366, height: 768 },
  acceptDownloads: true,
  locale: "zh-CN",
  timezoneId: "Asia/Shanghai",
});
const consoleErrors = [];
context.on("page", (p) => p.on("pageerror", (e) => consoleErrors.push(String(e))));
const page = context.pages()[0] ?? (await context.newPage());
page.on("pageerror", (e) => consoleErrors.push(String(e)));
page.on("console", (m) => {
  // A CSP violation is reported on the console: it would mean an inline script or style.
  if (/Content Security Policy/i.test(m.text())) consoleErrors.push(m.text());
});

// Polls a predicate with page.evaluate: waitForFunction evaluates a string in the page, which the
// CSP (rightly) refuses.
async function until(p, fn, arg, timeout = 5000) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await p.evaluate(fn, arg).catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${fn}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function shot(name, p = page) {
  if (!shots) return;
  // A background tab renders no frames in headless chromium: bring it to the front first.
  await p.bringToFront();
  mkdirSync(shots, { recursive: true });
  await p.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

// The patient page's queue in IndexedDB (src/patient/queue.ts): every entry of every account, and those
// set aside from before accounts. Read without creating the database when the page has not made it yet.
const queueDump = (p) => p.evaluate(async () => {
  if (!(await indexedDB.databases()).some((d) => d.name === "careloop-patient")) return { entries: [], unattributed: [] };
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("careloop-patient");
    req.onerror = () => reject(req.error);
    req.onsuccess = () => {
      const d = req.result;
      const tx = d.transaction(["entries", "unattributed"]);
      const a = tx.objectStore("entries").getAll();
      const b = tx.objectStore("unattributed").getAll();
      tx.oncomplete = () => {
        d.close();
        resolve({ entries: a.result, unattributed: b.result });
      };
      tx.onerror = () => reject(tx.error);
    };
  });
});

const doctor = await login("doctor01", "demo-doctor");
const patientSession = await login("patient01", "demo-patient");
const me = (await call("GET", "/api/v1/me", patientSession.token)).json;
const patientId = me.patient.id;
const patientName = me.patient.name;

try {
  await check("the dashboard is served with a strict CSP and no inline script", async () => {
    const r = await fetch(base + "/");
    const html = await r.text();
    const csp = r.headers.get("content-security-policy") ?? "";
    assert(r.status === 200, `GET / answered ${r.status}`);
    assert(csp.includes("script-src 'self'") && !csp.includes("unsafe-inline"), `CSP: ${csp}`);
    assert(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), "an inline <script> in index.html");
    assert(!/\sstyle=/i.test(html), "an inline style attribute in index.html");
    const asset = html.match(/\/assets\/[^"]+\.js/)[0];
    const a = await fetch(base + asset);
    assert(a.headers.get("cache-control") === "public, max-age=31536000, immutable", `asset cache: ${a.headers.get("cache-control")}`);
  });

  await check("a doctor logs in and sees Today, live", async () => {
    await page.goto(base + "/");
    await page.fill("#username", "doctor01");
    await page.fill("#password", "demo-doctor");
    await page.click("form.login button[type=submit]");
    await page.waitForSelector("[data-testid=open-alerts]");
    await page.waitForSelector("[data-testid=live-state][data-state=live]", { timeout: 10000 });
    await until(page, () => /^\(\d+ · \d+\)/.test(document.title));
    await shot("today");
    return `title "${await page.title()}"`;
  });

  let alertId = null;
  await check("a critical reading posted through the mobile API appears on Today within 2 s, without a reload", async () => {
    // A fresh alert: resolve an open one of the same patient first, so the reading opens a new one.
    const open = (await call("GET", `/api/v1/clinic/alerts?patient_id=${patientId}&status=open`, doctor.token)).json.alerts;
    for (const a of open) await call("POST", `/api/v1/clinic/alerts/${a.id}/resolve`, doctor.token, { note: "test setup" });
    await page.evaluate(() => (window.__sameDocument = true));
    const started = Date.now();
    const r = await call("POST", "/api/v1/me/readings", patientSession.token, {
      readings: [{ client_id: randomUUID(), kind: "blood_pressure", taken_at: shanghaiIso(60_000), systolic: 192,
        diastolic: 121, unit: "mmHg" }],
    });
    assert(r.status === 200 && r.json.results[0].status === "created", `upload: ${r.status} ${JSON.stringify(r.json)}`);
    const listed = (await call("GET", `/api/v1/clinic/alerts?patient_id=${patientId}&status=open`, doctor.token)).json.alerts;
    const alert = listed.find((a) => a.tier === "critical");
    assert(alert, `no critical alert opened: ${JSON.stringify(listed)}`);
    alertId = alert.id;
    await page.waitForSelector(`[data-alert-id="${alertId}"]`, { timeout: 2000 });
    const elapsed = Date.now() - started;
    assert(await page.evaluate(() => window.__sameDocument === true), "the page was reloaded");
    const text = await page.textContent(`[data-alert-id="${alertId}"]`);
    assert(text.includes(patientName), `the card does not name ${patientName}: ${text}`);
    assert(text.includes("192"), `the card does not show the value: ${text}`);
    await shot("today-alert");
    return `${elapsed} ms from upload to card`;
  });

  await check("the doctor acknowledges it with an action and a note", async () => {
    assert(alertId, "no alert from the previous step");
    await page.click(`[data-alert-id="${alertId}"] button.primary`);
    await page.selectOption("#ack-action", "called_patient");
    await page.fill("#ack-note", "电话随访，已嘱复测");
    await page.click("dialog.modal button[type=submit]");
    await page.waitForSelector(`[data-alert-id="${alertId}"]`, { state: "detached", timeout: 5000 });
    const all = (await call("GET", `/api/v1/clinic/alerts?patient_id=${patientId}&status=all`, doctor.token)).json.alerts;
    const a = all.find((x) => x.id === alertId);
    assert(a.status === "acknowledged", `status ${a.status}`);
    assert(a.acknowledgement.action === "called_patient" && a.acknowledgement.note === "电话随访，已嘱复测",
      `acknowledgement ${JSON.stringify(a.acknowledgement)}`);
  });

  await check("Patients: search, a filter, and the ranked table", async () => {
    await page.goto(base + "/#/patients");
    await page.waitForSelector("[data-testid=patient-table] tbody tr");
    await shot("patients");
    await page.click('[data-filter="uncontrolled_bp"]');
    await until(page, () => location.hash.includes("filter=uncontrolled_bp"));
    await page.waitForSelector("[data-testid=total]");
    await page.click('[data-filter="uncontrolled_bp"]');
    await until(page, () => !location.hash.includes("filter="));
    await page.fill("#patient-search", patientName);
    await until(page, () => location.hash.includes("q="));
    await until(page, (n) => {
      const rows = [...document.querySelectorAll("[data-testid=patient-table] tbody tr")];
      return rows.length >= 1 && rows.every((r) => r.textContent.includes(n));
    }, patientName);
  });

  await check("the doctor approves a proposed care plan", async () => {
    const probe = await call("GET", `/api/v1/clinic/patients/${patientId}/care-plans`, doctor.token);
    if (probe.status === 404 && /No resource/.test(probe.json?.detail ?? ""))
      return { skip: `the care plan API is missing on this server (GET /api/v1/clinic/patients/{id}/care-plans answered 404 "${probe.json.detail}"); it is built by the plans helper — this check runs once it is merged` };
    assert(probe.status === 200, `care-plans: ${probe.status}`);
    let proposed = probe.json.proposed;
    if (!proposed) {
      const ev = await call("POST", `/api/v1/clinic/patients/${patientId}/care-plans/evaluate`, doctor.token, {});
      assert(ev.status === 200, `evaluate: ${ev.status}`);
      proposed = ev.json.proposed ?? (await call("GET", `/api/v1/clinic/patients/${patientId}/care-plans`, doctor.token)).json.proposed;
    }
    assert(proposed && proposed.status === "proposed", "no proposed plan to approve");
    await page.goto(base + `/#/patients/${patientId}`);
    await page.waitForSelector("[data-testid=plan-approve]");
    await page.click("[data-testid=plan-approve]");
    await page.fill("#approve-note", "同意");
    await page.click("dialog.modal button[type=submit]");
    await until(page, (v) => document.querySelector("[data-testid=plan-current]")?.getAttribute("data-version") === String(v),
      proposed.version);
    const after = (await call("GET", `/api/v1/clinic/patients/${patientId}/care-plans`, doctor.token)).json;
    assert(after.current?.version === proposed.version && after.current.status === "approved", `current ${JSON.stringify(after.current)}`);
  });

  await check("the patient view shows charts, readings, risk and alert history", async () => {
    await page.goto(base + `/#/patients/${patientId}`);
    await page.waitForSelector("[data-testid=chart-bp] canvas");
    await page.waitForSelector("[data-testid=readings-table] tbody tr");
    await page.waitForSelector("[data-testid=alert-history]");
    await page.click('[data-range="90"]');
    await page.waitForSelector("[data-testid=chart-bp] canvas");
    await shot("patient");
  });

  await check("the doctor records a follow-up visit with the clinic's blood pressure", async () => {
    await page.goto(base + `/#/patients/${patientId}`);
    await page.waitForSelector("[data-testid=record-visit]");
    const before = (await call("GET", `/api/v1/clinic/patients/${patientId}/visits`, doctor.token)).json.items.length;
    await page.click("[data-testid=record-visit]");
    await page.selectOption("#visit-kind", "clinic");
    await page.selectOption("#visit-class", "uncontrolled");
    await page.fill("#visit-sys", "152");
    await page.fill("#visit-dia", "96");
    await page.fill("#visit-note", "加强限盐，两周后复诊");
    await page.click("dialog.modal button[type=submit]");
    await page.waitForSelector("[data-testid=visit-list] tbody tr");
    const visits = (await call("GET", `/api/v1/clinic/patients/${patientId}/visits`, doctor.token)).json;
    assert(visits.items.length === before + 1, `visits ${before} -> ${visits.items.length}`);
    assert(visits.items[0].classification === "uncontrolled" && visits.items[0].note === "加强限盐，两周后复诊",
      `visit ${JSON.stringify(visits.items[0])}`);
    const since = encodeURIComponent(new Date(Date.now() - 3 * 3600_000).toISOString());
    const items = (await call("GET", `/api/v1/clinic/patients/${patientId}/readings?kind=blood_pressure&from=${since}&limit=200`,
      doctor.token)).json.readings;
    assert(items.some((r) => r.systolic === 152 && r.diastolic === 96 && r.source === "clinic-visit"),
      `no clinic reading among ${JSON.stringify(items.slice(0, 3))}`);
  });

  await check("the doctor records a visit with the annual check's measurements and sees them listed", async () => {
    await page.goto(base + `/#/patients/${patientId}`);
    await page.waitForSelector("[data-testid=record-visit]");
    await page.click("[data-testid=record-visit]");
    await page.selectOption("#visit-kind", "clinic");
    await page.selectOption("#visit-class", "controlled");
    await page.fill("#measure-waist_cm", "91.5");
    await page.fill("#measure-hdl_mmol_l", "1.07");
    await page.fill("#measure-triglycerides_mmol_l", "2.34");
    await page.click("dialog.modal button[type=submit]");
    // The demo patient may have had an annual check already: wait for the new value.
    await page.waitForSelector('[data-testid=measurement-list] tr[data-kind=waist_cm]:has-text("91.5")');
    const shown = await page.textContent("[data-testid=measurement-list] tr[data-kind=waist_cm]");
    assert(shown.includes("91.5") && shown.includes("cm"), `waist row ${shown}`);
    const visit = (await call("GET", `/api/v1/clinic/patients/${patientId}/visits`, doctor.token)).json.items[0];
    const items = (await call("GET", `/api/v1/clinic/patients/${patientId}/measurements`, doctor.token)).json.items;
    const waist = items.find((x) => x.kind === "waist_cm");
    assert(waist && waist.value === 91.5 && waist.visit_id === visit.id && waist.loinc.code === "8280-0",
      `measurements ${JSON.stringify(items.slice(0, 3))}`);
    assert(items.some((x) => x.kind === "hdl_mmol_l" && x.value === 1.07) &&
      items.some((x) => x.kind === "triglycerides_mmol_l" && x.value === 2.34), "HDL and triglycerides stored");
  });

  const patientPage = await context.newPage();
  await patientPage.setViewportSize({ width: 390, height: 844 });
  await check("the patient page logs a reading offline, then syncs it once online", async () => {
    await patientPage.goto(base + "/patient");
    await patientPage.fill("#p-user", "patient01");
    await patientPage.fill("#p-pass", "demo-patient");
    await patientPage.click("form.card button[type=submit]");
    await patientPage.waitForSelector("[data-testid=form-bp]");
    await context.setOffline(true);
    await patientPage.waitForSelector("[data-testid=net-state].off");
    await patientPage.fill("#bp-sys", "131");
    await patientPage.fill("#bp-dia", "83");
    await patientPage.fill("#bp-pulse", "71");
    await patientPage.click("[data-testid=form-bp] button[type=submit]");
    const entry = await patientPage.waitForSelector("[data-testid=entries] li.entry");
    const clientId = await entry.getAttribute("data-client-id");
    // Offline, it stays queued: not "saved", and the server does not have it.
    await patientPage.waitForTimeout(1500);
    assert((await entry.getAttribute("data-state")) === "queued", "shown as something other than queued while offline");
    await shot("patient-page-offline", patientPage);
    const before = (await call("GET", `/api/v1/clinic/patients/${patientId}/readings?kind=blood_pressure&limit=1000&from=${encodeURIComponent(shanghaiIso(3600_000))}`, doctor.token)).json.readings;
    assert(!before.some((r) => r.client_id === clientId), "the server had the reading while the page was offline");
    await context.setOffline(false);
    await patientPage.waitForSelector(`[data-client-id="${clientId}"][data-state="saved"]`, { timeout: 10000 });
    const after = (await call("GET", `/api/v1/clinic/patients/${patientId}/readings?kind=blood_pressure&limit=1000&from=${encodeURIComponent(shanghaiIso(3600_000))}`, doctor.token)).json.readings;
    const stored = after.filter((r) => r.client_id === clientId);
    assert(stored.length === 1 && stored[0].systolic === 131 && stored[0].diastolic === 83, `stored: ${JSON.stringify(stored)}`);
    await patientPage.waitForSelector("[data-testid=history] canvas");
    await shot("patient-page", patientPage);
    // And it is on the doctor's view of the patient.
    await page.goto(base + `/#/patients/${patientId}`);
    await page.reload();
    await page.waitForSelector(`[data-testid=readings-table] tr[data-reading-id="${stored[0].id}"]`, { timeout: 5000 });
    const row = await page.textContent(`[data-testid=readings-table] tr[data-reading-id="${stored[0].id}"]`);
    assert(row.includes("131/83"), `the row reads ${row}`);
  });

  await check("the patient page is an installable offline app: with no network a reload opens it from its service worker, a BP logged offline is queued, and back online it is stored exactly once", async () => {
    // Loaded once online (the check above): the worker installs, precaches the shell and takes the page.
    await patientPage.goto(base + "/patient");
    await patientPage.waitForSelector("[data-testid=form-bp]");
    await until(patientPage, () => navigator.serviceWorker.controller?.scriptURL.endsWith("/patient-sw.js"), undefined, 10000);
    let clientId = null;
    const readings = async () => (await call("GET", `/api/v1/clinic/patients/${patientId}/readings?kind=blood_pressure&limit=1000&from=${encodeURIComponent(shanghaiIso(3600_000))}`, doctor.token)).json.readings.filter((r) => r.client_id === clientId);
    await context.setOffline(true);
    try {
      // Really offline: the server cannot be reached from the page.
      const reached = await patientPage.evaluate(() => fetch("/healthz").then(() => true, () => false));
      assert(!reached, "the page still reached the server after going offline");
      const res = await patientPage.reload();
      assert(res && res.fromServiceWorker(), `the reload was not answered by the service worker (status ${res?.status()})`);
      await patientPage.waitForSelector("[data-testid=form-bp]", { timeout: 5000 });
      await patientPage.waitForSelector("[data-testid=net-state].off");
      assert(await patientPage.evaluate(() => !!navigator.serviceWorker.controller), "no service worker controls the page opened offline");
      await patientPage.fill("#bp-sys", "133");
      await patientPage.fill("#bp-dia", "84");
      await patientPage.click("[data-testid=form-bp] button[type=submit]");
      const entry = await patientPage.waitForSelector("[data-testid=entries] li.entry[data-state=queued]");
      clientId = await entry.getAttribute("data-client-id");
      assert((await entry.textContent()).includes("133/84"), `the queued entry reads ${await entry.textContent()}`);
      await patientPage.waitForTimeout(1500);
      assert((await entry.getAttribute("data-state")) === "queued", "shown as something other than queued while offline");
      assert((await readings()).length === 0, "the server had the reading while the page was offline");
    } finally {
      // Online again, also when the check failed (the later checks need the network).
      await context.setOffline(false);
    }
    await patientPage.waitForSelector(`[data-client-id="${clientId}"][data-state="saved"]`, { timeout: 10000 });
    // Long enough for the page's 3 s retry timer to have sent it again, were it still queued.
    await patientPage.waitForTimeout(3500);
    const stored = await readings();
    assert(stored.length === 1 && stored[0].systolic === 133 && stored[0].diastolic === 84, `stored: ${JSON.stringify(stored)}`);
    return `reload answered by the service worker; reading ${stored[0].id} stored once`;
  });

  await check("the patient page passes Chromium's installability check: the manifest is linked and parses, a service worker controls the page, no installability errors; the dashboard has neither", async () => {
    await patientPage.goto(base + "/patient");
    await patientPage.waitForSelector("[data-testid=form-bp]");
    const href = await patientPage.getAttribute("link[rel=manifest]", "href");
    assert(href === "/patient.webmanifest", `the manifest link is ${href}`);
    const m = await fetch(base + href);
    assert(m.status === 200 && m.headers.get("content-type") === "application/manifest+json",
      `manifest: ${m.status} ${m.headers.get("content-type")}`);
    assert(m.headers.get("cache-control") === "no-cache", `manifest Cache-Control: ${m.headers.get("cache-control")}`);
    const manifest = JSON.parse(await m.text());
    assert(manifest.start_url === "/patient" && manifest.scope === "/patient" && manifest.display === "standalone" &&
      manifest.lang === "zh-CN" && /[\u4e00-\u9fff]/.test(manifest.short_name ?? ""), `manifest: ${JSON.stringify(manifest)}`);
    for (const [size, purpose] of [["192x192", "any"], ["512x512", "any"], ["192x192", "maskable"], ["512x512", "maskable"]]) {
      const icon = manifest.icons.find((i) => i.sizes === size && i.purpose === purpose && i.type === "image/png");
      assert(icon, `no ${purpose} PNG icon of ${size}`);
      const r = await fetch(base + icon.src);
      const bytes = Buffer.from(await r.arrayBuffer());
      assert(r.status === 200 && r.headers.get("content-type") === "image/png" && bytes.readUInt32BE(16) === Number(size.split("x")[0]),
        `${icon.src}: ${r.status} ${r.headers.get("content-type")}`);
    }
    const sw = await fetch(base + "/patient-sw.js");
    assert(sw.status === 200 && /^text\/javascript/.test(sw.headers.get("content-type") ?? "") &&
      sw.headers.get("cache-control") === "no-cache" && /script-src 'self'/.test(sw.headers.get("content-security-policy") ?? ""),
      `patient-sw.js: ${sw.status} ${sw.headers.get("content-type")} ${sw.headers.get("cache-control")} ${sw.headers.get("content-security-policy")}`);
    await until(patientPage, () => navigator.serviceWorker.controller?.scriptURL.endsWith("/patient-sw.js"), undefined, 10000);
    const scope = await patientPage.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r?.scope));
    assert(scope === base + "/patient", `the worker's scope is ${scope}`);
    const cdp = await context.newCDPSession(patientPage);
    try {
      const app = await cdp.send("Page.getAppManifest");
      assert(app.url === base + "/patient.webmanifest" && app.errors.length === 0,
        `Chromium read the manifest ${app.url} with errors ${JSON.stringify(app.errors)}`);
      const { installabilityErrors } = await cdp.send("Page.getInstallabilityErrors");
      assert(installabilityErrors.length === 0, `installability errors: ${JSON.stringify(installabilityErrors)}`);
    } finally {
      await cdp.detach();
    }
    // The dashboard is neither installable nor taken by the patient page's worker.
    const d = await context.newPage();
    await d.goto(base + "/");
    assert(!(await d.$("link[rel=manifest]")), "the dashboard links a manifest");
    assert(await d.evaluate(() => navigator.serviceWorker.controller === null), "a service worker controls the dashboard");
    await d.close();
    return `scope ${scope}, ${manifest.icons.length} icons`;
  });

  await check("Background Sync: the worker's sync event for careloop-queue wakes the open patient page to send", async () => {
    await patientPage.goto(base + "/patient");
    await patientPage.waitForSelector("[data-testid=form-bp]");
    await until(patientPage, () => !!navigator.serviceWorker.controller, undefined, 10000);
    await patientPage.evaluate(() => navigator.serviceWorker.addEventListener("message", (e) => {
      document.documentElement.dataset.woken = e.data?.type ?? "";
    }));
    const cdp = await context.newCDPSession(patientPage);
    try {
      const registrations = [];
      cdp.on("ServiceWorker.workerRegistrationUpdated", (e) => registrations.push(...e.registrations));
      await cdp.send("ServiceWorker.enable");
      for (let i = 0; !registrations.some((r) => r.scopeURL === base + "/patient" && !r.isDeleted); i++) {
        assert(i < 100, `no registration for /patient: ${JSON.stringify(registrations)}`);
        await patientPage.waitForTimeout(50);
      }
      const reg = registrations.find((r) => r.scopeURL === base + "/patient" && !r.isDeleted);
      await cdp.send("ServiceWorker.dispatchSyncEvent", { origin: base, registrationId: reg.registrationId, tag: "careloop-queue", lastChance: false });
      await until(patientPage, () => document.documentElement.dataset.woken === "careloop:send-queue", undefined, 5000);
    } finally {
      await cdp.detach();
    }
  });

  await check("the language switch works and is remembered", async () => {
    await page.goto(base + "/#/today");
    await page.waitForSelector("nav a[aria-current=page]");
    const zh = await page.textContent("nav a[aria-current=page]");
    assert(zh.trim() === "今日", `default language shows ${zh}`);
    await page.click("[data-testid=lang-switch]");
    await until(page, () => document.querySelector("nav a[aria-current=page]")?.textContent === "Today");
    assert((await page.getAttribute("html", "lang")) === "en", "html lang is not en");
    await page.reload();
    await until(page, () => document.querySelector("nav a[aria-current=page]")?.textContent === "Today");
    await shot("today-en");
    await patientPage.reload();
    await until(patientPage, () => document.querySelector("[data-testid=lang-switch]")?.textContent === "中文");
    await page.click("[data-testid=lang-switch]");
    await until(page, () => document.querySelector("nav a[aria-current=page]")?.textContent === "今日");
  });

  // A family shares one phone: A's reading queued offline must never be sent as B's, nor A's
  // records shown to B; it is sent when A logs in again.
  await check("a shared phone: a reading queued offline by one patient is never filed under the next, and is sent when its patient logs in again", async () => {
    const a = patientSession;
    const b = await login("patient02", "demo-patient");
    const bName = (await call("GET", "/api/v1/me", b.token)).json.patient.name;
    assert(bName !== patientName, "patient01 and patient02 have the same name");
    const p = patientPage;
    const logoutButton = "header.top button:not([data-testid=lang-switch])";
    const bpSince = `/api/v1/me/readings?kind=blood_pressure&limit=1000&from=${encodeURIComponent(shanghaiIso(3 * 3600_000))}`;
    const stored = async (token, clientId) => (await call("GET", bpSince, token)).json.readings.filter((r) => r.client_id === clientId);
    async function logIn(username) {
      await p.fill("#p-user", username);
      await p.fill("#p-pass", "demo-patient");
      await p.click("form.card button[type=submit]");
      await p.waitForSelector("[data-testid=form-bp]");
    }
    async function logOut() {
      await p.click(logoutButton);
      await p.waitForSelector("#p-user");
    }

    await p.bringToFront();
    await p.goto(base + "/patient");
    await p.waitForSelector("#p-user, [data-testid=form-bp]");
    if (await p.$("[data-testid=form-bp]")) await logOut();
    await logIn("patient01");
    await until(p, (n) => document.querySelector("h1")?.textContent.includes(n), patientName);

    await context.setOffline(true);
    await p.waitForSelector("[data-testid=net-state].off");
    await p.fill("#bp-sys", "127");
    await p.fill("#bp-dia", "79");
    await p.click("[data-testid=form-bp] button[type=submit]");
    const entry = await p.waitForSelector("[data-testid=entries] li.entry[data-state=queued]");
    const clientId = await entry.getAttribute("data-client-id");
    assert((await entry.textContent()).includes("127/79"), `the queued entry reads ${await entry.textContent()}`);
    await logOut();
    // (Asserted below, after the records: what the phone keeps naming patient01 once logged out.)
    const left = await p.evaluate((n) => Object.keys(localStorage).filter((k) => (localStorage.getItem(k) ?? "").includes(n)), patientName);
    const waitingAtLogin = await p.waitForSelector("[data-testid=waiting-elsewhere]", { timeout: 2000 })
      .then((el) => el.getAttribute("data-count")).catch(() => null);
    await context.setOffline(false);
    await p.waitForSelector("[data-testid=net-state].on");

    await logIn("patient02");
    await until(p, (n) => document.querySelector("h1")?.textContent.includes(n), bName);
    // Long enough for the page's send on login and its 3 s retry timer.
    await p.waitForTimeout(4500);
    const inB = await stored(b.token, clientId);
    assert(inB.length === 0, `patient01's reading was filed in patient02's record: ${JSON.stringify(inB)}`);
    assert((await stored(a.token, clientId)).length === 0, "patient01's reading was sent while patient02 was logged in");
    assert(left.length === 0, `after patient01 logged out, localStorage still named them under ${left.join(", ")}`);
    assert(!(await p.$(`[data-client-id="${clientId}"]`)), "patient02's page lists patient01's queued reading");
    const shown = await p.textContent("main");
    assert(!shown.includes(patientName) && !shown.includes("127/79") && !shown.includes("131/83"),
      "patient02's page shows patient01's name or entries");
    // Both screens say that an entry of another account waits here, never what it is.
    assert(waitingAtLogin === "1", `the login screen counts ${waitingAtLogin} entries waiting for another account`);
    const waitingAtHome = await p.waitForSelector("[data-testid=waiting-elsewhere]", { timeout: 2000 })
      .then((el) => el.getAttribute("data-count")).catch(() => null);
    assert(waitingAtHome === "1", `patient02's page counts ${waitingAtHome} entries waiting for another account`);
    await shot("patient-page-shared-phone", p);

    await logOut();
    await logIn("patient01");
    await p.waitForSelector(`[data-client-id="${clientId}"][data-state="saved"]`, { timeout: 10000 });
    const inA = await stored(a.token, clientId);
    assert(inA.length === 1 && inA[0].systolic === 127 && inA[0].diastolic === 79, `in patient01's record: ${JSON.stringify(inA)}`);
    assert((await stored(b.token, clientId)).length === 0, "the reading is also in patient02's record");
  });

  await check("entries queued before queues had accounts are never sent, and the page says how many wait", async () => {
    const a = patientSession;
    const b = await login("patient02", "demo-patient");
    const p = patientPage;
    const bpSince = `/api/v1/me/readings?kind=blood_pressure&limit=1000&from=${encodeURIComponent(shanghaiIso(3 * 3600_000))}`;
    const stored = async (token, clientId) => (await call("GET", bpSince, token)).json.readings.filter((r) => r.client_id === clientId);
    await p.bringToFront();
    await p.goto(base + "/patient");
    await p.waitForSelector("#p-user, [data-testid=form-bp]");
    if (await p.$("[data-testid=form-bp]")) {
      await p.click("[data-testid=logout]");
      await p.waitForSelector("#p-user");
    }
    // What the page kept before accounts: a queue, a profile and a token, all of the browser.
    const clientId = randomUUID();
    await p.evaluate(({ clientId, token, takenAt }) => {
      const reading = { client_id: clientId, kind: "blood_pressure", taken_at: takenAt, systolic: 133, diastolic: 77, unit: "mmHg", source: "careloop-web" };
      localStorage.setItem("careloop.patient.queue", JSON.stringify([{ client_id: clientId, reading, state: "queued", made_at: Date.now() }]));
      localStorage.setItem("careloop.patient.me", JSON.stringify({ user: { username: "someone" }, patient: { name: "旧缓存的姓名", medications: [] } }));
      localStorage.setItem("careloop.patient.token", token);
    }, { clientId, token: b.token, takenAt: shanghaiIso(60_000) });
    await p.reload();
    // The old token's patient stays logged in; the old entry is set aside, counted, never sent.
    await p.waitForSelector("[data-testid=form-bp]");
    await p.waitForSelector('[data-testid=unattributed][data-count="1"]');
    const oldKeys = await p.evaluate(() => ["careloop.patient.queue", "careloop.patient.me", "careloop.patient.token"].filter((k) => localStorage.getItem(k) !== null));
    assert(oldKeys.length === 0, `old keys left: ${oldKeys.join(", ")}`);
    const aside = await queueDump(p);
    assert(aside.unattributed.some((e) => e.client_id === clientId) && !aside.entries.some((e) => e.client_id === clientId),
      "the old entry is not set aside in IndexedDB, or is filed under an account");
    assert(!(await p.textContent("main")).includes("旧缓存的姓名"), "the old profile cache is shown");
    await p.waitForTimeout(4000);
    assert((await stored(b.token, clientId)).length === 0, "the old entry was sent as the logged-in patient's");
    await p.click("[data-testid=logout]");
    await p.waitForSelector('[data-testid=unattributed][data-count="1"]');
    await p.fill("#p-user", "patient01");
    await p.fill("#p-pass", "demo-patient");
    await p.click("form.card button[type=submit]");
    await p.waitForSelector("[data-testid=form-bp]");
    await p.waitForTimeout(4000);
    assert((await stored(a.token, clientId)).length === 0, "the old entry was sent as the next patient's");
    await p.click("[data-testid=unattributed] button");
    await p.waitForSelector("[data-testid=unattributed]", { state: "detached" });
  });

  await check("queues kept in localStorage by the earlier page move to IndexedDB once: none lost, none doubled, the unsent one sent once", async () => {
    const p = patientPage;
    const account = patientSession.user.id;
    await p.bringToFront();
    await p.goto(base + "/patient");
    await p.waitForSelector("#p-user, [data-testid=form-bp]");
    if (await p.$("[data-testid=form-bp]")) {
      await p.click("[data-testid=logout]");
      await p.waitForSelector("#p-user");
    }
    const unsent = randomUUID();
    const saved = randomUUID();
    const takenAt = shanghaiIso(120_000);
    const reading = (id, sys) => ({ client_id: id, kind: "blood_pressure", taken_at: takenAt, systolic: sys, diastolic: 81, unit: "mmHg", source: "careloop-web" });
    // The earlier page's queue of patient01: one unsent, one saved. The unsent one is also in IndexedDB
    // already, as after a move whose localStorage item was not removed (the tab closed in between).
    await p.evaluate(async ({ account, unsent, saved, a, b }) => {
      const now = Date.now();
      localStorage.setItem(`careloop.patient.${account}.queue`, JSON.stringify([
        { client_id: saved, account, reading: b, state: "saved", saved_id: 1, made_at: now - 2000 },
        { client_id: unsent, account, reading: a, state: "queued", made_at: now - 1000 },
      ]));
      await new Promise((resolve, reject) => {
        const req = indexedDB.open("careloop-patient");
        req.onsuccess = () => {
          const tx = req.result.transaction("entries", "readwrite");
          tx.objectStore("entries").put({ client_id: unsent, account, reading: a, state: "queued", made_at: now - 1000 });
          tx.oncomplete = () => {
            req.result.close();
            resolve();
          };
          tx.onerror = () => reject(tx.error);
        };
        req.onerror = () => reject(req.error);
      });
    }, { account, unsent, saved, a: reading(unsent, 126), b: reading(saved, 124) });
    await p.reload();
    await p.waitForSelector("#p-user");
    // Moved: the localStorage item is gone, each entry is in IndexedDB once, and the login screen counts the unsent one.
    await until(p, (k) => localStorage.getItem(k) === null, `careloop.patient.${account}.queue`);
    const dump = await queueDump(p);
    const mine = dump.entries.filter((e) => e.client_id === unsent || e.client_id === saved);
    assert(mine.length === 2 && mine.filter((e) => e.client_id === unsent).length === 1,
      `in IndexedDB after the move: ${JSON.stringify(mine)}`);
    assert(mine.find((e) => e.client_id === saved).state === "saved", "the saved entry changed state in the move");
    const count = await p.waitForSelector("[data-testid=waiting-elsewhere]", { timeout: 3000 }).then((el) => el.getAttribute("data-count"));
    assert(Number(count) >= 1, `the login screen counts ${count} waiting entries`);
    const stored = async (id) => (await call("GET", `/api/v1/me/readings?kind=blood_pressure&limit=1000&from=${encodeURIComponent(shanghaiIso(3 * 3600_000))}`, patientSession.token)).json.readings.filter((r) => r.client_id === id);
    assert((await stored(unsent)).length === 0, "the unsent entry reached the server while nobody was logged in");
    await p.fill("#p-user", "patient01");
    await p.fill("#p-pass", "demo-patient");
    await p.click("form.card button[type=submit]");
    await p.waitForSelector(`[data-client-id="${unsent}"][data-state="saved"]`, { timeout: 10000 });
    assert((await p.$$(`[data-client-id="${unsent}"]`)).length === 1, "the moved entry is listed twice");
    await p.waitForTimeout(3500);
    const onServer = await stored(unsent);
    assert(onServer.length === 1 && onServer[0].systolic === 126, `stored: ${JSON.stringify(onServer)}`);
    assert((await stored(saved)).length === 0, "an entry the earlier page had already marked saved was sent again");
    const after = (await queueDump(p)).entries.filter((e) => e.client_id === unsent);
    assert(after.length === 1 && after[0].state === "saved", `in IndexedDB after sending: ${JSON.stringify(after)}`);
  });

  // ------------------------------------------------ privacy: consent, access log, export (issue 15, items 16-17)
  // A patient of doctor01's clinic registered for these checks, so their record holds only what they do.
  let fresh = null;
  const logoutPatientPage = async (p) => {
    await p.goto(base + "/patient");
    await p.waitForSelector("#p-user, [data-testid=logout]");
    if (await p.$("[data-testid=logout]")) {
      await p.click("[data-testid=logout]");
      await p.waitForSelector("#p-user");
    }
  };
  const patientToken = (p) => p.evaluate(() => JSON.parse(localStorage.getItem("careloop.patient.session") ?? "null")?.token ?? null);
  const storedBp = async (token, clientId) =>
    (await call("GET", `/api/v1/me/readings?kind=blood_pressure&limit=1000&from=${encodeURIComponent(shanghaiIso(3 * 3600_000))}`, token))
      .json.readings.filter((r) => r.client_id === clientId);
  const queuedState = async (p, clientId) => (await queueDump(p)).entries.find((e) => e.client_id === clientId)?.state ?? null;

  // The later checks do not hang on the activation check: without its patient they make one
  // through the API (register, activate with consent) and log it in on the patient page.
  async function freshPatient() {
    if (fresh) return fresh;
    const suffix = randomUUID().slice(0, 8);
    const reg = await call("POST", "/api/v1/clinic/patients", doctor.token, {
      name: `同意备用${suffix.slice(0, 4)}`, sex: "female", birth_date: "1962-02-02",
      diagnoses: [{ code: "hypertension", diagnosed_on: "2019-03-01" }],
    });
    assert(reg.status === 201, `register: ${reg.status}`);
    const version = (await call("GET", "/api/v1/consent/health-data")).json?.version;
    const username = `consent-b-${suffix}`;
    const password = "consent-pass-2";
    const act = await call("POST", "/api/v1/auth/activate", null,
      { code: reg.json.activation.code, username, password, consent: { version, accepted: true } });
    assert(act.status === 201, `activate: ${act.status} ${JSON.stringify(act.json)}`);
    const p = patientPage;
    await p.bringToFront();
    await logoutPatientPage(p);
    await p.fill("#p-user", username);
    await p.fill("#p-pass", password);
    await p.click("form.card button[type=submit]");
    await p.waitForSelector("[data-testid=form-bp]");
    fresh = { id: reg.json.patient.id, name: reg.json.patient.name, username, password, token: await patientToken(p), version };
    return fresh;
  }

  await check("activation asks the separate consent to processing health data as its own unticked step: without it nothing is activated, with it the account is made and the version shown is recorded", async () => {
    const suffix = randomUUID().slice(0, 8);
    const reg = await call("POST", "/api/v1/clinic/patients", doctor.token, {
      name: `同意测试${suffix.slice(0, 4)}`, sex: "female", birth_date: "1961-04-12",
      diagnoses: [{ code: "hypertension", diagnosed_on: "2019-03-01" }],
    });
    assert(reg.status === 201, `register: ${reg.status} ${JSON.stringify(reg.json)}`);
    const doc = await call("GET", "/api/v1/consent/health-data");
    assert(doc.status === 200 && doc.json.version && doc.json.text?.["zh-CN"], `consent text: ${doc.status} ${JSON.stringify(doc.json)}`);
    const username = `consent-${suffix}`;
    const password = "consent-pass-1";
    const p = patientPage;
    await p.bringToFront();
    await logoutPatientPage(p);
    await p.goto(base + `/patient#activate=${reg.json.activation.code}`);
    await p.reload();
    await p.waitForSelector("[data-testid=activation-consent] [data-testid=consent-doc]");
    const shownVersion = await p.getAttribute("[data-testid=activation-consent] [data-testid=consent-doc]", "data-version");
    assert(shownVersion === doc.json.version, `the page shows version ${shownVersion}, the server's is ${doc.json.version}`);
    const shownText = (await p.textContent("[data-testid=activation-consent] .consent-text")).trim();
    assert(shownText === doc.json.text["zh-CN"].trim(), `the page shows other words than the consent text: ${shownText.slice(0, 80)}`);
    // Its own step: the box is not among the account's fields, and it is not ticked for the patient.
    assert(await p.$eval("#a-consent", (el) => !el.closest("fieldset")?.contains(document.getElementById("a-user"))),
      "the consent box sits among the account's fields");
    assert(!(await p.isChecked("#a-consent")), "the consent box is ticked before the patient ticks it");
    assert(await p.inputValue("#a-code") === reg.json.activation.code, "the code from the link is not filled in");
    await p.fill("#a-user", username);
    await p.fill("#a-pass", password);
    await p.click("[data-testid=activate-submit]");
    await p.waitForTimeout(1500);
    assert(await patientToken(p) === null, "the account was activated without the consent ticked");
    assert(await p.$("[data-testid=activate-form]"), "the activation form is gone without the consent ticked");
    const said = (await p.textContent("[data-testid=activate-form] .error")).trim();
    assert(said.length > 0, "nothing says why the activation did not go ahead");
    const probe = await call("POST", "/api/v1/auth/login", null, { username, password });
    assert(probe.status === 401, `the account exists without consent (login answered ${probe.status})`);
    await shot("patient-activation-consent", p);
    await p.check("#a-consent");
    await p.click("[data-testid=activate-submit]");
    await p.waitForSelector("[data-testid=form-bp]", { timeout: 10000 });
    assert(!(await p.$("[data-testid=consent-screen]")), "asked for consent again right after consenting at activation");
    const token = await patientToken(p);
    assert(token, "no session after activation");
    const c = await call("GET", "/api/v1/me/consent", token);
    assert(c.status === 200 && c.json.status === "granted" && c.json.granted_version === shownVersion &&
      c.json.history?.[0]?.decision === "granted" && c.json.history[0].version === shownVersion,
    `the consent recorded: ${c.status} ${JSON.stringify(c.json)}`);
    fresh = { id: reg.json.patient.id, name: reg.json.patient.name, username, password, token, version: shownVersion };
  });

  await check("the patient withdraws consent on the privacy view, only after confirming, and sees it in the history", async () => {
    await freshPatient();
    const p = patientPage;
    await p.click("[data-testid=privacy-link]");
    await p.waitForSelector("[data-testid=consent-status][data-status=granted]");
    // Cancel first: nothing changes.
    await p.click("[data-testid=consent-withdraw]");
    await p.waitForSelector("dialog.modal [data-testid=withdraw-confirm]");
    await p.click("dialog.modal button[type=button]");
    await p.waitForSelector("dialog.modal", { state: "detached" });
    assert((await call("GET", "/api/v1/me/consent", fresh.token)).json.status === "granted", "cancelling withdrew the consent");
    await p.click("[data-testid=consent-withdraw]");
    await p.click("dialog.modal [data-testid=withdraw-confirm]");
    await p.waitForSelector("[data-testid=consent-status][data-status=withdrawn]");
    const c = (await call("GET", "/api/v1/me/consent", fresh.token)).json;
    assert(c.status === "withdrawn" && c.history[0].decision === "withdrawn", `after withdrawing: ${JSON.stringify(c)}`);
    const rows = await p.$$eval("[data-testid=consent-history] tbody tr", (trs) => trs.map((tr) => tr.dataset.decision));
    assert(rows.join(",") === c.history.map((x) => x.decision).join(","), `the history shown ${rows} is not the server's`);
    await shot("patient-privacy-withdrawn", p);
  });

  let noConsentClientId = null;
  await check("without consent the consent screen comes first; a reading queued after 'not now' stays queued, never saved, and is sent once the patient consents", async () => {
    await freshPatient();
    const p = patientPage;
    await p.goto(base + "/patient");
    await p.reload();
    await p.waitForSelector("[data-testid=consent-screen]");
    assert(!(await p.$("[data-testid=form-bp]")), "the logging forms are shown before the consent screen");
    await shot("patient-consent-screen", p);
    await p.click("[data-testid=consent-later]");
    await p.waitForSelector("[data-testid=consent-missing]");
    await p.fill("#bp-sys", "118");
    await p.fill("#bp-dia", "76");
    await p.click("[data-testid=form-bp] button[type=submit]");
    const entry = await p.waitForSelector("[data-testid=entries] li.entry");
    const clientId = await entry.getAttribute("data-client-id");
    noConsentClientId = clientId;
    // Longer than the page's 3 s retry.
    await p.waitForTimeout(4500);
    assert(await entry.getAttribute("data-state") === "queued", `shown as ${await entry.getAttribute("data-state")} without consent`);
    assert(await queuedState(p, clientId) === "queued", `the phone keeps it as ${await queuedState(p, clientId)}`);
    assert((await storedBp(fresh.token, clientId)).length === 0, "the server stored a reading without consent");
    // Consenting needs the box ticked.
    await p.click("[data-testid=consent-review]");
    await p.waitForSelector("[data-testid=consent-screen] [data-testid=consent-doc]");
    await p.click("[data-testid=consent-grant]");
    await p.waitForTimeout(800);
    assert((await call("GET", "/api/v1/me/consent", fresh.token)).json.status === "withdrawn", "consent was granted without the box ticked");
    await p.check("#c-accept");
    await p.click("[data-testid=consent-grant]");
    await p.waitForSelector(`[data-client-id="${clientId}"][data-state="saved"]`, { timeout: 10000 });
    const stored = await storedBp(fresh.token, clientId);
    assert(stored.length === 1 && stored[0].systolic === 118 && stored[0].diastolic === 76, `stored: ${JSON.stringify(stored)}`);
    assert((await call("GET", "/api/v1/me/consent", fresh.token)).json.status === "granted", "the consent is not granted");
  });

  await check("a reading refused by the server for want of consent (403 consent-required) stays queued, and the page asks for consent", async () => {
    await freshPatient();
    const p = patientPage;
    await p.waitForSelector("[data-testid=form-bp]");
    // Withdrawn elsewhere (another phone): this page still believes it granted.
    const w = await call("POST", "/api/v1/me/consent", fresh.token, { version: fresh.version, decision: "withdrawn" });
    assert(w.status === 201 && w.json.status === "withdrawn", `withdraw: ${w.status} ${JSON.stringify(w.json)}`);
    const direct = await call("POST", "/api/v1/me/readings", fresh.token, {
      readings: [{ client_id: randomUUID(), kind: "weight", taken_at: shanghaiIso(60_000), value: 60, unit: "kg" }],
    });
    assert(direct.status === 403 && /consent-required$/.test(direct.json?.type ?? ""),
      `the server answered a reading without consent with ${direct.status} ${JSON.stringify(direct.json)}`);
    await p.fill("#bp-sys", "121");
    await p.fill("#bp-dia", "77");
    await p.click("[data-testid=form-bp] button[type=submit]");
    await p.waitForSelector("[data-testid=consent-screen]", { timeout: 5000 });
    const clientId = (await queueDump(p)).entries.find((e) => e.reading.systolic === 121 && e.reading.diastolic === 77)?.client_id ?? null;
    assert(clientId, "the refused reading is gone from the phone");
    assert(await queuedState(p, clientId) === "queued", `the refused reading is kept as ${await queuedState(p, clientId)}`);
    assert((await storedBp(fresh.token, clientId)).length === 0, "the server stored the refused reading");
    await p.check("#c-accept");
    await p.click("[data-testid=consent-grant]");
    await p.waitForSelector(`[data-client-id="${clientId}"][data-state="saved"]`, { timeout: 10000 });
    const stored = await storedBp(fresh.token, clientId);
    assert(stored.length === 1 && stored[0].systolic === 121, `stored: ${JSON.stringify(stored)}`);
  });

  await check("'who opened my record' lists the doctor who opened it (name, role, clinic; refused attempts marked), and pages with 'more'", async () => {
    await freshPatient();
    const log = async () => (await call("GET", "/api/v1/me/access-log?limit=200", fresh.token)).json;
    const byDoctor = (l) => l.entries.filter((e) => !e.actor.self && e.action === "patient.read" && e.actor.display_name === doctor.user.display_name);
    const before = byDoctor(await log()).length;
    await page.bringToFront();
    await page.goto(base + `/#/patients/${fresh.id}`);
    await page.waitForSelector("[data-testid=patient-name]");
    await page.waitForSelector("[data-testid=readings-table], [data-testid=chart-bp]");
    const after = await log();
    assert(byDoctor(after).length > before, `the server's access log has no new patient.read by ${doctor.user.display_name}: ${JSON.stringify(after.entries.slice(0, 5))}`);
    // A doctor of the other clinic tries: refused, and the patient sees that too.
    let other = null;
    for (let i = 2; i <= 8 && !other; i++) {
      const r = await call("POST", "/api/v1/auth/login", null, { username: `doctor${String(i).padStart(2, "0")}`, password: "demo-doctor" });
      if (r.status === 200 && r.json.user.clinic_id !== doctor.user.clinic_id) other = r.json;
    }
    if (other) await call("GET", `/api/v1/clinic/patients/${fresh.id}`, other.token);
    const p = patientPage;
    await p.bringToFront();
    await p.goto(base + "/patient#privacy");
    await p.waitForSelector("[data-testid=access-entries] li");
    const shown = await p.$$eval("[data-testid=access-entries] li", (lis) => lis.map((li) => ({
      id: Number(li.dataset.entryId), action: li.dataset.action, outcome: li.dataset.outcome, self: li.dataset.self === "true",
      text: li.textContent, refusedMark: !!li.querySelector(".badge.refused"),
    })));
    // The server's first page as the page asked for it (reading the log may itself add a newer entry).
    const first = (await log()).entries.filter((e) => e.id <= shown[0].id).slice(0, 50);
    const seen = shown.find((e) => e.action === "patient.read" && !e.self && e.outcome === "allowed");
    assert(seen, `no doctor's opening of the record listed: ${JSON.stringify(shown.slice(0, 5))}`);
    assert(seen.text.includes(doctor.user.display_name) && seen.text.includes("医生") && seen.text.includes("查看了档案"),
      `the entry reads "${seen.text}"`);
    const clinicName = first.find((e) => e.id === seen.id)?.actor.clinic;
    assert(!clinicName || seen.text.includes(clinicName), `the entry does not name the clinic ${clinicName}: ${seen.text}`);
    const mine = shown.find((e) => e.self);
    assert(!mine || mine.text.includes("您本人"), `the patient's own entry reads "${mine?.text}"`);
    for (const e of shown) assert(e.refusedMark === (e.outcome === "refused"), `entry ${e.id} (${e.outcome}) is marked ${e.refusedMark}`);
    assert(shown.map((e) => e.id).join(",") === first.map((e) => e.id).join(","), "the list is not the server's first page, newest first");
    const refusedNote = first.some((e) => e.outcome === "refused") ? "a refused attempt marked" : "no refused attempt in the log";
    // Paging: more than one page after the doctor opens the record 55 times more.
    for (let i = 0; i < 55; i++) await call("GET", `/api/v1/clinic/patients/${fresh.id}`, doctor.token);
    await p.reload();
    await p.waitForSelector("[data-testid=access-entries] li");
    await p.waitForSelector("[data-testid=access-more]:not([hidden])");
    const n1 = await p.$$eval("[data-testid=access-entries] li", (l) => l.length);
    await p.click("[data-testid=access-more]");
    await until(p, (n) => document.querySelectorAll("[data-testid=access-entries] li").length > n, n1);
    const ids = await p.$$eval("[data-testid=access-entries] li", (lis) => lis.map((li) => Number(li.dataset.entryId)));
    assert(new Set(ids).size === ids.length, "an entry is listed twice across pages");
    assert(ids.every((x, i) => i === 0 || x < ids[i - 1]), "the entries are not newest first across pages");
    await shot("patient-access-log", p);
    return `${n1} then ${ids.length} entries; ${refusedNote}`;
  });

  const readBundle = async (download) => {
    const file = join(work, `bundle-${randomUUID()}.json`);
    await download.saveAs(file);
    return { name: download.suggestedFilename(), json: JSON.parse((await import("node:fs")).readFileSync(file, "utf8")) };
  };
  const bpObservations = (bundle) => (bundle.entry ?? []).map((e) => e.resource).filter((r) => r?.resourceType === "Observation" &&
    (r.component ?? []).some((c) => (c.code?.coding ?? []).some((x) => x.code === "8480-6")))
    .map((r) => r.component.map((c) => c.valueQuantity?.value));

  await check("the patient downloads their record: a FHIR R4 Bundle (collection) with their readings", async () => {
    await freshPatient();
    const p = patientPage;
    await p.goto(base + "/patient#privacy");
    await p.waitForSelector("[data-testid=export-record]");
    const [download] = await Promise.all([p.waitForEvent("download"), p.click("[data-testid=export-record]")]);
    const { name, json } = await readBundle(download);
    assert(json.resourceType === "Bundle" && json.type === "collection", `not a collection Bundle: ${json.resourceType} ${json.type}`);
    const bp = bpObservations(json);
    assert(bp.some((v) => v.includes(118) && v.includes(76)) && bp.some((v) => v.includes(121) && v.includes(77)),
      `the Bundle lacks the readings 118/76 and 121/77: ${JSON.stringify(bp)}`);
    assert(name && !/[\\/]/.test(name), `file name "${name}"`);
    await p.waitForSelector("[data-testid=export] [role=status]:not(:empty)");
    return `${name}, ${json.entry.length} entries`;
  });

  await check("a doctor exports a patient's record (FHIR) from the patient view; no anonymise action for a doctor", async () => {
    await freshPatient();
    await page.bringToFront();
    await page.goto(base + `/#/patients/${fresh.id}`);
    await page.waitForSelector("[data-testid=export-record]");
    assert(!(await page.$("[data-testid=anonymise]")), "a doctor is offered to anonymise");
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=export-record]")]);
    const { name, json } = await readBundle(download);
    assert(json.resourceType === "Bundle" && json.type === "collection", `not a collection Bundle: ${json.resourceType} ${json.type}`);
    const patients = json.entry.map((e) => e.resource).filter((r) => r?.resourceType === "Patient");
    assert(patients.length === 1, `${patients.length} Patient resources`);
    assert(bpObservations(json).some((v) => v.includes(118) && v.includes(76)), "the Bundle lacks the reading 118/76");
    return name;
  });

  await check("tablet layout (1024×768) and no page errors or CSP violations", async () => {
    await page.bringToFront();
    await page.setViewportSize({ width: 1024, height: 768 });
    await page.goto(base + `/#/patients/${patientId}`);
    await page.reload();
    await page.waitForSelector("[data-testid=chart-bp] canvas");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert(overflow <= 0, `the page scrolls sideways by ${overflow}px at 1024 wide`);
    await shot("patient-tablet");
    assert(consoleErrors.length === 0, `page errors: ${consoleErrors.join(" | ")}`);
  });
  // It logs this browser profile's dashboard in as the administrator (the keyboard check logs in again).
  await check("an administrator anonymises a patient only with a reason and the patient's id typed; the account's sessions end and the patient leaves the clinic's list", async () => {
    const suffix = randomUUID().slice(0, 6);
    const reg = await call("POST", "/api/v1/clinic/patients", doctor.token, {
      name: `匿名测试${suffix.slice(0, 4)}`, sex: "male", birth_date: "1955-09-30",
      diagnoses: [{ code: "diabetes_t2", diagnosed_on: "2018-06-01" }],
    });
    assert(reg.status === 201, `register: ${reg.status}`);
    const id = reg.json.patient.id;
    const doc = (await call("GET", "/api/v1/consent/health-data")).json;
    const act = await call("POST", "/api/v1/auth/activate", null, {
      code: reg.json.activation.code, username: `anon-${suffix}`, password: "anon-pass-12", consent: { version: doc.version, accepted: true },
    });
    assert(act.status === 201, `activate: ${act.status} ${JSON.stringify(act.json)}`);
    const listed = async () => (await call("GET", `/api/v1/clinic/patients?q=${id}&limit=50`, doctor.token)).json.items.some((x) => x.id === id);
    assert(await listed(), "the new patient is not in the clinic's list");
    const errorsBefore = consoleErrors.length;
    const a = await context.newPage();
    await a.goto(base + "/");
    await a.evaluate(() => {
      localStorage.removeItem("careloop.token");
      localStorage.removeItem("careloop.user");
    });
    await a.reload();
    await a.fill("#username", "admin");
    await a.fill("#password", "demo-admin");
    await a.click("form.login button[type=submit]");
    await a.waitForSelector("nav a");
    await a.goto(base + `/#/patients/${id}`);
    await a.waitForSelector("[data-testid=anonymise]");
    await a.click("[data-testid=anonymise]");
    // No reason: refused on the page.
    await a.fill("#anon-confirm", String(id));
    await a.click("dialog.modal [data-testid=anonymise-confirm]");
    await a.waitForSelector("dialog.modal .error:not(:empty)");
    // A wrong id: refused on the page.
    await a.fill("#anon-reason", "测试：患者要求删除身份信息");
    await a.fill("#anon-confirm", String(id + 1));
    await a.click("dialog.modal [data-testid=anonymise-confirm]");
    await a.waitForTimeout(800);
    assert(await a.$("dialog.modal"), "the dialog closed with a wrong id typed");
    assert(await listed(), "anonymised with a wrong id typed");
    await shot("admin-anonymise", a);
    await a.fill("#anon-confirm", String(id));
    await a.click("dialog.modal [data-testid=anonymise-confirm]");
    await a.waitForSelector("[data-testid=anonymised]", { timeout: 10000 });
    assert(!(await listed()), "the anonymised patient is still in the clinic's list");
    const me = await call("GET", "/api/v1/me", act.json.token);
    assert(me.status === 401, `the anonymised patient's session still answers ${me.status}`);
    assert(consoleErrors.length === errorsBefore, `page errors: ${consoleErrors.slice(errorsBefore).join(" | ")}`);
    await a.close();
  });

  await check("keyboard: log in and reach Patients without a mouse", async () => {
    const k = await context.newPage();
    await k.goto(base + "/");
    // Last: clearing the origin's storage logs every tab out.
    await k.evaluate(() => localStorage.clear());
    await k.reload();
    await k.waitForSelector("#username");
    await k.keyboard.type("doctor01");
    await k.keyboard.press("Tab");
    await k.keyboard.type("demo-doctor");
    await k.keyboard.press("Enter");
    await k.waitForSelector("nav a");
    await k.focus("nav a[href='#/patients']");
    await k.keyboard.press("Enter");
    await k.waitForSelector("[data-testid=patient-table]");
    await k.close();
  });


  // Last: it logs this browser profile in as the health authority.
  await check("an authority opens its region's reports, drills down, and downloads the CSV with the same numbers", async () => {
    const authority = await login("authority", "demo-authority");
    const regionId = authority.user.region_id;
    assert(regionId, `the authority has no region: ${JSON.stringify(authority.user)}`);
    const errorsBefore = consoleErrors.length;
    const a = await context.newPage();
    await a.goto(base + "/");
    await a.evaluate(() => localStorage.clear());
    await a.reload();
    await a.fill("#username", "authority");
    await a.fill("#password", "demo-authority");
    await a.click("form.login button[type=submit]");
    await a.waitForSelector("[data-testid=report-unit]");
    assert(a.url().includes(`#/reports/region/${regionId}`), `landed on ${a.url()}`);
    await a.waitForSelector("[data-testid=report-trend] canvas");
    // The authority sees no patient: the patient list redirects to reports.
    await a.evaluate(() => (location.hash = "#/patients"));
    await a.waitForFunction(() => location.hash.startsWith("#/reports"));
    await a.waitForSelector("[data-testid=report-children] a");
    await shot("reports", a);
    // Drill down to the first sub-unit; the path leads back up.
    const unitName = await a.textContent("[data-testid=report-unit]");
    const child = await a.$("[data-testid=report-children] tbody tr a");
    const childName = (await child.textContent()).trim();
    await child.click();
    // (Polled here: waitForFunction with an argument evaluates a string, which the page's CSP refuses.)
    for (let i = 0; (await a.textContent("[data-testid=report-unit]")) !== childName; i++) {
      assert(i < 100, `the report of ${childName} did not open`);
      await a.waitForTimeout(50);
    }
    const crumbs = await a.textContent("nav.crumbs");
    assert(crumbs.includes(unitName), `the path "${crumbs}" does not lead back to ${unitName}`);
    const m = a.url().match(/#\/reports\/(region|clinic)\/(\d+)\?month=(\d{4}-\d{2})/);
    assert(m, `url ${a.url()}`);
    // The CSV download carries the numbers the screen shows.
    const [download] = await Promise.all([a.waitForEvent("download"), a.click("[data-testid=download-csv-indicators]")]);
    const file = join(work, "report.csv");
    await download.saveAs(file);
    const csv = (await import("node:fs")).readFileSync(file, "utf8").trim().split(/\r?\n/);
    const head = csv[0].split(",");
    assert(head.slice(0, 6).join(",") === "month,unit_type,unit_id,unit_name,breakdown,group", `CSV header: ${csv[0]}`);
    const own = csv.map((l) => l.split(",")).find((r) => r[1] === m[1] && r[2] === m[2] && r[4] === "all");
    assert(own, `no row for ${m[1]} ${m[2]} in the CSV`);
    // A hidden cell says "<5" only when it is a true count of 1–4 (suppressed_small);
    // one hidden to protect another says so and claims no size.
    const hidden = await a.$$eval("td[data-suppressed]", (tds) => tds.map((td) => [td.dataset.suppressed, td.textContent.trim()]));
    for (const [why, text] of hidden)
      assert((why === "small") === (text === "<5"), `a ${why} cell shows "${text}"`);
    const col = head.indexOf("htn_cohort");
    const cellEl = await a.$("[data-condition=htn] [data-column=htn_cohort]");  // absent when suppressed
    const shown = cellEl ? (await cellEl.textContent()).trim() : "suppressed";
    assert(own[col] === shown, `CSV htn_cohort ${own[col]} but the screen shows ${shown}`);
    assert(consoleErrors.length === errorsBefore, `page errors: ${consoleErrors.slice(errorsBefore).join(" | ")}`);
    await a.close();
    return `${childName}: htn_cohort ${shown}`;
  });
} finally {
  await context.close();
  server.kill("SIGTERM");
  rmSync(profile, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}

console.log(`${results.passed} passed, ${results.failed} failed, ${results.skipped} skipped`);
process.exit(results.failed ? 1 : 0);
