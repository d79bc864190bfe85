// A `--concurrency` worker's lease for one cluster (by name, so a CDS update that replaces the
// cluster object keeps it): the units its primary lent (connections, requests, retries), what this
// worker uses of them, and when to hand units back.
// - Connections in use: max(busy HTTP/1.1 slots, open connections) — an idle keep-alive connection
//   holds its unit, so the backends never see more connections than the proxy-wide limit.
// - Calm: the worker keeps up to a chunk of spare units (more than two chunks spare: it returns
//   the excess), so most admissions need no message.
// - Contended (the primary revoked): every unit goes back as soon as it is free — idle connections
//   are closed at the revoke; a connection freed afterwards stays idle ("parked", the primary told
//   of it) until the primary grants it in place to a request of this worker or recalls it (`yield`).
//   A connection the proxy closed has its FIN on the wire when destroy() returns, so its unit goes
//   back at once, before node's close event. Retries are always lent exactly.
import { CX, type Held, type IdleConnections, type LeasedResource, NEED_CX, NEED_RQ, RESOURCES, RETRY, RQ, type ToPrimary } from "./shared-limits.js";

/** How a book talks to its primary. */
export interface BookLink {
  send(m: ToPrimary): void;
}

export class LeaseBook {
  /** Units lent by the primary, per resource. */
  readonly lease: [number, number, number] = [0, 0, 0];
  /** The primary's chunk sizes (spare units kept while calm). */
  readonly chunk: [number, number, number] = [1, 1, 1];
  readonly contended: [boolean, boolean, boolean] = [false, false, true];
  /** Busy HTTP/1.1 connection slots (one per active request), in total and per host key. */
  slotsBusy = 0;
  readonly hostSlots = new Map<string, number>();
  /** Open connections (every pool of every cluster object of this name). */
  connections = 0;
  /** Active requests (permits), active retries, requests in the proxy-wide pending queue. */
  requests = 0;
  retries = 0;
  pending = 0;
  /** Cluster objects of this name alive in this process: their pooled connections (an array: read per request). */
  readonly pools: Array<Pick<IdleConnections, "closeIdle" | "closing">> = [];
  /** The cluster has a retry budget (the worker reports its active + pending requests). */
  budget = false;
  /** Active + pending requests last reported. */
  reportedUse = -1;
  /** Hosts whose slot was freed while connections are contended, not yet reported. */
  private freed: string[] | undefined = undefined;
  private readonly topUp: [boolean, boolean, boolean] = [false, false, false];
  /** Connection grants, in-place ones and yields received (the primary's view is reconciled with them). */
  grantsSeen = 0;
  inPlaceSeen = 0;
  private yieldsSeen = 0;

  constructor(
    readonly name: string,
    private readonly link: BookLink,
  ) {}

  /** Open connections not being closed. */
  openConnections(): number {
    let open = this.connections;
    const pools = this.pools;
    for (let i = 0; i < pools.length; i++) open -= pools[i].closing();
    return open;
  }

  /** Connection units in use: busy slots, or open connections not being closed. */
  cxUsed(): number {
    const open = this.openConnections();
    return this.slotsBusy > open ? this.slotsBusy : open;
  }

  used(r: LeasedResource): number {
    return r === CX ? this.cxUsed() : r === RQ ? this.requests : this.retries;
  }

  /** Active + pending requests (retry budgets). */
  get use(): number {
    return this.requests + this.pending;
  }

  /** A cluster object of this name came (it shares the book with the ones before it) or went. */
  attach(p: Pick<IdleConnections, "closeIdle" | "closing">): void {
    this.pools.push(p);
  }

  detach(p: Pick<IdleConnections, "closeIdle" | "closing">): void {
    const i = this.pools.indexOf(p);
    if (i >= 0) this.pools.splice(i, 1);
  }

  takeSlot(host: string): void {
    this.slotsBusy++;
    this.hostSlots.set(host, (this.hostSlots.get(host) ?? 0) + 1);
  }

  freeSlot(host: string): void {
    this.slotsBusy--;
    const n = (this.hostSlots.get(host) ?? 1) - 1;
    if (n > 0) this.hostSlots.set(host, n);
    else this.hostSlots.delete(host);
    if (this.contended[CX]) (this.freed ??= []).push(host);
  }

