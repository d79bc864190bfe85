// Builds the service registry from ServiceEntry and WorkloadEntry resources (Istio's
// serviceentry controller): one Service per SE host, endpoints from inline SE endpoints or from
// WorkloadEntries picked by the SE's workloadSelector (same namespace, as Istio does). Kubernetes
// Services come in as ServiceEntries (./kube-service.ts) and keep their kind and named target ports.
import type { Resource } from "../api/resource.js";
import { kubeServiceOf, namedTargetPort, servicePortProtocol } from "./kube-service.js";
import {
  exportToSet,
  labelsMatch,
  parseLocality,
  type ConfigRef,
  type Resolution,
  type Service,
  type ServicePortInfo,
  type WorkloadEndpoint,
  workloadTlsMode,
} from "./model.js";

export interface RegistryInput {
  serviceEntries: readonly Resource<"ServiceEntry">[];
  workloadEntries: readonly Resource<"WorkloadEntry">[];
}

function ref(r: { kind: string; metadata: { namespace: string; name: string } }): ConfigRef {
  return { kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name };
}

// The store hands out the same object for an unchanged resource, so endpoints are shared between
// successive registries and unchanged endpoint lists compare by identity (no serialization).
const endpointOf = new WeakMap<Resource<"WorkloadEntry">, WorkloadEndpoint | null>();

/** A WorkloadEntry as a registry endpoint (labels from the entry and its metadata). */
export function workloadEntryEndpoint(we: Resource<"WorkloadEntry">): WorkloadEndpoint | undefined {
  let ep = endpointOf.get(we);
  if (ep === undefined) {
    ep = buildEndpoint(we) ?? null;
    endpointOf.set(we, ep);
  }
  return ep ?? undefined;
}

function buildEndpoint(we: Resource<"WorkloadEntry">): WorkloadEndpoint | undefined {
  const spec = we.spec;
  if (!spec.address) return undefined;
  const labels = { ...(we.metadata.labels ?? {}), ...(spec.labels ?? {}) };
  return {
    address: spec.address,
    ports: spec.ports ?? {},
    labels,
    weight: spec.weight,
    locality: parseLocality(spec.locality),
    network: spec.network ?? "",
    serviceAccount: spec.serviceAccount ?? "",
    tlsMode: workloadTlsMode(labels, spec.serviceAccount),
    namespace: we.metadata.namespace,
    workloadName: we.metadata.name,
    source: ref(we),
  };
}

export class ServiceRegistry {
  readonly services: readonly Service[];
  /** Every WorkloadEntry with an address, in store order. */
  readonly workloads: readonly WorkloadEndpoint[];
  private readonly byHost = new Map<string, Service[]>();
  private readonly endpointsOf = new Map<Service, readonly WorkloadEndpoint[]>();
  private readonly workloadsByAddress = new Map<string, WorkloadEndpoint[]>();
  /** namespace → "key=value" (and "" for all) → workloads, in store order. */
  private readonly workloadIndex = new Map<string, Map<string, WorkloadEndpoint[]>>();

