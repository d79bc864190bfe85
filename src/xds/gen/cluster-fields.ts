// Cluster fields outbound and inbound clusters share (Istio's cluster_builder.go): the upstream HTTP
// protocol options a port's protocol and connection pool call for, Istio's `istio` filter metadata,
// and the EDS config of an EDS cluster.
import { struct } from "../../envoy/protos.js";
import type { Cluster, Http2ProtocolOptions, Metadata } from "../../envoy/types.js";
import type { Proxy } from "../../model/proxy.js";
import { isHTTP2Protocol, isHTTPProtocol, type Protocol, type Service } from "../../registry/model.js";
import type { connectionPoolFields, HttpOptionsDraft } from "./traffic-policy.js";

type JsonObject = Parameters<typeof struct>[0];

/**
 * Istio's setUpstreamProtocol + applyConnectionPool + applyH2Upgrade: HTTP/2 for HTTP2/gRPC ports
 * (or h2UpgradePolicy UPGRADE), explicit HTTP/1.1 for HTTP ports, the downstream protocol for
 * undeclared (sniffed) ports on sidecars or with useClientProtocol; nothing for TCP/TLS ports
 * unless connection-pool options need the HTTP options message.
 */
export function upstreamProtocol(protocol: Protocol, proxyType: Proxy["type"], pool: ReturnType<typeof connectionPoolFields>): HttpOptionsDraft | undefined {
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

export interface MetadataInput {
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
export function clusterMetadata(m: MetadataInput): Metadata | undefined {
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
