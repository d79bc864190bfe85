// LDS for sidecars and gateways: golden files for bookinfo (local mode without capture, and Istio's
// default capture), the ingress gateway, TLS/TCP gateways, TCP/TLS routing and Sidecar egress
// listeners; behaviour tests for the Istio rules that decide listener shapes; a protobuf round trip
// of every generated listener.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { packageRoot } from "../../../src/core/paths.js";
import { LISTENER_TYPE } from "../../../src/envoy/protos.js";
import type { Listener } from "../../../src/envoy/types.js";
import type { PushContext } from "../../../src/model/push-context.js";
import type { Proxy } from "../../../src/model/proxy.js";
import { buildListeners, mergeGatewayServers } from "../../../src/xds/gen/listeners.js";
import { gatewayHttpRouteName, gatewayHttpsRouteName, outboundRouteName } from "../../../src/xds/gen/names.js";
import { buildRouteConfigurations } from "../../../src/xds/gen/routes.js";
import { assertGolden, assertRoundTrip, bookinfo, testProxy } from "../../helpers/xds.js";

const PRODUCTPAGE = { ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage", version: "v1" } };
const INGRESS = { type: "router" as const, ip: "127.0.1.1", name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" } };

function productpage(metadata: Record<string, unknown> = {}): Proxy {
  return testProxy({ ...PRODUCTPAGE, metadata });
}

function ingress(metadata: Record<string, unknown> = {}): Proxy {
  return testProxy({ ...INGRESS, metadata });
}

/** Builds, checks the order and the protobuf round trip of every listener, returns them. */
function listeners(proxy: Proxy, push: PushContext): Listener[] {
  const ls = buildListeners(proxy, push);
  const names = ls.map((l) => l.name as string);
  assert.deepEqual(names, [...names].sort(), "listeners are sorted by name");
  assert.equal(new Set(names).size, names.length, "listener names are unique");
  for (const l of ls) assertRoundTrip(LISTENER_TYPE, l, `listener ${String(l.name)}`);
  return ls;
}

function named(ls: Listener[], name: string): Listener {
  const l = ls.find((x) => x.name === name);
  assert.ok(l, `listener ${name} among ${ls.map((x) => x.name).join(", ")}`);
  return l;
}

type Json = Record<string, unknown>;

/** The typed config of the first filter named `name` in a chain. */
function filterConfig(chain: unknown, name: string): Json {
  const f = ((chain as Json).filters as Json[]).find((x) => x.name === name);
  assert.ok(f, `filter ${name}`);
  return f.typedConfig as Json;
}

const HCM = "envoy.filters.network.http_connection_manager";
const TCP_PROXY = "envoy.filters.network.tcp_proxy";

/** Istio's samples, as the repository ships them. */
const SAMPLES = join(packageRoot(), "samples");

function istioSample(path: string): string {
  return readFileSync(join(SAMPLES, path), "utf8");
}

// ---- fixtures ----

/** tcp-echo (Istio's sample) as a mesh service with two versions, TLS egress services, and mesh routes. */
const TCP_TLS_MESH = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: tcp-echo, namespace: default }
spec:
  hosts: [tcp-echo.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9000, name: tcp, protocol: TCP }, { number: 9001, name: tcp-other, protocol: TCP }]
  workloadSelector: { labels: { app: tcp-echo } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: tcp-echo-v1, namespace: default }
spec: { address: 127.0.6.1, labels: { app: tcp-echo, version: v1 }, serviceAccount: tcp-echo }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: tcp-echo-v2, namespace: default }
spec: { address: 127.0.6.2, labels: { app: tcp-echo, version: v2 }, serviceAccount: tcp-echo }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: mongo, namespace: default }
spec:
  hosts: [mongo.default.svc.cluster.local]
  addresses: [240.0.0.10]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 27017, name: mongo, protocol: MONGO }]
  endpoints: [{ address: 10.1.0.1 }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: wikipedia, namespace: default }
