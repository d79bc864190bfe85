// CDS for Envoy-form proxies (Istio's pilot/pkg/networking/core/cluster.go + cluster_builder.go):
// one outbound cluster per visible service port (`outbound|PORT||HOST`) plus one per DestinationRule
// subset (`outbound|PORT|SUBSET|HOST`), inbound clusters for a sidecar's own workload
// (`inbound|PORT||`), and BlackHoleCluster / PassthroughCluster / InboundPassthroughCluster.
//
// Sharing: every cluster object is memoized per push under a key naming exactly what it depends on
// (proxy type, proxy namespace — it picks the DestinationRule —, the service, and the proxy locality
// only for DNS clusters whose inline endpoints get locality priorities), so 1,000 sidecars in one
// namespace share one object per cluster and the encoder encodes it once.
import type { Resource } from "../../api/resource.js";
import { duration, struct } from "../../envoy/protos.js";
import type { Address, Cluster, ClusterLoadAssignment, Http2ProtocolOptions, LocalityLbEndpoints, Locality, Metadata } from "../../envoy/types.js";
import type { Proxy } from "../../model/proxy.js";
import type { PushContext, ServiceInstance } from "../../model/push-context.js";
import {
  isHTTP2Protocol,
  isHTTPProtocol,
  labelsMatch,
  localityString,
  parseProtocol,
  type Protocol,
  type Service,
  type ServicePortInfo,
  type WorkloadEndpoint,
} from "../../registry/model.js";
import { endpointPort } from "../../registry/registry.js";
import {
  applyLocalityLoadBalancer,
  effectiveLocalityLbSetting,
  localityLbApplies,
  type LocalityGroup,
  type WeightedEndpoint,
} from "./locality.js";
import { socketAddress } from "./filters.js";
import {
  BLACKHOLE_CLUSTER,
  byName,
  INBOUND_PASSTHROUGH_CLUSTER,
  PASSTHROUGH_CLUSTER,
  inboundClusterName,
  outboundClusterName,
} from "./names.js";
import {
  connectionPoolFields,
  destinationPolicy,
  httpProtocolOptions,
  loadBalancerFields,
  localityWeightedLb,
  outlierDetectionFields,
  portLevelPolicy,
  spiffeIdentity,
  upstreamTls,
  type ClusterTrafficPolicy,
  type ConnectionPoolSettings,
  type DestinationPolicy,
  type HttpOptionsDraft,
} from "./traffic-policy.js";

/**
 * Node metadata key naming the address the workload's application listens on (tsmesh local mode:
 * `tsmesh up` hands every app its own loopback address, e.g. 127.0.2.2, while the sidecar owns the
 * workload address). Inbound clusters send to `${INBOUND_APP_ADDRESS}:${port}`; default 127.0.0.1
 * (Istio's inbound bind address).
 */
export const INBOUND_APP_ADDRESS_METADATA = "INBOUND_APP_ADDRESS";
/** Istio's source address for traffic the sidecar sends back into the pod (skipped by iptables). */
export const INBOUND_PASSTHROUGH_BIND_IPV4 = "127.0.0.6";
/** Istio's default mesh dnsRefreshRate. */
export const DNS_REFRESH_RATE_MS = 60_000;
/** Idle timeout Istio gives the passthrough clusters' HTTP pools. */
const PASSTHROUGH_IDLE_TIMEOUT_MS = 300_000;

type JsonObject = Parameters<typeof struct>[0];

export interface OutboundClusterOptions {
  /**
   * Proxyless gRPC form: EDS (or LOGICAL_DNS) only, ROUND_ROBIN or RING_HASH, no Envoy HTTP protocol
   * options or TLS transport socket (gRPC takes certificates from certificate providers); same
   * circuit breakers, outlier detection and metadata.
   */
  grpc?: boolean;
}

/** Envoy's discovery type for a ServiceEntry resolution (undefined: not supported here). */
function discoveryType(resolution: Service["resolution"]): Cluster.DiscoveryType | undefined {
  switch (resolution) {
    case "STATIC":
      return "EDS";
    case "DNS":
      return "STRICT_DNS";
    case "DNS_ROUND_ROBIN":
      return "LOGICAL_DNS";
    case "NONE":
      return "ORIGINAL_DST";
    default:
      return undefined; // DYNAMIC_DNS needs Envoy's dynamic forward proxy
  }
}

