// What tsmesh accepts but does not enforce (src/api/enforcement.ts): a table of resources, each
// with the field paths that must be reported (or none), run through the same path config files
// take; every table entry is exercised; every path names a real field of its kind's CRD; and the
// README's list is the table's (UPDATE_README=1 rewrites it).
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, test } from "node:test";
import { ENFORCEMENT, enforcementMarkdown, meshConfigNotEnforced, MESH_CONFIG, parsePattern, summarizeNotEnforced, type FieldGap } from "../../src/api/enforcement.js";
import { kinds } from "../../src/api/kinds.js";
import { parseDocuments } from "../../src/api/parse.js";
import type { OpenApiSchema } from "../../src/api/schema.js";
import { validateDocument } from "../../src/config/files.js";
import { packageRoot } from "../../src/core/paths.js";
import { resource } from "../helpers/validate.js";

/** Validates one resource as a config file's document would be; returns the TSMESH_NOT_ENFORCED paths. */
function reported(kind: string, spec: unknown): string[] {
  const [doc] = parseDocuments(JSON.stringify(resource(kind, spec)), "t.yaml");
  const { result } = validateDocument(doc);
  assert.ok(result.valid, `${kind} must be valid: ${JSON.stringify(result.diagnostics)}`);
  return result.diagnostics.filter((d) => d.code === "TSMESH_NOT_ENFORCED").map((d) => d.path);
}

const tlsServer = (tls: object) => ({ selector: { istio: "ingressgateway" }, servers: [{ port: { number: 443, name: "https", protocol: "HTTPS" }, hosts: ["*"], tls }] });
const FILES = { serverCertificate: "/c.pem", privateKey: "/k.pem" };

interface Case {
  name: string;
  kind: string;
  spec: unknown;
  /** Paths reported, in table order ("" = the whole resource). */
  want: string[];
}