spec:
  hosts: ["*.wikipedia.org"]
  location: MESH_EXTERNAL
  resolution: NONE
  ports: [{ number: 443, name: tls, protocol: TLS }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: api, namespace: default }
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 443, name: https, protocol: HTTPS }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: tcp-echo, namespace: default }
spec:
  host: tcp-echo
  trafficPolicy:
    connectionPool: { tcp: { idleTimeout: 30m } }
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: tcp-echo, namespace: default }
spec:
  hosts: [tcp-echo]
  tcp:
  - match: [{ port: 9000 }]
    route:
    - { destination: { host: tcp-echo, port: { number: 9000 }, subset: v1 }, weight: 80 }
    - { destination: { host: tcp-echo, port: { number: 9000 }, subset: v2 }, weight: 20 }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: wikipedia, namespace: default }
spec:
  hosts: ["*.wikipedia.org"]
  tls:
  - match: [{ port: 443, sniHosts: [en.wikipedia.org] }]
    route: [{ destination: { host: en.wikipedia.org } }]
  - match: [{ port: 443, sniHosts: ["*.wikipedia.org"] }]
    route: [{ destination: { host: "*.wikipedia.org" } }]
`;

/** A gateway with HTTPS SIMPLE (SDS) and MUTUAL (files), TLS PASSTHROUGH and TCP servers. */
const TLS_GATEWAY = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: secure-gateway, namespace: default }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 443, name: https-bookinfo, protocol: HTTPS }
    hosts: [bookinfo.example.com]
    tls: { mode: SIMPLE, credentialName: bookinfo-credential, minProtocolVersion: TLSV1_2 }
  - port: { number: 443, name: https-mtls, protocol: HTTPS }
    name: mtls-server
    hosts: [./mtls.example.com]
    tls:
      mode: MUTUAL
      serverCertificate: /etc/istio/certs/tls.crt
      privateKey: /etc/istio/certs/tls.key
      caCertificates: /etc/istio/certs/ca.crt
      subjectAltNames: [client.example.com]
      cipherSuites: [ECDHE-ECDSA-AES256-GCM-SHA384]
  - port: { number: 443, name: tls-passthrough, protocol: TLS }
    hosts: ["*.passthrough.example.com"]
    tls: { mode: PASSTHROUGH }
  - port: { number: 9443, name: https-mutual-sds, protocol: HTTPS }
    hosts: ["*/admin.example.com"]
    tls: { mode: MUTUAL, credentialName: admin-credential }
  - port: { number: 31400, name: tcp, protocol: TCP }
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: passthrough, namespace: default }
spec:
  hosts: [a.passthrough.example.com, b.passthrough.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 443, name: tls, protocol: TLS }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: passthrough, namespace: default }
spec:
  hosts: ["*.passthrough.example.com"]
  gateways: [secure-gateway]
  tls:
  - match: [{ port: 443, sniHosts: [a.passthrough.example.com] }]
    route: [{ destination: { host: a.passthrough.example.com } }]
  - match: [{ port: 443, sniHosts: [b.passthrough.example.com] }]
    route:
    - { destination: { host: b.passthrough.example.com }, weight: 50 }
    - { destination: { host: a.passthrough.example.com }, weight: 50 }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: tcp-to-ratings, namespace: default }
spec:
  hosts: ["*"]
  gateways: [secure-gateway]
  tcp:
  - match: [{ port: 31400 }]
    route: [{ destination: { host: ratings, port: { number: 9080 } } }]
`;

/** Istio's tcp-echo gateway sample: Gateway + DestinationRule from tcp-echo-all-v1.yaml, the 80/20 VirtualService. */
function tcpEchoGatewaySample(): string {
  const allV1 = istioSample("tcp-echo/tcp-echo-all-v1.yaml")
    .split(/^---$/m)
    .filter((d) => !/kind: VirtualService/.test(d))
    .join("---\n");
  return `${allV1}\n---\n${istioSample("tcp-echo/tcp-echo-20-v2.yaml")}`;
}

