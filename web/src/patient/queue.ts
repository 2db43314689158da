// The offline queue of the patient page. Every entry gets its client UUID
// when it is made and keeps it through every retry, so a reading sent twice
// (the answer was lost) is a duplicate on the server, never a second row.
// An entry is "saved" only once the server answered created or duplicate.
import { ApiError, Api } from "../lib/api";

export interface Entry {
  client_id: string;
  reading: Record<string, unknown>;
  state: "queued" | "saved" | "rejected";
  error?: string;
  saved_id?: number;
  made_at: number;
}

const KEY = "careloop.patient.queue";
const KEEP = 30;

export function entries(): Entry[] {
  try {
    return JSON.parse(localStorage.getItem(KEY) || "[]") as Entry[];
  } catch {
    return [];
  }
}

function store(list: Entry[]): void {
  // Keep every unsent entry and the newest settled ones.
  const pending = list.filter((e) => e.state === "queued");
  const settled = list.filter((e) => e.state !== "queued").slice(-KEEP);
  localStorage.setItem(KEY, JSON.stringify([...pending, ...settled].sort((a, b) => a.made_at - b.made_at)));
}

export function enqueue(reading: Record<string, unknown>): Entry {
  const e: Entry = { client_id: String(reading.client_id), reading, state: "queued", made_at: Date.now() };
  store([...entries(), e]);
  return e;
}

let flushing: Promise<void> | null = null;

// Sends what is queued, in batches; leaves everything queued when offline.
export function flush(api: Api): Promise<void> {
  if (!flushing) flushing = doFlush(api).finally(() => (flushing = null));
  return flushing;
}

async function doFlush(api: Api): Promise<void> {
  const queued = entries().filter((e) => e.state === "queued");
  if (!queued.length || !api.token) return;
  let results: { client_id: string; status: string; id?: number; problem?: { detail?: string; errors?: { detail: string }[] } }[];
  try {
    const r = await api.post<{ results: typeof results }>("/api/v1/me/readings", { readings: queued.slice(0, 500).map((e) => e.reading) });
    results = r.results;
  } catch (e) {
    // 422: nothing valid in the batch; the per-item answers are in results.
    if (e instanceof ApiError && e.status === 422 && (e.problem as { results?: typeof results } | null)?.results) {
      results = (e.problem as unknown as { results: typeof results }).results;
    } else {
      return; // offline or the server is away: try again later
    }
  }
  const byId = new Map(results.map((r) => [r.client_id.toLowerCase(), r]));
  const list = entries();
  for (const e of list) {
    const r = byId.get(e.client_id.toLowerCase());
    if (!r || e.state !== "queued") continue;
    if (r.status === "created" || r.status === "duplicate") {
      e.state = "saved";
      e.saved_id = r.id;
    } else if (r.status === "rejected") {
      e.state = "rejected";
      e.error = r.problem?.errors?.map((x) => x.detail).join("; ") || r.problem?.detail || "rejected";
    }
  }
  store(list);
}
