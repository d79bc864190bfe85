// One HTTPRoute or GRPCRoute rule (with at most one match: istiod splits rules by match) → one
// VirtualService http route, as istiod's convertHTTPRoute / convertGRPCRoute: matches, filters
// (header modifiers, redirect, rewrite, mirrors, CORS), retries, timeouts, weighted backends.
import type { HTTPRoute as VsHttpRoute, StringMatch } from "../../api/resource.js";
import { parseDuration } from "../../api/validation/common.js";
import { IstioReason, isInvalidBackend, type ConfigError } from "./conditions.js";
import { buildDestination, type ConversionContext, type ObjectRef } from "./references.js";

type HeaderMatch = { name: string; value: string; type?: string };
type HeaderFilter = { set?: Array<{ name: string; value: string }>; add?: Array<{ name: string; value: string }>; remove?: string[] };
type Filter = {
  type: string;
  requestHeaderModifier?: HeaderFilter;
  responseHeaderModifier?: HeaderFilter;
  requestRedirect?: { scheme?: string; hostname?: string; port?: number; statusCode?: number; path?: PathModifier };
  urlRewrite?: { hostname?: string; path?: PathModifier };
  requestMirror?: { backendRef: ObjectRef; percent?: number; fraction?: { numerator: number; denominator?: number } };
  cors?: CorsFilter;
};
type CorsFilter = { allowOrigins?: string[]; allowCredentials?: boolean; allowMethods?: string[]; allowHeaders?: string[]; exposeHeaders?: string[]; maxAge?: number };
type PathModifier = { type: string; replaceFullPath?: string; replacePrefixMatch?: string };
type BackendRef = ObjectRef & { weight?: number; filters?: Filter[] };

/** An HTTPRoute or GRPCRoute rule, with its one match (or none). */
export interface RouteRule {
  name?: string;
  matches?: Array<Record<string, unknown>>;
  filters?: Filter[];
  backendRefs?: BackendRef[];
  timeouts?: { request?: string; backendRequest?: string };
  retry?: { codes?: number[]; attempts?: number; backoff?: string };
}

export interface ConvertedRule {
  route?: VsHttpRoute;
  /** The first problem: with a route, a backend problem (ResolvedRefs); without, the rule is dropped. */
  error?: ConfigError;
}

const seconds = (d: string): string | undefined => {
  const ms = parseDuration(d);
  return ms === undefined || ms === 0 ? undefined : `${ms / 1000}s`;
};

function headerValueValid(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (!(c === 0x09 || (c >= 0x20 && c !== 0x7f))) return false;
  }
  return true;
}

/** Gateway API header list → Istio's map: names lower-cased, later duplicates ignored (the spec says so). */
function headerMap(list: Array<{ name: string; value: string }> | undefined): Record<string, string> | undefined {
  if (!list || list.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const h of list) {
    const k = h.name.toLowerCase();
    if (!(k in out)) out[k] = h.value;
  }
  return out;
}

type HeaderOps = NonNullable<NonNullable<VsHttpRoute["headers"]>["request"]>;

function headersFilter(f: HeaderFilter | undefined): { ops?: HeaderOps; error?: ConfigError } {
  if (!f) return {};
  for (const h of [...(f.set ?? []), ...(f.add ?? [])])
    if (!headerValueValid(h.value)) return { error: { reason: IstioReason.InvalidFilter, message: `header "${h.name}" value contains invalid characters` } };
  const ops: HeaderOps = {};
  const add = headerMap(f.add);
  const set = headerMap(f.set);
  if (add) ops.add = add;
  if (f.remove && f.remove.length > 0) ops.remove = f.remove;
  if (set) ops.set = set;
  return { ops };
}

function stringMatch(type: string | undefined, value: string): StringMatch {
  return type === "RegularExpression" ? { regex: value } : { exact: value };
}

