// Envoy's TLS transport socket configuration, shared by termination (DownstreamTlsContext,
// listeners.ts) and origination (UpstreamTlsContext on clusters: the HTTP/1.1 and HTTP/2 pools,
// tcp_proxy, request mirroring).
//
// - DataSource: filename, inline_string, inline_bytes, environment_variable.
// - Certificate validation as Envoy's DefaultCertValidator: no validation context = no verification;
//   trusted_ca (or system_root_certs) verifies the chain, crl adds revocation checks (every
//   certificate of the chain, as Envoy without only_verify_leaf_cert_crl); SANs are checked only by
//   match_typed_subject_alt_names / match_subject_alt_names (never against the SNI by default) and,
//   with auto_sni_san_validation, against the request's host ("verify SAN list").
// - Failures as Envoy reports them: a transport failure reason `TLS_error:|CODE:LIB:FUNC:REASON:…:TLS_error_end`
//   (the router's 503 UF body and details), counters ssl.handshake, ssl.connection_error,
//   ssl.fail_verify_error, ssl.fail_verify_san under the cluster's scope.
// - Secrets delivered over SDS are not served by tsmesh yet: such a context is "unavailable" and
//   its connections fail ("TLS error: Secret is not supplied by SDS", Envoy's NotReadySslSocket).
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIP, type OnReadOpts, SocketAddress } from "node:net";
import * as tls from "node:tls";
import { getSystemErrorMap } from "node:util";
import type { ProtoObject } from "../envoy/protos.js";
import { StringMatcher } from "./http/matchers/matchers.js";
import type { Counter, StatsScope } from "./stats.js";
import { XdsConfigError } from "./xds-error.js";

export const TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls";
export const UPSTREAM_TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
export const DOWNSTREAM_TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
export const RAW_BUFFER_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer";
export const RAW_BUFFER_NAME = "envoy.transport_sockets.raw_buffer";
const HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** Envoy's transport failure reason while a context's secrets are missing (NotReadySslSocket). */
export const SDS_NOT_READY_REASON = "TLS error: Secret is not supplied by SDS";

function obj(v: unknown): ProtoObject | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as ProtoObject) : undefined;
}
function arr(v: unknown): ProtoObject[] {
  return Array.isArray(v) ? (v as ProtoObject[]) : [];
}

// ---------------------------------------------------------------------------------------------
// DataSource

/** An Envoy DataSource: filename, inline string, inline bytes or environment variable. */
export function dataSource(d: unknown, path: string): Buffer {
  const o = obj(d);
  if (typeof o?.filename === "string") {
    try {
      return readFileSync(o.filename);
    } catch (e) {
      throw new XdsConfigError(`${path}.filename`, `cannot read ${o.filename}: ${(e as Error).message}`);
    }
  }
  if (typeof o?.inlineString === "string") return Buffer.from(o.inlineString);
  if (o?.inlineBytes instanceof Uint8Array) return Buffer.from(o.inlineBytes);
  if (typeof o?.inlineBytes === "string") return Buffer.from(o.inlineBytes, "base64"); // JSON form
  if (typeof o?.environmentVariable === "string") {
    const v = process.env[o.environmentVariable];
    if (v === undefined) throw new XdsConfigError(`${path}.environmentVariable`, `environment variable ${o.environmentVariable} is not set`);
    return Buffer.from(v);
  }
  throw new XdsConfigError(path, "needs filename, inline_string or inline_bytes");
}

/** The PEM certificates in `pem` (at least one, each parseable), as Envoy loads a trusted CA bundle. */
function pemCertificates(pem: Buffer, path: string, what: string): Buffer {
  const text = pem.toString("latin1");
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new XdsConfigError(path, `Failed to load ${what} from ${describeSource(path)}: no PEM certificate found`);
  for (const b of blocks) {
    try {
      new X509Certificate(b);
    } catch (e) {
      throw new XdsConfigError(path, `Failed to load ${what} from ${describeSource(path)}: ${(e as Error).message}`);
    }
  }
  return pem;
}

function describeSource(path: string): string {
  return path.endsWith(".filename") ? "file" : "<inline>";
}

// ---------------------------------------------------------------------------------------------
// Subject alternative names

