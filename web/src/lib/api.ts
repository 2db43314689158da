// The API client: JSON in and out, a bearer token, problem+json errors.
export class ApiError extends Error {
  constructor(
    public status: number,
    public problem: { type?: string; title?: string; detail?: string; errors?: { pointer: string; detail: string }[] } | null,
  ) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
  }

  // The problem names this JSON pointer among its errors.
  names(pointer: string): boolean {
    return (this.problem?.errors ?? []).some((e) => e.pointer === pointer);
  }
}

// The patient's separate consent to processing health data is missing or withdrawn (403).
export function isConsentRequired(e: unknown): boolean {
  return e instanceof ApiError && e.status === 403 && /consent-required$/.test(e.problem?.type ?? "");
}

// Where a token is kept: a localStorage key (the dashboard), or the patient
// page's session, which keeps the token together with its account.
export interface TokenStore {
  get(): string | null;
  set(token: string | null): void;
}

export class Api {
  private store: TokenStore;

  constructor(tokenKey: string | TokenStore) {
    this.store = typeof tokenKey !== "string" ? tokenKey : {
      get: () => localStorage.getItem(tokenKey),
      set: (v) => (v ? localStorage.setItem(tokenKey, v) : localStorage.removeItem(tokenKey)),
    };
  }

  get token(): string | null {
    return this.store.get();
  }
  set token(v: string | null) {
    this.store.set(v);
  }

  call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.callAs<T>(this.token, method, path, body);
  }

  // With a given token: what an account queued is sent with that account's token only.
  async callAs<T>(token: string | null, method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!res.ok) {
      // Only a refusal of the token in use logs out: an older token's 401 says nothing about the current one.
      if (res.status === 401 && token && token === this.token && !path.endsWith("/auth/login")) {
        this.token = null;
        window.dispatchEvent(new Event("careloop:logged-out"));
      }
      throw new ApiError(res.status, json as ApiError["problem"]);
    }
    return json as T;
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>("GET", path);
  }
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>("POST", path, body ?? {});
  }
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

// RFC 4122 version 4, for client ids of readings.
export function uuid(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
