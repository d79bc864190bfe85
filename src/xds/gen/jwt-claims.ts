// The jwt_authn filter's names as Istio uses them (pilot/pkg/xds/filters, pkg/jwt/routing.go) and
// matchers on the verified payload it leaves in dynamic metadata: `@request.auth.claims…` route
// matches (Istio's translateMetadataMatch) and, for authorization, claim conditions
// (authz/model MetadataMatcherForJWTClaims).
import type { envoy, StringMatcher } from "../../envoy/types.js";

type MetadataMatcher = envoy.type.matcher.v3.MetadataMatcher;

/** Istio's EnvoyJwtFilterName. */
export const JWT_AUTHN_FILTER = "envoy.filters.http.jwt_authn";
/** Istio's EnvoyJwtFilterPayload: the dynamic metadata key the payload goes under. */
export const JWT_PAYLOAD_KEY = "payload";
/** Istio's HeaderJWTClaim: the pseudo-header prefix VirtualService matches route on claims with. */
export const HEADER_JWT_CLAIM = "@request.auth.claims";

/**
 * Istio's ToRoutingClaim: the claim path of `@request.auth.claims.a.b` or `@request.auth.claims[a][b]`
 * (prefix compared case-insensitively), undefined for any other name.
 */
export function routingClaim(headerName: string): string[] | undefined {
  if (!headerName.toLowerCase().startsWith(HEADER_JWT_CLAIM)) return undefined;
  const rest = headerName.slice(HEADER_JWT_CLAIM.length);
  if (rest.startsWith(".") && rest.length > 1) return rest.slice(1).split(".");
  if (rest.startsWith("[") && rest.endsWith("]") && rest.length > 2) return rest.slice(1, -1).split("][");
  return undefined;
}

/**
 * Istio's MetadataMatcherForJWTClaims (the extended form): under jwt_authn's `payload`, the claim at
 * `claims` is a string matching `value`, or a list with one such string.
 */
export function jwtClaimMetadataMatcher(claims: readonly string[], value: StringMatcher): MetadataMatcher {
  return {
    filter: JWT_AUTHN_FILTER,
    path: [JWT_PAYLOAD_KEY, ...claims].map((key) => ({ key })),
    value: { orMatch: { valueMatchers: [{ listMatch: { oneOf: { stringMatch: value } } }, { stringMatch: value }] } },
  };
}
