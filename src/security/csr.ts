// A workload's certificate signing request (pilot-agent's side of the CA exchange): a key pair made
// here, whose private half never leaves the caller, and a PKCS #10 request (RFC 2986) asking for
// the given subject alternative names (Istio's agents ask for their one SPIFFE URI). The request
// is a handful of fixed DER structures, written here with node:crypto's keys and signatures: the
// agent runs in every sidecar, and an X.509 library would add ~13 MB and ~120 ms of start-up to
// each (the CA, which must parse and build certificates, uses pkijs).
import { generateKeyPair, type KeyObject, sign } from "node:crypto";
import { pemOf } from "../core/pem.js";
import type { CaKeyType } from "./ca.js";

const OID = {
  organization: "2.5.4.10",
  extensionRequest: "1.2.840.113549.1.9.14",
  subjectAltName: "2.5.29.17",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  sha256WithRsa: "1.2.840.113549.1.1.11",
};

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
  const { publicKey, privateKey } = await newKeyPair(r.keyType ?? "EC");
  const subject = r.organization ? seq(set(seq(oid(OID.organization), tlv(0x0c, Buffer.from(r.organization, "utf8"))))) : seq();
  const names = [...r.uris.map((u) => tlv(0x86, ia5(u))), ...(r.dnsNames ?? []).map((d) => tlv(0x82, ia5(d)))];
  // extensionRequest { subjectAltName (critical, as Istio's agent marks it) }; no attributes without SANs.
  const attributes = names.length === 0 ? [] : [seq(oid(OID.extensionRequest), set(seq(seq(oid(OID.subjectAltName), tlv(0x01, Buffer.from([0xff])), tlv(0x04, seq(...names))))))];
  const info = seq(tlv(0x02, Buffer.from([0])), subject, publicKey.export({ type: "spki", format: "der" }), tlv(0xa0, Buffer.concat(attributes)));
  const rsa = r.keyType === "RSA";
  // ECDSA: the signature's DER (r, s) is node's default encoding; RSA: PKCS #1 v1.5, whose algorithm takes a NULL parameter.
  const algorithm = rsa ? seq(oid(OID.sha256WithRsa), Buffer.from([0x05, 0x00])) : seq(oid(OID.ecdsaWithSha256));
  const signature = sign("sha256", info, privateKey);
  const csr = seq(info, algorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  return { csrPem: pemOf("CERTIFICATE REQUEST", csr), keyPem: pemOf("PRIVATE KEY", privateKey.export({ type: "pkcs8", format: "der" })) };
}

function newKeyPair(keyType: CaKeyType): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, publicKey: KeyObject, privateKey: KeyObject) => (err ? reject(err) : resolve({ publicKey, privateKey }));
    // Off the event loop (an RSA key takes tens of milliseconds).
    if (keyType === "RSA") generateKeyPair("rsa", { modulusLength: 2048, publicExponent: 0x10001 }, done);
    else generateKeyPair("ec", { namedCurve: "P-256" }, done);
  });
}

/** A DER type-length-value. */
function tlv(tag: number, value: Buffer): Buffer {
  const n = value.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), value]);
}

const seq = (...parts: Buffer[]) => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]) => tlv(0x31, Buffer.concat(parts));

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const bytes = [40 * a + b];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** An IA5String's bytes (SAN URIs and DNS names are ASCII). */
function ia5(s: string): Buffer {
  if (!/^[\x20-\x7e]*$/.test(s)) throw new Error(`subject alternative name ${JSON.stringify(s)} is not printable ASCII`);
  return Buffer.from(s, "latin1");
}
