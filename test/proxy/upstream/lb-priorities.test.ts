// Load across priorities and localities: spill-over with the overprovisioning factor, degraded
// hosts, panic thresholds, locality-weighted balancing and Istio's failover priorities.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import type { ClusterLoadAssignment } from "../../../src/envoy/types.js";
import { hashKey } from "../../../src/proxy/upstream/hash.js";
import { hostsFromClusterLoadAssignment } from "../../../src/proxy/upstream/host.js";
import { balancer, cla, near, ports, rng, sets, share, tally } from "./lb-helpers.js";

describe("priorities", () => {
  const twoPriorities = () => sets(cla([{ endpoints: ports(1, 2) }, { priority: 1, endpoints: ports(3, 4) }]));

  it("send everything to P0 while it is healthy, and spill over with the overprovisioning factor", () => {
    const s = twoPriorities();
    const lb = balancer({}, s, rng(10));
    assert.deepEqual(lb.priorityLoad().healthy, [100, 0]);
    const all = tally(lb, 1000);
    assert.equal((all.get("127.0.0.1:1") ?? 0) + (all.get("127.0.0.1:2") ?? 0), 1000);

    s[0].hosts[1].ejected = true; // P0 50% healthy × 1.4 = 70%
    assert.deepEqual(lb.priorityLoad(), { healthy: [70, 30], degraded: [0, 0], panic: [false, false] });
    const n = 10_000;
    const m = tally(lb, n);
    near(share(m, "127.0.0.1:1", n), 0.7, 0.02, "P0");
    near(share(m, "127.0.0.1:3", n) + share(m, "127.0.0.1:4", n), 0.3, 0.02, "P1");
    assert.equal(m.get("127.0.0.1:2"), undefined);

    s[0].hosts[0].ejected = true; // P0 gone
    assert.deepEqual(lb.priorityLoad().healthy, [0, 100]);
    s[0].hosts[0].ejected = false;
    s[0].hosts[1].ejected = false;
  });

  it("hash policies keep a key's priority and follow the same loads", () => {
    const s = twoPriorities();
    s[0].hosts[1].healthStatus = "UNHEALTHY";
    const lb = balancer({ lbPolicy: "RING_HASH" }, s);
    let p0 = 0;
    const n = 5000;
    for (let i = 0; i < n; i++) {
      const hash = hashKey(`key-${i}`);
      const h = lb.pick({ hash })!;
      assert.equal(lb.pick({ hash }), h);
      if (h.priority === 0) p0++;
    }
    near(p0 / n, 0.7, 0.03, "P0 share of keys");
  });

  it("use the overprovisioning factor and weighted priority health from the assignment", () => {
    const s = sets(cla([{ endpoints: [{ port: 1, weight: 3 }, { port: 2 }] }, { priority: 1, endpoints: ports(3) }], { overprovisioningFactor: { value: 100 } }));
    s[0].hosts[1].ejected = true;
    const lb = balancer({}, s, rng(11));
    assert.deepEqual(lb.priorityLoad().healthy, [50, 50]);
    const w = sets(cla([{ endpoints: [{ port: 1, weight: 3 }, { port: 2 }] }, { priority: 1, endpoints: ports(3) }], { overprovisioningFactor: { value: 100 }, weightedPriorityHealth: true }));
    w[0].hosts[1].ejected = true;
    assert.deepEqual(balancer({}, w, rng(11)).priorityLoad().healthy, [75, 25]);
  });

  it("use degraded hosts only when healthy ones are not enough", () => {
    const s = sets(cla([{ endpoints: [{ port: 1, health: "DEGRADED" }, { port: 2, health: "DEGRADED" }] }, { priority: 1, endpoints: ports(3) }]));
    const lb = balancer({}, s, rng(12));
    assert.deepEqual(lb.priorityLoad(), { healthy: [0, 100], degraded: [0, 0], panic: [false, false] });
    s[1].hosts[0].ejected = true;
    assert.deepEqual(lb.priorityLoad().degraded, [100, 0]);
    const m = tally(lb, 100);
    assert.equal((m.get("127.0.0.1:1") ?? 0) + (m.get("127.0.0.1:2") ?? 0), 100);
    const ring = balancer({ lbPolicy: "RING_HASH" }, s);
    assert.equal(ring.pick({ hash: hashKey("k") })?.priority, 0);
    s[1].hosts[0].ejected = false;
  });
});

