// istio.stats' labels: Istio's standard metric dimensions (istio/proxy's stats plugin, in its order)
// computed from a finished stream's StreamInfo, the proxy's own node metadata and the peer metadata
// that metadata exchange left in filter state; and the filter's PluginConfig (stats.PluginConfig)
// compiled into per-metric label plans (drop, tags_to_remove, dimensions). `unknown` wherever Istio
// writes it for a value nobody knows.
import type * as v3 from "../../envoy/types.js";
import { durationMs } from "../../envoy/protos.js";
import { formatFlags } from "../access-log.js";
import type { HttpStreamInfo, PeerMetadata, StreamInfo } from "../stream-info.js";
import { XdsConfigError } from "../xds-error.js";
import { type CelActivation, type CelProgram, compileCel, isCelEvalError } from "../../core/cel/program.js";
import { DEFAULT_CLUSTER_ID } from "../../core/istio-version.js";
import { celValueToString } from "../../core/cel/values.js";

export type PluginConfig = v3.Messages["stats.PluginConfig"];

/** Istio's standard labels, in the order its stats plugin emits them. */
export const STANDARD_LABELS = [
  "reporter",
  "source_workload",
  "source_canonical_service",
  "source_canonical_revision",
  "source_workload_namespace",
  "source_principal",
  "source_app",
  "source_version",
  "source_cluster",
  "destination_workload",
  "destination_workload_namespace",
  "destination_principal",
  "destination_app",
  "destination_version",
  "destination_service",
  "destination_canonical_service",
  "destination_canonical_revision",
  "destination_service_name",
  "destination_service_namespace",
  "destination_cluster",
  "request_protocol",
  "response_code",
  "grpc_response_status",
  "response_flags",
  "connection_security_policy",
] as const;

/** TCP metrics carry no response_code or grpc_response_status. */
const TCP_ONLY_DROPPED = new Set(["response_code", "grpc_response_status"]);
export const TCP_LABELS: readonly string[] = STANDARD_LABELS.filter((l) => !TCP_ONLY_DROPPED.has(l));

const UNKNOWN = "unknown";

/** The proxy's own workload (the local side of every report), from its node metadata. */
export function localWorkload(metadata: Readonly<Record<string, unknown>>): PeerMetadata {
  const str = (k: string): string => (typeof metadata[k] === "string" ? (metadata[k] as string) : "");
  const raw = metadata.LABELS;
  const labels: Record<string, string> = {};
  if (raw !== null && typeof raw === "object") for (const [k, v] of Object.entries(raw)) if (typeof v === "string") labels[k] = v;
  const workload = str("WORKLOAD_NAME");
  const app = labels.app ?? labels["app.kubernetes.io/name"] ?? "";
  const version = labels.version ?? labels["app.kubernetes.io/version"] ?? "";
  return {
    name: str("NAME"),
    namespace: str("NAMESPACE"),
    cluster: str("CLUSTER_ID") || DEFAULT_CLUSTER_ID,
    workload,
    service: labels["service.istio.io/canonical-name"] ?? (app || workload),
    revision: labels["service.istio.io/canonical-revision"] ?? (version || "latest"),
    app,
    version,
    type: "pod",
    identity: "",
    labels,
  };
}

function peerAt(info: StreamInfo, key: "downstream_peer" | "upstream_peer"): PeerMetadata | undefined {
  const p = info.filterState.get(key);
  return p !== null && typeof p === "object" ? (p as PeerMetadata) : undefined;
}

const orUnknown = (s: string | undefined): string => (s ? s : UNKNOWN);

/** The istio.services[0] entry of the upstream cluster's filter_metadata, if any. */
function clusterService(info: StreamInfo): { host: string; name: string; namespace: string } | undefined {
  const istio = info.upstreamClusterMetadata?.istio as { services?: unknown } | undefined;
  const services = istio?.services;
  if (!Array.isArray(services) || services.length === 0) return undefined;
  const s = services[0] as Record<string, unknown>;
  const str = (k: string): string => (typeof s?.[k] === "string" ? (s[k] as string) : "");
  return { host: str("host"), name: str("name"), namespace: str("namespace") };
}

/** Istio's catch-all clusters: destination_service_name names them. */
const CATCH_ALL = new Set(["BlackHoleCluster", "PassthroughCluster", "InboundPassthroughCluster"]);

export type Reporter = "source" | "destination" | "waypoint";

export interface LabelOptions {
  readonly reporter: "UNSPECIFIED" | "SERVER_GATEWAY";
  readonly disableHostHeaderFallback: boolean;
}

/** The reporter: `destination` on an inbound listener, `waypoint` for SERVER_GATEWAY, else `source`. */
export function reporterOf(info: StreamInfo, o: LabelOptions): Reporter {
  if (o.reporter === "SERVER_GATEWAY") return "waypoint";
  return info.direction === "inbound" ? "destination" : "source";
}

