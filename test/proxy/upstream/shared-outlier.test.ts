// Outlier detection for the proxy as a whole (`--concurrency N`): the primary's one detector per
// cluster over every worker's results, ejections applied in every worker, successes sent only when
// they can change a host's state, success-rate counts collected at the interval. In one process
// with the messages delivered asynchronously as the IPC relays them (shared-limits-harness.ts).
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { SimProxy, staticCluster } from "./shared-limits-harness.js";

let sim: SimProxy | undefined;
afterEach(() => {
  sim?.close();
  sim = undefined;
});

function proxy(od: ProtoObject, hosts: number, workers = 2): SimProxy {
  sim = new SimProxy(staticCluster("od", hosts, { outlierDetection: od }), workers);
  return sim;
}

/** Outlier messages workers sent (results and counts). */
const events = (s: SimProxy) => s.log.filter((x) => x.to === "primary" && x.m.k === "od").flatMap((x) => (x.m as { ev: unknown[] }).ev.length / 2);

describe("proxy-wide outlier detection", () => {
  it("consecutive 5xx from several workers eject a host once, in every worker", async () => {
    const s = proxy({ consecutive_5xx: { value: 3 }, maxEjectionPercent: { value: 50 }, interval: { seconds: 60 } }, 2);
    const [w1, w2] = s.workers;
    const bad = (w: typeof w1) => w.cluster.hosts()[0];
    w1.cluster.reportResponse(bad(w1), 503);
    w2.cluster.reportResponse(bad(w2), 503);
    await s.settle();
    assert.equal(bad(w1).ejected, false, "2 of 3");
    w1.cluster.reportResponse(bad(w1), 503);
    await s.settle();
    const [p] = s.primaryCluster.hosts();
    assert.equal(p.ejected, true, "the primary's detector counted the workers' results together");
    assert.equal(bad(w1).ejected, true);
    assert.equal(bad(w2).ejected, true, "every worker applies the ejection");
    assert.equal(s.stat("primary", "outlier_detection.ejections_enforced_total"), 1);
    assert.equal(s.sum("outlier_detection.ejections_enforced_total"), 0, "workers run no detector of their own");
    // Failures for an ejected host are not sent (un-ejection resets the counters anyway).
    const before = events(s).reduce((a, b) => a + b, 0);
    for (let i = 0; i < 10; i++) w2.cluster.reportResponse(bad(w2), 503);
    await s.settle();
    assert.equal(events(s).reduce((a, b) => a + b, 0), before);
  });

  it("a success in another worker resets the consecutive counter; successes are sent only for suspect hosts", async () => {
    const s = proxy({ consecutive_5xx: { value: 3 }, maxEjectionPercent: { value: 100 }, interval: { seconds: 60 } }, 1);
    const [w1, w2] = s.workers;
    const h1 = w1.cluster.hosts()[0];
    const h2 = w2.cluster.hosts()[0];
    for (let i = 0; i < 100; i++) w2.cluster.reportResponse(h2, 200);
    await s.settle();
    assert.equal(events(s).length, 0, "successes of a healthy host stay in the worker");
    w1.cluster.reportResponse(h1, 503);
    w1.cluster.reportResponse(h1, 503);
    await s.settle();
    // w2 heard that the host is suspect: its next success goes to the primary, and only that one.
    w2.cluster.reportResponse(h2, 200);
    w2.cluster.reportResponse(h2, 200);
    await s.settle();
    assert.deepEqual(
      s.log.filter((x) => x.to === "primary" && x.m.k === "od").map((x) => (x.m as { ev: unknown[] }).ev),
      [[h1.key, 503, h1.key, 503], [h2.key, 200]],
    );
    w1.cluster.reportResponse(h1, 503);
    w1.cluster.reportResponse(h1, 503);
    await s.settle();
    assert.equal(s.primaryCluster.hosts()[0].ejected, false, "503 503 200 503 503: never 3 in a row proxy-wide");
    w1.cluster.reportResponse(h1, 503);
    await s.settle();
    assert.equal(h2.ejected, true);
  });

  it("local-origin failures count as 503/504, or apart with split_external_local_origin_errors", async () => {
    const s = proxy({ consecutive_5xx: { value: 2 }, consecutiveLocalOriginFailure: { value: 2 }, splitExternalLocalOriginErrors: true, maxEjectionPercent: { value: 100 }, interval: { seconds: 60 } }, 1);
    const [w1, w2] = s.workers;
    w1.cluster.reportResult(w1.cluster.hosts()[0], { kind: "connect-failure" });
    w2.cluster.reportResult(w2.cluster.hosts()[0], { kind: "timeout" });
    await s.settle();
    assert.equal(s.primaryCluster.hosts()[0].ejected, true);
    assert.equal(s.stat("primary", "outlier_detection.ejections_enforced_consecutive_local_origin_failure"), 1);
  });

  it("success rate: the workers' counts are collected when the interval is due", async () => {
    const s = proxy({ successRateMinimumHosts: { value: 3 }, successRateRequestVolume: { value: 10 }, successRateStdevFactor: { value: 1000 }, maxEjectionPercent: { value: 40 }, consecutive_5xx: { value: 1000 }, interval: { seconds: 10 } }, 3);
    const [w1, w2] = s.workers;
    // Each worker alone sees 6 results per host: under the volume of 10. Together, 12.
    for (const w of [w1, w2]) {
      const [a, b, c] = w.cluster.hosts();
      for (let i = 0; i < 6; i++) {
        w.cluster.reportResponse(a, 200);
        w.cluster.reportResponse(b, 200);
        w.cluster.reportResponse(c, i < 4 ? 500 : 200);
      }
    }
    await s.settle();
    assert.ok(s.primaryCluster.hosts().every((h) => !h.ejected));
    s.clock.advance(10_000); // the interval: the primary asks each worker for its counts, then runs the pass
    await s.settle();
    const [pa, pb, pc] = s.primaryCluster.hosts();
    assert.equal(pc.ejected, true, "c's success rate (33%) is below the cluster's threshold");
    assert.equal(pa.ejected || pb.ejected, false);
    assert.equal(s.stat("primary", "outlier_detection.ejections_enforced_success_rate"), 1);
    assert.equal(w1.cluster.hosts()[2].ejected, true);
    assert.equal(w2.cluster.hosts()[2].ejected, true);
  });

  it("a worker that starts later is told the current ejections", async () => {
    const s = proxy({ consecutive_5xx: { value: 1 }, maxEjectionPercent: { value: 100 }, interval: { seconds: 60 } }, 2);
    const [w1] = s.workers;
    w1.cluster.reportResponse(w1.cluster.hosts()[1], 503);
    await s.settle();
    const w3 = s.addWorker(3);
    await s.settle();
    assert.deepEqual(
      w3.cluster.hosts().map((h) => h.ejected),
      [false, true],
    );
  });
});
