// ShouldRateLimit (envoyproxy/ratelimit's service): checks and bounds the request, finds each
// descriptor's limit in the current config (unlimited ones answer OK with limit_remaining
// 4294967295 and never reach the store; a limit named in another matched limit's `replaces` is
// dropped), counts through the fixed-window limiter, and builds the answer: overall OVER_LIMIT when
// any limit outside quota mode is over (or every quota-mode one is), the optional RateLimit-*
// response headers of the descriptor closest to its limit, global shadow mode. The config is
// swapped whole on reload; a call uses the one it started with.
import { UNIT_NUMBERS, unitOf, type RateLimit, type RateLimitConfig, type RequestDescriptor } from "./config.js";
import { StoreError, type DescriptorStatus, type FixedWindowLimiter } from "./limiter.js";
import type { RateLimitStatsManager } from "./stats.js";

/** A request the service refuses (the reference's serviceError); the call fails. */
export class ServiceError extends Error {
  override readonly name = "ServiceError";
  constructor(
    message: string,
    /** A malformed or oversized request, as opposed to the service's own state. */
    readonly invalidArgument = false,
  ) {
    super(message);
  }
}

/** Bounds on one request: Envoy sends a handful of short descriptors; anything past these is refused. */
export const REQUEST_LIMITS = {
  maxDescriptors: 64,
  maxEntries: 32,
  maxKeyLength: 256,
  maxValueLength: 4096,
  maxDomainLength: 256,
} as const;

/** RateLimitRequest as decoded (protobufjs camelCase, enums as names or numbers). */
export interface RateLimitRequestIn {
  domain?: string;
  descriptors?: Array<{ entries?: Array<{ key?: string; value?: string }>; limit?: { requestsPerUnit?: number; unit?: string | number } }>;
  hitsAddend?: number;
}

export interface RateLimitAnswer {
  overallCode: "OK" | "OVER_LIMIT";
  statuses: DescriptorStatus[];
  responseHeadersToAdd: Array<{ key: string; value: string }>;
}

export interface ResponseHeaderNames {
  limit: string;
  remaining: string;
  reset: string;
}

export interface ServiceOptions {
  /** SHADOW_MODE: every OVER_LIMIT answer becomes OK (counted as global_shadow_mode). */
  globalShadowMode?: boolean;
  /** QUOTA_MODE: every descriptor in quota mode. */
  globalQuotaMode?: boolean;
  /** LIMIT_RESPONSE_HEADERS_ENABLED with the header names (RateLimit-Limit, -Remaining, -Reset by default). */
  responseHeaders?: ResponseHeaderNames;
  debug?: (message: string) => void;
}

export const DEFAULT_RESPONSE_HEADERS: ResponseHeaderNames = { limit: "RateLimit-Limit", remaining: "RateLimit-Remaining", reset: "RateLimit-Reset" };

const MAX_UINT32 = 0xffffffff;

export class RateLimitService {
  private config: RateLimitConfig | undefined;

  constructor(
    private readonly limiter: FixedWindowLimiter,
    readonly stats: RateLimitStatsManager,
    private readonly o: ServiceOptions = {},
  ) {}

  /** Takes a newly loaded config (config_load_success counted by the caller that loaded it). */
  setConfig(config: RateLimitConfig): void {
    this.config = config;
  }

  get currentConfig(): RateLimitConfig | undefined {
    return this.config;
  }

  /** Answers one request; throws ServiceError (bad request, no config) or StoreError (counters unreachable). */
  async shouldRateLimit(req: RateLimitRequestIn): Promise<RateLimitAnswer> {
    try {
      return await this.worker(req);
    } catch (e) {
      if (e instanceof StoreError) this.stats.service["call.should_rate_limit.redis_error"]++;
      else if (e instanceof ServiceError) this.stats.service["call.should_rate_limit.service_error"]++;
      throw e;
    }
  }

