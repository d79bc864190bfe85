// istiod's debounce: config events arrive in bursts (a kubectl apply of 50 objects), and each push
// costs a generation per proxy, so events are merged until things go quiet (quietMs) or, under a
// constant stream of events, until maxMs after the first one. A flush that returns a promise holds
// the next one back until it settles, so pushes never overlap.
import { mergePushRequests } from "./push-queue.js";
import type { PushRequest } from "./types.js";

export interface DebouncerOptions {
  /** Flush after this long without a new event (istiod PILOT_DEBOUNCE_AFTER: 100 ms). */
  quietMs?: number;
  /** Flush at the latest this long after the first merged event (PILOT_DEBOUNCE_MAX: 10 s). */
  maxMs?: number;
  /** Clock (ms); Date.now by default. */
  now?: () => number;
  /** Timer factory returning a cancel function; setTimeout by default. */
  setTimer?: (fn: () => void, ms: number) => () => void;
  /** A flush that threw or rejected (default: ignored, the debouncer keeps going). */
  onError?: (err: unknown) => void;
  /**
   * Told, once a flush has returned (or its promise settled), how long it was since the first event
   * it merged (ms): istiod's pilot_debounce_time, which includes building the push.
   */
  onFlushed?: (delayMs: number) => void;
}

function defaultTimer(fn: () => void, ms: number): () => void {
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
}

export class Debouncer {
  private readonly quietMs: number;
  private readonly maxMs: number;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => () => void;
  private readonly onError: (err: unknown) => void;
  private readonly onFlushed: ((delayMs: number) => void) | undefined;
  private pending: PushRequest | undefined;
  private firstAt = 0;
  private lastAt = 0;
  private cancelTimer: (() => void) | undefined;
  private flushing = false;
  private closed = false;

  constructor(
    private readonly onFlush: (req: PushRequest) => void | Promise<void>,
    options: DebouncerOptions = {},
  ) {
    this.quietMs = options.quietMs ?? 100;
    this.maxMs = options.maxMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.setTimer = options.setTimer ?? defaultTimer;
    this.onError = options.onError ?? (() => {});
    this.onFlushed = options.onFlushed;
  }

  add(req: PushRequest): void {
    if (this.closed) return;
    const t = this.now();
    if (this.pending) {
      this.pending = mergePushRequests(this.pending, req);
    } else {
      this.pending = req;
      this.firstAt = t;
    }
    this.lastAt = t;
    // One timer at a time: when it fires it re-checks and re-arms (istiod's pattern), so a burst of
    // events does not churn timers.
    if (!this.cancelTimer && !this.flushing) this.arm(this.quietMs);
  }

  /** Whether events are waiting to be flushed. */
  get hasPending(): boolean {
    return this.pending !== undefined;
  }

  /** Stops the timer and drops pending events. */
  close(): void {
    this.closed = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.pending = undefined;
  }

  private arm(ms: number): void {
    this.cancelTimer = this.setTimer(
      () => {
        this.cancelTimer = undefined;
        this.check();
      },
      Math.max(0, ms),
    );
  }

  private check(): void {
    if (this.closed || this.flushing || !this.pending) return;
    const t = this.now();
    const sinceFirst = t - this.firstAt;
    const quiet = t - this.lastAt;
    if (sinceFirst >= this.maxMs || quiet >= this.quietMs) {
      this.flush();
    } else {
      this.arm(Math.min(this.quietMs - quiet, this.maxMs - sinceFirst));
    }
  }

  private flush(): void {
    const req = this.pending;
    if (!req) return;
    this.pending = undefined;
    const firstAt = this.firstAt;
    let result: void | Promise<void>;
    try {
      result = this.onFlush(req);
    } catch (err) {
      this.onError(err);
      this.afterFlush(firstAt);
      return;
    }
    if (result && typeof result.then === "function") {
      this.flushing = true;
      result.then(
        () => this.afterFlush(firstAt),
        (err: unknown) => {
          this.onError(err);
          this.afterFlush(firstAt);
        },
      );
    } else {
      this.afterFlush(firstAt);
    }
  }

  // Events that arrived during the flush were held back; their quiet/max clock kept running, so a
  // check may flush them at once.
  private afterFlush(firstAt: number): void {
    this.onFlushed?.(this.now() - firstAt);
    this.flushing = false;
    if (!this.closed && this.pending && !this.cancelTimer) this.check();
  }
}
