// The mesh CA (Citadel's role in istiod): the authority that turns a workload's CSR into an X.509
// SVID for the identity its caller proved. Either a self-signed root generated on first start and
// kept in the control plane's state folder, or a plug-in CA: Istio's `cacerts` folder (ca-cert.pem,
// ca-key.pem, root-cert.pem, cert-chain.pem), issuing as an intermediate of the user's root. The
// private key stays in this object and its file; no error or log line carries it.
import { createPrivateKey, createPublicKey, randomBytes, webcrypto, X509Certificate, type KeyObject } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as asn1js from "asn1js";
import { pkijs } from "./x509-engine.js";
import { derOfPem, pemBlocks, pemOf } from "../core/pem.js";
import { type SpiffeId, spiffeUri } from "./spiffe.js";

export type CaKeyType = "EC" | "RSA";

/** Istio's default workload certificate lifetime. */
export const DEFAULT_SVID_TTL_S = 24 * 3600;
/** Istio's cap on a requested lifetime (90 days). */
export const MAX_SVID_TTL_S = 90 * 24 * 3600;
/** How far back a certificate's validity starts, for clocks that are a little behind. */
const BACKDATE_MS = 60_000;
const ROOT_TTL_MS = 10 * 365 * 24 * 3600_000;

const OID = {
  organization: "2.5.4.10",
  extensionRequest: "1.2.840.113549.1.9.14",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectKeyIdentifier: "2.5.29.14",
  authorityKeyIdentifier: "2.5.29.35",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
};
const URI_NAME = 6;
const DNS_NAME = 2;

/**
 * Why a CSR was refused (the message names what is wrong, never key material): "invalid" for a
 * request that is malformed, badly signed or has a weak key; "identity" for a well-formed request
 * asking for names the caller may not have.
 */
export class CsrRefused extends Error {
  constructor(
    message: string,
    readonly kind: "invalid" | "identity" = "invalid",
  ) {
    super(message);
  }
}

/** A key pair made here and a certificate for it (the CA's own serving certificate). */
export interface IssuedKeyCert {
  /** The certificate first, then the issuer's chain up to (and with) the root. */
  certChainPem: string[];
  keyPem: string;
  notAfter: Date;
}

export interface SignOptions {
  /** Requested lifetime; default 24 h, at most 90 days and never past the CA's own expiry. */
  ttlSeconds?: number;
  now?: Date;
}

export class MeshCa {
  private constructor(
    private readonly signer: webcrypto.CryptoKey,
    private readonly cert: pkijs.Certificate,
    private readonly certNotAfter: Date,
    /** The issuer's chain as sent with every SVID: the CA certificate first, the root last. */
    readonly chainPem: readonly string[],
    /** The trust anchors workloads are given (ROOTCA). */
    readonly rootsPem: readonly string[],
  ) {}

