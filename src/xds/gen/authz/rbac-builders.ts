// Small constructors for Envoy RBAC permissions and principals (Istio's authz model permission.go,
// principal.go) and Istio's address parsing for ipBlocks / destination.ip.
import { isIPv4, isIPv6 } from "node:net";
import { anyOf } from "../../../envoy/protos.js";
import type { envoy } from "../../../envoy/types.js";
import type { HeaderMatcher, MetadataMatcher, StringMatcher } from "./matchers.js";

export type Permission = envoy.config.rbac.v3.Permission;
export type Principal = envoy.config.rbac.v3.Principal;
export type RbacPolicy = envoy.config.rbac.v3.Policy;
export type CidrRange = envoy.config.core.v3.CidrRange;

/** A rule the builder cannot generate (unknown attribute, HTTP-only on TCP, bad value). */
export class AuthzRuleError extends Error {}

export const permissionAny = (): Permission => ({ any: true });
export const permissionAnd = (rules: Permission[]): Permission => ({ andRules: { rules } });
export const permissionOr = (rules: Permission[]): Permission => ({ orRules: { rules } });
export const permissionNot = (p: Permission): Permission => ({ notRule: p });
export const permissionHeader = (header: HeaderMatcher): Permission => ({ header });
export const permissionMetadata = (metadata: MetadataMatcher): Permission => ({ metadata });

export function permissionPath(path: StringMatcher): Permission {
  return { urlPath: { path } };
}

/** Istio's permissionPathTemplate: an RBAC uri_template matcher named "uri-template". */
export function permissionPathTemplate(pathTemplate: string): Permission {
  return { uriTemplate: { name: "uri-template", typedConfig: anyOf("envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig", { pathTemplate }) } };
}

export const principalAny = (): Principal => ({ any: true });
export const principalAnd = (ids: Principal[]): Principal => ({ andIds: { ids } });
export const principalOr = (ids: Principal[]): Principal => ({ orIds: { ids } });
export const principalNot = (p: Principal): Principal => ({ notId: p });
export const principalMetadata = (metadata: MetadataMatcher): Principal => ({ metadata });
export const principalHeader = (header: HeaderMatcher): Principal => ({ header });

/**
 * The peer identity: `authenticated.principal_name` (the mTLS peer certificate's URI SAN), or with
 * useAuthenticated off the `io.istio.peer_principal` filter state (Istio's ambient form).
 */
export function principalAuthenticated(name: StringMatcher, useAuthenticated: boolean): Principal {
  return useAuthenticated ? { authenticated: { principalName: name } } : { filterState: { key: "io.istio.peer_principal", stringMatch: name } };
}

/** An explicit policy that never matches (a policy without rules). */
export function policyMatchNever(): RbacPolicy {
  return { permissions: [{ notRule: { any: true } }], principals: [{ notId: { any: true } }] };
}

/** Istio's AddrStrToCidrRange: `ADDR` (a /32 or /128) or `ADDR/LEN`. */
export function cidrRangeOf(value: string): CidrRange {
  const slash = value.indexOf("/");
  const addr = slash < 0 ? value : value.slice(0, slash);
  const v4 = isIPv4(addr);
  if (!v4 && !isIPv6(addr)) throw new AuthzRuleError(`invalid IP address or CIDR ${JSON.stringify(value)}`);
  const max = v4 ? 32 : 128;
  if (slash < 0) return { addressPrefix: addr, prefixLen: { value: max } };
  const lenText = value.slice(slash + 1);
  const len = /^\d{1,3}$/.test(lenText) ? Number(lenText) : NaN;
  if (!(len >= 0 && len <= max)) throw new AuthzRuleError(`invalid CIDR ${JSON.stringify(value)}: prefix length must be 0-${max}`);
  // A zero wrapper is an empty message (writing `value: 0` would not survive a round trip).
  return { addressPrefix: addr, prefixLen: len === 0 ? {} : { value: len } };
}
