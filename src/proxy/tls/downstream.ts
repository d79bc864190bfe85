// TLS termination: a filter chain's transport socket compiled from its DownstreamTlsContext into a
// node:tls server that never listens — the listener hands it connections whose ClientHello the
// tls_inspector already read — and the termination of one connection (client certificate SAN
// checks, the listener's ssl.* stats). Secrets delivered over SDS are not served by tsmesh yet:
// such a chain is "unavailable".
import type * as net from "node:net";
import * as tls from "node:tls";
import { isAnyOf } from "../../envoy/protos.js";
import type * as v3 from "../../envoy/types.js";
import { unknownExtension } from "../extensions.js";
import type { StatsScope } from "../stats.js";
import { XdsConfigError } from "../xds-error.js";
import { certificateSans, compileSanMatchers, dataSource, RAW_BUFFER_NAME, RAW_BUFFER_TYPE, type SanMatcher, sansMatch } from "./common.js";

export interface DownstreamTls {
  /**
   * Never listens: connections are emitted into it after the tls_inspector has read the
   * ClientHello. node:tls's own server path is the one whose sockets node:http2 can take over.
   */
  server: tls.Server;
  alpn: string[];
  requireClientCertificate: boolean;
  /** validationContext SAN matchers a client certificate must satisfy (empty: none). */
  sanMatchers: readonly SanMatcher[];
  /** Connections in their handshake, by 4-tuple, waiting for their filter chain's handler. */
  pending: Map<string, { onSecure: (secure: tls.TLSSocket) => void }>;
}

/**
 * A filter chain's transport socket, by type (Envoy's registry): TLS termination, or raw_buffer
 * (plaintext). Any other type is refused — never served as plaintext.
 */
export function downstreamTransportSocket(ts: v3.TransportSocket, path: string): DownstreamTls | "unavailable" | undefined {
  const typed = ts.typedConfig;
  if (isAnyOf(typed, "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext")) return downstreamTls(typed, path);
  const type = typed?.["@type"] ?? "";
  if (type === RAW_BUFFER_TYPE || (type === "" && ts.name === RAW_BUFFER_NAME)) return undefined;
  throw unknownExtension(`${path}.typedConfig`, ts.name ?? "", type);
}

/** A DownstreamTlsContext with inline or file certificates (SDS-delivered secrets come with the security step). */
export function downstreamTls(c: v3.DownstreamTlsContext, path: string): DownstreamTls | "unavailable" {
  const common = c.commonTlsContext ?? {};
  const certs = common.tlsCertificates ?? [];
  if (certs.length === 0) {
    if ((common.tlsCertificateSdsSecretConfigs ?? []).length > 0) return "unavailable";
    throw new XdsConfigError(`${path}.commonTlsContext`, "needs tls_certificates");
  }
  const requireClientCertificate = c.requireClientCertificate?.value === true;
  const validation = common.validationContext;
  const alpn = common.alpnProtocols ?? [];
  const sanMatchers = validation ? compileSanMatchers(validation, `${path}.commonTlsContext.validationContext`) : [];
  if (sanMatchers.length > 0 && !validation?.trustedCa) {
    throw new XdsConfigError(`${path}.commonTlsContext.validationContext`, "SAN-based verification of peer certificates without trusted CA is insecure and not allowed");
  }
  let server: tls.Server;
  try {
    server = tls.createServer({
      cert: dataSource(certs[0].certificateChain ?? {}, `${path}.commonTlsContext.tlsCertificates[0].certificateChain`),
      key: dataSource(certs[0].privateKey ?? {}, `${path}.commonTlsContext.tlsCertificates[0].privateKey`),
      ca: validation?.trustedCa ? dataSource(validation.trustedCa, `${path}.commonTlsContext.validationContext.trustedCa`) : undefined,
      ALPNProtocols: alpn.length ? alpn : undefined,
      requestCert: requireClientCertificate,
      rejectUnauthorized: requireClientCertificate,
    });
  } catch (e) {
    if (e instanceof XdsConfigError) throw e;
    throw new XdsConfigError(`${path}.commonTlsContext.tlsCertificates[0]`, (e as Error).message);
  }
  const spec: DownstreamTls = { server, alpn, requireClientCertificate, sanMatchers, pending: new Map() };
  server.on("secureConnection", (secure: tls.TLSSocket) => {
    const key = fourTuple(secure);
    const waiting = spec.pending.get(key);
    spec.pending.delete(key);
    if (waiting) waiting.onSecure(secure);
    else secure.destroy();
  });
  // The connection closes; terminateTls counts it as a handshake failure.
  server.on("tlsClientError", (_err, secure: tls.TLSSocket) => secure.destroy());
  return spec;
}

/** A connection's addresses, the key that pairs a socket with its TLS socket. */
function fourTuple(s: net.Socket): string {
  return `${s.remoteAddress}:${s.remotePort}>${s.localAddress}:${s.localPort}`;
}

/**
 * Terminates TLS on a connection whose first bytes were already read (the tls_inspector put them
 * back with unshift; the TLS socket takes those first). `onSecure` gets the TLS socket once the
 * handshake is done and ALPN has chosen the protocol; a failed handshake just closes.
 */
export function terminateTls(socket: net.Socket, t: DownstreamTls, stats: StatsScope, onSecure: (secure: tls.TLSSocket) => void): void {
  const key = fourTuple(socket);
  const waiting = {
    onSecure: (secure: tls.TLSSocket) => {
      const peer = secure.getPeerCertificate();
      // A client certificate must satisfy the SAN matchers (Envoy's DefaultCertValidator).
      if (t.sanMatchers.length > 0 && peer?.subject && !sansMatch(t.sanMatchers, certificateSans(peer.subjectaltname))) {
        stats.counter("ssl.fail_verify_san").inc();
        secure.destroy();
        return;
      }
      stats.counter("ssl.handshake").inc();
      if (!peer?.subject) stats.counter("ssl.no_certificate").inc();
      onSecure(secure);
    },
  };
  t.pending.set(key, waiting);
  socket.once("close", () => {
    // Closed before the handshake finished (a TLS alert, a bad ClientHello, a client that left).
    if (t.pending.get(key) !== waiting) return;
    t.pending.delete(key);
    stats.counter("ssl.connection_error").inc();
  });
  t.server.emit("connection", socket);
}
