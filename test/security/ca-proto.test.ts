// The CA's wire messages: round trips, and hostile bytes refused with a clear error.
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeCertificateRequest, decodeCertificateResponse, encodeCertificateRequest, encodeCertificateResponse, MAX_CSR_MESSAGE_BYTES } from "../../src/security/ca-proto.js";

test("IstioCertificateRequest and Response round-trip", () => {
  const req = { csr: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", validityDuration: 86400 };
  assert.deepEqual(decodeCertificateRequest(encodeCertificateRequest(req)), req);
  const res = { certChain: ["leaf", "intermediate", "root1\nroot2"] };
  assert.deepEqual(decodeCertificateResponse(encodeCertificateResponse(res)), res);
});

test("field numbers are ca.proto's (csr = 1, validity_duration = 3)", () => {
  // 0x0a = field 1, length-delimited; 0x18 = field 3, varint.
  const bytes = encodeCertificateRequest({ csr: "x", validityDuration: 5 });
  assert.deepEqual([...bytes], [0x0a, 1, 0x78, 0x18, 5]);
});

test("a metadata field (4, Struct) from a newer agent is skipped", () => {
  const bytes = Buffer.concat([encodeCertificateRequest({ csr: "x", validityDuration: 0 }), Buffer.from([0x22, 0])]);
  assert.deepEqual(decodeCertificateRequest(bytes), { csr: "x", validityDuration: 0 });
});

const hostile: [string, Buffer, RegExp][] = [
  ["truncated length", Buffer.from([0x0a, 10, 0x41]), /./],
  ["negative validity", Buffer.from([0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), /validity_duration/],
  ["oversized message", Buffer.alloc(MAX_CSR_MESSAGE_BYTES + 1), /exceeds/],
  ["wrong wire type for csr", Buffer.from([0x08, 1]), /./],
];
for (const [name, bytes, err] of hostile) {
  test(`a hostile request is refused: ${name}`, () => {
    assert.throws(() => decodeCertificateRequest(bytes), err);
  });
}