/** tsmesh local mode: per-upstream local ports through Sidecar egress listeners, an explicit ingress port. */
const EGRESS_SIDECAR = `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: productpage, namespace: default }
spec:
  workloadSelector: { labels: { app: productpage } }
  ingress:
  - port: { number: 9080, protocol: HTTP, name: http }
    defaultEndpoint: 127.0.0.1:9080
  egress:
  - bind: 127.0.0.1
    port: { number: 9080, protocol: HTTP, name: http-reviews }
    captureMode: NONE
    hosts: [./reviews.default.svc.cluster.local]
  - bind: 127.0.0.1
    port: { number: 9000, protocol: TCP, name: tcp-echo }
    captureMode: NONE
    hosts: [./tcp-echo.default.svc.cluster.local]
  - port: { number: 9091, name: sniffed }
    hosts: [./details.default.svc.cluster.local]
  - hosts: [./*, istio-system/*]
`;

// ---- golden files ----

test("golden: bookinfo productpage sidecar in local mode (INTERCEPTION_MODE NONE)", () => {
  const ls = listeners(productpage({ INTERCEPTION_MODE: "NONE" }), bookinfo());
  assertGolden("listeners-productpage-none", ls);
  assert.deepEqual(
    ls.map((l) => l.name),
    ["0.0.0.0_443", "0.0.0.0_80", "0.0.0.0_9080", "127.0.2.1_9080", "virtualOutbound"],
  );
  // The inbound listener binds the workload's own address, with an inline route to inbound|9080||.
  const inbound = named(ls, "127.0.2.1_9080");
  assert.equal(inbound.trafficDirection, "INBOUND");
  assert.equal(inbound.bindToPort, undefined);
  const hcm = filterConfig((inbound.filterChains as unknown[])[0], HCM);
  assert.equal(hcm.statPrefix, "inbound_0.0.0.0_9080");
  const rc = hcm.routeConfig as Json;
  assert.equal(rc.name, "inbound|9080||");
  const route = ((rc.virtualHosts as Json[])[0].routes as Json[])[0];
  assert.deepEqual(route.decorator, { operation: "productpage.default.svc.cluster.local:9080/*" });
});

test("golden: bookinfo productpage sidecar with Istio's default capture (virtualInbound)", () => {
  const ls = listeners(productpage(), bookinfo());
  assertGolden("listeners-productpage-capture", ls);
  assert.deepEqual(
    ls.map((l) => l.name),
    ["0.0.0.0_443", "0.0.0.0_80", "0.0.0.0_9080", "virtualInbound", "virtualOutbound"],
  );
  const vi = named(ls, "virtualInbound");
  assert.deepEqual(vi.address, { socketAddress: { address: "0.0.0.0", portValue: 15006 } });
  assert.deepEqual(
    (vi.filterChains as Json[]).map((c) => c.name),
    // PERMISSIVE (no PeerAuthentication): mTLS and plaintext chains for the passthrough and the service port.
    [
      "virtualInbound-blackhole",
      "virtualInbound-catchall-http",
      "virtualInbound-catchall-http",
      "virtualInbound",
      "virtualInbound",
      "virtualInbound",
      "0.0.0.0_9080",
      "0.0.0.0_9080",
    ],
  );
  // TLS inspection everywhere but the loop guard; the HTTP inspector for sniffed traffic only: not
  // on the declared HTTP port or the loop guard.
  const lf = vi.listenerFilters as Json[];
  assert.deepEqual(lf.map((f) => f.name), ["envoy.filters.listener.original_dst", "envoy.filters.listener.tls_inspector", "envoy.filters.listener.http_inspector"]);
  assert.deepEqual(lf[1].filterDisabled, { destinationPortRange: { start: 15006, end: 15007 } });
  assert.deepEqual(lf[2].filterDisabled, {
    orMatch: { rules: [{ destinationPortRange: { start: 9080, end: 9081 } }, { destinationPortRange: { start: 15006, end: 15007 } }] },
  });
});

