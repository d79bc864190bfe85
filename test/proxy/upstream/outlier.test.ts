// Outlier detection: Envoy's consecutive_5xx / consecutive_gateway_failure / local-origin
// semantics, max_ejection_percent, enforcing percentages, ejection backoff and un-ejection on the
// interval timer (fake clock), state carried across EDS and CDS updates, and a real-socket run
// where one of two backends answers 503 and is ejected from the cluster's load balancer.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CLUSTER_TYPE, decodeMessage, encodeMessage } from "../../../src/envoy/protos.js";
import type { Cluster, ClusterLoadAssignment, OutlierDetection } from "../../../src/envoy/types.js";
import { StatsStore } from "../../../src/proxy/stats.js";
import { clusterSpec, UpstreamCluster } from "../../../src/proxy/upstream/cluster.js";
import type { Host } from "../../../src/proxy/upstream/host.js";
import { grpcToHttpStatus } from "../../../src/core/grpc.js";
import { foreignAny } from "../../helpers/xds.js";
import type { UpstreamOutcome } from "../../../src/proxy/upstream/outlier.js";
import { outlierConfig } from "../../../src/proxy/upstream/outlier-config.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";
import { FakeClock } from "../../helpers/fake-clock.js";
import { Backend } from "../helpers.js";
import { poolGet } from "./pool-get.js";

function cla(name: string, ports: number[], address = "127.0.80.1"): ClusterLoadAssignment {
  return {
    clusterName: name,
    endpoints: [{ lbEndpoints: ports.map((p) => ({ endpoint: { address: { socketAddress: { address, portValue: p } } } })) }],
  };
}

function staticCluster(name: string, ports: number[], od: OutlierDetection | undefined, extra: Cluster = {}): Cluster {
  return { name, type: "STATIC", connectTimeout: { seconds: 1 }, loadAssignment: cla(name, ports), ...(od ? { outlierDetection: od } : {}), ...extra };
}

const R503: UpstreamOutcome = { kind: "response", status: 503 };
const R500: UpstreamOutcome = { kind: "response", status: 500 };
const R200: UpstreamOutcome = { kind: "response", status: 200 };

interface Fixture {
  cluster: UpstreamCluster;
  store: StatsStore;
  clock: FakeClock;
  hosts: Host[];
  stat(name: string): number;
}

