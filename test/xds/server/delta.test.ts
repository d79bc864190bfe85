// Incremental (Delta) ADS over real gRPC: wildcard, subscribe/unsubscribe, removals, reconnects.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { cla, cluster, CLUSTER_TYPE, edsPush, ENDPOINT_TYPE, fullPush, Harness, snapshot } from "./helpers.js";

test("delta: a first request without node is rejected", async () => {
  const h = await Harness.start();
  try {
    const s = h.delta();
    s.request(CLUSTER_TYPE, [], { node: null });
    assert.equal((await s.status).code, grpc.status.INVALID_ARGUMENT);
  } finally {
    await h.close();
  }
});

test("delta: CDS with no names is a wildcard; changes only; deletions in removed_resources", async () => {
  const h = await Harness.start();
  try {
    h.server.setContext(fullPush(snapshot({ clusters: [cluster("a"), cluster("b")] })));
    const s = h.delta();
    s.request(CLUSTER_TYPE);
    const r1 = await s.next();
    assert.deepEqual(r1.resources.map((r) => r.name).sort(), ["a", "b"]);
    assert.deepEqual(r1.removed, []);
    assert.ok(r1.systemVersionInfo);
    assert.ok(r1.resources.every((r) => r.version.length > 0));
    s.ack(r1);
    await s.quiet();
    assert.equal(h.server.connections()[0].types[0].ackedNonce, r1.nonce);

    // a changes, b is deleted, c is added.
    h.server.push(fullPush(snapshot({ clusters: [cluster("a", 3), cluster("c")] })));
    const r2 = await s.next();
    assert.deepEqual(r2.resources.map((r) => r.name).sort(), ["a", "c"]);
    assert.deepEqual(r2.removed, ["b"]);
    s.ack(r2);

    // Nothing changed: nothing sent.
    h.server.push(fullPush(snapshot({ clusters: [cluster("a", 3), cluster("c")] })));
    await h.server.idle();
    await s.quiet();
  } finally {
    await h.close();
  }
});

test("delta: EDS with no names subscribes to nothing; an initial request is still answered", async () => {
  const h = await Harness.start();
  try {
    h.server.setContext(fullPush(snapshot({ clas: [cla("a", "10.0.0.1")] })));
    const s = h.delta();
    s.request(ENDPOINT_TYPE);
    const r = await s.next();
    assert.deepEqual(r.resources, []);
    assert.deepEqual(r.removed, []);
    assert.equal(h.server.connections()[0].types[0].wildcard, false);
  } finally {
    await h.close();
  }
});

test("delta: subscribe, unknown names reported removed then delivered, unsubscribe", async () => {
  const h = await Harness.start();
  try {
    h.server.setContext(fullPush(snapshot({ clas: [cla("a", "10.0.0.1"), cla("b", "10.0.0.2")] })));
    const s = h.delta();
    s.request(ENDPOINT_TYPE, ["a", "z"]);
    const r1 = await s.next();
    assert.deepEqual(r1.resources.map((r) => r.name), ["a"]);
    assert.deepEqual(r1.removed, ["z"]);
    s.ack(r1);

    // Subscribe to b alongside the ACK: only b is sent.
    s.ack(r1, { resourceNamesSubscribe: ["b"] });
    const r2 = await s.next();
    assert.deepEqual(r2.resources.map((r) => r.name), ["b"]);
    assert.deepEqual(r2.removed, []);
    s.ack(r2);

    // z appears; a unchanged: only z.
    h.server.push(fullPush(snapshot({ clas: [cla("a", "10.0.0.1"), cla("b", "10.0.0.2"), cla("z", "10.0.0.26")] })));
    const r3 = await s.next();
    assert.deepEqual(r3.resources.map((r) => r.name), ["z"]);
    s.ack(r3);

    // Unsubscribe b: b changes are no longer sent; a's are.
    s.send({ typeUrl: ENDPOINT_TYPE, resourceNamesUnsubscribe: ["b"] });
    await s.quiet(50);
    h.server.push(edsPush(snapshot({ clas: [cla("a", "10.0.0.9"), cla("b", "10.0.0.8"), cla("z", "10.0.0.26")] })));
    const r4 = await s.next();
    assert.deepEqual(r4.resources.map((r) => r.name), ["a"]);
    assert.deepEqual(r4.removed, []);
    s.ack(r4);

    // z deleted on a full push: removed_resources.
    h.server.push(fullPush(snapshot({ clas: [cla("a", "10.0.0.9")] })));
    const r5 = await s.next();
    assert.deepEqual(r5.resources, []);
    assert.deepEqual(r5.removed, ["z"]);
    s.ack(r5);
    // Not reported again.
    h.server.push(fullPush(snapshot({ clas: [cla("a", "10.0.0.9")] })));
    await h.server.idle();
    await s.quiet();
  } finally {
    await h.close();
  }
});

