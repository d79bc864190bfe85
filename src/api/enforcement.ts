// What tsmesh accepts but does not enforce yet: ONE table, per kind either "not enforced at all" or
// the field paths the control plane or the proxy does not act on, each with a short reason. It is
// what `validate`, `analyze` and the control plane (so `tsmesh up`'s console) report as
// TSMESH_NOT_ENFORCED warnings, and the README's "Accepted but not enforced yet" list is generated
// from it (test/api/enforcement.test.ts keeps the two in step). When a later change enforces a kind
// or a field, it removes the entry here; nothing else has to change.
//
// Paths are written from the resource root: `[]` is every item of a list, `{}` every key of a map
// (reported as `[key]`), `*` every field of an object (reported as `.field`).
import { diagnostic, type Diagnostic } from "../core/errors.js";
import type { IstioKind } from "./resource.js";

export interface FieldGap {
  /** Where the field is (several places for the same setting, e.g. subset and port-level policies). */
  readonly paths: readonly string[];
  /**
   * Only some values are not enforced (or the field's absence is what is not honoured): the
   * condition in words, for the README, and as a test of the value (undefined when absent; an
   * absent field is tested only when its parent object exists) and of its key.
   */
  readonly when?: { readonly text: string; readonly test: (value: unknown, key: string) => boolean };
  /** What happens instead, and which issue will enforce it, in a few words. */
  readonly reason: string;
}

/** A kind not enforced at all (`wholeKind`: the reason), or the fields of it that are not. */
export type KindEnforcement = { readonly wholeKind: string } | { readonly fields: readonly FieldGap[] };

/** The Istio mesh config (MeshConfig: `--mesh-config FILE` or ConfigMap istio-system/istio `data.mesh`). */
export const MESH_CONFIG = "MeshConfig";

/** Mesh config fields the control plane reads (everything else is reported). */
const MESH_CONFIG_READ = new Set([
  "outboundTrafficPolicy",
  "connectTimeout",
  "localityLbSetting",
  "rootNamespace",
  "trustDomain",
  "enableAutoMtls",
  "trustDomainAliases",
  "extensionProviders",
  "defaultConfig",
  "accessLogFile",
  "accessLogFormat",
  "accessLogEncoding",
  "enableTracing",
  "defaultProviders",
]);

/**
 * extensionProviders kinds tsmesh does not implement (ext_authz, envoyFileAccessLog, zipkin,
 * opentelemetry and prometheus are generated); a Telemetry naming one gets nothing from it.
 */
export const UNIMPLEMENTED_PROVIDERS = ["lightstep", "datadog", "stackdriver", "opencensus", "skywalking", "envoyHttpAls", "envoyTcpAls", "envoyOtelAls", "sds"];

/** defaultConfig.tracing fields tsmesh reads. */
const PROXY_TRACING_READ = new Set(["sampling", "zipkin", "maxPathTagLength", "customTags"]);

/** DestinationRule traffic policies: the rule's and each subset's. */
const TRAFFIC_POLICY = ["spec.trafficPolicy", "spec.subsets[].trafficPolicy"];
/** …and their port-level settings, which carry connectionPool, loadBalancer, outlierDetection and tls. */
const PORT_POLICY = [...TRAFFIC_POLICY, ...TRAFFIC_POLICY.map((p) => `${p}.portLevelSettings[]`)];

function under(prefixes: readonly string[], field: string): string[] {
  return prefixes.map((p) => `${p}.${field}`);
}

/** A Gateway API address tsmesh up can honour: an IPAddress (the default type) in 127.0.0.0/8. */
function isLoopbackAddress(v: unknown): boolean {
  if (typeof v !== "object" || v === null) return false;
  const a = v as { type?: unknown; value?: unknown };
  return (a.type ?? "IPAddress") === "IPAddress" && typeof a.value === "string" && /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a.value);
}

/** A Gateway API Hostname address (a manually deployed Gateway's Service). */
function isHostnameAddress(v: unknown): boolean {
  return typeof v === "object" && v !== null && (v as { type?: unknown }).type === "Hostname";
}

