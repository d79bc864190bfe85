// A test client of the mesh CA as pilot-agent calls it: grpc-js over TLS, verifying the serving
// certificate against the mesh root bundle with istiod's server name, a bearer token in the
// `authorization` metadata, and Istio's certificate messages. Also `openssl verify` of a chain.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { CREATE_CERTIFICATE_PATH, decodeCertificateResponse, encodeCertificateRequest, ISTIOD_SERVER_NAME } from "../../src/security/ca-proto.js";

export type CaAnswer = { chain: string[] } | { code: grpc.status; details: string };

/** A channel to `address` that trusts `rootPem` for istiod.istio-system.svc. */
export function secureClient(address: string, rootPem: string): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createSsl(Buffer.from(rootPem)), { "grpc.ssl_target_name_override": ISTIOD_SERVER_NAME, "grpc.default_authority": ISTIOD_SERVER_NAME });
}

/** One CreateCertificate call: the chain, or the status the CA answered with. */
export function createCertificate(client: grpc.Client, o: { token?: string; csr: string; validityDuration?: number; raw?: Buffer; authorization?: string[] }): Promise<CaAnswer> {
  const md = new grpc.Metadata();
  for (const v of o.authorization ?? (o.token === undefined ? [] : [`Bearer ${o.token}`])) md.add("authorization", v);
  const body = o.raw ?? encodeCertificateRequest({ csr: o.csr, validityDuration: o.validityDuration ?? 0 });
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      CREATE_CERTIFICATE_PATH,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      md,
      { deadline: Date.now() + 20_000 },
      (err, res) => resolve(err ? { code: err.code, details: err.details } : { chain: decodeCertificateResponse(res!).certChain }),
    );
  });
}

/** `openssl verify -CAfile ROOTS [-untrusted INTERMEDIATES] LEAF`: its exit status and output. */
export function opensslVerify(rootsPem: string, leafPem: string, intermediatesPem = ""): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-openssl-"));
  try {
    writeFileSync(join(dir, "roots.pem"), rootsPem);
    writeFileSync(join(dir, "leaf.pem"), leafPem);
    const args = ["verify", "-CAfile", join(dir, "roots.pem")];
    if (intermediatesPem) {
      writeFileSync(join(dir, "chain.pem"), intermediatesPem);
      args.push("-untrusted", join(dir, "chain.pem"));
    }
    const r = spawnSync("openssl", [...args, join(dir, "leaf.pem")], { encoding: "utf8" });
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
