// Envoy's local rate limit filter (envoy.filters.http.local_ratelimit, also as a route's or virtual
// host's typed_per_filter_config, which replaces the filter's own): token buckets (token-bucket.ts)
// for the requests a filter sees, one default bucket and one per configured descriptor the route's
// rate_limits produce. A request consumes from every matched descriptor bucket (slowest fill rate
// first) and from the default one when none matched or always_consume_default_token_bucket; a
// bucket without a token refuses it: 429 (`status`), body and details `local_rate_limited`, flag RL,
// response_headers_to_add — unless filter_enforced is off, then it continues with
// request_headers_to_add_when_not_enforced. Buckets are the proxy's (FilterRuntime.tokenBuckets:
// under `--concurrency N` the primary's), or the connection's with
// local_rate_limit_per_downstream_connection. Stats: <stat_prefix>.http_local_rate_limit.{enabled,
// ok,rate_limited,enforced}.
import type * as http from "node:http";
import { createHash } from "node:crypto";
import type * as v3 from "../../../envoy/types.js";
import { type RateLimitDescriptor } from "../../ratelimit/actions.js";
import { routeDescriptors, type VhRateLimits } from "../../ratelimit/route-descriptors.js";
import { type BucketSpec, type BucketVerdict, LocalTokenBuckets, type TokenBucketStore, tokenBucketSpec } from "../../ratelimit/token-bucket.js";
import type { Counter } from "../../stats.js";
import { XdsConfigError } from "../../xds-error.js";
import { type FilterCallbacks, type FilterRuntime, FilterStatus, type HttpFilter, registerHttpFilter } from "../filter.js";
import { type HeaderMap, HeaderMutations } from "../headers.js";
import { type FractionalPercent, fractionFires, runtimeDefault } from "../route-policies.js";

export const LOCAL_RATE_LIMIT_TYPE = "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";

const VH_OPTIONS: Readonly<Record<string, VhRateLimits>> = { OVERRIDE: "OVERRIDE", INCLUDE: "INCLUDE", IGNORE: "IGNORE" };
/** gRPC RESOURCE_EXHAUSTED. */
const RESOURCE_EXHAUSTED = 8;

interface LocalRateLimitStats {
  enabled: Counter;
  ok: Counter;
  rateLimited: Counter;
  enforced: Counter;
}

interface DescriptorBucket {
  /** Entries as "key\0value\0…" (a request descriptor matches when its entries are the same, in order). */
  readonly id: string;
  readonly spec: BucketSpec;
}

/** A compiled LocalRateLimit (the filter's or a per-route one). */
export interface LocalRateLimitConfig {
  readonly status: number;
  readonly statPrefix: string;
  readonly defaultBucket: BucketSpec;
  readonly descriptors: ReadonlyMap<string, DescriptorBucket>;
  readonly enabled: FractionalPercent | undefined;
  readonly enforced: FractionalPercent | undefined;
  readonly requestHeadersWhenNotEnforced: HeaderMutations | undefined;
  readonly responseHeaders: HeaderMutations | undefined;
  readonly stage: number;
  readonly perConnection: boolean;
  readonly xRateLimitHeaders: boolean;
  readonly alwaysConsumeDefault: boolean;
  readonly resourceExhausted: boolean;
  readonly vhRateLimits: VhRateLimits;
}

function bucketSpec(key: string, tb: v3.envoy.type.v3.TokenBucket | undefined, path: string): BucketSpec {
  // No bucket (a filter-level config that only names its stats): no token ever, as Envoy's empty bucket.
  return tb === undefined ? { key, maxTokens: 0, fillRate: 1 } : tokenBucketSpec(key, tb, path);
}

const entryId = (entries: readonly { key: string; value: string }[]): string => entries.map((e) => `${e.key}\0${e.value}`).join("\0");

/** The store key of a config: where it is, and a digest of what it says. */
function configKey(where: string, config: v3.envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit): string {
  return `${where}|${createHash("sha256").update(JSON.stringify(config)).digest("base64url").slice(0, 16)}`;
}

