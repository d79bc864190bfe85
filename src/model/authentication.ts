// PeerAuthentication resolution (Istio's pilot/pkg/model/authentication.go AuthenticationPolicies and
// pilot/pkg/security/authn ComposePeerAuthentication): which mTLS mode a workload's port accepts.
// Scopes: mesh (a policy without selector in the root namespace), namespace (without selector),
// workload (with a selector, outside the root namespace — Istio ignores selector policies in the root
// namespace); the narrowest wins, UNSET inherits from the scope above, the oldest policy wins a tie
// within one scope, and a workload policy's portLevelMtls (keyed by the workload's port) overrides
// its mode for that port. With no policy at all the mode is PERMISSIVE.
import type { Resource } from "../api/resource.js";
import { labelsMatch } from "../registry/model.js";

/** Istio's model.MutualTLSMode. UNKNOWN: nothing says (no mesh/namespace policy). */
export type MutualTLSMode = "UNKNOWN" | "DISABLE" | "PERMISSIVE" | "STRICT";

type PeerAuthentication = Resource<"PeerAuthentication">;
type PeerAuthMode = NonNullable<NonNullable<PeerAuthentication["spec"]["mtls"]>["mode"]>;

/** The policy in force for one workload: its mode, and per-port overrides by workload port. */
export interface MergedPeerAuthentication {
  mode: MutualTLSMode;
  perPort: ReadonlyMap<number, MutualTLSMode>;
  /** `namespace/name` of the policies that decided it (mesh, namespace, workload), for messages. */
  sources: readonly string[];
}

function convert(mode: PeerAuthMode | undefined): MutualTLSMode {
  switch (mode) {
    case "DISABLE":
      return "DISABLE";
    case "PERMISSIVE":
      return "PERMISSIVE";
    case "STRICT":
      return "STRICT";
    default:
      return "UNKNOWN";
  }
}

function isUnset(m: { mode?: PeerAuthMode } | undefined): boolean {
  return !m?.mode || m.mode === "UNSET";
}

function hasSelector(pa: PeerAuthentication): boolean {
  return Object.keys(pa.spec.selector?.matchLabels ?? {}).length > 0;
}

/** What ordering by creation time needs of a resource. */
type Created = { metadata: { name: string; namespace: string; creationTimestamp?: string } };

function creationMs(pa: Created): number {
  const t = pa.metadata.creationTimestamp ? Date.parse(pa.metadata.creationTimestamp) : NaN;
  // Files carry no timestamp: they compare as equal (then by name, as Istio breaks ties).
  return Number.isNaN(t) ? 0 : t;
}

/** Istio's configCompareByCreationTime: oldest first, then by name, then by namespace. */
export function compareByCreationTime(a: Created, b: Created): number {
  const d = creationMs(a) - creationMs(b);
  if (d !== 0) return d;
  if (a.metadata.name !== b.metadata.name) return a.metadata.name < b.metadata.name ? -1 : 1;
  if (a.metadata.namespace !== b.metadata.namespace) return a.metadata.namespace < b.metadata.namespace ? -1 : 1;
  return 0;
}

const ref = (pa: PeerAuthentication): string => `${pa.metadata.namespace}/${pa.metadata.name}`;

/**
 * Istio's ComposePeerAuthentication over the policies that apply to one workload: the oldest of
 * each scope, then mesh → namespace → workload, UNSET inheriting; UNSET port entries take the
 * workload's resulting mode.
 */
export function composePeerAuthentication(rootNamespace: string, policies: readonly PeerAuthentication[]): MergedPeerAuthentication {
  let mesh: PeerAuthentication | undefined;
  let namespace: PeerAuthentication | undefined;
  let workload: PeerAuthentication | undefined;
  const older = (a: PeerAuthentication, cur: PeerAuthentication | undefined): boolean => !cur || creationMs(a) < creationMs(cur);
  for (const pa of policies) {
    if (!hasSelector(pa)) {
      if (pa.metadata.namespace === rootNamespace) {
        if (older(pa, mesh)) mesh = pa;
      } else if (older(pa, namespace)) namespace = pa;
    } else if (pa.metadata.namespace !== rootNamespace && older(pa, workload)) workload = pa;
  }
  let mode: MutualTLSMode = "PERMISSIVE";
  const sources: string[] = [];
  for (const pa of [mesh, namespace, workload]) {
    if (!pa) continue;
    sources.push(ref(pa));
    if (!isUnset(pa.spec.mtls)) mode = convert(pa.spec.mtls!.mode);
  }
  const perPort = new Map<number, MutualTLSMode>();
  for (const [port, m] of Object.entries(workload?.spec.portLevelMtls ?? {})) {
    const n = Number(port);
    if (!Number.isInteger(n) || n <= 0 || n > 65535) continue; // validation refuses these
    perPort.set(n, isUnset(m) ? mode : convert(m.mode));
  }
  return { mode, perPort, sources };
}

