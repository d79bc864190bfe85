// VirtualService HTTP routes → Envoy `envoy.config.route.v3.Route` typed objects, as Istio's
// pilot/pkg/networking/core/route/route.go (BuildHTTPRoutesForVirtualService, translateRoute,
// applyHTTPRouteDestination…) builds them; matches are route-match.ts, header operations, faults,
// CORS, mirrors, redirects and direct responses route-actions.ts, retries retry.ts. Pure
// functions of (VirtualService, proxy, push, listener port, gateway): used for sidecars and gateways
// (routes.ts) and by the proxyless gRPC generator (`grpc: true`: route actions only, rewritten by
// grpc-compat.ts into forms every gRPC release accepts). Delegate VirtualServices arrive merged into
// their roots by the PushContext (model/virtualservice.ts), once per push.
import type { HTTPMatchRequest, HTTPRoute, HTTPRouteDestination, Resource } from "../../api/resource.js";
import { resolveShortName } from "../../api/hosts.js";
import { parseDuration } from "../../api/validation/common.js";
import { anyOf, duration, struct } from "../../envoy/protos.js";
import type { Any, ClusterWeight, HashPolicy, Metadata, Route, RouteAction } from "../../envoy/types.js";
import type { Proxy } from "../../model/proxy.js";
import type { PushContext } from "../../model/push-context.js";
import type { ScopedRoute } from "../../model/virtualservice.js";
import { serviceVisibleFrom, type Service } from "../../registry/model.js";
import { CORS_FILTER, FAULT_FILTER } from "./filters.js";
import { proxylessRoutes } from "./grpc-compat.js";
import { outboundClusterName, parseClusterName } from "./names.js";
import { convertRetryPolicy, defaultRetryPolicy } from "./retry.js";
import {
  applyHeaderOperations,
  integerToFraction,
  mirrorFraction,
  mirrorPolicy,
  percentToFraction,
  translateCorsPolicy,
  translateDirectResponse,
  translateFault,
  translateHeaderOperations,
  translateRedirect,
} from "./route-actions.js";
import { claimMatchProblem, isCatchAllRoute, sourceMatches, translateRouteMatch } from "./route-match.js";

/** Hash policies for a destination (DestinationRule consistentHash), supplied by traffic-policy.ts. */
export type HashPolicyFn = (host: string, port: number, subset: string | undefined) => HashPolicy[] | undefined;

export interface HttpRouteContext {
  proxy: Proxy;
  push: PushContext;
  /** The listener port the routes serve (sidecar service port, gateway server port). */
  port: number;
  /** "mesh" for sidecars, "namespace/name" for a Gateway. */
  gateway: string;
  /** Proxyless gRPC: route actions only, no CORS, in forms every gRPC release accepts (grpc-compat.ts). */
  grpc?: boolean;
  hashPolicy?: HashPolicyFn;
  /** The listener terminates TLS (gateway HTTPS server): redirects without a scheme default to https. */
  tls?: boolean;
}

export interface ConvertedRoutes {
  routes: Route[];
  /** Problems worth reporting (skipped routes, unsupported fields), each naming the VirtualService. */
  errors: string[];
}

/** typedPerFilterConfig payload types of the fault and CORS filters. */
const HTTP_FAULT_TYPE = "envoy.extensions.filters.http.fault.v3.HTTPFault";
const CORS_POLICY_TYPE = "envoy.extensions.filters.http.cors.v3.CorsPolicy";

/** Istio's route name for the route built when no VirtualService applies. */
export const DEFAULT_ROUTE_NAME = "default";

// ---------------------------------------------------------------------------------------------
// Destinations

type DestinationRef = NonNullable<HTTPRoute["mirror"]>;

/** The service a destination host names, as a proxy sees it: the VirtualService's namespace first. */
function lookupService(ctx: HttpRouteContext, host: string, vsNamespace: string): Service | undefined {
  const own = ctx.push.registry.servicesFor(host).find((s) => s.namespace === vsNamespace && serviceVisibleFrom(s, ctx.proxy.namespace));
  return own ?? ctx.push.pickService(host, ctx.proxy.namespace);
}

