// A cluster as Envoy runs it: discovery type (EDS, STATIC, STRICT_DNS/LOGICAL_DNS, ORIGINAL_DST),
// hosts by priority, a load balancer, circuit breakers (default priority thresholds), outlier
// detection, the upstream HTTP protocol, and per-cluster connection pools. Built from a decoded CDS
// Cluster; a bad one throws XdsConfigError (the proxy NACKs and keeps the cluster it had).
//
// Circuit breakers (Envoy's ResourceManagerImpl + the HTTP/1.1 pool's admission, conn_pool_base.cc):
// - max_requests: active upstream requests (each try); over it → 503 UO, upstream_rq_pending_overflow
//   (Envoy counts a max_requests overflow under the pending counter too).
// - max_connections: with HTTP/1.1 each active request holds one connection, so a request that
//   finds every connection slot busy counts upstream_cx_overflow and waits in the pending queue —
//   unless its host has no busy connection (Envoy always lets a host's pool open one connection).
// - max_pending_requests: requests waiting for a connection; over it → 503 UO,
//   upstream_rq_pending_overflow.
// - max_retries (or retry_budget): concurrent retries; over it → upstream_rq_retry_overflow.
// Gauges: upstream_cx_active, upstream_rq_active, upstream_rq_pending_active, and
// circuit_breakers.default.{cx,rq_pending,rq,rq_retry}_open, plus remaining_{cx,pending,rq,retries}
// when track_remaining is set.
import { lookup } from "node:dns/promises";
import * as http from "node:http";
import type { Duplex } from "node:stream";
import * as tls from "node:tls";
import { durationMs, type ProtoObject } from "../../envoy/protos.js";
import type { Counter, Gauge, StatsScope } from "../stats.js";
import { noteSdsUnavailable, TlsStats, tlsFailureReason, type UpstreamTls, type UpstreamTlsConfig, upstreamConnectOptions, upstreamTlsFromCluster } from "../tls-context.js";
import { XdsConfigError } from "../xds-error.js";
import { Host as HostClass, type Host, hostKey, hostsFromClusterLoadAssignment, type HostSet } from "./host.js";
import { createLoadBalancer, type LbContext, type LoadBalancer } from "./lb.js";
import { H1Pool } from "./pool-h1.js";
import { type Clock, type OutlierConfig, outlierConfig, OutlierDetector, realClock, type UpstreamOutcome } from "./outlier.js";