/** A namespace selector that tests labels besides the namespace's name (tsmesh knows no other namespace labels). */
function usesOtherNamespaceLabels(v: unknown): boolean {
  if (typeof v !== "object" || v === null) return false;
  const sel = v as { matchLabels?: Record<string, unknown>; matchExpressions?: Array<{ key?: unknown }> };
  const keys = [...Object.keys(sel.matchLabels ?? {}), ...(sel.matchExpressions ?? []).map((e) => e.key)];
  return keys.some((k) => k !== "kubernetes.io/metadata.name");
}

/** A Gateway's infrastructure.parametersRef to a ConfigMap (the only kind istiod accepts). */
function isConfigMapRef(v: unknown): boolean {
  return typeof v === "object" && v !== null && (v as { group?: unknown }).group === "" && (v as { kind?: unknown }).kind === "ConfigMap";
}

/** The listener TLS options istiod reads (pilot/pkg/config/kube/gateway buildTLS). */
const TERMINATE_MODE = "gateway.istio.io/tls-terminate-mode";
const ISTIO_TLS_OPTIONS = new Set([TERMINATE_MODE, "gateway.istio.io/tls-cipher-suites"]);
const TERMINATE_MODES = new Set(["MUTUAL", "OPTIONAL_MUTUAL", "ISTIO_SIMPLE", "ISTIO_MUTUAL"]);

/** Route filters the conversion refuses (istiod refuses ExtensionRef too: there is nothing to refer to). */
const FILTER_GAP: FieldGap = {
  paths: ["spec.rules[].filters[].type", "spec.rules[].backendRefs[].filters[].type"],
  when: { text: "ExtensionRef", test: (v) => v === "ExtensionRef" },
  reason: "the rule is left out (the route's status says InvalidFilter)",
};

const NETWORK = "no multi-network routing (network gateways): endpoints on every network are reached directly";
const isUnix = (v: unknown): boolean => typeof v === "string" && v.startsWith("unix://");
/** A claim route key whose match has no exact, prefix or regex (a presence match on a claim). */
const isPresenceClaim = (v: unknown, key: string): boolean =>
  key.toLowerCase().startsWith("@request.auth.claims") && !(typeof v === "object" && v !== null && ["exact", "prefix", "regex"].some((k) => k in v));

