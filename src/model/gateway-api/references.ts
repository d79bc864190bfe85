// References out of a Gateway API resource: backendRefs to services (istiod's buildDestination) and
// the ReferenceGrants that let a route or Gateway reach into another namespace.
import type { Resource } from "../../api/resource.js";
import { IstioReason, RouteReason, type ConfigError } from "./conditions.js";

export const GATEWAY_GROUP = "gateway.networking.k8s.io";

/** What a conversion reads besides the resource at hand. */
export interface ConversionContext {
  /** Mesh DNS suffix: a Service `reviews` in `default` is `reviews.default.svc.<suffix>`. */
  domainSuffix: string;
  grants: ReferenceGrants;
  /** Every service host the registry knows (ServiceEntry hosts): a backend elsewhere is not found. */
  serviceHosts: ReadonlySet<string>;
  /** The namespaces config exists in (a listener's namespace selector chooses among them). */
  namespaces: ReadonlySet<string>;
  /** The workload labels each service host's ServiceEntry selects (a manually deployed Gateway's workloads). */
  serviceSelectors?: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

/** The workload labels each ServiceEntry host selects (the first ServiceEntry with a workloadSelector for a host wins). */
export function serviceSelectorsOf(serviceEntries: Iterable<Resource<"ServiceEntry">>): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const se of serviceEntries) {
    const labels = se.spec.workloadSelector?.labels;
    if (labels && Object.keys(labels).length > 0) for (const h of se.spec.hosts ?? []) if (!out.has(h)) out.set(h, labels);
  }
  return out;
}

/** A backendRef / mirror backendRef / parentRef, as the CRDs default it. */
export interface ObjectRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
}

/** ReferenceGrants by the namespace they grant into. */
export class ReferenceGrants {
  private readonly byNamespace = new Map<string, Array<Resource<"ReferenceGrant">>>();

  constructor(grants: Iterable<Resource<"ReferenceGrant">>) {
    for (const g of grants) {
      const list = this.byNamespace.get(g.metadata.namespace) ?? [];
      list.push(g);
      this.byNamespace.set(g.metadata.namespace, list);
    }
  }

  /** May a `fromKind` in `fromNamespace` refer to the `toGroup`/`toKind` named `toName` in `toNamespace`? */
  allowed(fromKind: string, fromNamespace: string, toGroup: string, toKind: string, toName: string, toNamespace: string): boolean {
    for (const g of this.byNamespace.get(toNamespace) ?? []) {
      const from = g.spec.from.some((f) => f.group === GATEWAY_GROUP && f.kind === fromKind && f.namespace === fromNamespace);
      if (!from) continue;
      if (g.spec.to.some((t) => t.group === toGroup && t.kind === toKind && (t.name === undefined || t.name === "" || t.name === toName))) return true;
    }
    return false;
  }
}

export interface BuiltDestination {
  /** Undefined when the reference cannot name a host at all (the rule is dropped). */
  destination?: { host: string; port?: { number: number } };
  error?: ConfigError;
}

/**
 * istiod's buildDestination for the kinds tsmesh has: a Service (the default kind) or Istio's
 * `networking.istio.io` Hostname. A backend not found keeps its host (requests to it fail); a
 * cross-namespace reference without a ReferenceGrant gets no host.
 */
export function buildDestination(ctx: ConversionContext, to: ObjectRef, namespace: string, fromKind: string, enforceRefGrant: boolean): BuiltDestination {
  const group = to.group ?? "";
  const kind = to.kind ?? "Service";
  const ns = to.namespace ?? namespace;
  if (enforceRefGrant && to.namespace && to.namespace !== namespace && !ctx.grants.allowed(fromKind, namespace, group, kind, to.name, to.namespace)) {
    return {
      destination: { host: "" },
      error: { reason: RouteReason.RefNotPermitted, message: `backendRef ${to.name}/${to.namespace} not accessible to a ${fromKind} in namespace "${namespace}" (missing a ReferenceGrant?)` },
    };
  }
  let host: string;
  if (group === "" && kind === "Service") {
    if (to.name.includes(".")) return { error: { reason: IstioReason.InvalidDestination, message: "service name invalid; the name of the Service must be used, not the hostname." } };
    host = `${to.name}.${ns}.svc.${ctx.domainSuffix}`;
  } else if (group === "networking.istio.io" && kind === "Hostname") {
    if (to.namespace) return { error: { reason: IstioReason.InvalidDestination, message: "namespace may not be set with Hostname type" } };
    host = to.name;
  } else {
    return { destination: { host: "" }, error: { reason: RouteReason.InvalidKind, message: `referencing unsupported backendRef: group "${group}" kind "${kind}"` } };
  }
  if (to.port === undefined) return { error: { reason: IstioReason.InvalidDestination, message: "port is required in backendRef" } };
  const destination = { host, port: { number: to.port } };
  if (!ctx.serviceHosts.has(host)) return { destination, error: { reason: RouteReason.BackendNotFound, message: `backend(${host}) not found` } };
  return { destination };
}