test("golden: ingress gateway with Istio's bookinfo-gateway.yaml", () => {
  const ls = listeners(ingress(), bookinfo());
  assertGolden("listeners-ingressgateway", ls);
  assert.deepEqual(ls.map((l) => l.name), ["0.0.0.0_8080"]);
  const l = ls[0];
  assert.equal(l.trafficDirection, "OUTBOUND");
  assert.equal(l.bindToPort, undefined, "gateways bind their ports");
  const hcm = filterConfig((l.filterChains as unknown[])[0], HCM);
  assert.equal((hcm.rds as Json).routeConfigName, gatewayHttpRouteName(8080));
  assert.deepEqual(hcm.useRemoteAddress, { value: true });
  assert.equal(hcm.statPrefix, "outbound_0.0.0.0_8080");
});

test("golden: gateway with HTTPS SIMPLE/MUTUAL, TLS PASSTHROUGH and TCP servers", () => {
  const ls = listeners(ingress(), bookinfo(TLS_GATEWAY));
  assertGolden("listeners-gateway-tls-tcp", ls);
  // Service port 443 of the gateway's ServiceEntry is listened on at its target port 8443.
  assert.deepEqual(ls.map((l) => l.name), ["0.0.0.0_31400", "0.0.0.0_8080", "0.0.0.0_8443", "0.0.0.0_9443"]);
  const l443 = named(ls, "0.0.0.0_8443");
  const chains = l443.filterChains as Json[];
  assert.deepEqual(
    chains.map((c) => (c.filterChainMatch as Json | undefined)?.serverNames),
    [["bookinfo.example.com"], ["mtls.example.com"], ["a.passthrough.example.com"], ["b.passthrough.example.com"]],
  );
  assert.deepEqual((l443.listenerFilters as Json[]).map((f) => f.name), ["envoy.filters.listener.tls_inspector"]);
  // HTTPS servers route through RDS named after port, port name, gateway and namespace.
  assert.equal((filterConfig(chains[0], HCM).rds as Json).routeConfigName, gatewayHttpsRouteName(8443, "https-bookinfo", "secure-gateway", "default"));
  // A named server gives its HCM stat prefix.
  assert.equal(filterConfig(chains[1], HCM).statPrefix, "mtls-server");
  const simple = (chains[0].transportSocket as Json).typedConfig as Json;
  assert.deepEqual(simple.requireClientCertificate, { value: false });
  assert.deepEqual((simple.commonTlsContext as Json).tlsCertificateSdsSecretConfigs, [
    // Istio's credentials.ToResourceName, over ADS (issue 13's contract: 0s initial fetch timeout).
    { name: "kubernetes://bookinfo-credential", sdsConfig: { ads: {}, initialFetchTimeout: {}, resourceApiVersion: "V3" } },
  ]);
  assert.deepEqual((simple.commonTlsContext as Json).tlsParams, { tlsMinimumProtocolVersion: "TLSv1_2" });
  const mutual = (chains[1].transportSocket as Json).typedConfig as Json;
  assert.deepEqual(mutual.requireClientCertificate, { value: true });
  assert.deepEqual((mutual.commonTlsContext as Json).validationContext, {
    trustedCa: { filename: "/etc/istio/certs/ca.crt" },
    matchSubjectAltNames: [{ exact: "client.example.com" }],
  });
  // Passthrough chains carry no TLS context; weights from the VirtualService.
  assert.equal(chains[2].transportSocket, undefined);
  assert.deepEqual((filterConfig(chains[3], TCP_PROXY).weightedClusters as Json).clusters, [
    { name: "outbound|443||b.passthrough.example.com", weight: 50 },
    { name: "outbound|443||a.passthrough.example.com", weight: 50 },
  ]);
  const sds = ((named(ls, "0.0.0.0_9443").filterChains as Json[])[0].transportSocket as Json).typedConfig as Json;
  assert.deepEqual(((sds.commonTlsContext as Json).combinedValidationContext as Json).validationContextSdsSecretConfig, {
    name: "kubernetes://admin-credential-cacert",
    sdsConfig: { ads: {}, initialFetchTimeout: {}, resourceApiVersion: "V3" },
  });
  const tcp = filterConfig((named(ls, "0.0.0.0_31400").filterChains as Json[])[0], TCP_PROXY);
  assert.equal(tcp.cluster, "outbound|9080||ratings.default.svc.cluster.local");
});

