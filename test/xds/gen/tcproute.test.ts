// VirtualService tcp[]/tls[] routing into tcp_proxy chains: table tests for the static match
// predicates, destination clusters and weights, plus a small Envoy-style filter chain selector that
// replays connections (port, SNI, ALPN) against generated listeners, as Istio's simulation tests do.
import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveGatewayName } from "../../../src/api/hosts.js";
import type { Resource } from "../../../src/api/resource.js";
import { isAnyOf, LISTENER_TYPE } from "../../../src/envoy/protos.js";
import type { FilterChain, FilterChainMatch, Listener, NetworkFilter, TcpProxy } from "../../../src/envoy/types.js";
import type { PushContext } from "../../../src/model/push-context.js";
import { chainsConflict, filterChainMatch, isMatchAll } from "../../../src/xds/gen/filters.js";
import { buildListeners } from "../../../src/xds/gen/listeners.js";
import {
  configsForHost,
  destinationCluster,
  gatewayTcpFilters,
  matchL4,
  matchingGatewayHosts,
  outboundNetworkFilters,
  usesSourcePredicates,
  type L4Source,
  type TcpMatch,
  type VirtualService,
} from "../../../src/xds/gen/tcproute.js";
import type { Service } from "../../../src/registry/model.js";
import { assertRoundTrip, bookinfo, resourcesFromYaml, testProxy } from "../../helpers/xds.js";

// ---- an Envoy-like filter chain selector (listener → chain for a connection) ----

interface Conn {
  port: number;
  sni?: string;
  alpn?: string;
  transport?: string;
}

/** Envoy's server_names ranking: exact match, then the longest matching `*.suffix`; -1 = no match. */
function sniRank(names: readonly string[], sni: string | undefined): number {
  let best = -1;
  for (const n of names) {
    if (sni === undefined) continue;
    if (n === sni) best = Math.max(best, 10_000);
    else if (n.startsWith("*.") && sni.endsWith(n.slice(1))) best = Math.max(best, n.length);
  }
  return best;
}

/**
 * Envoy's FilterChainMatch selection, in its order of criteria: destination port, server names,
 * transport protocol, application protocols. At each step the most specific matching chains win,
 * chains that do not match are dropped, and chains that leave the field empty remain only when no
 * chain matched it specifically. No chain left → the default chain.
 */
function selectChain(listener: Listener, c: Conn): FilterChain | undefined {
  let cands = (listener.filterChains ?? []).map((ch) => ({ ch, m: ch.filterChainMatch ?? {} }));
  const step = (score: (m: FilterChainMatch) => number | undefined): void => {
    const scored = cands.map((x) => ({ x, s: score(x.m) }));
    const specific = scored.filter((y) => y.s !== undefined && y.s >= 0);
    if (specific.length > 0) {
      const max = Math.max(...specific.map((y) => y.s!));
      cands = specific.filter((y) => y.s === max).map((y) => y.x);
    } else cands = scored.filter((y) => y.s === undefined).map((y) => y.x);
  };
  step((m) => (m.destinationPort === undefined ? undefined : m.destinationPort.value === c.port ? 1 : -1));
  step((m) => (m.serverNames === undefined ? undefined : sniRank(m.serverNames, c.sni)));
  step((m) => (m.transportProtocol === undefined ? undefined : m.transportProtocol === (c.transport ?? (c.sni ? "tls" : "raw_buffer")) ? 1 : -1));
  step((m) => (m.applicationProtocols === undefined ? undefined : m.applicationProtocols.includes(c.alpn ?? "") ? 1 : -1));
  if (cands.length > 1) throw new Error(`ambiguous filter chains for ${JSON.stringify(c)}`);
  return cands[0]?.ch ?? listener.defaultFilterChain;
}

/** The tcp_proxy destination of a chain: a cluster name, or "name:weight,..." for weighted clusters. */
function destinationOf(chain: FilterChain | undefined): string {
  if (!chain) return "<none>";
  const filters = chain.filters ?? [];
  const tp = tcpProxyOf(filters);
  if (!tp) return filters.some((f) => f.name === "envoy.filters.network.http_connection_manager") ? "<hcm>" : "<other>";
  if (tp.cluster) return tp.cluster;
  return (tp.weightedClusters?.clusters ?? []).map((x) => `${x.name}:${x.weight}`).join(",");
}

