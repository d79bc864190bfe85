// Circuit breakers as Envoy applies them: max_connections (HTTP/1.1: one connection per active
// request, excess waits in the pending queue), max_pending_requests and max_requests (503 UO,
// upstream_rq_pending_overflow), max_retries / retry_budget, the remaining/open gauges with
// track_remaining, connection accounting, and Istio's maxConnections + http1MaxPendingRequests
// scenario against a real backend.
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, it } from "node:test";
import type { Thresholds } from "../../../src/envoy/types.js";
import { StatsStore } from "../../../src/proxy/stats.js";
import { type Admission, clusterSpec, hostStats, type Overflow, type RequestPermit, UpstreamCluster } from "../../../src/proxy/upstream/cluster.js";
import type { Host } from "../../../src/proxy/upstream/host.js";
import { eventually } from "../../helpers/eventually.js";
import { poolGet } from "./pool-get.js";
import { Backend } from "../helpers.js";

function cluster(thresholds: Thresholds | undefined, ports = [8001, 8002], address = "127.0.81.1"): { c: UpstreamCluster; stat(name: string): number | undefined; store: StatsStore } {
  const store = new StatsStore();
  const spec = clusterSpec({
    name: "cb",
    type: "STATIC",
    loadAssignment: { clusterName: "cb", endpoints: [{ lbEndpoints: ports.map((p) => ({ endpoint: { address: { socketAddress: { address, portValue: p } } } })) }] },
    ...(thresholds ? { circuitBreakers: { thresholds: [thresholds] } } : {}),
  });
  const c = new UpstreamCluster(spec, store.tagged("cluster.", "cb"));
  return {
    c,
    store,
    stat: (name) => {
      const m = new RegExp(`^cluster\\.cb\\.${name.replace(/\./g, "\\.")}: (\\d+)$`, "m").exec(store.text());
      return m ? Number(m[1]) : undefined;
    },
  };
}

function permit(a: Admission): RequestPermit {
  assert.ok(a.ok && !a.pending, `expected an immediate permit, got ${JSON.stringify(a)}`);
  return a;
}

describe("circuit breaker thresholds", () => {
  it("default to Envoy's 1024/1024/1024/3 and read Istio's thresholds with track_remaining", () => {
    const d = cluster(undefined);
    assert.deepEqual(d.c.spec.thresholds, { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3, trackRemaining: false });
    assert.equal(d.stat("circuit_breakers.default.cx_open"), 0);
    assert.equal(d.stat("circuit_breakers.default.remaining_cx"), undefined, "remaining_* only with track_remaining");
    const max = 4294967295;
    const i = cluster({ maxConnections: { value: max }, maxPendingRequests: { value: max }, maxRequests: { value: max }, maxRetries: { value: max }, trackRemaining: true });
    assert.deepEqual(i.c.spec.thresholds, { maxConnections: max, maxPendingRequests: max, maxRequests: max, maxRetries: max, trackRemaining: true });
    for (const g of ["remaining_cx", "remaining_pending", "remaining_rq", "remaining_retries"]) assert.equal(i.stat(`circuit_breakers.default.${g}`), max);
    for (const g of ["cx_open", "rq_pending_open", "rq_open", "rq_retry_open"]) assert.equal(i.stat(`circuit_breakers.default.${g}`), 0);
  });

  it("ignores thresholds for the HIGH priority", () => {
    const store = new StatsStore();
    const spec = clusterSpec({ name: "p", type: "STATIC", circuitBreakers: { thresholds: [{ priority: "HIGH", maxRequests: { value: 1 } }, { maxRequests: { value: 7 } }] } });
    assert.equal(spec.thresholds.maxRequests, 7);
    new UpstreamCluster(spec, store.tagged("cluster.", "p")).close();
  });
});

