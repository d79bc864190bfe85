// Envoy's global rate limit filter (envoy.filters.http.ratelimit, with RateLimitPerRoute): the
// route's (and virtual host's) rate_limits of the filter's stage make descriptors; when there are
// any, the rate limit service (rls-client.ts) is asked with the filter's domain, the request waiting.
// OVER_LIMIT: 429 (or rate_limited_status), `x-envoy-ratelimited: true` unless disabled, the
// service's headers and body, flag RL, details request_rate_limited. An error (no cluster, timeout
// — 20 ms by default —, a failed call): the request goes on (stat failure_mode_allowed) unless
// failure_mode_deny, then 500 (or status_on_error), flag RLSE, details rate_limiter_error. OK: the
// service's request headers are added upstream and its response headers downstream. Stats, as
// Envoy, under the route's target cluster: cluster.<cluster>.ratelimit.{ok,over_limit,error,
// failure_mode_allowed}. The call is cancelled when the stream goes away.
import type * as http from "node:http";
import { durationMs } from "../../../envoy/protos.js";
import type * as v3 from "../../../envoy/types.js";
import { compileRateLimits, type RateLimitDescriptor, type RateLimitPolicy } from "../../ratelimit/actions.js";
import { actionInput, populate, routeDescriptors, type VhRateLimits } from "../../ratelimit/route-descriptors.js";
import { type DescriptorStatus, type LimitCall, type LimitResult, type RateLimitService, rateLimitService, shouldRateLimit } from "../../ratelimit/rls-client.js";
import type { StatsScope } from "../../stats.js";
import { XdsConfigError } from "../../xds-error.js";
import { DataStatus, type FilterCallbacks, type FilterRuntime, FilterStatus, type HttpFilter, registerHttpFilter } from "../filter.js";
import { type HeaderMap, HeaderMutations } from "../headers.js";

export const RATE_LIMIT_TYPE = "envoy.extensions.filters.http.ratelimit.v3.RateLimit";
export const RATE_LIMIT_PER_ROUTE_TYPE = "envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute";
const RESOURCE_EXHAUSTED = 8;

interface RateLimitConfig {
  readonly domain: string;
  readonly stage: number;
  readonly requestType: "both" | "internal" | "external";
  readonly timeoutMs: number;
  readonly failureModeDeny: boolean;
  readonly statusOnError: number;
  readonly rateLimitedStatus: number;
  readonly resourceExhausted: boolean;
  readonly xRateLimitHeaders: boolean;
  readonly xEnvoyRateLimited: boolean;
  readonly responseHeaders: HeaderMutations | undefined;
  readonly service: RateLimitService;
}

interface PerRouteConfig {
  readonly vh: VhRateLimits;
  readonly domain: string | undefined;
  /** Per-route rate_limits: used instead of the route's. */
  readonly rateLimits: RateLimitPolicy | undefined;
}

const errorCode = (s: v3.envoy.type.v3.HttpStatus | undefined, dflt: number): number => {
  const c = s?.code;
  return typeof c === "number" && c >= 400 && c < 600 ? c : dflt;
};

function compileConfig(c: v3.envoy.extensions.filters.http.ratelimit.v3.RateLimit, path: string): RateLimitConfig {
  if (!c.domain) throw new XdsConfigError(`${path}.domain`, "domain must not be empty");
  const rt = c.requestType ?? "";
  if (rt !== "" && rt !== "both" && rt !== "internal" && rt !== "external") throw new XdsConfigError(`${path}.requestType`, `request_type must be internal, external or both, got ${JSON.stringify(rt)}`);
  const stage = c.stage ?? 0;
  if (stage > 10) throw new XdsConfigError(`${path}.stage`, "stage must be <= 10");
  const timeout = c.timeout === undefined ? 20 : durationMs(c.timeout);
  if (timeout === undefined || !(timeout >= 0)) throw new XdsConfigError(`${path}.timeout`, "invalid timeout");
  const x = c.enableXRatelimitHeaders;
  if (x !== undefined && x !== "OFF" && x !== "DRAFT_VERSION_03") throw new XdsConfigError(`${path}.enableXRatelimitHeaders`, `unknown value ${String(x)}`);
  if (c.statPrefix) throw new XdsConfigError(`${path}.statPrefix`, "stat_prefix is not implemented by tsmesh");
  return {
    domain: c.domain,
    stage,
    requestType: (rt || "both") as RateLimitConfig["requestType"],
    // 0: no timeout in Envoy; the call is still bounded by the route-less async client's own limit.
    timeoutMs: timeout === 0 ? 2_147_483_647 : timeout,
    failureModeDeny: c.failureModeDeny === true,
    statusOnError: errorCode(c.statusOnError, 500),
    rateLimitedStatus: errorCode(c.rateLimitedStatus, 429),
    resourceExhausted: c.rateLimitedAsResourceExhausted === true,
    xRateLimitHeaders: x === "DRAFT_VERSION_03",
    xEnvoyRateLimited: c.disableXEnvoyRatelimitedHeader !== true,
    responseHeaders: HeaderMutations.compile(c.responseHeadersToAdd, undefined, `${path}.responseHeadersToAdd`),
    service: rateLimitService(c.rateLimitService, `${path}.rateLimitService`),
  };
}

