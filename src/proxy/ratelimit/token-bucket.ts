// Envoy's token buckets for the local rate limit (RateLimitTokenBucket over AtomicTokenBucketImpl):
// filled continuously at tokens_per_fill / fill_interval tokens a second up to max_tokens, starting
// full — current Envoy has no fill timer (the timer-based bucket and its runtime guard were removed).
// A consume is "tokens = what was left + elapsed × rate, capped at max_tokens; take one if there is
// a whole one". And the store that holds buckets by key: the
// one process's own (`--concurrency 1`, or the primary for its workers), consumed synchronously.
import { type Clock, realClock } from "../../core/clock.js";
import { durationMs } from "../../envoy/protos.js";
import type * as v3 from "../../envoy/types.js";
import { XdsConfigError } from "../xds-error.js";

/** A bucket as a filter's config defines it; `key` names it in the store (same key, same bucket). */
export interface BucketSpec {
  readonly key: string;
  readonly maxTokens: number;
  /** Tokens per second (tokens_per_fill / fill_interval). */
  readonly fillRate: number;
}

/** What a consume answers, with the state of the bucket the x-ratelimit-* headers describe. */
export interface BucketVerdict {
  readonly allowed: boolean;
  readonly maxTokens: number;
  readonly remaining: number;
  readonly resetSeconds: number;
}

/** Compiles an envoy.type.v3.TokenBucket (max_tokens > 0, tokens_per_fill default 1, fill_interval > 0). */
export function tokenBucketSpec(key: string, tb: v3.envoy.type.v3.TokenBucket, path: string): BucketSpec {
  const max = tb.maxTokens ?? 0;
  if (!Number.isInteger(max) || max < 1) throw new XdsConfigError(`${path}.maxTokens`, "max_tokens must be greater than 0");
  const perFill = tb.tokensPerFill ? (tb.tokensPerFill.value ?? 0) : 1;
  if (perFill < 1) throw new XdsConfigError(`${path}.tokensPerFill`, "tokens_per_fill must be greater than 0");
  const ms = durationMs(tb.fillInterval);
  if (ms === undefined || !(ms > 0)) throw new XdsConfigError(`${path}.fillInterval`, "fill_interval must be greater than 0");
  return { key, maxTokens: max, fillRate: perFill / (ms / 1000) };
}

export class TokenBucket {
  /** Tokens held at `at` (ms, clock time). Envoy keeps the equivalent "time the bucket was empty". */
  private tokens: number;
  private at: number;

  constructor(
    readonly maxTokens: number,
    readonly fillRate: number,
    private readonly clock: Pick<Clock, "now">,
  ) {
    // Starts full (Envoy's init_fill).
    this.tokens = maxTokens;
    this.at = clock.now();
  }

  private nowMs(): number {
    return this.clock.now();
  }

  private tokensAt(now: number): number {
    return Math.min(this.maxTokens, this.tokens + ((now - this.at) / 1000) * this.fillRate);
  }

  /** Takes one token if a whole one is there. */
  consume(): boolean {
    const now = this.nowMs();
    const tokens = this.tokensAt(now);
    if (tokens < 1) return false;
    this.tokens = tokens - 1;
    this.at = now;
    return true;
  }

  /** Whole tokens left (Envoy's remainingTokens, truncated). */
  remaining(): number {
    return Math.floor(this.tokensAt(this.nowMs()));
  }

  /** A full bucket is the same as a new one: the store may drop it. */
  full(): boolean {
    return this.tokensAt(this.nowMs()) >= this.maxTokens;
  }

  /** Whole seconds until the next token (Envoy's resetSeconds over nextTokenAvailable). */
  resetSeconds(): number {
    const tokens = this.tokensAt(this.nowMs());
    if (tokens >= 1) return 0;
    const ms = Math.floor(((1 - tokens) / this.fillRate) * 1000);
    return Math.floor(ms / 1000);
  }

  verdict(allowed: boolean): BucketVerdict {
    return { allowed, maxTokens: this.maxTokens, remaining: this.remaining(), resetSeconds: this.resetSeconds() };
  }
}

/**
 * Consumes a plan: one token from each bucket in order, stopping at the first that has none (the
 * tokens already taken stay taken, as in Envoy). The verdict describes the bucket that refused, or
 * the first of the plan when all allowed. An empty plan allows.
 */
export interface TokenBucketStore {
  consume(plan: readonly BucketSpec[]): BucketVerdict | Promise<BucketVerdict>;
}

const ALLOW_ALL: BucketVerdict = { allowed: true, maxTokens: 0, remaining: 0, resetSeconds: 0 };

/** Buckets held by this process. */
export class LocalTokenBuckets implements TokenBucketStore {
  private readonly buckets = new Map<string, TokenBucket>();
  private sweepAt = 1024;

  constructor(private readonly clock: Pick<Clock, "now"> = realClock) {}

  get size(): number {
    return this.buckets.size;
  }

  private bucket(spec: BucketSpec): TokenBucket {
    let b = this.buckets.get(spec.key);
    // A key whose limits changed is a new bucket (Envoy builds new ones with a new config).
    if (b === undefined || b.maxTokens !== spec.maxTokens || b.fillRate !== spec.fillRate) {
      if (b === undefined && this.buckets.size >= this.sweepAt) this.sweep();
      b = new TokenBucket(spec.maxTokens, spec.fillRate, this.clock);
      this.buckets.set(spec.key, b);
    }
    return b;
  }

  /** Drops full buckets (indistinguishable from new ones), so keys of old configs do not pile up. */
  private sweep(): void {
    for (const [k, b] of this.buckets) if (b.full()) this.buckets.delete(k);
    this.sweepAt = Math.max(1024, this.buckets.size * 2);
  }

  consume(plan: readonly BucketSpec[]): BucketVerdict {
    if (plan.length === 0) return ALLOW_ALL;
    let first: TokenBucket | undefined;
    for (const spec of plan) {
      const b = this.bucket(spec);
      first ??= b;
      if (!b.consume()) return b.verdict(false);
    }
    return first!.verdict(true);
  }
}
