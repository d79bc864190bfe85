// istiod's PushQueue: one pending push per connection (later pushes merge into it), a bounded number
// of connection pushes in flight (PILOT_PUSH_THROTTLE), FIFO fairness between connections. A push
// that arrives while its connection is being pushed waits and runs after, merged, so a connection
// never has two pushes in flight.
import type { PushRequest } from "./types.js";

/** Merges two push requests for the same target; `b` is the newer one (its context wins). */
export function mergePushRequests(a: PushRequest, b: PushRequest): PushRequest {
  let edsUpdates: ReadonlySet<string> | undefined;
  // Undefined means "every cluster", which absorbs any explicit set.
  if (a.edsUpdates && b.edsUpdates) {
    const u = new Set(a.edsUpdates);
    for (const n of b.edsUpdates) u.add(n);
    edsUpdates = u;
  }
  // What is behind the merged push is what was behind either side; unknown (undefined) on either
  // side absorbs the other. (A non-full side's kinds count too: its endpoints must still go out
  // when it merges into a full push that its kinds alone would let skip EDS.)
  const union = (x: ReadonlySet<string> | undefined, y: ReadonlySet<string> | undefined) => (x && y ? new Set([...x, ...y]) : undefined);
  const configKinds = union(a.configKinds, b.configKinds);
  const configsUpdated = union(a.configsUpdated, b.configsUpdated);
  return {
    full: a.full || b.full,
    edsUpdates,
    configKinds,
    configsUpdated,
    reasons: [...a.reasons, ...b.reasons],
    start: Math.min(a.start, b.start),
    context: b.context,
  };
}

interface Pending {
  request: PushRequest;
  enqueuedAt: number;
}

export type PushWorker<K> = (key: K, request: PushRequest, enqueuedAt: number) => Promise<void>;

export class PushQueue<K> {
  private readonly pending = new Map<K, Pending>();
  /** Keys with a pending push that are not being processed, in arrival order. */
  private order: K[] = [];
  private head = 0;
  private readonly processing = new Set<K>();
  private idleWaiters: Array<() => void> = [];
  private scheduled: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(
    private readonly worker: PushWorker<K>,
    private readonly maxConcurrent: number,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    if (!(maxConcurrent >= 1)) throw new Error(`maxConcurrentPushes must be >= 1, got ${maxConcurrent}`);
  }

  enqueue(key: K, request: PushRequest): void {
    if (this.closed) return;
    const p = this.pending.get(key);
    if (p) {
      p.request = mergePushRequests(p.request, request);
      return;
    }
    this.pending.set(key, { request, enqueuedAt: Date.now() });
    // A key being processed is re-queued when it finishes (see run).
    if (!this.processing.has(key)) this.order.push(key);
    this.schedule();
  }

  /** Drops a key's pending push (its connection closed). An in-flight push finishes on its own. */
  remove(key: K): void {
    // Its entry in `order` stays and is skipped by pump (no O(n) scan per disconnect).
    this.pending.delete(key);
    this.checkIdle();
  }

  /** Pending pushes (not yet started) and pushes in flight. */
  get size(): { pending: number; processing: number } {
    return { pending: this.pending.size, processing: this.processing.size };
  }

  /** Resolves when nothing is pending or in flight. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.pending.clear();
    this.order = [];
    this.head = 0;
    this.checkIdle();
  }

  private isIdle(): boolean {
    return this.pending.size === 0 && this.processing.size === 0;
  }

  private checkIdle(): void {
    if (!this.isIdle() || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  // Start workers on a later turn so a push() call returns at once and stream I/O interleaves.
  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = undefined;
      this.pump();
    });
  }

  private pump(): void {
    while (!this.closed && this.processing.size < this.maxConcurrent && this.head < this.order.length) {
      const key = this.order[this.head++];
      const p = this.pending.get(key);
      // Removed keys leave stale entries; a key in flight is re-queued by run() when it finishes.
      if (!p || this.processing.has(key)) continue;
      this.pending.delete(key);
      this.processing.add(key);
      void this.run(key, p);
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
    this.checkIdle();
  }

  private async run(key: K, p: Pending): Promise<void> {
    try {
      await this.worker(key, p.request, p.enqueuedAt);
    } catch (err) {
      this.onError(err);
    } finally {
      this.processing.delete(key);
      if (this.pending.has(key) && !this.closed) this.order.push(key);
      if (this.head < this.order.length) this.schedule();
      this.checkIdle();
    }
  }
}
