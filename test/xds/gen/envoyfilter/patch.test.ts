// EnvoyFilter patching against bookinfo's generated config: selection and ordering (Istio's
// PushContext.EnvoyFilters), operations per applyTo, merge semantics, and the never-half-applied
// rule (a filter with one bad patch changes nothing, and the error names the field path).
import assert from "node:assert/strict";
import { test } from "node:test";
import { IstioGenerator } from "../../../../src/controlplane/generator.js";
import { proxyResourceValidator } from "../../../../src/local/envoyfilter-validator.js";
import { protoMerge } from "../../../../src/envoy/proto-merge.js";
import type { Proxy } from "../../../../src/model/proxy.js";
import { bookinfo, testProxy } from "../../../helpers/xds.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- walking generated config of many shapes
type Obj = Record<string, any>;

const gateway = (md: Record<string, unknown> = {}) => testProxy({ type: "router", ip: "127.0.1.1", name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway", app: "istio-ingressgateway" }, metadata: md });
const productpage = (md: Record<string, unknown> = {}) => testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage", version: "v1" }, metadata: md });
const ratings = () => testProxy({ ip: "127.0.5.1", name: "ratings-v1", labels: { app: "ratings", version: "v1" } });

function ef(name: string, ns: string, spec: string): string {
  return `apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n${spec.replace(/^/gm, "  ")}\n`;
}

function run(proxy: Proxy, ...yaml: string[]) {
  const push = bookinfo(...yaml);
  const gen = new IstioGenerator();
  gen.envoyFilterValidator = proxyResourceValidator;
  const errors: string[] = [];
  gen.onEnvoyFilterError = (m) => errors.push(m);
  const o = gen.envoyFiltered(proxy, push);
  const clusters = (o?.clusters ?? []) as unknown as Obj[];
  return { o, errors, clusters, listeners: (o?.listeners ?? []) as unknown as Obj[], routes: (o?.routes ?? []) as unknown as Obj[] };
}

const clusterMerge = (timeout: string, extra = "") => `${extra}configPatches:
- applyTo: CLUSTER
  match: {context: SIDECAR_OUTBOUND, cluster: {service: reviews.default.svc.cluster.local, portNumber: 9080}}
  patch: {operation: MERGE, value: {connect_timeout: ${timeout}}}`;

const reviewsTimeout = (clusters: Obj[]) => clusters.find((c) => c.name === "outbound|9080||reviews.default.svc.cluster.local")?.connectTimeout;

test("selection: root namespace applies everywhere, a namespace's only there, workloadSelector by labels", () => {
  const rows: [string, string, Proxy, boolean][] = [
    ["root namespace, no selector", ef("a", "istio-system", clusterMerge("7s")), productpage(), true],
    ["proxy's namespace", ef("a", "default", clusterMerge("7s")), productpage(), true],
    ["other namespace", ef("a", "other", clusterMerge("7s")), productpage(), false],
    ["selector matches", ef("a", "default", clusterMerge("7s", "workloadSelector: {labels: {app: productpage}}\n")), productpage(), true],
    ["selector does not match", ef("a", "default", clusterMerge("7s", "workloadSelector: {labels: {app: ratings}}\n")), productpage(), false],
    ["targetRefs on a non-Gateway-API proxy", ef("a", "default", clusterMerge("7s", "targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]\n")), productpage(), false],
  ];
  for (const [what, yaml, proxy, selected] of rows) {
    const r = run(proxy, yaml);
    assert.equal(r.o !== undefined, selected, what);
    if (selected) assert.deepEqual(reviewsTimeout(r.clusters), { seconds: 7 }, what);
  }
});

test("proxyVersion: matched against the ISTIO_VERSION the proxy sent; none sent never matches a regex", () => {
  const spec = (re: string) => ef("a", "default", clusterMerge("7s").replace("context: SIDECAR_OUTBOUND,", `context: SIDECAR_OUTBOUND, proxy: {proxyVersion: '${re}'},`));
  assert.deepEqual(reviewsTimeout(run(productpage({ ISTIO_VERSION: "1.31.0" }), spec("^1\\.31.*")).clusters), { seconds: 7 });
  assert.notDeepEqual(reviewsTimeout(run(productpage({ ISTIO_VERSION: "1.31.0" }), spec("^1\\.2[0-9].*")).clusters), { seconds: 7 });
  assert.notDeepEqual(reviewsTimeout(run(productpage(), spec("^1\\.31.*")).clusters), { seconds: 7 });
  assert.deepEqual(reviewsTimeout(run(productpage({ ISTIO_VERSION: "1.31.2" }), spec("1\\.3")).clusters), { seconds: 7 }, "a regex matches anywhere (Go's MatchString)");
});

test("ordering: priority first, then root namespace before the proxy's, then name (last MERGE wins)", () => {
  const a = ef("a", "default", `priority: 10\n${clusterMerge("3s")}`);
  const b = ef("b", "default", `priority: -5\n${clusterMerge("4s")}`);
  assert.deepEqual(reviewsTimeout(run(productpage(), a, b).clusters), { seconds: 3 }, "priority 10 applies after -5");
  const root = ef("z", "istio-system", clusterMerge("5s"));
  const local = ef("a", "default", clusterMerge("6s"));
  assert.deepEqual(reviewsTimeout(run(productpage(), local, root).clusters), { seconds: 6 }, "root namespace first, the namespace's after it");
});

test("HTTP_FILTER operations on the gateway: INSERT_BEFORE/AFTER/FIRST, REPLACE, REMOVE, MERGE", () => {
  const cors = "envoy.filters.http.cors";
  const op = (operation: string, sub: string, value = "{name: envoy.filters.http.fault, typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault}}") =>
    ef("a", "istio-system", `configPatches:
- applyTo: HTTP_FILTER
  match: {context: GATEWAY, listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager${sub ? `, subFilter: {name: ${sub}}` : ""}}}}}
  patch: {operation: ${operation}, value: ${value}}`);
  const names = (yaml: string) => {
    const r = run(gateway(), yaml);
    assert.deepEqual(r.errors, []);
    return r.listeners[0].filterChains[0].filters[0].typedConfig.httpFilters.map((h: Obj) => h.name) as string[];
  };
  const base = names(ef("noop", "istio-system", "configPatches: []"));
  const fault = "envoy.filters.http.fault";
  const baseNoFault = base.filter((n) => n !== fault);
  const iCors = baseNoFault.indexOf(cors);
  assert.deepEqual(names(op("INSERT_FIRST", "")), [fault, ...base]);
  assert.deepEqual(names(op("INSERT_BEFORE", "", "{name: x.first, typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault}}")), ["x.first", ...base]);
  assert.deepEqual(names(op("REMOVE", cors)), base.filter((n) => n !== cors));
  assert.deepEqual(names(op("REPLACE", cors, "{name: x.replaced, typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault}}")), base.map((n) => (n === cors ? "x.replaced" : n)));
  const after = names(op("INSERT_AFTER", cors, "{name: x.after, typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault}}"));
  assert.equal(after[after.indexOf(cors) + 1], "x.after");
  assert.ok(iCors >= 0);
  // MERGE: the typed_config of the same type is merged as a message (Istio's MergeAnyWithAny).
  const r = run(gateway(), op("MERGE", "envoy.filters.http.router", "{typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.http.router.v3.Router, suppress_envoy_headers: true}}"));
  const router = r.listeners[0].filterChains[0].filters[0].typedConfig.httpFilters.find((h: Obj) => h.name === "envoy.filters.http.router");
  assert.equal(router.typedConfig.suppressEnvoyHeaders, true);
});

test("never half applied: one bad patch withholds the whole EnvoyFilter, with the field path", () => {
  const bad = ef("half", "default", `configPatches:
- applyTo: CLUSTER
  match: {context: SIDECAR_OUTBOUND, cluster: {service: reviews.default.svc.cluster.local}}
  patch: {operation: MERGE, value: {connect_timeout: 9s}}
- applyTo: CLUSTER
  match: {context: SIDECAR_OUTBOUND, cluster: {service: ratings.default.svc.cluster.local}}
  patch: {operation: MERGE, value: {no_such_field: 1}}`);
  const good = ef("good", "default", clusterMerge("2s"));
  const r = run(productpage(), bad, good);
  assert.deepEqual(reviewsTimeout(r.clusters), { seconds: 2 }, "the good filter applies, nothing of the bad one");
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0], /EnvoyFilter default\/half is not applied to proxy .*spec\.configPatches\[1\]\.patch\.value\.no_such_field: unknown field/);
  // A result the proxy refuses (an HTTP filter MERGE of a different type) withholds it too.
  const mismatch = ef("mismatch", "istio-system", `configPatches:
- applyTo: CLUSTER
  patch: {operation: ADD, value: {name: extra, type: STATIC, connect_timeout: 1s}}
- applyTo: HTTP_FILTER
  match: {context: GATEWAY, listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager, subFilter: {name: envoy.filters.http.router}}}}}
  patch: {operation: MERGE, value: {typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault}}}`);
  const g = run(gateway(), mismatch);
  assert.equal(g.clusters.find((c) => c.name === "extra"), undefined, "the CLUSTER ADD of the withheld filter is not applied");
  assert.match(g.errors.join("\n"), /spec\.configPatches\[1\]\.patch\.value\.typed_config: cannot merge a envoy\.extensions\.filters\.http\.fault\.v3\.HTTPFault into a envoy\.extensions\.filters\.http\.router\.v3\.Router/);
});

