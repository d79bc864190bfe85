// The proxy's ADS client against tsmesh's own AdsServer over real gRPC (Delta and SotW): wildcard
// and named subscriptions, ACK/NACK as the server records them, last good config kept across a
// NACK and across a control-plane restart, unsubscribe, full-state removal, clean close().
import assert from "node:assert/strict";
import { test } from "node:test";
import type { EncodedResource } from "../../../src/envoy/encoded.js";
import { DEBUG, LogRegistry } from "../../../src/core/log.js";
import { type ProtoObject } from "../../../src/envoy/protos.js";
import { AdsClient, type AdsClientOptions } from "../../../src/proxy/xds/ads-client.js";
import type { ResourceUpdate, Validate } from "../../../src/proxy/xds/resources.js";
import { AdsServer } from "../../../src/xds/server/ads.js";
import type { GenerateResult, PushRequest, TypeStatus, WatchedResource, XdsNode } from "../../../src/xds/server/types.js";
import {
  cla,
  cluster,
  CLUSTER_TYPE,
  edsPush,
  ENDPOINT_TYPE,
  FakeGenerator,
  type FakeProxy,
  fullPush,
  Harness,
  listener,
  LISTENER_TYPE,
  sleep,
  snapshot,
} from "../../xds/server/helpers.js";

const acceptAll: Validate = () => undefined;

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A client plus every update and event it emitted, in order. */
class Probe {
  readonly updates: ResourceUpdate[] = [];
  readonly events: string[] = [];
  readonly logs: string[] = [];
  readonly client: AdsClient;

  constructor(port: number, extra: Partial<AdsClientOptions> = {}, validate: Validate = acceptAll) {
    this.client = new AdsClient(
      {
        target: `127.0.0.1:${port}`,
        node: { id: "sidecar~127.0.0.9~app-1.default~default.svc.cluster.local", cluster: "app.default", metadata: { NAMESPACE: "default", LABELS: { app: "x" } } },
        backoff: { initialMs: 20, maxMs: 100 },
        log: new LogRegistry(["config"], (l) => this.logs.push(l), DEBUG).get("config"),
        ...extra,
      },
      validate,
    );
    this.client.on("update", (u) => this.updates.push(u));
    this.client.on("connected", () => this.events.push("connected"));
    this.client.on("disconnected", (r) => this.events.push(`disconnected: ${r}`));
  }

  /** Waits for the next update of a type after `from` updates were seen; returns it. */
  async update(typeUrl: string, from: number): Promise<ResourceUpdate> {
    let found: ResourceUpdate | undefined;
    await waitFor(`an update of ${typeUrl}`, () => {
      found = this.updates.slice(from).find((u) => u.typeUrl === typeUrl);
      return found !== undefined;
    });
    return found as ResourceUpdate;
  }

  names(typeUrl: string): string[] {
    return [...(this.client.snapshot().get(typeUrl)?.resources.keys() ?? [])].sort();
  }

  object(typeUrl: string, name: string): ProtoObject | undefined {
    return this.client.snapshot().get(typeUrl)?.resources.get(name)?.object;
  }
}

function serverType(h: Harness, typeUrl: string): TypeStatus | undefined {
  return h.server.connections()[0]?.types.find((t) => t.typeUrl === typeUrl);
}

/** Waits until the server recorded an ACK of the latest response it sent for the type. */
async function serverAcked(h: Harness, typeUrl: string): Promise<TypeStatus> {
  await waitFor(`server ACK of ${typeUrl}`, () => {
    const t = serverType(h, typeUrl);
    return t !== undefined && t.sentNonce !== undefined && t.ackedNonce === t.sentNonce;
  });
  return serverType(h, typeUrl) as TypeStatus;
}

function names(u: ResourceUpdate): string[] {
  return u.updated.map((r) => r.name).sort();
}

