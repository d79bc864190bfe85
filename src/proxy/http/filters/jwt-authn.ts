// Envoy's JWT authentication filter (envoy.filters.http.jwt_authn, JwtAuthentication; Istio's
// RequestAuthentication): the requirement of the request — a per-route PerRouteConfig
// (requirement_name from requirement_map, or disabled), else the first RequirementRule whose route
// match matches — is verified (jwt-verifier.ts); on success the verified payloads go to dynamic
// metadata under `envoy.filters.http.jwt_authn` (and the route is matched again when a provider
// asks, clear_route_cache, so routes can match on them), on failure the request is answered 401
// with jwt_verify_lib's message (403 for audiences), `www-authenticate: Bearer realm="URI"` (with
// `error="invalid_token"` unless the token is missing) and details `jwt_authn_access_denied{…}`;
// gRPC requests get the gRPC status. CORS preflights pass when bypass_cors_preflight says so.
// Stats: http.<prefix>.jwt_authn.{allowed,denied,cors_preflight_bypassed,jwks_fetch_success,
// jwks_fetch_failed,jwt_cache_hit,jwt_cache_miss}.
import type * as http from "node:http";
import { type Clock, realClock } from "../../../core/clock.js";
import type { envoy } from "../../../envoy/types.js";
import { XdsConfigError } from "../../xds-error.js";
import { type FilterCallbacks, type FilterContext, FilterStatus, type HttpFilter, registerHttpFilter } from "../filter.js";
import { compileRouteMatcher, type RequestView } from "../route-table.js";
import { type JwtAuthnStats, jwtAuthnStats, JwtProvider, type ProviderRuntime } from "./jwt-provider.js";
import { JwtStatus, statusMessage } from "./jwt-token.js";
import { compileRequirement, ProviderSet, type Verifier, VerifyContext } from "./jwt-verifier.js";

export const JWT_AUTHN_TYPE = "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
const PER_ROUTE_TYPE = "envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig";
/** The dynamic metadata namespace the filter writes. */
export const JWT_AUTHN_NAMESPACE = "envoy.filters.http.jwt_authn";
/** Envoy's MaximumUriLength for the realm. */
const MAX_REALM_PATH = 256;

/** A compiled PerRouteConfig. */
export type JwtPerRoute = { readonly disabled: true } | { readonly disabled: false; readonly requirementName: string };

/** A compiled JwtAuthentication. */
export interface JwtAuthnConfig {
  readonly rules: ReadonlyArray<{ readonly matches: (req: RequestView) => boolean; readonly verifier: Verifier }>;
  readonly byName: ReadonlyMap<string, Verifier>;
  /** The requirement_map names, sorted and joined with "," (Envoy's error messages). */
  readonly allNames: string;
  readonly bypassCorsPreflight: boolean;
  readonly stripFailureResponse: boolean;
  readonly stats: JwtAuthnStats;
}

/** Options for tests: an injected clock (JWKS cache) and wall clock (token times). */
export interface JwtAuthnOptions {
  clock?: Clock;
  wallNow?: () => number;
}

/** Compiles a JwtAuthentication (throws XdsConfigError with the field path). */
export function compileJwtAuthn(c: envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication, ctx: FilterContext, opts: JwtAuthnOptions = {}): JwtAuthnConfig {
  const path = ctx.path;
  if (c.filterStateRules !== undefined) throw new XdsConfigError(`${path}.filterStateRules`, "filter_state_rules are not implemented by tsmesh");
  const stats = jwtAuthnStats(ctx.stats.scope("jwt_authn"));
  const rt: ProviderRuntime = { runtime: ctx.runtime, clock: opts.clock ?? realClock, wallNow: opts.wallNow ?? Date.now, stats };
  const providers = new Map<string, JwtProvider>();
  const issuers = new Map<string, string>();
  for (const [name, p] of Object.entries(c.providers ?? {})) {
    providers.set(name, new JwtProvider(name, p, `${path}.providers[${JSON.stringify(name)}]`, rt));
    issuers.set(name, p.issuer ?? "");
  }
  const set = new ProviderSet(providers, issuers, rt);
  const byName = new Map<string, Verifier>();
  for (const [name, r] of Object.entries(c.requirementMap ?? {})) byName.set(name, compileRequirement(r, set, `${path}.requirementMap[${JSON.stringify(name)}]`));
  const allNames = [...byName.keys()].sort().join(",");
  const rules = (c.rules ?? []).map((r, i) => {
    const rp = `${path}.rules[${i}]`;
    if (r.match === undefined) throw new XdsConfigError(`${rp}.match`, "match is required");
    if (r.match.dynamicMetadata?.length) throw new XdsConfigError(`${rp}.match.dynamicMetadata`, "jwt_authn rules do not match on dynamic metadata");
    const matches = compileRouteMatcher(r.match, `${rp}.match`);
    let verifier: Verifier;
    if (r.requirementName !== undefined && r.requirementName !== "") {
      const v = byName.get(r.requirementName);
      if (v === undefined) throw new XdsConfigError(`${rp}.requirementName`, `Wrong requirement_name: ${r.requirementName}. It should be one of [${allNames}]`);
      verifier = v;
    } else verifier = r.requires !== undefined ? compileRequirement(r.requires, set, `${rp}.requires`) : { verify: () => JwtStatus.Ok };
    return { matches, verifier };
  });
  return { rules, byName, allNames, bypassCorsPreflight: c.bypassCorsPreflight === true, stripFailureResponse: c.stripFailureResponse === true, stats };
}

