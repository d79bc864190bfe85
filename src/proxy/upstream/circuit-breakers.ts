// Envoy's circuit breakers for one cluster (ResourceManagerImpl, default priority) and the HTTP/1.1
// pool's admission (conn_pool_base.cc):
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
// This is the in-process admission (one process serves the traffic). Under `--concurrency N` a
// worker admits through leases from its primary instead (leased-resources.ts), behind the same
// ClusterResources interface, so the limits hold for the proxy as a whole.
import type { Gauge, StatsScope } from "../stats.js";
import type { Thresholds } from "./cluster-config.js";
import { type ClusterStats, hostStats } from "./cluster-stats.js";
import type { Host } from "./host.js";

/** circuit_breakers.default.*_open: 1 once the resource is at its limit. */
export function openGauge(count: number, max: number): number {
  return count < max ? 0 : 1;
}

/** circuit_breakers.default.remaining_*: what is left under the limit. */
export function remainingGauge(count: number, max: number): number {
  return max > count ? max - count : 0;
}

/** Envoy's RetryBudgetImpl: max(budget% of active + pending requests, min_retry_concurrency). */
export function retryBudgetMax(budget: NonNullable<Thresholds["retryBudget"]>, activeAndPending: number): number {
  return Math.max(Math.floor((budget.budgetPercent / 100) * activeAndPending), budget.minRetryConcurrency);
}

/**
 * A proxy's circuit-breaker gauges for one cluster from its proxy-wide usage (the primary of
 * `--concurrency N` sets them on the summed stats: each worker only sees its share).
 */
export function setBreakerGauges(scope: StatsScope, t: Thresholds, usage: { connections: number; pending: number; requests: number; retries: number }): void {
  const s = scope.scope("circuit_breakers").scope("default");
  const retryMax = t.retryBudget ? retryBudgetMax(t.retryBudget, usage.requests + usage.pending) : t.maxRetries;
  const rows: Array<[string, string, number, number]> = [
    ["cx_open", "remaining_cx", usage.connections, t.maxConnections],
    ["rq_pending_open", "remaining_pending", usage.pending, t.maxPendingRequests],
    ["rq_open", "remaining_rq", usage.requests, t.maxRequests],
    ["rq_retry_open", "remaining_retries", usage.retries, retryMax],
  ];
  for (const [open, remaining, count, max] of rows) {
    s.gauge(open).set(openGauge(count, max));
    if (t.trackRemaining) s.gauge(remaining).set(remainingGauge(count, max));
  }
}

/** An upstream request (one try) became active on `host`: upstream_rq_total, upstream_rq_active, the host's counters. */
export function countRequestStart(stats: ClusterStats, host: Host): void {
  stats.rqTotal.inc();
  stats.rqActive.inc();
  host.activeRequests++;
  hostStats(host).rqTotal++;
}

/** The request ended. */
export function countRequestEnd(stats: ClusterStats, host: Host): void {
  stats.rqActive.dec();
  host.activeRequests--;
}

/** A connection opened: upstream_cx_total, upstream_cx_active and the host's cx_total. */
export function countConnectionOpened(stats: ClusterStats, host: Host | undefined): void {
  stats.cxTotal.inc();
  stats.cxActive.inc();
  if (host) hostStats(host).cxTotal++;
}

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

  private update(): void {
    const max = this.limit();
    this.remaining?.set(remainingGauge(this.count, max));
    this.open.set(openGauge(this.count, max));
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
    const retryMax = budget ? () => retryBudgetMax(budget, this.requests.count + this.pendingRequests.count) : () => t.maxRetries;
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

export const OVERFLOW: Overflow = Object.freeze({ ok: false, reason: "overflow" as const });
export const CANCELLED: Overflow = Object.freeze({ ok: false, reason: "cancelled" as const });

/**
 * A cluster's admission under its circuit breakers, as the router and the pools use it: in one
 * process the ResourceManager below; in a `--concurrency` worker, leases from the primary.
 */
export interface ClusterResources {
  /** The cluster's circuit breakers (in one process; a worker has only leases). */
  readonly breakers?: CircuitBreakers;
  readonly pendingRequests: number;
  readonly activeRequests: number;
  readonly activeRetries: number;
  /** Admits one upstream request (one try) to `host`: a permit, a place in the pending queue, or an overflow. */
  acquire(host: Host, opts?: { multiplexed?: boolean }): Admission;
  /**
   * Takes a retry from max_retries (or the retry budget): false (upstream_rq_retry_overflow) when
   * none is left; a promise when only the primary of `--concurrency N` can tell. Pair a true
   * result with releaseRetry().
   */
  acquireRetry(): boolean | Promise<boolean>;
  releaseRetry(): void;
  /** Whether a new connection fits under max_connections (HTTP/2 pools; upstream_cx_overflow when not). */
  canCreateConnection(): boolean;
  connectionOpened(host?: Host): void;
  connectionClosed(): void;
  /** The cluster object is replaced or removed (its requests still release what they hold). */
  close(): void;
}

/** An admitted request's permit: released once, back to the admission that gave it. */
export class Permit implements RequestPermit {
  readonly ok = true as const;
  readonly pending = false as const;
  private released = false;

  constructor(
    private readonly manager: { releasePermit(p: Permit): void },
    readonly host: Host,
    /** Holds an HTTP/1.1 connection slot. */
    readonly slot: boolean,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.manager.releasePermit(this);
  }
}

interface QueueEntry {
  host: Host;
  resolve: (r: RequestPermit | Overflow) => void;
  done: boolean;
  permit: RequestPermit | undefined;
}


/** The cluster's admission: its circuit breakers, connection slots and pending queue. */
export class ResourceManager implements ClusterResources {
  readonly breakers: CircuitBreakers;
  /** HTTP/1.1 connection slots in use (one per active non-multiplexed request), in total and per host. */
  private slotsBusy = 0;
  /**
   * (Weak, and a host's count goes to 0 rather than being deleted: a delete per request made the
   * long-lived map rehash now and then, and its new tables were promoted garbage.)
   */
  private readonly hostSlots = new WeakMap<Host, number>();
  private readonly queue: QueueEntry[] = [];

  constructor(
    private readonly thresholds: Thresholds,
    private readonly stats: ClusterStats,
    scope: StatsScope,
  ) {
    this.breakers = new CircuitBreakers(thresholds, scope);
  }


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
    if (this.slotsBusy < this.thresholds.maxConnections) return this.takeSlot(host);
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
    countRequestStart(this.stats, host);
    return new Permit(this, host, slot);
  }

  private leavePending(): void {
    this.breakers.pendingRequests.dec();
    this.stats.rqPendingActive.dec();
  }

  /** @internal Permit.release(). */
  releasePermit(p: Permit): void {
    this.breakers.requests.dec();
    countRequestEnd(this.stats, p.host);
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
    this.hostSlots.set(p.host, (this.hostSlots.get(p.host) ?? 1) - 1);
    // A slot opened up: pending requests (any host) may open a new connection.
    while (this.queue.length > 0 && this.slotsBusy < this.thresholds.maxConnections) {
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

  /** Active requests (max_requests). */
  get activeRequests(): number {
    return this.breakers.requests.count;
  }

  /** Active retries (max_retries / retry budget). */
  get activeRetries(): number {
    return this.breakers.retries.count;
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
    countConnectionOpened(this.stats, host);
  }

  connectionClosed(): void {
    this.breakers.connections.dec();
    this.stats.cxActive.dec();
  }

  close(): void {
    // Nothing to hand back: in one process the counts die with the cluster object.
  }
}