describe("circuit breakers (HTTP/1.1 admission)", () => {
  it("max_connections queues excess requests, max_pending_requests overflows them (503 UO)", async () => {
    const { c, stat } = cluster({ maxConnections: { value: 1 }, maxPendingRequests: { value: 1 }, trackRemaining: true });
    const [a] = c.hosts();
    const p1 = permit(c.acquire(a));
    assert.equal(stat("upstream_rq_active"), 1);
    assert.equal(stat("upstream_rq_total"), 1);
    assert.equal(a.activeRequests, 1);
    const p2 = c.acquire(a);
    assert.ok(p2.ok && p2.pending);
    assert.equal(stat("upstream_cx_overflow"), 1);
    assert.equal(stat("upstream_rq_pending_active"), 1);
    assert.equal(stat("upstream_rq_pending_total"), 1);
    assert.equal(stat("circuit_breakers.default.rq_pending_open"), 1);
    assert.equal(stat("circuit_breakers.default.remaining_pending"), 0);
    const p3 = c.acquire(a);
    assert.deepEqual(p3, { ok: false, reason: "overflow" });
    assert.equal(stat("upstream_rq_pending_overflow"), 1);

    p1.release();
    p1.release(); // idempotent
    const g = await p2.granted;
    assert.ok(g.ok);
    assert.equal(stat("upstream_rq_pending_active"), 0);
    assert.equal(stat("circuit_breakers.default.rq_pending_open"), 0);
    assert.equal(stat("upstream_rq_active"), 1);
    assert.equal(stat("upstream_rq_total"), 2);
    assert.equal(c.activeRequests, 1);
    g.release();
    assert.equal(stat("upstream_rq_active"), 0);
    assert.equal(a.activeRequests, 0);
    permit(c.acquire(a)).release();
    c.close();
  });

  it("a host with no busy connection always gets one (Envoy's per-host pool exception), counting upstream_cx_overflow", () => {
    const { c, stat } = cluster({ maxConnections: { value: 1 } });
    const [a, b] = c.hosts();
    const pa = permit(c.acquire(a));
    const pb = permit(c.acquire(b));
    assert.equal(stat("upstream_cx_overflow"), 1);
    const qa = c.acquire(a);
    assert.ok(qa.ok && qa.pending, "a second request to a busy host waits");
    pb.release();
    assert.equal(c.pendingRequests, 1, "a freed connection of b does not serve a's queue while a is at the limit");
    pa.release();
    assert.equal(c.pendingRequests, 0);
    qa.cancel(); // already granted: releases the permit
    assert.equal(c.activeRequests, 0);
    c.close();
  });

  it("a pending request takes the next free slot of any host once below max_connections", async () => {
    const { c } = cluster({ maxConnections: { value: 2 } });
    const [a, b] = c.hosts();
    const pa = permit(c.acquire(a));
    const pb = permit(c.acquire(b));
    const qb = c.acquire(b);
    assert.ok(qb.ok && qb.pending);
    pa.release(); // nothing waits for a: the slot frees, and b's queued request opens a new connection
    const g = await qb.granted;
    assert.ok(g.ok);
    assert.equal(g.host, b);
    assert.equal(b.activeRequests, 2);
    // Over the limit through the per-host exception, a freed slot is not handed on.
    const pa2 = permit(c.acquire(a));
    const qa = c.acquire(a);
    assert.ok(qa.ok && qa.pending);
    pb.release(); // 3 busy → 2: still at max_connections
    assert.equal(c.pendingRequests, 1);
    g.release(); // 2 → 1: a's queued request gets a second connection
    assert.equal(c.pendingRequests, 0);
    const ga = await qa.granted;
    assert.ok(ga.ok);
    assert.equal(a.activeRequests, 2);
    pa2.release();
    qa.cancel(); // already granted: releases ga
    assert.equal(c.activeRequests, 0);
    c.close();
  });

  it("max_requests overflows immediately with upstream_rq_pending_overflow (Envoy's counter for both)", () => {
    const { c, stat } = cluster({ maxRequests: { value: 1 }, trackRemaining: true });
    const [a, b] = c.hosts();
    const p = permit(c.acquire(a));
    assert.equal(stat("circuit_breakers.default.rq_open"), 1);
    assert.equal(stat("circuit_breakers.default.remaining_rq"), 0);
    assert.deepEqual(c.acquire(b), { ok: false, reason: "overflow" });
    assert.deepEqual(c.acquire(b, { multiplexed: true }), { ok: false, reason: "overflow" });
    assert.equal(stat("upstream_rq_pending_overflow"), 2);
    p.release();
    assert.equal(stat("circuit_breakers.default.rq_open"), 0);
    assert.equal(stat("circuit_breakers.default.remaining_rq"), 1);
    permit(c.acquire(b, { multiplexed: true })).release();
    c.close();
  });

  it("multiplexed (HTTP/2) requests need no connection slot", () => {
    const { c } = cluster({ maxConnections: { value: 1 }, maxPendingRequests: { value: 0 } });
    const [a] = c.hosts();
    const ps = [1, 2, 3].map(() => permit(c.acquire(a, { multiplexed: true })));
    assert.equal(a.activeRequests, 3);
    for (const p of ps) p.release();
    c.close();
  });

  it("cancelling a pending request (route timeout, downstream gone) leaves the queue", async () => {
    const { c, stat } = cluster({ maxConnections: { value: 1 } });
    const [a] = c.hosts();
    const p = permit(c.acquire(a));
    const q = c.acquire(a);
    assert.ok(q.ok && q.pending);
    q.cancel();
    const r: RequestPermit | Overflow = await q.granted;
    assert.deepEqual(r, { ok: false, reason: "cancelled" });
    assert.equal(stat("upstream_rq_pending_active"), 0);
    assert.equal(stat("upstream_rq_cancelled"), 1);
    p.release();
    assert.equal(c.activeRequests, 0);
    c.close();
  });

});

