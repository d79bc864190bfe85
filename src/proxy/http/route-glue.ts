// Between the route table and the connection manager: a RouteConfiguration compiled with its
// per-route filter configs (each typed_per_filter_config checked by the filter registry, so a bad or
// unknown one is NACKed, not a 500 later), the route a request resolves to (Envoy's cached route:
// the route, the weighted cluster drawn for it, the cluster), and what the router makes of a
// resolved route: a direct response, a redirect, or the forward plan (path and host rewritten,
// header mutations in Envoy's order, retry policy, hash for RING_HASH / MAGLEV, mirrors).
import type * as http from "node:http";
import type * as tls from "node:tls";
import { isAnyOf } from "../../envoy/protos.js";
import type { Any, RouteConfiguration } from "../../envoy/types.js";
import type { DynamicMetadata } from "../dynamic-metadata.js";
import { anyType } from "../extensions.js";
import { combineHash, hashKey } from "../upstream/hash.js";
import { XdsConfigError } from "../xds-error.js";
import { HTTP_PER_ROUTE_CONFIGS } from "./filter.js";
import type { HeaderMap } from "./headers.js";
import { firstQueryParameter } from "./matchers/matchers.js";
import { applyRequestHeaderMutations, applyResponseHeaderMutations, type MirrorTarget, mirrorsFor, pickWeightedClusterEntry, redirectLocation, rewriteHost, rewritePath } from "./route-actions.js";
import { NO_CONFIGS, type WeightedClusterEntry } from "./route-config.js";
import type { HashPolicy, RetryPolicy } from "./route-policies.js";
import { regexReplaceAll } from "./matchers/regex.js";
import type { RetryPlan } from "./retry-state.js";
import { type CompiledRoute, type RequestView, RouteTable } from "./route-table.js";

export { RouteTable };

const PREVIOUS_HOSTS = "envoy.retry_host_predicates.previous_hosts";

/** A typed_per_filter_config entry compiled by its filter's extension. */
export interface PerRouteFilterConfig {
  /** What the filter's per-route compiler made of it (undefined for a bare FilterConfig). */
  readonly config: unknown;
  /**
   * FilterConfig.disabled: true disables the filter on the route; any other per-route config
   * enables it there (also one disabled by default, HttpFilter.disabled).
   */
  readonly disabled: boolean;
}

const compiledPerRoute = new WeakMap<Any, PerRouteFilterConfig | null>();

/** Compiles one typed_per_filter_config entry (cached per decoded object). */
function compilePerRoute(any: Any, path: string, where: string): PerRouteFilterConfig | null {
  let c = compiledPerRoute.get(any);
  if (c !== undefined) return c;
  let type = anyType(any);
  let inner = any;
  let disabled = false;
  let optional = false;
  if (isAnyOf(any, "envoy.config.route.v3.FilterConfig")) {
    optional = any.isOptional === true;
    disabled = any.disabled === true;
    inner = any.config ?? {};
    type = anyType(inner);
    path = `${path}.config`;
    if (!type) {
      c = { config: undefined, disabled };
      compiledPerRoute.set(any, c);
      return c;
    }
  }
  const compile = HTTP_PER_ROUTE_CONFIGS.forAny(inner);
  if (compile === undefined) {
    if (!optional) throw new XdsConfigError(path, `Didn't find a registered implementation for route-specific filter config with type URL: '${type.slice(type.lastIndexOf("/") + 1)}'`);
    c = null; // an optional config the proxy lacks: as if absent
  } else c = { config: compile(inner, path, where), disabled };
  compiledPerRoute.set(any, c);
  return c;
}

function compileLevel(configs: Readonly<Record<string, Any>>, path: string, where: string): void {
  for (const name in configs) compilePerRoute(configs[name], `${path}.typedPerFilterConfig[${JSON.stringify(name)}]`, where);
}