export type { UpstreamOutcome } from "./outlier.js";

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
   * TLS origination (the cluster's UpstreamTlsContext transport socket): undefined = plaintext;
   * kind "sds" = its secrets come over SDS, which is not served yet (connections fail, UF).
   */
  tls?: UpstreamTls;
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
  const thresholds = thresholdsOf(c, at);
  let outlier: OutlierConfig | undefined;
  if (c.outlierDetection !== undefined) {
    const od = obj(c.outlierDetection);
    if (!od) throw new XdsConfigError(at("outlierDetection"), "expected an OutlierDetection object");
    outlier = outlierConfig(od, at("outlierDetection"));
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
  if (outlier) spec.outlier = outlier;
  const tlsSpec = upstreamTlsFromCluster(c, at);
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

// ---------------------------------------------------------------------------------------------
// Circuit breakers

/** One circuit-breaker resource (Envoy's ResourceManagerImpl::ResourceImpl): count against max. */
export class Resource {
  count = 0;

  constructor(
    private readonly limit: () => number,
    private readonly open: Gauge,
    private readonly remaining: Gauge | undefined,
  ) {
    this.update();
  }

  get max(): number {
    return this.limit();
  }

  canCreate(): boolean {
    return this.count < this.limit();
  }

  inc(): void {
    this.count++;
    this.update();
  }

  dec(): void {
    if (this.count > 0) this.count--;
    this.update();
  }

  /** Sets the count (the legacy `activeRequests`/`activeRetries` fields write through here). */
  set(n: number): void {
    this.count = Math.max(0, n);
    this.update();
  }

  private update(): void {
    const max = this.limit();
    this.remaining?.set(max > this.count ? max - this.count : 0);
    this.open.set(this.count < max ? 0 : 1);
  }
}

/** The cluster's default-priority resource manager. */
export class CircuitBreakers {
  readonly connections: Resource;
  readonly pendingRequests: Resource;
  readonly requests: Resource;
  readonly retries: Resource;

  constructor(t: Thresholds, scope: StatsScope) {
    const s = scope.scope("circuit_breakers").scope("default");
    const rem = (n: string) => (t.trackRemaining ? s.gauge(n) : undefined);
    this.connections = new Resource(() => t.maxConnections, s.gauge("cx_open"), rem("remaining_cx"));
    this.pendingRequests = new Resource(() => t.maxPendingRequests, s.gauge("rq_pending_open"), rem("remaining_pending"));
    this.requests = new Resource(() => t.maxRequests, s.gauge("rq_open"), rem("remaining_rq"));
    const budget = t.retryBudget;
    // Envoy's RetryBudgetImpl: max(budget% of active + pending requests, min_retry_concurrency).
    const retryMax = budget
      ? () => Math.max(Math.floor((budget.budgetPercent / 100) * (this.requests.count + this.pendingRequests.count)), budget.minRetryConcurrency)
      : () => t.maxRetries;
    this.retries = new Resource(retryMax, s.gauge("rq_retry_open"), rem("remaining_retries"));
  }
}

/** An admitted upstream request (one try): holds its circuit-breaker resources until released. */
export interface RequestPermit {
  readonly ok: true;
  readonly pending: false;
  readonly host: Host;
  /** Call exactly once when the upstream request ends (response complete, reset, or abandoned). Idempotent. */
  release(): void;
}

/** A request the circuit breakers refused (503 UO), or a pending request that was cancelled. */
export interface Overflow {
  readonly ok: false;
  readonly reason: "overflow" | "cancelled";
}

/** A request waiting in the pending queue for a connection. */
export interface PendingRequest {
  readonly ok: true;
  readonly pending: true;
  /** Resolves with a permit once a connection is free, or an overflow (max_requests at that time). */
  readonly granted: Promise<RequestPermit | Overflow>;
  /**
   * Abandons the wait (route timeout, downstream disconnect): the request leaves the queue and
   * `granted` resolves `{ ok: false, reason: "cancelled" }`. If it was already granted, the permit
   * is released.
   */
  cancel(): void;
}

export type Admission = RequestPermit | Overflow | PendingRequest;

const OVERFLOW: Overflow = Object.freeze({ ok: false, reason: "overflow" as const });
const CANCELLED: Overflow = Object.freeze({ ok: false, reason: "cancelled" as const });

class Permit implements RequestPermit {
  readonly ok = true as const;
  readonly pending = false as const;
  private released = false;

  constructor(
    private readonly cluster: UpstreamCluster,
    readonly host: Host,
    /** Holds an HTTP/1.1 connection slot. */
    readonly slot: boolean,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.cluster.releasePermit(this);
  }
}

interface QueueEntry {
  host: Host;
  resolve: (r: RequestPermit | Overflow) => void;
  done: boolean;
  permit: RequestPermit | undefined;
}

/** Envoy's per-host upstream stats (/clusters `HOST::rq_success::N`, …). */
export class HostStats {
  cxTotal = 0;
  cxConnectFail = 0;
  rqTotal = 0;
  rqSuccess = 0;
  rqError = 0;
  rqTimeout = 0;
}

const HOST_STATS = new WeakMap<Host, HostStats>();

/** The host's stats (they live as long as the Host object, so they survive EDS/CDS updates). */
export function hostStats(host: Host): HostStats {
  let s = HOST_STATS.get(host);
  if (!s) HOST_STATS.set(host, (s = new HostStats()));
  return s;
}

/**
 * An http.Agent that reports every socket it opens and closes (upstream_cx_* accounting) and
 * originates TLS when the cluster has an UpstreamTlsContext. The request's `servername` is the SNI:
 * callers pass `sniFor(tls, host) ?? ""` (node's agent would otherwise derive it from the Host header).
 */
class ClusterAgent extends http.Agent {
  constructor(
    opts: http.AgentOptions,
    private readonly onOpen: (address: string, port: number, socket: Duplex) => void,
    private readonly tls: UpstreamTlsConfig | undefined,
    private readonly tlsStats: TlsStats | undefined,
  ) {
    super(opts);
  }

  /** Sockets are pooled per SNI too (Envoy keys connection pools by server name). */
  override getName(options?: http.ClientRequestArgs & { servername?: string }): string {
    const name = super.getName(options);
    return this.tls && options?.servername ? `${name}:${options.servername}` : name;
  }

  override createConnection(options: http.ClientRequestArgs & { servername?: string }, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const address = String(options.host ?? options.hostname ?? "");
    const port = Number(options.port ?? 80);
    if (this.tls) {
      const t = this.tls;
      const stats = this.tlsStats;
      const h = options.headers;
      const host = h !== undefined && !Array.isArray(h) && typeof (h as http.OutgoingHttpHeaders).host === "string" ? ((h as http.OutgoingHttpHeaders).host as string) : undefined;
      const s = tls.connect(upstreamConnectOptions(t, address, port, options.servername || undefined, host, ["http/1.1"]));
      let tcp = false;
      let secure = false;
      s.once("connect", () => (tcp = true));
      s.once("secureConnect", () => {
        secure = true;
        stats?.handshake.inc();
      });
      s.once("error", (err: NodeJS.ErrnoException) => {
        if (tcp && !secure) tlsFailureReason(err, stats);
      });
      this.onOpen(address, port, s);
      return s;
    }
    let reported = false;
    const report = (s: Duplex) => {
      if (reported) return;
      reported = true;
      this.onOpen(address, port, s);
    };
    const cb = callback
      ? (err: Error | null, s: Duplex) => {
          if (!err && s) report(s);
          callback(err, s);
        }
      : undefined;
    const s = super.createConnection(options, cb);
    if (s) report(s);
    return s;
  }
}

export interface ClusterOptions {
  /** Outlier detection's clock (tests inject a fake one). */
  clock?: Clock;
  /** Uniform in [0, 1) (outlier enforcing percentages, ejection jitter). */
  random?: () => number;
  /** The proxy's log (one line per cluster whose TLS secrets are missing); stderr by default. */
  log?: (line: string) => void;
}

/** A running cluster: hosts, load balancer, circuit breakers, outlier detection, connection pool, stats. */
export class UpstreamCluster {
  priorities: HostSet[] = [];
  byKey = new Map<string, Host>();
  private lb: LoadBalancer | undefined;
  /** EDS: set once endpoints arrived (Envoy's cluster warming). */
  warmed: boolean;
  /**
   * A node:http agent over the cluster's connection accounting (for callers that want node's
   * client; the router uses the HTTP/1.1 pool, `h1Pool`).
   */
  readonly agent: http.Agent;
  private pool: H1Pool | undefined;
  readonly stats: ClusterStats;
  /** `cluster.NAME.ssl.*` (undefined without TLS origination). */
  readonly tlsStats: TlsStats | undefined;
  readonly breakers: CircuitBreakers;
  /** Outlier detection (undefined when the cluster has none). */
  readonly outlier: OutlierDetector | undefined;
  private dnsTimer: NodeJS.Timeout | undefined;
  /** HTTP/1.1 connection slots in use (one per active non-multiplexed request), in total and per host. */
  private slotsBusy = 0;
  private readonly hostSlots = new Map<Host, number>();
  private readonly queue: QueueEntry[] = [];

  constructor(
    readonly spec: ClusterSpec,
    scope: StatsScope,
    previous?: UpstreamCluster,
    opts: ClusterOptions = {},
  ) {
    this.stats = new ClusterStats(scope);
    this.tlsStats = spec.tls?.kind === "tls" ? new TlsStats(scope) : undefined;
    this.log = opts.log ?? ((l) => process.stderr.write(l + "\n"));
    this.breakers = new CircuitBreakers(spec.thresholds, scope);
    this.outlier = spec.outlier ? new OutlierDetector(spec.outlier, scope, { clock: opts.clock ?? realClock, random: opts.random }, previous?.outlier) : undefined;
    // The pending queue and slot accounting enforce max_connections; the agent only bounds one
    // host's sockets (no cluster-wide cap: Envoy lets every host's pool open a connection).
    this.agent = new ClusterAgent(
      { keepAlive: true, maxSockets: spec.thresholds.maxConnections, timeout: spec.idleTimeoutMs ?? 3_600_000 },
      (address, port, socket) => {
        const host = this.byKey.get(hostKey(address, port));
        this.connectionOpened(host);
        this.stats.cxHttp1Total.inc();
        if (host) host.activeConnections++;
        socket.once("close", () => {
          this.connectionClosed();
          if (host) host.activeConnections--;
        });
      },
      spec.tls?.kind === "tls" ? spec.tls : undefined,
      this.tlsStats,
    );
    this.warmed = spec.type !== "EDS";
    const same = previous && previous.spec.type === spec.type ? previous : undefined;
    if (spec.type === "STATIC") {
      // Hosts are matched by address with the previous cluster's, so counters and ejections survive.
      if (same) this.byKey = same.byKey;
      this.setAssignment(obj(spec.object.loadAssignment) ?? { clusterName: spec.name });
    } else if (spec.type === "STRICT_DNS" || spec.type === "LOGICAL_DNS") {
      if (same) this.adopt(same);
      void this.resolveDns();
    } else if (spec.type === "EDS" && same && same.spec.edsServiceName === spec.edsServiceName && same.warmed) {
      // A CDS update of a warm cluster keeps its endpoints (Envoy does not re-warm on unchanged EDS names).
      this.adopt(same);
      this.warmed = true;
    }
  }

  get name(): string {
    return this.spec.name;
  }

  private readonly log: (line: string) => void;

  /**
   * The cluster's TLS origination settings (undefined: plaintext). A cluster whose secrets come
   * over SDS (kind "sds") must fail its connections: call `tlsUnavailable()` when refusing one.
   */
  get tls(): UpstreamTls | undefined {
    return this.spec.tls;
  }

  /** Logs (once per cluster) that a connection was refused for want of its SDS secrets. */
  tlsUnavailable(): void {
    const t = this.spec.tls;
    if (t?.kind === "sds") noteSdsUnavailable(this.spec.name, t, this.log);
  }

  /** The cluster's HTTP/1.1 connection pool (created on first use, closed with the cluster). */
  get h1Pool(): H1Pool {
    return (this.pool ??= new H1Pool(this));
  }

  private adopt(previous: UpstreamCluster): void {
    this.priorities = previous.priorities;
    this.byKey = previous.byKey;
    this.rebuildLb();
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
    if (this.outlier) this.outlier.setHosts(this.byKey.values());
    else for (const h of this.byKey.values()) if (h.ejected) h.ejected = false; // detection was removed
    this.lb = createLoadBalancer(this.spec.object as Parameters<typeof createLoadBalancer>[0], this.priorities);
    let healthy = 0;
    for (const h of this.byKey.values()) if (h.healthy) healthy++;
    this.stats.membershipTotal.set(this.byKey.size);
    this.stats.membershipHealthy.set(healthy);
  }

  pick(ctx?: LbContext): Host | undefined {
    return this.lb?.pick(ctx);
  }

  private readonly originalDst = new Map<string, Host>();

  /**
   * ORIGINAL_DST (Istio's PassthroughCluster): the host is where the downstream meant to go. In
   * local mode that is the explicit-proxy target, so the request's authority (or, with
   * use_http_header, x-envoy-original-dst-host). Hosts are kept in a bounded map, as Envoy's
   * cleanup_interval drops unused ones.
   */
  originalDestination(authority: string, header?: string): Host | undefined {
    const useHeader = (this.spec.object.originalDstLbConfig as ProtoObject | undefined)?.useHttpHeader === true;
    const target = (useHeader && header) || authority;
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(target);
    if (!m) return undefined;
    const address = m[1].replace(/^\[|\]$/g, "");
    const port = m[2] ? Number(m[2]) : 80;
    if (!address || port < 1 || port > 65535) return undefined;
    const key = hostKey(address, port);
    let h = this.originalDst.get(key);
    if (!h) {
      if (this.originalDst.size >= 1024) this.originalDst.delete(this.originalDst.keys().next().value!);
      h = new HostClass(address, port);
      this.originalDst.set(key, h);
    }
    return h;
  }

  hosts(): Host[] {
    return [...this.byKey.values()];
  }

  // ---- circuit breakers ----

  /**
   * Admits one upstream request (one try, retries included) to `host` under the circuit breakers.
   * HTTP/1.1 (default): the request needs a connection slot; with none free it waits in the
   * pending queue (upstream_cx_overflow; max_pending_requests bounds the queue). `multiplexed`
   * (HTTP/2): only max_requests applies. On success it counts upstream_rq_total,
   * upstream_rq_active, the host's rq_total and `host.activeRequests` until `release()`.
   */
  acquire(host: Host, opts?: { multiplexed?: boolean }): Admission {
    if (opts?.multiplexed) return this.attach(host, false);
    const b = this.breakers;
    if (this.slotsBusy < this.spec.thresholds.maxConnections) return this.takeSlot(host);
    if (!b.pendingRequests.canCreate()) {
      this.stats.rqPendingOverflow.inc();
      return OVERFLOW;
    }
    this.stats.cxOverflow.inc();
    // Envoy: a host whose pool has no connection always gets one, even over max_connections.
    if (!this.hostSlots.get(host)) return this.takeSlot(host);
    b.pendingRequests.inc();
    this.stats.rqPendingTotal.inc();
    this.stats.rqPendingActive.inc();
    const entry: QueueEntry = { host, resolve: () => {}, done: false, permit: undefined };
    const granted = new Promise<RequestPermit | Overflow>((resolve) => (entry.resolve = resolve));
    this.queue.push(entry);
    return {
      ok: true,
      pending: true,
      granted,
      cancel: () => {
        if (entry.done) {
          entry.permit?.release();
          return;
        }
        entry.done = true;
        const i = this.queue.indexOf(entry);
        if (i >= 0) this.queue.splice(i, 1);
        this.leavePending();
        this.stats.rqPendingCancelled.inc();
        entry.resolve(CANCELLED);
      },
    };
  }

  private takeSlot(host: Host): RequestPermit | Overflow {
    const r = this.attach(host, true);
    if (r.ok) {
      this.slotsBusy++;
      this.hostSlots.set(host, (this.hostSlots.get(host) ?? 0) + 1);
    }
    return r;
  }

  /** Envoy's attachStreamToClient: the max_requests check, then the request is active. */
  private attach(host: Host, slot: boolean): RequestPermit | Overflow {
    const rq = this.breakers.requests;
    if (!rq.canCreate()) {
      this.stats.rqPendingOverflow.inc();
      return OVERFLOW;
    }
    rq.inc();
    this.stats.rqTotal.inc();
    this.stats.rqActive.inc();
    host.activeRequests++;
    hostStats(host).rqTotal++;
    return new Permit(this, host, slot);
  }

  private leavePending(): void {
    this.breakers.pendingRequests.dec();
    this.stats.rqPendingActive.dec();
  }

  /** @internal Permit.release(). */
  releasePermit(p: Permit): void {
    this.breakers.requests.dec();
    this.stats.rqActive.dec();
    p.host.activeRequests--;
    if (!p.slot) return;
    // The connection is free: the oldest request pending for the same host takes it over.
    for (let i = 0; i < this.queue.length; i++) {
      const e = this.queue[i];
      if (e.host !== p.host) continue;
      this.queue.splice(i, 1);
      this.leavePending();
      const r = this.attach(e.host, true);
      e.done = true;
      if (r.ok) {
        e.permit = r;
        e.resolve(r);
        return; // the slot moved to this request
      }
      e.resolve(r);
      i--;
    }
    this.slotsBusy--;
    const n = (this.hostSlots.get(p.host) ?? 1) - 1;
    if (n > 0) this.hostSlots.set(p.host, n);
    else this.hostSlots.delete(p.host);
    // A slot opened up: pending requests (any host) may open a new connection.
    while (this.queue.length > 0 && this.slotsBusy < this.spec.thresholds.maxConnections) {
      const e = this.queue.shift()!;
      this.leavePending();
      const r = this.takeSlot(e.host);
      e.done = true;
      if (r.ok) e.permit = r;
      e.resolve(r);
    }
  }

  /** Requests waiting in the pending queue. */
  get pendingRequests(): number {
    return this.breakers.pendingRequests.count;
  }

  /** Active requests (max_requests). Writable for callers that account themselves (legacy). */
  get activeRequests(): number {
    return this.breakers.requests.count;
  }
  set activeRequests(n: number) {
    this.breakers.requests.set(n);
  }

  /** Active retries (max_retries / retry budget). Writable for callers that account themselves (legacy). */
  get activeRetries(): number {
    return this.breakers.retries.count;
  }
  set activeRetries(n: number) {
    this.breakers.retries.set(n);
  }

  /**
   * Takes a retry from max_retries (or the retry budget): false, counting
   * upstream_rq_retry_overflow, when none is left. Pair a true result with `releaseRetry()` once
   * the retry's backoff is over (Envoy holds it from scheduling until the retry is sent).
   */
  acquireRetry(): boolean {
    const r = this.breakers.retries;
    if (!r.canCreate()) {
      this.stats.rqRetryOverflow.inc();
      return false;
    }
    r.inc();
    return true;
  }

  releaseRetry(): void {
    this.breakers.retries.dec();
  }

  /** Whether a new connection fits under max_connections (HTTP/2 pools; upstream_cx_overflow when not). */
  canCreateConnection(): boolean {
    if (this.breakers.connections.canCreate()) return true;
    this.stats.cxOverflow.inc();
    return false;
  }

  /**
   * A connection to the cluster opened: upstream_cx_total, upstream_cx_active, the connections
   * resource (cx_open / remaining_cx) and the host's cx_total. The cluster's own agent reports its
   * sockets itself (and maintains `host.activeConnections` for them); call this only for
   * connections opened elsewhere (HTTP/2 sessions), paired with `connectionClosed()`.
   */
  connectionOpened(host?: Host): void {
    this.breakers.connections.inc();
    this.stats.cxTotal.inc();
    this.stats.cxActive.inc();
    if (host) hostStats(host).cxTotal++;
  }

  connectionClosed(): void {
    this.breakers.connections.dec();
    this.stats.cxActive.dec();
  }

  // ---- outlier detection ----

  /**
   * One upstream try's result for `host`: per-host stats (rq_success / rq_error / rq_timeout /
   * cx_connect_fail) and outlier detection. Report gRPC responses with the HTTP status Envoy maps
   * grpc-status to (`grpcToHttpStatus` in outlier.ts).
   */
  reportResult(host: Host, outcome: UpstreamOutcome): void {
    const hs = hostStats(host);
    switch (outcome.kind) {
      case "response":
        if (outcome.status >= 500) hs.rqError++;
        else hs.rqSuccess++;
        break;
      case "connect-failure":
        hs.cxConnectFail++;
        hs.rqError++;
        break;
      case "reset":
        hs.rqError++;
        break;
      case "timeout":
        hs.rqTimeout++;
        hs.rqError++;
        break;
    }
    this.outlier?.report(host, outcome);
  }

  /** `reportResult(host, { kind: "response", status })` without the allocation (the hot path). */
  reportResponse(host: Host, status: number): void {
    const hs = hostStats(host);
    if (status >= 500) hs.rqError++;
    else hs.rqSuccess++;
    if (this.outlier) this.outlier.reportHttpStatus(host, status);
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
      if (this.closed) return;
      this.setAssignment(resolved);
    } catch {
      this.stats.updateFailure.inc();
    }
    if (this.closed) return;
    // Envoy re-resolves every dns_refresh_rate (5 s by default).
    this.dnsTimer = setTimeout(() => void this.resolveDns(), durationMs(this.spec.object.dnsRefreshRate) ?? 5000);
    this.dnsTimer.unref();
  }

  private closed = false;

  /** Stops timers and closes idle connections. Host flags stay (a successor cluster carries them). */
  close(): void {
    this.closed = true;
    if (this.dnsTimer) clearTimeout(this.dnsTimer);
    this.outlier?.close();
    this.pool?.close();
    this.agent.destroy();
  }
}

/** Envoy's cluster stats the proxy maintains (cluster.NAME.*). */
export class ClusterStats {
  readonly rqTotal: Counter;
  readonly rqActive: Gauge;
  readonly rqPendingTotal: Counter;
  readonly rqPendingActive: Gauge;
  readonly rqPendingOverflow: Counter;
  readonly rqPendingCancelled: Counter;
  readonly rqRetry: Counter;
  readonly rqRetryOverflow: Counter;
  readonly rqRetrySuccess: Counter;
  readonly rqTimeout: Counter;
  readonly rqPerTryTimeout: Counter;
  readonly cxTotal: Counter;
  readonly cxHttp1Total: Counter;
  readonly cxHttp2Total: Counter;
  readonly cxActive: Gauge;
  readonly cxConnectFail: Counter;
  /** Responses that were not HTTP (Envoy's codec_client.cc counts codec errors here). */
  readonly cxProtocolError: Counter;
  readonly cxNoneHealthy: Counter;
  readonly cxOverflow: Counter;
  readonly rq2xx: Counter;
  readonly rq3xx: Counter;
  readonly rq4xx: Counter;
  readonly rq5xx: Counter;
  readonly membershipTotal: Gauge;
  readonly membershipHealthy: Gauge;
  readonly updateFailure: Counter;

  constructor(s: StatsScope) {
    this.rqTotal = s.counter("upstream_rq_total");
    this.rqActive = s.gauge("upstream_rq_active");
    this.rqPendingTotal = s.counter("upstream_rq_pending_total");
    this.rqPendingActive = s.gauge("upstream_rq_pending_active");
    this.rqPendingOverflow = s.counter("upstream_rq_pending_overflow");
    this.rqPendingCancelled = s.counter("upstream_rq_cancelled");
    this.rqRetry = s.counter("upstream_rq_retry");
    this.rqRetryOverflow = s.counter("upstream_rq_retry_overflow");
    this.rqRetrySuccess = s.counter("upstream_rq_retry_success");
    this.rqTimeout = s.counter("upstream_rq_timeout");
    this.rqPerTryTimeout = s.counter("upstream_rq_per_try_timeout");
    this.cxTotal = s.counter("upstream_cx_total");
    this.cxHttp1Total = s.counter("upstream_cx_http1_total");
    this.cxHttp2Total = s.counter("upstream_cx_http2_total");
    this.cxActive = s.gauge("upstream_cx_active");
    this.cxConnectFail = s.counter("upstream_cx_connect_fail");
    this.cxProtocolError = s.counter("upstream_cx_protocol_error");
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
