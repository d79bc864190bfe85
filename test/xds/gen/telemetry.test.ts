// Telemetry in generated listeners and clusters, as istiod generates it, on bookinfo with the
// Telemetry examples of Istio's observability tasks (metrics-telemetry-api, logs-telemetry-api,
// distributed-tracing-telemetry-api, metrics-customize-metrics): golden files of the telemetry
// pieces per listener chain (Istio's own filter configs decoded, so the goldens read as Istio's
// YAML would), Istio's filter order, the feature switches, and the proxy's decoders on the result.
// The proxy's filter modules register the TypedStruct types of Istio's filters (as in a running proxy).
import "../../../src/proxy/proxy.js";
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { meshFrom, parseMeshConfig } from "../../../src/controlplane/mesh-config.js";
import { CLUSTER_TYPE, decodeMessage, encodeMessage, fromStruct, LISTENER_TYPE, protobufjs } from "../../../src/envoy/protos.js";
import type { Cluster, Listener } from "../../../src/envoy/types.js";
import type { Proxy } from "../../../src/model/proxy.js";
import { PushContext, pushInputFrom } from "../../../src/model/push-context.js";
import { listenerSpec } from "../../../src/proxy/listener-spec.js";
import { clusterSpec } from "../../../src/proxy/upstream/cluster-config.js";
import { decodeAny } from "../../../src/proxy/xds/resources.js";
import { buildClusters } from "../../../src/xds/gen/clusters.js";
import { buildListeners } from "../../../src/xds/gen/listeners.js";
import { TELEMETRY_FEATURES } from "../../../src/xds/gen/telemetry/features.js";
import { assertGolden, assertRoundTrip, resourcesFromPaths, resourcesFromYaml, testProxy } from "../../helpers/xds.js";

const MESH_YAML = `accessLogFile: /dev/stdout
extensionProviders:
- name: zipkin
  zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}
- name: otel
  opentelemetry:
    service: opentelemetry-collector.observability.svc.cluster.local
    port: 4318
    http: {path: /v1/traces, timeout: 5s, headers: [{name: x-tenant, value: bookinfo}]}
`;
const ADDONS = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: zipkin, namespace: istio-system}
spec:
  hosts: [zipkin.istio-system.svc.cluster.local]
  ports: [{number: 9411, name: http-query, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.90}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: otel, namespace: observability}
spec:
  hosts: [opentelemetry-collector.observability.svc.cluster.local]
  ports: [{number: 4318, name: http-otlp, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.91}]
`;
// Istio's task examples (the namespaces as in the tasks; the custom tag task's Telemetry is
// per-workload here so it merges over the mesh-wide one).
const TASKS = `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging: [{providers: [{name: envoy}]}]
  tracing:
  - providers: [{name: zipkin}]
    randomSamplingPercentage: 100.00
    customTags:
      provider: {literal: {value: zipkin}}
      cluster_id: {environment: {name: ISTIO_META_CLUSTER_ID, defaultValue: unknown}}
      user-agent: {header: {name: user-agent}}
  metrics:
  - providers: [{name: prometheus}]
    overrides:
    - match: {mode: CLIENT_AND_SERVER, metric: REQUEST_COUNT}
      tagOverrides: {grpc_response_status: {operation: REMOVE}}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: productpage, namespace: default}
spec:
  selector: {matchLabels: {app: productpage}}
  accessLogging:
  - providers: [{name: envoy}]
    filter: {expression: "response.code >= 400"}
  tracing:
  - match: {mode: SERVER}
    providers: [{name: otel}]
    randomSamplingPercentage: 10
  metrics:
  - overrides:
    - match: {metric: REQUEST_COUNT, mode: CLIENT}
      tagOverrides: {destination_x: {value: "upstream_peer.labels['app'].value"}, request_host: {value: request.host}}
    - match: {metric: REQUEST_COUNT, mode: SERVER}
      tagOverrides: {source_x: {value: "downstream_peer.labels['app'].value"}}
    - match: {metric: REQUEST_DURATION}
      disabled: true
