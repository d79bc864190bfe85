// AuthorizationPolicies → Envoy RBAC and ext_authz filters, as Istio's authz builder
// (pilot/pkg/security/authz/builder/builder.go) generates them for one workload: one RBAC filter per
// action (AUDIT → LOG, then DENY, then ALLOW), dry-run policies (`istio.io/dry-run`) as shadow rules;
// CUSTOM as an RBAC filter whose shadow rules only mark matching requests, followed by ext_authz
// enabled on that mark. Policy names are `ns[NS]-policy[NAME]-rule[N]` (CUSTOM ones prefixed
// `istio-ext-authz-PROVIDER-`). What Istio only logs (rules skipped on TCP, bad providers) is
// returned as messages.
import { anyOf } from "../../../envoy/protos.js";
import type { envoy, HttpFilter, NetworkFilter } from "../../../envoy/types.js";
import type { AuthorizationPoliciesResult, AuthorizationPolicy } from "../../../model/authorization.js";
import type { PushContext } from "../../../model/push-context.js";
import { BAD_CUSTOM_ACTION_SUFFIX, EXT_AUTHZ_MATCH_PREFIX, EXT_AUTHZ_SHADOW_STAT_PREFIX, filterEnabledMetadata, resolveExtAuthzProviders, type BuiltExtAuthz } from "./extauthz.js";
import { AuthzModel, type RbacAction } from "./model.js";
import { AuthzRuleError, policyMatchNever, type RbacPolicy } from "./rbac-builders.js";
import { TrustDomainBundle } from "./trust-domain.js";

export const HTTP_RBAC_FILTER = "envoy.filters.http.rbac";
export const NETWORK_RBAC_FILTER = "envoy.filters.network.rbac";
export const HTTP_EXT_AUTHZ_FILTER = "envoy.filters.http.ext_authz";
export const NETWORK_EXT_AUTHZ_FILTER = "envoy.filters.network.ext_authz";
export const DRY_RUN_ANNOTATION = "istio.io/dry-run";
export const RBAC_TCP_STAT_PREFIX = "tcp.";
export const SHADOW_ALLOW_STAT_PREFIX = "istio_dry_run_allow_";
export const SHADOW_DENY_STAT_PREFIX = "istio_dry_run_deny_";

type Rbac = envoy.config.rbac.v3.RBAC;

interface BuiltRules {
  rules?: Rbac;
  shadowRules?: Rbac;
  /** CUSTOM: enforced and dry-run rules per provider. */
  providerRules: Map<string, Rbac>;
  providerShadowRules: Map<string, Rbac>;
}

/** The filters for one workload, and what Istio would log while building them. */
export interface AuthzFilters {
  http: HttpFilter[];
  tcp: NetworkFilter[];
  messages: string[];
}

/** Go's strconv.ParseBool. */
function parseBool(v: string): boolean | undefined {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(v)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(v)) return false;
  return undefined;
}

function isDryRun(p: AuthorizationPolicy, messages: string[]): boolean {
  const v = p.metadata.annotations?.[DRY_RUN_ANNOTATION];
  if (v === undefined) return false;
  const b = parseBool(v);
  if (b === undefined) messages.push(`failed to parse the value of ${DRY_RUN_ANNOTATION}: ${JSON.stringify(v)} is not a boolean`);
  return b ?? false;
}

/**
 * Istio's shadowRuleStatPrefix. Without shadow rules Go reads the action of a nil RBAC (ALLOW), so
 * every filter carries the allow prefix; LOG shadow rules carry none.
 */
function shadowStatPrefix(shadow: Rbac | undefined): string | undefined {
  const action = shadow?.action ?? "ALLOW";
  return action === "ALLOW" ? SHADOW_ALLOW_STAT_PREFIX : action === "DENY" ? SHADOW_DENY_STAT_PREFIX : undefined;
}

function policyName(namespace: string, name: string, rule: number, provider: string | undefined): string {
  const prefix = provider === undefined ? "" : provider !== "" ? `${EXT_AUTHZ_MATCH_PREFIX}-${provider}-` : `${EXT_AUTHZ_MATCH_PREFIX}-`;
  return `${prefix}ns[${namespace}]-policy[${name}]-rule[${rule}]`;
}

function rbacOf(action: RbacAction): Rbac {
  // ALLOW is the enum's default: left out, as protobuf writes it.
  return action === "ALLOW" ? { policies: {} } : { action, policies: {} };
}

interface BuildOptions {
  custom: boolean;
  forTCP: boolean;
  bundle: TrustDomainBundle;
  useAuthenticated: boolean;
  messages: string[];
}

