// Envoy matchers as Istio's authz builder writes them (pilot/pkg/security/authz/matcher and
// model/util.go): `*` wildcards become presence, prefix or suffix matches, hosts compare ignoring
// case, path templates (`{*}`, `{**}`) become uri_template configs, JWT claims are looked up under
// jwt_authn's `payload` metadata.
import type { envoy } from "../../../envoy/types.js";
import { JWT_AUTHN_FILTER, JWT_PAYLOAD_KEY } from "../jwt-claims.js";

export type StringMatcher = envoy.type.matcher.v3.StringMatcher;
export type ValueMatcher = envoy.type.matcher.v3.ValueMatcher;
export type MetadataMatcher = envoy.type.matcher.v3.MetadataMatcher;
export type HeaderMatcher = envoy.config.route.v3.HeaderMatcher;

export { JWT_AUTHN_FILTER, JWT_PAYLOAD_KEY } from "../jwt-claims.js";

/** Go's regexp.QuoteMeta. */
export function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, "\\$&");
}

export function regexMatcher(regex: string): StringMatcher {
  return { safeRegex: { regex } };
}

export function exactMatcher(exact: string, ignoreCase = false): StringMatcher {
  return ignoreCase ? { exact, ignoreCase } : { exact };
}

export function prefixMatcher(prefix: string, ignoreCase = false): StringMatcher {
  return ignoreCase ? { prefix, ignoreCase } : { prefix };
}

export function suffixMatcher(suffix: string, ignoreCase = false): StringMatcher {
  return ignoreCase ? { suffix, ignoreCase } : { suffix };
}

/**
 * Istio's StringMatcherWithPrefix: `*` is "anything non-empty", `*x` a suffix, `x*` a prefix, else
 * exact; with a prefix, a suffix match becomes a regex so the prefix still applies.
 */
export function stringMatcher(v: string, prefix = ""): StringMatcher {
  if (v === "*") return regexMatcher(".+");
  if (v.startsWith("*")) return prefix === "" ? suffixMatcher(v.slice(1)) : regexMatcher(`${prefix}.*${quoteMeta(v.slice(1))}`);
  if (v.endsWith("*")) return prefixMatcher(prefix + v.slice(0, -1));
  return exactMatcher(prefix + v);
}

/** Istio's OrMatcher: one matcher alone, several under or_match. */
export function orValueMatcher(matchers: ValueMatcher[]): ValueMatcher {
  return matchers.length === 1 ? matchers[0] : { orMatch: { valueMatchers: matchers } };
}

export function stringOrMatcher(values: readonly string[]): ValueMatcher {
  return orValueMatcher(values.map((v) => ({ stringMatch: stringMatcher(v) })));
}

function wildcardHeader(name: string, v: string, ignoreCase: boolean): HeaderMatcher {
  // "*" first: an empty prefix or suffix is invalid in a HeaderMatcher.
  if (v === "*") return { name, presentMatch: true };
  if (v.startsWith("*")) return { name, stringMatch: suffixMatcher(v.slice(1), ignoreCase) };
  if (v.endsWith("*")) return { name, stringMatch: prefixMatcher(v.slice(0, -1), ignoreCase) };
  return { name, stringMatch: exactMatcher(v, ignoreCase) };
}

export function headerMatcher(name: string, v: string): HeaderMatcher {
  return wildcardHeader(name, v, false);
}

/** Hosts compare ignoring case (Istio's HostMatcher). */
export function hostMatcher(name: string, v: string): HeaderMatcher {
  return wildcardHeader(name, v, true);
}

export function metadataValueMatcher(filter: string, key: string, value: ValueMatcher): MetadataMatcher {
  return { filter, path: [{ key }], value };
}

/**
 * Istio's MetadataListValueMatcher: the value at `keys` under `filter` is a list one of whose items
 * matches, or (useExtendedJwt, as Istio always passes for claims) a scalar that matches itself.
 */
export function metadataListValueMatcher(filter: string, keys: readonly string[], value: ValueMatcher, useExtendedJwt: boolean): MetadataMatcher {
  const listMatch = { oneOf: value };
  return {
    filter,
    path: keys.map((key) => ({ key })),
    value: useExtendedJwt ? { orMatch: { valueMatchers: [{ listMatch }, value] } } : { listMatch },
  };
}

/** A string claim of the JWT payload (iss, sub). */
export function jwtClaimStringMatcher(claim: string, m: StringMatcher): MetadataMatcher {
  return { filter: JWT_AUTHN_FILTER, path: [{ key: JWT_PAYLOAD_KEY }, { key: claim }], value: { stringMatch: m } };
}

/** A (possibly nested) claim that is a string or a list of strings. */
export function jwtClaimsMatcher(claims: readonly string[], value: ValueMatcher): MetadataMatcher {
  return metadataListValueMatcher(JWT_AUTHN_FILTER, [JWT_PAYLOAD_KEY, ...claims], value, true);
}

export const MATCH_ONE_TEMPLATE = "{*}";
export const MATCH_ANY_TEMPLATE = "{**}";

export function containsPathTemplate(v: string): boolean {
  return v.includes(MATCH_ONE_TEMPLATE) || v.includes(MATCH_ANY_TEMPLATE);
}

/** `{*}` → `*`, `{**}` → `**` (Envoy's uri_template syntax). */
export function pathTemplate(v: string): string {
  return v.replaceAll(MATCH_ANY_TEMPLATE, "**").replaceAll(MATCH_ONE_TEMPLATE, "*");
}
