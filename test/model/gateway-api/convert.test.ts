// The Gateway API → Istio Gateways and VirtualServices, as istiod converts them: golden files for
// Istio's gateway-api samples (UPDATE_GOLDEN=1 rewrites them; review the diff), and table tests for
// the rules the samples do not reach (filters, precedence, ReferenceGrants, status reasons).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { resourceKey, type AnyResource } from "../../../src/api/resource.js";
import { validateText } from "../../../src/api/validate.js";
import { packageRoot } from "../../../src/core/paths.js";
import { conversionProblems, convertGatewayApi } from "../../../src/model/gateway-api/convert.js";
import { PushContext, pushInputFrom } from "../../../src/model/push-context.js";

const root = packageRoot();

/** The files' resources, a later file's copy replacing an earlier one's (as applying them in turn does). */
function load(...files: string[]): AnyResource[] {
  const out = new Map<string, AnyResource>();
  for (const f of files) {
    for (const d of validateText(readFileSync(join(root, f), "utf8"), f)) {
      if (d.resource) out.set(resourceKey(d.resource.kind, d.resource.metadata.namespace, d.resource.metadata.name), d.resource);
    }
  }
  return [...out.values()];
}

function yamlDocs(text: string): AnyResource[] {
  return validateText(text, "t.yaml").map((d) => {
    assert.ok(d.resource, JSON.stringify(d.diagnostics));
    return d.resource;
  });
}

function assertGoldenYaml(name: string, value: unknown[]): void {
  const file = join(root, "test", "model", "gateway-api", "testdata", `${name}.yaml.golden`);
  const text = value.map((v) => stringify(v)).join("---\n");
  if (process.env.UPDATE_GOLDEN === "1" || !existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    return;
  }
  assert.equal(text, readFileSync(file, "utf8"), `conversion differs from golden ${file} (UPDATE_GOLDEN=1 to accept, then review the diff)`);
}

const BOOKINFO = ["examples/bookinfo/services.yaml", "examples/bookinfo-versions/services-versions.yaml"];

describe("Istio's gateway-api samples convert as istiod converts them (golden)", () => {
  const cases: Array<[string, string[]]> = [
    ["bookinfo-gateway", [...BOOKINFO, "samples/bookinfo/gateway-api/bookinfo-gateway.yaml"]],
    ["bookinfo-route-all-v1", [...BOOKINFO, "samples/bookinfo/gateway-api/route-all-v1.yaml"]],
    ["bookinfo-reviews-90-10", [...BOOKINFO, "samples/bookinfo/gateway-api/route-reviews-90-10.yaml"]],
    ["bookinfo-reviews-50-v3", [...BOOKINFO, "samples/bookinfo/gateway-api/route-reviews-50-v3.yaml"]],
    ["httpbin-gateway", ["samples/httpbin/gateway-api/httpbin-gateway.yaml"]],
    ["gamma-routes", ["test/model/gateway-api/testdata/gamma-routes.yaml"]],
    ["tcp-echo-20-v2", ["examples/tcp-echo-versions/services-versions.yaml", "samples/tcp-echo/gateway-api/tcp-echo-all-v1.yaml", "samples/tcp-echo/gateway-api/tcp-echo-20-v2.yaml"]],
  ];
  for (const [name, files] of cases) {
    it(name, () => {
      const conv = convertGatewayApi(load(...files));
      assertGoldenYaml(name, [...conv.gateways, ...conv.virtualServices, ...[...conv.routeParents].map(([k, parents]) => ({ route: k, parents }))]);
    });
  }
});

const GW = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: istio
  listeners:
  - {name: web, port: 80, protocol: HTTP, hostname: "*.example.com", allowedRoutes: {namespaces: {from: All}}}
  - {name: same, port: 8080, protocol: HTTP}