export type SanType = "DNS" | "URI" | "EMAIL" | "IP_ADDRESS";

/** One SAN of a certificate. `OTHER` covers the kinds no matcher reads (DirName, othername…). */
export interface CertSan {
  readonly type: SanType | "OTHER";
  readonly value: string;
}

const SAN_PREFIXES: ReadonlyArray<[string, SanType]> = [
  ["DNS:", "DNS"],
  ["URI:", "URI"],
  ["email:", "EMAIL"],
  ["IP Address:", "IP_ADDRESS"],
];

/** IP SANs as Envoy prints them (inet_ntop: `::1`, lower-case compressed IPv6). */
function canonicalIp(v: string): string {
  if (!v.includes(":")) return v;
  try {
    return new SocketAddress({ address: v, family: "ipv6" }).address;
  } catch {
    return v.toLowerCase();
  }
}

/**
 * Parses node's `subjectaltname` text (`DNS:a.example.com, URI:spiffe://…, IP Address:10.0.0.1`;
 * values with separators are JSON-quoted).
 */
export function certificateSans(subjectaltname: string | undefined): CertSan[] {
  const out: CertSan[] = [];
  if (!subjectaltname) return out;
  const s = subjectaltname;
  let i = 0;
  while (i < s.length) {
    const colon = s.indexOf(":", i);
    if (colon < 0) break;
    const label = s.slice(i, colon + 1);
    let value: string;
    let next: number;
    if (s[colon + 1] === '"') {
      // A JSON string: find its closing quote (skipping escapes).
      let j = colon + 2;
      while (j < s.length && s[j] !== '"') j += s[j] === "\\" ? 2 : 1;
      try {
        value = JSON.parse(s.slice(colon + 1, j + 1)) as string;
      } catch {
        value = s.slice(colon + 2, j);
      }
      next = s.indexOf(", ", j);
    } else {
      next = s.indexOf(", ", colon + 1);
      value = s.slice(colon + 1, next < 0 ? s.length : next);
    }
    const kind = SAN_PREFIXES.find(([p]) => p === label)?.[1];
    out.push({ type: kind ?? "OTHER", value: kind === "IP_ADDRESS" ? canonicalIp(value) : value });
    if (next < 0) break;
    i = next + 2;
  }
  return out;
}

/** Envoy's Utility::dnsNameMatch: case-insensitive, `*.` in the pattern stands for one label. */
export function dnsNameMatch(dnsName: string, pattern: string): boolean {
  const name = dnsName.toLowerCase();
  const pat = pattern.toLowerCase();
  if (name === pat) return true;
  if (pat.length > 1 && pat[0] === "*" && pat[1] === ".") {
    if (name.length > pat.length - 1) {
      const off = name.length - pat.length + 1;
      return !name.slice(0, off).includes(".") && name.slice(off) === pat.slice(1);
    }
  }
  return false;
}

/** One SubjectAltNameMatcher (or a legacy untyped StringMatcher, which reads every SAN kind). */
export class SanMatcher {
  constructor(
    /** undefined: any of DNS, URI, EMAIL, IP_ADDRESS (legacy match_subject_alt_names). */
    readonly type: SanType | undefined,
    private readonly matcher: StringMatcher,
    /** The exact value when the matcher is `exact` (DNS SANs then follow DNS wildcard rules). */
    private readonly exact: string | undefined,
  ) {}

  matches(san: CertSan): boolean {
    if (san.type === "OTHER") return false;
    if (this.type !== undefined && san.type !== this.type) return false;
    if (san.type === "DNS" && this.exact !== undefined) return dnsNameMatch(this.exact, san.value);
    return this.matcher.match(san.value);
  }
}

const SAN_TYPES: ReadonlySet<string> = new Set(["DNS", "URI", "EMAIL", "IP_ADDRESS"]);

