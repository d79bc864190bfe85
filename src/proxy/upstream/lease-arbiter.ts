// The primary's side of one cluster's circuit breakers under `--concurrency N`: the proxy-wide
// count of connections (HTTP/1.1 slots), requests and retries, lent to the workers in leases whose
// sum never exceeds the limit, and the proxy-wide pending queue.
//
// - A worker admits from its lease without asking; when the lease is exhausted it sends the waiting
//   request here (`acq`), and gets it granted with up to a chunk of extra units (chunk = limit ÷
//   (4 × workers): default thresholds mean almost no messages; a limit of 1 lends one unit at a time).
// - Nothing left: the resource becomes *contended*. Every worker holding a lease is told to hand
//   back what it does not use (`revoke`) and, from then on, every unit as it is freed; a worker
//   with no lease has nothing to answer. Once every worker has answered (the round is *settled*),
//   a waiting request is classified as in one process: HTTP/1.1 with every connection busy →
//   upstream_cx_overflow, and the pending queue (max_pending_requests, else 503 UO) unless its host
//   has no busy connection anywhere in the proxy (Envoy's per-host exception — the workers report
//   their busy slots per host, so it is one connection per host proxy-wide); a request over
//   max_requests or max_retries → 503 UO / retry overflow, but only once a round of answers that
//   began after it found nothing is in: a unit another worker freed just before may be on its way
//   (in one process the release is seen at once), and each channel delivers in order.
// - Waiting requests are served in arrival order (FIFO proxy-wide) as units come back; as in one
//   process, a connection freed by a request to host H first goes to the oldest request queued for H
//   (the workers report the hosts of the slots they free while connections are contended).
// - A connection freed while contended stays open and idle in its worker ("parked", its unit still
//   lent): a request waiting on that worker takes it in place (the connection is reused, no
//   message to close it); one waiting on another worker has it recalled (`yield`: the worker closes
//   it and hands the unit back). A request finding a parked connection is not pending, as in one
//   process a free connection is not.
// - A resource with no waiter for CALM_MS is calm again: workers keep chunks.
// - Retries are lent exactly (one unit per retry, back as soon as it is sent): with a retry budget
//   the limit moves with the proxy-wide active + pending requests the workers report.
// - A worker that dies gives back everything it held; its waiting requests leave the queue.
import type { Thresholds } from "./cluster-config.js";
import { retryBudgetMax } from "./circuit-breakers.js";
import type { Clock } from "../../core/clock.js";
import { CX, F_CX_OVERFLOW, F_EXEMPT, F_IN_PLACE, type Held, type LeasedResource, NEED_CX, NEED_RETRY, NEED_RQ, needBit, RETRY, RQ, type ToPrimary, type ToWorker } from "./shared-limits.js";

/** How long a contended resource stays contended after its last waiter (no flapping between the modes). */
export const CALM_MS = 1000;

/** A worker's side of the books, as the primary keeps it. */
interface Lessee {
  /** Units lent, per resource (grants count when sent, returns when received: never less than what the worker holds). */
  readonly lease: [number, number, number];
  /** Whether it answered the current revoke round (a worker with no lease has nothing to answer). */
  readonly acked: [boolean, boolean, boolean];
  /** Busy connection slots per host as it last reported them (while connections are contended). */
  busy: Map<string, number>;
  /** Connection grants sent to it; those sent while contended not yet reported received: [sequence, host]. */
  grantsSent: number;
  granted: Array<[number, string]>;
  /** Hosts of slots it freed whose unit is parked or on its way back (the unit goes to that host's queue first). */
  handoff: string[];
  /** Units it holds for idle connections (parked), as it last counted them less what was granted in place or recalled since. */
  parked: number;
  /** In-place grants and yields sent (against the counts the worker reports it received). */
  inPlaceSent: number;
  yieldsSent: number;
  /** Active + pending requests it last reported (retry budgets). */
  use: number;
}

interface Waiter {
  readonly worker: number;
  readonly id: number;
  readonly host: string;
  readonly need: number;
  got: number;
  flags: number;
  queued: boolean;
  /** The worker asked to yield a parked connection for this request. */
  recalledFrom: number | undefined;
  /** The round of its resource when it found no request or retry unit (its overflow waits for a later one). */
  blockedRound: number | undefined;
}

