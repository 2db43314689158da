// Downloads an API answer as a file: fetched with the bearer token (a plain
// link cannot send it), then saved through a Blob's object URL and an
// <a download>. The CSP needs nothing for that: the page navigates nowhere,
// and blob: is neither a script nor a style.
import { ApiError } from "./api";
import { h } from "./dom";

// The file name of a Content-Disposition header, without any path.
export function dispositionName(header: string | null, fallback: string): string {
  const star = header?.match(/filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/);
  let name: string | null = null;
  if (star) {
    try {
      name = decodeURIComponent(star[1].trim().replace(/^"|"$/g, ""));
    } catch {
      name = null;
    }
  }
  if (!name) name = header?.match(/filename\s*=\s*"([^"]*)"/)?.[1] ?? header?.match(/filename\s*=\s*([^;\s]+)/)?.[1] ?? null;
  const clean = (name ?? "").replace(/[\\/:*?"<>|\u0000-\u001f]/g, "_").trim();
  return clean && clean !== "." && clean !== ".." ? clean : fallback;
}

// GET path with the token and save what it answers; resolves to the file name used.
export async function downloadFile(path: string, token: string | null, accept: string, fallback: string): Promise<string> {
  const headers: Record<string, string> = { Accept: accept };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(path, { headers });
  if (!res.ok) {
    let problem: ApiError["problem"] = null;
    try {
      problem = (await res.json()) as ApiError["problem"];
    } catch {
      problem = null;
    }
    throw new ApiError(res.status, problem);
  }
  const blob = await res.blob();
  const name = dispositionName(res.headers.get("Content-Disposition"), fallback);
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name, hidden: true });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return name;
}
