// `tsmesh proxy-status [WORKLOAD]`: istioctl's proxy-status for a running mesh. Without a workload:
// one row per connected proxy from istiod's /debug/syncz, a column per xDS type with the status
// istiod computes for it (pilot/pkg/xds/statusgen.go debugSyncStatus: an error after a NACK, NOT SENT
// before the first push, SYNCED when the last nonce sent was acked, STALE otherwise; IGNORED for a
// type the proxy does not watch), aged as istioctl ages them. With one: what istiod would send that
// proxy (/debug/config_dump?proxyID=) against what the proxy holds (its /config_dump), per
// clusters, listeners and routes, "Match" or a unified diff.
import { adminUrl, type MeshRecord } from "../local/registry.js";
import { dumpedClusters, dumpedListeners, dumpedRoutes, type DumpedResource } from "./config-dump.js";
import { httpJson, istiodConfigDump, monitoringUrl, proxyConfigDump, runCommand, targetMesh, targetWorkload, type MeshTarget } from "./mesh-target.js";
import { formatTable, humanDuration, machineOutput, painter, terminalWidth, useColour } from "./output.js";
import { unifiedDiff } from "./unified-diff.js";

/** One /debug/syncz entry (src/controlplane/monitoring.ts). */
export interface SynczEntry {
  proxy: string;
  clusterId?: string;
  istioVersion?: string;
  types: Record<string, { typeUrl: string; sentNonce?: string; sentAt?: string; ackedNonce?: string; ackedAt?: string; nack?: { at: string; error: string } }>;
}

const TYPE = "type.googleapis.com/";
/** istioctl's legacy column order: CDS LDS EDS RDS ECDS, then any other type istiod serves. */
const CORE_TYPES: Array<[string, string]> = [
  [`${TYPE}envoy.config.cluster.v3.Cluster`, "CDS"],
  [`${TYPE}envoy.config.listener.v3.Listener`, "LDS"],
  [`${TYPE}envoy.config.endpoint.v3.ClusterLoadAssignment`, "EDS"],
  [`${TYPE}envoy.config.route.v3.RouteConfiguration`, "RDS"],
  [`${TYPE}envoy.config.core.v3.TypedExtensionConfig`, "ECDS"],
];
const OTHER_SHORT: Record<string, string> = { [`${TYPE}envoy.extensions.transport_sockets.tls.v3.Secret`]: "SDS" };

/** istiod's status for one watched type, with istioctl's age suffix. */
export function typeStatus(t: SynczEntry["types"][string] | undefined, now: number): string {
  if (!t) return "IGNORED";
  const age = t.sentAt ? ` (${humanDuration(now - Date.parse(t.sentAt))})` : "";
  const nackAt = t.nack ? Date.parse(t.nack.at) : undefined;
  if (nackAt !== undefined && (!t.ackedAt || nackAt >= Date.parse(t.ackedAt))) return `ERROR${age}`;
  if (!t.sentNonce) return "NOT SENT";
  if (t.ackedNonce === t.sentNonce) return `SYNCED${age}`;
  return `STALE${age}`;
}

/** NAME.NAMESPACE from a node id (istiod's proxy ID, what istioctl's NAME column shows). */
export function proxyName(nodeId: string): string {
  const parts = nodeId.split("~");
  return parts.length === 4 ? parts[2] : nodeId;
}

export interface ProxyStatusTable {
  head: string[];
  rows: string[][];
}