  /**
   * The self-signed CA kept in `dir` (root-cert.pem, ca-key.pem with mode 0600), generated on the
   * first start: O=TRUST_DOMAIN, ten years, ECDSA P-256 (or RSA 2048).
   */
  static async selfSigned(dir: string, o: { trustDomain: string; keyType?: CaKeyType; now?: Date }): Promise<MeshCa> {
    // A root kept from an earlier start must be the one asked for now: a different trust domain
    // (its O=) or key type is refused, naming the file, never replaced behind the user's back (every
    // workload trusts the old root until it is rotated on purpose).
    const certFile = join(dir, "root-cert.pem");
    const keyFile = join(dir, "ca-key.pem");
    const haveCert = existsSync(certFile);
    if (haveCert !== existsSync(keyFile)) throw new Error(`mesh CA in ${dir}: ${haveCert ? "ca-key.pem" : "root-cert.pem"} is missing (remove the other to generate a new root)`);
    if (!haveCert) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const { certPem, keyPem } = await generateRoot(o.trustDomain, o.keyType ?? "EC", o.now ?? new Date());
      writeFileSync(keyFile, keyPem, { mode: 0o600 });
      chmodSync(keyFile, 0o600);
      writeFileSync(certFile, certPem);
    } else {
      checkStoredRoot(certFile, o.trustDomain, o.keyType);
    }
    return MeshCa.load(readFileSync(certFile, "utf8"), readFileSync(keyFile, "utf8"), [], readFileSync(certFile, "utf8"), dir);
  }

  /** Istio's plug-in CA: an intermediate of the user's root, from a `cacerts` folder. */
  static async plugIn(dir: string): Promise<MeshCa> {
    const read = (f: string) => {
      const p = join(dir, f);
      if (!existsSync(p)) throw new Error(`plug-in CA ${dir}: ${f} is missing (Istio's cacerts layout: ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem)`);
      return readFileSync(p, "utf8");
    };
    return MeshCa.load(read("ca-cert.pem"), read("ca-key.pem"), pemBlocks(read("cert-chain.pem"), "CERTIFICATE"), read("root-cert.pem"), dir);
  }

  private static async load(caCertPem: string, caKeyPem: string, chain: string[], rootPem: string, where: string): Promise<MeshCa> {
    const roots = pemBlocks(rootPem, "CERTIFICATE");
    if (roots.length === 0) throw new Error(`mesh CA ${where}: root-cert.pem holds no certificate`);
    const caCert = new X509Certificate(caCertPem);
    if (!caCert.ca) throw new Error(`mesh CA ${where}: ca-cert.pem is not a CA certificate (basicConstraints CA:TRUE)`);
    let key: KeyObject;
    try {
      key = createPrivateKey(caKeyPem);
    } catch {
      throw new Error(`mesh CA ${where}: ca-key.pem is not a readable unencrypted private key`);
    }
    if (!createPublicKey(key).export({ type: "spki", format: "der" }).equals(caCert.publicKey.export({ type: "spki", format: "der" }))) {
      throw new Error(`mesh CA ${where}: ca-key.pem is not the key of ca-cert.pem`);
    }
    // The chain sent with each SVID: the CA certificate, its issuers, then the root.
    const issuers = chain.filter((p) => !new X509Certificate(p).raw.equals(caCert.raw));
    const full = [caCert.toString(), ...issuers];
    const last = new X509Certificate(full[full.length - 1]);
    const root = roots.find((r) => new X509Certificate(r).raw.equals(last.raw)) ?? roots.find((r) => last.checkIssued(new X509Certificate(r)));
    if (root === undefined) throw new Error(`mesh CA ${where}: the chain from ca-cert.pem does not end at a certificate of root-cert.pem`);
    if (!new X509Certificate(root).raw.equals(last.raw)) full.push(root);
    for (let i = 0; i + 1 < full.length; i++) {
      const child = new X509Certificate(full[i]);
      const parent = new X509Certificate(full[i + 1]);
      if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) throw new Error(`mesh CA ${where}: certificate ${i} of the chain is not signed by certificate ${i + 1}`);
    }
    const signer = await webcrypto.subtle.importKey("pkcs8", key.export({ type: "pkcs8", format: "der" }), signingAlgorithm(key), false, ["sign"]);
    const cert = pkijs.Certificate.fromBER(derOfPem(caCert.toString()));
    return new MeshCa(signer, cert, new Date(caCert.validTo), full, roots);
  }

  /**
   * Signs `csrPem` as an SVID for `identity`: the CSR's signature must verify, its key be EC P-256/
   * P-384 or RSA ≥ 2048, and its one subject alternative name be exactly the identity's SPIFFE URI.
   * Returns the certificate chain: the SVID first, the root last.
   */
  async sign(csrPem: string, identity: SpiffeId, o: SignOptions = {}): Promise<string[]> {
    const want = spiffeUri(identity);
    const csr = parseCsr(csrPem);
    if (!(await csr.verify())) throw new CsrRefused("the CSR's signature does not verify");
    checkCsrKey(csr);
    const sans = csrSans(csr);
    if (sans.length !== 1 || sans[0].type !== URI_NAME || sans[0].value !== want) {
      const got = sans.map((n) => (n.type === URI_NAME ? String(n.value) : `(name type ${n.type})`)).join(", ") || "none";
      throw new CsrRefused(`the CSR asks for ${got}; the caller may only have ${want}`, "identity");
    }
    const leaf = await this.issue(csr.subjectPublicKeyInfo, new pkijs.GeneralName({ type: URI_NAME, value: want }), o);
    return [pemOf("CERTIFICATE", leaf.toSchema().toBER(false)), ...this.chainPem];
  }

  /**
   * A new key pair (EC P-256) and a server certificate for it with the given DNS names, signed by
   * this CA: istiod's own serving certificate for 15012 (the names agents dial, e.g.
   * istiod.istio-system.svc). Only the control plane calls this; no caller's CSR reaches it.
   */
  async issueServingCertificate(dnsNames: readonly string[], o: SignOptions = {}): Promise<IssuedKeyCert> {
    const keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
    const spki = new pkijs.PublicKeyInfo();
    await spki.importKey(keys.publicKey as never);
    const names = dnsNames.map((value) => new pkijs.GeneralName({ type: DNS_NAME, value }));
    const cert = await this.issue(spki, names, o);
    const keyPem = pemOf("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
    return { certChainPem: [pemOf("CERTIFICATE", cert.toSchema().toBER(false)), ...this.chainPem], keyPem, notAfter: cert.notAfter.value };
  }

  /** Every root workloads trust, as one PEM bundle (istiod's istio-ca-root-cert ConfigMap, root-cert.pem). */
  get rootBundlePem(): string {
    return this.rootsPem.map((r) => r.trim() + "\n").join("");
  }

  /** When this CA's own certificate (the root, or the plug-in intermediate) expires. */
  get notAfter(): Date {
    return this.certNotAfter;
  }

  /** A certificate for `spki` with the given subject alternative names: not a CA, server and client auth. */
  private async issue(spki: pkijs.PublicKeyInfo, names: pkijs.GeneralName | pkijs.GeneralName[], o: SignOptions): Promise<pkijs.Certificate> {
    const ttl = o.ttlSeconds ?? DEFAULT_SVID_TTL_S;
    if (!Number.isFinite(ttl) || ttl <= 0) throw new CsrRefused(`requested lifetime ${ttl}s is not positive`);
    const now = o.now ?? new Date();
    // Whole seconds, as the certificate encodes them.
    const notAfter = new Date(Math.floor(Math.min(now.getTime() + Math.min(ttl, MAX_SVID_TTL_S) * 1000, this.certNotAfter.getTime()) / 1000) * 1000);
    const leaf = new pkijs.Certificate();
    leaf.version = 2;
    leaf.serialNumber = randomSerial();
    leaf.issuer = this.cert.subject;
    leaf.subject = new pkijs.RelativeDistinguishedNames();
    leaf.notBefore.value = new Date(now.getTime() - BACKDATE_MS);
    leaf.notAfter.value = notAfter;
    leaf.subjectPublicKeyInfo = spki;
    leaf.extensions = [
      extension(OID.keyUsage, true, keyUsageBits(0xa0, 5)), // digitalSignature, keyEncipherment
      extension(OID.extKeyUsage, false, new pkijs.ExtKeyUsage({ keyPurposes: [OID.serverAuth, OID.clientAuth] }).toSchema()),
      extension(OID.basicConstraints, true, new pkijs.BasicConstraints({ cA: false }).toSchema()),
      extension(OID.subjectAltName, true, new pkijs.GeneralNames({ names: Array.isArray(names) ? names : [names] }).toSchema()),
      ...authorityKeyId(this.cert),
    ];
    await leaf.sign(this.signer, "SHA-256");
    return leaf;
  }
}

