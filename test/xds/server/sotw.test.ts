// State-of-the-world ADS over real gRPC: subscriptions, ACK/NACK, nonces, full vs partial pushes.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import {
  cla,
  cluster,
  CLUSTER_TYPE,
  edsPush,
  ENDPOINT_TYPE,
  fullPush,
  Harness,
  listener,
  LISTENER_TYPE,
  route,
  ROUTE_TYPE,
  snapshot,
} from "./helpers.js";

const base = (): ReturnType<typeof snapshot> =>
  snapshot({ clusters: [cluster("a"), cluster("b")], clas: [cla("a", "10.0.0.1"), cla("b", "10.0.0.2")] });

test("sotw: a first request without node is rejected with INVALID_ARGUMENT", async () => {
  const h = await Harness.start();
  try {
    const s = h.sotw();
    s.request(CLUSTER_TYPE, [], { node: null });
    const st = await s.status;
    assert.equal(st.code, grpc.status.INVALID_ARGUMENT);
    assert.match(st.details, /node/);
    assert.equal(h.server.connections().length, 0);
  } finally {
    await h.close();
  }
});

test("sotw: generator connect() failure ends the stream with its message", async () => {
  const h = await Harness.start();
  try {
    const s = h.sotw("reject-me");
    s.request(CLUSTER_TYPE);
    const st = await s.status;
    assert.equal(st.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(st.details, "node reject-me is not welcome");
  } finally {
    await h.close();
  }
});

test("sotw: legacy wildcard CDS gets the full set; ACK sends nothing; deletions are absences", async () => {
  const h = await Harness.start();
  try {
    h.server.setContext(fullPush(base()));
    const s = h.sotw("sidecar~10.0.0.9~x.default~default.svc.cluster.local");
    s.request(CLUSTER_TYPE);
    const r1 = await s.next();
    assert.deepEqual(r1.names.sort(), ["a", "b"]);
    assert.equal(r1.typeUrl, CLUSTER_TYPE);
    assert.ok(r1.nonce && r1.versionInfo);
    s.ack(r1);
    await s.quiet();

    const st = h.server.connection("sidecar~10.0.0.9~x.default~default.svc.cluster.local");
    assert.ok(st);
    assert.equal(st.protocol, "sotw");
    const cds = st.types.find((t) => t.typeUrl === CLUSTER_TYPE);
    assert.equal(cds?.wildcard, true);
    assert.equal(cds?.ackedNonce, r1.nonce);
    assert.deepEqual(Object.keys(cds?.resourceVersions ?? {}), ["a", "b"]);

    // Delete b, add c: the full set arrives, without b.
    h.server.push(fullPush(snapshot({ clusters: [cluster("a"), cluster("c")] })));
    const r2 = await s.next();
    assert.deepEqual(r2.names.sort(), ["a", "c"]);
    assert.notEqual(r2.nonce, r1.nonce);
    s.ack(r2);
    await h.server.idle();
    await s.quiet();
  } finally {
    await h.close();
  }
});

test("sotw: explicit '*' wildcard, plus names, gets everything", async () => {
  const h = await Harness.start();
  try {
    h.server.setContext(fullPush(base()));
    const s = h.sotw();
    s.request(CLUSTER_TYPE, ["*", "a"]);
    const r = await s.next();
    assert.deepEqual(r.names.sort(), ["a", "b"]);
    const st = h.server.connections()[0].types[0];
    assert.equal(st.wildcard, true);
    assert.deepEqual(st.names, ["a"]);
  } finally {
    await h.close();
  }
});

test("sotw: named EDS subscription, names added on ACK, unknown names delivered when they appear, unsubscribe", async () => {
  const h = await Harness.start();
  try {
    h.server.setContext(fullPush(base()));
    const s = h.sotw();
    s.request(ENDPOINT_TYPE, ["a"]);
    const r1 = await s.next();
    assert.deepEqual(r1.names, ["a"]);

    // ACK that also asks for b and a not-yet-existing z: the whole requested set comes back.
    s.ack(r1, ["a", "b", "z"]);
    const r2 = await s.next();
    assert.deepEqual(r2.names.sort(), ["a", "b"]);
    s.ack(r2);
    await s.quiet();

    // z appears: it is sent (a and b unchanged, so only z).
    h.server.push(fullPush(snapshot({ clas: [cla("a", "10.0.0.1"), cla("b", "10.0.0.2"), cla("z", "10.0.0.26")] })));
    const r3 = await s.next();
    assert.deepEqual(r3.names, ["z"]);
    s.ack(r3);

    // Empty list after names: unsubscribe from everything (not a wildcard).
    s.ack(r3, []);
    const r4 = await s.next();
    assert.deepEqual(r4.names, []);
    s.ack(r4);
    const st = h.server.connections()[0].types[0];
    assert.equal(st.wildcard, false);
    assert.deepEqual(st.names, []);
    h.server.push(fullPush(snapshot({ clas: [cla("a", "10.9.9.9")] })));
    await h.server.idle();
    await s.quiet();
  } finally {
    await h.close();
  }
});

test("sotw: requests before any snapshot are answered by the first push / setContext", async () => {
  const h = await Harness.start();
  try {
    const s = h.sotw();
    s.request(CLUSTER_TYPE);
    await h.connected(1);
    await s.quiet(50);
    h.server.setContext(fullPush(snapshot({})));
    const r = await s.next();
    assert.deepEqual(r.names, []);
  } finally {
    await h.close();
  }
});

test("sotw: NACK is recorded and counted, the same config is not resent, the next change is delivered", async () => {
  const h = await Harness.start();
  try {
    const nacks: string[] = [];
    h.server.on("nack", (e) => nacks.push(e.message));
    h.server.setContext(fullPush(base()));
    const s = h.sotw();
    s.request(CLUSTER_TYPE);
    const r1 = await s.next();
    s.ack(r1);
    await h.acked(r1.nonce);
    h.server.push(fullPush(snapshot({ clusters: [cluster("a", 5), cluster("b")] })));
    const r2 = await s.next();
    s.nack(r2, "cluster a: bad timeout");
    await s.quiet();

    const st = h.server.connections()[0].types[0];
    assert.equal(st.nack?.message, "cluster a: bad timeout");
    assert.equal(st.nack?.nonce, r2.nonce);
    assert.equal(st.ackedNonce, r1.nonce);
    assert.deepEqual(nacks, ["cluster a: bad timeout"]);
    assert.equal(h.server.metrics.rejects.get({ type: "cds" }), 1);
    assert.match(h.registry.render(), /pilot_total_xds_rejects\{type="cds"\} 1/);

    // Same content again: nothing is resent.
    h.server.push(fullPush(snapshot({ clusters: [cluster("a", 5), cluster("b")] })));
    await h.server.idle();
    await s.quiet();
    // A real change is delivered.
    h.server.push(fullPush(snapshot({ clusters: [cluster("a", 2), cluster("b")] })));
    const r3 = await s.next();
    assert.deepEqual(r3.names.sort(), ["a", "b"]);
    assert.deepEqual(r3.resources.find((r) => r.name === "a")?.connectTimeout, { seconds: 2 });
  } finally {
    await h.close();
  }
});

test("sotw: requests with a stale nonce are ignored and counted", async () => {
  const h = await Harness.start();
  try {
    h.server.setContext(fullPush(base()));
    const s = h.sotw();
    s.request(ENDPOINT_TYPE, ["a"]);
    const r1 = await s.next();
    s.ack(r1, ["a", "b"]);
    const r2 = await s.next();
    // An answer to r1 (stale) asking for more names: ignored.
    s.send({ typeUrl: ENDPOINT_TYPE, versionInfo: r1.versionInfo, responseNonce: r1.nonce, resourceNames: ["a", "b", "z"] });
    await s.quiet();
    assert.equal(h.server.metrics.expiredNonce.get({ type: "eds" }), 1);
    assert.deepEqual(h.server.connections()[0].types[0].names, ["a", "b"]);
    // The current nonce still works.
    s.ack(r2);
    await s.quiet(50);
    assert.equal(h.server.connections()[0].types[0].ackedNonce, r2.nonce);
  } finally {
    await h.close();
  }
});

test("sotw: a nonce from another server on a new watch is treated as an initial request", async () => {
  const h = await Harness.start();
  try {
    h.server.setContext(fullPush(base()));
    const s = h.sotw();
    s.request(CLUSTER_TYPE, [], { responseNonce: "old-server-17", versionInfo: "v-old" });
    const r = await s.next();
    assert.deepEqual(r.names.sort(), ["a", "b"]);
  } finally {
    await h.close();
  }
});

test("sotw: EDS pushes send only what changed; full pushes that change nothing send nothing", async () => {
  const h = await Harness.start();
  try {
    h.server.setContext(fullPush(base()));
    const s = h.sotw();
    s.request(ENDPOINT_TYPE, ["a", "b"]);
    const r1 = await s.next();
    assert.deepEqual(r1.names.sort(), ["a", "b"]);
    s.ack(r1);
    await h.acked(r1.nonce);

    h.server.push(fullPush(snapshot({ clusters: [cluster("a"), cluster("b")], clas: [cla("a", "10.0.0.1"), cla("b", "10.0.0.3")] })));
    const r2 = await s.next();
    assert.deepEqual(r2.names, ["b"]);
    s.ack(r2);
    await h.acked(r2.nonce);

    // Incremental (EDS-only) push naming a: only a.
    h.server.push(edsPush(snapshot({ clas: [cla("a", "10.0.0.7"), cla("b", "10.0.0.3")] }), ["a"]));
    const r3 = await s.next();
    assert.deepEqual(r3.names, ["a"]);
    assert.equal(h.generator.calls.at(-1)?.full, false);
    s.ack(r3);
    await h.acked(r3.nonce);

    // Same content, full push: nothing.
    h.server.push(fullPush(snapshot({ clas: [cla("a", "10.0.0.7"), cla("b", "10.0.0.3")] })));
    await h.server.idle();
    await s.quiet();
  } finally {
    await h.close();
  }
});

test("sotw: pushes queued for one connection merge; the final state is right", async () => {
  const h = await Harness.start();
  try {
    h.server.setContext(fullPush(base()));
    const s = h.sotw();
    s.request(CLUSTER_TYPE);
    s.ack(await s.next());
    await s.quiet(30);
    for (let i = 0; i < 10; i++) {
      h.server.push(fullPush(snapshot({ clusters: [cluster("a", 10 + i), cluster(`n${i}`)] })));
    }
    await h.server.idle();
    await s.quiet(100).catch(() => {});
    const got = s.drain();
    assert.ok(got.length >= 1 && got.length <= 2, `expected merged pushes, got ${got.length}`);
    const last = got[got.length - 1];
    assert.deepEqual(last.names.sort(), ["a", "n9"]);
    assert.deepEqual(last.resources.find((r) => r.name === "a")?.connectTimeout, { seconds: 19 });
    assert.equal(h.server.metrics.triggers.get({ type: "config" }), 10);
  } finally {
    await h.close();
  }
});

test("sotw: a push sends CDS, EDS, LDS, RDS in that order whatever the subscription order", async () => {
  const h = await Harness.start();
  try {
    const snap = (ip: string, port: number): ReturnType<typeof snapshot> =>
      snapshot({
        clusters: [cluster("c", port % 7)],
        clas: [cla("c", ip)],
        listeners: [listener("l", port)],
        routes: [route("r", `c${port}`)],
      });
    h.server.setContext(fullPush(snap("10.0.0.1", 80)));
    const s = h.sotw();
    s.request(ROUTE_TYPE, ["r"]);
    s.ack(await s.next());
    s.request(LISTENER_TYPE);
    s.ack(await s.next());
    s.request(ENDPOINT_TYPE, ["c"]);
    s.ack(await s.next());
    s.request(CLUSTER_TYPE);
    s.ack(await s.next());
    await s.quiet(30);

    h.server.push(fullPush(snap("10.0.0.2", 81)));
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await s.next();
      order.push(r.typeUrl);
      s.ack(r);
    }
    assert.deepEqual(order, [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE]);
  } finally {
    await h.close();
  }
});