`;
const SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: b, namespace: apps}
spec: {hosts: [b.apps.svc.cluster.local], ports: [{number: 80, name: http, protocol: HTTP}], resolution: STATIC}
`;
const route = (spec: string, ns = "apps", name = "r") => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: ${name}, namespace: ${ns}}
spec:
${spec}`;

/** A ReferenceGrant in `namespace` letting `fromKind`s in `fromNamespace` refer to core `toKind`s. */
const referenceGrant = (namespace: string, fromKind: string, fromNamespace: string, toKind: string) => `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: g, namespace: ${namespace}}
spec:
  from: [{group: gateway.networking.k8s.io, kind: ${fromKind}, namespace: ${fromNamespace}}]
  to: [{group: "", kind: ${toKind}}]
`;

function convert(...docs: string[]) {
  return convertGatewayApi(yamlDocs(docs.join("---\n")));
}

describe("HTTPRoute conversion", () => {
  it("filters: header modifiers, redirect, rewrite, mirror, timeouts; weighted backends", () => {
    const conv = convert(
      GW,
      SE,
      route(`  parentRefs: [{name: gw, namespace: infra, sectionName: web}]
  hostnames: [a.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api/}, headers: [{name: x-user, value: jason}], method: GET}]
    filters:
    - {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: X-Set, value: "1"}], add: [{name: x-add, value: a}, {name: X-ADD, value: b}], remove: [x-gone]}}
    - {type: URLRewrite, urlRewrite: {hostname: internal, path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}}
    - {type: RequestMirror, requestMirror: {backendRef: {name: b, port: 80}, percent: 25}}
    timeouts: {request: 10s, backendRequest: 500ms}
    backendRefs: [{name: b, port: 80, weight: 3}, {name: b, port: 80, weight: 1}]
  - matches: [{path: {type: Exact, value: /old}}]
    filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]
`),
    );
    const vs = conv.virtualServices;
    assert.equal(vs.length, 1);
    assert.equal(vs[0].metadata.name, "infra~gw~istio-autogenerated-k8s-gateway~web~a.example.com");
    assert.deepEqual(vs[0].spec.gateways, ["infra/gw~istio-autogenerated-k8s-gateway~web"]);
    const [exact, prefix] = vs[0].spec.http!;
    // Exact before prefix (the Gateway API's precedence), whatever the rule order.
    assert.deepEqual(exact.match, [{ uri: { exact: "/old" } }]);
    assert.deepEqual(exact.redirect, { redirectCode: 301, scheme: "https", derivePort: "FROM_PROTOCOL_DEFAULT" });
    assert.equal(exact.directResponse, undefined);
    assert.deepEqual(prefix.match, [{ uri: { prefix: "/api" }, headers: { "x-user": { exact: "jason" } }, method: { exact: "GET" } }]);
    assert.deepEqual(prefix.headers, { request: { add: { "x-add": "a" }, remove: ["x-gone"], set: { "x-set": "1" } } });
    assert.deepEqual(prefix.rewrite, { uri: "/", authority: "internal" });
    assert.deepEqual(prefix.mirrors, [{ destination: { host: "b.apps.svc.cluster.local", port: { number: 80 } }, percentage: { value: 25 } }]);
    // istiod: without a retry stanza, backendRequest takes the route's timeout over request.
    assert.equal(prefix.timeout, "0.5s");
    assert.deepEqual(prefix.route?.map((d) => d.weight), [3, 1]);
    assert.equal(prefix.name, "apps.r.0");
  });

  it("CORS as istiod converts it: * any origin, a trailing * a prefix, other wildcards a regex; unmatched preflights pass", () => {
    const conv = convert(
      GW,
      route(`  parentRefs: [{name: gw, namespace: infra, sectionName: web}]
  rules:
  - matches: [{path: {value: /any}}]
    filters: [{type: CORS, cors: {allowOrigins: ["*"]}}]
    backendRefs: [{name: b, port: 80}]
  - matches: [{path: {value: /some}}]
    filters:
    - type: CORS
      cors: {allowOrigins: ["https://a.example.com", "https://*", "https://*.example.com"], allowMethods: [GET], allowHeaders: [x-a], exposeHeaders: [x-b], allowCredentials: true, maxAge: 60}
    backendRefs: [{name: b, port: 80}]
