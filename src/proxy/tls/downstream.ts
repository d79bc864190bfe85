// TLS termination: a filter chain's transport socket compiled from its DownstreamTlsContext into a
// node:tls server that never listens — the listener hands it connections whose ClientHello the
// tls_inspector already read — and the termination of one connection (client certificate SAN
// checks, the listener's ssl.* stats). A context whose secrets come over SDS compiles to kind
// "sds" with a build function; the listener binds it to the SecretManager (sds-binding.ts): its
// server is made when the secrets arrive and given each new certificate with setSecureContext
// (handshakes already made keep theirs); while a secret is missing the chain refuses connections.
import type * as net from "node:net";
import { constants as cryptoConstants } from "node:crypto";
import * as tls from "node:tls";
import { durationMs, isAnyOf } from "../../envoy/protos.js";
import type * as v3 from "../../envoy/types.js";
import { unknownExtension } from "../extensions.js";
import type { StatsScope } from "../stats.js";
import { XdsConfigError } from "../xds-error.js";
import { certificateSans, dataSource, pemCertificates, RAW_BUFFER_NAME, RAW_BUFFER_TYPE, type SanMatcher, sansMatch } from "./common.js";
import { certificateOptions, refuseUnsupportedCommon, secretOptions, secureContextErrorField, tlsParamsOptions } from "./context-options.js";
import { type ContextCertificates, dataSourcePath, type PemSource } from "./cert-details.js";
import type { ContextSecrets } from "./sds-binding.js";
import { sdsCertificates, staticChain } from "./upstream.js";
import { checkOptionsOnce, optionsFingerprint } from "./context-cache.js";
import { type ContextSecretRefs, contextSecretRefs, needsSds, refNames } from "./sds-config.js";
import { type CertificatePins, certificatePinned, compilePeerValidation } from "./validation.js";

export interface DownstreamTls {
  readonly kind: "tls";
  /**
   * Never listens: connections are emitted into it after the tls_inspector has read the
   * ClientHello. node:tls's own server path is the one whose sockets node:http2 can take over.
   */
  server: tls.Server;
  /**
   * The same context without ALPN, for a client whose ALPN list shares nothing with `alpn`: node
   * would end that handshake with a no_application_protocol alert, where Envoy (BoringSSL's
   * SSL_TLSEXT_ERR_NOACK) goes on without ALPN — e.g. Istio's ALPN `istio` against an inbound
   * context offering h2 and http/1.1. Undefined when the context configures no ALPN.
   */
  serverWithoutAlpn: tls.Server | undefined;
  alpn: string[];
  /** A connection without a client certificate is refused (required, or SAN matchers or pins to check). */
  requireClientCertificate: boolean;
  /** trusted_ca or system_root_certs: a presented client certificate must verify. */
  trustAnchor: boolean;
  /** require_sni: a ClientHello without a server name is refused. */
  requireSni: boolean;
  /** validationContext SAN matchers a client certificate must satisfy (empty: none). */
  sanMatchers: readonly SanMatcher[];
  /** verify_certificate_hash / verify_certificate_spki (undefined: none). */
  pins: CertificatePins | undefined;
  /** Its trust anchor and certificates, for /certs (the current ones after a rotation). */
  certificates: ContextCertificates;
  /** Connections in their handshake, by 4-tuple, waiting for their filter chain's handler. */
  pending: Map<string, { onSecure: (secure: tls.TLSSocket) => void }>;
}

/** A DownstreamTlsContext whose secrets come over SDS: the listener binds it to the SecretManager. */
export interface DownstreamTlsSds {
  readonly kind: "sds";
  /** The SDS secret names it waits for. */
  readonly secrets: readonly string[];
  readonly refs: ContextSecretRefs;
  /** The termination from its secrets: a new one, or `previous` given the new certificate (throws when they cannot make one). */
  readonly build: (secrets: ContextSecrets, previous: DownstreamTls | undefined) => DownstreamTls;
}

/**
 * A filter chain's transport socket, by type (Envoy's registry): TLS termination, or raw_buffer
 * (plaintext). Any other type is refused — never served as plaintext.
 */
export function downstreamTransportSocket(ts: v3.TransportSocket, path: string): DownstreamTls | DownstreamTlsSds | undefined {
  const typed = ts.typedConfig;
  if (isAnyOf(typed, "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext")) return downstreamTls(typed, path);
  const type = typed?.["@type"] ?? "";
  if (type === RAW_BUFFER_TYPE || (type === "" && ts.name === RAW_BUFFER_NAME)) return undefined;
  throw unknownExtension(`${path}.typedConfig`, ts.name ?? "", type);
}

