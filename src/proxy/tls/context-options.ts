// What termination and origination share of a CommonTlsContext, turned into node's secure-context
// options: the certificates (PEM chain and key with an optional password, or PKCS#12), tls_params
// (protocol versions, cipher suites, ECDH curves, signature algorithms), and the fields node's TLS
// cannot honour (certificate providers, custom handshakers, key logs, private key providers, OCSP
// staples, SCTs, watched directories), which are refused with their path.
import { X509Certificate } from "node:crypto";
import type * as tls from "node:tls";
import type * as v3 from "../../envoy/types.js";
import { XdsConfigError } from "../xds-error.js";
import { dataSource, tlsVersion } from "./common.js";
import type { ContextSecrets } from "./sds-binding.js";

/** Refuses the CommonTlsContext fields the proxy cannot honour. */
export function refuseUnsupportedCommon(common: v3.CommonTlsContext, cpath: string): void {
  const unsupported: Array<[keyof v3.CommonTlsContext, string]> = [
    ["tlsCertificateProviderInstance", "certificate provider instances are not supported"],
    ["tlsCertificateCertificateProvider", "certificate providers are not supported"],
    ["tlsCertificateCertificateProviderInstance", "certificate provider instances are not supported"],
    ["validationContextCertificateProvider", "certificate providers are not supported"],
    ["validationContextCertificateProviderInstance", "certificate provider instances are not supported"],
    ["customHandshaker", "custom handshakers are not supported"],
    ["keyLog", "TLS key logging is not supported"],
  ];
  for (const [field, why] of unsupported) if (common[field] !== undefined) throw new XdsConfigError(`${cpath}.${field}`, why);
}

/** The key material of tls_certificates, as node's cert/key/pfx options. */
export interface CertificateOptions {
  cert?: Buffer[];
  key?: Array<{ pem: Buffer; passphrase?: string }>;
  pfx?: Array<{ buf: Buffer; passphrase?: string }>;
}

/**
 * tls_certificates as node's options. OpenSSL serves one certificate per key type, chosen by what
 * the peer supports (RSA and ECDSA side by side, as Envoy's usual pair); two of one key type would
 * need Envoy's selection by SNI, which is refused rather than half done.
 */
export function certificateOptions(certs: readonly v3.TlsCertificate[], cpath: string): CertificateOptions {
  const out: CertificateOptions = {};
  const keyTypes = new Map<string, number>();
  certs.forEach((c, i) => {
    const p = `${cpath}.tlsCertificates[${i}]`;
    if (c.privateKeyProvider) throw new XdsConfigError(`${p}.privateKeyProvider`, "private key providers are not supported");
    if (c.watchedDirectory) throw new XdsConfigError(`${p}.watchedDirectory`, "watched directories are not supported: certificates are read when the config arrives");
    if (c.ocspStaple) throw new XdsConfigError(`${p}.ocspStaple`, "OCSP stapling is not supported");
    if (c.signedCertificateTimestamp?.length) throw new XdsConfigError(`${p}.signedCertificateTimestamp`, "signed certificate timestamps are not supported");
    const passphrase = c.password ? dataSource(c.password, `${p}.password`).toString() : undefined;
    if (c.pkcs12) {
      if (c.certificateChain || c.privateKey) throw new XdsConfigError(`${p}.pkcs12`, "pkcs12 cannot be combined with certificate_chain or private_key");
      (out.pfx ??= []).push({ buf: dataSource(c.pkcs12, `${p}.pkcs12`), ...(passphrase !== undefined ? { passphrase } : {}) });
      if (certs.length > 1) throw new XdsConfigError(`${p}.pkcs12`, "a PKCS#12 certificate must be the only one");
      return;
    }
    if (!c.certificateChain) throw new XdsConfigError(`${p}.certificateChain`, "a TLS certificate needs certificate_chain");
    if (!c.privateKey) throw new XdsConfigError(`${p}.privateKey`, "a TLS certificate needs private_key");
    const chain = dataSource(c.certificateChain, `${p}.certificateChain`);
    let keyType: string | undefined;
    try {
      keyType = new X509Certificate(chain).publicKey.asymmetricKeyType;
    } catch (e) {
      throw new XdsConfigError(`${p}.certificateChain`, `Failed to load certificate chain: ${(e as Error).message}`);
    }
    const seen = keyTypes.get(keyType ?? "");
    if (seen !== undefined) throw new XdsConfigError(`${p}`, `tls_certificates[${seen}] already has a ${keyType} key: choosing between certificates of one key type by SNI is not supported`);
    keyTypes.set(keyType ?? "", i);
    (out.cert ??= []).push(chain);
    (out.key ??= []).push({ pem: dataSource(c.privateKey, `${p}.privateKey`), ...(passphrase !== undefined ? { passphrase } : {}) });
  });
  return out;
}

