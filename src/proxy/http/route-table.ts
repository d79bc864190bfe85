// The HTTP route table: an Envoy v3 RouteConfiguration (the typed message of src/envoy/types.ts,
// as the decoders give it) compiled once into virtual hosts and routes, and the matching of a request
// to a route. Semantics follow envoy/source/common/router/config_impl.cc:
//
// - Virtual host: the authority is lowercased (ASCII) and, with `ignorePortInHostMatching`, its
//   `:port` is dropped (Envoy's getPortStart, so `[::1]:80` → `[::1]`); then an exact domain, the
//   longest suffix wildcard (`*.foo.com`, `*-bar.foo.com`; the `*` matches at least one character),
//   the longest prefix wildcard (`foo.*`), then `*`. Without the flag, `host:port` must equal a
//   `host:port` domain. Domains are unique per configuration (case-insensitive); one `*` only.
// - Routes: in order, first match wins. Path matchers see the path without query and fragment
//   (and without `;params` when `ignorePathParametersInPathMatching`). `caseSensitive` (default
//   true) applies to prefix, path and pathSeparatedPrefix; safeRegex is a full match. Header
//   matchers see repeated headers joined with ","; pseudo-headers `:method`, `:authority`, `:path`
//   (with query) and `:scheme` come from the RequestView. Query parameters are matched on the first
//   value of a key, undecoded. `grpc` requires content-type `application/grpc` or
//   `application/grpc+…`. `runtimeFraction` uses its default value and the request's random number.
// - Regexes are RE2 (matchers/regex.ts); header and query matchers are matchers/matchers.ts, route
//   actions route-config.ts, policies route-policies.ts, and what the router does per request with
//   a matched route route-actions.ts.
import type * as v3 from "../../envoy/types.js";
import type { DynamicMetadata } from "../dynamic-metadata.js";
import { compileRateLimits, type RateLimitPolicy } from "../ratelimit/actions.js";
import { XdsConfigError } from "../xds-error.js";
import { type CorsPolicy, corsPolicy } from "./cors-policy.js";
import { HeaderMutations } from "./headers.js";
import { asciiLower, HeaderMatcher, QueryParameterMatcher, startsWithIgnoreCase } from "./matchers/matchers.js";
import { compileMetadataMatcher, type MetadataMatcher } from "./matchers/metadata.js";
import { compileRegexMatcher, type RegexMatcher } from "./matchers/regex.js";
import {
  chain,
  compileDirectResponse,
  compileRedirect,
  compileRouteAction,
  EMPTY,
  finishWeightedClusters,
  mergeConfigs,
  NO_CONFIGS,
  type RedirectActionConfig,
  type RouteAction,
  typedPerFilterConfig,
} from "./route-config.js";
import {
  compileHedgePolicy,
  compileMirrorPolicy,
  compileRetryPolicy,
  enumValue,
  type FractionalPercent,
  fractionFires,
  type HedgePolicy,
  type MirrorPolicy,
  type RetryPolicy,
  runtimeDefault,
} from "./route-policies.js";

export interface RequestView {
  /** The Host / :authority value as received (with port, if any). */
  authority: string;
  /** :path, with the query string. "" for a CONNECT request without a path. */
  path: string;
  method: string;
  /** A header by lowercase name; repeated values joined with ",". */
  header(name: string): string | undefined;
  /** :scheme, when known (else `header(":scheme")` is asked). */
  scheme?: string;
  /** The stream's dynamic metadata, for `dynamic_metadata` matchers (undefined: none written). */
  dynamicMetadata?: DynamicMetadata;
}

/** Anything header matchers can read: a RequestView, or just a header getter (response headers). */
export type HeaderSource = Pick<RequestView, "header"> & Partial<Pick<RequestView, "authority" | "path" | "method" | "scheme">>;

/** envoy.type.v3.FractionalPercent with the denominator as a number (100, 10000, 1000000). */

type PathMatchKind = "prefix" | "path" | "safeRegex" | "pathSeparatedPrefix" | "connect";

