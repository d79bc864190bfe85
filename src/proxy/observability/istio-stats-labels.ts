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
function clusterService(meta: Readonly<Record<string, unknown>> | undefined): { host: string; name: string; namespace: string } | undefined {
  const istio = meta?.istio as { services?: unknown } | undefined;
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
 * Everything of a stream the standard labels depend on. The labels are a pure function of these
 * fields (peers and cluster metadata by identity: both are immutable and shared between streams),
 * so equal inputs may share one computed label set.
 */
class LabelInputs {
  reporter: Reporter = "source";
  src: PeerMetadata | undefined = undefined;
  dst: PeerMetadata | undefined = undefined;
  srcPrincipal = "";
  dstPrincipal = "";
  security = "";
  /** The Host header when it may name the destination service, else "". */
  host = "";
  cluster = "";
  clusterMetadata: Readonly<Record<string, unknown>> | undefined = undefined;
  /** request_protocol: "http", "grpc" or "tcp" (TCP: no response code or gRPC status). */
  protocol = "";
  code = 0;
  grpcStatus: number | undefined = undefined;
  flags = 0;

  /** Reads a stream (reusing this object). */
  read(info: StreamInfo, local: PeerMetadata, o: LabelOptions): this {
    const reporter = reporterOf(info, o);
    this.reporter = reporter;
    this.src = reporter === "source" ? local : peerAt(info, "downstream_peer");
    this.dst = reporter === "destination" ? local : peerAt(info, "upstream_peer");
    // Principals from the certificates of the connection the reporter sees.
    if (reporter === "source") {
      this.srcPrincipal = info.upstreamTls?.localPrincipal ?? "";
      this.dstPrincipal = info.upstreamTls?.peerPrincipal ?? "";
    } else {
      this.srcPrincipal = info.downstreamTls?.peerPrincipal ?? "";
      this.dstPrincipal = reporter === "destination" ? (info.downstreamTls?.localPrincipal ?? "") : (info.upstreamTls?.peerPrincipal ?? "");
    }
    // A client cannot know the server's policy: Istio reports `unknown` from the source side.
    this.security = reporter === "source" ? UNKNOWN : info.downstreamTls?.peerCertificatePresented ? "mutual_tls" : "none";
    this.host = info.kind === "http" && !o.disableHostHeaderFallback ? info.authority : "";
    this.cluster = info.upstreamCluster;
    this.clusterMetadata = info.upstreamClusterMetadata;
    if (info.kind === "http") {
      this.protocol = isGrpc(info) ? "grpc" : "http";
      this.code = info.responseCode;
      this.grpcStatus = info.grpcStatus;
    } else {
      this.protocol = "tcp";
      this.code = 0;
      this.grpcStatus = undefined;
    }
    this.flags = info.flags;
    return this;
  }

  equals(x: LabelInputs): boolean {
    return (
      this.code === x.code &&
      this.flags === x.flags &&
      this.src === x.src &&
      this.dst === x.dst &&
      this.host === x.host &&
      this.cluster === x.cluster &&
      this.clusterMetadata === x.clusterMetadata &&
      this.srcPrincipal === x.srcPrincipal &&
      this.dstPrincipal === x.dstPrincipal &&
      this.reporter === x.reporter &&
      this.security === x.security &&
      this.protocol === x.protocol &&
      this.grpcStatus === x.grpcStatus
    );
  }

  copy(): LabelInputs {
    return Object.assign(new LabelInputs(), this);
  }

  /**
   * The standard label values, in STANDARD_LABELS order (TCP: TCP_LABELS order). Inbound
   * (destination reporter): the source is the downstream peer, the destination this proxy.
   * Outbound and gateways (source reporter): the source is this proxy, the destination the
   * upstream peer. Waypoints: both sides are peers.
   */
  labels(): string[] {
    const { src, dst } = this;
    // destination_service: the cluster's istio metadata, else (unless disabled) the Host header.
    let service = this.host;
    let serviceName = this.host;
    let serviceNamespace = "";
    if (CATCH_ALL.has(this.cluster)) serviceName = this.cluster;
    else {
      const svc = clusterService(this.clusterMetadata);
      if (svc?.host) {
        service = svc.host;
        serviceName = svc.name || svc.host.slice(0, svc.host.indexOf(".") >>> 0);
        serviceNamespace = svc.namespace;
      }
    }
    if (!serviceNamespace) serviceNamespace = dst?.namespace ?? "";
    const out = [
      this.reporter,
      orUnknown(src?.workload),
      orUnknown(src?.service),
      orUnknown(src?.revision),
      orUnknown(src?.namespace),
      orUnknown(this.srcPrincipal),
      orUnknown(src?.app),
      orUnknown(src?.version),
      orUnknown(src?.cluster),
      orUnknown(dst?.workload),
      orUnknown(dst?.namespace),
      orUnknown(this.dstPrincipal),
      orUnknown(dst?.app),
      orUnknown(dst?.version),
      orUnknown(service),
      orUnknown(dst?.service),
      orUnknown(dst?.revision),
      orUnknown(serviceName),
      orUnknown(serviceNamespace),
      orUnknown(dst?.cluster),
      this.protocol,
    ];
    if (this.protocol !== "tcp") out.push(String(this.code), this.grpcStatus === undefined ? "" : String(this.grpcStatus));
    out.push(formatFlags(this.flags), this.security);
    return out;
  }
}

/** The standard label values of one stream, in STANDARD_LABELS order (TCP: TCP_LABELS order); see LabelInputs.labels. */
export function standardLabels(info: StreamInfo, local: PeerMetadata, o: LabelOptions): string[] {
  return new LabelInputs().read(info, local, o).labels();
}

/** One computed label set: its values and the series key they make. */
export interface StandardLabelSet {
  readonly values: readonly string[];
  /** The values joined by \u0001 (a series' key in a labeled family). */
  readonly key: string;
  /** The recording filter's series for this set, by its metric index (kept with a cached set: a series never leaves its family). */
  series?: unknown[];
}

/** How many distinct label sets a filter remembers (a sidecar's streams mostly repeat a few). */
const LABEL_CACHE_SIZE = 16;

/**
 * A filter's recent standard label sets by their inputs: a stream like a recent one (same peers,
 * cluster, response code, flags…) reuses its values and key instead of building 25 strings and a
 * key per stream.
 */
export class StandardLabelCache {
  private readonly inputs: LabelInputs[] = [];
  private readonly sets: StandardLabelSet[] = [];
  private readonly scratch = new LabelInputs();
  private last = 0;
  private next = 0;

  constructor(
    private readonly local: PeerMetadata,
    private readonly o: LabelOptions,
  ) {}

  get(info: StreamInfo): StandardLabelSet {
    const want = this.scratch.read(info, this.local, this.o);
    const n = this.inputs.length;
    if (n > 0 && this.inputs[this.last].equals(want)) return this.sets[this.last];
    for (let i = 0; i < n; i++) {
      if (i !== this.last && this.inputs[i].equals(want)) {
        this.last = i;
        return this.sets[i];
      }
    }
    const values = want.labels();
    const set: StandardLabelSet = { values, key: values.join("\u0001"), series: undefined };
    const at = n < LABEL_CACHE_SIZE ? n : this.next++ % LABEL_CACHE_SIZE;
    this.inputs[at] = want.copy();
    this.sets[at] = set;
    this.last = at;
    return set;
  }
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