function isDnsResolution(r: Service["resolution"]): boolean {
  return r === "DNS" || r === "DNS_ROUND_ROBIN";
}

/** Does a DNS cluster's inline load assignment depend on the caller's locality? */
function dnsLocalitySensitive(push: PushContext, service: Service, policy: ClusterTrafficPolicy | undefined): boolean {
  if (!isDnsResolution(service.resolution)) return false;
  const setting = effectiveLocalityLbSetting(push.mesh.localityLbEnabled, policy?.loadBalancer?.localityLbSetting);
  return !!setting && ((setting.distribute?.length ?? 0) > 0 || !!policy?.outlierDetection);
}

/**
 * The outbound cluster `outbound|PORT|SUBSET|HOST` as `proxy` sees it (undefined when it does not
 * exist: unknown subset, DNS service without endpoints, unsupported resolution). Shared per push.
 */
export function outboundClusterFor(
  proxy: Proxy,
  push: PushContext,
  service: Service,
  port: ServicePortInfo,
  subset?: string,
  opts: OutboundClusterOptions = {},
): Cluster | undefined {
  const name = outboundClusterName(port.port, service.hostname, subset ?? "");
  const dp = destinationPolicy(push, proxy.namespace, service, port.port, subset);
  if (subset && !dp.subset) return undefined;
  const loc = dnsLocalitySensitive(push, service, dp.policy) ? `@${localityString(proxy.locality)}` : "";
  const flavour = opts.grpc ? "grpc" : proxy.type;
  return push.memo(`cds/c/${flavour}/${proxy.namespace}/${service.namespace}/${name}${loc}`, () =>
    buildOutboundCluster(proxy, push, service, port, name, dp, !!opts.grpc),
  );
}

/** Service accounts of a service's workloads as SPIFFE URIs, plus the ServiceEntry's subjectAltNames. */
export function serviceAccounts(push: PushContext, service: Service): readonly string[] {
  return push.memo(`cds/sa/${service.namespace}/${service.hostname}`, () => {
    const out = new Set<string>();
    for (const ep of push.registry.endpoints(service)) if (ep.serviceAccount) out.add(spiffeIdentity(ep.namespace, ep.serviceAccount));
    for (const san of service.subjectAltNames) out.add(san);
    return [...out].sort();
  });
}