/** A descriptive view of a route's match (for debug pages and tests; matching is compiled). */
interface RouteMatchInfo {
  readonly kind: PathMatchKind;
  /** The prefix, path or regex; "" for connect. */
  readonly value: string;
  readonly caseSensitive: boolean;
  readonly grpc: boolean;
  readonly headers: readonly HeaderMatcher[];
  readonly queryParameters: readonly QueryParameterMatcher[];
  readonly runtimeFraction: FractionalPercent | undefined;
}

interface RouteMatch {
  readonly vhost: CompiledVirtualHost;
  readonly route: CompiledRoute;
}

// Virtual hosts and routes

const PATH_PREFIX = 0;
const PATH_EXACT = 1;
const PATH_REGEX = 2;
const PATH_SEPARATED = 3;
const PATH_CONNECT = 4;
const PATH_KINDS: readonly PathMatchKind[] = ["prefix", "path", "safeRegex", "pathSeparatedPrefix", "connect"];

type RequireTls = v3.VirtualHost.TlsRequirementType;
const REQUIRE_TLS: Readonly<Record<RequireTls, RequireTls>> = { NONE: "NONE", EXTERNAL_ONLY: "EXTERNAL_ONLY", ALL: "ALL" };

function isGrpcContentType(ct: string | undefined): boolean {
  if (ct === undefined || !ct.startsWith("application/grpc")) return false;
  return ct.length === 16 || ct.charCodeAt(16) === 43; /* + */
}

/** A compiled route. */
export class CompiledRoute {
  /** `{ vhost, route }`, allocated once. */
  readonly result: RouteMatch;
  readonly match: RouteMatchInfo;
  /** Request mutations in the order the router applies them (route → vhost → config by default). */
  readonly requestHeaderChain: readonly HeaderMutations[];
  readonly responseHeaderChain: readonly HeaderMutations[];
  /** Per-filter configs, most specific wins: route > virtual host > route configuration. */
  readonly filterConfigs: Readonly<Record<string, v3.Any>>;

  /** @internal use RouteTable.compile */
  constructor(
    readonly vhost: CompiledVirtualHost,
    readonly index: number,
    readonly name: string,
    readonly action: RouteAction,
    private readonly pathKind: number,
    private readonly pathValue: string,
    private readonly caseSensitive: boolean,
    private readonly regex: RegexMatcher | undefined,
    private readonly grpc: boolean,
    private readonly headers: readonly HeaderMatcher[],
    private readonly queryParameters: readonly QueryParameterMatcher[],
    private readonly runtimeFraction: FractionalPercent | undefined,
    private readonly dynamicMetadata: readonly MetadataMatcher[],
    readonly requestHeaders: HeaderMutations | undefined,
    readonly responseHeaders: HeaderMutations | undefined,
    readonly typedPerFilterConfig: Readonly<Record<string, v3.Any>>,
    readonly decorator: { readonly operation: string; readonly propagate: boolean } | undefined,
    readonly metadata: v3.Metadata | undefined,
    readonly statPrefix: string | undefined,
    table: TableLevel,
  ) {
    this.result = { vhost, route: this };
    this.match = {
      kind: PATH_KINDS[pathKind],
      value: pathKind === PATH_REGEX ? (regex as RegexMatcher).regex : pathValue,
      caseSensitive,
      grpc,
      headers,
      queryParameters,
      runtimeFraction,
    };
    this.requestHeaderChain = chain(table.mostSpecificHeaderMutationsWins, requestHeaders, vhost.requestHeaders, table.requestHeaders);
    this.responseHeaderChain = chain(table.mostSpecificHeaderMutationsWins, responseHeaders, vhost.responseHeaders, table.responseHeaders);
    this.filterConfigs = mergeConfigs(table.typedPerFilterConfig, vhost.typedPerFilterConfig, typedPerFilterConfig);
  }

