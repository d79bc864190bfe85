// One generator per AuthorizationPolicy attribute (Istio's authz model generator.go): how a value of
// `from`, `to` or `when` becomes an Envoy RBAC permission or principal. HTTP-only attributes throw
// on TCP chains; the model decides per action whether that drops the rule or only the condition.
import {
  exactMatcher,
  headerMatcher,
  hostMatcher,
  jwtClaimsMatcher,
  jwtClaimStringMatcher,
  metadataValueMatcher,
  orValueMatcher,
  pathTemplate,
  containsPathTemplate,
  prefixMatcher,
  quoteMeta,
  regexMatcher,
  stringMatcher,
  stringOrMatcher,
  suffixMatcher,
  type StringMatcher,
  type ValueMatcher,
} from "./matchers.js";
import {
  AuthzRuleError,
  cidrRangeOf,
  permissionHeader,
  permissionMetadata,
  permissionPath,
  permissionPathTemplate,
  principalAnd,
  principalAuthenticated,
  principalHeader,
  principalMetadata,
  principalOr,
  type Permission,
  type Principal,
} from "./rbac-builders.js";

/** Generates one value at a time (values OR-ed, notValues OR-ed then negated, by the model). */
export interface ValueGenerator {
  readonly extended?: false;
  permission(key: string, value: string, forTCP: boolean): Permission;
  principal(key: string, value: string, forTCP: boolean, useAuthenticated: boolean): Principal;
}

/** Generates all values of a condition at once (JWT attributes, Envoy metadata). */
export interface ExtendedGenerator {
  readonly extended: true;
  permission(key: string, values: readonly string[], forTCP: boolean): Permission | undefined;
  principal(key: string, values: readonly string[], forTCP: boolean): Principal | undefined;
}

export type Generator = ValueGenerator | ExtendedGenerator;

const unimplemented = (): never => {
  throw new AuthzRuleError("unimplemented");
};

function httpOnly(key: string, forTCP: boolean): void {
  if (forTCP) throw new AuthzRuleError(`"${key}" is HTTP only`);
}

/** Istio's extractNameInBrackets: `[NAME]` → NAME. */
function nameInBrackets(s: string): string {
  if (!s.startsWith("[") || !s.endsWith("]")) throw new AuthzRuleError(`expecting format [<NAME>], but found ${s}`);
  return s.slice(1, -1);
}

/** Istio's extractNameInNestedBrackets: `[a][b]` → [a, b]; anything else must be one `[NAME]`. */
export function namesInNestedBrackets(s: string): string[] {
  const out: string[] = [];
  for (let begin = 0; begin < s.length; ) {
    let end = -1;
    if (s[begin] === "[") {
      for (let i = begin + 1; i < s.length; i++) {
        if (s[i] === "[") break;
        if (s[i] === "]") {
          end = i;
          break;
        }
      }
    }
    if (end === -1) return [nameInBrackets(s)];
    out.push(s.slice(begin + 1, end));
    begin = end + 1;
  }
  return out;
}

function convertToPort(v: string): number {
  const p = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!(p >= 0 && p <= 65535)) throw new AuthzRuleError(`invalid port ${v}`);
  return p;
}

const permissionOnly = (permission: ValueGenerator["permission"]): ValueGenerator => ({ permission, principal: unimplemented });
const principalOnly = (principal: ValueGenerator["principal"]): ValueGenerator => ({ permission: unimplemented, principal });

export const destIP = permissionOnly((_k, v) => ({ destinationIp: cidrRangeOf(v) }));
export const destPort = permissionOnly((_k, v) => ({ destinationPort: convertToPort(v) }));
export const connSNI = permissionOnly((_k, v) => ({ requestedServerName: stringMatcher(v) }));

/** `experimental.envoy.filters.a.b[c]` → filter `envoy.filters.a.b`, key `c`. */
function envoyFilterKey(key: string): [string, string] {
  const parts = key.replace(/^experimental\./, "").replace(/\]$/, "");
  const i = parts.indexOf("[");
  if (i < 0) throw new AuthzRuleError(`invalid key: ${key}`);
  return [parts.slice(0, i), parts.slice(i + 1)];
}

export const envoyFilter: ExtendedGenerator = {
  extended: true,
  permission(key, values) {
    const [filter, k] = envoyFilterKey(key);
    // `[v]` matches a list containing v; `v` the string v.
    const ms: ValueMatcher[] = values.map((v) =>
      v.startsWith("[") && v.endsWith("]") ? { listMatch: { oneOf: { stringMatch: stringMatcher(v.replace(/^\[+|\]+$/g, "")) } } } : { stringMatch: stringMatcher(v) },
    );
    return permissionMetadata(metadataValueMatcher(filter, k, orValueMatcher(ms)));
  },
  principal: unimplemented,
};

export const srcIP = principalOnly((_k, v) => ({ directRemoteIp: cidrRangeOf(v) }));
export const remoteIP = principalOnly((_k, v) => ({ remoteIp: cidrRangeOf(v) }));