function buildOutboundCluster(
  proxy: Proxy,
  push: PushContext,
  service: Service,
  port: ServicePortInfo,
  name: string,
  dp: DestinationPolicy,
  grpc: boolean,
): Cluster | undefined {
  const policy = dp.policy;
  const lb = loadBalancerFields(policy?.loadBalancer);
  let type = discoveryType(service.resolution);
  if (!type) return undefined;
  if (lb.passthrough) type = "ORIGINAL_DST";
  if (grpc) {
    if (type === "ORIGINAL_DST") return undefined; // gRPC has no original-destination clusters
    if (type === "STRICT_DNS") type = "LOGICAL_DNS";
  }
  const originalDst = type === "ORIGINAL_DST";

  let loadAssignment: ClusterLoadAssignment | undefined;
  if (type === "STRICT_DNS" || type === "LOGICAL_DNS") {
    loadAssignment = dnsLoadAssignment(proxy, push, service, port, name, dp, type === "LOGICAL_DNS");
    if (!loadAssignment) return undefined; // Istio drops DNS clusters without endpoints
  }

  const pool = connectionPoolFields(policy?.connectionPool, push.mesh.connectTimeoutMs, policy?.retryBudget);
  const draft = grpc ? undefined : upstreamProtocol(port.protocol, proxy.type, pool);
  const http2 = draft?.protocol === "http2";
  const tls = grpc
    ? undefined
    : upstreamTls(policy?.tls, {
        istioMtlsSni: `outbound_.${port.port}_.${dp.subset?.name ?? ""}_.${service.hostname}`,
        serviceAccounts: serviceAccounts(push, service),
        serviceSubjectAltNames: service.subjectAltNames,
        http2,
      });
  let httpOptions = draft;
  if (tls && (tls.autoSni || tls.autoSanValidation)) {
    httpOptions ??= {};
    httpOptions.upstream = { ...(tls.autoSni ? { autoSni: true } : {}), ...(tls.autoSanValidation ? { autoSanValidation: true } : {}) };
  }
  const outlier = outlierDetectionFields(policy?.outlierDetection);

  const c: Cluster = { name };
  if (type !== "STATIC") c.type = type;
  if (type === "EDS") c.edsClusterConfig = edsClusterConfig(name);
  c.connectTimeout = pool.connectTimeout;
  if (originalDst) c.lbPolicy = "CLUSTER_PROVIDED";
  else if (grpc) {
    if (policy?.loadBalancer?.consistentHash) c.lbPolicy = "RING_HASH";
  } else if (lb.lbPolicy) c.lbPolicy = lb.lbPolicy;
  if (loadAssignment) c.loadAssignment = loadAssignment;
  c.circuitBreakers = pool.circuitBreakers;
  const tepo = httpProtocolOptions(httpOptions);
  if (tepo) c.typedExtensionProtocolOptions = tepo;
  if (loadAssignment) {
    c.dnsRefreshRate = duration(DNS_REFRESH_RATE_MS);
    c.respectDnsTtl = true;
    c.dnsLookupFamily = "V4_ONLY";
  }
  if (outlier) c.outlierDetection = outlier.outlierDetection;
  if (!originalDst) {
    if (grpc) {
      const ch = policy?.loadBalancer?.consistentHash;
      if (ch) {
        const size = ch.ringHash?.minimumRingSize || ch.minimumRingSize || 1024;
        c.ringHashLbConfig = { minimumRingSize: { value: size } };
      }
    } else if (lb.lbConfig) Object.assign(c, lb.lbConfig);
  }
  const common: Cluster.CommonLbConfig = {};
  if (outlier) common.healthyPanicThreshold = outlier.healthyPanicThreshold;
  if (!grpc && localityWeightedLb(push.mesh.localityLbEnabled, policy)) common.localityWeightedLbConfig = {};
  if (Object.keys(common).length > 0) c.commonLbConfig = common;
  if (tls) c.transportSocket = tls.transportSocket;
  c.metadata = clusterMetadata({
    services: [service],
    port: port.port,
    external: service.meshExternal,
    config: dp.rule?.names[0],
    subset: dp.subset?.name,
    alpnOverride: tls?.userTls === true,
  });
  if (pool.upstreamConnectionOptions) c.upstreamConnectionOptions = pool.upstreamConnectionOptions;
  return c;
}

/**
 * Istio's setUpstreamProtocol + applyConnectionPool + applyH2Upgrade: HTTP/2 for HTTP2/gRPC ports
 * (or h2UpgradePolicy UPGRADE), explicit HTTP/1.1 for HTTP ports, the downstream protocol for
 * undeclared (sniffed) ports on sidecars or with useClientProtocol; nothing for TCP/TLS ports
 * unless connection-pool options need the HTTP options message.
 */
function upstreamProtocol(protocol: Protocol, proxyType: Proxy["type"], pool: ReturnType<typeof connectionPoolFields>): HttpOptionsDraft | undefined {
  let d: HttpOptionsDraft | undefined;
  if (isHTTP2Protocol(protocol)) d = { protocol: "http2" };
  else if (isHTTPProtocol(protocol)) d = { protocol: "http1" };
  else if (protocol === "UNSUPPORTED" && proxyType === "sidecar") d = { protocol: "downstream" };
  if (pool.common) {
    d ??= {};
    d.common = pool.common;
  }
  if (pool.useClientProtocol) {
    d ??= {};
    d.protocol = "downstream";
  }
  if (pool.h2UpgradePolicy === "UPGRADE") {
    d ??= {};
    d.protocol = "http2";
  }
  if (d && (d.protocol === "http2" || d.protocol === "downstream")) {
    const h2: Http2ProtocolOptions = {};
    if (d.protocol === "http2" && pool.maxConcurrentStreams) h2.maxConcurrentStreams = { value: pool.maxConcurrentStreams };
    if (pool.http2KeepAlive) h2.connectionKeepalive = pool.http2KeepAlive;
    d.http2 = h2;
  }
  return d;
}