export function localRateLimitConfig(
  c: v3.envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit,
  path: string,
  where: string,
  perRoute: boolean,
): LocalRateLimitConfig {
  const prefix = c.statPrefix ?? "";
  if (!prefix) throw new XdsConfigError(`${path}.statPrefix`, "stat_prefix must not be empty");
  if (perRoute && c.tokenBucket === undefined) throw new XdsConfigError(`${path}.tokenBucket`, "local rate limit token bucket must be set for per filter configs");
  if (c.localClusterRateLimit !== undefined) throw new XdsConfigError(`${path}.localClusterRateLimit`, "local_cluster_rate_limit is not implemented by tsmesh");
  const code = c.status?.code;
  const status = typeof code === "number" && code >= 400 ? code : 429;
  const key = configKey(where, c);
  const defaultBucket = bucketSpec(key, c.tokenBucket, `${path}.tokenBucket`);
  const descriptors = new Map<string, DescriptorBucket>();
  (c.descriptors ?? []).forEach((d, i) => {
    const dp = `${path}.descriptors[${i}]`;
    const entries = (d.entries ?? []).map((e, j) => {
      if (!e.key) throw new XdsConfigError(`${dp}.entries[${j}].key`, "descriptor entry key must not be empty");
      if (!e.value) throw new XdsConfigError(`${dp}.entries[${j}].value`, "descriptor entries with an empty value (dynamic descriptors) are not implemented by tsmesh");
      return { key: e.key, value: e.value };
    });
    if (entries.length === 0) throw new XdsConfigError(`${dp}.entries`, "descriptor needs at least one entry");
    if (d.tokenBucket === undefined) throw new XdsConfigError(`${dp}.tokenBucket`, "descriptor token_bucket is required");
    const id = entryId(entries);
    if (descriptors.has(id)) throw new XdsConfigError(dp, `duplicate descriptor in the local rate descriptor: ${entries.map((e) => `${e.key}=${e.value}`).join(", ")}`);
    descriptors.set(id, { id, spec: bucketSpec(`${key}#${id}`, d.tokenBucket, `${dp}.tokenBucket`) });
  });
  const stage = c.stage ?? 0;
  if (stage > 10) throw new XdsConfigError(`${path}.stage`, "stage must be <= 10");
  const x = c.enableXRatelimitHeaders;
  if (x !== undefined && x !== "OFF" && x !== "DRAFT_VERSION_03") throw new XdsConfigError(`${path}.enableXRatelimitHeaders`, `unknown value ${String(x)}`);
  const vh = c.vhRateLimits === undefined ? "OVERRIDE" : VH_OPTIONS[c.vhRateLimits];
  if (vh === undefined) throw new XdsConfigError(`${path}.vhRateLimits`, `unknown value ${String(c.vhRateLimits)}`);
  return {
    status,
    statPrefix: prefix,
    defaultBucket,
    descriptors,
    enabled: c.filterEnabled ? runtimeDefault(c.filterEnabled, `${path}.filterEnabled`) : undefined,
    enforced: c.filterEnforced ? runtimeDefault(c.filterEnforced, `${path}.filterEnforced`) : undefined,
    requestHeadersWhenNotEnforced: HeaderMutations.compile(c.requestHeadersToAddWhenNotEnforced, undefined, `${path}.requestHeadersToAddWhenNotEnforced`),
    responseHeaders: HeaderMutations.compile(c.responseHeadersToAdd, undefined, `${path}.responseHeadersToAdd`),
    stage,
    perConnection: c.localRateLimitPerDownstreamConnection === true,
    xRateLimitHeaders: x === "DRAFT_VERSION_03",
    alwaysConsumeDefault: c.alwaysConsumeDefaultTokenBucket ? c.alwaysConsumeDefaultTokenBucket.value === true : true,
    resourceExhausted: c.rateLimitedAsResourceExhausted === true,
    vhRateLimits: vh,
  };
}

/**
 * Envoy's LocalRateLimiterImpl::requestAllowed as a plan: the matched descriptors' buckets, slowest
 * fill rate first, then the default bucket when none matched or it is always consumed.
 */
export function bucketPlan(config: LocalRateLimitConfig, descriptors: readonly RateLimitDescriptor[]): BucketSpec[] {
  const matched: BucketSpec[] = [];
  for (const d of descriptors) {
    const b = config.descriptors.get(entryId(d.entries));
    if (b !== undefined) matched.push(b.spec);
  }
  if (matched.length > 1) matched.sort((a, b) => a.fillRate - b.fillRate);
  if (matched.length === 0 || config.alwaysConsumeDefault) matched.push(config.defaultBucket);
  return matched;
}

/** Buckets of one downstream connection (local_rate_limit_per_downstream_connection). */
const perConnection = new WeakMap<object, LocalTokenBuckets>();
/** The process's own buckets, when the runtime offers none. */
const processBuckets = new LocalTokenBuckets();

