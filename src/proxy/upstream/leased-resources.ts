// A `--concurrency` worker's admission for one cluster object: the circuit breakers enforced
// proxy-wide through the worker's lease (lease-book.ts). What the lease covers is admitted at once,
// as in one process; the rest waits for the primary (lease-arbiter.ts), which grants it, queues it
// in the proxy-wide pending queue or refuses it (503 UO) — the router sees a pending admission
// either way. The stats this worker counts (upstream_rq_*, upstream_cx_overflow,
// upstream_rq_pending_*, upstream_rq_retry_overflow) add up across workers in /stats; the
// circuit_breakers.* gauges are the primary's (it knows the proxy-wide counts).
import type { ClusterStats } from "./cluster-stats.js";
import { CANCELLED, type Admission, type ClusterResources, countConnectionOpened, countRequestEnd, countRequestStart, OVERFLOW, type Overflow, type PendingRequest, Permit, type RequestPermit } from "./circuit-breakers.js";
import type { Host } from "./host.js";
import type { LeaseBook } from "./lease-book.js";
import { CX, F_CX_OVERFLOW, type IdleConnections, NEED_CX, NEED_RETRY, NEED_RQ, RETRY, RQ } from "./shared-limits.js";

/** The primary's answers to one waiting request. */
export interface AskHandler {
  readonly book: LeaseBook;
  readonly need: number;
  onQueued(): void;
  /** Granted: the units are the worker's already (the book counts them); `f`: F_* flags. */
  onGrant(f: number): void;
  onDeny(f: number): void;
}

/** Sends waiting requests to the primary (the worker's limits client). */
export interface AskLink {
  ask(h: AskHandler, host: string): number;
  cancel(h: AskHandler, id: number): void;
}

const enum AskState {
  Waiting,
  Queued,
  Done,
}

/** An upstream request waiting for the primary (a lease too small, or contended). */
class LeaseAsk implements PendingRequest, AskHandler {
  readonly ok = true as const;
  readonly pending = true as const;
  readonly granted: Promise<RequestPermit | Overflow>;
  private resolve!: (r: RequestPermit | Overflow) => void;
  private state = AskState.Waiting;
  private permit: RequestPermit | undefined = undefined;
  id = 0;

  constructor(
    private readonly owner: LeasedResources,
    readonly book: LeaseBook,
    readonly host: Host,
    readonly need: number,
    /** A connection slot from the worker's own lease is held meanwhile (only max_requests is asked). */
    private readonly slotHeld: boolean,
  ) {
    this.granted = new Promise((r) => (this.resolve = r));
  }

  cancel(): void {
    if (this.state === AskState.Done) {
      this.permit?.release();
      return;
    }
    const wasQueued = this.state === AskState.Queued;
    this.state = AskState.Done;
    this.owner.askCancelled(this, wasQueued, this.slotHeld);
    this.resolve(CANCELLED);
  }

  onQueued(): void {
    if (this.state !== AskState.Waiting) return;
    this.state = AskState.Queued;
    this.owner.enterPending();
  }

  onGrant(f: number): void {
    const was = this.state;
    if (was === AskState.Done) {
      // Cancelled meanwhile: the units stay as spare lease; the primary counted a busy slot.
      if ((this.need & NEED_CX) !== 0) this.book.grantedUnused(this.host.key);
      return;
    }
    this.state = AskState.Done;
    this.owner.countAnswer(f, was === AskState.Queued);
    const cx = (this.need & NEED_CX) !== 0;
    if (cx) this.owner.makeRoom(this.host);
    this.permit = this.owner.admit(this.host, this.slotHeld || cx, cx);
    this.resolve(this.permit);
  }

  onDeny(f: number): void {
    const was = this.state;
    if (was === AskState.Done) return;
    this.state = AskState.Done;
    this.owner.countAnswer(f, was === AskState.Queued);
    this.owner.overflow(this.host, this.slotHeld);
    this.resolve(OVERFLOW);
  }
}

/** A retry waiting for the primary's answer. */
class RetryAsk implements AskHandler {
  readonly need = NEED_RETRY;
  resolve!: (ok: boolean) => void;

  constructor(
    private readonly owner: LeasedResources,
    readonly book: LeaseBook,
  ) {}

  onQueued(): void {}

  onGrant(): void {
    this.book.retries++;
    this.resolve(true);
  }

  onDeny(): void {
    this.owner.retryOverflow();
    this.resolve(false);
  }
}

export class LeasedResources implements ClusterResources {

  constructor(
    private readonly book: LeaseBook,
    private readonly stats: ClusterStats,
    private readonly pool: IdleConnections,
    private readonly link: AskLink,
  ) {
    book.attach(pool);
  }

  get pendingRequests(): number {
    return this.book.pending;
  }