function httpMatch(m: Record<string, unknown>): NonNullable<VsHttpRoute["match"]>[number] {
  const out: NonNullable<VsHttpRoute["match"]>[number] = {};
  const path = m.path as { type?: string; value?: string } | undefined;
  if (path) {
    const type = path.type ?? "PathPrefix";
    let value = path.value ?? "/";
    if (type === "PathPrefix") {
      // "When specified, a trailing `/` is ignored."
      if (value !== "/" && value.endsWith("/")) value = value.slice(0, -1);
      out.uri = { prefix: value };
    } else out.uri = type === "Exact" ? { exact: value } : { regex: value };
  }
  const headers = (m.headers as HeaderMatch[] | undefined) ?? [];
  if (headers.length > 0) out.headers = Object.fromEntries(headers.map((h) => [h.name, stringMatch(h.type, h.value)]));
  const query = (m.queryParams as HeaderMatch[] | undefined) ?? [];
  if (query.length > 0) out.queryParams = Object.fromEntries(query.map((q) => [q.name, stringMatch(q.type, q.value)]));
  if (typeof m.method === "string") out.method = { exact: m.method };
  return out;
}

function grpcMatch(m: Record<string, unknown>): { match?: NonNullable<VsHttpRoute["match"]>[number]; error?: ConfigError } {
  const out: NonNullable<VsHttpRoute["match"]>[number] = {};
  const method = m.method as { type?: string; service?: string; method?: string } | undefined;
  if (method) {
    const { service, method: name } = method;
    if (service === undefined && name === undefined) return { error: { reason: IstioReason.InvalidConfiguration, message: "gRPC match must have method or service defined" } };
    const regex = method.type === "RegularExpression";
    if (name === undefined) out.uri = regex ? { regex: `/${service}/.+` } : { prefix: `/${service}/` };
    else if (service === undefined) out.uri = { regex: `/[^/]+/${name}` };
    else out.uri = regex ? { regex: `/${service}/${name}` } : { exact: `/${service}/${name}` };
  }
  const headers = (m.headers as HeaderMatch[] | undefined) ?? [];
  if (headers.length > 0) out.headers = Object.fromEntries(headers.map((h) => [h.name, stringMatch(h.type, h.value)]));
  return { match: out };
}

