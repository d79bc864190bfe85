// Counters in this process (`--memory`, a single instance): the same keys and expiries as in Redis
// (INCRBY + EXPIRE), held in a map bounded in keys and in key bytes. Expired keys are swept on a
// timer and, when the map is full, before anything else; a full map of live keys drops its oldest
// keys first (counted, so an operator sees the limit became leaky) rather than grow without bound.
import type { Clock } from "../core/clock.js";
import type { CounterIncrement, CounterStore } from "./limiter.js";

export interface MemoryStoreOptions {
  /** ms since the Unix epoch, and timers for the sweep. */
  clock: Clock;
  /** Most keys held at once (default 100 000). */
  maxKeys?: number;
  /** Most bytes of keys held at once (default 32 MiB): request values make keys up to a few KiB. */
  maxKeyBytes?: number;
  /** How often expired keys are swept (ms; default 10 s; 0 = only when full). */
  sweepEveryMs?: number;
}

interface Counter {
  count: number;
  expiresAt: number;
}

export class MemoryCounterStore implements CounterStore {
  private readonly counters = new Map<string, Counter>();
  private readonly maxKeys: number;
  private readonly maxKeyBytes: number;
  private keyBytes = 0;
  private sweepTimer: unknown;
  private closed = false;
  /** Live keys dropped because the map was full. */
  evicted = 0;

  constructor(private readonly o: MemoryStoreOptions) {
    this.maxKeys = o.maxKeys ?? 100_000;
    this.maxKeyBytes = o.maxKeyBytes ?? 32 * 1024 * 1024;
    this.scheduleSweep();
  }

  get size(): number {
    return this.counters.size;
  }

  increment(items: readonly CounterIncrement[]): Promise<number[]> {
    const now = this.o.clock.now();
    const out = items.map((it) => {
      let c = this.counters.get(it.key);
      if (c && c.expiresAt <= now) {
        this.remove(it.key);
        c = undefined;
      }
      if (!c) {
        while (this.counters.size > 0 && (this.counters.size >= this.maxKeys || this.keyBytes + it.key.length > this.maxKeyBytes)) this.makeRoom(now);
        c = { count: 0, expiresAt: 0 };
        this.counters.set(it.key, c);
        this.keyBytes += it.key.length;
      }
      c.count += it.hits;
      // EXPIRE after INCRBY: every increment pushes the expiry out, as in Redis.
      c.expiresAt = now + it.expireSeconds * 1000;
      return c.count;
    });
    return Promise.resolve(out);
  }

  /** Drops expired keys; returns how many. */
  sweep(now = this.o.clock.now()): number {
    let n = 0;
    for (const [k, c] of this.counters) {
      if (c.expiresAt <= now) {
        this.remove(k);
        n++;
      }
    }
    return n;
  }

  private makeRoom(now: number): void {
    if (this.sweep(now) > 0) return;
    // Map order is insertion order: the first keys are the oldest windows.
    const drop = Math.max(1, Math.floor(this.maxKeys / 100));
    let i = 0;
    for (const k of this.counters.keys()) {
      if (i++ >= drop) break;
      this.remove(k);
      this.evicted++;
    }
  }

  private remove(key: string): void {
    if (this.counters.delete(key)) this.keyBytes -= key.length;
  }

  private scheduleSweep(): void {
    const every = this.o.sweepEveryMs ?? 10_000;
    if (every <= 0 || this.closed) return;
    this.sweepTimer = this.o.clock.setTimeout(() => {
      this.sweep();
      this.scheduleSweep();
    }, every);
  }

  close(): Promise<void> {
    this.closed = true;
    if (this.sweepTimer !== undefined) this.o.clock.clearTimeout(this.sweepTimer);
    this.counters.clear();
    this.keyBytes = 0;
    return Promise.resolve();
  }
}