  constructor(input: RegistryInput) {
    const workloads: WorkloadEndpoint[] = [];
    for (const we of input.workloadEntries) {
      const ep = workloadEntryEndpoint(we);
      if (!ep) continue;
      workloads.push(ep);
      const list = this.workloadsByAddress.get(ep.address);
      if (list) list.push(ep);
      else this.workloadsByAddress.set(ep.address, [ep]);
    }
    this.workloads = workloads;
    for (const w of workloads) {
      let byLabel = this.workloadIndex.get(w.namespace);
      if (!byLabel) this.workloadIndex.set(w.namespace, (byLabel = new Map()));
      for (const key of ["", ...Object.entries(w.labels).map(([k, v]) => `${k}=${v}`)]) {
        const list = byLabel.get(key);
        if (list) list.push(w);
        else byLabel.set(key, [w]);
      }
    }

    const services: Service[] = [];
    input.serviceEntries.forEach((se, order) => {
      const spec = se.spec;
      const ns = se.metadata.namespace;
      const kube = kubeServiceOf(se);
      const ports: ServicePortInfo[] = (spec.ports ?? []).map((p) => {
        const targetPortName = kube ? namedTargetPort(se, p.number) : undefined;
        return { name: p.name, port: p.number, protocol: servicePortProtocol(se, p), targetPort: p.targetPort, ...(targetPortName ? { targetPortName } : {}) };
      });
      const resolution: Resolution = spec.resolution ?? "NONE";
      const selector = spec.workloadSelector?.labels;
      const selected = spec.workloadSelector ? this.select(ns, selector) : undefined;
      for (const host of spec.hosts) {
        const svc: Service = {
          hostname: host,
          namespace: ns,
          name: se.metadata.name,
          ports,
          addresses: spec.addresses ?? [],
          resolution,
          meshExternal: spec.location === "MESH_EXTERNAL",
          exportTo: exportToSet(spec.exportTo, ns),
          workloadSelector: selector ?? (spec.workloadSelector ? {} : undefined),
          subjectAltNames: spec.subjectAltNames ?? [],
          source: ref(kube ?? se),
          order,
        };
        services.push(svc);
        const list = this.byHost.get(host);
        if (list) list.push(svc);
        else this.byHost.set(host, [svc]);
        this.endpointsOf.set(svc, selected ?? this.inlineEndpoints(se, svc));
      }
    });
    this.services = services;
  }

  /**
   * WorkloadEntries of a namespace matching a selector: candidates come from the rarest selector
   * label (an index, not a scan of every entry per ServiceEntry), then are checked in full.
   */
  private select(namespace: string, selector: Readonly<Record<string, string>> | undefined): WorkloadEndpoint[] {
    const byLabel = this.workloadIndex.get(namespace);
    if (!byLabel) return [];
    let candidates = byLabel.get("") ?? [];
    for (const [k, v] of Object.entries(selector ?? {})) {
      const list = byLabel.get(`${k}=${v}`) ?? [];
      if (list.length < candidates.length) candidates = list;
    }
    return candidates.filter((w) => labelsMatch(selector, w.labels));
  }

  private inlineEndpoints(se: Resource<"ServiceEntry">, svc: Service): WorkloadEndpoint[] {
    const eps = se.spec.endpoints ?? [];
    if (eps.length === 0 && (svc.resolution === "DNS" || svc.resolution === "DNS_ROUND_ROBIN") && !svc.hostname.startsWith("*")) {
      // A DNS ServiceEntry without endpoints resolves its own host name.
      return [
        {
          address: svc.hostname,
          ports: {},
          labels: {},
          locality: parseLocality(undefined),
          network: "",
          serviceAccount: "",
          tlsMode: "disabled",
          namespace: svc.namespace,
          workloadName: se.metadata.name,
          source: svc.source,
        },
      ];
    }
    return eps
      .filter((e) => e.address)
      .map((e, i) => ({
        address: e.address!,
        ports: e.ports ?? {},
        labels: e.labels ?? {},
        weight: e.weight,
        locality: parseLocality(e.locality),
        network: e.network ?? "",
        serviceAccount: e.serviceAccount ?? "",
        tlsMode: workloadTlsMode(e.labels ?? {}, e.serviceAccount),
        namespace: svc.namespace,
        workloadName: `${se.metadata.name}-${i}`,
        source: svc.source,
      }));
  }

  /** Services defining `hostname` (several namespaces may define the same host), oldest first. */
  servicesFor(hostname: string): readonly Service[] {
    return this.byHost.get(hostname) ?? [];
  }

  /** Every distinct hostname. */
  hostnames(): IterableIterator<string> {
    return this.byHost.keys();
  }

  /** The workload instances backing `service`. */
  endpoints(service: Service): readonly WorkloadEndpoint[] {
    return this.endpointsOf.get(service) ?? [];
  }