export interface ArbiterOptions {
  send(worker: number, m: ToWorker): void;
  /** Live workers (chunk sizes). */
  workers(): number;
  clock: Pick<Clock, "setTimeout" | "clearTimeout">;
}

function holdsConnection(w: Waiter): boolean {
  return (w.got & NEED_CX) !== 0 && (w.need & NEED_RQ) !== 0 && (w.got & NEED_RQ) === 0;
}

/** A contention round starts or ends: what the primary tracked of a worker's connections is void. */
function forgetConnections(l: Lessee): void {
  l.busy = new Map();
  l.granted = [];
  l.handoff = [];
  l.parked = 0;
}

export class LeaseArbiter {
  private limits: Thresholds;
  private readonly lessees = new Map<number, Lessee>();
  /** Units lent, per resource: the proxy-wide count. */
  readonly leased: [number, number, number] = [0, 0, 0];
  private waiters: Waiter[] = [];
  /** Requests in the proxy-wide pending queue (max_pending_requests). */
  pending = 0;
  private readonly contended: [boolean, boolean, boolean] = [false, false, false];
  private readonly round: [number, number, number] = [0, 0, 0];
  private readonly calmTimers: [unknown, unknown, unknown] = [undefined, undefined, undefined];
  private pumping = false;
  private again = false;

  constructor(
    readonly name: string,
    limits: Thresholds,
    private readonly o: ArbiterOptions,
  ) {
    this.limits = limits;
  }

  /** The cluster's thresholds changed (CDS): the counts stay, the limits move. */
  setLimits(t: Thresholds): void {
    if (t === this.limits) return;
    this.limits = t;
    this.pump();
  }

  max(r: LeasedResource): number {
    const t = this.limits;
    if (r === CX) return t.maxConnections;
    if (r === RQ) return t.maxRequests;
    if (t.retryBudget === undefined) return t.maxRetries;
    let use = 0;
    for (const l of this.lessees.values()) use += l.use;
    return retryBudgetMax(t.retryBudget, use);
  }

  available(r: LeasedResource): number {
    return this.max(r) - this.leased[r];
  }

  chunk(r: LeasedResource): number {
    if (r === RETRY) return 1;
    return Math.max(1, Math.floor(this.max(r) / (4 * Math.max(1, this.o.workers()))));
  }

  isContended(r: LeasedResource): boolean {
    return this.contended[r];
  }

  /** Requests waiting for an answer (queued or not). */
  get waiting(): number {
    return this.waiters.length;
  }

  /** One message from a worker; call pump() once its batch is in (a release returns its units together). */
  receive(worker: number, m: ToPrimary): void {
    const l = this.lessee(worker);
    switch (m.k) {
      case "acq":
        l.use = m.use;
        this.waiters.push({ worker, id: m.id, host: m.host, need: m.need, got: 0, flags: 0, queued: false, recalledFrom: undefined, blockedRound: undefined });
        break;
      case "cancel":
        this.cancel(l, worker, m.id);
        break;
      case "ret": {
        const tracking = m.r === CX && this.contended[CX] && l.acked[CX];
        if (tracking && m.freed !== undefined) for (const h of m.freed) l.handoff.push(h);
        if (tracking && m.held !== undefined) this.reconcile(l, m.held);
        this.unlend(l, m.r, m.n);
        if (m.r !== CX) break;
        // A freed slot's unit: the oldest request queued for its host takes it, as in one process.
        for (let i = 0; i < m.n && l.handoff.length > 0; i++) this.handOver(l.handoff.shift()!);
        if (m.yielded !== undefined) for (const w of this.waiters) if (w.recalledFrom === worker) w.recalledFrom = undefined;
        break;
      }
      case "ack":
        this.unlend(l, m.r, m.n);
        if (m.round !== this.round[m.r]) break; // an earlier round's answer
        l.acked[m.r] = true;
        if (m.r === CX) {
          if (m.held !== undefined) this.reconcile(l, m.held);
        }
        break;
      case "top": {
        let n = 0;
        if (m.r !== RETRY && !this.contended[m.r]) {
          n = Math.max(0, Math.min(m.n, this.available(m.r)));
          this.lend(l, m.r, n);
        }
        this.o.send(worker, { k: "lease", c: this.name, r: m.r, n, ch: this.chunk(m.r), cont: this.contendedBits() });
        break;
      }
      case "use":
        l.use = m.n;
        break;
    }
  }

