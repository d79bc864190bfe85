// A cluster as Envoy runs it: discovery type (EDS, STATIC, STRICT_DNS/LOGICAL_DNS, ORIGINAL_DST),
// hosts by priority, a load balancer, circuit breakers (circuit-breakers.ts), outlier detection,
// the upstream HTTP protocol, and per-cluster connection pools. Built from a compiled CDS Cluster
// (cluster-config.ts); hosts and their counters and ejections carry over to its successor. Under
// `--concurrency N` (a ClusterSharing given), the circuit breakers and outlier detection are the
// proxy's as a whole: a worker's cluster admits through leases and reports its results to the
// primary, whose cluster runs the one detector.
import { localPeer, type LocalPeer } from "../observability/peer-metadata.js";
import type { MetadataExchangeConfig } from "../observability/tcp-metadata-exchange.js";
import { lookup } from "node:dns/promises";
import type * as v3 from "../../envoy/types.js";
import type { StatsScope } from "../stats.js";
import { TlsStats } from "../tls/common.js";
import { SdsBinding } from "../tls/sds-binding.js";
import { SecretManager } from "../tls/secrets.js";
import { noteSdsUnavailable, type UpstreamTls, type UpstreamTlsConfig, type UpstreamTlsUnavailable } from "../tls/upstream.js";
import { type Admission, type CircuitBreakers, type ClusterResources, ResourceManager } from "./circuit-breakers.js";
import { type ClusterSpec, transportSocketMatchSelects } from "./cluster-config.js";
import { ClusterStats, hostStats } from "./cluster-stats.js";
import { Host as HostClass, type Host, hostKey, hostsFromClusterLoadAssignment, type HostSet } from "./host.js";
import { createLoadBalancer, type LbContext, type LoadBalancer } from "./lb.js";
import { H1Pool } from "./pool-h1.js";
import { H2Pool } from "./pool-h2.js";
import { type Clock, realClock } from "../../core/clock.js";
import { OutlierDetector, type UpstreamOutcome } from "./outlier.js";
import type { ClusterSharing, OutlierSink } from "./shared-limits.js";

export type { UpstreamOutcome } from "./outlier.js";
export { clusterSpec, type ClusterSpec, type DiscoveryType, type Thresholds } from "./cluster-config.js";
export { type Admission, type Overflow, type PendingRequest, type RequestPermit } from "./circuit-breakers.js";
export { ClusterStats, HostStats, hostStats } from "./cluster-stats.js";

export interface ClusterOptions {
  /** Outlier detection's clock (tests inject a fake one). */
  clock?: Clock;
  /** Uniform in [0, 1) (outlier enforcing percentages, ejection jitter). */
  random?: () => number;
  /** The proxy's log (one line per cluster whose TLS secrets are missing); stderr by default. */
  log?: (line: string) => void;
  /** `--concurrency N`: limits and outlier detection shared with the other processes of the proxy. */
  sharing?: ClusterSharing;
  /** The proxy's SDS secrets (TLS contexts over SDS watch theirs); without it they never arrive. */
  secrets?: SecretManager;
  /** The proxy's node id and metadata: what a metadata exchange cluster filter sends about it. */
  localNode?: { readonly id: string; readonly metadata: Readonly<Record<string, unknown>> };
}

/** A host's transport socket as the cluster runs it: a static context, or one bound to its SDS secrets. */
type TlsSlot = UpstreamTlsConfig | SdsBinding<UpstreamTlsConfig> | undefined;

/** What a connection uses: the context, the missing secrets (fail), or plaintext (undefined). */
export type HostTls = UpstreamTlsConfig | UpstreamTlsUnavailable | undefined;

/** A running cluster: hosts, load balancer, circuit breakers, outlier detection, connection pool, stats. */
export class UpstreamCluster {
  priorities: HostSet[] = [];
  byKey = new Map<string, Host>();
  private lb: LoadBalancer | undefined;
  /** EDS: set once endpoints arrived (Envoy's cluster warming). */
  warmed: boolean;
  private pool: H1Pool | undefined;
  private pool2: H2Pool | undefined;
  readonly stats: ClusterStats;
  /** `cluster.NAME.ssl.*` (undefined without TLS origination). */
  readonly tlsStats: TlsStats | undefined;
  /** The circuit breakers and the HTTP/1.1 admission (connection slots, pending queue). */
  readonly resources: ClusterResources;
  /** Outlier detection (undefined when the cluster has none, or in a worker: the primary detects). */
  readonly outlier: OutlierDetector | undefined;
  /** Where results go: the detector, or a worker's relay to the primary's. */
  private readonly outcomes: OutlierSink | undefined;
  private dnsTimer: NodeJS.Timeout | undefined;
  /** Cluster.filters' metadata exchange and what this proxy sends in it (undefined: none configured). */
  readonly metadataExchange: { readonly config: MetadataExchangeConfig; readonly local: LocalPeer } | undefined;

