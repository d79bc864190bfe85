// A CDS Cluster compiled into what the proxy runs, once per update: discovery type, EDS service
// name, connect timeout, circuit-breaker thresholds, load-balancing settings, outlier detection, the
// upstream HTTP protocol and its options, TLS origination (per endpoint with transport_socket_matches).
// A bad cluster, or one using a feature the proxy does not implement, throws XdsConfigError (the
// proxy NACKs and keeps the one it had).
import { durationMs, isAnyOf, valueEqual } from "../../envoy/protos.js";
import type * as v3 from "../../envoy/types.js";
import { unknownExtension } from "../extensions.js";
import { upstreamTlsFromCluster, type UpstreamTls, upstreamTransportSocket } from "../tls/upstream.js";
import { XdsConfigError } from "../xds-error.js";
import { hostsFromClusterLoadAssignment } from "./host.js";
import { type LbSettings, lbSettings } from "./lb-config.js";
import { type OutlierConfig, outlierConfig } from "./outlier-config.js";
import { type MetadataExchangeConfig, METADATA_EXCHANGE_TYPE, parseMetadataExchangeConfig } from "../observability/tcp-metadata-exchange.js";

export type DiscoveryType = v3.Cluster.DiscoveryType;

const DISCOVERY_TYPES: Readonly<Record<DiscoveryType, true>> = { STATIC: true, STRICT_DNS: true, LOGICAL_DNS: true, EDS: true, ORIGINAL_DST: true };

/** Envoy's circuit-breaker thresholds (per cluster, default priority). */
export interface Thresholds {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
  /** track_remaining: publish circuit_breakers.default.remaining_* gauges. */
  trackRemaining: boolean;
  /** retry_budget: when set, concurrent retries are limited by it instead of max_retries. */
  retryBudget?: { budgetPercent: number; minRetryConcurrency: number };
}

export const DEFAULT_THRESHOLDS: Thresholds = { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3, trackRemaining: false };

export interface ClusterSpec {
  name: string;
  type: DiscoveryType;
  /** EDS: the ClusterLoadAssignment name to watch. */
  edsServiceName: string;
  connectTimeoutMs: number;
  thresholds: Thresholds;
  /** The load-balancing settings (undefined for ORIGINAL_DST, whose hosts come from the requests). */
  lb: LbSettings | undefined;
  /** outlier_detection (undefined when the cluster has none). */
  outlier?: OutlierConfig;
  /** Upstream speaks HTTP/2 (explicit http2 options) or follows the downstream protocol. */
  upstreamProtocol: "http1" | "http2" | "downstream";
  idleTimeoutMs?: number;
  maxRequestsPerConnection?: number;
  /**
   * common_http_protocol_options.max_stream_duration (HttpProtocolOptions, else the deprecated
   * Cluster field) in ms, 0 when unset: each upstream stream is bounded by it (UMSDR).
   */
  maxStreamDurationMs: number;
  /**
   * TLS origination (the cluster's UpstreamTlsContext transport socket): undefined = plaintext;
   * kind "sds" = its secrets come over SDS, which is not served yet (connections fail, UF).
   */
  tls?: UpstreamTls;
  /**
   * transport_socket_matches: an endpoint whose `envoy.transport_socket_match` metadata holds every
   * field of an entry's `match` uses that entry's transport socket (the first that matches; Istio's
   * auto mTLS); other endpoints use `tls`.
   */
  transportSocketMatches: readonly TransportSocketMatch[];
  /** Cluster.filters' istio.metadata_exchange: run on each connection that negotiated its ALPN. */
  metadataExchange?: MetadataExchangeConfig;
  /** ORIGINAL_DST: the host comes from x-envoy-original-dst-host when set (use_http_header). */
  originalDstUseHttpHeader: boolean;
  /** STRICT_DNS / LOGICAL_DNS: how often names are resolved again (dns_refresh_rate, 5 s by default). */
  dnsRefreshRateMs: number;
  /** The decoded Cluster. */
  object: v3.Cluster;
}