/** Restarts the control plane on the same port (same generator, a fresh AdsServer). */
async function restart(h: Harness, context: PushRequest): Promise<void> {
  await h.server.close();
  const next = new AdsServer(h.generator, { metrics: h.registry, log: (m) => h.logs.push(m), shutdownGraceMs: 200 });
  next.setContext(context);
  // Give the client a moment without a server (it keeps retrying, and keeps its resources).
  await sleep(60);
  await next.listen(`127.0.0.1:${h.port}`);
  h.server = next;
}

// ---------- Delta ----------

test("delta: wildcard CDS and named EDS; updates, removals, ACKs recorded by the server", async () => {
  const h = await Harness.start();
  const p = new Probe(h.port);
  try {
    h.server.setContext(fullPush(snapshot({ clusters: [cluster("a"), cluster("b")], clas: [cla("a", "10.0.0.1"), cla("b", "10.0.0.2")] })));
    p.client.watch(CLUSTER_TYPE, "*");
    p.client.watch(ENDPOINT_TYPE, ["a"]);
    p.client.start();
    const cds = await p.update(CLUSTER_TYPE, 0);
    assert.deepEqual(names(cds), ["a", "b"]);
    assert.equal(cds.fullState, false);
    assert.ok(cds.versionInfo);
    assert.ok(cds.updated.every((r) => r.version.length > 0));
    assert.deepEqual(cds.updated.find((r) => r.name === "a")?.object, cluster("a"));
    const eds = await p.update(ENDPOINT_TYPE, 0);
    assert.deepEqual(names(eds), ["a"]);
    assert.ok(p.client.connected);
    assert.deepEqual(p.events, ["connected"]);

    const st = await serverAcked(h, CLUSTER_TYPE);
    assert.equal(st.wildcard, true);
    assert.equal(p.client.snapshot().get(CLUSTER_TYPE)?.ackedNonce, st.ackedNonce);
    const est = await serverAcked(h, ENDPOINT_TYPE);
    assert.deepEqual(est.names, ["a"]);
    assert.equal(h.server.connections()[0].nodeId, "sidecar~127.0.0.9~app-1.default~default.svc.cluster.local");

    // a changes, b is deleted, c appears; the endpoints of a change.
    let n = p.updates.length;
    h.server.push(fullPush(snapshot({ clusters: [cluster("a", 3), cluster("c")], clas: [cla("a", "10.0.0.7"), cla("b", "10.0.0.2")] })));
    const cds2 = await p.update(CLUSTER_TYPE, n);
    assert.deepEqual(names(cds2), ["a", "c"]);
    assert.deepEqual(cds2.removed, ["b"]);
    const eds2 = await p.update(ENDPOINT_TYPE, n);
    assert.deepEqual(names(eds2), ["a"]);
    assert.deepEqual(p.names(CLUSTER_TYPE), ["a", "c"]);
    assert.deepEqual(p.object(CLUSTER_TYPE, "a")?.connectTimeout, { seconds: 3 });
    assert.deepEqual(p.object(ENDPOINT_TYPE, "a"), cla("a", "10.0.0.7"));
    assert.equal(p.client.snapshot().get(CLUSTER_TYPE)?.versionInfo, cds2.versionInfo);
    await serverAcked(h, CLUSTER_TYPE);
    await serverAcked(h, ENDPOINT_TYPE);

    // A newly watched name is subscribed (only the difference is sent) and delivered.
    n = p.updates.length;
    p.client.watch(ENDPOINT_TYPE, ["a", "b"]);
    const eds3 = await p.update(ENDPOINT_TYPE, n);
    assert.deepEqual(names(eds3), ["b"]);
    assert.deepEqual(p.names(ENDPOINT_TYPE), ["a", "b"]);

    // EDS-only push: only the changed assignment arrives.
    n = p.updates.length;
    h.server.push(edsPush(snapshot({ clusters: [cluster("a", 3), cluster("c")], clas: [cla("a", "10.0.0.7"), cla("b", "10.0.0.8")] }), ["b"]));
    const eds4 = await p.update(ENDPOINT_TYPE, n);
    assert.deepEqual(names(eds4), ["b"]);
    assert.deepEqual(p.object(ENDPOINT_TYPE, "b"), cla("b", "10.0.0.8"));
  } finally {
    await p.client.close();
    await h.close();
  }
});

