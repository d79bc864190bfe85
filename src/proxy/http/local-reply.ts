// Envoy's local replies: the status codes, bodies and response flags a user sees in curl output
// and access logs when the proxy answers itself.
import type { ResponseFlag } from "../access-log.js";

export interface LocalReply {
  status: number;
  body: string;
  flag?: ResponseFlag;
  /** Envoy's response code details (for logs and debugging). */
  details: string;
}

const UPSTREAM_RESET = "upstream connect error or disconnect/reset before headers. reset reason: ";

/**
 * Envoy's Utility::maybeRequestTimeoutCode: the HCM's stream timers (stream idle, request,
 * max_stream_duration) answer 504 once the downstream sent the whole request, and 408 while it is
 * still arriving (after which an HTTP/1 connection cannot be reused: it closes).
 */
export function requestTimeoutCode(requestComplete: boolean): number {
  return requestComplete ? 504 : 408;
}

export const LOCAL_REPLIES = {
  noRoute: (): LocalReply => ({ status: 404, body: "", flag: "NR", details: "route_not_found" }),
  noCluster: (): LocalReply => ({ status: 503, body: "", flag: "NC", details: "cluster_not_found" }),
  noHealthyUpstream: (): LocalReply => ({ status: 503, body: "no healthy upstream", flag: "UH", details: "no_healthy_upstream" }),
  overflow: (): LocalReply => ({ status: 503, body: UPSTREAM_RESET + "overflow", flag: "UO", details: "upstream_reset_before_response_started{overflow}" }),
  connectFailure: (reason: string): LocalReply => ({
    status: 503,
    body: `${UPSTREAM_RESET}remote connection failure, transport failure reason: ${reason}`,
    flag: "UF",
    // As Envoy logs it: the transport failure reason after a comma, spaces as underscores.
    details: `upstream_reset_before_response_started{remote_connection_failure,${reason.replace(/ /g, "_")}}`,
  }),
  upstreamReset: (): LocalReply => ({
    status: 503,
    body: UPSTREAM_RESET + "connection termination",
    flag: "UC",
    details: "upstream_reset_before_response_started{connection_termination}",
  }),
  timeout: (): LocalReply => ({ status: 504, body: "upstream request timeout", flag: "UT", details: "upstream_response_timeout" }),
  faultAbort: (status: number): LocalReply => ({ status, body: "fault filter abort", flag: "FI", details: "fault_filter_abort" }),
  /**
   * The upstream sent something that is not HTTP (a codec error on the upstream connection): Envoy
   * resets the stream with reason protocol_error and answers 502 (router.cc onUpstreamReset).
   */
  upstreamProtocolError: (): LocalReply => ({
    status: 502,
    body: UPSTREAM_RESET + "protocol error",
    flag: "UPE",
    details: "upstream_reset_before_response_started{protocol_error}",
  }),
  // The HTTP/1 codec's refusals (codec_impl.cc sendProtocolError): Envoy answers with the status's
  // reason phrase as the body, sets DPE, and closes the connection.
  badRequest: (details = "http1.codec_error"): LocalReply => ({ status: 400, body: "Bad Request", flag: "DPE", details }),
  headersTooLarge: (details = "http1.headers_too_large"): LocalReply => ({ status: 431, body: "Request Header Fields Too Large", flag: "DPE", details }),
  /** A Transfer-Encoding other than chunked (or on a CONNECT). */
  invalidTransferEncoding: (): LocalReply => ({ status: 501, body: "Not Implemented", flag: "DPE", details: "http1.invalid_transfer_encoding" }),
  /** HTTP/1.0 or HTTP/0.9 while http_protocol_options.accept_http_10 is off (Envoy's default). */
  lowVersion: (): LocalReply => ({ status: 426, body: "Upgrade Required", flag: "DPE", details: "low_version" }),
  /** An HTTP/1.1 request without Host (conn_manager_impl.cc: no body, no flag). */
  missingHost: (): LocalReply => ({ status: 400, body: "", details: "missing_host_header" }),
  /** The HCM's request_timeout (no response flag, as in Envoy). */
  requestTimeout: (requestComplete: boolean): LocalReply => ({ status: requestTimeoutCode(requestComplete), body: "request timeout", details: "request_overall_timeout" }),
  /** The HCM's stream_idle_timeout. */
  streamIdleTimeout: (requestComplete: boolean): LocalReply => ({ status: requestTimeoutCode(requestComplete), body: "stream timeout", flag: "SI", details: "stream_idle_timeout" }),
  /** The route's (else the HCM's) max_stream_duration (a gRPC request gets DEADLINE_EXCEEDED). */
  maxStreamDuration: (requestComplete: boolean): LocalReply => ({ status: requestTimeoutCode(requestComplete), body: "downstream duration timeout", details: "max_duration_timeout" }),
  /** The cluster's max_stream_duration passed (408 before the request ended, else 504). */
  upstreamMaxDuration: (requestComplete: boolean): LocalReply => ({ status: requestTimeoutCode(requestComplete), body: "upstream max stream duration reached", flag: "UMSDR", details: "upstream_max_stream_duration_reached" }),
  /** The body outgrew the retry buffer while no try was in flight. */
  retryBufferExceeded: (): LocalReply => ({ status: 507, body: "exceeded request buffer limit while retrying upstream", details: "request_payload_exceeded_retry_buffer_limit" }),
};
