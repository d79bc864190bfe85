// A `--concurrency` worker's side of the proxy-wide limits (docs/design/concurrency-limits.md):
// its clusters admit through lease books (one per cluster name), their results go to the primary's
// outlier detectors, and what the primary says (grants, revokes, ejections, collections) is applied
// here. Messages to the primary leave in one batch per event-loop turn.
import type { ClusterSpec } from "./cluster-config.js";
import type { ClusterStats } from "./cluster-stats.js";
import type { ClusterResources } from "./circuit-breakers.js";
import { type BookLink, LeaseBook } from "./lease-book.js";
import { type AskHandler, type AskLink, LeasedResources } from "./leased-resources.js";
import { OutlierRelay } from "./shared-outlier.js";
import { type ClusterSharing, CX, F_IN_PLACE, type IdleConnections, NEED_CX, needBit, Outbox, type OutlierSink, RESOURCES, RQ, type ToPrimary, type ToWorker } from "./shared-limits.js";

export class WorkerLimits implements ClusterSharing, AskLink, BookLink {
  private readonly books = new Map<string, LeaseBook>();
  private readonly asks = new Map<number, AskHandler>();
  private nextId = 0;
  private readonly outbox: Outbox<ToPrimary>;
  private readonly relay: OutlierRelay;
  private useTimer: NodeJS.Timeout | undefined;

  constructor(
    deliver: (batch: ToPrimary[]) => void,
    /** How often active + pending requests are reported for retry budgets (when they changed). */
    private readonly useIntervalMs = 100,
  ) {
    this.outbox = new Outbox(deliver);
    this.relay = new OutlierRelay(this.outbox);
  }

  resources(spec: ClusterSpec, stats: ClusterStats, pool: IdleConnections): ClusterResources {
    const b = this.book(spec.name);
    b.budget = spec.thresholds.retryBudget !== undefined;
    if (b.budget) this.reportUse();
    return new LeasedResources(b, stats, pool, this);
  }

  outlierSink(spec: ClusterSpec): OutlierSink {
    return this.relay.sink(spec);
  }

  /** Waiting requests sent to the primary and not answered yet. */
  get waiting(): number {
    return this.asks.size;
  }

  /**
   * A cluster's lease book, created on first use and kept for the life of the process (a few
   * hundred bytes per cluster name): its counters and the primary's must stay paired.
   */
  book(name: string): LeaseBook {
    let b = this.books.get(name);
    if (b === undefined) this.books.set(name, (b = new LeaseBook(name, this)));
    return b;
  }

  send(m: ToPrimary): void {
    this.outbox.push(m);
  }

  ask(h: AskHandler, host: string): number {
    const id = ++this.nextId;
    this.asks.set(id, h);
    this.send({ k: "acq", c: h.book.name, id, need: h.need, host, use: h.book.use });
    return id;
  }

  cancel(h: AskHandler, id: number): void {
    if (this.asks.has(id)) this.send({ k: "cancel", c: h.book.name, id });
  }

  /** What the primary sent. */
  receive(batch: readonly ToWorker[]): void {
    for (const m of batch) this.dispatch(m);
  }

  private dispatch(m: ToWorker): void {
    switch (m.k) {
      case "grant": {
        const h = this.asks.get(m.id);
        if (h === undefined) return;
        this.asks.delete(m.id);
        const b = h.book;
        for (const r of RESOURCES) if ((h.need & needBit(r)) !== 0 && (r !== CX || (m.f & F_IN_PLACE) === 0)) b.lent(r, 1);
        if ((h.need & NEED_CX) !== 0) b.grantsSeen++;
        if ((m.f & F_IN_PLACE) !== 0) b.inPlaceSeen++;
        b.lent(CX, m.x[CX]);
        b.lent(RQ, m.x[RQ]);
        b.follow(m.ch, m.cont);
        h.onGrant(m.f);
        b.settle();
        return;
      }
      case "deny": {
        const h = this.asks.get(m.id);
        if (h === undefined) return;
        this.asks.delete(m.id);
        h.onDeny(m.f);
        h.book.settle();
        return;
      }
      case "queued":
        this.asks.get(m.id)?.onQueued();
        return;
      case "lease": {
        const b = this.book(m.c);
        b.toppedUp(m.r, m.n, m.ch, m.cont);
        b.settle();
        return;
      }
      case "revoke": {
        // Answered even for a cluster this worker no longer has: the primary waits for every answer.
        const b = this.book(m.c);
        b.revoke(m.r, m.round);
        b.settle();
        return;
      }
      case "calm":
        this.books.get(m.c)?.calm(m.r);
        return;
      case "yield":
        this.book(m.c).yield(m.n);
        return;
      default:
        this.relay.receive(m);
    }
  }

  /** Reports active + pending requests of clusters with a retry budget, every useIntervalMs when they changed. */
  private reportUse(): void {
    if (this.useTimer !== undefined) return;
    this.useTimer = setInterval(() => {
      for (const b of this.books.values()) {
        if (!b.budget || b.use === b.reportedUse) continue;
        b.reportedUse = b.use;
        this.send({ k: "use", c: b.name, n: b.use });
      }
    }, this.useIntervalMs);
    this.useTimer.unref();
  }

  close(): void {
    if (this.useTimer !== undefined) clearInterval(this.useTimer);
    this.useTimer = undefined;
    this.outbox.flush();
  }
}