`;

function push(...yaml: string[]): PushContext {
  const res = [...resourcesFromPaths("examples/bookinfo"), ...yaml.flatMap((y) => resourcesFromYaml(y))];
  return new PushContext(pushInputFrom(res), meshFrom(parseMeshConfig(MESH_YAML, "mesh.yaml")));
}

const productpage = (): Proxy => testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage", version: "v1" }, metadata: { INTERCEPTION_MODE: "NONE", MESH_ID: "cluster.local", CLUSTER_ID: "Kubernetes" } });
const ingress = (): Proxy => testProxy({ type: "router", ip: "127.0.1.1", name: "istio-ingressgateway", namespace: "istio-system", labels: { app: "istio-ingressgateway", istio: "ingressgateway" } });

// ---- Istio's own configs decoded, for readable goldens ----

type Json = Record<string, unknown>;

/** Istio's TypedStruct Anys → `{ "@type", "(TypedStruct)": fields }`. */
function readable(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(readable);
  if (typeof v !== "object" || v === null) return v;
  const o = v as Json;
  if (typeof o.type_url === "string" && typeof o.value === "string") {
    const bytes = Buffer.from(o.value, "base64");
    if (o.type_url.endsWith("/udpa.type.v1.TypedStruct")) {
      const ts = pluginlessTypedStruct(bytes);
      return { "@type": ts.typeUrl, "(TypedStruct)": ts.value };
    }
  }
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, readable(x)]));
}

function pluginlessTypedStruct(bytes: Uint8Array): { typeUrl: string; value: unknown } {
  const r = protobufjs().Reader.create(bytes);
  let typeUrl = "";
  let value: unknown = {};
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1) typeUrl = r.string();
    else if (tag >>> 3 === 2) value = fromStruct(decodeMessage("google.protobuf.Struct", r.bytes()));
    else r.skipType(tag & 7);
  }
  return { typeUrl, value };
}

/** Per listener chain: the telemetry pieces (network filters, HCM filters, access logs, tracing). */
function telemetryView(ls: readonly Listener[]): unknown {
  const out: Json = {};
  for (const l of ls) {
    const chains = [...(l.filterChains ?? []), ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])];
    chains.forEach((fc, i) => {
      const view: Json = { networkFilters: (fc.filters ?? []).map((f) => f.name) };
      for (const f of fc.filters ?? []) {
        const tc = f.typedConfig as unknown as Json;
        if (f.name === "envoy.filters.network.http_connection_manager") {
          view.httpFilters = ((tc.httpFilters as Json[]) ?? []).map((h) => h.name);
          if (tc.accessLog) view.accessLog = tc.accessLog;
          if (tc.tracing) view.tracing = tc.tracing;
          view.istio = ((tc.httpFilters as Json[]) ?? []).filter((h) => String(h.name).startsWith("istio.")).map((h) => ({ name: h.name, typedConfig: h.typedConfig }));
        } else if (f.name === "envoy.filters.network.tcp_proxy") {
          if (tc.accessLog) view.tcpAccessLog = tc.accessLog;
        } else if (String(f.name).startsWith("istio.")) {
          view[f.name!] = f.typedConfig;
        }
      }
      out[`${l.name} #${i}${fc.name ? ` ${fc.name}` : ""}`] = view;
    });
  }
  return readable(out);
}

/** The proxy's decoders take the resources. */
function proxyDecodes(ls: readonly Listener[], cs: readonly Cluster[]): void {
  for (const l of ls) {
    assertRoundTrip(LISTENER_TYPE, l, String(l.name));
    const bytes = encodeMessage(LISTENER_TYPE, l);
    listenerSpec(decodeAny(LISTENER_TYPE, { type_url: LISTENER_TYPE, value: bytes }, String(l.name)) as Listener);
  }
  for (const c of cs) {
    assertRoundTrip(CLUSTER_TYPE, c, String(c.name));
    clusterSpec(decodeAny(CLUSTER_TYPE, { type_url: CLUSTER_TYPE, value: encodeMessage(CLUSTER_TYPE, c) }, String(c.name)) as Cluster);
  }
}

