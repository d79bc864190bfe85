// EnvoyFilter patches on clusters (Istio's envoyfilter/cluster_patch.go): CLUSTER MERGE (a patch
// naming the cluster's transport socket merges its typed_config; on a cluster with transport
// socket matches, only the named one), REMOVE, ADD; matched by name, or by the parts of Istio's
// cluster name `DIRECTION|PORT|SUBSET|HOST` (an inbound cluster matches the hostnames of the
// services the workload serves on that port). Works in place on copies the caller owns.
import type { CompiledPatch, PatchContext } from "../../../model/envoyfilter.js";
import { cloneProto } from "../../../envoy/proto-merge.js";
import type { ProtoObject } from "../../../envoy/protos.js";
import { addedValues, contextMatches, isMerge, mergeTypedConfig, mergeValue, type PatchSet, type ReportPatch, type Used } from "./common.js";

type Obj = ProtoObject;
const CLUSTER = "envoy.config.cluster.v3.Cluster";

/** Istio's ParseSubsetKey: `outbound|9080|v1|reviews.default.svc.cluster.local`. */
export function parseClusterName(name: string): { direction: string; port: number; subset: string; host: string } {
  const parts = name.split("|");
  if (parts.length < 4) return { direction: "", port: 0, subset: "", host: "" };
  return { direction: parts[0], port: Number(parts[1]) || 0, subset: parts[2], host: parts.slice(3).join("|") };
}

function clusterMatch(c: Obj, p: CompiledPatch, inboundHosts: (port: number) => readonly string[]): boolean {
  const m = p.match.cluster;
  if (!m) return true;
  if (m.name) return m.name === c.name;
  const k = parseClusterName(String(c.name ?? ""));
  const hosts = k.direction === "inbound" && inboundHosts(k.port).length > 0 ? inboundHosts(k.port) : [k.host];
  if (m.subset && m.subset !== k.subset) return false;
  if (m.service && !hosts.includes(m.service)) return false;
  if (m.portNumber && m.portNumber !== k.port) return false;
  return true;
}

function mergeTransportSocket(c: Obj, p: CompiledPatch, report: ReportPatch): boolean {
  const ts = p.value?.transportSocket as Obj | undefined;
  if (!ts) return false;
  let have: Obj | undefined;
  const matches = Array.isArray(c.transportSocketMatches) ? (c.transportSocketMatches as Obj[]) : [];
  if (matches.length > 0) {
    have = matches.map((m) => m.transportSocket as Obj | undefined).find((t) => t && t.name === ts.name);
    if (!have) return true; // Istio: no socket of that name among the matches, nothing merged
  } else if (c.transportSocket && (c.transportSocket as Obj).name === ts.name) have = c.transportSocket as Obj;
  if (!have) {
    c.transportSocket = cloneProto(ts);
    return true;
  }
  mergeTypedConfig(have, ts, p, report, "patch.value.transport_socket.typed_config");
  return true;
}

/** Istio's ApplyClusterMerge for one cluster: the patched cluster, or undefined when removed. */
export function patchCluster(ctx: PatchContext, ps: PatchSet, c: Obj, inboundHosts: (port: number) => readonly string[], used: Used, report: ReportPatch): Obj | undefined {
  for (const p of ps.get("CLUSTER") ?? []) {
    if (!contextMatches(ctx, p) || !clusterMatch(c, p, inboundHosts)) continue;
    if (p.operation === "REMOVE") {
      used(p);
      return undefined;
    }
    if (!isMerge(p.operation)) continue;
    used(p);
    if (!mergeTransportSocket(c, p, report)) mergeValue(CLUSTER, c, p, report);
  }
  return c;
}

/** Istio's InsertedClusters for one context. */
export function insertedClusters(ctx: PatchContext, ps: PatchSet, used: Used): Obj[] {
  return addedValues("CLUSTER", ctx, ps, used);
}