interface ResolvedDestination {
  host: string;
  port: number;
  subset: string | undefined;
  cluster: string;
}

/**
 * Istio's GetDestinationCluster: `outbound|PORT|SUBSET|HOST` with the host resolved in the
 * VirtualService's namespace; the port is destination.port, else the service's only port, else the
 * listener port. Unknown hosts still produce a cluster name (Envoy answers 503 NC, as with Istio).
 */
function resolveDestination(ctx: HttpRouteContext, dest: DestinationRef, namespace: string, errors: string[]): ResolvedDestination {
  const host = resolveShortName(dest.host, namespace);
  let port = dest.port?.number;
  if (port === undefined) {
    const svc = lookupService(ctx, host, namespace);
    if (svc && svc.ports.length === 1) port = svc.ports[0].port;
    else {
      port = ctx.port;
      if (svc && !svc.ports.some((p) => p.port === ctx.port)) {
        errors.push(`destination ${host} has several ports and none is ${ctx.port}: set destination.port.number`);
      }
    }
  }
  const subset = dest.subset || undefined;
  return { host, port, subset, cluster: outboundClusterName(port, host, subset ?? "") };
}

// ---------------------------------------------------------------------------------------------
// Route translation

/** Route metadata naming the VirtualService (Istio's BuildConfigInfoMetadata). */
function configMetadata(vs: Resource<"VirtualService">): Metadata {
  return {
    filterMetadata: {
      istio: struct({ config: `/apis/networking.istio.io/v1/namespaces/${vs.metadata.namespace}/virtual-service/${vs.metadata.name}` }),
    },
  };
}

/** Istio's GetRouteOperation: `host:port/path` for one cluster, else `vsName:port/path` (tracing). */
function routeOperation(r: Route, vsName: string, port: number): string {
  const m = r.match ?? {};
  let path = "/*";
  if (typeof m.prefix === "string") path = `${m.prefix}*`;
  else if (typeof m.path === "string") path = m.path;
  else if (m.safeRegex) path = String(m.safeRegex.regex);
  const cluster = r.route?.cluster;
  const parsed = typeof cluster === "string" ? parseClusterName(cluster) : undefined;
  return parsed ? `${parsed.host}:${parsed.port}${path}` : `${vsName}:${port}${path}`;
}

/** Istio's setTimeout: VS timeout or 0s (disabled); gRPC-Web/gRPC via maxGrpcTimeout, proxyless via maxStreamDuration. */
function applyTimeout(action: RouteAction, timeout: string | undefined, grpc: boolean): void {
  const ms = timeout !== undefined ? (parseDuration(timeout) ?? 0) : 0;
  action.timeout = duration(ms);
  if (grpc) action.maxStreamDuration = { maxStreamDuration: duration(ms) };
  else action.maxGrpcTimeout = duration(ms);
}

/** The default route Istio gives a service without a VirtualService (BuildDefaultHTTPOutboundRoute). */
export function defaultOutboundRoute(cluster: string, operation: string, hashPolicy?: HashPolicy[], grpc = false): Route {
  const action: RouteAction = { cluster };
  applyTimeout(action, undefined, grpc);
  action.retryPolicy = defaultRetryPolicy(false);
  if (hashPolicy && hashPolicy.length > 0) action.hashPolicy = hashPolicy;
  const route = { name: DEFAULT_ROUTE_NAME, match: { prefix: "/" }, route: action, decorator: { operation } };
  return grpc ? proxylessRoutes([route])[0] : route;
}

