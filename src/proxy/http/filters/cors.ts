// Envoy's CORS filter (envoy.filters.http.cors) with the route's CorsPolicy (Istio's corsPolicy):
// typed_per_filter_config on the weighted cluster, route, virtual host or route configuration, else
// the deprecated `cors` field of the route action or virtual host. A preflight (OPTIONS with Origin
// and Access-Control-Request-Method) from an allowed origin is answered here with the
// access-control-* headers; an actual request from an allowed origin is forwarded and its response
// gets access-control-allow-origin (+ credentials, expose headers). Requests without Origin, or
// from origins the policy does not allow, pass untouched (a non-matching preflight is forwarded
// when forwardNotMatchingPreflights says so, as Istio sets by default). Stats:
// http.<prefix>.cors.{origin_valid,origin_invalid}.
import type * as http from "node:http";
import type * as v3 from "../../../envoy/types.js";
import type { Counter } from "../../stats.js";
import { type CorsPolicy, corsPolicy } from "../cors-policy.js";
import { type FilterCallbacks, FilterStatus, type HttpFilter, registerHttpFilter } from "../filter.js";

export const CORS_TYPE = "envoy.extensions.filters.http.cors.v3.Cors";
const CORS_POLICY_TYPE = "envoy.extensions.filters.http.cors.v3.CorsPolicy";

const one = (h: http.OutgoingHttpHeaders, k: string): string | undefined => {
  const v = h[k];
  return Array.isArray(v) ? v[0] : v === undefined ? undefined : String(v);
};

class CorsFilter implements HttpFilter {
  /** Set for an actual CORS request from an allowed origin: the response gets these headers. */
  encodeHeaders?: (status: number, headers: http.OutgoingHttpHeaders) => FilterStatus;

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly valid: Counter,
    private readonly invalid: Counter,
  ) {}

  private policy(): CorsPolicy | undefined {
    const per = this.cb.perRouteConfig<CorsPolicy>();
    if (per !== undefined) return per;
    const r = this.cb.route()?.route;
    if (r === undefined) return undefined;
    // The deprecated route / virtual host policy, compiled with the route configuration.
    return (r.action.kind === "route" ? r.action.cors : undefined) ?? r.vhost.cors;
  }

  decodeHeaders(headers: http.OutgoingHttpHeaders): FilterStatus {
    const origin = one(headers, "origin");
    if (!origin) return FilterStatus.Continue;
    const policy = this.policy();
    if (policy === undefined || Math.random() >= policy.enabledFraction) return FilterStatus.Continue;
    const allowed = policy.origins.some((m) => m.match(origin));
    (allowed ? this.valid : this.invalid).inc();
    const preflight = this.cb.request.method === "OPTIONS" && one(headers, "access-control-request-method") !== undefined;
    if (!allowed) {
      if (!preflight || policy.forwardNotMatchingPreflights) return FilterStatus.Continue;
      this.cb.sendLocalReply({ status: 200, body: "", details: "cors_response" });
      return FilterStatus.StopIteration;
    }
    if (preflight) {
      const h: http.OutgoingHttpHeaders = { "access-control-allow-origin": origin };
      if (policy.allowCredentials) h["access-control-allow-credentials"] = "true";
      if (policy.allowMethods) h["access-control-allow-methods"] = policy.allowMethods;
      if (policy.allowHeaders) h["access-control-allow-headers"] = policy.allowHeaders;
      if (policy.maxAge) h["access-control-max-age"] = policy.maxAge;
      this.cb.sendLocalReply({ status: 200, body: "", details: "cors_response" }, h);
      return FilterStatus.StopIteration;
    }
    this.encodeHeaders = (_status, h) => {
      h["access-control-allow-origin"] = origin;
      if (policy.allowCredentials) h["access-control-allow-credentials"] = "true";
      if (policy.exposeHeaders) h["access-control-expose-headers"] = policy.exposeHeaders;
      return FilterStatus.Continue;
    };
    return FilterStatus.Continue;
  }
}

registerHttpFilter([CORS_TYPE], {
  terminal: false,
  create(_config: v3.Cors, ctx) {
    const s = ctx.stats.scope("cors");
    const valid = s.counter("origin_valid");
    const invalid = s.counter("origin_invalid");
    return { create: (cb) => new CorsFilter(cb, valid, invalid) };
  },
  perRoute: { types: [CORS_POLICY_TYPE], compile: (c: v3.CorsPolicy, path) => corsPolicy(c, path) },
});
