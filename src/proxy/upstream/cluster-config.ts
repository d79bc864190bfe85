// A CDS Cluster compiled into what the proxy runs: discovery type, EDS service name, connect
// timeout, circuit-breaker thresholds, outlier detection, the upstream HTTP protocol and its options,
// TLS origination. A bad cluster throws XdsConfigError (the proxy NACKs and keeps the one it had).
import { durationMs, type ProtoObject } from "../../envoy/protos.js";
import type * as v3 from "../../envoy/types.js";
import { upstreamTlsFromCluster, type UpstreamTls, upstreamTransportSocket } from "../tls/upstream.js";
import { XdsConfigError } from "../xds-error.js";
import { hostsFromClusterLoadAssignment } from "./host.js";
import { type OutlierConfig, outlierConfig } from "./outlier.js";

export type DiscoveryType = "STATIC" | "STRICT_DNS" | "LOGICAL_DNS" | "EDS" | "ORIGINAL_DST";

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

const DEFAULT_THRESHOLDS: Thresholds = { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3, trackRemaining: false };

export interface ClusterSpec {
  name: string;
  type: DiscoveryType;
  /** EDS: the ClusterLoadAssignment name to watch. */
  edsServiceName: string;
  connectTimeoutMs: number;
  thresholds: Thresholds;
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
  /** ORIGINAL_DST: the host comes from x-envoy-original-dst-host when set (use_http_header). */
  originalDstUseHttpHeader: boolean;
  /** STRICT_DNS / LOGICAL_DNS: how often names are resolved again (dns_refresh_rate, 5 s by default). */
  dnsRefreshRateMs: number;
  /** The decoded object (for config_dump and the load balancer's options). */
  object: ProtoObject;
}

function obj(v: unknown): ProtoObject | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as ProtoObject) : undefined;
}
function wrapped(v: unknown): number | undefined {
  const o = obj(v);
  if (!o) return undefined;
  return typeof o.value === "number" ? o.value : 0; // `{}`: the default value 0 is not written
}

function thresholdsOf(c: ProtoObject, at: (f: string) => string): Thresholds {
  const thresholds = { ...DEFAULT_THRESHOLDS };
  const cb = obj(c.circuitBreakers);
  const list = Array.isArray(cb?.thresholds) ? (cb.thresholds as unknown[]) : [];
  const i = list.findIndex((t) => {
    const p = obj(t)?.priority;
    return !p || p === "DEFAULT";
  });
  if (i < 0) return thresholds;
  const def = obj(list[i]);
  if (!def) throw new XdsConfigError(at(`circuitBreakers.thresholds[${i}]`), "expected a Thresholds object");
  thresholds.maxConnections = wrapped(def.maxConnections) ?? thresholds.maxConnections;
  thresholds.maxPendingRequests = wrapped(def.maxPendingRequests) ?? thresholds.maxPendingRequests;
  thresholds.maxRequests = wrapped(def.maxRequests) ?? thresholds.maxRequests;
  thresholds.maxRetries = wrapped(def.maxRetries) ?? thresholds.maxRetries;
  thresholds.trackRemaining = def.trackRemaining === true;
  const rb = obj(def.retryBudget);
  if (rb) {
    const pct = obj(rb.budgetPercent);
    const budgetPercent = pct ? (typeof pct.value === "number" ? pct.value : 0) : 20;
    if (!(budgetPercent >= 0 && budgetPercent <= 100)) {
      throw new XdsConfigError(at(`circuitBreakers.thresholds[${i}].retryBudget.budgetPercent`), `percent ${JSON.stringify(pct?.value)} must be between 0 and 100`);
    }
    thresholds.retryBudget = { budgetPercent, minRetryConcurrency: wrapped(rb.minRetryConcurrency) ?? 3 };
  }
  return thresholds;
}

/** A duration in whole ms (at least 1) when set and positive, else 0. */
function positiveMs(v: number | undefined): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? Math.max(1, Math.round(v)) : 0;
}

export interface TransportSocketMatch {
  readonly name: string;
  /** The `match` Struct's fields (decoded google.protobuf.Value objects). */
  readonly match: Readonly<Record<string, unknown>>;
  readonly tls: UpstreamTls | undefined;
}

const HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** Cluster fields the proxy does not implement: a cluster using one is refused, never half-run. */
function rejectUnimplemented(c: ProtoObject, at: (f: string) => string): void {
  const ct = obj(c.clusterType);
  if (ct) {
    const type = String(obj(ct.typedConfig)?.["@type"] ?? "").replace(/^.*\//, "");
    throw new XdsConfigError(at("clusterType"), `Didn't find a registered implementation for '${String(ct.name ?? "")}' with type URL: '${type}'`);
  }
  if (Array.isArray(c.healthChecks) && c.healthChecks.length > 0) throw new XdsConfigError(at("healthChecks"), "active health checking is not implemented by tsmesh");
  if (obj(c.lbSubsetConfig) && Array.isArray(obj(c.lbSubsetConfig)!.subsetSelectors) && (obj(c.lbSubsetConfig)!.subsetSelectors as unknown[]).length > 0) {
    throw new XdsConfigError(at("lbSubsetConfig"), "subset load balancing is not implemented by tsmesh");
  }
  if (obj(c.upstreamConfig)) throw new XdsConfigError(at("upstreamConfig"), `Didn't find a registered implementation for '${String(obj(c.upstreamConfig)!.name ?? "")}'`);
  if (Array.isArray(c.filters) && c.filters.length > 0) throw new XdsConfigError(at("filters"), "upstream network filters are not implemented by tsmesh");
  const tepo = obj(c.typedExtensionProtocolOptions);
  for (const k of Object.keys(tepo ?? {})) {
    if (k !== HTTP_PROTOCOL_OPTIONS) throw new XdsConfigError(at(`typedExtensionProtocolOptions[${JSON.stringify(k)}]`), `Didn't find a registered implementation for '${k}'`);
  }
}

function transportSocketMatches(c: ProtoObject, at: (f: string) => string): TransportSocketMatch[] {
  const list = Array.isArray(c.transportSocketMatches) ? (c.transportSocketMatches as unknown[]) : [];
  return list.map((m, i) => {
    const path = at(`transportSocketMatches[${i}]`);
    const e = obj(m);
    if (!e) throw new XdsConfigError(path, "expected a TransportSocketMatch");
    const fields = obj(obj(e.match)?.fields) ?? {};
    const ts = obj(e.transportSocket);
    return { name: typeof e.name === "string" ? e.name : "", match: fields, tls: ts ? upstreamTransportSocket(c as v3.Cluster, ts as v3.TransportSocket, `${path}.transportSocket`) : undefined };
  });
}

/** Validates a decoded Cluster into its spec. */
export function clusterSpec(c: ProtoObject): ClusterSpec {
  const name = typeof c.name === "string" ? c.name : "";
  if (!name) throw new XdsConfigError("name", "a cluster needs a name");
  const at = (f: string) => `cluster ${name}: ${f}`;
  rejectUnimplemented(c, at);
  const type = (typeof c.type === "string" ? c.type : c.clusterType ? "" : "STATIC") as DiscoveryType;
  if (!["STATIC", "STRICT_DNS", "LOGICAL_DNS", "EDS", "ORIGINAL_DST"].includes(type)) {
    throw new XdsConfigError(at("type"), `unsupported discovery type ${JSON.stringify(c.type ?? c.clusterType)}`);
  }
  const eds = obj(c.edsClusterConfig);
  const thresholds = thresholdsOf(c, at);
  let outlier: OutlierConfig | undefined;
  if (c.outlierDetection !== undefined) {
    const od = obj(c.outlierDetection);
    if (!od) throw new XdsConfigError(at("outlierDetection"), "expected an OutlierDetection object");
    outlier = outlierConfig(od, at("outlierDetection"));
  }
  let upstreamProtocol: ClusterSpec["upstreamProtocol"] = "http1";
  let common: ProtoObject | undefined;
  const opts = obj(obj(c.typedExtensionProtocolOptions)?.[HTTP_PROTOCOL_OPTIONS]);
  if (opts) {
    common = obj(opts.commonHttpProtocolOptions);
    if (obj(opts.useDownstreamProtocolConfig)) upstreamProtocol = "downstream";
    else if (obj(obj(opts.explicitHttpConfig)?.http2ProtocolOptions)) upstreamProtocol = "http2";
  }
  if (obj(c.http2ProtocolOptions)) upstreamProtocol = "http2";
  const connectTimeoutMs = durationMs(c.connectTimeout) ?? 5000;
  const spec: ClusterSpec = {
    name,
    type,
    edsServiceName: (typeof eds?.serviceName === "string" && eds.serviceName) || name,
    connectTimeoutMs: connectTimeoutMs > 0 ? connectTimeoutMs : 5000,
    thresholds,
    maxStreamDurationMs: positiveMs(durationMs(common?.maxStreamDuration ?? obj(c.commonHttpProtocolOptions)?.maxStreamDuration)),
    upstreamProtocol,
    transportSocketMatches: transportSocketMatches(c, at),
    originalDstUseHttpHeader: obj(c.originalDstLbConfig)?.useHttpHeader === true,
    dnsRefreshRateMs: durationMs(c.dnsRefreshRate) ?? 5000,
    object: c,
  };
  if (outlier) spec.outlier = outlier;
  const tlsSpec = upstreamTlsFromCluster(c as v3.Cluster, at);
  if (tlsSpec) spec.tls = tlsSpec;
  const idle = durationMs(common?.idleTimeout);
  if (idle !== undefined) spec.idleTimeoutMs = idle;
  const mrpc = wrapped(common?.maxRequestsPerConnection);
  if (mrpc) spec.maxRequestsPerConnection = mrpc;
  // A STATIC cluster may have no endpoints (Istio's BlackHoleCluster); DNS clusters need names.
  if ((type === "STRICT_DNS" || type === "LOGICAL_DNS") && !obj(c.loadAssignment)) {
    throw new XdsConfigError(at("loadAssignment"), `a ${type} cluster needs a load_assignment`);
  }
  if (obj(c.loadAssignment)) hostsFromClusterLoadAssignment(obj(c.loadAssignment)!, undefined, { requireIp: type === "STATIC" }); // validates addresses
  return spec;
}