describe("bookinfo with Istio's observability task Telemetries", () => {
  const p = push(ADDONS, TASKS);

  it("productpage sidecar: golden of every chain's telemetry; the proxy decodes the listeners and clusters", () => {
    const ls = buildListeners(productpage(), p);
    assertGolden("telemetry-productpage-tasks", telemetryView(ls));
    proxyDecodes(ls, buildClusters(productpage(), p));
  });

  it("ingress gateway: golden (the outbound peer metadata filter, as Istio's appendMxFilter, client-side stats and tracing, spawn_upstream_span)", () => {
    const ls = buildListeners(ingress(), p);
    assertGolden("telemetry-ingressgateway-tasks", telemetryView(ls));
    proxyDecodes(ls, buildClusters(ingress(), p));
  });

  it("Istio's filter order: metadata exchange first, istio.stats right before the router; TCP: exchange, stats, tcp_proxy", () => {
    const ls = buildListeners(productpage(), p);
    const inbound = ls.find((l) => l.name === "127.0.2.1_9080")!;
    const hcm = inbound.filterChains!.find((fc) => fc.filters!.some((f) => f.name === "envoy.filters.network.http_connection_manager"))!;
    assert.deepEqual(hcm.filters!.map((f) => f.name), ["istio.metadata_exchange", "envoy.filters.network.http_connection_manager"]);
    const tc = hcm.filters![1].typedConfig as unknown as { httpFilters: Array<{ name: string }> };
    assert.deepEqual(tc.httpFilters.map((f) => f.name), ["istio.metadata_exchange", "envoy.filters.http.fault", "envoy.filters.http.cors", "istio.stats", "envoy.filters.http.router"]);
    const tcp = inbound.filterChains!.find((fc) => fc.filters!.some((f) => f.name === "envoy.filters.network.tcp_proxy"));
    if (tcp) assert.deepEqual(tcp.filters!.map((f) => f.name), ["istio.metadata_exchange", "istio.stats", "envoy.filters.network.tcp_proxy"]);
  });

  it("every outbound service cluster carries the TCP exchange as a cluster filter; inbound and special clusters do not", () => {
    for (const c of buildClusters(productpage(), p)) {
      const has = (c.filters ?? []).some((f) => f.name === "istio.metadata_exchange");
      assert.equal(has, c.name!.startsWith("outbound|"), c.name);
    }
  });
});

describe("defaults and the mesh config", () => {
  it("no Telemetry, Istio's defaults: stats and metadata exchange, no access log, no tracing without a zipkin service", () => {
    const ls = buildListeners(productpage(), new PushContext(pushInputFrom(resourcesFromPaths("examples/bookinfo")), meshFrom()));
    const hcms = ls.flatMap((l) => (l.filterChains ?? []).flatMap((fc) => fc.filters ?? [])).filter((f) => f.name === "envoy.filters.network.http_connection_manager").map((f) => f.typedConfig as unknown as Json);
    assert.ok(hcms.length > 0);
    for (const h of hcms) {
      assert.equal(h.accessLog, undefined);
      assert.equal(h.tracing, undefined);
      assert.ok((h.httpFilters as Json[]).some((f) => f.name === "istio.stats"));
    }
  });

  it("mesh accessLogFile with JSON encoding: Istio's JSON fields; enableTracing with a zipkin service: 1% to the zipkin address", () => {
    const res = [...resourcesFromPaths("examples/bookinfo"), ...resourcesFromYaml(ADDONS)];
    const mesh = meshFrom(parseMeshConfig("accessLogFile: /tmp/access.log\naccessLogEncoding: JSON\ndefaultConfig: {tracing: {sampling: 1.5, max_path_tag_length: 99}}", "mesh.yaml"));
    const ls = buildListeners(ingress(), new PushContext(pushInputFrom(res), mesh));
    const gw = ls.find((l) => l.name === "0.0.0.0_8080")!;
    assertGolden("telemetry-ingressgateway-mesh-json", telemetryView([gw]));
  });

  it("defaultProviders: metrics [] turns istio.stats off everywhere", () => {
    const mesh = meshFrom(parseMeshConfig("defaultProviders: {metrics: []}", "mesh.yaml"));
    const ls = buildListeners(productpage(), new PushContext(pushInputFrom(resourcesFromPaths("examples/bookinfo")), mesh));
    assert.ok(!JSON.stringify(ls).includes("istio.stats"));
    assert.ok(JSON.stringify(ls).includes("istio.metadata_exchange"));
  });
});

