// Envoy's StreamInfo: what the proxy knows about one finished HTTP stream or TCP connection, in one
// record that everything observing traffic reads — access loggers and their filters, the istio.stats
// filter, the tracer's span tags, `tsmesh tap`. Built once when the stream ends, and only when
// something observes it (a stream nobody logs, counts or taps builds none).
import type * as http from "node:http";
import type { DynamicMetadata } from "./dynamic-metadata.js";
import type { ResponseFlags } from "./access-log.js";

/**
 * A workload's identity as Istio's metadata exchange carries it (istio::common::WorkloadMetadataObject;
 * the fields CEL reads as `filter_state.upstream_peer.workload`, …). Empty strings when unknown.
 */
export interface PeerMetadata {
  /** The pod / instance name (NAME). */
  readonly name: string;
  readonly namespace: string;
  /** CLUSTER_ID. */
  readonly cluster: string;
  /** WORKLOAD_NAME (the deployment). */
  readonly workload: string;
  /** service.istio.io/canonical-name (else app, else the workload). */
  readonly service: string;
  /** service.istio.io/canonical-revision (else version, else "latest"). */
  readonly revision: string;
  /** The app and version labels. */
  readonly app: string;
  readonly version: string;
  /** "pod", "deployment", … (Istio's workload type). */
  readonly type: string;
  /** The SPIFFE identity when known (the mTLS peer's URI SAN). */
  readonly identity: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Per-stream and per-connection objects filters leave for others (Envoy's FilterState). Istio's keys:
 * "downstream_peer" and "upstream_peer" (PeerMetadata) from metadata exchange; a stream sees its
 * connection's entries too.
 */
export type FilterState = ReadonlyMap<string, unknown>;

/** The TLS side of a connection (downstream or upstream), when it used TLS. */
export interface ConnectionTls {
  /** The peer certificate's first URI SAN (a SPIFFE id), "" without one. */
  readonly peerPrincipal: string;
  /** This proxy's certificate's first URI SAN, "" without one. */
  readonly localPrincipal: string;
  readonly peerCertificatePresented: boolean;
  /** SNI the client sent ("" if none). */
  readonly sni: string;
  /** "TLSv1.3", … */
  readonly version: string;
  /** The negotiated ALPN protocol ("" if none). */
  readonly alpn: string;
}

/** What both kinds of stream share. */
export interface StreamInfoBase {
  /** Epoch milliseconds when the stream (or connection) began. */
  readonly startTime: number;
  /** Total time until the last byte (or the close), milliseconds. */
  readonly durationMs: number;
  /** The listener's name (Envoy's listener_name / xds.listener_name). */
  readonly listenerName: string;
  /** "inbound" or "outbound" (the listener's traffic_direction), "" when unspecified. */
  readonly direction: "inbound" | "outbound" | "";
  /** Addresses as "ip:port". downstreamRemoteAddress is the trusted client (XFF-derived for HTTP). */
  readonly downstreamRemoteAddress: string;
  readonly downstreamDirectRemoteAddress: string;
  readonly downstreamLocalAddress: string;
  readonly downstreamTls: ConnectionTls | undefined;
  /** SNI of the downstream connection (tls_inspector's or the terminating handshake's), "" without one. */
  readonly requestedServerName: string;
  /** The cluster the stream went to, "" when none was chosen. */
  readonly upstreamCluster: string;
  /** The chosen cluster's filter_metadata (Istio: "istio" → services, default_original_port…), when any. */
  readonly upstreamClusterMetadata: Readonly<Record<string, unknown>> | undefined;
  /** The upstream host "ip:port", "" when none was reached. */
  readonly upstreamHost: string;
  readonly upstreamLocalAddress: string;
  readonly upstreamTls: ConnectionTls | undefined;
  readonly upstreamTransportFailureReason: string;
  readonly flags: ResponseFlags;
  readonly dynamicMetadata: DynamicMetadata | undefined;
  readonly filterState: FilterState;
  /** Bytes from the downstream (body for HTTP, payload for TCP) and to it. */
  readonly bytesReceived: number;
  readonly bytesSent: number;
}

export interface HttpStreamInfo extends StreamInfoBase {
  readonly kind: "http";
  /** "HTTP/1.1", "HTTP/2", "HTTP/1.0". */
  readonly protocol: string;
  readonly method: string;
  /** :path as received (with the query); X-Envoy-Original-Path is in requestHeaders. */
  readonly path: string;
  readonly authority: string;
  readonly scheme: string;
  /** The request headers as forwarded (after the filters); undefined values mean removed. */
  readonly requestHeaders: http.OutgoingHttpHeaders;
  /** Response headers as sent downstream; empty when no response began. */
  readonly responseHeaders: http.OutgoingHttpHeaders;
  readonly responseTrailers: http.OutgoingHttpHeaders | undefined;
  /** 0 when no response was sent (the downstream went away first). */
  readonly responseCode: number;
  /** Envoy's response code details ("via_upstream", "route_not_found", …). */
  readonly responseCodeDetails: string;
  /** grpc-status of a gRPC response (trailers or trailers-only), undefined otherwise. */
  readonly grpcStatus: number | undefined;
  /** gRPC messages each way (for istio_request_messages_total); 0 for non-gRPC streams. */
  readonly requestMessages: number;
  readonly responseMessages: number;
  /** The route's name ("" if it has none) and the request's x-request-id. */
  readonly routeName: string;
  readonly requestId: string;
  /** The router's time from the first upstream byte sent to the response head, when measured. */
  readonly upstreamServiceTimeMs: number | undefined;
  /** Header maps' sizes as Envoy's byteSize() counts them (names and values, pseudo-headers included); istio_request_bytes / istio_response_bytes add the bodies. */
  readonly requestHeadersBytes: number;
  readonly responseHeadersBytes: number;
}

export interface TcpStreamInfo extends StreamInfoBase {
  readonly kind: "tcp";
  /** Why the connection ended ("" when it closed normally). */
  readonly connectionTerminationDetails: string;
  /** Set for a periodic report of a still-open connection (tcp_reporting_duration); false at close. */
  readonly intermediate: boolean;
}

export type StreamInfo = HttpStreamInfo | TcpStreamInfo;
