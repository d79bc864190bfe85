// The generator's per-kind push skipping (istiod's cdsNeedsPush/edsNeedsPush): a type is skipped
// for a kind only if changing resources of that kind truly leaves the type's output unchanged.
// Each row changes resources of one kind in bookinfo and compares every proxy's encoded output.
import assert from "node:assert/strict";
import { test } from "node:test";
import { IstioGenerator, type ConnectedProxy } from "../../src/controlplane/generator.js";
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from "../../src/envoy/protos.js";
import { proxyNodeId } from "../../src/model/proxy.js";
import type { PushContext } from "../../src/model/push-context.js";
import type { PushRequest, WatchedResource } from "../../src/xds/server/types.js";
import { bookinfo } from "../helpers/xds.js";

const TYPES = [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE];

// Bookinfo's reviews VirtualService with a header match and a weighted split; a second Gateway port.
const CHANGES: Record<string, string> = {
  Telemetry: `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging: [{providers: [{name: envoy}]}]
`,
  VirtualService: `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 50}
    - {destination: {host: reviews, subset: v3}, weight: 50}
`,
  Gateway: `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: extra-gateway, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8081, name: http-extra, protocol: HTTP}
    hosts: ["*"]
`,
  AuthorizationPolicy: `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-ratings, namespace: default}
spec:
  selector: {matchLabels: {app: ratings}}
  action: DENY
  rules: [{to: [{operation: {methods: [DELETE]}}]}]
`,
  RequestAuthentication: `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: istio-system}
spec:
  jwtRules: [{issuer: "testing@secure.istio.io", jwks: '{"keys":[{"kty":"RSA","e":"AQAB","n":"xAE7eB6q"}]}'}]
`,
  // Patches listeners, routes and clusters (not endpoints): an HTTP filter, a route merge, a cluster merge.
  EnvoyFilter: `apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: patches, namespace: istio-system}
spec:
  configPatches:
  - applyTo: HTTP_FILTER
    match: {listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager, subFilter: {name: envoy.filters.http.router}}}}}
    patch: {operation: INSERT_BEFORE, value: {name: envoy.filters.http.fault, typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault}}}
  - applyTo: VIRTUAL_HOST
    patch: {operation: MERGE, value: {request_headers_to_add: [{header: {key: x-patched, value: "1"}}]}}
  - applyTo: CLUSTER
    patch: {operation: MERGE, value: {connect_timeout: 3s}}
`,
  PeerAuthentication: `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec:
  mtls: {mode: STRICT}
`,
};

function connect(gen: IstioGenerator, type: "sidecar" | "router", ip: string, name: string, ns: string, labels: Record<string, string>, metadata: Record<string, unknown> = {}): ConnectedProxy {
  return gen.connect({ id: proxyNodeId(type, ip, name, ns), metadata: { NAMESPACE: ns, LABELS: labels, INTERCEPTION_MODE: "NONE", ...metadata } }, "test");
}

/** name → version of everything each proxy gets for each type (EDS: every cluster CDS names). */
function snapshotOf(push: PushContext, proxies: ConnectedProxy[]): Map<string, string> {
  const gen = new IstioGenerator();
  gen.beginPush(push, { full: true });
  const request: PushRequest = { full: true, reasons: ["test"], start: 0, context: push };
  const out = new Map<string, string>();
  proxies.forEach((cp, i) => {
    const wildcard = (typeUrl: string): WatchedResource => ({ typeUrl, wildcard: true, names: new Set() });
    const clusters = gen.generate(cp, CLUSTER_TYPE, wildcard(CLUSTER_TYPE), request)?.resources ?? [];
    const listeners = gen.generate(cp, LISTENER_TYPE, wildcard(LISTENER_TYPE), request)?.resources ?? [];
    const named = (typeUrl: string, names: string[]): WatchedResource => ({ typeUrl, wildcard: false, names: new Set(names) });
    const routeNames = [...gen.objects(cp.proxy, push, ROUTE_TYPE, wildcard(ROUTE_TYPE))!.keys()];
    const byType: Record<string, readonly { name: string; version: string }[]> = {
      [CLUSTER_TYPE]: clusters,
      [LISTENER_TYPE]: listeners,
      [ENDPOINT_TYPE]: gen.generate(cp, ENDPOINT_TYPE, named(ENDPOINT_TYPE, clusters.map((c) => c.name)), request)?.resources ?? [],
      [ROUTE_TYPE]: gen.generate(cp, ROUTE_TYPE, named(ROUTE_TYPE, routeNames), request)?.resources ?? [],
    };
    for (const t of TYPES) for (const r of byType[t]) out.set(`${i} ${t} ${r.name}`, r.version);
  });
  return out;
}

function changedTypes(before: Map<string, string>, after: Map<string, string>): Set<string> {
  const changed = new Set<string>();
  for (const k of new Set([...before.keys(), ...after.keys()])) {
    if (before.get(k) !== after.get(k)) changed.add(TYPES.find((t) => k.includes(` ${t} `))!);
  }
  return changed;
}

