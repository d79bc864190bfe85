// A cluster as Envoy runs it: discovery type (EDS, STATIC, STRICT_DNS/LOGICAL_DNS, ORIGINAL_DST),
// hosts by priority, a load balancer, circuit breakers (default priority thresholds), the upstream
// HTTP protocol, and per-cluster connection pools. Built from a decoded CDS Cluster; a bad one
// throws XdsConfigError (the proxy NACKs and keeps the cluster it had).
import { lookup } from "node:dns/promises";
import * as http from "node:http";
import { durationMs, type ProtoObject } from "../../envoy/protos.js";
import type { StatsScope } from "../stats.js";
import { XdsConfigError } from "../xds-error.js";
import { type Host, hostsFromClusterLoadAssignment, type HostSet } from "./host.js";
import { createLoadBalancer, type LbContext, type LoadBalancer } from "./lb.js";

export type DiscoveryType = "STATIC" | "STRICT_DNS" | "LOGICAL_DNS" | "EDS" | "ORIGINAL_DST";

/** Envoy's default circuit-breaker thresholds (per cluster, default priority). */
export interface Thresholds {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
}

const DEFAULT_THRESHOLDS: Thresholds = { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 };

export interface ClusterSpec {
  name: string;
  type: DiscoveryType;
  /** EDS: the ClusterLoadAssignment name to watch. */
  edsServiceName: string;
  connectTimeoutMs: number;
  thresholds: Thresholds;
  /** Upstream speaks HTTP/2 (explicit http2 options) or follows the downstream protocol. */
  upstreamProtocol: "http1" | "http2" | "downstream";
  idleTimeoutMs?: number;
  maxRequestsPerConnection?: number;
  /** The decoded object (for config_dump and the load balancer's options). */
  object: ProtoObject;
}

function obj(v: unknown): ProtoObject | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as ProtoObject) : undefined;
}
function wrapped(v: unknown): number | undefined {
  const o = obj(v);
  return o && typeof o.value === "number" ? o.value : undefined;
}

