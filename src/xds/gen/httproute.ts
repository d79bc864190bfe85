// VirtualService HTTP routes → Envoy `envoy.config.route.v3.Route` typed objects, as Istio's
// pilot/pkg/networking/core/route/route.go (BuildHTTPRoutesForVirtualService, translateRoute,
// TranslateRouteMatch, applyHTTPRouteDestination…) and route/retry/retry.go build them. Pure
// functions of (VirtualService, proxy, push, listener port, gateway): used for sidecars and gateways
// (routes.ts) and by the proxyless gRPC generator (`grpc: true`: route actions only, rewritten by
// grpc-compat.ts into forms every gRPC release accepts). Delegate VirtualServices arrive merged into
// their roots by the PushContext (model/virtualservice.ts), once per push.
import type { HTTPMatchRequest, HTTPRoute, HTTPRouteDestination, Resource, StringMatch } from "../../api/resource.js";
import { resolveGatewayName, resolveShortName } from "../../api/hosts.js";
import { GRPC_STATUS_CODES } from "../../core/grpc.js";
import { parseDuration } from "../../api/validation/common.js";
import { anyOf, duration, struct } from "../../envoy/protos.js";
import type {
  Any,
  ClusterWeight,
  CorsPolicy,
  DirectResponseAction,
  FaultAbort,
  FractionalPercent,
  HashPolicy,
  HeaderMatcher,
  HeaderValueOption,
  HTTPFault,
  Metadata,
  QueryParameterMatcher,
  RedirectAction,
  RetryPolicy,
  Route,
  RouteAction,
  RouteMatch,
  RuntimeFractionalPercent,
  StringMatcher,
} from "../../envoy/types.js";
import type { Proxy } from "../../model/proxy.js";
import type { PushContext } from "../../model/push-context.js";
import type { ScopedRoute } from "../../model/virtualservice.js";
import { labelsMatch, serviceVisibleFrom, type Service } from "../../registry/model.js";
import { proxylessRoutes } from "./grpc-compat.js";
import { byName, outboundClusterName, parseClusterName } from "./names.js";

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

/** Envoy filter names used in typedPerFilterConfig. */
export { FAULT_FILTER, CORS_FILTER } from "./filters.js";
import { FAULT_FILTER, CORS_FILTER } from "./filters.js";
const HTTP_FAULT_TYPE = "envoy.extensions.filters.http.fault.v3.HTTPFault";
const CORS_POLICY_TYPE = "envoy.extensions.filters.http.cors.v3.CorsPolicy";

/** Istio's default retry policy (mesh defaultHttpRetryPolicy unset). */
export const DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";
const DEFAULT_RETRIES = 2;
const HOST_SELECTION_RETRY_MAX_ATTEMPTS = 5;

/** Istio's route name for the route built when no VirtualService applies. */
export const DEFAULT_ROUTE_NAME = "default";


/** `envoy.retry_host_predicates.previous_hosts`: retries prefer hosts not tried yet. */
export function previousHostsPredicate(): RetryPolicy.RetryHostPredicate {
  return {
    name: "envoy.retry_host_predicates.previous_hosts",
    typedConfig: anyOf("envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate", {}),
  };
}

/**
 * Istio's default retry policy (retry.DefaultPolicy); with consistent hashing the previous-hosts
 * predicate is left out so retries stay on the hashed host (DefaultConsistentHashPolicy).
 */
export function defaultRetryPolicy(consistentHash = false): RetryPolicy {
  const p: RetryPolicy = { retryOn: DEFAULT_RETRY_ON, numRetries: { value: DEFAULT_RETRIES } };
  if (!consistentHash) p.retryHostPredicate = [previousHostsPredicate()];
  p.hostSelectionRetryMaxAttempts = HOST_SELECTION_RETRY_MAX_ATTEMPTS;
  p.retriableStatusCodes = [503];
  return p;
}

// HTTP status codes Go's http.StatusText knows (Istio's parseRetryOn treats those as status codes).
const HTTP_STATUS_CODES = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402,
  403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431,
  451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

/**
 * Istio's retry.ConvertPolicy: undefined retries → the default policy; attempts ≤ 0 → no policy;
 * otherwise the default with attempts, retryOn (numbers become retriableStatusCodes), perTryTimeout,
 * retryIgnorePreviousHosts, retryRemoteLocalities (previous_priorities) and backoff applied.
 */