test("EXTENSION_CONFIG is reported as not applicable, and the filter is withheld", () => {
  const r = run(ratings(), ef("ecds", "default", `configPatches:
- applyTo: EXTENSION_CONFIG
  patch: {operation: ADD, value: {name: my-ext, typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault}}}
${clusterMerge("8s").replace("configPatches:\n", "")}`));
  assert.match(r.errors.join("\n"), /spec\.configPatches\[0\]\.applyTo: tsmesh's proxy has no extension config discovery/);
  assert.notDeepEqual(reviewsTimeout(r.clusters), { seconds: 8 });
});

test("merge semantics: repeated fields appended, MERGE_AND_REPLACE_LIST replaces them, oneof members replace each other", () => {
  const rc = { name: "r", virtualHosts: [{ name: "a", domains: ["a"] }] };
  protoMerge("envoy.config.route.v3.RouteConfiguration", rc, { virtualHosts: [{ name: "b", domains: ["b"] }] });
  assert.deepEqual(rc.virtualHosts.map((v) => v.name), ["a", "b"]);
  protoMerge("envoy.config.route.v3.RouteConfiguration", rc, { virtualHosts: [{ name: "c" }] }, true);
  assert.deepEqual(rc.virtualHosts.map((v) => v.name), ["c"]);
  const route: Obj = { match: { prefix: "/" }, route: { cluster: "x" } };
  protoMerge("envoy.config.route.v3.Route", route, { directResponse: { status: 418 } });
  assert.deepEqual(route, { match: { prefix: "/" }, directResponse: { status: 418 } });
  protoMerge("envoy.config.route.v3.Route", route, { match: { path: "/exact" } });
  assert.deepEqual(route.match, { path: "/exact" }, "path replaces prefix (one path_specifier)");
});

test("CLUSTER ADD (the task's STRICT_DNS rate_limit_cluster) appears once; REMOVE drops", () => {
  const r = run(productpage(), ef("add", "istio-system", `configPatches:
- applyTo: CLUSTER
  patch:
    operation: ADD
    value:
      name: rate_limit_cluster
      type: STRICT_DNS
      connect_timeout: 10s
      lb_policy: ROUND_ROBIN
      http2_protocol_options: {}
      load_assignment:
        cluster_name: rate_limit_cluster
        endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: ratelimit.default.svc.cluster.local, port_value: 8081}}}}]}]
- applyTo: CLUSTER
  match: {cluster: {service: details.default.svc.cluster.local}}
  patch: {operation: REMOVE}`));
  // Applied, and said out loud: local mode has no DNS server for mesh hostnames.
  assert.equal(r.errors.length, 1, r.errors.join("\n"));
  assert.match(r.errors[0], /EnvoyFilter istio-system\/add on proxy .*spec\.configPatches\[0\]\.patch\.value: the STRICT_DNS cluster rate_limit_cluster resolves ratelimit\.default\.svc\.cluster\.local with the system resolver/);
  assert.equal(r.clusters.filter((c) => c.name === "rate_limit_cluster").length, 1);
  assert.equal(r.clusters.filter((c) => String(c.name).endsWith("details.default.svc.cluster.local")).length, 0);
});

test("CLUSTER MERGE of a transport socket: merged into the auto-mTLS match of that name, typed_config as a message", () => {
  const r = run(
    productpage(),
    ef("ts", "default", `configPatches:
- applyTo: CLUSTER
  match: {context: SIDECAR_OUTBOUND, cluster: {service: reviews.default.svc.cluster.local, subset: v1}}
  patch:
    operation: MERGE
    value:
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config: {'@type': type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext, allow_renegotiation: true}`),
  );
  assert.deepEqual(r.errors, []);
  const c = r.clusters.find((x) => x.name === "outbound|9080|v1|reviews.default.svc.cluster.local")!;
  const tls = c.transportSocketMatches.find((m: Obj) => m.name === "tlsMode-istio").transportSocket.typedConfig;
  assert.equal(tls.allowRenegotiation, true);
  assert.equal(tls.sni, "outbound_.9080_.v1_.reviews.default.svc.cluster.local", "the rest of the TLS context is kept");
  assert.equal(c.transportSocket, undefined, "no cluster-level socket added");
});

test("targetRefs select a Gateway API gateway's proxy by its gateway-name label, in the gateway's namespace", () => {
  const gw = (ns: string, name: string) => testProxy({ type: "router", ip: "127.0.1.9", name: "gw", namespace: ns, labels: { "gateway.networking.k8s.io/gateway-name": name } });
  const spec = (ref: string) => `targetRefs: [${ref}]\n${clusterMerge("7s").replace("context: SIDECAR_OUTBOUND, ", "")}`;
  const rows: [string, string, Proxy, boolean][] = [
    ["named gateway", ef("a", "default", spec("{group: gateway.networking.k8s.io, kind: Gateway, name: my-gw}")), gw("default", "my-gw"), true],
    ["other gateway", ef("a", "default", spec("{group: gateway.networking.k8s.io, kind: Gateway, name: other}")), gw("default", "my-gw"), false],
    ["a kind other than Gateway", ef("a", "default", spec("{group: '', kind: Service, name: my-gw}")), gw("default", "my-gw"), false],
    ["no targetRefs, no selector: every workload of the namespace", ef("a", "default", clusterMerge("7s")), gw("default", "my-gw"), true],
  ];
  for (const [what, yaml, proxy, selected] of rows) assert.equal(run(proxy, yaml).o !== undefined, selected, what);
});

test("ROUTE_CONFIGURATION portNumber on a gateway matches the Gateway server port behind the listener port", () => {
  // A second server on the ingress service's port 80, which the gateway listens on at 8080 (http.8080).
  const server80 = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: port80, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http80, protocol: HTTP}
    hosts: ["*"]
`;
  const patch = (port: number) =>
    ef("rc", "istio-system", `configPatches:
- applyTo: ROUTE_CONFIGURATION
  match: {context: GATEWAY, routeConfiguration: {portNumber: ${port}}}
  patch: {operation: MERGE, value: {request_headers_to_add: [{header: {key: x-rc, value: '1'}}]}}`);
  const headers = (port: number) => run(gateway(), server80, patch(port)).routes.find((rc) => rc.name === "http.8080")?.requestHeadersToAdd;
  assert.deepEqual(headers(80), [{ header: { key: "x-rc", value: "1" } }]);
  assert.deepEqual(headers(8080), [{ header: { key: "x-rc", value: "1" } }], "8080 is a server port too (bookinfo-gateway)");
  assert.equal(headers(9999), undefined);
});
