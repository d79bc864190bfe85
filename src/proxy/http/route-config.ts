// A route's action compiled from RDS: forward (cluster, cluster header or weighted clusters, with
// rewrites, timeouts and policies), redirect, or direct response; and the per-level pieces routes
// inherit (typed_per_filter_config, metadata, header mutation chains).
import { readFileSync } from "node:fs";
import type { ProtoObject } from "../../envoy/protos.js";
import { XdsConfigError } from "../xds-error.js";
import { at, boolField, durField, EMPTY, enumField, isObj, listField, NO_CONFIGS, numField, objField, objList, type P, strField, wrappedBool, wrappedNum } from "../xds/fields.js";
import { HeaderMutations } from "./headers.js";
import { compileRegexRewrite, type RegexRewrite } from "./matchers/regex.js";
import type { CompiledRoute, CompiledVirtualHost } from "./route-table.js";
import { compileHashPolicy, compileHedgePolicy, compileMirrorPolicy, compileRetryPolicy, type HashPolicy, type HedgePolicy, type MirrorPolicy, type RetryPolicy } from "./route-policies.js";

const REDIRECT_CODES: readonly string[] = ["MOVED_PERMANENTLY", "FOUND", "SEE_OTHER", "TEMPORARY_REDIRECT", "PERMANENT_REDIRECT"];
const REDIRECT_STATUS = [301, 302, 303, 307, 308];
const NOT_FOUND_CODES: readonly string[] = ["SERVICE_UNAVAILABLE", "NOT_FOUND", "INTERNAL_SERVER_ERROR"];
const NOT_FOUND_STATUS = [503, 404, 500];
const PRIORITIES: readonly ("DEFAULT" | "HIGH")[] = ["DEFAULT", "HIGH"];

/** Envoy's DEFAULT_ROUTE_TIMEOUT_MS. */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15000;

export interface WeightedClusterEntry {
  readonly name: string | undefined;
  readonly clusterHeader: string | undefined;
  readonly weight: number;
  readonly hostRewriteLiteral: string | undefined;
  readonly requestHeaders: HeaderMutations | undefined;
  readonly responseHeaders: HeaderMutations | undefined;
  readonly typedPerFilterConfig: Readonly<Record<string, ProtoObject>>;
  /** `metadataMatch.filterMetadata["envoy.lb"]` merged over the route's (subset load balancing). */
  readonly metadataMatch: ProtoObject | undefined;
  /** Mutations the router applies for this pick, in order (this entry's, then the route's chain). */
  readonly requestHeaderChain: readonly HeaderMutations[];
  readonly responseHeaderChain: readonly HeaderMutations[];
  /** Per-filter configs, most specific first: this entry > route > virtual host > route configuration. */
  readonly filterConfigs: Readonly<Record<string, ProtoObject>>;
}

