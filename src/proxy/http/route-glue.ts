// From a matched route to what the HTTP connection manager does next: a direct response, a
// redirect, or a forward plan for the router (cluster picked among weighted clusters, path and
// host rewritten, header mutations applied in Envoy's order, retry policy, hash for RING_HASH /
// MAGLEV, the fault filter's per-route config).
import type * as http from "node:http";
import type { ProtoObject } from "../../envoy/protos.js";
import { combineHash, hashKey } from "../upstream/hash.js";
import { CORS_FILTER, corsPolicy, type CorsPolicy } from "./cors.js";
import { faultConfig, type FaultConfig } from "./fault.js";
import type { HeaderMap } from "./headers.js";
import { applyRequestHeaderMutations, applyResponseHeaderMutations, mirrorsFor, pickWeightedClusterEntry, redirectLocation, rewriteHost, rewritePath } from "./route-actions.js";
import { type CompiledRoute, type RequestView, RouteTable } from "./route-table.js";
import { firstQueryParameter } from "./matchers/matchers.js";
import { type RetryPolicy } from "./route-policies.js";
import { type WeightedClusterEntry } from "./route-config.js";
import type { RetryPlan } from "./retry-state.js";

export { RouteTable };

export const FAULT_FILTER_NAME = "envoy.filters.http.fault";
const PREVIOUS_HOSTS = "envoy.retry_host_predicates.previous_hosts";

export function compileRoutes(rc: ProtoObject): RouteTable {
  const table = RouteTable.compile(rc);
  // Per-route filter configs the proxy runs are compiled now, so a bad one is NACKed, not a 500 later.
  for (const vh of table.virtualHosts) {
    for (const r of vh.routes) {
      const cors = r.filterConfigs[CORS_FILTER];
      if (cors) corsPolicy(cors);
      faultFor(r.filterConfigs);
    }
  }
  return table;
}

export interface PlanRequest {
  authority: string;
  path: string;
  method: string;
  /** The downstream request headers (lowercase), already adjusted by the HCM. */
  headers: http.OutgoingHttpHeaders;
  /** Downstream peer address (source IP hashing). */
  remote: string;
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
    /** The request headers to send: the HCM's object itself unless the route changes them. */
    readonly requestHeaders: http.OutgoingHttpHeaders,
    readonly timeoutMs: number,
    readonly retry: RetryPlan | undefined,
    readonly hash: bigint | undefined,
    readonly includeAttemptCount: boolean,
    readonly fault: FaultConfig | undefined,
    /** The CORS policy for this route (route > virtual host > route configuration), if any. */
    readonly cors: CorsPolicy | undefined,
    /** Clusters this request is mirrored to (their fractions already drawn). */
    readonly mirrors: readonly string[],
  ) {}

  /** The route's response header mutations. */
  decorateResponse(h: http.OutgoingHttpHeaders): void {
    applyResponseHeaderMutations(this.route, this.entry, h as HeaderMap);
  }
}

export type RoutePlan = { kind: "none" } | { kind: "direct" | "redirect"; status: number; body: string | Buffer; headers: http.OutgoingHttpHeaders } | RouteForwardPlan;

const NONE: RoutePlan = Object.freeze({ kind: "none" as const });