  /**
   * Does the route match? `path` is the request path, `end` where its path part ends (query,
   * fragment or `;params` excluded), `q` the index of "?" (-1 if none).
   * @internal
   */
  matches(req: RequestView, path: string, end: number, q: number, random01: number): boolean {
    const v = this.pathValue;
    switch (this.pathKind) {
      case PATH_PREFIX:
        if (path === "" || end < v.length) return false;
        if (this.caseSensitive ? !path.startsWith(v) : !startsWithIgnoreCase(path, v)) return false;
        break;
      case PATH_EXACT:
        if (end !== v.length || path === "") return false;
        if (this.caseSensitive ? !path.startsWith(v) : !startsWithIgnoreCase(path, v)) return false;
        break;
      case PATH_REGEX:
        if (path === "") return false;
        if (!(this.regex as RegexMatcher).matches(end === path.length ? path : path.slice(0, end))) return false;
        break;
      case PATH_SEPARATED:
        if (path === "" || end < v.length) return false;
        if (this.caseSensitive ? !path.startsWith(v) : !startsWithIgnoreCase(path, v)) return false;
        if (end !== v.length && path.charCodeAt(v.length) !== 47 /* / */) return false;
        break;
      default:
        if (req.method !== "CONNECT") return false;
    }
    if (this.grpc && (path === "" || !isGrpcContentType(req.header("content-type")))) return false;
    const h = this.headers;
    for (let i = 0; i < h.length; i++) if (!h[i].matches(req)) return false;
    const qp = this.queryParameters;
    for (let i = 0; i < qp.length; i++) if (!qp[i].matches(path, q)) return false;
    if (this.runtimeFraction !== undefined && !fractionFires(this.runtimeFraction, random01)) return false;
    const dm = this.dynamicMetadata;
    for (let i = 0; i < dm.length; i++) if (!dm[i](req.dynamicMetadata)) return false;
    return true;
  }
}

/** A compiled virtual host. */
export class CompiledVirtualHost {
  routes: readonly CompiledRoute[] = EMPTY;
  /** The require_tls redirect route (undefined when requireTls is NONE). */
  sslRedirectRoute: CompiledRoute | undefined;
  /** Does some route match on runtimeFraction (and so need the request's random number)? */
  needsRandom = false;

  /** @internal use RouteTable.compile */
  constructor(
    readonly index: number,
    readonly name: string,
    readonly domains: readonly string[],
    readonly requestHeaders: HeaderMutations | undefined,
    readonly responseHeaders: HeaderMutations | undefined,
    readonly typedPerFilterConfig: Readonly<Record<string, v3.Any>>,
    readonly retryPolicy: RetryPolicy | undefined,
    readonly hedgePolicy: HedgePolicy | undefined,
    readonly requestMirrorPolicies: readonly MirrorPolicy[],
    /** Deprecated VirtualHost.cors (the CORS filter applies it where neither the route nor a per-route config has one). */
    readonly cors: CorsPolicy | undefined,
    readonly requireTls: RequireTls,
    readonly includeRequestAttemptCount: boolean,
    readonly includeAttemptCountInResponse: boolean,
    readonly includeIsTimeoutRetryHeader: boolean,
    readonly perRequestBufferLimitBytes: number | undefined,
    /** VirtualHost.rate_limits, compiled (the rate-limit filters read them). */
    readonly rateLimits: RateLimitPolicy,
    readonly metadata: v3.Metadata | undefined,
  ) {}
}

/** The route-configuration level, as routes see it. */
interface TableLevel {
  readonly mostSpecificHeaderMutationsWins: boolean;
  readonly requestHeaders: HeaderMutations | undefined;
  readonly responseHeaders: HeaderMutations | undefined;
  readonly typedPerFilterConfig: Readonly<Record<string, v3.Any>>;
  readonly requestMirrorPolicies: readonly MirrorPolicy[];
  readonly maxDirectResponseBodySizeBytes: number;
}

const AUTHORITY_CACHE_MAX = 4096;

/** Envoy's getPortStart: index of the ":" before a port, or -1 (IPv6 literals need brackets). */
function portStart(host: string): number {
  const colon = host.lastIndexOf(":");
  if (colon < 0) return -1;
  const v6end = host.lastIndexOf("]");
  return v6end < 0 || v6end < colon ? colon : -1;
}

interface WildcardLevel {
  readonly len: number;
  readonly map: Map<string, CompiledVirtualHost>;
}

