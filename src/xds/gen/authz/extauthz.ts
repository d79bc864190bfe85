// CUSTOM action providers → Envoy ext_authz filter configs (Istio's authz builder extauthz.go):
// each mesh config ext_authz provider resolved once per push to its HTTP filter config (and, for
// gRPC providers, a network filter config for TCP chains), its service looked up as Istio's
// LookupCluster does (`outbound|PORT||HOST`). A provider that fails to resolve keeps its error: the
// policies naming it become deny rules.
import { duration, envoyRoot } from "../../../envoy/protos.js";
import type { envoy } from "../../../envoy/types.js";
import type { ExtAuthzCommon, ExtAuthzHttpProvider, ExtensionProvider } from "../../../model/extension-providers.js";
import type { PushContext } from "../../../model/push-context.js";
import { outboundClusterName } from "../names.js";
import type { MetadataMatcher } from "./matchers.js";

export type HttpExtAuthz = envoy.extensions.filters.http.ext_authz.v3.ExtAuthz;
export type NetworkExtAuthz = envoy.extensions.filters.network.ext_authz.v3.ExtAuthz;
type ListStringMatcher = envoy.type.matcher.v3.ListStringMatcher;

/** Prefix of CUSTOM policy names; ext_authz runs only when the shadow RBAC matched one. */
export const EXT_AUTHZ_MATCH_PREFIX = "istio-ext-authz";
export const BAD_CUSTOM_ACTION_SUFFIX = "-deny-due-to-bad-CUSTOM-action";
/** RBAC's shadow stat prefix for CUSTOM, and the metadata key its effective policy id lands under. */
export const EXT_AUTHZ_SHADOW_STAT_PREFIX = "istio_ext_authz_";
export const SHADOW_EFFECTIVE_POLICY_ID = "shadow_effective_policy_id";

export interface BuiltExtAuthz {
  http?: HttpExtAuthz;
  tcp?: NetworkExtAuthz;
  error?: string;
}

const DEFAULT_TIMEOUT_MS = 600_000;

/** Istio's LookupCluster: `NS/HOST` or a HOST found in exactly one namespace. */
export function lookupCluster(push: PushContext, service: string, port: number): { hostname: string; cluster: string } {
  if (service === "") throw new Error("service must not be empty");
  const parts = service.split("/");
  if (parts.length === 2) {
    const svc = push.registry.servicesFor(parts[1]).find((s) => s.namespace === parts[0]);
    if (svc) return { hostname: svc.hostname, cluster: outboundClusterName(port, svc.hostname) };
  } else {
    const found = push.registry.servicesFor(service);
    const namespaces = [...new Set(found.map((s) => s.namespace))];
    if (namespaces.length === 1) return { hostname: found[0].hostname, cluster: outboundClusterName(port, found[0].hostname) };
    if (namespaces.length > 1) {
      throw new Error(`found ${service} in multiple namespaces [${namespaces.join(" ")}], specify the namespace explicitly in the format of <Namespace>/<Hostname>`);
    }
  }
  throw new Error(`could not find service ${service} in Istio service registry`);
}

/** statusOnError → envoy.type.v3.HttpStatus (codes Envoy's StatusCode enum names). */
function statusOnError(text: string): envoy.type.v3.HttpStatus | undefined {
  if (text === "") return undefined;
  const name = envoyRoot().lookupEnum("envoy.type.v3.StatusCode").valuesById[Number(text)];
  // The mesh config parser already refused anything else.
  return name ? { code: name as envoy.type.v3.StatusCode } : undefined;
}

/** Istio's generateHeaders: each name a case-insensitive exact, `*x` suffix or `x*` prefix match. */
function headerList(headers: readonly string[]): ListStringMatcher | undefined {
  if (headers.length === 0) return undefined;
  return {
    patterns: headers.map((h) => (h.startsWith("*") ? { suffix: h.slice(1), ignoreCase: true } : h.endsWith("*") ? { prefix: h.slice(0, -1), ignoreCase: true } : { exact: h, ignoreCase: true })),
  };
}

/** Istio's generateFilterMatcher: the RBAC filter's shadow effective policy id starts with `prefix`. */
export function filterEnabledMetadata(filter: string, prefix: string): MetadataMatcher {
  return { filter, path: [{ key: EXT_AUTHZ_SHADOW_STAT_PREFIX + SHADOW_EFFECTIVE_POLICY_ID }], value: { stringMatch: { prefix } } };
}

function withRequestBody(c: ExtAuthzCommon): envoy.extensions.filters.http.ext_authz.v3.BufferSettings | undefined {
  const b = c.includeRequestBodyInCheck;
  if (!b) return undefined;
  const out: envoy.extensions.filters.http.ext_authz.v3.BufferSettings = {};
  if (b.maxRequestBytes) out.maxRequestBytes = b.maxRequestBytes;
  if (b.allowPartialMessage) out.allowPartialMessage = true;
  if (b.packAsBytes) out.packAsBytes = true;
  return out;
}

function common(c: ExtAuthzCommon): Pick<HttpExtAuthz, "statusOnError" | "failureModeAllow" | "transportApiVersion" | "withRequestBody"> {
  const out: Pick<HttpExtAuthz, "statusOnError" | "failureModeAllow" | "transportApiVersion" | "withRequestBody"> = {};
  const status = statusOnError(c.statusOnError);
  if (status) out.statusOnError = status;
  if (c.failOpen) out.failureModeAllow = true;
  out.transportApiVersion = "V3";
  const body = withRequestBody(c);
  if (body) out.withRequestBody = body;
  return out;
}

const HTTP_RBAC = "envoy.filters.http.rbac";
const NETWORK_RBAC = "envoy.filters.network.rbac";