/** The tcp_proxy config among network filters (undefined without one). */
function tcpProxyOf(filters: readonly NetworkFilter[]): TcpProxy | undefined {
  const tc = filters.find((f) => f.name === "envoy.filters.network.tcp_proxy")?.typedConfig;
  return isAnyOf(tc, "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy") ? tc : undefined;
}

function listenerNamed(ls: Listener[], name: string): Listener {
  const l = ls.find((x) => x.name === name);
  assert.ok(l, `listener ${name} in ${ls.map((x) => x.name).join(", ")}`);
  return l;
}

// ---- fixtures ----

const TCP_TLS_SERVICES = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: tcp-echo, namespace: default }
spec:
  hosts: [tcp-echo.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9000, name: tcp, protocol: TCP }]
  workloadSelector: { labels: { app: tcp-echo } }
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
    connectionPool: { tcp: { idleTimeout: 30m, maxConnectionDuration: 2h } }
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
`;

const TCP_VS = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: tcp-echo, namespace: default }
spec:
  hosts: [tcp-echo]
  tcp:
  - match: [{ port: 9000, sourceLabels: { app: productpage } }]
    route:
    - { destination: { host: tcp-echo, port: { number: 9000 }, subset: v2 } }
  - match: [{ port: 9000 }]
    route:
    - { destination: { host: tcp-echo, port: { number: 9000 }, subset: v1 }, weight: 80 }
    - { destination: { host: tcp-echo, port: { number: 9000 }, subset: v2 }, weight: 20 }
`;

const TLS_VS = `
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
  - match: [{ port: 8443, sniHosts: [de.wikipedia.org] }]
    route: [{ destination: { host: de.wikipedia.org } }]
`;

function vs(yaml: string): VirtualService {
  return resourcesFromYaml(yaml)[0] as Resource<"VirtualService">;
}

function productpage(labels: Record<string, string> = { app: "productpage", version: "v1" }) {
  return testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels });
}

// ---- tests ----

test("matchL4 evaluates Istio's static predicates (port, gateways, sourceLabels, sourceNamespace)", () => {
  const mesh: L4Source = { labels: { app: "productpage", version: "v1" }, namespace: "default", gateways: new Set(["mesh"]), port: 9000 };
  const gw: L4Source = { labels: { istio: "ingressgateway" }, namespace: "istio-system", gateways: new Set(["istio-system/ingress"]), port: 31400 };
  const cases: [string, TcpMatch | undefined, L4Source, boolean][] = [
    ["no match block", undefined, mesh, true],
    ["empty match", {}, mesh, true],
    ["same port", { port: 9000 }, mesh, true],
    ["other port", { port: 9001 }, mesh, false],
    ["mesh gateway", { gateways: ["mesh"] }, mesh, true],
    ["only a gateway, sidecar", { gateways: ["istio-system/ingress"] }, mesh, false],
    ["gateway by ns/name", { gateways: ["istio-system/ingress"] }, gw, true],
    ["gateway short name resolves in the VS namespace (default)", { gateways: ["ingress"] }, gw, false],
    ["one of several gateways", { gateways: ["mesh", "istio-system/ingress"] }, gw, true],
    ["sourceLabels subset", { sourceLabels: { app: "productpage" } }, mesh, true],
    ["sourceLabels all keys", { sourceLabels: { app: "productpage", version: "v1" } }, mesh, true],
    ["sourceLabels mismatch", { sourceLabels: { app: "productpage", version: "v2" } }, mesh, false],
    ["sourceLabels missing key", { sourceLabels: { team: "a" } }, mesh, false],
    ["sourceNamespace", { sourceNamespace: "default" }, mesh, true],
    ["other sourceNamespace", { sourceNamespace: "prod" }, mesh, false],
    ["all together", { port: 9000, gateways: ["mesh"], sourceLabels: { app: "productpage" }, sourceNamespace: "default" }, mesh, true],
  ];
  for (const [what, match, src, want] of cases) assert.equal(matchL4(match, "default", src), want, what);
  assert.equal(resolveGatewayName("ingress", "istio-system"), "istio-system/ingress");
  assert.equal(resolveGatewayName("mesh", "istio-system"), "mesh");
  assert.equal(resolveGatewayName("other/gw", "istio-system"), "other/gw");
});