  /** A worker exited: what it held is free again, its waiting requests are gone. */
  workerGone(worker: number): void {
    const l = this.lessees.get(worker);
    if (l === undefined) return;
    for (const r of [CX, RQ, RETRY] as const) this.leased[r] -= l.lease[r];
    this.lessees.delete(worker);
    this.waiters = this.waiters.filter((w) => {
      if (w.recalledFrom === worker) w.recalledFrom = undefined; // its units are free now
      if (w.worker !== worker) return true;
      if (w.queued) this.pending--;
      return false;
    });
    this.pump();
  }

  /** Stops the calm timers (the proxy is closing). */
  close(): void {
    for (const r of [CX, RQ, RETRY] as const) {
      if (this.calmTimers[r] !== undefined) this.o.clock.clearTimeout(this.calmTimers[r]);
      this.calmTimers[r] = undefined;
    }
  }

  private lessee(worker: number): Lessee {
    let l = this.lessees.get(worker);
    if (l === undefined) {
      l = { lease: [0, 0, 0], acked: [true, true, true], busy: new Map(), grantsSent: 0, granted: [], handoff: [], parked: 0, inPlaceSent: 0, yieldsSent: 0, use: 0 };
      this.lessees.set(worker, l);
    }
    return l;
  }

  private lend(l: Lessee, r: LeasedResource, n: number): void {
    l.lease[r] += n;
    this.leased[r] += n;
  }

  private unlend(l: Lessee, r: LeasedResource, n: number): void {
    if (n <= 0) return;
    l.lease[r] -= n;
    this.leased[r] -= n;
    this.again = true;
  }

  private contendedBits(): number {
    return (this.contended[CX] ? NEED_CX : 0) | (this.contended[RQ] ? NEED_RQ : 0) | NEED_RETRY;
  }

  private cancel(l: Lessee, worker: number, id: number): void {
    const i = this.waiters.findIndex((w) => w.worker === worker && w.id === id);
    if (i < 0) return; // answered already: the answer is on its way
    const w = this.waiters[i];
    this.waiters.splice(i, 1);
    this.giveUp(l, w);
    // Every request gets exactly one answer: the worker forgets it then.
    this.o.send(worker, { k: "deny", c: this.name, id, f: 0 });
  }

  /** A freed slot's unit came back: the oldest request queued for the same host takes it, over the limit or not (as one process hands the connection over). */
  private handOver(host: string): void {
    for (const w of this.waiters) {
      if (!w.queued || w.host !== host || (w.got & NEED_CX) !== 0) continue;
      const l = this.lessees.get(w.worker);
      if (l !== undefined) this.take(l, w, CX);
      return;
    }
  }

