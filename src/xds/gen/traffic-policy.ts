// DestinationRule traffic policy → Envoy cluster fields (Istio's cluster_traffic_policy.go and
// cluster_tls.go): which policy applies to a cluster (top level, port level, subset), connection
// pool → circuit breakers / protocol options, outlier detection, load balancer; and consistent
// hashing → route hash policies (route.go), which the route generator imports. Upstream TLS (the
// `tls` setting) is cluster-tls.ts'.
import type { Subset, TrafficPolicy } from "../../api/resource.js";
import { parseDuration } from "../../api/validation/common.js";
import { anyOf, duration } from "../../envoy/protos.js";
import type {
  Any,
  CircuitBreakers,
  Cluster,
  CommonHttpProtocolOptions,
  Duration,
  HashPolicy,
  Http2ProtocolOptions,
  HttpProtocolOptions,
  KeepaliveSettings,
  OutlierDetection as EnvoyOutlierDetection,
  Percent,
  SlowStartConfig,
  TcpKeepalive,
  Thresholds,
  UpstreamConnectionOptions,
  UpstreamHttpProtocolOptions,
} from "../../envoy/types.js";
import type { Proxy } from "../../model/proxy.js";
import type { MergedDestinationRule, PushContext } from "../../model/push-context.js";
import type { Service } from "../../registry/model.js";
import { effectiveLocalityLbSetting } from "./locality.js";

export type ConnectionPoolSettings = NonNullable<TrafficPolicy["connectionPool"]>;
export type LoadBalancerSettings = NonNullable<TrafficPolicy["loadBalancer"]>;
export type OutlierDetection = NonNullable<TrafficPolicy["outlierDetection"]>;
export type ClientTLSSettings = NonNullable<TrafficPolicy["tls"]>;
export type ConsistentHashLB = NonNullable<LoadBalancerSettings["consistentHash"]>;
export type LocalityLbSetting = NonNullable<LoadBalancerSettings["localityLbSetting"]>;
export type PortTrafficPolicy = NonNullable<TrafficPolicy["portLevelSettings"]>[number];
export type TCPKeepalive = NonNullable<NonNullable<ConnectionPoolSettings["tcp"]>["tcpKeepalive"]>;

/** The policy for one cluster: port-level settings and the subset's policy already resolved. */
export interface ClusterTrafficPolicy {
  connectionPool?: ConnectionPoolSettings;
  loadBalancer?: LoadBalancerSettings;
  outlierDetection?: OutlierDetection;
  tls?: ClientTLSSettings;
  tunnel?: TrafficPolicy["tunnel"];
  proxyProtocol?: TrafficPolicy["proxyProtocol"];
  retryBudget?: TrafficPolicy["retryBudget"];
}

export const HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
/** Envoy circuit-breaker thresholds Istio raises to "unlimited" (2^32-1). */
export const MAX_UINT32 = 4294967295;

/**
 * Istio's GetPortLevelTrafficPolicy: a portLevelSettings entry for the port replaces the policy
 * (nothing is inherited from the top level: omitted fields take defaults).
 */
export function portLevelPolicy(policy: TrafficPolicy | undefined, port: number): { policy: ClusterTrafficPolicy | undefined; portLevel: boolean } {
  if (!policy) return { policy: undefined, portLevel: false };
  const pl = policy.portLevelSettings?.find((p) => p.port?.number === port);
  if (!pl) return { policy: wholePolicy(policy), portLevel: false };
  return {
    policy: { connectionPool: pl.connectionPool, loadBalancer: pl.loadBalancer, outlierDetection: pl.outlierDetection, tls: pl.tls },
    portLevel: true,
  };
}

function wholePolicy(p: TrafficPolicy): ClusterTrafficPolicy {
  return {
    connectionPool: p.connectionPool,
    loadBalancer: p.loadBalancer,
    outlierDetection: p.outlierDetection,
    tls: p.tls,
    tunnel: p.tunnel,
    proxyProtocol: p.proxyProtocol,
    retryBudget: p.retryBudget,
  };
}

/**
 * Istio's MergeSubsetTrafficPolicy: the rule's policy for the port, overridden by the subset's
 * policy for the port. Each of connectionPool / loadBalancer / outlierDetection / tls replaces as a
 * unit; a subset port-level entry replaces all four (even the ones it leaves out).
 */