/** Istio's maybeApplyEdsConfig: endpoints over ADS, no initial fetch timeout (0s). */
export function edsClusterConfig(name: string): Cluster.EdsClusterConfig {
  // initialFetchTimeout 0s is an empty Duration (proto3 writes no zero scalars).
  return { edsConfig: { ads: {}, initialFetchTimeout: {}, resourceApiVersion: "V3" }, serviceName: name };
}

interface MetadataInput {
  services: readonly Pick<Service, "hostname" | "name" | "namespace">[];
  /** Outbound only: the service port (Istio's default_original_port). */
  port?: number;
  external?: boolean;
  /** `namespace/name` of the DestinationRule applied. */
  config?: string;
  subset?: string;
  /** SIMPLE/MUTUAL TLS origination: the proxy must not override ALPN (Istio's alpn_override "false"). */
  alpnOverride?: boolean;
}

/** `metadata.filterMetadata.istio`, as Istio writes it for telemetry and debugging. */
function clusterMetadata(m: MetadataInput): Metadata | undefined {
  const istio: JsonObject = {};
  // Inbound clusters without a service (Sidecar ingress for an undeclared port) get none, as in Istio.
  if (m.services.length > 0) istio.services = m.services.map((s) => ({ host: s.hostname, name: s.name, namespace: s.namespace }));
  if (m.port !== undefined) istio.default_original_port = m.port;
  if (m.external) istio.external = true;
  if (m.config) {
    const slash = m.config.indexOf("/");
    istio.config = `/apis/networking.istio.io/v1/namespaces/${m.config.slice(0, slash)}/destination-rule/${m.config.slice(slash + 1)}`;
  }
  if (m.subset) istio.subset = m.subset;
  if (m.alpnOverride) istio.alpn_override = "false";
  if (Object.keys(istio).length === 0) return undefined;
  return { filterMetadata: { istio: struct(istio) } };
}

interface DnsEndpoint extends WeightedEndpoint {
  address: string;
  port: number;
}

/** Socket address as Envoy wants it. */

