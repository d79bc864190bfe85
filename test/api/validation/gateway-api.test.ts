// Table tests for the Kubernetes Gateway API kinds: their CRDs' schemas, defaults and CEL rules
// (x-kubernetes-validations, as the API server runs them), group-aware kind lookup and its hints.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isK8sIP } from "../../../src/api/cel.js";
import { notEnforcedDiagnostics } from "../../../src/api/enforcement.js";
import { lookupKind } from "../../../src/api/kinds.js";
import { validateObject } from "../../../src/api/validate.js";
import { assertError, assertValid, resource } from "../../helpers/validate.js";

const V1 = "gateway.networking.k8s.io/v1";
const gw = (spec: object) => resource("Gateway", spec, V1);
const route = (spec: object) => resource("HTTPRoute", spec, V1);
const listener = (l: object) => ({ name: "http", port: 80, protocol: "HTTP", ...l });
const rule = (r: object) => ({ parentRefs: [{ name: "gw" }], rules: [r] });

interface Case {
  name: string;
  doc: object;
  path: string;
  contains?: string;
}

const invalid: Case[] = [
  { name: "Gateway without gatewayClassName", doc: gw({ listeners: [listener({})] }), path: "spec.gatewayClassName", contains: "Required" },
  { name: "Gateway listener port out of range", doc: gw({ gatewayClassName: "istio", listeners: [listener({ port: 70000 })] }), path: "spec.listeners[0].port", contains: "65535" },
  {
    name: "Gateway listener names repeat (CEL)",
    doc: gw({ gatewayClassName: "istio", listeners: [listener({}), listener({ port: 81 })] }),
    path: "spec.listeners",
    contains: "Listener name must be unique",
  },
  {
    name: "Gateway TCP listener with a hostname (CEL)",
    doc: gw({ gatewayClassName: "istio", listeners: [listener({ protocol: "TCP", hostname: "a.example.com" })] }),
    path: "spec.listeners",
    contains: "hostname must not be specified",
  },
  {
    name: "Gateway HTTPS listener in Passthrough (CEL)",
    doc: gw({ gatewayClassName: "istio", listeners: [listener({ protocol: "HTTPS", tls: { mode: "Passthrough" } })] }),
    path: "spec.listeners",
    contains: "tls mode must be Terminate",
  },
  {
    name: "Gateway address of type IPAddress that is not an IP (CEL isIP)",
    doc: gw({ gatewayClassName: "istio", addresses: [{ type: "IPAddress", value: "not-an-ip" }], listeners: [listener({})] }),
    path: "spec.addresses[0]",
    contains: "must validate one and only one schema (oneOf)",
  },
  { name: "HTTPRoute path not starting with / (CEL)", doc: route(rule({ matches: [{ path: { type: "PathPrefix", value: "api" } }] })), path: "spec.rules[0].matches[0].path", contains: "must be an absolute path" },
  {
    name: "HTTPRoute redirect and rewrite together (CEL)",
    doc: route(rule({ filters: [{ type: "RequestRedirect", requestRedirect: { statusCode: 301 } }, { type: "URLRewrite", urlRewrite: { hostname: "x" } }] })),
    path: "spec.rules[0].filters",
    contains: "May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite",
  },
  {
    name: "HTTPRoute filter type without its field (CEL)",
    doc: route(rule({ filters: [{ type: "RequestHeaderModifier" }] })),
    path: "spec.rules[0].filters[0]",
    contains: "filter.requestHeaderModifier must be specified",
  },
  {
    name: "HTTPRoute parentRefs repeat (CEL, namespace escaped as __namespace__)",
    doc: route({ parentRefs: [{ name: "gw", namespace: "a" }, { name: "gw", namespace: "a" }] }),
    path: "spec.parentRefs",
    contains: "sectionName must be unique when parentRefs includes 2 or more references to the same parent",
  },
  {
    name: "TLSRoute v1 hostname that is an IP (CEL isIP)",
    doc: resource("TLSRoute", { parentRefs: [{ name: "gw" }], hostnames: ["10.0.0.1"], rules: [{ backendRefs: [{ name: "b", port: 443 }] }] }, V1),
    path: "spec.hostnames",
    contains: "Hostnames cannot contain an IP",
  },
  { name: "HTTPRoute backend weight negative", doc: route(rule({ backendRefs: [{ name: "b", port: 80, weight: -1 }] })), path: "spec.rules[0].backendRefs[0].weight", contains: "greater than or equal to 0" },
  {
    name: "HTTPRoute Service backend without a port (CEL)",
    doc: route(rule({ backendRefs: [{ name: "b" }] })),
    path: "spec.rules[0].backendRefs[0]",
    contains: "Must have port for Service reference",
  },
  { name: "HTTPRoute unknown field", doc: route(rule({ mathces: [] })), path: "spec.rules[0].mathces", contains: 'did you mean "matches"' },
  {
    name: "TCPRoute without backends",
    doc: resource("TCPRoute", { parentRefs: [{ name: "gw" }], rules: [{}] }, "gateway.networking.k8s.io/v1alpha2"),
    path: "spec.rules[0].backendRefs",
    contains: "Required",
  },
  {
    name: "ReferenceGrant without to",
    doc: resource("ReferenceGrant", { from: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: "a" }] }, "gateway.networking.k8s.io/v1beta1"),
    path: "spec.to",
    contains: "Required",
  },
];