export function mergeTrafficPolicy(
  top: TrafficPolicy | undefined,
  subsetPolicy: TrafficPolicy | undefined,
  port: number,
): ClusterTrafficPolicy | undefined {
  const base = portLevelPolicy(top, port).policy;
  if (!subsetPolicy) return base;
  const { policy: sub, portLevel } = portLevelPolicy(subsetPolicy, port);
  if (!sub) return base;
  if (!base) return sub;
  const merged: ClusterTrafficPolicy = { ...base };
  if (sub.connectionPool || portLevel) merged.connectionPool = sub.connectionPool;
  if (sub.outlierDetection || portLevel) merged.outlierDetection = sub.outlierDetection;
  if (sub.loadBalancer || portLevel) merged.loadBalancer = sub.loadBalancer;
  if (sub.tls || portLevel) merged.tls = sub.tls;
  if (sub.tunnel) merged.tunnel = sub.tunnel;
  if (sub.proxyProtocol) merged.proxyProtocol = sub.proxyProtocol;
  if (sub.retryBudget) merged.retryBudget = sub.retryBudget;
  return merged;
}

/** The DestinationRule, subset and effective policy for one cluster as a proxy's namespace sees it. */
export interface DestinationPolicy {
  rule?: MergedDestinationRule;
  /** The subset definition (undefined for the default cluster or an unknown subset name). */
  subset?: Subset;
  policy?: ClusterTrafficPolicy;
}

/** Resolves the policy for `outbound|port|subset|service` from a proxy namespace (memoized per push). */
export function destinationPolicy(
  push: PushContext,
  proxyNamespace: string,
  service: Pick<Service, "hostname" | "namespace">,
  port: number,
  subset: string | undefined,
): DestinationPolicy {
  return push.memo(`tp/${proxyNamespace}/${service.namespace}/${service.hostname}/${port}/${subset ?? ""}`, () => {
    const rule = push.destinationRule(proxyNamespace, service);
    if (!rule) return {};
    const sub = subset ? rule.subsets.find((s) => s.name === subset) : undefined;
    return { rule, subset: sub, policy: mergeTrafficPolicy(rule.trafficPolicy, sub?.trafficPolicy, port) };
  });
}

function ms(d: string | undefined): number | undefined {
  if (d === undefined) return undefined;
  return parseDuration(d);
}

function durationOf(d: string | undefined): Duration | undefined {
  const v = ms(d);
  return v === undefined ? undefined : duration(v);
}

function seconds(d: string | undefined): number | undefined {
  const v = ms(d);
  return v === undefined ? undefined : Math.floor(v / 1000);
}

// ---------------------------------------------------------------------------------------------
// Upstream HTTP protocol options (the typed_extension_protocol_options entry), built up in steps.

/** HttpProtocolOptions in the making: Istio's clusterWrapper.httpProtocolOptions. */
export interface HttpOptionsDraft {
  common?: CommonHttpProtocolOptions;
  upstream?: UpstreamHttpProtocolOptions;
  /** Upstream protocol: explicit HTTP/1.1, explicit HTTP/2, or whatever the downstream spoke. */
  protocol?: "http1" | "http2" | "downstream";
  http2?: Http2ProtocolOptions;
}

/** Renders the draft as the `typedExtensionProtocolOptions` map (undefined when nothing was set). */
export function httpProtocolOptions(d: HttpOptionsDraft | undefined): { [name: string]: Any } | undefined {
  if (!d) return undefined;
  const h2 = d.http2 ?? {};
  const out: HttpProtocolOptions = {};
  if (d.common && Object.keys(d.common).length > 0) out.commonHttpProtocolOptions = d.common;
  if (d.upstream) out.upstreamHttpProtocolOptions = d.upstream;
  // Envoy requires an upstream protocol; Istio defaults to explicit HTTP/1.1.
  if (d.protocol === "downstream") out.useDownstreamProtocolConfig = { httpProtocolOptions: {}, http2ProtocolOptions: h2 };
  else if (d.protocol === "http2") out.explicitHttpConfig = { http2ProtocolOptions: h2 };
  else out.explicitHttpConfig = { httpProtocolOptions: {} };
  return { [HTTP_PROTOCOL_OPTIONS]: anyOf(HTTP_PROTOCOL_OPTIONS, out) };
}

// ---------------------------------------------------------------------------------------------
// Connection pool

/** Istio's default thresholds: everything "unlimited", remaining capacity tracked. */
export function defaultThresholds(): Thresholds {
  return {
    maxConnections: { value: MAX_UINT32 },
    maxPendingRequests: { value: MAX_UINT32 },
    maxRequests: { value: MAX_UINT32 },
    maxRetries: { value: MAX_UINT32 },
    trackRemaining: true,
  };
}