function isGrpc(info: HttpStreamInfo): boolean {
  const ct = info.requestHeaders["content-type"];
  return typeof ct === "string" && ct.startsWith("application/grpc");
}

/**
 * The standard label values of one stream, in STANDARD_LABELS order (TCP: TCP_LABELS order).
 * Inbound (destination reporter): the source is the downstream peer, the destination this proxy.
 * Outbound and gateways (source reporter): the source is this proxy, the destination the upstream
 * peer. Waypoints: both sides are peers.
 */
export function standardLabels(info: StreamInfo, local: PeerMetadata, o: LabelOptions): string[] {
  const reporter = reporterOf(info, o);
  const down = peerAt(info, "downstream_peer");
  const up = peerAt(info, "upstream_peer");
  const src = reporter === "source" ? local : down;
  const dst = reporter === "destination" ? local : up;
  // Principals from the certificates of the connection the reporter sees.
  let srcPrincipal: string;
  let dstPrincipal: string;
  if (reporter === "source") {
    srcPrincipal = info.upstreamTls?.localPrincipal ?? "";
    dstPrincipal = info.upstreamTls?.peerPrincipal ?? "";
  } else {
    srcPrincipal = info.downstreamTls?.peerPrincipal ?? "";
    dstPrincipal = reporter === "destination" ? (info.downstreamTls?.localPrincipal ?? "") : (info.upstreamTls?.peerPrincipal ?? "");
  }
  // A client cannot know the server's policy: Istio reports `unknown` from the source side.
  const security = reporter === "source" ? UNKNOWN : info.downstreamTls?.peerCertificatePresented ? "mutual_tls" : "none";
  // destination_service: the cluster's istio metadata, else (unless disabled) the Host header.
  let service = "";
  let serviceName = "";
  let serviceNamespace = "";
  if (info.kind === "http" && !o.disableHostHeaderFallback && info.authority) service = serviceName = info.authority;
  if (CATCH_ALL.has(info.upstreamCluster)) serviceName = info.upstreamCluster;
  else {
    const svc = clusterService(info);
    if (svc?.host) {
      service = svc.host;
      serviceName = svc.name || svc.host.slice(0, svc.host.indexOf(".") >>> 0);
      serviceNamespace = svc.namespace;
    }
  }
  if (!serviceNamespace) serviceNamespace = dst?.namespace ?? "";
  const out = [
    reporter,
    orUnknown(src?.workload),
    orUnknown(src?.service),
    orUnknown(src?.revision),
    orUnknown(src?.namespace),
    orUnknown(srcPrincipal),
    orUnknown(src?.app),
    orUnknown(src?.version),
    orUnknown(src?.cluster),
    orUnknown(dst?.workload),
    orUnknown(dst?.namespace),
    orUnknown(dstPrincipal),
    orUnknown(dst?.app),
    orUnknown(dst?.version),
    orUnknown(service),
    orUnknown(dst?.service),
    orUnknown(dst?.revision),
    orUnknown(serviceName),
    orUnknown(serviceNamespace),
    orUnknown(dst?.cluster),
  ];
  if (info.kind === "http") {
    out.push(isGrpc(info) ? "grpc" : "http", String(info.responseCode), info.grpcStatus === undefined ? "" : String(info.grpcStatus));
  } else out.push("tcp");
  out.push(formatFlags(info.flags), security);
  return out;
}

/**
 * A custom dimension's value from a stream: a CEL expression over Envoy's attributes (compiled once
 * per config), evaluated on the stream's activation (made once per record); an evaluation error or
 * a missing attribute gives Istio's `unknown`.
 */
export type Extractor = (act: CelActivation) => string;

function celDimension(expr: string, at: string): Extractor {
  let prog: CelProgram;
  try {
    prog = compileCel(expr);
  } catch (err) {
    throw new XdsConfigError(at, (err as Error).message);
  }
  return (act) => {
    const v = prog.eval(act);
    if (isCelEvalError(v)) return UNKNOWN;
    const s = celValueToString(v);
    return s === "" ? UNKNOWN : s;
  };
}

/** Istio's metric names (as MetricConfig.name gives them, without the `istio_` prefix). */
export const HTTP_METRICS = ["requests_total", "request_duration_milliseconds", "request_bytes", "response_bytes", "request_messages_total", "response_messages_total"] as const;
export const TCP_METRICS = ["tcp_sent_bytes_total", "tcp_received_bytes_total", "tcp_connections_opened_total", "tcp_connections_closed_total"] as const;
const ALL_METRICS = new Set<string>([...HTTP_METRICS, ...TCP_METRICS]);

