// The offline queue of the patient page, one per account. Every entry gets
// its client UUID when it is made and keeps it through every retry, so a
// reading sent twice (the answer was lost) is a duplicate on the server, never
// a second row. An entry is "saved" only once the server answered created or
// duplicate. An entry belongs to the account logged in when it was made: it
// is stored under that account's key and sent only with that account's token,
// so on a shared phone it waits until its own patient logs in again.
//
// The store is IndexedDB (database "careloop-patient", through `idb`):
// "entries" keyed by [account, client_id] with an index on account, and
// "unattributed" (entries from before queues had accounts, never sent) keyed
// by client_id. Queues kept in localStorage by earlier versions of the page
// (careloop.patient.<account>.queue, careloop.patient.unattributed.queue and
// the unkeyed careloop.patient.queue) are moved in by migrate() on every
// load: an entry goes in only when its key is not there yet (so one moved
// twice is still one), and the localStorage item is removed only after the
// transaction committed (so none is lost). Other tabs hear of a change
// through a BroadcastChannel (onChange).
import { openDB, type DBSchema, type IDBPDatabase } from "idb";
import { ApiError, Api, isConsentRequired } from "../lib/api";
import { type Account, type Session } from "./session";

export interface Entry {
  client_id: string;
  account: Account;
  reading: Record<string, unknown>;
  state: "queued" | "saved" | "rejected";
  error?: string;
  saved_id?: number;
  made_at: number;
}

interface QueueDB extends DBSchema {
  entries: { key: [Account, string]; value: Entry; indexes: { account: Account } };
  unattributed: { key: string; value: Entry };
}

// Entries the page queued before queues had owners: never sent (see web/README.md).
const OLD_KEY = "careloop.patient.queue";
const UNATTRIBUTED = "careloop.patient.unattributed.queue";
const KEEP = 30;

let opened: Promise<IDBPDatabase<QueueDB>> | null = null;
function db(): Promise<IDBPDatabase<QueueDB>> {
  if (!opened) {
    opened = openDB<QueueDB>("careloop-patient", 1, {
      upgrade(d) {
        const entries = d.createObjectStore("entries", { keyPath: ["account", "client_id"] });
        entries.createIndex("account", "account");
        d.createObjectStore("unattributed", { keyPath: "client_id" });
      },
      // A newer page wants to upgrade the database: let it, and open again when needed.
      blocking() {
        void opened?.then((d) => d.close());
        opened = null;
      },
      terminated() {
        opened = null;
      },
    });
    opened.catch(() => (opened = null));
  }
  return opened;
}

const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel("careloop.patient.queue") : null;
function changed(): void {
  channel?.postMessage("changed");
}
// Another tab changed a queue.
export function onChange(fn: () => void): void {
  if (channel) channel.onmessage = () => fn();
}

const byTime = (a: Entry, b: Entry) => a.made_at - b.made_at;

export async function entries(account: Account): Promise<Entry[]> {
  const list = await (await db()).getAllFromIndex("entries", "account", account);
  return list.filter((e) => e.account === account).sort(byTime);
}

export async function enqueue(account: Account, reading: Record<string, unknown>): Promise<Entry> {
  const e: Entry = { client_id: String(reading.client_id), account, reading, state: "queued", made_at: Date.now() };
  await (await db()).add("entries", e);
  changed();
  return e;
}

// At logout: what was sent or refused goes; what waits stays, to be sent when the account logs in again.
export async function forgetSettled(account: Account): Promise<void> {
  const tx = (await db()).transaction("entries", "readwrite");
  for (let c = await tx.store.index("account").openCursor(account); c; c = await c.continue())
    if (c.value.state !== "queued") await c.delete();
  await tx.done;
  changed();
}

// How many entries wait on this phone for each account, and how many have no account.
export async function waiting(): Promise<{ byAccount: Map<Account, number>; unattributed: number }> {
  const d = await db();
  const byAccount = new Map<Account, number>();
  for (const e of await d.getAll("entries"))
    if (e.state === "queued") byAccount.set(e.account, (byAccount.get(e.account) ?? 0) + 1);
  return { byAccount, unattributed: await d.count("unattributed") };
}

export async function discardUnattributed(): Promise<void> {
  await (await db()).clear("unattributed");
  changed();
}

// Moves the queues earlier versions kept in localStorage into IndexedDB. The
// old unkeyed queue's unsent entries are kept aside, never sent: nothing says
// whose they are; so is an entry whose own account differs from its queue's.
export async function migrate(): Promise<void> {
  const items: { key: string; account: Account | null; list: Entry[] }[] = [];
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i);
    if (key === OLD_KEY) items.push({ key, account: null, list: load(key).filter((e) => e.state === "queued") });
    else if (key === UNATTRIBUTED) items.push({ key, account: null, list: load(key) });
    else {
      const m = key?.match(/^careloop\.patient\.(\d+)\.queue$/);
      if (key && m) items.push({ key, account: Number(m[1]), list: load(key) });
    }
  }
  if (!items.length) return;
  const tx = (await db()).transaction(["entries", "unattributed"], "readwrite");
  const entries = tx.objectStore("entries");
  const aside = tx.objectStore("unattributed");
  for (const { account, list } of items) {
    for (const e of list) {
      if (typeof e?.client_id !== "string" || !e.reading) continue;
      if (account !== null && e.account === account) {
        if ((await entries.getKey([account, e.client_id])) === undefined) await entries.put(e);
      } else if (e.state === "queued" || account === null) {
        if ((await aside.getKey(e.client_id)) === undefined) await aside.put(e);
      }
    }
  }
  await tx.done;
  // Only now, with every entry in IndexedDB, does localStorage let go of them.
  for (const { key } of items) localStorage.removeItem(key);
  changed();
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
  // Read, change and write in one transaction.
  const tx = (await db()).transaction("entries", "readwrite");
  const list = await tx.store.index("account").getAll(s.account);
  for (const e of list) {
    const r = byId.get(e.client_id.toLowerCase());
    if (!r || e.state !== "queued" || e.account !== s.account) continue;
    if (r.status === "created" || r.status === "duplicate") {
      e.state = "saved";
      e.saved_id = r.id;
    } else if (r.status === "rejected") {
      e.state = "rejected";
      e.error = r.problem?.errors?.map((x) => x.detail).join("; ") || r.problem?.detail || "rejected";
    } else continue;
    await tx.store.put(e);
  }
  // Keep every unsent entry and the newest settled ones.
  const settled = list.filter((e) => e.state !== "queued").sort(byTime);
  for (const e of settled.slice(0, Math.max(0, settled.length - KEEP))) await tx.store.delete([e.account, e.client_id]);
  await tx.done;
  changed();
  return "sent";
}

// An earlier version's queue in localStorage (migrate).
function load(key: string): Entry[] {
  try {
    const list = JSON.parse(localStorage.getItem(key) || "[]") as Entry[];
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}
