// The offline queue of the patient page, one per account. Every entry gets
// its client UUID when it is made and keeps it through every retry, so a
// reading sent twice (the answer was lost) is a duplicate on the server, never
// a second row. An entry is "saved" only once the server answered created or
// duplicate. An entry belongs to the account logged in when it was made: it
// is stored under that account's key and sent only with that account's token,
// so on a shared phone it waits until its own patient logs in again.
//
// The interface is asynchronous so the store can move to IndexedDB (issue 20);
// today only load, save and queueKeys below touch localStorage.
import { ApiError, Api, isConsentRequired } from "../lib/api";
import { accountKey, type Account, type Session } from "./session";

export interface Entry {
  client_id: string;
  account: Account;
  reading: Record<string, unknown>;
  state: "queued" | "saved" | "rejected";
  error?: string;
  saved_id?: number;
  made_at: number;
}

// Entries the page queued before queues had owners: never sent (see web/README.md).
const OLD_KEY = "careloop.patient.queue";
const UNATTRIBUTED = "careloop.patient.unattributed.queue";
const KEEP = 30;

export async function entries(account: Account): Promise<Entry[]> {
  return load(accountKey(account, "queue")).filter((e) => e.account === account);
}

export async function enqueue(account: Account, reading: Record<string, unknown>): Promise<Entry> {
  const e: Entry = { client_id: String(reading.client_id), account, reading, state: "queued", made_at: Date.now() };
  const key = accountKey(account, "queue");
  save(key, [...load(key), e]);
  return e;
}

// At logout: what was sent or refused goes; what waits stays, to be sent when the account logs in again.
export async function forgetSettled(account: Account): Promise<void> {
  const key = accountKey(account, "queue");
  save(key, load(key).filter((e) => e.state === "queued"));
}

// How many entries wait on this phone for each account, and how many have no account.
export async function waiting(): Promise<{ byAccount: Map<Account, number>; unattributed: number }> {
  const byAccount = new Map<Account, number>();
  for (const key of queueKeys()) {
    const m = key.match(/^careloop\.patient\.(\d+)\.queue$/);
    if (!m) continue;
    const n = load(key).filter((e) => e.state === "queued").length;
    if (n) byAccount.set(Number(m[1]), n);
  }
  return { byAccount, unattributed: load(UNATTRIBUTED).length };
}

export async function discardUnattributed(): Promise<void> {
  save(UNATTRIBUTED, []);
}

// The old queue's unsent entries are kept aside, never sent: nothing says whose they are.
export async function migrate(): Promise<void> {
  if (localStorage.getItem(OLD_KEY) === null) return;
  const unsent = load(OLD_KEY).filter((e) => e.state === "queued");
  if (unsent.length) save(UNATTRIBUTED, [...load(UNATTRIBUTED), ...unsent]);
  localStorage.removeItem(OLD_KEY);
}

const flushing = new Map<Account, Promise<Flushed>>();

// What a send did: "consent" — the server refused every entry because the
// account's consent to processing health data is not granted (403
// consent-required); the entries stay queued, exactly as when offline.
export type Flushed = "nothing" | "sent" | "later" | "consent";

// While an account's consent is missing its entries wait on the phone and are
// not offered to the server again every few seconds (each refusal would be one
// more line in the patient's access log). The hold lasts until the page hears
// the consent granted (the consent screen, #privacy, or GET /api/v1/me on the
// next load); it is kept in memory only, so a reload asks the server again.
const held = new Set<Account>();

export function hold(account: Account): void {
  held.add(account);
}
export function release(account: Account): void {
  held.delete(account);
}
export function isHeld(account: Account): boolean {
  return held.has(account);
}

// Sends the session's account's queued entries with its token, in batches; leaves them queued when offline
// or refused for want of consent.
export function flush(api: Api, s: Session): Promise<Flushed> {
  if (isHeld(s.account)) return Promise.resolve("consent");
  let p = flushing.get(s.account);
  if (!p) {
    p = doFlush(api, s).finally(() => flushing.delete(s.account));
    flushing.set(s.account, p);
  }
  return p;
}

type Result = { client_id: string; status: string; id?: number; problem?: { detail?: string; errors?: { detail: string }[] } };

async function doFlush(api: Api, s: Session): Promise<Flushed> {
  const queued = (await entries(s.account)).filter((e) => e.state === "queued");
  if (!queued.length) return "nothing";
  let results: Result[];
  try {
    const r = await api.callAs<{ results: Result[] }>(s.token, "POST", "/api/v1/me/readings",
      { readings: queued.slice(0, 500).map((e) => e.reading) });
    results = r.results;
  } catch (e) {
    // 422: nothing valid in the batch; the per-item answers are in results.
    if (e instanceof ApiError && e.status === 422 && (e.problem as { results?: Result[] } | null)?.results) {
      results = (e.problem as unknown as { results: Result[] }).results;
    } else if (isConsentRequired(e)) {
      // Nothing was stored: every entry stays queued, none is marked saved or rejected.
      hold(s.account);
      return "consent";
    } else {
      return "later"; // offline, the server is away, or the token is gone: try again later
    }
  }
  const byId = new Map(results.map((r) => [r.client_id.toLowerCase(), r]));
  // Read, change and write in one step (an IndexedDB store would do it in one transaction).
  const key = accountKey(s.account, "queue");
  const list = load(key);
  for (const e of list) {
    const r = byId.get(e.client_id.toLowerCase());
    if (!r || e.state !== "queued" || e.account !== s.account) continue;
    if (r.status === "created" || r.status === "duplicate") {
      e.state = "saved";
      e.saved_id = r.id;
    } else if (r.status === "rejected") {
      e.state = "rejected";
      e.error = r.problem?.errors?.map((x) => x.detail).join("; ") || r.problem?.detail || "rejected";
    }
  }
  save(key, list);
  return "sent";
}

function load(key: string): Entry[] {
  try {
    const list = JSON.parse(localStorage.getItem(key) || "[]") as Entry[];
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function save(key: string, list: Entry[]): void {
  // Keep every unsent entry and the newest settled ones.
  const pending = list.filter((e) => e.state === "queued");
  const settled = list.filter((e) => e.state !== "queued").slice(-KEEP);
  const kept = [...pending, ...settled].sort((a, b) => a.made_at - b.made_at);
  if (kept.length) localStorage.setItem(key, JSON.stringify(kept));
  else localStorage.removeItem(key);
}

function queueKeys(): string[] {
  const keys: string[] = [];
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    if (k && /^careloop\.patient\..+\.queue$/.test(k)) keys.push(k);
  }
  return keys;
}
