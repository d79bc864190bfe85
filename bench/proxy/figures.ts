// bench:proxy's derived figures (proxy cores, requests/s per proxy core, CPU seconds per 1,000
// requests) and how figures are printed; shared by the report and the baseline comparison. A figure
// that could not be measured (a crash, a failed run) is NaN or undefined and prints as "—".
import type { ConfigResult } from "./runs.js";
import { LABELS, MB } from "./settings.js";

export const fin = (x: number | null | undefined): x is number => typeof x === "number" && Number.isFinite(x);
export const fmtMs = (ms: number | null | undefined) => (!fin(ms) ? "—" : Math.abs(ms) < 10 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(1)} ms`);
export const fmtInt = (n: number | undefined) => (!fin(n) ? "—" : Math.round(n).toLocaleString("en-US"));
export const fmtMb = (b: number | undefined) => (b === undefined || !b ? "—" : `${(b / MB).toFixed(1)} MB`);
export const fmtPct = (x: number) => (fin(x) ? `${(x * 100).toFixed(0)}%` : "—");

/** A result's row label: the configuration's, marked when the baseline's proxies ran it. */
export const rowLabel = (r: ConfigResult) => `${LABELS[r.name]}${r.baseline ? " (baseline)" : ""}`;

/** Proxy cores used at saturation (CPU time of all proxy processes ÷ wall time). */
export const cores = (r: ConfigResult) => (r.sat && r.name !== "direct" ? r.sat.proxyCpuMs / r.sat.wallMs : undefined);
export const rpsPerCore = (r: ConfigResult) => {
  const c = cores(r);
  return r.sat && c ? r.sat.rps / c : undefined;
};
/** CPU seconds per 1,000 requests (= vCPU per 1,000 rps), all proxy processes of the configuration. */
export const cpuPer1k = (r: ConfigResult) => (r.rate && r.name !== "direct" && r.rate.completed > 0 ? r.rate.proxyCpuMs / 1000 / (r.rate.completed / 1000) : undefined);
/** The same per proxy (pair: client-side, server-side). */
export const perProxy1k = (ms: number[], requests: number) => ms.map((m) => m / 1000 / (requests / 1000));
/** A total, with its parts when there are several (`a + b = total`). */
export const fmtSplit = (total: number | undefined, parts: number[] | undefined, digits: number) =>
  !fin(total) ? "—" : parts && parts.length > 1 ? `${parts.map((x) => x.toFixed(digits)).join(" + ")} = ${total.toFixed(digits)}` : total.toFixed(digits);
