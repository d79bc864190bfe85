// TLS origination: a Cluster's transport socket (or a transport_socket_matches entry's) compiled
// from its UpstreamTlsContext into what the connector needs — a secure context, SNI (fixed or
// auto_sni), ALPN, the SAN checks, the key that separates pooled connections when SNI or SAN
// validation depend on the request — and the tls.connect options of one connection.
//
// - Certificate validation as Envoy's DefaultCertValidator: no validation context = no verification;
//   trusted_ca (or system_root_certs) verifies the chain, crl adds revocation checks (every
//   certificate of the chain, as Envoy without only_verify_leaf_cert_crl).
// - Secrets over SDS (tls_certificate_sds_secret_configs, validation_context_sds_secret_config or
//   combined_validation_context): the context compiles to kind "sds" with a build function; the
//   cluster binds it to the SecretManager (sds-binding.ts). While a secret is missing its
//   connections fail ("TLS error: Secret is not supplied by SDS", Envoy's NotReadySslSocket).
import { isIP, type OnReadOpts } from "node:net";
import * as tls from "node:tls";
import { isAnyOf } from "../../envoy/protos.js";
import type * as v3 from "../../envoy/types.js";
import { unknownExtension } from "../extensions.js";
import { XdsConfigError } from "../xds-error.js";
import { certificateOptions, refuseUnsupportedCommon, secretOptions, secureContextErrorField, tlsParamsOptions } from "./context-options.js";
import { type ContextCertificates, dataSourcePath, INLINE_PATH, type PemSource } from "./cert-details.js";
import { checkOptionsOnce, identity, optionsFingerprint, sharedSecureContext } from "./context-cache.js";
import type { ContextSecrets } from "./sds-binding.js";
import { type ContextSecretRefs, contextSecretRefs, needsSds, refNames } from "./sds-config.js";
import { type CertificatePins, certificatePinned, compilePeerValidation } from "./validation.js";
import { certificateSans, dataSource, pemCertificates, RAW_BUFFER_NAME, RAW_BUFFER_TYPE, CERT_HASH_FAILED, SAN_LIST_FAILED, SAN_MATCHER_FAILED, type SanMatcher, sanListMatch, sansMatch, TLS_TRANSPORT_SOCKET } from "./common.js";

const HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** Envoy's transport failure reason while a context's secrets are missing (NotReadySslSocket). */
export const SDS_NOT_READY_REASON = "TLS error: Secret is not supplied by SDS";

/** An UpstreamTlsContext whose certificates are all here. */
export interface UpstreamTlsConfig {
  readonly kind: "tls";
  /** The configured `sni` (undefined when unset). */
  readonly sni: string | undefined;
  /** `commonTlsContext.alpnProtocols` (empty: the pool's own protocol is offered, as Envoy's fallback). */
  readonly alpn: readonly string[];
  /** auto_sni: the SNI is the request's host (without port). */
  readonly autoSni: boolean;
  /** auto_sni_san_validation: the peer's certificate must name the request's host. */
  readonly autoSanValidation: boolean;
  /** A validation context with a trust anchor: the peer's chain (and SANs) are verified. */
  readonly verify: boolean;
  readonly secureContext: tls.SecureContext;
  readonly sanMatchers: readonly SanMatcher[];
  /** verify_certificate_hash / _spki: checked once the handshake is done (see peerPinFailure). */
  readonly pins: CertificatePins | undefined;
  readonly minVersion: tls.SecureVersion | undefined;
  readonly maxVersion: tls.SecureVersion | undefined;
  /**
   * TLS sessions to resume (Envoy's max_session_keys, default 1: the newest kept), by pool key so a
   * session is only offered to the server name it was made with. A new context (a rotated
   * certificate) starts with none.
   */
  readonly sessions: SessionCache;
  /** The SAN check without auto SAN validation (one function per context). */
  readonly checkServerIdentity: (host: string, cert: tls.PeerCertificate) => Error | undefined;
  /** Its trust anchor and client certificate, for /certs. */
  readonly certificates: ContextCertificates;
}

/** What a connection to a host whose context waits for SDS secrets gets: a failure naming them. */
export interface UpstreamTlsUnavailable {
  readonly kind: "sds";
  /** The SDS secret names it waits for. */
  readonly secrets: readonly string[];
}

/** An UpstreamTlsContext whose secrets come over SDS: the cluster binds it to the SecretManager. */
export interface UpstreamTlsSds extends UpstreamTlsUnavailable {
  readonly refs: ContextSecretRefs;
  /** The context from its secrets (throws when they cannot make one). */
  readonly build: (secrets: ContextSecrets) => UpstreamTlsConfig;
}