  get activeRequests(): number {
    return this.book.requests;
  }

  get activeRetries(): number {
    return this.book.retries;
  }

  acquire(host: Host, opts?: { multiplexed?: boolean }): Admission {
    const b = this.book;
    const rq = b.lease[RQ] > b.requests;
    if (opts?.multiplexed) return rq ? this.admit(host, false, false) : this.ask(host, NEED_RQ, false);
    // Contended, every connection goes through the primary (FIFO proxy-wide; it counts busy hosts),
    // parked idle ones too. Calm: a request reuses an idle connection to its host, else opens one.
    if (b.contended[CX]) return this.ask(host, NEED_CX | NEED_RQ, false);
    const open = b.openConnections();
    const cxNeeded = Math.max(b.slotsBusy + 1, this.pool.idleTo(host) > 0 ? open : open + 1);
    if (cxNeeded > b.lease[CX]) return this.ask(host, NEED_CX | NEED_RQ, false);
    if (rq) return this.admit(host, true, true);
    b.takeSlot(host.key);
    return this.ask(host, NEED_RQ, true);
  }

  private ask(host: Host, need: number, slotHeld: boolean): PendingRequest {
    const a = new LeaseAsk(this, this.book, host, need, slotHeld);
    a.id = this.link.ask(a, host.key);
    return a;
  }

  /** @internal a granted connection unit: idle connections to other hosts close if a new one would not fit. */
  makeRoom(host: Host): void {
    this.book.makeRoom(this.pool.idleTo(host));
  }

  /** @internal a request is active: its units are in the lease (`takeSlot`: the slot is not held yet). */
  admit(host: Host, slot: boolean, takeSlot: boolean): RequestPermit {
    const b = this.book;
    if (takeSlot) b.takeSlot(host.key);
    b.requests++;
    countRequestStart(this.stats, host);
    return new Permit(this, host, slot);
  }

  /** @internal */
  releasePermit(p: Permit): void {
    const b = this.book;
    b.requests--;
    countRequestEnd(this.stats, p.host);
    if (p.slot) b.freeSlot(p.host.key);
    b.settle();
  }

  /** @internal the request waits in the proxy-wide pending queue. */
  enterPending(): void {
    this.book.pending++;
    this.stats.cxOverflow.inc();
    this.stats.rqPendingTotal.inc();
    this.stats.rqPendingActive.inc();
  }

  private leavePending(): void {
    this.book.pending--;
    this.stats.rqPendingActive.dec();
  }

  /** @internal the primary answered: the stats as one process counts them. */
  countAnswer(f: number, wasQueued: boolean): void {
    if (wasQueued) this.leavePending();
    else if ((f & F_CX_OVERFLOW) !== 0) this.stats.cxOverflow.inc();
  }

  /** @internal refused: 503 UO (Envoy counts a max_requests overflow as a pending overflow too). */
  overflow(host: Host, slotHeld: boolean): void {
    this.stats.rqPendingOverflow.inc();
    if (slotHeld) this.book.freeSlot(host.key);
    this.book.settle();
  }

  /** @internal */
  askCancelled(a: LeaseAsk, wasQueued: boolean, slotHeld: boolean): void {
    if (wasQueued) {
      this.leavePending();
      this.stats.rqPendingCancelled.inc();
    }
    if (slotHeld) this.book.freeSlot(a.host.key);
    this.link.cancel(a, a.id);
    this.book.settle();
  }

  acquireRetry(): boolean | Promise<boolean> {
    const b = this.book;
    if (b.lease[RETRY] > b.retries) {
      b.retries++;
      return true;
    }
    const a = new RetryAsk(this, b);
    const p = new Promise<boolean>((r) => (a.resolve = r));
    this.link.ask(a, "");
    return p;
  }

  /** @internal */
  retryOverflow(): void {
    this.stats.rqRetryOverflow.inc();
  }

  releaseRetry(): void {
    const b = this.book;
    if (b.retries > 0) b.retries--;
    b.settle();
  }

  canCreateConnection(): boolean {
    const b = this.book;
    if (b.lease[CX] > b.cxUsed()) return true;
    this.stats.cxOverflow.inc();
    b.requestTopUp(CX, b.chunk[CX]);
    return false;
  }

  connectionOpened(host?: Host): void {
    const b = this.book;
    b.connections++;
    countConnectionOpened(this.stats, host);
    // A connection outside the lease (a host's first HTTP/2 connection, an idle one that could not
    // be reused): ask for its unit.
    const over = b.cxUsed() - b.lease[CX];
    if (over > 0) b.requestTopUp(CX, over);
  }

  connectionClosed(): void {
    const b = this.book;
    b.connections--;
    this.stats.cxActive.dec();
    b.settle();
  }

  close(): void {
    this.book.detach(this.pool);
    this.book.settle();
  }
}