`),
    );
    const [some, any] = conv.virtualServices[0].spec.http!;
    // The CRD defaults maxAge to 5 (seconds).
    assert.deepEqual(any.corsPolicy, { allowOrigins: [{ regex: "^[a-zA-Z][a-zA-Z0-9+.-]*://[^/\\s?#]+$" }], maxAge: "5s", unmatchedPreflights: "IGNORE" });
    assert.deepEqual(some.corsPolicy, {
      allowOrigins: [{ exact: "https://a.example.com" }, { prefix: "https://" }, { regex: "^https://.*\\.example\\.com$" }],
      allowCredentials: true,
      allowMethods: ["GET"],
      allowHeaders: ["x-a"],
      exposeHeaders: ["x-b"],
      maxAge: "60s",
      unmatchedPreflights: "IGNORE",
    });
  });

  it("a rule with no backend answers 500; a missing backend keeps its host and reports BackendNotFound", () => {
    const conv = convert(GW, route(`  parentRefs: [{name: gw, namespace: infra, sectionName: web}]
  rules:
  - matches: [{path: {value: /none}}]
  - backendRefs: [{name: nowhere, port: 80}]
`));
    const http = conv.virtualServices[0].spec.http!;
    assert.deepEqual(http[0].directResponse, { status: 500 });
    assert.deepEqual(http[1].route, [{ destination: { host: "nowhere.apps.svc.cluster.local", port: { number: 80 } } }]);
    const [parent] = conv.routeParents.get("HTTPRoute/apps/r")!;
    assert.deepEqual(parent.conditions.map((c) => [c.type, c.status, c.reason]), [
      ["Accepted", "True", "Accepted"],
      ["ResolvedRefs", "False", "BackendNotFound"],
    ]);
  });

  it("a backend in another namespace needs a ReferenceGrant (gateway parents only)", () => {
    const other = route(`  parentRefs: [{name: gw, namespace: infra, sectionName: web}]
  rules:
  - backendRefs: [{name: b, namespace: apps, port: 80}]
