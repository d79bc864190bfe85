// Citadel's gRPC service in istiod: istio.v1.auth.IstioCertificateService/CreateCertificate. The
// caller proves who it is with `authorization: Bearer TOKEN`; the CSR must ask for exactly that
// caller's SPIFFE identity; the answer is [SVID, intermediates..., ROOT BUNDLE] where the last
// element is every root the CA trusts, concatenated (both roots during a plug-in root rotation).
// Refusals: UNAUTHENTICATED (no, bad, expired or forged token), INVALID_ARGUMENT (a bad request or
// CSR), PERMISSION_DENIED (a CSR for another identity or with extra names) — each logged with who
// asked, for what and why, never with the token or any key. istiod's citadel_server_* metrics.
import { X509Certificate } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { decodeJwt } from "jose";
import type { MetricsRegistry } from "../core/metrics.js";
import { bearerToken, type Authenticator, type CallerIdentity } from "./authenticator.js";
import { CsrRefused, type MeshCa } from "./ca.js";
import { CREATE_CERTIFICATE_PATH, decodeCertificateRequest, encodeCertificateResponse, type IstioCertificateRequest } from "./ca-proto.js";
import { parseSpiffeId, spiffeUri, type SpiffeId } from "./spiffe.js";

export interface CaServiceOptions {
  /** The CA in force now (a plug-in CA is reloaded when its folder changes). */
  ca: () => MeshCa;
  /** The trust domain SVIDs are issued in (mesh config trustDomain, default cluster.local). */
  trustDomain: () => string;
  /** Tried in order; the first that accepts the token names the caller. */
  authenticators: readonly Authenticator[];
  metrics: MetricsRegistry;
  log: (line: string) => void;
}

/** istiod's Citadel metrics (security/pkg/server/ca/monitoring.go), on the monitoring registry. */
class CaMetrics {
  readonly csr;
  readonly authnError;
  readonly parsingError;
  readonly signError;
  readonly success;
  readonly idExtractionError;
  constructor(registry: MetricsRegistry, ca: () => MeshCa) {
    this.csr = registry.counter("citadel_server_csr_count", "The number of CSRs received by Citadel server.");
    this.authnError = registry.counter("citadel_server_authentication_failure_count", "The number of authentication failures.");
    this.parsingError = registry.counter("citadel_server_csr_parsing_err_count", "The number of errors occurred when parsing the CSR.");
    this.signError = registry.counter("citadel_server_csr_sign_err_count", "The number of errors occurred when signing the CSR (tsmesh: error=CSR_ERROR, IDENTITY_MISMATCH, CERT_GEN_ERROR).");
    this.success = registry.counter("citadel_server_success_cert_issuance_count", "The number of certificates issuances that have succeeded.");
    this.idExtractionError = registry.counter("citadel_server_id_extraction_err_count", "The number of errors occurred when extracting the ID from CSR (tsmesh: the caller's identity is not a valid SPIFFE ID).");
    for (const c of [this.csr, this.authnError, this.parsingError, this.success, this.idExtractionError]) c.inc(undefined, 0);
    const rootExpiry = () => expirySeconds(ca().rootsPem[0]);
    const chainExpiry = () => Math.floor(ca().notAfter.getTime() / 1000);
    registry.gauge("citadel_server_root_cert_expiry_timestamp", "The unix timestamp, in seconds, when Citadel root cert will expire.").collect(() => [[undefined, rootExpiry()]]);
    registry.gauge("citadel_server_cert_chain_expiry_timestamp", "The unix timestamp, in seconds, when Citadel cert chain will expire.").collect(() => [[undefined, chainExpiry()]]);
    // istiod's derived gauges: time left, negative once expired (what expiry alerts are written on).
    registry
      .gauge("citadel_server_root_cert_expiry_seconds", "The time remaining, in seconds, before the root cert will expire. A negative value indicates the cert is expired.")
      .collect(() => [[undefined, rootExpiry() - Date.now() / 1000]]);
    registry
      .gauge("citadel_server_cert_chain_expiry_seconds", "The time remaining, in seconds, before the Istio Generated cert chain will expire. A negative value indicates the cert is expired.")
      .collect(() => [[undefined, chainExpiry() - Date.now() / 1000]]);
  }
}

function expirySeconds(pem: string | undefined): number {
  if (pem === undefined) return -1;
  return Math.floor(Date.parse(new X509Certificate(pem).validTo) / 1000);
}

/** A call's outcome: the response bytes, or a gRPC status and its details. */
type Outcome = { response: Buffer } | { code: grpc.status; details: string };

/** Attacker-controlled text for a log line: quoted, one line, bounded. */
function quoted(s: string, max = 200): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);
}

export class CaService {
  private readonly metrics: CaMetrics;

  constructor(private readonly o: CaServiceOptions) {
    this.metrics = new CaMetrics(o.metrics, o.ca);
  }

