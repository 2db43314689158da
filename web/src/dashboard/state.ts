// What every view of the dashboard shares: the API client, the logged-in
// user, the clinic in view and its time zone.
import { Api, query } from "../lib/api";
import { setTimeZone } from "../lib/format";

export interface User {
  id: number;
  username: string;
  role: string;
  display_name: string;
  clinic_id?: number;
  region_id?: number;
}
export interface Clinic {
  id: number;
  name: string;
  timezone: string;
}

export const api = new Api("careloop.token");

const USER_KEY = "careloop.user";
const CLINIC_KEY = "careloop.clinic";

export const state = {
  user: JSON.parse(localStorage.getItem(USER_KEY) || "null") as User | null,
  clinics: [] as Clinic[],
  clinicId: Number(localStorage.getItem(CLINIC_KEY)) || null as number | null,
  names: new Map<number, string>(),
};

export function setUser(u: User | null): void {
  state.user = u;
  if (u) localStorage.setItem(USER_KEY, JSON.stringify(u));
  else localStorage.removeItem(USER_KEY);
}

export function setClinic(id: number): void {
  state.clinicId = id;
  localStorage.setItem(CLINIC_KEY, String(id));
  const c = state.clinics.find((x) => x.id === id);
  setTimeZone(c?.timezone);
}

// The clinics this account sees, with their time zones (from the patient list).
export async function loadClinics(): Promise<void> {
  const page = await api.get<{ clinics: Clinic[] }>(`/api/v1/clinic/patients${query({ limit: 1 })}`);
  state.clinics = page.clinics;
  const own = state.user?.clinic_id;
  const pick = own ?? (state.clinicId && page.clinics.some((c) => c.id === state.clinicId) ? state.clinicId : page.clinics[0]?.id);
  if (pick) setClinic(pick);
}

// The clinic_id query parameter: needed for an administrator, harmless for a doctor.
export function clinicParam(): { clinic_id?: number } {
  return state.clinicId ? { clinic_id: state.clinicId } : {};
}

export interface PatientSummary {
  id: number;
  clinic_id: number;
  name: string;
  sex: string;
  age: number;
  phone: string;
  external_id: string | null;
  diagnoses: string[];
  last_reading_at: string | null;
  bp_30d: { systolic_mean: number; diastolic_mean: number; readings: number; target: { systolic: number; diastolic: number } } | null;
  glucose_30d: { fasting_mean_mmol_l: number | null; fasting_readings: number; nonfasting_mean_mmol_l: number | null; nonfasting_readings: number } | null;
  risk: { model_id: string; band: string; probability: number } | null;
  alerts: { unresolved: number; open: number; critical: number; warning: number; signals: string[] };
  flags: string[];
  priority: number;
}

export interface Alert {
  id: number;
  patient_id: number;
  clinic_id: number;
  signal: string;
  tier: "critical" | "warning";
  status: "open" | "acknowledged" | "snoozed" | "resolved";
  rule: string;
  reason: { "zh-CN": string; en: string };
  opened_at: string;
  updated_at: string;
  count: number;
  latest: unknown;
  acknowledgement: { by: number; at: string; action: string; note: string } | null;
  snoozed_until: string | null;
  resolved_at: string | null;
}

// Patient names for alerts, by id; unknown ones are looked up through the list (one audited read).
export async function patientNames(ids: number[]): Promise<void> {
  const missing = [...new Set(ids)].filter((id) => !state.names.has(id));
  if (!missing.length) return;
  const page = await api.get<{ items: PatientSummary[] }>(
    `/api/v1/clinic/patients${query({ ...clinicParam(), filter: "open_alerts", limit: 200 })}`,
  );
  for (const p of page.items) state.names.set(p.id, p.name);
  for (const id of missing.filter((x) => !state.names.has(x))) {
    const one = await api.get<{ items: PatientSummary[] }>(`/api/v1/clinic/patients${query({ ...clinicParam(), q: id })}`);
    for (const p of one.items) state.names.set(p.id, p.name);
  }
}
