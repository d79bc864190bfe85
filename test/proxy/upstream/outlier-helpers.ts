// What the outlier detection tests share: STATIC clusters with an OutlierDetection, a cluster on a
// fake clock with its stats readable by name (no sockets: hosts are config only), canned outcomes,
// and reporting an outcome n times.
import assert from "node:assert/strict";
import type { Cluster, ClusterLoadAssignment, OutlierDetection } from "../../../src/envoy/types.js";
import { StatsStore } from "../../../src/proxy/stats.js";
import { clusterSpec, UpstreamCluster } from "../../../src/proxy/upstream/cluster.js";
import type { Host } from "../../../src/proxy/upstream/host.js";
import type { UpstreamOutcome } from "../../../src/proxy/upstream/outlier.js";
import { FakeClock } from "../../helpers/fake-clock.js";

export function cla(name: string, ports: number[], address = "127.0.80.1"): ClusterLoadAssignment {
  return {
    clusterName: name,
    endpoints: [{ lbEndpoints: ports.map((p) => ({ endpoint: { address: { socketAddress: { address, portValue: p } } } })) }],
  };
}

export function staticCluster(name: string, ports: number[], od: OutlierDetection | undefined, extra: Cluster = {}): Cluster {
  return { name, type: "STATIC", connectTimeout: { seconds: 1 }, loadAssignment: cla(name, ports), ...(od ? { outlierDetection: od } : {}), ...extra };
}

export const R503: UpstreamOutcome = { kind: "response", status: 503 };
export const R500: UpstreamOutcome = { kind: "response", status: 500 };
export const R200: UpstreamOutcome = { kind: "response", status: 200 };

export interface Fixture {
  cluster: UpstreamCluster;
  store: StatsStore;
  clock: FakeClock;
  hosts: Host[];
  stat(name: string): number;
}

export function fixture(ports: number[], od: OutlierDetection | undefined, random: () => number = () => 0, extra: Cluster = {}): Fixture {
  const store = new StatsStore();
  const clock = new FakeClock();
  const spec = clusterSpec(staticCluster("c", ports, od, extra));
  const cluster = new UpstreamCluster(spec, store.tagged("cluster.", "c"), undefined, { clock, random });
  const text = () => store.text();
  return {
    cluster,
    store,
    clock,
    hosts: cluster.hosts(),
    stat: (name) => {
      const m = new RegExp(`^cluster\\.c\\.${name.replace(/\./g, "\\.")}: (\\d+)$`, "m").exec(text());
      assert.ok(m, `stat ${name} not found`);
      return Number(m[1]);
    },
  };
}

export function report(c: UpstreamCluster, h: Host, o: UpstreamOutcome, n = 1): void {
  for (let i = 0; i < n; i++) c.reportResult(h, o);
}