test("delta: a subscribed name the server lacks is reported removed, then delivered when it appears", async () => {
  const h = await Harness.start();
  const p = new Probe(h.port);
  try {
    h.server.setContext(fullPush(snapshot({ clas: [cla("a", "10.0.0.1")] })));
    p.client.watch(ENDPOINT_TYPE, ["a", "z"]);
    p.client.start();
    const u = await p.update(ENDPOINT_TYPE, 0);
    assert.deepEqual(names(u), ["a"]);
    assert.deepEqual(u.removed, ["z"]);
    await serverAcked(h, ENDPOINT_TYPE);
    const n = p.updates.length;
    h.server.push(fullPush(snapshot({ clas: [cla("a", "10.0.0.1"), cla("z", "10.0.0.26")] })));
    const u2 = await p.update(ENDPOINT_TYPE, n);
    assert.deepEqual(names(u2), ["z"]);
    assert.deepEqual(p.names(ENDPOINT_TYPE), ["a", "z"]);
  } finally {
    await p.client.close();
    await h.close();
  }
});

test("delta: a validate() failure NACKs with its message; the client keeps the last good resource", async () => {
  const h = await Harness.start();
  const validate: Validate = (typeUrl, resources) => {
    for (const r of resources) {
      const t = r.object.connectTimeout as { seconds?: number } | undefined;
      if (typeUrl === CLUSTER_TYPE && (t?.seconds ?? 0) > 60) return `clusters[${r.name}].connectTimeout: must be at most 60s`;
    }
    return undefined;
  };
  const p = new Probe(h.port, {}, validate);
  try {
    h.server.setContext(fullPush(snapshot({ clusters: [cluster("a"), cluster("b")] })));
    p.client.watch(CLUSTER_TYPE, []);
    p.client.start();
    await p.update(CLUSTER_TYPE, 0);
    const good = await serverAcked(h, CLUSTER_TYPE);
    const goodVersion = p.client.snapshot().get(CLUSTER_TYPE)?.versionInfo;
    const versionOfA = p.client.snapshot().get(CLUSTER_TYPE)?.resources.get("a")?.version;

    let n = p.updates.length;
    h.server.push(fullPush(snapshot({ clusters: [cluster("a", 99)] })));
    await waitFor("the NACK at the server", () => serverType(h, CLUSTER_TYPE)?.nack !== undefined);
    const st = serverType(h, CLUSTER_TYPE) as TypeStatus;
    assert.equal(st.nack?.message, "clusters[a].connectTimeout: must be at most 60s");
    assert.equal(st.nack?.nonce, st.sentNonce);
    assert.equal(st.ackedNonce, good.ackedNonce);
    assert.equal(p.updates.length, n, "a rejected response emits no update");
    // Nothing changed: a still has its old version and content, b (removed in the rejected response) stays.
    const snap = p.client.snapshot().get(CLUSTER_TYPE);
    assert.deepEqual(p.names(CLUSTER_TYPE), ["a", "b"]);
    assert.equal(snap?.resources.get("a")?.version, versionOfA);
    assert.deepEqual(snap?.resources.get("a")?.object.connectTimeout, { seconds: 1 });
    assert.equal(snap?.versionInfo, goodVersion);
    assert.deepEqual(snap?.nack, { message: "clusters[a].connectTimeout: must be at most 60s", nonce: st.sentNonce });
    assert.equal(p.client.stats().get(CLUSTER_TYPE)?.updateRejected, 1);
    // The config logger's lines (at debug): the good response received and ACKed with its names and
    // version, then the rejected one received and NACKed, naming the nonce and the version kept.
    const line = (re: RegExp) => p.logs.find((l) => re.test(l));
    assert.ok(line(new RegExp(`\\[debug\\]\\[config\\] xds: received cds response: version ${goodVersion}, 2 resource\\(s\\): a, b, nonce ${good.ackedNonce}$`)), p.logs.join("\n"));
    assert.ok(line(new RegExp(`\\[debug\\]\\[config\\] xds: ACK cds version ${goodVersion} nonce ${good.ackedNonce}: 2 updated \\(a, b\\)$`)), p.logs.join("\n"));
    assert.ok(line(new RegExp(`\\[debug\\]\\[config\\] xds: received cds response: .*nonce ${st.sentNonce}$`)), p.logs.join("\n"));
    assert.ok(line(new RegExp(`\\[warning\\]\\[config\\] xds: rejecting cds \\(nonce ${st.sentNonce}; keeping version ${goodVersion}\\): clusters\\[a\\]\\.connectTimeout: must be at most 60s$`)), p.logs.join("\n"));
    assert.ok(!p.logs.some((l) => l.includes(`ACK cds version`) && l.includes(`nonce ${st.sentNonce}`)), "the rejected response is not ACKed");

    // A later good push is accepted and clears the NACK. (The server counted b's removal as
    // delivered when it sent the rejected response: Delta servers do not resend after a NACK.)
    n = p.updates.length;
    h.server.push(fullPush(snapshot({ clusters: [cluster("a", 5), cluster("b")] })));
    const u = await p.update(CLUSTER_TYPE, n);
    assert.deepEqual(names(u), ["a", "b"]);
    assert.deepEqual(p.object(CLUSTER_TYPE, "a")?.connectTimeout, { seconds: 5 });
    await serverAcked(h, CLUSTER_TYPE);
    assert.equal(p.client.snapshot().get(CLUSTER_TYPE)?.nack, undefined);
  } finally {
    await p.client.close();
    await h.close();
  }
});

