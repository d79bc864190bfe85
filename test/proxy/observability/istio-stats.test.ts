// istio.stats: Istio's standard labels from hand-built StreamInfo records (inbound/outbound, mTLS or
// not, peers known or not, gRPC, TCP), PluginConfig overrides and refusals, the stats store's series
// caps, the Prometheus exposition (parsed back strictly), and the 15090 / 15020 endpoints over real
// sockets with an annotated app's metrics merged.
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, it } from "node:test";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { encodeMessage, type ProtoObject, TYPE_PREFIX } from "../../../src/envoy/protos.js";
import { wireDecode } from "../../../src/envoy/wire.js";
import { AdminServer } from "../../../src/proxy/admin.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { StatsStore } from "../../../src/proxy/stats.js";
import { SERIES_OVERFLOW_STAT } from "../../../src/proxy/labeled-stats.js";
import { appMetricsTarget, parseAppMetrics } from "../../../src/proxy/prometheus-merge.js";
import { compilePluginConfig, localWorkload, STANDARD_LABELS, StandardLabelCache, standardLabels, TCP_LABELS, type PluginConfig } from "../../../src/proxy/observability/istio-stats-labels.js";
import { IstioHttpStats, IstioTcpStats } from "../../../src/proxy/observability/istio-stats.js";
import { HTTP_FILTERS } from "../../../src/proxy/http/filter.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";
import type { ConnectionTls, HttpStreamInfo, TcpStreamInfo } from "../../../src/proxy/stream-info.js";
import { inboundHttpInfo, inboundTcpInfo, PRODUCTPAGE_PEER } from "./stream-info-fixtures.js";
import { REFUSED_ADDRESS } from "../../helpers/sockets.js";
import { eventually } from "../../helpers/eventually.js";
import { parseExposition } from "../../helpers/prometheus-text.js";
import { httpListener, prefixRoute, staticCluster } from "../protocol-helpers.js";

const NODE = { NAME: "reviews-v1-abc", NAMESPACE: "default", WORKLOAD_NAME: "reviews-v1", LABELS: { app: "reviews", version: "v1" } };
const LOCAL = localWorkload(NODE);
const MTLS: ConnectionTls = { peerPrincipal: "spiffe://cluster.local/ns/default/sa/bookinfo-productpage", localPrincipal: "spiffe://cluster.local/ns/default/sa/bookinfo-reviews", peerCertificatePresented: true, sni: "", version: "TLSv1.3", alpn: "istio" };
const SERVICES = { istio: { services: [{ host: "reviews.default.svc.cluster.local", name: "reviews", namespace: "default" }] } };

const cfg = (c: PluginConfig = {}) => compilePluginConfig(c, "f");
const labelsOf = (vals: string[], names: readonly string[] = STANDARD_LABELS) => Object.fromEntries(names.map((n, i) => [n, vals[i]]));

