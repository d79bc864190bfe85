// An SDS Secret resource (type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret, as
// the control plane sends a gateway's credentialName over ADS) checked before it is ACKed and turned
// into what the SecretManager holds: a certificate chain with its private key, or trusted CAs. The
// PEM is checked as Envoy checks it when it builds a context — every certificate parses, the key is
// a readable unencrypted key and is the leaf certificate's — so a bad Secret is NACKed with its name
// and field and the last good one keeps serving. Error messages never quote key material.
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import type * as v3 from "../../envoy/types.js";
import { pemBlocks } from "../../core/pem.js";
import { XdsConfigError } from "../xds-error.js";
import { pemCertificates } from "./common.js";
import type { SdsSecret, TlsCertificateSecret } from "./secrets.js";

/** Inline bytes or an inline string (SDS secrets carry their material; files are not read for them). */
function inline(d: v3.DataSource | undefined, path: string): string {
  if (d === undefined) throw new XdsConfigError(path, "is required");
  if (d.inlineBytes !== undefined) return Buffer.from(d.inlineBytes).toString("latin1");
  if (d.inlineString !== undefined) return d.inlineString;
  const field = d.filename !== undefined ? "filename" : d.environmentVariable !== undefined ? "environmentVariable" : undefined;
  if (field) throw new XdsConfigError(`${path}.${field}`, "secrets over SDS must carry their material inline (inline_bytes or inline_string)");
  throw new XdsConfigError(path, "needs inline_bytes or inline_string");
}

/**
 * A certificate chain and key pair as Envoy loads it: at least one certificate, each parseable;
 * an unencrypted private key that belongs to the first (leaf) certificate. Throws XdsConfigError.
 */
export function checkCertificateSecret(s: TlsCertificateSecret, path: string): void {
  const blocks = pemBlocks(s.certificateChainPem, "CERTIFICATE");
  if (blocks.length === 0) throw new XdsConfigError(`${path}.certificateChain`, "Failed to load certificate chain: no PEM certificate found");
  let leaf: X509Certificate | undefined;
  for (const [i, b] of blocks.entries()) {
    try {
      const c = new X509Certificate(b);
      leaf ??= c;
    } catch (e) {
      throw new XdsConfigError(`${path}.certificateChain`, `Failed to load certificate chain: certificate ${i}: ${(e as Error).message}`);
    }
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(s.privateKeyPem);
  } catch {
    // node's message may quote the input: say only what is wrong.
    throw new XdsConfigError(`${path}.privateKey`, "Failed to load private key: not a readable unencrypted PEM private key");
  }
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  if (!leaf || !spki.equals(leaf.publicKey.export({ type: "spki", format: "der" }))) {
    throw new XdsConfigError(`${path}.privateKey`, "the private key does not match the leaf certificate of certificate_chain");
  }
}

const CERT_FIELDS_REFUSED: ReadonlyArray<keyof v3.TlsCertificate> = ["pkcs12", "password", "watchedDirectory", "privateKeyProvider", "ocspStaple", "signedCertificateTimestamp"];
const VALIDATION_FIELDS_ACCEPTED: ReadonlySet<string> = new Set(["trustedCa"]);

/**
 * A decoded Secret resource named `name`: a tls_certificate (inline certificate_chain and
 * private_key) or a validation_context (inline trusted_ca). Anything else is refused with its path.
 */
export function secretFromResource(name: string, s: v3.Secret): SdsSecret {
  const at = `Secret ${name}`;
  if ((s.name ?? "") !== name) throw new XdsConfigError(`${at}: name`, `Unexpected SDS secret (expecting ${name}): ${s.name ?? ""}`);
  if (s.sessionTicketKeys !== undefined) throw new XdsConfigError(`${at}: sessionTicketKeys`, "session ticket keys over SDS are not supported");
  if (s.genericSecret !== undefined) throw new XdsConfigError(`${at}: genericSecret`, "generic secrets are not supported");
  if (s.tlsCertificate !== undefined) {
    if (s.validationContext !== undefined) throw new XdsConfigError(`${at}: validationContext`, "a Secret is one of tls_certificate or validation_context");
    const tc = s.tlsCertificate;
    const p = `${at}: tlsCertificate`;
    for (const f of CERT_FIELDS_REFUSED) {
      const v = tc[f];
      if (v !== undefined && !(Array.isArray(v) && v.length === 0)) throw new XdsConfigError(`${p}.${f}`, "is not supported in secrets over SDS");
    }
    const secret: TlsCertificateSecret = { kind: "tlsCertificate", certificateChainPem: inline(tc.certificateChain, `${p}.certificateChain`), privateKeyPem: inline(tc.privateKey, `${p}.privateKey`) };
    checkCertificateSecret(secret, p);
    return secret;
  }
  if (s.validationContext !== undefined) {
    const vc = s.validationContext;
    const p = `${at}: validationContext`;
    for (const [f, v] of Object.entries(vc)) {
      if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
      if (!VALIDATION_FIELDS_ACCEPTED.has(f)) throw new XdsConfigError(`${p}.${f}`, "is not supported in a validation context over SDS (only trusted_ca)");
    }
    const pem = inline(vc.trustedCa, `${p}.trustedCa`);
    pemCertificates(Buffer.from(pem, "latin1"), `${p}.trustedCa`, "trusted CA certificates");
    return { kind: "validationContext", trustedCaPem: pem };
  }
  throw new XdsConfigError(at, "needs tls_certificate or validation_context");
}
