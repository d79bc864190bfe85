// Push queue: merging, bounded concurrency, and a server with many connections and a small bound.
import assert from "node:assert/strict";
import { test } from "node:test";
import { mergePushRequests } from "../../../src/xds/server/ads.js";
import { PushQueue } from "../../../src/xds/server/push-queue.js";
import type { PushRequest } from "../../../src/xds/server/types.js";
import { cla, cluster, CLUSTER_TYPE, ENDPOINT_TYPE, fullPush, Harness, sleep, snapshot } from "./helpers.js";

const req = (p: Partial<PushRequest>): PushRequest => ({ full: false, reasons: [], start: 100, context: undefined, ...p });

test("mergePushRequests: full OR full, eds union (undefined = all), reasons concatenated, start = min, newer context", () => {
  const a = req({ edsUpdates: new Set(["x"]), reasons: ["endpoint"], start: 50, context: "old" });
  const b = req({ edsUpdates: new Set(["y"]), reasons: ["endpoint"], start: 70, context: "new" });
  const m = mergePushRequests(a, b);
  assert.equal(m.full, false);
  assert.deepEqual([...(m.edsUpdates ?? [])].sort(), ["x", "y"]);
  assert.deepEqual(m.reasons, ["endpoint", "endpoint"]);
  assert.equal(m.start, 50);
  assert.equal(m.context, "new");
  const f = mergePushRequests(a, req({ full: true, reasons: ["config"], start: 10 }));
  assert.equal(f.full, true);
  assert.equal(f.edsUpdates, undefined);
  assert.equal(f.start, 10);
  assert.equal(mergePushRequests(req({ edsUpdates: new Set(["x"]) }), req({})).edsUpdates, undefined);
});

test("mergePushRequests: the configs behind both sides count, an endpoints-only side's too; unknown on either side stays unknown", () => {
  const eds = req({ configKinds: new Set(["WorkloadEntry"]), configsUpdated: new Set(["WorkloadEntry/vms/a"]) });
  const secret = req({ full: true, configKinds: new Set(["Secret"]), configsUpdated: new Set(["Secret/istio-system/x"]) });
  const m = mergePushRequests(eds, secret);
  assert.equal(m.full, true);
  // A full push that named only Secret must not let EDS skip the endpoint change merged into it.
  assert.deepEqual([...(m.configKinds ?? [])].sort(), ["Secret", "WorkloadEntry"]);
  assert.deepEqual([...(m.configsUpdated ?? [])].sort(), ["Secret/istio-system/x", "WorkloadEntry/vms/a"]);
  const unknown = mergePushRequests(secret, req({ full: true, reasons: ["config"] }));
  assert.equal(unknown.configKinds, undefined);
  assert.equal(unknown.configsUpdated, undefined);
});

test("PushQueue: bounded concurrency, one push per key in flight, merges while busy", async () => {
  let active = 0;
  let maxActive = 0;
  const seen: Array<[number, readonly string[]]> = [];
  const q = new PushQueue<number>(async (key, r) => {
    active++;
    maxActive = Math.max(maxActive, active);
    seen.push([key, r.reasons]);
    await sleep(5);
    active--;
  }, 3);
  for (let k = 0; k < 10; k++) q.enqueue(k, req({ reasons: [`a${k}`] }));
  q.enqueue(0, req({ reasons: ["b0"] })); // merges with the pending push of key 0
  await sleep(1);
  q.enqueue(1, req({ reasons: ["c1"] })); // key 1 is in flight: runs again afterwards
  await q.idle();
  assert.equal(maxActive, 3);
  assert.deepEqual(seen.filter(([k]) => k === 0).map(([, r]) => r), [["a0", "b0"]]);
  assert.deepEqual(seen.filter(([k]) => k === 1).map(([, r]) => r), [["a1"], ["c1"]]);
  assert.equal(seen.length, 11);
  q.enqueue(5, req({}));
  q.remove(5);
  await q.idle();
  assert.equal(seen.length, 11);
  q.close();
});