/** A generator that can add an undecodable resource to CDS responses. */
class CorruptingGenerator extends FakeGenerator {
  corrupt = false;
  readonly nodes: XdsNode[] = [];
  override connect(node: XdsNode): FakeProxy {
    this.nodes.push(node);
    return super.connect(node);
  }
  override generate(proxy: FakeProxy, typeUrl: string, watch: WatchedResource, request: PushRequest): GenerateResult | undefined {
    const r = super.generate(proxy, typeUrl, watch, request);
    if (!r || !this.corrupt || typeUrl !== CLUSTER_TYPE) return r;
    const bad: EncodedResource = { name: "broken", typeUrl, version: "bad", bytes: new Uint8Array([0xff, 0xff, 0xff]), object: {}, serial: 1e9 };
    return { resources: [...r.resources, bad] };
  }
}

test("delta: the node reaches the server; an undecodable resource NACKs the whole response", async () => {
  const gen = new CorruptingGenerator();
  const server = new AdsServer(gen, { log: () => {}, shutdownGraceMs: 200 });
  const port = await server.listen("127.0.0.1:0");
  const p = new Probe(port, {
    node: { id: "router~127.0.0.5~gw.istio-system~istio-system.svc.cluster.local", cluster: "gw", metadata: { LABELS: { app: "gw" }, n: 1, skip: undefined }, locality: { region: "r1", zone: "z1" } },
  });
  try {
    server.setContext(fullPush(snapshot({ clusters: [cluster("a")] })));
    p.client.watch(CLUSTER_TYPE, "*");
    p.client.start();
    await p.update(CLUSTER_TYPE, 0);
    assert.equal(gen.nodes.length, 1);
    assert.deepEqual(gen.nodes[0], {
      id: "router~127.0.0.5~gw.istio-system~istio-system.svc.cluster.local",
      cluster: "gw",
      metadata: { LABELS: { app: "gw" }, n: 1 },
      locality: { region: "r1", zone: "z1" },
      userAgentName: "tsmesh",
    });
    const n = p.updates.length;
    gen.corrupt = true;
    server.push(fullPush(snapshot({ clusters: [cluster("a", 2)] })));
    await waitFor("the NACK", () => server.connections()[0]?.types[0]?.nack !== undefined);
    const msg = server.connections()[0].types[0].nack?.message ?? "";
    assert.match(msg, /resources\[\d\] \(broken\): cannot decode type\.googleapis\.com\/envoy\.config\.cluster\.v3\.Cluster/);
    assert.equal(p.updates.length, n);
    assert.deepEqual(p.object(CLUSTER_TYPE, "a")?.connectTimeout, { seconds: 1 });
  } finally {
    await p.client.close();
    await server.close();
  }
});