/** Compiles a RouteConfiguration and every per-route filter config in it (before it is ACKed). */
export function compileRoutes(rc: RouteConfiguration): RouteTable {
  const table = RouteTable.compile(rc);
  const where = `route ${rc.name ?? ""}`;
  compileLevel(table.typedPerFilterConfig, "", where);
  table.virtualHosts.forEach((vh, i) => {
    const vp = `virtualHosts[${i}]`;
    compileLevel(vh.typedPerFilterConfig, vp, where);
    vh.routes.forEach((r, j) => {
      const rp = `${vp}.routes[${j}]`;
      compileLevel(r.typedPerFilterConfig, rp, where);
      if (r.action.kind === "route" && r.action.weightedClusters) {
        r.action.weightedClusters.clusters.forEach((e, k) => compileLevel(e.typedPerFilterConfig, `${rp}.route.weightedClusters.clusters[${k}]`, where));
      }
    });
  });
  return table;
}

/** Envoy's cached route of a stream: the matched route and what was drawn for this request. */
export interface ResolvedRoute {
  readonly route: CompiledRoute;
  /** The weighted cluster entry drawn (undefined for a single cluster, a redirect or a direct response). */
  readonly entry: WeightedClusterEntry | undefined;
  /** The target cluster (undefined: a redirect, a direct response, or a cluster header the request lacks). */
  readonly cluster: string | undefined;
}

/** A filter's typed_per_filter_config on a resolved route (most specific level wins). */
export function perRouteFilterConfig(r: ResolvedRoute, name: string): PerRouteFilterConfig | undefined {
  const configs = r.entry?.filterConfigs ?? r.route.filterConfigs;
  // Most routes have none: no keyed lookup (megamorphic across filter names) for every filter of every request.
  if (configs === NO_CONFIGS) return undefined;
  const any = configs[name];
  if (any === undefined) return undefined;
  return compiledPerRoute.get(any) ?? undefined;
}

export interface PlanRequest {
  authority: string;
  path: string;
  method: string;
  /** The downstream request headers (lowercase), as the filters left them. */
  headers: http.OutgoingHttpHeaders;
  /** Envoy's downstream remote address (source IP hashing, %DOWNSTREAM_REMOTE_ADDRESS%): the peer, or the client X-Forwarded-For names as the HCM trusts it. */
  remote: string;
  /** The downstream connection (a generated hash cookie's value comes from its addresses). */
  connection?: { remoteAddress: string; remotePort: number; localAddress: string; localPort: number };
  /** The router's suppress_envoy_headers: no x-envoy-original-path on a rewrite. */
  suppressEnvoyHeaders?: boolean;
  /** The downstream TLS socket (the formatter's DOWNSTREAM_PEER_* commands). */
  tls?: tls.TLSSocket;
  /** The stream's dynamic metadata (route `dynamic_metadata` matchers); undefined when none was written. */
  dynamicMetadata?: DynamicMetadata;
}

/** The request as route matching sees it (header lookups through the stream's header object). */
class PlanView implements RequestView {
  constructor(
    readonly authority: string,
    readonly path: string,
    readonly method: string,
    private readonly headers: http.OutgoingHttpHeaders,
    readonly dynamicMetadata: DynamicMetadata | undefined,
  ) {}

  header(name: string): string | undefined {
    return headerOf(this.headers, name);
  }
}

function headerOf(h: http.OutgoingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(",") : String(v);
}

/** The route a request matches, with its weighted cluster drawn (undefined: no route). */
export function resolveRoute(table: RouteTable, req: PlanRequest): ResolvedRoute | undefined {
  const view = new PlanView(req.authority, req.path, req.method, req.headers, req.dynamicMetadata);
  const m = table.match(view, Math.random());
  if (!m) return undefined;
  const route = m.route;
  const action = route.action;
  if (action.kind !== "route") return { route, entry: undefined, cluster: undefined };
  const entry = action.weightedClusters ? pickWeightedClusterEntry(action, Math.random(), view) : undefined;
  const cluster =
    entry?.name ??
    (entry?.clusterHeader ? headerOf(req.headers, entry.clusterHeader) : undefined) ??
    action.cluster ??
    (action.clusterHeader ? headerOf(req.headers, action.clusterHeader) : undefined);
  return { route, entry, cluster };
}