/** Groups endpoints by locality (sorted by `region/zone/subzone`), dropping duplicate address:port. */
export function groupByLocality<E extends WeightedEndpoint & { address: string; port: number }>(
  items: readonly { ep: WorkloadEndpoint; item: E }[],
): LocalityGroup<E>[] {
  const seen = new Set<string>();
  const byLocality = new Map<string, { locality: WorkloadEndpoint["locality"]; endpoints: E[] }>();
  for (const { ep, item } of items) {
    const key = `${item.address}|${item.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const label = localityString(ep.locality);
    const g = byLocality.get(label);
    if (g) g.endpoints.push(item);
    else byLocality.set(label, { locality: ep.locality, endpoints: [item] });
  }
  return [...byLocality.keys()]
    .sort()
    .map((label) => {
      const g = byLocality.get(label)!;
      const endpoints = g.endpoints.sort(compareAddress);
      return { locality: g.locality, endpoints, weight: endpoints.reduce((s, e) => s + e.weight, 0), priority: 0 };
    });
}

/** Orders addresses numerically where they are numbers (127.0.4.2 before 127.0.4.10), then ports. */
export function compareAddress(a: { address: string; port: number }, b: { address: string; port: number }): number {
  if (a.address !== b.address) {
    const x = a.address.split(/([0-9]+)/);
    const y = b.address.split(/([0-9]+)/);
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] === y[i]) continue;
      const nx = Number(x[i]);
      const ny = Number(y[i]);
      if (i % 2 === 1 && !Number.isNaN(nx) && !Number.isNaN(ny) && nx !== ny) return nx - ny;
      return x[i] < y[i] ? -1 : 1;
    }
    return x.length - y.length;
  }
  return a.port - b.port;
}

/** Envoy's Locality message without empty strings. */
export function localityProto(l: WorkloadEndpoint["locality"]): Locality {
  const out: Locality = {};
  if (l.region) out.region = l.region;
  if (l.zone) out.zone = l.zone;
  if (l.subZone) out.subZone = l.subZone;
  return out;
}

/** LocalityLbEndpoints from groups: lbEndpoints with weights, locality weight, priority when > 0. */
export function localityLbEndpoints<E extends WeightedEndpoint & { address: string; port: number }>(groups: readonly LocalityGroup<E>[]): LocalityLbEndpoints[] {
  return groups.map((g) => {
    const out: LocalityLbEndpoints = {
      locality: localityProto(g.locality),
      lbEndpoints: g.endpoints.map((e) => ({ endpoint: { address: socketAddress(e.address, e.port) }, loadBalancingWeight: { value: e.weight } })),
      loadBalancingWeight: { value: g.weight },
    };
    if (g.priority > 0) out.priority = g.priority;
    return out;
  });
}

/** Inline endpoints of a DNS cluster (hostnames resolved by the proxy); undefined without endpoints. */
function dnsLoadAssignment(
  proxy: Proxy,
  push: PushContext,
  service: Service,
  port: ServicePortInfo,
  name: string,
  dp: DestinationPolicy,
  logical: boolean,
): ClusterLoadAssignment | undefined {
  const selector = dp.subset?.labels;
  const items: { ep: WorkloadEndpoint; item: DnsEndpoint }[] = [];
  for (const ep of push.registry.endpoints(service)) {
    if (ep.address.startsWith("unix://")) continue;
    if (selector && !labelsMatch(selector, ep.labels)) continue;
    items.push({ ep, item: { address: ep.address, port: endpointPort(ep, port), weight: ep.weight || 1, labels: ep.labels } });
  }
  let groups = groupByLocality(items);
  if (groups.length === 0) return undefined;
  if (logical) {
    // LOGICAL_DNS takes exactly one host name (Envoy rejects more).
    const first = groups[0].endpoints[0];
    groups = [{ locality: groups[0].locality, endpoints: [first], weight: first.weight, priority: 0 }];
  }
  const policy = dp.policy;
  const setting = effectiveLocalityLbSetting(push.mesh.localityLbEnabled, policy?.loadBalancer?.localityLbSetting);
  const enableFailover = !!policy?.outlierDetection;
  if (setting && localityLbApplies(setting, proxy, enableFailover)) {
    // As Istio does for CDS: no per-endpoint labels here, so failoverPriority does not split groups.
    groups = applyLocalityLoadBalancer(groups, { locality: proxy.locality, labels: {} }, setting, enableFailover);
  }
  return { clusterName: name, endpoints: localityLbEndpoints(groups) };
}

// ---------------------------------------------------------------------------------------------
// Inbound

function inboundAppAddress(proxy: Proxy): string {
  const v = proxy.metadata[INBOUND_APP_ADDRESS_METADATA];
  return typeof v === "string" && v !== "" ? v : "127.0.0.1";
}

type IngressListener = NonNullable<Resource<"Sidecar">["spec"]["ingress"]>[number];

/** Parses a Sidecar ingress defaultEndpoint: `127.0.0.1:PORT`, `0.0.0.0:PORT` (the app's address), `unix:///path`. */
export function defaultEndpointAddress(defaultEndpoint: string | undefined, port: number, appAddress: string): Address | undefined {
  if (!defaultEndpoint) return socketAddress(appAddress, port);
  if (defaultEndpoint.startsWith("unix://")) return { pipe: { path: defaultEndpoint.slice("unix://".length) } };
  const colon = defaultEndpoint.lastIndexOf(":");
  if (colon < 0) return undefined;
  let host = defaultEndpoint.slice(0, colon);
  const p = Number(defaultEndpoint.slice(colon + 1));
  if (!Number.isInteger(p) || p <= 0 || p > 65535) return undefined;
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  // Istio's "0.0.0.0:PORT" means the pod IP: here, the address the app listens on.
  if (host === "" || host === "0.0.0.0" || host === "::") host = appAddress;
  return socketAddress(host, p);
}

interface InboundSpec {
  port: number;
  protocol: Protocol;
  instances: ServiceInstance[];
  address: Address;
  listener?: IngressListener;
}

function inboundSpecs(proxy: Proxy, push: PushContext): InboundSpec[] {
  const scope = push.sidecarScope(proxy);
  const instances = push.serviceInstances(proxy);
  const app = inboundAppAddress(proxy);
  const out: InboundSpec[] = [];
  if (scope.ingress.length > 0) {
    // With Sidecar ingress listeners, Istio builds inbound clusters from them only.
    for (const listener of scope.ingress) {
      const port = listener.port.number;
      if (!port || out.some((s) => s.port === port)) continue;
      const address = defaultEndpointAddress(listener.defaultEndpoint, port, app);
      if (!address) continue;
      out.push({
        port,
        protocol: parseProtocol(listener.port.protocol, listener.port.name),
        instances: instances.filter((i) => i.endpointPort === port),
        address,
        listener,
      });
    }
    return out;
  }
  for (const inst of instances) {
    const spec = out.find((s) => s.port === inst.endpointPort);
    if (spec) spec.instances.push(inst);
    else out.push({ port: inst.endpointPort, protocol: inst.port.protocol, instances: [inst], address: socketAddress(app, inst.endpointPort) });
  }
  return out;
}

function buildInboundCluster(proxy: Proxy, push: PushContext, spec: InboundSpec): Cluster {
  const name = inboundClusterName(spec.port);
  const first = spec.instances[0];
  // Circuit breakers belong on the server side too: the service's DestinationRule connection pool,
  // overridden by the Sidecar's (ingress listener's, else inboundConnectionPool).
  const rule = first ? push.destinationRule(proxy.namespace, first.service) : undefined;
  let pool: ConnectionPoolSettings | undefined =
    rule?.trafficPolicy && first ? portLevelPolicy(rule.trafficPolicy, first.port.port).policy?.connectionPool : undefined;
  const sidecarPool = spec.listener?.connectionPool ?? push.sidecarScope(proxy).resource?.spec.inboundConnectionPool;
  if (sidecarPool) pool = sidecarPool as ConnectionPoolSettings;
  const fields = connectionPoolFields(pool, push.mesh.connectTimeoutMs);
  const draft = upstreamProtocol(spec.protocol, proxy.type, fields);
  const c: Cluster = { name };
  c.connectTimeout = fields.connectTimeout;
  c.loadAssignment = { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: spec.address } }] }] };
  c.circuitBreakers = fields.circuitBreakers;
  const tepo = httpProtocolOptions(draft);
  if (tepo) c.typedExtensionProtocolOptions = tepo;
  const sock = spec.address.socketAddress?.address;
  if (proxy.interceptionMode !== "NONE" && sock && sock !== "127.0.0.1" && sock !== "::1") {
    // Istio binds to 127.0.0.6 so iptables does not send the sidecar's own traffic back to it.
    c.upstreamBindConfig = { sourceAddress: { address: INBOUND_PASSTHROUGH_BIND_IPV4, portValue: 0 } };
  }
  const seen = new Set<string>();
  const services: Service[] = [];
  for (const i of spec.instances) {
    if (seen.has(i.service.hostname)) continue;
    seen.add(i.service.hostname);
    services.push(i.service);
  }
  const md = clusterMetadata({ services, config: rule?.trafficPolicy ? rule.names[0] : undefined });
  if (md) c.metadata = md;
  if (fields.upstreamConnectionOptions) c.upstreamConnectionOptions = fields.upstreamConnectionOptions;
  return c;
}