test("destinationCluster picks the destination port, else the service's only port, else the listener port", () => {
  const svc = (ports: number[]): Service => ({ ports: ports.map((port) => ({ port, name: `p${port}`, protocol: "TCP" })) }) as unknown as Service;
  const host = "tcp-echo.default.svc.cluster.local";
  const cases: [string, Parameters<typeof destinationCluster>[0], Service | undefined, string][] = [
    ["explicit port", { host, port: { number: 9001 } }, svc([9000, 9001]), `outbound|9001||${host}`],
    ["only port", { host }, svc([9000]), `outbound|9000||${host}`],
    ["several ports: listener port", { host }, svc([9000, 9001]), `outbound|7000||${host}`],
    ["unknown service: listener port", { host }, undefined, `outbound|7000||${host}`],
    ["subset", { host, subset: "v2" }, svc([9000]), `outbound|9000|v2|${host}`],
  ];
  for (const [what, dest, service, want] of cases) assert.equal(destinationCluster(dest, host, service, 7000), want, what);
});

test("outboundNetworkFilters: one destination → cluster, several → weighted clusters without zero weights", () => {
  const push = bookinfo(TCP_TLS_SERVICES);
  const ctx = { push, namespace: "default" };
  const base = (route: string) =>
    vs(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: tcp-echo, namespace: default }
spec:
  hosts: [tcp-echo]
  tcp:
  - route: ${route}
`);
  const tp = (v: VirtualService): TcpProxy => tcpProxyOf(outboundNetworkFilters(v.spec.tcp![0].route!, 9000, v, ctx)) ?? {};
  const single = tp(base(`[{ destination: { host: tcp-echo, subset: v1 } }]`));
  assert.equal(single.cluster, "outbound|9000|v1|tcp-echo.default.svc.cluster.local");
  assert.equal(single.statPrefix, single.cluster);
  // The DestinationRule's connection pool: idle timeout and max connection duration.
  assert.deepEqual(single.idleTimeout, { seconds: 1800 });
  assert.deepEqual(single.maxDownstreamConnectionDuration, { seconds: 7200 });

  const cases: [string, string, string][] = [
    ["80/20", `[{ destination: { host: tcp-echo, subset: v1 }, weight: 80 }, { destination: { host: tcp-echo, subset: v2 }, weight: 20 }]`, "v1:80,v2:20"],
    ["100/0 keeps one weighted cluster", `[{ destination: { host: tcp-echo, subset: v1 }, weight: 100 }, { destination: { host: tcp-echo, subset: v2 }, weight: 0 }]`, "v1:100"],
    ["three ways", `[{ destination: { host: tcp-echo, subset: v1 }, weight: 34 }, { destination: { host: tcp-echo, subset: v2 }, weight: 33 }, { destination: { host: tcp-echo }, weight: 33 }]`, "v1:34,v2:33,:33"],
  ];
  for (const [what, route, want] of cases) {
    const t = tp(base(route));
    assert.equal(t.statPrefix, "tcp-echo.default", what);
    const got = (t.weightedClusters?.clusters ?? []).map((c) => `${c.name?.split("|")[2]}:${c.weight}`).join(",");
    assert.equal(got, want, what);
    assert.equal(t.cluster, undefined, what);
  }
});

test("configsForHost selects VirtualServices whose (resolved, wildcard) hosts overlap the service", () => {
  const a = vs(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: a, namespace: default }
spec: { hosts: [tcp-echo], tcp: [{ route: [{ destination: { host: tcp-echo } }] }] }`);
  const b = vs(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: b, namespace: default }
spec: { hosts: ["*.wikipedia.org"], tls: [{ match: [{ sniHosts: [en.wikipedia.org] }], route: [{ destination: { host: en.wikipedia.org } }] }] }`);
  const names = (h: string) => configsForHost([a, b], h).map((v) => v.metadata.name);
  assert.deepEqual(names("tcp-echo.default.svc.cluster.local"), ["a"]);
  assert.deepEqual(names("tcp-echo.other.svc.cluster.local"), []);
  assert.deepEqual(names("*.wikipedia.org"), ["b"]);
  assert.deepEqual(names("en.wikipedia.org"), ["b"]);
  assert.deepEqual(names("wikipedia.org"), []);
  assert.equal(usesSourcePredicates([a, b]), false);
  assert.equal(usesSourcePredicates([vs(TCP_VS)]), true);
});

test("sidecar TCP: sourceLabels pick the route; 80/20 weighted otherwise; services without routes use their cluster", () => {
  const push = bookinfo(TCP_TLS_SERVICES, TCP_VS);
  const host = "tcp-echo.default.svc.cluster.local";
  const cases: [string, Record<string, string>, string][] = [
    ["productpage matches sourceLabels", { app: "productpage", version: "v1" }, `outbound|9000|v2|${host}`],
    ["reviews falls to the weighted route", { app: "reviews", version: "v1" }, `outbound|9000|v1|${host}:80,outbound|9000|v2|${host}:20`],
  ];
  for (const [what, labels, want] of cases) {
    const ls = buildListeners(productpage(labels), push);
    const l = listenerNamed(ls, "0.0.0.0_9000");
    assertRoundTrip(LISTENER_TYPE, l, what);
    assert.equal(destinationOf(selectChain(l, { port: 9000 })), want, what);
  }
  // Without the VirtualService: the service's own cluster, stat prefix = cluster name.
  const plain = listenerNamed(buildListeners(productpage(), bookinfo(TCP_TLS_SERVICES)), "0.0.0.0_9000");
  assert.equal(destinationOf(selectChain(plain, { port: 9000 })), `outbound|9000||${host}`);
  assert.equal(plain.filterChains?.length, 1);
  assert.equal(plain.defaultFilterChain, undefined);
  assert.equal(plain.listenerFilters, undefined);
});

test("sidecar TLS: SNI chains from tls[] routes (exact beats wildcard), hostname SNI for services without routes, passthrough default", () => {
  const push = bookinfo(TCP_TLS_SERVICES, TLS_VS);
  const l = listenerNamed(buildListeners(productpage(), push), "0.0.0.0_443");
  assertRoundTrip(LISTENER_TYPE, l, "0.0.0.0_443");
  assert.deepEqual(
    (l.listenerFilters ?? []).map((f) => f.name),
    ["envoy.filters.listener.tls_inspector"],
  );
  const cases: [string | undefined, string][] = [
    ["en.wikipedia.org", "outbound|443||en.wikipedia.org"],
    ["fr.wikipedia.org", "outbound|443||*.wikipedia.org"],
    // port 8443 match does not apply to the 443 listener
    ["de.wikipedia.org", "outbound|443||*.wikipedia.org"],
    ["api.example.com", "outbound|443||api.example.com"],
    ["unknown.example.org", "PassthroughCluster"],
    [undefined, "PassthroughCluster"],
  ];
  for (const [sni, want] of cases) assert.equal(destinationOf(selectChain(l, { port: 443, sni })), want, `SNI ${sni}`);
  assert.equal(l.defaultFilterChain?.name, "PassthroughFilterChain");
  // Chains from a VirtualService say where they came from.
  const en = selectChain(l, { port: 443, sni: "en.wikipedia.org" })!;
  assert.deepEqual(en.metadata, {
    filterMetadata: { istio: { fields: { config: { stringValue: "/apis/networking.istio.io/v1/namespaces/default/virtual-service/wikipedia" } } } },
  });
});

test("sidecar TLS: a `*` SNI is a match-all chain; REGISTRY_ONLY sends unmatched TLS to the black hole", () => {
  const sidecar = `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: default }