/** tls_params as node's options (undefined fields: node's defaults, as Envoy's own defaults). */
export function tlsParamsOptions(params: v3.TlsParameters | undefined, cpath: string): Pick<tls.SecureContextOptions, "minVersion" | "maxVersion" | "ciphers" | "ecdhCurve" | "sigalgs"> {
  const out: Pick<tls.SecureContextOptions, "minVersion" | "maxVersion" | "ciphers" | "ecdhCurve" | "sigalgs"> = {};
  const minVersion = tlsVersion(params?.tlsMinimumProtocolVersion, `${cpath}.tlsParams.tlsMinimumProtocolVersion`);
  const maxVersion = tlsVersion(params?.tlsMaximumProtocolVersion, `${cpath}.tlsParams.tlsMaximumProtocolVersion`);
  if (minVersion) out.minVersion = minVersion;
  if (maxVersion) out.maxVersion = maxVersion;
  if (params?.cipherSuites?.length) out.ciphers = params.cipherSuites.join(":");
  if (params?.ecdhCurves?.length) out.ecdhCurve = params.ecdhCurves.join(":");
  if (params?.signatureAlgorithms?.length) out.sigalgs = params.signatureAlgorithms.join(":");
  return out;
}

/** The field a secure-context construction error is about. */
export function secureContextErrorField(e: Error, cpath: string, vpath: string): string {
  const m = e.message;
  if (/CRL/i.test(m)) return `${vpath}.crl`;
  if (/cipher|curve|sigalg|signature algorithm/i.test(m)) return `${cpath}.tlsParams`;
  if (/pkcs12|pfx|mac verify/i.test(m)) return `${cpath}.tlsCertificates[0].pkcs12`;
  return `${cpath}.tlsCertificates`;
}

/**
 * The secure-context options an SDS context's secrets give: its certificate and key, and the
 * trusted CAs (which replace a default validation context's, as Envoy merges them).
 */
export function secretOptions(s: ContextSecrets): Pick<tls.SecureContextOptions, "cert" | "key" | "ca"> {
  const out: Pick<tls.SecureContextOptions, "cert" | "key" | "ca"> = {};
  if (s.certificates.length > 0) {
    // OpenSSL keeps one certificate per key type (RSA beside ECDSA), as for tls_certificates: two
    // of one type would silently serve only the last.
    if (s.certificates.length > 1) {
      const types = s.certificates.map((c) => new X509Certificate(c.certificateChainPem).publicKey.asymmetricKeyType);
      if (new Set(types).size !== types.length) throw new Error(`two certificates over SDS have a ${types.find((t, i) => types.indexOf(t) !== i)} key: choosing between certificates of one key type by SNI is not supported`);
    }
    out.cert = s.certificates.map((c) => c.certificateChainPem);
    out.key = s.certificates.map((c) => c.privateKeyPem);
  }
  if (s.validation) out.ca = s.validation.trustedCaPem;
  return out;
}