/** What a connection pool contributes to a cluster. */
export interface ConnectionPoolFields {
  connectTimeout: Duration;
  circuitBreakers: CircuitBreakers;
  upstreamConnectionOptions?: UpstreamConnectionOptions;
  /** commonHttpProtocolOptions (idleTimeout, maxRequestsPerConnection, maxConnectionDuration). */
  common?: CommonHttpProtocolOptions;
  maxConcurrentStreams?: number;
  http2KeepAlive?: KeepaliveSettings;
  useClientProtocol: boolean;
  h2UpgradePolicy?: "DEFAULT" | "DO_NOT_UPGRADE" | "UPGRADE";
}

/** Istio's applyConnectionPool (also with an empty pool: default thresholds and mesh connect timeout). */
export function connectionPoolFields(
  pool: ConnectionPoolSettings | undefined,
  meshConnectTimeoutMs: number,
  retryBudget?: ClusterTrafficPolicy["retryBudget"],
): ConnectionPoolFields {
  const th = defaultThresholds();
  const http = pool?.http;
  const tcp = pool?.tcp;
  if (http) {
    // Envoy applies max_requests to HTTP/2 and max_pending_requests to HTTP/1.1 pools.
    if ((http.http2MaxRequests ?? 0) > 0) th.maxRequests = { value: http.http2MaxRequests };
    if ((http.http1MaxPendingRequests ?? 0) > 0) th.maxPendingRequests = { value: http.http1MaxPendingRequests };
    if ((http.maxRetries ?? 0) > 0) th.maxRetries = { value: http.maxRetries };
  }
  if (tcp && (tcp.maxConnections ?? 0) > 0) th.maxConnections = { value: tcp.maxConnections };
  if (retryBudget) {
    const budget: Thresholds.RetryBudget = { budgetPercent: percent(retryBudget.percent ?? 20) };
    budget.minRetryConcurrency = { value: retryBudget.minRetryConcurrency ?? 3 };
    th.retryBudget = budget;
  }
  // The retry budget goes before trackRemaining (the key order the golden files pin).
  const { trackRemaining, ...limits } = th;
  const thresholds: Thresholds = { ...limits, trackRemaining };
  const out: ConnectionPoolFields = {
    connectTimeout: duration(ms(tcp?.connectTimeout) ?? meshConnectTimeoutMs),
    circuitBreakers: { thresholds: [thresholds] },
    useClientProtocol: http?.useClientProtocol === true,
    h2UpgradePolicy: http?.h2UpgradePolicy,
  };
  const common: CommonHttpProtocolOptions = {};
  const idle = durationOf(http?.idleTimeout) ?? durationOf(tcp?.idleTimeout);
  if (idle) common.idleTimeout = idle;
  const mcd = durationOf(tcp?.maxConnectionDuration);
  if (mcd) common.maxConnectionDuration = mcd;
  if ((http?.maxRequestsPerConnection ?? 0) > 0) common.maxRequestsPerConnection = { value: http?.maxRequestsPerConnection };
  if (Object.keys(common).length > 0) out.common = common;
  if ((http?.maxConcurrentStreams ?? 0) > 0) out.maxConcurrentStreams = http?.maxConcurrentStreams;
  if (http?.http2KeepAlive) {
    const ka: KeepaliveSettings = {};
    const interval = durationOf(http.http2KeepAlive.interval);
    const timeout = durationOf(http.http2KeepAlive.timeout);
    if (interval) ka.interval = interval;
    if (timeout) ka.timeout = timeout;
    if (Object.keys(ka).length > 0) out.http2KeepAlive = ka;
  }
  if (tcp?.tcpKeepalive) out.upstreamConnectionOptions = { tcpKeepalive: tcpKeepalive(tcp.tcpKeepalive) };
  return out;
}

/** Istio's applyTCPKeepalive: probes, and time/interval in whole seconds. */
export function tcpKeepalive(k: TCPKeepalive): TcpKeepalive {
  const out: TcpKeepalive = {};
  if ((k.probes ?? 0) > 0) out.keepaliveProbes = { value: k.probes };
  const time = seconds(k.time);
  if (time) out.keepaliveTime = { value: time };
  const interval = seconds(k.interval);
  if (interval) out.keepaliveInterval = { value: interval };
  return out;
}

function percent(v: number): Percent {
  return v ? { value: v } : {};
}

// ---------------------------------------------------------------------------------------------
// Outlier detection