test("delta: an update listener that throws NACKs and the client state is restored", async () => {
  const h = await Harness.start();
  const p = new Probe(h.port);
  p.client.on("update", (u) => {
    if (u.updated.some((r) => r.name === "boom")) throw new Error("cannot apply boom");
  });
  try {
    h.server.setContext(fullPush(snapshot({ clusters: [cluster("a"), cluster("b")] })));
    p.client.watch(CLUSTER_TYPE, "*");
    p.client.start();
    await p.update(CLUSTER_TYPE, 0);
    await serverAcked(h, CLUSTER_TYPE);
    const before = p.client.snapshot().get(CLUSTER_TYPE);
    h.server.push(fullPush(snapshot({ clusters: [cluster("a", 7), cluster("boom")] })));
    await waitFor("NACK", () => serverType(h, CLUSTER_TYPE)?.nack !== undefined);
    assert.equal(serverType(h, CLUSTER_TYPE)?.nack?.message, "applying the update failed: cannot apply boom");
    const after = p.client.snapshot().get(CLUSTER_TYPE);
    assert.deepEqual(p.names(CLUSTER_TYPE), ["a", "b"]);
    assert.equal(after?.resources.get("a"), before?.resources.get("a"));
    assert.equal(after?.versionInfo, before?.versionInfo);
    assert.equal(p.client.stats().get(CLUSTER_TYPE)?.updateFailure, 1);
  } finally {
    await p.client.close();
    await h.close();
  }
});

test("delta: unsubscribing drops the resource locally and at the server", async () => {
  const h = await Harness.start();
  const p = new Probe(h.port);
  try {
    h.server.setContext(fullPush(snapshot({ clas: [cla("a", "10.0.0.1"), cla("b", "10.0.0.2")] })));
    p.client.watch(ENDPOINT_TYPE, ["a", "b"]);
    p.client.start();
    await p.update(ENDPOINT_TYPE, 0);
    await serverAcked(h, ENDPOINT_TYPE);
    const n = p.updates.length;
    p.client.watch(ENDPOINT_TYPE, ["a"]);
    assert.deepEqual(p.names(ENDPOINT_TYPE), ["a"]);
    const u = await p.update(ENDPOINT_TYPE, n);
    assert.deepEqual(u.removed, ["b"]);
    assert.deepEqual(u.updated, []);
    await waitFor("server-side unsubscribe", () => serverType(h, ENDPOINT_TYPE)?.names.join() === "a");
    assert.deepEqual(Object.keys(serverType(h, ENDPOINT_TYPE)?.resourceVersions ?? {}), ["a"]);

    // Unsubscribing everything: the server's watch is empty, nothing is held.
    p.client.watch(ENDPOINT_TYPE, []);
    await waitFor("server-side unsubscribe all", () => serverType(h, ENDPOINT_TYPE)?.names.length === 0);
    assert.deepEqual(p.names(ENDPOINT_TYPE), []);
    // A change to a no longer watched name sends nothing.
    const m = p.updates.length;
    h.server.push(fullPush(snapshot({ clas: [cla("a", "10.0.0.3"), cla("b", "10.0.0.2")] })));
    await h.server.idle();
    await sleep(50);
    assert.deepEqual(p.updates.slice(m).filter((x) => x.updated.length > 0), []);
  } finally {
    await p.client.close();
    await h.close();
  }
});