/** A sidecar's inbound clusters (`inbound|PORT||`), one per workload port. */
export function inboundClusters(proxy: Proxy, push: PushContext): Cluster[] {
  if (proxy.type !== "sidecar") return [];
  return inboundSpecs(proxy, push).map((s) => buildInboundCluster(proxy, push, s));
}

// ---------------------------------------------------------------------------------------------
// Fixed clusters

/** Traffic to nowhere: no endpoints (Istio's BlackHoleCluster; STATIC and ROUND_ROBIN are enum defaults). */
export function blackHoleCluster(push: PushContext): Cluster {
  return push.memo("cds/blackhole", () => ({ name: BLACKHOLE_CLUSTER, connectTimeout: duration(push.mesh.connectTimeoutMs) }));
}

function passthroughBase(push: PushContext, name: string): Cluster {
  const pool = connectionPoolFields(undefined, push.mesh.connectTimeoutMs);
  return {
    name,
    type: "ORIGINAL_DST",
    connectTimeout: pool.connectTimeout,
    lbPolicy: "CLUSTER_PROVIDED",
    circuitBreakers: pool.circuitBreakers,
    typedExtensionProtocolOptions: httpProtocolOptions({ protocol: "downstream", common: { idleTimeout: duration(PASSTHROUGH_IDLE_TIMEOUT_MS) }, http2: {} }),
  };
}