/** A compiled RouteConfiguration. */
export class RouteTable implements TableLevel {
  readonly virtualHosts: readonly CompiledVirtualHost[];
  private readonly exact = new Map<string, CompiledVirtualHost>();
  private readonly suffixes: WildcardLevel[] = [];
  private readonly prefixes: WildcardLevel[] = [];
  private defaultVhost: CompiledVirtualHost | undefined;
  private readonly onlyDefault: boolean;
  private readonly cache = new Map<string, CompiledVirtualHost | null>();

  private constructor(
    readonly name: string,
    readonly ignorePortInHostMatching: boolean,
    readonly ignorePathParametersInPathMatching: boolean,
    readonly mostSpecificHeaderMutationsWins: boolean,
    readonly requestHeaders: HeaderMutations | undefined,
    readonly responseHeaders: HeaderMutations | undefined,
    /** Headers the HCM strips from requests that are not internal (lowercase). */
    readonly internalOnlyHeaders: readonly string[],
    readonly typedPerFilterConfig: Readonly<Record<string, v3.Any>>,
    readonly requestMirrorPolicies: readonly MirrorPolicy[],
    readonly maxDirectResponseBodySizeBytes: number,
    readonly validateClusters: boolean | undefined,
    readonly metadata: v3.Metadata | undefined,
    virtualHosts: readonly v3.VirtualHost[],
  ) {
    const vhosts: CompiledVirtualHost[] = [];
    const suffixes = new Map<number, Map<string, CompiledVirtualHost>>();
    const prefixes = new Map<number, Map<string, CompiledVirtualHost>>();
    virtualHosts.forEach((vh, i) => {
      const path = `virtualHosts[${i}]`;
      const v = compileVirtualHost(vh, i, path, this);
      vhosts.push(v);
      v.domains.forEach((raw, j) => {
        const domain = asciiLower(raw);
        const dpath = `${path}.domains[${j}]`;
        if (!domain) throw new XdsConfigError(dpath, "domain must not be empty");
        let dup: boolean;
        if (domain === "*") {
          if (this.defaultVhost) throw new XdsConfigError(dpath, `Only a single wildcard domain is permitted in route ${name}`);
          this.defaultVhost = v;
          dup = false;
        } else if (domain.startsWith("*")) dup = addWildcard(suffixes, domain.slice(1), v);
        else if (domain.endsWith("*")) dup = addWildcard(prefixes, domain.slice(0, -1), v);
        else {
          dup = this.exact.has(domain);
          if (!dup) this.exact.set(domain, v);
        }
        if (dup) {
          throw new XdsConfigError(dpath, `Only unique values for domains are permitted. Duplicate entry of domain ${domain} in route ${name}`);
        }
      });
    });
    this.virtualHosts = vhosts;
    const levels = (m: Map<number, Map<string, CompiledVirtualHost>>): WildcardLevel[] =>
      [...m.entries()].sort((a, b) => b[0] - a[0]).map(([len, map]) => ({ len, map }));
    this.suffixes = levels(suffixes);
    this.prefixes = levels(prefixes);
    this.onlyDefault = this.exact.size === 0 && this.suffixes.length === 0 && this.prefixes.length === 0;
  }

  /** Compiles a decoded RouteConfiguration; throws XdsConfigError with the field path of the problem. */
  static compile(rc: v3.RouteConfiguration): RouteTable {
    if (rc.vhds !== undefined) throw new XdsConfigError("vhds", "VHDS is not supported");
    const maxBody = rc.maxDirectResponseBodySizeBytes;
    return new RouteTable(
      rc.name ?? "",
      rc.ignorePortInHostMatching === true,
      rc.ignorePathParametersInPathMatching === true,
      rc.mostSpecificHeaderMutationsWins === true,
      HeaderMutations.compile(rc.requestHeadersToAdd, rc.requestHeadersToRemove, "requestHeadersToAdd", "requestHeadersToRemove"),
      HeaderMutations.compile(rc.responseHeadersToAdd, rc.responseHeadersToRemove, "responseHeadersToAdd", "responseHeadersToRemove"),
      (rc.internalOnlyHeaders ?? []).map((h) => h.toLowerCase()),
      typedPerFilterConfig(rc.typedPerFilterConfig),
      (rc.requestMirrorPolicies ?? []).map((m, i) => compileMirrorPolicy(m, `requestMirrorPolicies[${i}]`)),
      // A wrapper decoded from `{ value: 0 }` is `{}`: present means its value, 0 when unset.
      maxBody ? (maxBody.value ?? 0) : 4096,
      rc.validateClusters ? rc.validateClusters.value === true : undefined,
      rc.metadata,
      rc.virtualHosts ?? [],
    );
  }