  private async worker(req: RateLimitRequestIn): Promise<RateLimitAnswer> {
    const domain = req.domain ?? "";
    if (domain === "") throw new ServiceError("rate limit domain must not be empty");
    const descriptors = checkDescriptors(domain, req.descriptors ?? []);
    const config = this.config;
    if (!config) throw new ServiceError("no rate limit configuration loaded");
    const limits: Array<RateLimit | undefined> = [];
    const unlimited: boolean[] = [];
    const replacing = new Set<string>();
    for (const d of descriptors) {
      let limit = config.getLimit(domain, d);
      if (this.o.debug) this.o.debug(`got descriptor: ${d.entries.map((e) => `(${e.key}=${e.value})`).join(",")}: ${limit ? (limit.unlimited ? "unlimited" : `${limit.requestsPerUnit} per ${limit.unit}${limit.shadowMode ? " (shadow mode)" : ""}`) : "no limit"}`);
      let isUnlimited = false;
      if (limit) {
        for (const r of limit.replaces) replacing.add(r);
        if (limit.unlimited) {
          isUnlimited = true;
          limit = undefined;
        }
      }
      limits.push(limit);
      unlimited.push(isUnlimited);
    }
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i];
      if (l && l.name !== "" && replacing.has(l.name)) limits[i] = undefined;
    }
    // hits_addend 0 means 1 (the reference keeps old clients working that way).
    const hits = Math.max(1, req.hitsAddend ?? 0);
    const statuses = await this.limiter.doLimit(domain, descriptors, limits, descriptors.map(() => hits));

    const headers = this.o.responseHeaders;
    let minRemaining = MAX_UINT32;
    let closest: DescriptorStatus | undefined;
    let failedRateLimit = 0;
    let failedQuota = 0;
    let totalQuota = 0;
    const out: DescriptorStatus[] = [];
    for (let i = 0; i < statuses.length; i++) {
      const s = statuses[i];
      if (headers && s.currentLimit && s.limitRemaining < minRemaining) {
        closest = s;
        minRemaining = s.limitRemaining;
      }
      if (unlimited[i]) {
        out.push({ code: "OK", limitRemaining: MAX_UINT32 });
        continue;
      }
      out.push(s);
      const quota = this.o.globalQuotaMode === true || limits[i]?.quotaMode === true;
      if (s.code === "OVER_LIMIT") {
        if (quota) failedQuota++;
        else {
          failedRateLimit++;
          closest = s;
          minRemaining = 0;
        }
      }
      if (quota) totalQuota++;
    }
    let overallCode: "OK" | "OVER_LIMIT" = failedRateLimit > 0 || (totalQuota > 0 && totalQuota === failedQuota) ? "OVER_LIMIT" : "OK";
    const responseHeadersToAdd: Array<{ key: string; value: string }> = [];
    if (headers && closest?.currentLimit) {
      responseHeadersToAdd.push(
        { key: headers.limit, value: String(closest.currentLimit.requestsPerUnit) },
        { key: headers.remaining, value: String(closest.limitRemaining) },
        { key: headers.reset, value: String(this.limiter.resetSeconds(closest.currentLimit.unit)) },
      );
    }
    if (overallCode === "OVER_LIMIT" && this.o.globalShadowMode) {
      overallCode = "OK";
      this.stats.service.global_shadow_mode++;
    }
    return { overallCode, statuses: out, responseHeadersToAdd };
  }
}

/** Checks shape and bounds of the request's descriptors and gives them the service's form. */
function checkDescriptors(domain: string, raw: NonNullable<RateLimitRequestIn["descriptors"]>): RequestDescriptor[] {
  const L = REQUEST_LIMITS;
  if (domain.length > L.maxDomainLength) throw new ServiceError(`rate limit domain is longer than ${L.maxDomainLength} characters`, true);
  if (raw.length === 0) throw new ServiceError("rate limit descriptor list must not be empty");
  if (raw.length > L.maxDescriptors) throw new ServiceError(`more than ${L.maxDescriptors} descriptors`, true);
  return raw.map((d, i) => {
    const entries = d.entries ?? [];
    if (entries.length > L.maxEntries) throw new ServiceError(`descriptors[${i}]: more than ${L.maxEntries} entries`, true);
    const out: RequestDescriptor = {
      entries: entries.map((e, j) => {
        const key = e.key ?? "";
        const value = e.value ?? "";
        if (key.length > L.maxKeyLength) throw new ServiceError(`descriptors[${i}].entries[${j}].key is longer than ${L.maxKeyLength} characters`, true);
        if (value.length > L.maxValueLength) throw new ServiceError(`descriptors[${i}].entries[${j}].value is longer than ${L.maxValueLength} characters`, true);
        return { key, value };
      }),
    };
    if (d.limit) {
      const unit = unitOf(d.limit.unit);
      // An override with an unknown unit cannot be windowed; the reference would fail on it too.
      if (!unit) throw new ServiceError(`descriptors[${i}].limit.unit ${JSON.stringify(d.limit.unit ?? "UNKNOWN")} is not one of ${Object.keys(UNIT_NUMBERS).join(", ")}`, true);
      out.limit = { requestsPerUnit: d.limit.requestsPerUnit ?? 0, unit };
    }
    return out;
  });
}
