// A route's action compiled from RDS: forward (cluster, cluster header or weighted clusters, with
// rewrites, timeouts and policies), redirect, or direct response; and the per-level pieces routes
// inherit (typed_per_filter_config, metadata, header mutation chains).
import { readFileSync } from "node:fs";
import type * as v3 from "../../envoy/types.js";
import { compileRateLimits, type RateLimitPolicy } from "../ratelimit/actions.js";
import { XdsConfigError } from "../xds-error.js";
import { type CorsPolicy, corsPolicy } from "./cors-policy.js";
import { HeaderMutations } from "./headers.js";
import { compileRegexRewrite, type RegexRewrite } from "./matchers/regex.js";
import type { CompiledRoute, CompiledVirtualHost } from "./route-table.js";
import {
  compileHashPolicy,
  compileHedgePolicy,
  compileMirrorPolicy,
  compileRetryPolicy,
  enumValue,
  type HashPolicy,
  type HedgePolicy,
  type MirrorPolicy,
  nonNegativeMs,
  type RetryPolicy,
} from "./route-policies.js";

export const EMPTY: readonly never[] = Object.freeze([]);
export const NO_CONFIGS: Readonly<Record<string, v3.Any>> = Object.freeze({});

const REDIRECT_STATUS: Readonly<Record<v3.RedirectAction.RedirectResponseCode, number>> = {
  MOVED_PERMANENTLY: 301,
  FOUND: 302,
  SEE_OTHER: 303,
  TEMPORARY_REDIRECT: 307,
  PERMANENT_REDIRECT: 308,
};
const NOT_FOUND_STATUS: Readonly<Record<v3.RouteAction.ClusterNotFoundResponseCode, number>> = { SERVICE_UNAVAILABLE: 503, NOT_FOUND: 404, INTERNAL_SERVER_ERROR: 500 };
const PRIORITIES: Readonly<Record<v3.RoutingPriority, v3.RoutingPriority>> = { DEFAULT: "DEFAULT", HIGH: "HIGH" };

/** Envoy's DEFAULT_ROUTE_TIMEOUT_MS. */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15000;

export interface WeightedClusterEntry {
  readonly name: string | undefined;
  readonly clusterHeader: string | undefined;
  readonly weight: number;
  readonly hostRewriteLiteral: string | undefined;
  readonly requestHeaders: HeaderMutations | undefined;
  readonly responseHeaders: HeaderMutations | undefined;
  readonly typedPerFilterConfig: Readonly<Record<string, v3.Any>>;
  /** `metadataMatch.filterMetadata["envoy.lb"]` merged over the route's (subset load balancing). */
  readonly metadataMatch: v3.Struct | undefined;
  /** Mutations the router applies for this pick, in order (this entry's, then the route's chain). */
  readonly requestHeaderChain: readonly HeaderMutations[];
  readonly responseHeaderChain: readonly HeaderMutations[];
  /** Per-filter configs, most specific first: this entry > route > virtual host > route configuration. */
  readonly filterConfigs: Readonly<Record<string, v3.Any>>;
}

interface WeightedClusters {
  readonly clusters: readonly WeightedClusterEntry[];
  /** Sum of the weights (> 0). */
  readonly totalWeight: number;
  /** `headerName`: a request header holding the random value (single, integer) to pick with. */
  readonly headerName: string | undefined;
}