const CASES: Case[] = [
  // Kinds not enforced at all: whatever their spec.
  ...(["ProxyConfig"] as const).map((kind) => ({
    name: `${kind}: the whole kind`,
    kind,
    spec: {},
    want: [""],
  })),
  // Telemetry: generated (metrics, access logs, tracing); the few tracing settings tsmesh's Envoy API lacks are reported.
  {
    name: "Telemetry: Istio's observability task examples are enforced",
    kind: "Telemetry",
    spec: {
      metrics: [{ providers: [{ name: "prometheus" }], overrides: [{ match: { metric: "REQUEST_COUNT", mode: "CLIENT" }, tagOverrides: { request_host: { value: "request.host" } } }] }],
      accessLogging: [{ providers: [{ name: "envoy" }], filter: { expression: "response.code >= 400" } }],
      tracing: [{ providers: [{ name: "zipkin" }], randomSamplingPercentage: 100, customTags: { a: { literal: { value: "x" } }, b: { header: { name: "x-b" } }, c: { environment: { name: "C" } } } }],
    },
    want: [],
  },
  {
    name: "Telemetry: formatter tags, disabled context propagation, request-id sampling off",
    kind: "Telemetry",
    spec: { tracing: [{ customTags: { f: { formatter: { value: "%REQ(x)%" } }, ok: { literal: { value: "v" } } }, disableContextPropagation: true, useRequestIdForTraceSampling: false }] },
    want: ["spec.tracing[0].customTags[f]", "spec.tracing[0].disableContextPropagation", "spec.tracing[0].useRequestIdForTraceSampling"],
  },
  // EnvoyFilter: patches apply to the generated config; EXTENSION_CONFIG/BOOTSTRAP and waypoints cannot.
  {
    name: "EnvoyFilter: the rate limit task's patches are enforced",
    kind: "EnvoyFilter",
    spec: { configPatches: [{ applyTo: "VIRTUAL_HOST", match: { context: "GATEWAY" }, patch: { operation: "MERGE", value: { rate_limits: [] } } }] },
    want: [],
  },
  {
    name: "EnvoyFilter: EXTENSION_CONFIG and waypoint matches are reported",
    kind: "EnvoyFilter",
    spec: {
      configPatches: [
        { applyTo: "CLUSTER", match: { context: "WAYPOINT", waypoint: { portNumber: 80 } }, patch: { operation: "MERGE", value: {} } },
        { applyTo: "EXTENSION_CONFIG", patch: { operation: "ADD", value: { name: "x" } } },
      ],
    },
    want: ["spec.configPatches[1].applyTo", "spec.configPatches[0].match.waypoint"],
  },
  { name: "WasmPlugin: the whole kind", kind: "WasmPlugin", spec: { url: "oci://example.com/plugin:1" }, want: [""] },
  // The Gateway API: what its conversion leaves out.
  { name: "GatewayClass: parametersRef", kind: "GatewayClass", spec: { controllerName: "istio.io/gateway-controller", parametersRef: { group: "", kind: "ConfigMap", name: "c" } }, want: ["spec.parametersRef"] },
  {
    name: "KubernetesGateway: addresses, infrastructure, a selector on labels other than the name, TLS options, gateway TLS",
    kind: "KubernetesGateway",
    spec: {
      gatewayClassName: "istio",
      addresses: [{ value: "127.0.0.9" }, { type: "Hostname", value: "gw.example.com" }, { value: "10.0.0.1" }],
      infrastructure: { labels: { a: "b" }, annotations: { c: "d" }, parametersRef: { group: "", kind: "ConfigMap", name: "p" } },
      tls: {
        frontend: {
          default: { validation: { caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "ca" }] } },
          perPort: [{ port: 443, tls: { validation: { mode: "AllowInsecureFallback", caCertificateRefs: [{ group: "", kind: "Secret", name: "ca" }] } } }],
        },
        backend: { clientCertificateRef: { name: "client" } },
      },
      listeners: [
        { name: "http", port: 80, protocol: "HTTP", allowedRoutes: { namespaces: { from: "Selector", selector: { matchLabels: { a: "b" } } } } },
        { name: "named", port: 81, protocol: "HTTP", allowedRoutes: { namespaces: { from: "Selector", selector: { matchLabels: { "kubernetes.io/metadata.name": "default" } } } } },
        {
          name: "https",
          port: 443,
          protocol: "HTTPS",
          tls: { certificateRefs: [{ name: "c" }], options: { a: "b", "gateway.istio.io/tls-terminate-mode": "FOO", "gateway.istio.io/tls-cipher-suites": "AES128-SHA" } },
        },
        { name: "mutual", port: 444, protocol: "HTTPS", tls: { certificateRefs: [{ name: "c" }], options: { "gateway.istio.io/tls-terminate-mode": "MUTUAL" } } },
      ],
    },
    want: [
      "spec.addresses[2]",
      "spec.infrastructure.annotations",
      "spec.infrastructure.parametersRef",
      "spec.listeners[0].allowedRoutes.namespaces.selector",
      "spec.listeners[2].tls.options[a]",
      "spec.listeners[2].tls.options[gateway.istio.io/tls-terminate-mode]",
      "spec.tls.frontend.perPort[0].tls.validation.mode",
      "spec.tls.frontend.default.validation.caCertificateRefs[0].kind",
      "spec.tls.backend.clientCertificateRef",
    ],
  },
  {
    name: "KubernetesGateway: infrastructure labels, a parametersRef to another kind (status says InvalidParameters)",
    kind: "KubernetesGateway",
    spec: { gatewayClassName: "istio", infrastructure: { labels: { a: "b" }, parametersRef: { group: "x.io", kind: "P", name: "p" } }, listeners: [{ name: "http", port: 80, protocol: "HTTP" }] },
    want: [],
  },
  { name: "KubernetesGateway: plain HTTP listener is enforced", kind: "KubernetesGateway", spec: { gatewayClassName: "istio", listeners: [{ name: "http", port: 80, protocol: "HTTP" }] }, want: [] },
  {
    name: "HTTPRoute: an ExtensionRef filter (CORS and prefix matches are enforced)",
    kind: "HTTPRoute",
    spec: {
      parentRefs: [{ name: "gw" }],
      rules: [
        { matches: [{ path: { type: "Exact", value: "/a" } }], filters: [{ type: "CORS", cors: { allowOrigins: ["https://a.example.com"] } }], backendRefs: [{ name: "b", port: 80 }] },
        { matches: [{ path: { type: "PathPrefix", value: "/b" } }], backendRefs: [{ name: "b", port: 80, filters: [{ type: "ExtensionRef", extensionRef: { group: "x", kind: "y", name: "z" } }] }] },
      ],
    },
    want: ["spec.rules[1].backendRefs[0].filters[0].type"],
  },
  {
    name: "GRPCRoute: an ExtensionRef filter; method matches are enforced",
    kind: "GRPCRoute",
    spec: { parentRefs: [{ name: "gw" }], rules: [{ matches: [{ method: { service: "s" } }], filters: [{ type: "ExtensionRef", extensionRef: { group: "x", kind: "y", name: "z" } }], backendRefs: [{ name: "b", port: 80 }] }] },
    want: ["spec.rules[0].filters[0].type"],
  },
  { name: "TCPRoute: enforced", kind: "TCPRoute", spec: { parentRefs: [{ name: "gw" }], rules: [{ backendRefs: [{ name: "b", port: 80 }] }] }, want: [] },
  { name: "TLSRoute: enforced", kind: "TLSRoute", spec: { parentRefs: [{ name: "gw" }], hostnames: ["a.example.com"], rules: [{ backendRefs: [{ name: "b", port: 443 }] }] }, want: [] },
  {
    name: "ReferenceGrant: enforced",
    kind: "ReferenceGrant",
    spec: { from: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: "a" }], to: [{ group: "", kind: "Service" }] },
    want: [],
  },
  { name: "TrafficExtension: the whole kind", kind: "TrafficExtension", spec: { lua: { inlineCode: "function envoy_on_request(h) end" } }, want: [""] },
  // Generated as Istio's inbound filter chains (issue 13).
  {
    name: "PeerAuthentication: every scope and port-level mode is enforced",
    kind: "PeerAuthentication",
    spec: { selector: { matchLabels: { app: "httpbin" } }, mtls: { mode: "STRICT" }, portLevelMtls: { "80": { mode: "DISABLE" } } },
    want: [],
  },
  // Generated as Istio's jwt_authn filter (issue 14).
  {
    name: "RequestAuthentication: every JWTRule field, selector and Gateway targetRefs are enforced",
    kind: "RequestAuthentication",
    spec: {
      targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "gw" }],
      jwtRules: [
        {
          issuer: "testing@secure.istio.io",
          jwksUri: "https://example.com/jwks.json",
          audiences: ["a"],
          fromHeaders: [{ name: "x-jwt", prefix: "Bearer " }],
          fromParams: ["token"],
          fromCookies: ["session"],
          outputPayloadToHeader: "x-payload",
          outputClaimToHeaders: [{ header: "x-sub", claim: "sub" }],
          forwardOriginalToken: true,
          timeout: "3s",
          presence: "OPTIONAL",
        },
      ],
    },
    want: [],
  },
  {
    name: "RequestAuthentication: a Service targetRef (waypoints only) and a REQUIRED presence",
    kind: "RequestAuthentication",
    spec: { targetRef: { kind: "Service", name: "httpbin" }, jwtRules: [{ issuer: "i", jwksUri: "https://example.com/jwks.json", presence: "REQUIRED" }] },
    want: ["spec.targetRef.kind", "spec.jwtRules[0].presence"],
  },

  // Generated as Istio's RBAC / ext_authz filters (issue 14).
  {
    name: "AuthorizationPolicy: selector, rules and a Gateway targetRef are enforced",
    kind: "AuthorizationPolicy",
    spec: {
      targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "gw" }],
      action: "DENY",
      rules: [{ from: [{ source: { notNamespaces: ["foo"] } }], to: [{ operation: { paths: ["/admin/{**}"] } }], when: [{ key: "request.auth.claims[groups]", values: ["a"] }] }],
    },
    want: [],
  },
  {
    name: "AuthorizationPolicy: waypoint targets (Service, GatewayClass) select no workload here",
    kind: "AuthorizationPolicy",
    spec: { targetRefs: [{ kind: "Service", name: "a" }, { group: "gateway.networking.k8s.io", kind: "Gateway", name: "gw" }] },
    want: ["spec.targetRefs[0].kind"],
  },
  {
    name: "AuthorizationPolicy: a GatewayClass targetRef",
    kind: "AuthorizationPolicy",
    spec: { targetRef: { group: "gateway.networking.k8s.io", kind: "GatewayClass", name: "istio-waypoint" } },
    want: ["spec.targetRef.kind"],
  },

  // VirtualService
  {
    name: "VirtualService: everything bookinfo-like is enforced",
    kind: "VirtualService",
    spec: {
      hosts: ["reviews"],
      http: [
        {
          match: [{ headers: { "end-user": { exact: "jason" } }, uri: { prefix: "/r" } }],
          fault: { delay: { fixedDelay: "7s", percentage: { value: 100 } }, abort: { httpStatus: 500 } },
          retries: { attempts: 3, perTryTimeout: "2s", retryOn: "5xx" },
          route: [{ destination: { host: "reviews", subset: "v2" } }],
        },
        { route: [{ destination: { host: "reviews", subset: "v1" } }], mirror: { host: "reviews", subset: "v3" }, timeout: "1s" },
      ],
    },
    want: [],
  },
  {
    name: "VirtualService: JWT claim matches (on a gateway), statPrefix, remote-locality retries",
    kind: "VirtualService",
    spec: {
      hosts: ["reviews.example.com"],
      gateways: ["bookinfo-gateway"],
      http: [
        {
          match: [{ headers: { "@request.auth.claims.group": { exact: "admin" }, "x-ok": { exact: "1" } }, statPrefix: "admins" }, { withoutHeaders: { "@request.auth.claims.sub": {} } }],
          route: [{ destination: { host: "reviews" } }],
          retries: { attempts: 2, retryRemoteLocalities: true },
        },
      ],
    },
    want: [
      "spec.http[0].match[1].withoutHeaders[@request.auth.claims.sub]",
      "spec.http[0].match[0].statPrefix",
      "spec.http[0].retries.retryRemoteLocalities",
    ],
  },
  {
    name: "VirtualService: a TCP source subnet",
    kind: "VirtualService",
    spec: { hosts: ["db"], tcp: [{ match: [{ port: 27017, sourceSubnet: "10.0.0.0/8" }], route: [{ destination: { host: "db" } }] }] },
    want: ["spec.tcp[0].match[0].sourceSubnet"],
  },

  // DestinationRule
  {
    name: "DestinationRule: SIMPLE TLS from files, pools, outlier detection, HTTP consistent hash are enforced",
    kind: "DestinationRule",
    spec: {
      host: "reviews",
      trafficPolicy: {
        tls: { mode: "SIMPLE", caCertificates: "/ca.pem" },
        connectionPool: { tcp: { maxConnections: 1, connectTimeout: "1s" }, http: { http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 } },
        outlierDetection: { consecutive5xxErrors: 1, interval: "1s", baseEjectionTime: "3m", maxEjectionPercent: 100 },
        loadBalancer: { consistentHash: { httpHeaderName: "x-user" } },
      },
      subsets: [{ name: "v1", labels: { version: "v1" }, trafficPolicy: { tls: { mode: "DISABLE" } } }],
    },
    want: [],
  },
  {
    name: "DestinationRule: the unenforced settings (ISTIO_MUTUAL and credentialName are enforced)",
    kind: "DestinationRule",
    spec: {
      host: "reviews",
      workloadSelector: { matchLabels: { app: "reviews" } },
      trafficPolicy: {
        tls: { mode: "ISTIO_MUTUAL" },
        tunnel: { protocol: "CONNECT", targetHost: "reviews", targetPort: 9080 },
        retryBudget: { percent: 10, budgetInterval: "1s" },
        connectionPool: { tcp: { maxConnectionDuration: "1h", tcpKeepalive: { time: "10s" } }, http: { http2KeepAlive: { interval: "10s" }, maxConcurrentStreams: 10 } },
        loadBalancer: { simple: "ROUND_ROBIN", zoneAwareLbSetting: { enabled: true } },
        portLevelSettings: [{ port: { number: 9080 }, tls: { mode: "MUTUAL", credentialName: "reviews-cert" }, loadBalancer: { consistentHash: { useSourceIp: true } } }],
      },
      subsets: [
        { name: "v1", labels: { version: "v1" }, trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" }, proxyProtocol: { version: "V1" } } },
        { name: "v2", labels: { version: "v2" }, trafficPolicy: { portLevelSettings: [{ port: { number: 9080 }, tls: { mode: "ISTIO_MUTUAL" } }] } },
      ],
    },
    want: [
      "spec.workloadSelector",
      "spec.trafficPolicy.tunnel",
      "spec.subsets[0].trafficPolicy.proxyProtocol",
      "spec.trafficPolicy.retryBudget.budgetInterval",
      "spec.trafficPolicy.connectionPool.tcp.maxConnectionDuration",
      "spec.trafficPolicy.connectionPool.tcp.tcpKeepalive",
      "spec.trafficPolicy.connectionPool.http.http2KeepAlive",
      "spec.trafficPolicy.connectionPool.http.maxConcurrentStreams",
      "spec.trafficPolicy.loadBalancer.zoneAwareLbSetting",
      "spec.trafficPolicy.portLevelSettings[0].loadBalancer.consistentHash.useSourceIp",
    ],
  },
  {
    name: "DestinationRule: useSourceIp false is not reported",
    kind: "DestinationRule",
    spec: { host: "reviews", trafficPolicy: { loadBalancer: { consistentHash: { useSourceIp: false } } } },
    want: [],
  },

  // Gateway
  {
    name: "Gateway: HTTP, and SIMPLE/MUTUAL TLS from files, are enforced",
    kind: "Gateway",
    spec: {
      selector: { istio: "ingressgateway" },
      servers: [
        { port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"], tls: { httpsRedirect: true } },
        { port: { number: 443, name: "https", protocol: "HTTPS" }, hosts: ["a.example.com"], tls: { mode: "SIMPLE", minProtocolVersion: "TLS_AUTO", ...FILES } },
        { port: { number: 8443, name: "mtls", protocol: "HTTPS" }, hosts: ["b.example.com"], tls: { mode: "MUTUAL", caCertificates: "/ca.pem", subjectAltNames: ["client"], ...FILES } },
      ],
    },
    want: [],
  },
  { name: "Gateway: no selector", kind: "Gateway", spec: { servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] }, want: ["spec.selector"] },
  { name: "Gateway: an empty selector", kind: "Gateway", spec: { selector: {}, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] }, want: ["spec.selector"] },
  { name: "Gateway: ISTIO_MUTUAL is enforced (the gateway's mesh certificate)", kind: "Gateway", spec: tlsServer({ mode: "ISTIO_MUTUAL" }), want: [] },
  { name: "Gateway: AUTO_PASSTHROUGH", kind: "Gateway", spec: { selector: { istio: "eastwest" }, servers: [{ port: { number: 15443, name: "tls", protocol: "TLS" }, hosts: ["*.local"], tls: { mode: "AUTO_PASSTHROUGH" } }] }, want: ["spec.servers[0].tls.mode"] },
  { name: "Gateway: OPTIONAL_MUTUAL is enforced", kind: "Gateway", spec: tlsServer({ mode: "OPTIONAL_MUTUAL", caCertificates: "/ca.pem", ...FILES }), want: [] },
  { name: "Gateway: credentialName is served (issue 13)", kind: "Gateway", spec: tlsServer({ mode: "SIMPLE", credentialName: "httpbin-credential" }), want: [] },
  {
    name: "Gateway: TLS versions, ciphers, CRL and pinning are enforced; insecureSkipVerify and several certificates are not",
    kind: "Gateway",
    spec: tlsServer({
      mode: "MUTUAL",
      caCertificates: "/ca.pem",
      caCrl: "/crl.pem",
      minProtocolVersion: "TLSV1_2",
      cipherSuites: ["ECDHE-RSA-AES256-GCM-SHA384"],
      verifyCertificateHash: ["AB:CD"],
      insecureSkipVerify: true,
      tlsCertificates: [FILES, { serverCertificate: "/c2.pem", privateKey: "/k2.pem" }],
    }),
    want: [
      "spec.servers[0].tls.insecureSkipVerify",
      "spec.servers[0].tls.tlsCertificates",
    ],
  },

  // ServiceEntry, WorkloadEntry, WorkloadGroup, Sidecar
  {
    name: "ServiceEntry: STATIC endpoints with weights and localities are enforced",
    kind: "ServiceEntry",
    spec: { hosts: ["db.example.com"], ports: [{ number: 5432, name: "tcp", protocol: "TCP" }], resolution: "STATIC", endpoints: [{ address: "10.0.0.1", weight: 2, locality: "r/z" }] },
    want: [],
  },
  {
    name: "ServiceEntry: DYNAMIC_DNS",
    kind: "ServiceEntry",
    spec: { hosts: ["*.example.com"], ports: [{ number: 80, name: "http", protocol: "HTTP" }], resolution: "DYNAMIC_DNS" },
    want: ["spec.resolution"],
  },
  {
    name: "ServiceEntry: a Unix socket endpoint and a network",
    kind: "ServiceEntry",
    spec: { hosts: ["local.example"], ports: [{ number: 80, name: "http", protocol: "HTTP" }], resolution: "STATIC", endpoints: [{ address: "unix:///var/run/a.sock" }, { address: "10.0.0.2", network: "net2" }] },
    want: ["spec.endpoints[0].address", "spec.endpoints[1].network"],
  },
  { name: "WorkloadEntry: an address with labels and ports is enforced", kind: "WorkloadEntry", spec: { address: "127.0.0.9", labels: { app: "a" }, ports: { http: 8080 }, serviceAccount: "a", weight: 3 }, want: [] },
  { name: "WorkloadEntry: a Unix socket address and a network", kind: "WorkloadEntry", spec: { address: "unix:///var/run/a.sock", network: "net2" }, want: ["spec.address", "spec.network"] },
  {
    name: "WorkloadGroup: probe and template network",
    kind: "WorkloadGroup",
    spec: { metadata: { labels: { app: "vm" } }, template: { serviceAccount: "vm", network: "vm-net" }, probe: { httpGet: { port: 8080, path: "/ready" } } },
    want: ["spec.probe", "spec.template.network"],
  },
  { name: "WorkloadGroup: template only is enforced", kind: "WorkloadGroup", spec: { template: { labels: { app: "vm" }, ports: { http: 8080 } } }, want: [] },
  {
    name: "Sidecar: egress hosts, ingress listeners and an egress proxy are enforced; ingress TLS only where PeerAuthentication is DISABLE",
    kind: "Sidecar",
    spec: {
      egress: [{ hosts: ["./*", "istio-system/*"] }],
      ingress: [
        { port: { number: 9080, name: "http", protocol: "HTTP" }, defaultEndpoint: "127.0.0.1:9080" },
        { port: { number: 9443, name: "https", protocol: "HTTPS" }, defaultEndpoint: "127.0.0.1:9443", tls: { mode: "SIMPLE", ...FILES } },
      ],
      outboundTrafficPolicy: { mode: "ALLOW_ANY", egressProxy: { host: "egress.example.com", port: { number: 3128 } } },
    },
    want: ["spec.ingress[1].tls"],
  },
  // Kubernetes Services: read as istiod's kube registry reads them; the rest of the Service is reported.
  { name: "Service: bookinfo-versions' (selector, named port) is enforced", kind: "Service", spec: { ports: [{ name: "http", port: 9080 }], selector: { app: "reviews", version: "v1" }, clusterIP: "10.96.0.9" }, want: [] },
  { name: "Service: ExternalName", kind: "Service", spec: { type: "ExternalName", externalName: "example.com" }, want: ["spec.type"] },
  {
    name: "Service: a LoadBalancer's outside-facing settings, ClientIP affinity, dual stack, traffic distribution",
    kind: "Service",
    spec: {
      type: "LoadBalancer",
      ports: [{ name: "http", port: 80, nodePort: 30080 }],
      selector: { app: "web" },
      externalIPs: ["192.0.2.1"],
      loadBalancerIP: "192.0.2.2",
      loadBalancerSourceRanges: ["10.0.0.0/8"],
      loadBalancerClass: "x",
      externalTrafficPolicy: "Local",
      healthCheckNodePort: 31000,
      sessionAffinity: "ClientIP",
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
      trafficDistribution: "PreferClose",
      ipFamilies: ["IPv4"],
      ipFamilyPolicy: "SingleStack",
    },
    want: [
      "spec.type",
      "spec.ports[0].nodePort",
      "spec.externalIPs",
      "spec.loadBalancerIP",
      "spec.loadBalancerSourceRanges",
      "spec.loadBalancerClass",
      "spec.externalTrafficPolicy",
      "spec.healthCheckNodePort",
      "spec.sessionAffinity",
      "spec.trafficDistribution",
      "spec.ipFamilies",
      "spec.ipFamilyPolicy",
    ],
  },
];

