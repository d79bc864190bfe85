// Istio's metadata exchange filters (pilot/pkg/xds/filters/filters.go), named
// `istio.metadata_exchange`, each a TypedStruct as Istio writes them: the HTTP peer_metadata filter
// first in sidecar and gateway HCMs (inbound discovers the downstream peer from the x-envoy-peer-metadata
// headers or workload discovery and propagates its own; outbound the same for the upstream), and
// the TCP exchange (protocol istio-peer-exchange) as a network filter on inbound mTLS chains and as
// a cluster filter on outbound clusters: it runs only when ALPN negotiated istio-peer-exchange.
import type { JsonValue } from "../../../envoy/protos.js";
import type { envoy, HttpFilter, NetworkFilter } from "../../../envoy/types.js";
import type { ListenerClass } from "../../../model/telemetry.js";
import { typedStruct } from "./istio-any.js";

export const MX_FILTER_NAME = "istio.metadata_exchange";
export const PEER_METADATA_TYPE_URL = "type.googleapis.com/io.istio.http.peer_metadata.Config";
export const TCP_MX_TYPE_URL = "type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange";

const discovery: JsonValue[] = [{ istio_headers: {} }, { workload_discovery: {} }];
const propagation: JsonValue[] = [{ istio_headers: {} }];

/**
 * SidecarInboundMetadataFilter on sidecar inbound HCMs, SidecarOutboundMetadataFilter on every
 * other (outbound and gateways: Istio's appendMxFilter), so a gateway's upstream learns who sent it.
 */
export function httpMetadataExchange(c: ListenerClass): HttpFilter | undefined {
  const cfg: { [k: string]: JsonValue } = c === "sidecar-inbound" ? { downstream_discovery: discovery, downstream_propagation: propagation } : { upstream_discovery: discovery, upstream_propagation: propagation };
  return { name: MX_FILTER_NAME, typedConfig: typedStruct(PEER_METADATA_TYPE_URL, cfg) };
}

const tcpMxConfig = { protocol: "istio-peer-exchange", enable_discovery: true };

/** TCPListenerMx: first network filter of an inbound mTLS chain. */
export function tcpListenerMetadataExchange(): NetworkFilter {
  return { name: MX_FILTER_NAME, typedConfig: typedStruct(TCP_MX_TYPE_URL, tcpMxConfig) };
}

/** TCPClusterMx: the upstream filter of every outbound service cluster. */
export function tcpClusterMetadataExchange(): envoy.config.cluster.v3.Filter {
  return { name: MX_FILTER_NAME, typedConfig: typedStruct(TCP_MX_TYPE_URL, tcpMxConfig) };
}