  /** Workloads (WorkloadEntries) at an address. */
  workloadsAt(address: string): readonly WorkloadEndpoint[] {
    return this.workloadsByAddress.get(address) ?? [];
  }

  /** Services an endpoint belongs to (the instances a proxy at that workload serves inbound). */
  servicesOf(endpoint: WorkloadEndpoint): Service[] {
    const out: Service[] = [];
    for (const [svc, eps] of this.endpointsOf) if (eps.includes(endpoint)) out.push(svc);
    return out;
  }
}

/**
 * The port an endpoint serves a service port on: its named port, else targetPort, else the port; for
 * a Kubernetes Service's named targetPort, the endpoint's port of that name (undefined: none).
 */
export function endpointPort(ep: WorkloadEndpoint, port: ServicePortInfo): number | undefined {
  if (port.targetPortName) return ep.ports[port.targetPortName];
  return ep.ports[port.name] ?? port.targetPort ?? port.port;
}

/**
 * Hostnames whose endpoint lists differ between two registries (for EDS-only pushes), or
 * undefined when services themselves changed (a full push is needed).
 */
export function changedEndpointHosts(before: ServiceRegistry, after: ServiceRegistry): Set<string> | undefined {
  if (before.services.length !== after.services.length) return undefined;
  const changed = new Set<string>();
  for (let i = 0; i < after.services.length; i++) {
    const a = before.services[i];
    const b = after.services[i];
    if (a.hostname !== b.hostname || a.namespace !== b.namespace || serviceShape(a) !== serviceShape(b)) return undefined;
    const x = before.endpoints(a);
    const y = after.endpoints(b);
    if (x.length === y.length && x.every((e, j) => e === y[j])) continue;
    if (endpointsShape(x) !== endpointsShape(y)) changed.add(b.hostname);
  }
  return changed;
}

function serviceShape(s: Service): string {
  return JSON.stringify([s.ports, s.addresses, s.resolution, s.meshExternal, [...s.exportTo], s.workloadSelector, s.subjectAltNames]);
}

function endpointsShape(eps: readonly WorkloadEndpoint[]): string {
  return JSON.stringify(eps.map((e) => [e.address, e.ports, e.labels, e.weight, e.locality, e.network, e.serviceAccount, e.tlsMode]));
}

/** What changed between two registries, by (namespace, hostname) as istiod's registry reports it. */
export interface RegistryUpdates {
  /** Services added or whose definition changed (istiod's SvcUpdate add/update). */
  services: number;
  /** Services gone (SvcUpdate delete). */
  deleted: number;
  /** Services whose endpoints are new, changed or gone (EDSUpdate). */
  endpoints: number;
}

export function registryUpdates(before: ServiceRegistry, after: ServiceRegistry): RegistryUpdates {
  const shapes = (r: ServiceRegistry) => {
    const out = new Map<string, { service: string; endpoints: string; count: number }>();
    for (const svc of r.services) {
      const key = `${svc.namespace}/${svc.hostname}`;
      const prev = out.get(key);
      const service = serviceShape(svc);
      const eps = r.endpoints(svc);
      const endpoints = endpointsShape(eps);
      const n = (prev?.count ?? 0) + eps.length;
      out.set(key, prev ? { service: prev.service + service, endpoints: prev.endpoints + endpoints, count: n } : { service, endpoints, count: n });
    }
    return out;
  };
  const old = shapes(before);
  const now = shapes(after);
  const updates: RegistryUpdates = { services: 0, deleted: 0, endpoints: 0 };
  for (const [key, s] of now) {
    const o = old.get(key);
    const serviceChanged = !o || o.service !== s.service;
    if (serviceChanged) updates.services++;
    // istiod's instances carry their service: a changed service with endpoints changes them too.
    if (!o || o.endpoints !== s.endpoints || (serviceChanged && s.count > 0)) updates.endpoints++;
  }
  for (const key of old.keys()) {
    if (now.has(key)) continue;
    updates.deleted++;
    updates.endpoints++;
  }
  return updates;
}
