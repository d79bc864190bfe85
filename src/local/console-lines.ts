// What `tsmesh up`'s console says about config changes and workloads: one line per changed
// resource (`virtualservice default/reviews configured`), one line when a workload is ready or
// recovered, and a workload's failure once — why, with its log's tail — not on every restart of a
// crash loop (again only when it fails differently, or after it recovered); a listener a proxy
// cannot bind, once, with the way out.
import { consoleRef } from "../api/kind-names.js";
import type { ChangeType } from "../config/store.js";
import type { BindFailure } from "../controlplane/listener-failures.js";
import { GATEWAY_NAME_LABEL } from "../model/gateway-api/gateways.js";
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

/** What a router (or sidecar) is to the person at the console: the Gateway API Gateway it was deployed for, else itself. */
export function workloadOwner(plan: { key: string; name: string; namespace: string; role: string; labels: Record<string, string> }): string {
  const gateway = plan.labels[GATEWAY_NAME_LABEL];
  return gateway ? consoleRef({ kind: "KubernetesGateway", metadata: { name: gateway, namespace: plan.namespace } }) : `${plan.role === "router" ? "gateway" : "sidecar"} ${plan.key}`;
}

/**
 * A listener its proxy could not bind (its LDS NACK): the Gateway, the address:port, the OS error
 * and the way out. Ports below 1024 are privileged for users without CAP_NET_BIND_SERVICE; tsmesh
 * never moves a listener to another port by itself (curl :80 must mean the Gateway's port 80).
 */
export function bindFailureLine(owner: string, workload: string, f: BindFailure): string {
  const hint =
    f.error === "Permission denied" && f.port < 1024
      ? `ports below 1024 need privilege: run tsmesh up as root or with CAP_NET_BIND_SERVICE, or let users bind them: sudo sysctl net.ipv4.ip_unprivileged_port_start=${f.port}`
      : f.error === "Address already in use"
        ? `another process listens there (ss -ltnp 'sport = :${f.port}')`
        : f.error === "Cannot assign requested address"
          ? `${f.address} is not an address of this machine`
          : "";
  return `${owner}: ${workload} cannot listen on ${f.address}:${f.port}: ${f.error}${hint ? ` — ${hint}` : ""}. Its other listeners and the rest of the mesh serve; tsmesh proxy-status shows the LDS NACK.`;
}