export interface RouteActionConfig {
  readonly kind: "route";
  readonly cluster: string | undefined;
  readonly clusterHeader: string | undefined;
  readonly weightedClusters: WeightedClusters | undefined;
  /** 503 (default), 404 or 500. */
  readonly clusterNotFoundResponseCode: number;
  /** Route timeout: 15000 when absent (Envoy's default); 0 = disabled. */
  readonly timeoutMs: number;
  /** undefined = the HCM's stream idle timeout; 0 = disabled. */
  readonly idleTimeoutMs: number | undefined;
  /** The route's retry policy, else the virtual host's. */
  readonly retryPolicy: RetryPolicy | undefined;
  readonly hedgePolicy: HedgePolicy | undefined;
  readonly prefixRewrite: string | undefined;
  readonly regexRewrite: RegexRewrite | undefined;
  readonly hostRewriteLiteral: string | undefined;
  readonly autoHostRewrite: boolean;
  readonly hostRewriteHeader: string | undefined;
  readonly hostRewritePathRegex: RegexRewrite | undefined;
  readonly appendXForwardedHost: boolean;
  readonly hashPolicy: readonly HashPolicy[];
  /** The route's mirror policies, else the virtual host's, else the route configuration's. */
  readonly requestMirrorPolicies: readonly MirrorPolicy[];
  /** max_stream_duration.max_stream_duration: the stream's bound (overrides the HCM's; 0 = none). */
  readonly maxStreamDurationMs: number | undefined;
  /**
   * The route has a max_stream_duration message (Envoy's usingNewTimeouts): the route timeout and
   * max_grpc_timeout no longer apply, the stream duration (and grpc-timeout) does.
   */
  readonly usingNewTimeouts: boolean;
  readonly grpcTimeoutHeaderMaxMs: number | undefined;
  readonly grpcTimeoutHeaderOffsetMs: number | undefined;
  /** Deprecated gRPC timeout fields (Istio still sets maxGrpcTimeout: 0 = honour grpc-timeout, no cap). */
  readonly maxGrpcTimeoutMs: number | undefined;
  readonly grpcTimeoutOffsetMs: number | undefined;
  /** From the virtual host: send `x-envoy-attempt-count` upstream. */
  readonly includeRequestAttemptCount: boolean;
  readonly includeAttemptCountInResponse: boolean;
  /** Upgrade types (lowercase) → enabled. */
  readonly upgradeConfigs: Readonly<Record<string, boolean>>;
  readonly priority: v3.RoutingPriority;
  /** `metadataMatch.filterMetadata["envoy.lb"]` (subset load balancing). */
  readonly metadataMatch: v3.Struct | undefined;
  /** Retry/shadow buffer limit: the route's, else the virtual host's; undefined = the listener's. */
  readonly perRequestBufferLimitBytes: number | undefined;
  /** Deprecated RouteAction.cors, when set (the CORS filter applies it where no per-route config does). */
  readonly cors: CorsPolicy | undefined;
  /** RouteAction.rate_limits, compiled (the rate-limit filters read them). */
  readonly rateLimits: RateLimitPolicy;
  /** Deprecated RouteAction.include_vh_rate_limits: the virtual host's rate_limits apply too. */
  readonly includeVhRateLimits: boolean;
}

export interface RedirectActionConfig {
  readonly kind: "redirect";
  readonly schemeRedirect: string | undefined;
  readonly httpsRedirect: boolean;
  readonly hostRedirect: string | undefined;
  readonly portRedirect: number | undefined;
  readonly pathRedirect: string | undefined;
  readonly prefixRewrite: string | undefined;
  readonly regexRewrite: RegexRewrite | undefined;
  /** 301 (MOVED_PERMANENTLY, default), 302, 303, 307, 308. */
  readonly responseCode: number;
  readonly stripQuery: boolean;
  /**
   * The route's path matcher value that prefixRewrite replaces (prefix, path or
   * pathSeparatedPrefix); undefined for regex/connect routes, where the whole path is replaced.
   */
  readonly matchedPrefix: string | undefined;
  /** Envoy's require_tls redirect: `https://` + the authority as received + path. */
  readonly sslRedirect: boolean;
}

export interface DirectResponseConfig {
  readonly kind: "direct";
  readonly status: number;
  /** The body (inlineString, inlineBytes, filename or environmentVariable), undefined for none. */
  readonly body: Buffer | undefined;
}

export type RouteAction = RouteActionConfig | RedirectActionConfig | DirectResponseConfig;

/** A level's typed_per_filter_config (a frozen copy: the decoded resource stays as received). */
export function typedPerFilterConfig(m: { readonly [name: string]: v3.Any } | undefined): Readonly<Record<string, v3.Any>> {
  if (!m || Object.keys(m).length === 0) return NO_CONFIGS;
  return Object.freeze({ ...m });
}

export function mergeConfigs(...levels: Readonly<Record<string, v3.Any>>[]): Readonly<Record<string, v3.Any>> {
  const nonEmpty = levels.filter((l) => l !== NO_CONFIGS && Object.keys(l).length > 0);
  if (nonEmpty.length === 0) return NO_CONFIGS;
  if (nonEmpty.length === 1) return nonEmpty[0];
  return Object.freeze(Object.assign({}, ...nonEmpty) as Record<string, v3.Any>);
}

function lbMetadata(md: v3.Metadata | undefined): v3.Struct | undefined {
  return md?.filterMetadata?.["envoy.lb"];
}

