// PushContext: an immutable snapshot of the mesh for one push (Istio's model.PushContext), with
// the indexes generators ask for: services visible to a proxy, VirtualServices by gateway with
// their delegates merged in (once per push, as istiod's initVirtualServices), DestinationRules with
// Istio's namespace precedence and merging, Sidecar scopes, Gateways by workload. Generators may
// memoize per push (`memo`), since nothing here changes after build.
import type { AnyResource, Resource, Subset, TrafficPolicy } from "../api/resource.js";
import { conversionProblems, convertGatewayApi } from "./gateway-api/convert.js";
import { hostMatches, MESH_GATEWAY, resolveGatewayName, resolveShortName } from "../api/hosts.js";
import { exportToSet, labelsMatch, serviceVisibleFrom, visibleFrom, type Service, type ServicePortInfo, type WorkloadEndpoint } from "../registry/model.js";
import { registryServiceEntries } from "../registry/kube-service.js";
import { endpointPort, ServiceRegistry } from "../registry/registry.js";
import { AuthenticationPolicies } from "./authentication.js";
import { AuthorizationPolicies } from "./authorization.js";
import { DEFAULT_EXTENSION_PROVIDERS, type ExtensionProvider } from "./extension-providers.js";
import { EnvoyFilterIndex } from "./envoyfilter.js";
import type { Proxy } from "./proxy.js";
import { DEFAULT_JWKS_SETTINGS, RequestAuthentications, type JwksSettings } from "./request-authentication.js";
import { buildSidecarScope, type SidecarScope } from "./sidecar-scope.js";
import { DEFAULT_TELEMETRY_MESH, Telemetries, type TelemetryMesh } from "./telemetry.js";
import { indexDelegates, mergeDelegates, type MergedHttpRoutes } from "./virtualservice.js";

export interface MeshConfig {
  /** Istio's root namespace: mesh-wide Sidecar/DestinationRule defaults live here. */
  rootNamespace: string;
  /** ALLOW_ANY sends unknown destinations to PassthroughCluster; REGISTRY_ONLY to BlackHoleCluster. */
  outboundTrafficPolicy: "ALLOW_ANY" | "REGISTRY_ONLY";
  /** Default cluster connect timeout (mesh connectTimeout, 10 s). */
  connectTimeoutMs: number;
  /** Locality-aware load balancing (on by default in Istio). */
  localityLbEnabled: boolean;
  /** Mesh DNS suffix. */
  domainSuffix: string;
  /** SPIFFE trust domain (meshConfig.trustDomain; default cluster.local). */
  trustDomain: string;
  /** Auto mTLS: ISTIO_MUTUAL to endpoints with a sidecar when no DestinationRule says otherwise (default on). */
  enableAutoMtls: boolean;
  /** meshConfig.trustDomainAliases: other trust domains AuthorizationPolicy principals also accept. */
  trustDomainAliases: readonly string[];
  /** meshConfig.extensionProviders (CUSTOM AuthorizationPolicies name ext_authz ones). */
  extensionProviders: readonly ExtensionProvider[];
  /** meshConfig.defaultConfig.gatewayTopology.numTrustedProxies (gateways' xff_num_trusted_hops unless their own ProxyConfig says). */
  defaultNumTrustedProxies?: number;
  /** accessLogFile/Encoding/Format, enableTracing, defaultConfig.tracing, defaultProviders. */
  telemetry: TelemetryMesh;
}

export const DEFAULT_MESH_CONFIG: MeshConfig = {
  rootNamespace: "istio-system",
  outboundTrafficPolicy: "ALLOW_ANY",
  connectTimeoutMs: 10_000,
  localityLbEnabled: true,
  domainSuffix: "cluster.local",
  trustDomain: "cluster.local",
  enableAutoMtls: true,
  trustDomainAliases: [],
  extensionProviders: DEFAULT_EXTENSION_PROVIDERS,
  telemetry: DEFAULT_TELEMETRY_MESH,
};

