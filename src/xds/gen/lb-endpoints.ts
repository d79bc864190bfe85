// Endpoints grouped by locality into Envoy's LocalityLbEndpoints, as Istio orders them: shared by EDS
// (endpoints.ts) and the inline load assignments of DNS clusters (clusters.ts). Priorities and
// weights relative to the caller are locality.ts's.
import type { Locality, LocalityLbEndpoints, Metadata } from "../../envoy/types.js";
import { localityString, type WorkloadEndpoint } from "../../registry/model.js";
import { socketAddress } from "./filters.js";
import type { LocalityGroup, WeightedEndpoint } from "./locality.js";

/** Groups endpoints by locality (sorted by `region/zone/subzone`), dropping duplicate address:port. */
export function groupByLocality<E extends WeightedEndpoint & { address: string; port: number }>(
  items: readonly { ep: WorkloadEndpoint; item: E }[],
): LocalityGroup<E>[] {
  const seen = new Set<string>();
  const byLocality = new Map<string, { locality: WorkloadEndpoint["locality"]; endpoints: E[] }>();
  for (const { ep, item } of items) {
    const key = `${item.address}|${item.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const label = localityString(ep.locality);
    const g = byLocality.get(label);
    if (g) g.endpoints.push(item);
    else byLocality.set(label, { locality: ep.locality, endpoints: [item] });
  }
  return [...byLocality.keys()]
    .sort()
    .map((label) => {
      const g = byLocality.get(label)!;
      const endpoints = g.endpoints.sort(compareAddress);
      return { locality: g.locality, endpoints, weight: endpoints.reduce((s, e) => s + e.weight, 0), priority: 0 };
    });
}

/** Orders addresses numerically where they are numbers (127.0.4.2 before 127.0.4.10), then ports. */
export function compareAddress(a: { address: string; port: number }, b: { address: string; port: number }): number {
  if (a.address !== b.address) {
    const x = a.address.split(/([0-9]+)/);
    const y = b.address.split(/([0-9]+)/);
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] === y[i]) continue;
      const nx = Number(x[i]);
      const ny = Number(y[i]);
      if (i % 2 === 1 && !Number.isNaN(nx) && !Number.isNaN(ny) && nx !== ny) return nx - ny;
      return x[i] < y[i] ? -1 : 1;
    }
    return x.length - y.length;
  }
  return a.port - b.port;
}

/** Envoy's Locality message without empty strings. */
export function localityProto(l: WorkloadEndpoint["locality"]): Locality {
  const out: Locality = {};
  if (l.region) out.region = l.region;
  if (l.zone) out.zone = l.zone;
  if (l.subZone) out.subZone = l.subZone;
  return out;
}

/** LocalityLbEndpoints from groups: lbEndpoints with metadata and weights, locality weight, priority when > 0. */
export function localityLbEndpoints<E extends WeightedEndpoint & { address: string; port: number; metadata?: Metadata }>(groups: readonly LocalityGroup<E>[]): LocalityLbEndpoints[] {
  return groups.map((g) => {
    const out: LocalityLbEndpoints = {
      locality: localityProto(g.locality),
      lbEndpoints: g.endpoints.map((e) =>
        e.metadata
          ? { endpoint: { address: socketAddress(e.address, e.port) }, metadata: e.metadata, loadBalancingWeight: { value: e.weight } }
          : { endpoint: { address: socketAddress(e.address, e.port) }, loadBalancingWeight: { value: e.weight } },
      ),
      loadBalancingWeight: { value: g.weight },
    };
    if (g.priority > 0) out.priority = g.priority;
    return out;
  });
}