function mergeLbMetadata(parent: v3.Struct | undefined, child: v3.Struct | undefined): v3.Struct | undefined {
  if (!parent || !child) return child ?? parent;
  return { fields: { ...parent.fields, ...child.fields } };
}

export function chain(mostSpecificWins: boolean, ...mostSpecificFirst: (HeaderMutations | undefined)[]): readonly HeaderMutations[] {
  const levels = mostSpecificWins ? [...mostSpecificFirst].reverse() : mostSpecificFirst;
  const out = levels.filter((m): m is HeaderMutations => m !== undefined);
  return out.length === 0 ? EMPTY : out;
}

function dataSource(o: v3.DataSource, path: string, maxBytes: number): Buffer | undefined {
  let buf: Buffer | undefined;
  const file = o.filename;
  const env = o.environmentVariable;
  if (o.inlineString !== undefined) buf = Buffer.from(o.inlineString, "utf8");
  else if (o.inlineBytes !== undefined) buf = Buffer.from(o.inlineBytes);
  else if (file !== undefined) {
    try {
      buf = readFileSync(file);
    } catch (err) {
      throw new XdsConfigError(`${path}.filename`, `cannot read ${file}: ${(err as Error).message}`);
    }
    if (maxBytes > 0 && buf.length > maxBytes) throw new XdsConfigError(`${path}.filename`, `file ${file} size is ${buf.length} bytes; maximum is ${maxBytes}`);
  } else if (env !== undefined) {
    const v = process.env[env];
    if (v === undefined) throw new XdsConfigError(`${path}.environmentVariable`, `Environment variable doesn't exist: ${env}`);
    buf = Buffer.from(v, "utf8");
  }
  if (buf && maxBytes > 0 && buf.length > maxBytes) throw new XdsConfigError(path, `response body size is ${buf.length} bytes; maximum is ${maxBytes}`);
  return buf;
}

// ---------------------------------------------------------------------------------------------

/** Weighted cluster entries need the finished route for their header chains and filter configs. */
export function finishWeightedClusters(wc: WeightedClusters, route: CompiledRoute): void {
  for (const e of wc.clusters as MutableWeightedClusterEntry[]) {
    e.requestHeaderChain = e.requestHeaders ? [e.requestHeaders, ...route.requestHeaderChain] : route.requestHeaderChain;
    e.responseHeaderChain = e.responseHeaders ? [e.responseHeaders, ...route.responseHeaderChain] : route.responseHeaderChain;
    e.filterConfigs = mergeConfigs(route.filterConfigs, e.typedPerFilterConfig);
  }
}

type MutableWeightedClusterEntry = { -readonly [K in keyof WeightedClusterEntry]: WeightedClusterEntry[K] };