/** The resources a PushContext is built from (a ConfigStore snapshot). */
export interface PushInput {
  /** ServiceEntries, and Kubernetes Services converted to their ServiceEntry form (registry/kube-service.ts). */
  serviceEntries: readonly Resource<"ServiceEntry">[];
  workloadEntries: readonly Resource<"WorkloadEntry">[];
  virtualServices: readonly Resource<"VirtualService">[];
  destinationRules: readonly Resource<"DestinationRule">[];
  gateways: readonly Resource<"Gateway">[];
  sidecars: readonly Resource<"Sidecar">[];
  peerAuthentications: readonly Resource<"PeerAuthentication">[];
  requestAuthentications: readonly Resource<"RequestAuthentication">[];
  authorizationPolicies: readonly Resource<"AuthorizationPolicy">[];
  envoyFilters: readonly Resource<"EnvoyFilter">[];
  /** Telemetry resources (optional: inputs built before issue 15 have none). */
  telemetries?: readonly Resource<"Telemetry">[];
  /** What converting the Gateway API could not do (reported with the VirtualService errors). */
  gatewayApiProblems?: readonly string[];
}

/** One or more DestinationRules for a host, merged as Istio merges them. */
export interface MergedDestinationRule {
  /** The host the rule was written for (FQDN, may be a wildcard). */
  host: string;
  namespace: string;
  /** `namespace/name` of every rule merged in, first one first (for cluster metadata). */
  names: readonly string[];
  trafficPolicy?: TrafficPolicy;
  subsets: readonly Subset[];
  exportTo: ReadonlySet<string>;
}

/** A Gateway server with the gateway it came from (`namespace/name`). */
export interface GatewayServerRef {
  gateway: string;
  namespace: string;
  server: NonNullable<Resource<"Gateway">["spec"]["servers"]>[number];
}

/** A service port a proxy's workload serves (drives inbound listeners and clusters). */
export interface ServiceInstance {
  service: Service;
  port: ServicePortInfo;
  endpoint: WorkloadEndpoint;
  /** The port the workload listens on for this service port. */
  endpointPort: number;
}

/** Istio's ordering for "most specific host first": exact before wildcard, longer suffix first. */
function hostSpecificity(a: string, b: string): number {
  const aw = a.startsWith("*");
  const bw = b.startsWith("*");
  if (aw !== bw) return aw ? 1 : -1;
  return b.length - a.length;
}

let pushCounter = 0;

export class PushContext {
  /** Push version, as istiod's: an increasing id with the time it was built. */
  readonly version: string;
  readonly mesh: MeshConfig;
  readonly registry: ServiceRegistry;
  readonly input: PushInput;
  /** VirtualServices by gateway key: "mesh" or "namespace/name". */
  private readonly vsByGateway: Map<string, Resource<"VirtualService">[]>;
  /** Delegate VirtualServices (no hosts) by `namespace/name`. */
  private readonly delegates: ReadonlyMap<string, Resource<"VirtualService">>;
  /** HTTP routes of each VirtualService with its delegates merged in. */
  private readonly mergedHttp: Map<Resource<"VirtualService">, MergedHttpRoutes>;
  private delegateMergeCount = 0;
  /** DestinationRules by namespace, each merged per host. */
  private readonly drByNamespace = new Map<string, MergedDestinationRule[]>();
  private readonly memoTable = new Map<string, unknown>();
  /** PeerAuthentications by scope (Istio's push.AuthnPolicies). */
  readonly authnPolicies: AuthenticationPolicies;
  /** RequestAuthentications by namespace (the JWT half of Istio's push.AuthnPolicies). */
  readonly requestAuthentications: RequestAuthentications;
  /**
   * How JWKS are resolved for this push (istiod's JwtKeyResolver and PILOT_JWT_ENABLE_REMOTE_JWKS):
   * the control plane sets it before the push is used; carried over by withRegistry.
   */
  jwks: JwksSettings = DEFAULT_JWKS_SETTINGS;
  /** AuthorizationPolicies by namespace (Istio's push.AuthzPolicies). */
  readonly authzPolicies: AuthorizationPolicies;
  /** EnvoyFilters by namespace, patch values read once (Istio's envoyFiltersByNamespace). */
  readonly envoyFilters: EnvoyFilterIndex;
  /** Telemetry resources and the mesh's providers, merged per proxy on demand. */
  readonly telemetry: Telemetries;

