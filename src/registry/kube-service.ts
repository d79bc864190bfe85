// Kubernetes Services as the mesh's services, the way istiod's Kubernetes registry converts them
// (pilot/pkg/serviceregistry/kube/conversion.go, and controller.go for WorkloadEntries a Service
// selects): host NAME.NAMESPACE.svc.<domain suffix>, ports with the protocol from appProtocol or the
// port name's prefix, endpoints from the WorkloadEntries of its namespace that its selector matches
// (tsmesh's pods), on the target port. A Service becomes a ServiceEntry of the same shape, so every
// consumer of ServiceEntries (registry, plan, Gateway API backends) reads it through one path; what
// a ServiceEntry cannot say (a named targetPort, that it came from a Service) travels beside it.
import type { KubeServicePort } from "../api/kube-service.js";
import type { Resource, ServicePort } from "../api/resource.js";
import { parseProtocol, type Protocol } from "./model.js";

export const DEFAULT_DOMAIN_SUFFIX = "cluster.local";

/** The Service a converted ServiceEntry stands for. */
const serviceOf = new WeakMap<Resource<"ServiceEntry">, Resource<"Service">>();
/** Converted ServiceEntries by Service object and suffix (the store hands out unchanged objects again). */
const converted = new WeakMap<Resource<"Service">, { suffix: string; entry: Resource<"ServiceEntry"> }>();

/** Ports for which Istio assumes TCP when nothing else names a protocol (SMTP, DNS, MySQL, MongoDB). */
const WELL_KNOWN_TCP = new Set([25, 53, 3306, 27017]);

/**
 * Istio's kube.ConvertProtocol: UDP stays UDP; else appProtocol (Kubernetes' `kubernetes.io/h2c`,
 * `ws`, `wss` names included) or the port name, by its prefix before `-` (`grpc-web` whole).
 */
export function kubeProtocol(port: KubeServicePort): Protocol {
  if (port.protocol === "UDP") return "UDP";
  const name = port.appProtocol ?? port.name ?? "";
  if (port.appProtocol === "kubernetes.io/h2c") return "HTTP2";
  if (port.appProtocol === "kubernetes.io/ws") return "HTTP";
  if (port.appProtocol === "kubernetes.io/wss") return "HTTPS";
  if (name.toLowerCase().startsWith("grpc-web")) return "GRPC-Web";
  const p = parseProtocol(undefined, name);
  return p === "UNSUPPORTED" && WELL_KNOWN_TCP.has(port.port) ? "TCP" : p;
}

/** `reviews.default.svc.cluster.local`: a Service's host (istiod's ServiceHostname). */
export function kubeServiceHost(name: string, namespace: string, domainSuffix = DEFAULT_DOMAIN_SUFFIX): string {
  return `${name}.${namespace}.svc.${domainSuffix}`;
}

/** The Service-defined port name an endpoint port is looked up by, when the targetPort is a name. */
function namedTarget(p: KubeServicePort): string | undefined {
  return typeof p.targetPort === "string" && p.targetPort !== "" ? p.targetPort : undefined;
}

/**
 * A Service as a ServiceEntry: MESH_INTERNAL, STATIC (istiod's ClientSideLB), NONE when headless
 * (clusterIP None: Passthrough), its clusterIP(s) as addresses, its selector as workloadSelector (no
 * selector, no endpoints), exportTo from `networking.istio.io/exportTo`. ExternalName Services are
 * aliases in istiod, which tsmesh does not build: none.
 */