class LocalRateLimitFilter implements HttpFilter {
  private verdict: BucketVerdict | undefined = undefined;
  private config: LocalRateLimitConfig | undefined = undefined;
  private stats: LocalRateLimitStats | undefined = undefined;
  private destroyed = false;

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly own: LocalRateLimitConfig,
    private readonly runtime: FilterRuntime,
    private readonly statsOf: (prefix: string) => LocalRateLimitStats,
  ) {}

  decodeHeaders(headers: http.OutgoingHttpHeaders): FilterStatus {
    const c = this.cb.perRouteConfig<LocalRateLimitConfig>() ?? this.own;
    this.config = c;
    if (c.enabled === undefined || !fractionFires(c.enabled, Math.random())) return FilterStatus.Continue;
    const stats = (this.stats = this.statsOf(c.statPrefix));
    stats.enabled.inc();
    const descriptors = c.descriptors.size > 0 ? routeDescriptors(this.cb, c.stage, c.vhRateLimits, this.runtime.localCluster ?? "", true) : [];
    const plan = bucketPlan(c, descriptors);
    const store = c.perConnection ? this.connectionBuckets() : (this.runtime.tokenBuckets ?? processBuckets);
    const v = store.consume(plan);
    if (!(v instanceof Promise)) return this.decide(c, v, headers) ? FilterStatus.Continue : FilterStatus.StopIteration;
    void v.then((verdict) => {
      if (this.destroyed) return;
      if (this.decide(c, verdict, headers)) this.cb.continueDecoding();
    });
    return FilterStatus.StopIteration;
  }

  private connectionBuckets(): TokenBucketStore {
    const conn = this.cb.request.connection as object;
    let b = perConnection.get(conn);
    if (b === undefined) perConnection.set(conn, (b = new LocalTokenBuckets()));
    return b;
  }

  /** Applies a verdict; true when the request goes on. */
  private decide(c: LocalRateLimitConfig, v: BucketVerdict, headers: http.OutgoingHttpHeaders): boolean {
    this.verdict = v;
    const stats = this.stats!;
    if (v.allowed) {
      stats.ok.inc();
      return true;
    }
    stats.rateLimited.inc();
    if (c.enforced === undefined || !fractionFires(c.enforced, Math.random())) {
      c.requestHeadersWhenNotEnforced?.apply(headers as HeaderMap);
      return true;
    }
    stats.enforced.inc();
    const extra: http.OutgoingHttpHeaders = {};
    c.responseHeaders?.apply(extra as HeaderMap);
    // The local reply does not come back through this filter's encodeHeaders: the headers go with it.
    this.rateLimitHeaders(extra);
    this.verdict = undefined;
    this.cb.setResponseFlag("RL");
    this.cb.sendLocalReply(
      { status: c.status, body: "local_rate_limited", flag: "RL", details: "local_rate_limited", ...(c.resourceExhausted && this.cb.request.grpc ? { grpcStatus: RESOURCE_EXHAUSTED } : {}) },
      extra,
    );
    return false;
  }

  encodeHeaders(_status: number, headers: http.OutgoingHttpHeaders): FilterStatus {
    this.rateLimitHeaders(headers);
    return FilterStatus.Continue;
  }

  private rateLimitHeaders(headers: http.OutgoingHttpHeaders): void {
    const v = this.verdict;
    if (v === undefined || !this.config?.xRateLimitHeaders) return;
    headers["x-ratelimit-limit"] = String(v.maxTokens);
    headers["x-ratelimit-remaining"] = String(v.remaining);
    headers["x-ratelimit-reset"] = String(v.resetSeconds);
  }

  onDestroy(): void {
    this.destroyed = true;
  }
}

registerHttpFilter([LOCAL_RATE_LIMIT_TYPE], {
  terminal: false,
  create(config: v3.envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit, ctx) {
    const own = localRateLimitConfig(config, ctx.path, ctx.path, false);
    // Envoy keeps these stats at the top level: <stat_prefix>.http_local_rate_limit.*.
    const root = ctx.stats.root();
    const byPrefix = new Map<string, LocalRateLimitStats>();
    const statsOf = (prefix: string): LocalRateLimitStats => {
      let st = byPrefix.get(prefix);
      if (st === undefined) {
        const s = root.scope(`${prefix}.http_local_rate_limit`);
        byPrefix.set(prefix, (st = { enabled: s.counter("enabled"), ok: s.counter("ok"), rateLimited: s.counter("rate_limited"), enforced: s.counter("enforced") }));
      }
      return st;
    };
    statsOf(own.statPrefix);
    return { create: (cb) => new LocalRateLimitFilter(cb, own, ctx.runtime, statsOf) };
  },
  perRoute: {
    types: [LOCAL_RATE_LIMIT_TYPE],
    compile: (c: v3.envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit, path, where) => localRateLimitConfig(c, path, `${where}: ${path}`, true),
  },
});
