// istiod's xDS metrics that need a real stream to observe: per-type rejects by node and error code,
// send errors (`<type>_senderr`) when the stream refuses a response, the largest request received
// and requests that cannot be decoded (internal errors). Real gRPC over loopback; the send error comes from a real grpc-js server call whose
// writable side has already ended when the server answers.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { MetricsRegistry } from "../../../src/core/metrics.js";
import { messageType, SECRET_TYPE } from "../../../src/envoy/protos.js";
import { AdsServer } from "../../../src/xds/server/ads.js";
import { SOTW_METHOD_PATH } from "../../../src/xds/server/service.js";
import { XdsMetrics } from "../../../src/xds/server/metrics.js";
import { eventually } from "../../helpers/eventually.js";
import { cla, cluster, CLUSTER_TYPE, ENDPOINT_TYPE, FakeGenerator, fullPush, Harness, listener, LISTENER_TYPE, snapshot, sotwStreamTo } from "./helpers.js";

test("xds metrics: a NACK counts pilot_total_xds_rejects and istiod's per-type gauge by node and gRPC code name", async () => {
  const h = await Harness.start();
  try {
    h.server.setContext(fullPush(snapshot({ clusters: [cluster("a")], clas: [cla("a", "10.0.0.1")] })));
    const s = h.sotw("sidecar~10.0.0.9~app-1.default~default.svc.cluster.local");
    s.request(CLUSTER_TYPE);
    s.nack(await s.next(), "cluster a: bad timeout"); // code 3
    const d = h.delta("sidecar~10.0.0.8~app-2.default~default.svc.cluster.local");
    d.request(ENDPOINT_TYPE, ["a"]);
    const r = await d.next();
    d.send({ typeUrl: ENDPOINT_TYPE, responseNonce: r.nonce, errorDetail: { code: 13, message: "bad endpoint" } });
    await eventually("both NACKs handled", () => h.server.connections().filter((c) => c.types.some((t) => t.nack)).length === 2);

    const m = h.server.metrics;
    assert.equal(m.rejects.get({ type: "cds" }), 1);
    assert.equal(m.rejects.get({ type: "eds" }), 1);
    const text = h.registry.render();
    assert.match(text, /^# TYPE pilot_xds_cds_reject gauge$/m);
    assert.match(text, /^pilot_xds_cds_reject\{err="InvalidArgument",node="sidecar~10\.0\.0\.9~app-1\.default~default\.svc\.cluster\.local"\} 1$/m);
    assert.match(text, /^pilot_xds_eds_reject\{err="Internal",node="sidecar~10\.0\.0\.8~app-2\.default~default\.svc\.cluster\.local"\} 1$/m);
    assert.doesNotMatch(text, /^pilot_xds_lds_reject\{/m, "no LDS was rejected");
  } finally {
    await h.close();
  }
});

test("xds metrics: pilot_xds_recv_max is the largest request received so far", async () => {
  const h = await Harness.start();
  try {
    h.server.setContext(fullPush(snapshot({ clas: [cla("a", "10.0.0.1")] })));
    const s = h.sotw("sidecar~10.0.0.7~app.default~default.svc.cluster.local");
    const size = (o: Record<string, unknown>) => {
      const t = messageType("envoy.service.discovery.v3.DiscoveryRequest");
      return t.encode(t.fromObject(o)).finish().length;
    };
    s.request(ENDPOINT_TYPE, ["a"]);
    const r1 = await s.next();
    const firstSize = size({ typeUrl: ENDPOINT_TYPE, resourceNames: ["a"], node: s.node });
    assert.equal(h.server.metrics.recvMax.get(), firstSize, "the first request (with the node)");
    // A bigger one raises it to its own size...
    const many = Array.from({ length: 200 }, (_, i) => `outbound|80||svc-${i}.default.svc.cluster.local`);
    s.request(ENDPOINT_TYPE, many, { versionInfo: r1.versionInfo, responseNonce: r1.nonce });
    const bigSize = size({ typeUrl: ENDPOINT_TYPE, resourceNames: many, versionInfo: r1.versionInfo, responseNonce: r1.nonce });
    assert.ok(bigSize > firstSize);
    await eventually("the big request seen", () => h.server.metrics.recvMax.get() === bigSize);
    // ...a smaller one (a new watch) leaves it.
    s.request(LISTENER_TYPE);
    await eventually("the LDS watch", () => h.server.connections()[0]?.types.some((t) => t.typeUrl === LISTENER_TYPE));
    assert.equal(h.server.metrics.recvMax.get(), bigSize);
    assert.match(h.registry.render(), new RegExp(`^pilot_xds_recv_max ${bigSize}$`, "m"));
  } finally {
    await h.close();
  }
});

test("xds metrics: a request that cannot be decoded ends its stream with INTERNAL and counts pilot_total_xds_internal_errors", async () => {
  const h = await Harness.start();
  const client = new grpc.Client(`127.0.0.1:${h.port}`, grpc.credentials.createInsecure());
  try {
    const raw = (b: Buffer) => b;
    const call = client.makeBidiStreamRequest<Buffer, Buffer>(SOTW_METHOD_PATH, raw, raw);
    const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    call.on("error", () => {});
    call.write(Buffer.from([0xff, 0xff, 0xff])); // field 31 with wire type 7: not protobuf
    assert.equal((await status).code, grpc.status.INTERNAL);
    assert.equal(h.server.metrics.internalErrors.get(), 1);
    assert.match(h.registry.render(), /^pilot_total_xds_internal_errors 1$/m);
    assert.ok(h.logs.some((l) => l.startsWith("xds: a request could not be decoded")), h.logs.join("\n"));
    // A well-formed stream is unaffected.
    h.server.setContext(fullPush(snapshot({ clusters: [cluster("a")] })));
    const s = h.sotw();
    s.request(CLUSTER_TYPE);
    assert.deepEqual((await s.next()).names, ["a"]);
    assert.equal(h.server.metrics.internalErrors.get(), 1);
  } finally {
    client.close();
    await h.close();
  }
});

/** A grpc.Server that hands the test each server call before the ADS handler sees it. */
class CapturingServer extends grpc.Server {
  onCall: ((call: grpc.ServerDuplexStream<{ typeUrl: string }, Buffer>) => void) | undefined;

  override addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    const wrapped: grpc.UntypedServiceImplementation = {};
    for (const [name, handler] of Object.entries(implementation)) {
      wrapped[name] = (call: grpc.ServerDuplexStream<{ typeUrl: string }, Buffer>) => {
        this.onCall?.(call);
        (handler as (c: typeof call) => void)(call);
      };
    }
    super.addService(service, wrapped);
  }
}

test("xds metrics: a response the stream refuses (its writable side already ended) counts <type>_senderr and ends the connection", async () => {
  const registry = new MetricsRegistry();
  const logs: string[] = [];
  const generator = new FakeGenerator();
  const ads = new AdsServer(generator, { metrics: registry, log: (l) => logs.push(l), shutdownGraceMs: 200 });
  const server = new CapturingServer();
  // The LDS subscription arrives on a call whose writable side this listener (registered before the
  // ADS handler's) has just ended: the server's answer is a write after end.
  server.onCall = (call) =>
    call.on("data", (req) => {
      if (req.typeUrl === LISTENER_TYPE) call.end();
    });
  ads.addTo(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const s = sotwStreamTo(client, { id: "sidecar~10.0.0.6~app.default~default.svc.cluster.local" });
  try {
    ads.setContext(fullPush(snapshot({ clusters: [cluster("a")], listeners: [listener("l", 8080)] })));
    s.request(CLUSTER_TYPE);
    s.ack(await s.next());
    await eventually("the CDS ACK", () => ads.connections().some((c) => c.types.some((t) => t.ackedNonce)));
    assert.equal(ads.metrics.pushes.get({ type: "cds_senderr" }), 0);

    s.request(LISTENER_TYPE);
    await eventually("lds_senderr counted", () => ads.metrics.pushes.get({ type: "lds_senderr" }) === 1);
    // As istiod: the push itself is counted too; other types saw no send error.
    assert.equal(ads.metrics.pushes.get({ type: "lds" }), 1);
    assert.equal(ads.metrics.pushes.get({ type: "cds_senderr" }), 0);
    assert.match(registry.render(), /^pilot_xds_pushes\{type="lds_senderr"\} 1$/m);
    assert.ok(logs.some((l) => /^xds: lds: send failure for sidecar~10\.0\.0\.6~app\.default~default\.svc\.cluster\.local-\d+: /.test(l)), logs.join("\n"));
    await eventually("the refused stream's connection ended", () => ads.connections().length === 0);
  } finally {
    s.close();
    await ads.close();
    server.forceShutdown();
    client.close();
  }
});

test("xds metrics: which send errors count, and as which type (istiod's recordSendError)", () => {
  const cases: Array<{ name: string; typeUrl: string; err: unknown; unexpected: boolean; counted?: string }> = [
    { name: "a stream error without a gRPC code", typeUrl: CLUSTER_TYPE, err: Object.assign(new Error("write after end"), { code: "ERR_STREAM_WRITE_AFTER_END" }), unexpected: true, counted: "cds_senderr" },
    { name: "INTERNAL", typeUrl: ENDPOINT_TYPE, err: Object.assign(new Error("x"), { code: grpc.status.INTERNAL }), unexpected: true, counted: "eds_senderr" },
    { name: "RESOURCE_EXHAUSTED", typeUrl: LISTENER_TYPE, err: { code: grpc.status.RESOURCE_EXHAUSTED }, unexpected: true, counted: "lds_senderr" },
    { name: "CANCELLED: the proxy went away", typeUrl: CLUSTER_TYPE, err: { code: grpc.status.CANCELLED }, unexpected: false },
    { name: "UNAVAILABLE: the connection is closing", typeUrl: CLUSTER_TYPE, err: { code: grpc.status.UNAVAILABLE }, unexpected: false },
    { name: "SDS: unexpected, but istiod has no sds_senderr", typeUrl: SECRET_TYPE, err: new Error("x"), unexpected: true },
  ];
  for (const c of cases) {
    const registry = new MetricsRegistry();
    const m = new XdsMetrics(registry);
    assert.equal(m.recordSendError(c.typeUrl, c.err), c.unexpected, c.name);
    const lines = registry.render().split("\n").filter((l) => l.startsWith("pilot_xds_pushes{"));
    assert.deepEqual(lines, c.counted ? [`pilot_xds_pushes{type="${c.counted}"} 1`] : [], c.name);
  }
});
