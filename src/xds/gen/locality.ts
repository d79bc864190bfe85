// Locality-aware load balancing (Istio's pilot/pkg/networking/core/loadbalancer): which priority and
// weight each group of endpoints gets relative to the calling proxy. Pure functions over plain data,
// shared by EDS (endpoints.ts) and the inline load assignments of DNS clusters (clusters.ts).
//
// Istio's rules, in order:
// - `distribute` (from → {to: weight}) re-weights the localities of the first rule whose `from`
//   matches the proxy; localities no `to` entry matches get no traffic (dropped here).
// - otherwise, only when the cluster has outlier detection (without it Envoy never fails over):
//   `failoverPriority` splits endpoints by how many of the proxy's labels they share (in order), and
//   region/zone/subzone proximity (0 same subzone, 1 same zone, 2 same region, 3 other regions,
//   4 regions a `failover` rule ranks below its `to`) orders localities; when both apply the label
//   priority is the major key (label priority × 5 + locality priority), as Istio combines them.
// - priorities are then compacted to 0..N without gaps (Envoy and gRPC reject gaps).
import type { Locality } from "../../registry/model.js";
import type { LocalityLbSetting } from "./traffic-policy.js";

/** Istio's topology labels, added to endpoint and proxy labels so failoverPriority can name them. */
export const LABEL_TOPOLOGY_REGION = "topology.kubernetes.io/region";
export const LABEL_TOPOLOGY_ZONE = "topology.kubernetes.io/zone";
export const LABEL_TOPOLOGY_SUBZONE = "topology.istio.io/subzone";
export const LABEL_TOPOLOGY_NETWORK = "topology.istio.io/network";

/** Istio's SplitLocality: `region/zone/subzone`, missing parts empty. */
export function splitLocality(s: string): Locality {
  const [region = "", zone = "", subZone = ""] = s.split("/");
  return { region, zone, subZone };
}

/** Istio's LocalityMatch: does the rule locality (`us-east`, `us-east/*`, `*`) cover `locality`? */
export function localityMatch(locality: Locality, rule: string): boolean {
  const r = splitLocality(rule);
  const region = r.region === "*" || locality.region === r.region;
  const zone = r.zone === "*" || r.zone === "" || locality.zone === r.zone;
  const subZone = r.subZone === "*" || r.subZone === "" || locality.subZone === r.subZone;
  return region && zone && subZone;
}

/** Istio's LbPriority: 0 same region/zone/subzone, 1 same region/zone, 2 same region, 3 other. */
export function localityPriority(proxy: Locality, endpoint: Locality): number {
  if (proxy.region !== endpoint.region) return 3;
  if (proxy.zone !== endpoint.zone) return 2;
  if (proxy.subZone !== endpoint.subZone) return 1;
  return 0;
}

/**
 * Istio's GetLocalityLbSetting: a DestinationRule's setting wins unless it says `enabled: false`;
 * without one the mesh-wide setting applies (here only on/off: the default failover).
 */
export function effectiveLocalityLbSetting(meshEnabled: boolean, fromRule: LocalityLbSetting | undefined): LocalityLbSetting | undefined {
  if (fromRule) return fromRule.enabled === false ? undefined : fromRule;
  return meshEnabled ? {} : undefined;
}

/** Labels plus Istio's topology labels derived from locality and network (Istio's AugmentLabels). */
export function withTopologyLabels(
  labels: Readonly<Record<string, string>>,
  locality: Locality,
  network = "",
): Readonly<Record<string, string>> {
  if (!locality.region && !locality.zone && !locality.subZone && !network) return labels;
  const out: Record<string, string> = { ...labels };
  if (locality.region) out[LABEL_TOPOLOGY_REGION] ??= locality.region;
  if (locality.zone) out[LABEL_TOPOLOGY_ZONE] ??= locality.zone;
  if (locality.subZone) out[LABEL_TOPOLOGY_SUBZONE] ??= locality.subZone;
  if (network) out[LABEL_TOPOLOGY_NETWORK] ??= network;
  return out;
}

