// A workload's certificate signing request (pilot-agent's side of the CA exchange): a key pair made
// here, whose private half never leaves the caller, and a PKCS #10 request asking for the given
// subject alternative names (Istio's agents ask for their one SPIFFE URI).
import { webcrypto } from "node:crypto";
import * as asn1js from "asn1js";
import { pkijs } from "./x509-engine.js";
import { pemOf } from "../core/pem.js";
import type { CaKeyType } from "./ca.js";

const EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
const SUBJECT_ALT_NAME = "2.5.29.17";
const ORGANIZATION = "2.5.4.10";

export interface CsrRequest {
  /** URI SANs (a SPIFFE ID). */
  uris: readonly string[];
  /** DNS SANs (none for a workload; a CA refuses them). */
  dnsNames?: readonly string[];
  /** The subject's organisation (Istio sets the trust domain). */
  organization?: string;
  keyType?: CaKeyType;
}

/** A new key pair and a CSR signed with it: the CSR and the private key (PKCS #8), both PEM. */
export async function generateCsr(r: CsrRequest): Promise<{ csrPem: string; keyPem: string }> {
  const alg = r.keyType === "RSA" ? { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" } : { name: "ECDSA", namedCurve: "P-256" };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const csr = new pkijs.CertificationRequest();
  if (r.organization) csr.subject.typesAndValues.push(new pkijs.AttributeTypeAndValue({ type: ORGANIZATION, value: new asn1js.Utf8String({ value: r.organization }) }));
  const names = [...r.uris.map((value) => new pkijs.GeneralName({ type: 6, value })), ...(r.dnsNames ?? []).map((value) => new pkijs.GeneralName({ type: 2, value }))];
  if (names.length > 0) {
    const san = new pkijs.Extension({ extnID: SUBJECT_ALT_NAME, critical: true, extnValue: new pkijs.GeneralNames({ names }).toSchema().toBER(false) });
    csr.attributes = [new pkijs.Attribute({ type: EXTENSION_REQUEST, values: [new pkijs.Extensions({ extensions: [san] }).toSchema()] })];
  }
  await csr.subjectPublicKeyInfo.importKey(keys.publicKey as never);
  await csr.sign(keys.privateKey as never, "SHA-256");
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { csrPem: pemOf("CERTIFICATE REQUEST", csr.toSchema().toBER(false)), keyPem: pemOf("PRIVATE KEY", pkcs8) };
}