export type UpstreamTls = UpstreamTlsConfig | UpstreamTlsSds;

/**
 * A Cluster's transport socket: undefined for plaintext (none, or raw_buffer), the TLS
 * origination settings for an UpstreamTlsContext, or "sds" when its secrets come over SDS.
 * `at(field)` prefixes field paths (`cluster NAME: transportSocket…`).
 */
export function upstreamTlsFromCluster(c: v3.Cluster, at: (field: string) => string): UpstreamTls | undefined {
  return c.transportSocket ? upstreamTransportSocket(c, c.transportSocket, at("transportSocket")) : undefined;
}

/**
 * One upstream transport socket of cluster `c` (its transport_socket, or a transport_socket_matches
 * entry's): TLS origination, or undefined for raw_buffer. Any other type is refused, never
 * plaintext in its place.
 */
export function upstreamTransportSocket(c: v3.Cluster, ts: v3.TransportSocket, path: string): UpstreamTls | undefined {
  const typed = ts.typedConfig;
  const type = typed?.["@type"];
  if (type === RAW_BUFFER_TYPE || (type === undefined && ts.name === RAW_BUFFER_NAME)) return undefined;
  if (type === undefined && ts.name === TLS_TRANSPORT_SOCKET) throw new XdsConfigError(`${path}.typedConfig`, "envoy.transport_sockets.tls needs an UpstreamTlsContext");
  if (!isAnyOf(typed, "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext")) throw unknownExtension(`${path}.typedConfig`, ts.name ?? "", type ?? "");
  const opts = upstreamHttpProtocolOptions(c);
  return upstreamTlsContext(typed, `${path}.typedConfig`, { autoSni: opts?.autoSni === true, autoSanValidation: opts?.autoSanValidation === true });
}

/** `upstream_http_protocol_options` (typed extension protocol options, or the deprecated cluster field). */
function upstreamHttpProtocolOptions(c: v3.Cluster): v3.UpstreamHttpProtocolOptions | undefined {
  const typed = c.typedExtensionProtocolOptions?.[HTTP_PROTOCOL_OPTIONS];
  const fromTyped = isAnyOf(typed, HTTP_PROTOCOL_OPTIONS) ? typed.upstreamHttpProtocolOptions : undefined;
  return fromTyped ?? c.upstreamHttpProtocolOptions;
}