function fixture(ports: number[], od: OutlierDetection | undefined, random: () => number = () => 0, extra: Cluster = {}): Fixture {
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

function report(c: UpstreamCluster, h: Host, o: UpstreamOutcome, n = 1): void {
  for (let i = 0; i < n; i++) c.reportResult(h, o);
}

describe("outlierConfig", () => {
  it("applies Envoy's defaults", () => {
    const c = outlierConfig({});
    assert.deepEqual(c, {
      intervalMs: 10_000,
      baseEjectionTimeMs: 30_000,
      maxEjectionTimeMs: 300_000,
      maxEjectionTimeJitterMs: 0,
      maxEjectionPercent: 10,
      alwaysEjectOneHost: false,
      consecutive5xx: 5,
      consecutiveGatewayFailure: 5,
      consecutiveLocalOriginFailure: 5,
      enforcingConsecutive5xx: 100,
      enforcingConsecutiveGatewayFailure: 0,
      enforcingConsecutiveLocalOriginFailure: 100,
      splitExternalLocalOriginErrors: false,
      successRateMinimumHosts: 5,
      successRateRequestVolume: 100,
      successRateStdevFactor: 1900,
      enforcingSuccessRate: 100,
      enforcingLocalOriginSuccessRate: 100,
      failurePercentageThreshold: 85,
      failurePercentageMinimumHosts: 5,
      failurePercentageRequestVolume: 50,
      enforcingFailurePercentage: 0,
      enforcingFailurePercentageLocalOrigin: 0,
    });
    // max_ejection_time defaults to max(300 s, base_ejection_time).
    assert.equal(outlierConfig({ baseEjectionTime: { seconds: 400 } }).maxEjectionTimeMs, 400_000);
  });

  it("reads what Istio emits, decoded as the proxy decodes it (consecutive_5xx keeps its underscore)", () => {
    const bytes = encodeMessage(CLUSTER_TYPE, {
      name: "c",
      outlierDetection: {
        consecutive_5xx: { value: 3 },
        enforcingConsecutive_5xx: { value: 100 },
        interval: { seconds: 2 },
        baseEjectionTime: { seconds: 7 },
        maxEjectionPercent: { value: 50 },
        enforcingSuccessRate: { value: 0 },
        consecutiveGatewayFailure: { value: 4 },
        enforcingConsecutiveGatewayFailure: { value: 100 },
        splitExternalLocalOriginErrors: true,
        consecutiveLocalOriginFailure: { value: 2 },
      },
    });
    const decoded = decodeMessage(CLUSTER_TYPE, bytes) as Cluster;
    const c = clusterSpec({ ...decoded, type: "STATIC" }).outlier!;
    assert.equal(c.consecutive5xx, 3);
    assert.equal(c.enforcingConsecutive5xx, 100);
    assert.equal(c.intervalMs, 2000);
    assert.equal(c.baseEjectionTimeMs, 7000);
    assert.equal(c.maxEjectionPercent, 50);
    assert.equal(c.consecutiveGatewayFailure, 4);
    assert.equal(c.enforcingConsecutiveGatewayFailure, 100);
    assert.equal(c.splitExternalLocalOriginErrors, true);
    assert.equal(c.consecutiveLocalOriginFailure, 2);
  });

  const bad: Array<[string, OutlierDetection, RegExp]> = [
    ["max below base", { baseEjectionTime: { seconds: 60 }, maxEjectionTime: { seconds: 30 } }, /maxEjectionTime: outlier detector's max_ejection_time cannot be smaller than base_ejection_time/],
    ["zero interval", { interval: {} }, /interval: value must be greater than 0s/],
    ["percent over 100", { maxEjectionPercent: { value: 101 } }, /maxEjectionPercent: value must be less than or equal to 100/],
    ["enforcing over 100", { enforcingConsecutive_5xx: { value: 200 } }, /enforcingConsecutive_5xx: value must be less than or equal to 100/],
    ["an outlier monitor (extension)", { monitors: [{ name: "envoy.outlier_detection_monitors.consecutive_errors", typedConfig: foreignAny("type.googleapis.com/x.Monitor") }] }, /monitors\[0\]\.typedConfig: Didn't find a registered implementation/],
    ["un-ejection by active health checks", { successfulActiveHealthCheckUnejectHost: { value: true } }, /successfulActiveHealthCheckUnejectHost: active health checks are not implemented/],
  ];
  for (const [name, od, re] of bad) {
    it(`rejects ${name} with a field path`, () => {
      assert.throws(
        () => clusterSpec(staticCluster("bad", [8080], od)),
        (e: unknown) => e instanceof XdsConfigError && /^cluster bad: outlierDetection\./.test(e.message) && re.test(e.message),
      );
    });
  }

  it("maps gRPC statuses to HTTP as Envoy does", () => {
    assert.deepEqual([0, 1, 4, 8, 12, 13, 14, 16].map(grpcToHttpStatus), [200, 499, 504, 429, 501, 500, 503, 401]);
  });
});

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

describe("success-rate and failure-percentage ejection (fake clock)", () => {
  const PORTS = [8001, 8002, 8003, 8004, 8005];
  /** `rates[i]` percent successes out of `volume` results for host i (failures are 503s). */
  function feed(f: Fixture, rates: number[], volume: number): void {
    rates.forEach((rate, i) => {
      const ok = Math.round((rate * volume) / 100);
      report(f.cluster, f.hosts[i], R200, ok);
      report(f.cluster, f.hosts[i], R503, volume - ok);
    });
  }
  // consecutive_5xx high enough never to fire here.
  const base = { interval: { seconds: 1 }, consecutive_5xx: { value: 1000 }, maxEjectionPercent: { value: 100 } };

  it("Envoy's example: rates {50,100,100,100,100} → mean 90, stdev 20, threshold 52 (stdev factor 1.9): the 50% host is ejected", () => {
    const f = fixture(PORTS, base);
    const od = f.cluster.outlier!;
    feed(f, [50, 100, 100, 100, 100], 100);
    assert.equal(f.hosts[0].ejected, false, "nothing happens before the interval");
    f.clock.advance(1000);
    assert.equal(f.hosts[0].ejected, true);
    assert.deepEqual(f.hosts.slice(1).map((h) => h.ejected), [false, false, false, false]);
    assert.equal(od.externalSuccessRate.average, 90);
    assert.ok(Math.abs(od.externalSuccessRate.ejectionThreshold - 52) < 1e-9);
    assert.equal(od.monitor(f.hosts[0])!.external.rate, 50);
    assert.equal(od.monitor(f.hosts[1])!.external.rate, 100);
    assert.equal(f.stat("outlier_detection.ejections_detected_success_rate"), 1);
    assert.equal(f.stat("outlier_detection.ejections_enforced_success_rate"), 1);
    assert.equal(f.stat("outlier_detection.ejections_enforced_total"), 1);
    assert.equal(f.stat("outlier_detection.ejections_success_rate"), 1);
    assert.equal(f.stat("outlier_detection.ejections_total"), 1);
    assert.equal(f.stat("outlier_detection.ejections_active"), 1);
    // The next interval has no results: rates go back to -1, nothing more is ejected, and the
    // ejected host is skipped by the pass.
    f.clock.advance(1000);
    assert.equal(od.externalSuccessRate.average, -1);
    assert.equal(od.monitor(f.hosts[1])!.external.rate, -1);
    assert.equal(f.stat("outlier_detection.ejections_detected_success_rate"), 1);
    f.cluster.close();
  });

  it("the stdev factor and the request volume decide; fewer than success_rate_minimum_hosts samples: nothing", () => {
    // Factor 1.0: threshold = 90 − 20 = 70; the 80% host (rates {50,80,100,100,100}: mean 86,
    // stdev ~19.6, threshold ~66.4) stays, the 50% one goes.
    const f = fixture(PORTS, { ...base, successRateStdevFactor: { value: 1000 } });
    feed(f, [50, 80, 100, 100, 100], 100);
    f.clock.advance(1000);
    assert.deepEqual(f.hosts.map((h) => h.ejected), [true, false, false, false, false]);
    f.cluster.close();

    // 99 results on one host: only 4 samples < 5 minimum hosts → no pass at all.
    const g = fixture(PORTS, base);
    feed(g, [50, 100, 100, 100], 100);
    report(g.cluster, g.hosts[4], R200, 99);
    g.clock.advance(1000);
    assert.equal(g.cluster.outlier!.externalSuccessRate.average, -1);
    assert.equal(g.hosts[0].ejected, false);
    assert.equal(g.cluster.outlier!.monitor(g.hosts[4])!.external.rate, 100, "a host's rate shows from min(request volumes) results");
    assert.equal(g.stat("outlier_detection.ejections_detected_success_rate"), 0);
    g.cluster.close();

    // success_rate_minimum_hosts 3 and request volume 10: small clusters can be checked.
    const h = fixture(PORTS.slice(0, 3), { ...base, successRateMinimumHosts: { value: 3 }, successRateRequestVolume: { value: 10 }, successRateStdevFactor: { value: 1000 } });
    feed(h, [0, 100, 100], 10);
    h.clock.advance(1000);
    assert.deepEqual(h.hosts.map((x) => x.ejected), [true, false, false]);
    h.cluster.close();
  });

  it("Istio's outlier detection (enforcing_success_rate 0): detected, never ejected — traffic as before", () => {
    const bytes = encodeMessage(CLUSTER_TYPE, {
      name: "c",
      outlierDetection: { consecutive_5xx: { value: 1000 }, enforcingConsecutive_5xx: { value: 100 }, interval: { seconds: 1 }, maxEjectionPercent: { value: 100 }, enforcingSuccessRate: { value: 0 } },
    });
    const decoded = decodeMessage(CLUSTER_TYPE, bytes) as Cluster;
    const od = decoded.outlierDetection;
    assert.equal(clusterSpec({ ...decoded, type: "STATIC" }).outlier!.enforcingSuccessRate, 0);
    const f = fixture(PORTS, od);
    feed(f, [0, 100, 100, 100, 100], 100);
    f.clock.advance(1000);
    assert.deepEqual(f.hosts.map((h) => h.ejected), [false, false, false, false, false]);
    assert.equal(f.stat("outlier_detection.ejections_detected_success_rate"), 1);
    assert.equal(f.stat("outlier_detection.ejections_enforced_success_rate"), 0);
    assert.equal(f.stat("outlier_detection.ejections_active"), 0);
    f.cluster.close();
  });

  it("a static `outlier_detection: {}` gets Envoy's defaults: success-rate ejection on, within max_ejection_percent 10", () => {
    // Ten hosts (one may be ejected under the default 10%), 100 results each over a 10 s interval;
    // host 3 succeeds one time in four (never 5 failures in a row: consecutive_5xx stays quiet).
    const ports = Array.from({ length: 10 }, (_, i) => 8001 + i);
    const f = fixture(ports, {});
    ports.forEach((_, i) => {
      if (i !== 3) return report(f.cluster, f.hosts[i], R200, 100);
      for (let j = 0; j < 25; j++) {
        report(f.cluster, f.hosts[i], R200);
        report(f.cluster, f.hosts[i], R500, 3);
      }
    });
    f.clock.advance(10_000);
    assert.deepEqual(f.hosts.map((h) => h.ejected), ports.map((_, i) => i === 3));
    assert.equal(f.stat("outlier_detection.ejections_enforced_success_rate"), 1);
    assert.equal(f.cluster.outlier!.externalSuccessRate.average, 92.5);
    assert.equal(f.stat("outlier_detection.ejections_detected_failure_percentage"), 0, "75% failures < 85%");
    assert.equal(f.stat("outlier_detection.ejections_active"), 1);
    f.cluster.close();
  });

  it("failure percentage: hosts at or above failure_percentage_threshold, with failure_percentage_request_volume results", () => {
    // Not enforced by default (enforcing_failure_percentage 0): detected only.
    const f = fixture(PORTS, { ...base, enforcingSuccessRate: { value: 0 } });
    feed(f, [10, 15, 16, 100, 100], 100);
    f.clock.advance(1000);
    assert.equal(f.stat("outlier_detection.ejections_detected_failure_percentage"), 2, "90% and 85% failures; 84% is below");
    assert.equal(f.stat("outlier_detection.ejections_enforced_failure_percentage"), 0);
    assert.deepEqual(f.hosts.map((h) => h.ejected), [false, false, false, false, false]);
    f.cluster.close();

    const g = fixture(PORTS, { ...base, enforcingSuccessRate: { value: 0 }, enforcingFailurePercentage: { value: 100 }, failurePercentageThreshold: { value: 50 }, failurePercentageMinimumHosts: { value: 2 } });
    feed(g, [40, 50, 51], 50);
    report(g.cluster, g.hosts[3], R503, 49); // below the request volume: not a sample
    g.clock.advance(1000);
    assert.deepEqual(g.hosts.map((h) => h.ejected), [true, true, false, false, false]);
    assert.equal(g.stat("outlier_detection.ejections_enforced_failure_percentage"), 2);
    assert.equal(g.stat("outlier_detection.ejections_active"), 2);
    g.cluster.close();
  });

  it("split_external_local_origin_errors: connect failures feed the local-origin success rate, HTTP statuses the external one", () => {
    const f = fixture(PORTS, { ...base, splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: { value: 1000 }, enforcingFailurePercentageLocalOrigin: { value: 100 } });
    const od = f.cluster.outlier!;
    f.hosts.forEach((h, i) => {
      // All answer 200 when they answer; host 0 fails to connect half the time.
      report(f.cluster, h, R200, 100);
      if (i === 0) report(f.cluster, h, { kind: "connect-failure" }, 100);
    });
    f.clock.advance(1000);
    assert.equal(od.monitor(f.hosts[0])!.external.rate, 100, "local failures are not external ones with the split");
    assert.equal(od.monitor(f.hosts[0])!.localOrigin.rate, 50);
    assert.equal(f.hosts[0].ejected, true);
    assert.equal(f.stat("outlier_detection.ejections_detected_local_origin_success_rate"), 1);
    assert.equal(f.stat("outlier_detection.ejections_enforced_local_origin_success_rate"), 1);
    assert.equal(f.stat("outlier_detection.ejections_detected_success_rate"), 0);
    assert.ok(od.localOriginSuccessRate.average > 0);
    f.cluster.close();

    // Without the split, the same connect failures are external 503s.
    const g = fixture(PORTS, base);
    g.hosts.forEach((h, i) => {
      report(g.cluster, h, R200, 100);
      if (i === 0) report(g.cluster, h, { kind: "connect-failure" }, 100);
    });
    g.clock.advance(1000);
    assert.equal(g.cluster.outlier!.monitor(g.hosts[0])!.external.rate, 50);
    assert.equal(g.hosts[0].ejected, true);
    assert.equal(g.stat("outlier_detection.ejections_enforced_success_rate"), 1);
    g.cluster.close();
  });

  it("the gRPC path reports mapped statuses without an outcome object (reportHttpStatus)", () => {
    const f = fixture(PORTS, base);
    const od = f.cluster.outlier!;
    for (const h of f.hosts) for (let i = 0; i < 100; i++) od.reportHttpStatus(h, h === f.hosts[2] ? grpcToHttpStatus(14) : 200);
    f.clock.advance(1000);
    assert.deepEqual(f.hosts.map((h) => h.ejected), [false, false, true, false, false]);
    f.cluster.close();
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