test("golden: sidecar with TCP and TLS services and tcp[]/tls[] routes (tcp-echo 80/20)", () => {
  const ls = listeners(productpage(), bookinfo(TCP_TLS_MESH));
  assertGolden("listeners-sidecar-tcp-tls", ls);
  const echo = named(ls, "0.0.0.0_9000");
  const tp = filterConfig((echo.filterChains as Json[])[0], TCP_PROXY);
  assert.equal(tp.statPrefix, "tcp-echo.default");
  assert.deepEqual((tp.weightedClusters as Json).clusters, [
    { name: "outbound|9000|v1|tcp-echo.default.svc.cluster.local", weight: 80 },
    { name: "outbound|9000|v2|tcp-echo.default.svc.cluster.local", weight: 20 },
  ]);
  assert.deepEqual(tp.idleTimeout, { seconds: 1800 });
  // Port 9001 has no route matching it: the service's own cluster.
  assert.equal(filterConfig((named(ls, "0.0.0.0_9001").filterChains as Json[])[0], TCP_PROXY).cluster, "outbound|9001||tcp-echo.default.svc.cluster.local");
  named(ls, "240.0.0.10_27017");
  const tls = named(ls, "0.0.0.0_443");
  assert.deepEqual(
    (tls.filterChains as Json[]).map((c) => (c.filterChainMatch as Json).serverNames),
    [["istio-ingressgateway.istio-system.svc.cluster.local"], ["en.wikipedia.org"], ["*.wikipedia.org"], ["api.example.com"]],
  );
});

test("golden: Sidecar egress listeners with bind and port (tsmesh local mode)", () => {
  const ls = listeners(productpage({ INTERCEPTION_MODE: "NONE" }), bookinfo(TCP_TLS_MESH, EGRESS_SIDECAR));
  assertGolden("listeners-sidecar-egress-bind", ls);
  const http = named(ls, "127.0.0.1_9080");
  assert.equal(http.bindToPort, undefined, "bound to the port");
  assert.deepEqual(http.address, { socketAddress: { address: "127.0.0.1", portValue: 9080 } });
  const hcm = filterConfig((http.filterChains as Json[])[0], HCM);
  assert.equal((hcm.rds as Json).routeConfigName, outboundRouteName(9080));
  assert.equal(hcm.statPrefix, "outbound_127.0.0.1_9080");
  const tcp = named(ls, "127.0.0.1_9000");
  assert.equal(filterConfig((tcp.filterChains as Json[])[0], TCP_PROXY).statPrefix, "tcp-echo.default");
  // A port without protocol on a non-wildcard bind is sniffed with a route of its own (host:port).
  const sniffed = named(ls, "127.0.0.1_9091");
  const sniffedHcm = filterConfig((sniffed.filterChains as Json[])[0], HCM);
  assert.equal((sniffedHcm.rds as Json).routeConfigName, "details.default.svc.cluster.local:9091");
  // The catch-all egress listener adds the other services, not touching the explicit ports.
  const catchAll = named(ls, "0.0.0.0_9080");
  assert.equal((filterConfig((catchAll.filterChains as Json[])[0], HCM).rds as Json).routeConfigName, "9080");
  assert.deepEqual(catchAll.bindToPort, { value: false });
  // Sidecar ingress: one listener bound to the workload address.
  const inbound = named(ls, "127.0.2.1_9080");
  const route = (((filterConfig((inbound.filterChains as Json[])[0], HCM).routeConfig as Json).virtualHosts as Json[])[0].routes as Json[])[0];
  assert.deepEqual(route.decorator, { operation: "productpage.default:9080/*" });
});