const valid: Array<{ name: string; doc: object }> = [
  {
    name: "bookinfo's Gateway",
    doc: gw({ gatewayClassName: "istio", listeners: [listener({ allowedRoutes: { namespaces: { from: "Same" } } })] }),
  },
  { name: "HTTPS listener terminating TLS", doc: gw({ gatewayClassName: "istio", listeners: [listener({ name: "https", port: 443, protocol: "HTTPS", hostname: "*.example.com", tls: { certificateRefs: [{ name: "cert" }] } })] }) },
  { name: "address that is an IP", doc: gw({ gatewayClassName: "istio", addresses: [{ type: "IPAddress", value: "127.0.0.9" }], listeners: [listener({})] }) },
  {
    name: "HTTPRoute with a Service parent and weighted backends",
    doc: route({ parentRefs: [{ group: "", kind: "Service", name: "reviews", port: 9080 }], rules: [{ backendRefs: [{ name: "reviews-v1", port: 9080, weight: 90 }, { name: "reviews-v2", port: 9080, weight: 10 }] }] }),
  },
  {
    name: "HTTPRoute filters and timeouts",
    doc: route(
      rule({
        matches: [{ path: { type: "PathPrefix", value: "/api" }, headers: [{ name: "x-user", value: "jason" }], method: "GET" }],
        filters: [
          { type: "RequestHeaderModifier", requestHeaderModifier: { add: [{ name: "x-a", value: "1" }], remove: ["x-b"] } },
          { type: "URLRewrite", urlRewrite: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/v2" } } },
        ],
        timeouts: { request: "10s" },
        backendRefs: [{ name: "b", port: 80 }],
      }),
    ),
  },
  { name: "two parentRefs to one Gateway told apart by sectionName", doc: route({ parentRefs: [{ name: "gw", sectionName: "a" }, { name: "gw", sectionName: "b" }] }) },
  { name: "GRPCRoute", doc: resource("GRPCRoute", rule({ matches: [{ method: { service: "helloworld.Greeter", method: "SayHello" } }], backendRefs: [{ name: "g", port: 50051 }] }), V1) },
  { name: "TLSRoute v1alpha2", doc: resource("TLSRoute", { parentRefs: [{ name: "gw" }], hostnames: ["a.example.com"], rules: [{ backendRefs: [{ name: "b", port: 443 }] }] }, "gateway.networking.k8s.io/v1alpha2") },
  { name: "GatewayClass", doc: resource("GatewayClass", { controllerName: "istio.io/gateway-controller" }, V1) },
];

describe("Gateway API validation (the CRDs' schemas and CEL rules)", () => {
  describe("rejects", () => {
    for (const c of invalid) it(c.name, () => void assertError(c.doc, c.path, c.contains));
  });
  describe("accepts", () => {
    for (const c of valid) it(c.name, () => void assertValid(c.doc));
  });
});

describe("Gateway API kinds by group", () => {
  it("gateway.networking.k8s.io's Gateway is KubernetesGateway inside, Istio's stays Gateway", () => {
    assert.equal(lookupKind(V1, "Gateway").info?.kind, "KubernetesGateway");
    assert.equal(lookupKind(V1, "Gateway").info?.yamlKind, "Gateway");
    assert.equal(lookupKind("networking.istio.io/v1", "Gateway").info?.kind, "Gateway");
    const r = validateObject(gw({ gatewayClassName: "istio", listeners: [listener({})] }));
    assert.equal(r.resource?.kind, "KubernetesGateway");
  });
  it("a version the group does not serve is refused", () => {
    assert.equal(lookupKind("gateway.networking.k8s.io/v1alpha9", "HTTPRoute").versionServed, false);
    assertError(resource("HTTPRoute", {}, "gateway.networking.k8s.io/v1alpha9"), "apiVersion", "served versions");
  });
  it("a kind in the wrong group names every group that has it", () => {
    assertError(resource("Gateway", {}, "security.istio.io/v1"), "apiVersion", "belongs to group networking.istio.io and gateway.networking.k8s.io");
    assertError(resource("HTTPRoute", {}, "networking.istio.io/v1"), "apiVersion", "belongs to group gateway.networking.k8s.io");
  });
  it("the CRDs' defaults are applied, as the API server does", () => {
    const r = validateObject(route(rule({ backendRefs: [{ name: "b", port: 80 }] })));
    const spec = r.resource?.spec as { rules: Array<{ matches: unknown; backendRefs: Array<{ weight?: number; kind?: string }> }>; parentRefs: Array<{ kind?: string; group?: string }> };
    assert.deepEqual(spec.rules[0].matches, [{ path: { type: "PathPrefix", value: "/" } }]);
    assert.equal(spec.rules[0].backendRefs[0].weight, 1);
    assert.equal(spec.rules[0].backendRefs[0].kind, "Service");
    assert.equal(spec.parentRefs[0].kind, "Gateway");
    assert.equal(spec.parentRefs[0].group, "gateway.networking.k8s.io");
  });
  it("what the conversion leaves out is reported as not enforced", () => {
    const r = validateObject(route(rule({ filters: [{ type: "ExtensionRef", extensionRef: { group: "x", kind: "y", name: "z" } }], backendRefs: [{ name: "b", port: 80 }] })));
    const d = notEnforcedDiagnostics(r.resource!);
    assert.deepEqual(d.map((x) => [x.code, x.path]), [["TSMESH_NOT_ENFORCED", "spec.rules[0].filters[0].type"]]);
  });
});

describe("CEL isIP (Kubernetes' library)", () => {
  const cases: Array<[string, boolean]> = [
    ["127.0.0.1", true],
    ["::1", true],
    ["2001:db8::1", true],
    ["fe80::1%eth0", false],
    ["::ffff:10.0.0.1", false],
    ["10.0.0", false],
    ["example.com", false],
    ["", false],
  ];
  for (const [s, want] of cases) it(`${JSON.stringify(s)} → ${want}`, () => assert.equal(isK8sIP(s), want));
});