`, "team");
    const denied = convert(GW, SE, other);
    assert.deepEqual(denied.routeParents.get("HTTPRoute/team/r")![0].conditions[1].reason, "RefNotPermitted");
    assert.deepEqual(denied.virtualServices[0].spec.http![0].route, [{ destination: { host: "" } }]);
    const allowed = convert(GW, SE, other, referenceGrant("apps", "HTTPRoute", "team", "Service"));
    assert.equal(allowed.routeParents.get("HTTPRoute/team/r")![0].conditions[1].status, "True");
    assert.equal(allowed.virtualServices[0].spec.http![0].route![0].destination.host, "b.apps.svc.cluster.local");
  });

  it("parents that do not take the route say why (Istio's reasons)", () => {
    const cases: Array<[string, string]> = [
      ["[{name: missing, namespace: infra}]", "NoMatchingParent"],
      ["[{name: gw, namespace: infra, sectionName: same}]", "NotAllowedByListeners"],
      ["[{name: gw, namespace: infra, sectionName: nope}]", "NoMatchingParent"],
    ];
    for (const [parents, reason] of cases) {
      const conv = convert(GW, route(`  parentRefs: ${parents}\n  hostnames: [a.example.com]\n  rules: [{backendRefs: [{name: b, port: 80}]}]\n`));
      assert.equal(conv.routeParents.get("HTTPRoute/apps/r")![0].conditions[0].reason, reason, parents);
      assert.equal(conv.virtualServices.length, 0);
    }
    const host = convert(GW, route(`  parentRefs: [{name: gw, namespace: infra, sectionName: web}]\n  hostnames: [a.other.org]\n  rules: [{backendRefs: [{name: b, port: 80}]}]\n`));
    assert.equal(host.routeParents.get("HTTPRoute/apps/r")![0].conditions[0].reason, "NoMatchingListenerHostname");
  });

  it("a Gateway of another class is left alone", () => {
    const conv = convert(GW.replace("gatewayClassName: istio", "gatewayClassName: other"), route(`  parentRefs: [{name: gw, namespace: infra}]\n  rules: [{backendRefs: [{name: b, port: 80}]}]\n`));
    assert.equal(conv.gateways.length, 0);
    assert.equal(conv.routeParents.size, 0);
  });

  it("routes of several HTTPRoutes on one host merge into one VirtualService, by precedence", () => {
    const conv = convert(
      GW,
      route(`  parentRefs: [{name: gw, namespace: infra, sectionName: web}]\n  rules: [{matches: [{path: {value: /a}}], backendRefs: [{name: b, port: 80}]}]\n`, "apps", "r1"),
      route(`  parentRefs: [{name: gw, namespace: infra, sectionName: web}]\n  rules: [{matches: [{path: {value: /a/longer}}], backendRefs: [{name: b, port: 80}]}]\n`, "apps", "r2"),
    );
    assert.equal(conv.virtualServices.length, 1);
    assert.deepEqual(conv.virtualServices[0].spec.http!.map((h) => h.name), ["apps.r2.0", "apps.r1.0"]);
    assert.equal(conv.converted.get("infra/gw")!.listeners[0].attachedRoutes, 2);
  });
});

describe("the push context is fed the converted resources", () => {
  it("pushInputFrom converts the Gateway API kinds beside Istio's own", () => {
    const input = pushInputFrom(load(...BOOKINFO, "samples/bookinfo/gateway-api/bookinfo-gateway.yaml", "samples/bookinfo/gateway-api/route-reviews-90-10.yaml"));
    assert.deepEqual(input.gateways.map((g) => g.metadata.name), ["bookinfo-gateway~istio-autogenerated-k8s-gateway~http"]);
    assert.deepEqual(input.virtualServices.map((v) => v.metadata.name).sort(), ["default~9080~reviews.default.svc.cluster.local", "default~bookinfo-gateway~istio-autogenerated-k8s-gateway~http~*"]);
    assert.equal(input.serviceEntries.length, 11); // bookinfo's 5 and the 6 version services
  });
});

describe("Gateway listeners → Istio Gateway servers", () => {
  const listenerGw = (listeners: string, extra = "") => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: istio
  listeners:
${listeners}${extra}`;
  const server = (conv: ReturnType<typeof convert>, listener: string) => conv.converted.get("infra/gw")!.listeners.find((l) => l.listener.name === listener)!;

  it("TLS: a Secret in the Gateway's namespace is the credentialName; Passthrough passes through", () => {
    const conv = convert(
      listenerGw(`  - {name: https, port: 443, protocol: HTTPS, hostname: a.example.com, tls: {certificateRefs: [{name: cert}]}}
  - {name: tls, port: 8443, protocol: TLS, tls: {mode: Passthrough}, allowedRoutes: {namespaces: {from: All}}}
`),
    );
    assert.deepEqual(server(conv, "https").server, { port: { number: 443, protocol: "HTTPS", name: "default" }, hosts: ["infra/a.example.com"], tls: { mode: "SIMPLE", credentialName: "cert" } });
    assert.deepEqual(server(conv, "tls").server, { port: { number: 8443, protocol: "TLS", name: "default" }, hosts: ["*/*"], tls: { mode: "PASSTHROUGH" } });
  });

  it("a certificate in another namespace needs a ReferenceGrant from the Gateway", () => {
    const gw = listenerGw(`  - {name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: cert, namespace: certs}]}}\n`);
    const denied = server(convert(gw), "https");
    assert.equal(denied.server, undefined);
    assert.deepEqual(denied.conditions.find((c) => c.type === "ResolvedRefs"), { type: "ResolvedRefs", status: "False", reason: "RefNotPermitted", message: 'certificateRef certs/cert not accessible to a Gateway in namespace "infra" (missing a ReferenceGrant?)' });
    assert.deepEqual(server(convert(gw, referenceGrant("certs", "Gateway", "infra", "Secret")), "https").server?.tls, { mode: "SIMPLE", credentialName: "certs/cert" });
  });

  it("a namespace Selector chooses by kubernetes.io/metadata.name (the secure-ingress task's Gateway)", () => {
    const conv = convert(
      listenerGw(`  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {kubernetes.io/metadata.name: apps}}}}}
  - {name: expr, port: 81, protocol: HTTP, allowedRoutes: {namespaces: {from: Selector, selector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [apps]}]}}}}
  - {name: other, port: 82, protocol: HTTP, allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: a}}}}}
`),
      route(`  parentRefs: [{name: gw, namespace: infra}]
  rules: [{backendRefs: [{name: b, port: 80}]}]
`),
    );
    assert.deepEqual(server(conv, "http").server?.hosts, ["apps/*"]);
    assert.deepEqual(server(conv, "expr").server?.hosts, ["infra/*"]);
    assert.deepEqual(server(conv, "other").server?.hosts, ["~/*"]);
    assert.deepEqual(conv.converted.get("infra/gw")!.listeners.map((l) => l.attachedRoutes), [1, 0, 0]);
  });

  it("an unsupported protocol is not accepted; allowedRoutes kinds narrow what attaches", () => {
    const conv = convert(
      listenerGw(`  - {name: udp, port: 53, protocol: UDP}
  - {name: tcp, port: 9000, protocol: TCP, allowedRoutes: {kinds: [{kind: TCPRoute}]}}
`),
    );
    const udp = server(conv, "udp");
    assert.equal(udp.server, undefined);
    assert.deepEqual(udp.conditions[0], { type: "Accepted", status: "False", reason: "UnsupportedProtocol", message: 'protocol "UDP" is unsupported' });
    assert.deepEqual(server(conv, "tcp").supportedKinds, ["TCPRoute"]);
  });
});

