// Outlier detection: Envoy's consecutive_5xx / consecutive_gateway_failure / local-origin
// semantics, max_ejection_percent, enforcing percentages, ejection backoff and un-ejection on the
// interval timer (fake clock), state carried across EDS and CDS updates, and a real-socket run
// (127.0.80.11-12) where one of two backends answers 503 and is ejected from the cluster's load
// balancer. Success-rate and failure-percentage ejection: outlier-success-rate.test.ts.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { OutlierDetection } from "../../../src/envoy/types.js";
import { StatsStore } from "../../../src/proxy/stats.js";
import { clusterSpec, UpstreamCluster } from "../../../src/proxy/upstream/cluster.js";
import type { Host } from "../../../src/proxy/upstream/host.js";
import { FakeClock } from "../../helpers/fake-clock.js";
import { Backend } from "../helpers.js";
import { poolGet } from "./pool-get.js";
import { cla, fixture, R200, R500, R503, report, staticCluster } from "./outlier-helpers.js";

describe("outlier detection (fake clock)", () => {
  it("ejects after consecutive_5xx 5xx responses, counts stats, un-ejects on the interval after base_ejection_time", () => {
    const f = fixture([8001, 8002], { consecutive_5xx: { value: 3 }, maxEjectionPercent: { value: 50 }, interval: { seconds: 1 }, baseEjectionTime: { seconds: 10 } });
    const [a, b] = f.hosts;
    report(f.cluster, a, R503, 2);
    assert.equal(a.ejected, false);
    report(f.cluster, a, R500);
    assert.equal(a.ejected, true);
    assert.equal(a.healthFlags, "/failed_outlier_check");
    assert.equal(f.stat("outlier_detection.ejections_active"), 1);
    assert.equal(f.stat("outlier_detection.ejections_enforced_total"), 1);
    assert.equal(f.stat("outlier_detection.ejections_enforced_consecutive_5xx"), 1);
    assert.equal(f.stat("outlier_detection.ejections_detected_consecutive_5xx"), 1);
    assert.equal(f.stat("outlier_detection.ejections_total"), 1);
    // The load balancer skips the ejected host.
    for (let i = 0; i < 10; i++) assert.equal(f.cluster.pick(), b);
    assert.equal(f.cluster.outlier!.monitor(a)!.numEjections, 1);

    f.clock.advance(9_000);
    assert.equal(a.ejected, true, "base_ejection_time not over yet");
    f.clock.advance(1_000);
    assert.equal(a.ejected, false);
    assert.equal(f.stat("outlier_detection.ejections_active"), 0);
    assert.equal(f.cluster.outlier!.monitor(a)!.consecutive5xx, 0);
    const picked = new Set<Host>();
    for (let i = 0; i < 4; i++) picked.add(f.cluster.pick()!);
    assert.equal(picked.size, 2);
    f.cluster.close();
    assert.equal(f.clock.pending, 0, "the interval timer is cleared on close");
  });

  it("a success resets the counters; a non-gateway 5xx resets the gateway counter", () => {
    const f = fixture([8001, 8002], { consecutive_5xx: { value: 3 }, consecutiveGatewayFailure: { value: 3 }, enforcingConsecutiveGatewayFailure: { value: 100 }, maxEjectionPercent: { value: 100 } });
    const [a] = f.hosts;
    const m = () => f.cluster.outlier!.monitor(a)!;
    report(f.cluster, a, R503, 2);
    assert.deepEqual([m().consecutive5xx, m().consecutiveGatewayFailure], [2, 2]);
    report(f.cluster, a, { kind: "response", status: 404 });
    assert.deepEqual([m().consecutive5xx, m().consecutiveGatewayFailure], [0, 0]);
    report(f.cluster, a, { kind: "response", status: 502 }, 2);
    report(f.cluster, a, R500);
    assert.deepEqual([m().consecutive5xx, m().consecutiveGatewayFailure], [0, 0], "5xx fired (and was reset); gateway reset by the 500");
    assert.equal(a.ejected, true);
    assert.equal(f.stat("outlier_detection.ejections_enforced_consecutive_5xx"), 1);
    assert.equal(f.stat("outlier_detection.ejections_detected_consecutive_gateway_failure"), 0);
  });

  it("counts connect failures, resets and timeouts as 5xx and gateway failures (no local/external split)", () => {
    const f = fixture([8001, 8002, 8003, 8004], { consecutive_5xx: { value: 10 }, consecutiveGatewayFailure: { value: 3 }, enforcingConsecutiveGatewayFailure: { value: 100 }, maxEjectionPercent: { value: 100 } });
    const [a] = f.hosts;
    report(f.cluster, a, { kind: "connect-failure" });
    report(f.cluster, a, { kind: "reset" });
    assert.equal(a.ejected, false);
    report(f.cluster, a, { kind: "timeout" });
    assert.equal(a.ejected, true);
    assert.equal(f.stat("outlier_detection.ejections_enforced_consecutive_gateway_failure"), 1);
    assert.equal(f.stat("outlier_detection.ejections_detected_consecutive_gateway_failure"), 1);
    assert.equal(f.cluster.outlier!.monitor(a)!.consecutive5xx, 3);
  });

  it("gateway failures are detected but not enforced by default (enforcing_consecutive_gateway_failure 0)", () => {
    const f = fixture([8001, 8002], { consecutive_5xx: { value: 100 }, consecutiveGatewayFailure: { value: 2 }, maxEjectionPercent: { value: 100 } });
    const [a] = f.hosts;
    report(f.cluster, a, R503, 2);
    assert.equal(a.ejected, false);
    assert.equal(f.stat("outlier_detection.ejections_detected_consecutive_gateway_failure"), 1);
    assert.equal(f.stat("outlier_detection.ejections_enforced_consecutive_gateway_failure"), 0);
    assert.equal(f.cluster.outlier!.monitor(a)!.consecutiveGatewayFailure, 0, "the counter resets after detection");
  });

  it("the enforcing percentage is a draw per detection", () => {
    let draw = 0.6;
    const f = fixture([8001, 8002], { consecutive_5xx: { value: 1 }, enforcingConsecutive_5xx: { value: 50 }, maxEjectionPercent: { value: 100 } }, () => draw);
    const [a] = f.hosts;
    report(f.cluster, a, R503);
    assert.equal(a.ejected, false, "60 >= 50: not enforced");
    assert.equal(f.stat("outlier_detection.ejections_detected_consecutive_5xx"), 1);
    draw = 0.2;
    report(f.cluster, a, R503);
    assert.equal(a.ejected, true);
  });

  it("split_external_local_origin_errors: local failures count separately, responses reset them", () => {
    const f = fixture([8001, 8002], {
      consecutive_5xx: { value: 2 },
      splitExternalLocalOriginErrors: true,
      consecutiveLocalOriginFailure: { value: 3 },
      maxEjectionPercent: { value: 100 },
    });
    const [a, b] = f.hosts;
    report(f.cluster, a, { kind: "connect-failure" }, 2);
    report(f.cluster, a, R200);
    report(f.cluster, a, { kind: "timeout" }, 2);
    assert.equal(a.ejected, false);
    assert.equal(f.cluster.outlier!.monitor(a)!.consecutive5xx, 0, "local failures do not count as 5xx");
    report(f.cluster, a, { kind: "reset" });
    assert.equal(a.ejected, true);
    assert.equal(f.stat("outlier_detection.ejections_enforced_consecutive_local_origin_failure"), 1);
    report(f.cluster, b, R503, 2);
    assert.equal(b.ejected, true, "external 5xx still eject");
  });

  it("max_ejection_percent caps ejections (ejections_overflow); always_eject_one_host lifts it for the first", () => {
    const f = fixture([8001, 8002, 8003, 8004], { consecutive_5xx: { value: 1 }, maxEjectionPercent: { value: 50 } });
    const [a, b, c] = f.hosts;
    report(f.cluster, a, R503);
    report(f.cluster, b, R503);
    report(f.cluster, c, R503);
    assert.deepEqual([a.ejected, b.ejected, c.ejected], [true, true, false]);
    assert.equal(f.stat("outlier_detection.ejections_overflow"), 1);
    assert.equal(f.stat("outlier_detection.ejections_active"), 2);

    // Default 10% with two hosts: 50% > 10%, nothing is ejected unless always_eject_one_host.
    const g = fixture([8001, 8002], { consecutive_5xx: { value: 1 } });
    report(g.cluster, g.hosts[0], R503);
    assert.equal(g.hosts[0].ejected, false);
    assert.equal(g.stat("outlier_detection.ejections_overflow"), 1);
    const h = fixture([8001, 8002], { consecutive_5xx: { value: 1 }, alwaysEjectOneHost: { value: true } });
    report(h.cluster, h.hosts[0], R503);
    report(h.cluster, h.hosts[1], R503);
    assert.deepEqual([h.hosts[0].ejected, h.hosts[1].ejected], [true, false]);
  });

  it("ejection time grows with each ejection (backoff), capped by max_ejection_time, and decays while healthy", () => {
    const f = fixture([8001, 8002], {
      consecutive_5xx: { value: 1 },
      maxEjectionPercent: { value: 100 },
      interval: { seconds: 1 },
      baseEjectionTime: { seconds: 10 },
      maxEjectionTime: { seconds: 25 },
    });
    const [a] = f.hosts;
    const ejectedFor = (): number => {
      const start = f.clock.now();
      report(f.cluster, a, R503);
      assert.equal(a.ejected, true);
      while (a.ejected) f.clock.advance(1000);
      return f.clock.now() - start;
    };
    assert.equal(ejectedFor(), 10_000);
    assert.equal(ejectedFor(), 20_000);
    assert.equal(ejectedFor(), 25_000, "capped by max_ejection_time");
    assert.equal(ejectedFor(), 25_000);
    // backoff is now 4 (growth stops once 10 s × backoff >= 25 s + 10 s); each healthy interval takes one off.
    assert.equal(f.cluster.outlier!.monitor(a)!.ejectTimeBackoff, 4);
    f.clock.advance(2_000);
    assert.equal(f.cluster.outlier!.monitor(a)!.ejectTimeBackoff, 2);
    f.clock.advance(2_000);
    assert.equal(f.cluster.outlier!.monitor(a)!.ejectTimeBackoff, 0);
    assert.equal(ejectedFor(), 10_000);
    assert.equal(f.cluster.outlier!.monitor(a)!.numEjections, 5);
  });

  it("the ejected flag survives an EDS update; a removed host leaves ejections_active", () => {
    const store = new StatsStore();
    const clock = new FakeClock();
    const spec = clusterSpec({ name: "e", type: "EDS", edsClusterConfig: { serviceName: "e" }, outlierDetection: { consecutive_5xx: { value: 1 }, maxEjectionPercent: { value: 100 } } });
    const cluster = new UpstreamCluster(spec, store.tagged("cluster.", "e"), undefined, { clock });
    cluster.setAssignment(cla("e", [9001, 9002, 9003]));
    const [a, b] = cluster.hosts();
    report(cluster, a, R503);
    report(cluster, b, R503);
    cluster.setAssignment(cla("e", [9001, 9002, 9003]));
    assert.equal(cluster.byKey.get(a.key), a);
    assert.equal(a.ejected, true);
    assert.equal(cluster.outlier!.ejectionsActive, 2);
    cluster.setAssignment(cla("e", [9001, 9003]));
    assert.equal(cluster.outlier!.ejectionsActive, 1);
    assert.match(store.text(), /^cluster\.e\.outlier_detection\.ejections_active: 1$/m);
    cluster.close();
  });

  it("a CDS update carries the detector state over (EDS and STATIC), and dropping outlier_detection un-ejects", () => {
    const store = new StatsStore();
    const clock = new FakeClock();
    const od = { consecutive_5xx: { value: 2 }, maxEjectionPercent: { value: 100 }, interval: { seconds: 1 }, baseEjectionTime: { seconds: 10 } };
    const edsCluster = (o: OutlierDetection | undefined) => clusterSpec({ name: "e", type: "EDS", edsClusterConfig: { serviceName: "e" }, ...(o ? { outlierDetection: o } : {}) });
    const scope = store.tagged("cluster.", "e");
    const v1 = new UpstreamCluster(edsCluster(od), scope, undefined, { clock });
    v1.setAssignment(cla("e", [9001, 9002]));
    const [a, b] = v1.hosts();
    report(v1, a, R503, 2);
    report(v1, b, R503);
    clock.advance(4_000);
    const v2 = new UpstreamCluster(edsCluster({ ...od, consecutive_5xx: { value: 3 } }), scope, v1, { clock });
    v1.close();
    assert.equal(v2.warmed, true);
    assert.equal(v2.byKey.get(a.key), a);
    assert.equal(a.ejected, true);
    assert.equal(v2.outlier!.ejectionsActive, 1);
    assert.equal(v2.outlier!.monitor(b)!.consecutive5xx, 1, "counters carried over");
    report(v1, b, R503, 5); // the closed cluster's detector ignores late results
    assert.equal(b.ejected, false);
    clock.advance(6_000);
    assert.equal(a.ejected, false, "the new detector un-ejects at the original deadline");
    assert.equal(v2.outlier!.monitor(a)!.numEjections, 1);

    // STATIC: hosts are matched by address too.
    const s = fixture([8001, 8002], od);
    report(s.cluster, s.hosts[0], R503, 2);
    const s2 = new UpstreamCluster(clusterSpec(staticCluster("c", [8001, 8002, 8003], od)), s.store.tagged("cluster.", "c"), s.cluster, { clock: s.clock });
    s.cluster.close();
    assert.equal(s2.byKey.get(s.hosts[0].key), s.hosts[0]);
    assert.equal(s.hosts[0].ejected, true);
    assert.equal(s2.outlier!.ejectionsActive, 1);
    assert.equal(s.stat("outlier_detection.ejections_active"), 1);

    // Without outlier_detection the carried-over host is healthy again.
    const s3 = new UpstreamCluster(clusterSpec(staticCluster("c", [8001, 8002], undefined)), s.store.tagged("cluster.", "c"), s2, { clock: s.clock });
    s2.close();
    assert.equal(s3.outlier, undefined);
    assert.equal(s.hosts[0].ejected, false);
    v2.close();
    s3.close();
  });

  it("state reaches a warming cluster's new hosts by address", () => {
    const store = new StatsStore();
    const clock = new FakeClock();
    const od = { consecutive_5xx: { value: 1 }, maxEjectionPercent: { value: 100 } };
    const scope = store.tagged("cluster.", "e");
    const v1 = new UpstreamCluster(clusterSpec({ name: "e", type: "EDS", edsClusterConfig: { serviceName: "old" }, outlierDetection: od }), scope, undefined, { clock });
    v1.setAssignment(cla("old", [9001, 9002]));
    report(v1, v1.hosts()[0], R503);
    const v2 = new UpstreamCluster(clusterSpec({ name: "e", type: "EDS", edsClusterConfig: { serviceName: "new" }, outlierDetection: od }), scope, v1, { clock });
    assert.equal(v2.warmed, false);
    v2.setAssignment(cla("new", [9001, 9002]));
    v1.close();
    const [a2] = v2.hosts();
    assert.notEqual(a2, v1.hosts()[0]);
    assert.equal(a2.ejected, true);
    assert.equal(v2.outlier!.ejectionsActive, 1);
    v2.close();
  });
});