export const ENFORCEMENT: { readonly [K in IstioKind | typeof MESH_CONFIG]: KindEnforcement } = {
  VirtualService: {
    fields: [
      {
        paths: ["spec.http[].match[].headers{}", "spec.http[].match[].withoutHeaders{}"],
        when: { text: "a `@request.auth.claims…` key without exact, prefix or regex", test: isPresenceClaim },
        reason: "the route is left out: Envoy's metadata matcher needs a value (Istio would emit config Envoy rejects)",
      },
      { paths: ["spec.http[].match[].statPrefix"], reason: "per-route stats are not emitted (issue 15)" },
      { paths: ["spec.http[].retries.retryRemoteLocalities"], reason: "the proxy does not prefer other localities on retries (previous_priorities)" },
      { paths: ["spec.tcp[].match[].sourceSubnet"], reason: "not matched: the rule applies whatever the source address" },
    ],
  },
  DestinationRule: {
    fields: [
      { paths: ["spec.workloadSelector"], reason: "a rule with a workloadSelector is ignored (it configures a workload's inbound traffic, not built yet)" },
      { paths: under(TRAFFIC_POLICY, "tunnel"), reason: "connections go straight to the destination, not through an HTTP CONNECT tunnel" },
      { paths: under(TRAFFIC_POLICY, "proxyProtocol"), reason: "no PROXY protocol header is sent upstream" },
      { paths: under(TRAFFIC_POLICY, "retryBudget.budgetInterval"), reason: "the budget counts active requests only (Envoy has no interval; Istio ignores it too)" },
      { paths: under(PORT_POLICY, "connectionPool.tcp.maxConnectionDuration"), reason: "the proxy does not close connections after this duration" },
      { paths: under(PORT_POLICY, "connectionPool.tcp.tcpKeepalive"), reason: "TCP keepalive is not set on upstream connections" },
      { paths: under(PORT_POLICY, "connectionPool.http.http2KeepAlive"), reason: "no HTTP/2 PING keepalive on upstream connections" },
      { paths: under(PORT_POLICY, "connectionPool.http.maxConcurrentStreams"), reason: "upstream HTTP/2 streams are limited only by the server's SETTINGS" },
      { paths: under(PORT_POLICY, "loadBalancer.zoneAwareLbSetting"), reason: "Envoy's zone-aware routing is not implemented" },
      {
        paths: under(PORT_POLICY, "loadBalancer.consistentHash.useSourceIp"),
        when: { text: "true", test: (v) => v === true },
        reason: "honoured on HTTP routes only: TCP connections are not hashed (spread at random)",
      },
    ],
  },
  Gateway: {
    fields: [
      {
        paths: ["spec.selector"],
        when: { text: "absent or empty", test: (v) => v === undefined || v === null || (typeof v === "object" && Object.keys(v).length === 0) },
        reason: "the Gateway applies to no gateway workload (Istio applies it to every one)",
      },
      { paths: ["spec.servers[].tls.mode"], when: { text: "AUTO_PASSTHROUGH", test: (v) => v === "AUTO_PASSTHROUGH" }, reason: "the server is left out (SNI-DNAT to mesh clusters for multi-network is not built)" },
      { paths: ["spec.servers[].tls.insecureSkipVerify"], when: { text: "true", test: (v) => v === true }, reason: "client certificates that fail validation are still refused" },
      {
        paths: ["spec.servers[].tls.tlsCertificates"],
        when: { text: "more than one", test: (v) => Array.isArray(v) && v.length > 1 },
        reason: "served side by side by key type (RSA beside ECDSA); two of one key type make the proxy refuse the listener (Envoy would choose between them by SNI)",
      },
    ],
  },
  ServiceEntry: {
    fields: [
      { paths: ["spec.resolution"], when: { text: "DYNAMIC_DNS", test: (v) => v === "DYNAMIC_DNS" }, reason: "no cluster is built (Envoy's dynamic forward proxy is not implemented): traffic to it fails" },
      { paths: ["spec.endpoints[].address"], when: { text: "a `unix://` socket", test: isUnix }, reason: "Unix socket endpoints are not served: the endpoint is left out" },
      { paths: ["spec.endpoints[].network"], reason: NETWORK },
    ],
  },
  WorkloadEntry: {
    fields: [
      { paths: ["spec.address"], when: { text: "a `unix://` socket", test: isUnix }, reason: "Unix socket endpoints are not served: the workload is left out of its services" },
      { paths: ["spec.network"], reason: NETWORK },
    ],
  },
  WorkloadGroup: {
    fields: [
      { paths: ["spec.probe"], reason: "health probes are not run: registered workloads always count as healthy" },
      { paths: ["spec.template.network"], reason: NETWORK },
    ],
  },
  Sidecar: {
    fields: [
      {
        paths: ["spec.ingress[].tls"],
        reason: "terminated only on ports whose PeerAuthentication mode is DISABLE, as Istio does; elsewhere the port keeps Istio's mTLS chains",
      },
    ],
  },
  // Patches apply to every proxy's generated listeners, clusters and routes (xds/gen/envoyfilter).
  EnvoyFilter: {
    fields: [
      {
        paths: ["spec.configPatches[].applyTo"],
        when: { text: "EXTENSION_CONFIG or BOOTSTRAP", test: (v) => v === "EXTENSION_CONFIG" || v === "BOOTSTRAP" },
        reason: "EXTENSION_CONFIG (tsmesh's proxy has no ECDS) and BOOTSTRAP (the bootstrap is not generated) cannot take effect: a filter with one is reported and withheld from the proxies it selects",
      },
      { paths: ["spec.configPatches[].match.waypoint"], reason: "tsmesh has no waypoint proxies: WAYPOINT-context patches match no proxy" },
    ],
  },
  ProxyConfig: { wholeKind: "proxy settings (concurrency, image, environment) are not applied" },
  // Generated as Istio's inbound filter chains (the mTLS chains use the agent's certificates over sds-grpc).
  PeerAuthentication: { fields: [] },
  // Generated as Istio's RBAC / ext_authz filters on inbound chains and gateways (src/xds/gen/authz).
  AuthorizationPolicy: {
    fields: [
      {
        paths: ["spec.targetRef.kind", "spec.targetRefs[].kind"],
        when: { text: "Service, ServiceEntry or GatewayClass", test: (v) => v !== "Gateway" },
        reason: "such targets select waypoint proxies, which tsmesh does not run: the policy applies to no workload (as Istio for sidecars and gateways)",
      },
    ],
  },
  // Generated as Istio's jwt_authn filter on inbound sidecar chains and gateways (xds/gen/authn.ts).
  RequestAuthentication: {
    fields: [
      {
        paths: ["spec.targetRef.kind", "spec.targetRefs[].kind"],
        when: { text: "Service, ServiceEntry or GatewayClass", test: (v) => v === "Service" || v === "ServiceEntry" || v === "GatewayClass" },
        reason: "the policy applies to no proxy: Istio attaches these to waypoints, which tsmesh does not run",
      },
      {
        paths: ["spec.jwtRules[].presence"],
        when: { text: "REQUIRED", test: (v) => v === "REQUIRED" },
        reason: "a request without a token still passes (istiod generates every rule with allow_missing); require one with an AuthorizationPolicy on requestPrincipals",
      },
    ],
  },
  Telemetry: {
    fields: [
      {
        paths: ["spec.tracing[].customTags{}"],
        when: { text: "a `formatter` tag", test: (v) => typeof v === "object" && v !== null && "formatter" in v },
        reason: "the tag is left out (the Envoy API tsmesh speaks has no formatter custom tags)",
      },
      {
        paths: ["spec.tracing[].disableContextPropagation"],
        when: { text: "true", test: (v) => v === true },
        reason: "trace headers are still propagated (Envoy's no_context_propagation is not in tsmesh's Envoy API)",
      },
      {
        paths: ["spec.tracing[].useRequestIdForTraceSampling"],
        when: { text: "false", test: (v) => v === false },
        reason: "the x-request-id still carries the sampling decision (Envoy's default; tsmesh generates no request_id_extension)",
      },
    ],
  },
  WasmPlugin: { wholeKind: "Wasm modules are not loaded" },
  TrafficExtension: { wholeKind: "Lua and Wasm extensions are not loaded" },
  // The Gateway API is converted to Istio Gateways and VirtualServices as istiod converts it
  // (src/model/gateway-api); what the conversion leaves out is here, what it refuses is in status.
  GatewayClass: { fields: [{ paths: ["spec.parametersRef"], reason: "not read: gateways of the class get tsmesh's defaults" }] },
  KubernetesGateway: {
    fields: [
      {
        paths: ["spec.addresses[]"],
        when: { text: "neither a Hostname nor an IPAddress in 127.0.0.0/8", test: (v) => !isLoopbackAddress(v) && !isHostnameAddress(v) },
        reason:
          "not honoured: tsmesh up gives the gateway an address of its own in 127.0.0.0/8 (status.addresses says which); beside a Hostname (manual deployment) it is ignored (Accepted=False UnsupportedAddress, as istiod)",
      },
      { paths: ["spec.infrastructure.annotations"], reason: "not applied to the gateway's proxy (its labels are)" },
      {
        paths: ["spec.infrastructure.parametersRef"],
        when: { text: "a ConfigMap", test: (v) => isConfigMapRef(v) },
        reason: "the ConfigMap's deployment settings are not read: the gateway's proxy gets tsmesh's defaults (another kind: Accepted=False InvalidParameters, as istiod)",
      },
      {
        paths: ["spec.listeners[].allowedRoutes.namespaces.selector"],
        when: { text: `using a label other than ${"`kubernetes.io/metadata.name`"}`, test: usesOtherNamespaceLabels },
        reason: "tsmesh has no Namespace objects: a namespace's only label is its name (kubernetes.io/metadata.name), so other labels match no namespace",
      },
      {
        paths: ["spec.listeners[].tls.options{}"],
        when: {
          text: "other than gateway.istio.io/tls-terminate-mode (MUTUAL, OPTIONAL_MUTUAL, ISTIO_SIMPLE or ISTIO_MUTUAL) and gateway.istio.io/tls-cipher-suites",
          test: (v, k) => !ISTIO_TLS_OPTIONS.has(k) || (k === TERMINATE_MODE && !TERMINATE_MODES.has(v as string)),
        },
        reason: "ignored, as istiod ignores it",
      },
      {
        paths: ["spec.tls.frontend.default.validation.mode", "spec.tls.frontend.perPort[].tls.validation.mode"],
        when: { text: "AllowInsecureFallback", test: (v) => v === "AllowInsecureFallback" },
        reason: "OPTIONAL_MUTUAL with insecureSkipVerify, as istiod converts it: client certificates that fail validation are still refused",
      },
      {
        paths: ["spec.tls.frontend.default.validation.caCertificateRefs[].kind", "spec.tls.frontend.perPort[].tls.validation.caCertificateRefs[].kind"],
        when: { text: "ConfigMap", test: (v) => v === "ConfigMap" },
        reason: "tsmesh reads CA bundles from Secrets (the credentials folder) only: the listener is not programmed (ResolvedRefs=False InvalidCACertificateRef)",
      },
      { paths: ["spec.tls.backend.clientCertificateRef"], reason: "checked (ResolvedRefs) but not presented: tsmesh has no BackendTLSPolicy, which originates TLS with it" },
    ],
  },
  HTTPRoute: { fields: [FILTER_GAP] },
  GRPCRoute: { fields: [FILTER_GAP] },
  TCPRoute: { fields: [] },
  TLSRoute: { fields: [] },
  ReferenceGrant: { fields: [] },
  // Read as istiod's Kubernetes registry reads it (src/registry/kube-service.ts): host, ports,
  // protocols, selector (WorkloadEntries are the pods), target ports, clusterIP, exportTo.
  Service: {
    fields: [
      {
        paths: ["spec.type"],
        when: { text: "ExternalName", test: (v) => v === "ExternalName" },
        reason: "istiod makes the Service an alias of spec.externalName (the concrete service answers for its host); tsmesh does not: the host gets no route, cluster or listener",
      },
      {
        paths: ["spec.type"],
        when: { text: "NodePort or LoadBalancer", test: (v) => v === "NodePort" || v === "LoadBalancer" },
        reason: "served as a ClusterIP Service: no node port or load balancer is opened (tsmesh up has no nodes)",
      },
      {
        paths: ["spec.ports[].nodePort", "spec.externalIPs", "spec.loadBalancerIP", "spec.loadBalancerSourceRanges", "spec.loadBalancerClass", "spec.externalTrafficPolicy", "spec.healthCheckNodePort"],
        reason: "not read: traffic from outside the mesh reaches it only through a gateway",
      },
      {
        paths: ["spec.sessionAffinity"],
        when: { text: "ClientIP", test: (v) => v === "ClientIP" },
        reason: "not applied (nor by Istio's sidecars): requests are balanced as the DestinationRule says (consistentHash useSourceIp for affinity)",
      },
      { paths: ["spec.trafficDistribution"], reason: "not applied: endpoints are weighted by locality as the DestinationRule says" },
      { paths: ["spec.ipFamilies", "spec.ipFamilyPolicy"], reason: "not read: tsmesh up's workloads have IPv4 loopback addresses" },
    ],
  },
  [MESH_CONFIG]: {
    fields: [
      { paths: UNIMPLEMENTED_PROVIDERS.map((k) => `extensionProviders[].${k}`), reason: "no config is generated for this provider kind (tsmesh implements envoyExtAuthzHttp/Grpc, envoyFileAccessLog, zipkin, opentelemetry, prometheus)" },
      {
        paths: ["extensionProviders[].zipkin.traceContextOption", "extensionProviders[].zipkin.timeout", "extensionProviders[].zipkin.headers", "extensionProviders[].opentelemetry.resourceDetectors", "extensionProviders[].opentelemetry.dynatraceSampler"],
        reason: "not applied (tsmesh generates the Zipkin and OpenTelemetry tracers' core settings only)",
      },
      {
        paths: ["defaultConfig.*"],
        when: { text: "other than gatewayTopology and tracing", test: (_v, k) => k !== "gatewayTopology" && k !== "tracing" },
        reason: "proxy settings are not applied",
      },
      {
        paths: ["defaultConfig.tracing.*"],
        when: { text: "other than sampling, zipkin, maxPathTagLength, custom_tags", test: (_v, k) => !PROXY_TRACING_READ.has(k) },
        reason: "not applied (tracing providers are configured with extensionProviders and Telemetry)",
      },
      {
        paths: ["defaultConfig.gatewayTopology.*"],
        when: { text: "other than numTrustedProxies", test: (_v, k) => k !== "numTrustedProxies" },
        reason: "gateways read only numTrustedProxies (xff_num_trusted_hops)",
      },
      { paths: ["meshMTLS"], reason: "the mesh's mTLS uses Istio's defaults (TLS 1.2+)" },
      { paths: ["outboundTrafficPolicy.*"], when: { text: "other than mode", test: (_v, k) => k !== "mode" }, reason: "not applied" },
      { paths: ["localityLbSetting.*"], when: { text: "other than enabled", test: (_v, k) => k !== "enabled" }, reason: "mesh-wide failover and distribute are not applied (set them in a DestinationRule)" },
      {
        paths: ["*"],
        when: { text: "any other field", test: (_v, k) => !MESH_CONFIG_READ.has(k) && !NAMED_MESH_FIELDS.has(k) },
        reason: "not read by tsmesh",
      },
    ],
  },
};