/** Validates an UpstreamTlsContext into origination settings. */
export function upstreamTlsContext(ctx: v3.UpstreamTlsContext, path: string, auto: { autoSni: boolean; autoSanValidation: boolean }): UpstreamTls {
  const common = ctx.commonTlsContext ?? {};
  const cpath = `${path}.commonTlsContext`;
  const sni = ctx.sni || undefined;
  if (sni !== undefined && sni.length > 255) throw new XdsConfigError(`${path}.sni`, "must be at most 255 characters");
  refuseUnsupportedCommon(common, cpath);
  const combined = common.combinedValidationContext;
  const vpath = combined ? `${cpath}.combinedValidationContext.defaultValidationContext` : `${cpath}.validationContext`;
  const vc = combined ? (combined.defaultValidationContext ?? {}) : common.validationContext;
  // SAN matchers and pins are compiled (a bad one NACKed) even when the secrets are not here.
  const { sanMatchers, pins } = compilePeerValidation(vc, vpath);
  const refs = contextSecretRefs(common, cpath, 1);
  const certs = common.tlsCertificates ?? [];
  if (certs.length > 1) throw new XdsConfigError(`${cpath}.tlsCertificates`, "an upstream connection presents one client certificate");
  const base: tls.SecureContextOptions = tlsParamsOptions(common.tlsParams, cpath);
  const maxSessionKeys = ctx.maxSessionKeys?.value ?? 1;
  // A validation context over SDS brings the trust anchor (merged over the default context).
  let verify = refs.validation !== undefined;
  let staticCa: PemSource | undefined;
  if (vc) {
    if (vc.trustedCa) {
      if (!refs.validation) {
        const ca = pemCertificates(dataSource(vc.trustedCa, `${vpath}.trustedCa`), `${vpath}.trustedCa${vc.trustedCa.filename !== undefined ? ".filename" : ""}`, "trusted CA certificates");
        base.ca = ca;
        staticCa = { pem: ca.toString("latin1"), path: dataSourcePath(vc.trustedCa) };
      }
      verify = true;
    } else if (vc.systemRootCerts) verify = true; // node's default roots (createSecureContext without ca)
    if (vc.crl) {
      if (!verify) throw new XdsConfigError(`${vpath}.crl`, "Failed to load CRL without trusted CA");
      base.crl = dataSource(vc.crl, `${vpath}.crl`);
    }
    if (sanMatchers.length > 0 && !verify) {
      throw new XdsConfigError(vpath, "SAN-based verification of peer certificates without trusted CA is insecure and not allowed");
    }
  }
  if (auto.autoSanValidation && !verify) throw new XdsConfigError(vpath, "'auto_sni_san_validation' was configured without configuring a trusted CA");
  const { minVersion, maxVersion } = base;
  const checkServerIdentity = sanCheck(sanMatchers, undefined);
  const alpn = common.alpnProtocols ?? [];
  const make = (keys: tls.SecureContextOptions, certificates: ContextCertificates, shareAs?: string): UpstreamTlsConfig => {
    let secureContext: tls.SecureContext;
    try {
      const create = () => tls.createSecureContext({ ...base, ...keys });
      secureContext = shareAs === undefined ? create() : sharedSecureContext(shareAs, create);
    } catch (e) {
      throw new XdsConfigError(secureContextErrorField(e as Error, cpath, vpath), (e as Error).message);
    }
    const sessions = new SessionCache(maxSessionKeys);
    return { kind: "tls", sni, alpn, autoSni: auto.autoSni, autoSanValidation: auto.autoSanValidation, verify, secureContext, sanMatchers, pins, minVersion, maxVersion, checkServerIdentity, certificates, sessions };
  };
  if (needsSds(refs)) {
    // What does not depend on the secrets (protocol versions, ciphers, a static CA or CRL) is
    // checked now, so a bad one is NACKed rather than found when the secrets arrive.
    const fingerprint = optionsFingerprint(base);
    checkOptionsOnce(fingerprint, () => make({}, { ca: staticCa, chain: [] }));
    // Contexts of the same settings and secrets share one secure context (context-cache.ts).
    const shareAs = (s: ContextSecrets) => `${fingerprint}|${s.certificates.map(identity).join(",")}|${s.validation ? identity(s.validation) : "-"}`;
    return { kind: "sds", secrets: refNames(refs), refs, build: (s) => make(secretOptions(s), sdsCertificates(s, staticCa), shareAs(s)) };
  }
  const keys = certificateOptions(certs, cpath);
  return make(keys, { ca: staticCa, chain: staticChain(certs, keys.cert) });
}

/** A context's certificates when its secrets come over SDS (their material is inline). */
export function sdsCertificates(s: ContextSecrets, staticCa: PemSource | undefined): ContextCertificates {
  return {
    ca: s.validation ? { pem: s.validation.trustedCaPem, path: INLINE_PATH } : staticCa,
    chain: s.certificates.map((c) => ({ pem: c.certificateChainPem, path: INLINE_PATH })),
  };
}

/** tls_certificates' chains (not PKCS#12 ones) with their paths, as certificateOptions read them. */
export function staticChain(certs: readonly v3.TlsCertificate[], pems: readonly Buffer[] | undefined): PemSource[] {
  const withChain = certs.filter((c) => c.certificateChain !== undefined);
  return (pems ?? []).map((pem, i) => ({ pem: pem.toString("latin1"), path: dataSourcePath(withChain[i].certificateChain!) }));
}

/**
 * After the handshake: the peer's certificate against the context's pins (an Error with
 * CERT_HASH_FAILED for the failure reason), or undefined when there are none or one matches.
 */
export function peerPinFailure(t: UpstreamTlsConfig, socket: tls.TLSSocket): Error | undefined {
  if (t.pins === undefined) return undefined;
  const raw = socket.getPeerCertificate()?.raw;
  if (raw !== undefined && certificatePinned(t.pins, raw)) return undefined;
  return sanFailure(CERT_HASH_FAILED, "verify cert failed: cert hash and spki");
}

function sanFailure(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** A checkServerIdentity that applies Envoy's SAN checks (never node's default hostname check). */
function sanCheck(matchers: readonly SanMatcher[], sanHost: string | undefined): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  if (matchers.length === 0 && sanHost === undefined) return noCheck;
  return (_host, cert) => {
    const sans = certificateSans(cert.subjectaltname);
    if (sanHost !== undefined && !sanListMatch([sanHost], sans)) return sanFailure(SAN_LIST_FAILED, `certificate SANs [${cert.subjectaltname ?? ""}] do not include ${sanHost}`);
    if (matchers.length > 0 && !sansMatch(matchers, sans)) return sanFailure(SAN_MATCHER_FAILED, `certificate SANs [${cert.subjectaltname ?? ""}] match no SAN matcher`);
    return undefined;
  };
}