  /** The virtual host for an authority (Envoy's findVirtualHost), or undefined. */
  virtualHost(authority: string): CompiledVirtualHost | undefined {
    if (this.onlyDefault) return this.defaultVhost;
    if (!authority) return undefined;
    const cached = this.cache.get(authority);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.findVirtualHost(authority);
    if (this.cache.size >= AUTHORITY_CACHE_MAX) this.cache.clear();
    this.cache.set(authority, found ?? null);
    return found;
  }

  private findVirtualHost(authority: string): CompiledVirtualHost | undefined {
    let host = authority;
    if (this.ignorePortInHostMatching) {
      const ps = portStart(host);
      if (ps >= 0) host = host.slice(0, ps);
    }
    host = asciiLower(host);
    const exact = this.exact.get(host);
    if (exact) return exact;
    for (const { len, map } of this.suffixes) {
      if (len >= host.length) continue;
      const v = map.get(host.slice(host.length - len));
      if (v) return v;
    }
    for (const { len, map } of this.prefixes) {
      if (len >= host.length) continue;
      const v = map.get(host.slice(0, len));
      if (v) return v;
    }
    return this.defaultVhost;
  }

  /**
   * The route for a request: virtual host by authority, then the first matching route (or the
   * require_tls redirect). `random01` is the request's random number in [0, 1) for runtimeFraction
   * matches (drawn lazily when omitted).
   */
  match(req: RequestView, random01?: number): RouteMatch | undefined {
    const vh = this.virtualHost(req.authority);
    if (vh === undefined) return undefined;
    if (vh.sslRedirectRoute !== undefined) {
      const proto = req.header("x-forwarded-proto") ?? req.scheme ?? req.header(":scheme");
      if (proto !== "https" && (vh.requireTls === "ALL" || req.header("x-envoy-internal") !== "true")) return vh.sslRedirectRoute.result;
    }
    const routes = vh.routes;
    if (routes.length === 0) return undefined;
    const path = req.path;
    let q = path.indexOf("?");
    let end = q < 0 ? path.length : q;
    const hash = path.indexOf("#");
    if (hash >= 0 && hash < end) end = hash;
    if (hash >= 0 && q > hash) q = -1;
    if (this.ignorePathParametersInPathMatching) {
      const semi = path.indexOf(";");
      if (semi >= 0 && semi < end) end = semi;
    }
    // One random number per request, shared by every runtimeFraction (as Envoy's stream random).
    const rnd = random01 ?? (vh.needsRandom ? Math.random() : 0);
    for (let i = 0; i < routes.length; i++) {
      if (routes[i].matches(req, path, end, q, rnd)) return routes[i].result;
    }
    return undefined;
  }
}

function addWildcard(levels: Map<number, Map<string, CompiledVirtualHost>>, key: string, v: CompiledVirtualHost): boolean {
  let m = levels.get(key.length);
  if (!m) levels.set(key.length, (m = new Map()));
  if (m.has(key)) return true;
  m.set(key, v);
  return false;
}