describe("istio.stats labels", () => {
  const table: Array<{ name: string; info: HttpStreamInfo | TcpStreamInfo; want: Record<string, string> }> = [
    {
      name: "inbound over mTLS with a known peer: destination reporter, both sides known",
      info: inboundHttpInfo({ downstreamTls: MTLS, filterState: new Map([["downstream_peer", PRODUCTPAGE_PEER]]), upstreamClusterMetadata: SERVICES }),
      want: { reporter: "destination", source_workload: "productpage-v1", source_canonical_service: "productpage", source_principal: MTLS.peerPrincipal, destination_workload: "reviews-v1", destination_app: "reviews", destination_version: "v1", destination_canonical_service: "reviews", destination_canonical_revision: "v1", destination_principal: MTLS.localPrincipal, destination_service: "reviews.default.svc.cluster.local", destination_service_name: "reviews", destination_service_namespace: "default", destination_cluster: "Kubernetes", request_protocol: "http", response_code: "200", grpc_response_status: "", response_flags: "-", connection_security_policy: "mutual_tls" },
    },
    {
      name: "inbound in plaintext, no peer: source unknown, policy none, host header fallback",
      info: inboundHttpInfo(),
      want: { reporter: "destination", source_workload: "unknown", source_app: "unknown", source_principal: "unknown", source_cluster: "unknown", destination_workload: "reviews-v1", destination_service: "reviews:9080", destination_service_name: "reviews:9080", destination_service_namespace: "default", connection_security_policy: "none", destination_principal: "unknown" },
    },
    {
      name: "outbound to a known peer: source reporter, policy unknown, cluster metadata wins",
      info: inboundHttpInfo({ direction: "outbound", upstreamTls: { ...MTLS, peerPrincipal: MTLS.localPrincipal, localPrincipal: MTLS.peerPrincipal }, filterState: new Map([["upstream_peer", { ...PRODUCTPAGE_PEER, workload: "ratings-v1", app: "ratings" }]]), upstreamClusterMetadata: SERVICES, flags: 0 }),
      want: { reporter: "source", source_workload: "reviews-v1", source_app: "reviews", source_principal: MTLS.peerPrincipal, destination_workload: "ratings-v1", destination_app: "ratings", destination_principal: MTLS.localPrincipal, destination_service: "reviews.default.svc.cluster.local", connection_security_policy: "unknown" },
    },
    {
      name: "outbound to the passthrough cluster without a peer: destination unknown, service name the cluster",
      info: inboundHttpInfo({ direction: "outbound", upstreamCluster: "PassthroughCluster", authority: "example.com" }),
      want: { destination_workload: "unknown", destination_service: "example.com", destination_service_name: "PassthroughCluster", destination_service_namespace: "unknown" },
    },
    {
      name: "gRPC: request_protocol grpc and the grpc-status",
      info: inboundHttpInfo({ requestHeaders: { "content-type": "application/grpc" }, grpcStatus: 14, responseCode: 200 }),
      want: { request_protocol: "grpc", grpc_response_status: "14" },
    },
  ];
  for (const t of table) {
    it(t.name, () => {
      const got = labelsOf(standardLabels(t.info, LOCAL, cfg()));
      for (const [k, v] of Object.entries(t.want)) assert.equal(got[k], v, k);
    });
  }
  it("the host header fallback is off when disable_host_header_fallback", () => {
    const got = labelsOf(standardLabels(inboundHttpInfo(), LOCAL, cfg({ disableHostHeaderFallback: true })));
    assert.equal(got.destination_service, "unknown");
  });
  it("TCP: Istio's labels without response_code and grpc_response_status, protocol tcp", () => {
    const vals = standardLabels(inboundTcpInfo({ downstreamTls: MTLS }), LOCAL, cfg());
    assert.equal(vals.length, TCP_LABELS.length);
    const got = labelsOf(vals, TCP_LABELS);
    assert.equal(got.request_protocol, "tcp");
    assert.equal(got.connection_security_policy, "mutual_tls");
    assert.equal("response_code" in got, false);
  });
  it("SERVER_GATEWAY reports as waypoint", () => {
    assert.equal(standardLabels(inboundHttpInfo(), LOCAL, cfg({ reporter: "SERVER_GATEWAY" }))[0], "waypoint");
  });
  it("the label cache gives each stream the labels computed afresh, and reuses a set for equal inputs", () => {
    const peerState = new Map([["downstream_peer", PRODUCTPAGE_PEER]]);
    const otherPeer = new Map([["downstream_peer", { ...PRODUCTPAGE_PEER, workload: "details-v1" }]]);
    // Streams differing in one input each, repeated and interleaved, past the cache's size.
    const streams: Array<HttpStreamInfo | TcpStreamInfo> = [
      inboundHttpInfo(),
      inboundHttpInfo({ responseCode: 503 }),
      inboundHttpInfo({ flags: 1 }),
      inboundHttpInfo({ downstreamTls: MTLS }),
      inboundHttpInfo({ downstreamTls: { ...MTLS, peerPrincipal: "spiffe://cluster.local/ns/x/sa/y" } }),
      inboundHttpInfo({ filterState: peerState }),
      inboundHttpInfo({ filterState: otherPeer }),
      inboundHttpInfo({ upstreamClusterMetadata: SERVICES }),
      inboundHttpInfo({ upstreamCluster: "PassthroughCluster" }),
      inboundHttpInfo({ authority: "other:9080" }),
      inboundHttpInfo({ direction: "outbound" }),
      inboundHttpInfo({ requestHeaders: { "content-type": "application/grpc" }, grpcStatus: 14 }),
      inboundHttpInfo({ requestHeaders: { "content-type": "application/grpc" }, grpcStatus: 0 }),
      inboundTcpInfo(),
      inboundTcpInfo({ downstreamTls: MTLS }),
      ...Array.from({ length: 20 }, (_, i) => inboundHttpInfo({ responseCode: 201 + i })),
    ];
    const cache = new StandardLabelCache(LOCAL, cfg());
    const seen = new Map<string, unknown>();
    for (const round of [0, 1, 2]) {
      for (const info of round === 1 ? [...streams].reverse() : streams) {
        const want = standardLabels(info, LOCAL, cfg());
        const got = cache.get(info);
        assert.deepEqual(got.values, want);
        assert.equal(got.key, want.join("\u0001"));
        seen.set(got.key, got);
      }
    }
    assert.equal(seen.size, streams.length, "every stream above has its own label set");
    // The same inputs in a new record: the same set, not a new one.
    const a = cache.get(inboundHttpInfo({ filterState: peerState }));
    assert.equal(cache.get(inboundHttpInfo({ filterState: peerState })), a);
  });
});