describe("outlier detection with real backends", () => {
  const PORT = 18080;
  let good: Backend;
  let bad: Backend;
  before(async () => {
    good = await Backend.start("good", "127.0.80.11", PORT);
    bad = await Backend.start("bad", "127.0.80.12", PORT, { status: 503 });
  });
  after(async () => {
    await good.close();
    await bad.close();
  });

  function get(cluster: UpstreamCluster, host: Host): Promise<number> {
    return poolGet(cluster, host);
  }

  it("ejects the backend answering 503 after consecutive_5xx and sends traffic to the other; un-ejects after base_ejection_time", async () => {
    const store = new StatsStore();
    const spec = clusterSpec({
      name: "two",
      type: "STATIC",
      connectTimeout: { seconds: 1 },
      loadAssignment: {
        clusterName: "two",
        endpoints: [
          {
            lbEndpoints: [
              { endpoint: { address: { socketAddress: { address: "127.0.80.11", portValue: PORT } } } },
              { endpoint: { address: { socketAddress: { address: "127.0.80.12", portValue: PORT } } } },
            ],
          },
        ],
      },
      outlierDetection: { consecutive_5xx: { value: 3 }, enforcingConsecutive_5xx: { value: 100 }, interval: { nanos: 50_000_000 }, baseEjectionTime: { nanos: 300_000_000 }, maxEjectionPercent: { value: 100 } },
    });
    // Real sockets; the ejection's timing on a manual clock, so a slow machine cannot un-eject early.
    const clock = new FakeClock();
    const cluster = new UpstreamCluster(spec, store.tagged("cluster.", "two"), undefined, { clock });
    try {
      const badHost = cluster.hosts().find((h) => h.address === "127.0.80.12")!;
      // Round robin alternates until the bad host has answered 503 three times in a row.
      let bads = 0;
      for (let i = 0; i < 12 && !badHost.ejected; i++) {
        const host = cluster.pick()!;
        const permit = cluster.acquire(host);
        assert.ok(permit.ok && !permit.pending);
        const status = await get(cluster, host);
        permit.release();
        cluster.reportResult(host, { kind: "response", status });
        if (host === badHost) bads++;
      }
      assert.equal(badHost.ejected, true);
      assert.equal(bads, 3);
      assert.match(store.text(), /^cluster\.two\.outlier_detection\.ejections_enforced_consecutive_5xx: 1$/m);
      const before = bad.requests;
      for (let i = 0; i < 6; i++) {
        const host = cluster.pick()!;
        assert.equal(await get(cluster, host), 200);
        cluster.reportResult(host, { kind: "response", status: 200 });
      }
      assert.equal(bad.requests, before, "no traffic reaches the ejected host");
      assert.match(store.text(), /^cluster\.two\.upstream_cx_total: [1-9]\d*$/m);
      // base_ejection_time 300 ms, checked every 50 ms.
      clock.advance(250);
      assert.equal(badHost.ejected, true, "still ejected before base_ejection_time");
      clock.advance(100);
      assert.equal(badHost.ejected, false);
      const seen = new Set<string>();
      for (let i = 0; i < 4; i++) {
        const host = cluster.pick()!;
        await get(cluster, host);
        seen.add(host.address);
      }
      assert.deepEqual([...seen].sort(), ["127.0.80.11", "127.0.80.12"]);
    } finally {
      cluster.close();
    }
  });
});
