// A CertificateValidationContext compiled once for both sides of TLS (termination and
// origination), as Envoy's DefaultCertValidator reads it: the SAN matchers, the certificate pins
// (verify_certificate_hash: SHA-256 of the certificate's DER; verify_certificate_spki: SHA-256 of
// its SubjectPublicKeyInfo; either list matching is enough), and the fields whose checks node's TLS
// cannot make, which are refused rather than skipped — a validation the proxy does not run would
// accept certificates the config meant to refuse.
import { createHash, X509Certificate } from "node:crypto";
import type * as v3 from "../../envoy/types.js";
import { XdsConfigError } from "../xds-error.js";
import { compileSanMatchers, type SanMatcher } from "./common.js";

/** verify_certificate_hash / verify_certificate_spki, decoded. */
export interface CertificatePins {
  readonly hashes: readonly Buffer[];
  readonly spkis: readonly Buffer[];
}

export interface PeerValidation {
  readonly sanMatchers: readonly SanMatcher[];
  readonly pins: CertificatePins | undefined;
}

const SHA256_LENGTH = 32;

/**
 * The peer checks of a validation context (none when there is no context); fields the proxy
 * cannot enforce are an XdsConfigError naming them.
 */
export function compilePeerValidation(vc: v3.CertificateValidationContext | undefined, path: string): PeerValidation {
  if (!vc) return { sanMatchers: [], pins: undefined };
  refuseUnenforceable(vc, path);
  const hashes = (vc.verifyCertificateHash ?? []).map((h, i) => {
    // Envoy drops the colons of the 95-character fingerprint form (AB:CD:…) only.
    const hex = h.length === 95 ? h.replaceAll(":", "") : h;
    const bytes = /^[0-9a-fA-F]*$/.test(hex) && hex.length % 2 === 0 ? Buffer.from(hex, "hex") : Buffer.alloc(0);
    if (bytes.length !== SHA256_LENGTH) throw new XdsConfigError(`${path}.verifyCertificateHash[${i}]`, `Invalid hex-encoded SHA-256 ${h}`);
    return bytes;
  });
  const spkis = (vc.verifyCertificateSpki ?? []).map((s, i) => {
    const bytes = /^[A-Za-z0-9+/]*={0,2}$/.test(s) ? Buffer.from(s, "base64") : Buffer.alloc(0);
    if (bytes.length !== SHA256_LENGTH) throw new XdsConfigError(`${path}.verifyCertificateSpki[${i}]`, `Invalid base64-encoded SHA-256 ${s}`);
    return bytes;
  });
  return { sanMatchers: compileSanMatchers(vc, path), pins: hashes.length > 0 || spkis.length > 0 ? { hashes, spkis } : undefined };
}

function refuseUnenforceable(vc: v3.CertificateValidationContext, path: string): void {
  const refuse = (field: string, why: string) => {
    throw new XdsConfigError(`${path}.${field}`, why);
  };
  if (vc.trustChainVerification !== undefined && vc.trustChainVerification !== "VERIFY_TRUST_CHAIN") refuse("trustChainVerification", "only VERIFY_TRUST_CHAIN is supported");
  if (vc.caCertificateProviderInstance) refuse("caCertificateProviderInstance", "certificate provider instances are not supported");
  if (vc.customValidatorConfig) refuse("customValidatorConfig", "custom certificate validators are not supported");
  if (vc.watchedDirectory) refuse("watchedDirectory", "watched directories are not supported: trusted CAs are read when the config arrives");
  if (vc.allowExpiredCertificate) refuse("allowExpiredCertificate", "expired certificates cannot be allowed");
  if (vc.onlyVerifyLeafCertCrl) refuse("onlyVerifyLeafCertCrl", "CRLs are checked for the whole chain");
  if (vc.maxVerifyDepth !== undefined) refuse("maxVerifyDepth", "a maximum verification depth is not supported");
  if (vc.requireSignedCertificateTimestamp?.value === true) refuse("requireSignedCertificateTimestamp", "signed certificate timestamps are not checked");
}

/** Envoy's verifyCertificateHashList / verifyCertificateSpkiList: some pin matches the certificate (DER). */
export function certificatePinned(pins: CertificatePins, der: Buffer): boolean {
  if (pins.hashes.length > 0) {
    const digest = createHash("sha256").update(der).digest();
    if (pins.hashes.some((h) => h.equals(digest))) return true;
  }
  if (pins.spkis.length > 0) {
    let spki: Buffer;
    try {
      spki = new X509Certificate(der).publicKey.export({ type: "spki", format: "der" });
    } catch {
      return false;
    }
    const digest = createHash("sha256").update(spki).digest();
    if (pins.spkis.some((h) => h.equals(digest))) return true;
  }
  return false;
}
