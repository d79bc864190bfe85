// What the router does per request with a matched route: the weighted cluster pick, path and host
// rewrites, the redirect Location, mirror selection and the header mutation chains.
import type { FormatterVars, HeaderMap } from "./headers.js";
import { regexReplaceAll, type RegexRewrite } from "./matchers/regex.js";
import type { RedirectActionConfig, RouteActionConfig, WeightedClusterEntry } from "./route-config.js";
import { fractionFires } from "./route-policies.js";
import type { CompiledRoute, HeaderSource, RequestView } from "./route-table.js";

/** A cluster a request is mirrored to, and its policy's trace_sampled (unset: the parent span's decision). */
export interface MirrorTarget {
  readonly cluster: string;
  readonly traceSampled: boolean | undefined;
  /** disable_shadow_host_suffix_append: the copy keeps the request's Host (no `-shadow`). */
  readonly keepHost: boolean;
}

const NO_MIRRORS: readonly MirrorTarget[] = Object.freeze([]);
const UINT_TEXT = /^\s*\+?\d+\s*$/;

/**
 * The weighted cluster entry for this request: `random01` ∈ [0,1) picks in proportion to the
 * weights (Envoy: value % total over the cumulative intervals, in config order). With `headerName`
 * and a request whose header holds one unsigned integer, that value is used instead.
 */
export function pickWeightedClusterEntry(action: RouteActionConfig, random01: number, req?: HeaderSource): WeightedClusterEntry | undefined {
  const wc = action.weightedClusters;
  if (!wc) return undefined;
  const total = wc.totalWeight;
  let selected = -1;
  if (wc.headerName !== undefined && req) {
    const v = req.header(wc.headerName);
    if (v !== undefined && UINT_TEXT.test(v)) {
      const n = Number(v.trim());
      if (Number.isSafeInteger(n)) selected = n % total;
    }
  }
  if (selected < 0) {
    selected = Math.floor(random01 * total);
    if (selected >= total) selected = total - 1;
    if (selected < 0) selected = 0;
  }
  const clusters = wc.clusters;
  let end = 0;
  for (let i = 0; i < clusters.length; i++) {
    end += clusters[i].weight;
    if (selected < end) return clusters[i];
  }
  return clusters[clusters.length - 1];
}

/**
 * The upstream cluster name for a route action: `cluster`, the `clusterHeader` value (first value;
 * "" when missing → the router answers clusterNotFoundResponseCode), or a weighted pick.
 */
export function pickWeightedCluster(action: RouteActionConfig, random01: number, req?: HeaderSource): string {
  if (action.cluster !== undefined) return action.cluster;
  if (action.clusterHeader !== undefined) return firstValue(req?.header(action.clusterHeader));
  const e = pickWeightedClusterEntry(action, random01, req);
  if (!e) return "";
  if (e.name !== undefined) return e.name;
  return firstValue(e.clusterHeader !== undefined ? req?.header(e.clusterHeader) : undefined);
}

function firstValue(v: string | undefined): string {
  if (v === undefined) return "";
  const comma = v.indexOf(",");
  return comma < 0 ? v : v.slice(0, comma);
}

function pathPartEnd(path: string): number {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) return i;
  }
  return path.length;
}

function applyPathRewrite(path: string, prefixRewrite: string | undefined, regexRewrite: RegexRewrite | undefined, matchedPrefix: string | undefined): string {
  if (prefixRewrite !== undefined) {
    const matched = matchedPrefix ?? path.slice(0, pathPartEnd(path));
    return prefixRewrite + path.slice(Math.min(matched.length, path.length));
  }
  if (regexRewrite !== undefined) {
    const end = pathPartEnd(path);
    return regexReplaceAll(regexRewrite, path.slice(0, end)) + path.slice(end);
  }
  return path;
}

/**
 * The upstream path after the route's rewrite (Envoy's finalizePathHeader): prefixRewrite replaces
 * the matched prefix (path and pathSeparatedPrefix routes: the matched path; regex routes: the whole
 * path before the query); regexRewrite rewrites the path before the query and keeps the query.
 * Returns `path` itself when nothing is rewritten. For redirect routes the redirect's rewrite applies.
 */
export function rewritePath(route: CompiledRoute, path: string): string {
  const a = route.action;
  if (a.kind === "route") {
    if (a.prefixRewrite === undefined && a.regexRewrite === undefined) return path;
    const mk = route.match.kind;
    return applyPathRewrite(path, a.prefixRewrite, a.regexRewrite, mk === "safeRegex" || mk === "connect" ? undefined : route.match.value);
  }
  if (a.kind === "redirect") return applyPathRewrite(path, a.prefixRewrite, a.regexRewrite, a.matchedPrefix);
  return path;
}

/**
 * The Host the upstream request carries after the route's rewrites (weighted cluster's literal,
 * then the route's hostRewriteLiteral, hostRewriteHeader or hostRewritePathRegex), or undefined for
 * no change. autoHostRewrite is applied by the router once the upstream host is known.
 */
