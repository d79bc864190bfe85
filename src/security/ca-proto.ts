// Istio's certificate API on the wire (istio/api security/v1alpha1/ca.proto, package
// istio.v1.auth): the messages of IstioCertificateService/CreateCertificate, shared by the mesh
// CA's gRPC service and the proxy's agent. The messages are tiny and fixed (a string, a varint, a
// repeated string), so they are written and read here directly: the agent runs in every sidecar,
// and protobufjs would add ~10 MB and ~80 ms of start-up to each (the proxy keeps it out).

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
const CSR = 1;
const VALIDITY_DURATION = 3;
const CERT_CHAIN = 1;

/** The largest CSR message either side accepts (a CSR is ~0.5–2 KB; RSA 4096 stays well under). */
export const MAX_CSR_MESSAGE_BYTES = 64 * 1024;
/** The largest response the agent accepts (a chain of a few certificates). */
export const MAX_CERT_RESPONSE_BYTES = 256 * 1024;

export function encodeCertificateRequest(r: IstioCertificateRequest): Buffer {
  if (!Number.isSafeInteger(r.validityDuration) || r.validityDuration < 0) throw new Error(`validity_duration ${r.validityDuration} is not a non-negative number of seconds`);
  const out: Buffer[] = [];
  // proto3: fields at their default value are not written.
  if (r.csr !== "") out.push(lengthDelimited(CSR, Buffer.from(r.csr, "utf8")));
  if (r.validityDuration !== 0) out.push(varint(tag(VALIDITY_DURATION, VARINT)), varint(r.validityDuration));
  return Buffer.concat(out);
}

/** Throws on bytes that are not a well-formed IstioCertificateRequest. */
export function decodeCertificateRequest(bytes: Uint8Array): IstioCertificateRequest {
  if (bytes.length > MAX_CSR_MESSAGE_BYTES) throw new Error(`certificate request of ${bytes.length} bytes exceeds ${MAX_CSR_MESSAGE_BYTES}`);
  const out: IstioCertificateRequest = { csr: "", validityDuration: 0 };
  readFields(bytes, "IstioCertificateRequest", (field, r) => {
    if (field === CSR) out.csr = r.string();
    else if (field === VALIDITY_DURATION) {
      const v = BigInt.asIntN(64, r.varint64()); // int64: ten bytes for a negative value
      if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`validity_duration ${v} is not a non-negative number of seconds`);
      out.validityDuration = Number(v);
    } else return false;
    return true;
  }, { [CSR]: LEN, [VALIDITY_DURATION]: VARINT });
  return out;
}

export function encodeCertificateResponse(r: IstioCertificateResponse): Buffer {
  return Buffer.concat(r.certChain.map((pem) => lengthDelimited(CERT_CHAIN, Buffer.from(pem, "utf8"))));
}

/** Throws on bytes that are not a well-formed IstioCertificateResponse. */
export function decodeCertificateResponse(bytes: Uint8Array): IstioCertificateResponse {
  if (bytes.length > MAX_CERT_RESPONSE_BYTES) throw new Error(`certificate response of ${bytes.length} bytes exceeds ${MAX_CERT_RESPONSE_BYTES}`);
  const certChain: string[] = [];
  readFields(bytes, "IstioCertificateResponse", (field, r) => {
    if (field !== CERT_CHAIN) return false;
    certChain.push(r.string());
    return true;
  }, { [CERT_CHAIN]: LEN });
  return { certChain };
}

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

function tag(field: number, wire: number): number {
  return field * 8 + wire;
}

/** A base-128 varint of a non-negative safe integer. */
function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n >= 0x80) {
    bytes.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

function lengthDelimited(field: number, value: Buffer): Buffer {
  return Buffer.concat([varint(tag(field, LEN)), varint(value.length), value]);
}

/** Reads protobuf wire values, every read bounded by the end of the message. */
class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  get len(): number {
    return this.buf.length;
  }

  /** A varint of up to ten bytes, as the 64 bits it encodes. */
  varint64(): bigint {
    let v = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error(`a varint runs past the end of the message (byte ${this.pos})`);
      const b = this.buf[this.pos++];
      v |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) return BigInt.asUintN(64, v);
    }
    throw new Error(`a varint is longer than ten bytes (byte ${this.pos})`);
  }

  /** A varint that must fit 32 bits unsigned (tags and lengths). */
  uint32(): number {
    const v = this.varint64();
    if (v > 0xffffffffn) throw new Error(`a tag or length of ${v} exceeds 32 bits (byte ${this.pos})`);
    return Number(v);
  }

  /** A length-delimited field's bytes. */
  bytes(): Uint8Array {
    const len = this.uint32();
    if (this.pos + len > this.buf.length) throw new Error(`a field of ${len} bytes runs past the end of the message`);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  string(): string {
    return Buffer.from(this.bytes()).toString("utf8");
  }

  /** Skips one value of `wire` type; groups (never in proto3) and reserved types are refused. */
  skip(wire: number): void {
    const fixed = wire === FIXED64 ? 8 : wire === FIXED32 ? 4 : 0;
    if (wire === VARINT) this.varint64();
    else if (wire === LEN) this.bytes();
    else if (fixed > 0) {
      if (this.pos + fixed > this.buf.length) throw new Error(`a fixed-size field runs past the end of the message`);
      this.pos += fixed;
    } else throw new Error(`wire type ${wire} is not a proto3 field`);
  }
}

/**
 * Walks a message's fields strictly (lengths never clamped, wire types checked): `known` gives
 * the wire type each known field must have; `read` consumes a known field (returns false to have
 * it skipped as unknown).
 */
function readFields(bytes: Uint8Array, type: string, read: (field: number, r: Reader) => boolean, known: Record<number, number>): void {
  const r = new Reader(bytes);
  try {
    while (r.pos < r.len) {
      const t = r.uint32();
      const field = t >>> 3;
      const wire = t & 7;
      if (field === 0) throw new Error(`field number 0 at byte ${r.pos}`);
      const want = known[field];
      if (want !== undefined && want !== wire) throw new Error(`field ${field} has wire type ${wire}, expected ${want}`);
      if (want === undefined || !read(field, r)) r.skip(wire);
    }
  } catch (e) {
    throw new Error(`${type}: ${(e as Error).message}`);
  }
}