/** The request as route matching sees it (header lookups through the HCM's header object). */
class PlanView implements RequestView {
  constructor(
    readonly authority: string,
    readonly path: string,
    readonly method: string,
    private readonly headers: http.OutgoingHttpHeaders,
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

const faults = new WeakMap<ProtoObject, FaultConfig | null>();

function faultFor(filterConfigs: Readonly<Record<string, ProtoObject>>): FaultConfig | undefined {
  const cfg = filterConfigs[FAULT_FILTER_NAME];
  if (!cfg) return undefined;
  let f = faults.get(cfg);
  if (f === undefined) {
    f = cfg.abort || cfg.delay ? faultConfig(cfg, FAULT_FILTER_NAME) : null;
    faults.set(cfg, f);
  }
  return f ?? undefined;
}

function corsFor(filterConfigs: Readonly<Record<string, ProtoObject>>): CorsPolicy | undefined {
  const cfg = filterConfigs[CORS_FILTER];
  return cfg ? corsPolicy(cfg) : undefined;
}

function cookie(h: http.OutgoingHttpHeaders, name: string): string | undefined {
  const c = headerOf(h, "cookie");
  if (!c) return undefined;
  for (const part of c.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Envoy's hash policies: each present value is hashed and combined; a terminal one that produced a value ends the list. */
function requestHash(route: CompiledRoute, req: PlanRequest): bigint | undefined {
  if (route.action.kind !== "route" || route.action.hashPolicy.length === 0) return undefined;
  let hash: bigint | undefined;
  for (const p of route.action.hashPolicy) {
    let v: string | undefined;
    if (p.kind === "header") v = headerOf(req.headers, p.headerName);
    else if (p.kind === "sourceIp") v = req.remote || undefined;
    else if (p.kind === "queryParameter") v = firstQueryParameter(req.path, p.name);
    else if (p.kind === "cookie") v = cookie(req.headers, p.name);
    if (v === undefined) continue;
    hash = combineHash(hash, hashKey(v));
    if (p.terminal) break;
  }
  return hash;
}

export function planRoute(table: RouteTable, req: PlanRequest): RoutePlan {
  const view = new PlanView(req.authority, req.path, req.method, req.headers);
  const m = table.match(view, Math.random());
  if (!m) return NONE;
  const route = m.route;
  const action = route.action;
  if (action.kind === "direct") {
    const headers: http.OutgoingHttpHeaders = {};
    applyResponseHeaderMutations(route, undefined, headers as HeaderMap);
    if (action.body?.length) headers["content-type"] = headers["content-type"] ?? "text/plain";
    return { kind: "direct", status: action.status, body: action.body ?? "", headers };
  }
  if (action.kind === "redirect") {
    const { status, location } = redirectLocation(action, view, "http");
    return { kind: "redirect", status, body: "", headers: { location } };
  }
  const entry = action.weightedClusters ? pickWeightedClusterEntry(action, Math.random(), view) : undefined;
  const cluster =
    entry?.name ??
    (entry?.clusterHeader ? headerOf(req.headers, entry.clusterHeader) : undefined) ??
    action.cluster ??
    (action.clusterHeader ? headerOf(req.headers, action.clusterHeader) : undefined);
  if (!cluster) return NONE;
  const path = rewritePath(route, req.path);
  const authority = rewriteHost(route, entry, path === req.path ? view : { header: (n: string) => view.header(n), path }) ?? req.authority;
  const chain = entry ? entry.requestHeaderChain : route.requestHeaderChain;
  // Copy-on-write: the HCM's header object is sent as is unless the route changes it (the fault
  // and CORS filters keep seeing the request as it came).
  let requestHeaders = req.headers;
  if (path !== req.path || (authority !== req.authority && req.authority) || chain.length > 0) {
    requestHeaders = { ...req.headers };
    if (path !== req.path) requestHeaders["x-envoy-original-path"] = req.path;
    if (authority !== req.authority && req.authority) requestHeaders["x-forwarded-host"] = req.authority;
    applyRequestHeaderMutations(route, entry, requestHeaders as HeaderMap, { downstreamRemoteAddress: req.remote, upstreamCluster: cluster });
  }
  const filterConfigs = entry?.filterConfigs ?? route.filterConfigs;
  return new RouteForwardPlan(
    route,
    entry,
    cluster,
    path,
    authority,
    requestHeaders,
    action.timeoutMs,
    action.retryPolicy ? retryPlan(action.retryPolicy) : undefined,
    requestHash(route, req),
    action.includeRequestAttemptCount,
    faultFor(filterConfigs),
    corsFor(filterConfigs),
    mirrorsFor(route, Math.random(), view),
  );
}