/** `matchTypedSubjectAltNames` and legacy `matchSubjectAltNames` of a CertificateValidationContext. */
export function compileSanMatchers(vc: ProtoObject, path: string): SanMatcher[] {
  const out: SanMatcher[] = [];
  arr(vc.matchTypedSubjectAltNames).forEach((m, i) => {
    const p = `${path}.matchTypedSubjectAltNames[${i}]`;
    const type = typeof m.sanType === "string" ? m.sanType : "SAN_TYPE_UNSPECIFIED";
    if (type === "OTHER_NAME") throw new XdsConfigError(`${p}.sanType`, "OTHER_NAME SAN matchers are not supported");
    if (!SAN_TYPES.has(type)) throw new XdsConfigError(`${p}.sanType`, `san_type must be one of DNS, URI, EMAIL, IP_ADDRESS (got ${type})`);
    const sm = obj(m.matcher);
    if (!sm) throw new XdsConfigError(`${p}.matcher`, "a SAN matcher needs a StringMatcher");
    out.push(new SanMatcher(type as SanType, StringMatcher.compile(sm, `${p}.matcher`), exactOf(sm)));
  });
  arr(vc.matchSubjectAltNames).forEach((sm, i) => {
    out.push(new SanMatcher(undefined, StringMatcher.compile(sm, `${path}.matchSubjectAltNames[${i}]`), exactOf(sm)));
  });
  return out;
}

function exactOf(sm: ProtoObject): string | undefined {
  return typeof sm.exact === "string" ? sm.exact : undefined;
}

/** Envoy's matchSubjectAltName: some SAN of the certificate satisfies some matcher. */
export function sansMatch(matchers: readonly SanMatcher[], sans: readonly CertSan[]): boolean {
  for (const san of sans) for (const m of matchers) if (m.matches(san)) return true;
  return false;
}

