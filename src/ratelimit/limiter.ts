// The fixed-window limiter (envoyproxy/ratelimit's BaseRateLimiter + fixedRateLimitCacheImpl),
// independent of where counters live: one cache key per limited descriptor and window
// (`PREFIX + DOMAIN_KEY_VALUE_…_WINDOWSTART`, the window start being now rounded down to the unit),
// one increment by the hits addend per key (with an expiry of the unit plus jitter) done by a
// CounterStore in one round trip, then per descriptor: OVER_LIMIT when the count after the increment
// exceeds requests_per_unit, else OK with limit_remaining; near_limit counted above the near-limit
// ratio; shadow mode counts but answers OK. Time is the injected clock's (ms since the Unix epoch).
import type { Clock } from "../core/clock.js";
import { UNIT_SECONDS, type RateLimit, type RequestDescriptor, type Unit } from "./config.js";

export type Code = "OK" | "OVER_LIMIT";

/** RateLimitResponse.DescriptorStatus, as the service builds it. */
export interface DescriptorStatus {
  code: Code;
  currentLimit?: { requestsPerUnit: number; unit: Unit; name: string };
  limitRemaining: number;
  /** Seconds until the window ends (absent with no limit). */
  durationUntilResetSeconds?: number;
}

/** One counter to increment: by `hits`, expiring after `expireSeconds` from now. */
export interface CounterIncrement {
  key: string;
  hits: number;
  expireSeconds: number;
}

/** Where counters live (memory, Redis). Rejects with StoreError when it cannot answer. */
export interface CounterStore {
  /** Increments each key and returns the counts after the increments, in order. */
  increment(items: readonly CounterIncrement[]): Promise<number[]>;
  close(): Promise<void>;
}

/** The store could not answer (the reference's RedisError): the call fails, the proxy's failure mode applies. */
export class StoreError extends Error {
  override readonly name = "StoreError";
}

export interface FixedWindowOptions {
  /** Wall-clock time (now() = ms since the Unix epoch) and timers. */
  clock: Clock;
  /** NEAR_LIMIT_RATIO (default 0.8). */
  nearLimitRatio?: number;
  /** CACHE_KEY_PREFIX (default ""). */
  cacheKeyPrefix?: string;
  /** EXPIRATION_JITTER_MAX_SECONDS (default 300): keys live their unit plus up to this many seconds. */
  expirationJitterMaxSeconds?: number;
  /** [0, 1) random numbers for the jitter (injectable for tests). */
  random?: () => number;
}

/** Go's float32 arithmetic, so thresholds are the reference's exactly (100 × 0.8 → 80, not 79). */
const f32 = Math.fround;

export class FixedWindowLimiter {
  private readonly nearLimitRatio: number;
  private readonly prefix: string;
  private readonly jitterMax: number;
  private readonly random: () => number;

  constructor(
    private readonly store: CounterStore,
    private readonly o: FixedWindowOptions,
  ) {
    this.nearLimitRatio = f32(o.nearLimitRatio ?? 0.8);
    this.prefix = o.cacheKeyPrefix ?? "";
    this.jitterMax = o.expirationJitterMaxSeconds ?? 300;
    this.random = o.random ?? Math.random;
  }

  nowSeconds(): number {
    return Math.floor(this.o.clock.now() / 1000);
  }

  /** The cache key of a descriptor under a limit at `now` (the reference's GenerateCacheKey). */
  cacheKey(domain: string, descriptor: RequestDescriptor, limit: RateLimit, now: number): string {
    let key = `${this.prefix}${domain}_`;
    const patterns = limit.shareThresholdKeyPattern;
    descriptor.entries.forEach((e, i) => {
      const shared = patterns?.[i];
      key += `${e.key}_${shared ? shared : e.value}_`;
    });
    const divider = UNIT_SECONDS[limit.unit];
    return key + String(Math.floor(now / divider) * divider);
  }

  /** Seconds until the current window of `unit` ends. */
  resetSeconds(unit: Unit, now = this.nowSeconds()): number {
    const divider = UNIT_SECONDS[unit];
    return divider - (now % divider);
  }

  /**
   * One status per descriptor; `limits[i]` undefined means no limit (OK, nothing counted). Rejects
   * with StoreError when the store cannot answer.
   */
  async doLimit(domain: string, descriptors: readonly RequestDescriptor[], limits: ReadonlyArray<RateLimit | undefined>, hitsAddends: readonly number[]): Promise<DescriptorStatus[]> {
    const now = this.nowSeconds();
    const keys: string[] = [];
    const increments: CounterIncrement[] = [];
    const slot: number[] = [];
    for (let i = 0; i < descriptors.length; i++) {
      const limit = limits[i];
      if (!limit) {
        keys.push("");
        continue;
      }
      limit.stats.add("total_hits", hitsAddends[i]);
      const key = this.cacheKey(domain, descriptors[i], limit, now);
      keys.push(key);
      let expireSeconds = UNIT_SECONDS[limit.unit];
      if (this.jitterMax > 0) expireSeconds += Math.floor(this.random() * this.jitterMax);
      slot[i] = increments.length;
      increments.push({ key, hits: hitsAddends[i], expireSeconds });
    }
    const counts = increments.length > 0 ? await this.store.increment(increments) : [];
    return descriptors.map((_, i) => {
      const limit = limits[i];
      if (!limit || keys[i] === "") return { code: "OK", limitRemaining: 0 };
      const after = counts[slot[i]];
      return this.status(limit, after - hitsAddends[i], after, hitsAddends[i], now);
    });
  }

  /** The reference's GetResponseDescriptorStatus (without its local cache, which is off by default). */
  private status(limit: RateLimit, before: number, after: number, hits: number, now: number): DescriptorStatus {
    const over = limit.requestsPerUnit;
    const near = Math.floor(f32(f32(over) * this.nearLimitRatio));
    const currentLimit = { requestsPerUnit: limit.requestsPerUnit, unit: limit.unit, name: limit.name };
    const durationUntilResetSeconds = this.resetSeconds(limit.unit, now);
    const stats = limit.stats;
    if (after > over) {
      // Of `hits`, only those past the threshold were over it; the ones between near and over were near.
      if (before >= over) stats.add("over_limit", hits);
      else {
        stats.add("over_limit", after - over);
        stats.add("near_limit", over - Math.max(near, before));
      }
      if (limit.shadowMode) {
        stats.add("shadow_mode", before >= over ? hits : after - over);
        return { code: "OK", currentLimit, limitRemaining: 0, durationUntilResetSeconds };
      }
      return { code: "OVER_LIMIT", currentLimit, limitRemaining: 0, durationUntilResetSeconds };
    }
    if (after > near) stats.add("near_limit", before >= near ? hits : after - near);
    stats.add("within_limit", hits);
    return { code: "OK", currentLimit, limitRemaining: over - after, durationUntilResetSeconds };
  }
}