describe("istio.stats PluginConfig", () => {
  it("reaches the filter registry as a binary Any (istiod's MessageToAny)", () => {
    const url = `${TYPE_PREFIX}stats.PluginConfig`;
    const bytes = encodeMessage(url, { disableHostHeaderFallback: true, metrics: [{ name: "requests_total", tagsToRemove: ["source_cluster"] }] });
    const decoded = { ...wireDecode(url, bytes), "@type": url };
    assert.ok(HTTP_FILTERS.forAny(decoded), "istio.stats is registered for stats.PluginConfig");
    assert.deepEqual((decoded as PluginConfig).metrics?.[0].tagsToRemove, ["source_cluster"]);
  });
  const refusals: Array<[string, PluginConfig, string]> = [
    ["a dimension that is not CEL", { metrics: [{ name: "requests_total", dimensions: { x: "request.host ==" } }] }, 'f.metrics[0].dimensions["x"]'],
    ["a custom metric definition", { definitions: [{ name: "custom", value: "1" }] }, "f.definitions[0]"],
    ["an unknown metric name", { metrics: [{ name: "custom_total" }] }, "f.metrics[0].name"],
    ["a match expression", { metrics: [{ name: "requests_total", match: "true" }] }, "f.metrics[0].match"],
    ["rotation", { rotationInterval: { seconds: 60 } }, "f.rotation_interval"],
  ];
  for (const [name, c, path] of refusals) {
    it(`refuses ${name} with its path`, () => assert.throws(() => cfg(c), (e: unknown) => e instanceof XdsConfigError && e.path === path));
  }
  it("drop, tags_to_remove and attribute dimensions change the series", () => {
    const store = new StatsStore();
    const rec = new IstioHttpStats(store, cfg({ metrics: [{ name: "request_bytes", drop: true }, { name: "requests_total", tagsToRemove: ["source_cluster"], dimensions: { request_method: "request.method", response_code: "response.code" } }] }), LOCAL);
    rec.record(inboundHttpInfo({ method: "POST", responseCode: 503 }));
    const fams = parseExposition(store.prometheus());
    assert.equal(fams.has("istio_request_bytes"), false);
    const s = fams.get("istio_requests_total")!.samples[0];
    assert.equal(s.labels.source_cluster, undefined);
    assert.equal(s.labels.request_method, "POST");
    assert.equal(s.labels.response_code, "503");
    assert.equal(Object.keys(s.labels).at(-1), "request_method");
  });
  // Istio's telemetry-api tasks' tag expressions: each a CEL expression over Envoy's attributes.
  const dimensionCases: Array<[string, string, string]> = [
    ["request.host", "request.host", "productpage:9080"],
    ["a header by name", "request.headers['x-user']", "jason"],
    ["a missing header (Istio's unknown)", "request.headers['x-none']", "unknown"],
    ["a conditional", "response.code >= 500 ? 'server' : 'other'", "server"],
    ["the upstream peer's app", "filter_state['upstream_peer'].app", "reviews"],
    ["Istio's documented peer form", "upstream_peer.labels['app'].value", "reviews"],
    ["Istio's documented peer form, no such peer", "downstream_peer.labels['app'].value", "unknown"],
    ["a missing filter-state key (an error: unknown)", "filter_state['nothing'].app", "unknown"],
    ["a string function", "request.url_path.startsWith('/reviews')", "true"],
    ["a non-string result", "response.code", "503"],
  ];
  for (const [name, expr, want] of dimensionCases) {
    it(`a CEL dimension: ${name}`, () => {
      const store = new StatsStore();
      const rec = new IstioHttpStats(store, cfg({ metrics: [{ name: "requests_total", dimensions: { tag: expr } }] }), LOCAL);
      const up = { ...LOCAL, workload: "reviews-v1", app: "reviews", labels: { app: "reviews" } };
      rec.record(inboundHttpInfo({ method: "POST", responseCode: 503, authority: "productpage:9080", requestHeaders: { "x-user": "jason" }, filterState: new Map([["upstream_peer", up]]) }));
      const s = parseExposition(store.prometheus()).get("istio_requests_total")!.samples[0];
      assert.equal(s.labels.tag, want);
    });
  }
});

