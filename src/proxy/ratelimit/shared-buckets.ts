// Local rate limit buckets for the proxy as a whole under `tsmesh proxy --concurrency N`: Envoy's
// buckets are per proxy (its workers are threads sharing one atomic bucket), so here the primary
// holds them and a worker asks it for each request's tokens. A token is never lent ahead (a lease
// of one, taken when the request comes): the limit stays exact — with 4 tokens the fifth request
// is refused whichever workers the five land on — at the cost of one IPC round trip per limited
// request. Asks and answers travel in batches, one IPC message per event-loop turn and direction.
import type { BucketSpec, BucketVerdict, TokenBucketStore } from "./token-bucket.js";
import { LocalTokenBuckets } from "./token-bucket.js";

/** Worker → primary: consume a plan (token-bucket.ts). */
export interface BucketAsk {
  readonly id: number;
  readonly plan: readonly BucketSpec[];
}

/** Primary → worker. */
export interface BucketAnswer {
  readonly id: number;
  readonly verdict: BucketVerdict;
}

/** What a worker answers while the primary cannot be asked (the process is going away): no limit. */
const UNLIMITED: BucketVerdict = { allowed: true, maxTokens: 0, remaining: 0, resetSeconds: 0 };

/** Collects items and hands them over once per event-loop turn. */
class Batch<T> {
  private items: T[] = [];
  private scheduled = false;

  constructor(private readonly flush: (items: T[]) => void) {}

  push(item: T): void {
    this.items.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const items = this.items;
      this.items = [];
      if (items.length > 0) this.flush(items);
    });
  }
}

/** A worker's buckets: every consume is the primary's. */
export class WorkerTokenBuckets implements TokenBucketStore {
  private readonly pending = new Map<number, (v: BucketVerdict) => void>();
  private nextId = 1;
  private closed = false;
  private readonly outbox: Batch<BucketAsk>;

  /** `send` delivers a batch to the primary; false when it cannot. */
  constructor(send: (asks: BucketAsk[]) => boolean) {
    this.outbox = new Batch((asks) => {
      if (!send(asks)) for (const a of asks) this.answer(a.id, UNLIMITED);
    });
  }

  consume(plan: readonly BucketSpec[]): Promise<BucketVerdict> {
    if (this.closed || plan.length === 0) return Promise.resolve(UNLIMITED);
    const id = this.nextId++;
    this.nextId %= 0x7fffffff;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.outbox.push({ id, plan });
    });
  }

  private answer(id: number, v: BucketVerdict): void {
    const r = this.pending.get(id);
    if (r === undefined) return;
    this.pending.delete(id);
    r(v);
  }

  /** The primary's answers. */
  receive(answers: readonly BucketAnswer[]): void {
    for (const a of answers) this.answer(a.id, a.verdict);
  }

  /** Asks still unanswered. */
  get waiting(): number {
    return this.pending.size;
  }

  /** The primary is gone: what waits goes on unlimited, as does what comes. */
  close(): void {
    this.closed = true;
    for (const id of [...this.pending.keys()]) this.answer(id, UNLIMITED);
  }
}

/** The primary's side: the one set of buckets, answering each worker's batch with one batch. */
export class PrimaryTokenBuckets {
  constructor(readonly buckets: LocalTokenBuckets = new LocalTokenBuckets()) {}

  receive(asks: readonly BucketAsk[]): BucketAnswer[] {
    return asks.map((a) => ({ id: a.id, verdict: this.buckets.consume(a.plan) }));
  }
}