/** Istio's Builder.build: the RBAC rules (and shadow rules) of the policies of one action. */
function buildRules(policies: readonly AuthorizationPolicy[], action: RbacAction, o: BuildOptions): BuiltRules | undefined {
  if (policies.length === 0) return undefined;
  const enforce = rbacOf(action);
  const shadow = rbacOf(action);
  const providerRules = new Map<string, Rbac>();
  const providerShadowRules = new Map<string, Rbac>();
  let hasEnforce = false;
  let hasDryRun = false;
  const chain = o.forTCP ? "TCP" : "HTTP";
  for (const p of policies) {
    let current: Rbac;
    let provider: string | undefined;
    const dryRun = isDryRun(p, o.messages);
    if (o.custom) {
      provider = p.spec.provider?.name ?? "";
      if (!providerRules.has(provider)) {
        providerRules.set(provider, rbacOf(action));
        providerShadowRules.set(provider, rbacOf(action));
      }
      current = (dryRun ? providerShadowRules : providerRules).get(provider)!;
    } else current = dryRun ? shadow : enforce;
    if (dryRun) hasDryRun = true;
    else hasEnforce = true;
    const rules = p.spec.rules ?? [];
    rules.forEach((r, i) => {
      const name = policyName(p.metadata.namespace, p.metadata.name, i, provider);
      let generated: RbacPolicy;
      try {
        const m = AuthzModel.of(p.metadata.namespace, r).migrateTrustDomain(o.bundle);
        try {
          generated = m.generate(o.forTCP, o.useAuthenticated, action);
        } catch (e) {
          if (!(e instanceof AuthzRuleError)) throw e;
          o.messages.push(`skipped rule ${name} on ${chain} filter chain: ${e.message}`);
          return;
        }
      } catch (e) {
        if (!(e instanceof AuthzRuleError)) throw e;
        o.messages.push(`skipped invalid rule ${name}: ${e.message}`);
        return;
      }
      current.policies![name] = generated;
    });
    // A policy without rules: an explicit policy that never matches (ALLOW: allow-nothing).
    if (rules.length === 0) current.policies![policyName(p.metadata.namespace, p.metadata.name, 0, provider)] = policyMatchNever();
  }
  return { rules: hasEnforce ? enforce : undefined, shadowRules: hasDryRun ? shadow : undefined, providerRules, providerShadowRules };
}

function httpRbacFilter(rbac: envoy.extensions.filters.http.rbac.v3.RBAC): HttpFilter {
  return { name: HTTP_RBAC_FILTER, typedConfig: anyOf("envoy.extensions.filters.http.rbac.v3.RBAC", rbac) };
}

function networkRbacFilter(rbac: envoy.extensions.filters.network.rbac.v3.RBAC): NetworkFilter {
  return { name: NETWORK_RBAC_FILTER, typedConfig: anyOf("envoy.extensions.filters.network.rbac.v3.RBAC", rbac) };
}

/** Istio's getBadCustomDenyRules: the provider's policies as DENY rules, renamed. */
function badCustomDenyRules(rules: Rbac | undefined): Rbac {
  const policies: Record<string, RbacPolicy> = {};
  for (const k of Object.keys(rules?.policies ?? {}).sort()) policies[k + BAD_CUSTOM_ACTION_SUFFIX] = rules!.policies![k];
  return { action: "DENY", policies };
}

/** An RBAC without policies is an empty message (an empty map is not written on the wire). */
function wire(r: Rbac): Rbac {
  return Object.keys(r.policies ?? {}).length > 0 ? r : r.action ? { action: r.action } : {};
}

function withoutEmpty(rbac: { rules?: Rbac; shadowRules?: Rbac; shadowRulesStatPrefix?: string; statPrefix?: string }): typeof rbac {
  const out: typeof rbac = {};
  if (rbac.rules) out.rules = wire(rbac.rules);
  if (rbac.statPrefix) out.statPrefix = rbac.statPrefix;
  if (rbac.shadowRules) out.shadowRules = wire(rbac.shadowRules);
  if (rbac.shadowRulesStatPrefix) out.shadowRulesStatPrefix = rbac.shadowRulesStatPrefix;
  return out;
}

/** The filters of the ALLOW/DENY/AUDIT rules (translate: HTTP or network). */
function localFilters<T>(b: BuiltRules, forTCP: boolean, make: (rbac: ReturnType<typeof withoutEmpty>) => T): T[] {
  return [make(withoutEmpty({ rules: b.rules, statPrefix: forTCP ? RBAC_TCP_STAT_PREFIX : undefined, shadowRules: b.shadowRules, shadowRulesStatPrefix: shadowStatPrefix(b.shadowRules) }))];
}

