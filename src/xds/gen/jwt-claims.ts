// The jwt_authn filter's names as Istio uses them (pilot/pkg/xds/filters, pkg/jwt/routing.go) and
// the claim path of a VirtualService's `@request.auth.claims…` match; the matchers on the verified
// payload are authz/matchers.ts' jwtClaimsMatcher (Istio's MetadataMatcherForJWTClaims).

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
