// Distributed tracing through real proxies on loopback: two proxies (an egress hop and an ingress
// hop, as a client sidecar and a server sidecar) in front of a backend, each exporting to a test
// collector that decodes with the format's schema. One request gives one trace: the client span
// (egress) and its child server span (ingress) share the trace id, the parent link is right, the
// backend sees the server span's context, and the tags are Envoy's. Zipkin v2 JSON and OTLP/HTTP
// (protobuf and JSON); sampling 0% exports nothing but still propagates the decision; the caller's
// sampled flag wins; a malformed context is not traced and passes through. Config refusals and the
// exporter's bounds are tables below.
import { httpListener } from "../protocol-helpers.js";
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type * as v3 from "../../../src/envoy/types.js";
import { Router } from "../../../src/proxy/http/router.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { StatsStore } from "../../../src/proxy/stats.js";
import { SpanBatcher } from "../../../src/proxy/tracing/span-batcher.js";
import type { FinishedSpan } from "../../../src/proxy/tracing/span.js";
import { compileTracing, OTEL_TYPE, ZIPKIN_TYPE } from "../../../src/proxy/tracing/tracing-config.js";
import { traceNode, TracerRegistry } from "../../../src/proxy/tracing/tracers.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";
import { eventually } from "../../helpers/eventually.js";
import { otlpGrpcReceiver, otlpReceiver, type ReceivedSpan, type TraceReceiver, zipkinReceiver } from "../../helpers/trace-receivers.js";
import { REFUSED_HOST } from "../../helpers/sockets.js";
import { request } from "../helpers.js";

const A_IP = "127.0.123.1";
const B_IP = "127.0.123.2";
const BACKEND_IP = "127.0.123.9";
const ROUTER: v3.HttpFilter = { name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const FAST = { minFlushSpans: 1, flushIntervalMs: 100, maxPendingSpans: 1000 };

function staticCluster(name: string, ip: string, port: number): v3.Cluster {
  return { name, type: "STATIC", connectTimeout: { seconds: 1 }, loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: ip, portValue: port } } } }] }] } };
}

type Tracing = NonNullable<v3.HttpConnectionManager["tracing"]>;

/** Istio's Zipkin provider config (128-bit ids, no shared span context); `shared` leaves Envoy's default. */
function zipkinTracing(extra: Partial<Tracing> = {}, shared = false): Tracing {
  return {
    provider: { name: "envoy.tracers.zipkin", typedConfig: { "@type": ZIPKIN_TYPE, collectorCluster: "zipkin", collectorEndpoint: "/api/v2/spans", collectorEndpointVersion: "HTTP_JSON", traceId_128bit: true, ...(shared ? {} : { sharedSpanContext: { value: false } }) } as unknown as v3.Any },
    randomSampling: { value: 100 },
    ...extra,
  };
}

function otelTracing(json: boolean): Tracing {
  return {
    provider: {
      name: "envoy.tracers.opentelemetry",
      typedConfig: {
        "@type": OTEL_TYPE,
        serviceName: "svc",
        httpService: { httpUri: { uri: "http://otel-collector:4318/v1/traces", cluster: "otel", timeout: { seconds: 2 } }, requestHeadersToAdd: json ? [{ header: { key: "content-type", value: "application/json" } }] : [] },
      } as unknown as v3.Any,
    },
    randomSampling: { value: 100 },
  };
}

/** One HCM listener: `/` to `cluster`, and `/down` to a cluster nobody serves (503). */
function listener(name: string, ip: string, port: number, direction: "INBOUND" | "OUTBOUND", cluster: string, tracing: Tracing): v3.Listener {
  const routes = [{ match: { prefix: "/down" }, route: { cluster: "down" } }, { match: { prefix: "/" }, route: { cluster } }];
  return { ...httpListener(name, ip, port, routes, { httpFilters: [ROUTER], tracing }), trafficDirection: direction } as v3.Listener;
}

interface Chain {
  a: ProxyServer;
  b: ProxyServer;
  /** Port of A's egress listener. */
  port: number;
}

