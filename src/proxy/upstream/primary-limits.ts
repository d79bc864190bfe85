// The primary's side of the proxy-wide limits under `--concurrency N`
// (docs/design/concurrency-limits.md): one lease arbiter per cluster name (lease-arbiter.ts) over
// the thresholds the primary's own config holds, one outlier detector per cluster fed by every
// worker (shared-outlier.ts), one outbox per worker, and the circuit-breaker gauges /stats shows
// (the workers' counts summed, the open/remaining gauges computed from the sums — a sum of per-worker
// 0/1 gauges would mean nothing).
import type { StatsStore } from "../stats.js";
import { setBreakerGauges } from "./circuit-breakers.js";
import { type ClusterSpec, DEFAULT_THRESHOLDS } from "./cluster-config.js";
import { LeaseArbiter } from "./lease-arbiter.js";
import { type Clock, realClock } from "../../core/clock.js";
import type { OutlierDetector, OutlierOptions } from "./outlier.js";
import type { OutlierConfig } from "./outlier-config.js";
import { OutlierHub } from "./shared-outlier.js";
import { type ClusterSharing, Outbox, RETRY, type ToPrimary, type ToWorker } from "./shared-limits.js";

export class PrimaryLimits implements ClusterSharing {
  private readonly arbiters = new Map<string, LeaseArbiter>();
  private readonly outboxes = new Map<number, Outbox<ToWorker>>();
  readonly outlier: OutlierHub;

  constructor(
    /** The primary's current spec of a cluster (its thresholds are the limits). */
    private readonly spec: (name: string) => ClusterSpec | undefined,
    private readonly deliver: (worker: number, batch: ToWorker[]) => void,
    private readonly clock: Pick<Clock, "setTimeout" | "clearTimeout"> = realClock,
  ) {
    this.outlier = new OutlierHub({ broadcast: (m) => this.broadcast(m), workers: () => [...this.outboxes.keys()] });
  }

  detector(name: string, config: OutlierConfig, scope: Parameters<OutlierHub["detector"]>[2], opts: OutlierOptions, previous: OutlierDetector | undefined): OutlierDetector {
    return this.outlier.detector(name, config, scope, opts, previous);
  }

  /** A worker was forked: it gets messages from now on. */
  workerStarted(worker: number): void {
    this.outboxOf(worker);
  }

  /** A worker is up: what it must know of the detectors' state (ejections, suspects). */
  workerReady(worker: number): void {
    for (const m of this.outlier.snapshot()) this.outboxOf(worker).push(m);
  }

  /** A worker exited: its leases return, its waiting requests leave the queues. */
  workerGone(worker: number): void {
    this.outboxes.delete(worker);
    for (const a of this.arbiters.values()) a.workerGone(worker);
    this.outlier.workerGone(worker);
  }

  receive(worker: number, batch: readonly ToPrimary[]): void {
    if (!this.outboxes.has(worker)) return; // gone meanwhile
    const touched = new Set<LeaseArbiter>();
    for (const m of batch) {
      if (m.k === "od" || m.k === "odr") this.outlier.receive(worker, m);
      else {
        const a = this.arbiter(m.c);
        a.receive(worker, m);
        touched.add(a);
      }
    }
    // Waiters are served once the whole batch is in: a release returns its connection and request together.
    for (const a of touched) a.pump();
  }

  /**
   * The arbiter of a cluster (created on first use, kept for the life of the process as the
   * workers keep their books: their counters stay paired; its limits follow the primary's config).
   */
  arbiter(name: string): LeaseArbiter {
    // A cluster a worker names before the primary has it: Envoy's defaults meanwhile.
    const t = this.spec(name)?.thresholds ?? DEFAULT_THRESHOLDS;
    let a = this.arbiters.get(name);
    if (a === undefined) {
      a = new LeaseArbiter(name, t, { send: (w, m) => this.sendTo(w, m), workers: () => this.outboxes.size, clock: this.clock });
      this.arbiters.set(name, a);
    } else a.setLimits(t);
    return a;
  }

  /**
   * Sets the circuit_breakers.default.* gauges of `merged` (the workers' stats summed) from the
   * proxy-wide counts: connections, requests and pending requests as the workers count them,
   * retries as lent.
   */
  breakerGauges(merged: StatsStore, clusters: Iterable<{ name: string; spec: ClusterSpec }>): void {
    for (const c of clusters) {
      const scope = merged.tagged("cluster.", c.name);
      const g = (n: string) => Math.max(0, scope.gauge(n).value);
      const retries = this.arbiters.get(c.name)?.leased[RETRY] ?? 0;
      setBreakerGauges(scope, c.spec.thresholds, { connections: g("upstream_cx_active"), pending: g("upstream_rq_pending_active"), requests: g("upstream_rq_active"), retries });
    }
  }

  close(): void {
    for (const a of this.arbiters.values()) a.close();
    this.outlier.close();
    for (const o of this.outboxes.values()) o.flush();
  }

  private outboxOf(worker: number): Outbox<ToWorker> {
    let o = this.outboxes.get(worker);
    if (o === undefined) this.outboxes.set(worker, (o = new Outbox((batch) => this.deliver(worker, batch))));
    return o;
  }

  private sendTo(worker: number, m: ToWorker): void {
    this.outboxes.get(worker)?.push(m);
  }

  private broadcast(m: ToWorker): void {
    for (const o of this.outboxes.values()) o.push(m);
  }
}