/** Envoy's verifySubjectAltName for auto_sni_san_validation: DNS SANs by wildcard rules, others exactly. */
export function sanListMatch(names: readonly string[], sans: readonly CertSan[]): boolean {
  for (const san of sans) {
    for (const n of names) {
      if (san.type === "DNS" ? dnsNameMatch(n, san.value) : san.value === n) return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Stats and failure reasons

/** Envoy's per-context TLS stats (`cluster.NAME.ssl.*`, `listener.ADDR.ssl.*`). */
export class TlsStats {
  readonly handshake: Counter;
  readonly connectionError: Counter;
  readonly failVerifyError: Counter;
  readonly failVerifySan: Counter;

  constructor(scope: StatsScope) {
    const s = scope.scope("ssl");
    this.handshake = s.counter("handshake");
    this.connectionError = s.counter("connection_error");
    this.failVerifyError = s.counter("fail_verify_error");
    this.failVerifySan = s.counter("fail_verify_san");
  }
}

/** checkServerIdentity's error codes (not node's): a SAN check refused the peer's certificate. */
export const SAN_MATCHER_FAILED = "ERR_TSMESH_TLS_SAN_MATCHER";
export const SAN_LIST_FAILED = "ERR_TSMESH_TLS_VERIFY_SAN_LIST";

const VERIFY_FAILED = "TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:verify cert failed: ";
const TLS_ERROR_END = ":TLS_error_end";

/** node's X509 verification error codes (OpenSSL's X509_V_ERR_* names without the prefix). */
const X509_VERIFY_CODE = /^(UNABLE_TO_|CERT_|CRL_|DEPTH_ZERO_|SELF_SIGNED_|ERROR_IN_|INVALID_CA$|INVALID_PURPOSE$|PATH_LENGTH_EXCEEDED$|HOSTNAME_MISMATCH$|OUT_OF_MEM$|KEYUSAGE_|UNHANDLED_CRITICAL|APPLICATION_VERIFICATION)/;
/** Verification errors that are about the peer's own (depth 0) certificate. */
const LEAF_CODES: ReadonlySet<string> = new Set(["DEPTH_ZERO_SELF_SIGNED_CERT", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "CERT_REVOKED", "CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID", "HOSTNAME_MISMATCH"]);
/** BoringSSL's packed codes for the SSL reasons whose numbers differ from OpenSSL 3's (Envoy prints BoringSSL's). */
const BORINGSSL_CODES: Readonly<Record<string, number>> = {
  WRONG_VERSION_NUMBER: 268435703,
  CERTIFICATE_VERIFY_FAILED: 268435581,
  PEER_DID_NOT_RETURN_A_CERTIFICATE: 268435648,
  NO_SHARED_CIPHER: 268435640,
  HTTP_REQUEST: 268435610,
  UNEXPECTED_EOF_WHILE_READING: 268435470,
};

let systemErrors: Map<number, [string, string]> | undefined;

function systemErrorText(code: string): { errno: number; text: string } | undefined {
  systemErrors ??= getSystemErrorMap();
  for (const [n, [name, text]] of systemErrors) if (name === code) return { errno: -n, text: text.charAt(0).toUpperCase() + text.slice(1) };
  return undefined;
}

/**
 * The transport failure reason Envoy reports for a TLS connection that failed after its TCP
 * connect and before its handshake completed, in Envoy's `TLS_error:|…:TLS_error_end` form; counts
 * the failure in `stats` as Envoy's SslSocket does (verification failures are not connection errors).
 */
export function tlsFailureReason(err: (Error & { code?: string }) | undefined, stats: TlsStats | undefined): string {
  const code = err?.code ?? "";
  if (code === SAN_MATCHER_FAILED) {
    stats?.failVerifySan.inc();
    return VERIFY_FAILED + "SAN matcher" + TLS_ERROR_END;
  }
  if (code === SAN_LIST_FAILED) {
    stats?.failVerifySan.inc();
    return VERIFY_FAILED + "verify SAN list" + TLS_ERROR_END;
  }
  if (X509_VERIFY_CODE.test(code)) {
    stats?.failVerifyError.inc();
    const depth = LEAF_CODES.has(code) ? " at depth 0" : "";
    return `${VERIFY_FAILED}X509_verify_cert: certificate verification error${depth}: ${err?.message ?? code}${TLS_ERROR_END}`;
  }
  // An OpenSSL error (`error:0A000410:SSL routines:FUNC:sslv3 alert handshake failure:…`), whatever
  // code node gave it (ERR_SSL_*, or EPROTO when it surfaced on the socket).
  const ssl = /error:([0-9A-Fa-f]{8}):SSL routines:[^:]*:([^:]+)/.exec(err?.message ?? "");
  if (ssl !== null || code.startsWith("ERR_SSL_")) {
    stats?.connectionError.inc();
    const reason = ssl !== null ? ssl[2].trim().toUpperCase().replace(/[^A-Z0-9]+/g, "_") : code.slice("ERR_SSL_".length);
    const n = BORINGSSL_CODES[reason] ?? (ssl !== null ? (16 << 24) | (parseInt(ssl[1], 16) & 0x7fffff) : 0);
    return `TLS_error:|${n}:SSL routines:OPENSSL_internal:${reason}${TLS_ERROR_END}`;
  }
  const sys = code ? systemErrorText(code) : undefined;
  if (sys) return `TLS_error:|${(2 << 24) | sys.errno}:system library:OPENSSL_internal:${sys.text}${TLS_ERROR_END}`;
  stats?.connectionError.inc();
  return `TLS_error:|0:SSL routines:OPENSSL_internal:${code || "CONNECTION_CLOSED"}${TLS_ERROR_END}`;
}

// ---------------------------------------------------------------------------------------------
// UpstreamTlsContext

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
  readonly minVersion: tls.SecureVersion | undefined;
  readonly maxVersion: tls.SecureVersion | undefined;
  /** The SAN check without auto SAN validation (one function per context). */
  readonly checkServerIdentity: (host: string, cert: tls.PeerCertificate) => Error | undefined;
}

/** An UpstreamTlsContext with a secret that comes over SDS (not served by tsmesh yet). */
export interface UpstreamTlsUnavailable {
  readonly kind: "sds";
  /** The SDS secret names it waits for. */
  readonly secrets: readonly string[];
}

export type UpstreamTls = UpstreamTlsConfig | UpstreamTlsUnavailable;

const TLS_VERSIONS: Readonly<Record<string, tls.SecureVersion | undefined>> = {
  TLS_AUTO: undefined,
  TLSv1_0: "TLSv1",
  TLSv1_1: "TLSv1.1",
  TLSv1_2: "TLSv1.2",
  TLSv1_3: "TLSv1.3",
};

function tlsVersion(v: unknown, path: string): tls.SecureVersion | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !(v in TLS_VERSIONS)) throw new XdsConfigError(path, `unknown TLS protocol version ${JSON.stringify(v)}`);
  return TLS_VERSIONS[v];
}

