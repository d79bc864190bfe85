// The exporters' bounded buffer (Envoy's SpanBuffer and its flush timer): finished spans wait here
// and go out in one report once `minFlushSpans` are pending or every `flushIntervalMs`, one report
// in flight at a time. Nothing here ever waits on the collector: a full buffer drops the new span
// (counted), a slow or dead collector only makes the buffer fill. The timer is unref'd (it never
// keeps the process alive) and stops with close().
import type { Counter } from "../stats.js";
import type { FinishedSpan } from "./span.js";

export interface BatcherOptions {
  /** Envoy's tracing.*.min_flush_spans (5). */
  readonly minFlushSpans: number;
  /** Envoy's tracing.*.flush_interval_ms (5000). */
  readonly flushIntervalMs: number;
  /** The most spans held while a report is pending or in flight. */
  readonly maxPendingSpans: number;
}

export const DEFAULT_BATCHING: BatcherOptions = { minFlushSpans: 5, flushIntervalMs: 5000, maxPendingSpans: 1000 };

export interface BatcherCounters {
  /** Spans handed to a report. */
  readonly spansSent: Counter;
  /** Spans dropped because the buffer was full. */
  readonly spansDropped: Counter;
  readonly timerFlushed: Counter;
}

/** Sends one report; resolves when it is over (success or failure: the sender counts those). */
export type ReportSender = (spans: readonly FinishedSpan[]) => Promise<void>;

export class SpanBatcher {
  private pending: FinishedSpan[] = [];
  private inFlight = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly opts: BatcherOptions,
    private readonly counters: BatcherCounters,
    private readonly sender: ReportSender,
  ) {
    this.timer = setInterval(() => {
      counters.timerFlushed.inc();
      this.flush();
    }, opts.flushIntervalMs);
    this.timer.unref();
  }

  get size(): number {
    return this.pending.length;
  }

  add(span: FinishedSpan): void {
    if (this.closed || this.pending.length >= this.opts.maxPendingSpans) {
      this.counters.spansDropped.inc();
      return;
    }
    this.pending.push(span);
    if (this.pending.length >= this.opts.minFlushSpans) this.flush();
  }

  /** Sends what is pending unless a report is already in flight (it flushes again when that ends). */
  flush(): void {
    if (this.inFlight || this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.inFlight = true;
    this.counters.spansSent.inc(batch.length);
    let p: Promise<void>;
    try {
      p = this.sender(batch);
    } catch {
      p = Promise.resolve();
    }
    void p
      .catch(() => {})
      .finally(() => {
        this.inFlight = false;
        if (!this.closed && this.pending.length >= this.opts.minFlushSpans) this.flush();
      });
  }

  /** Stops the timer; what is pending goes out in a last report (not awaited). */
  close(): void {
    if (this.closed) return;
    clearInterval(this.timer);
    this.flush();
    this.closed = true;
  }
}
