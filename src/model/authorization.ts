// AuthorizationPolicy indexing (Istio's pilot/pkg/model/authorization.go and policyattachment.go):
// the policies that apply to one workload, grouped by action. Policies of the root namespace apply
// mesh-wide, others to their namespace; a `selector` narrows them to workloads whose labels it
// matches (in the root namespace too, unlike PeerAuthentication). `targetRef`/`targetRefs` apply
// only to Gateway API gateways (a workload labelled `gateway.networking.k8s.io/gateway-name`),
// naming that Gateway in the policy's namespace; a policy with targetRefs never applies to another
// workload. Service, ServiceEntry and GatewayClass targets are for waypoints, which tsmesh has not.
import type { Resource } from "../api/resource.js";
import { labelsMatch } from "../registry/model.js";
import { compareByCreationTime } from "./authentication.js";

export type AuthorizationPolicy = Resource<"AuthorizationPolicy">;
type TargetRef = NonNullable<AuthorizationPolicy["spec"]["targetRef"]>;

/** Istio's label naming the Gateway API Gateway a gateway workload was deployed for. */
export const GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";
const GATEWAY_API_GROUP = "gateway.networking.k8s.io";

/** Istio's AuthorizationPoliciesResult: oldest first within each action. */
export interface AuthorizationPoliciesResult {
  custom: AuthorizationPolicy[];
  deny: AuthorizationPolicy[];
  allow: AuthorizationPolicy[];
  audit: AuthorizationPolicy[];
}

/** Istio's GetTargetRefs: targetRefs, else targetRef alone. */
export function targetRefsOf(p: AuthorizationPolicy): TargetRef[] {
  const refs = p.spec.targetRefs ?? [];
  if (refs.length > 0) return [...refs];
  return p.spec.targetRef ? [p.spec.targetRef] : [];
}

/** A workload as policies select it. */
export interface PolicyWorkload {
  namespace: string;
  labels: Readonly<Record<string, string>>;
}

/** Istio's WorkloadPolicyMatcher.ShouldAttachPolicy for a sidecar or gateway (not a waypoint). */
export function policyApplies(p: AuthorizationPolicy, w: PolicyWorkload): boolean {
  const refs = targetRefsOf(p);
  const gatewayName = w.labels[GATEWAY_NAME_LABEL];
  const selected = (): boolean => labelsMatch(p.spec.selector?.matchLabels, w.labels);
  if (gatewayName === undefined) return refs.length === 0 && selected();
  // Gateway API gateways: selector policies apply too (Istio's ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY default).
  if (refs.length === 0) return selected();
  if (p.metadata.namespace !== w.namespace) return false;
  return refs.some(
    (r) => (r.namespace === undefined || r.namespace === "" || r.namespace === w.namespace) && (r.group ?? "") === GATEWAY_API_GROUP && r.kind === "Gateway" && r.name === gatewayName,
  );
}

/** AuthorizationPolicies by namespace, oldest first, as istiod indexes them once per push. */
export class AuthorizationPolicies {
  readonly rootNamespace: string;
  private readonly byNamespace = new Map<string, AuthorizationPolicy[]>();

  constructor(policies: readonly AuthorizationPolicy[], rootNamespace: string) {
    this.rootNamespace = rootNamespace;
    for (const p of [...policies].sort(compareByCreationTime)) {
      const ns = p.metadata.namespace;
      let list = this.byNamespace.get(ns);
      if (!list) this.byNamespace.set(ns, (list = []));
      list.push(p);
    }
  }

  /** Every policy, oldest first per namespace (for analysis). */
  all(): AuthorizationPolicy[] {
    return [...this.byNamespace.values()].flat();
  }

  /** Istio's ListAuthorizationPolicies: root namespace first, then the workload's, by action. */
  forWorkload(w: PolicyWorkload): AuthorizationPoliciesResult {
    const out: AuthorizationPoliciesResult = { custom: [], deny: [], allow: [], audit: [] };
    for (const ns of new Set([this.rootNamespace, w.namespace])) {
      for (const p of this.byNamespace.get(ns) ?? []) {
        if (!policyApplies(p, w)) continue;
        switch (p.spec.action ?? "ALLOW") {
          case "ALLOW":
            out.allow.push(p);
            break;
          case "DENY":
            out.deny.push(p);
            break;
          case "AUDIT":
            out.audit.push(p);
            break;
          case "CUSTOM":
            out.custom.push(p);
            break;
        }
      }
    }
    return out;
  }
}