interface WeightedClusters {
  readonly clusters: readonly WeightedClusterEntry[];
  /** Sum of the weights (> 0). */
  readonly totalWeight: number;
  /** `headerName`: a request header holding the random value (single, integer) to pick with. */
  readonly headerName: string | undefined;
  readonly useHashPolicy: boolean;
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
  readonly priority: "DEFAULT" | "HIGH";
  /** `metadataMatch.filterMetadata["envoy.lb"]` (subset load balancing). */
  readonly metadataMatch: ProtoObject | undefined;
  /** Retry/shadow buffer limit: the route's, else the virtual host's; undefined = the listener's. */
  readonly perRequestBufferLimitBytes: number | undefined;
  /** Deprecated RouteAction.cors, when set. */
  readonly cors: ProtoObject | undefined;
  readonly rateLimits: readonly ProtoObject[];
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

export function typedPerFilterConfig(o: P, path: string): Readonly<Record<string, ProtoObject>> {
  const m = objField(o, "typedPerFilterConfig", path);
  if (!m) return NO_CONFIGS;
  const out: Record<string, ProtoObject> = {};
  for (const [k, v] of Object.entries(m)) {
    if (!isObj(v)) throw new XdsConfigError(`${at(path, "typedPerFilterConfig")}[${JSON.stringify(k)}]`, "expected an Any");
    out[k] = v;
  }
  return Object.freeze(out);
}

export function mergeConfigs(...levels: Readonly<Record<string, ProtoObject>>[]): Readonly<Record<string, ProtoObject>> {
  const nonEmpty = levels.filter((l) => l !== NO_CONFIGS && Object.keys(l).length > 0);
  if (nonEmpty.length === 0) return NO_CONFIGS;
  if (nonEmpty.length === 1) return nonEmpty[0];
  return Object.freeze(Object.assign({}, ...nonEmpty) as Record<string, ProtoObject>);
}

function lbMetadata(o: P, path: string): ProtoObject | undefined {
  const mm = objField(o, "metadataMatch", path);
  if (!mm) return undefined;
  const fm = objField(mm, "filterMetadata", at(path, "metadataMatch"));
  const lb = fm?.["envoy.lb"];
  return isObj(lb) ? lb : undefined;
}

function mergeLbMetadata(parent: ProtoObject | undefined, child: ProtoObject | undefined): ProtoObject | undefined {
  if (!parent || !child) return child ?? parent;
  const pf = isObj(parent.fields) ? parent.fields : {};
  const cf = isObj(child.fields) ? child.fields : {};
  return { fields: { ...pf, ...cf } };
}

export function chain(mostSpecificWins: boolean, ...mostSpecificFirst: (HeaderMutations | undefined)[]): readonly HeaderMutations[] {
  const levels = mostSpecificWins ? [...mostSpecificFirst].reverse() : mostSpecificFirst;
  const out = levels.filter((m): m is HeaderMutations => m !== undefined);
  return out.length === 0 ? EMPTY : out;
}

function dataSource(o: P, path: string, maxBytes: number): Buffer | undefined {
  let buf: Buffer | undefined;
  const s = o.inlineString;
  const b = o.inlineBytes;
  const file = strField(o, "filename", path);
  const env = strField(o, "environmentVariable", path);
  if (typeof s === "string") buf = Buffer.from(s, "utf8");
  else if (b instanceof Uint8Array) buf = Buffer.from(b);
  else if (typeof b === "string") buf = Buffer.from(b, "base64");
  else if (file !== undefined) {
    try {
      buf = readFileSync(file);
    } catch (err) {
      throw new XdsConfigError(at(path, "filename"), `cannot read ${file}: ${(err as Error).message}`);
    }
    if (maxBytes > 0 && buf.length > maxBytes) throw new XdsConfigError(at(path, "filename"), `file ${file} size is ${buf.length} bytes; maximum is ${maxBytes}`);
  } else if (env !== undefined) {
    const v = process.env[env];
    if (v === undefined) throw new XdsConfigError(at(path, "environmentVariable"), `Environment variable doesn't exist: ${env}`);
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

export function compileRouteAction(a: P, path: string, vhost: CompiledVirtualHost, routeBufferLimit: number | undefined): RouteActionConfig {
  const cluster = strField(a, "cluster", path);
  const clusterHeader = strField(a, "clusterHeader", path);
  const wcRaw = objField(a, "weightedClusters", path);
  const routeMetadata = lbMetadata(a, path);
  let weightedClusters: WeightedClusters | undefined;
  if (cluster !== undefined) {
    if (!cluster) throw new XdsConfigError(at(path, "cluster"), "cluster must not be empty");
  } else if (clusterHeader !== undefined) {
    if (!clusterHeader) throw new XdsConfigError(at(path, "clusterHeader"), "cluster_header must not be empty");
  } else if (wcRaw) {
    weightedClusters = compileWeightedClusters(wcRaw, at(path, "weightedClusters"), routeMetadata);
  } else if (a.clusterSpecifierPlugin !== undefined || a.inlineClusterSpecifierPlugin !== undefined) {
    throw new XdsConfigError(path, "cluster specifier plugins are not supported");
  } else throw new XdsConfigError(path, "route action needs one of cluster, clusterHeader or weightedClusters");

  const rewrites = [a.prefixRewrite !== undefined && a.prefixRewrite !== "", isObj(a.regexRewrite), isObj(a.pathRewritePolicy)].filter(Boolean).length;
  if (rewrites > 1) throw new XdsConfigError(path, "Specify only one of prefix_rewrite, regex_rewrite or path_rewrite_policy");
  if (isObj(a.pathRewritePolicy)) throw new XdsConfigError(at(path, "pathRewritePolicy"), "path rewrite policies (URI templates) are not supported");
  const rr = objField(a, "regexRewrite", path);
  const hrr = objField(a, "hostRewritePathRegex", path);

  const rp = objField(a, "retryPolicy", path);
  const hp = objField(a, "hedgePolicy", path);
  const mirrors = objList(a, "requestMirrorPolicies", path).map((m, i) => compileMirrorPolicy(m, `${at(path, "requestMirrorPolicies")}[${i}]`));
  const hashPolicy = objList(a, "hashPolicy", path)
    .map((h, i) => compileHashPolicy(h, `${at(path, "hashPolicy")}[${i}]`))
    .filter((h): h is HashPolicy => h !== undefined);

  const upgrades: Record<string, boolean> = {};
  objList(a, "upgradeConfigs", path).forEach((u, i) => {
    const up = `${at(path, "upgradeConfigs")}[${i}]`;
    const type = (strField(u, "upgradeType", up) ?? "").toLowerCase();
    if (!type) throw new XdsConfigError(at(up, "upgradeType"), "upgrade_type must not be empty");
    if (type in upgrades) throw new XdsConfigError(up, `Duplicate upgrade ${type}`);
    upgrades[type] = wrappedBool(u, "enabled", up) ?? true;
    if (type === "connect" && upgrades[type]) throw new XdsConfigError(up, "CONNECT tunnelling is not implemented");
  });

  const msd = objField(a, "maxStreamDuration", path);
  const msdPath = at(path, "maxStreamDuration");

  return {
    kind: "route",
    cluster,
    clusterHeader: clusterHeader?.toLowerCase(),
    weightedClusters,
    clusterNotFoundResponseCode: NOT_FOUND_STATUS[NOT_FOUND_CODES.indexOf(enumField(a, "clusterNotFoundResponseCode", path, NOT_FOUND_CODES))],
    timeoutMs: durField(a, "timeout", path) ?? DEFAULT_ROUTE_TIMEOUT_MS,
    idleTimeoutMs: durField(a, "idleTimeout", path),
    retryPolicy: rp ? compileRetryPolicy(rp, at(path, "retryPolicy")) : vhost.retryPolicy,
    hedgePolicy: hp ? compileHedgePolicy(hp, at(path, "hedgePolicy")) : vhost.hedgePolicy,
    prefixRewrite: strField(a, "prefixRewrite", path) || undefined,
    regexRewrite: rr ? compileRegexRewrite(rr, at(path, "regexRewrite")) : undefined,
    hostRewriteLiteral: strField(a, "hostRewriteLiteral", path) || undefined,
    autoHostRewrite: wrappedBool(a, "autoHostRewrite", path) ?? false,
    hostRewriteHeader: strField(a, "hostRewriteHeader", path)?.toLowerCase() || undefined,
    hostRewritePathRegex: hrr ? compileRegexRewrite(hrr, at(path, "hostRewritePathRegex")) : undefined,
    appendXForwardedHost: boolField(a, "appendXForwardedHost", path),
    hashPolicy,
    requestMirrorPolicies: mirrors.length > 0 ? mirrors : vhost.requestMirrorPolicies,
    maxStreamDurationMs: msd ? durField(msd, "maxStreamDuration", msdPath) : undefined,
    usingNewTimeouts: msd !== undefined,
    grpcTimeoutHeaderMaxMs: msd ? durField(msd, "grpcTimeoutHeaderMax", msdPath) : undefined,
    grpcTimeoutHeaderOffsetMs: msd ? durField(msd, "grpcTimeoutHeaderOffset", msdPath) : undefined,
    maxGrpcTimeoutMs: durField(a, "maxGrpcTimeout", path),
    grpcTimeoutOffsetMs: durField(a, "grpcTimeoutOffset", path),
    includeRequestAttemptCount: vhost.includeRequestAttemptCount,
    includeAttemptCountInResponse: vhost.includeAttemptCountInResponse,
    upgradeConfigs: upgrades,
    priority: enumField(a, "priority", path, PRIORITIES),
    metadataMatch: routeMetadata,
    perRequestBufferLimitBytes: routeBufferLimit ?? vhost.perRequestBufferLimitBytes,
    cors: objField(a, "cors", path),
    rateLimits: objList(a, "rateLimits", path),
  };
}

function compileWeightedClusters(wc: P, path: string, routeMetadata: ProtoObject | undefined): WeightedClusters {
  const raw = objList(wc, "clusters", path);
  if (raw.length === 0) throw new XdsConfigError(at(path, "clusters"), "weighted_clusters needs at least one cluster");
  let total = 0;
  const clusters = raw.map((c, i): WeightedClusterEntry => {
    const cp = `${at(path, "clusters")}[${i}]`;
    const name = strField(c, "name", cp) || undefined;
    const clusterHeader = strField(c, "clusterHeader", cp) || undefined;
    if (!name && !clusterHeader) throw new XdsConfigError(cp, "At least one of name or cluster_header need to be specified");
    if (name && clusterHeader) throw new XdsConfigError(cp, "Only one of name or cluster_header can be specified");
    const weight = wrappedNum(c, "weight", cp) ?? 0;
    if (!Number.isInteger(weight) || weight < 0) throw new XdsConfigError(at(cp, "weight"), "weight must be a non-negative integer");
    total += weight;
    const requestHeaders = HeaderMutations.compile(listField(c, "requestHeadersToAdd", cp), listField(c, "requestHeadersToRemove", cp), at(cp, "requestHeadersToAdd"), at(cp, "requestHeadersToRemove"));
    const responseHeaders = HeaderMutations.compile(listField(c, "responseHeadersToAdd", cp), listField(c, "responseHeadersToRemove", cp), at(cp, "responseHeadersToAdd"), at(cp, "responseHeadersToRemove"));
    return {
      name,
      clusterHeader: clusterHeader?.toLowerCase(),
      weight,
      hostRewriteLiteral: strField(c, "hostRewriteLiteral", cp) || undefined,
      requestHeaders,
      responseHeaders,
      typedPerFilterConfig: typedPerFilterConfig(c, cp),
      metadataMatch: mergeLbMetadata(routeMetadata, lbMetadata(c, cp)),
      requestHeaderChain: EMPTY,
      responseHeaderChain: EMPTY,
      filterConfigs: NO_CONFIGS,
    };
  });
  if (total > 0xffffffff) throw new XdsConfigError(path, `The sum of weights of all weighted clusters exceeds ${0xffffffff}`);
  if (total === 0) throw new XdsConfigError(path, "Sum of weights in the weighted_cluster must be greater than 0.");
  // Deprecated total_weight: older Envoy required the sum to equal it; honour that check when it is set.
  const declared = wrappedNum(wc, "totalWeight", path);
  if (declared !== undefined && declared > 0 && declared !== total) {
    throw new XdsConfigError(at(path, "totalWeight"), `Sum of weights in the weighted_cluster should add up to ${declared} (they add up to ${total})`);
  }
  // runtimeKeyPrefix: tsmesh has no runtime overrides, the configured weights are used.
  const headerName = strField(wc, "headerName", path);
  return {
    clusters,
    totalWeight: total,
    headerName: headerName ? headerName.toLowerCase() : undefined,
    useHashPolicy: wrappedBool(wc, "useHashPolicy", path) ?? false,
  };
}

export function compileRedirect(r: P, path: string, matchedPrefix: string | undefined): RedirectActionConfig {
  const scheme = strField(r, "schemeRedirect", path);
  const https = boolField(r, "httpsRedirect", path);
  if (scheme !== undefined && https) throw new XdsConfigError(path, "only one of httpsRedirect and schemeRedirect can be set");
  const pathRedirect = strField(r, "pathRedirect", path);
  const prefixRewrite = strField(r, "prefixRewrite", path);
  const rr = objField(r, "regexRewrite", path);
  if ([pathRedirect !== undefined, prefixRewrite !== undefined, rr !== undefined].filter(Boolean).length > 1) {
    throw new XdsConfigError(path, "only one of pathRedirect, prefixRewrite and regexRewrite can be set");
  }
  const port = numField(r, "portRedirect", path);
  if (port !== undefined && (port < 0 || port > 65535 || !Number.isInteger(port))) throw new XdsConfigError(at(path, "portRedirect"), "invalid port");
  const code = enumField(r, "responseCode", path, REDIRECT_CODES);
  return {
    kind: "redirect",
    schemeRedirect: scheme || undefined,
    httpsRedirect: https,
    hostRedirect: strField(r, "hostRedirect", path) || undefined,
    portRedirect: port || undefined,
    pathRedirect: pathRedirect || undefined,
    prefixRewrite: prefixRewrite || undefined,
    regexRewrite: rr ? compileRegexRewrite(rr, at(path, "regexRewrite")) : undefined,
    responseCode: REDIRECT_STATUS[REDIRECT_CODES.indexOf(code)],
    stripQuery: boolField(r, "stripQuery", path),
    matchedPrefix,
    sslRedirect: false,
  };
}

export function compileDirectResponse(d: P, path: string, maxBody: number): DirectResponseConfig {
  const status = numField(d, "status", path) ?? 0;
  if (!Number.isInteger(status) || status < 200 || status >= 600) throw new XdsConfigError(at(path, "status"), `status must be in [200, 600), got ${status}`);
  const body = objField(d, "body", path);
  return { kind: "direct", status, body: body ? dataSource(body, at(path, "body"), maxBody) : undefined };
}