function noCheck(): undefined {
  return undefined;
}

/** The host of an authority (`host:port`, `[v6]:port`), without port and brackets, lower-cased. */
export function authorityHost(authority: string): string {
  if (authority.charCodeAt(0) === 91 /* [ */) {
    const end = authority.indexOf("]");
    return (end > 0 ? authority.slice(1, end) : authority.slice(1)).toLowerCase();
  }
  const colon = authority.lastIndexOf(":");
  return (colon >= 0 && authority.indexOf(":") === colon ? authority.slice(0, colon) : authority).toLowerCase();
}

/**
 * The SNI a connection for a request to `authority` carries: the request's host with auto_sni
 * (IP literals send none, RFC 6066), else the configured sni. Undefined: no server_name extension.
 */
export function sniFor(t: UpstreamTlsConfig, authority: string | undefined): string | undefined {
  if (t.autoSni && authority) {
    const h = authorityHost(authority);
    if (h && isIP(h) === 0) return h;
  }
  return t.sni;
}

/**
 * What keys an upstream TLS connection for reuse when it depends on the request (auto_sni,
 * auto_sni_san_validation): Envoy hashes the SNI and the SAN list into its pool key.
 * Undefined when every connection of the cluster is alike.
 */
export function tlsPoolKey(t: UpstreamTlsConfig, sni: string | undefined, authority: string | undefined): string | undefined {
  if (!t.autoSni && !t.autoSanValidation) return undefined;
  return `${sni ?? ""}|${t.autoSanValidation && authority ? authorityHost(authority) : ""}`;
}

/** The newest TLS sessions of one upstream context, at most `max` (0: no resumption). */
export class SessionCache {
  private readonly byKey = new Map<string, Buffer>();
  constructor(readonly max: number) {}

  get(key: string): Buffer | undefined {
    return this.byKey.get(key);
  }

  /** Keeps `session` as the newest for `key`, dropping the oldest beyond the limit. */
  set(key: string, session: Buffer): void {
    if (this.max === 0) return;
    this.byKey.delete(key);
    this.byKey.set(key, session);
    while (this.byKey.size > this.max) this.byKey.delete(this.byKey.keys().next().value as string);
  }

  /** A session the server refused to resume is not offered again. */
  forget(key: string): void {
    this.byKey.delete(key);
  }
}

/** tls.connect options (node also takes `onread`, which its types omit). */
export type UpstreamConnectOptions = tls.ConnectionOptions & { onread?: OnReadOpts };

/**
 * tls.connect options for one upstream connection to `address:port`. `sni` is the server name to
 * send (see sniFor); `authority` is the request's host for auto_sni_san_validation;
 * `alpnFallback` is offered when the context configures no ALPN (Envoy's pools: `h2` / `http/1.1`).
 */
export function upstreamConnectOptions(t: UpstreamTlsConfig, address: string, port: number, sni: string | undefined, authority: string | undefined, alpnFallback: readonly string[] | undefined): UpstreamConnectOptions {
  const alpn = t.alpn.length > 0 ? t.alpn : alpnFallback;
  const sanHost = t.autoSanValidation && authority ? authorityHost(authority) : undefined;
  const o: UpstreamConnectOptions = {
    host: address,
    port,
    secureContext: t.secureContext,
    rejectUnauthorized: t.verify,
    checkServerIdentity: sanHost === undefined ? t.checkServerIdentity : sanCheck(t.sanMatchers, sanHost),
  };
  if (sni !== undefined) o.servername = sni;
  if (alpn !== undefined && alpn.length > 0) o.ALPNProtocols = alpn as string[];
  if (t.minVersion) o.minVersion = t.minVersion;
  if (t.maxVersion) o.maxVersion = t.maxVersion;
  return o;
}

// ---------------------------------------------------------------------------------------------
// Secrets over SDS that have not arrived

/** Logs that a cluster refused a connection for want of its SDS secrets (the cluster logs it once). */
export function noteSdsUnavailable(cluster: string, t: UpstreamTlsUnavailable, log: (line: string) => void): void {
  const names = t.secrets.map((s) => JSON.stringify(s)).join(", ");
  log(`proxy: cluster ${cluster}: TLS secret ${names} not available yet over SDS; its connections fail (UF, "${SDS_NOT_READY_REASON}") until it arrives`);
}

/** The transport failure reason for a cluster whose secrets are missing (the router's UF detail). */
export function sdsFailureReason(t: UpstreamTlsUnavailable): string {
  return `${SDS_NOT_READY_REASON} (${t.secrets.map((s) => JSON.stringify(s)).join(", ")})`;
}
