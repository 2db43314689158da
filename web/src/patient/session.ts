// Who is logged in on the patient page, and what the page keeps per account.
// Families share phones: the token is stored together with its account (the
// user id the server answered at login), and everything cached about a
// patient lives under careloop.patient.<account>.*, so one account never
// reads, shows or sends another's.
import { Api, ApiError } from "../lib/api";

export type Account = number;

export interface Session {
  token: string;
  account: Account;
}

const KEY = "careloop.patient.session";
// Before accounts: a bare token and a profile cache shared by whoever used the browser.
const OLD_TOKEN = "careloop.patient.token";
const OLD_PROFILE = "careloop.patient.me";

export function session(): Session | null {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) || "null") as Partial<Session> | null;
    return s && typeof s.token === "string" && Number.isInteger(s.account) && (s.account as number) > 0
      ? { token: s.token, account: s.account as Account } : null;
  } catch {
    return null;
  }
}

export function sameSession(a: Session | null, b: Session | null): boolean {
  return !!a && !!b && a.token === b.token && a.account === b.account;
}

export function begin(s: Session): void {
  localStorage.setItem(KEY, JSON.stringify({ token: s.token, account: s.account }));
}

export function end(): void {
  localStorage.removeItem(KEY);
}

export function isSessionKey(key: string | null): boolean {
  return key === null || key === KEY;
}

export function accountKey(account: Account, what: string): string {
  return `careloop.patient.${account}.${what}`;
}

export function cachedProfile<T>(account: Account): T | null {
  try {
    return JSON.parse(localStorage.getItem(accountKey(account, "me")) || "null") as T | null;
  } catch {
    return null;
  }
}

export function cacheProfile(account: Account, me: unknown): void {
  localStorage.setItem(accountKey(account, "me"), JSON.stringify(me));
}

export function forgetProfile(account: Account): void {
  localStorage.removeItem(accountKey(account, "me"));
}

// A token kept by the page before accounts keeps its patient logged in once the
// server says whose it is; the old profile cache is dropped (it names whoever
// used the browser last). Offline, the old token waits for the next load.
export async function adoptOldSession(api: Api): Promise<void> {
  localStorage.removeItem(OLD_PROFILE);
  const token = localStorage.getItem(OLD_TOKEN);
  if (!token) return;
  try {
    const me = await api.callAs<{ user: { id: number } }>(token, "GET", "/api/v1/me");
    if (!session()) begin({ token, account: me.user.id });
    localStorage.removeItem(OLD_TOKEN);
  } catch (e) {
    // Refused (expired, or not a patient): log in again.
    if (e instanceof ApiError) localStorage.removeItem(OLD_TOKEN);
  }
}
