// One AuthorizationPolicy rule as Istio's authz model sees it (pilot/pkg/security/authz/model
// model.go): `when` conditions go to the permission (destination.*, connection.sni, envoy filter
// metadata) or the principal (everything else) of every `from`/`to` entry, the entry's own fields
// are put in front; Generate turns it into one Envoy RBAC Policy: OR over permissions and over
// principals, AND within each. An attribute that cannot be generated (HTTP-only on a TCP chain, a
// bad value) fails the whole rule for ALLOW (a narrower allow) and is only left out for DENY and
// AUDIT (a wider deny).
import type { AuthorizationRule } from "../../../api/resource.js";
import * as g from "./generators.js";
import {
  AuthzRuleError,
  permissionAnd,
  permissionAny,
  permissionNot,
  permissionOr,
  principalAnd,
  principalAny,
  principalNot,
  principalOr,
  type Permission,
  type Principal,
  type RbacPolicy,
} from "./rbac-builders.js";
import type { TrustDomainBundle } from "./trust-domain.js";

export type RbacAction = "ALLOW" | "DENY" | "LOG";

export const ATTR_SRC_PRINCIPAL = "source.principal";
export const ATTR_SRC_TRUST_DOMAIN = "source.trustDomain";

interface Rule {
  key: string;
  values: string[];
  notValues: string[];
  gen: g.Generator;
}

type RuleList = Rule[];

function rule(gen: g.Generator, key: string, values: readonly string[] | undefined, notValues: readonly string[] | undefined): Rule | undefined {
  if (!values?.length && !notValues?.length) return undefined;
  return { key, values: [...(values ?? [])], notValues: [...(notValues ?? [])], gen };
}

function pushLast(list: RuleList, r: Rule | undefined): void {
  if (r) list.push(r);
}

function pushFront(list: RuleList, r: Rule | undefined): void {
  if (r) list.unshift(r);
}

/** The model of one rule: permissions and principals, each a list of AND-ed conditions. */
export class AuthzModel {
  private constructor(
    readonly permissions: RuleList[],
    readonly principals: RuleList[],
  ) {}

  /** Istio's model.New; throws AuthzRuleError for an unknown `when` key. */
  static of(policyNamespace: string, r: AuthorizationRule): AuthzModel {
    const basePermission: RuleList = [];
    const basePrincipal: RuleList = [];
    for (const when of r.when ?? []) {
      const k = when.key;
      const [list, gen] = whenGenerator(k, policyNamespace);
      if (list === "permission") pushLast(basePermission, rule(gen, k, when.values, when.notValues));
      else pushLast(basePrincipal, rule(gen, k, when.values, when.notValues));
    }
    const principals: RuleList[] = [];
    for (const from of r.from ?? []) {
      const merged = [...basePrincipal];
      const s = from.source;
      if (s) {
        // Each put in front of the previous: principals end up first, ipBlocks last.
        pushFront(merged, rule(g.srcIP, "source.ip", s.ipBlocks, s.notIpBlocks));
        pushFront(merged, rule(g.remoteIP, "remote.ip", s.remoteIpBlocks, s.notRemoteIpBlocks));
        pushFront(merged, rule(g.srcNamespace, "source.namespace", s.namespaces, s.notNamespaces));
        pushFront(merged, rule(g.srcTrustDomain, ATTR_SRC_TRUST_DOMAIN, s.trustDomains, s.notTrustDomains));
        pushFront(merged, rule(g.srcServiceAccount(policyNamespace), "source.serviceAccount", s.serviceAccounts, s.notServiceAccounts));
        pushFront(merged, rule(g.requestPrincipal, "request.auth.principal", s.requestPrincipals, s.notRequestPrincipals));
        pushFront(merged, rule(g.srcPrincipal, ATTR_SRC_PRINCIPAL, s.principals, s.notPrincipals));
      }
      principals.push(merged);
    }
    if (!r.from?.length) principals.push(basePrincipal);
    const permissions: RuleList[] = [];
    for (const to of r.to ?? []) {
      const merged = [...basePermission];
      const o = to.operation;
      if (o) {
        pushFront(merged, rule(g.destPort, "destination.port", o.ports, o.notPorts));
        pushFront(merged, rule(g.path, "path-matcher", o.paths, o.notPaths));
        pushFront(merged, rule(g.method, ":method", o.methods, o.notMethods));
        pushFront(merged, rule(g.host, ":authority", o.hosts, o.notHosts));
      }
      permissions.push(merged);
    }
    if (!r.to?.length) permissions.push(basePermission);
    return new AuthzModel(permissions, principals);
  }

  /** Istio's MigrateTrustDomain: principals and trust domains widened to the bundle's aliases. */
  migrateTrustDomain(bundle: TrustDomainBundle): AuthzModel {
    const migrate = (r: Rule): Rule => {
      if (r.key === ATTR_SRC_PRINCIPAL) return { ...r, values: bundle.replaceTrustDomainAliases(r.values), notValues: bundle.replaceTrustDomainAliases(r.notValues) };
      if (r.key === ATTR_SRC_TRUST_DOMAIN) return { ...r, values: bundle.expandTrustDomainAliases(r.values), notValues: bundle.expandTrustDomainAliases(r.notValues) };
      return r;
    };
    return new AuthzModel(this.permissions, this.principals.map((list) => list.map(migrate)));
  }