/** Top-level mesh config fields with an entry of their own (the catch-all leaves them to it). */
const NAMED_MESH_FIELDS: ReadonlySet<string> = new Set(
  (ENFORCEMENT[MESH_CONFIG] as { fields: readonly FieldGap[] }).fields.flatMap((f) => f.paths).filter((p) => /^[A-Za-z]+$/.test(p)),
);

// ---------------------------------------------------------------------------------------------
// Detection

/** One place a resource (or mesh config) uses what is not enforced. */
export interface NotEnforcedUse {
  /** Concrete field path (`spec.subsets[1].trafficPolicy.tls.mode`); "" for the whole resource. */
  path: string;
  reason: string;
}

type Segment = { field: string } | { each: "item" | "key" | "field" };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `spec.http[].match[].headers{}` → field spec, field http, each item, field match, each item, field headers, each key. */
export function parsePattern(pattern: string): Segment[] {
  const out: Segment[] = [];
  for (const part of pattern.split(".")) {
    const m = /^([A-Za-z0-9_@-]*)(\[\]|\{\})?$/.exec(part);
    if (part === "*") out.push({ each: "field" });
    else if (!m || (m[1] === "" && !m[2])) throw new Error(`bad enforcement path ${JSON.stringify(pattern)}`);
    else {
      if (m[1]) out.push({ field: m[1] });
      if (m[2]) out.push({ each: m[2] === "[]" ? "item" : "key" });
    }
  }
  return out;
}