/** The part of a proxy's labels failoverPriority looks at (a cache key, like Istio's GetFailoverPriorityLabels). */
export function failoverPriorityKey(proxyLabels: Readonly<Record<string, string>>, priorities: readonly string[]): string {
  return priorities.map((p) => `${p}:${proxyLabels[labelName(p)] ?? ""}`).join(" ");
}

function labelName(priority: string): string {
  const eq = priority.indexOf("=");
  return eq < 0 ? priority : priority.slice(0, eq);
}

export interface WeightedEndpoint {
  /** Load-balancing weight (≥ 1). */
  readonly weight: number;
  /** Labels for failoverPriority (with topology labels). */
  readonly labels: Readonly<Record<string, string>>;
}

/** One LocalityLbEndpoints in the making. */
export interface LocalityGroup<E extends WeightedEndpoint> {
  readonly locality: Locality;
  readonly endpoints: readonly E[];
  /** Locality load-balancing weight (sum of the endpoint weights unless `distribute` changed it). */
  readonly weight: number;
  readonly priority: number;
}

/** What the locality algorithm needs to know about the calling proxy. */
export interface LocalityCaller {
  readonly locality: Locality;
  /** The proxy's labels, with topology labels (see withTopologyLabels). */
  readonly labels: Readonly<Record<string, string>>;
}

/** Does locality load balancing change the result for this caller (i.e. is the caller part of the key)? */
export function localityLbApplies(setting: LocalityLbSetting | undefined, caller: { locality: Locality }, enableFailover: boolean): boolean {
  if (!setting || !caller.locality.region) return false;
  return (setting.distribute?.length ?? 0) > 0 || enableFailover;
}

/** Does the result also depend on the caller's labels (failoverPriority)? */
export function failoverPriorityApplies(setting: LocalityLbSetting | undefined, caller: { locality: Locality }, enableFailover: boolean): boolean {
  return (
    localityLbApplies(setting, caller, enableFailover) &&
    (setting?.distribute?.length ?? 0) === 0 &&
    (setting?.failoverPriority?.length ?? 0) > 0
  );
}

/**
 * Istio's ApplyLocalityLoadBalancer on endpoint groups (one per locality, priority 0). Returns new
 * groups (the input is not modified), sorted by priority, keeping the input order within a priority.
 * Callers check localityLbApplies first (proxy locality known, setting enabled).
 */
export function applyLocalityLoadBalancer<E extends WeightedEndpoint>(
  groups: readonly LocalityGroup<E>[],
  caller: LocalityCaller,
  setting: LocalityLbSetting,
  enableFailover: boolean,
): LocalityGroup<E>[] {
  let out = [...groups];
  if ((setting.distribute?.length ?? 0) > 0) {
    out = applyLocalityWeights(out, caller.locality, setting.distribute ?? []);
  } else if (enableFailover) {
    const failover = setting.failover ?? [];
    if ((setting.failoverPriority?.length ?? 0) > 0) {
      out = applyFailoverPriorities(out, caller.labels, setting.failoverPriority ?? []);
      if (failover.length > 0) out = applyLocalityFailover(out, caller.locality, failover);
    } else {
      out = applyLocalityFailover(out, caller.locality, failover);
    }
  }
  return out.map((g, i) => ({ g, i })).sort((a, b) => a.g.priority - b.g.priority || a.i - b.i).map((x) => x.g);
}

type Distribute = NonNullable<LocalityLbSetting["distribute"]>[number];
type Failover = NonNullable<LocalityLbSetting["failover"]>[number];