describe("labeled stats: exposition and caps", () => {
  it("counters and histograms in Envoy's Prometheus form with Istio's label order and buckets", () => {
    const store = new StatsStore();
    const rec = new IstioHttpStats(store, cfg(), LOCAL);
    rec.record(inboundHttpInfo({ durationMs: 7 }));
    rec.record(inboundHttpInfo({ durationMs: 700, authority: 'we"ird\\host' }));
    rec.record(inboundHttpInfo({ durationMs: 3 }));
    const fams = parseExposition(store.prometheus());
    const req = fams.get("istio_requests_total")!;
    assert.equal(req.type, "counter");
    assert.deepEqual(Object.keys(req.samples[0].labels), [...STANDARD_LABELS]);
    assert.deepEqual(req.samples.map((s) => s.value).sort(), [1, 2]);
    assert.ok(req.samples.some((s) => s.labels.destination_service === 'we"ird\\host'), "escaped label reads back");
    const dur = fams.get("istio_request_duration_milliseconds")!;
    assert.equal(dur.type, "histogram");
    const plain = dur.samples.filter((s) => s.labels.destination_service === "reviews:9080");
    const buckets = plain.filter((s) => s.name.endsWith("_bucket"));
    assert.deepEqual(buckets.map((s) => s.labels.le), ["0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "30000", "60000", "300000", "600000", "1800000", "3600000", "+Inf"]);
    assert.equal(buckets.find((s) => s.labels.le === "5")!.value, 1);
    assert.equal(buckets.find((s) => s.labels.le === "10")!.value, 2);
    assert.equal(plain.find((s) => s.name.endsWith("_sum"))!.value, 10);
    assert.equal(plain.find((s) => s.name.endsWith("_count"))!.value, 2);
    assert.ok(fams.has("istio_request_bytes") && fams.has("istio_response_bytes"));
    assert.equal(fams.has("istio_request_messages_total"), false, "no gRPC messages for plain HTTP");
    assert.match(store.text(), /^reporter=\.=destination;\.;source_workload=\.=unknown;.*;\.;istio_requests_total: 2$/m);
    assert.ok(store.json().stats.some((s) => s.name.endsWith(";.;istio_requests_total") && s.value === 2));
  });
  it("gRPC message counts", () => {
    const store = new StatsStore();
    new IstioHttpStats(store, cfg(), LOCAL).record(inboundHttpInfo({ requestHeaders: { "content-type": "application/grpc" }, grpcStatus: 0, requestMessages: 3, responseMessages: 5 }));
    const fams = parseExposition(store.prometheus());
    assert.equal(fams.get("istio_request_messages_total")!.samples[0].value, 3);
    assert.equal(fams.get("istio_response_messages_total")!.samples[0].value, 5);
  });
  it("TCP: opened at the first report, bytes as deltas between reports, closed at the last", () => {
    const store = new StatsStore();
    const report = new IstioTcpStats(store, cfg(), LOCAL).connection();
    report(inboundTcpInfo({ intermediate: true, bytesSent: 100, bytesReceived: 10 }));
    report(inboundTcpInfo({ intermediate: true, bytesSent: 250, bytesReceived: 10 }));
    report(inboundTcpInfo({ intermediate: false, bytesSent: 300, bytesReceived: 40 }));
    const fams = parseExposition(store.prometheus());
    const v = (n: string) => fams.get(n)!.samples[0].value;
    assert.equal(v("istio_tcp_connections_opened_total"), 1);
    assert.equal(v("istio_tcp_connections_closed_total"), 1);
    assert.equal(v("istio_tcp_sent_bytes_total"), 300);
    assert.equal(v("istio_tcp_received_bytes_total"), 40);
    assert.deepEqual(Object.keys(fams.get("istio_tcp_sent_bytes_total")!.samples[0].labels), [...TCP_LABELS]);
  });
  it("each stream lands in its own series when label sets come and go from the label cache", () => {
    const store = new StatsStore();
    const rec = new IstioHttpStats(store, cfg(), LOCAL);
    // 40 hosts round-robin: more than the 16 label sets a filter keeps, so sets (and the series
    // kept with them) are dropped and made again between a host's streams.
    for (let round = 0; round < 3; round++) for (let i = 0; i < 40; i++) rec.record(inboundHttpInfo({ authority: `host-${i}`, durationMs: i }));
    const fams = parseExposition(store.prometheus());
    const requests = fams.get("istio_requests_total")!.samples;
    assert.equal(requests.length, 40);
    for (const s of requests) assert.equal(s.value, 3, s.labels.destination_service);
    const counts = fams.get("istio_request_duration_milliseconds")!.samples.filter((s) => s.name.endsWith("_count"));
    assert.equal(counts.length, 40);
    for (const s of counts) assert.equal(s.value, 3);
    const sums = fams.get("istio_request_duration_milliseconds")!.samples.filter((s) => s.name.endsWith("_sum"));
    for (const s of sums) assert.equal(s.value, 3 * Number(/host-(\d+)/.exec(s.labels.destination_service)![1]), "each host's durations in its own series");
  });
  it("distinct label sets stop at the per-metric cap; the rest count as overflow", () => {
    const store = new StatsStore({ maxSeriesPerMetric: 3, maxSeries: 100 });
    const rec = new IstioHttpStats(store, cfg(), LOCAL);
    for (let i = 0; i < 10; i++) rec.record(inboundHttpInfo({ authority: `host-${i}` }));
    const fams = parseExposition(store.prometheus());
    assert.equal(fams.get("istio_requests_total")!.samples.length, 3);
    // 4 metrics (requests, duration, request/response bytes) × 7 refused samples.
    assert.equal(store.counter(SERIES_OVERFLOW_STAT).value, 28);
    // A known series still counts after the cap.
    rec.record(inboundHttpInfo({ authority: "host-0" }));
    assert.ok(parseExposition(store.prometheus()).get("istio_requests_total")!.samples.some((s) => s.value === 2));
  });
  it("the store-wide cap holds across metrics", () => {
    const store = new StatsStore({ maxSeriesPerMetric: 100, maxSeries: 5 });
    const rec = new IstioHttpStats(store, cfg(), LOCAL);
    for (let i = 0; i < 5; i++) rec.record(inboundHttpInfo({ authority: `h${i}` }));
    const fams = parseExposition(store.prometheus());
    const total = [...fams].filter(([n]) => n.startsWith("istio_")).reduce((n, [, f]) => n + new Set(f.samples.map((s) => JSON.stringify({ ...s.labels, le: "" }))).size, 0);
    assert.equal(total, 5);
    assert.ok(store.counter(SERIES_OVERFLOW_STAT).value > 0);
  });
  it("worker snapshots merge (counters add, histograms add)", () => {
    const a = new StatsStore();
    const b = new StatsStore();
    new IstioHttpStats(a, cfg(), LOCAL).record(inboundHttpInfo());
    new IstioHttpStats(b, cfg(), LOCAL).record(inboundHttpInfo());
    const m = parseExposition(StatsStore.merged([a.snapshot(), b.snapshot()]).prometheus());
    assert.equal(m.get("istio_requests_total")!.samples[0].value, 2);
    assert.equal(m.get("istio_request_duration_milliseconds")!.samples.find((s) => s.name.endsWith("_count"))!.value, 2);
  });
});

describe("15090 and 15020 over real sockets", () => {
  const IP = "127.0.0.1";
  let proxy: ProxyServer;
  let admin: AdminServer;
  let app: http.Server;
  let appBody = "# TYPE app_hits counter\napp_hits 42\n";
  let appStatus = 200;
  const get = (url: string, method = "GET") =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(url, { method, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.end();
    });
  let prom = "";
  let agent = "";
  let agentDown = "";
  before(async () => {
    proxy = new ProxyServer({ node: { id: "stats-test", metadata: NODE }, drainMs: 100, log: () => {} });
    await proxy.start();
    new IstioHttpStats(proxy.stats, cfg(), LOCAL).record(inboundHttpInfo());
    app = http.createServer((req, res) => {
      if (req.url !== "/metrics") return void res.writeHead(404).end();
      res.writeHead(appStatus, { "content-type": "text/plain" }).end(appBody);
    });
    await new Promise<void>((r) => app.listen(0, IP, r));
    const appPort = (app.address() as AddressInfo).port;
    admin = new AdminServer(proxy, { nodeId: "stats-test", onQuit: () => {} });
    prom = `http://${IP}:${await admin.listenPrometheus(IP, 0)}`;
    agent = `http://${IP}:${await admin.listenAgent(IP, 0, appMetricsTarget({ "prometheus.io/scrape": "true", "prometheus.io/port": String(appPort) }, IP))}`;
    const [rh, rp] = REFUSED_ADDRESS.split(":");
    agentDown = `http://${IP}:${await admin.listenAgent(IP, 0, { host: rh, port: Number(rp), path: "/metrics" })}`;
  });
  after(async () => {
    admin.close();
    app.close();
    await proxy.close();
  });
  it("15090 serves the proxy's metrics to GET only", async () => {
    const r = await get(`${prom}/stats/prometheus`);
    assert.equal(r.status, 200);
    assert.equal(parseExposition(r.body).get("istio_requests_total")!.samples[0].value, 1);
    assert.equal((await get(`${prom}/stats/prometheus`, "POST")).status, 405);
    assert.equal((await get(`${prom}/stats`)).status, 404);
  });
  it("15020 merges the annotated app's metrics after the proxy's", async () => {
    appBody = "# TYPE app_hits counter\napp_hits 42\n";
    appStatus = 200;
    const r = await get(`${agent}/stats/prometheus`);
    assert.equal(r.status, 200);
    const fams = parseExposition(r.body);
    assert.equal(fams.get("app_hits")!.samples[0].value, 42);
    assert.ok(fams.has("istio_requests_total"));
    assert.equal((await get(`${agent}/healthz/ready`)).status, 200);
  });
  it("an app that fails or is down leaves the proxy's part whole", async () => {
    appStatus = 500;
    const r = await get(`${agent}/stats/prometheus`);
    assert.equal(r.status, 200);
    assert.ok(parseExposition(r.body).has("istio_requests_total"));
    assert.ok(!r.body.includes("app_hits"));
    const d = await get(`${agentDown}/stats/prometheus`);
    assert.equal(d.status, 200);
    assert.ok(parseExposition(d.body).has("istio_requests_total"));
    assert.ok(proxy.stats.counter("agent.app_scrape_failed").value >= 2);
  });
  it("the annotations decide the target", () => {
    assert.equal(appMetricsTarget({ "prometheus.io/port": "9090" }, IP), undefined);
    assert.deepEqual(appMetricsTarget({ "prometheus.io/scrape": "true", "prometheus.io/port": "9090", "prometheus.io/path": "stats" }, IP), { host: IP, port: 9090, path: "/stats" });
    assert.equal(appMetricsTarget({ "prometheus.io/scrape": "true", "prometheus.io/port": "99999" }, IP), undefined);
  });
});

describe("--app-metrics", () => {
  const table: Array<[string, unknown]> = [
    ["9090", { host: "127.0.0.9", port: 9090, path: "/metrics" }],
    ["9090/stats/prometheus", { host: "127.0.0.9", port: 9090, path: "/stats/prometheus" }],
    ["9090/", { host: "127.0.0.9", port: 9090, path: "/metrics" }],
    ["0", Error],
    ["x/metrics", Error],
    ["70000", Error],
  ];
  for (const [v, want] of table) {
    it(JSON.stringify(v), () => {
      const got = parseAppMetrics(v, "127.0.0.9");
      if (want === Error) assert.ok(got instanceof Error);
      else assert.deepEqual(got, want);
    });
  }
});

describe("istio.stats in listener config", () => {
  const PLUGIN = `${TYPE_PREFIX}stats.PluginConfig`;
  const listener = (stats: Record<string, unknown>): ProtoObject => {
    const l = httpListener("stats-l", "127.0.0.1", 0, [prefixRoute("/", "web")]);
    const hcm = (l as unknown as { filterChains: Array<{ filters: Array<{ typedConfig: { httpFilters: unknown[] } }> }> }).filterChains[0].filters[0].typedConfig;
    hcm.httpFilters.unshift({ name: "istio.stats", typedConfig: { "@type": PLUGIN, ...stats } });
    return l;
  };
  const tcp: ProtoObject = {
    name: "stats-tcp",
    address: { socketAddress: { address: "127.0.0.1", portValue: 0 } },
    filterChains: [{ filters: [
      { name: "istio.stats", typedConfig: { "@type": PLUGIN, tcpReportingDuration: { seconds: 5 } } },
      { name: "envoy.filters.network.tcp_proxy", typedConfig: { "@type": `${TYPE_PREFIX}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`, statPrefix: "t", cluster: "web" } },
    ] }],
  };
  it("an HCM and a TCP chain with istio.stats load", async () => {
    const proxy = new ProxyServer({ node: { id: "stats-cfg", metadata: NODE }, staticResources: { listeners: [listener({ disableHostHeaderFallback: true }), tcp], clusters: [staticCluster("web", "127.0.0.1", 1)] }, drainMs: 50, log: () => {} });
    try {
      await proxy.start();
      assert.deepEqual(proxy.listeners.list().map((l) => l.name).sort(), ["stats-l", "stats-tcp"]);
    } finally {
      await proxy.close();
    }
  });
  it("a long-lived TCP connection reports every tcp_reporting_duration, and closes once", async () => {
    const echo = net.createServer((c) => {
      c.on("data", (d: Buffer) => c.write(d));
      c.on("error", () => {});
    });
    await new Promise<void>((r) => echo.listen(0, "127.0.113.2", () => r()));
    const port = (echo.address() as AddressInfo).port;
    const periodic: ProtoObject = {
      name: "stats-tcp-periodic",
      address: { socketAddress: { address: "127.0.113.1", portValue: 18113 } },
      filterChains: [{ filters: [
        { name: "istio.stats", typedConfig: { "@type": PLUGIN, tcpReportingDuration: { nanos: 50_000_000 } } },
        { name: "envoy.filters.network.tcp_proxy", typedConfig: { "@type": `${TYPE_PREFIX}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`, statPrefix: "t", cluster: "echo" } },
      ] }],
    };
    const proxy = new ProxyServer({ node: { id: "stats-tcp", metadata: NODE }, staticResources: { listeners: [periodic], clusters: [staticCluster("echo", "127.0.113.2", port)] }, drainMs: 50, log: () => {} });
    const sample = (name: string): number => parseExposition(proxy.stats.prometheus()).get(name)?.samples.reduce((a, s) => a + s.value, 0) ?? 0;
    try {
      await proxy.start();
      const c = net.connect({ host: "127.0.113.1", port: 18113 });
      c.on("error", () => {});
      await new Promise<void>((r) => c.once("connect", () => r()));
      c.write("hello\n");
      await new Promise<void>((r) => c.once("data", () => r()));
      // Still open: the periodic report counted the connection and its bytes, not its close.
      await eventually("a periodic report", () => sample("istio_tcp_received_bytes_total") === 6, 10_000, 20);
      assert.equal(sample("istio_tcp_sent_bytes_total"), 6);
      assert.equal(sample("istio_tcp_connections_opened_total"), 1);
      assert.equal(sample("istio_tcp_connections_closed_total"), 0);
      c.write("again\n");
      await eventually("the next report adds the new bytes only", () => sample("istio_tcp_received_bytes_total") === 12, 10_000, 20);
      c.end();
      await eventually("closed", () => sample("istio_tcp_connections_closed_total") === 1, 10_000, 20);
      assert.equal(sample("istio_tcp_connections_opened_total"), 1);
      assert.equal(sample("istio_tcp_sent_bytes_total"), 12);
    } finally {
      await proxy.close();
      await new Promise((r) => echo.close(r));
    }
  });
  it("a dimension that does not compile fails the listener with the field's path", async () => {
    const proxy = new ProxyServer({ node: { id: "stats-cfg" }, staticResources: { listeners: [listener({ metrics: [{ name: "requests_total", dimensions: { x: "request.headers[" } }] })], clusters: [] }, drainMs: 50, log: () => {} });
    try {
      await assert.rejects(proxy.start(), (e: Error) => /httpFilters\[0\]\.typedConfig\.metrics\[0\]\.dimensions\["x"\]/.test(e.message));
    } finally {
      await proxy.close();
    }
  });
});
