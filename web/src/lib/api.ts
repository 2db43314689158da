// The API client: JSON in and out, a bearer token, problem+json errors.
export class ApiError extends Error {
  constructor(
    public status: number,
    public problem: { title?: string; detail?: string; errors?: { pointer: string; detail: string }[] } | null,
  ) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
  }
}

export class Api {
  constructor(private tokenKey: string) {}

  get token(): string | null {
    return localStorage.getItem(this.tokenKey);
  }
  set token(v: string | null) {
    if (v) localStorage.setItem(this.tokenKey, v);
    else localStorage.removeItem(this.tokenKey);
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
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
      if (res.status === 401 && this.token && !path.endsWith("/auth/login")) {
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