function checkStoredRoot(certFile: string, trustDomain: string, keyType: CaKeyType | undefined): void {
  const root = new X509Certificate(readFileSync(certFile));
  const org = /^O=(.*)$/m.exec(root.subject)?.[1];
  const remedy = `keep the stored root by asking for what it was made for, or move root-cert.pem and ca-key.pem away to generate a new root (every workload must then get certificates from the new root)`;
  if (org !== trustDomain) throw new Error(`mesh CA: ${certFile} was made for trust domain ${JSON.stringify(org ?? "")}, not ${JSON.stringify(trustDomain)}: ${remedy}`);
  const stored = root.publicKey.asymmetricKeyType === "rsa" ? "RSA" : "EC";
  if (keyType !== undefined && keyType !== stored) throw new Error(`mesh CA: ${certFile} holds an ${stored} root, not ${keyType}: ${remedy}`);
}

function signingAlgorithm(key: KeyObject): webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams {
  if (key.asymmetricKeyType === "rsa") return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  if (key.asymmetricKeyType === "ec") {
    const curve = { prime256v1: "P-256", secp384r1: "P-384" }[key.asymmetricKeyDetails?.namedCurve ?? ""];
    if (curve !== undefined) return { name: "ECDSA", namedCurve: curve };
  }
  throw new Error(`mesh CA: a ${key.asymmetricKeyType} key cannot sign (RSA or EC P-256/P-384 only)`);
}

