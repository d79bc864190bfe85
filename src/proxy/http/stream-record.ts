// The record of one finished HTTP stream (StreamInfo), built by the connection manager when
// something observes the stream: fields from the request as received and as forwarded, the router's
// result (cluster, host, response head), the route, and the downstream connection.
import type * as http from "node:http";
import type * as net from "node:net";
import { fromStruct } from "../../envoy/protos.js";
import type { DynamicMetadata } from "../dynamic-metadata.js";
import { downstreamTlsOf, EMPTY_STATE, hostPort, upstreamTlsOf } from "../observability/stream-info-build.js";
import type { HttpStreamInfo } from "../stream-info.js";
import type { UpstreamCluster } from "../upstream/cluster.js";
import type { DownstreamRequest } from "./downstream-request.js";
import type { StreamResult } from "./filter.js";
import type { ResolvedRoute } from "./route-glue.js";

/** What the stream itself knows at its end. */
export interface StreamEnd {
  readonly startTime: number;
  readonly flags: number;
  /** :path after normalization and filters. */
  readonly path: string;
  /** The request headers as forwarded. */
  readonly headers: http.OutgoingHttpHeaders;
  /** The trusted client address (xff.ts), without a port. */
  readonly trustedRemote: string;
  readonly route: ResolvedRoute | undefined;
  readonly bytesReceived: number;
  readonly dynamicMetadata: DynamicMetadata | undefined;
  readonly grpc: boolean;
  /** The stream's filter state (the connection's entries and its filters'), when any was written. */
  readonly filterState: ReadonlyMap<string, unknown> | undefined;
  /** gRPC messages in the request body (0 for other streams). */
  readonly requestMessages: number;
}

/** A cluster without filter_metadata, as the cache below keeps it (one lookup per stream, not a has() and a get()). */
const NO_METADATA: Readonly<Record<string, unknown>> = Object.freeze({});
const clusterMetadata = new WeakMap<UpstreamCluster, Readonly<Record<string, unknown>>>();

/** A cluster's filter_metadata as plain JSON (converted once per cluster). */
export function clusterFilterMetadata(c: UpstreamCluster): Readonly<Record<string, unknown>> | undefined {
  let out = clusterMetadata.get(c);
  if (out === undefined) {
    const fm = c.spec.object.metadata?.filterMetadata;
    if (fm === undefined) out = NO_METADATA;
    else {
      const json: Record<string, unknown> = {};
      for (const ns of Object.keys(fm)) json[ns] = fromStruct(fm[ns]);
      out = json;
    }
    clusterMetadata.set(c, out);
  }
  return out === NO_METADATA ? undefined : out;
}

/** A socket's local address, "" when unknown (an HTTP/2 session's socket proxy throws once the session is gone). */
/** Upstream sockets' printed local addresses: a pooled connection serves many streams. */
const upstreamLocal = new WeakMap<net.Socket, string>();

function localAddressOf(s: net.Socket | undefined): string {
  if (s === undefined) return "";
  let printed = upstreamLocal.get(s);
  if (printed !== undefined) return printed;
  try {
    const a = s.localAddress;
    printed = a === undefined ? "" : hostPort(a, s.localPort ?? 0);
  } catch {
    return "";
  }
  // (Not known before the socket connects: only a known address is kept.)
  if (printed !== "") upstreamLocal.set(s, printed);
  return printed;
}

/**
 * A header map's size as Envoy's HeaderMap::byteSize() counts it: each name's and value's length
 * (no separators), a repeated header once per value.
 */
function headersBytes(h: http.OutgoingHttpHeaders, skip?: string): number {
  let n = 0;
  // Header names and values are latin1 strings (one char per wire byte, as the codecs decode them),
  // so a length is the byte count Envoy takes, with no encoding pass.
  for (const k in h) {
    // (Pseudo-headers a map may carry are counted by the caller, once.)
    if (k === skip || k.charCodeAt(0) === 58) continue;
    const v = h[k];
    if (v === undefined) continue;
    if (typeof v === "string") n += k.length + v.length;
    else if (Array.isArray(v)) for (const x of v) n += k.length + x.length;
    else n += k.length + String(v).length;
  }
  return n;
}

/** ":status" and its three digits, in Envoy's response header map. */
const STATUS_PSEUDO_BYTES = ":status".length + 3;

/** Envoy's request header map: the pseudo-headers (Host as :authority) and the rest. */
function requestHeadersBytes(h: http.OutgoingHttpHeaders, method: string, path: string, authority: string, scheme: string): number {
  const pseudo = ":method".length + method.length + ":path".length + path.length + ":authority".length + authority.length + ":scheme".length + scheme.length;
  return pseudo + headersBytes(h, "host");
}

const NO_HEADERS: http.OutgoingHttpHeaders = Object.freeze({}) as http.OutgoingHttpHeaders;

export function buildHttpStreamInfo(req: DownstreamRequest, r: StreamResult, s: StreamEnd): HttpStreamInfo {
  const conn = req.connection;
  const printed = (conn.printedAddresses ??= { remote: hostPort(conn.remoteAddress, conn.remotePort), local: hostPort(conn.localAddress, conn.localPort) });
  const direct = printed.remote;
  // Envoy's trusted address from X-Forwarded-For carries no port (it prints :0).
  const remote = s.trustedRemote === req.remote ? direct : hostPort(s.trustedRemote, 0);
  const cluster = r.cluster;
  const requestId = s.headers["x-request-id"];
  return {
    kind: "http",
    startTime: s.startTime,
    durationMs: Date.now() - s.startTime,
    listenerName: conn.listenerName,
    direction: conn.direction ?? "",
    downstreamRemoteAddress: remote,
    downstreamDirectRemoteAddress: direct,
    downstreamLocalAddress: printed.local,
    downstreamTls: downstreamTlsOf(req.tls, conn),
    requestedServerName: conn.requestedServerName ?? (req.tls ? (req.tls as { servername?: string | false }).servername || "" : ""),
    upstreamCluster: cluster?.name ?? "",
    upstreamClusterMetadata: cluster === undefined ? undefined : clusterFilterMetadata(cluster),
    upstreamHost: r.upstreamHost ?? "",
    upstreamLocalAddress: localAddressOf(r.upstreamSocket),
    upstreamTls: upstreamTlsOf(r.upstreamSocket),
    // (Envoy's formatter prints it with spaces as underscores.)
    upstreamTransportFailureReason: r.transportFailureReason?.replace(/ /g, "_") ?? "",
    flags: s.flags,
    dynamicMetadata: s.dynamicMetadata,
    filterState: s.filterState ?? EMPTY_STATE,
    bytesReceived: s.bytesReceived,
    bytesSent: r.bytesSent,
    protocol: req.protocol,
    method: req.method,
    path: s.path,
    authority: req.authority,
    scheme: req.scheme,
    requestHeaders: s.headers,
    responseHeaders: r.responseHeaders ?? NO_HEADERS,
    responseTrailers: undefined,
    responseCode: r.status,
    responseCodeDetails: r.details,
    grpcStatus: r.grpcStatus,
    requestMessages: s.requestMessages,
    responseMessages: r.responseMessages ?? 0,
    routeName: s.route?.route?.name ?? "",
    requestId: typeof requestId === "string" ? requestId : "",
    upstreamServiceTimeMs: r.upstreamServiceTimeMs,
    requestHeadersBytes: requestHeadersBytes(s.headers, req.method, s.path, req.authority, req.scheme),
    responseHeadersBytes: r.status === 0 ? 0 : headersBytes(r.responseHeaders ?? NO_HEADERS) + STATUS_PSEUDO_BYTES,
  };
}