  /** Serves waiting requests, oldest first, until none can move. */
  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      do {
        this.again = false;
        // A request that holds its connection checks max_requests first, as one process does at
        // once when it hands a freed connection over; the others in arrival order.
        const ordered: Waiter[] = [];
        for (const w of this.waiters) if (holdsConnection(w)) ordered.push(w);
        for (const w of this.waiters) if (!holdsConnection(w)) ordered.push(w);
        const answered = new Set<Waiter>();
        for (const w of ordered) if (this.advance(w)) answered.add(w);
        if (answered.size > 0) this.waiters = this.waiters.filter((w) => !answered.has(w));
      } while (this.again);
    } finally {
      this.pumping = false;
    }
    this.scheduleCalm();
  }

  /** One waiting request as far as it can go: true once it is answered. */
  private advance(w: Waiter): boolean {
    const l = this.lessees.get(w.worker);
    if (l === undefined) return true;
    if ((w.need & NEED_CX) !== 0 && (w.got & NEED_CX) === 0) {
      if (this.available(CX) > 0) this.take(l, w, CX);
      else if (l.parked > 0 && this.contended[CX] && l.acked[CX] && this.mayReuse(l, w)) this.takeParked(l, w);
      else if (!this.settled(CX)) return this.contend(CX);
      else if (w.recalledFrom !== undefined || this.recall(w)) return false; // an idle connection elsewhere is being closed for it
      else if (w.queued) return false;
      else {
        // As one process: the pending queue's bound, then the per-host exception, then the queue.
        if (this.pending >= this.limits.maxPendingRequests) return this.deny(l, w);
        w.flags |= F_CX_OVERFLOW;
        if (this.hostBusy(w.host) === 0) {
          w.flags |= F_EXEMPT;
          this.take(l, w, CX);
        } else {
          w.queued = true;
          this.pending++;
          this.o.send(w.worker, { k: "queued", c: this.name, id: w.id });
          return false;
        }
      }
    }
    if ((w.need & NEED_RQ) !== 0 && (w.got & NEED_RQ) === 0) {
      if (this.available(RQ) > 0) this.take(l, w, RQ);
      else {
        w.blockedRound ??= this.round[RQ];
        if (!this.contended[RQ]) return this.contend(RQ);
        return this.overflowConfirmed(RQ, w) ? this.deny(l, w) : false;
      }
    }
    if ((w.need & NEED_RETRY) !== 0 && (w.got & NEED_RETRY) === 0) {
      if (this.available(RETRY) > 0) this.take(l, w, RETRY);
      else {
        w.blockedRound ??= this.round[RETRY];
        return this.overflowConfirmed(RETRY, w) ? this.deny(l, w) : false;
      }
    }
    return this.grant(l, w);
  }

  private take(l: Lessee, w: Waiter, r: LeasedResource): void {
    this.lend(l, r, 1);
    w.got |= needBit(r);
  }

  /** The waiter's own worker holds an idle connection for it: reused in place. */
  private takeParked(l: Lessee, w: Waiter): void {
    l.parked--;
    const i = l.handoff.indexOf(w.host);
    l.handoff.splice(i >= 0 ? i : 0, 1);
    w.got |= NEED_CX;
    w.flags |= F_IN_PLACE;
  }

  /**
   * Whether `w` may have one of `l`'s parked connections: as in one process, an idle connection is
   * a free slot while fewer than max_connections are busy; over it, only a freed connection's own
   * host's request takes it over (per-host exception, handover).
   */
  private mayReuse(l: Lessee, w: Waiter): boolean {
    return this.busyTotal() < this.limits.maxConnections || l.handoff.includes(w.host);
  }

  /** Busy connection slots proxy-wide (as hostBusy, every host). */
  private busyTotal(): number {
    let n = 0;
    for (const l of this.lessees.values()) {
      for (const b of l.busy.values()) n += b;
      n += l.granted.length;
    }
    for (const w of this.waiters) if ((w.got & NEED_CX) !== 0) n++;
    return n;
  }

  /** Asks a worker with a parked idle connection to close it and hand the unit back; false when none has one. */
  private recall(w: Waiter): boolean {
    for (const [worker, l] of this.lessees) {
      if (worker === w.worker || l.parked <= 0 || !this.mayReuse(l, w)) continue;
      l.parked--;
      l.yieldsSent++;
      w.recalledFrom = worker;
      this.o.send(worker, { k: "yield", c: this.name, r: CX, n: 1 });
      return true;
    }
    return false;
  }

  /** The worker's own counts, with what the primary sent that has not reached it yet. */
  private reconcile(l: Lessee, h: Held): void {
    l.busy = new Map(h.busy);
    while (l.granted.length > 0 && l.granted[0][0] <= h.grants) l.granted.shift();
    l.parked = Math.max(0, h.idle - (l.inPlaceSent - h.inPlace) - (l.yieldsSent - h.yields));
  }

  /** What a waiter took goes back (denied, cancelled). */
  private giveUp(l: Lessee, w: Waiter): void {
    for (const r of [CX, RQ, RETRY] as const) {
      if ((w.got & needBit(r)) === 0) continue;
      if (r === CX && (w.flags & F_IN_PLACE) !== 0) {
        l.parked++; // back to idle: still the worker's
        l.handoff.push(w.host);
      } else this.unlend(l, r, 1);
    }
    w.got = 0;
    if (w.queued) this.pending--;
    w.queued = false;
  }

  private deny(l: Lessee, w: Waiter): true {
    const flags = w.flags;
    this.giveUp(l, w);
    this.o.send(w.worker, { k: "deny", c: this.name, id: w.id, f: flags });
    return true;
  }

  private grant(l: Lessee, w: Waiter): true {
    const x: [number, number, number] = [0, 0, 0];
    for (const r of [CX, RQ] as const) {
      if ((w.need & needBit(r)) === 0 || this.contended[r]) continue;
      const extra = Math.min(this.chunk(r) - 1, this.available(r));
      if (extra <= 0) continue;
      this.lend(l, r, extra);
      x[r] = extra;
    }
    if (w.queued) this.pending--;
    if ((w.flags & F_IN_PLACE) !== 0) l.inPlaceSent++;
    if ((w.need & NEED_CX) !== 0) {
      const seq = ++l.grantsSent;
      if (this.contended[CX]) l.granted.push([seq, w.host]);
    }
    this.o.send(w.worker, { k: "grant", c: this.name, id: w.id, f: w.flags, x, ch: [this.chunk(CX), this.chunk(RQ), 1], cont: this.contendedBits() });
    return true;
  }

  /**
   * Busy connection slots to `host` proxy-wide (valid once the connections' round is settled): as
   * the workers last reported them, the grants on their way, the waiters holding a unit.
   */
  hostBusy(host: string): number {
    let n = 0;
    for (const l of this.lessees.values()) {
      n += l.busy.get(host) ?? 0;
      for (const g of l.granted) if (g[1] === host) n++;
    }
    for (const w of this.waiters) if (w.host === host && (w.got & NEED_CX) !== 0) n++;
    return n;
  }

  /** Whether every worker has answered the resource's revoke round. */
  private settled(r: LeasedResource): boolean {
    return this.contended[r] && this.answered(r);
  }

  private answered(r: LeasedResource): boolean {
    for (const l of this.lessees.values()) if (!l.acked[r]) return false;
    return true;
  }

  /**
   * Whether `w`'s overflow is sure: a round begun after it found nothing has every answer. Else a
   * new round starts (unless one is under way) and it waits.
   */
  private overflowConfirmed(r: LeasedResource, w: Waiter): boolean {
    if (!this.answered(r)) return false;
    if (this.round[r] > w.blockedRound!) return true;
    const round = ++this.round[r];
    let asked = false;
    for (const [worker, l] of this.lessees) {
      if (l.lease[r] <= 0) continue;
      l.acked[r] = false;
      asked = true;
      this.o.send(worker, { k: "revoke", c: this.name, r, round });
    }
    if (!asked) this.again = true; // nothing lent: the round is over already
    return false;
  }

  /** Nothing left: ask every worker with a lease to hand back what it does not use. Always false (the waiter waits). */
  private contend(r: LeasedResource): false {
    if (this.contended[r]) return false; // answers are on their way
    this.contended[r] = true;
    const round = ++this.round[r];
    this.stopCalm(r);
    for (const [worker, l] of this.lessees) {
      if (r === CX) forgetConnections(l);
      if (l.lease[r] > 0) {
        l.acked[r] = false;
        this.o.send(worker, { k: "revoke", c: this.name, r, round });
      } else l.acked[r] = true;
    }
    // Workers with no lease had nothing to hand back: the round may be settled already.
    this.again = true;
    return false;
  }

  private wanted(r: LeasedResource): boolean {
    const bit = needBit(r);
    for (const w of this.waiters) if ((w.need & bit) !== 0 && (w.got & bit) === 0) return true;
    return false;
  }

  private scheduleCalm(): void {
    for (const r of [CX, RQ] as const) {
      if (!this.contended[r] || this.calmTimers[r] !== undefined || this.wanted(r)) continue;
      this.calmTimers[r] = this.o.clock.setTimeout(() => {
        this.calmTimers[r] = undefined;
        if (!this.contended[r]) return;
        if (this.wanted(r)) return; // re-armed when its waiters are gone
        this.contended[r] = false;
        for (const [worker, l] of this.lessees) {
          if (r === CX) forgetConnections(l);
          this.o.send(worker, { k: "calm", c: this.name, r });
        }
      }, CALM_MS);
    }
  }

  private stopCalm(r: LeasedResource): void {
    if (this.calmTimers[r] === undefined) return;
    this.o.clock.clearTimeout(this.calmTimers[r]);
    this.calmTimers[r] = undefined;
  }
}