function compileVirtualHost(vh: v3.VirtualHost, index: number, path: string, table: TableLevel): CompiledVirtualHost {
  const name = vh.name ?? "";
  if (!name) throw new XdsConfigError(`${path}.name`, "virtual host name must not be empty");
  const domains = vh.domains ?? [];
  if (domains.length === 0) throw new XdsConfigError(`${path}.domains`, "a virtual host needs at least one domain");
  if (vh.matcher !== undefined) throw new XdsConfigError(`${path}.matcher`, "the generic matcher API is not supported; use routes");
  const mirrors = (vh.requestMirrorPolicies ?? []).map((m, i) => compileMirrorPolicy(m, `${path}.requestMirrorPolicies[${i}]`));
  const v = new CompiledVirtualHost(
    index,
    name,
    domains,
    HeaderMutations.compile(vh.requestHeadersToAdd, vh.requestHeadersToRemove, `${path}.requestHeadersToAdd`, `${path}.requestHeadersToRemove`),
    HeaderMutations.compile(vh.responseHeadersToAdd, vh.responseHeadersToRemove, `${path}.responseHeadersToAdd`, `${path}.responseHeadersToRemove`),
    typedPerFilterConfig(vh.typedPerFilterConfig),
    vh.retryPolicy ? compileRetryPolicy(vh.retryPolicy, `${path}.retryPolicy`) : undefined,
    vh.hedgePolicy ? compileHedgePolicy(vh.hedgePolicy, `${path}.hedgePolicy`) : undefined,
    mirrors.length > 0 ? mirrors : table.requestMirrorPolicies,
    vh.cors ? corsPolicy(vh.cors, `${path}.cors`) : undefined,
    enumValue(REQUIRE_TLS, vh.requireTls, "NONE", `${path}.requireTls`),
    vh.includeRequestAttemptCount === true,
    vh.includeAttemptCountInResponse === true,
    vh.includeIsTimeoutRetryHeader === true,
    vh.perRequestBufferLimitBytes ? (vh.perRequestBufferLimitBytes.value ?? 0) : undefined,
    compileRateLimits(vh.rateLimits, `${path}.rateLimits`),
    vh.metadata,
  );
  v.routes = (vh.routes ?? []).map((r, i) => compileRoute(r, i, `${path}.routes[${i}]`, v, table));
  v.needsRandom = v.routes.some((r) => r.match.runtimeFraction !== undefined);
  if (v.requireTls !== "NONE") {
    const redirect: RedirectActionConfig = {
      kind: "redirect",
      schemeRedirect: undefined,
      httpsRedirect: true,
      hostRedirect: undefined,
      portRedirect: undefined,
      pathRedirect: undefined,
      prefixRewrite: undefined,
      regexRewrite: undefined,
      responseCode: 301,
      stripQuery: false,
      matchedPrefix: undefined,
      sslRedirect: true,
    };
    v.sslRedirectRoute = new CompiledRoute(v, -1, "", redirect, PATH_PREFIX, "", true, undefined, false, EMPTY, EMPTY, undefined, EMPTY, undefined, undefined, NO_CONFIGS, undefined, undefined, undefined, table);
  }
  return v;
}