  constructor(
    readonly spec: ClusterSpec,
    scope: StatsScope,
    previous?: UpstreamCluster,
    opts: ClusterOptions = {},
  ) {
    this.stats = new ClusterStats(scope);
    const mx = spec.metadataExchange;
    this.metadataExchange = mx && { config: mx, local: localPeer(opts.localNode?.id ?? "", opts.localNode?.metadata ?? {}, mx.additionalLabels) };
    this.tlsStats = spec.tls !== undefined || spec.transportSocketMatches.some((m) => m.tls !== undefined) ? new TlsStats(scope) : undefined;
    this.log = opts.log ?? ((l) => process.stderr.write(l + "\n"));
    const secrets = opts.secrets ?? new SecretManager();
    this.tlsDefault = this.bindTls(spec.tls, secrets, `cluster ${spec.name}`);
    this.tlsMatches = spec.transportSocketMatches.map((m, i) => this.bindTls(m.tls, secrets, `cluster ${spec.name} transport socket match ${m.name || i}`));
    const sharing = opts.sharing;
    this.resources =
      sharing?.resources?.(spec, this.stats, { idleTo: (h) => this.pool?.idleTo(h) ?? 0, closeIdle: (n) => this.pool?.closeIdle(n) ?? 0, closing: () => this.pool?.closing ?? 0 }) ?? new ResourceManager(spec.thresholds, this.stats, scope);
    if (spec.outlier) {
      const od = { clock: opts.clock ?? realClock, random: opts.random };
      this.outcomes = sharing?.outlierSink?.(spec);
      if (this.outcomes === undefined) this.outcomes = this.outlier = sharing?.detector?.(spec.name, spec.outlier, scope, od, previous?.outlier) ?? new OutlierDetector(spec.outlier, scope, od, previous?.outlier);
    }
    this.warmed = spec.type !== "EDS";
    const same = previous && previous.spec.type === spec.type ? previous : undefined;
    if (spec.type === "STATIC") {
      // Hosts are matched by address with the previous cluster's, so counters and ejections survive.
      if (same) this.byKey = same.byKey;
      this.setAssignment(spec.object.loadAssignment ?? { clusterName: spec.name });
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

  private readonly tlsDefault: TlsSlot;
  /** Parallel to spec.transportSocketMatches. */
  private readonly tlsMatches: readonly TlsSlot[];
  private sdsLogged = false;

  private bindTls(t: UpstreamTls | undefined, secrets: SecretManager, what: string): TlsSlot {
    if (t === undefined || t.kind === "tls") return t;
    return new SdsBinding<UpstreamTlsConfig>(secrets, t.refs, (s) => t.build(s), what, this.log);
  }

  private static resolve(slot: TlsSlot, t: UpstreamTls | undefined): HostTls {
    if (slot instanceof SdsBinding) return slot.current ?? (t as UpstreamTlsUnavailable);
    return slot;
  }

  /**
   * The transport socket for connections to `host`: the first transport_socket_matches entry whose
   * match fields the host's `envoy.transport_socket_match` metadata all holds, else the cluster's.
   * A context over SDS gives its current secrets' context (looked up per connection, so a rotated
   * certificate is used by the next connection), or kind "sds" while a secret is missing — the
   * connection must then fail: call `tlsUnavailable()` when refusing it.
   */
  tlsFor(host: Host): HostTls {
    const matches = this.spec.transportSocketMatches;
    for (let i = 0; i < matches.length; i++) if (transportSocketMatchSelects(matches[i], host.metadata)) return UpstreamCluster.resolve(this.tlsMatches[i], matches[i].tls);
    return UpstreamCluster.resolve(this.tlsDefault, this.spec.tls);
  }

  /** Logs (once per cluster) that a connection was refused for want of its SDS secrets. */
  tlsUnavailable(t: HostTls): void {
    if (t?.kind !== "sds" || this.sdsLogged) return;
    this.sdsLogged = true;
    noteSdsUnavailable(this.spec.name, t, this.log);
  }

  /** The cluster's TLS contexts as they are now (for /certs): static ones and SDS ones that have their secrets. */
  tlsContexts(): UpstreamTlsConfig[] {
    const out: UpstreamTlsConfig[] = [];
    for (const slot of [this.tlsDefault, ...this.tlsMatches]) {
      const t = slot instanceof SdsBinding ? slot.current : slot;
      if (t) out.push(t);
    }
    return out;
  }

  /** The cluster's HTTP/1.1 connection pool (created on first use, closed with the cluster). */
  get h1Pool(): H1Pool {
    return (this.pool ??= new H1Pool(this));
  }

  /** The cluster's HTTP/2 connection pool (created on first use, closed with the cluster). */
  get h2Pool(): H2Pool {
    return (this.pool2 ??= new H2Pool(this));
  }

  private adopt(previous: UpstreamCluster): void {
    this.priorities = previous.priorities;
    this.byKey = previous.byKey;
    this.rebuildLb();
  }

  /** EDS update (or STATIC/DNS assignment): hosts are reused by address so counters survive. */
  setAssignment(cla: v3.ClusterLoadAssignment): void {
    const { priorities, byKey } = hostsFromClusterLoadAssignment(cla, this.byKey, { requireIp: this.spec.type === "EDS" || this.spec.type === "STATIC" });
    this.priorities = priorities;
    this.byKey = byKey;
    this.warmed = true;
    this.rebuildLb();
  }

  private rebuildLb(): void {
    if (this.outcomes) this.outcomes.setHosts(this.byKey.values());
    else for (const h of this.byKey.values()) if (h.ejected) h.ejected = false; // detection was removed
    this.lb = this.spec.lb ? createLoadBalancer(this.spec.lb, this.priorities) : undefined;
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
    const target = (this.spec.originalDstUseHttpHeader && header) || authority;
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

  // ---- circuit breakers (the cluster's ResourceManager) ----

  /** Admits one upstream request (one try) to `host`: a permit, a place in the pending queue, or an overflow. */
  acquire(host: Host, opts?: { multiplexed?: boolean }): Admission {
    return this.resources.acquire(host, opts);
  }

  /** The circuit breakers (undefined in a `--concurrency` worker, which holds leases instead). */
  get breakers(): CircuitBreakers | undefined {
    return this.resources.breakers;
  }

  /** Requests waiting in the pending queue. */
  get pendingRequests(): number {
    return this.resources.pendingRequests;
  }

  /** Active requests (max_requests). */
  get activeRequests(): number {
    return this.resources.activeRequests;
  }

  /** Active retries (max_retries, retry budget). */
  get activeRetries(): number {
    return this.resources.activeRetries;
  }

  /**
   * Takes a retry from max_retries (or the retry budget); pair a true result with releaseRetry().
   * A promise when only the primary of `--concurrency N` can tell.
   */
  acquireRetry(): boolean | Promise<boolean> {
    return this.resources.acquireRetry();
  }

  releaseRetry(): void {
    this.resources.releaseRetry();
  }

  /** Whether a new connection fits under max_connections (HTTP/2 pools; upstream_cx_overflow when not). */
  canCreateConnection(): boolean {
    return this.resources.canCreateConnection();
  }

  /** A connection to the cluster opened (counted against max_connections until connectionClosed()). */
  connectionOpened(host?: Host): void {
    this.resources.connectionOpened(host);
  }

  connectionClosed(): void {
    this.resources.connectionClosed();
  }

  // ---- outlier detection ----

  /**
   * One upstream try's result for `host`: per-host stats (rq_success / rq_error / rq_timeout /
   * cx_connect_fail) and outlier detection. Report gRPC responses with the HTTP status Envoy maps
   * grpc-status to (`grpcToHttpStatus` in core/grpc.ts).
   */
  reportResult(host: Host, outcome: UpstreamOutcome): void {
    const hs = hostStats(host);
    switch (outcome.kind) {
      case "response":
        if (outcome.status >= 500) hs.rqError++;
        else hs.rqSuccess++;
        break;
      case "connect-failure":
        // (the host's cx_connect_fail is counted by the connector, for every failed connection)
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
    this.outcomes?.report(host, outcome);
  }

  /** `reportResult(host, { kind: "response", status })` without the allocation (the hot path). */
  reportResponse(host: Host, status: number): void {
    const hs = hostStats(host);
    if (status >= 500) hs.rqError++;
    else hs.rqSuccess++;
    const o = this.outcomes;
    if (o !== undefined) o.reportHttpStatus(host, status);
  }

  private async resolveDns(): Promise<void> {
    // clusterSpec refused a DNS cluster without a load_assignment.
    const cla = this.spec.object.loadAssignment ?? {};
    try {
      const resolved = structuredClone(cla);
      for (const l of resolved.endpoints ?? []) {
        for (const e of l.lbEndpoints ?? []) {
          const sa = e.endpoint?.address?.socketAddress;
          if (sa?.address !== undefined) sa.address = (await lookup(sa.address, { family: 4 })).address;
        }
      }
      if (this.closed) return;
      this.setAssignment(resolved);
    } catch {
      this.stats.updateFailure.inc();
    }
    if (this.closed) return;
    // Envoy re-resolves every dns_refresh_rate (5 s by default).
    this.dnsTimer = setTimeout(() => void this.resolveDns(), this.spec.dnsRefreshRateMs);
    this.dnsTimer.unref();
  }

  private closed = false;

  /** Stops timers and closes idle connections. Host flags stay (a successor cluster carries them). */
  close(): void {
    this.closed = true;
    if (this.dnsTimer) clearTimeout(this.dnsTimer);
    for (const slot of [this.tlsDefault, ...this.tlsMatches]) if (slot instanceof SdsBinding) slot.release();
    this.outcomes?.close();
    this.resources.close();
    this.pool?.close();
    this.pool2?.close();
  }
}