  /**
   * `sameVirtualServices`: a snapshot built from the same VirtualServices (an EDS-only change),
   * whose VirtualService indexes and merged delegates are reused rather than built again.
   */
  constructor(input: PushInput, mesh: MeshConfig = DEFAULT_MESH_CONFIG, registry?: ServiceRegistry, sameVirtualServices?: PushContext) {
    this.version = `${new Date().toISOString()}/${++pushCounter}`;
    this.mesh = mesh;
    this.input = input;
    this.registry = registry ?? new ServiceRegistry(input);
    const reuse = sameVirtualServices?.input.virtualServices === input.virtualServices ? sameVirtualServices : undefined;
    if (reuse) {
      this.vsByGateway = reuse.vsByGateway;
      this.delegates = reuse.delegates;
      this.mergedHttp = reuse.mergedHttp;
    } else {
      this.vsByGateway = new Map();
      this.delegates = indexDelegates(input.virtualServices);
      this.mergedHttp = new Map();
      this.indexVirtualServices();
    }
    this.indexDestinationRules();
    this.authzPolicies =
      sameVirtualServices?.input.authorizationPolicies === input.authorizationPolicies && sameVirtualServices.mesh.rootNamespace === mesh.rootNamespace
        ? sameVirtualServices.authzPolicies
        : new AuthorizationPolicies(input.authorizationPolicies, mesh.rootNamespace);
    this.authnPolicies = reuse?.input.peerAuthentications === input.peerAuthentications ? reuse.authnPolicies : new AuthenticationPolicies(input.peerAuthentications, mesh.rootNamespace);
    this.requestAuthentications =
      reuse?.input.requestAuthentications === input.requestAuthentications && reuse.mesh.rootNamespace === mesh.rootNamespace
        ? reuse.requestAuthentications
        : new RequestAuthentications(input.requestAuthentications, mesh.rootNamespace);
    this.envoyFilters =
      sameVirtualServices?.input.envoyFilters === input.envoyFilters && sameVirtualServices.mesh.rootNamespace === mesh.rootNamespace
        ? sameVirtualServices.envoyFilters
        : new EnvoyFilterIndex(input.envoyFilters, mesh.rootNamespace);
    this.telemetry = new Telemetries(input.telemetries ?? [], mesh.rootNamespace, mesh.extensionProviders, mesh.telemetry.defaultProviders);
  }

  /**
   * A PushContext for an EDS-only change: same config indexes, new endpoints. Memoized values that
   * do not depend on endpoints are not carried over (generators keep their own EDS cache).
   */
  withRegistry(registry: ServiceRegistry, workloadEntries: readonly Resource<"WorkloadEntry">[]): PushContext {
    const next = new PushContext({ ...this.input, workloadEntries }, this.mesh, registry, this);
    next.jwks = this.jwks;
    return next;
  }

  /** Per-push memo: computes `fn` once per key for the life of this snapshot. */
  memo<T>(key: string, fn: () => T): T {
    if (this.memoTable.has(key)) return this.memoTable.get(key) as T;
    const v = fn();
    this.memoTable.set(key, v);
    return v;
  }

  private indexVirtualServices(): void {
    for (const vs of this.input.virtualServices) {
      // Delegates are reached only through their roots (Istio leaves them out of the index).
      if (vs.spec.hosts?.length) this.httpRoutes(vs);
      const ns = vs.metadata.namespace;
      const gws = vs.spec.gateways && vs.spec.gateways.length > 0 ? vs.spec.gateways : [MESH_GATEWAY];
      for (const g of gws) {
        const key = resolveGatewayName(g, ns);
        const list = this.vsByGateway.get(key);
        if (list) list.push(vs);
        else this.vsByGateway.set(key, [vs]);
      }
    }
  }

  private indexDestinationRules(): void {
    for (const dr of this.input.destinationRules) {
      if (dr.spec.workloadSelector) continue; // workload-scoped rules apply to sidecars' inbound only (not built yet)
      const ns = dr.metadata.namespace;
      const host = resolveShortName(dr.spec.host, ns);
      let list = this.drByNamespace.get(ns);
      if (!list) this.drByNamespace.set(ns, (list = []));
      const existing = list.find((m) => m.host === host);
      const exportTo = exportToSet(dr.spec.exportTo, ns);
      if (!existing) {
        list.push({
          host,
          namespace: ns,
          names: [`${ns}/${dr.metadata.name}`],
          trafficPolicy: dr.spec.trafficPolicy,
          subsets: dr.spec.subsets ?? [],
          exportTo,
        });
        continue;
      }
      // Istio merges rules for one host in one namespace: subsets are added (first name wins), the
      // first traffic policy wins.
      const names = new Set(existing.subsets.map((s) => s.name));
      const merged: MergedDestinationRule = {
        ...existing,
        names: [...existing.names, `${ns}/${dr.metadata.name}`],
        trafficPolicy: existing.trafficPolicy ?? dr.spec.trafficPolicy,
        subsets: [...existing.subsets, ...(dr.spec.subsets ?? []).filter((s) => !names.has(s.name))],
        exportTo: new Set([...existing.exportTo, ...exportTo]),
      };
      list[list.indexOf(existing)] = merged;
    }
    for (const list of this.drByNamespace.values()) list.sort((a, b) => hostSpecificity(a.host, b.host));
  }

