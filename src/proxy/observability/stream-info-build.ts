// The parts of a StreamInfo (stream-info.ts) that HTTP streams and TCP connections build the same
// way: addresses as Envoy prints them, a TLS socket's identities (parsed once per connection), and
// the record of a connection that reached no upstream (a listener with no matching filter chain, a
// read filter's view of an HTTP connection).
import type * as net from "node:net";
import type * as tls from "node:tls";
import { certificatesOf, sansOf } from "../http/cert-fields.js";
import type { ConnectionInfo } from "../listener-spec.js";
import type { ConnectionTls, TcpStreamInfo } from "../stream-info.js";

/** `ip:port`, `[v6]:port`. */
export function hostPort(ip: string, port: number | string): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

const byConnection = new WeakMap<tls.TLSSocket, ConnectionTls>();

/** A TLS connection's side as StreamInfo keeps it (cached with the socket: it cannot change). */
export function connectionTlsOf(socket: tls.TLSSocket, sni: string | undefined): ConnectionTls {
  let t = byConnection.get(socket);
  if (t === undefined) {
    const certs = certificatesOf(socket);
    const alpn = socket.alpnProtocol;
    t = {
      peerPrincipal: sansOf(certs.peer?.subjectAltName, "URI")[0] ?? "",
      localPrincipal: sansOf(certs.local?.subjectAltName, "URI")[0] ?? "",
      peerCertificatePresented: certs.peer !== undefined,
      sni: sni ?? ((socket as { servername?: string | false }).servername || ""),
      version: socket.getProtocol() ?? "",
      alpn: typeof alpn === "string" ? alpn : "",
    };
    byConnection.set(socket, t);
  }
  return t;
}

/** The downstream TLS side of a socket, undefined on plaintext. */
export function downstreamTlsOf(socket: net.Socket | undefined, info: ConnectionInfo): ConnectionTls | undefined {
  return socket !== undefined && (socket as tls.TLSSocket).encrypted === true ? connectionTlsOf(socket as tls.TLSSocket, info.requestedServerName) : undefined;
}

/** The upstream TLS side of a socket, undefined on plaintext or when the socket is gone (an HTTP/2 session's proxy throws then). */
export function upstreamTlsOf(socket: net.Socket | undefined): ConnectionTls | undefined {
  if (socket === undefined) return undefined;
  try {
    return (socket as tls.TLSSocket).encrypted === true ? connectionTlsOf(socket as tls.TLSSocket, undefined) : undefined;
  } catch {
    return undefined;
  }
}

/** A connection's record with no upstream (fields the caller knows are set over it). */
export function connectionStreamInfo(info: ConnectionInfo, socket: net.Socket | undefined, startTime: number, flags: number): TcpStreamInfo {
  const remote = hostPort(info.remoteAddress, info.remotePort);
  return {
    kind: "tcp",
    startTime,
    durationMs: Date.now() - startTime,
    listenerName: info.listenerName,
    direction: info.direction ?? "",
    downstreamRemoteAddress: remote,
    downstreamDirectRemoteAddress: remote,
    downstreamLocalAddress: hostPort(info.localAddress, info.localPort),
    downstreamTls: downstreamTlsOf(socket, info),
    requestedServerName: info.requestedServerName ?? "",
    upstreamCluster: "",
    upstreamClusterMetadata: undefined,
    upstreamHost: "",
    upstreamLocalAddress: "",
    upstreamTls: undefined,
    upstreamTransportFailureReason: "",
    flags,
    dynamicMetadata: undefined,
    filterState: info.filterState ?? EMPTY_STATE,
    bytesReceived: socket?.bytesRead ?? 0,
    bytesSent: socket?.bytesWritten ?? 0,
    connectionTerminationDetails: "",
    intermediate: false,
  };
}

/** A TCP connection's filter state: the downstream connection's entries and the upstream connection's (upstream_peer). */
export function connectionFilterState(down: ReadonlyMap<string, unknown> | undefined, up: ReadonlyMap<string, unknown> | undefined): ReadonlyMap<string, unknown> {
  if (up === undefined || up.size === 0) return down ?? EMPTY_STATE;
  if (down === undefined || down.size === 0) return up;
  return new Map([...down, ...up]);
}

export const EMPTY_STATE: ReadonlyMap<string, unknown> = new Map();
