// The router's spans per try, through a real proxy on loopback to real upstreams that fail their
// first try, exporting to a real Zipkin receiver: with spawn_upstream_span (or the router's
// start_child_span) each try — the first and every retry — is its own CLIENT child of the HCM span,
// tagged as Envoy's UpstreamRequest span (retry.count, http.status_code, error, error.reason,
// canceled, response_flags, peer.address, gRPC status) over HTTP/1.1 and HTTP/2, and the upstream
// sees that try's own span id. Without either, every try carries the HCM span's context. A mirror
// gets its own "mirror" span.
import { httpListener } from "../protocol-helpers.js";
import assert from "node:assert/strict";
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type * as v3 from "../../../src/envoy/types.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { ZIPKIN_TYPE } from "../../../src/proxy/tracing/tracing-config.js";
import { eventually } from "../../helpers/eventually.js";
import { type ReceivedSpan, type TraceReceiver, zipkinReceiver } from "../../helpers/trace-receivers.js";
import { REFUSED_HOST } from "../../helpers/sockets.js";
import { request } from "../helpers.js";

const PROXY_IP = "127.0.123.31";
const BACKEND_IP = "127.0.123.39";
const MIRROR_IP = "127.0.123.38";
const H2_IP = "127.0.123.37";
const SPAWN_PORT = 18311;
const PLAIN_PORT = 18312;
const CHILD_PORT = 18313;
const ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const BACKEND = "outbound|9080||reviews.default.svc.cluster.local";
const MIRROR = "outbound|9080||mirror.default.svc.cluster.local";
const GRPC = "outbound|7070||grpc.default.svc.cluster.local";

function staticCluster(name: string, ip: string, port: number): v3.Cluster {
  return { name, type: "STATIC", connectTimeout: { seconds: 1 }, loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: ip, portValue: port } } } }] }] } };
}

function tracing(spawn: boolean): NonNullable<v3.HttpConnectionManager["tracing"]> {
  return {
    provider: { name: "envoy.tracers.zipkin", typedConfig: { "@type": ZIPKIN_TYPE, collectorCluster: "zipkin", collectorEndpoint: "/api/v2/spans", collectorEndpointVersion: "HTTP_JSON", traceId_128bit: true, sharedSpanContext: { value: false } } as unknown as v3.Any },
    randomSampling: { value: 100 },
    ...(spawn ? { spawnUpstreamSpan: { value: true } } : {}),
  };
}

const RETRY = { retryOn: "5xx", numRetries: { value: 2 }, perTryTimeout: { nanos: 400_000_000 }, retryBackOff: { baseInterval: { nanos: 1_000_000 } } };
const ROUTES = [
  { match: { prefix: "/down" }, route: { cluster: "down", retryPolicy: { retryOn: "connect-failure", numRetries: { value: 1 }, retryBackOff: { baseInterval: { nanos: 1_000_000 } } } } },
  { match: { prefix: "/mirrored" }, route: { cluster: BACKEND, requestMirrorPolicies: [{ cluster: MIRROR }] } },
  { match: { prefix: "/h2" }, route: { cluster: GRPC, retryPolicy: RETRY } },
  { match: { prefix: "/" }, route: { cluster: BACKEND, retryPolicy: RETRY, timeout: { seconds: 10 } } },
];

function listener(name: string, port: number, spawn: boolean, startChildSpan = false): v3.Listener {
  const router = { name: "envoy.filters.http.router", typedConfig: { "@type": ROUTER_TYPE, ...(startChildSpan ? { startChildSpan: true } : {}) } };
  return { ...httpListener(name, PROXY_IP, port, ROUTES, { httpFilters: [router], tracing: tracing(spawn) }), trafficDirection: "OUTBOUND" } as v3.Listener;
}

/** Received spans by trace, waiting until `n` of them are in. */
async function trace(rx: TraceReceiver, traceId: string, n: number): Promise<ReceivedSpan[]> {
  return eventually(`${n} spans of trace ${traceId}`, () => {
    const s = rx.spans.filter((x) => x.traceId === traceId);
    return s.length >= n ? s : undefined;
  });
}