/** Istio's applyLocalityWeights: the first rule whose `from` matches re-weights; unmatched localities are dropped. */
export function applyLocalityWeights<E extends WeightedEndpoint>(
  groups: readonly LocalityGroup<E>[],
  proxyLocality: Locality,
  distribute: readonly Distribute[],
): LocalityGroup<E>[] {
  const rule = distribute.find((d) => localityMatch(proxyLocality, d.from ?? ""));
  if (!rule) return [...groups];
  const unmatched = new Set(groups.map((_, i) => i));
  const weights = new Map<number, number>();
  for (const [to, weight] of Object.entries(rule.to ?? {})) {
    const matched: number[] = [];
    let total = 0;
    for (const i of unmatched) {
      if (!localityMatch(groups[i].locality, to)) continue;
      matched.push(i);
      total += groups[i].weight;
    }
    for (const i of matched) {
      unmatched.delete(i);
      // A wildcard `to` covering several localities splits its weight by their own weights.
      const w = total > 0 ? Math.ceil((groups[i].weight * weight) / total) : 0;
      weights.set(i, w > 0 ? w : groups[i].weight);
    }
  }
  const out: LocalityGroup<E>[] = [];
  groups.forEach((g, i) => {
    const w = weights.get(i);
    if (w !== undefined) out.push({ ...g, weight: w });
  });
  return out;
}

/** Istio's applyLocalityFailover: proximity priorities, `failover` regions, then compaction. */
export function applyLocalityFailover<E extends WeightedEndpoint>(
  groups: readonly LocalityGroup<E>[],
  proxyLocality: Locality,
  failover: readonly Failover[],
): LocalityGroup<E>[] {
  const withPriority = groups.map((g) => {
    let p = localityPriority(proxyLocality, g.locality);
    if (p === 3) {
      const rule = failover.find((f) => f.from === proxyLocality.region);
      if (rule && g.locality.region !== rule.to) p = 4;
    }
    // Up to 5 locality priorities fit under each priority assigned before (failoverPriority).
    return { ...g, priority: g.priority * 5 + p };
  });
  return compactPriorities(withPriority);
}

/**
 * Istio's applyFailoverPriorities: each locality splits into groups by how many of the listed
 * labels (in order) an endpoint shares with the proxy; `label=value` compares with a fixed value.
 * Without proxy labels nothing changes (as in Istio).
 */
export function applyFailoverPriorities<E extends WeightedEndpoint>(
  groups: readonly LocalityGroup<E>[],
  proxyLabels: Readonly<Record<string, string>>,
  priorities: readonly string[],
): LocalityGroup<E>[] {
  if (Object.keys(proxyLabels).length === 0 || groups.length === 0) return [...groups];
  const lowest = priorities.length;
  const keys = priorities.map(labelName);
  const overrides = priorities.map((p) => {
    const eq = p.indexOf("=");
    return eq < 0 ? undefined : p.slice(eq + 1);
  });
  const out: LocalityGroup<E>[] = [];
  for (const g of groups) {
    const byPriority = new Map<number, E[]>();
    for (const ep of g.endpoints) {
      let priority = 0;
      for (let j = 0; j < keys.length; j++) {
        const want = overrides[j] ?? proxyLabels[keys[j]];
        if (want !== ep.labels[keys[j]]) {
          priority = lowest - j;
          break;
        }
      }
      const list = byPriority.get(priority);
      if (list) list.push(ep);
      else byPriority.set(priority, [ep]);
    }
    for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
      const endpoints = byPriority.get(priority) ?? [];
      out.push({ locality: g.locality, endpoints, weight: endpoints.reduce((s, e) => s + e.weight, 0), priority });
    }
  }
  return compactPriorities(out);
}

/** Renumbers priorities 0..N in order, without gaps. */
export function compactPriorities<E extends WeightedEndpoint>(groups: readonly LocalityGroup<E>[]): LocalityGroup<E>[] {
  const distinct = [...new Set(groups.map((g) => g.priority))].sort((a, b) => a - b);
  const rank = new Map(distinct.map((p, i) => [p, i]));
  return groups.map((g) => (rank.get(g.priority) === g.priority ? g : { ...g, priority: rank.get(g.priority) ?? 0 }));
}
