// A small mesh CA for the agent's tests: Istio's IstioCertificateService/CreateCertificate served by
// @grpc/grpc-js over real TLS, signing with the project's MeshCa (the production CA service is
// built separately; these tests do not depend on it). The serving certificate is issued by a CA key
// with istiod's DNS names; a `mode` makes the server misbehave the ways the agent must refuse.
import * as grpc from "@grpc/grpc-js";
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as asn1js from "asn1js";
import { derOfPem, pemOf } from "../../src/core/pem.js";
import { MeshCa } from "../../src/security/ca.js";
import { CREATE_CERTIFICATE_PATH, decodeCertificateRequest, encodeCertificateResponse, type IstioCertificateRequest, type IstioCertificateResponse } from "../../src/security/ca-proto.js";
import { generateCsr } from "../../src/security/csr.js";
import { type SpiffeId, spiffeUri } from "../../src/security/spiffe.js";
import { pkijs } from "../../src/security/x509-engine.js";

/** A serving certificate for `dnsNames`, signed by the CA whose certificate and key are given (PEM). */
export async function issueServingCert(caCertPem: string, caKeyPem: string, dnsNames: string[]): Promise<{ certPem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const caKey = createPrivateKey(caKeyPem);
  const alg = caKey.asymmetricKeyType === "rsa" ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } : { name: "ECDSA", namedCurve: "P-256" };
  const signer = await webcrypto.subtle.importKey("pkcs8", caKey.export({ type: "pkcs8", format: "der" }), alg, false, ["sign"]);
  const issuer = pkijs.Certificate.fromBER(derOfPem(caCertPem));
  const cert = new pkijs.Certificate();
  cert.version = 2;
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x40;
  cert.serialNumber = new asn1js.Integer({ valueHex: new Uint8Array(serial).buffer });
  cert.issuer = issuer.subject;
  cert.subject = new pkijs.RelativeDistinguishedNames();
  cert.notBefore.value = new Date(Date.now() - 3600_000);
  cert.notAfter.value = new Date(Date.now() + 30 * 24 * 3600_000);
  await cert.subjectPublicKeyInfo.importKey(keys.publicKey);
  const san = new pkijs.GeneralNames({ names: dnsNames.map((value) => new pkijs.GeneralName({ type: 2, value })) });
  cert.extensions = [new pkijs.Extension({ extnID: "2.5.29.17", critical: false, extnValue: san.toSchema().toBER(false) })];
  await cert.sign(signer, "SHA-256");
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { certPem: pemOf("CERTIFICATE", cert.toSchema().toBER(false)), keyPem: pemOf("PRIVATE KEY", pkcs8) };
}

/** A self-signed mesh CA in `dir` with its root, key and a serving certificate for istiod's names. */
export async function meshCaIn(dir: string): Promise<{ ca: MeshCa; rootPem: string; serving: { certPem: string; keyPem: string } }> {
  const ca = await MeshCa.selfSigned(dir, { trustDomain: "cluster.local" });
  const rootPem = readFileSync(join(dir, "root-cert.pem"), "utf8");
  const serving = await issueServingCert(rootPem, readFileSync(join(dir, "ca-key.pem"), "utf8"), ["istiod.istio-system.svc", "istiod.istio-system.svc.cluster.local"]);
  return { ca, rootPem, serving };
}

/** How the server answers: correctly, or with a certificate the agent must refuse. */
export type TestCaMode = "ok" | "other-identity" | "other-key" | "unavailable";

export interface TestCaOptions {
  ca: MeshCa;
  serving: { certPem: string; keyPem: string };
  /** token → the identity it proves. */
  tokens: Map<string, SpiffeId>;
  /** An extra root to append to the bundle the response ends with (a root rotation). */
  extraRootPem?: string;
}

export class TestCa {
  private server: grpc.Server | undefined;
  port = 0;
  mode: TestCaMode = "ok";
  /** Wall time the CA signs at (tests move it with their clock). */
  now: () => number = Date.now;
  /** Every call: the metadata's authorization value and the request. */
  readonly calls: { authorization: string | undefined; request: IstioCertificateRequest }[] = [];

  constructor(private readonly o: TestCaOptions) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Listens on `port` (0: any free one; the same port again after stop()). */
  async start(port = this.port): Promise<void> {
    const server = new grpc.Server();
    server.addService(
      {
        CreateCertificate: {
          path: CREATE_CERTIFICATE_PATH,
          requestStream: false,
          responseStream: false,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => decodeCertificateRequest(b),
          responseSerialize: (r: IstioCertificateResponse) => encodeCertificateResponse(r),
          responseDeserialize: (b: Buffer) => b,
        },
      },
      { CreateCertificate: (call: grpc.ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>, cb: grpc.sendUnaryData<IstioCertificateResponse>) => void this.answer(call, cb) },
    );
    const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(this.o.serving.certPem), private_key: Buffer.from(this.o.serving.keyPem) }], false);
    this.port = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, creds, (e, p) => (e ? reject(e) : resolve(p))));
    this.server = server;
  }

  /** Stops at once: open connections are cut (the CA going down). */
  stop(): void {
    this.server?.forceShutdown();
    this.server = undefined;
  }

  private async answer(call: grpc.ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>, cb: grpc.sendUnaryData<IstioCertificateResponse>): Promise<void> {
    const authorization = call.metadata.get("authorization")[0]?.toString();
    this.calls.push({ authorization, request: call.request });
    if (this.mode === "unavailable") return cb({ code: grpc.status.UNAVAILABLE, details: "the CA is shutting down" });
    const token = /^Bearer (.+)$/.exec(authorization ?? "")?.[1];
    const identity = token === undefined ? undefined : this.o.tokens.get(token);
    if (identity === undefined) return cb({ code: grpc.status.UNAUTHENTICATED, details: "the caller's token is not valid" });
    const now = new Date(this.now());
    const ttlSeconds = call.request.validityDuration || undefined;
    try {
      let csr = call.request.csr;
      let signAs = identity;
      if (this.mode === "other-identity") {
        signAs = { ...identity, serviceAccount: "someone-else" };
        csr = (await generateCsr({ uris: [spiffeUri(signAs)] })).csrPem;
      } else if (this.mode === "other-key") {
        csr = (await generateCsr({ uris: [spiffeUri(identity)] })).csrPem;
      }
      const chain = await this.o.ca.sign(csr, signAs, { now, ttlSeconds });
      // Istio's response: the chain, then every root the CA trusts as one bundle.
      const roots = [...this.o.ca.rootsPem, ...(this.o.extraRootPem ? [this.o.extraRootPem] : [])].join("");
      cb(null, { certChain: [...chain.slice(0, -1), roots] });
    } catch (e) {
      cb({ code: grpc.status.INVALID_ARGUMENT, details: (e as Error).message });
    }
  }
}

/** A certificate's serial and public key, for comparing two certificates the agent was given. */
export function leafOf(chainPem: string): X509Certificate {
  return new X509Certificate(chainPem);
}
