// CDS for Envoy-form proxies (Istio's pilot/pkg/networking/core/cluster.go + cluster_builder.go):
// one outbound cluster per visible service port (`outbound|PORT||HOST`) plus one per DestinationRule
// subset (`outbound|PORT|SUBSET|HOST`), inbound clusters for a sidecar's own workload
// (`inbound|PORT||`, clusters-inbound.ts), and BlackHoleCluster / PassthroughCluster /
// InboundPassthroughCluster. Fields inbound and outbound share are cluster-fields.ts'.
//
// Sharing: every cluster object is memoized per push under a key naming exactly what it depends on
// (proxy type, proxy namespace — it picks the DestinationRule —, the service, and the proxy locality
// only for DNS clusters whose inline endpoints get locality priorities), so 1,000 sidecars in one
// namespace share one object per cluster and the encoder encodes it once.
import { duration } from "../../envoy/protos.js";
import type { Cluster, ClusterLoadAssignment, Metadata } from "../../envoy/types.js";
import type { Proxy } from "../../model/proxy.js";
import type { PushContext } from "../../model/push-context.js";
import { labelsMatch, localityString, type Service, type ServicePortInfo, type WorkloadEndpoint } from "../../registry/model.js";
import { endpointPort } from "../../registry/registry.js";
import { clusterMetadata, edsClusterConfig, upstreamProtocol } from "./cluster-fields.js";
import { clusterTls } from "./cluster-tls.js";
import { inboundAppAddress, inboundClusters, INBOUND_PASSTHROUGH_BIND_IPV4 } from "./clusters-inbound.js";
import { destinationRuleTlsMode, endpointMetadata } from "./endpoint-metadata.js";
import { groupByLocality, localityLbEndpoints } from "./lb-endpoints.js";
import { applyLocalityLoadBalancer, effectiveLocalityLbSetting, localityLbApplies, type WeightedEndpoint } from "./locality.js";
import { BLACKHOLE_CLUSTER, byName, INBOUND_PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER, outboundClusterName } from "./names.js";
import { spiffeIdentity } from "./sds.js";
import {
  connectionPoolFields,
  destinationPolicy,
  httpProtocolOptions,
  loadBalancerFields,
  localityWeightedLb,
  outlierDetectionFields,
  type ClusterTrafficPolicy,
  type DestinationPolicy,
} from "./traffic-policy.js";
import { TELEMETRY_FEATURES, tcpClusterMetadataExchange } from "./telemetry/index.js";

/** Istio's default mesh dnsRefreshRate. */
export const DNS_REFRESH_RATE_MS = 60_000;
/** Idle timeout Istio gives the passthrough clusters' HTTP pools. */
const PASSTHROUGH_IDLE_TIMEOUT_MS = 300_000;

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
    for (const ep of push.registry.endpoints(service)) if (ep.serviceAccount) out.add(spiffeIdentity(push.mesh.trustDomain, ep.namespace, ep.serviceAccount));
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
  const ct = grpc
    ? {}
    : clusterTls(push, {
        tls: policy?.tls,
        service,
        // Istio infers passthrough from the subset's own policy for a subset cluster, else the rule's.
        inferenceLb: (dp.subset ? dp.subset.trafficPolicy : dp.rule?.trafficPolicy)?.loadBalancer,
        options: {
          istioMtlsSni: `outbound_.${port.port}_.${dp.subset?.name ?? ""}_.${service.hostname}`,
          serviceAccounts: serviceAccounts(push, service),
          serviceSubjectAltNames: service.subjectAltNames,
          http2,
        },
        originalDst,
      });
  const tls = ct.upstream;
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
  if (ct.transportSocket) c.transportSocket = ct.transportSocket;
  if (ct.transportSocketMatches) c.transportSocketMatches = ct.transportSocketMatches;
  c.metadata = clusterMetadata({
    services: [service],
    port: port.port,
    external: service.meshExternal,
    config: dp.rule?.names[0],
    subset: dp.subset?.name,
    alpnOverride: tls?.userTls === true,
  });
  if (pool.upstreamConnectionOptions) c.upstreamConnectionOptions = pool.upstreamConnectionOptions;
  // Istio's applyMetadataExchange: every outbound service cluster of an Envoy proxy.
  if (!grpc && TELEMETRY_FEATURES.metadataExchange) c.filters = [tcpClusterMetadataExchange()];
  return c;
}

interface DnsEndpoint extends WeightedEndpoint {
  address: string;
  port: number;
  metadata: Metadata;
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
  const drMode = destinationRuleTlsMode(dp.rule, dp.subset?.name, port.port);
  const items: { ep: WorkloadEndpoint; item: DnsEndpoint }[] = [];
  for (const ep of push.registry.endpoints(service)) {
    if (ep.address.startsWith("unix://")) continue;
    if (selector && !labelsMatch(selector, ep.labels)) continue;
    const p = endpointPort(ep, port);
    if (p === undefined) continue;
    items.push({ ep, item: { address: ep.address, port: p, weight: ep.weight || 1, labels: ep.labels, metadata: endpointMetadata(push, ep, p, drMode) } });
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