test("server: maxConcurrentPushes=2 with 24 connections still delivers every push", async () => {
  const h = await Harness.start({ maxConcurrentPushes: 2 });
  try {
    h.server.setContext(fullPush(snapshot({ clusters: [cluster("a")], clas: [cla("a", "10.0.0.1")] })));
    const streams = Array.from({ length: 24 }, () => h.sotw());
    for (const s of streams) s.request(CLUSTER_TYPE);
    for (const s of streams) s.ack(await s.next());
    await h.connected(24);
    h.server.push(fullPush(snapshot({ clusters: [cluster("a"), cluster("b")] })));
    for (const s of streams) {
      const r = await s.next();
      assert.deepEqual(r.names.sort(), ["a", "b"]);
    }
    await h.server.idle();
    assert.equal(h.server.metrics.queueTime.count(), 24);
  } finally {
    await h.close();
  }
});

test("server: a connection push waits for a slow reader (backpressure) and holds its concurrency slot", async () => {
  const h = await Harness.start({ maxConcurrentPushes: 1 });
  try {
    const ips = (i: number): string[] => Array.from({ length: 3000 }, (_, k) => `10.${i % 200}.${k >> 8}.${k & 255}`);
    h.server.setContext(fullPush(snapshot({ clas: [cla("a", "10.0.0.1")] })));
    const slow = h.sotw();
    slow.request(ENDPOINT_TYPE, ["a"]);
    await slow.next();
    slow.pause();
    let blocked = false;
    for (let i = 0; i < 200 && !blocked; i++) {
      h.server.push(fullPush(snapshot({ clas: [cla("a", ...ips(i))] })));
      const done = await Promise.race([h.server.idle().then(() => true), sleep(200).then(() => false)]);
      blocked = !done;
    }
    assert.ok(blocked, "the push queue should stay busy while the client does not read");
    slow.resume();
    await h.server.idle();
  } finally {
    await h.close();
  }
});

test("server: an EDS-only push skips connections without an EDS watch", async () => {
  const h = await Harness.start();
  try {
    h.server.setContext(fullPush(snapshot({ clusters: [cluster("a")], clas: [cla("a", "10.0.0.1")] })));
    const cds = h.sotw();
    cds.request(CLUSTER_TYPE);
    cds.ack(await cds.next());
    const eds = h.delta();
    eds.request(ENDPOINT_TYPE, ["a"]);
    eds.ack(await eds.next());
    const before = h.generator.calls.length;
    h.server.push({ full: false, reasons: ["endpoint"], start: Date.now(), context: snapshot({ clas: [cla("a", "10.0.0.2")] }) });
    const r = await eds.next();
    assert.deepEqual(r.resources.map((x) => x.name), ["a"]);
    await h.server.idle();
    await cds.quiet(30);
    assert.deepEqual(
      h.generator.calls.slice(before).map((c) => c.typeUrl),
      [ENDPOINT_TYPE],
    );
  } finally {
    await h.close();
  }
});

test("server: close() ends streams with UNAVAILABLE and leaves no handles", async () => {
  const before = new Set(process.getActiveResourcesInfo().filter((r) => r !== "TTYWrap"));
  const h = await Harness.start();
  try {
    h.server.setContext(fullPush(snapshot({ clusters: [cluster("a")] })));
    const s = h.sotw();
    s.request(CLUSTER_TYPE);
    await s.next();
    const d = h.delta();
    d.request(CLUSTER_TYPE);
    await d.next();
    await h.server.close();
    assert.equal((await s.status).code, 14);
    assert.equal((await d.status).code, 14);
    assert.equal(h.server.connections().length, 0);
    h.server.push(fullPush(snapshot({})));
    await h.server.idle();
  } finally {
    await h.close();
  }
  await sleep(20);
  const after = process.getActiveResourcesInfo().filter((r) => r !== "TTYWrap" && !before.has(r));
  assert.deepEqual(after.filter((r) => r !== "Timeout"), []);
});