test("delta: control-plane restart keeps resources and resumes with initial_resource_versions", async () => {
  const h = await Harness.start();
  const p = new Probe(h.port);
  try {
    h.server.setContext(fullPush(snapshot({ clusters: [cluster("a"), cluster("b")], clas: [cla("a", "10.0.0.1")] })));
    p.client.watch(CLUSTER_TYPE, "*");
    p.client.watch(ENDPOINT_TYPE, ["a"]);
    p.client.start();
    await p.update(CLUSTER_TYPE, 0);
    await p.update(ENDPOINT_TYPE, 0);
    await serverAcked(h, ENDPOINT_TYPE);
    await serverAcked(h, CLUSTER_TYPE);

    const n = p.updates.length;
    // While the control plane is away: a changed, b unchanged, c new; the EDS watch grows.
    const restarted = restart(h, fullPush(snapshot({ clusters: [cluster("a", 2), cluster("b"), cluster("c")], clas: [cla("a", "10.0.0.1"), cla("b", "10.0.0.2")] })));
    await waitFor("disconnected", () => p.events.some((e) => e.startsWith("disconnected")));
    assert.equal(p.client.connected, false);
    assert.match(p.events[1], /^disconnected: UNAVAILABLE/);
    assert.deepEqual(p.names(CLUSTER_TYPE), ["a", "b"], "resources survive the disconnect");
    assert.deepEqual(p.names(ENDPOINT_TYPE), ["a"]);
    p.client.watch(ENDPOINT_TYPE, ["a", "b"]);
    await restarted;

    await waitFor("reconnect", () => p.events.filter((e) => e === "connected").length === 2);
    const cds = await p.update(CLUSTER_TYPE, n);
    // The server knew what the client held: only what differs is resent.
    assert.deepEqual(names(cds), ["a", "c"]);
    assert.deepEqual(cds.removed, []);
    const eds = await p.update(ENDPOINT_TYPE, n);
    assert.deepEqual(names(eds), ["b"]);
    assert.deepEqual(p.names(CLUSTER_TYPE), ["a", "b", "c"]);
    assert.deepEqual(p.names(ENDPOINT_TYPE), ["a", "b"]);
    const st = await serverAcked(h, CLUSTER_TYPE);
    assert.equal(st.wildcard, true);
    assert.deepEqual((await serverAcked(h, ENDPOINT_TYPE)).names, ["a", "b"]);
  } finally {
    await p.client.close();
    await h.close();
  }
});

test("delta: watches before start() and with no names are not announced; a late wildcard LDS is", async () => {
  const h = await Harness.start();
  const p = new Probe(h.port);
  try {
    h.server.setContext(fullPush(snapshot({ clusters: [cluster("a")], listeners: [listener("0.0.0.0_80", 80)] })));
    p.client.watch(ENDPOINT_TYPE, []);
    p.client.watch(CLUSTER_TYPE, []);
    p.client.start();
    await p.update(CLUSTER_TYPE, 0);
    await serverAcked(h, CLUSTER_TYPE);
    assert.deepEqual(h.server.connections()[0].types.map((t) => t.typeUrl), [CLUSTER_TYPE]);
    p.client.watch(LISTENER_TYPE, "*");
    const lds = await p.update(LISTENER_TYPE, 0);
    assert.deepEqual(names(lds), ["0.0.0.0_80"]);
    assert.equal((await serverAcked(h, LISTENER_TYPE)).wildcard, true);
  } finally {
    await p.client.close();
    await h.close();
  }
});

// ---------- SotW ----------

