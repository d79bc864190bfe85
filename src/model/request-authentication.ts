// RequestAuthentication indexing (Istio's pilot/pkg/model/authentication.go GetJwtPoliciesForWorkload
// and policyattachment.go ShouldAttachPolicy): which policies apply to a proxy, and the JWT rules
// they contribute. Policies of the proxy's namespace and of the root namespace are candidates (a
// root-namespace policy with a selector applies to matching workloads of every namespace, unlike
// PeerAuthentication); `selector.matchLabels` must be a subset of the workload's labels;
// `targetRef(s)` attach only to Gateway API gateways (workloads labelled
// gateway.networking.k8s.io/gateway-name) in the policy's own namespace, and a policy with targetRefs
// never applies to any other workload. Also the JWKS fetch mode (istiod's PILOT_JWT_ENABLE_REMOTE_JWKS)
// and the resolver interface generators ask for JWKS to inline.
import type { JWTRule, Resource } from "../api/resource.js";
import { labelsMatch } from "../registry/model.js";
import { compareByCreationTime } from "./authentication.js";

export type RequestAuthentication = Resource<"RequestAuthentication">;

/** Istio's label naming the Gateway API Gateway a workload is an instance of. */
export const GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";

/**
 * Who fetches a jwksUri (Istio's JwksFetchMode): istiod always (inlined JWKS); envoy always (remote
 * JWKS through a cluster); hybrid: the proxy when the URI's host:port is a mesh service, else istiod.
 */
export type JwksFetchMode = "istiod" | "hybrid" | "envoy";

/** Istio's ConvertToJwksFetchMode: `true`/`false` kept for the old boolean flag; undefined when unknown. */
export function parseJwksFetchMode(s: string): JwksFetchMode | undefined {
  switch (s) {
    case "istiod":
    case "false":
      return "istiod";
    case "hybrid":
    case "true":
      return "hybrid";
    case "envoy":
      return "envoy";
    default:
      return undefined;
  }
}

/** istiod's JwksResolver as the generators see it: never blocks, always answers with JWKS text to inline. */
export interface JwtKeyResolver {
  /**
   * The JWKS to inline for a rule without `jwks`: the cached document when there is one, otherwise
   * the fail-closed JWKS (no token verifies) while a fetch runs in the background; a fetched change
   * triggers a new push.
   */
  localJwks(issuer: string, jwksUri: string, timeoutMs: number): string;
  /** A generation-time problem worth a log line (logged once per distinct message). */
  report?(message: string): void;
}

/** How a push resolves JWKS: the fetch mode and, in the control plane, istiod's resolver. */
export interface JwksSettings {
  mode: JwksFetchMode;
  resolver?: JwtKeyResolver;
}

/** Istio's default (PILOT_JWT_ENABLE_REMOTE_JWKS unset is istiod); tsmesh defaults to hybrid, see the README. */
export const DEFAULT_JWKS_SETTINGS: JwksSettings = { mode: "hybrid" };

/** A rule's jwksUri (the CRD accepts `jwks_uri` too). */
export function jwksUriOf(rule: JWTRule): string {
  return rule.jwksUri ?? rule.jwks_uri ?? "";
}

interface TargetRef {
  group?: string;
  kind: string;
  name: string;
  namespace?: string;
}

/** Istio's GetTargetRefs: `targetRefs`, else the legacy single `targetRef`. */
export function targetRefsOf(spec: { targetRef?: TargetRef; targetRefs?: TargetRef[] }): TargetRef[] {
  if (spec.targetRefs && spec.targetRefs.length > 0) return spec.targetRefs;
  return spec.targetRef ? [spec.targetRef] : [];
}

function isGatewayRef(ref: TargetRef): boolean {
  return ref.kind === "Gateway" && ref.group === "gateway.networking.k8s.io";
}

/** The workload a policy may attach to: its namespace and labels (a gateway is a workload too). */
export interface PolicyTarget {
  namespace: string;
  labels: Readonly<Record<string, string>>;
}

/**
 * Istio's WorkloadPolicyMatcher.ShouldAttachPolicy for a sidecar or gateway (never a waypoint):
 * non-Gateway-API workloads use the selector and ignore policies with targetRefs; Gateway API
 * gateways use the selector when the policy has no targetRefs (ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY,
 * on by default), else a Gateway targetRef naming them in their own namespace.
 */
export function shouldAttachPolicy(
  policy: { metadata: { namespace: string }; spec: { selector?: { matchLabels?: Record<string, string> }; targetRef?: TargetRef; targetRefs?: TargetRef[] } },
  target: PolicyTarget,
): boolean {
  const refs = targetRefsOf(policy.spec);
  const gatewayName = target.labels[GATEWAY_NAME_LABEL];
  if (refs.length === 0) return labelsMatch(policy.spec.selector?.matchLabels, target.labels);
  if (gatewayName === undefined) return false;
  if (policy.metadata.namespace !== target.namespace) return false;
  return refs.some((r) => (r.namespace === undefined || r.namespace === "" || r.namespace === target.namespace) && isGatewayRef(r) && r.name === gatewayName);
}

/** RequestAuthentications indexed as istiod does once per push (Istio's AuthenticationPolicies). */
export class RequestAuthentications {
  readonly rootNamespace: string;
  /** Per namespace, oldest first. */
  private readonly byNamespace = new Map<string, RequestAuthentication[]>();

  constructor(policies: readonly RequestAuthentication[], rootNamespace: string) {
    this.rootNamespace = rootNamespace;
    for (const ra of [...policies].sort(compareByCreationTime)) {
      let list = this.byNamespace.get(ra.metadata.namespace);
      if (!list) this.byNamespace.set(ra.metadata.namespace, (list = []));
      list.push(ra);
    }
  }

  /** Whether any policy exists (a push without any builds no JWT filter at all). */
  get empty(): boolean {
    return this.byNamespace.size === 0;
  }

  /** Istio's GetJwtPoliciesForWorkload: the workload's namespace first, then the root namespace. */
  forWorkload(target: PolicyTarget): RequestAuthentication[] {
    const out: RequestAuthentication[] = [];
    for (const ns of new Set([target.namespace, this.rootNamespace])) {
      for (const ra of this.byNamespace.get(ns) ?? []) if (shouldAttachPolicy(ra, target)) out.push(ra);
    }
    return out;
  }

  /**
   * Istio's newPolicyApplier: the JWT rules of every policy that applies, sorted by issuer so the
   * generated config is deterministic (a stable sort: rules with one issuer keep policy order).
   */
  jwtRules(target: PolicyTarget): JWTRule[] {
    const rules = this.forWorkload(target).flatMap((ra) => ra.spec.jwtRules ?? []);
    return rules.map((r, i) => ({ r, i })).sort((a, b) => cmp(a.r.issuer ?? "", b.r.issuer ?? "") || a.i - b.i).map((x) => x.r);
  }

  /** Every policy, oldest first per namespace (for analysis). */
  all(): RequestAuthentication[] {
    return [...this.byNamespace.values()].flat();
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