  /** Registers istio.v1.auth.IstioCertificateService on `server` (istiod serves it on 15012). */
  addTo(server: grpc.Server): void {
    const definition: grpc.ServiceDefinition = {
      CreateCertificate: {
        path: CREATE_CERTIFICATE_PATH,
        originalName: "createCertificate",
        requestStream: false,
        responseStream: false,
        // Bytes in and out: the request is decoded strictly by the handler (a bad one is INVALID_ARGUMENT).
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    };
    server.addService(definition, {
      CreateCertificate: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        this.createCertificate(call.metadata.get("authorization"), call.request, call.getPeer()).then(
          (out) => ("response" in out ? callback(null, out.response) : callback({ code: out.code, details: out.details })),
          (e: unknown) => {
            this.o.log(`ca: CreateCertificate from ${call.getPeer()} failed: ${(e as Error).message}`);
            callback({ code: grpc.status.INTERNAL, details: "certificate signing failed" });
          },
        );
      },
    });
  }

  /** One CreateCertificate call: `authorization` metadata values, the request bytes, the peer address. */
  async createCertificate(authorization: readonly unknown[], body: Buffer, peer: string): Promise<Outcome> {
    this.metrics.csr.inc();
    const refuse = (code: grpc.status, details: string, why: string): Outcome => {
      this.o.log(`ca: refused CreateCertificate from ${peer}: ${why}`);
      return { code, details };
    };
    const token = bearerToken(authorization);
    if (token === undefined) {
      this.metrics.authnError.inc();
      return refuse(grpc.status.UNAUTHENTICATED, "request authenticate failure", authorization.length === 0 ? "no authorization metadata" : "authorization is not one \"Bearer TOKEN\" value");
    }
    const caller = await this.authenticate(token);
    if ("refused" in caller) {
      this.metrics.authnError.inc();
      return refuse(grpc.status.UNAUTHENTICATED, "request authenticate failure", `authentication failed: ${caller.refused}${claimedSubject(token)}`);
    }
    const identity: SpiffeId = { trustDomain: this.o.trustDomain(), ...caller.identity };
    const uri = spiffeUri(identity);
    const checked = parseSpiffeId(uri);
    if (checked instanceof Error) {
      this.metrics.idExtractionError.inc();
      return refuse(grpc.status.INTERNAL, "the caller's identity is not a valid SPIFFE ID", `${checked.message} (check mesh config trustDomain)`);
    }
    let request: IstioCertificateRequest;
    try {
      request = decodeCertificateRequest(body);
    } catch (e) {
      this.metrics.parsingError.inc();
      return refuse(grpc.status.INVALID_ARGUMENT, `malformed IstioCertificateRequest: ${(e as Error).message}`, `${uri} sent a malformed request: ${(e as Error).message}`);
    }
    const ttlSeconds = request.validityDuration > 0 ? request.validityDuration : undefined;
    let chain: string[];
    const ca = this.o.ca();
    try {
      chain = await ca.sign(request.csr, identity, { ttlSeconds });
    } catch (e) {
      if (!(e instanceof CsrRefused)) {
        this.metrics.signError.inc({ error: "CERT_GEN_ERROR" });
        throw e;
      }
      if (e.kind === "identity") {
        this.metrics.signError.inc({ error: "IDENTITY_MISMATCH" });
        return refuse(grpc.status.PERMISSION_DENIED, `CSR refused: ${e.message}`, `${uri} asked for another identity: ${e.message}`);
      }
      this.metrics.parsingError.inc();
      this.metrics.signError.inc({ error: "CSR_ERROR" });
      return refuse(grpc.status.INVALID_ARGUMENT, `CSR refused: ${e.message}`, `${uri} sent a bad CSR: ${e.message}`);
    }
    // The issuer's chain ends at the root that signed it; the answer ends with every trusted root.
    const certChain = [...chain.slice(0, -1).map((c) => c.trim() + "\n"), ca.rootBundlePem];
    const leaf = new X509Certificate(chain[0]);
    this.metrics.success.inc();
    this.o.log(`ca: issued ${uri} to ${peer}: serial ${leaf.serialNumber}, valid until ${new Date(leaf.validTo).toISOString()}`);
    return { response: encodeCertificateResponse({ certChain }) };
  }

  private async authenticate(token: string): Promise<{ identity: CallerIdentity } | { refused: string }> {
    const reasons: string[] = [];
    for (const a of this.o.authenticators) {
      const r = await a.authenticate(token);
      if ("identity" in r) return r;
      reasons.push(this.o.authenticators.length > 1 ? `${a.name}: ${r.refused}` : r.refused);
    }
    return { refused: reasons.join("; ") || "no authenticator configured" };
  }
}

/** What an unverified token says its subject is, for a refusal's log line (never the token itself). */
function claimedSubject(token: string): string {
  try {
    const sub = decodeJwt(token).sub;
    return typeof sub === "string" ? ` (the token claims sub ${quoted(sub)}, unverified)` : "";
  } catch {
    return "";
  }
}
