// Builders for the pieces of an Envoy listener that Istio's listener code assembles
// (pilot/pkg/networking/core/listener_builder.go buildHTTPConnectionManager, networkfilter.go,
// pilot/pkg/xds/filters): the HTTP connection manager with Istio's HTTP filter order, tcp_proxy,
// listener filters (tls_inspector, http_inspector, original_dst), and "filter chain options" — the
// intermediate form Istio's builders pass around before a chain becomes an Envoy FilterChain.
import { anyOf, duration } from "../../envoy/protos.js";
import type { HcmTelemetry } from "./telemetry/index.js";
import type {
  AccessLog,
  Address,
  ConfigSource,
  DownstreamTlsContext,
  Duration,
  FilterChain,
  FilterChainMatch,
  HttpConnectionManager,
  HttpFilter,
  ListenerFilter,
  ListenerFilterChainMatchPredicate,
  Metadata,
  NetworkFilter,
  RouteConfiguration,
  TcpProxy,
  TransportSocket,
} from "../../envoy/types.js";

// ---- well-known names (Istio's pkg/wellknown) ----
export const HTTP_CONNECTION_MANAGER = "envoy.filters.network.http_connection_manager";
export const TCP_PROXY = "envoy.filters.network.tcp_proxy";
export const TLS_INSPECTOR = "envoy.filters.listener.tls_inspector";
export const HTTP_INSPECTOR = "envoy.filters.listener.http_inspector";
export const ORIGINAL_DST = "envoy.filters.listener.original_dst";
export const TRANSPORT_SOCKET_TLS = "envoy.transport_sockets.tls";
export const FAULT_FILTER = "envoy.filters.http.fault";
export const CORS_FILTER = "envoy.filters.http.cors";
export const ROUTER_FILTER = "envoy.filters.http.router";

const HCM_TYPE = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const TCP_PROXY_TYPE = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
export const DOWNSTREAM_TLS_CONTEXT_TYPE = "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";

// ---- Istio's filter chain names (pilot/pkg/model, networking/util) ----
export const PASSTHROUGH_FILTER_CHAIN = "PassthroughFilterChain";
export const VIRTUAL_OUTBOUND_CATCH_ALL_TCP_CHAIN = "virtualOutbound-catchall-tcp";
export const VIRTUAL_OUTBOUND_BLACKHOLE_CHAIN = "virtualOutbound-blackhole";
export const VIRTUAL_INBOUND_CATCH_ALL_HTTP_CHAIN = "virtualInbound-catchall-http";
export const VIRTUAL_INBOUND_BLACKHOLE_CHAIN = "virtualInbound-blackhole";

/** Transport protocols a FilterChainMatch can name (set by tls_inspector; "raw_buffer" otherwise). */
export const RAW_BUFFER = "raw_buffer";
export const TLS_TRANSPORT = "tls";

/**
 * ALPN values the http_inspector reports for plaintext HTTP (Istio's plaintextHTTPALPNs). HTTP/1.0
 * is left out as Istio does unless HTTP/1.0 is accepted: matching it would send 1.0 requests to an
 * HCM that rejects them instead of letting them pass through as TCP.
 */
export const PLAINTEXT_HTTP_ALPNS: readonly string[] = ["http/1.1", "h2c"];
/** ALPN a gateway offers when it terminates TLS for HTTP (Istio's util.ALPNHttp). */
export const ALPN_HTTP: readonly string[] = ["h2", "http/1.1"];

/** google.protobuf.Duration of zero: an empty message (writing `seconds: 0` would not survive a round trip). */
export function zeroDuration(): Duration {
  return {};
}


/** envoy.config.core.v3.Address for `ip:port`. */
export function socketAddress(address: string, port: number): Address {
  return { socketAddress: { address, portValue: port } };
}

/** ConfigSource for RDS/SDS over ADS, as Istio writes it. */
export function adsConfigSource(initialFetchTimeout: boolean): ConfigSource {
  return initialFetchTimeout ? { ads: {}, initialFetchTimeout: zeroDuration(), resourceApiVersion: "V3" } : { ads: {}, resourceApiVersion: "V3" };
}

// ---- listener filters ----

type ListenerFilterType =
  | "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
  | "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"
  | "envoy.extensions.filters.listener.original_dst.v3.OriginalDst";

function listenerFilter(name: string, typeName: ListenerFilterType): ListenerFilter {
  return { name, typedConfig: anyOf(typeName, {}) };
}

export function tlsInspector(): ListenerFilter {
  return listenerFilter(TLS_INSPECTOR, "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector");
}

export function httpInspector(): ListenerFilter {
  return listenerFilter(HTTP_INSPECTOR, "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector");
}

export function originalDst(): ListenerFilter {
  return listenerFilter(ORIGINAL_DST, "envoy.extensions.filters.listener.original_dst.v3.OriginalDst");
}

