// A sidecar's inbound clusters (`inbound|PORT||`, Istio's buildInboundClusters): one per port its
// workload serves, or per Sidecar ingress listener when the Sidecar has any, sending to the app's
// address with the service's (or the Sidecar's) connection pool.
import type { Resource } from "../../api/resource.js";
import type { Address, Cluster } from "../../envoy/types.js";
import { passthroughInboundPorts } from "../../model/inbound-ports.js";
import type { Proxy } from "../../model/proxy.js";
import type { PushContext, ServiceInstance } from "../../model/push-context.js";
import { parseProtocol, type Protocol, type Service } from "../../registry/model.js";
import { clusterMetadata, upstreamProtocol } from "./cluster-fields.js";
import { socketAddress } from "./filters.js";
import { inboundClusterName } from "./names.js";
import { connectionPoolFields, httpProtocolOptions, portLevelPolicy, type ConnectionPoolSettings } from "./traffic-policy.js";

/**
 * Node metadata key naming the address the workload's application listens on (tsmesh local mode:
 * `tsmesh up` hands every app its own loopback address, e.g. 127.0.2.2, while the sidecar owns the
 * workload address). Inbound clusters send to `${INBOUND_APP_ADDRESS}:${port}`; default 127.0.0.1
 * (Istio's inbound bind address).
 */
export const INBOUND_APP_ADDRESS_METADATA = "INBOUND_APP_ADDRESS";
/** Istio's source address for traffic the sidecar sends back into the pod (skipped by iptables). */
export const INBOUND_PASSTHROUGH_BIND_IPV4 = "127.0.0.6";

/** The address inbound clusters send to: the app's own (INBOUND_APP_ADDRESS), else 127.0.0.1. */
export function inboundAppAddress(proxy: Proxy): string {
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
  // Local mode's passthrough ports (includeInboundPorts): to the app on the same port, protocol sniffed.
  for (const port of passthroughInboundPorts(proxy, push)) out.push({ port, protocol: "UNSUPPORTED", instances: [], address: socketAddress(app, port) });
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