const one = (h: http.OutgoingHttpHeaders, k: string): string | undefined => {
  const v = h[k];
  return Array.isArray(v) ? v.join(",") : v === undefined ? undefined : String(v);
};

/** jwt_authn_access_denied{MESSAGE}, spaces as underscores (Envoy's generateRcDetails). */
const details = (msg: string): string => `jwt_authn_access_denied{${msg.replace(/\s/g, "_")}}`;

class JwtAuthnFilter implements HttpFilter {
  private ctx: VerifyContext | undefined = undefined;
  private stopped = false;
  private done = false;

  constructor(
    private readonly cb: FilterCallbacks,
    private readonly config: JwtAuthnConfig,
  ) {}

  decodeHeaders(headers: http.OutgoingHttpHeaders): FilterStatus {
    const req = this.cb.request;
    const c = this.config;
    if (c.bypassCorsPreflight && req.method === "OPTIONS" && one(headers, "origin") && one(headers, "access-control-request-method")) {
      c.stats.corsPreflightBypassed.inc();
      c.stats.allowed.inc();
      return FilterStatus.Continue;
    }
    let verifier: Verifier | undefined;
    const per = this.cb.perRouteConfig<JwtPerRoute>();
    if (per !== undefined) {
      if (!per.disabled) {
        verifier = c.byName.get(per.requirementName);
        if (verifier === undefined) {
          const msg = `Wrong requirement_name: ${per.requirementName}. It should be one of [${c.allNames}]`;
          c.stats.denied.inc();
          this.cb.sendLocalReply({ status: 403, body: c.stripFailureResponse ? "" : `Failed JWT authentication: ${msg}`, details: details(msg) });
          return FilterStatus.StopIteration;
        }
      }
    } else {
      const view: RequestView = { authority: req.authority, path: req.path, method: req.method, scheme: req.scheme, header: (n) => one(headers, n) };
      verifier = c.rules.find((r) => r.matches(view))?.verifier;
    }
    if (verifier === undefined) {
      c.stats.allowed.inc();
      return FilterStatus.Continue;
    }
    const ctx = (this.ctx = new VerifyContext(headers, req.path));
    let outcome: JwtStatus | Promise<JwtStatus>;
    try {
      outcome = verifier.verify(ctx);
    } catch {
      outcome = JwtStatus.JwtVerificationFail;
    }
    if (typeof outcome === "number") return this.complete(outcome) ? FilterStatus.Continue : FilterStatus.StopIteration;
    this.stopped = true;
    outcome.then(
      (s) => this.complete(s),
      () => this.complete(JwtStatus.JwtVerificationFail),
    );
    return FilterStatus.StopIteration;
  }

  /** Envoy's Filter::onComplete; true when the request goes on. */
  private complete(status: JwtStatus): boolean {
    const ctx = this.ctx;
    if (this.done || ctx === undefined || ctx.cancelled) return false;
    this.done = true;
    const c = this.config;
    // Envoy sets what the requirements extracted whatever the outcome (failed_status_in_metadata).
    if (ctx.extracted !== undefined) this.cb.dynamicMetadata.setEntries(JWT_AUTHN_NAMESPACE, ctx.extracted);
    if (status !== JwtStatus.Ok) {
      c.stats.denied.inc();
      const msg = statusMessage(status);
      const code = status === JwtStatus.JwtAudienceNotAllowed ? 403 : 401;
      if (c.stripFailureResponse) {
        this.cb.sendLocalReply({ status: code, body: "", details: details(msg) });
        return false;
      }
      const req = this.cb.request;
      const path = req.path.length > MAX_REALM_PATH ? req.path.slice(0, MAX_REALM_PATH) : req.path;
      let auth = `Bearer realm="${req.scheme}://${req.authority}${path}"`;
      if (status !== JwtStatus.JwtMissed) auth += ', error="invalid_token"';
      this.cb.sendLocalReply({ status: code, body: msg, details: details(msg) }, { "www-authenticate": auth });
      return false;
    }
    c.stats.allowed.inc();
    if (ctx.clearRouteCache) this.cb.clearRouteCache();
    if (this.stopped) this.cb.continueDecoding();
    return true;
  }

  onDestroy(): void {
    if (this.ctx !== undefined) this.ctx.cancelled = true;
  }
}

registerHttpFilter([JWT_AUTHN_TYPE], {
  terminal: false,
  create(config: envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication, ctx) {
    const compiled = compileJwtAuthn(config, ctx);
    return { create: (cb) => new JwtAuthnFilter(cb, compiled) };
  },
  perRoute: {
    types: [PER_ROUTE_TYPE],
    compile(c: envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig, path): JwtPerRoute {
      if (c.disabled === true) return { disabled: true };
      if (!c.requirementName) throw new XdsConfigError(path, "PerRouteConfig needs disabled or requirement_name");
      return { disabled: false, requirementName: c.requirementName };
    },
  },
});