export function compileRouteAction(a: v3.RouteAction, path: string, vhost: CompiledVirtualHost, routeBufferLimit: number | undefined): RouteActionConfig {
  const cluster = a.cluster;
  const clusterHeader = a.clusterHeader;
  const routeMetadata = lbMetadata(a.metadataMatch);
  let weightedClusters: WeightedClusters | undefined;
  if (cluster !== undefined) {
    if (!cluster) throw new XdsConfigError(`${path}.cluster`, "cluster must not be empty");
  } else if (clusterHeader !== undefined) {
    if (!clusterHeader) throw new XdsConfigError(`${path}.clusterHeader`, "cluster_header must not be empty");
  } else if (a.weightedClusters) {
    weightedClusters = compileWeightedClusters(a.weightedClusters, `${path}.weightedClusters`, routeMetadata);
  } else if (a.clusterSpecifierPlugin !== undefined || a.inlineClusterSpecifierPlugin !== undefined) {
    throw new XdsConfigError(path, "cluster specifier plugins are not supported");
  } else throw new XdsConfigError(path, "route action needs one of cluster, clusterHeader or weightedClusters");

  const rewrites = [a.prefixRewrite !== undefined && a.prefixRewrite !== "", a.regexRewrite !== undefined, a.pathRewritePolicy !== undefined].filter(Boolean).length;
  if (rewrites > 1) throw new XdsConfigError(path, "Specify only one of prefix_rewrite, regex_rewrite or path_rewrite_policy");
  if (a.pathRewritePolicy) throw new XdsConfigError(`${path}.pathRewritePolicy`, "path rewrite policies (URI templates) are not supported");
  const rr = a.regexRewrite;
  const hrr = a.hostRewritePathRegex;

  const mirrors = (a.requestMirrorPolicies ?? []).map((m, i) => compileMirrorPolicy(m, `${path}.requestMirrorPolicies[${i}]`));
  const hashPolicy = (a.hashPolicy ?? []).map((h, i) => compileHashPolicy(h, `${path}.hashPolicy[${i}]`)).filter((h): h is HashPolicy => h !== undefined);

  const upgrades: Record<string, boolean> = {};
  (a.upgradeConfigs ?? []).forEach((u, i) => {
    const up = `${path}.upgradeConfigs[${i}]`;
    const type = (u.upgradeType ?? "").toLowerCase();
    if (!type) throw new XdsConfigError(`${up}.upgradeType`, "upgrade_type must not be empty");
    if (type in upgrades) throw new XdsConfigError(up, `Duplicate upgrade ${type}`);
    upgrades[type] = u.enabled ? u.enabled.value === true : true;
    if (type === "connect" && upgrades[type]) throw new XdsConfigError(up, "CONNECT tunnelling is not implemented");
  });

  const msd = a.maxStreamDuration;
  const msdPath = `${path}.maxStreamDuration`;

  return {
    kind: "route",
    cluster,
    clusterHeader: clusterHeader?.toLowerCase(),
    weightedClusters,
    clusterNotFoundResponseCode: enumValue(NOT_FOUND_STATUS, a.clusterNotFoundResponseCode, "SERVICE_UNAVAILABLE", `${path}.clusterNotFoundResponseCode`),
    timeoutMs: nonNegativeMs(a.timeout, `${path}.timeout`) ?? DEFAULT_ROUTE_TIMEOUT_MS,
    idleTimeoutMs: nonNegativeMs(a.idleTimeout, `${path}.idleTimeout`),
    retryPolicy: a.retryPolicy ? compileRetryPolicy(a.retryPolicy, `${path}.retryPolicy`) : vhost.retryPolicy,
    hedgePolicy: a.hedgePolicy ? compileHedgePolicy(a.hedgePolicy, `${path}.hedgePolicy`) : vhost.hedgePolicy,
    prefixRewrite: a.prefixRewrite || undefined,
    regexRewrite: rr ? compileRegexRewrite(rr, `${path}.regexRewrite`) : undefined,
    hostRewriteLiteral: a.hostRewriteLiteral || undefined,
    autoHostRewrite: a.autoHostRewrite?.value === true,
    hostRewriteHeader: a.hostRewriteHeader?.toLowerCase() || undefined,
    hostRewritePathRegex: hrr ? compileRegexRewrite(hrr, `${path}.hostRewritePathRegex`) : undefined,
    appendXForwardedHost: a.appendXForwardedHost === true,
    hashPolicy,
    requestMirrorPolicies: mirrors.length > 0 ? mirrors : vhost.requestMirrorPolicies,
    maxStreamDurationMs: msd ? nonNegativeMs(msd.maxStreamDuration, `${msdPath}.maxStreamDuration`) : undefined,
    usingNewTimeouts: msd !== undefined,
    grpcTimeoutHeaderMaxMs: msd ? nonNegativeMs(msd.grpcTimeoutHeaderMax, `${msdPath}.grpcTimeoutHeaderMax`) : undefined,
    grpcTimeoutHeaderOffsetMs: msd ? nonNegativeMs(msd.grpcTimeoutHeaderOffset, `${msdPath}.grpcTimeoutHeaderOffset`) : undefined,
    maxGrpcTimeoutMs: nonNegativeMs(a.maxGrpcTimeout, `${path}.maxGrpcTimeout`),
    grpcTimeoutOffsetMs: nonNegativeMs(a.grpcTimeoutOffset, `${path}.grpcTimeoutOffset`),
    includeRequestAttemptCount: vhost.includeRequestAttemptCount,
    includeAttemptCountInResponse: vhost.includeAttemptCountInResponse,
    upgradeConfigs: upgrades,
    priority: enumValue(PRIORITIES, a.priority, "DEFAULT", `${path}.priority`),
    metadataMatch: routeMetadata,
    perRequestBufferLimitBytes: routeBufferLimit ?? vhost.perRequestBufferLimitBytes,
    cors: a.cors ? corsPolicy(a.cors, `${path}.cors`) : undefined,
    rateLimits: compileRateLimits(a.rateLimits, `${path}.rateLimits`),
    includeVhRateLimits: a.includeVhRateLimits?.value === true,
  };
}

