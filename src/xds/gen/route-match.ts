// VirtualService HTTP matches → Envoy `RouteMatch` (Istio's TranslateRouteMatch and its string,
// header and query-parameter matchers; `@request.auth.claims…` keys become dynamic metadata matchers
// on jwt_authn's verified payload, which validation allows only on gateways), plus the match-level questions the route generator asks:
// does a match apply to this proxy or gateway (sourceMatches), is a route a catch-all.
import { resolveGatewayName } from "../../api/hosts.js";
import type { HTTPMatchRequest, StringMatch } from "../../api/resource.js";
import type { HeaderMatcher, QueryParameterMatcher, Route, RouteMatch, StringMatcher } from "../../envoy/types.js";
import type { Proxy } from "../../model/proxy.js";
import { labelsMatch } from "../../registry/model.js";
import { jwtClaimsMatcher } from "./authz/matchers.js";
import { routingClaim } from "./jwt-claims.js";
import { byName } from "./names.js";

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

/**
 * The first claim key of a match Envoy could not take: Istio converts a claim match without exact,
 * prefix or regex into a metadata matcher with no value, which Envoy rejects; tsmesh leaves such a
 * route out and says so.
 */
export function claimMatchProblem(m: HTTPMatchRequest | undefined): string | undefined {
  for (const field of [m?.headers, m?.withoutHeaders]) {
    for (const [name, sm] of Object.entries(field ?? {})) if (routingClaim(name) && !stringMatcher(sm)) return name;
  }
  return undefined;
}

/**
 * Istio's TranslateRouteMatch: uri → path/prefix/safeRegex (default prefix "/"), caseSensitive,
 * headers and withoutHeaders (inverted) sorted by name, then :method, :authority, :scheme, then
 * query parameters (sorted by name). With `gatewaySemantics` (a VirtualService converted from the
 * Gateway API) a prefix other than "/" matches whole path segments, as the Gateway API says.
 */
export function translateRouteMatch(m: HTTPMatchRequest | undefined, gatewaySemantics = false): RouteMatch {
  if (!m) return { prefix: "/" };
  const out: RouteMatch = {};
  const uri = m.uri;
  if (uri?.exact !== undefined) out.path = uri.exact;
  else if (uri?.prefix !== undefined && gatewaySemantics && uri.prefix !== "/") out.pathSeparatedPrefix = uri.prefix.replace(/\/$/, "");
  else if (uri?.prefix !== undefined) out.prefix = uri.prefix;
  else if (uri?.regex !== undefined) out.safeRegex = { regex: uri.regex };
  else out.prefix = "/";
  out.caseSensitive = { value: !m.ignoreUriCase };

  const headers: HeaderMatcher[] = [];
  // Claim keys (Istio's translateMetadataMatch wins over a header match), by name for a stable order.
  const claims: Array<[string, NonNullable<RouteMatch["dynamicMetadata"]>[number]]> = [];
  for (const [name, sm] of Object.entries(m.headers ?? {})) {
    const claim = routingClaim(name);
    const value = claim && stringMatcher(sm);
    if (claim && value) claims.push([name, jwtClaimsMatcher(claim, { stringMatch: value })]);
    else headers.push(headerMatcher(name, sm));
  }
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) {
    const claim = routingClaim(name);
    const value = claim && stringMatcher(sm);
    if (claim && value) {
      claims.push([name, { ...jwtClaimsMatcher(claim, { stringMatch: value }), invert: true }]);
      continue;
    }
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
  if (claims.length > 0) out.dynamicMetadata = claims.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, mm]) => mm);

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
