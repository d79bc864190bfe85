// What the load balancing tests share: a seeded PRNG, ClusterLoadAssignment builders (endpoints,
// localities, priorities), a cluster's balancer compiled as clusterSpec does, and tallies of picks
// with a tolerance check.
import assert from "node:assert/strict";
import type { Cluster, ClusterLoadAssignment, HealthStatus, LbEndpoint, LocalityLbEndpoints, Metadata } from "../../../src/envoy/types.js";
import { hostsFromClusterLoadAssignment, type HostSet } from "../../../src/proxy/upstream/host.js";
import { createLoadBalancer, type LoadBalancer } from "../../../src/proxy/upstream/lb.js";
import { lbSettings } from "../../../src/proxy/upstream/lb-config.js";

/** mulberry32: a small seeded PRNG returning [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Ep {
  address?: string;
  port: number;
  weight?: number;
  health?: HealthStatus;
  hostname?: string;
  metadata?: Metadata;
}

export function lbEndpoint(e: Ep): LbEndpoint {
  const out: LbEndpoint = {
    endpoint: { address: { socketAddress: { address: e.address ?? "127.0.0.1", portValue: e.port } }, ...(e.hostname ? { hostname: e.hostname } : {}) },
  };
  if (e.weight !== undefined) out.loadBalancingWeight = { value: e.weight };
  if (e.health) out.healthStatus = e.health;
  if (e.metadata) out.metadata = e.metadata;
  return out;
}

export interface Group {
  priority?: number;
  locality?: { region?: string; zone?: string; subZone?: string };
  weight?: number;
  endpoints: Ep[];
}

export function cla(groups: Group[], policy?: ClusterLoadAssignment.Policy): ClusterLoadAssignment {
  const out: ClusterLoadAssignment = {
    clusterName: "outbound|80||svc.default.svc.cluster.local",
    endpoints: groups.map((g) => {
      const l: LocalityLbEndpoints = { lbEndpoints: g.endpoints.map(lbEndpoint) };
      if (g.locality) l.locality = g.locality;
      if (g.weight !== undefined) l.loadBalancingWeight = { value: g.weight };
      if (g.priority) l.priority = g.priority;
      return l;
    }),
  };
  if (policy) out.policy = policy;
  return out;
}

export const ports = (...ps: number[]): Ep[] => ps.map((port) => ({ port }));

export function sets(c: ClusterLoadAssignment): HostSet[] {
  return hostsFromClusterLoadAssignment(c).priorities;
}

/** A cluster's balancer, its settings compiled as clusterSpec does. */
export function balancer(c: Cluster, s: HostSet[], random?: () => number, opts?: Parameters<typeof createLoadBalancer>[3]): LoadBalancer {
  return createLoadBalancer(lbSettings(c), s, random, opts);
}

export function tally(lb: LoadBalancer, n: number, ctx?: (i: number) => Parameters<LoadBalancer["pick"]>[0]): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const h = lb.pick(ctx?.(i));
    const k = h ? h.key : "none";
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

export function share(m: Map<string, number>, key: string, n: number): number {
  return (m.get(key) ?? 0) / n;
}

export function near(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual.toFixed(4)} not within ${tol} of ${expected}`);
}
