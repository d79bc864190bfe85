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
import { certificateSans, compileSanMatchers, dataSource, RAW_BUFFER_NAME, RAW_BUFFER_TYPE, type SanMatcher, sansMatch, tlsVersion } from "./common.js";

export interface DownstreamTls {
  /**
   * Never listens: connections are emitted into it after the tls_inspector has read the
   * ClientHello. node:tls's own server path is the one whose sockets node:http2 can take over.
   */
  server: tls.Server;
  alpn: string[];
  requireClientCertificate: boolean;
  /** require_sni: a ClientHello without a server name is refused. */
  requireSni: boolean;
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

/**
 * A DownstreamTlsContext with inline or file certificates (SDS-delivered secrets come with the
 * security step: such a chain is "unavailable"). With a trusted CA — in validation_context or
 * combined_validation_context's default — the client is asked for a certificate, and one that is
 * presented must verify (and satisfy the SAN matchers) whether or not it is required; requiring a
 * client certificate without a trusted CA is refused (node would fall back to its public roots).
 */
export function downstreamTls(c: v3.DownstreamTlsContext, path: string): DownstreamTls | "unavailable" {
  const common = c.commonTlsContext ?? {};
  const cpath = `${path}.commonTlsContext`;
  const certs = common.tlsCertificates ?? [];
  const combined = common.combinedValidationContext;
  if (certs.length === 0 || combined?.validationContextSdsSecretConfig !== undefined || common.validationContextSdsSecretConfig !== undefined) {
    if ((common.tlsCertificateSdsSecretConfigs ?? []).length > 0 || combined?.validationContextSdsSecretConfig !== undefined || common.validationContextSdsSecretConfig !== undefined) return "unavailable";
    throw new XdsConfigError(cpath, "needs tls_certificates");
  }
  const requireClientCertificate = c.requireClientCertificate?.value === true;
  const validation = combined ? combined.defaultValidationContext : common.validationContext;
  const vpath = combined ? `${cpath}.combinedValidationContext.defaultValidationContext` : `${cpath}.validationContext`;
  const alpn = common.alpnProtocols ?? [];
  const sanMatchers = validation ? compileSanMatchers(validation, vpath) : [];
  if (sanMatchers.length > 0 && !validation?.trustedCa) throw new XdsConfigError(vpath, "SAN-based verification of peer certificates without trusted CA is insecure and not allowed");
  if (requireClientCertificate && !validation?.trustedCa) throw new XdsConfigError(`${path}.requireClientCertificate`, "a client certificate cannot be verified without a trusted CA");
  if (validation?.trustChainVerification !== undefined && validation.trustChainVerification !== "VERIFY_TRUST_CHAIN") {
    throw new XdsConfigError(`${vpath}.trustChainVerification`, "only VERIFY_TRUST_CHAIN is supported");
  }
  const params = common.tlsParams;
  const options: tls.TlsOptions = {
    ALPNProtocols: alpn.length ? alpn : undefined,
    requestCert: validation?.trustedCa !== undefined,
    // Checked in terminateTls whether required or not: a presented certificate must verify.
    rejectUnauthorized: requireClientCertificate,
  };
  const minVersion = tlsVersion(params?.tlsMinimumProtocolVersion, `${cpath}.tlsParams.tlsMinimumProtocolVersion`);
  const maxVersion = tlsVersion(params?.tlsMaximumProtocolVersion, `${cpath}.tlsParams.tlsMaximumProtocolVersion`);
  if (minVersion) options.minVersion = minVersion;
  if (maxVersion) options.maxVersion = maxVersion;
  if (params?.cipherSuites?.length) options.ciphers = params.cipherSuites.join(":");
  if (params?.ecdhCurves?.length) options.ecdhCurve = params.ecdhCurves.join(":");
  let server: tls.Server;
  try {
    options.cert = dataSource(certs[0].certificateChain ?? {}, `${cpath}.tlsCertificates[0].certificateChain`);
    options.key = dataSource(certs[0].privateKey ?? {}, `${cpath}.tlsCertificates[0].privateKey`);
    if (validation?.trustedCa) options.ca = dataSource(validation.trustedCa, `${vpath}.trustedCa`);
    if (validation?.crl) options.crl = dataSource(validation.crl, `${vpath}.crl`);
    server = tls.createServer(options);
  } catch (e) {
    if (e instanceof XdsConfigError) throw e;
    const field = /cipher/i.test((e as Error).message) ? `${cpath}.tlsParams` : `${cpath}.tlsCertificates[0]`;
    throw new XdsConfigError(field, (e as Error).message);
  }
  const spec: DownstreamTls = { server, alpn, requireClientCertificate, requireSni: c.requireSni?.value === true, sanMatchers, pending: new Map() };
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
      if (t.requireSni && !(secure as tls.TLSSocket & { servername?: string | false }).servername) {
        stats.counter("ssl.connection_error").inc();
        secure.destroy();
        return;
      }
      const peer = secure.getPeerCertificate();
      // A presented certificate that does not verify is refused, required or not (Envoy's
      // DefaultCertValidator); node only refuses it by itself when it is required.
      if (peer?.subject && !secure.authorized) {
        stats.counter("ssl.fail_verify_error").inc();
        secure.destroy();
        return;
      }
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