function applyDestination(
  out: Route,
  ctx: HttpRouteContext,
  scoped: ScopedRoute,
  authority: string,
  errors: string[],
): boolean {
  const route = scoped.route;
  const ns = scoped.namespace;
  const action: RouteAction = {};
  applyTimeout(action, route.timeout, !!ctx.grpc);

  if (route.rewrite) {
    const rr = route.rewrite.uriRegexRewrite;
    if (rr) action.regexRewrite = { pattern: { regex: rr.match ?? "" }, substitution: rr.rewrite ?? "" };
    else if (route.rewrite.uri) action.prefixRewrite = route.rewrite.uri;
    if (route.rewrite.authority) authority = route.rewrite.authority;
  }
  if (authority) action.hostRewriteLiteral = authority;

  const mirrors: RouteAction.RequestMirrorPolicy[] = [];
  if (route.mirror) {
    const f = mirrorFraction(route);
    if (f) mirrors.push(mirrorPolicy(resolveDestination(ctx, route.mirror, ns, errors).cluster, f));
  }
  for (const m of route.mirrors ?? []) {
    if (m.percentage && !(m.percentage.value && m.percentage.value > 0)) continue;
    const f = m.percentage ? { defaultValue: percentToFraction(m.percentage.value) } : { defaultValue: integerToFraction(100) };
    mirrors.push(mirrorPolicy(resolveDestination(ctx, m.destination, ns, errors).cluster, f));
  }
  if (mirrors.length > 0) action.requestMirrorPolicies = mirrors;

  const dests: readonly HTTPRouteDestination[] = route.route ?? [];
  const hashPolicies: HashPolicy[] = [];
  let consistentHash = false;
  if (dests.length === 0) {
    errors.push(`http route ${route.name ?? ""}: no destination, redirect or directResponse`);
    return false;
  }
  if (dests.length === 1) {
    const dst = dests[0];
    const d = resolveDestination(ctx, dst.destination, ns, errors);
    action.cluster = d.cluster;
    if (dst.headers) {
      const ops = translateHeaderOperations(dst.headers);
      applyHeaderOperations(out, ops);
      if (ops.authority && action.hostRewriteLiteral === undefined) action.hostRewriteLiteral = ops.authority;
    }
    const hp = ctx.hashPolicy?.(d.host, d.port, d.subset);
    if (hp && hp.length > 0) {
      hashPolicies.push(...hp);
      consistentHash = true;
    }
  } else {
    const clusters: ClusterWeight[] = [];
    for (const dst of dests) {
      // Zero-weight destinations are left out when there are others (Istio).
      if (!dst.weight) continue;
      const d = resolveDestination(ctx, dst.destination, ns, errors);
      const cw: ClusterWeight = { name: d.cluster, weight: { value: dst.weight } };
      if (dst.headers) {
        const ops = translateHeaderOperations(dst.headers);
        applyHeaderOperations(cw, ops);
        if (ops.authority) cw.hostRewriteLiteral = ops.authority;
      }
      clusters.push(cw);
      const hp = ctx.hashPolicy?.(d.host, d.port, d.subset);
      if (hp) hashPolicies.push(...hp);
    }
    if (clusters.length === 0) {
      errors.push(`http route ${route.name ?? ""}: every destination has weight 0`);
      return false;
    }
    action.weightedClusters = { clusters };
  }
  if (hashPolicies.length > 0) action.hashPolicy = hashPolicies;
  const retry = convertRetryPolicy(route.retries, consistentHash);
  if (retry) action.retryPolicy = retry;
  // The cluster specifier first, as Istio's config dumps show it.
  const { cluster, weightedClusters, ...rest } = action;
  out.route = cluster !== undefined ? { cluster, ...rest } : { weightedClusters, ...rest };
  return true;
}

/**
 * Istio's translateRoute for one match (undefined = no match conditions): undefined when the match
 * does not apply to this proxy/gateway/port or the route cannot be built (reason in `errors`).
 */