describe("resources: what is reported as not enforced", () => {
  for (const c of CASES) {
    it(c.name, () => assert.deepEqual(reported(c.kind, c.spec), c.want));
  }
});

/** `[…]` indexes and keys back to the table's pattern form, to tell which entry a path came from. */
function patternOf(path: string): string {
  return path.replace(/\[\d+\]/g, "[]").replace(/\[[^\]]+\]/g, "{}");
}

test("every entry of the table is exercised by a case above", () => {
  const hit = new Set<string>();
  for (const c of CASES) for (const p of c.want) hit.add(p === "" ? `${c.kind}` : `${c.kind} ${patternOf(p)}`);
  for (const [kind, e] of Object.entries(ENFORCEMENT)) {
    if (kind === MESH_CONFIG) continue; // the mesh config's own test below
    if ("wholeKind" in e) assert.ok(hit.has(kind), `${kind}: no case`);
    else for (const f of e.fields) assert.ok(f.paths.some((p) => hit.has(`${kind} ${p}`)), `${kind} ${f.paths[0]}: no case`);
  }
});

/** The schema node a pattern leads to in a CRD, or undefined when a segment names no field. */
function schemaAt(schema: OpenApiSchema, pattern: string): OpenApiSchema | undefined {
  let s: OpenApiSchema | undefined = schema;
  for (const seg of parsePattern(pattern)) {
    if (!s) return undefined;
    if ("field" in seg) s = s.properties?.[seg.field];
    else if (seg.each === "item") s = s.items;
    else if (seg.each === "key") s = typeof s.additionalProperties === "object" ? s.additionalProperties : undefined;
    else return undefined;
  }
  return s;
}