/** A matched route that forwards: everything the router needs (allocated once per request). */
export class RouteForwardPlan {
  readonly kind = "route" as const;
  constructor(
    readonly route: CompiledRoute,
    /** The weighted cluster entry picked (undefined for a single cluster). */
    readonly entry: WeightedClusterEntry | undefined,
    readonly cluster: string,
    readonly path: string,
    readonly authority: string,
    /** The request headers to send: the stream's object itself unless the route changes them. */
    readonly requestHeaders: http.OutgoingHttpHeaders,
    readonly timeoutMs: number,
    readonly retry: RetryPlan | undefined,
    readonly hash: bigint | undefined,
    readonly includeAttemptCount: boolean,
    /** Clusters this request is mirrored to (their fractions already drawn). */
    readonly mirrors: readonly MirrorTarget[],
    /** Set-Cookie values of hash cookies generated for this request (cookie hash policies with a ttl). */
    readonly setCookies: readonly string[] | undefined,
  ) {}

  /** The route's response header mutations, and any generated hash cookie. */
  decorateResponse(h: http.OutgoingHttpHeaders): void {
    applyResponseHeaderMutations(this.route, this.entry, h as HeaderMap);
    const sc = this.setCookies;
    if (sc !== undefined) {
      const had = h["set-cookie"];
      h["set-cookie"] = had === undefined ? [...sc] : [...(Array.isArray(had) ? had : [String(had)]), ...sc];
    }
  }
}

/** A direct response or a redirect: the status, body and headers the router answers with. */
export interface LocalRouteResponse {
  kind: "direct" | "redirect";
  status: number;
  body: string | Buffer;
  headers: http.OutgoingHttpHeaders;
}

/** What a direct-response or redirect route answers. */
export function localRouteResponse(r: ResolvedRoute, req: PlanRequest): LocalRouteResponse | undefined {
  const route = r.route;
  const action = route.action;
  if (action.kind === "direct") {
    const headers: http.OutgoingHttpHeaders = {};
    applyResponseHeaderMutations(route, undefined, headers as HeaderMap);
    if (action.body?.length) headers["content-type"] = headers["content-type"] ?? "text/plain";
    return { kind: "direct", status: action.status, body: action.body ?? "", headers };
  }
  if (action.kind === "redirect") {
    const { status, location } = redirectLocation(action, { authority: req.authority, path: req.path }, "http");
    return { kind: "redirect", status, body: "", headers: { location } };
  }
  return undefined;
}

const retryPlans = new WeakMap<RetryPolicy, RetryPlan>();

function retryPlan(p: RetryPolicy): RetryPlan {
  let plan = retryPlans.get(p);
  if (!plan) {
    plan = {
      retryOn: new Set(p.retryOn),
      numRetries: p.numRetries,
      perTryTimeoutMs: p.perTryTimeoutMs,
      retriableStatusCodes: new Set(p.retriableStatusCodes),
      previousHosts: p.retryHostPredicates.includes(PREVIOUS_HOSTS),
      hostSelectionRetryMaxAttempts: p.hostSelectionRetryMaxAttempts,
      baseIntervalMs: p.baseIntervalMs,
      maxIntervalMs: p.maxIntervalMs,
    };
    retryPlans.set(p, plan);
  }
  return plan;
}

/** A cookie's value (Envoy's parseCookieValue: the first with that name, surrounding quotes removed). */
export function cookieValue(h: http.OutgoingHttpHeaders, name: string): string | undefined {
  const c = headerOf(h, "cookie");
  if (!c) return undefined;
  for (const part of c.split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0 || part.slice(0, eq).trim() !== name) continue;
    const v = part.slice(eq + 1).trim();
    return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
  }
  return undefined;
}

/**
 * Envoy's addDownstreamSetCookie: a hash cookie the request did not carry, for a policy with a
 * ttl. Its value is the hex xxHash64 of the connection's addresses (the same for every request on
 * one connection), and the Set-Cookie value is Envoy's makeSetCookieValue form.
 */