describe("retry and connection circuit breakers", () => {
  it("max_retries bounds concurrent retries (upstream_rq_retry_overflow)", () => {
    const { c, stat } = cluster({ maxRetries: { value: 2 }, trackRemaining: true });
    assert.equal(c.acquireRetry(), true);
    assert.equal(c.acquireRetry(), true);
    assert.equal(stat("circuit_breakers.default.rq_retry_open"), 1);
    assert.equal(stat("circuit_breakers.default.remaining_retries"), 0);
    assert.equal(c.acquireRetry(), false);
    assert.equal(stat("upstream_rq_retry_overflow"), 1);
    c.releaseRetry();
    assert.equal(c.acquireRetry(), true);
    c.releaseRetry();
    c.releaseRetry();
    assert.equal(c.activeRetries, 0);
    c.close();
  });

  it("retry_budget: budget_percent of active + pending requests, at least min_retry_concurrency", () => {
    const { c } = cluster({ maxRetries: { value: 100 }, retryBudget: { budgetPercent: { value: 50 }, minRetryConcurrency: { value: 1 } } });
    const [a] = c.hosts();
    assert.equal(c.breakers!.retries.max, 1);
    const ps = [1, 2, 3, 4].map(() => permit(c.acquire(a)));
    assert.equal(c.breakers!.retries.max, 2);
    assert.equal(c.acquireRetry(), true);
    assert.equal(c.acquireRetry(), true);
    assert.equal(c.acquireRetry(), false);
    for (const p of ps) p.release();
    c.close();
    // Envoy's defaults: 20% and 3.
    const d = cluster({ retryBudget: {} });
    assert.deepEqual(d.c.spec.thresholds.retryBudget, { budgetPercent: 20, minRetryConcurrency: 3 });
    d.c.close();
  });

  it("connectionOpened/connectionClosed keep upstream_cx_active, cx_open and remaining_cx", () => {
    const { c, stat } = cluster({ maxConnections: { value: 2 }, trackRemaining: true });
    const [a] = c.hosts();
    c.connectionOpened(a);
    assert.equal(c.canCreateConnection(), true);
    c.connectionOpened(a);
    assert.equal(stat("upstream_cx_active"), 2);
    assert.equal(stat("upstream_cx_total"), 2);
    assert.equal(stat("circuit_breakers.default.cx_open"), 1);
    assert.equal(stat("circuit_breakers.default.remaining_cx"), 0);
    assert.equal(hostStats(a).cxTotal, 2);
    assert.equal(c.canCreateConnection(), false);
    assert.equal(stat("upstream_cx_overflow"), 1);
    c.connectionClosed();
    assert.equal(stat("upstream_cx_active"), 1);
    assert.equal(stat("circuit_breakers.default.cx_open"), 0);
    c.connectionClosed();
    c.close();
  });

  it("reportResult keeps per-host request stats (connection failures are the connector's)", () => {
    const { c } = cluster(undefined);
    const [a] = c.hosts();
    c.reportResult(a, { kind: "response", status: 200 });
    c.reportResult(a, { kind: "response", status: 503 });
    c.reportResult(a, { kind: "connect-failure" });
    c.reportResult(a, { kind: "timeout" });
    c.reportResult(a, { kind: "reset" });
    const s = hostStats(a);
    assert.deepEqual({ ok: s.rqSuccess, err: s.rqError, timeout: s.rqTimeout, cf: s.cxConnectFail }, { ok: 1, err: 4, timeout: 1, cf: 0 });
    c.close();
  });
});