describe("router spans per try", () => {
  let zipkin: TraceReceiver;
  let backend: http.Server;
  let mirror: http.Server;
  let h2: http2.Http2Server;
  let proxy: ProxyServer;
  /** Request headers each upstream saw, by path, in arrival order. */
  const seen = new Map<string, http.IncomingHttpHeaders[]>();
  const mirrored: http.IncomingHttpHeaders[] = [];

  before(async () => {
    zipkin = await zipkinReceiver();
    // /flaky/*: 503 on its first try, 200 after; /slow/*: no answer on its first try (the per-try
    // timeout ends it), 200 after; anything else 200.
    backend = http.createServer((req, res) => {
      const path = req.url ?? "/";
      const list = seen.get(path) ?? [];
      list.push(req.headers);
      seen.set(path, list);
      if (path.startsWith("/flaky") && list.length === 1) {
        res.statusCode = 503;
        res.end("try again");
      } else if (path.startsWith("/slow") && list.length === 1) {
        req.resume(); // never answered: the proxy's per-try timeout resets it
      } else res.end("ok");
    });
    mirror = http.createServer((req, res) => {
      mirrored.push(req.headers);
      res.end("shadow");
    });
    // An HTTP/2 upstream: its first try answers 503, the retry 200; /h2/grpc a trailers-only UNAVAILABLE.
    h2 = http2.createServer((req, res) => {
      const list = seen.get(req.url) ?? [];
      list.push(req.headers);
      seen.set(req.url, list);
      if (req.url === "/h2/grpc") res.writeHead(200, { "content-type": "application/grpc", "grpc-status": "14", "grpc-message": "down" });
      else res.statusCode = list.length === 1 ? 503 : 200;
      res.end();
    });
    await new Promise<void>((r) => h2.listen(0, H2_IP, r));
    const h2Cluster = staticCluster(GRPC, H2_IP, (h2.address() as AddressInfo).port);
    h2Cluster.typedExtensionProtocolOptions = { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", explicitHttpConfig: { http2ProtocolOptions: {} } } as unknown as v3.Any };
    await new Promise<void>((r) => backend.listen(0, BACKEND_IP, r));
    await new Promise<void>((r) => mirror.listen(0, MIRROR_IP, r));
    const clusters = [
      staticCluster(BACKEND, BACKEND_IP, (backend.address() as AddressInfo).port),
      staticCluster(MIRROR, MIRROR_IP, (mirror.address() as AddressInfo).port),
      staticCluster("zipkin", "127.0.0.1", zipkin.port),
      staticCluster("down", REFUSED_HOST, 1),
      h2Cluster,
    ];
    proxy = new ProxyServer({
      staticResources: { clusters, listeners: [listener("spawn", SPAWN_PORT, true), listener("plain", PLAIN_PORT, false), listener("child", CHILD_PORT, false, true)] },
      node: { id: "router~127.0.123.31~istio-ingressgateway-1.istio-system~istio-system.svc.cluster.local", cluster: "istio-ingressgateway.istio-system", metadata: { NAMESPACE: "istio-system" } },
      ip: PROXY_IP,
      log: () => {},
      traceBatching: { minFlushSpans: 1, flushIntervalMs: 100, maxPendingSpans: 1000 },
    });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    for (const s of [backend, mirror]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    await new Promise<void>((r) => h2.close(() => r()));
    await zipkin.close();
  });

  /** A request that succeeds on its second try; the request headers of both tries. */
  async function twoTries(port: number, path: string): Promise<http.IncomingHttpHeaders[]> {
    const r = await request(`http://${PROXY_IP}:${port}${path}`, { headers: { host: "reviews:9080" } });
    assert.equal(r.status, 200);
    const tries = seen.get(path) ?? [];
    assert.equal(tries.length, 2, "the first try failed, the retry answered");
    return tries;
  }

  it("a 503 then a 200: one span per try, each the upstream's parent, retry.count on the retry", async () => {
    const tries = await twoTries(SPAWN_PORT, "/flaky/1");
    const traceId = String(tries[0]["x-b3-traceid"]);
    assert.equal(tries[1]["x-b3-traceid"], traceId, "both tries in one trace");
    const spans = await trace(zipkin, traceId, 3);
    assert.equal(spans.length, 3, "the HCM span and one span per try");
    const hcm = spans.find((s) => s.parentId === undefined);
    assert.ok(hcm, "the HCM span is the root");
    assert.equal(hcm.tags["http.status_code"], "200");
    assert.match(hcm.tags.response_flags, /URX/, "the downstream span says the request was retried");
    const first = spans.find((s) => s.id === tries[0]["x-b3-spanid"]);
    const second = spans.find((s) => s.id === tries[1]["x-b3-spanid"]);
    assert.ok(first && second, "each try's request carried its own span's id");
    assert.notEqual(first.id, second.id);
    for (const [i, s] of [first, second].entries()) {
      assert.equal(s.parentId, hcm.id, "a try's span is the HCM span's child");
      assert.equal(tries[i]["x-b3-parentspanid"], hcm.id, "and the upstream sees that parent");
      assert.equal(tries[i]["x-b3-sampled"], "1");
      assert.equal(s.kind, "CLIENT");
      assert.equal(s.name, `router ${BACKEND} egress`);
      assert.equal(s.tags.component, "proxy");
      assert.equal(s.tags.upstream_cluster, BACKEND);
      assert.equal(s.tags["upstream_cluster.name"], BACKEND);
      assert.equal(s.tags["http.protocol"], "HTTP/1.1");
      assert.equal(s.tags.upstream_address, `${BACKEND_IP}:${(backend.address() as AddressInfo).port}`);
      assert.equal(s.tags["peer.address"], s.tags.upstream_address);
      assert.ok(s.timestamp >= hcm.timestamp && s.timestamp + s.duration <= hcm.timestamp + hcm.duration + 1000, "a try lies within its request");
    }
    assert.equal(first.tags["http.status_code"], "503");
    assert.equal(first.tags.error, "true");
    assert.equal(first.tags["retry.count"], undefined, "the first try is no retry");
    assert.equal(second.tags["http.status_code"], "200");
    assert.equal(second.tags.error, undefined);
    assert.equal(second.tags["retry.count"], "1");
    assert.equal(second.tags.canceled, undefined, "the relayed try completed");
    assert.ok(first.timestamp + first.duration <= second.timestamp + 1000, "the first try ended before the retry started");
  });

  it("a per-try timeout ends its try's span: UT, canceled, no status, an error", async () => {
    const tries = await twoTries(SPAWN_PORT, "/slow/1");
    const spans = await trace(zipkin, String(tries[0]["x-b3-traceid"]), 3);
    const first = spans.find((s) => s.id === tries[0]["x-b3-spanid"]);
    const second = spans.find((s) => s.id === tries[1]["x-b3-spanid"]);
    assert.ok(first && second);
    assert.equal(first.tags.response_flags, "UT");
    assert.equal(first.tags.canceled, "true");
    assert.equal(first.tags["http.status_code"], "0");
    assert.equal(first.tags.error, "true");
    assert.equal(first.tags["error.reason"], undefined, "the router reset it: a cancel, not an upstream reset");
    assert.equal(second.tags["retry.count"], "1");
    assert.equal(second.tags["http.status_code"], "200");
    assert.equal(second.tags.response_flags, "-");
  });

  it("connect failures: a span per try with Envoy's reset reason and no protocol", async () => {
    const r = await request(`http://${PROXY_IP}:${SPAWN_PORT}/down`, { headers: { host: "reviews:9080", "x-b3-traceid": "463ac35c9f6413ad48485a3953bb6124", "x-b3-spanid": "a2fb4a1d1a96d312", "x-b3-sampled": "1" } });
    assert.equal(r.status, 503);
    const spans = await trace(zipkin, "463ac35c9f6413ad48485a3953bb6124", 3);
    const hcm = spans.find((s) => s.parentId === "a2fb4a1d1a96d312");
    assert.ok(hcm, "the HCM span continues the caller's");
    const tries = spans.filter((s) => s.parentId === hcm.id);
    assert.equal(tries.length, 2, "the try and its retry");
    for (const s of tries) {
      assert.equal(s.name, "router down egress");
      assert.equal(s.tags["error.reason"], "remote connection failure");
      assert.equal(s.tags.response_flags, "UF");
      assert.equal(s.tags["http.status_code"], "0");
      assert.equal(s.tags.error, "true");
      assert.equal(s.tags["http.protocol"], "-", "no connection, no protocol");
    }
    assert.deepEqual(tries.map((s) => s.tags["retry.count"]).sort(), ["1", undefined].sort());
  });

  it("an HTTP/2 upstream: each try's stream carries its own span, tagged HTTP/2", async () => {
    const tries = await twoTries(SPAWN_PORT, "/h2/1");
    const spans = await trace(zipkin, String(tries[0]["x-b3-traceid"]), 3);
    const hcm = spans.find((s) => s.parentId === undefined);
    assert.ok(hcm);
    const mine = tries.map((t) => spans.find((s) => s.id === t["x-b3-spanid"]));
    assert.deepEqual(mine.map((s) => [s?.parentId, s?.tags["http.status_code"], s?.tags["http.protocol"], s?.tags["retry.count"]]), [
      [hcm.id, "503", "HTTP/2", undefined],
      [hcm.id, "200", "HTTP/2", "1"],
    ]);
  });

  it("a gRPC status on the try's response: grpc.status_code, grpc.message, and UNAVAILABLE is an error", async () => {
    const r = await request(`http://${PROXY_IP}:${SPAWN_PORT}/h2/grpc`, { headers: { host: "grpc:7070", "content-type": "application/grpc" } });
    assert.equal(r.status, 200);
    const sent = (seen.get("/h2/grpc") ?? [])[0];
    const spans = await trace(zipkin, String(sent["x-b3-traceid"]), 2);
    const t = spans.find((s) => s.id === sent["x-b3-spanid"]);
    assert.ok(t);
    assert.equal(t.tags["grpc.status_code"], "14");
    assert.equal(t.tags["grpc.message"], "down");
    assert.equal(t.tags.error, "true");
    assert.equal(t.tags["http.status_code"], "200");
  });

  it("without spawn_upstream_span every try carries the HCM span's context (Envoy injects the active span)", async () => {
    const tries = await twoTries(PLAIN_PORT, "/flaky/2");
    const spans = await trace(zipkin, String(tries[0]["x-b3-traceid"]), 1);
    await new Promise((res) => setTimeout(res, 300)); // a stray try span would have come with it
    const all = zipkin.spans.filter((s) => s.traceId === tries[0]["x-b3-traceid"]);
    assert.equal(all.length, 1, "only the HCM span");
    assert.equal(tries[0]["x-b3-spanid"], spans[0].id);
    assert.equal(tries[1]["x-b3-spanid"], spans[0].id, "the retry carries the same context");
  });

  it("the router's start_child_span alone spawns the try spans too", async () => {
    const tries = await twoTries(CHILD_PORT, "/flaky/3");
    const spans = await trace(zipkin, String(tries[0]["x-b3-traceid"]), 3);
    const hcm = spans.find((s) => s.parentId === undefined);
    assert.ok(hcm);
    for (const t of tries) assert.equal(spans.find((s) => s.id === t["x-b3-spanid"])?.parentId, hcm.id);
  });

  it("a mirror gets its own span, whose context the shadow request carries", async () => {
    mirrored.length = 0;
    const r = await request(`http://${PROXY_IP}:${SPAWN_PORT}/mirrored`, { headers: { host: "reviews:9080" } });
    assert.equal(r.status, 200);
    await eventually("the shadow request", () => mirrored.length >= 1 || undefined);
    const shadow = mirrored[0];
    assert.equal(shadow.host, "reviews-shadow:9080");
    const main = (seen.get("/mirrored") ?? [])[0];
    assert.equal(shadow["x-b3-traceid"], main["x-b3-traceid"]);
    const spans = await trace(zipkin, String(main["x-b3-traceid"]), 3);
    const hcm = spans.find((s) => s.parentId === undefined);
    assert.ok(hcm);
    const m = spans.find((s) => s.name === "mirror");
    assert.ok(m, `a mirror span: ${JSON.stringify(spans.map((s) => s.name))}`);
    assert.equal(m.parentId, hcm.id);
    assert.equal(shadow["x-b3-spanid"], m.id, "the shadow carries the mirror span");
    assert.equal(shadow["x-b3-parentspanid"], hcm.id);
    assert.equal(m.tags.upstream_cluster, MIRROR);
    assert.equal(m.tags["http.status_code"], "200");
    assert.equal(m.tags["http.protocol"], "HTTP/1.1");
    assert.equal(spans.find((s) => s.id === main["x-b3-spanid"])?.parentId, hcm.id, "the real request has its try span");
  });
});