spec:
  outboundTrafficPolicy: { mode: REGISTRY_ONLY }
`;
  // Envoy has no "*" server name: Istio drops SNI matching altogether for such a chain.
  assert.equal(filterChainMatch({ sniHosts: ["*", "a.example.com"] }), undefined);
  assert.equal(isMatchAll({ sniHosts: ["*"] }), true);
  assert.deepEqual(filterChainMatch({ sniHosts: ["b.example.com", "*.example.com"] }), { serverNames: ["*.example.com", "b.example.com"] });
  assert.equal(chainsConflict({ sniHosts: ["a", "b"] }, { sniHosts: ["b", "a", "*"] }), true);
  assert.equal(chainsConflict({ sniHosts: ["a"] }, { sniHosts: ["a"], applicationProtocols: ["h2c"] }), false);
  assert.equal(chainsConflict({ destinationCidrs: ["10.1.2.3/8"] }, { destinationCidrs: ["10.9.9.9/8"] }), true);

  const ro = listenerNamed(buildListeners(productpage(), bookinfo(TCP_TLS_SERVICES, sidecar)), "0.0.0.0_443");
  assert.equal(destinationOf(selectChain(ro, { port: 443, sni: "unknown.org" })), "BlackHoleCluster");
  const vo = listenerNamed(buildListeners(productpage(), bookinfo(TCP_TLS_SERVICES, sidecar)), "virtualOutbound");
  assert.equal(destinationOf(selectChain(vo, { port: 8888 })), "BlackHoleCluster");
  assert.equal(destinationOf(selectChain(vo, { port: 15001 })), "BlackHoleCluster");
  const voAny = listenerNamed(buildListeners(productpage(), bookinfo(TCP_TLS_SERVICES)), "virtualOutbound");
  assert.equal(destinationOf(selectChain(voAny, { port: 8888 })), "PassthroughCluster");
  assert.equal(destinationOf(selectChain(voAny, { port: 15001 })), "BlackHoleCluster");
});

test("sidecar TCP: destinationSubnets become prefix ranges; a VIP gives the service its own listener", () => {
  const yaml = `
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
metadata: { name: db, namespace: default }
spec:
  hosts: [db.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 5432, name: tcp, protocol: TCP }]
  endpoints: [{ address: 10.2.0.1 }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: db, namespace: default }
