// kubectl's resource names: every form kubectl accepts resolves to its kind, unknown names are
// refused with a close name, and apply/delete/console references read as kubectl and up print them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { consoleRef, kubectlRef, resolveKindArg, resolveResourceName, resourceType, resourceTypeOfKind, UnknownResourceError } from "../../src/api/kind-names.js";
import { kinds, type KindInfo } from "../../src/api/kinds.js";

test("every kubectl form of each Istio kind resolves to it", () => {
  const cases: Array<[string, string]> = [
    ["vs", "VirtualService"],
    ["virtualservice", "VirtualService"],
    ["virtualservices", "VirtualService"],
    ["VirtualService", "VirtualService"],
    ["virtualservices.networking.istio.io", "VirtualService"],
    ["virtualservice.networking.istio.io", "VirtualService"],
    ["vs.networking.istio.io", "VirtualService"],
    ["virtualservices.v1.networking.istio.io", "VirtualService"],
    ["virtualservices.v1alpha3.networking.istio.io", "VirtualService"],
    ["dr", "DestinationRule"],
    ["destinationrules", "DestinationRule"],
    ["gw", "Gateway"],
    ["gateway", "Gateway"],
    ["gateways", "Gateway"],
    ["gateways.networking.istio.io", "Gateway"],
    ["se", "ServiceEntry"],
    ["serviceentries", "ServiceEntry"],
    ["we", "WorkloadEntry"],
    ["wg", "WorkloadGroup"],
    ["pa", "PeerAuthentication"],
    ["ra", "RequestAuthentication"],
    ["ap", "AuthorizationPolicy"],
    ["authorizationpolicies.security.istio.io", "AuthorizationPolicy"],
    ["sidecar", "Sidecar"],
    ["sidecars", "Sidecar"],
    ["telemetry", "Telemetry"],
    ["telemetries", "Telemetry"],
    ["envoyfilters", "EnvoyFilter"],
    ["envoyfilter", "EnvoyFilter"],
    ["wasmplugins", "WasmPlugin"],
    ["proxyconfigs", "ProxyConfig"],
    ["  VS ", "VirtualService"],
  ];
  for (const [arg, kind] of cases) assert.equal(resolveResourceName(arg).kind, kind, arg);
});

test("get|delete's KIND: ConfigMap by kubectl's names, Istio's kinds as resolveResourceName finds them", () => {
  for (const arg of ["configmaps", "configmap", "cm", " CM "]) assert.equal(resolveKindArg(arg), "ConfigMap", arg);
  assert.equal(resolveKindArg("vs"), "VirtualService");
  assert.throws(() => resolveKindArg("configmapz"), UnknownResourceError);
  assert.equal(resourceTypeOfKind("ConfigMap"), "configmaps");
  assert.equal(resourceTypeOfKind("DestinationRule"), "destinationrules.networking.istio.io");
});

test("ef is refused as kubectl refuses it: Istio's EnvoyFilter CRD declares no short name", () => {
  assert.deepEqual(kinds().get("EnvoyFilter")!.shortNames, []);
  assert.throws(() => resolveResourceName("ef"), UnknownResourceError);
});

test("unknown names and wrong groups are refused, naming a close one", () => {
  const cases: Array<[string, RegExp]> = [
    ["virtualservise", /doesn't have a resource type "virtualservise" \(did you mean "virtualservice"\?\)/],
    ["pods", /doesn't have a resource type "pods"/],
    ["virtualservices.security.istio.io", /doesn't have a resource type/],
    ["virtualservices.v9.networking.istio.io", /doesn't have a resource type/],
    ["", /doesn't have a resource type/],
    [".", /doesn't have a resource type/],
  ];
  for (const [arg, re] of cases) assert.throws(() => resolveResourceName(arg), (e: Error) => e instanceof UnknownResourceError && re.test(e.message), arg);
});

// The Gateway API's Gateway (internal kind KubernetesGateway, YAML kind Gateway) next to Istio's.
function withGatewayApi(): Map<string, KindInfo> {
  const table = new Map(kinds());
  const gw = table.get("Gateway")!;
  table.set("KubernetesGateway", { ...gw, kind: "KubernetesGateway", yamlKind: "Gateway", group: "gateway.networking.k8s.io", plural: "gateways", shortNames: ["gtw"], versions: ["v1", "v1beta1"] } as KindInfo);
  table.set("HTTPRoute", { ...gw, kind: "HTTPRoute", yamlKind: "HTTPRoute", group: "gateway.networking.k8s.io", plural: "httproutes", shortNames: [], versions: ["v1"] } as KindInfo);
  return table;
}

test("with the Gateway API: bare gateway is Istio's, gtw and the full form the Gateway API's", () => {
  const table = withGatewayApi();
  const cases: Array<[string, string]> = [
    ["gateway", "Gateway"],
    ["gateways", "Gateway"],
    ["gw", "Gateway"],
    ["gateways.networking.istio.io", "Gateway"],
    ["gtw", "KubernetesGateway"],
    ["gateways.gateway.networking.k8s.io", "KubernetesGateway"],
    ["gateway.gateway.networking.k8s.io", "KubernetesGateway"],
    ["httproute", "HTTPRoute"],
    ["httproutes", "HTTPRoute"],
  ];
  for (const [arg, kind] of cases) assert.equal(resolveResourceName(arg, table).kind, kind, arg);
  const k8sGateway = { kind: "KubernetesGateway", metadata: { name: "bookinfo-gateway", namespace: "default" } };
  assert.equal(kubectlRef(k8sGateway, table), "gateway.gateway.networking.k8s.io/bookinfo-gateway");
  // Istio's Gateway keeps the bare name; the Gateway API's carries its group on the console.
  assert.equal(consoleRef(k8sGateway, table), "gateway.gateway.networking.k8s.io default/bookinfo-gateway");
  assert.equal(consoleRef({ kind: "Gateway", metadata: { name: "g", namespace: "default" } }, table), "gateway default/g");
  assert.equal(resourceType(table.get("KubernetesGateway")!), "gateways.gateway.networking.k8s.io");
});

test("kubectlRef and consoleRef print kubectl's and up's references", () => {
  const cases: Array<[string, string, string, string, string]> = [
    ["VirtualService", "default", "reviews", "virtualservice.networking.istio.io/reviews", "virtualservice default/reviews"],
    ["DestinationRule", "prod", "reviews", "destinationrule.networking.istio.io/reviews", "destinationrule prod/reviews"],
    ["AuthorizationPolicy", "foo", "deny-all", "authorizationpolicy.security.istio.io/deny-all", "authorizationpolicy foo/deny-all"],
    ["Telemetry", "istio-system", "mesh-default", "telemetry.telemetry.istio.io/mesh-default", "telemetry istio-system/mesh-default"],
    ["WasmPlugin", "default", "p", "wasmplugin.extensions.istio.io/p", "wasmplugin default/p"],
  ];
  for (const [kind, namespace, name, ref, con] of cases) {
    assert.equal(kubectlRef({ kind, metadata: { name, namespace } }), ref);
    assert.equal(consoleRef({ kind, metadata: { name, namespace } }), con);
  }
  assert.equal(resourceType(kinds().get("VirtualService")!), "virtualservices.networking.istio.io");
});