/** Proxy A (egress on `port`) → proxy B (ingress on `port`) → the backend; both report to `collector`. */
async function chain(port: number, tracing: Tracing, collectorCluster: string, collectorPort: number, backendPort: number): Promise<Chain> {
  const collector = staticCluster(collectorCluster, "127.0.0.1", collectorPort);
  // A gRPC collector's cluster speaks HTTP/2, as Istio's outbound clusters for grpc ports do.
  if (collectorCluster.includes("grpc")) collector.typedExtensionProtocolOptions = { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", explicitHttpConfig: { http2ProtocolOptions: {} } } as unknown as v3.Any };
  const down = staticCluster("down", REFUSED_HOST, 1);
  const b = new ProxyServer({
    staticResources: { clusters: [staticCluster("inbound|9080||", BACKEND_IP, backendPort), collector, down], listeners: [listener("virtualInbound", B_IP, port, "INBOUND", "inbound|9080||", tracing)] },
    node: { id: "sidecar~127.0.123.2~reviews-v1.default~default.svc.cluster.local", cluster: "reviews.default", locality: { zone: "zone-b" }, metadata: { NAMESPACE: "default", MESH_ID: "cluster.local", LABELS: { app: "reviews", version: "v1" } } },
    ip: B_IP,
    log: () => {},
    traceBatching: FAST,
  });
  const a = new ProxyServer({
    staticResources: { clusters: [staticCluster("outbound|9080||reviews.default.svc.cluster.local", B_IP, port), collector, down], listeners: [listener("0.0.0.0_9080", A_IP, port, "OUTBOUND", "outbound|9080||reviews.default.svc.cluster.local", tracing)] },
    node: { id: "sidecar~127.0.123.1~productpage-v1.default~default.svc.cluster.local", cluster: "productpage.default", metadata: { NAMESPACE: "default", MESH_ID: "cluster.local", LABELS: { "service.istio.io/canonical-name": "productpage", "service.istio.io/canonical-revision": "v1" } } },
    ip: A_IP,
    log: () => {},
    traceBatching: FAST,
  });
  await b.start();
  await a.start();
  return { a, b, port };
}

function byTrace(spans: readonly ReceivedSpan[], traceId: string): ReceivedSpan[] {
  return spans.filter((s) => s.traceId === traceId);
}

describe("tracing through two proxies", () => {
  const seen: http.IncomingHttpHeaders[] = [];
  let backend: http.Server;
  let backendPort = 0;
  let zipkin: TraceReceiver;
  let otlp: TraceReceiver;
  const chains: Chain[] = [];

  before(async () => {
    backend = http.createServer((req, res) => {
      seen.push(req.headers);
      res.end("ok");
    });
    await new Promise<void>((r) => backend.listen(0, BACKEND_IP, r));
    backendPort = (backend.address() as AddressInfo).port;
    zipkin = await zipkinReceiver();
    otlp = await otlpReceiver();
  });

  after(async () => {
    for (const c of chains) {
      await c.a.close();
      await c.b.close();
    }
    backend.closeAllConnections();
    await new Promise<void>((r) => backend.close(() => r()));
    await zipkin.close();
    await otlp.close();
  });

  /** The two spans of the trace the backend saw for request `n` (its x-b3 / traceparent). */
  async function pair(rx: TraceReceiver, traceId: string): Promise<[ReceivedSpan, ReceivedSpan]> {
    const two = await eventually(`two spans of trace ${traceId}`, () => {
      const s = byTrace(rx.spans, traceId);
      return s.length >= 2 ? s : undefined;
    });
    assert.equal(two.length, 2, "one span per proxy");
    const client = two.find((s) => s.kind === "CLIENT");
    const server = two.find((s) => s.kind === "SERVER");
    assert.ok(client && server, `a CLIENT and a SERVER span: ${JSON.stringify(two)}`);
    return [client, server];
  }

  it("Zipkin: one trace, a client span and its child server span, Envoy's tags", async () => {
    const c = await chain(18301, zipkinTracing({ customTags: [{ tag: "lit", literal: { value: "v" } }, { tag: "hdr", requestHeader: { name: "x-tag-me", defaultValue: "none" } }, { tag: "env", environment: { name: "TSMESH_TEST_NO_SUCH_VAR", defaultValue: "dflt" } }] }), "zipkin", zipkin.port, backendPort);
    chains.push(c);
    seen.length = 0;
    const r = await request(`http://${A_IP}:${c.port}/reviews/0?x=1`, { headers: { host: "reviews:9080", "x-tag-me": "tagged", "user-agent": "trace-test" } });
    assert.equal(r.status, 200);
    const h = seen[0];
    const traceId = String(h["x-b3-traceid"]);
    assert.match(traceId, /^[0-9a-f]{32}$/, "128-bit trace ids (trace_id_128bit)");
    assert.equal(h["x-b3-sampled"], "1");
    assert.equal(String(h["x-request-id"])[14], "a", "x-request-id carries the random-sampling reason");
    const [client, server] = await pair(zipkin, traceId);
    assert.equal(client.parentId, undefined, "the client span is the root");
    assert.equal(server.parentId, client.id, "the server span is the client span's child (shared_span_context false)");
    assert.notEqual(server.id, client.id);
    assert.equal(h["x-b3-spanid"], server.id, "the backend sees the server span");
    assert.equal(h["x-b3-parentspanid"], client.id);
    assert.equal(client.serviceName, "productpage.default");
    assert.equal(server.serviceName, "reviews.default");
    assert.equal(client.name, "reviews:9080");
    const t = server.tags;
    assert.equal(t.component, "proxy");
    assert.equal(t.node_id, "sidecar~127.0.123.2~reviews-v1.default~default.svc.cluster.local");
    assert.equal(t.zone, "zone-b");
    assert.equal(t["http.url"], "http://reviews:9080/reviews/0?x=1");
    assert.equal(t["http.method"], "GET");
    assert.equal(t["http.status_code"], "200");
    assert.equal(t["http.protocol"], "HTTP/1.1");
    assert.equal(t.user_agent, "trace-test");
    assert.equal(t.downstream_cluster, "-");
    assert.equal(t.response_flags, "-");
    assert.equal(t.response_size, "2");
    assert.equal(t.request_size, "0");
    assert.equal(t.upstream_cluster, "inbound|9080||");
    assert.equal(t["upstream_cluster.name"], "inbound|9080||");
    assert.equal(t["guid:x-request-id"], h["x-request-id"]);
    assert.match(t["peer.address"], /^127\.\d+\.\d+\.\d+/, "the downstream peer (proxy A's upstream connection)");
    assert.equal(t["istio.canonical_service"], "reviews");
    assert.equal(t["istio.canonical_revision"], "v1");
    assert.equal(t["istio.namespace"], "default");
    assert.equal(t["istio.mesh_id"], "cluster.local");
    assert.equal(t.lit, "v");
    assert.equal(t.hdr, "tagged");
    assert.equal(t.env, "dflt");
    assert.equal(t.error, undefined);
    assert.equal(client.tags["upstream_cluster"], "outbound|9080||reviews.default.svc.cluster.local");
    assert.equal(client.tags["istio.canonical_service"], "productpage");
    assert.ok(client.timestamp <= server.timestamp && server.duration <= client.duration, "the server span lies within the client span");
    assert.deepEqual(zipkin.rejected, []);
    await eventually("the report counted", () => c.a.stats.counter("tracing.zipkin.reports_sent").value >= 1);
    assert.ok(c.a.stats.counter("tracing.zipkin.spans_sent").value >= 1);
  });

  it("Zipkin: the caller's B3 context is continued; a 5xx is an error span", async () => {
    const c = chains[0];
    const traceId = "463ac35c9f6413ad48485a3953bb6124";
    const r = await request(`http://${A_IP}:${c.port}/down`, { headers: { host: "reviews:9080", "x-b3-traceid": traceId, "x-b3-spanid": "a2fb4a1d1a96d312", "x-b3-sampled": "1" } });
    assert.equal(r.status, 503);
    const spans = await eventually("the error span", () => byTrace(zipkin.spans, traceId).find((s) => s.kind === "CLIENT"));
    assert.equal(spans.parentId, "a2fb4a1d1a96d312", "the caller's span is the parent");
    assert.equal(spans.tags.error, "true");
    assert.equal(spans.tags["http.status_code"], "503");
    assert.equal(spans.tags.response_flags, "UF");
  });

  it("Zipkin: sampling 0% exports nothing but propagates the decision; the caller's sampled flag wins", async () => {
    const c = await chain(18302, zipkinTracing({ randomSampling: { value: 0 } }), "zipkin", zipkin.port, backendPort);
    chains.push(c);
    seen.length = 0;
    for (let i = 0; i < 5; i++) assert.equal((await request(`http://${A_IP}:${c.port}/r`, { headers: { host: "reviews:9080" } })).status, 200);
    const unsampled = seen.map((h) => String(h["x-b3-traceid"]));
    for (const h of seen) assert.equal(h["x-b3-sampled"], "0");
    // A request the caller samples is traced: once its spans arrive, the earlier ones would have too.
    seen.length = 0;
    await request(`http://${A_IP}:${c.port}/r`, { headers: { host: "reviews:9080", "x-b3-sampled": "1" } });
    const sampledTrace = String(seen[0]["x-b3-traceid"]);
    await pair(zipkin, sampledTrace);
    await new Promise((r) => setTimeout(r, 300));
    for (const t of unsampled) assert.deepEqual(byTrace(zipkin.spans, t), [], "no span of an unsampled request");
  });

  it("Zipkin with Envoy's default shared_span_context: the server span reuses the client span's id", async () => {
    const c = await chain(18305, zipkinTracing({}, true), "zipkin", zipkin.port, backendPort);
    chains.push(c);
    seen.length = 0;
    await request(`http://${A_IP}:${c.port}/r`, { headers: { host: "reviews:9080" } });
    const traceId = String(seen[0]["x-b3-traceid"]);
    const [client, server] = await pair(zipkin, traceId);
    assert.equal(server.id, client.id);
    assert.equal(server.parentId, undefined);
    assert.equal(server.shared, true);
    assert.equal(client.shared, false);
    assert.equal(seen[0]["x-b3-spanid"], client.id);
  });

  it("spawn_upstream_span (Istio's gateways): the router's CLIENT child span is the upstream's parent", async () => {
    const c = await chain(18306, zipkinTracing({ spawnUpstreamSpan: { value: true }, customTags: [{ tag: "lit", literal: { value: "v" } }] }), "zipkin", zipkin.port, backendPort);
    chains.push(c);
    seen.length = 0;
    assert.equal((await request(`http://${A_IP}:${c.port}/r`, { headers: { host: "reviews:9080" } })).status, 200);
    const traceId = String(seen[0]["x-b3-traceid"]);
    // A: its HCM span and its router's upstream span; B: its HCM span and its router's upstream span.
    const spans = await eventually("four spans", () => {
      const s = byTrace(zipkin.spans, traceId);
      return s.length >= 4 ? s : undefined;
    });
    assert.equal(spans.length, 4);
    const aHcm = spans.find((s) => s.serviceName === "productpage.default" && s.parentId === undefined);
    assert.ok(aHcm, "A's connection-manager span is the root");
    const aUp = spans.find((s) => s.parentId === aHcm.id);
    assert.ok(aUp, "A's upstream span is its child");
    assert.equal(aUp.kind, "CLIENT");
    assert.equal(aUp.name, "router outbound|9080||reviews.default.svc.cluster.local egress");
    assert.equal(aUp.tags.upstream_cluster, "outbound|9080||reviews.default.svc.cluster.local");
    assert.equal(aUp.tags["http.status_code"], "200");
    assert.equal(aUp.tags["http.protocol"], "HTTP/1.1");
    assert.equal(aUp.tags.component, "proxy");
    assert.equal(aUp.tags.lit, "v", "custom tags on the upstream span too");
    assert.equal(aUp.tags.upstream_address, `${B_IP}:${c.port}`);
    const bHcm = spans.find((s) => s.serviceName === "reviews.default" && s.kind === "SERVER");
    assert.ok(bHcm);
    assert.equal(bHcm.parentId, aUp.id, "B continues the upstream span's context, not A's HCM span");
    const bUp = spans.find((s) => s.parentId === bHcm.id);
    assert.ok(bUp);
    assert.equal(seen[0]["x-b3-spanid"], bUp.id, "the backend sees B's upstream span");
    assert.equal(seen[0]["x-b3-parentspanid"], bHcm.id);
  });

  it("a malformed context is not traced and passes through untouched", async () => {
    const c = chains[1];
    seen.length = 0;
    const before = zipkin.spans.length;
    await request(`http://${A_IP}:${c.port}/r`, { headers: { host: "reviews:9080", "x-b3-traceid": "NOT-HEX", "x-b3-spanid": "a2fb4a1d1a96d312", "x-b3-sampled": "1" } });
    assert.equal(seen[0]["x-b3-traceid"], "NOT-HEX");
    assert.equal(c.a.stats.counter("tracing.zipkin.invalid_trace_context").value, 1);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(zipkin.spans.length, before);
  });

  for (const json of [false, true]) {
    it(`OTLP/HTTP ${json ? "JSON" : "protobuf"}: the caller's traceparent is continued across both proxies`, async () => {
      const c = await chain(json ? 18304 : 18303, otelTracing(json), "otel", otlp.port, backendPort);
      chains.push(c);
      seen.length = 0;
      const traceId = json ? "0af7651916cd43dd8448eb211c80319c" : "4bf92f3577b34da6a3ce929d0e0e4736";
      const r = await request(`http://${A_IP}:${c.port}/ratings`, { headers: { host: "ratings:9080", traceparent: `00-${traceId}-00f067aa0ba902b7-01`, tracestate: "rojo=00f067aa0ba902b7" } });
      assert.equal(r.status, 200);
      const h = seen[0];
      const [client, server] = await pair(otlp, traceId);
      assert.equal(client.parentId, "00f067aa0ba902b7");
      assert.equal(server.parentId, client.id);
      assert.equal(h.traceparent, `00-${traceId}-${server.id}-01`);
      assert.equal(h.tracestate, "rojo=00f067aa0ba902b7");
      assert.equal(client.name, "egress");
      assert.equal(server.name, "ingress");
      assert.equal(server.serviceName, "svc");
      assert.equal(server.tags["http.status_code"], "200");
      assert.deepEqual(otlp.rejected, []);
      assert.ok(otlp.contentTypes.includes(json ? "application/json" : "application/x-protobuf"));
      await eventually("the report counted", () => c.a.stats.counter("tracing.opentelemetry.http_reports_success").value >= 1);
    });
  }

  it("OTLP/gRPC (Istio's default opentelemetry provider): TraceService/Export to a real gRPC collector", async () => {
    const grpcRx = await otlpGrpcReceiver();
    try {
      const tracing: Tracing = {
        provider: {
          name: "envoy.tracers.opentelemetry",
          typedConfig: { "@type": OTEL_TYPE, serviceName: "svc-grpc", grpcService: { envoyGrpc: { clusterName: "otel-grpc", authority: "otel-collector.istio-system.svc.cluster.local" }, timeout: { seconds: 2 }, initialMetadata: [{ key: "x-tenant", value: "t1" }] } } as unknown as v3.Any,
        },
        randomSampling: { value: 100 },
      };
      const c = await chain(18307, tracing, "otel-grpc", grpcRx.port, backendPort);
      chains.push(c);
      seen.length = 0;
      assert.equal((await request(`http://${A_IP}:${c.port}/ratings`, { headers: { host: "ratings:9080" } })).status, 200);
      const traceId = /^00-([0-9a-f]{32})-/.exec(String(seen[0].traceparent))?.[1];
      assert.ok(traceId, `a traceparent upstream: ${String(seen[0].traceparent)}`);
      const [client, server] = await pair(grpcRx, traceId);
      assert.equal(server.parentId, client.id);
      assert.equal(server.serviceName, "svc-grpc");
      assert.equal(server.tags["http.status_code"], "200");
      assert.deepEqual(grpcRx.rejected, []);
      assert.equal(grpcRx.metadata[0].get("x-tenant")[0], "t1", "the GrpcService's initial metadata");
      await eventually("the report counted", () => c.a.stats.counter("tracing.opentelemetry.grpc_reports_success").value >= 1);
    } finally {
      await grpcRx.close();
    }
  });
});

describe("tracing config refusals", () => {
  const stats = new StatsStore();
  const registry = new TracerRegistry({ cluster: () => undefined, router: new Router(), stats, node: traceNode({ id: "n" }), batching: FAST });
  after(() => registry.close());
  const zipkin = (z: Record<string, unknown>): Tracing => ({ provider: { name: "z", typedConfig: { "@type": ZIPKIN_TYPE, collectorCluster: "c", collectorEndpoint: "/api/v2/spans", ...z } as unknown as v3.Any } });
  const otel = (o: Record<string, unknown>): Tracing => ({ provider: { name: "o", typedConfig: { "@type": OTEL_TYPE, httpService: { httpUri: { uri: "http://c:4318/v1/traces", cluster: "c" } }, ...o } as unknown as v3.Any } });
  const table: Array<[string, Tracing, string]> = [
    ["verbose", { ...zipkin({}), verbose: true }, "t.verbose"],
    ["another tracer", { provider: { name: "envoy.tracers.datadog", typedConfig: { "@type": "type.googleapis.com/envoy.config.trace.v3.DatadogConfig" } as unknown as v3.Any } }, "t.provider.typedConfig"],
    ["Zipkin without a cluster", zipkin({ collectorCluster: "" }), "t.provider.typedConfig.collectorCluster"],
    ["Zipkin without an endpoint", zipkin({ collectorEndpoint: "" }), "t.provider.typedConfig.collectorEndpoint"],
    ["Zipkin protobuf reports", zipkin({ collectorEndpointVersion: "HTTP_PROTO" }), "t.provider.typedConfig.collectorEndpointVersion"],
    ["OTLP over gRPC and HTTP at once", otel({ grpcService: { envoyGrpc: { clusterName: "c" } } }), "t.provider.typedConfig.httpService"],
    ["OTLP over google_grpc", { provider: { name: "o", typedConfig: { "@type": OTEL_TYPE, grpcService: { googleGrpc: { targetUri: "c:4317" } } } as unknown as v3.Any } }, "t.provider.typedConfig.grpcService.googleGrpc"],
    ["OTLP/gRPC without a cluster", { provider: { name: "o", typedConfig: { "@type": OTEL_TYPE, grpcService: { envoyGrpc: {} } } as unknown as v3.Any } }, "t.provider.typedConfig.grpcService.envoyGrpc.clusterName"],
    ["OTLP/gRPC reserved metadata", { provider: { name: "o", typedConfig: { "@type": OTEL_TYPE, grpcService: { envoyGrpc: { clusterName: "c" }, initialMetadata: [{ key: "grpc-timeout", value: "1S" }] } } as unknown as v3.Any } }, "t.provider.typedConfig.grpcService.initialMetadata[0].key"],
    ["OTLP sampler", otel({ sampler: { name: "s" } }), "t.provider.typedConfig.sampler"],
    ["OTLP without a service", { provider: { name: "o", typedConfig: { "@type": OTEL_TYPE } as unknown as v3.Any } }, "t.provider.typedConfig.httpService"],
    ["OTLP bad URI", otel({ httpService: { httpUri: { uri: "not a url", cluster: "c" } } }), "t.provider.typedConfig.httpService.httpUri.uri"],
    ["percentage over 100", { ...zipkin({}), randomSampling: { value: 150 } }, "t.randomSampling"],
    ["duplicate custom tag", { ...zipkin({}), customTags: [{ tag: "a", literal: { value: "1" } }, { tag: "a", literal: { value: "2" } }] }, "t.customTags[1].tag"],
    ["custom tag without a kind", { ...zipkin({}), customTags: [{ tag: "a" }] }, "t.customTags[0]"],
    ["route metadata tag", { ...zipkin({}), customTags: [{ tag: "a", metadata: { kind: { route: {} }, metadataKey: { key: "k", path: [{ key: "p" }] } } }] }, "t.customTags[0].metadata.kind"],
    ["zero path tag length", { ...zipkin({}), maxPathTagLength: { value: 0 } }, "t.maxPathTagLength"],
  ];
  for (const [name, t, path] of table) {
    it(name, () => {
      assert.throws(
        () => compileTracing(t, "t", false, registry),
        (e: unknown) => e instanceof XdsConfigError && e.message.startsWith(`${path}:`),
      );
    });
  }
  it("no provider: nothing is traced; a good config compiles with Envoy's defaults", () => {
    assert.equal(compileTracing({ randomSampling: { value: 5 } }, "t", false, registry), undefined);
    const c = compileTracing(zipkin({}), "t", true, registry)!;
    assert.deepEqual(c.sampling, { client: 100, random: 100, overall: 100 });
    assert.equal(c.maxPathTagLength, 256);
    assert.equal(c.egress, true);
    assert.equal(c.driver.sharedSpanContext, true, "Envoy's default shares the span context");
    assert.equal(compileTracing(zipkin({}), "t", false, registry)!.driver, c.driver, "one driver per provider config");
  });
});

describe("span batching", () => {
  const span = (i: number): FinishedSpan => ({ traceId: "1".repeat(32), spanId: i.toString(16).padStart(16, "1"), parentId: undefined, name: "n", kind: "SERVER", startUs: 1, durationUs: 1, tags: new Map(), remote: "" });
  function counters(stats: StatsStore) {
    return { spansSent: stats.counter("sent"), spansDropped: stats.counter("dropped"), timerFlushed: stats.counter("timer") };
  }

  it("flushes by size, one report in flight; a stuck collector fills the bound and the rest are dropped, never waited on", async () => {
    const stats = new StatsStore();
    const reports: number[] = [];
    let release!: () => void;
    const stuck = new Promise<void>((r) => (release = r));
    const b = new SpanBatcher({ minFlushSpans: 5, flushIntervalMs: 60_000, maxPendingSpans: 10 }, counters(stats), (s) => {
      reports.push(s.length);
      return stuck;
    });
    for (let i = 0; i < 4; i++) b.add(span(i));
    assert.deepEqual(reports, [], "under the flush size nothing is sent");
    b.add(span(4));
    assert.deepEqual(reports, [5]);
    for (let i = 0; i < 15; i++) b.add(span(10 + i));
    assert.deepEqual(reports, [5], "one report in flight");
    assert.equal(b.size, 10);
    assert.equal(stats.counter("dropped").value, 5);
    release();
    await eventually("the next report", () => reports.length === 2);
    assert.deepEqual(reports, [5, 10]);
    assert.equal(stats.counter("sent").value, 15);
    b.close();
  });

  it("flushes on the interval and stops its timer on close", async () => {
    const stats = new StatsStore();
    const reports: number[] = [];
    const b = new SpanBatcher({ minFlushSpans: 100, flushIntervalMs: 50, maxPendingSpans: 1000 }, counters(stats), async (s) => {
      reports.push(s.length);
    });
    b.add(span(1));
    b.add(span(2));
    await eventually("a timer flush", () => reports.length === 1);
    assert.deepEqual(reports, [2]);
    assert.ok(stats.counter("timer").value >= 1);
    b.add(span(3));
    b.close();
    assert.deepEqual(reports, [2, 1], "close sends what is pending");
    const timers = stats.counter("timer").value;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(stats.counter("timer").value, timers, "no timer after close");
    b.add(span(4));
    assert.equal(stats.counter("dropped").value, 1, "a closed batcher drops");
  });
});