export const srcNamespace = principalOnly((_k, v, _t, useAuth) => {
  const ns = v.split("*").map(quoteMeta).join(".*");
  return principalAuthenticated(regexMatcher(`.*/ns/${ns}/.*`), useAuth);
});

/** `NAME` (in the policy's namespace) or `NS/NAME`: a SPIFFE identity with that namespace and service account. */
export function serviceAccountRegex(defaultNamespace: string, value: string): string {
  const slash = value.indexOf("/");
  const [ns, sa] = slash < 0 ? [defaultNamespace, value] : [value.slice(0, slash), value.slice(slash + 1)];
  return `spiffe://.+/ns/${quoteMeta(ns)}/(.+/|)sa/${quoteMeta(sa)}(/.+)?`;
}

export function srcServiceAccount(policyNamespace: string): ValueGenerator {
  return principalOnly((_k, v, _t, useAuth) => principalAuthenticated(regexMatcher(serviceAccountRegex(policyNamespace, v)), useAuth));
}

export const srcTrustDomain = principalOnly((_k, v, _t, useAuth) => {
  let m: StringMatcher;
  if (v === "*") m = prefixMatcher("spiffe://");
  else if (!v.includes("*")) m = prefixMatcher(`spiffe://${v}/`);
  else {
    const i = v.indexOf("*");
    m = regexMatcher(`spiffe://${quoteMeta(v.slice(0, i))}[^/]*${quoteMeta(v.slice(i + 1))}/.*`);
  }
  return principalAuthenticated(m, useAuth);
});

export const srcPrincipal = principalOnly((_k, v, _t, useAuth) => principalAuthenticated(stringMatcher(v, "spiffe://"), useAuth));

const MATCH_ANY = (): StringMatcher => regexMatcher(".+");

/** `ISS/SUB` with `*` wildcards → iss and sub of the verified JWT payload (the last `/` splits: issuers are URLs). */
export const requestPrincipal: ExtendedGenerator = {
  extended: true,
  permission: unimplemented,
  principal(key, values, forTCP) {
    httpOnly(key, forTCP);
    const or: Principal[] = [];
    for (const v of values) {
      const idx = v.lastIndexOf("/");
      const found = idx >= 0;
      const iss = found ? v.slice(0, idx) : v;
      const sub = found ? v.slice(idx + 1) : "";
      let mi: StringMatcher;
      let ms: StringMatcher;
      if (v === "*") [mi, ms] = [MATCH_ANY(), MATCH_ANY()];
      else if (v.startsWith("*")) {
        if (found) [mi, ms] = [iss === "*" ? MATCH_ANY() : suffixMatcher(iss.slice(1)), exactMatcher(sub)];
        else [mi, ms] = [MATCH_ANY(), suffixMatcher(v.slice(1))];
      } else if (v.endsWith("*")) {
        if (found) [mi, ms] = [exactMatcher(iss), sub === "*" ? MATCH_ANY() : prefixMatcher(sub.slice(0, -1))];
        else [mi, ms] = [prefixMatcher(v.slice(0, -1)), MATCH_ANY()];
      } else [mi, ms] = [exactMatcher(iss), exactMatcher(sub)];
      or.push(principalAnd([principalMetadata(jwtClaimStringMatcher("iss", mi)), principalMetadata(jwtClaimStringMatcher("sub", ms))]));
    }
    if (or.length === 0) return undefined;
    return or.length === 1 ? or[0] : principalOr(or);
  },
};

function claimListGenerator(claim: string): ExtendedGenerator {
  return {
    extended: true,
    permission: unimplemented,
    principal(key, values, forTCP) {
      httpOnly(key, forTCP);
      return principalMetadata(jwtClaimsMatcher([claim], stringOrMatcher(values)));
    },
  };
}

export const requestAudiences = claimListGenerator("aud");
export const requestPresenter = claimListGenerator("azp");

export const requestHeader = principalOnly((key, v, forTCP) => {
  httpOnly(key, forTCP);
  return principalHeader(headerMatcher(nameInBrackets(key.slice("request.headers".length)), v));
});

export const requestClaim: ExtendedGenerator = {
  extended: true,
  permission: unimplemented,
  principal(key, values, forTCP) {
    httpOnly(key, forTCP);
    const claims = namesInNestedBrackets(key.slice("request.auth.claims".length));
    return principalMetadata(jwtClaimsMatcher(claims, stringOrMatcher(values)));
  },
};

export const host = permissionOnly((key, v, forTCP) => {
  httpOnly(key, forTCP);
  return permissionHeader(hostMatcher(":authority", v));
});

export const path = permissionOnly((key, v, forTCP) => {
  httpOnly(key, forTCP);
  return containsPathTemplate(v) ? permissionPathTemplate(pathTemplate(v)) : permissionPath(stringMatcher(v));
});

export const method = permissionOnly((key, v, forTCP) => {
  httpOnly(key, forTCP);
  return permissionHeader(headerMatcher(":method", v));
});