  /** Istio's Model.Generate; throws AuthzRuleError when an ALLOW rule cannot be generated. */
  generate(forTCP: boolean, useAuthenticated: boolean, action: RbacAction): RbacPolicy {
    const permissions = this.permissions.map((list) => {
      const and = list.flatMap((r) => rulePermissions(r, forTCP, action));
      return permissionAnd(and.length > 0 ? and : [permissionAny()]);
    });
    const principals = this.principals.map((list) => {
      const and = list.flatMap((r) => rulePrincipals(r, forTCP, useAuthenticated, action));
      return principalAnd(and.length > 0 ? and : [principalAny()]);
    });
    return { permissions, principals };
  }
}

function whenGenerator(k: string, policyNamespace: string): ["permission" | "principal", g.Generator] {
  switch (k) {
    case "destination.ip":
      return ["permission", g.destIP];
    case "destination.port":
      return ["permission", g.destPort];
    case "connection.sni":
      return ["permission", g.connSNI];
    case "source.ip":
      return ["principal", g.srcIP];
    case "remote.ip":
      return ["principal", g.remoteIP];
    case "source.namespace":
      return ["principal", g.srcNamespace];
    case ATTR_SRC_TRUST_DOMAIN:
      return ["principal", g.srcTrustDomain];
    case "source.serviceAccount":
      return ["principal", g.srcServiceAccount(policyNamespace)];
    case ATTR_SRC_PRINCIPAL:
      return ["principal", g.srcPrincipal];
    case "request.auth.principal":
      return ["principal", g.requestPrincipal];
    case "request.auth.audiences":
      return ["principal", g.requestAudiences];
    case "request.auth.presenter":
      return ["principal", g.requestPresenter];
  }
  if (k.startsWith("experimental.envoy.filters.")) return ["permission", g.envoyFilter];
  if (k.startsWith("request.headers")) return ["principal", g.requestHeader];
  if (k.startsWith("request.auth.claims")) return ["principal", g.requestClaim];
  throw new AuthzRuleError(`unknown attribute ${k}`);
}

/**
 * Istio's checkError: for ALLOW the error fails the rule; for DENY and AUDIT the condition is left
 * out (undefined) and generation goes on.
 */
function attempt<T>(action: RbacAction, fn: () => T | undefined): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (action === "ALLOW" || !(e instanceof AuthzRuleError)) throw e;
    return undefined;
  }
}

function defined<T>(xs: Array<T | undefined>): T[] {
  return xs.filter((x): x is T => x !== undefined);
}

/** How one kind of condition (permission or principal) is combined: Istio's rule.permission / rule.principal. */
interface Combine<T> {
  one(key: string, value: string): T;
  all(key: string, values: readonly string[]): T | undefined;
  or(xs: T[]): T;
  not(x: T): T;
}

/**
 * One rule's conditions: a value generator ORs its values and negates the OR of its notValues; an
 * extended generator takes all values at once (and is negated whole for notValues).
 */
function ruleConditions<T>(r: Rule, action: RbacAction, c: Combine<T>): T[] {
  const out: T[] = [];
  if (r.gen.extended) {
    const p = r.values.length > 0 ? attempt(action, () => c.all(r.key, r.values)) : undefined;
    if (p) out.push(p);
    const n = r.notValues.length > 0 ? attempt(action, () => c.all(r.key, r.notValues)) : undefined;
    if (n) out.push(c.not(n));
    return out;
  }
  const or = defined(r.values.map((v) => attempt(action, () => c.one(r.key, v))));
  if (or.length > 0) out.push(c.or(or));
  const notOr = defined(r.notValues.map((v) => attempt(action, () => c.one(r.key, v))));
  if (notOr.length > 0) out.push(c.not(c.or(notOr)));
  return out;
}

function rulePermissions(r: Rule, forTCP: boolean, action: RbacAction): Permission[] {
  const gen = r.gen;
  return ruleConditions<Permission>(r, action, {
    one: (k, v) => (gen.extended ? unreachable() : gen.permission(k, v, forTCP)),
    all: (k, vs) => (gen.extended ? gen.permission(k, vs, forTCP) : unreachable()),
    or: permissionOr,
    not: permissionNot,
  });
}

function rulePrincipals(r: Rule, forTCP: boolean, useAuthenticated: boolean, action: RbacAction): Principal[] {
  const gen = r.gen;
  return ruleConditions<Principal>(r, action, {
    one: (k, v) => (gen.extended ? unreachable() : gen.principal(k, v, forTCP, useAuthenticated)),
    all: (k, vs) => (gen.extended ? gen.principal(k, vs, forTCP) : unreachable()),
    or: principalOr,
    not: principalNot,
  });
}

function unreachable(): never {
  throw new Error("generator kind mismatch");
}