function sdsNames(common: ProtoObject): string[] {
  const names: string[] = [];
  for (const s of arr(common.tlsCertificateSdsSecretConfigs)) names.push(typeof s.name === "string" ? s.name : "");
  const vsds = obj(common.validationContextSdsSecretConfig) ?? obj(obj(common.combinedValidationContext)?.validationContextSdsSecretConfig);
  if (vsds) names.push(typeof vsds.name === "string" ? vsds.name : "");
  return names;
}

/**
 * A Cluster's transport socket: undefined for plaintext (none, or raw_buffer), the TLS
 * origination settings for an UpstreamTlsContext, or "sds" when its secrets come over SDS.
 * `at(field)` prefixes field paths (`cluster NAME: transportSocket…`).
 */
export function upstreamTlsFromCluster(c: ProtoObject, at: (field: string) => string): UpstreamTls | undefined {
  const ts = obj(c.transportSocket);
  return ts ? upstreamTransportSocket(c, ts, at("transportSocket")) : undefined;
}

/**
 * One upstream transport socket of cluster `c` (its transport_socket, or a transport_socket_matches
 * entry's): TLS origination, or undefined for raw_buffer. Any other type is refused, never
 * plaintext in its place.
 */
export function upstreamTransportSocket(c: ProtoObject, ts: ProtoObject, path: string): UpstreamTls | undefined {
  const typed = obj(ts.typedConfig);
  const type = typed?.["@type"];
  if (type === RAW_BUFFER_TYPE || (type === undefined && ts.name === RAW_BUFFER_NAME)) return undefined;
  if (type === undefined && ts.name === TLS_TRANSPORT_SOCKET) throw new XdsConfigError(`${path}.typedConfig`, "envoy.transport_sockets.tls needs an UpstreamTlsContext");
  if (type !== UPSTREAM_TLS_TYPE) throw new XdsConfigError(`${path}.typedConfig`, `Didn't find a registered implementation for '${String(ts.name ?? "")}' with type URL: '${String(type ?? "").replace(/^.*\//, "")}'`);
  const opts = upstreamHttpProtocolOptions(c);
  return upstreamTlsContext(typed!, `${path}.typedConfig`, { autoSni: opts?.autoSni === true, autoSanValidation: opts?.autoSanValidation === true });
}

/** `upstream_http_protocol_options` (typed extension protocol options, or the deprecated cluster field). */
function upstreamHttpProtocolOptions(c: ProtoObject): ProtoObject | undefined {
  const typed = obj(obj(c.typedExtensionProtocolOptions)?.[HTTP_PROTOCOL_OPTIONS]);
  return obj(typed?.upstreamHttpProtocolOptions) ?? obj(c.upstreamHttpProtocolOptions);
}