describe("panic", () => {
  it("balances over all hosts of a priority below the panic threshold", () => {
    const s = sets(cla([{ endpoints: ports(1, 2, 3, 4) }]));
    for (const h of s[0].hosts.slice(1)) h.ejected = true; // 25% healthy < 50%
    const lb = balancer({}, s, rng(13));
    assert.deepEqual(lb.priorityLoad().panic, [true]);
    assert.equal(tally(lb, 400).size, 4);
    // Istio's healthyPanicThreshold {} (0%): never panic, only the healthy host.
    const strict = balancer({ commonLbConfig: { healthyPanicThreshold: {} } }, s, rng(13));
    assert.deepEqual([...tally(strict, 100).keys()], ["127.0.0.1:1"]);
    // fail_traffic_on_panic: no host instead of any host.
    const failing = balancer({ commonLbConfig: { zoneAwareLbConfig: { failTrafficOnPanic: true } } }, s, rng(13));
    assert.equal(failing.pick(), undefined);
    // ... and no host at all when none is healthy.
    s[0].hosts[0].ejected = true;
    assert.equal(strict.pick(), undefined);
    assert.equal(tally(lb, 400).size, 4, "panic still balances over all hosts");
    // Ring hash in panic uses all hosts too.
    const ring = balancer({ lbPolicy: "RING_HASH" }, s);
    assert.ok(ring.pick({ hash: 1n }));
    for (const h of s[0].hosts) h.ejected = false;
  });

  it("splits load by host counts when every priority is in panic", () => {
    const s = sets(cla([{ endpoints: ports(1, 2, 3, 4) }, { priority: 1, endpoints: ports(5, 6) }]));
    for (const h of [...s[0].hosts.slice(1), ...s[1].hosts]) h.ejected = true;
    const lb = balancer({}, s, rng(14));
    assert.deepEqual(lb.priorityLoad(), { healthy: [67, 33], degraded: [0, 0], panic: [true, true] });
    for (const h of [...s[0].hosts, ...s[1].hosts]) h.ejected = false;
  });

  it("does not panic a priority while the total availability is 100%", () => {
    const s = sets(cla([{ endpoints: ports(1, 2, 3, 4) }, { priority: 1, endpoints: ports(5, 6) }]));
    for (const h of s[0].hosts.slice(1)) h.ejected = true; // P0: 35%, P1: 100% → total 100
    const lb = balancer({}, s, rng(15));
    assert.deepEqual(lb.priorityLoad(), { healthy: [35, 65], degraded: [0, 0], panic: [false, false] });
    for (const h of s[0].hosts) h.ejected = false;
  });
});

describe("locality-weighted balancing", () => {
  const dir = new URL("../../../../test/xds/gen/testdata/", import.meta.url);
  const golden = JSON.parse(readFileSync(new URL("endpoints-locality.json", dir), "utf8")) as Record<string, ClusterLoadAssignment>;

  it("splits traffic by locality weight, then balances within the locality", () => {
    // Istio's distribute: eu-west 10, us-east/zone1/sub1 56 (2 hosts), sub2 14, us-east/zone2 20.
    const { priorities } = hostsFromClusterLoadAssignment(golden["echo-distribute"]);
    const lb = balancer({ commonLbConfig: { localityWeightedLbConfig: {} } }, priorities, rng(16));
    const n = 10_000;
    const byLocality = (m: Map<string, number>) => {
      const out = new Map<string, number>();
      for (const set of priorities) for (const h of set.hosts) out.set(h.localityKey, (out.get(h.localityKey) ?? 0) + (m.get(h.key) ?? 0) / n);
      return out;
    };
    let loc = byLocality(tally(lb, n));
    near(loc.get("eu-west/zone1/")!, 0.1, 0.01, "eu-west");
    near(loc.get("us-east/zone1/sub1")!, 0.56, 0.01, "sub1");
    near(loc.get("us-east/zone1/sub2")!, 0.14, 0.01, "sub2");
    near(loc.get("us-east/zone2/")!, 0.2, 0.01, "zone2");

    // Half of sub1 ejected: its effective weight is 56 × min(1, 1.4 × 0.5) = 39.2.
    const sub1 = priorities[0].localities.find((l) => l.localityKey === "us-east/zone1/sub1")!;
    sub1.hosts[0].ejected = true;
    loc = byLocality(tally(lb, n));
    near(loc.get("us-east/zone1/sub1")!, 39.2 / 83.2, 0.015, "sub1 degraded");
    near(loc.get("eu-west/zone1/")!, 10 / 83.2, 0.015, "eu-west after");
    sub1.hosts[0].ejected = false;

    // Without locality_weighted_lb_config the locality weights are ignored: per host weight.
    const flat = tally(balancer({}, priorities, rng(16)), 7000);
    const total = priorities[0].hosts.reduce((n, h) => n + h.weight, 0);
    for (const h of priorities[0].hosts) near((flat.get(h.key) ?? 0) / 7000, h.weight / total, 0.002, `flat ${h.key}`);
  });

  it("fails over across the priorities Istio computes", () => {
    const { priorities } = hostsFromClusterLoadAssignment(golden["echo-failover"]);
    const lb = balancer({ lbPolicy: "LEAST_REQUEST", commonLbConfig: { healthyPanicThreshold: {}, localityWeightedLbConfig: {} } }, priorities, rng(17));
    assert.deepEqual(lb.priorityLoad().healthy, [100, 0, 0, 0, 0]);
    for (const h of priorities[0].hosts) h.ejected = true;
    assert.deepEqual(lb.priorityLoad().healthy, [0, 100, 0, 0, 0]);
    assert.equal(lb.pick()?.key, priorities[1].hosts[0].key);
    for (const h of priorities[1].hosts) h.ejected = true;
    assert.equal(lb.pick()?.key, priorities[2].hosts[0].key);
    for (const set of priorities) for (const h of set.hosts) h.ejected = false;
  });
});
