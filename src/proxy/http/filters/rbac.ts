// Envoy's HTTP RBAC filter (envoy.filters.http.rbac): on the request headers, the shadow engine
// (shadow_rules) is evaluated for its stats and dynamic metadata, then the enforced engine (rules):
// a denial answers 403 `RBAC: access denied` with details
// `rbac_access_denied_matched_policy[NAME|none]`. A route's RBACPerRoute (the most specific
// typed_per_filter_config) replaces both engines and the metadata key prefixes; one without `rbac`
// turns the filter off for that route. Results go to `envoy.filters.http.rbac` in the dynamic
// metadata (`[<shadow_rules_stat_prefix>]shadow_effective_policy_id` / `shadow_engine_result`,
// `[<rules_stat_prefix>]enforced_effective_policy_id` / `enforced_engine_result`); stats are
// http.<stat_prefix>.rbac.… (rbac/config.ts). Everything is compiled when the listener arrives.
import type * as http from "node:http";
import type * as tls from "node:tls";
import { DEBUG, type Logger } from "../../../core/log.js";
import type { envoy } from "../../../envoy/types.js";
import type { DynamicMetadata, MetadataValue } from "../../dynamic-metadata.js";
import { compileEngines, denialDetail, METADATA_KEYS, RbacStats, type RbacEngines } from "../../rbac/config.js";
import { type RbacInput, requestedServerName } from "../../rbac/engine.js";
import { type FilterCallbacks, FilterStatus, type HttpFilter, registerHttpFilter } from "../filter.js";

type RbacMessage = envoy.extensions.filters.http.rbac.v3.RBAC;
type RbacPerRouteMessage = envoy.extensions.filters.http.rbac.v3.RBACPerRoute;

export const RBAC_TYPE = "envoy.extensions.filters.http.rbac.v3.RBAC";
const RBAC_PER_ROUTE_TYPE = "envoy.extensions.filters.http.rbac.v3.RBACPerRoute";
export const RBAC_METADATA_NAMESPACE = "envoy.filters.http.rbac";

/** The dynamic metadata keys of one config, with its stat prefixes before them. */
interface MetadataKeys {
  readonly shadowPolicy: string;
  readonly shadowResult: string;
  readonly enforcedPolicy: string;
  readonly enforcedResult: string;
}

function metadataKeys(rulesPrefix: string, shadowPrefix: string): MetadataKeys {
  return {
    shadowPolicy: shadowPrefix + METADATA_KEYS.shadowEffectivePolicyId,
    shadowResult: shadowPrefix + METADATA_KEYS.shadowEngineResult,
    enforcedPolicy: rulesPrefix + METADATA_KEYS.enforcedEffectivePolicyId,
    enforcedResult: rulesPrefix + METADATA_KEYS.enforcedEngineResult,
  };
}

/** One compiled RBAC config: the filter's own or a route's (RBACPerRoute.rbac). */
interface RbacHttpConfig extends RbacEngines {
  readonly perRuleStats: boolean;
  readonly rulesPrefix: string;
  readonly shadowPrefix: string;
}

function compileConfig(c: RbacMessage, path: string): RbacHttpConfig {
  return { ...compileEngines(c, path), perRuleStats: c.trackPerRuleStats === true, rulesPrefix: c.rulesStatPrefix ?? "", shadowPrefix: c.shadowRulesStatPrefix ?? "" };
}

/** The filter's config with the metadata keys its prefixes give. */
interface FilterConfig extends RbacHttpConfig {
  readonly keys: MetadataKeys;
}

/**
 * A route's RBACPerRoute, compiled when the route configuration arrives. Its metadata keys use its
 * own prefixes where set, else the filter's (Envoy's rule), so they are resolved once per filter.
 */
interface RouteConfig extends RbacHttpConfig {
  readonly keysByFilter: WeakMap<FilterConfig, MetadataKeys>;
}

const DENIED_BODY = "RBAC: access denied";

function headerValue(h: http.OutgoingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(",") : String(v);
}

class RbacFilter implements HttpFilter, RbacInput {
  constructor(
    private readonly cb: FilterCallbacks,
    private readonly own: FilterConfig,
    private readonly stats: RbacStats,
    /** The `rbac` logger: Envoy's debug lines for each decision (what authz-dry-run greps for). */
    private readonly log: Logger | undefined,
  ) {}