test("sotw: metrics: connected gauge, pushes, config size, convergence on ACK", async () => {
  const h = await Harness.start();
  try {
    const acks: Array<number | undefined> = [];
    h.server.on("ack", (e) => acks.push(e.pushStart));
    h.server.setContext(fullPush(base()));
    const s = h.sotw();
    s.request(CLUSTER_TYPE);
    const r1 = await s.next();
    s.ack(r1);
    await h.acked(r1.nonce);
    assert.equal(h.server.metrics.connected.get({ version: "tsmesh" }), 1);
    const start = Date.now() - 50;
    h.server.push({ ...fullPush(snapshot({ clusters: [cluster("x")] })), start });
    const r2 = await s.next();
    s.ack(r2);
    await h.acked(r2.nonce);
    assert.deepEqual(acks, [undefined, start]);
    assert.equal(h.server.metrics.convergence.count(), 1);
    assert.equal(h.server.metrics.pushes.get({ type: "cds" }), 2);
    assert.equal(h.server.metrics.configSize.count({ type: CLUSTER_TYPE }), 2);
    const text = h.registry.render();
    assert.match(text, /pilot_xds\{version="tsmesh"\} 1/);
    assert.match(text, /pilot_proxy_convergence_time_count 1/);
    s.close();
    await h.connected(0);
    assert.equal(h.server.metrics.connected.get({ version: "tsmesh" }), 0);
    assert.equal(h.generator.disconnected.length, 1);
  } finally {
    await h.close();
  }
});

test("sotw: a generator that throws skips the push and logs; the stream stays usable", async () => {
  const h = await Harness.start();
  try {
    h.server.setContext(fullPush(base()));
    const s = h.sotw();
    s.request(CLUSTER_TYPE);
    s.ack(await s.next());
    h.generator.throwOn = CLUSTER_TYPE;
    h.server.push(fullPush(snapshot({ clusters: [cluster("q")] })));
    await h.server.idle();
    await s.quiet(50);
    assert.ok(h.logs.some((l) => l.includes("generator exploded")));
    h.generator.throwOn = undefined;
    h.server.push(fullPush(snapshot({ clusters: [cluster("q")] })));
    const r = await s.next();
    assert.deepEqual(r.names, ["q"]);
  } finally {
    await h.close();
  }
});