  /** Units the primary lent (with a grant or a top-up), and its chunk sizes and contended set. */
  lent(r: LeasedResource, n: number): void {
    this.lease[r] += n;
  }

  follow(chunks: readonly number[], contended: number): void {
    this.chunk[CX] = chunks[CX];
    this.chunk[RQ] = chunks[RQ];
    this.contended[CX] = (contended & NEED_CX) !== 0;
    this.contended[RQ] = (contended & NEED_RQ) !== 0;
  }

  /** Asks for `n` more units without a waiting request (one at a time per resource; never while contended). */
  requestTopUp(r: LeasedResource, n: number): void {
    if (this.topUp[r] || this.contended[r] || n <= 0) return;
    this.topUp[r] = true;
    this.link.send({ k: "top", c: this.name, r, n });
  }

  toppedUp(r: LeasedResource, n: number, chunk: number, contended: number): void {
    this.topUp[r] = false;
    this.lease[r] += n;
    this.chunk[r] = chunk;
    this.follow(this.chunk, contended);
  }

  /** The primary revoked: hand back what is not in use, report busy slots per host, and from now on give back as freed. */
  revoke(r: LeasedResource, round: number): void {
    this.contended[r] = true;
    if (r === CX) {
      this.freed = undefined; // the ack's busy map says it all
      this.closeIdle(this.cxUsed() - this.slotsBusy);
    }
    const give = Math.max(0, this.lease[r] - this.used(r));
    this.lease[r] -= give;
    this.link.send({ k: "ack", c: this.name, r, round, n: give, ...(r === CX ? { held: this.held() } : {}) });
  }

  /** The primary recalls `n` parked connections: close them, hand their units back (answered even when none is left). */
  yield(n: number): void {
    this.yieldsSeen += n;
    const closed = this.closeIdle(n);
    const give = Math.max(0, this.lease[CX] - this.cxUsed());
    this.lease[CX] -= give;
    this.link.send({ k: "ret", c: this.name, r: CX, n: give, held: this.held(), yielded: [n, Math.min(give, closed)] });
  }

  /** A connection slot granted to a request that had gone meanwhile: reported free (the primary counted it busy). */
  grantedUnused(host: string): void {
    if (this.contended[CX]) (this.freed ??= []).push(host);
  }

  private held(): Held {
    const idle = this.openConnections() - this.slotsBusy;
    return { busy: [...this.hostSlots], idle: idle > 0 ? idle : 0, grants: this.grantsSeen, inPlace: this.inPlaceSeen, yields: this.yieldsSeen };
  }

  /** A granted request to a host with no idle connection here: close idle ones so the new one fits the lease. */
  makeRoom(idleToHost: number): void {
    if (idleToHost > 0) return;
    this.closeIdle(this.openConnections() + 1 - this.lease[CX]);
  }

  calm(r: LeasedResource): void {
    if (r !== RETRY) this.contended[r] = false;
  }

  /** Hands back what the current mode says is spare (after every release, close, grant). */
  settle(): void {
    const orphan = this.pools.length === 0;
    for (const r of RESOURCES) {
      let give: number;
      if (orphan) {
        if (r === CX) this.closeIdle(this.cxUsed() - this.slotsBusy);
        give = this.lease[r] - this.used(r);
      } else if (this.contended[r]) {
        give = this.lease[r] - this.used(r); // idle connections stay parked
      } else {
        const spare = this.lease[r] - this.used(r);
        give = spare > 2 * this.chunk[r] ? spare - this.chunk[r] : 0;
      }
      const freed = r === CX ? this.freed : undefined;
      if (give <= 0 && freed === undefined) continue;
      if (give < 0) give = 0;
      this.lease[r] -= give;
      if (r === CX && this.contended[CX]) {
        this.freed = undefined;
        this.link.send({ k: "ret", c: this.name, r, n: give, ...(freed !== undefined ? { freed } : {}), held: this.held() });
      } else this.link.send({ k: "ret", c: this.name, r, n: give });
    }
  }

  /** Closes up to `n` idle connections; returns how many. */
  private closeIdle(n: number): number {
    let closed = 0;
    for (const p of this.pools) {
      if (closed >= n) break;
      closed += p.closeIdle(n - closed);
    }
    return closed;
  }
}