/** One metric's labels: which standard labels it keeps (by index) and the dimensions it adds or replaces. */
export interface MetricPlan {
  readonly drop: boolean;
  readonly labelNames: readonly string[];
  /** For each label: a standard label's index, or an extractor. Undefined when the plan is the standard set. */
  readonly sources: ReadonlyArray<number | Extractor> | undefined;
}

export interface CompiledPluginConfig extends LabelOptions {
  /** tcp_reporting_duration in ms (Istio's default 15s). */
  readonly tcpReportingMs: number;
  plan(metric: string, tcp: boolean): MetricPlan;
}

interface Override {
  drop: boolean;
  remove: Set<string>;
  dims: Map<string, Extractor>;
}

/**
 * Compiles a stats.PluginConfig; what tsmesh cannot do is refused with its field path: custom
 * metric definitions, a dimension that is not valid CEL, `match`, other stat prefixes or separators,
 * and series rotation (memory is bounded by the stats store's series caps instead).
 */
export function compilePluginConfig(c: PluginConfig, path: string): CompiledPluginConfig {
  if (c.statPrefix && c.statPrefix !== "istio") throw new XdsConfigError(`${path}.stat_prefix`, `only the default prefix "istio" is implemented by tsmesh`);
  if (c.fieldSeparator) throw new XdsConfigError(`${path}.field_separator`, "custom separators are not implemented by tsmesh");
  if (c.valueSeparator) throw new XdsConfigError(`${path}.value_separator`, "custom separators are not implemented by tsmesh");
  if (c.rotationInterval !== undefined) throw new XdsConfigError(`${path}.rotation_interval`, "stat rotation is not implemented by tsmesh (series are bounded by the stats store's caps)");
  if (c.gracefulDeletionInterval !== undefined) throw new XdsConfigError(`${path}.graceful_deletion_interval`, "stat rotation is not implemented by tsmesh");
  (c.definitions ?? []).forEach((d, i) => {
    throw new XdsConfigError(`${path}.definitions[${i}]`, `custom metric '${d.name ?? ""}' is not implemented by tsmesh (metric definitions need CEL value expressions)`);
  });
  const overrides = new Map<string, Override>();
  (c.metrics ?? []).forEach((m, i) => {
    const at = `${path}.metrics[${i}]`;
    const name = m.name ?? "";
    if (name !== "" && !ALL_METRICS.has(name)) throw new XdsConfigError(`${at}.name`, `unknown metric '${name}' (custom metrics are not implemented by tsmesh)`);
    if (m.match) throw new XdsConfigError(`${at}.match`, "metric match expressions (CEL) are not implemented by tsmesh yet");
    const targets = name === "" ? [...ALL_METRICS] : [name];
    const dims = new Map<string, Extractor>();
    for (const [tag, expr] of Object.entries(m.dimensions ?? {})) dims.set(tag, celDimension(expr, `${at}.dimensions[${JSON.stringify(tag)}]`));
    for (const t of targets) {
      let o = overrides.get(t);
      if (!o) overrides.set(t, (o = { drop: false, remove: new Set(), dims: new Map() }));
      if (m.drop) o.drop = true;
      for (const r of m.tagsToRemove ?? []) o.remove.add(r);
      for (const [k, v] of dims) o.dims.set(k, v);
    }
  });
  const reporting = c.tcpReportingDuration === undefined ? 15000 : (durationMs(c.tcpReportingDuration) ?? 15000);
  if (reporting <= 0) throw new XdsConfigError(`${path}.tcp_reporting_duration`, "must be positive");
  const plans = new Map<string, MetricPlan>();
  return {
    reporter: c.reporter === "SERVER_GATEWAY" ? "SERVER_GATEWAY" : "UNSPECIFIED",
    disableHostHeaderFallback: c.disableHostHeaderFallback === true,
    tcpReportingMs: reporting,
    plan(metric: string, tcp: boolean): MetricPlan {
      const key = `${metric}/${tcp}`;
      let p = plans.get(key);
      if (!p) plans.set(key, (p = makePlan(tcp ? TCP_LABELS : STANDARD_LABELS, overrides.get(metric))));
      return p;
    },
  };
}

function makePlan(base: readonly string[], o: Override | undefined): MetricPlan {
  if (!o || (o.remove.size === 0 && o.dims.size === 0)) return { drop: o?.drop ?? false, labelNames: base, sources: undefined };
  const labelNames: string[] = [];
  const sources: Array<number | Extractor> = [];
  base.forEach((l, i) => {
    if (o.remove.has(l)) return;
    labelNames.push(l);
    sources.push(o.dims.get(l) ?? i);
  });
  for (const [tag, ex] of o.dims) {
    if (base.includes(tag)) continue;
    labelNames.push(tag);
    sources.push(ex);
  }
  return { drop: o.drop, labelNames, sources };
}