/**
 * A kind's patterns as a trie, so a resource is walked once whatever the number of entries (the
 * DestinationRule's share `spec.trafficPolicy` and `spec.subsets[]`): this runs on every document
 * a config folder loads.
 */
interface TrieNode {
  /** Child by segment: a field name, or "[]", "{}", "*" for every item, key or field. */
  readonly children: Map<string, TrieNode>;
  readonly segment: Segment;
  /** Entries whose pattern ends here, with their position in the table (for the order of reports). */
  readonly ends: Array<{ gap: FieldGap; order: number }>;
}

function edge(seg: Segment): string {
  return "field" in seg ? seg.field : seg.each === "item" ? "[]" : seg.each === "key" ? "{}" : "*";
}

const tries = new Map<string, TrieNode>();

function trieFor(kind: string, fields: readonly FieldGap[]): TrieNode {
  let root = tries.get(kind);
  if (root) return root;
  root = { children: new Map(), segment: { each: "field" }, ends: [] };
  fields.forEach((gap, order) => {
    for (const p of gap.paths) {
      let node = root!;
      for (const seg of parsePattern(p)) {
        const key = edge(seg);
        let next = node.children.get(key);
        if (!next) node.children.set(key, (next = { children: new Map(), segment: seg, ends: [] }));
        node = next;
      }
      node.ends.push({ gap, order });
    }
  });
  tries.set(kind, root);
  return root;
}