/**
 * A ListenerFilterChainMatchPredicate that is true for every destination port in `ports` (Istio's
 * listenerPredicateExcludePorts, used as `filterDisabled`: the filter is skipped on those ports).
 */
export function portsPredicate(ports: readonly number[]): ListenerFilterChainMatchPredicate {
  const rules = ports.map((p) => ({ destinationPortRange: { start: p, end: p + 1 } }));
  return rules.length > 1 ? { orMatch: { rules } } : rules[0];
}

// ---- HTTP connection manager ----

/** Istio's standard HTTP filters after the policy filters: fault and CORS (route-level configs need them), router last. */
export function standardHttpFilters(): HttpFilter[] {
  return [
    { name: FAULT_FILTER, typedConfig: anyOf("envoy.extensions.filters.http.fault.v3.HTTPFault", {}) },
    { name: CORS_FILTER, typedConfig: anyOf("envoy.extensions.filters.http.cors.v3.Cors", {}) },
    { name: ROUTER_FILTER, typedConfig: anyOf("envoy.extensions.filters.http.router.v3.Router", {}) },
  ];
}

/** Which Istio listener class an HCM serves; decides header handling (Istio's GetProxyHeaders). */
export type HcmClass = "sidecar-outbound" | "sidecar-inbound" | "gateway";

export interface HcmOptions {
  class: HcmClass;
  statPrefix: string;
  /** RDS route configuration name (outbound, gateways). */
  rds?: string;
  /** Inline route configuration (sidecar inbound). */
  routeConfig?: RouteConfiguration;
  /** Upstream protocol is HTTP/2 (inbound HTTP2/gRPC ports get http2ProtocolOptions). */
  http2?: boolean;
  /** Node metadata IDLE_TIMEOUT in ms (commonHttpProtocolOptions.idleTimeout). */
  idleTimeoutMs?: number;
  /** Policy filters (jwt_authn, rbac, ext_authz: policy-filters.ts), before fault, cors and router. */
  policyFilters?: readonly HttpFilter[];
  /** Gateways: xff_num_trusted_hops (ProxyConfig gatewayTopology.numTrustedProxies). */
  xffNumTrustedHops?: number;
  /** Telemetry (telemetry/index.ts): metadata exchange first, istio.stats before the router, access_log, tracing. */
  telemetry?: HcmTelemetry;
}

/**
 * The HttpConnectionManager as Istio's buildHTTPConnectionManager writes it: codec AUTO (default),
 * KEEP_UNCHANGED escaped slashes with path normalization on, websocket upgrades, no stream idle
 * timeout, RDS over ADS with no initial fetch timeout, filters fault → cors → router. Sidecar
 * outbound leaves the server name unset (Envoy's "envoy", as Istio does); inbound and gateways say
 * "istio-envoy". Gateways trust the remote address and sanitize client-cert headers; inbound appends
 * them (APPEND_FORWARD). Istio's request_id_extension (UUID, use_request_id_for_trace_sampling) is
 * left out: the uuid extension's proto is not in the schema tsmesh encodes with, and Envoy uses that
 * same extension by default.
 */
export function httpConnectionManager(o: HcmOptions): NetworkFilter {
  const hcm: HttpConnectionManager = { statPrefix: o.statPrefix };
  if (o.rds !== undefined) {
    hcm.rds = { configSource: adsConfigSource(true), routeConfigName: o.rds };
  } else if (o.routeConfig) {
    hcm.routeConfig = o.routeConfig;
  }
  const t = o.telemetry;
  // Istio's order: metadata exchange, policy filters, fault, cors, istio.stats, router.
  const std = standardHttpFilters();
  hcm.httpFilters = [...(t?.metadataExchange ? [t.metadataExchange] : []), ...(o.policyFilters ?? []), ...std.slice(0, -1), ...(t?.stats ?? []), ...std.slice(-1)];
  if (t && t.accessLog.length > 0) hcm.accessLog = [...t.accessLog];
  if (t?.tracing) hcm.tracing = t.tracing;
  if (o.class === "gateway") {
    hcm.serverName = "istio-envoy";
    hcm.forwardClientCertDetails = "SANITIZE_SET";
    hcm.setCurrentClientCertDetails = { subject: { value: true }, cert: true, dns: true, uri: true };
    hcm.httpProtocolOptions = {};
    hcm.useRemoteAddress = { value: true };
    if (o.xffNumTrustedHops) hcm.xffNumTrustedHops = o.xffNumTrustedHops;
  } else {
    if (o.class === "sidecar-inbound") {
      hcm.serverName = "istio-envoy";
      hcm.forwardClientCertDetails = "APPEND_FORWARD";
      hcm.setCurrentClientCertDetails = { subject: { value: true }, dns: true, uri: true };
    }
    hcm.useRemoteAddress = { value: false };
  }
  if (o.http2) hcm.http2ProtocolOptions = {};
  if (o.idleTimeoutMs !== undefined) hcm.commonHttpProtocolOptions = { idleTimeout: duration(o.idleTimeoutMs) };
  hcm.upgradeConfigs = [{ upgradeType: "websocket" }];
  hcm.streamIdleTimeout = zeroDuration();
  hcm.normalizePath = { value: true };
  hcm.pathWithEscapedSlashesAction = "KEEP_UNCHANGED";
  return { name: HTTP_CONNECTION_MANAGER, typedConfig: anyOf(HCM_TYPE, hcm) };
}