function httpConfig(hostname: string, cluster: string, c: ExtAuthzHttpProvider): BuiltExtAuthz {
  const service: envoy.extensions.filters.http.ext_authz.v3.HttpService = {
    // Envoy requires uri, but the filter sends to the cluster.
    serverUri: { uri: `http://${hostname}`, cluster, timeout: duration(c.timeoutMs ?? DEFAULT_TIMEOUT_MS) },
  };
  if (c.pathPrefix) service.pathPrefix = c.pathPrefix;
  const additional = Object.keys(c.includeAdditionalHeadersInCheck).sort();
  if (additional.length > 0) service.authorizationRequest = { headersToAdd: additional.map((key) => ({ key, value: c.includeAdditionalHeadersInCheck[key] })) };
  if (c.headersToUpstreamOnAllow.length > 0 || c.headersToDownstreamOnDeny.length > 0 || c.headersToDownstreamOnAllow.length > 0) {
    const r: envoy.extensions.filters.http.ext_authz.v3.AuthorizationResponse = {};
    const up = headerList(c.headersToUpstreamOnAllow);
    const deny = headerList(c.headersToDownstreamOnDeny);
    const allow = headerList(c.headersToDownstreamOnAllow);
    if (up) r.allowedUpstreamHeaders = up;
    if (deny) r.allowedClientHeaders = deny;
    if (allow) r.allowedClientHeadersOnSuccess = allow;
    service.authorizationResponse = r;
  }
  const http: HttpExtAuthz = { ...common(c), httpService: service, filterEnabledMetadata: filterEnabledMetadata(HTTP_RBAC, EXT_AUTHZ_MATCH_PREFIX) };
  const allowed = headerList(c.includeRequestHeadersInCheck) ?? headerList(c.includeHeadersInCheck);
  if (allowed) http.allowedHeaders = allowed;
  return { http };
}

function grpcConfig(hostname: string, cluster: string, c: ExtAuthzCommon): BuiltExtAuthz {
  const grpcService: envoy.config.core.v3.GrpcService = { envoyGrpc: { clusterName: cluster, authority: hostname }, timeout: duration(c.timeoutMs ?? DEFAULT_TIMEOUT_MS) };
  const http: HttpExtAuthz = { ...common(c), grpcService, filterEnabledMetadata: filterEnabledMetadata(HTTP_RBAC, EXT_AUTHZ_MATCH_PREFIX) };
  const tcp: NetworkExtAuthz = { statPrefix: "tcp.", transportApiVersion: "V3", grpcService, filterEnabledMetadata: filterEnabledMetadata(NETWORK_RBAC, EXT_AUTHZ_MATCH_PREFIX) };
  if (c.failOpen) tcp.failureModeAllow = true;
  return { http, tcp };
}

/** Istio's validateProviderName: the name goes into policy names and metadata keys. */
function providerNameProblem(name: string): string | undefined {
  if (name.length > 63) return `provider name too long (max 63 characters): ${name.length}`;
  const bad = [...name].findIndex((c) => !/[a-z0-9-]/.test(c));
  if (bad >= 0) {
    const c = name[bad];
    return /[A-Z]/.test(c) ? `uppercase letters not allowed (use lowercase): character '${c}' at position ${bad}` : `invalid character '${c}' at position ${bad} (only lowercase letters, digits, and hyphens allowed)`;
  }
  if (name.startsWith("-") || name.endsWith("-")) return "provider name cannot start or end with hyphen";
  return undefined;
}

/** Istio's checkWildcard: a lone "*" header pattern is refused (use a prefix or suffix). */
function wildcardProblems(c: ExtAuthzHttpProvider): string[] {
  const lists: Array<[string, readonly string[]]> = [
    ["IncludeRequestHeadersInCheck", c.includeRequestHeadersInCheck],
    ["IncludeHeadersInCheck", c.includeHeadersInCheck],
    ["HeadersToDownstreamOnDeny", c.headersToDownstreamOnDeny],
    ["HeadersToDownstreamOnAllow", c.headersToDownstreamOnAllow],
    ["HeadersToUpstreamOnAllow", c.headersToUpstreamOnAllow],
  ];
  return lists.filter(([, v]) => v.includes("*")).map(([f]) => `a single wildcard ("*") is not supported, change it to either prefix or suffix match: ${f}`);
}

/** Istio's processExtensionProvider: every ext_authz provider by name (other kinds are left out). */
export function resolveExtAuthzProviders(push: PushContext): Map<string, BuiltExtAuthz> {
  const out = new Map<string, BuiltExtAuthz>();
  for (const p of push.mesh.extensionProviders as readonly ExtensionProvider[]) {
    if (p.kind !== "envoyExtAuthzHttp" && p.kind !== "envoyExtAuthzGrpc") continue;
    const c = p.kind === "envoyExtAuthzHttp" ? p.envoyExtAuthzHttp : p.envoyExtAuthzGrpc;
    const nameProblem = providerNameProblem(p.name);
    const problems = [...(nameProblem ? [`invalid provider name "${p.name}": ${nameProblem}`] : []), ...(p.kind === "envoyExtAuthzHttp" ? wildcardProblems(p.envoyExtAuthzHttp) : [])];
    if (problems.length > 0) {
      out.set(p.name, { error: problems.join("; ") });
      continue;
    }
    try {
      const { hostname, cluster } = lookupCluster(push, c.service, c.port);
      out.set(p.name, p.kind === "envoyExtAuthzHttp" ? httpConfig(hostname, cluster, p.envoyExtAuthzHttp) : grpcConfig(hostname, cluster, c));
    } catch (e) {
      out.set(p.name, { error: `failed to parse extension provider "${p.name}": ${(e as Error).message}` });
    }
  }
  return out;
}