async function generateRoot(trustDomain: string, keyType: CaKeyType, now: Date): Promise<{ certPem: string; keyPem: string }> {
  const alg = keyType === "RSA" ? { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" } : { name: "ECDSA", namedCurve: "P-256" };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const name = new pkijs.RelativeDistinguishedNames({ typesAndValues: [new pkijs.AttributeTypeAndValue({ type: OID.organization, value: new asn1js.Utf8String({ value: trustDomain }) })] });
  const root = new pkijs.Certificate();
  root.version = 2;
  root.serialNumber = randomSerial();
  root.subject = name;
  root.issuer = name;
  root.notBefore.value = new Date(now.getTime() - BACKDATE_MS);
  root.notAfter.value = new Date(now.getTime() + ROOT_TTL_MS);
  await root.subjectPublicKeyInfo.importKey(keys.publicKey);
  const ski = await webcrypto.subtle.digest("SHA-1", root.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView);
  root.extensions = [
    extension(OID.keyUsage, true, keyUsageBits(0x06, 1)), // keyCertSign, cRLSign
    extension(OID.basicConstraints, true, new pkijs.BasicConstraints({ cA: true }).toSchema()),
    extension(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: ski })),
  ];
  await root.sign(keys.privateKey, "SHA-256");
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { certPem: pemOf("CERTIFICATE", root.toSchema().toBER(false)), keyPem: pemOf("PRIVATE KEY", pkcs8) };
}

function parseCsr(pem: string): pkijs.CertificationRequest {
  const blocks = pemBlocks(pem, "CERTIFICATE REQUEST");
  if (blocks.length !== 1) throw new CsrRefused(`expected one PEM "CERTIFICATE REQUEST" block, found ${blocks.length}`);
  try {
    return pkijs.CertificationRequest.fromBER(derOfPem(blocks[0]));
  } catch {
    throw new CsrRefused("the CSR is not a well-formed PKCS #10 request");
  }
}

function checkCsrKey(csr: pkijs.CertificationRequest): void {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(csr.subjectPublicKeyInfo.toSchema().toBER(false)), format: "der", type: "spki" });
  } catch {
    throw new CsrRefused("the CSR's public key cannot be read");
  }
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === "ec" && (d?.namedCurve === "prime256v1" || d?.namedCurve === "secp384r1")) return;
  if (key.asymmetricKeyType === "rsa" && (d?.modulusLength ?? 0) >= 2048) return;
  throw new CsrRefused(`the CSR's ${key.asymmetricKeyType} key is not EC P-256/P-384 or RSA of at least 2048 bits`);
}

/** The subject alternative names a CSR asks for (its extensionRequest's subjectAltName). */
function csrSans(csr: pkijs.CertificationRequest): pkijs.GeneralName[] {
  const out: pkijs.GeneralName[] = [];
  for (const attr of csr.attributes ?? []) {
    if (attr.type !== OID.extensionRequest) continue;
    for (const v of attr.values) {
      let exts: pkijs.Extensions;
      try {
        exts = new pkijs.Extensions({ schema: v });
      } catch {
        throw new CsrRefused("the CSR's extension request is malformed");
      }
      for (const e of exts.extensions) {
        if (e.extnID !== OID.subjectAltName) continue;
        try {
          out.push(...pkijs.GeneralNames.fromBER(e.extnValue.valueBlock.valueHexView).names);
        } catch {
          throw new CsrRefused("the CSR's subject alternative names are malformed");
        }
      }
    }
  }
  return out;
}

function extension(extnID: string, critical: boolean, value: asn1js.AsnType): pkijs.Extension {
  return new pkijs.Extension({ extnID, critical, extnValue: value.toBER(false) });
}

function keyUsageBits(firstByte: number, unusedBits: number): asn1js.BitString {
  return new asn1js.BitString({ valueHex: new Uint8Array([firstByte]).buffer, unusedBits });
}

function authorityKeyId(ca: pkijs.Certificate): pkijs.Extension[] {
  const ski = ca.extensions?.find((e) => e.extnID === OID.subjectKeyIdentifier);
  if (ski === undefined) return [];
  const id = asn1js.fromBER(ski.extnValue.valueBlock.valueHexView).result as asn1js.OctetString;
  return [extension(OID.authorityKeyIdentifier, false, new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: id.valueBlock.valueHexView }) }).toSchema())];
}

/** 128 random bits, positive (RFC 5280: at most 20 octets, non-negative). */
function randomSerial(): asn1js.Integer {
  const b = randomBytes(16);
  b[0] = (b[0] & 0x7f) | 0x40; // positive, and no leading zero octet to strip
  return new asn1js.Integer({ valueHex: new Uint8Array(b).buffer });
}