function join(path: string, field: string): string {
  return path ? `${path}.${field}` : field;
}

type Found = NotEnforcedUse & { order: number };

/** Visits `child` (reached by its segment from `value`'s container): its entries, then deeper. */
function visit(child: TrieNode, value: unknown, key: string, path: string, out: Found[]): void {
  for (const { gap, order } of child.ends) {
    if (gap.when ? gap.when.test(value, key) : value !== undefined && value !== null) out.push({ path, reason: gap.reason, order });
  }
  if (child.children.size > 0 && value !== undefined && value !== null) walk(child, value, path, out);
}

function walk(node: TrieNode, value: unknown, path: string, out: Found[]): void {
  for (const child of node.children.values()) {
    const seg = child.segment;
    if ("field" in seg) {
      // An absent field is still visited (for `when` tests on absence) when its parent is an object.
      if (isObject(value)) visit(child, value[seg.field], seg.field, join(path, seg.field), out);
    } else if (seg.each === "item") {
      if (Array.isArray(value)) value.forEach((v, j) => visit(child, v, String(j), `${path}[${j}]`, out));
    } else if (isObject(value)) {
      for (const [k, v] of Object.entries(value)) visit(child, v, k, seg.each === "key" ? `${path}[${k}]` : join(path, k), out);
    }
  }
}