test("sotw: wildcard CDS with full-state removal, named EDS, ACK with version_info", async () => {
  const h = await Harness.start();
  const p = new Probe(h.port, { protocol: "sotw" });
  try {
    h.server.setContext(fullPush(snapshot({ clusters: [cluster("a"), cluster("b")], clas: [cla("a", "10.0.0.1"), cla("b", "10.0.0.2")] })));
    p.client.watch(CLUSTER_TYPE, "*");
    p.client.watch(ENDPOINT_TYPE, ["a"]);
    p.client.start();
    const cds = await p.update(CLUSTER_TYPE, 0);
    assert.deepEqual(names(cds), ["a", "b"]);
    assert.equal(cds.fullState, true);
    assert.ok(cds.updated.every((r) => r.version === cds.versionInfo));
    const eds = await p.update(ENDPOINT_TYPE, 0);
    assert.deepEqual(names(eds), ["a"]);
    assert.equal(eds.fullState, false);
    const st = await serverAcked(h, CLUSTER_TYPE);
    assert.equal(st.wildcard, true);
    assert.equal(st.ackedVersion, cds.versionInfo);
    assert.equal((await serverAcked(h, ENDPOINT_TYPE)).ackedVersion, eds.versionInfo);

    // b disappears from the full state: removed. a's endpoints change.
    let n = p.updates.length;
    h.server.push(fullPush(snapshot({ clusters: [cluster("a", 4)], clas: [cla("a", "10.0.0.5"), cla("b", "10.0.0.2")] })));
    const cds2 = await p.update(CLUSTER_TYPE, n);
    assert.deepEqual(names(cds2), ["a"]);
    assert.deepEqual(cds2.removed, ["b"]);
    const eds2 = await p.update(ENDPOINT_TYPE, n);
    assert.deepEqual(names(eds2), ["a"]);
    assert.deepEqual(p.names(CLUSTER_TYPE), ["a"]);
    assert.deepEqual(p.object(ENDPOINT_TYPE, "a"), cla("a", "10.0.0.5"));
    assert.equal((await serverAcked(h, CLUSTER_TYPE)).ackedVersion, cds2.versionInfo);

    // Watch list changes send the full list; dropping a name removes it locally.
    n = p.updates.length;
    p.client.watch(ENDPOINT_TYPE, ["a", "b"]);
    const eds3 = await p.update(ENDPOINT_TYPE, n);
    assert.deepEqual(names(eds3), ["a", "b"]);
    await waitFor("server names", () => serverType(h, ENDPOINT_TYPE)?.names.join() === "a,b");
    await serverAcked(h, ENDPOINT_TYPE);
    n = p.updates.length;
    p.client.watch(ENDPOINT_TYPE, ["b"]);
    const eds4 = await p.update(ENDPOINT_TYPE, n);
    assert.deepEqual(eds4.removed, ["a"]);
    assert.deepEqual(p.names(ENDPOINT_TYPE), ["b"]);
    await waitFor("server names", () => serverType(h, ENDPOINT_TYPE)?.names.join() === "b");
  } finally {
    await p.client.close();
    await h.close();
  }
});

test("sotw: a NACK keeps the previous version_info and the last good resources", async () => {
  const h = await Harness.start();
  const validate: Validate = (_t, resources) => (resources.some((r) => r.name === "bad") ? "cluster bad: rejected" : undefined);
  const p = new Probe(h.port, { protocol: "sotw" }, validate);
  try {
    h.server.setContext(fullPush(snapshot({ clusters: [cluster("a")] })));
    p.client.watch(CLUSTER_TYPE, []);
    p.client.start();
    const u = await p.update(CLUSTER_TYPE, 0);
    await serverAcked(h, CLUSTER_TYPE);
    const n = p.updates.length;
    h.server.push(fullPush(snapshot({ clusters: [cluster("bad")] })));
    await waitFor("NACK", () => serverType(h, CLUSTER_TYPE)?.nack !== undefined);
    const st = serverType(h, CLUSTER_TYPE) as TypeStatus;
    assert.equal(st.nack?.message, "cluster bad: rejected");
    assert.equal(st.nack?.version, u.versionInfo, "a NACK carries the last accepted version_info");
    assert.equal(p.updates.length, n);
    assert.deepEqual(p.names(CLUSTER_TYPE), ["a"]);
    assert.equal(p.client.snapshot().get(CLUSTER_TYPE)?.versionInfo, u.versionInfo);
    assert.equal(p.client.snapshot().get(CLUSTER_TYPE)?.nack?.message, "cluster bad: rejected");
  } finally {
    await p.client.close();
    await h.close();
  }
});