const VH_FROM_OVERRIDE: Readonly<Record<string, VhRateLimits | undefined>> = { OVERRIDE_POLICY: "OVERRIDE", INCLUDE_POLICY: "INCLUDE", IGNORE_POLICY: "IGNORE", DEFAULT: undefined };

function compilePerRoute(c: v3.envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute, path: string): PerRouteConfig {
  const vhOpt = c.vhRateLimits ?? "OVERRIDE";
  if (vhOpt !== "OVERRIDE" && vhOpt !== "INCLUDE" && vhOpt !== "IGNORE") throw new XdsConfigError(`${path}.vhRateLimits`, `unknown value ${String(vhOpt)}`);
  const ov = c.overrideOption ?? "DEFAULT";
  if (!(ov in VH_FROM_OVERRIDE)) throw new XdsConfigError(`${path}.overrideOption`, `unknown value ${String(ov)}`);
  // The per-route rate_limits have the route's shape but a plain bool expect_match.
  const rateLimits = c.rateLimits?.length
    ? compileRateLimits(
        c.rateLimits.map((r) => ({
          ...r,
          stage: r.stage === undefined ? undefined : { value: r.stage },
          actions: r.actions?.map((a) => (a.headerValueMatch ? { ...a, headerValueMatch: { ...a.headerValueMatch, expectMatch: a.headerValueMatch.expectMatch === undefined ? undefined : { value: a.headerValueMatch.expectMatch } } } : a)),
        })) as v3.envoy.config.route.v3.RateLimit[],
        `${path}.rateLimits`,
      )
    : undefined;
  return { vh: VH_FROM_OVERRIDE[ov] ?? vhOpt, domain: c.domain || undefined, rateLimits };
}

/** Envoy's x-ratelimit-* values (DRAFT_VERSION_03) from the descriptor with the least remaining. */
const UNIT_SECONDS: Readonly<Record<string, number>> = { SECOND: 1, MINUTE: 60, HOUR: 3600, DAY: 86400, MONTH: 2592000, YEAR: 31536000 };
function xRateLimitHeaders(statuses: readonly DescriptorStatus[], h: http.OutgoingHttpHeaders): void {
  const withLimit = statuses.filter((s) => s.requestsPerUnit !== undefined && s.unit !== undefined && UNIT_SECONDS[s.unit] !== undefined);
  if (withLimit.length === 0) return;
  let min = withLimit[0];
  for (const s of withLimit) if (s.remaining < min.remaining) min = s;
  const policies = withLimit.map((s) => `${s.requestsPerUnit};w=${UNIT_SECONDS[s.unit!]}${s.name ? `;name="${s.name}"` : ""}`);
  h["x-ratelimit-limit"] = `${min.requestsPerUnit}, ${policies.join(", ")}`;
  h["x-ratelimit-remaining"] = String(min.remaining);
  if (min.resetSeconds !== undefined) h["x-ratelimit-reset"] = String(min.resetSeconds);
}

interface RlsStats {
  ok: () => void;
  overLimit: () => void;
  error: () => void;
  failureModeAllowed: () => void;
}