// ---- behaviour ----

test("memoized per push: proxies that differ only in name share listener objects; IPs only change inbound", () => {
  const push = bookinfo();
  const a = buildListeners(testProxy({ ...PRODUCTPAGE, name: "productpage-a" }), push);
  const b = buildListeners(testProxy({ ...PRODUCTPAGE, name: "productpage-b" }), push);
  assert.equal(a, b);
  const other = buildListeners(testProxy({ ...PRODUCTPAGE, ip: "127.0.3.1", labels: { app: "details", version: "v1" } }), push);
  assert.equal(named(other, "0.0.0.0_9080"), named(a, "0.0.0.0_9080"), "outbound listeners are shared");
  assert.notEqual(named(other, "virtualInbound"), named(a, "virtualInbound"));
  // A new push builds new objects.
  assert.notEqual(buildListeners(testProxy(PRODUCTPAGE), bookinfo()), a);
  // Labels matter once some tcp[] route matches on sourceLabels.
  const vs = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: tcp-echo, namespace: default }
spec:
  hosts: [tcp-echo]
  tcp:
  - match: [{ sourceLabels: { version: v2 } }]
    route: [{ destination: { host: tcp-echo, subset: v2 } }]
  - route: [{ destination: { host: tcp-echo, subset: v1 } }]
`;
  const p2 = bookinfo(TCP_TLS_MESH.split("---\napiVersion: networking.istio.io/v1\nkind: VirtualService")[0], vs);
  const v1 = buildListeners(testProxy(PRODUCTPAGE), p2);
  const v2 = buildListeners(testProxy({ ...PRODUCTPAGE, labels: { app: "productpage", version: "v2" } }), p2);
  const cluster = (ls: Listener[]) => filterConfig((named(ls, "0.0.0.0_9000").filterChains as Json[])[0], TCP_PROXY).cluster;
  assert.equal(cluster(v1), "outbound|9000|v1|tcp-echo.default.svc.cluster.local");
  assert.equal(cluster(v2), "outbound|9000|v2|tcp-echo.default.svc.cluster.local");
});

test("TCP services on one port without VIPs: the oldest keeps the listener (Istio's TCP-over-TCP conflict)", () => {
  const yaml = (name: string) => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: default }
spec:
  hosts: [${name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 5432, name: tcp, protocol: TCP }]
  endpoints: [{ address: 10.0.0.1 }]
`;
  const ls = listeners(productpage(), bookinfo(yaml("first"), yaml("second")));
  const l = named(ls, "0.0.0.0_5432");
  assert.equal((l.filterChains as Json[]).length, 1);
  assert.equal(filterConfig((l.filterChains as Json[])[0], TCP_PROXY).cluster, "outbound|5432||first.default.svc.cluster.local");
});

test("undeclared (sniffed) ports and HTTP/TCP on one port: inspectors, an ALPN-matched HCM and a TCP default chain", () => {
  const yaml = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: legacy, namespace: default }
spec:
  hosts: [legacy.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 7070, name: legacy }]
  endpoints: [{ address: 10.0.0.7 }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: cache, namespace: default }
spec:
  hosts: [cache.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: tcp-cache, protocol: TCP }]
  endpoints: [{ address: 10.0.0.8 }]
