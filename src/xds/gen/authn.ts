// RequestAuthentication → the `envoy.filters.http.jwt_authn` HTTP filter, as istiod builds it
// (pilot/pkg/security/authn/policy_applier.go convertToEnvoyJwtConfig, plugin/authn BuildHTTP): one
// provider `origins-N` per JWT rule of the policies that apply to the proxy (rules sorted by issuer),
// and a requirement that lets a request without any token through while a token that is present
// must verify. Inbound sidecar chains and gateways get it (policy-filters.ts places it); gateways
// set clear_route_cache so `@request.auth.claims` routes see the verified payload.
import { parseDuration } from "../../api/validation/common.js";
import type { JWTRule } from "../../api/resource.js";
import { anyOf, duration } from "../../envoy/protos.js";
import type { envoy, HttpFilter } from "../../envoy/types.js";
import type { Proxy } from "../../model/proxy.js";
import { labelsKey, type PushContext } from "../../model/push-context.js";
import { jwksUriOf, type JwksSettings } from "../../model/request-authentication.js";
import { JWT_AUTHN_FILTER, JWT_PAYLOAD_KEY } from "./jwt-claims.js";
import { outboundClusterName } from "./names.js";

type JwtAuthentication = envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication;
type JwtProvider = envoy.extensions.filters.http.jwt_authn.v3.JwtProvider;
type JwtRequirement = envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement;

const JWT_AUTHN_TYPE = "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";

/** Istio's default JWKS fetch timeout for a rule without `timeout`. */
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000;
/** How long the proxy caches a remote JWKS (Istio sets 5 minutes). */
export const REMOTE_JWKS_CACHE_MS = 5 * 60_000;
/** Claims Istio always treats as space-delimited in the metadata payload. */
const DEFAULT_SPACE_DELIMITED_CLAIMS = ["permission", "scope"];

/**
 * A JWKS that no token can verify against: Istio's PublicOnlyJwks (an RSA public key whose private
 * key was discarded), inlined when istiod could not fetch a rule's JWKS so the rule fails closed.
 */
export const PUBLIC_ONLY_JWKS = `{
  "keys": [
    {
      "kty": "RSA",
      "e": "AQAB",
      "n": "0xObjM0UvS_oaazjpEYlAbwctEJ4L8pH3OuTb7qth7gUwqet-EzQB4dgFdvSdMgrLnSncQGRjpEYz3F3viIbH-3EN3TxSlPNviHxeOdyiBVfumN8dMxbLvVJUpfNOnvmMxJcl-8NNjAwcOjk4otSALaYgYYyOPyvKtgVdrQr-FoubWX4yrjxW-MJ2-7OBeepUUNOsVwGV23YX03sVkkyvY3otRflkBcY3_HKpBxJl9wk2GyOShN4_PNUF9-vwfnvOXMbCDX-w4PTef4geeb_GiT40YCKHTKMSPVanGRn5GExIWmki-mmqh94-mPTJyBR74ShspL3BxPZitDL574T1w"
    }
  ]
}`;

/** Istio's buildSpaceDelimitedClaims: the defaults, plus the rule's own (deduplicated, sorted) when it lists any. */
export function spaceDelimitedClaims(own: readonly string[] | undefined): string[] {
  if (own === undefined) return [...DEFAULT_SPACE_DELIMITED_CLAIMS];
  return [...new Set([...own, ...DEFAULT_SPACE_DELIMITED_CLAIMS])].sort();
}

/** Istio's ParseJwksURI: host and port (80/443 by scheme) of an http(s) URI; undefined otherwise. */
export function parseJwksUri(uri: string): { hostname: string; port: number } | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return undefined;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return undefined;
  const port = u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
  const hostname = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  return { hostname, port };
}

/** The outbound cluster the proxy has for host:port (a mesh service it can see with that port), if any. */
function meshCluster(proxy: Proxy, push: PushContext, hostname: string, port: number): string | undefined {
  const svc = push.servicesFor(proxy).find((s) => s.hostname === hostname);
  return svc?.ports.some((p) => p.port === port) ? outboundClusterName(port, hostname) : undefined;
}

/** Istio's BuildLocalJwks: the rule's own `jwks`, else what istiod's resolver has (fail-closed JWKS without one). */
function localJwks(jwks: JwksSettings, rule: JWTRule, timeoutMs: number): { localJwks: envoy.config.core.v3.DataSource } {
  const inline = rule.jwks || (jwks.resolver ? jwks.resolver.localJwks(rule.issuer ?? "", jwksUriOf(rule), timeoutMs) : PUBLIC_ONLY_JWKS);
  return { localJwks: { inlineString: inline } };
}

function remoteJwks(uri: string, cluster: string, timeoutMs: number): { remoteJwks: envoy.extensions.filters.http.jwt_authn.v3.RemoteJwks } {
  return { remoteJwks: { httpUri: { uri, cluster, timeout: duration(timeoutMs) }, cacheDuration: duration(REMOTE_JWKS_CACHE_MS) } };
}