export function rewriteHost(route: CompiledRoute, entry: WeightedClusterEntry | undefined, req: HeaderSource & { path: string }): string | undefined {
  const a = route.action;
  if (a.kind !== "route") return undefined;
  let host = entry?.hostRewriteLiteral;
  if (a.hostRewriteLiteral !== undefined) return a.hostRewriteLiteral;
  if (a.hostRewriteHeader !== undefined) {
    const v = req.header(a.hostRewriteHeader);
    if (v) return firstValue(v);
  } else if (a.hostRewritePathRegex !== undefined) {
    const v = regexReplaceAll(a.hostRewritePathRegex, req.path.slice(0, pathPartEnd(req.path)));
    if (v) host = v;
  }
  return host;
}

/** Envoy's processRequestHost: drop the request's port when redirecting to another port or scheme. */
function redirectHost(authority: string, newScheme: string, newPort: string, requestProtocol: string): string {
  if (!authority) return authority;
  let hostEnd: number;
  if (authority.startsWith("[")) {
    hostEnd = authority.lastIndexOf("]:");
    if (hostEnd >= 0) hostEnd += 1;
  } else hostEnd = authority.lastIndexOf(":");
  if (hostEnd < 0) return authority;
  const requestPort = authority.slice(hostEnd);
  let remove = newPort !== "";
  if (newScheme !== requestProtocol) {
    remove ||= requestProtocol.toLowerCase() === "https" && requestPort === ":443";
    remove ||= requestProtocol.toLowerCase() === "http" && requestPort === ":80";
  }
  return remove ? authority.slice(0, hostEnd) : authority;
}

/**
 * The redirect response (Envoy's path rewrite + Http::Utility::newUri): scheme = schemeRedirect,
 * https for httpsRedirect, else the request's; host = hostRedirect, else the request authority
 * (its port dropped when a port redirect is set, or when the scheme changes and the port is the old
 * scheme's default); `:portRedirect`; path = pathRedirect (keeping the request query unless the
 * pathRedirect has its own), else the request path after prefix/regex rewrite; stripQuery drops
 * the query unless pathRedirect carries one. `scheme` is the request's scheme (x-forwarded-proto).
 */
export function redirectLocation(redirect: RedirectActionConfig, req: Pick<RequestView, "authority" | "path">, scheme: "http" | "https"): { status: number; location: string } {
  if (redirect.sslRedirect) return { status: redirect.responseCode, location: `https://${req.authority}${req.path}` };
  const finalScheme = redirect.schemeRedirect ?? (redirect.httpsRedirect ? "https" : scheme);
  const finalPort = redirect.portRedirect !== undefined ? `:${redirect.portRedirect}` : "";
  const finalHost = redirect.hostRedirect ?? redirectHost(req.authority, finalScheme, finalPort, scheme);
  let path: string;
  const pr = redirect.pathRedirect;
  const prHasQuery = pr !== undefined && pr.includes("?");
  if (pr !== undefined) {
    if (prHasQuery) path = pr;
    else {
      const q = req.path.indexOf("?");
      path = q < 0 ? pr : pr + req.path.slice(q);
    }
  } else path = applyPathRewrite(req.path, redirect.prefixRewrite, redirect.regexRewrite, redirect.matchedPrefix);
  if (!path.startsWith("/")) path = `/${path}`;
  if (!prHasQuery && redirect.stripQuery) {
    const q = path.indexOf("?");
    if (q >= 0) path = path.slice(0, q);
  }
  return { status: redirect.responseCode, location: `${finalScheme}://${finalHost}${finalPort}${path}` };
}

/**
 * Where to shadow this request (cluster, trace_sampled, whether the Host keeps its name): each mirror policy whose fraction fires for `random01` (the
 * same random value for every policy, as Envoy uses the stream's). Policies with clusterHeader use
 * the header's value from `req` (skipped when missing). Returns a shared empty array for none.
 */
export function mirrorsFor(route: CompiledRoute, random01: number, req?: HeaderSource): readonly MirrorTarget[] {
  const a = route.action;
  if (a.kind !== "route" || a.requestMirrorPolicies.length === 0) return NO_MIRRORS;
  let out: MirrorTarget[] | undefined;
  for (const m of a.requestMirrorPolicies) {
    if (!fractionFires(m.fraction, random01)) continue;
    const cluster = m.cluster ?? firstValue(m.clusterHeader !== undefined ? req?.header(m.clusterHeader) : undefined);
    if (!cluster) continue;
    (out ??= []).push({ cluster, traceSampled: m.traceSampled, keepHost: m.disableShadowHostSuffixAppend });
  }
  return out ?? NO_MIRRORS;
}

/**
 * Applies the request header mutations of a matched route (Envoy's finalizeRequestHeaders order:
 * the weighted cluster entry's first, then route/vhost/config as mostSpecificHeaderMutationsWins says).
 */
export function applyRequestHeaderMutations(route: CompiledRoute, entry: WeightedClusterEntry | undefined, headers: HeaderMap, vars?: FormatterVars): void {
  const c = entry ? entry.requestHeaderChain : route.requestHeaderChain;
  for (let i = 0; i < c.length; i++) c[i].apply(headers, vars);
}

/** Applies the response header mutations of a matched route (same order as for requests). */
export function applyResponseHeaderMutations(route: CompiledRoute, entry: WeightedClusterEntry | undefined, headers: HeaderMap, vars?: FormatterVars): void {
  const c = entry ? entry.responseHeaderChain : route.responseHeaderChain;
  for (let i = 0; i < c.length; i++) c[i].apply(headers, vars);
}
