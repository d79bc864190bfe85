// The agent's side of Istio's certificate API (pilot-agent's citadel client): one unary
// IstioCertificateService/CreateCertificate call over gRPC + TLS to the mesh CA. The CA's serving
// certificate must chain to the mesh roots (`--ca-root-cert`, re-read when the file changes) and
// carry istiod's name; the caller's credential goes as `authorization: Bearer TOKEN`, read from its
// file at every call (it is rewritten before it expires). Each call has a deadline and a bound on
// the response's size. Errors name the gRPC status and the CA's message — never the token.
import { readFile } from "node:fs/promises";
import { tokenFromBytes } from "./credential-file.js";
import { CREATE_CERTIFICATE_PATH, decodeCertificateResponse, encodeCertificateRequest, ISTIOD_SERVER_NAME, MAX_CERT_RESPONSE_BYTES } from "../security/ca-proto.js";
import { GRPC_STATUS_NAMES, H2Channel } from "../proxy/xds/grpc-h2.js";

/** Istio's agent gives a CSR call 10 s in all. */
export const DEFAULT_CA_CALL_TIMEOUT_MS = 10_000;

export interface CaClientOptions {
  /** The CA's HOST:PORT (`--ca-address`). */
  address: string;
  /** The current mesh root bundle (PEM): the only trust anchors for the CA's serving certificate. */
  rootsPem: () => string;
  /** The file holding the bearer token (`--credential-file`). */
  credentialFile: string;
  /** The name the CA's certificate must carry (default istiod.istio-system.svc). */
  serverName?: string;
  timeoutMs?: number;
}

/** A failed CreateCertificate: the gRPC status (UNAVAILABLE for a connection or TLS failure). */
export class CaCallError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
    address: string,
  ) {
    super(`CreateCertificate to ${address}: ${GRPC_STATUS_NAMES[code] ?? `status ${code}`}: ${details}`);
  }
}

/** Signs CSRs at the mesh CA: the interface the agent uses (a test or another CA can stand in). */
export interface CertificateSigner {
  /** The certificate chain for `csrPem` (leaf first, root bundle last), or throws. */
  createCertificate(csrPem: string, validitySeconds: number): Promise<string[]>;
  /** Ends calls in flight (the proxy is stopping); later calls fail. */
  close?(): void;
}

export class CaClient implements CertificateSigner {
  private readonly open = new Set<H2Channel>();
  private closed = false;

  constructor(private readonly o: CaClientOptions) {}

  close(): void {
    this.closed = true;
    for (const c of this.open) c.close();
    this.open.clear();
  }

  async createCertificate(csrPem: string, validitySeconds: number): Promise<string[]> {
    const token = await this.readToken();
    if (this.closed) throw new Error("the CA client is closed");
    // A connection per call: calls are hours apart, and a new one always trusts the current roots.
    const channel = new H2Channel(this.o.address, { userAgent: "tsmesh-agent", tls: { ca: this.o.rootsPem(), serverName: this.o.serverName ?? ISTIOD_SERVER_NAME } });
    this.open.add(channel);
    try {
      const { status, message } = await channel.unary(CREATE_CERTIFICATE_PATH, encodeCertificateRequest({ csr: csrPem, validityDuration: validitySeconds }), {
        metadata: { authorization: `Bearer ${token}` },
        timeoutMs: this.o.timeoutMs ?? DEFAULT_CA_CALL_TIMEOUT_MS,
        maxResponseBytes: MAX_CERT_RESPONSE_BYTES,
      });
      if (status.code !== 0 || message === undefined) {
        // node:http2 wraps a connection failure (refused, TLS verification) in a stream-cancel message.
        const cause = /^The pending stream has been canceled \(caused by: (.*)\)$/.exec(status.details)?.[1];
        throw new CaCallError(status.code, cause === undefined ? status.details : `cannot connect: ${cause}`, this.o.address);
      }
      try {
        return decodeCertificateResponse(message).certChain;
      } catch (e) {
        throw new CaCallError(13, `the response is not an IstioCertificateResponse: ${(e as Error).message}`, this.o.address);
      }
    } finally {
      this.open.delete(channel);
      channel.close();
    }
  }

  /** The bearer token, trimmed; errors say what is wrong with the file, never what it holds. */
  private async readToken(): Promise<string> {
    const file = this.o.credentialFile;
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (e) {
      throw new Error(`credential file ${file}: ${(e as NodeJS.ErrnoException).code ?? "unreadable"}`);
    }
    return tokenFromBytes(bytes, file);
  }
}
