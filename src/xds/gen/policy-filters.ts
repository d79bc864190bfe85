// The policy filters of a sidecar's inbound chains and a gateway's chains, in Istio's order
// (pilot/pkg/networking/core/listener_builder.go buildHTTPConnectionManager and networkfilter.go
// buildCompleteNetworkFilters): HTTP — CUSTOM (rbac + ext_authz), jwt_authn (RequestAuthentication),
// then AUDIT, DENY, ALLOW rbac, all before fault/cors/router; TCP — CUSTOM then AUDIT/DENY/ALLOW
// network rbac, before tcp_proxy. Built once per workload per push.
import type { HttpFilter, NetworkFilter } from "../../envoy/types.js";
import { labelsKey, type PushContext } from "../../model/push-context.js";
import type { Proxy } from "../../model/proxy.js";
import { jwtAuthnFilter } from "./authn.js";
import { buildAuthzFilters, type WorkloadAuthzFilters } from "./authz/builder.js";

export interface PolicyFilters {
  /** HTTP filters placed before fault, cors and router. */
  http: readonly HttpFilter[];
  /** Network filters placed before tcp_proxy (TCP chains only: HTTP chains get the HTTP ones). */
  network: readonly NetworkFilter[];
  /** What Istio only logs while building them (rules skipped on TCP chains, bad CUSTOM providers). */
  messages: readonly string[];
}

/** The labels policies select a proxy by: the node's, else those of its WorkloadEntry. */
function policyLabels(proxy: Proxy, push: PushContext): Readonly<Record<string, string>> {
  return Object.keys(proxy.labels).length > 0 ? proxy.labels : (push.workloadLabels(proxy) ?? {});
}

/** The authz filters of a workload, built once per push. */
function authzFilters(push: PushContext, namespace: string, labels: Readonly<Record<string, string>>): WorkloadAuthzFilters {
  return push.memo(`authz-filters/${namespace}/${labelsKey(labels)}`, () => buildAuthzFilters(push, push.authzPolicies.forWorkload({ namespace, labels })));
}

/**
 * What building a workload's authorization filters says (rules skipped on TCP chains, CUSTOM
 * providers that cannot be used), for the control plane's log; shares the push's build.
 */
export function authzMessages(push: PushContext, namespace: string, labels: Readonly<Record<string, string>>): string[] {
  const f = authzFilters(push, namespace, labels);
  return [...f.custom.messages, ...f.local.messages];
}

export function policyFilters(proxy: Proxy, push: PushContext): PolicyFilters {
  const labels = policyLabels(proxy, push);
  // jwt_authn depends on the proxy alone through its labels and namespace too, but is asked per call
  // (authn.ts memoizes as it sees fit).
  const authz = authzFilters(push, proxy.namespace, labels);
  const jwt = jwtAuthnFilter(proxy, push);
  return {
    http: [...authz.custom.http, ...(jwt ? [jwt] : []), ...authz.local.http],
    network: [...authz.custom.tcp, ...authz.local.tcp],
    messages: [...authz.custom.messages, ...authz.local.messages],
  };
}

/**
 * What Istio's authz builder would log for each workload's policies (rules skipped on TCP chains,
 * CUSTOM providers that cannot be used), workload by workload; the filters built here are the ones
 * the push serves (memoized per push).
 */
export function authorizationWarnings(push: PushContext): string[] {
  if (push.input.authorizationPolicies.length === 0) return [];
  const out: string[] = [];
  for (const we of push.input.workloadEntries) {
    for (const m of authzMessages(push, we.metadata.namespace, we.spec.labels ?? {})) out.push(`AuthorizationPolicy on workload ${we.metadata.namespace}/${we.metadata.name}: ${m}`);
  }
  return out;
}