describe("GRPCRoute conversion (istiod's createGRPCURIMatch)", () => {
  const grpc = (match: string, filters = "") => `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g, namespace: infra}
spec:
  parentRefs: [{name: gw, sectionName: same}]
  rules:
  - matches: [${match}]
${filters}    backendRefs: [{name: b, port: 9000}]
`;
  const cases: Array<[string, object]> = [
    ["{method: {service: helloworld.Greeter, method: SayHello}}", { exact: "/helloworld.Greeter/SayHello" }],
    ["{method: {service: helloworld.Greeter}}", { prefix: "/helloworld.Greeter/" }],
    ["{method: {method: SayHello}}", { regex: "/[^/]+/SayHello" }],
    ["{method: {type: RegularExpression, service: 'helloworld\\..*'}}", { regex: "/helloworld\\..*/.+" }],
  ];
  for (const [match, uri] of cases) {
    it(match, () => {
      const conv = convert(GW, grpc(match));
      assert.deepEqual(conv.virtualServices[0].spec.http![0].match, [{ uri }]);
    });
  }
  it("an ExtensionRef filter drops the rule and the route says InvalidFilter", () => {
    const conv = convert(GW, grpc("{method: {service: s}}", "    filters: [{type: ExtensionRef, extensionRef: {group: x, kind: y, name: z}}]\n"));
    assert.equal(conv.virtualServices.length, 0);
    assert.deepEqual(conv.routeParents.get("GRPCRoute/infra/g")![0].conditions[0], { type: "Accepted", status: "False", reason: "InvalidFilter", message: 'unsupported filter type "ExtensionRef"' });
  });
});

