// Where the policy filters go (src/xds/gen/policy-filters.ts and the listener builders): every
// inbound HTTP chain (passthrough ones too) gets the HTTP filters before fault/cors/router, every
// inbound TCP chain the network filters before tcp_proxy, the loop guard and the outbound listeners
// none; gateway HCMs get them with xff_num_trusted_hops from gatewayTopology.numTrustedProxies (the
// node's PROXY_CONFIG, else the gateway WorkloadEntry's proxy.istio.io/config annotation).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AnyResource } from "../../../src/api/resource.js";
import type { FilterChain, HttpConnectionManager, Listener } from "../../../src/envoy/types.js";
import { buildListeners } from "../../../src/xds/gen/listeners.js";
import { pushContext, resourcesFromPaths, resourcesFromYaml, testProxy } from "../../helpers/xds.js";

const POLICIES = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-delete, namespace: default}
spec:
  selector: {matchLabels: {app: ratings}}
  action: DENY
  rules: [{to: [{operation: {methods: [DELETE], ports: ["9080"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext, namespace: default}
spec:
  selector: {matchLabels: {app: ratings}}
  action: CUSTOM
  provider: {name: ext-authz-grpc}
  rules: [{to: [{operation: {ports: ["9080"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ingress, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  rules: [{from: [{source: {remoteIpBlocks: [203.0.113.0/24]}}]}]
`;

const MESH = { extensionProviders: [{ name: "ext-authz-grpc", kind: "envoyExtAuthzGrpc" as const, envoyExtAuthzGrpc: { service: "details.default.svc.cluster.local", port: 9080, failOpen: false, statusOnError: "" } }] };

function resources(gatewayAnnotation?: string): AnyResource[] {
  const res = [...resourcesFromPaths("examples/bookinfo"), ...resourcesFromYaml(POLICIES)];
  if (gatewayAnnotation !== undefined) {
    const gw = res.find((r) => r.kind === "WorkloadEntry" && r.metadata.name === "istio-ingressgateway")!;
    gw.metadata.annotations = { ...gw.metadata.annotations, "proxy.istio.io/config": gatewayAnnotation };
  }
  return res;
}

const hcmOf = (fc: FilterChain): HttpConnectionManager | undefined =>
  fc.filters?.find((f) => f.name === "envoy.filters.network.http_connection_manager")?.typedConfig as unknown as HttpConnectionManager | undefined;
// The policy filters' places; telemetry's own filters (istio.metadata_exchange, istio.stats) are
// left out here (test/xds/gen/telemetry.test.ts pins the whole order).
const isTelemetry = (n: string): boolean => n === "istio.metadata_exchange" || n === "istio.stats";
const names = (fc: FilterChain): string[] => (hcmOf(fc) ? hcmOf(fc)!.httpFilters!.map((f) => f.name!) : fc.filters!.map((f) => f.name!)).filter((n) => !isTelemetry(n));

const HTTP = ["envoy.filters.http.rbac", "envoy.filters.http.ext_authz", "envoy.filters.http.rbac", "envoy.filters.http.fault", "envoy.filters.http.cors", "envoy.filters.http.router"];
const TCP = ["envoy.filters.network.rbac", "envoy.filters.network.ext_authz", "envoy.filters.network.rbac", "envoy.filters.network.tcp_proxy"];

describe("policy filters in the listeners", () => {
  const push = pushContext(resources(), MESH);
  const ratings = testProxy({ ip: "127.0.5.1", name: "ratings-v1", labels: { app: "ratings", version: "v1" } });
  const listeners = buildListeners(ratings, push);

  it("inbound: every HTTP and TCP chain, passthrough chains included; not the loop guard", () => {
    const inbound = listeners.find((l) => l.name === "virtualInbound")!;
    const byName = new Map<string, string[][]>();
    for (const fc of inbound.filterChains!) byName.set(fc.name!, [...(byName.get(fc.name!) ?? []), names(fc)]);
    assert.deepEqual(byName.get("virtualInbound-blackhole"), [["envoy.filters.network.tcp_proxy"]]);
    for (const [name, chains] of byName) {
      if (name === "virtualInbound-blackhole") continue;
      for (const c of chains) assert.deepEqual(c, c.includes("envoy.filters.http.router") ? HTTP : TCP, name);
    }
    assert.ok(byName.has("virtualInbound-catchall-http") && byName.has("virtualInbound") && byName.has("0.0.0.0_9080"), [...byName.keys()].join(","));
    // The passthrough's TCP chains (mTLS and plaintext: PERMISSIVE) carry the network filters.
    assert.ok(byName.get("virtualInbound")!.length >= 2 && byName.get("virtualInbound")!.every((c) => c.join() === TCP.join()));
  });

  it("sidecar outbound: none (Istio leaves its outbound HCMs without them; outbound TCP chains are left alone too)", () => {
    for (const l of listeners.filter((x: Listener) => x.trafficDirection === "OUTBOUND")) {
      for (const fc of l.filterChains ?? []) assert.ok(!names(fc).some((n) => n.includes("rbac") || n.includes("ext_authz")), `${l.name}: ${names(fc).join(",")}`);
    }
  });

  it("a workload no policy selects: no policy filter", () => {
    const details = buildListeners(testProxy({ ip: "127.0.3.1", name: "details-v1", labels: { app: "details", version: "v1" } }), push);
    const inbound = details.find((l) => l.name === "virtualInbound")!;
    for (const fc of inbound.filterChains!) assert.ok(!names(fc).some((n) => n.includes("rbac")), names(fc).join(","));
  });

  const gateway = (push = pushContext(resources(), MESH), metadata: Record<string, unknown> = {}) =>
    buildListeners(testProxy({ type: "router", ip: "127.0.1.1", name: "istio-ingressgateway", namespace: "istio-system", labels: { app: "istio-ingressgateway", istio: "ingressgateway" }, metadata }), push);

  it("gateway: the HCM gets the policy's filters; xff_num_trusted_hops unset without gatewayTopology", () => {
    const l = gateway().find((x) => x.name === "0.0.0.0_8080")!;
    const hcm = hcmOf(l.filterChains![0])!;
    assert.deepEqual(hcm.httpFilters!.map((f) => f.name), ["istio.metadata_exchange", "envoy.filters.http.rbac", "envoy.filters.http.fault", "envoy.filters.http.cors", "envoy.filters.http.router"]);
    assert.equal(hcm.xffNumTrustedHops, undefined);
    assert.deepEqual(hcm.useRemoteAddress, { value: true });
  });

  it("gateway: a TCP server's chain gets the network rbac before tcp_proxy", () => {
    const tcp = resourcesFromYaml(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: tcp-gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 31400, name: tcp, protocol: TCP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp-ratings, namespace: default}
spec:
  hosts: ["*"]
  gateways: [tcp-gw]
  tcp: [{route: [{destination: {host: ratings, port: {number: 9080}}}]}]
`);
    const l = gateway(pushContext([...resources(), ...tcp], MESH)).find((x) => x.name === "0.0.0.0_31400")!;
    assert.deepEqual(names(l.filterChains![0]), ["envoy.filters.network.rbac", "envoy.filters.network.tcp_proxy"]);
    const rbac = l.filterChains![0].filters!.find((f) => f.name === "envoy.filters.network.rbac")!.typedConfig as unknown as { statPrefix: string; rules: { policies: Record<string, unknown> } };
    assert.deepEqual([rbac.statPrefix, Object.keys(rbac.rules.policies)], ["tcp.", ["ns[istio-system]-policy[ingress]-rule[0]"]]);
  });

  it("gateway: numTrustedProxies from the WorkloadEntry's proxy.istio.io/config, or the node's PROXY_CONFIG first", () => {
    const annotated = pushContext(resources("gatewayTopology:\n  numTrustedProxies: 2\n"), MESH);
    assert.equal(hcmOf(gateway(annotated).find((x) => x.name === "0.0.0.0_8080")!.filterChains![0])!.xffNumTrustedHops, 2);
    const fromNode = gateway(annotated, { PROXY_CONFIG: { gatewayTopology: { numTrustedProxies: 1 } } });
    assert.equal(hcmOf(fromNode.find((x) => x.name === "0.0.0.0_8080")!.filterChains![0])!.xffNumTrustedHops, 1);
  });
});