/** Istio's applyOutlierDetection: the OutlierDetection message and the panic threshold it implies. */
export function outlierDetectionFields(od: OutlierDetection | undefined): { outlierDetection: EnvoyOutlierDetection; healthyPanicThreshold: Percent } | undefined {
  if (!od) return undefined;
  const out: EnvoyOutlierDetection = {};
  if (od.consecutive5xxErrors !== undefined) {
    const v = od.consecutive5xxErrors;
    out.consecutive_5xx = { value: v };
    out.enforcingConsecutive_5xx = { value: v > 0 ? 100 : 0 };
  }
  if (od.interval !== undefined) out.interval = durationOf(od.interval);
  if (od.baseEjectionTime !== undefined) out.baseEjectionTime = durationOf(od.baseEjectionTime);
  if ((od.maxEjectionPercent ?? 0) > 0) out.maxEjectionPercent = { value: od.maxEjectionPercent };
  // Success-rate ejection stays off, as Istio has it.
  out.enforcingSuccessRate = { value: 0 };
  if (od.consecutiveGatewayErrors !== undefined) {
    const v = od.consecutiveGatewayErrors;
    out.consecutiveGatewayFailure = { value: v };
    out.enforcingConsecutiveGatewayFailure = { value: v > 0 ? 100 : 0 };
  } else if ((od.consecutiveErrors ?? 0) > 0 && od.consecutive5xxErrors === undefined) {
    // Deprecated consecutiveErrors: counted as gateway errors only (istio/api#617), as Istio did.
    out.consecutiveGatewayFailure = { value: od.consecutiveErrors };
    out.enforcingConsecutiveGatewayFailure = { value: 100 };
    out.enforcingConsecutive_5xx = { value: 0 };
  }
  if (od.splitExternalLocalOriginErrors) {
    out.splitExternalLocalOriginErrors = true;
    if ((od.consecutiveLocalOriginFailures ?? 0) > 0) {
      out.consecutiveLocalOriginFailure = { value: od.consecutiveLocalOriginFailures };
      out.enforcingConsecutiveLocalOriginFailure = { value: 100 };
    }
    out.enforcingLocalOriginSuccessRate = { value: 0 };
  }
  // Istio always sets the panic threshold with outlier detection (0 = never panic, unlike Envoy's 50%).
  return { outlierDetection: out, healthyPanicThreshold: percent(od.minHealthPercent ?? 0) };
}

// ---------------------------------------------------------------------------------------------
// Load balancer

/** What a load balancer setting contributes to a cluster. */
export interface LoadBalancerFields {
  /** Undefined for ROUND_ROBIN (the enum default, never written). */
  lbPolicy?: Cluster["lbPolicy"];
  /** One of Envoy's lb_config oneof: ringHashLbConfig / maglevLbConfig / leastRequestLbConfig / roundRobinLbConfig. */
  lbConfig?: Pick<Cluster, "ringHashLbConfig" | "maglevLbConfig" | "leastRequestLbConfig" | "roundRobinLbConfig">;
  /** PASSTHROUGH: the cluster becomes ORIGINAL_DST. */
  passthrough: boolean;
}

function slowStart(lb: LoadBalancerSettings): SlowStartConfig | undefined {
  if (lb.warmup) {
    const w = lb.warmup;
    const cfg: SlowStartConfig = {};
    const win = durationOf(w.duration);
    if (win) cfg.slowStartWindow = win;
    if (w.aggression !== undefined) cfg.aggression = { defaultValue: w.aggression, runtimeKey: "upstream.slow_start.aggression" };
    if (w.minimumPercent !== undefined) cfg.minWeightPercent = percent(w.minimumPercent);
    return cfg;
  }
  const win = durationOf(lb.warmupDurationSecs);
  return win ? { slowStartWindow: win } : undefined;
}

/**
 * Istio's applyLoadBalancer + ApplyRingHashLoadBalancer. `simple` unset means Istio's default,
 * LEAST_REQUEST; LEAST_CONN is LEAST_REQUEST; consistentHash picks RING_HASH (minimum ring size
 * 1024 unless ringHash or the deprecated minimumRingSize say otherwise) or MAGLEV.
 */