function thresholdsOf(c: v3.Cluster, at: (f: string) => string): Thresholds {
  const thresholds = { ...DEFAULT_THRESHOLDS };
  const list = c.circuitBreakers?.thresholds ?? [];
  const i = list.findIndex((t) => (t.priority ?? "DEFAULT") === "DEFAULT");
  if (i < 0) return thresholds;
  const def = list[i];
  // A wrapper decoded from `{ value: 0 }` is `{}`: present means its value, 0 when unset.
  if (def.maxConnections) thresholds.maxConnections = def.maxConnections.value ?? 0;
  if (def.maxPendingRequests) thresholds.maxPendingRequests = def.maxPendingRequests.value ?? 0;
  if (def.maxRequests) thresholds.maxRequests = def.maxRequests.value ?? 0;
  if (def.maxRetries) thresholds.maxRetries = def.maxRetries.value ?? 0;
  thresholds.trackRemaining = def.trackRemaining === true;
  const rb = def.retryBudget;
  if (rb) {
    const pct = rb.budgetPercent;
    const budgetPercent = pct ? (pct.value ?? 0) : 20;
    // A non-finite double arrives as a string ("NaN"): refused here too.
    if (!(budgetPercent >= 0 && budgetPercent <= 100)) {
      throw new XdsConfigError(at(`circuitBreakers.thresholds[${i}].retryBudget.budgetPercent`), `percent ${JSON.stringify(pct?.value)} must be between 0 and 100`);
    }
    thresholds.retryBudget = { budgetPercent, minRetryConcurrency: rb.minRetryConcurrency ? (rb.minRetryConcurrency.value ?? 0) : 3 };
  }
  return thresholds;
}

/** A duration in whole ms (at least 1) when set and positive, else 0. */
function positiveMs(v: number | undefined): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? Math.max(1, Math.round(v)) : 0;
}

export interface TransportSocketMatch {
  readonly name: string;
  /** The `match` Struct's fields: an endpoint's `envoy.transport_socket_match` metadata must hold each, equal. */
  readonly match: Readonly<Record<string, v3.Value>>;
  readonly tls: UpstreamTls | undefined;
}

/** Whether an endpoint's metadata selects transport socket match `m` (Envoy's TransportSocketMatcher). */
export function transportSocketMatchSelects(m: TransportSocketMatch, md: v3.Metadata | undefined): boolean {
  const have = md?.filterMetadata?.["envoy.transport_socket_match"]?.fields ?? {};
  for (const k in m.match) if (!Object.hasOwn(have, k) || !valueEqual(have[k], m.match[k])) return false;
  return true;
}

const HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** Cluster fields the proxy does not implement: a cluster using one is refused, never half-run. */
function rejectUnimplemented(c: v3.Cluster, at: (f: string) => string): void {
  if (c.clusterType) throw unknownExtension(at("clusterType"), c.clusterType.name ?? "", c.clusterType.typedConfig?.["@type"] ?? "");
  if (c.healthChecks?.length) throw new XdsConfigError(at("healthChecks"), "active health checking is not implemented by tsmesh");
  if (c.lbSubsetConfig?.subsetSelectors?.length) throw new XdsConfigError(at("lbSubsetConfig"), "subset load balancing is not implemented by tsmesh");
  if (c.upstreamConfig) throw new XdsConfigError(at("upstreamConfig"), `Didn't find a registered implementation for '${c.upstreamConfig.name ?? ""}'`);
  for (const [k, v] of Object.entries(c.typedExtensionProtocolOptions ?? {})) {
    const path = at(`typedExtensionProtocolOptions[${JSON.stringify(k)}]`);
    if (k !== HTTP_PROTOCOL_OPTIONS) throw new XdsConfigError(path, `Didn't find a registered implementation for '${k}'`);
    if (!isAnyOf(v, HTTP_PROTOCOL_OPTIONS)) throw new XdsConfigError(path, `Unable to unpack as ${HTTP_PROTOCOL_OPTIONS}: ${v["@type"] ?? ""}`);
    if (v.autoConfig) throw new XdsConfigError(`${path}.autoConfig`, "auto_config (upstream protocol by ALPN) is not implemented by tsmesh");
    if (v.httpFilters?.length) throw new XdsConfigError(`${path}.httpFilters`, "upstream HTTP filters are not implemented by tsmesh");
  }
  // Envoy's rule: an ORIGINAL_DST cluster balances by the original destination, nothing else.
  if (c.type === "ORIGINAL_DST" && c.lbPolicy !== "CLUSTER_PROVIDED") {
    throw new XdsConfigError(at("lbPolicy"), `LB policy ${String(c.lbPolicy ?? "ROUND_ROBIN")} is not valid for Cluster type ORIGINAL_DST. Only 'CLUSTER_PROVIDED' is allowed with cluster type 'ORIGINAL_DST'`);
  }
}

function transportSocketMatches(c: v3.Cluster, at: (f: string) => string): TransportSocketMatch[] {
  return (c.transportSocketMatches ?? []).map((m, i) => {
    const path = at(`transportSocketMatches[${i}]`);
    return { name: m.name ?? "", match: m.match?.fields ?? {}, tls: m.transportSocket ? upstreamTransportSocket(c, m.transportSocket, `${path}.transportSocket`) : undefined };
  });
}

