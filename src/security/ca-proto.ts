// Istio's certificate API on the wire (istio/api security/v1alpha1/ca.proto, package
// istio.v1.auth): the messages of IstioCertificateService/CreateCertificate, shared by the mesh
// CA's gRPC service and the proxy's agent. The messages are tiny and fixed, so protobufjs reads
// them from an inline definition instead of a .proto file shipped beside the build.
import protobuf from "protobufjs";

/** The gRPC method path istiod serves and pilot-agent calls. */
export const CREATE_CERTIFICATE_PATH = "/istio.v1.auth.IstioCertificateService/CreateCertificate";
export const CA_SERVICE_NAME = "istio.v1.auth.IstioCertificateService";

/** Istio's CA address as workloads name it (the DNS SAN the CA's serving certificate carries). */
export const ISTIOD_SERVER_NAME = "istiod.istio-system.svc";

/** A CSR and the validity the workload asks for (seconds; 0 = the CA's default). */
export interface IstioCertificateRequest {
  csr: string;
  validityDuration: number;
}

/** PEM certificates: the leaf first, then intermediates; the last element is the root bundle. */
export interface IstioCertificateResponse {
  certChain: string[];
}

// Field numbers as ca.proto: 1 csr, 2 subject_id (unused by Istio's agent), 3 validity_duration,
// 4 metadata (a Struct newer istiod reads for impersonation; skipped here as an unknown field).
const root = protobuf.Root.fromJSON({
  nested: {
    istio: {
      nested: {
        v1: {
          nested: {
            auth: {
              nested: {
                IstioCertificateRequest: {
                  fields: { csr: { type: "string", id: 1 }, subjectId: { type: "string", id: 2 }, validityDuration: { type: "int64", id: 3 } },
                },
                IstioCertificateResponse: { fields: { certChain: { rule: "repeated", type: "string", id: 1 } } },
              },
            },
          },
        },
      },
    },
  },
});
const REQUEST = root.lookupType("istio.v1.auth.IstioCertificateRequest");
const RESPONSE = root.lookupType("istio.v1.auth.IstioCertificateResponse");

/** The largest CSR message either side accepts (a CSR is ~0.5–2 KB; RSA 4096 stays well under). */
export const MAX_CSR_MESSAGE_BYTES = 64 * 1024;
/** The largest response the agent accepts (a chain of a few certificates). */
export const MAX_CERT_RESPONSE_BYTES = 256 * 1024;

function toNumber(v: unknown): number {
  if (typeof v === "number") return v;
  if (v && typeof v === "object" && "toNumber" in v) return (v as { toNumber(): number }).toNumber();
  return Number(v ?? 0);
}

export function encodeCertificateRequest(r: IstioCertificateRequest): Buffer {
  return Buffer.from(REQUEST.encode(REQUEST.fromObject({ csr: r.csr, validityDuration: r.validityDuration })).finish());
}

/** Throws on bytes that are not a well-formed IstioCertificateRequest. */
export function decodeCertificateRequest(bytes: Uint8Array): IstioCertificateRequest {
  if (bytes.length > MAX_CSR_MESSAGE_BYTES) throw new Error(`certificate request of ${bytes.length} bytes exceeds ${MAX_CSR_MESSAGE_BYTES}`);
  const out: IstioCertificateRequest = { csr: "", validityDuration: 0 };
  readFields(bytes, "IstioCertificateRequest", (field, r) => {
    if (field === 1) out.csr = r.string();
    else if (field === 3) {
      const v = toNumber(r.int64());
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`validity_duration ${v} is not a non-negative number of seconds`);
      out.validityDuration = v;
    } else return false;
    return true;
  }, { 1: LEN, 3: VARINT });
  return out;
}

export function encodeCertificateResponse(r: IstioCertificateResponse): Buffer {
  return Buffer.from(RESPONSE.encode(RESPONSE.fromObject({ certChain: r.certChain })).finish());
}

/** Throws on bytes that are not a well-formed IstioCertificateResponse. */
export function decodeCertificateResponse(bytes: Uint8Array): IstioCertificateResponse {
  if (bytes.length > MAX_CERT_RESPONSE_BYTES) throw new Error(`certificate response of ${bytes.length} bytes exceeds ${MAX_CERT_RESPONSE_BYTES}`);
  const certChain: string[] = [];
  readFields(bytes, "IstioCertificateResponse", (field, r) => {
    if (field !== 1) return false;
    certChain.push(r.string());
    return true;
  }, { 1: LEN });
  return { certChain };
}

const VARINT = 0;
const LEN = 2;

/**
 * Walks a message's fields strictly (protobufjs' generated decoders clamp a length that runs past
 * the end and ignore wire types): `known` gives the wire type each known field must have; `read`
 * consumes a known field (returns false to have it skipped as unknown).
 */
function readFields(bytes: Uint8Array, type: string, read: (field: number, r: protobuf.Reader) => boolean, known: Record<number, number>): void {
  const r = protobuf.Reader.create(bytes);
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 0) throw new Error(`${type}: field number 0 at byte ${r.pos}`);
    const want = known[field];
    if (want !== undefined && want !== wire) throw new Error(`${type}: field ${field} has wire type ${wire}, expected ${want}`);
    if (wire === LEN) {
      const start = r.pos;
      const len = r.uint32();
      if (r.pos + len > r.len) throw new Error(`${type}: field ${field} of ${len} bytes runs past the end of the message`);
      r.pos = start;
    }
    if (want === undefined || !read(field, r)) r.skipType(wire);
  }
}