function compileRoute(r: v3.Route, index: number, path: string, vhost: CompiledVirtualHost, table: TableLevel): CompiledRoute {
  const mpath = `${path}.match`;
  const m = r.match;
  if (!m) throw new XdsConfigError(mpath, "match is required");
  const caseSensitive = m.caseSensitive ? m.caseSensitive.value === true : true;
  let pathKind: number;
  let pathValue = "";
  let regex: RegexMatcher | undefined;
  const sep = m.pathSeparatedPrefix;
  if (m.prefix !== undefined) {
    pathKind = PATH_PREFIX;
    pathValue = m.prefix;
  } else if (m.path !== undefined) {
    pathKind = PATH_EXACT;
    pathValue = m.path;
  } else if (m.safeRegex) {
    pathKind = PATH_REGEX;
    regex = compileRegexMatcher(m.safeRegex, `${mpath}.safeRegex`);
  } else if (sep !== undefined) {
    if (!/^[^?#]+[^?#/]$/.test(sep)) throw new XdsConfigError(`${mpath}.pathSeparatedPrefix`, `invalid path_separated_prefix ${JSON.stringify(sep)}`);
    pathKind = PATH_SEPARATED;
    pathValue = sep;
  } else if (m.connectMatcher !== undefined) {
    pathKind = PATH_CONNECT;
  } else if (m.pathMatchPolicy !== undefined) {
    throw new XdsConfigError(`${mpath}.pathMatchPolicy`, "path match policies (URI templates) are not supported");
  } else {
    throw new XdsConfigError(mpath, "route match needs one of prefix, path, safeRegex, pathSeparatedPrefix or connectMatcher");
  }
  if (!caseSensitive && pathKind !== PATH_REGEX) pathValue = asciiLower(pathValue);
  const dynamicMetadata = m.dynamicMetadata?.length ? m.dynamicMetadata.map((d, i) => compileMetadataMatcher(d, `${mpath}.dynamicMetadata[${i}]`)) : EMPTY;
  if (m.tlsContext !== undefined) throw new XdsConfigError(`${mpath}.tlsContext`, "TLS context matchers are not supported");
  const headers = (m.headers ?? []).map((h, i) => HeaderMatcher.compile(h, `${mpath}.headers[${i}]`));
  const queryParameters = (m.queryParameters ?? []).map((q, i) => QueryParameterMatcher.compile(q, `${mpath}.queryParameters[${i}]`));
  const runtimeFraction = m.runtimeFraction ? runtimeDefault(m.runtimeFraction, `${mpath}.runtimeFraction`) : undefined;
  const grpc = m.grpc !== undefined;

  const routeHeaders = HeaderMutations.compile(r.requestHeadersToAdd, r.requestHeadersToRemove, `${path}.requestHeadersToAdd`, `${path}.requestHeadersToRemove`);
  const responseHeaders = HeaderMutations.compile(r.responseHeadersToAdd, r.responseHeadersToRemove, `${path}.responseHeadersToAdd`, `${path}.responseHeadersToRemove`);
  const perFilter = typedPerFilterConfig(r.typedPerFilterConfig);
  const matchedPrefix = pathKind === PATH_REGEX || pathKind === PATH_CONNECT ? undefined : pathValue;

  let action: RouteAction;
  if (r.route) {
    const limit = r.perRequestBufferLimitBytes ? (r.perRequestBufferLimitBytes.value ?? 0) : undefined;
    action = compileRouteAction(r.route, `${path}.route`, vhost, limit);
  } else if (r.redirect) action = compileRedirect(r.redirect, `${path}.redirect`, matchedPrefix);
  else if (r.directResponse) action = compileDirectResponse(r.directResponse, `${path}.directResponse`, table.maxDirectResponseBodySizeBytes);
  else if (r.filterAction !== undefined || r.nonForwardingAction !== undefined) {
    throw new XdsConfigError(path, "filterAction and nonForwardingAction routes are not supported");
  } else throw new XdsConfigError(path, "route has no action: one of route, redirect or directResponse is required");

  const dec = r.decorator;
  const decorator = dec ? { operation: dec.operation ?? "", propagate: dec.propagate ? dec.propagate.value === true : true } : undefined;
  const route = new CompiledRoute(
    vhost,
    index,
    r.name ?? "",
    action,
    pathKind,
    pathValue,
    caseSensitive,
    regex,
    grpc,
    headers,
    queryParameters,
    runtimeFraction,
    dynamicMetadata,
    routeHeaders,
    responseHeaders,
    perFilter,
    decorator,
    r.metadata,
    r.statPrefix || undefined,
    table,
  );
  if (action.kind === "route" && action.weightedClusters) finishWeightedClusters(action.weightedClusters, route);
  return route;
}

/**
 * A RouteMatch on its own (jwt_authn's RequirementRule.match): compiled and matched by the route
 * table's own code, as one route of a table with a single catch-all virtual host.
 */
export function compileRouteMatcher(m: v3.RouteMatch, path: string): (req: RequestView) => boolean {
  let table: RouteTable;
  try {
    table = RouteTable.compile({ virtualHosts: [{ name: "match", domains: ["*"], routes: [{ match: m, directResponse: { status: 200 } }] }] });
  } catch (e) {
    if (e instanceof XdsConfigError) throw new XdsConfigError(e.path.replace(/^virtualHosts\[0\]\.routes\[0\]\.match/, path), e.detail);
    throw e;
  }
  return (req) => table.match(req) !== undefined;
}