/** Validates a decoded Cluster into its spec. */
/**
 * Cluster.filters (upstream network filters): Istio's metadata exchange is the one tsmesh runs
 * (on each upstream connection that negotiated its ALPN); any other is refused with its path.
 */
function clusterFilters(c: v3.Cluster, at: (f: string) => string): MetadataExchangeConfig | undefined {
  let mx: MetadataExchangeConfig | undefined;
  (c.filters ?? []).forEach((f, i) => {
    const type = (f.typedConfig as { "@type"?: unknown } | undefined)?.["@type"];
    if (type !== METADATA_EXCHANGE_TYPE) throw new XdsConfigError(at(`filters[${i}]`), `upstream network filter '${f.name ?? ""}' is not implemented by tsmesh (only ${METADATA_EXCHANGE_TYPE.replace(/^.*\//, "")})`);
    if (mx !== undefined) throw new XdsConfigError(at(`filters[${i}]`), "metadata exchange is listed twice");
    mx = parseMetadataExchangeConfig(f.typedConfig, at(`filters[${i}].typedConfig`));
  });
  return mx;
}

export function clusterSpec(c: v3.Cluster): ClusterSpec {
  const name = c.name ?? "";
  if (!name) throw new XdsConfigError("name", "a cluster needs a name");
  const at = (f: string) => `cluster ${name}: ${f}`;
  rejectUnimplemented(c, at);
  // A value the schema does not know arrives as its number.
  const type = c.type ?? "STATIC";
  if (!Object.hasOwn(DISCOVERY_TYPES, type)) throw new XdsConfigError(at("type"), `unsupported discovery type ${JSON.stringify(type)}`);
  const thresholds = thresholdsOf(c, at);
  // outlier.ts still reads the decoded object untyped (its typed rewrite comes with the proxy-wide limits).
  const outlier = c.outlierDetection ? outlierConfig(c.outlierDetection, at("outlierDetection")) : undefined;
  let upstreamProtocol: ClusterSpec["upstreamProtocol"] = "http1";
  const hpo = c.typedExtensionProtocolOptions?.[HTTP_PROTOCOL_OPTIONS];
  const opts = isAnyOf(hpo, HTTP_PROTOCOL_OPTIONS) ? hpo : undefined;
  const common = opts?.commonHttpProtocolOptions;
  if (opts?.useDownstreamProtocolConfig) upstreamProtocol = "downstream";
  else if (opts?.explicitHttpConfig?.http2ProtocolOptions) upstreamProtocol = "http2";
  if (c.http2ProtocolOptions) upstreamProtocol = "http2";
  const connectTimeoutMs = durationMs(c.connectTimeout) ?? 5000;
  const spec: ClusterSpec = {
    name,
    type,
    edsServiceName: c.edsClusterConfig?.serviceName || name,
    connectTimeoutMs: connectTimeoutMs > 0 ? connectTimeoutMs : 5000,
    thresholds,
    lb: type === "ORIGINAL_DST" ? undefined : lbSettings(c),
    maxStreamDurationMs: positiveMs(durationMs(common?.maxStreamDuration ?? c.commonHttpProtocolOptions?.maxStreamDuration)),
    upstreamProtocol,
    transportSocketMatches: transportSocketMatches(c, at),
    originalDstUseHttpHeader: c.originalDstLbConfig?.useHttpHeader === true,
    dnsRefreshRateMs: durationMs(c.dnsRefreshRate) ?? 5000,
    object: c,
  };
  if (outlier) spec.outlier = outlier;
  const tlsSpec = upstreamTlsFromCluster(c, at);
  if (tlsSpec) spec.tls = tlsSpec;
  // The deprecated Cluster-level options apply when the typed HttpProtocolOptions leave them unset.
  const idle = durationMs(common?.idleTimeout ?? c.commonHttpProtocolOptions?.idleTimeout);
  if (idle !== undefined) spec.idleTimeoutMs = idle;
  const mrpc = (common?.maxRequestsPerConnection ?? c.maxRequestsPerConnection)?.value;
  if (mrpc) spec.maxRequestsPerConnection = mrpc;
  // A STATIC cluster may have no endpoints (Istio's BlackHoleCluster); DNS clusters need names.
  if ((type === "STRICT_DNS" || type === "LOGICAL_DNS") && !c.loadAssignment) {
    throw new XdsConfigError(at("loadAssignment"), `a ${type} cluster needs a load_assignment`);
  }
  const mx = clusterFilters(c, at);
  if (mx) spec.metadataExchange = mx;
  if (c.loadAssignment) hostsFromClusterLoadAssignment(c.loadAssignment, undefined, { requireIp: type === "STATIC" }); // validates addresses
  return spec;
}
