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
import {
  applyRequestHeaderMutations,
  applyResponseHeaderMutations,
  type CompiledRoute,
  firstQueryParameter,
  mirrorsFor,
  pickWeightedClusterEntry,
  redirectLocation,
  type RequestView,
  type RetryPolicy,
  rewriteHost,
  rewritePath,
  RouteTable,
} from "./route-table.js";
import type { RetryPlan } from "./router.js";

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

export type RoutePlan =
  | { kind: "none" }
  | { kind: "direct" | "redirect"; status: number; body: string | Buffer; headers: http.OutgoingHttpHeaders }
  | {
      kind: "route";
      route: CompiledRoute;
      cluster: string;
      path: string;
      authority: string;
      requestHeaders: http.OutgoingHttpHeaders;
      timeoutMs: number;
      retry?: RetryPlan;
      hash?: bigint;
      includeAttemptCount: boolean;
      fault?: FaultConfig;
      /** The CORS policy for this route (route > virtual host > route configuration), if any. */
      cors?: CorsPolicy;
      /** Clusters this request is mirrored to (their fractions already drawn). */
      mirrors: readonly string[];
      decorateResponse(h: http.OutgoingHttpHeaders): void;
    };

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
  const view: RequestView = { authority: req.authority, path: req.path, method: req.method, header: (n) => headerOf(req.headers, n) };
  const m = table.match(view, Math.random());
  if (!m) return { kind: "none" };
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
  if (!cluster) return { kind: "none" };
  const path = rewritePath(route, req.path);
  const authority = rewriteHost(route, entry, { ...view, path }) ?? req.authority;
  const requestHeaders: http.OutgoingHttpHeaders = { ...req.headers };
  if (path !== req.path) requestHeaders["x-envoy-original-path"] = req.path;
  if (authority !== req.authority && req.authority) requestHeaders["x-forwarded-host"] = req.authority;
  applyRequestHeaderMutations(route, entry, requestHeaders as HeaderMap, { downstreamRemoteAddress: req.remote, upstreamCluster: cluster });
  return {
    kind: "route",
    route,
    cluster,
    path,
    authority,
    requestHeaders,
    timeoutMs: action.timeoutMs,
    retry: action.retryPolicy ? retryPlan(action.retryPolicy) : undefined,
    hash: requestHash(route, req),
    includeAttemptCount: action.includeRequestAttemptCount,
    fault: faultFor(entry?.filterConfigs ?? route.filterConfigs),
    mirrors: mirrorsFor(route, Math.random(), view),
    cors: corsFor(entry?.filterConfigs ?? route.filterConfigs),
    decorateResponse: (h) => applyResponseHeaderMutations(route, entry, h as HeaderMap),
  };
}
