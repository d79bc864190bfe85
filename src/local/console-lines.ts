// What `tsmesh up`'s console says about config changes and workloads: one line per changed
// resource (`virtualservice default/reviews configured`), one line when a workload is ready or
// recovered, and a workload's failure once — why, with its log's tail — not on every restart of a
// crash loop (again only when it fails differently, or after it recovered).
import { consoleRef } from "../api/kind-names.js";
import type { ChangeType } from "../config/store.js";
import type { CrashReport } from "./supervisor.js";

/** `virtualservice default/reviews configured` (kubectl's singular resource name; created, configured, deleted). */
export function changeLine(c: { type: ChangeType; kind: string; namespace: string; name: string }): string {
  const verb = c.type === "added" ? "created" : c.type === "updated" ? "configured" : "deleted";
  return `${consoleRef({ kind: c.kind, metadata: { name: c.name, namespace: c.namespace } })} ${verb}`;
}

/** `10 s`, `0.2 s`, `5 min`. */
export function formatDelay(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/** `ready  sidecar+app default/reviews-v2   127.0.4.2   1.23 s` (ms from its own launch), or `… recovered`. */
export function readyLine(what: "gateway" | "sidecar+app" | "sidecar", key: string, address: string, afterMs: number | "recovered"): string {
  const when = afterMs === "recovered" ? "recovered" : `${(afterMs / 1000).toFixed(2)} s`;
  return `ready  ${what.padEnd(11)} ${key.padEnd(36)} ${address.padEnd(15)} ${when}`;
}

/**
 * A crashed or failed process of a workload: `failure` names it (`NAME why`); `text` is what the
 * console shows, absent when `previous` (the failure reported last, until the workload was ready
 * again) is the same one — a crash loop is reported once.
 */
export function failureReport(
  previous: string | undefined,
  r: CrashReport,
  logFile: string,
  readyTimeoutMs: number,
  /** How to restart it sooner than the backoff ("" for a process no resource defines, such as Prometheus). */
  restartNow = "edit its WorkloadEntry to restart it now",
): { failure: string; text?: string } {
  const why = r.failed ? `not ready after ${(readyTimeoutMs / 1000).toFixed(0)} s` : `exited (${r.signal ? `signal ${r.signal}` : `code ${r.code}`})`;
  const failure = `${r.name} ${why}`;
  if (previous === failure) return { failure };
  const lines = [`${failure}${previous ? ` (before: ${previous})` : ""}; restart in ${formatDelay(r.restartInMs)} (backoff doubling to 5 min); the rest of the mesh keeps serving. Last lines of ${logFile}:`];
  for (const l of r.tail) lines.push(`    ${l}`);
  if (!previous) lines.push(`    (further restarts are not reported until it recovers or fails differently${restartNow ? `; ${restartNow}` : ""})`);
  return { failure, text: lines.join("\n") };
}
