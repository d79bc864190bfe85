// The HCM's protocol-neutral request: what every downstream codec (the HTTP/1 codec, node:http2)
// hands the request path.
import type * as http from "node:http";
import type * as tls from "node:tls";
import type { ConnectionInfo } from "../listener-spec.js";
import type { BodySource, DownstreamProtocol } from "./downstream.js";

/** One downstream request, protocol-neutral (HTTP/1 request line + Host, or HTTP/2 pseudo-headers). */
export interface DownstreamRequest {
  protocol: DownstreamProtocol;
  method: string;
  authority: string;
  path: string;
  scheme: string;
  /** Regular headers (lowercase; no pseudo-headers). */
  headers: http.IncomingHttpHeaders;
  /**
   * `headers` holds no Host and no hop-by-hop header (the HTTP/1 fast path parses them aside):
   * the HCM uses the object itself as the upstream request's headers instead of a filtered copy.
   */
  endToEnd?: boolean;
  /** The body, or undefined when the request has none (END_STREAM on HEADERS, no length). */
  body: BodySource | undefined;
  remote: string;
  /** The connection the request came on. */
  connection: ConnectionInfo;
  /** The TLS socket, when the listener terminated TLS (client certificate, XFCC). */
  tls?: tls.TLSSocket;
  /** The Upgrade header value of an HTTP/1.1 upgrade request. */
  upgrade?: string;
}