/** Where a provider's keys come from, by fetch mode (Istio's JwksSourceSpecifier choice). */
function jwksSource(proxy: Proxy, push: PushContext, rule: JWTRule, timeoutMs: number): Pick<JwtProvider, "localJwks" | "remoteJwks"> {
  const uri = jwksUriOf(rule);
  const { mode } = push.jwks;
  if (mode === "istiod" || uri === "") return localJwks(push.jwks, rule, timeoutMs);
  const target = parseJwksUri(uri);
  const cluster = target && meshCluster(proxy, push, target.hostname, target.port);
  if (cluster) return remoteJwks(uri, cluster, timeoutMs);
  if (mode === "hybrid" || !target) return localJwks(push.jwks, rule, timeoutMs);
  // envoy mode and no mesh cluster: Istio still points the proxy at the cluster the URI names.
  push.jwks.resolver?.report?.(
    `jwksUri ${uri} of issuer ${rule.issuer ?? ""}: no mesh service ${target.hostname}:${target.port} for proxy ${proxy.id}; register it with a ServiceEntry or use --jwks-fetch-mode hybrid or istiod`,
  );
  return remoteJwks(uri, outboundClusterName(target.port, target.hostname), timeoutMs);
}

function providerName(i: number): string {
  return `origins-${i}`;
}

/** One provider from one JWT rule (Istio's field-by-field copy). */
function provider(proxy: Proxy, push: PushContext, rule: JWTRule, clearRouteCache: boolean): JwtProvider {
  const timeoutMs = rule.timeout !== undefined ? (parseDuration(rule.timeout) ?? DEFAULT_JWKS_TIMEOUT_MS) : DEFAULT_JWKS_TIMEOUT_MS;
  const p: JwtProvider = { issuer: rule.issuer ?? "" };
  if (rule.audiences?.length) p.audiences = [...rule.audiences];
  Object.assign(p, jwksSource(proxy, push, rule, timeoutMs));
  if (rule.forwardOriginalToken) p.forward = true;
  if (rule.fromHeaders?.length) p.fromHeaders = rule.fromHeaders.map((h) => (h.prefix ? { name: h.name, valuePrefix: h.prefix } : { name: h.name }));
  if (rule.fromParams?.length) p.fromParams = [...rule.fromParams];
  if (rule.fromCookies?.length) p.fromCookies = [...rule.fromCookies];
  if (rule.outputPayloadToHeader) p.forwardPayloadHeader = rule.outputPayloadToHeader;
  p.payloadInMetadata = JWT_PAYLOAD_KEY;
  p.normalizePayloadInMetadata = { spaceDelimitedClaims: spaceDelimitedClaims(rule.spaceDelimitedClaims) };
  if (rule.outputClaimToHeaders?.length) p.claimToHeaders = rule.outputClaimToHeaders.map((c) => ({ headerName: c.header, claimName: c.claim }));
  if (clearRouteCache) p.clearRouteCache = true;
  return p;
}

/**
 * Istio's convertToEnvoyJwtConfig over rules already sorted by issuer. One provider: requires
 * {origins-0 OR allow_missing}. Several: requires any of {origins-0, origins-1, …, ALL of
 * {origins-i OR allow_missing}} — the AND makes every present token verify, the bare providers
 * cover providers that read the same location (where the AND would always fail).
 */
export function convertToEnvoyJwtConfig(proxy: Proxy, push: PushContext, rules: readonly JWTRule[], clearRouteCache: boolean): JwtAuthentication | undefined {
  if (rules.length === 0) return undefined;
  const providers: Record<string, JwtProvider> = {};
  const innerAnd: JwtRequirement[] = [];
  const outerOr: JwtRequirement[] = [];
  rules.forEach((rule, i) => {
    const name = providerName(i);
    providers[name] = provider(proxy, push, rule, clearRouteCache);
    innerAnd.push({ requiresAny: { requirements: [{ providerName: name }, { allowMissing: {} }] } });
    outerOr.push({ providerName: name });
  });
  const requires: JwtRequirement = innerAnd.length === 1 ? innerAnd[0] : { requiresAny: { requirements: [...outerOr, { requiresAll: { requirements: innerAnd } }] } };
  return { providers, rules: [{ match: { prefix: "/" }, requires }], bypassCorsPreflight: true };
}

/**
 * The jwt_authn filter for a proxy's inbound chains or gateway HCMs (Istio's authn plugin
 * BuildHTTP), undefined when no RequestAuthentication with JWT rules applies. clear_route_cache is
 * set for gateways (Istio: any proxy that is not a sidecar). Memoized per push and workload.
 */
export function jwtAuthnFilter(proxy: Proxy, push: PushContext): HttpFilter | undefined {
  if (push.requestAuthentications.empty) return undefined;
  return push.memo(`jwt_authn/${proxy.type}/${proxy.namespace}/${labelsKey(proxy.labels)}/${push.sidecarScope(proxy).key}`, () => {
    const rules = push.requestAuthentications.jwtRules({ namespace: proxy.namespace, labels: proxy.labels });
    const config = convertToEnvoyJwtConfig(proxy, push, rules, proxy.type !== "sidecar");
    return config ? { name: JWT_AUTHN_FILTER, typedConfig: anyOf(JWT_AUTHN_TYPE, config) } : undefined;
  });
}