/**
 * A DownstreamTlsContext: certificates inline, from files, or over SDS (then kind "sds", built when
 * the secrets arrive). Client certificates as Envoy's DefaultCertValidator checks them: with a trust
 * anchor (trusted_ca or system_root_certs, in validation_context or combined_validation_context's
 * default, or a validation context over SDS) the client is asked for one, and one presented must
 * verify whether or not it is required; SAN matchers or certificate pins make one mandatory.
 * Requiring a client certificate with nothing to check it against is refused.
 */
export function downstreamTls(c: v3.DownstreamTlsContext, path: string): DownstreamTls | DownstreamTlsSds {
  const common = c.commonTlsContext ?? {};
  const cpath = `${path}.commonTlsContext`;
  refuseUnsupportedCommon(common, cpath);
  refuseUnsupportedDownstream(c, path);
  const certs = common.tlsCertificates ?? [];
  const combined = common.combinedValidationContext;
  const refs = contextSecretRefs(common, cpath, 2);
  const validation = combined ? combined.defaultValidationContext : common.validationContext;
  const vpath = combined ? `${cpath}.combinedValidationContext.defaultValidationContext` : `${cpath}.validationContext`;
  // Matchers and pins are compiled (a bad one refused) even when the secrets are not here.
  const peer = compilePeerValidation(validation, vpath);
  if (certs.length === 0 && refs.certificates.length === 0) throw new XdsConfigError(cpath, "needs tls_certificates");
  const requireClientCertificate = c.requireClientCertificate?.value === true;
  const trustAnchor = refs.validation !== undefined || validation?.trustedCa !== undefined || validation?.systemRootCerts !== undefined;
  if (peer.sanMatchers.length > 0 && !trustAnchor) throw new XdsConfigError(vpath, "SAN-based verification of peer certificates without trusted CA is insecure and not allowed");
  if (requireClientCertificate && !trustAnchor && peer.pins === undefined) throw new XdsConfigError(`${path}.requireClientCertificate`, "a client certificate cannot be verified without a trusted CA or certificate pins");
  if (validation?.crl && !trustAnchor) throw new XdsConfigError(`${vpath}.crl`, "Failed to load CRL without trusted CA");
  const alpn = common.alpnProtocols ?? [];
  const base: tls.TlsOptions = {
    ALPNProtocols: alpn.length ? alpn : undefined,
    requestCert: trustAnchor || peer.pins !== undefined,
    // A failed verification ends the handshake with an alert when a certificate is required; the
    // other checks (presented but unverified, SANs, pins) are made in terminateTls.
    rejectUnauthorized: requireClientCertificate && trustAnchor,
    ...tlsParamsOptions(common.tlsParams, cpath),
  };
  if (c.disableStatelessSessionResumption) base.secureOptions = cryptoConstants.SSL_OP_NO_TICKET;
  const sessionTimeoutMs = durationMs(c.sessionTimeout);
  if (sessionTimeoutMs !== undefined) base.sessionTimeout = Math.max(1, Math.floor(sessionTimeoutMs / 1000));
  let staticCa: PemSource | undefined;
  try {
    // A validation context over SDS replaces the default context's trusted CA (Envoy's merge).
    if (validation?.trustedCa && !refs.validation) {
      const ca = pemCertificates(dataSource(validation.trustedCa, `${vpath}.trustedCa`), `${vpath}.trustedCa${validation.trustedCa.filename !== undefined ? ".filename" : ""}`, "trusted CA certificates");
      base.ca = ca;
      staticCa = { pem: ca.toString("latin1"), path: dataSourcePath(validation.trustedCa) };
    }
    if (validation?.crl) base.crl = dataSource(validation.crl, `${vpath}.crl`);
  } catch (e) {
    if (e instanceof XdsConfigError) throw e;
    throw new XdsConfigError(secureContextErrorField(e as Error, cpath, vpath), (e as Error).message);
  }
  const checks = {
    alpn,
    requireClientCertificate: requireClientCertificate || peer.sanMatchers.length > 0 || peer.pins !== undefined,
    trustAnchor,
    requireSni: c.requireSni?.value === true,
    sanMatchers: peer.sanMatchers,
    pins: peer.pins,
  };
  const make = (keys: tls.TlsOptions, certificates: ContextCertificates, previous: DownstreamTls | undefined): DownstreamTls => {
    const options = { ...base, ...keys };
    try {
      if (previous) {
        // New handshakes take the new certificate; connections already made keep theirs.
        previous.server.setSecureContext(options);
        previous.serverWithoutAlpn?.setSecureContext(options);
        previous.certificates = certificates;
        return previous;
      }
      return terminator(tls.createServer(options), alpn.length ? tls.createServer({ ...options, ALPNProtocols: undefined }) : undefined, { ...checks, certificates });
    } catch (e) {
      throw new XdsConfigError(secureContextErrorField(e as Error, cpath, vpath), (e as Error).message);
    }
  };
  if (needsSds(refs)) {
    // What does not depend on the secrets (protocol versions, ciphers, a static CA or CRL) is
    // checked now, so a bad one is NACKed rather than found when the secrets arrive.
    checkOptionsOnce(optionsFingerprint(base), () => {
      try {
        tls.createSecureContext(base);
      } catch (e) {
        throw new XdsConfigError(secureContextErrorField(e as Error, cpath, vpath), (e as Error).message);
      }
    });
    return { kind: "sds", secrets: refNames(refs), refs, build: (s, previous) => make(secretOptions(s), sdsCertificates(s, staticCa), previous) };
  }
  let keys: tls.TlsOptions;
  try {
    keys = certificateOptions(certs, cpath);
  } catch (e) {
    if (e instanceof XdsConfigError) throw e;
    throw new XdsConfigError(secureContextErrorField(e as Error, cpath, vpath), (e as Error).message);
  }
  return make(keys, { ca: staticCa, chain: staticChain(certs, keys.cert as Buffer[] | undefined) }, undefined);
}