/** Validates an UpstreamTlsContext (decoded) into origination settings. */
export function upstreamTlsContext(ctx: ProtoObject, path: string, auto: { autoSni: boolean; autoSanValidation: boolean }): UpstreamTls {
  const common = obj(ctx.commonTlsContext) ?? {};
  const cpath = `${path}.commonTlsContext`;
  const sni = typeof ctx.sni === "string" && ctx.sni ? ctx.sni : undefined;
  if (sni !== undefined && sni.length > 255) throw new XdsConfigError(`${path}.sni`, "must be at most 255 characters");
  const combined = obj(common.combinedValidationContext);
  const vpath = combined ? `${cpath}.combinedValidationContext.defaultValidationContext` : `${cpath}.validationContext`;
  const vc = combined ? (obj(combined.defaultValidationContext) ?? {}) : obj(common.validationContext);
  // SAN matchers are compiled (and a bad regex NACKed) even when the secrets are not here.
  const sanMatchers = vc ? compileSanMatchers(vc, vpath) : [];
  const sds = sdsNames(common);
  if (sds.length > 0) return { kind: "sds", secrets: sds };

  const certs = arr(common.tlsCertificates);
  const options: tls.SecureContextOptions = {};
  if (certs.length > 0) {
    const p = `${cpath}.tlsCertificates[0]`;
    if (!certs[0].certificateChain) throw new XdsConfigError(`${p}.certificateChain`, "a TLS certificate needs certificate_chain");
    if (!certs[0].privateKey) throw new XdsConfigError(`${p}.privateKey`, "a TLS certificate needs private_key");
    options.cert = dataSource(certs[0].certificateChain, `${p}.certificateChain`);
    options.key = dataSource(certs[0].privateKey, `${p}.privateKey`);
    if (certs[0].password) options.passphrase = dataSource(certs[0].password, `${p}.password`).toString();
  }
  let verify = false;
  if (vc) {
    const systemRoots = obj(vc.systemRootCerts) !== undefined;
    if (vc.trustedCa) {
      options.ca = pemCertificates(dataSource(vc.trustedCa, `${vpath}.trustedCa`), `${vpath}.trustedCa${obj(vc.trustedCa)?.filename !== undefined ? ".filename" : ""}`, "trusted CA certificates");
      verify = true;
    } else if (systemRoots) verify = true; // node's default roots (createSecureContext without ca)
    if (vc.crl) {
      if (!verify) throw new XdsConfigError(`${vpath}.crl`, "Failed to load CRL without trusted CA");
      options.crl = dataSource(vc.crl, `${vpath}.crl`);
    }
    if (sanMatchers.length > 0 && !verify) {
      throw new XdsConfigError(vpath, "SAN-based verification of peer certificates without trusted CA is insecure and not allowed");
    }
    if (vc.trustChainVerification !== undefined && vc.trustChainVerification !== "VERIFY_TRUST_CHAIN") {
      throw new XdsConfigError(`${vpath}.trustChainVerification`, "only VERIFY_TRUST_CHAIN is supported");
    }
  }
  const params = obj(common.tlsParams);
  const minVersion = tlsVersion(params?.tlsMinimumProtocolVersion, `${cpath}.tlsParams.tlsMinimumProtocolVersion`);
  const maxVersion = tlsVersion(params?.tlsMaximumProtocolVersion, `${cpath}.tlsParams.tlsMaximumProtocolVersion`);
  if (Array.isArray(params?.cipherSuites) && params.cipherSuites.length > 0) options.ciphers = (params.cipherSuites as string[]).join(":");
  if (Array.isArray(params?.ecdhCurves) && params.ecdhCurves.length > 0) options.ecdhCurve = (params.ecdhCurves as string[]).join(":");
  if (minVersion) options.minVersion = minVersion;
  if (maxVersion) options.maxVersion = maxVersion;
  let secureContext: tls.SecureContext;
  try {
    secureContext = tls.createSecureContext(options);
  } catch (e) {
    const field = /CRL/i.test((e as Error).message) ? `${vpath}.crl` : /cipher/i.test((e as Error).message) ? `${cpath}.tlsParams` : `${cpath}.tlsCertificates[0]`;
    throw new XdsConfigError(field, (e as Error).message);
  }
  const alpn = Array.isArray(common.alpnProtocols) ? (common.alpnProtocols as string[]) : [];
  return {
    kind: "tls",
    sni,
    alpn,
    autoSni: auto.autoSni,
    autoSanValidation: auto.autoSanValidation,
    verify,
    secureContext,
    sanMatchers,
    minVersion,
    maxVersion,
    checkServerIdentity: sanCheck(sanMatchers, undefined),
  };
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
// Secrets over SDS (not served yet)

const sdsLogged = new Set<string>();

/** Logs once per cluster (per process) that its TLS secrets would come over SDS. */
export function noteSdsUnavailable(cluster: string, t: UpstreamTlsUnavailable, log: (line: string) => void): void {
  if (sdsLogged.has(cluster)) return;
  sdsLogged.add(cluster);
  const names = t.secrets.map((s) => JSON.stringify(s)).join(", ");
  log(`proxy: cluster ${cluster}: TLS secret ${names} not available (SDS is not served by tsmesh yet); its connections fail (UF, "${SDS_NOT_READY_REASON}")`);
}

/** The transport failure reason for a cluster whose secrets are missing (the router's UF detail). */
export function sdsFailureReason(t: UpstreamTlsUnavailable): string {
  return `${SDS_NOT_READY_REASON} (${t.secrets.map((s) => JSON.stringify(s)).join(", ")})`;
}