`;
  const ls = listeners(productpage(), bookinfo(yaml));
  for (const [name, port, tcpCluster] of [
    ["0.0.0.0_7070", 7070, "outbound|7070||legacy.default.svc.cluster.local"],
    ["0.0.0.0_9080", 9080, "outbound|9080||cache.default.svc.cluster.local"],
  ] as const) {
    const l = named(ls, name);
    assert.deepEqual((l.listenerFilters as Json[]).map((f) => f.name), ["envoy.filters.listener.tls_inspector", "envoy.filters.listener.http_inspector"], name);
    const chains = l.filterChains as Json[];
    assert.equal(chains.length, 1, name);
    assert.deepEqual(chains[0].filterChainMatch, { transportProtocol: "raw_buffer", applicationProtocols: ["http/1.1", "h2c"] }, name);
    assert.equal((filterConfig(chains[0], HCM).rds as Json).routeConfigName, String(port), name);
    assert.equal(filterConfig(l.defaultFilterChain, TCP_PROXY).cluster, tcpCluster, name);
  }
});

test("sniffed port shared by several services without VIPs: non-HTTP traffic passes through to its destination", () => {
  const se = (name: string) => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: default }
spec:
  hosts: [${name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 7070, name: legacy }]
  endpoints: [{ address: 10.0.0.7 }]
`;
  const one = named(listeners(productpage(), bookinfo(se("first"))), "0.0.0.0_7070");
  assert.equal(filterConfig(one.defaultFilterChain, TCP_PROXY).cluster, "outbound|7070||first.default.svc.cluster.local");
  const two = named(listeners(productpage(), bookinfo(se("first"), se("second"))), "0.0.0.0_7070");
  assert.equal(filterConfig(two.defaultFilterChain, TCP_PROXY).cluster, "PassthroughCluster");
  assert.equal(filterConfig(two.defaultFilterChain, TCP_PROXY).statPrefix, "PassthroughCluster");
  assert.equal(((filterConfig((two.filterChains as Json[])[0], HCM).rds as Json).routeConfigName), "7070");
});

