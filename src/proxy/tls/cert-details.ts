// What admin's /certs shows, in Envoy's envoy.admin.v3.Certificates JSON: one entry per TLS context
// in use (a cluster's or a listener's filter chain's), with its trust anchor (`ca_cert`: the first
// certificate of the trusted CA bundle, as Envoy's DefaultCertValidator keeps it) and the
// certificates it presents (`cert_chain`: the leaf of each). Each as Envoy's CertificateDetails:
// path (the file, or "<inline>" for inline and SDS-delivered material), serial number (lower-case
// hex), subject alternative names (dns, uri, ip_address), days until expiration, validity. Only
// certificates: no key material is kept here.
import { X509Certificate } from "node:crypto";
import type * as v3 from "../../envoy/types.js";
import { pemBlocks } from "../../core/pem.js";
import { certificateSans } from "./common.js";

/** Envoy's path for material that is not a file. */
export const INLINE_PATH = "<inline>";

/** PEM text and where it came from. */
export interface PemSource {
  readonly pem: string;
  readonly path: string;
}

/** The certificates of one TLS context, for /certs. */
export interface ContextCertificates {
  readonly ca: PemSource | undefined;
  readonly chain: readonly PemSource[];
}

/** A DataSource's path as Envoy reports it: the file name, or "<inline>". */
export function dataSourcePath(d: v3.DataSource): string {
  return d.filename ?? INLINE_PATH;
}

export interface SubjectAltName {
  dns?: string;
  uri?: string;
  ip_address?: string;
}

export interface CertificateDetails {
  path: string;
  serial_number: string;
  subject_alt_names: SubjectAltName[];
  /** int64, printed as a string (proto3 JSON). */
  days_until_expiration: string;
  valid_from: string;
  expiration_time: string;
}

const DAY_MS = 86_400_000;

/** RFC 3339 with whole seconds, as a Timestamp prints. */
function timestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Envoy's certificateDetails for the first certificate of `src` (undefined when there is none). */
export function certificateDetails(src: PemSource, nowMs: number): CertificateDetails | undefined {
  const first = pemBlocks(src.pem, "CERTIFICATE")[0];
  if (first === undefined) return undefined;
  let c: X509Certificate;
  try {
    c = new X509Certificate(first);
  } catch {
    return undefined;
  }
  const sans = certificateSans(c.subjectAltName);
  // Envoy lists DNS names, then URIs, then IP addresses.
  const names: SubjectAltName[] = [
    ...sans.filter((s) => s.type === "DNS").map((s) => ({ dns: s.value })),
    ...sans.filter((s) => s.type === "URI").map((s) => ({ uri: s.value })),
    ...sans.filter((s) => s.type === "IP_ADDRESS").map((s) => ({ ip_address: s.value })),
  ];
  const notBefore = new Date(c.validFrom);
  const notAfter = new Date(c.validTo);
  return {
    path: src.path,
    // BoringSSL's BN_bn2hex, lower-cased by Envoy: whole bytes, leading zero bytes dropped.
    serial_number: c.serialNumber.toLowerCase().replace(/^(00)+(?=..)/, ""),
    subject_alt_names: names,
    days_until_expiration: String(Math.max(0, Math.floor((notAfter.getTime() - nowMs) / DAY_MS))),
    valid_from: timestamp(notBefore),
    expiration_time: timestamp(notAfter),
  };
}

/** Envoy's /certs body for the given contexts. */
export function certificatesJson(contexts: readonly ContextCertificates[], nowMs: number): { certificates: Array<{ ca_cert: CertificateDetails[]; cert_chain: CertificateDetails[] }> } {
  return {
    certificates: contexts.map((c) => ({
      ca_cert: c.ca ? [certificateDetails(c.ca, nowMs)].filter((d): d is CertificateDetails => d !== undefined) : [],
      cert_chain: c.chain.map((s) => certificateDetails(s, nowMs)).filter((d): d is CertificateDetails => d !== undefined),
    })),
  };
}
