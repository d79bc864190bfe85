// Envoy's TLS transport socket pieces shared by termination (tls/downstream.ts) and origination
// (tls/upstream.ts): the transport socket type URLs, DataSource, the subject-alternative-name
// matchers of a CertificateValidationContext, the per-context ssl.* stats and the transport failure
// reason Envoy reports for a failed handshake.
//
// - DataSource: filename, inline_string, inline_bytes, environment_variable.
// - SANs are checked only by match_typed_subject_alt_names / match_subject_alt_names (never against
//   the SNI by default) and, with auto_sni_san_validation, against the request's host ("verify SAN
//   list"), as Envoy's DefaultCertValidator.
// - Failures as Envoy reports them: `TLS_error:|CODE:LIB:FUNC:REASON:…:TLS_error_end` (the router's
//   503 UF body and details), counters ssl.handshake, ssl.connection_error, ssl.fail_verify_error,
//   ssl.fail_verify_san under the cluster's (or listener's) scope.
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { SocketAddress } from "node:net";
import type * as tls from "node:tls";
import { getSystemErrorMap } from "node:util";
import type * as v3 from "../../envoy/types.js";
import { StringMatcher } from "../http/matchers/matchers.js";
import type { Counter, StatsScope } from "../stats.js";
import { XdsConfigError } from "../xds-error.js";
import { pemBlocks } from "../../core/pem.js";

export const TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls";
export const UPSTREAM_TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
export const DOWNSTREAM_TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
export const RAW_BUFFER_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer";
export const RAW_BUFFER_NAME = "envoy.transport_sockets.raw_buffer";

// ---------------------------------------------------------------------------------------------
// DataSource

/** An Envoy DataSource: filename, inline string, inline bytes or environment variable. */
export function dataSource(d: v3.DataSource, path: string): Buffer {
  if (d.filename !== undefined) {
    try {
      return readFileSync(d.filename);
    } catch (e) {
      throw new XdsConfigError(`${path}.filename`, `cannot read ${d.filename}: ${(e as Error).message}`);
    }
  }
  if (d.inlineString !== undefined) return Buffer.from(d.inlineString);
  if (d.inlineBytes !== undefined) return Buffer.from(d.inlineBytes);
  if (d.environmentVariable !== undefined) {
    const v = process.env[d.environmentVariable];
    if (v === undefined) throw new XdsConfigError(`${path}.environmentVariable`, `environment variable ${d.environmentVariable} is not set`);
    return Buffer.from(v);
  }
  throw new XdsConfigError(path, "needs filename, inline_string or inline_bytes");
}

/** The PEM certificates in `pem` (at least one, each parseable), as Envoy loads a trusted CA bundle. */
export function pemCertificates(pem: Buffer, path: string, what: string): Buffer {
  const text = pem.toString("latin1");
  const blocks = pemBlocks(text, "CERTIFICATE");
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

const SAN_TYPES: Readonly<Record<string, SanType>> = { DNS: "DNS", URI: "URI", EMAIL: "EMAIL", IP_ADDRESS: "IP_ADDRESS" };

/** `matchTypedSubjectAltNames` and legacy `matchSubjectAltNames` of a CertificateValidationContext. */
export function compileSanMatchers(vc: v3.CertificateValidationContext, path: string): SanMatcher[] {
  const out: SanMatcher[] = [];
  (vc.matchTypedSubjectAltNames ?? []).forEach((m, i) => {
    const p = `${path}.matchTypedSubjectAltNames[${i}]`;
    // A value the schema does not know arrives as its number.
    const type: string | number = m.sanType ?? "SAN_TYPE_UNSPECIFIED";
    if (type === "OTHER_NAME") throw new XdsConfigError(`${p}.sanType`, "OTHER_NAME SAN matchers are not supported");
    if (typeof type !== "string" || !Object.hasOwn(SAN_TYPES, type)) throw new XdsConfigError(`${p}.sanType`, `san_type must be one of DNS, URI, EMAIL, IP_ADDRESS (got ${type})`);
    if (!m.matcher) throw new XdsConfigError(`${p}.matcher`, "a SAN matcher needs a StringMatcher");
    out.push(new SanMatcher(SAN_TYPES[type], StringMatcher.compile(m.matcher, `${p}.matcher`), m.matcher.exact));
  });
  (vc.matchSubjectAltNames ?? []).forEach((sm, i) => {
    out.push(new SanMatcher(undefined, StringMatcher.compile(sm, `${path}.matchSubjectAltNames[${i}]`), sm.exact));
  });
  return out;
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
  readonly failVerifyCertHash: Counter;
  /** A handshake that resumed a TLS session (no certificate exchange or key agreement from scratch). */
  readonly sessionReused: Counter;
  /** A connection refused because the context's SDS secrets have not arrived (Envoy's NotReadySslSocket). */
  readonly upstreamSecretsNotReady: Counter;

  constructor(scope: StatsScope) {
    const s = scope.scope("ssl");
    this.handshake = s.counter("handshake");
    this.connectionError = s.counter("connection_error");
    this.failVerifyError = s.counter("fail_verify_error");
    this.failVerifySan = s.counter("fail_verify_san");
    this.failVerifyCertHash = s.counter("fail_verify_cert_hash");
    this.sessionReused = s.counter("session_reused");
    this.upstreamSecretsNotReady = s.counter("upstream_context_secrets_not_ready");
  }
}

/** checkServerIdentity's error codes (not node's): a SAN check refused the peer's certificate. */
export const SAN_MATCHER_FAILED = "ERR_TSMESH_TLS_SAN_MATCHER";
export const SAN_LIST_FAILED = "ERR_TSMESH_TLS_VERIFY_SAN_LIST";
/** The peer's certificate matched no verify_certificate_hash / verify_certificate_spki pin. */
export const CERT_HASH_FAILED = "ERR_TSMESH_TLS_CERT_HASH";

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
  if (code === CERT_HASH_FAILED) {
    stats?.failVerifyCertHash.inc();
    return VERIFY_FAILED + "cert hash and spki" + TLS_ERROR_END;
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

const TLS_VERSIONS: Readonly<Record<v3.TlsParameters.TlsProtocol, tls.SecureVersion | undefined>> = {
  TLS_AUTO: undefined,
  TLSv1_0: "TLSv1",
  TLSv1_1: "TLSv1.1",
  TLSv1_2: "TLSv1.2",
  TLSv1_3: "TLSv1.3",
};

/** A TLS protocol version; one the schema does not know (decoded as its number) is refused. */
export function tlsVersion(v: v3.TlsParameters.TlsProtocol | undefined, path: string): tls.SecureVersion | undefined {
  if (v === undefined) return undefined;
  if (!Object.hasOwn(TLS_VERSIONS, v)) throw new XdsConfigError(path, `unknown TLS protocol version ${JSON.stringify(v)}`);
  return TLS_VERSIONS[v];
}
