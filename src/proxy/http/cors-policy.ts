// Envoy's CorsPolicy compiled once, when its route configuration or filter config arrives: the CORS
// filter's per-route config (envoy.extensions.filters.http.cors.v3.CorsPolicy) and the deprecated
// `cors` of a virtual host or route action (envoy.config.route.v3.CorsPolicy, the same fields in
// another package). A bad origin matcher is refused with its field path before the config is ACKed.
import type * as v3 from "../../envoy/types.js";
import { XdsConfigError } from "../xds-error.js";
import { StringMatcher } from "./matchers/matchers.js";
import { probability } from "./route-policies.js";

export interface CorsPolicy {
  readonly origins: readonly StringMatcher[];
  readonly allowMethods: string | undefined;
  readonly allowHeaders: string | undefined;
  readonly exposeHeaders: string | undefined;
  readonly maxAge: string | undefined;
  readonly allowCredentials: boolean;
  /** filter_enabled's default value as a probability (1 when unset). */
  readonly enabledFraction: number;
  readonly forwardNotMatchingPreflights: boolean;
}

/** Compiles a CorsPolicy (either package's: their fields are the same). */
export function corsPolicy(o: v3.CorsPolicy | v3.RouteCorsPolicy, path: string): CorsPolicy {
  // Not implemented: refused rather than ignored (shadow mode's stats, Private Network Access answers).
  if (o.shadowEnabled !== undefined) throw new XdsConfigError(`${path}.shadowEnabled`, "CORS shadow mode is not implemented by tsmesh");
  if (o.allowPrivateNetworkAccess?.value === true) throw new XdsConfigError(`${path}.allowPrivateNetworkAccess`, "Private Network Access is not implemented by tsmesh");
  const fe = o.filterEnabled;
  return {
    origins: (o.allowOriginStringMatch ?? []).map((m, i) => StringMatcher.compile(m, `${path}.allowOriginStringMatch[${i}]`)),
    allowMethods: o.allowMethods || undefined,
    allowHeaders: o.allowHeaders || undefined,
    exposeHeaders: o.exposeHeaders || undefined,
    maxAge: o.maxAge || undefined,
    allowCredentials: o.allowCredentials?.value === true,
    enabledFraction: fe?.defaultValue ? probability(fe.defaultValue, `${path}.filterEnabled.defaultValue`) : 1,
    forwardNotMatchingPreflights: o.forwardNotMatchingPreflights?.value !== false,
  };
}