/** Unknown destinations, sent to their original address (Istio's PassthroughCluster). */
export function passthroughCluster(push: PushContext): Cluster {
  return push.memo("cds/passthrough", () => passthroughBase(push, PASSTHROUGH_CLUSTER));
}

/** Inbound traffic to ports no service declares (Istio's InboundPassthroughCluster). */
export function inboundPassthroughCluster(proxy: Proxy, push: PushContext): Cluster {
  const capture = proxy.interceptionMode !== "NONE";
  return push.memo(`cds/inpassthrough/${capture}`, () => {
    const c = passthroughBase(push, INBOUND_PASSTHROUGH_CLUSTER);
    if (capture) c.upstreamBindConfig = { sourceAddress: { address: INBOUND_PASSTHROUGH_BIND_IPV4, portValue: 0 } };
    return c;
  });
}

// ---------------------------------------------------------------------------------------------
// The whole CDS response

/** Every outbound cluster a proxy sees, sorted by name (shared by proxies with the same view). */
export function outboundClusters(proxy: Proxy, push: PushContext, opts: OutboundClusterOptions = {}): readonly Cluster[] {
  const scope = push.sidecarScope(proxy);
  const flavour = opts.grpc ? "grpc" : proxy.type;
  const base = `cds/out/${flavour}/${proxy.namespace}/${scope.key}`;
  const services = push.servicesFor(proxy);
  const sensitive = push.memo(`${base}/locality-sensitive`, () =>
    services.some(
      (svc) =>
        isDnsResolution(svc.resolution) &&
        svc.ports.some((p) => {
          const dp = destinationPolicy(push, proxy.namespace, svc, p.port, undefined);
          const subsets = dp.rule?.subsets ?? [];
          return (
            dnsLocalitySensitive(push, svc, dp.policy) ||
            subsets.some((s) => dnsLocalitySensitive(push, svc, destinationPolicy(push, proxy.namespace, svc, p.port, s.name).policy))
          );
        }),
    ),
  );
  const key = sensitive ? `${base}@${localityString(proxy.locality)}` : base;
  return push.memo(key, () => {
    const out: Cluster[] = [];
    const names = new Set<string>();
    const add = (c: Cluster | undefined): void => {
      if (!c || names.has(c.name!)) return; // first definition wins, as Istio's normalizeClusters
      names.add(c.name!);
      out.push(c);
    };
    for (const svc of services) {
      const rule = push.destinationRule(proxy.namespace, svc);
      for (const port of svc.ports) {
        add(outboundClusterFor(proxy, push, svc, port, undefined, opts));
        for (const s of rule?.subsets ?? []) add(outboundClusterFor(proxy, push, svc, port, s.name, opts));
      }
    }
    return out.sort(byName);
  });
}

/**
 * The CDS response for an Envoy-form proxy: outbound clusters and BlackHoleCluster for everyone;
 * sidecars also get their inbound clusters, PassthroughCluster and InboundPassthroughCluster.
 * Sorted by name; memoized per push.
 */
export function buildClusters(proxy: Proxy, push: PushContext): Cluster[] {
  const outbound = outboundClusters(proxy, push);
  const scope = push.sidecarScope(proxy);
  const inboundKey =
    proxy.type === "sidecar" ? `${proxy.ipAddresses.join(",")}|${inboundAppAddress(proxy)}|${proxy.interceptionMode}` : "";
  const locKey = localityString(proxy.locality);
  return push.memo(`cds/all/${proxy.type}/${proxy.namespace}/${scope.key}/${locKey}/${inboundKey}`, () => {
    const extra: Cluster[] = [blackHoleCluster(push)];
    if (proxy.type === "sidecar") {
      extra.push(passthroughCluster(push), inboundPassthroughCluster(proxy, push), ...inboundClusters(proxy, push));
    }
    extra.sort(byName);
    // Merge two sorted lists (the outbound list is shared and already sorted).
    const out: Cluster[] = [];
    const have = new Set<string>();
    let i = 0;
    let j = 0;
    while (i < outbound.length || j < extra.length) {
      const next = j >= extra.length || (i < outbound.length && byName(outbound[i], extra[j]) <= 0) ? outbound[i++] : extra[j++];
      if (have.has(next.name!)) continue;
      have.add(next.name!);
      out.push(next);
    }
    return out;
  });
}
