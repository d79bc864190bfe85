// What the agent accepts from the mesh CA: a CreateCertificate response checked before anything of
// it reaches a TLS context — the leaf is for our key and our SPIFFE ID only, every certificate of
// the chain is signed by the next and valid now, and the chain ends at a root of the bundle the
// response carries last (Istio's chain = [leaf, intermediates..., root bundle]). Also the trust
// bundle (ROOTCA) the agent serves: the configured roots and the CA's, without duplicates.
import { createPublicKey, X509Certificate } from "node:crypto";
import { pemBlocks } from "../core/pem.js";

/** A certificate the agent accepted: the SVID chain to serve and what the logs and /certs show. */
export interface WorkloadCertificate {
  /** The leaf and its intermediates, PEM (the `default` secret's chain). */
  chainPem: string;
  /** The roots the CA sent (the response's last element), PEM. */
  caRootsPem: string;
  spiffeId: string;
  /** Hex, upper case, as X509Certificate prints it. */
  serial: string;
  notBefore: number;
  notAfter: number;
}

/** Why a response was refused (the message names what is wrong, never key material). */
export class CertificateRefused extends Error {}

function parse(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new CertificateRefused(`${what} is not a readable X.509 certificate`);
  }
}

/** The URI subject alternative names of a certificate (undefined: none, or a list Node had to quote). */
function uriSans(cert: X509Certificate): string[] {
  const sans = cert.subjectAltName;
  if (sans === undefined) return [];
  // Node quotes a name holding a separator; such a name can never equal a SPIFFE ID, so it stays opaque.
  return sans.split(", ").filter((s) => s.startsWith("URI:")).map((s) => s.slice(4));
}

/**
 * Checks a CreateCertificate response against the key we made and the identity we asked for,
 * at wall time `now` (ms). Returns the accepted certificate or throws CertificateRefused.
 */
export function checkCertificateResponse(certChain: readonly string[], o: { keyPem: string; spiffeId: string; now: number }): WorkloadCertificate {
  if (certChain.length < 2) throw new CertificateRefused(`the response has ${certChain.length} element(s); expected the certificate chain and the root bundle`);
  const certs = certChain.slice(0, -1).map((pem, i) => {
    if (pemBlocks(pem, "CERTIFICATE").length !== 1) throw new CertificateRefused(`element ${i} of the response is not one PEM certificate`);
    return parse(pem, `element ${i} of the response`);
  });
  const rootPems = pemBlocks(certChain[certChain.length - 1], "CERTIFICATE");
  if (rootPems.length === 0) throw new CertificateRefused("the response's root bundle (its last element) holds no certificate");
  const roots = rootPems.map((p, i) => parse(p, `root ${i} of the response's bundle`));
  const leaf = certs[0];

  const ours = createPublicKey(o.keyPem).export({ type: "spki", format: "der" });
  if (!leaf.publicKey.export({ type: "spki", format: "der" }).equals(ours)) throw new CertificateRefused("the certificate is not for the key this agent generated");
  const uris = uriSans(leaf);
  if (uris.length !== 1 || uris[0] !== o.spiffeId) throw new CertificateRefused(`the certificate is for ${uris.join(", ") || "no SPIFFE ID"}, not ${o.spiffeId}`);
  if (leaf.ca) throw new CertificateRefused("the workload certificate is a CA certificate");

  certs.forEach((c, i) => {
    const from = Date.parse(c.validFrom);
    const to = Date.parse(c.validTo);
    if (!(from <= o.now && o.now < to)) throw new CertificateRefused(`certificate ${i} of the chain is not valid now (${c.validFrom} to ${c.validTo})`);
    if (i > 0 && !c.ca) throw new CertificateRefused(`certificate ${i} of the chain is not a CA certificate`);
  });
  certs.forEach((c, i) => {
    const next = certs[i + 1];
    if (next && !(c.checkIssued(next) && c.verify(next.publicKey))) throw new CertificateRefused(`certificate ${i} of the chain is not signed by certificate ${i + 1}`);
  });
  const last = certs[certs.length - 1];
  const anchored = roots.some((r) => r.raw.equals(last.raw) || (last.checkIssued(r) && last.verify(r.publicKey)));
  if (!anchored) throw new CertificateRefused("the certificate chain does not end at a root of the response's root bundle");

  return {
    chainPem: certChain.slice(0, -1).map(withNewline).join(""),
    caRootsPem: rootPems.map(withNewline).join(""),
    spiffeId: o.spiffeId,
    serial: leaf.serialNumber,
    notBefore: Date.parse(leaf.validFrom),
    notAfter: Date.parse(leaf.validTo),
  };
}

function withNewline(pem: string): string {
  return pem.endsWith("\n") ? pem : `${pem}\n`;
}

/** A root bundle read from a file (`--ca-root-cert`): every PEM block must be a certificate, at least one. */
export function parseRootBundle(text: string, where: string): string {
  const blocks = pemBlocks(text, "CERTIFICATE");
  if (blocks.length === 0) throw new Error(`${where} holds no PEM certificate`);
  blocks.forEach((p, i) => {
    try {
      new X509Certificate(p);
    } catch {
      throw new Error(`${where}: certificate ${i} is not a readable X.509 certificate`);
    }
  });
  return mergeRootBundles(text);
}

/** The certificates of several PEM bundles, each once (first occurrence wins), as one bundle. */
export function mergeRootBundles(...bundles: string[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const b of bundles) {
    for (const pem of pemBlocks(b, "CERTIFICATE")) {
      const der = new X509Certificate(pem).raw.toString("base64");
      if (seen.has(der)) continue;
      seen.add(der);
      out.push(withNewline(pem));
    }
  }
  return out.join("");
}
