// Success-rate and failure-percentage ejection (fake clock): Envoy's worked example, the stdev factor,
// request volume and minimum hosts, Istio's detect-only setting, a static `outlier_detection: {}`,
// local-origin vs external success rates, and the gRPC path's mapped statuses.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CLUSTER_TYPE, decodeMessage, encodeMessage } from "../../../src/envoy/protos.js";
import type { Cluster } from "../../../src/envoy/types.js";
import { clusterSpec } from "../../../src/proxy/upstream/cluster.js";
import { grpcToHttpStatus } from "../../../src/core/grpc.js";
import { fixture, type Fixture, R200, R500, R503, report } from "./outlier-helpers.js";

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
