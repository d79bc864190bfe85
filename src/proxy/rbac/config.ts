// What the HTTP and network RBAC filters share: their `rules` / `shadow_rules` compiled into an
// enforced and a shadow engine (the xDS matcher-tree forms are refused), Envoy's stat names for them
// (generateStats: `<prefix>rbac.[<rules_stat_prefix>.]allowed|denied`,
// `<prefix>rbac.[<shadow_rules_stat_prefix>.]shadow_allowed|shadow_denied`, per policy under
// `…policy.<name>.`), and the response / connection-termination detail of a denial.
import type { envoy } from "../../envoy/types.js";
import type { Counter, StatsScope } from "../stats.js";
import { XdsConfigError } from "../xds-error.js";
import { compileRbac, type RbacEngine } from "./engine.js";

/** Envoy's DynamicMetadataKeys. */
export const METADATA_KEYS = {
  shadowEffectivePolicyId: "shadow_effective_policy_id",
  shadowEngineResult: "shadow_engine_result",
  enforcedEffectivePolicyId: "enforced_effective_policy_id",
  enforcedEngineResult: "enforced_engine_result",
  allowed: "allowed",
  denied: "denied",
} as const;

/** The fields both filters' configs share. */
interface RbacFields {
  rules?: envoy.config.rbac.v3.RBAC;
  matcher?: unknown;
  shadowRules?: envoy.config.rbac.v3.RBAC;
  shadowMatcher?: unknown;
}

/** The enforced and shadow engines of a filter config (undefined: none configured). */
export interface RbacEngines {
  readonly engine: RbacEngine | undefined;
  readonly shadow: RbacEngine | undefined;
}

/** Envoy's createEngine / createShadowEngine: rules, else the matcher (refused here), else none. */
export function compileEngines(c: RbacFields, path: string): RbacEngines {
  if (c.rules === undefined && c.matcher !== undefined) throw new XdsConfigError(`${path}.matcher`, "RBAC matcher trees are not implemented by tsmesh (use rules)");
  if (c.shadowRules === undefined && c.shadowMatcher !== undefined) throw new XdsConfigError(`${path}.shadowMatcher`, "RBAC matcher trees are not implemented by tsmesh (use shadow_rules)");
  return {
    engine: c.rules !== undefined ? compileRbac(c.rules, `${path}.rules`, false) : undefined,
    shadow: c.shadowRules !== undefined ? compileRbac(c.shadowRules, `${path}.shadowRules`, true) : undefined,
  };
}

/** Envoy's statPrefixJoin: `token` after `prefix`, with one "." between them. */
export function statPrefixJoin(prefix: string, token: string): string {
  if (prefix === "") return token;
  return prefix.endsWith(".") ? prefix + token : `${prefix}.${token}`;
}

/** Envoy's RoleBasedAccessControlFilterStats. */
export class RbacStats {
  readonly allowed: Counter;
  readonly denied: Counter;
  readonly shadowAllowed: Counter;
  readonly shadowDenied: Counter;
  private readonly policyPrefix: string;
  private readonly shadowPolicyPrefix: string;
  /** Per-policy counters, made on first use (track_per_rule_stats). */
  private readonly perPolicy = new Map<string, Counter>();

  /** `prefix` is the filter's stat prefix (`http.<hcm>.` or the network filter's stat_prefix). */
  constructor(
    private readonly scope: StatsScope,
    prefix: string,
    rulesPrefix: string,
    shadowRulesPrefix: string,
  ) {
    const base = statPrefixJoin(prefix, "rbac.");
    const rules = statPrefixJoin(base, rulesPrefix);
    const shadow = statPrefixJoin(base, shadowRulesPrefix);
    this.allowed = scope.counter(statPrefixJoin(rules, "allowed"));
    this.denied = scope.counter(statPrefixJoin(rules, "denied"));
    this.shadowAllowed = scope.counter(statPrefixJoin(shadow, "shadow_allowed"));
    this.shadowDenied = scope.counter(statPrefixJoin(shadow, "shadow_denied"));
    this.policyPrefix = statPrefixJoin(rules, "policy.");
    this.shadowPolicyPrefix = statPrefixJoin(shadow, "policy.");
  }

  /** `<…>policy.<name>.<suffix>`: allowed / denied, shadow_allowed / shadow_denied. */
  policy(name: string, suffix: "allowed" | "denied" | "shadow_allowed" | "shadow_denied"): Counter {
    const full = `${suffix.startsWith("shadow_") ? this.shadowPolicyPrefix : this.policyPrefix}${name}.${suffix}`;
    let c = this.perPolicy.get(full);
    if (c === undefined) this.perPolicy.set(full, (c = this.scope.counter(full)));
    return c;
  }
}

/** Envoy's responseDetail: `rbac_access_denied_matched_policy[NAME]`, blanks as "_" ("none" when no policy matched). */
export function denialDetail(policyId: string): string {
  return `rbac_access_denied_matched_policy[${(policyId || "none").replace(/[ \t\f\v\n\r]/g, "_")}]`;
}