/** The table for every proxy in a syncz answer, sorted by name. */
export function proxyStatusTable(syncz: readonly SynczEntry[], istiod: string, now: number): ProxyStatusTable {
  const extra = [...new Set(syncz.flatMap((e) => Object.values(e.types).map((t) => t.typeUrl)))].filter((u) => !CORE_TYPES.some(([c]) => c === u)).sort();
  const columns: Array<[string, string]> = [...CORE_TYPES, ...extra.map((u): [string, string] => [u, OTHER_SHORT[u] ?? u.slice(u.lastIndexOf(".") + 1)])];
  const rows = syncz
    .map((e) => {
      const byUrl = new Map(Object.values(e.types).map((t) => [t.typeUrl, t]));
      return [proxyName(e.proxy), e.clusterId ?? "", ...columns.map(([u]) => typeStatus(byUrl.get(u), now)), istiod, e.istioVersion ?? ""];
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { head: ["NAME", "CLUSTER", ...columns.map(([, s]) => s), "ISTIOD", "VERSION"], rows };
}

/**
 * A resource as compared: its JSON without the dump's bookkeeping (versions, times), keys sorted —
 * the proxy prints fields in .proto order, istiod in the order its generators set them.
 */
const comparable = (r: DumpedResource) => machineOutput(r.resource, "json");

/** "Clusters Match", or "Clusters Don't Match" and a diff per resource that differs or is on one side only. */
export function compareResources(label: string, istiod: readonly DumpedResource[], envoy: readonly DumpedResource[]): string {
  const a = new Map(istiod.filter((r) => r.origin === "dynamic").map((r) => [r.name, r]));
  const b = new Map(envoy.filter((r) => r.origin !== "static").map((r) => [r.name, r]));
  const names = [...new Set([...a.keys(), ...b.keys()])].sort();
  const diffs: string[] = [];
  for (const n of names) {
    const x = a.get(n);
    const y = b.get(n);
    const d = unifiedDiff(`Istiod ${label} ${n}`, x ? comparable(x) : "", `Envoy ${label} ${n}`, y ? comparable(y) : "");
    if (d) diffs.push(d);
  }
  return diffs.length === 0 ? `${label} Match` : `${label} Don't Match\n${diffs.join("\n")}`;
}

/** The comparison istioctl prints for one proxy: clusters, listeners, routes. */
export function compareDumps(istiod: unknown, envoy: unknown): string[] {
  const routes = dumpedRoutes(envoy);
  const last = routes.map((r) => r.lastUpdated).filter(Boolean).sort().at(-1);
  const routeLine = compareResources("Routes", dumpedRoutes(istiod), routes);
  return [
    compareResources("Clusters", dumpedClusters(istiod), dumpedClusters(envoy)),
    compareResources("Listeners", dumpedListeners(istiod), dumpedListeners(envoy)),
    routeLine === "Routes Match" && last ? `Routes Match (RDS last loaded at ${new Date(last).toUTCString()})` : routeLine,
  ];
}

export interface ProxyStatusOptions extends MeshTarget {
  workload?: string;
  output: "short" | "json" | "yaml";
}

function colourStatus(cells: string[], on: boolean): string[] {
  const paint = painter(on);
  return cells.map((c) => (/^(STALE|ERROR)/.test(c) ? paint("red", c) : c === "NOT SENT" ? paint("yellow", c) : c));
}

export function runProxyStatus(o: ProxyStatusOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  return runCommand("proxy-status", err, async () => {
    const mesh: MeshRecord = targetMesh(o);
    if (o.workload !== undefined) {
      const w = targetWorkload(mesh, o.workload);
      const [istiod, envoy] = await Promise.all([istiodConfigDump(mesh, w.proxyId), proxyConfigDump(w)]);
      const lines = compareDumps(istiod, envoy);
      out(o.output === "short" ? lines.join("\n") : machineOutput({ proxy: w.proxyId, admin: adminUrl(w), comparison: lines }, o.output, true));
      return lines.some((l) => l.includes("Don't Match")) ? 1 : 0;
    }
    const syncz = await httpJson<SynczEntry[]>(`${monitoringUrl(mesh)}/debug/syncz`, "the control plane's monitoring port");
    if (o.output !== "short") {
      out(machineOutput(syncz, o.output));
      return 0;
    }
    const t = proxyStatusTable(syncz, `istiod@${mesh.xds}`, Date.now());
    // Colour the status cells only; widths are computed on the plain text first.
    const text = formatTable(t.head, t.rows, { width: terminalWidth() });
    const on = useColour();
    out(on ? text.split("\n").map((l, i) => (i === 0 ? l : colourStatus(l.split(/(\s{2,})/), true).join(""))).join("\n") : text);
    return 0;
  });
}