/** Istio's buildHTTP/buildTCP for CUSTOM: per provider, a marking RBAC filter then ext_authz. */
function customFilters(b: BuiltRules, forTCP: boolean, extensions: Map<string, BuiltExtAuthz>, messages: string[]): { http: HttpFilter[]; tcp: NetworkFilter[] } {
  const http: HttpFilter[] = [];
  const tcp: NetworkFilter[] = [];
  const providers = [...new Set([...b.providerRules.keys(), ...b.providerShadowRules.keys()])].sort();
  const statPrefix = forTCP ? RBAC_TCP_STAT_PREFIX : undefined;
  const deny = (provider: string): void => {
    const rbac = withoutEmpty({ rules: badCustomDenyRules(b.providerRules.get(provider)), statPrefix });
    if (forTCP) tcp.push(networkRbacFilter(rbac));
    else http.push(httpRbacFilter(rbac));
  };
  // Istio allows one provider per workload unless PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS (off by default).
  if (providers.length > 1) {
    messages.push(`multiple CUSTOM authorization providers per workload requires PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS feature flag, found ${providers.length} providers: [${providers.join(" ")}]`);
    providers.forEach(deny);
    return { http, tcp };
  }
  for (const provider of providers) {
    const ext = extensions.get(provider);
    if (!ext || ext.error) {
      const why = !ext ? `available providers are [${[...extensions.keys()].join(" ")}] but found "${provider}"` : `found errors in provider ${provider}: ${ext.error}`;
      messages.push(`failed to process CUSTOM action for provider ${provider}, will generate deny configs: ${why}`);
      deny(provider);
      continue;
    }
    if (forTCP && !ext.tcp) {
      messages.push(`ignored CUSTOM action with HTTP provider on TCP filter chain for provider ${provider}`);
      continue;
    }
    const dry = b.providerShadowRules.get(provider);
    // Enforced policies only mark (shadow rules); dry-run ones go to `rules` with the same names, so
    // they trigger ext_authz too (Istio's documented limitation).
    const rbac = withoutEmpty({
      rules: dry && Object.keys(dry.policies ?? {}).length > 0 ? dry : undefined,
      statPrefix,
      shadowRules: b.providerRules.get(provider),
      shadowRulesStatPrefix: EXT_AUTHZ_SHADOW_STAT_PREFIX,
    });
    const prefix = `${EXT_AUTHZ_MATCH_PREFIX}-${provider}`;
    if (forTCP) {
      tcp.push(networkRbacFilter(rbac), {
        name: NETWORK_EXT_AUTHZ_FILTER,
        typedConfig: anyOf("envoy.extensions.filters.network.ext_authz.v3.ExtAuthz", { ...ext.tcp, filterEnabledMetadata: filterEnabledMetadata(NETWORK_RBAC_FILTER, prefix) }),
      });
    } else {
      http.push(httpRbacFilter(rbac), {
        name: HTTP_EXT_AUTHZ_FILTER,
        typedConfig: anyOf("envoy.extensions.filters.http.ext_authz.v3.ExtAuthz", { ...ext.http, filterEnabledMetadata: filterEnabledMetadata(HTTP_RBAC_FILTER, prefix) }),
      });
    }
  }
  return { http, tcp };
}

/** The authorization filters of one workload, as Istio's authz plugin builds them. */
export interface WorkloadAuthzFilters {
  /** CUSTOM: HTTP filters and network filters (before the other actions' filters). */
  custom: AuthzFilters;
  /** AUDIT, DENY, ALLOW, in that order. */
  local: AuthzFilters;
}

export function trustDomainBundle(push: PushContext): TrustDomainBundle {
  return new TrustDomainBundle(push.mesh.trustDomain, push.mesh.trustDomainAliases);
}

/** Builds both builders' HTTP and TCP filters (Istio builds each lazily; the result is the same). */
export function buildAuthzFilters(push: PushContext, policies: AuthorizationPoliciesResult): WorkloadAuthzFilters {
  const bundle = trustDomainBundle(push);
  const custom: AuthzFilters = { http: [], tcp: [], messages: [] };
  const local: AuthzFilters = { http: [], tcp: [], messages: [] };
  for (const forTCP of [false, true]) {
    if (policies.custom.length > 0) {
      const built = buildRules(policies.custom, "DENY", { custom: true, forTCP, bundle, useAuthenticated: true, messages: custom.messages });
      if (built) {
        const f = customFilters(built, forTCP, resolveExtAuthzProviders(push), custom.messages);
        custom.http.push(...f.http);
        custom.tcp.push(...f.tcp);
      }
    }
    const order: Array<[readonly AuthorizationPolicy[], RbacAction]> = [
      [policies.audit, "LOG"],
      [policies.deny, "DENY"],
      [policies.allow, "ALLOW"],
    ];
    for (const [list, action] of order) {
      const built = buildRules(list, action, { custom: false, forTCP, bundle, useAuthenticated: true, messages: local.messages });
      if (!built) continue;
      if (forTCP) local.tcp.push(...localFilters(built, true, networkRbacFilter));
      else local.http.push(...localFilters(built, false, httpRbacFilter));
    }
  }
  return { custom, local };
}