/**
 * The route configuration an inbound HCM carries inline (Istio's buildSidecarInboundHTTPRouteConfig
 * + BuildDefaultHTTPInboundRoute): one `*` virtual host `inbound|http|SERVICEPORT`, one route to the
 * inbound cluster with timeouts off and a retry of resets before the request reached the app.
 */
export function inboundRouteConfig(clusterName: string, servicePort: number, traceOperation: string): RouteConfiguration {
  return {
    name: clusterName,
    virtualHosts: [
      {
        name: `inbound|http|${servicePort}`,
        domains: ["*"],
        routes: [
          {
            name: "default",
            match: { prefix: "/" },
            route: {
              cluster: clusterName,
              timeout: zeroDuration(),
              retryPolicy: { retryOn: "reset-before-request", numRetries: { value: 2 } },
              maxStreamDuration: { maxStreamDuration: zeroDuration(), grpcTimeoutHeaderMax: zeroDuration() },
            },
            decorator: { operation: traceOperation },
          },
        ],
      },
    ],
    validateClusters: { value: false },
  };
}

// ---- tcp_proxy ----

export interface WeightedCluster {
  name: string;
  weight: number;
}

export interface TcpProxyOptions {
  statPrefix: string;
  cluster?: string;
  weightedClusters?: readonly WeightedCluster[];
  idleTimeout?: Duration;
  maxDownstreamConnectionDuration?: Duration;
  /** Consistent hashing on the source IP (DestinationRule consistentHash.useSourceIp). */
  hashSourceIp?: boolean;
  accessLog?: readonly AccessLog[];
}

/** An envoy.filters.network.tcp_proxy network filter. */
export function tcpProxyFilter(o: TcpProxyOptions): NetworkFilter {
  const tp: TcpProxy = { statPrefix: o.statPrefix };
  if (o.weightedClusters) tp.weightedClusters = { clusters: o.weightedClusters.map((c) => ({ name: c.name, weight: c.weight })) };
  else tp.cluster = o.cluster;
  if (o.idleTimeout) tp.idleTimeout = o.idleTimeout;
  if (o.hashSourceIp) tp.hashPolicy = [{ sourceIp: {} }];
  if (o.maxDownstreamConnectionDuration) tp.maxDownstreamConnectionDuration = o.maxDownstreamConnectionDuration;
  if (o.accessLog && o.accessLog.length > 0) tp.accessLog = [...o.accessLog];
  return { name: TCP_PROXY, typedConfig: anyOf(TCP_PROXY_TYPE, tp) };
}

// ---- filter chain options (Istio's filterChainOpts) ----

/** An HCM to build once the listener (and so its stat prefix) is known. */
export interface HttpChainOptions {
  class: HcmClass;
  rds?: string;
  routeConfig?: RouteConfiguration;
  /** Set when the prefix is not "DIRECTION_LISTENERNAME" (gateway HTTPS servers with a name, inbound). */
  statPrefix?: string;
  http2?: boolean;
}

export interface ChainOptions {
  name?: string;
  /** SNI values (`serverNames`); a "*" among them means no SNI match. */
  sniHosts?: readonly string[];
  /** Destination CIDRs (`prefixRanges`). */
  destinationCidrs?: readonly string[];
  applicationProtocols?: readonly string[];
  transportProtocol?: string;
  destinationPort?: number;
  metadata?: Metadata;
  /** DownstreamTlsContext fields (TLS termination). */
  tlsContext?: DownstreamTlsContext;
  /** Network filters (tcp_proxy); for HTTP chains, filters placed before the HCM. */
  networkFilters?: readonly NetworkFilter[];
  http?: HttpChainOptions;
}

/** Istio's filterChainOpts.isMatchAll: nothing in the chain narrows the match. */
export function isMatchAll(c: ChainOptions): boolean {
  return (
    (!c.sniHosts || c.sniHosts.length === 0 || c.sniHosts.includes("*")) &&
    (!c.applicationProtocols || c.applicationProtocols.length === 0) &&
    !c.transportProtocol &&
    (!c.destinationCidrs || c.destinationCidrs.length === 0) &&
    c.destinationPort === undefined
  );
}