function translateRoute(
  ctx: HttpRouteContext,
  vs: Resource<"VirtualService">,
  scoped: ScopedRoute,
  match: HTTPMatchRequest | undefined,
  errors: string[],
): Route | undefined {
  const route = scoped.route;
  const where = `VirtualService ${vs.metadata.namespace}/${vs.metadata.name} http route ${route.name ?? ""}`.trimEnd();
  if (match?.port && match.port !== ctx.port) return undefined;
  if (!sourceMatches(match, ctx.proxy, ctx.gateway, scoped.namespace)) return undefined;
  const claim = claimMatchProblem(match);
  if (claim) {
    errors.push(`${where}: JWT claim match ${claim} needs exact, prefix or regex (Envoy cannot match a claim's presence); route skipped`);
    return undefined;
  }

  let name = route.name ?? "";
  if (match?.name) name = `${name}.${match.name}`;
  const out: Route = {};
  if (name) out.name = name;
  // istiod's UseGatewaySemantics: the annotation the Gateway API conversion puts on what it makes.
  out.match = translateRouteMatch(match, vs.metadata.annotations?.["internal.istio.io/route-semantics"] === "gateway");
  if (match?.statPrefix) out.statPrefix = match.statPrefix;

  let authority = "";
  if (route.headers) {
    const ops = translateHeaderOperations(route.headers);
    applyHeaderOperations(out, ops);
    authority = ops.authority;
  }

  const localErrors: string[] = [];
  if (route.redirect) {
    if (ctx.grpc) {
      errors.push(`${where}: redirect is not supported by proxyless gRPC; route skipped`);
      return undefined;
    }
    const redirect = translateRedirect(route.redirect, ctx.port, !!ctx.tls);
    if (!redirect) {
      errors.push(`${where}: redirect code ${route.redirect.redirectCode ?? ""} is not supported; route skipped`);
      return undefined;
    }
    out.redirect = redirect;
  } else if (route.directResponse) {
    if (ctx.grpc) {
      errors.push(`${where}: directResponse is not supported by proxyless gRPC; route skipped`);
      return undefined;
    }
    out.directResponse = translateDirectResponse(route.directResponse);
  } else if (!applyDestination(out, ctx, scoped, authority, localErrors)) {
    errors.push(...localErrors.map((e) => `${where}: ${e}; route skipped`));
    return undefined;
  }
  errors.push(...localErrors.map((e) => `${where}: ${e}`));

  out.metadata = configMetadata(vs);
  out.decorator = { operation: routeOperation(out, vs.metadata.name, ctx.port) };

  const filters: { [filter: string]: Any } = {};
  if (route.fault) {
    const faultErrors: string[] = [];
    const fault = translateFault(route.fault, faultErrors);
    errors.push(...faultErrors.map((e) => `${where}: ${e}`));
    if (fault) filters[FAULT_FILTER] = anyOf(HTTP_FAULT_TYPE, fault);
  }
  if (route.corsPolicy) {
    if (ctx.grpc) errors.push(`${where}: corsPolicy is not supported by proxyless gRPC; ignored`);
    else filters[CORS_FILTER] = anyOf(CORS_POLICY_TYPE, translateCorsPolicy(route.corsPolicy));
  }
  if (Object.keys(filters).length > 0) out.typedPerFilterConfig = filters;
  return out;
}

/**
 * A VirtualService's HTTP routes as Envoy routes for one listener port and gateway ("mesh" or
 * "ns/name"), as Istio's BuildHTTPRoutesForVirtualService: one Envoy route per match (same action),
 * matches for other ports, gateways or source workloads left out, nothing after a catch-all route.
 */
export function convertHttpRoutes(vs: Resource<"VirtualService">, ctx: HttpRouteContext): ConvertedRoutes {
  const errors: string[] = [];
  const routes: Route[] = [];
  const merged = ctx.push.httpRoutes(vs);
  errors.push(...merged.errors);
  for (const scoped of merged.routes) {
    let catchAll = false;
    const matches = scoped.route.match;
    if (!matches || matches.length === 0) {
      const r = translateRoute(ctx, vs, scoped, undefined, errors);
      if (r) routes.push(r);
      catchAll = true;
    } else {
      for (const m of matches) {
        const r = translateRoute(ctx, vs, scoped, m, errors);
        if (!r) continue;
        routes.push(r);
        // Routes match in order: nothing after a catch-all can ever match.
        if (isCatchAllRoute(r)) {
          catchAll = true;
          break;
        }
      }
    }
    if (catchAll) break;
  }
  return { routes: ctx.grpc ? proxylessRoutes(routes, errors) : routes, errors };
}

/** Does any HTTP match of these VirtualServices (or their delegates) depend on the proxy's labels? */
export function usesSourceLabels(vss: readonly Resource<"VirtualService">[]): boolean {
  for (const vs of vss) {
    for (const r of vs.spec.http ?? []) {
      for (const m of r.match ?? []) if (m.sourceLabels && Object.keys(m.sourceLabels).length > 0) return true;
    }
  }
  return false;
}