class RateLimitFilter implements HttpFilter {
  private call: LimitCall | undefined = undefined;
  private responseHeaders: Array<readonly [string, string]> | undefined = undefined;
  private done = false;

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly config: RateLimitConfig,
    private readonly runtime: FilterRuntime,
    private readonly root: StatsScope,
  ) {}

  decodeHeaders(headers: http.OutgoingHttpHeaders): FilterStatus {
    const c = this.config;
    const internal = headers["x-envoy-internal"] === "true";
    if ((internal && c.requestType === "external") || (!internal && c.requestType === "internal")) return FilterStatus.Continue;
    const r = this.cb.route();
    const cluster = r?.cluster;
    if (r === undefined || r.route.action.kind !== "route" || cluster === undefined || this.runtime.cluster(cluster) === undefined) return FilterStatus.Continue;
    const per = this.cb.perRouteConfig<PerRouteConfig>();
    const local = this.runtime.localCluster ?? "";
    let descriptors: RateLimitDescriptor[];
    if (per?.rateLimits) {
      descriptors = [];
      populate(per.rateLimits, c.stage, actionInput(this.cb, local), false, descriptors);
    } else descriptors = routeDescriptors(this.cb, c.stage, per?.vh ?? "OVERRIDE", local, false);
    if (descriptors.length === 0) return FilterStatus.Continue;
    const scope = this.root.scope(`cluster.${cluster}.ratelimit`);
    const stats: RlsStats = {
      ok: () => scope.counter("ok").inc(),
      overLimit: () => scope.counter("over_limit").inc(),
      error: () => scope.counter("error").inc(),
      failureModeAllowed: () => scope.counter("failure_mode_allowed").inc(),
    };
    const call = shouldRateLimit(this.runtime, c.service, per?.domain ?? c.domain, descriptors, c.timeoutMs);
    this.call = call;
    void call.result.then((res) => {
      if (this.done) return;
      this.call = undefined;
      this.complete(res, headers, stats);
    });
    return FilterStatus.StopIteration;
  }

  decodeData(): DataStatus {
    return this.call !== undefined ? DataStatus.StopIterationAndBuffer : DataStatus.Continue;
  }

  decodeTrailers(): FilterStatus {
    return this.call !== undefined ? FilterStatus.StopIteration : FilterStatus.Continue;
  }

  private complete(res: LimitResult, headers: http.OutgoingHttpHeaders, stats: RlsStats): void {
    const c = this.config;
    const respHeaders: Array<readonly [string, string]> = [...res.responseHeaders];
    if (res.dynamicMetadata) this.cb.dynamicMetadata.set("envoy.filters.http.ratelimit", res.dynamicMetadata);
    if (res.status === "OK") stats.ok();
    else if (res.status === "ERROR") stats.error();
    else {
      stats.overLimit();
      if (c.xEnvoyRateLimited) respHeaders.push(["x-envoy-ratelimited", "true"]);
    }
    if (c.xRateLimitHeaders) {
      const x: http.OutgoingHttpHeaders = {};
      xRateLimitHeaders(res.statuses, x);
      for (const [k, v] of Object.entries(x)) respHeaders.push([k, String(v)]);
    }
    if (res.status === "OVER_LIMIT") {
      const extra: http.OutgoingHttpHeaders = {};
      c.responseHeaders?.apply(extra as HeaderMap);
      addAll(extra, respHeaders);
      this.cb.setResponseFlag("RL");
      this.cb.sendLocalReply(
        // A gRPC request gets RESOURCE_EXHAUSTED when configured, else the status's mapping (UNAVAILABLE for 429).
        { status: c.rateLimitedStatus, body: res.body, flag: "RL", details: "request_rate_limited", ...(c.resourceExhausted && this.cb.request.grpc ? { grpcStatus: RESOURCE_EXHAUSTED } : {}) },
        extra,
      );
      return;
    }
    if (res.status === "ERROR" && c.failureModeDeny) {
      this.cb.setResponseFlag("RLSE");
      this.cb.sendLocalReply({ status: c.statusOnError, body: res.body, flag: "RLSE", details: "rate_limiter_error" });
      return;
    }
    if (res.status === "ERROR") stats.failureModeAllowed();
    for (const [k, v] of res.requestHeaders) appendHeader(headers, k, v);
    this.responseHeaders = respHeaders.length > 0 ? respHeaders : undefined;
    this.cb.continueDecoding();
  }

  encodeHeaders(_status: number, headers: http.OutgoingHttpHeaders): FilterStatus {
    const add = this.responseHeaders;
    if (add !== undefined) {
      this.responseHeaders = undefined;
      addAll(headers, add);
    }
    return FilterStatus.Continue;
  }

  onDestroy(): void {
    this.done = true;
    this.call?.cancel();
    this.call = undefined;
  }
}

/** Envoy's HeaderMapImpl::copyFrom: each header added (a repeated name gets every value). */
function appendHeader(h: http.OutgoingHttpHeaders, k: string, v: string): void {
  const had = h[k];
  h[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [String(had)]), v];
}

function addAll(h: http.OutgoingHttpHeaders, pairs: ReadonlyArray<readonly [string, string]>): void {
  // The service's content-type replaces the local reply's (Envoy's from_local_reply).
  if (pairs.some(([k]) => k === "content-type")) delete h["content-type"];
  for (const [k, v] of pairs) appendHeader(h, k, v);
}

registerHttpFilter<v3.envoy.extensions.filters.http.ratelimit.v3.RateLimit, v3.envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute>([RATE_LIMIT_TYPE], {
  terminal: false,
  create(config, ctx) {
    const c = compileConfig(config, ctx.path);
    const root = ctx.stats.root();
    return { create: (cb) => new RateLimitFilter(cb, c, ctx.runtime, root) };
  },
  perRoute: { types: [RATE_LIMIT_PER_ROUTE_TYPE], compile: (c, path) => compilePerRoute(c, path) },
});