spec:
  hosts: [db]
  tcp:
  - match: [{ destinationSubnets: [10.2.0.0/16] }]
    route: [{ destination: { host: db, subset: primary } }]
`;
  const ls = buildListeners(productpage(), bookinfo(yaml));
  const mongo = listenerNamed(ls, "240.0.0.10_27017");
  assert.deepEqual(mongo.address, { socketAddress: { address: "240.0.0.10", portValue: 27017 } });
  assert.equal(destinationOf(selectChain(mongo, { port: 27017 })), "outbound|27017||mongo.default.svc.cluster.local");
  const db = listenerNamed(ls, "0.0.0.0_5432");
  assertRoundTrip(LISTENER_TYPE, db, "db");
  const chains = db.filterChains ?? [];
  assert.deepEqual(chains[0].filterChainMatch, { prefixRanges: [{ addressPrefix: "10.2.0.0", prefixLen: { value: 16 } }] });
  assert.equal(destinationOf(chains[0]), "outbound|5432|primary|db.default.svc.cluster.local");
  // Not in the subnet: the service's own cluster (match-all chain as the default chain).
  assert.equal(destinationOf(db.defaultFilterChain), "outbound|5432||db.default.svc.cluster.local");
});

test("gateway TCP/TLS routes: hosts must match the server, port and gateway predicates apply", () => {
  const push: PushContext = bookinfo(TCP_TLS_SERVICES);
  const ctx = { push, namespace: "istio-system" };
  const v = vs(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: tcp-echo, namespace: default }
spec:
  hosts: ["*"]
  gateways: [tcp-echo-gateway]
  tcp:
  - match: [{ port: 31401 }]
    route: [{ destination: { host: tcp-echo, port: { number: 9000 }, subset: v2 } }]
  - match: [{ port: 31400, gateways: [tcp-echo-gateway] }]
    route: [{ destination: { host: tcp-echo, port: { number: 9000 }, subset: v1 } }]
`);
  const server = (port: number, hosts: string[]) => ({ port: { number: port, name: "tcp", protocol: "TCP" }, hosts });
  const cluster = (f: NetworkFilter[] | undefined) => (f ? (tcpProxyOf(f)?.cluster ?? "") : "<none>");
  const cases: [string, ReturnType<typeof server>, string, string][] = [
    ["port 31400", server(31400, ["*"]), "default/tcp-echo-gateway", "outbound|9000|v1|tcp-echo.default.svc.cluster.local"],
    ["port 31401", server(31401, ["*"]), "default/tcp-echo-gateway", "outbound|9000|v2|tcp-echo.default.svc.cluster.local"],
    ["other gateway name", server(31400, ["*"]), "default/other", "<none>"],
    ["server hosts from another namespace", server(31400, ["prod/*"]), "default/tcp-echo-gateway", "<none>"],
    ["server hosts from the VS namespace", server(31400, ["default/*"]), "default/tcp-echo-gateway", "outbound|9000|v1|tcp-echo.default.svc.cluster.local"],
  ];
  for (const [what, s, gw, want] of cases) assert.equal(cluster(gatewayTcpFilters(s, gw, [v], ctx)), want, what);
  assert.deepEqual(matchingGatewayHosts(["*.example.com"], vs(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: x, namespace: default }
spec: { hosts: [a.example.com, b.other.com], tcp: [{ route: [{ destination: { host: a } }] }] }`)), ["a.example.com"]);
});