function compileWeightedClusters(wc: v3.WeightedCluster, path: string, routeMetadata: v3.Struct | undefined): WeightedClusters {
  const raw = wc.clusters ?? [];
  if (raw.length === 0) throw new XdsConfigError(`${path}.clusters`, "weighted_clusters needs at least one cluster");
  let total = 0;
  const clusters = raw.map((c, i): WeightedClusterEntry => {
    const cp = `${path}.clusters[${i}]`;
    const name = c.name || undefined;
    const clusterHeader = c.clusterHeader || undefined;
    if (!name && !clusterHeader) throw new XdsConfigError(cp, "At least one of name or cluster_header need to be specified");
    if (name && clusterHeader) throw new XdsConfigError(cp, "Only one of name or cluster_header can be specified");
    const weight = c.weight?.value ?? 0;
    total += weight;
    const requestHeaders = HeaderMutations.compile(c.requestHeadersToAdd, c.requestHeadersToRemove, `${cp}.requestHeadersToAdd`, `${cp}.requestHeadersToRemove`);
    const responseHeaders = HeaderMutations.compile(c.responseHeadersToAdd, c.responseHeadersToRemove, `${cp}.responseHeadersToAdd`, `${cp}.responseHeadersToRemove`);
    return {
      name,
      clusterHeader: clusterHeader?.toLowerCase(),
      weight,
      hostRewriteLiteral: c.hostRewriteLiteral || undefined,
      requestHeaders,
      responseHeaders,
      typedPerFilterConfig: typedPerFilterConfig(c.typedPerFilterConfig),
      metadataMatch: mergeLbMetadata(routeMetadata, lbMetadata(c.metadataMatch)),
      requestHeaderChain: EMPTY,
      responseHeaderChain: EMPTY,
      filterConfigs: NO_CONFIGS,
    };
  });
  if (total > 0xffffffff) throw new XdsConfigError(path, `The sum of weights of all weighted clusters exceeds ${0xffffffff}`);
  if (total === 0) throw new XdsConfigError(path, "Sum of weights in the weighted_cluster must be greater than 0.");
  // Deprecated total_weight: older Envoy required the sum to equal it; honour that check when it is set.
  const declared = wc.totalWeight?.value ?? 0;
  if (declared > 0 && declared !== total) {
    throw new XdsConfigError(`${path}.totalWeight`, `Sum of weights in the weighted_cluster should add up to ${declared} (they add up to ${total})`);
  }
  // runtimeKeyPrefix: tsmesh has no runtime overrides, the configured weights are used.
  return { clusters, totalWeight: total, headerName: wc.headerName ? wc.headerName.toLowerCase() : undefined };
}

export function compileRedirect(r: v3.RedirectAction, path: string, matchedPrefix: string | undefined): RedirectActionConfig {
  const scheme = r.schemeRedirect;
  const https = r.httpsRedirect === true;
  if (scheme !== undefined && https) throw new XdsConfigError(path, "only one of httpsRedirect and schemeRedirect can be set");
  const pathRedirect = r.pathRedirect;
  const prefixRewrite = r.prefixRewrite;
  const rr = r.regexRewrite;
  if ([pathRedirect !== undefined, prefixRewrite !== undefined, rr !== undefined].filter(Boolean).length > 1) {
    throw new XdsConfigError(path, "only one of pathRedirect, prefixRewrite and regexRewrite can be set");
  }
  const port = r.portRedirect ?? 0;
  if (port > 65535) throw new XdsConfigError(`${path}.portRedirect`, "invalid port");
  return {
    kind: "redirect",
    schemeRedirect: scheme || undefined,
    httpsRedirect: https,
    hostRedirect: r.hostRedirect || undefined,
    portRedirect: port || undefined,
    pathRedirect: pathRedirect || undefined,
    prefixRewrite: prefixRewrite || undefined,
    regexRewrite: rr ? compileRegexRewrite(rr, `${path}.regexRewrite`) : undefined,
    responseCode: enumValue(REDIRECT_STATUS, r.responseCode, "MOVED_PERMANENTLY", `${path}.responseCode`),
    stripQuery: r.stripQuery === true,
    matchedPrefix,
    sslRedirect: false,
  };
}

export function compileDirectResponse(d: v3.DirectResponseAction, path: string, maxBody: number): DirectResponseConfig {
  const status = d.status ?? 0;
  if (status < 200 || status >= 600) throw new XdsConfigError(`${path}.status`, `status must be in [200, 600), got ${status}`);
  return { kind: "direct", status, body: d.body ? dataSource(d.body, `${path}.body`, maxBody) : undefined };
}