export function convertRetryPolicy(retries: HTTPRoute["retries"], consistentHash = false): RetryPolicy | undefined {
  const out = defaultRetryPolicy(consistentHash);
  if (!retries) return out;
  if (!retries.attempts || retries.attempts <= 0) return undefined;
  out.numRetries = { value: retries.attempts };
  if (retries.retryOn) {
    const codes: number[] = [];
    const parts: string[] = [];
    for (const raw of retries.retryOn.split(",")) {
      const part = raw.trim();
      if (!part) continue;
      const n = Number(part);
      if (/^\d+$/.test(part) && HTTP_STATUS_CODES.has(n)) codes.push(n);
      else parts.push(part);
    }
    let retryOn = parts.join(",");
    if (codes.length > 0 && !retryOn.includes("retriable-status-codes")) retryOn += (retryOn ? "," : "") + "retriable-status-codes";
    if (retryOn) out.retryOn = retryOn;
    else delete out.retryOn;
    if (codes.length > 0) out.retriableStatusCodes = codes;
    else delete out.retriableStatusCodes;
  }
  if (retries.perTryTimeout) {
    const ms = parseDuration(retries.perTryTimeout);
    if (ms !== undefined) out.perTryTimeout = duration(ms);
  }
  if (retries.retryIgnorePreviousHosts !== undefined) {
    if (retries.retryIgnorePreviousHosts) out.retryHostPredicate = [previousHostsPredicate()];
    else delete out.retryHostPredicate;
  }
  if (retries.retryRemoteLocalities) {
    out.retryPriority = {
      name: "envoy.retry_priorities.previous_priorities",
      typedConfig: anyOf("envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig", { updateFrequency: 2 }),
    };
  }
  if (retries.backoff) {
    const ms = parseDuration(retries.backoff);
    if (ms !== undefined) out.retryBackOff = { baseInterval: duration(ms) };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Matches

/** Istio's canBeConvertedToPresentMatch: no value at all, or the `regex: "*"` idiom. */
function isPresentMatch(sm: StringMatch | undefined): boolean {
  if (!sm) return true;
  if (sm.exact !== undefined || sm.prefix !== undefined) return false;
  if (sm.regex !== undefined) return sm.regex === "*";
  return true;
}

/** Istio StringMatch → envoy.type.matcher.v3.StringMatcher (undefined when empty). */
export function stringMatcher(sm: StringMatch | undefined): StringMatcher | undefined {
  if (!sm) return undefined;
  if (sm.exact !== undefined) return { exact: sm.exact };
  if (sm.prefix !== undefined) return { prefix: sm.prefix };
  if (sm.regex !== undefined) return { safeRegex: { regex: sm.regex } };
  return undefined;
}

/** Istio's translateHeaderMatch: `{}` (or `regex: "*"`) → presentMatch, else a stringMatch. */
export function headerMatcher(name: string, sm: StringMatch | undefined): HeaderMatcher {
  if (isPresentMatch(sm)) return { name, presentMatch: true };
  const m = stringMatcher(sm);
  return m ? { name, stringMatch: m } : { name };
}

function queryParameterMatcher(name: string, sm: StringMatch | undefined): QueryParameterMatcher {
  if (isPresentMatch(sm)) return { name, presentMatch: true };
  const m = stringMatcher(sm);
  return m ? { name, stringMatch: m } : { name };
}

/** JWT-claim routing (`@request.auth.claims…` headers) needs dynamic metadata matchers: not supported yet. */
function isClaimHeader(name: string): boolean {
  return name.startsWith("@request.auth.claims");
}

/**
 * Istio's TranslateRouteMatch: uri → path/prefix/safeRegex (default prefix "/"), caseSensitive,
 * headers and withoutHeaders (inverted) sorted by name, then :method, :authority, :scheme, then
 * query parameters (sorted by name).
 */
export function translateRouteMatch(m: HTTPMatchRequest | undefined): RouteMatch {
  if (!m) return { prefix: "/" };
  const out: RouteMatch = {};
  const uri = m.uri;
  if (uri?.exact !== undefined) out.path = uri.exact;
  else if (uri?.prefix !== undefined) out.prefix = uri.prefix;
  else if (uri?.regex !== undefined) out.safeRegex = { regex: uri.regex };
  else out.prefix = "/";
  out.caseSensitive = { value: !m.ignoreUriCase };

  const headers: HeaderMatcher[] = [];
  for (const [name, sm] of Object.entries(m.headers ?? {})) headers.push(headerMatcher(name, sm));
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) {
    const h = headerMatcher(name, sm);
    h.invertMatch = true;
    // treat_missing_header_as_empty conflicts with present_match.
    if (!isPresentMatch(sm)) h.treatMissingHeaderAsEmpty = true;
    headers.push(h);
  }
  headers.sort(byName);
  if (m.method) headers.push(headerMatcher(":method", m.method));
  if (m.authority) headers.push(headerMatcher(":authority", m.authority));
  if (m.scheme) headers.push(headerMatcher(":scheme", m.scheme));
  if (headers.length > 0) out.headers = headers;

  const query = Object.entries(m.queryParams ?? {}).map(([name, sm]) => queryParameterMatcher(name, sm));
  if (query.length > 0) out.queryParameters = query.sort(byName);
  return out;
}

/** Istio's IsCatchAllRoute: prefix "/" (or regex ".*") with no header or query conditions. */
export function isCatchAllRoute(r: Route): boolean {
  const m = r.match ?? {};
  const all = m.prefix === "/" || m.pathSeparatedPrefix === "/" || m.safeRegex?.regex === ".*";
  return all && !m.headers?.length && !m.queryParameters?.length && !m.dynamicMetadata?.length;
}

/** Istio's SortVHostRoutes: catch-all routes move to the end, the others keep their order. */
export function sortVirtualHostRoutes(routes: readonly Route[]): Route[] {
  return [...routes.filter((r) => !isCatchAllRoute(r)), ...routes.filter((r) => isCatchAllRoute(r))];
}

/**
 * Istio's sourceMatchHTTP: a match applies when one of its `gateways` is this gateway, or (without
 * gateways) the proxy's labels include `sourceLabels` and its namespace is `sourceNamespace`.
 */
export function sourceMatches(m: HTTPMatchRequest | undefined, proxy: Proxy, gateway: string, vsNamespace: string): boolean {
  if (!m) return true;
  if (m.gateways && m.gateways.length > 0) return m.gateways.some((g) => resolveGatewayName(g, vsNamespace) === gateway);
  if (!labelsMatch(m.sourceLabels, proxy.labels)) return false;
  return !m.sourceNamespace || m.sourceNamespace === proxy.namespace;
}

// ---------------------------------------------------------------------------------------------
// Header operations, fault, CORS, mirror

type Headers = NonNullable<HTTPRoute["headers"]>;

interface HeaderOperations {
  requestHeadersToAdd: HeaderValueOption[];
  requestHeadersToRemove: string[];
  responseHeadersToAdd: HeaderValueOption[];
  responseHeadersToRemove: string[];
  /** `:authority`/`host` set or added: becomes hostRewriteLiteral. */
  authority: string;
}

function isInternalHeader(k: string): boolean {
  return k.startsWith(":") || k.toLowerCase() === "host";
}

function isAuthorityHeader(k: string): boolean {
  const l = k.toLowerCase();
  return l === ":authority" || l === "host";
}

/** Istio's translateAppendHeaders: sorted by name; set overwrites, add appends (Envoy's default action). */
function appendHeaders(headers: Record<string, string> | undefined, append: boolean): [HeaderValueOption[], string] {
  if (!headers) return [[], ""];
  let authority = "";
  const out: HeaderValueOption[] = [];
  for (const key of Object.keys(headers).sort()) {
    const value = headers[key];
    if (isAuthorityHeader(key)) authority = value;
    if (isInternalHeader(key)) continue;
    const header: HeaderValueOption["header"] = value ? { key, value } : { key };
    // APPEND_IF_EXISTS_OR_ADD is the enum's zero value: left out.
    out.push(append ? { header } : { header, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" });
  }
  return [out, authority];
}

/** Istio's TranslateHeadersOperations. */
export function translateHeaderOperations(h: Headers): HeaderOperations {
  const [reqSet, setAuthority] = appendHeaders(h.request?.set, false);
  const [reqAdd, addAuthority] = appendHeaders(h.request?.add, true);
  const [respSet] = appendHeaders(h.response?.set, false);
  const [respAdd] = appendHeaders(h.response?.add, true);
  return {
    requestHeadersToAdd: [...reqSet, ...reqAdd],
    requestHeadersToRemove: (h.request?.remove ?? []).filter((k) => !isInternalHeader(k)),
    responseHeadersToAdd: [...respSet, ...respAdd],
    responseHeadersToRemove: (h.response?.remove ?? []).filter((k) => !isInternalHeader(k)),
    authority: setAuthority || addAuthority,
  };
}

/** Writes non-empty header operations onto a Route or ClusterWeight (appending to what is there). */
function applyHeaderOperations(target: Route | ClusterWeight, ops: HeaderOperations): void {
  if (ops.requestHeadersToAdd.length > 0) target.requestHeadersToAdd = [...(target.requestHeadersToAdd ?? []), ...ops.requestHeadersToAdd];
  if (ops.requestHeadersToRemove.length > 0) target.requestHeadersToRemove = [...(target.requestHeadersToRemove ?? []), ...ops.requestHeadersToRemove];
  if (ops.responseHeadersToAdd.length > 0) target.responseHeadersToAdd = [...(target.responseHeadersToAdd ?? []), ...ops.responseHeadersToAdd];
  if (ops.responseHeadersToRemove.length > 0) target.responseHeadersToRemove = [...(target.responseHeadersToRemove ?? []), ...ops.responseHeadersToRemove];
}

/** Istio percent (0–100, fractional) → FractionalPercent in millionths. */
function percentToFraction(value: number | undefined): FractionalPercent {
  const numerator = Math.round((value ?? 0) * 10000);
  return numerator ? { numerator, denominator: "MILLION" } : { denominator: "MILLION" };
}

/** Integer percent → FractionalPercent over HUNDRED (the enum's zero value, left out). */
function integerToFraction(value: number | undefined): FractionalPercent {
  return value ? { numerator: value } : {};
}

/** gRPC status names Istio accepts in `abort.grpcStatus`. */
const GRPC_STATUS = GRPC_STATUS_CODES;

/**
 * Istio's TranslateFault → envoy.extensions.filters.http.fault.v3.HTTPFault fields (undefined when
 * nothing usable is left: exponential delays and HTTP/2 errors are not supported, as in Istio).
 */
export function translateFault(fault: NonNullable<HTTPRoute["fault"]>, errors: string[] = []): HTTPFault | undefined {
  const out: HTTPFault = {};
  const d = fault.delay;
  if (d) {
    if (d.fixedDelay !== undefined) {
      const ms = parseDuration(d.fixedDelay);
      if (ms !== undefined) {
        out.delay = {
          fixedDelay: duration(ms),
          percentage: d.percentage ? percentToFraction(d.percentage.value) : integerToFraction(d.percent),
        };
      }
    } else {
      errors.push("fault.delay: only fixedDelay is supported (exponentialDelay ignored)");
    }
  }
  const a = fault.abort;
  if (a) {
    const abort: FaultAbort = {};
    if (a.httpStatus !== undefined) abort.httpStatus = a.httpStatus;
    else if (a.grpcStatus !== undefined) {
      const code = /^\d+$/.test(a.grpcStatus) ? Number(a.grpcStatus) : GRPC_STATUS[a.grpcStatus.toUpperCase()];
      if (code !== undefined) abort.grpcStatus = code;
    }
    if (abort.httpStatus === undefined && abort.grpcStatus === undefined) {
      errors.push("fault.abort: only httpStatus and grpcStatus aborts are supported");
    } else {
      if (a.percentage) abort.percentage = percentToFraction(a.percentage.value);
      out.abort = abort;
    }
  }
  return out.delay || out.abort ? out : undefined;
}

/** Istio's TranslateCORSPolicy → envoy.extensions.filters.http.cors.v3.CorsPolicy fields. */
export function translateCorsPolicy(cors: NonNullable<HTTPRoute["corsPolicy"]>): CorsPolicy {
  const out: CorsPolicy = {};
  if (cors.allowOrigins) {
    const m = cors.allowOrigins.map((o) => stringMatcher(o)).filter((x): x is StringMatcher => x !== undefined);
    if (m.length > 0) out.allowOriginStringMatch = m;
  } else if (cors.allowOrigin && cors.allowOrigin.length > 0) {
    out.allowOriginStringMatch = cors.allowOrigin.map((exact) => ({ exact }));
  }
  if (cors.allowMethods?.length) out.allowMethods = cors.allowMethods.join(",");
  if (cors.allowHeaders?.length) out.allowHeaders = cors.allowHeaders.join(",");
  if (cors.exposeHeaders?.length) out.exposeHeaders = cors.exposeHeaders.join(",");
  if (cors.maxAge !== undefined) {
    const ms = parseDuration(cors.maxAge);
    if (ms !== undefined) out.maxAge = String(Math.floor(ms / 1000));
  }
  if (cors.allowCredentials !== undefined) out.allowCredentials = { value: cors.allowCredentials };
  out.filterEnabled = { defaultValue: { numerator: 100 } };
  out.forwardNotMatchingPreflights = { value: cors.unmatchedPreflights !== "IGNORE" };
  return out;
}

/** Istio's MirrorPercent: mirrorPercentage (0 → no mirroring), legacy mirrorPercent, else 100%. */
function mirrorFraction(route: HTTPRoute): RuntimeFractionalPercent | undefined {
  if (route.mirrorPercentage) {
    return route.mirrorPercentage.value && route.mirrorPercentage.value > 0 ? { defaultValue: percentToFraction(route.mirrorPercentage.value) } : undefined;
  }
  const legacy = route.mirrorPercent ?? route.mirror_percent;
  if (legacy !== undefined) return legacy > 0 ? { defaultValue: integerToFraction(legacy) } : undefined;
  return { defaultValue: integerToFraction(100) };
}

function mirrorPolicy(cluster: string, fraction: RuntimeFractionalPercent): RouteAction.RequestMirrorPolicy {
  return { cluster, runtimeFraction: fraction, traceSampled: { value: false } };
}

// ---------------------------------------------------------------------------------------------
// Redirect, direct response

const REDIRECT_CODES: Readonly<Record<number, RedirectAction.RedirectResponseCode | undefined>> = {
  // MOVED_PERMANENTLY (301) is the enum's zero value: left out.
  0: undefined,
  301: undefined,
  302: "FOUND",
  303: "SEE_OTHER",
  307: "TEMPORARY_REDIRECT",
  308: "PERMANENT_REDIRECT",
};

/** Istio's ApplyRedirect → RedirectAction (undefined for an unsupported redirect code). */
export function translateRedirect(r: NonNullable<HTTPRoute["redirect"]>, listenPort: number, tls: boolean): RedirectAction | undefined {
  const code = r.redirectCode ?? 0;
  if (!(code in REDIRECT_CODES)) return undefined;
  const out: RedirectAction = {};
  if (r.authority) out.hostRedirect = r.authority;
  if (r.uri) out.pathRedirect = r.uri;
  else if (r.prefixRewrite) out.prefixRewrite = r.prefixRewrite;
  if (r.scheme) out.schemeRedirect = r.scheme;
  if (r.port !== undefined || r.derivePort !== undefined) {
    let port = 0;
    if (r.port !== undefined) port = r.port;
    else if (r.derivePort === "FROM_REQUEST_PORT") port = listenPort;
    const scheme = r.scheme || (tls ? "https" : "http");
    // No explicit :80 / :443 for their own schemes.
    if ((port === 80 && scheme === "http") || (port === 443 && scheme === "https")) port = 0;
    if (port) out.portRedirect = port;
  }
  const responseCode = REDIRECT_CODES[code];
  if (responseCode) out.responseCode = responseCode;
  return out;
}

/** Istio's ApplyDirectResponse → DirectResponseAction. */
export function translateDirectResponse(d: NonNullable<HTTPRoute["directResponse"]>): DirectResponseAction {
  const out: DirectResponseAction = { status: d.status };
  if (d.body?.string !== undefined) out.body = d.body.string ? { inlineString: d.body.string } : {};
  else if (d.body?.bytes !== undefined) out.body = d.body.bytes ? { inlineBytes: Buffer.from(d.body.bytes, "base64") } : {};
  return out;
}

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
  const claim = [...Object.keys(match?.headers ?? {}), ...Object.keys(match?.withoutHeaders ?? {})].find(isClaimHeader);
  if (claim) {
    errors.push(`${where}: JWT claim routing (${claim}) is not supported; route skipped`);
    return undefined;
  }

  let name = route.name ?? "";
  if (match?.name) name = `${name}.${match.name}`;
  const out: Route = {};
  if (name) out.name = name;
  out.match = translateRouteMatch(match);
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