export function loadBalancerFields(lb: LoadBalancerSettings | undefined): LoadBalancerFields {
  const out: LoadBalancerFields = { passthrough: false };
  const ss = lb ? slowStart(lb) : undefined;
  switch (lb?.simple) {
    case "RANDOM":
      out.lbPolicy = "RANDOM";
      break;
    case "ROUND_ROBIN":
      if (ss) out.lbConfig = { roundRobinLbConfig: { slowStartConfig: ss } };
      break;
    case "PASSTHROUGH":
      out.passthrough = true;
      out.lbPolicy = "CLUSTER_PROVIDED";
      return out;
    default: // UNSPECIFIED, LEAST_CONN, LEAST_REQUEST
      out.lbPolicy = "LEAST_REQUEST";
      if (ss) out.lbConfig = { leastRequestLbConfig: { slowStartConfig: ss } };
  }
  const ch = lb?.consistentHash;
  if (ch) {
    if (ch.maglev) {
      out.lbPolicy = "MAGLEV";
      out.lbConfig = ch.maglev.tableSize ? { maglevLbConfig: { tableSize: { value: ch.maglev.tableSize } } } : undefined;
    } else if (ch.ringHash) {
      out.lbPolicy = "RING_HASH";
      out.lbConfig = ch.ringHash.minimumRingSize ? { ringHashLbConfig: { minimumRingSize: { value: ch.ringHash.minimumRingSize } } } : undefined;
    } else {
      out.lbPolicy = "RING_HASH";
      out.lbConfig = { ringHashLbConfig: { minimumRingSize: { value: ch.minimumRingSize || 1024 } } };
    }
  }
  return out;
}

/**
 * Istio's applyLocalityLoadBalancer (cluster side): locality-weighted LB config when `distribute`
 * is used, or failover (failover/failoverPriority) with outlier detection.
 */
export function localityWeightedLb(meshLocalityLbEnabled: boolean, policy: ClusterTrafficPolicy | undefined): boolean {
  const setting = effectiveLocalityLbSetting(meshLocalityLbEnabled, policy?.loadBalancer?.localityLbSetting);
  if (!setting) return false;
  if ((setting.distribute?.length ?? 0) > 0) return true;
  return !!policy?.outlierDetection && ((setting.failover?.length ?? 0) > 0 || (setting.failoverPriority?.length ?? 0) > 0);
}

// ---------------------------------------------------------------------------------------------
// Route hash policies (consistent hashing is configured on the route, the ring on the cluster)

/** Istio's consistentHashToHashPolicy for one ConsistentHashLB (undefined when it names no key). */
export function consistentHashToHashPolicy(ch: ConsistentHashLB | undefined): HashPolicy | undefined {
  if (!ch) return undefined;
  if (ch.httpHeaderName) return { header: { headerName: ch.httpHeaderName } };
  if (ch.httpCookie) {
    const c = ch.httpCookie;
    const cookie: HashPolicy.Cookie = { name: c.name };
    const ttl = durationOf(c.ttl);
    if (ttl) cookie.ttl = ttl;
    if (c.path) cookie.path = c.path;
    if (c.attributes?.length) cookie.attributes = c.attributes.map((a) => (a.value ? { name: a.name, value: a.value } : { name: a.name }));
    return { cookie };
  }
  if (ch.useSourceIp) return { connectionProperties: { sourceIp: true } };
  if (ch.httpQueryParameterName) return { queryParameter: { name: ch.httpQueryParameterName } };
  return undefined;
}

/** Route `hashPolicy` entries for a (resolved) traffic policy's consistentHash, or undefined. */
export function hashPolicyFor(policy: Pick<ClusterTrafficPolicy, "loadBalancer"> | undefined): HashPolicy[] | undefined {
  const hp = consistentHashToHashPolicy(policy?.loadBalancer?.consistentHash);
  return hp ? [hp] : undefined;
}

/**
 * The route hash policy for a destination (Istio's hashForHTTPDestination): the consistentHash of
 * the subset's port-level settings, else the subset's, else the rule's port-level, else the rule's.
 * `host` is the FQDN the route names; `port` the destination port.
 */
export function routeHashPolicy(
  push: PushContext,
  proxy: Proxy,
  host: string,
  port: number,
  subset: string | undefined,
): HashPolicy[] | undefined {
  const svc = push.pickService(host, proxy.namespace) ?? { hostname: host, namespace: proxy.namespace };
  const rule = push.destinationRule(proxy.namespace, svc);
  if (!rule) return undefined;
  const pls = (p: TrafficPolicy | undefined): ConsistentHashLB | undefined =>
    p?.portLevelSettings?.find((s) => s.port?.number === port)?.loadBalancer?.consistentHash;
  const sub = subset ? rule.subsets.find((s) => s.name === subset) : undefined;
  const ch =
    pls(sub?.trafficPolicy) ??
    sub?.trafficPolicy?.loadBalancer?.consistentHash ??
    pls(rule.trafficPolicy) ??
    rule.trafficPolicy?.loadBalancer?.consistentHash;
  const hp = consistentHashToHashPolicy(ch);
  return hp ? [hp] : undefined;
}
