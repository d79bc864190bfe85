// The proxy-wide circuit breakers of `--concurrency N` as an algorithm: the primary's lease
// arbiter and the workers' lease books, in one process with the messages delivered asynchronously
// as the IPC relays them (shared-limits-harness.ts). Limits of 1 and 0, chunks, revocation, the
// proxy-wide FIFO pending queue, cancellation, worker death, calm after contention, retry budgets.
// The multi-process version is test/cli/proxy-limits.test.ts.
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import type { Admission, Overflow, PendingRequest, RequestPermit } from "../../../src/proxy/upstream/cluster.js";
import { CALM_MS } from "../../../src/proxy/upstream/lease-arbiter.js";
import { CX, F_IN_PLACE, type IdleConnections, RETRY, RQ } from "../../../src/proxy/upstream/shared-limits.js";
import { SimProxy, staticCluster } from "./shared-limits-harness.js";

/** A worker's HTTP/1.1 pool as the lease sees it: idle connections, and those it closed whose close event is pending. */
class ScriptedPool implements IdleConnections {
  idle = 0;
  closed = 0;
  private pendingCloses = 0;

  idleTo(): number {
    return this.idle;
  }

  closeIdle(n: number): number {
    const k = Math.min(n, this.idle);
    this.idle -= k;
    this.closed += k;
    this.pendingCloses += k;
    return k;
  }

  closing(): number {
    return this.pendingCloses;
  }

  /** A busy connection is closed by the pool (not reusable): its FIN is out, its close event pending. */
  destroying(): void {
    this.pendingCloses++;
  }
}

let sim: SimProxy | undefined;
afterEach(() => {
  sim?.close();
  sim = undefined;
});

function proxy(thresholds: Record<string, unknown>, hosts = 1, workers = 2): SimProxy {
  sim = new SimProxy(staticCluster("cb", hosts, { circuitBreakers: { thresholds: [thresholds] } }), workers);
  return sim;
}

const describe_ = (a: Admission) => (!a.ok ? a.reason : a.pending ? "pending" : "a permit");

function pending(a: Admission): PendingRequest {
  if (!a.ok || !a.pending) assert.fail(`expected a pending admission, got ${describe_(a)}`);
  return a;
}

function permit(a: Admission): RequestPermit {
  if (!a.ok || a.pending) assert.fail(`expected an immediate permit, got ${describe_(a)}`);
  return a;
}

/** The admission's outcome once the primary answered (`undefined`: still waiting). */
async function outcome(s: SimProxy, p: PendingRequest): Promise<RequestPermit | Overflow | undefined> {
  let r: RequestPermit | Overflow | undefined;
  void p.granted.then((x) => (r = x));
  await s.settle();
  return r;
}

