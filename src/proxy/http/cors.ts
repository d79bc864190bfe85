// Envoy's CORS filter with a route's CorsPolicy (Istio's corsPolicy): a preflight (OPTIONS with
// Origin and Access-Control-Request-Method) from an allowed origin is answered by the proxy with
// the access-control-* headers; an actual request from an allowed origin is forwarded and its
// response gets access-control-allow-origin (+ credentials, expose headers). Requests without
// Origin, or from origins the policy does not allow, pass through untouched (a non-matching
// preflight is forwarded when forwardNotMatchingPreflights says so, as Istio sets by default).
import type * as http from "node:http";
import type { ProtoObject } from "../../envoy/protos.js";
import { fraction } from "./fault.js";
import { StringMatcher } from "./matchers/matchers.js";

export const CORS_FILTER = "envoy.filters.http.cors";

export interface CorsPolicy {
  origins: StringMatcher[];
  allowMethods?: string;
  allowHeaders?: string;
  exposeHeaders?: string;
  maxAge?: string;
  allowCredentials: boolean;
  enabledFraction: number;
  forwardNotMatchingPreflights: boolean;
}

const compiled = new WeakMap<ProtoObject, CorsPolicy>();

/** Compiles (once per decoded object) a CorsPolicy from typed_per_filter_config. */
export function corsPolicy(o: ProtoObject): CorsPolicy {
  let p = compiled.get(o);
  if (!p) {
    const list = Array.isArray(o.allowOriginStringMatch) ? (o.allowOriginStringMatch as ProtoObject[]) : [];
    const str = (k: string) => (typeof o[k] === "string" && o[k] !== "" ? (o[k] as string) : undefined);
    const fe = o.filterEnabled as ProtoObject | undefined;
    p = {
      origins: list.map((m, i) => StringMatcher.compile(m, `${CORS_FILTER}.allowOriginStringMatch[${i}]`)),
      allowMethods: str("allowMethods"),
      allowHeaders: str("allowHeaders"),
      exposeHeaders: str("exposeHeaders"),
      maxAge: str("maxAge"),
      allowCredentials: (o.allowCredentials as ProtoObject | undefined)?.value === true,
      enabledFraction: fe ? fraction(fe.defaultValue) : 1,
      forwardNotMatchingPreflights: (o.forwardNotMatchingPreflights as ProtoObject | undefined)?.value !== false,
    };
    compiled.set(o, p);
  }
  return p;
}

const one = (h: http.OutgoingHttpHeaders, k: string): string | undefined => {
  const v = h[k];
  return Array.isArray(v) ? v[0] : v === undefined ? undefined : String(v);
};

export type CorsDecision =
  | { kind: "pass" }
  /** Answer the preflight here with these headers (status 200, no body). */
  | { kind: "preflight"; headers: http.OutgoingHttpHeaders }
  /** Forward; add these headers to the response. */
  | { kind: "actual"; responseHeaders: http.OutgoingHttpHeaders };

export function corsDecision(policy: CorsPolicy, method: string, headers: http.OutgoingHttpHeaders): CorsDecision {
  const origin = one(headers, "origin");
  if (!origin || Math.random() >= policy.enabledFraction) return { kind: "pass" };
  const allowed = policy.origins.some((m) => m.match(origin));
  const preflight = method === "OPTIONS" && one(headers, "access-control-request-method") !== undefined;
  if (!allowed) return preflight && !policy.forwardNotMatchingPreflights ? { kind: "preflight", headers: {} } : { kind: "pass" };
  if (preflight) {
    const h: http.OutgoingHttpHeaders = { "access-control-allow-origin": origin };
    if (policy.allowCredentials) h["access-control-allow-credentials"] = "true";
    if (policy.allowMethods) h["access-control-allow-methods"] = policy.allowMethods;
    if (policy.allowHeaders) h["access-control-allow-headers"] = policy.allowHeaders;
    if (policy.maxAge) h["access-control-max-age"] = policy.maxAge;
    return { kind: "preflight", headers: h };
  }
  const r: http.OutgoingHttpHeaders = { "access-control-allow-origin": origin };
  if (policy.allowCredentials) r["access-control-allow-credentials"] = "true";
  if (policy.exposeHeaders) r["access-control-expose-headers"] = policy.exposeHeaders;
  return { kind: "actual", responseHeaders: r };
}
