// Istio's SidecarScope: which Sidecar resource applies to a workload (one with a matching
// workloadSelector in its namespace, else the namespace-wide one, else the root namespace's), and
// what it allows: egress hosts (`namespace/dnsName`), ingress listeners, outbound policy.
import type { Resource } from "../api/resource.js";
import { hostMatches } from "../api/hosts.js";
import { labelsMatch, type Service } from "../registry/model.js";
import type { MeshConfig } from "./push-context.js";

export type SidecarSpecOf = Resource<"Sidecar">["spec"];
export type EgressListener = NonNullable<SidecarSpecOf["egress"]>[number];
export type IngressListener = NonNullable<SidecarSpecOf["ingress"]>[number];

export interface SidecarScope {
  /** `namespace/name` of the Sidecar in force, or "" for the mesh default (everything visible). */
  readonly key: string;
  readonly resource?: Resource<"Sidecar">;
  readonly egress: readonly EgressListener[];
  readonly ingress: readonly IngressListener[];
  readonly outboundTrafficPolicy: "ALLOW_ANY" | "REGISTRY_ONLY";
  /** Does some egress listener's host list admit this service? */
  allowsService(svc: Service): boolean;
  /** Does some egress listener admit `hostname` in `namespace` (for VirtualService filtering)? */
  allowsHost(namespace: string, hostname: string): boolean;
}

interface ParsedHost {
  namespace: string;
  dnsName: string;
}

function parseEgressHost(h: string, sidecarNamespace: string): ParsedHost {
  const slash = h.indexOf("/");
  const ns = h.slice(0, slash);
  return { namespace: ns === "." ? sidecarNamespace : ns, dnsName: h.slice(slash + 1) };
}

function admits(hosts: readonly ParsedHost[], namespace: string, hostname: string): boolean {
  for (const h of hosts) {
    if (h.namespace === "~") continue;
    if (h.namespace !== "*" && h.namespace !== namespace) continue;
    if (hostMatches(h.dnsName, hostname)) return true;
  }
  return false;
}

/** Picks the Sidecar for a workload and builds its scope. */
export function buildSidecarScope(
  sidecars: readonly Resource<"Sidecar">[],
  namespace: string,
  labels: Readonly<Record<string, string>>,
  mesh: MeshConfig,
): SidecarScope {
  const inNs = sidecars.filter((s) => s.metadata.namespace === namespace);
  const chosen =
    inNs.find((s) => s.spec.workloadSelector?.labels && labelsMatch(s.spec.workloadSelector.labels, labels)) ??
    inNs.find((s) => !s.spec.workloadSelector) ??
    sidecars.find((s) => s.metadata.namespace === mesh.rootNamespace && !s.spec.workloadSelector);
  if (!chosen) {
    return {
      key: "",
      egress: [],
      ingress: [],
      outboundTrafficPolicy: mesh.outboundTrafficPolicy,
      allowsService: () => true,
      allowsHost: () => true,
    };
  }
  // A root-namespace Sidecar applies to other namespaces with "." meaning the workload's namespace.
  const egressNs = chosen.metadata.namespace === mesh.rootNamespace ? namespace : chosen.metadata.namespace;
  const egress = chosen.spec.egress ?? [];
  const hosts = egress.flatMap((e) => e.hosts.map((h) => parseEgressHost(h, egressNs)));
  return {
    key: `${chosen.metadata.namespace}/${chosen.metadata.name}`,
    resource: chosen,
    egress,
    ingress: chosen.spec.ingress ?? [],
    outboundTrafficPolicy: chosen.spec.outboundTrafficPolicy?.mode ?? mesh.outboundTrafficPolicy,
    allowsService: (svc) => egress.length === 0 || admits(hosts, svc.namespace, svc.hostname),
    allowsHost: (ns, hostname) => egress.length === 0 || admits(hosts, ns, hostname),
  };
}