describe("what the conversion cannot do reaches the console", () => {
  it("route parents not accepted or unresolved, and listeners not programmed, one line each", () => {
    const conv = convert(
      GW.replace("  - {name: same, port: 8080, protocol: HTTP}\n", "  - {name: same, port: 8080, protocol: HTTP}\n  - {name: udp, port: 53, protocol: UDP}\n"),
      route(`  parentRefs: [{name: gw, namespace: infra, sectionName: same}, {name: gw, namespace: infra, sectionName: web}]\n  rules: [{backendRefs: [{name: nowhere, port: 80}]}]\n`),
    );
    assert.deepEqual(conversionProblems(conv), [
      'Gateway.gateway.networking.k8s.io infra/gw: listener udp is not programmed: UnsupportedProtocol: protocol "UDP" is unsupported',
      "HTTPRoute apps/r: parent Gateway infra/gw/same: Accepted NotAllowedByListeners: kind or namespace not allowed by the listeners' allowedRoutes",
      "HTTPRoute apps/r: parent Gateway infra/gw/web: ResolvedRefs BackendNotFound: backend(nowhere.apps.svc.cluster.local) not found",
    ]);
    const push = new PushContext(pushInputFrom(yamlDocs([GW, route(`  parentRefs: [{name: missing}]\n  rules: [{backendRefs: [{name: b, port: 80}]}]\n`)].join("---\n"))));
    assert.deepEqual(push.virtualServiceErrors, ["HTTPRoute apps/r: parent Gateway apps/missing: Accepted NoMatchingParent: gateway apps/missing not found"]);
  });
});

describe("mesh parents", () => {
  it("a ServiceEntry parent routes the ServiceEntry's hosts for the mesh (istiod's ServiceEntry parent)", () => {
    const conv = convert(SE, route(`  parentRefs: [{group: networking.istio.io, kind: ServiceEntry, name: b, port: 80}]\n  rules: [{backendRefs: [{name: b, port: 80}]}]\n`));
    assert.deepEqual(
      conv.virtualServices.map((v) => [v.metadata.name, v.spec.hosts, v.spec.gateways, v.spec.http![0].match]),
      [["apps~80~b.apps.svc.cluster.local", ["b.apps.svc.cluster.local"], ["mesh"], [{ uri: { prefix: "/" }, port: 80 }]]],
    );
    const missing = convert(route(`  parentRefs: [{group: networking.istio.io, kind: ServiceEntry, name: nope}]\n  rules: [{backendRefs: [{name: b, port: 80}]}]\n`));
    assert.equal(missing.routeParents.get("HTTPRoute/apps/r")![0].conditions[0].reason, "NoMatchingParent");
  });
});

describe("TLSRoute conversion", () => {
  it("a TLS Passthrough listener's TLSRoute: one VirtualService with SNI matches and weighted backends", () => {
    const gw = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: apps}
spec:
  gatewayClassName: istio
  listeners:
  - {name: tls, port: 8443, protocol: TLS, tls: {mode: Passthrough}}
`;
    const tls = `apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: t, namespace: apps}
spec:
  parentRefs: [{name: gw}]
  hostnames: [a.example.com]
  rules:
  - backendRefs: [{name: b, port: 443, weight: 3}, {name: b, port: 443, weight: 1}]
`;
    const conv = convert(gw, SE, tls);
    assert.deepEqual(
      conv.virtualServices.map((v) => ({ name: v.metadata.name, hosts: v.spec.hosts, gateways: v.spec.gateways, tls: v.spec.tls })),
      [
        {
          name: "t~tls~0~istio-autogenerated-k8s-gateway",
          hosts: ["a.example.com"],
          gateways: ["apps/gw~istio-autogenerated-k8s-gateway~tls"],
          tls: [
            {
              match: [{ sniHosts: ["a.example.com"] }],
              route: [
                { destination: { host: "b.apps.svc.cluster.local", port: { number: 443 } }, weight: 3 },
                { destination: { host: "b.apps.svc.cluster.local", port: { number: 443 } }, weight: 1 },
              ],
            },
          ],
        },
      ],
    );
    assert.deepEqual(conv.gateways[0].spec.servers, [{ port: { number: 8443, protocol: "TLS", name: "default" }, hosts: ["apps/*"], tls: { mode: "PASSTHROUGH" } }]);
  });
});