/** Where `root` (a resource of `kind`, or a mesh config) uses what is not enforced, in table order; [] when nothing. */
export function notEnforcedUses(kind: string, root: unknown): NotEnforcedUse[] {
  const e = (ENFORCEMENT as Record<string, KindEnforcement | undefined>)[kind];
  if (!e) return [];
  if ("wholeKind" in e) return [{ path: "", reason: e.wholeKind }];
  const found: Found[] = [];
  walk(trieFor(kind, e.fields), root, "", found);
  return found.sort((a, b) => a.order - b.order).map(({ path, reason }) => ({ path, reason }));
}

/** A use as a TSMESH_NOT_ENFORCED warning; `prefix` places a mesh config inside its document (`data.mesh`). */
export function notEnforcedDiagnostic(u: NotEnforcedUse, prefix = ""): Diagnostic {
  return diagnostic("TSMESH_NOT_ENFORCED", prefix && u.path ? `${prefix}.${u.path}` : prefix || u.path, `not enforced yet: ${u.reason}`);
}

/** The TSMESH_NOT_ENFORCED warnings for one valid resource. */
export function notEnforcedDiagnostics(resource: { kind: string }): Diagnostic[] {
  return notEnforcedUses(resource.kind, resource).map((u) => notEnforcedDiagnostic(u));
}

/** protojson reads snake_case field names too: mesh config keys as camelCase, for matching. */
function camelKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(camelKeys);
  if (!isObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = camelKeys(x);
  return out;
}

/** Where a mesh config (the parsed YAML mapping) uses what tsmesh does not enforce. */
export function meshConfigNotEnforced(mesh: unknown): NotEnforcedUse[] {
  return notEnforcedUses(MESH_CONFIG, camelKeys(mesh));
}

/**
 * One line for a resource's warnings (the control plane's console): the paths grouped by reason,
 * `spec.a, spec.b: reason; spec.c: reason` (just the reason for a kind not enforced at all).
 */
export function summarizeNotEnforced(diags: readonly Diagnostic[]): string {
  const byReason = new Map<string, string[]>();
  for (const d of diags) {
    if (d.code !== "TSMESH_NOT_ENFORCED") continue;
    const list = byReason.get(d.message) ?? [];
    if (d.path) list.push(d.path);
    byReason.set(d.message, list);
  }
  const parts = [...byReason].map(([message, paths]) => {
    const reason = message.replace(/^not enforced yet: /, "");
    return paths.length > 0 ? `${paths.join(", ")}: ${reason}` : reason;
  });
  return parts.length > 0 ? `not enforced yet: ${parts.join("; ")}` : "";
}

// ---------------------------------------------------------------------------------------------
// The README's list

/** The README section's table, generated from ENFORCEMENT (a test keeps README.md in step). */
export function enforcementMarkdown(): string {
  const cell = (s: string) => s.replace(/\|/g, "\\|");
  const rows = ["| Kind | Field | When | What happens instead |", "|---|---|---|---|"];
  for (const [kind, e] of Object.entries(ENFORCEMENT) as Array<[string, KindEnforcement]>) {
    if ("wholeKind" in e) {
      rows.push(`| ${kind} | (the whole kind) | always | ${cell(e.wholeKind)} |`);
      continue;
    }
    for (const f of e.fields) {
      rows.push(`| ${kind} | ${f.paths.map((p) => `\`${p}\``).join("<br>")} | ${cell(f.when?.text ?? "set")} | ${cell(f.reason)} |`);
    }
  }
  return rows.join("\n");
}