function generatedCookie(p: Extract<HashPolicy, { kind: "cookie" }>, req: PlanRequest): { value: string; setCookie: string } {
  const c = req.connection;
  const addresses = c === undefined ? req.remote : `${c.remoteAddress}:${c.remotePort}${c.localAddress}:${c.localPort}`;
  const value = hashKey(addresses).toString(16).padStart(16, "0");
  let setCookie = `${p.name}="${value}"`;
  const maxAge = Math.floor((p.ttlMs ?? 0) / 1000);
  if (maxAge !== 0) setCookie += `; Max-Age=${maxAge}`;
  if (p.path) setCookie += `; Path=${p.path}`;
  for (const a of p.attributes) setCookie += a.value ? `; ${a.name}=${a.value}` : `; ${a.name}`;
  return { value, setCookie: setCookie + "; HttpOnly" };
}

/**
 * Envoy's hash policies: each present value is hashed and combined; a terminal one that produced a
 * value ends the list. A missing cookie with a ttl is generated (and returned to be set).
 */
function requestHash(route: CompiledRoute, req: PlanRequest): { hash: bigint | undefined; setCookies: string[] | undefined } {
  let setCookies: string[] | undefined;
  if (route.action.kind !== "route" || route.action.hashPolicy.length === 0) return { hash: undefined, setCookies };
  let hash: bigint | undefined;
  for (const p of route.action.hashPolicy) {
    let v: string | undefined;
    if (p.kind === "header") {
      v = headerOf(req.headers, p.headerName);
      if (v !== undefined && p.regexRewrite !== undefined) v = regexReplaceAll(p.regexRewrite, v);
    } else if (p.kind === "sourceIp") v = req.remote || undefined;
    else if (p.kind === "queryParameter") v = firstQueryParameter(req.path, p.name);
    else if (p.kind === "cookie") {
      v = cookieValue(req.headers, p.name);
      if (v === undefined && p.ttlMs !== undefined) {
        const g = generatedCookie(p, req);
        v = g.value;
        (setCookies ??= []).push(g.setCookie);
      }
    }
    if (v === undefined) continue;
    hash = combineHash(hash, hashKey(v));
    if (p.terminal) break;
  }
  return { hash, setCookies };
}

/** The router's plan for a resolved forwarding route (its cluster known). */
export function planForward(r: ResolvedRoute & { cluster: string }, req: PlanRequest): RouteForwardPlan {
  const { route, entry, cluster } = r;
  const action = route.action;
  if (action.kind !== "route") throw new Error("planForward: not a forwarding route");
  const view = new PlanView(req.authority, req.path, req.method, req.headers, req.dynamicMetadata);
  const path = rewritePath(route, req.path);
  const authority = rewriteHost(route, entry, path === req.path ? view : { header: (n: string) => view.header(n), path }) ?? req.authority;
  const chain = entry ? entry.requestHeaderChain : route.requestHeaderChain;
  // Copy-on-write: the stream's header object is sent as is unless the route changes it (the
  // filters keep seeing the request as it came).
  let requestHeaders = req.headers;
  if (path !== req.path || (authority !== req.authority && req.authority) || chain.length > 0) {
    requestHeaders = { ...req.headers };
    if (path !== req.path && req.suppressEnvoyHeaders !== true) requestHeaders["x-envoy-original-path"] = req.path;
    if (authority !== req.authority && req.authority) requestHeaders["x-forwarded-host"] = req.authority;
    applyRequestHeaderMutations(route, entry, requestHeaders as HeaderMap, { downstreamRemoteAddress: req.remote, upstreamCluster: cluster, downstreamTls: req.tls });
  }
  const { hash, setCookies } = requestHash(route, req);
  return new RouteForwardPlan(
    route,
    entry,
    cluster,
    path,
    authority,
    requestHeaders,
    action.timeoutMs,
    action.retryPolicy ? retryPlan(action.retryPolicy) : undefined,
    hash,
    action.includeRequestAttemptCount,
    mirrorsFor(route, Math.random(), view),
    setCookies,
  );
}