/** The mode for a workload port: its port-level setting, else the workload's mode. */
export function mtlsModeForPort(p: MergedPeerAuthentication, port: number): MutualTLSMode {
  return p.perPort.get(port) ?? p.mode;
}

/** PeerAuthentications indexed as istiod does once per push. */
export class AuthenticationPolicies {
  readonly rootNamespace: string;
  /** Per namespace, oldest first; at most one policy without selector per namespace is kept. */
  private readonly byNamespace = new Map<string, PeerAuthentication[]>();
  private readonly namespaceModes = new Map<string, MutualTLSMode>();
  /** The mesh-level policy's mode (UNKNOWN without one; UNSET counts as PERMISSIVE). */
  readonly globalMode: MutualTLSMode = "UNKNOWN";
  /** Namespace/mesh policies left out because an older one of the same scope exists (for messages). */
  readonly shadowed: readonly { policy: string; kept: string }[];
  /** Why policies are ignored, one line each (Istio only logs these): for the control plane's log. */
  readonly warnings: readonly string[];

  constructor(policies: readonly PeerAuthentication[], rootNamespace: string) {
    this.rootNamespace = rootNamespace;
    const sorted = [...policies].sort(compareByCreationTime);
    const seen = new Map<string, PeerAuthentication>();
    const found = new Map<string, PeerAuthMode | undefined>();
    const shadowed: { policy: string; kept: string }[] = [];
    for (const pa of sorted) {
      const ns = pa.metadata.namespace;
      if (!hasSelector(pa)) {
        const kept = seen.get(ns);
        if (kept) {
          shadowed.push({ policy: ref(pa), kept: ref(kept) });
          continue;
        }
        seen.set(ns, pa);
        if (ns === rootNamespace) this.globalMode = isUnset(pa.spec.mtls) ? "PERMISSIVE" : convert(pa.spec.mtls!.mode);
        else found.set(ns, pa.spec.mtls?.mode);
      }
      let list = this.byNamespace.get(ns);
      if (!list) this.byNamespace.set(ns, (list = []));
      list.push(pa);
    }
    this.shadowed = shadowed;
    const warnings = shadowed.map((x) => `PeerAuthentication ${x.policy} is ignored: ${x.kept} is older and also applies to the whole namespace (the oldest wins)`);
    for (const pa of sorted) {
      if (pa.metadata.namespace === rootNamespace && hasSelector(pa)) {
        warnings.push(`PeerAuthentication ${ref(pa)} is ignored: a policy with a selector in the root namespace (${rootNamespace}) applies to no workload, as in Istio`);
      }
    }
    this.warnings = warnings;
    const inherited = this.globalMode === "UNKNOWN" ? "PERMISSIVE" : this.globalMode;
    for (const [ns, m] of found) this.namespaceModes.set(ns, m === undefined || m === "UNSET" ? inherited : convert(m));
  }

  /** Istio's GetNamespaceMutualTLSMode: the namespace policy's mode, else the mesh's (maybe UNKNOWN). */
  namespaceMutualTLSMode(namespace: string): MutualTLSMode {
    return this.namespaceModes.get(namespace) ?? this.globalMode;
  }

  /**
   * Istio's GetPeerAuthenticationsForWorkload: policies of the workload's namespace, the root
   * namespace and the namespaces of its services whose selector the labels satisfy.
   */
  forWorkload(namespace: string, labels: Readonly<Record<string, string>>, serviceNamespaces: readonly string[] = []): PeerAuthentication[] {
    const out: PeerAuthentication[] = [];
    for (const ns of new Set([namespace, this.rootNamespace, ...serviceNamespaces])) {
      for (const pa of this.byNamespace.get(ns) ?? []) if (labelsMatch(pa.spec.selector?.matchLabels, labels)) out.push(pa);
    }
    return out;
  }

  /** The effective policy of a workload (Istio's NewPolicyApplier / NewMtlsPolicy). */
  effective(namespace: string, labels: Readonly<Record<string, string>>, serviceNamespaces: readonly string[] = []): MergedPeerAuthentication {
    return composePeerAuthentication(this.rootNamespace, this.forWorkload(namespace, labels, serviceNamespaces));
  }
}