test("sotw: control-plane restart keeps resources and resends every watch with its version", async () => {
  const h = await Harness.start();
  const p = new Probe(h.port, { protocol: "sotw" });
  try {
    h.server.setContext(fullPush(snapshot({ clusters: [cluster("a"), cluster("b")], clas: [cla("a", "10.0.0.1")] })));
    p.client.watch(CLUSTER_TYPE, "*");
    p.client.watch(ENDPOINT_TYPE, ["a"]);
    p.client.start();
    await p.update(CLUSTER_TYPE, 0);
    await p.update(ENDPOINT_TYPE, 0);
    await serverAcked(h, CLUSTER_TYPE);
    await serverAcked(h, ENDPOINT_TYPE);
    const n = p.updates.length;
    const restarted = restart(h, fullPush(snapshot({ clusters: [cluster("a")], clas: [cla("a", "10.0.0.9")] })));
    await waitFor("disconnected", () => p.events.some((e) => e.startsWith("disconnected")));
    assert.deepEqual(p.names(CLUSTER_TYPE), ["a", "b"]);
    await restarted;
    const cds = await p.update(CLUSTER_TYPE, n);
    assert.deepEqual(names(cds), ["a"]);
    assert.deepEqual(cds.removed, ["b"]);
    const eds = await p.update(ENDPOINT_TYPE, n);
    assert.deepEqual(p.object(ENDPOINT_TYPE, "a"), eds.updated[0].object);
    assert.deepEqual(eds.updated[0].object, cla("a", "10.0.0.9"));
    const st = await serverAcked(h, CLUSTER_TYPE);
    assert.equal(st.wildcard, true);
    assert.deepEqual((await serverAcked(h, ENDPOINT_TYPE)).names, ["a"]);
  } finally {
    await p.client.close();
    await h.close();
  }
});

// ---------- lifecycle ----------

test("close() while retrying and while connected leaves no handles", async () => {
  const before = new Set(process.getActiveResourcesInfo().filter((r) => r !== "TTYWrap"));
  // Nothing listens on this port: the client keeps retrying with backoff.
  const h = await Harness.start();
  const port = h.port;
  await h.close();
  const retrying = new Probe(port);
  retrying.client.watch(CLUSTER_TYPE, "*");
  retrying.client.start();
  await waitFor("a few failed attempts", () => retrying.logs.filter((l) => l.includes("closed")).length >= 2);
  assert.equal(retrying.client.connected, false);
  await retrying.client.close();

  const h2 = await Harness.start();
  const p = new Probe(h2.port);
  h2.server.setContext(fullPush(snapshot({ clusters: [cluster("a")] })));
  p.client.watch(CLUSTER_TYPE, "*");
  p.client.start();
  await p.update(CLUSTER_TYPE, 0);
  await p.client.close();
  assert.equal(p.client.connected, false);
  assert.deepEqual(p.events, ["connected", "disconnected: closed"]);
  await waitFor("the server to see the stream go", () => h2.server.connections().length === 0);
  // Watches after close are ignored.
  p.client.watch(ENDPOINT_TYPE, ["a"]);
  await h2.close();
  await sleep(30);
  const after = process.getActiveResourcesInfo().filter((r) => r !== "TTYWrap" && !before.has(r));
  assert.deepEqual(after.filter((r) => r !== "Timeout"), []);
});