test("every path in the table is a field of its kind's CRD (a typo would never match)", () => {
  for (const [kind, e] of Object.entries(ENFORCEMENT)) {
    if (kind === MESH_CONFIG || "wholeKind" in e) continue;
    const info = kinds().get(kind);
    assert.ok(info, kind);
    for (const p of (e.fields as readonly FieldGap[]).flatMap((f) => f.paths)) assert.ok(schemaAt(info.schema, p), `${kind}: ${p} is not in the CRD`);
  }
});

test("every Istio kind tsmesh reads has an entry", () => {
  assert.deepEqual(Object.keys(ENFORCEMENT).filter((k) => k !== MESH_CONFIG).sort(), [...kinds().keys()].sort());
});

test("mesh config: the fields tsmesh reads are not reported; everything else is, by its own name", () => {
  const uses = (mesh: unknown) => meshConfigNotEnforced(mesh).map((u) => u.path);
  assert.deepEqual(
    uses({
      outboundTrafficPolicy: { mode: "REGISTRY_ONLY" },
      connectTimeout: "1s",
      localityLbSetting: { enabled: false },
      rootNamespace: "istio-config",
      trustDomain: "cluster.local",
      enableAutoMtls: false,
      trustDomainAliases: ["old-td"],
      extensionProviders: [{ name: "authz", envoyExtAuthzHttp: { service: "a.b", port: 80 } }, { name: "g", envoyExtAuthzGrpc: { service: "a.b", port: 81 } }],
    }),
    [],
  );
  // Telemetry providers tsmesh generates are read; the others are kept by name (CUSTOM may name them) and reported.
  assert.deepEqual(
    uses({
      extensionProviders: [
        { name: "authz", envoyExtAuthzHttp: { service: "a.b", port: 80 } },
        { name: "otel", opentelemetry: { service: "o", port: 4317 } },
        { name: "z", zipkin: { service: "z", port: 9411 } },
        { name: "log", envoyFileAccessLog: { path: "/dev/stdout" } },
        { name: "prom", prometheus: {} },
        { name: "sd", stackdriver: {} },
        { name: "als", envoyHttpAls: { service: "a", port: 1 } },
      ],
    }),
    ["extensionProviders[5].stackdriver", "extensionProviders[6].envoyHttpAls"],
  );
  assert.deepEqual(
    uses({
      accessLogFile: "/dev/stdout",
      enableTracing: true,
      defaultConfig: { concurrency: 2, gatewayTopology: { numTrustedProxies: 1, forwardClientCertDetails: "SANITIZE" }, tracing: { sampling: 10, tlsSettings: {} } },
      meshMTLS: { minProtocolVersion: "TLSV1_3" },
      trustDomain: "example.org",
      outboundTrafficPolicy: { mode: "ALLOW_ANY", egressProxy: { host: "e" } },
      localityLbSetting: { enabled: true, failover: [{ from: "a", to: "b" }] },
      ingressClass: "istio",
    }),
    ["defaultConfig.concurrency", "defaultConfig.tracing.tlsSettings", "defaultConfig.gatewayTopology.forwardClientCertDetails", "meshMTLS", "outboundTrafficPolicy.egressProxy", "localityLbSetting.failover", "ingressClass"],
  );
  // protojson's snake_case names are the same fields.
  assert.deepEqual(uses({ access_log_file: "/dev/stdout", connect_timeout: "1s", default_config: { concurrency: 2 } }), ["defaultConfig.concurrency"]);
  assert.deepEqual(uses(null), []);
});