describe("proxy-wide circuit breakers (lease arbitration)", () => {
  it("limit 1: the second worker's request waits in the proxy-wide pending queue; FIFO across workers", async () => {
    const s = proxy({ maxConnections: { value: 1 }, maxPendingRequests: { value: 10 }, maxRequests: { value: 1 } });
    const [w1, w2] = s.workers;
    const h1 = w1.cluster.hosts()[0];
    const h2 = w2.cluster.hosts()[0];
    const first = await outcome(s, pending(w1.cluster.acquire(h1)));
    assert.ok(first?.ok, "granted by the primary (the worker had no lease yet)");
    assert.equal(s.stat(w1, "upstream_rq_pending_total"), 0, "not queued: capacity was there");
    // Three more, alternating workers: all queue behind the one in flight, in arrival order.
    const queue: Array<{ p: PendingRequest; who: string }> = [];
    for (const [w, h, who] of [[w2, h2, "w2a"], [w1, h1, "w1b"], [w2, h2, "w2c"]] as const) {
      queue.push({ p: pending(w.cluster.acquire(h)), who });
      await s.settle();
    }
    assert.equal(s.sum("upstream_rq_pending_active"), 3);
    assert.equal(s.sum("upstream_rq_pending_total"), 3);
    assert.equal(s.sum("upstream_cx_overflow"), 3);
    assert.equal(s.primary.arbiter("cb").pending, 3);
    const order: string[] = [];
    for (const q of queue) void q.p.granted.then((g) => g.ok && order.push(q.who));
    let held = first as RequestPermit;
    for (let i = 0; i < 3; i++) {
      held.release();
      await s.settle();
      assert.equal(order.length, i + 1, `one waiter served per freed unit (${order.join(",")})`);
      held = (await queue[i].p.granted) as RequestPermit;
      assert.equal(s.primary.arbiter("cb").leased[RQ], 1, "never more than the limit lent");
    }
    assert.deepEqual(order, ["w2a", "w1b", "w2c"]);
    held.release();
    await s.settle();
    assert.equal(s.sum("upstream_rq_pending_active"), 0);
    assert.equal(s.sum("upstream_rq_active"), 0);
    assert.equal(s.sum("upstream_rq_total"), 4);
  });

  it("max_pending_requests bounds the proxy-wide queue: the next request overflows (503 UO) whichever worker it is on", async () => {
    const s = proxy({ maxConnections: { value: 1 }, maxPendingRequests: { value: 1 } });
    const [w1, w2] = s.workers;
    const p = (await outcome(s, pending(w1.cluster.acquire(w1.cluster.hosts()[0])))) as RequestPermit;
    const q = pending(w2.cluster.acquire(w2.cluster.hosts()[0]));
    await s.settle();
    assert.equal(s.stat(w2, "upstream_rq_pending_active"), 1);
    const r = await outcome(s, pending(w1.cluster.acquire(w1.cluster.hosts()[0])));
    assert.deepEqual(r, { ok: false, reason: "overflow" });
    assert.equal(s.stat(w1, "upstream_rq_pending_overflow"), 1);
    assert.equal(s.stat(w1, "upstream_cx_overflow"), 0, "Envoy counts no connection overflow when the queue is full");
    p.release();
    const g = (await q.granted) as RequestPermit;
    assert.ok(g.ok);
    g.release();
    await s.settle();
  });

  it("limit 0: max_requests 0 refuses everything; max_connections 0 still lets each host have one connection proxy-wide", async () => {
    const s = proxy({ maxRequests: { value: 0 } });
    const [w1, w2] = s.workers;
    assert.deepEqual(await outcome(s, pending(w1.cluster.acquire(w1.cluster.hosts()[0]))), { ok: false, reason: "overflow" });
    assert.deepEqual(await outcome(s, pending(w2.cluster.acquire(w2.cluster.hosts()[0], { multiplexed: true }))), { ok: false, reason: "overflow" });
    assert.equal(s.sum("upstream_rq_pending_overflow"), 2);
    s.close();

    const t = proxy({ maxConnections: { value: 0 } }, 2);
    const [v1, v2] = t.workers;
    const [a1, b1] = v1.cluster.hosts();
    const [a2, b2] = v2.cluster.hosts();
    const pa = await outcome(t, pending(v1.cluster.acquire(a1)));
    assert.ok(pa?.ok, "host a's one connection (Envoy's per-host exception)");
    const qa = pending(v2.cluster.acquire(a2));
    await t.settle();
    assert.equal(t.stat(v2, "upstream_rq_pending_active"), 1, "a second connection to a waits, even on the other worker");
    const pb = await outcome(t, pending(v2.cluster.acquire(b2)));
    assert.ok(pb?.ok, "host b has no busy connection anywhere: it gets one");
    assert.equal(t.sum("upstream_cx_overflow"), 3);
    assert.equal(t.primary.arbiter("cb").leased[CX], 2, "two exceptions over a limit of 0");
    (pa as RequestPermit).release();
    const ga = (await qa.granted) as RequestPermit;
    assert.ok(ga.ok, "a's connection freed: its queued request takes it");
    ga.release();
    (pb as RequestPermit).release();
    await t.settle();
    assert.equal(t.primary.arbiter("cb").leased[CX], 0);
    void b1;
  });

  it("default thresholds lend in chunks: most admissions need no message at all", async () => {
    const s = proxy({});
    const [w1] = s.workers;
    const h = w1.cluster.hosts()[0];
    const first = (await outcome(s, pending(w1.cluster.acquire(h)))) as RequestPermit;
    const a = s.primary.arbiter("cb");
    assert.equal(a.chunk(RQ), 128, "1024 ÷ (4 × 2 workers)");
    assert.equal(a.leased[RQ], 128);
    const before = s.log.length;
    const permits = Array.from({ length: 100 }, () => permit(w1.cluster.acquire(h)));
    await s.settle();
    assert.equal(s.log.length, before, "100 admissions from the lease, no message");
    for (const p of [first, ...permits]) p.release();
    await s.settle();
    assert.equal(a.leased[RQ], 128, "a chunk of spare units stays with the worker");
    assert.equal(s.log.length, before);
  });

  it("revocation: spare units held by one worker go to another once nothing else is left; over the limit is 503", async () => {
    const s = proxy({ maxRequests: { value: 16 } });
    const [w1, w2] = s.workers;
    const h1 = w1.cluster.hosts()[0];
    const h2 = w2.cluster.hosts()[0];
    const a = s.primary.arbiter("cb");
    // w1 takes 4 and gives them back: it keeps spare units (up to two chunks).
    const ones: RequestPermit[] = [];
    for (let i = 0; i < 4; i++) {
      const r = w1.cluster.acquire(h1, { multiplexed: true });
      ones.push(r.ok && r.pending ? ((await outcome(s, r)) as RequestPermit) : permit(r));
    }
    for (const p of ones) p.release();
    await s.settle();
    const spare = a.leased[RQ];
    assert.ok(spare > 0, "w1 keeps spare units");
    // w2 takes all 16: the last ones come from w1's spare, revoked.
    const twos: RequestPermit[] = [];
    for (let i = 0; i < 16; i++) {
      const r = w2.cluster.acquire(h2, { multiplexed: true });
      const g = r.ok && r.pending ? await outcome(s, r) : r;
      assert.ok(g?.ok, `request ${i + 1} of 16 admitted`);
      twos.push(g as RequestPermit);
    }
    assert.equal(a.isContended(RQ), true);
    assert.equal(a.leased[RQ], 16);
    assert.deepEqual(await outcome(s, pending(w1.cluster.acquire(h1, { multiplexed: true }))), { ok: false, reason: "overflow" }, "the 17th, from the worker that gave its units away");
    for (const p of twos) p.release();
    await s.settle();
    assert.equal(a.leased[RQ], 0, "contended: every unit goes back as it is freed");
    // No waiter for CALM_MS: calm again, and a worker keeps chunks.
    s.clock.advance(CALM_MS);
    await s.settle();
    assert.equal(a.isContended(RQ), false);
    const p = (await outcome(s, pending(w2.cluster.acquire(h2, { multiplexed: true })))) as RequestPermit;
    assert.ok(a.leased[RQ] > 1, "a chunk again");
    p.release();
  });

  it("cancelling a queued request frees its place; a grant that crosses the cancel stays as spare lease", async () => {
    const s = proxy({ maxConnections: { value: 1 }, maxRequests: { value: 1 } });
    const [w1, w2] = s.workers;
    const p = (await outcome(s, pending(w1.cluster.acquire(w1.cluster.hosts()[0])))) as RequestPermit;
    const q = pending(w2.cluster.acquire(w2.cluster.hosts()[0]));
    await s.settle();
    q.cancel();
    assert.deepEqual(await q.granted, { ok: false, reason: "cancelled" });
    await s.settle();
    assert.equal(s.stat(w2, "upstream_rq_pending_active"), 0);
    assert.equal(s.stat(w2, "upstream_rq_cancelled"), 1);
    assert.equal(s.primary.arbiter("cb").pending, 0);
    assert.equal(w2.limits.waiting, 0, "every request gets exactly one answer");
    // Cancel while the grant is on its way: the unit is not lost.
    const r = pending(w2.cluster.acquire(w2.cluster.hosts()[0]));
    await s.settle();
    p.release(); // the grant for r leaves the primary…
    r.cancel(); // …while r gives up
    await s.settle();
    assert.equal(s.primary.arbiter("cb").leased[CX] + s.primary.arbiter("cb").leased[RQ], 0, "the crossing grant came back");
    const again = await outcome(s, pending(w1.cluster.acquire(w1.cluster.hosts()[0])));
    assert.ok(again?.ok);
    (again as RequestPermit).release();
    await s.settle();
  });

  it("worker death: what the dead worker held goes back and its queued requests leave the queue", async () => {
    const s = proxy({ maxConnections: { value: 1 }, maxRequests: { value: 1 }, maxPendingRequests: { value: 2 } }, 1, 3);
    const [w1, w2, w3] = s.workers;
    await outcome(s, pending(w1.cluster.acquire(w1.cluster.hosts()[0])));
    pending(w1.cluster.acquire(w1.cluster.hosts()[0])); // queued, dies with w1
    await s.settle();
    const q = pending(w2.cluster.acquire(w2.cluster.hosts()[0]));
    await s.settle();
    assert.equal(s.primary.arbiter("cb").pending, 2);
    s.kill(w1);
    const g = (await q.granted) as RequestPermit;
    assert.ok(g.ok, "w2's queued request gets the dead worker's unit");
    assert.equal(s.primary.arbiter("cb").pending, 0);
    // A new worker starts with no lease.
    const w4 = s.addWorker(4);
    assert.equal(w4.limits.book("cb").lease[RQ], 0);
    const r = pending(w3.cluster.acquire(w3.cluster.hosts()[0]));
    await s.settle();
    assert.equal(s.stat(w3, "upstream_rq_pending_active"), 1);
    g.release();
    assert.ok(((await r.granted) as RequestPermit).ok);
  });

  it("contended connections: a freed one stays parked — reused in place by its worker, recalled for another's", async () => {
    const s = proxy({ maxConnections: { value: 1 } });
    const [w1, w2] = s.workers;
    const spec = w1.cluster.spec;
    // Each worker's pooled connections, scripted: idle ones per the test, closes reported when the test says.
    const pools = [new ScriptedPool(), new ScriptedPool()];
    const res = [w1, w2].map((w, i) => w.limits.resources(spec, w.cluster.stats, pools[i]));
    const h = w1.cluster.hosts()[0];
    /** One request on worker i from admission to its connection back in the pool (idle). */
    const request = async (i: number, opens: boolean) => {
      const a = res[i].acquire(h);
      const p = a.ok && a.pending ? await outcome(s, a) : a;
      assert.ok(p?.ok, `worker ${i + 1}'s request admitted`);
      if (opens) res[i].connectionOpened(h);
      else pools[i].idle--; // the pool reuses its idle connection
      return () => {
        pools[i].idle++; // the pool takes the connection back before the permit goes
        (p as RequestPermit).release();
      };
    };
    (await request(0, true))();
    await s.settle();
    // w2 needs the only unit: w1's idle connection is closed (revoke) and its unit goes to w2.
    (await request(1, true))();
    await s.settle();
    assert.equal(pools[0].closed, 1);
    res[0].connectionClosed();
    // Contended now: w2's freed connection stays open and parked; w2's next request reuses it in place.
    const yields = () => s.log.filter((x) => x.m.k === "yield").length;
    (await request(1, false))();
    await s.settle();
    assert.equal(pools[1].closed, 0, "reused, not closed");
    assert.equal(yields(), 0);
    assert.equal(w2.limits.book("cb").lease[CX], 1, "in place: the lease did not grow");
    assert.ok(s.log.some((x) => x.m.k === "grant" && (x.m.f & F_IN_PLACE) !== 0), "the primary granted it (FIFO proxy-wide), in place");
    // w1's request: w2's parked connection is recalled — closed there, its unit lent to w1.
    const done = await request(0, true);
    assert.equal(yields(), 1);
    assert.equal(pools[1].closed, 1);
    assert.equal(s.stat(w1, "upstream_rq_pending_total"), 0, "a parked connection is free capacity: no pending request");
    assert.equal(s.primary.arbiter("cb").leased[CX], 1, "never more than max_connections lent");
    done();
    await s.settle();
    for (const r of res) r.close();
  });

  it("a worker that dies before yielding a parked connection: the request waiting for it still gets one", async () => {
    const s = proxy({ maxConnections: { value: 1 } });
    const [w1, w2] = s.workers;
    const pools = [new ScriptedPool(), new ScriptedPool()];
    const res = [w1, w2].map((w, i) => w.limits.resources(w.cluster.spec, w.cluster.stats, pools[i]));
    const h = w1.cluster.hosts()[0];
    const p1 = (await outcome(s, pending(res[0].acquire(h)))) as RequestPermit;
    res[0].connectionOpened(h);
    const q = pending(res[1].acquire(h));
    await s.settle();
    w1.deaf = true; // w1 will not hear the recall
    pools[0].idle++;
    p1.release(); // parked in w1; the primary recalls it for w2's request
    await s.settle();
    assert.equal(s.log.filter((x) => x.m.k === "yield").length, 1);
    s.kill(w1);
    const g = (await q.granted) as RequestPermit;
    assert.ok(g.ok, "the dead worker's unit went to the waiting request");
    g.release();
    res[1].close();
  });

  it("a request gone while its connection grant is on the way leaves nothing counted busy", async () => {
    const s = proxy({ maxConnections: { value: 1 } });
    const [w1, w2] = s.workers;
    const spec = w1.cluster.spec;
    const pools = [new ScriptedPool(), new ScriptedPool()];
    const res = [w1, w2].map((w, i) => w.limits.resources(spec, w.cluster.stats, pools[i]));
    const h = w1.cluster.hosts()[0];
    const p1 = (await outcome(s, pending(res[0].acquire(h)))) as RequestPermit;
    res[0].connectionOpened(h);
    const q = pending(res[1].acquire(h));
    await s.settle();
    assert.equal(s.stat(w2, "upstream_rq_pending_active"), 1);
    // w1's request ends and its connection closes (not reusable): the unit goes straight to w2's
    // queued request — which is cancelled in the same turn, so the grant crosses the cancel.
    pools[0].destroying();
    p1.release();
    q.cancel();
    await s.settle();
    const a = s.primary.arbiter("cb");
    assert.equal(a.hostBusy(h.key), 0, "the crossed grant's slot was reported free");
    assert.equal(a.leased[CX], 0);
    // Both workers keep getting connections.
    for (const r of [res[1], res[0], res[1]]) {
      const p = await outcome(s, pending(r.acquire(h)));
      assert.ok(p?.ok);
      (p as RequestPermit).release();
      await s.settle();
    }
    for (const r of res) r.close();
  });

  it("max_retries is proxy-wide, lent one retry at a time", async () => {
    const s = proxy({ maxRetries: { value: 2 } });
    const [w1, w2] = s.workers;
    const ask = async (w: typeof w1) => {
      const r = w.cluster.acquireRetry();
      await s.settle();
      return r;
    };
    assert.equal(await ask(w1), true);
    assert.equal(await ask(w2), true);
    assert.equal(await ask(w1), false);
    assert.equal(s.stat(w1, "upstream_rq_retry_overflow"), 1);
    assert.equal(s.primary.arbiter("cb").leased[RETRY], 2);
    w2.cluster.releaseRetry();
    await s.settle();
    assert.equal(s.primary.arbiter("cb").leased[RETRY], 1, "a retry goes back as soon as it is sent");
    assert.equal(await ask(w1), true);
    w1.cluster.releaseRetry();
    w1.cluster.releaseRetry();
    await s.settle();
    assert.equal(s.primary.arbiter("cb").leased[RETRY], 0);
  });

  it("an overflow is decided only once the units freed before it are in (no 503 for a unit on its way)", async () => {
    const s = proxy({ maxRetries: { value: 1 } });
    const [w1, w2] = s.workers;
    const first = w1.cluster.acquireRetry();
    await s.settle();
    assert.equal(await first, true);
    // w2 asks, and in the same moment w1's retry is sent (its unit freed): w2's question reaches the
    // primary first, w1's return right after. One process would have seen the release first.
    const second = w2.cluster.acquireRetry();
    w1.cluster.releaseRetry();
    await s.settle();
    assert.equal(await second, true, "granted once w1's answer confirmed what it freed");
    assert.equal(s.sum("upstream_rq_retry_overflow"), 0);
    assert.equal(s.log.filter((x) => x.m.k === "revoke").length, 1, "one round of answers");
    w2.cluster.releaseRetry();
    await s.settle();
  });

  it("retry_budget counts active + pending requests proxy-wide", async () => {
    // 50% of active + pending, at least 0: one worker's 4 active requests allow another worker 2 retries.
    const s = proxy({ retryBudget: { budgetPercent: { value: 50 }, minRetryConcurrency: { value: 0 } } });
    const [w1, w2] = s.workers;
    const h = w1.cluster.hosts()[0];
    const held: RequestPermit[] = [];
    for (let i = 0; i < 4; i++) {
      const r = w1.cluster.acquire(h, { multiplexed: true });
      held.push(r.ok && r.pending ? ((await outcome(s, r)) as RequestPermit) : permit(r));
    }
    // The worker reports its count periodically (here every 1 ms).
    for (let i = 0; i < 50 && s.log.filter((x) => x.m.k === "use" && x.m.n === 4).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    await s.settle();
    const ask = async () => {
      const r = w2.cluster.acquireRetry();
      await s.settle();
      return r;
    };
    assert.equal(await ask(), true);
    assert.equal(await ask(), true);
    assert.equal(await ask(), false, "2 of 4 × 50%");
    assert.equal(s.stat(w2, "upstream_rq_retry_overflow"), 1);
    for (const p of held) p.release();
    w2.cluster.releaseRetry();
    w2.cluster.releaseRetry();
    await s.settle();
  });
});