describe("one push, two sidecars of a namespace (listeners are cached across proxies)", () => {
  const outboundHcms = (ls: readonly Listener[]): Json[] =>
    ls
      .filter((l) => l.trafficDirection === "OUTBOUND")
      .flatMap((l) => [...(l.filterChains ?? []), ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])])
      .flatMap((fc) => fc.filters ?? [])
      .filter((f) => f.name === "envoy.filters.network.http_connection_manager")
      .map((f) => f.typedConfig as unknown as Json);
  const reviews = (): Proxy => testProxy({ ip: "127.0.4.1", name: "reviews-v1", labels: { app: "reviews", version: "v1" }, metadata: { INTERCEPTION_MODE: "NONE" } });

  it("a workload-scoped Telemetry shapes only the selected sidecar's outbound listeners", () => {
    const p = push(`apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: pp-logs, namespace: default}
spec:
  selector: {matchLabels: {app: productpage}}
  accessLogging: [{providers: [{name: envoy}], filter: {expression: "response.code >= 400"}}]
`);
    const selected = outboundHcms(buildListeners(productpage(), p));
    const other = outboundHcms(buildListeners(reviews(), p));
    assert.ok(selected.length > 0 && other.length > 0);
    for (const h of selected) assert.match(JSON.stringify(h.accessLog), /response\.code >= 400/);
    for (const h of other) assert.doesNotMatch(JSON.stringify(h.accessLog), /response\.code/, "reviews is not selected: the mesh accessLogFile, unfiltered");
  });

  it("tracing: each sidecar's outbound spans name its own service", () => {
    const p = push(ADDONS, `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing: [{providers: [{name: otel}]}]
`);
    const names = (pr: Proxy) => new Set(outboundHcms(buildListeners(pr, p)).map((h) => ((h.tracing as Json | undefined)?.provider as Json | undefined)?.typedConfig as Json | undefined).map((t) => t?.serviceName));
    assert.deepEqual([...names(productpage())], ["productpage.default"]);
    assert.deepEqual([...names(reviews())], ["reviews.default"]);
  });
});

describe("TELEMETRY_FEATURES: each switch removes exactly its piece", () => {
  const saved = { ...TELEMETRY_FEATURES };
  after(() => Object.assign(TELEMETRY_FEATURES, saved));
  const gen = () => {
    const p = push(ADDONS, TASKS);
    return JSON.stringify({ l: buildListeners(productpage(), p), c: buildClusters(productpage(), p) });
  };
  const cases: Array<[keyof typeof TELEMETRY_FEATURES, string]> = [
    ["stats", '"istio.stats"'],
    ["metadataExchange", '"istio.metadata_exchange"'],
    ["tracing", "envoy.tracers."],
    ["accessLogFormats", '"logFormat"'],
    ["accessLogFilters", "envoy.access_loggers.extension_filters.cel"],
  ];
  for (const [feature, marker] of cases) {
    it(feature, () => {
      Object.assign(TELEMETRY_FEATURES, saved);
      assert.ok(gen().includes(marker), `${marker} is generated with every switch on`);
      TELEMETRY_FEATURES[feature] = false;
      const off = gen();
      Object.assign(TELEMETRY_FEATURES, saved);
      assert.ok(!off.includes(marker), `${feature} off leaves no ${marker}`);
      // The other pieces stay.
      for (const [other, m] of cases) if (other !== feature) assert.ok(off.includes(m), `${feature} off keeps ${m}`);
    });
  }
});