describe("circuit breakers with a real backend", () => {
  const ADDR = "127.0.81.10";
  const PORT = 18081;
  let backend: Backend;
  let concurrent = 0;
  let maxConcurrent = 0;
  let server: http.Server;
  before(async () => {
    server = http.createServer((_req, res) => {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      setTimeout(() => {
        concurrent--;
        res.end("ok");
      }, 80);
    });
    await new Promise<void>((r) => server.listen(PORT, ADDR, r));
    backend = await Backend.start("plain", ADDR, PORT + 1);
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await backend.close();
  });

  /** What the router does for one try: admission, the request, release. */
  async function forward(c: UpstreamCluster, host: Host): Promise<number> {
    let a = c.acquire(host);
    if (a.ok && a.pending) a = await a.granted;
    if (!a.ok) return 503; // UO
    // The pool releases the permit when the response is complete, as the router's try does.
    return await poolGet(c, host, a);
  }

  it("Istio's maxConnections: 1 + http1MaxPendingRequests: 1 — one in flight, one queued, the third gets 503 UO", async () => {
    const { c, stat } = cluster({ maxConnections: { value: 1 }, maxPendingRequests: { value: 1 }, maxRequests: { value: 4294967295 } }, [PORT], ADDR);
    const [host] = c.hosts();
    try {
      const statuses = await Promise.all([1, 2, 3].map(() => forward(c, host)));
      assert.deepEqual(statuses.sort(), [200, 200, 503]);
      assert.equal(maxConcurrent, 1, "the backend never saw two requests at once");
      assert.equal(stat("upstream_rq_pending_overflow"), 1);
      assert.equal(stat("upstream_rq_pending_total"), 1);
      assert.equal(stat("upstream_cx_total"), 1, "the queued request reused the keep-alive connection");
      assert.equal(stat("upstream_cx_active"), 1);
      assert.equal(host.activeConnections, 1);
      assert.equal(stat("upstream_rq_active"), 0);
    } finally {
      c.close();
    }
    await eventually("closing the cluster closes its idle connections", () => stat("upstream_cx_active") === 0);
    assert.equal(host.activeConnections, 0);
  });

  it("counts the agent's sockets per cluster (upstream_cx_total / upstream_cx_active)", async () => {
    const { c, stat } = cluster(undefined, [PORT + 1], ADDR);
    const [host] = c.hosts();
    try {
      for (let i = 0; i < 3; i++) assert.equal(await forward(c, host), 200);
      assert.equal(stat("upstream_cx_total"), 1);
      assert.equal(stat("upstream_rq_total"), 3);
      assert.equal(hostStats(host).rqTotal, 3);
      assert.equal(hostStats(host).cxTotal, 1);
    } finally {
      c.close();
    }
  });
});