test("a ConfigMap istio-system/istio reports its data.mesh fields; other ConfigMaps report nothing", () => {
  const cm = (ns: string, name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}, namespace: ${ns}}\ndata:\n  mesh: |\n    defaultConfig: {concurrency: 2}\n    rootNamespace: istio-system\n`;
  const paths = (text: string) => validateDocument(parseDocuments(text, "cm.yaml")[0]).result.diagnostics.map((d) => `${d.code} ${d.path}`);
  assert.deepEqual(paths(cm("istio-system", "istio")), ["TSMESH_NOT_ENFORCED data.mesh.defaultConfig.concurrency"]);
  assert.deepEqual(paths(cm("default", "istio")), []);
  assert.deepEqual(paths(cm("istio-system", "other")), []);
  assert.deepEqual(paths("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\ndata:\n  mesh: '[unclosed'\n"), [], "malformed mesh YAML is the control plane's error to report");
});

test("one console line per resource: paths grouped by reason", () => {
  const [doc] = parseDocuments(
    JSON.stringify(
      resource("DestinationRule", {
        host: "r",
        workloadSelector: { matchLabels: { app: "r" } },
        trafficPolicy: { proxyProtocol: { version: "V1" } },
        subsets: [{ name: "v1", trafficPolicy: { proxyProtocol: { version: "V1" } } }],
      }),
    ),
    "t.yaml",
  );
  const line = summarizeNotEnforced(validateDocument(doc).result.diagnostics);
  assert.match(line, /^not enforced yet: spec\.workloadSelector: a rule with a workloadSelector is ignored.*; spec\.trafficPolicy\.proxyProtocol, spec\.subsets\[0\]\.trafficPolicy\.proxyProtocol: no PROXY protocol/);
  assert.equal(summarizeNotEnforced([]), "");
});

test("the README lists exactly what the table holds", () => {
  const file = join(packageRoot(), "README.md");
  const readme = readFileSync(file, "utf8");
  const m = /(<!-- BEGIN not-enforced[^\n]*-->\n)([\s\S]*?)(\n<!-- END not-enforced -->)/.exec(readme);
  assert.ok(m, "README.md has no <!-- BEGIN not-enforced … --> … <!-- END not-enforced --> section");
  const want = enforcementMarkdown();
  if (m[2] !== want && process.env.UPDATE_README === "1") {
    writeFileSync(file, readme.replace(m[0], `${m[1]}${want}${m[3]}`));
    return;
  }
  const have = m[2].split("\n");
  const rows = want.split("\n");
  const missing = rows.filter((r) => !have.includes(r));
  const extra = have.filter((r) => !rows.includes(r));
  assert.ok(m[2] === want, `README.md's list differs from src/api/enforcement.ts (UPDATE_README=1 rewrites it).\nMissing:\n${missing.join("\n")}\nNot in the table:\n${extra.join("\n")}`);
});