test("delta: reconnect with initial_resource_versions sends only what differs and removes what is gone", async () => {
  const h = await Harness.start();
  try {
    h.server.setContext(fullPush(snapshot({ clusters: [cluster("a"), cluster("b")] })));
    const s1 = h.delta("router~10.0.0.1~gw.istio-system~istio-system.svc.cluster.local");
    s1.request(CLUSTER_TYPE);
    const r1 = await s1.next();
    const versions = Object.fromEntries(r1.resources.map((r) => [r.name, r.version]));
    s1.ack(r1);
    s1.close();
    await h.connected(0);

    // While away: a unchanged, b changed, c added; the client also remembers a deleted d.
    h.server.setContext(fullPush(snapshot({ clusters: [cluster("a"), cluster("b", 9), cluster("c")] })));
    const s2 = h.delta("router~10.0.0.1~gw.istio-system~istio-system.svc.cluster.local");
    s2.request(CLUSTER_TYPE, ["*"], { initialResourceVersions: { ...versions, d: "old" } });
    const r2 = await s2.next();
    assert.deepEqual(r2.resources.map((r) => r.name).sort(), ["b", "c"]);
    assert.deepEqual(r2.removed, ["d"]);
    assert.equal(h.server.connections()[0].types[0].wildcard, true);
  } finally {
    await h.close();
  }
});

test("delta: subscription changes count even with a stale nonce; NACKs are recorded", async () => {
  const h = await Harness.start();
  try {
    h.server.setContext(fullPush(snapshot({ clas: [cla("a", "10.0.0.1"), cla("b", "10.0.0.2")] })));
    const s = h.delta();
    s.request(ENDPOINT_TYPE, ["a"]);
    const r1 = await s.next();
    h.server.push(fullPush(snapshot({ clas: [cla("a", "10.0.0.5"), cla("b", "10.0.0.2")] })));
    const r2 = await s.next();
    // Stale nonce (r1) carrying a subscription: honoured.
    s.send({ typeUrl: ENDPOINT_TYPE, responseNonce: r1.nonce, resourceNamesSubscribe: ["b"] });
    const r3 = await s.next();
    assert.deepEqual(r3.resources.map((r) => r.name), ["b"]);
    assert.equal(h.server.metrics.expiredNonce.get({ type: "eds" }), 1);
    // r2 is stale now too; NACK the latest.
    s.send({ typeUrl: ENDPOINT_TYPE, responseNonce: r3.nonce, errorDetail: { code: 3, message: "bad endpoint" } });
    await s.quiet();
    const st = h.server.connections()[0].types[0];
    assert.equal(st.nack?.message, "bad endpoint");
    assert.equal(st.nack?.nonce, r3.nonce);
    assert.equal(h.server.metrics.rejects.get({ type: "eds" }), 1);
    assert.ok(r2.nonce !== r3.nonce);
  } finally {
    await h.close();
  }
});