test("generator: a type skipped for a kind is unchanged by that kind (bookinfo proxies)", () => {
  const gen = new IstioGenerator();
  const proxies = [
    connect(gen, "sidecar", "127.0.2.1", "productpage-v1", "default", { app: "productpage", version: "v1" }),
    connect(gen, "sidecar", "127.0.5.1", "ratings-v1", "default", { app: "ratings", version: "v1" }),
    connect(gen, "router", "127.0.1.1", "istio-ingressgateway", "istio-system", { istio: "ingressgateway" }),
  ];
  const base = snapshotOf(bookinfo(), proxies);
  for (const [kind, yaml] of Object.entries(CHANGES)) {
    const changed = changedTypes(base, snapshotOf(bookinfo(yaml), proxies));
    // The comparison sees real changes (it would also see a skipped type changing).
    if (kind === "VirtualService") assert.ok(changed.has(ROUTE_TYPE), "the VirtualService change reaches RDS");
    if (kind === "Gateway") assert.ok(changed.has(LISTENER_TYPE), "the Gateway change reaches LDS");
    if (kind === "AuthorizationPolicy") assert.deepEqual([...changed], [LISTENER_TYPE], "the AuthorizationPolicy change reaches LDS alone");
    if (kind === "Telemetry") assert.deepEqual([...changed], [LISTENER_TYPE], "the Telemetry change reaches LDS alone");
    if (kind === "EnvoyFilter") for (const t of [LISTENER_TYPE, ROUTE_TYPE, CLUSTER_TYPE]) assert.ok(changed.has(t), `the EnvoyFilter reaches ${t}`);
    const request: PushRequest = { full: true, configKinds: new Set([kind]), reasons: ["config"], start: 0, context: undefined };
    for (const t of TYPES) {
      const pushed = proxies.every((cp) => gen.needsPush(cp, t, request));
      if (changed.has(t)) assert.ok(pushed, `${kind} changes ${t} but the generator would skip it`);
    }
  }
});

test("generator: VirtualService and Gateway changes skip CDS and EDS; unknown or mixed kinds push everything", () => {
  const gen = new IstioGenerator();
  const cp = connect(gen, "sidecar", "127.0.2.1", "productpage-v1", "default", { app: "productpage" });
  const req = (kinds?: string[]): PushRequest => ({ full: true, configKinds: kinds && new Set(kinds), reasons: ["config"], start: 0, context: undefined });
  const pushed = (r: PushRequest) => TYPES.filter((t) => gen.needsPush(cp, t, r));
  assert.deepEqual(pushed(req(["VirtualService"])), [LISTENER_TYPE, ROUTE_TYPE]);
  assert.deepEqual(pushed(req(["Gateway"])), [LISTENER_TYPE, ROUTE_TYPE]);
  assert.deepEqual(pushed(req(["AuthorizationPolicy"])), [LISTENER_TYPE]);
  assert.deepEqual(pushed(req(["Telemetry"])), [LISTENER_TYPE]);
  assert.deepEqual(pushed(req(["VirtualService", "DestinationRule"])), TYPES);
  assert.deepEqual(pushed(req(["ServiceEntry"])), TYPES);
  assert.deepEqual(pushed(req(undefined)), TYPES);
  assert.deepEqual(pushed(req([])), TYPES);
});

test("generator: a push for named RequestAuthentications (a changed JWKS) reaches LDS of the proxies they apply to, nothing else", () => {
  const gen = new IstioGenerator();
  const push = bookinfo(`apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: ratings-jwt, namespace: default}
spec:
  selector: {matchLabels: {app: ratings}}
  jwtRules: [{issuer: "https://issuer.example", jwksUri: "https://issuer.example/jwks"}]
`);
  const ratings = connect(gen, "sidecar", "127.0.2.7", "ratings-v1", "default", { app: "ratings", version: "v1" });
  const productpage = connect(gen, "sidecar", "127.0.2.1", "productpage-v1", "default", { app: "productpage", version: "v1" });
  const req = (updated?: string[]): PushRequest => ({
    full: true,
    configKinds: new Set(["RequestAuthentication"]),
    configsUpdated: updated && new Set(updated),
    reasons: ["jwks"],
    start: 0,
    context: push,
  });
  const pushed = (cp: ConnectedProxy, r: PushRequest) => TYPES.filter((t) => gen.needsPush(cp, t, r));
  assert.deepEqual(pushed(ratings, req(["RequestAuthentication/default/ratings-jwt"])), [LISTENER_TYPE]);
  assert.deepEqual(pushed(productpage, req(["RequestAuthentication/default/ratings-jwt"])), []);
  assert.deepEqual(pushed(productpage, req(["RequestAuthentication/default/other"])), []);
  // A store change names no configs: every proxy's listeners.
  assert.deepEqual(pushed(productpage, req(undefined)), [LISTENER_TYPE]);
});