function rewriteFilter(f: NonNullable<Filter["urlRewrite"]>): VsHttpRoute["rewrite"] {
  const out: NonNullable<VsHttpRoute["rewrite"]> = {};
  if (f.path?.type === "ReplacePrefixMatch") {
    // A prefix of `/` removes the matched prefix.
    out.uri = (f.path.replacePrefixMatch ?? "").replace(/\/$/, "") || "/";
  } else if (f.path?.type === "ReplaceFullPath") out.uriRegexRewrite = { match: "/.*", rewrite: f.path.replaceFullPath ?? "" };
  if (f.hostname) out.authority = f.hostname;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** RE2's QuoteMeta: every character a regex gives a meaning to, escaped. */
const quoteMeta = (s: string): string => s.replace(/[\\.+*?()|[\]{}^$]/g, "\\$&");

/**
 * istiod's createCorsFilter: `*` is any well-formed origin, a single trailing `*` a prefix, other
 * wildcards a regex, the rest exact; preflights the policy does not match pass through (IGNORE).
 */
function corsFilter(f: CorsFilter): NonNullable<VsHttpRoute["corsPolicy"]> {
  const out: NonNullable<VsHttpRoute["corsPolicy"]> = {};
  for (const o of f.allowOrigins ?? []) {
    if (o === "") continue;
    let m: StringMatch;
    if (o === "*") m = { regex: "^[a-zA-Z][a-zA-Z0-9+.-]*://[^/\\s?#]+$" };
    else if (!o.includes("*")) m = { exact: o };
    else if (o.indexOf("*") === o.length - 1) m = { prefix: o.slice(0, -1) };
    else m = { regex: `^${quoteMeta(o).replace(/\\\*/g, ".*")}$` };
    (out.allowOrigins ??= []).push(m);
  }
  if (f.allowCredentials) out.allowCredentials = true;
  if (f.allowMethods?.length) out.allowMethods = [...f.allowMethods];
  if (f.allowHeaders?.length) out.allowHeaders = [...f.allowHeaders];
  if (f.exposeHeaders?.length) out.exposeHeaders = [...f.exposeHeaders];
  if (f.maxAge !== undefined && f.maxAge > 0) out.maxAge = `${f.maxAge}s`;
  out.unmatchedPreflights = "IGNORE";
  return out;
}

function redirectFilter(f: NonNullable<Filter["requestRedirect"]>): VsHttpRoute["redirect"] {
  const out: NonNullable<VsHttpRoute["redirect"]> = {};
  if (f.statusCode !== undefined) out.redirectCode = f.statusCode;
  if (f.hostname) out.authority = f.hostname;
  if (f.scheme) out.scheme = f.scheme;
  // "When empty, port (if specified) of the request is used": unlike Istio's own default.
  if (f.port !== undefined) out.port = f.port;
  else out.derivePort = f.scheme ? "FROM_PROTOCOL_DEFAULT" : "FROM_REQUEST_PORT";
  if (f.path?.type === "ReplaceFullPath") out.uri = f.path.replaceFullPath;
  else if (f.path?.type === "ReplacePrefixMatch") out.prefixRewrite = f.path.replacePrefixMatch;
  return out;
}

/** Converts one rule; `kind` is HTTPRoute or GRPCRoute; gateway parents enforce ReferenceGrants, mesh parents do not. */
export function convertRule(ctx: ConversionContext, kind: "HTTPRoute" | "GRPCRoute", r: RouteRule, route: { name: string; namespace: string }, pos: number, enforceRefGrant: boolean): ConvertedRule {
  const vs: VsHttpRoute = { name: r.name ?? `${route.namespace}.${route.name}.${pos}` };
  for (const m of r.matches ?? []) {
    if (kind === "GRPCRoute") {
      const g = grpcMatch(m);
      if (g.error) return { error: g.error };
      (vs.match ??= []).push(g.match!);
    } else (vs.match ??= []).push(httpMatch(m));
  }
  let mirrorError: ConfigError | undefined;
  for (const f of r.filters ?? []) {
    switch (f.type) {
      case "RequestHeaderModifier":
      case "ResponseHeaderModifier": {
        const h = headersFilter(f.type === "RequestHeaderModifier" ? f.requestHeaderModifier : f.responseHeaderModifier);
        if (h.error) return { error: h.error };
        if (h.ops) (vs.headers ??= {})[f.type === "RequestHeaderModifier" ? "request" : "response"] = h.ops;
        break;
      }
      case "RequestRedirect":
        if (kind === "GRPCRoute") return { error: { reason: IstioReason.InvalidFilter, message: `unsupported filter type "${f.type}"` } };
        vs.redirect = redirectFilter(f.requestRedirect!);
        break;
      case "URLRewrite": {
        if (kind === "GRPCRoute") return { error: { reason: IstioReason.InvalidFilter, message: `unsupported filter type "${f.type}"` } };
        const rw = rewriteFilter(f.urlRewrite!);
        if (rw) vs.rewrite = rw;
        break;
      }
      case "RequestMirror": {
        const m = f.requestMirror!;
        const d = buildDestination(ctx, { ...m.backendRef }, route.namespace, kind, enforceRefGrant);
        if (d.error) {
          mirrorError = d.error;
          break;
        }
        const mirror: NonNullable<VsHttpRoute["mirrors"]>[number] = { destination: d.destination! };
        if (m.fraction) mirror.percentage = { value: (100 * m.fraction.numerator) / (m.fraction.denominator ?? 100) };
        else if (m.percent !== undefined) mirror.percentage = { value: m.percent };
        (vs.mirrors ??= []).push(mirror);
        break;
      }
      case "CORS":
        if (kind === "GRPCRoute") return { error: { reason: IstioReason.InvalidFilter, message: `unsupported filter type "${f.type}"` } };
        vs.corsPolicy = corsFilter(f.cors ?? {});
        break;
      default:
        // ExtensionRef: tsmesh has no extension filters to refer to, as istiod refuses it.
        return { error: { reason: IstioReason.InvalidFilter, message: `unsupported filter type "${f.type}"` } };
    }
  }
  if (r.retry) {
    const retryOn = ["connect-failure", "refused-stream", "unavailable", "cancelled", ...(r.retry.codes ?? []).map(String)];
    const attempts = r.retry.attempts ?? 2;
    vs.retries = { attempts, ...(attempts > 0 ? { retryOn: retryOn.join(",") } : {}) };
    const backoff = r.retry.backoff !== undefined ? seconds(r.retry.backoff) : undefined;
    if (backoff) vs.retries.backoff = backoff;
  }
  if (r.timeouts?.request) {
    const t = seconds(r.timeouts.request);
    if (t) vs.timeout = t;
  }
  if (r.timeouts?.backendRequest) {
    const t = seconds(r.timeouts.backendRequest);
    if (t && vs.retries) vs.retries.perTryTimeout = t;
    else if (t) vs.timeout = t;
  }
  const refs = (r.backendRefs ?? []).filter((b) => (b.weight ?? 1) !== 0);
  if (refs.length === 0 && !vs.redirect) {
    // Per the Gateway API, no backend with weight > 0 answers 500.
    vs.directResponse = { status: 500 };
    return { route: vs, error: mirrorError };
  }
  if (refs.length === 0) return { route: vs, error: mirrorError };
  let backendError: ConfigError | undefined;
  const destinations: NonNullable<VsHttpRoute["route"]> = [];
  for (const b of refs) {
    const d = buildDestination(ctx, b, route.namespace, kind, enforceRefGrant);
    if (d.error && !isInvalidBackend(d.error)) return { error: d.error };
    if (d.error) backendError = d.error;
    const rd: NonNullable<VsHttpRoute["route"]>[number] = { destination: d.destination! };
    if (refs.length > 1) rd.weight = b.weight ?? 1;
    for (const f of b.filters ?? []) {
      if (f.type !== "RequestHeaderModifier" && f.type !== "ResponseHeaderModifier")
        return { error: { reason: IstioReason.InvalidFilter, message: `unsupported filter type "${f.type}"` } };
      const h = headersFilter(f.type === "RequestHeaderModifier" ? f.requestHeaderModifier : f.responseHeaderModifier);
      if (h.error) return { error: h.error };
      if (h.ops) (rd.headers ??= {})[f.type === "RequestHeaderModifier" ? "request" : "response"] = h.ops;
    }
    destinations.push(rd);
  }
  vs.route = destinations;
  return { route: vs, error: backendError ?? mirrorError };
}

const uriRank = (m: NonNullable<VsHttpRoute["match"]>[number] | undefined): number => (!m?.uri ? -1 : "exact" in m.uri ? 3 : "prefix" in m.uri ? 2 : "regex" in m.uri ? 1 : -1);
const uriLength = (m: NonNullable<VsHttpRoute["match"]>[number] | undefined): number => {
  const u = m?.uri as { exact?: string; prefix?: string; regex?: string } | undefined;
  return (u?.exact ?? u?.prefix ?? u?.regex ?? "").length;
};

/**
 * istiod's sortHTTPRoutes, the Gateway API's precedence: routes with no match last; then exact over
 * prefix over regex, longer paths first, a method match, more header matches, more query matches.
 * Stable, so equal routes keep their (creation-time) order.
 */
export function sortHttpRoutes(routes: VsHttpRoute[]): void {
  const key = (r: VsHttpRoute) => r.match?.[0];
  routes.sort((a, b) => {
    if (!a.match?.length) return b.match?.length ? 1 : 0;
    if (!b.match?.length) return -1;
    const m1 = key(a)!;
    const m2 = key(b)!;
    if (uriRank(m1) !== uriRank(m2)) return uriRank(m2) - uriRank(m1);
    if (uriLength(m1) !== uriLength(m2)) return uriLength(m2) - uriLength(m1);
    if (!m1.method !== !m2.method) return m1.method ? -1 : 1;
    const h1 = Object.keys(m1.headers ?? {}).length;
    const h2 = Object.keys(m2.headers ?? {}).length;
    if (h1 !== h2) return h2 - h1;
    return Object.keys(m2.queryParams ?? {}).length - Object.keys(m1.queryParams ?? {}).length;
  });
}