/** A never-listening server handing each finished handshake to the connection that waits for it. */
function terminator(server: tls.Server, serverWithoutAlpn: tls.Server | undefined, checks: Omit<DownstreamTls, "kind" | "server" | "serverWithoutAlpn" | "pending">): DownstreamTls {
  const spec: DownstreamTls = { kind: "tls", server, serverWithoutAlpn, ...checks, pending: new Map() };
  for (const s of serverWithoutAlpn ? [server, serverWithoutAlpn] : [server]) {
    s.on("secureConnection", (secure: tls.TLSSocket) => {
      const key = fourTuple(secure);
      const waiting = spec.pending.get(key);
      spec.pending.delete(key);
      if (waiting) waiting.onSecure(secure);
      else secure.destroy();
    });
    // The connection closes; terminateTls counts it as a handshake failure.
    s.on("tlsClientError", (_err, secure: tls.TLSSocket) => secure.destroy());
  }
  return spec;
}

/**
 * Why a client's certificate is refused (the ssl.* counter Envoy counts it under), or undefined:
 * missing when one is needed, presented but not verified by the trust anchor, no SAN matching, no
 * pin matching — in Envoy's order.
 */
function clientCertificateFailure(t: DownstreamTls, secure: tls.TLSSocket, peer: tls.PeerCertificate | undefined): string | undefined {
  if (peer === undefined) return t.requireClientCertificate ? "fail_verify_no_cert" : undefined;
  if (t.trustAnchor && !secure.authorized) return "fail_verify_error";
  if (t.sanMatchers.length > 0 && !sansMatch(t.sanMatchers, certificateSans(peer.subjectaltname))) return "fail_verify_san";
  if (t.pins !== undefined && !certificatePinned(t.pins, peer.raw)) return "fail_verify_cert_hash";
  return undefined;
}

/** DownstreamTlsContext fields the proxy cannot honour. */
function refuseUnsupportedDownstream(c: v3.DownstreamTlsContext, path: string): void {
  if (c.sessionTicketKeys) throw new XdsConfigError(`${path}.sessionTicketKeys`, "configured session ticket keys are not supported");
  if (c.sessionTicketKeysSdsSecretConfig) throw new XdsConfigError(`${path}.sessionTicketKeysSdsSecretConfig`, "session ticket keys over SDS are not supported");
  if (c.ocspStaplePolicy !== undefined && c.ocspStaplePolicy !== "LENIENT_STAPLING") throw new XdsConfigError(`${path}.ocspStaplePolicy`, "OCSP stapling is not supported");
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
export function terminateTls(socket: net.Socket, t: DownstreamTls, stats: StatsScope, onSecure: (secure: tls.TLSSocket) => void, clientAlpn?: readonly string[]): void {
  const key = fourTuple(socket);
  const waiting = {
    onSecure: (secure: tls.TLSSocket) => {
      if (t.requireSni && !(secure as tls.TLSSocket & { servername?: string | false }).servername) {
        stats.counter("ssl.connection_error").inc();
        secure.destroy();
        return;
      }
      const peer = secure.getPeerCertificate();
      const failed = clientCertificateFailure(t, secure, peer?.raw !== undefined ? peer : undefined);
      if (failed !== undefined) {
        stats.counter(`ssl.${failed}`).inc();
        secure.destroy();
        return;
      }
      // No renegotiation on a terminated connection (BoringSSL's server default in Envoy): its peer
      // certificate, read once per connection for XFCC and the formatter, cannot change.
      secure.disableRenegotiation();
      stats.counter("ssl.handshake").inc();
      if (peer?.raw === undefined) stats.counter("ssl.no_certificate").inc();
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
  // A ClientHello offering ALPN the context does not speak goes on without ALPN, as in Envoy.
  const noOverlap = t.serverWithoutAlpn !== undefined && clientAlpn !== undefined && clientAlpn.length > 0 && !clientAlpn.some((p) => t.alpn.includes(p));
  (noOverlap ? t.serverWithoutAlpn! : t.server).emit("connection", socket);
}