/** Validates a decoded Cluster into its spec. */
export function clusterSpec(c: ProtoObject): ClusterSpec {
  const name = typeof c.name === "string" ? c.name : "";
  if (!name) throw new XdsConfigError("name", "a cluster needs a name");
  const at = (f: string) => `cluster ${name}: ${f}`;
  const type = (typeof c.type === "string" ? c.type : c.clusterType ? "" : "STATIC") as DiscoveryType;
  if (!["STATIC", "STRICT_DNS", "LOGICAL_DNS", "EDS", "ORIGINAL_DST"].includes(type)) {
    throw new XdsConfigError(at("type"), `unsupported discovery type ${JSON.stringify(c.type ?? c.clusterType)}`);
  }
  const eds = obj(c.edsClusterConfig);
  const thresholds = { ...DEFAULT_THRESHOLDS };
  const cb = obj(c.circuitBreakers);
  const list = Array.isArray(cb?.thresholds) ? (cb.thresholds as ProtoObject[]) : [];
  const def = list.find((t) => !t.priority || t.priority === "DEFAULT");
  if (def) {
    thresholds.maxConnections = wrapped(def.maxConnections) ?? thresholds.maxConnections;
    thresholds.maxPendingRequests = wrapped(def.maxPendingRequests) ?? thresholds.maxPendingRequests;
    thresholds.maxRequests = wrapped(def.maxRequests) ?? thresholds.maxRequests;
    thresholds.maxRetries = wrapped(def.maxRetries) ?? thresholds.maxRetries;
  }
  let upstreamProtocol: ClusterSpec["upstreamProtocol"] = "http1";
  let common: ProtoObject | undefined;
  const opts = obj(obj(c.typedExtensionProtocolOptions)?.["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]);
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
    upstreamProtocol,
    object: c,
  };
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

/** A running cluster: hosts, load balancer, circuit-breaker counters, connection pool, stats. */
export class UpstreamCluster {
  priorities: HostSet[] = [];
  byKey = new Map<string, Host>();
  private lb: LoadBalancer | undefined;
  /** EDS: set once endpoints arrived (Envoy's cluster warming). */
  warmed: boolean;
  activeRequests = 0;
  pendingRequests = 0;
  activeRetries = 0;
  readonly agent: http.Agent;
  readonly stats: ClusterStats;
  private dnsTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly spec: ClusterSpec,
    scope: StatsScope,
    previous?: UpstreamCluster,
  ) {
    this.stats = new ClusterStats(scope);
    this.agent = new http.Agent({
      keepAlive: true,
      maxTotalSockets: spec.thresholds.maxConnections,
      maxSockets: spec.thresholds.maxConnections,
      timeout: spec.idleTimeoutMs ?? 3_600_000,
    });
    this.warmed = spec.type !== "EDS";
    if (spec.type === "STATIC") this.setAssignment(obj(spec.object.loadAssignment) ?? { clusterName: spec.name });
    else if (spec.type === "STRICT_DNS" || spec.type === "LOGICAL_DNS") void this.resolveDns();
    else if (spec.type === "EDS" && previous && previous.spec.edsServiceName === spec.edsServiceName && previous.warmed) {
      // A CDS update of a warm cluster keeps its endpoints (Envoy does not re-warm on unchanged EDS names).
      this.priorities = previous.priorities;
      this.byKey = previous.byKey;
      this.warmed = true;
      this.rebuildLb();
    }
  }

  get name(): string {
    return this.spec.name;
  }

  /** EDS update (or STATIC/DNS assignment): hosts are reused by address so counters survive. */
  setAssignment(cla: ProtoObject): void {
    const { priorities, byKey } = hostsFromClusterLoadAssignment(cla, this.byKey, { requireIp: this.spec.type === "EDS" || this.spec.type === "STATIC" });
    this.priorities = priorities;
    this.byKey = byKey;
    this.warmed = true;
    this.rebuildLb();
  }

  private rebuildLb(): void {
    this.lb = createLoadBalancer(this.spec.object as Parameters<typeof createLoadBalancer>[0], this.priorities);
    let healthy = 0;
    for (const h of this.byKey.values()) if (h.healthy) healthy++;
    this.stats.membershipTotal.set(this.byKey.size);
    this.stats.membershipHealthy.set(healthy);
  }

  pick(ctx?: LbContext): Host | undefined {
    return this.lb?.pick(ctx);
  }

  hosts(): Host[] {
    return [...this.byKey.values()];
  }

  private async resolveDns(): Promise<void> {
    const cla = obj(this.spec.object.loadAssignment)!;
    try {
      const resolved = structuredClone(cla) as ProtoObject;
      for (const l of (resolved.endpoints as ProtoObject[] | undefined) ?? []) {
        for (const e of (l.lbEndpoints as ProtoObject[] | undefined) ?? []) {
          const sa = obj(obj(obj(e.endpoint)?.address)?.socketAddress);
          if (sa && typeof sa.address === "string") sa.address = (await lookup(sa.address, { family: 4 })).address;
        }
      }
      this.setAssignment(resolved);
    } catch {
      this.stats.updateFailure.inc();
    }
    // Envoy re-resolves every dns_refresh_rate (5 s by default).
    this.dnsTimer = setTimeout(() => void this.resolveDns(), durationMs(this.spec.object.dnsRefreshRate) ?? 5000);
    this.dnsTimer.unref();
  }

  close(): void {
    if (this.dnsTimer) clearTimeout(this.dnsTimer);
    this.agent.destroy();
  }
}

/** Envoy's cluster stats the proxy maintains (cluster.NAME.*). */
export class ClusterStats {
  readonly rqTotal;
  readonly rqActive;
  readonly rqPendingActive;
  readonly rqPendingOverflow;
  readonly rqRetry;
  readonly rqRetryOverflow;
  readonly rqRetrySuccess;
  readonly rqTimeout;
  readonly rqPerTryTimeout;
  readonly cxConnectFail;
  readonly cxNoneHealthy;
  readonly cxOverflow;
  readonly rq2xx;
  readonly rq3xx;
  readonly rq4xx;
  readonly rq5xx;
  readonly membershipTotal;
  readonly membershipHealthy;
  readonly updateFailure;

  constructor(s: StatsScope) {
    this.rqTotal = s.counter("upstream_rq_total");
    this.rqActive = s.gauge("upstream_rq_active");
    this.rqPendingActive = s.gauge("upstream_rq_pending_active");
    this.rqPendingOverflow = s.counter("upstream_rq_pending_overflow");
    this.rqRetry = s.counter("upstream_rq_retry");
    this.rqRetryOverflow = s.counter("upstream_rq_retry_overflow");
    this.rqRetrySuccess = s.counter("upstream_rq_retry_success");
    this.rqTimeout = s.counter("upstream_rq_timeout");
    this.rqPerTryTimeout = s.counter("upstream_rq_per_try_timeout");
    this.cxConnectFail = s.counter("upstream_cx_connect_fail");
    this.cxNoneHealthy = s.counter("upstream_cx_none_healthy");
    this.cxOverflow = s.counter("upstream_cx_overflow");
    this.rq2xx = s.counter("upstream_rq_2xx");
    this.rq3xx = s.counter("upstream_rq_3xx");
    this.rq4xx = s.counter("upstream_rq_4xx");
    this.rq5xx = s.counter("upstream_rq_5xx");
    this.membershipTotal = s.gauge("membership_total");
    this.membershipHealthy = s.gauge("membership_healthy");
    this.updateFailure = s.counter("update_failure");
  }

  response(status: number): void {
    if (status >= 500) this.rq5xx.inc();
    else if (status >= 400) this.rq4xx.inc();
    else if (status >= 300) this.rq3xx.inc();
    else if (status >= 200) this.rq2xx.inc();
  }
}
