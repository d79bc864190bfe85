// applyTo × operation table over bookinfo's generated config (productpage's sidecar, the ingress
// gateway): each row is one EnvoyFilter in the root namespace and what it must change; the
// proxy's own checks (proxyResourceValidator) run on every result, as `up` and `discovery` wire them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { proxyResourceValidator } from "../../../../src/local/envoyfilter-validator.js";
import { IstioGenerator } from "../../../../src/controlplane/generator.js";
import type { Proxy } from "../../../../src/model/proxy.js";
import { bookinfo, testProxy } from "../../../helpers/xds.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- walking generated config of many shapes
type Obj = Record<string, any>;
type Config = { listeners: Obj[]; clusters: Obj[]; routes: Obj[]; errors: string[] };

const gateway = testProxy({ type: "router", ip: "127.0.1.1", name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" } });
const sidecar = testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage" } });

function apply(proxy: Proxy, patches: string, validate = true): Config {
  const push = bookinfo(`apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: t, namespace: istio-system}\nspec:\n  configPatches:\n${patches.replace(/^/gm, "  ")}\n`);
  const gen = new IstioGenerator();
  if (validate) gen.envoyFilterValidator = proxyResourceValidator;
  const errors: string[] = [];
  gen.onEnvoyFilterError = (m) => errors.push(m);
  const o = gen.envoyFiltered(proxy, push)!;
  return { listeners: o.listeners as unknown as Obj[], clusters: o.clusters as unknown as Obj[], routes: o.routes as unknown as Obj[], errors };
}

const listener = (c: Config, name: string) => c.listeners.find((l) => l.name === name);
const vhosts = (c: Config, rc: string) => c.routes.find((r) => r.name === rc)?.virtualHosts as Obj[];
const HCM = "envoy.filters.network.http_connection_manager";
const FAULT_ANY = "{'@type': type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault}";

// `validate: false`: the patch semantics alone, for a filter this branch's proxy does not implement.
const ROWS: { name: string; proxy: Proxy; patches: string; validate?: false; check: (c: Config) => void }[] = [
  {
    name: "LISTENER MERGE by port number (outbound)",
    proxy: sidecar,
    patches: "- applyTo: LISTENER\n  match: {context: SIDECAR_OUTBOUND, listener: {portNumber: 9080}}\n  patch: {operation: MERGE, value: {per_connection_buffer_limit_bytes: 4096}}",
    check: (c) => {
      assert.deepEqual(listener(c, "0.0.0.0_9080")!.perConnectionBufferLimitBytes, { value: 4096 });
      assert.equal(listener(c, "0.0.0.0_80")!.perConnectionBufferLimitBytes, undefined);
    },
  },
  {
    name: "LISTENER REMOVE by name; LISTENER ADD once (ANY)",
    proxy: sidecar,
    patches: `- applyTo: LISTENER
  match: {listener: {name: 0.0.0.0_80}}
  patch: {operation: REMOVE}
- applyTo: LISTENER
  patch:
    operation: ADD
    value: {name: extra, address: {socket_address: {address: 127.0.2.1, port_value: 7777}}, filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy, typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, stat_prefix: x, cluster: BlackHoleCluster}}]}]}`,
    check: (c) => {
      assert.equal(listener(c, "0.0.0.0_80"), undefined);
      assert.equal(c.listeners.filter((l) => l.name === "extra").length, 1);
    },
  },
  {
    name: "FILTER_CHAIN REMOVE on virtualInbound by destination port keeps the other chains",
    proxy: sidecar,
    patches: "- applyTo: FILTER_CHAIN\n  match: {context: SIDECAR_INBOUND, listener: {name: virtualInbound, filterChain: {destinationPort: 9080, transportProtocol: raw_buffer}}}\n  patch: {operation: REMOVE}",
    check: (c) => {
      const chains = listener(c, "virtualInbound")!.filterChains as Obj[];
      assert.equal(chains.filter((fc) => fc.filterChainMatch?.destinationPort?.value === 9080).length, 1);
      assert.equal(chains.find((fc) => fc.filterChainMatch?.destinationPort?.value === 9080)!.filterChainMatch.transportProtocol, "tls");
    },
  },
  {
    name: "NETWORK_FILTER MERGE of the HCM typed_config (same type merged as a message)",
    proxy: gateway,
    patches: `- applyTo: NETWORK_FILTER\n  match: {context: GATEWAY, listener: {filterChain: {filter: {name: ${HCM}}}}}\n  patch: {operation: MERGE, value: {typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager, server_name: patched}}}`,
    check: (c) => {
      const hcm = listener(c, "0.0.0.0_8080")!.filterChains[0].filters[0].typedConfig;
      assert.equal(hcm.serverName, "patched");
      assert.ok(hcm.httpFilters.length > 0, "the rest of the HCM is kept");
    },
  },
  {
    name: "NETWORK_FILTER INSERT_BEFORE tcp_proxy on an outbound TCP chain",
    proxy: sidecar,
    patches: `- applyTo: NETWORK_FILTER\n  match: {context: SIDECAR_OUTBOUND, listener: {portNumber: 443, filterChain: {filter: {name: envoy.filters.network.tcp_proxy}}}}\n  patch: {operation: INSERT_BEFORE, value: {name: envoy.filters.network.local_ratelimit, typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit, stat_prefix: l, token_bucket: {max_tokens: 1, fill_interval: 1s}}}}`,
    validate: false,
    check: (c) => assert.deepEqual(listener(c, "0.0.0.0_443")!.filterChains[0].filters.map((f: Obj) => f.name), ["istio.stats", "envoy.filters.network.local_ratelimit", "envoy.filters.network.tcp_proxy"]),
  },
  {
    name: "ROUTE_CONFIGURATION MERGE by gateway port",
    proxy: gateway,
    patches: "- applyTo: ROUTE_CONFIGURATION\n  match: {context: GATEWAY, routeConfiguration: {portNumber: 8080}}\n  patch: {operation: MERGE, value: {request_headers_to_add: [{header: {key: x-rc, value: '1'}}]}}",
    check: (c) => assert.deepEqual(c.routes.find((r) => r.name === "http.8080")!.requestHeadersToAdd, [{ header: { key: "x-rc", value: "1" } }]),
  },
  {
    name: "VIRTUAL_HOST REMOVE by name, ADD by route name (port)",
    proxy: sidecar,
    patches: `- applyTo: VIRTUAL_HOST
  match: {context: SIDECAR_OUTBOUND, routeConfiguration: {portNumber: 9080, vhost: {name: 'ratings.default.svc.cluster.local:9080'}}}
  patch: {operation: REMOVE}
- applyTo: VIRTUAL_HOST
  match: {context: SIDECAR_OUTBOUND, routeConfiguration: {name: '9080'}}
  patch: {operation: ADD, value: {name: added, domains: [added.example.com], routes: [{match: {prefix: /}, direct_response: {status: 204}}]}}`,
    check: (c) => {
      const names = vhosts(c, "9080").map((v) => v.name);
      assert.ok(!names.includes("ratings.default.svc.cluster.local:9080"));
      assert.equal(names.at(-1), "added");
      assert.ok(vhosts(c, "80").every((v) => v.name !== "added"));
    },
  },
  {
    name: "VIRTUAL_HOST REPLACE by domain",
    proxy: sidecar,
    patches: "- applyTo: VIRTUAL_HOST\n  match: {routeConfiguration: {vhost: {domainName: details}}}\n  patch: {operation: REPLACE, value: {name: replaced, domains: [details], routes: [{match: {prefix: /}, direct_response: {status: 418}}]}}",
    check: (c) => {
      const vh = vhosts(c, "9080").find((v) => v.domains.includes("details"));
      assert.equal(vh!.name, "replaced");
      assert.equal(vh!.routes[0].directResponse.status, 418);
    },
  },
  {
    name: "HTTP_ROUTE INSERT_FIRST / INSERT_AFTER / REMOVE by route name and action",
    proxy: sidecar,
    patches: `- applyTo: HTTP_ROUTE
  match: {routeConfiguration: {vhost: {name: 'reviews.default.svc.cluster.local:9080', route: {name: default}}}}
  patch: {operation: INSERT_FIRST, value: {name: first, match: {prefix: /first}, direct_response: {status: 200}}}
- applyTo: HTTP_ROUTE
  match: {routeConfiguration: {vhost: {name: 'reviews.default.svc.cluster.local:9080', route: {name: first}}}}
  patch: {operation: INSERT_AFTER, value: {name: second, match: {prefix: /second}, direct_response: {status: 200}}}
- applyTo: HTTP_ROUTE
  match: {routeConfiguration: {vhost: {name: 'details.default.svc.cluster.local:9080', route: {action: ROUTE}}}}
  patch: {operation: REMOVE}`,
    check: (c) => {
      assert.deepEqual(vhosts(c, "9080").find((v) => v.name === "reviews.default.svc.cluster.local:9080")!.routes.map((r: Obj) => r.name), ["first", "second", "default"]);
      assert.deepEqual(vhosts(c, "9080").find((v) => v.name === "details.default.svc.cluster.local:9080")!.routes ?? [], []);
    },
  },
  {
    name: "HTTP_FILTER ADD on inbound chains only (SIDECAR_INBOUND)",
    proxy: sidecar,
    patches: `- applyTo: HTTP_FILTER\n  match: {context: SIDECAR_INBOUND, listener: {filterChain: {filter: {name: ${HCM}, subFilter: {name: envoy.filters.http.router}}}}}\n  patch: {operation: INSERT_BEFORE, value: {name: inbound.fault, typed_config: ${FAULT_ANY}}}`,
    check: (c) => {
      for (const l of c.listeners)
        for (const fc of l.filterChains ?? [])
          for (const f of fc.filters)
            if (f.typedConfig?.httpFilters) assert.equal(f.typedConfig.httpFilters.some((h: Obj) => h.name === "inbound.fault"), l.trafficDirection === "INBOUND", `${l.name}`);
    },
  },
  {
    name: "CLUSTER MERGE by service and subset",
    proxy: sidecar,
    patches: "- applyTo: CLUSTER\n  match: {cluster: {service: reviews.default.svc.cluster.local, subset: v2}}\n  patch: {operation: MERGE, value: {per_connection_buffer_limit_bytes: 1024}}",
    check: (c) => {
      assert.deepEqual(c.clusters.find((x) => x.name === "outbound|9080|v2|reviews.default.svc.cluster.local")!.perConnectionBufferLimitBytes, { value: 1024 });
      assert.equal(c.clusters.find((x) => x.name === "outbound|9080|v1|reviews.default.svc.cluster.local")!.perConnectionBufferLimitBytes, undefined);
    },
  },
];

for (const row of ROWS) {
  test(`EnvoyFilter ${row.name}`, () => {
    const c = apply(row.proxy, row.patches, row.validate ?? true);
    assert.deepEqual(c.errors, []);
    row.check(c);
  });
}

test("a result the proxy's route compiler refuses withholds the filter (never half applied)", () => {
  const c = apply(
    sidecar,
    `- applyTo: CLUSTER\n  match: {cluster: {service: reviews.default.svc.cluster.local, subset: v2}}\n  patch: {operation: MERGE, value: {per_connection_buffer_limit_bytes: 1024}}
- applyTo: HTTP_ROUTE
  match: {routeConfiguration: {vhost: {name: 'reviews.default.svc.cluster.local:9080'}}}
  patch: {operation: INSERT_FIRST, value: {name: noaction, match: {prefix: /x}}}`,
  );
  assert.equal(c.errors.length, 1, c.errors.join("\n"));
  assert.match(c.errors[0], /EnvoyFilter istio-system\/t is not applied .*route configuration 9080: /);
  assert.equal(c.clusters.find((x) => x.name === "outbound|9080|v2|reviews.default.svc.cluster.local")!.perConnectionBufferLimitBytes, undefined, "its CLUSTER patch is withheld too");
});

test("a network filter the proxy does not implement withholds the filter, with the proxy's own message", () => {
  const c = apply(
    sidecar,
    "- applyTo: NETWORK_FILTER\n  match: {listener: {portNumber: 443, filterChain: {filter: {name: envoy.filters.network.tcp_proxy}}}}\n  patch: {operation: INSERT_BEFORE, value: {name: x.unknown, typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo}}}",
  );
  assert.equal(c.errors.length, 1, c.errors.join("\n"));
  assert.match(c.errors[0], /listener 0\.0\.0\.0_443: .*filterChains\[0\]\.filters\[1\]/);
  assert.deepEqual(listener(c, "0.0.0.0_443")!.filterChains[0].filters.map((f: Obj) => f.name), ["istio.stats", "envoy.filters.network.tcp_proxy"]);
});