  /**
   * The DestinationRule that applies to traffic from a proxy in `proxyNamespace` to `hostname`:
   * the proxy's own namespace first, then the service's namespace, then the root namespace
   * (Istio's precedence), each picking the most specific matching host.
   */
  destinationRule(proxyNamespace: string, service: Pick<Service, "hostname" | "namespace">): MergedDestinationRule | undefined {
    const order = [proxyNamespace, service.namespace, this.mesh.rootNamespace];
    const seen = new Set<string>();
    for (const ns of order) {
      if (seen.has(ns)) continue;
      seen.add(ns);
      const list = this.drByNamespace.get(ns);
      if (!list) continue;
      for (const dr of list) {
        if (!hostMatches(dr.host, service.hostname)) continue;
        if (ns !== proxyNamespace && !visibleFrom(dr.exportTo, proxyNamespace)) continue;
        return dr;
      }
    }
    return undefined;
  }

  /**
   * A VirtualService's HTTP routes with its delegates merged in: computed once per push for every
   * VirtualService of the snapshot (and on first use for one built elsewhere, e.g. in a test).
   */
  httpRoutes(vs: Resource<"VirtualService">): MergedHttpRoutes {
    let merged = this.mergedHttp.get(vs);
    if (!merged) {
      merged = mergeDelegates(vs, this.delegates);
      if (vs.spec.http?.some((r) => r.delegate)) this.delegateMergeCount++;
      this.mergedHttp.set(vs, merged);
    }
    return merged;
  }

  /** How many root VirtualServices this snapshot has merged delegates into (each once per push). */
  get delegateMerges(): number {
    return this.delegateMergeCount;
  }

  /** Routes left out while merging delegates (missing, hidden or conflicting), and what the Gateway API conversion could not do, to be reported. */
  get virtualServiceErrors(): readonly string[] {
    const out: string[] = [...(this.input.gatewayApiProblems ?? [])];
    for (const m of this.mergedHttp.values()) out.push(...m.errors);
    return out;
  }

  /** VirtualServices bound to `gateway` ("mesh" or "ns/name") and visible from `namespace`. */
  virtualServices(namespace: string, gateway: string): readonly Resource<"VirtualService">[] {
    const list = this.vsByGateway.get(gateway) ?? [];
    return list.filter((vs) => visibleFrom(exportToSet(vs.spec.exportTo, vs.metadata.namespace), namespace));
  }

  /** The Sidecar scope of a proxy (egress host filter, ingress listeners, outbound policy). */
  sidecarScope(proxy: Proxy): SidecarScope {
    return this.memo(`sidecar/${proxy.namespace}/${labelsKey(proxy.labels)}`, () =>
      buildSidecarScope(this.input.sidecars, proxy.namespace, proxy.labels, this.mesh),
    );
  }

  /**
   * Services a proxy can reach: visible under exportTo and the Sidecar scope's egress hosts; one per
   * hostname, preferring the proxy's own namespace, then the oldest (Istio's rule).
   */
  servicesFor(proxy: Proxy): readonly Service[] {
    const scope = this.sidecarScope(proxy);
    return this.memo(`services/${proxy.namespace}/${scope.key}`, () => {
      const out: Service[] = [];
      for (const host of this.registry.hostnames()) {
        const svc = this.pickService(host, proxy.namespace);
        if (svc && scope.allowsService(svc)) out.push(svc);
      }
      return out;
    });
  }

  /** The service for `hostname` as seen from `namespace`, if visible. */
  pickService(hostname: string, namespace: string): Service | undefined {
    const candidates = this.registry.servicesFor(hostname).filter((s) => serviceVisibleFrom(s, namespace));
    return candidates.find((s) => s.namespace === namespace) ?? candidates[0];
  }