export function serviceEntryOfService(svc: Resource<"Service">, domainSuffix = DEFAULT_DOMAIN_SUFFIX): Resource<"ServiceEntry"> | undefined {
  const spec = svc.spec;
  if (spec.type === "ExternalName") return undefined;
  const cached = converted.get(svc);
  if (cached?.suffix === domainSuffix) return cached.entry;
  const ports: ServicePort[] = (spec.ports ?? []).map((p) => {
    const protocol = kubeProtocol(p);
    const numeric = typeof p.targetPort === "number" && p.targetPort > 0 ? p.targetPort : undefined;
    return { number: p.port, name: p.name ?? "", ...(protocol === "UNSUPPORTED" ? {} : { protocol }), ...(numeric && numeric !== p.port ? { targetPort: numeric } : {}) };
  });
  const headless = spec.clusterIP === "None";
  const vips = headless ? [] : (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []);
  const exportTo = svc.metadata.annotations?.["networking.istio.io/exportTo"];
  const selector = spec.selector && Object.keys(spec.selector).length > 0 ? spec.selector : undefined;
  const entry: Resource<"ServiceEntry"> = {
    apiVersion: "networking.istio.io/v1",
    kind: "ServiceEntry",
    metadata: { ...svc.metadata },
    spec: {
      hosts: [kubeServiceHost(svc.metadata.name, svc.metadata.namespace, domainSuffix)],
      ...(vips.length > 0 ? { addresses: vips } : {}),
      ports,
      location: "MESH_INTERNAL",
      resolution: headless ? "NONE" : "STATIC",
      ...(selector ? { workloadSelector: { labels: selector } } : {}),
      ...(exportTo ? { exportTo: exportTo.split(",").map((s) => s.trim()) } : {}),
    },
  };
  serviceOf.set(entry, svc);
  converted.set(svc, { suffix: domainSuffix, entry });
  return entry;
}

/** The protocol of a ServiceEntry port: Istio's kube.ConvertProtocol for a converted Service's, else protocol.Parse and the name's prefix. */
export function servicePortProtocol(se: Resource<"ServiceEntry">, port: ServicePort): Protocol {
  const k = kubePort(se, port.number);
  return k ? kubeProtocol(k) : parseProtocol(port.protocol, port.name);
}

function kubePort(se: Resource<"ServiceEntry"> | undefined, number: number): KubeServicePort | undefined {
  const svc = se && serviceOf.get(se);
  return svc && (svc.spec.ports ?? []).find((p) => p.port === number);
}

/** A converted Service's targetPort name for a port number (undefined: a number, or not a Service). */
export function namedTargetPort(se: Resource<"ServiceEntry">, number: number): string | undefined {
  const k = kubePort(se, number);
  return k && namedTarget(k);
}

/** The Kubernetes Service a ServiceEntry was converted from, if it was. */
export function kubeServiceOf(se: Resource<"ServiceEntry">): Resource<"Service"> | undefined {
  return serviceOf.get(se);
}

/**
 * The port a workload serves a ServiceEntry port on, given the workload's named ports: Istio's
 * rule for ServiceEntries (the port's name, else targetPort, else the number), and for a
 * Service's named targetPort the workload's port of that name — undefined when it has none (istiod
 * leaves such a workload out of that port's endpoints).
 */
export function workloadPortFor(se: Resource<"ServiceEntry"> | undefined, port: { name?: string; number: number; targetPort?: number }, workloadPorts: Readonly<Record<string, number>>): number | undefined {
  const k = kubePort(se, port.number);
  const target = k && namedTarget(k);
  if (target) return workloadPorts[target];
  return (port.name ? workloadPorts[port.name] : undefined) ?? port.targetPort ?? port.number;
}

/** ServiceEntries and Services among `resources`, the Services converted (ExternalName ones left out). */
export function registryServiceEntries(resources: Iterable<{ kind: string }>, domainSuffix = DEFAULT_DOMAIN_SUFFIX): Array<Resource<"ServiceEntry">> {
  const out: Array<Resource<"ServiceEntry">> = [];
  for (const r of resources) {
    if (r.kind === "ServiceEntry") out.push(r as Resource<"ServiceEntry">);
    else if (r.kind === "Service") {
      const se = serviceEntryOfService(r as Resource<"Service">, domainSuffix);
      if (se) out.push(se);
    }
  }
  return out;
}