  // ---- RbacInput (what the matchers read) ----
  header(name: string): string | undefined {
    // Envoy's header map answers the legacy "host" with :authority.
    if (name === "host") return this.cb.request.authority;
    return headerValue(this.cb.request.headers, name);
  }
  get method(): string {
    return this.cb.request.method;
  }
  get authority(): string {
    return this.cb.request.authority;
  }
  get scheme(): string {
    return this.cb.request.scheme;
  }
  get path(): string {
    return this.cb.request.path;
  }
  get localAddress(): string {
    return this.cb.request.connection.localAddress;
  }
  get localPort(): number {
    return this.cb.request.connection.localPort;
  }
  get remoteAddress(): string {
    return this.cb.request.remote;
  }
  get directRemoteAddress(): string {
    return this.cb.request.remote;
  }
  get downstreamRemoteAddress(): string {
    return this.cb.request.downstreamRemoteAddress;
  }
  get tls(): tls.TLSSocket | undefined {
    return this.cb.request.tls;
  }
  get requestedServerName(): string {
    return requestedServerName(this.cb.request.tls, this.cb.request.connection.requestedServerName);
  }
  get dynamicMetadata(): DynamicMetadata {
    return this.cb.dynamicMetadata;
  }

  /** The route's keys: its prefixes where set, else the filter's. */
  private routeKeys(route: RouteConfig): MetadataKeys {
    let k = route.keysByFilter.get(this.own);
    if (k === undefined) {
      k = metadataKeys(route.rulesPrefix || this.own.rulesPrefix, route.shadowPrefix || this.own.shadowPrefix);
      route.keysByFilter.set(this.own, k);
    }
    return k;
  }

  decodeHeaders(): FilterStatus {
    const route = this.cb.perRouteConfig<RouteConfig>();
    const c: RbacHttpConfig = route ?? this.own;
    const keys = route === undefined ? this.own.keys : this.routeKeys(route);
    const stats = this.stats;
    let fields: Record<string, MetadataValue> | undefined;
    if (c.shadow !== undefined) {
      const r = c.shadow.evaluate(this);
      if (this.log !== undefined && this.log.level <= DEBUG) this.log.debug(`shadow ${r.allowed ? "allowed" : "denied"}, matched policy ${r.policyId || "none"}`);
      (r.allowed ? stats.shadowAllowed : stats.shadowDenied).inc();
      if (r.policyId !== "" && c.perRuleStats) stats.policy(r.policyId, r.allowed ? "shadow_allowed" : "shadow_denied").inc();
      fields = {};
      if (r.policyId !== "") fields[keys.shadowPolicy] = r.policyId;
      fields[keys.shadowResult] = r.allowed ? METADATA_KEYS.allowed : METADATA_KEYS.denied;
    }
    if (c.engine !== undefined) {
      const r = c.engine.evaluate(this);
      if (this.log !== undefined && this.log.level <= DEBUG) this.log.debug(`enforced ${r.allowed ? "allowed" : "denied"}, matched policy ${r.policyId || "none"}`);
      fields ??= {};
      if (r.policyId !== "") fields[keys.enforcedPolicy] = r.policyId;
      fields[keys.enforcedResult] = r.allowed ? METADATA_KEYS.allowed : METADATA_KEYS.denied;
      this.cb.dynamicMetadata.set(RBAC_METADATA_NAMESPACE, fields);
      if (r.policyId !== "" && c.perRuleStats) stats.policy(r.policyId, r.allowed ? "allowed" : "denied").inc();
      if (r.allowed) {
        stats.allowed.inc();
        return FilterStatus.Continue;
      }
      stats.denied.inc();
      this.cb.sendLocalReply({ status: 403, body: DENIED_BODY, details: denialDetail(r.policyId) });
      return FilterStatus.StopIteration;
    }
    if (fields !== undefined) this.cb.dynamicMetadata.set(RBAC_METADATA_NAMESPACE, fields);
    return FilterStatus.Continue;
  }
}

registerHttpFilter<RbacMessage, RbacPerRouteMessage>([RBAC_TYPE], {
  terminal: false,
  create(config, ctx) {
    const c = compileConfig(config, ctx.path);
    const own: FilterConfig = { ...c, keys: metadataKeys(c.rulesPrefix, c.shadowPrefix) };
    const stats = new RbacStats(ctx.stats, "", c.rulesPrefix, c.shadowPrefix);
    const log = ctx.runtime.logger?.("rbac");
    return { create: (cb) => new RbacFilter(cb, own, stats, log) };
  },
  perRoute: {
    types: [RBAC_PER_ROUTE_TYPE],
    // No `rbac`: both engines absent, so the filter is off on this route.
    compile: (c, path): RouteConfig => ({ ...compileConfig(c.rbac ?? {}, `${path}.rbac`), keysByFilter: new WeakMap() }),
  },
});