  /** Gateway servers that select a router proxy by its labels. */
  gatewayServers(proxy: Proxy): readonly GatewayServerRef[] {
    return this.memo(`gateways/${labelsKey(proxy.labels)}`, () => {
      const out: GatewayServerRef[] = [];
      for (const gw of this.input.gateways) {
        const sel = gw.spec.selector;
        if (!sel || Object.keys(sel).length === 0 || !labelsMatch(sel, proxy.labels)) continue;
        for (const server of gw.spec.servers ?? []) {
          out.push({ gateway: `${gw.metadata.namespace}/${gw.metadata.name}`, namespace: gw.metadata.namespace, server });
        }
      }
      return out;
    });
  }

  /** The service ports a proxy's workload serves (the registry's instances at the proxy's IPs). */
  serviceInstances(proxy: Proxy): readonly ServiceInstance[] {
    const out: ServiceInstance[] = [];
    for (const ip of proxy.ipAddresses) {
      for (const ep of this.registry.workloadsAt(ip)) {
        for (const service of this.registry.servicesOf(ep)) {
          for (const port of service.ports) {
            const at = endpointPort(ep, port);
            if (at !== undefined) out.push({ service, port, endpoint: ep, endpointPort: at });
          }
        }
      }
    }
    return out;
  }

  /** Labels of the WorkloadEntry at the proxy's address (used when the node sends none). */
  workloadLabels(proxy: Proxy): Readonly<Record<string, string>> | undefined {
    for (const ip of proxy.ipAddresses) {
      const we = this.registry.workloadsAt(ip).find((w) => w.namespace === proxy.namespace) ?? this.registry.workloadsAt(ip)[0];
      if (we) return we.labels;
    }
    return undefined;
  }
}

export function labelsKey(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(",");
}

/**
 * Sorts resources (e.g. a ConfigStore listing) into a PushInput; the Kubernetes Gateway API's are
 * converted to Istio Gateways and VirtualServices first, as istiod feeds its push context.
 */
export function pushInputFrom(resources: Iterable<{ kind: string }>): PushInput {
  const list = [...resources];
  const input = sortPushInput(list);
  if (list.some((r) => GATEWAY_API_KINDS.has(r.kind))) {
    const converted = convertGatewayApi(list as AnyResource[]);
    input.gateways.push(...converted.gateways);
    input.virtualServices.push(...converted.virtualServices);
    return { ...input, gatewayApiProblems: conversionProblems(converted) };
  }
  return input;
}

const GATEWAY_API_KINDS: ReadonlySet<string> = new Set(["KubernetesGateway", "HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute"]);

function sortPushInput(resources: Iterable<{ kind: string }>) {
  const input = {
    serviceEntries: [] as Resource<"ServiceEntry">[],
    workloadEntries: [] as Resource<"WorkloadEntry">[],
    virtualServices: [] as Resource<"VirtualService">[],
    destinationRules: [] as Resource<"DestinationRule">[],
    gateways: [] as Resource<"Gateway">[],
    sidecars: [] as Resource<"Sidecar">[],
    peerAuthentications: [] as Resource<"PeerAuthentication">[],
    requestAuthentications: [] as Resource<"RequestAuthentication">[],
    authorizationPolicies: [] as Resource<"AuthorizationPolicy">[],
    envoyFilters: [] as Resource<"EnvoyFilter">[],
    telemetries: [] as Resource<"Telemetry">[],
  };
  for (const r of resources) {
    switch (r.kind) {
      case "ServiceEntry":
      case "Service":
        input.serviceEntries.push(...registryServiceEntries([r]));
        break;
      case "WorkloadEntry":
        input.workloadEntries.push(r as Resource<"WorkloadEntry">);
        break;
      case "VirtualService":
        input.virtualServices.push(r as Resource<"VirtualService">);
        break;
      case "DestinationRule":
        input.destinationRules.push(r as Resource<"DestinationRule">);
        break;
      case "Gateway":
        input.gateways.push(r as Resource<"Gateway">);
        break;
      case "Sidecar":
        input.sidecars.push(r as Resource<"Sidecar">);
        break;
      case "PeerAuthentication":
        input.peerAuthentications.push(r as Resource<"PeerAuthentication">);
        break;
      case "Telemetry":
        input.telemetries.push(r as Resource<"Telemetry">);
        break;
      case "RequestAuthentication":
        input.requestAuthentications.push(r as Resource<"RequestAuthentication">);
        break;
      case "AuthorizationPolicy":
        input.authorizationPolicies.push(r as Resource<"AuthorizationPolicy">);
        break;
      case "EnvoyFilter":
        input.envoyFilters.push(r as Resource<"EnvoyFilter">);
        break;
    }
  }
  return input;
}