test("gateway servers: port translation, HTTP servers merged on one route, conflicting servers dropped", () => {
  const yaml = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: extra, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["*"]
  - port: { number: 8080, name: http-more, protocol: HTTP2 }
    hosts: [more.example.com]
  - port: { number: 8080, name: tcp, protocol: TCP }
    hosts: ["*"]
`;
  const push = bookinfo(yaml);
  const proxy = ingress();
  const groups = mergeGatewayServers(push.gatewayServers(proxy), proxy, push);
  // bookinfo-gateway (8080) + port 80 (→ 8080) + HTTP2 on 8080 share one group; the TCP server conflicts.
  assert.equal(groups.length, 1);
  assert.deepEqual(groups[0].servers.map((s) => s.port.name), ["http", "http", "http-more"]);
  assert.equal(groups[0].routeName, "http.8080");
  const ls = listeners(proxy, push);
  assert.deepEqual(ls.map((l) => l.name), ["0.0.0.0_8080"]);
  assert.equal((ls[0].filterChains as Json[]).length, 1);
});

test("gateway: Istio's tcp-echo sample (TCP server, 80/20 to v1/v2)", () => {
  const ls = listeners(ingress(), bookinfo(TCP_TLS_MESH.split("---\napiVersion: networking.istio.io/v1\nkind: VirtualService")[0], tcpEchoGatewaySample()));
  const tp = filterConfig((named(ls, "0.0.0.0_31400").filterChains as Json[])[0], TCP_PROXY);
  assert.equal(tp.statPrefix, "tcp-echo.default");
  assert.deepEqual((tp.weightedClusters as Json).clusters, [
    { name: "outbound|9000|v1|tcp-echo.default.svc.cluster.local", weight: 80 },
    { name: "outbound|9000|v2|tcp-echo.default.svc.cluster.local", weight: 20 },
  ]);
});

test("node metadata: IDLE_TIMEOUT sets tcp_proxy and HCM idle timeouts; TPROXY makes capture listeners transparent", () => {
  const ls = listeners(productpage({ IDLE_TIMEOUT: "90s", INTERCEPTION_MODE: "TPROXY" }), bookinfo());
  const vo = named(ls, "virtualOutbound");
  assert.deepEqual(vo.transparent, { value: true });
  assert.deepEqual(vo.useOriginalDst, { value: true });
  assert.deepEqual(filterConfig((vo.filterChains as Json[])[1], TCP_PROXY).idleTimeout, { seconds: 90 });
  const hcm = filterConfig((named(ls, "0.0.0.0_9080").filterChains as Json[])[0], HCM);
  assert.deepEqual(hcm.commonHttpProtocolOptions, { idleTimeout: { seconds: 90 } });
  assert.deepEqual(named(ls, "virtualInbound").transparent, { value: true });
  // A different IDLE_TIMEOUT is a different memo entry.
  assert.notEqual(named(listeners(productpage({ IDLE_TIMEOUT: "10s", INTERCEPTION_MODE: "TPROXY" }), bookinfo()), "virtualOutbound"), undefined);
});

test("inbound: gRPC ports get HTTP/2 options, TCP ports a tcp_proxy to inbound|PORT||, sniffed ports both", () => {
  const yaml = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: multi, namespace: default }
spec:
  hosts: [multi.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - { number: 7070, name: grpc, protocol: GRPC }
  - { number: 7071, name: tcp, protocol: TCP, targetPort: 17071 }
  - { number: 7072, name: sniffed }
  workloadSelector: { labels: { app: multi } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: multi, namespace: default }
spec: { address: 127.0.7.1, labels: { app: multi } }
---
# Plaintext chains only (mTLS chains: inbound-mtls.test.ts).
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: default }
spec: { mtls: { mode: DISABLE } }
`;
  const proxy = (md: Record<string, unknown>) => testProxy({ ip: "127.0.7.1", name: "multi", labels: { app: "multi" }, metadata: md });
  const none = listeners(proxy({ INTERCEPTION_MODE: "NONE" }), bookinfo(yaml));
  const grpc = filterConfig((named(none, "127.0.7.1_7070").filterChains as Json[])[0], HCM);
  assert.deepEqual(grpc.http2ProtocolOptions, {});
  const tcp = named(none, "127.0.7.1_17071");
  assert.equal(filterConfig((tcp.filterChains as Json[])[0], TCP_PROXY).cluster, "inbound|17071||");
  assert.equal(tcp.listenerFilters, undefined);
  const sniffed = named(none, "127.0.7.1_7072");
  assert.deepEqual((sniffed.listenerFilters as Json[]).map((f) => f.name), ["envoy.filters.listener.http_inspector"]);
  assert.deepEqual((sniffed.filterChains as Json[]).map((c) => c.filterChainMatch), [
    { destinationPort: { value: 7072 }, transportProtocol: "raw_buffer", applicationProtocols: ["http/1.1", "h2c"] },
    { destinationPort: { value: 7072 }, transportProtocol: "raw_buffer" },
  ]);
  const capture = listeners(proxy({}), bookinfo(yaml));
  assert.deepEqual(
    (named(capture, "virtualInbound").filterChains as Json[]).map((c) => c.name),
    ["virtualInbound-blackhole", "virtualInbound-catchall-http", "virtualInbound", "0.0.0.0_7070", "0.0.0.0_7072", "0.0.0.0_7072", "0.0.0.0_17071"],
  );
});

test("a gateway's listeners and route configurations agree on names when server ports resolve to target ports", () => {
  // Istio's httpbin-gateway.yaml uses port 80, a port of the gateway's service (→ 8080); HTTPS 443 → 8443.
  const push = bookinfo(
    TLS_GATEWAY,
    `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: httpbin-gateway, namespace: default }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["*"]
`,
  );
  const proxy = ingress();
  const referenced = new Set<string>();
  for (const l of listeners(proxy, push)) {
    for (const chain of (l.filterChains as Json[] | undefined) ?? []) {
      const hcm = ((chain.filters as Json[] | undefined) ?? []).find((f) => f.name === HCM);
      const rds = hcm && ((hcm.typedConfig as Json).rds as Json | undefined);
      if (rds) referenced.add(rds.routeConfigName as string);
    }
  }
  const built = new Set(buildRouteConfigurations(proxy, push).map((rc) => rc.name as string));
  assert.ok(referenced.has(gatewayHttpRouteName(8080)));
  assert.ok(referenced.has(gatewayHttpsRouteName(8443, "https-bookinfo", "secure-gateway", "default")));
  assert.deepEqual([...referenced].sort(), [...built].sort());
});