function sniSet(hosts: readonly string[] | undefined): string {
  return [...new Set((hosts ?? []).filter((h) => h !== "*"))].sort().join(",");
}

function cidrSet(cidrs: readonly string[] | undefined): string {
  const out = new Set<string>();
  for (const c of cidrs ?? []) {
    const r = cidrRange(c);
    if (r) out.add(`${maskedAddress(r.addressPrefix, r.prefixLen)}/${r.prefixLen}`);
  }
  return [...out].sort().join(",");
}

/**
 * A key equal for two chains exactly when Istio's filterChainOpts.conflictsWith says they conflict
 * (same transport, ALPN list, port, SNI set ignoring "*", and masked CIDR set).
 */
export function chainMatchKey(c: ChainOptions): string {
  return [c.transportProtocol ?? "", (c.applicationProtocols ?? []).join(","), c.destinationPort ?? "", sniSet(c.sniHosts), cidrSet(c.destinationCidrs)].join("|");
}

/** Istio's filterChainOpts.conflictsWith: the two chains would have identical matches. */
export function chainsConflict(a: ChainOptions, b: ChainOptions): boolean {
  return chainMatchKey(a) === chainMatchKey(b);
}

/** `10.0.0.0/8` or a bare address (a /32, /128 for IPv6) as a CidrRange; undefined for 0.0.0.0 and garbage. */
export function cidrRange(s: string): { addressPrefix: string; prefixLen: number } | undefined {
  const [addr, len] = s.split("/");
  if (!addr || addr === "0.0.0.0" || addr === "::") return undefined;
  const v6 = addr.includes(":");
  const prefixLen = len === undefined ? (v6 ? 128 : 32) : Number(len);
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > (v6 ? 128 : 32)) return undefined;
  return { addressPrefix: addr, prefixLen };
}

function maskedAddress(addr: string, len: number): string {
  if (addr.includes(":")) return addr; // IPv6: compared as written
  const parts = addr.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p))) return addr;
  const n = ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const m = (n & mask) >>> 0;
  return [m >>> 24, (m >>> 16) & 255, (m >>> 8) & 255, m & 255].join(".");
}

/** Istio's toFilterChainMatch; undefined for a match-all chain. */
export function filterChainMatch(c: ChainOptions): FilterChainMatch | undefined {
  if (isMatchAll(c)) return undefined;
  const m: FilterChainMatch = {};
  if (c.destinationPort !== undefined) m.destinationPort = { value: c.destinationPort };
  const ranges = (c.destinationCidrs ?? [])
    .slice()
    .sort()
    .map(cidrRange)
    .filter((r): r is { addressPrefix: string; prefixLen: number } => r !== undefined)
    .map((r) => ({ addressPrefix: r.addressPrefix, prefixLen: { value: r.prefixLen } }));
  if (ranges.length > 0) m.prefixRanges = ranges;
  if (c.sniHosts && c.sniHosts.length > 0 && !c.sniHosts.includes("*")) m.serverNames = [...c.sniHosts].sort();
  if (c.transportProtocol) m.transportProtocol = c.transportProtocol;
  if (c.applicationProtocols && c.applicationProtocols.length > 0) m.applicationProtocols = [...c.applicationProtocols];
  return m;
}

/** A DownstreamTlsContext as an envoy.transport_sockets.tls transport socket. */
export function downstreamTlsTransportSocket(tlsContext: DownstreamTlsContext): TransportSocket {
  return { name: TRANSPORT_SOCKET_TLS, typedConfig: anyOf(DOWNSTREAM_TLS_CONTEXT_TYPE, tlsContext) };
}

/** Does the chain need the TLS inspector (SNI or ALPN from a TLS context)? */
export function needsTlsInspector(c: ChainOptions): boolean {
  const alpn = c.tlsContext?.commonTlsContext?.alpnProtocols;
  return (c.sniHosts !== undefined && c.sniHosts.length > 0) || (alpn !== undefined && alpn.length > 0);
}

/**
 * Turns chain options into an Envoy FilterChain. `hcmFor` builds the HCM of an HTTP chain (it needs
 * the listener's stat prefix); `withMatch` false leaves the match out (Istio's default chains).
 */
export function buildFilterChain(c: ChainOptions, hcmFor: (h: HttpChainOptions) => NetworkFilter, withMatch = true): FilterChain {
  const chain: FilterChain = {};
  if (withMatch) {
    const m = filterChainMatch(c);
    if (m) chain.filterChainMatch = m;
  }
  const filters: NetworkFilter[] = [...(c.networkFilters ?? [])];
  if (c.http) filters.push(hcmFor(c.http));
  chain.filters = filters;
  if (c.tlsContext) chain.transportSocket = downstreamTlsTransportSocket(c.tlsContext);
  if (c.metadata) chain.metadata = c.metadata;
  if (c.name) chain.name = c.name;
  return chain;
}
