// The CA's wire messages: round trips, the same bytes as protobufjs both ways (the codec is
// written by hand to keep protobufjs out of the sidecar), and hostile bytes refused with a clear error.
import assert from "node:assert/strict";
import { test } from "node:test";
import protobuf from "protobufjs";
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

test("the same bytes as protobufjs, both ways, with unknown fields of every wire type skipped", () => {
  const root = protobuf.parse(`syntax = "proto3"; package istio.v1.auth;
    message IstioCertificateRequest { string csr = 1; string subject_id = 2; int64 validity_duration = 3; fixed64 f64 = 5; fixed32 f32 = 6; uint64 big = 7; }
    message IstioCertificateResponse { repeated string cert_chain = 1; }`).root;
  const Req = root.lookupType("istio.v1.auth.IstioCertificateRequest");
  const Res = root.lookupType("istio.v1.auth.IstioCertificateResponse");
  for (const req of [{ csr: "é-CSR", validityDuration: 86400 }, { csr: "", validityDuration: 0 }, { csr: "x", validityDuration: Number.MAX_SAFE_INTEGER }]) {
    const ours = encodeCertificateRequest(req);
    // Defaults are not written (as Go's proto3 encoder); protobufjs writes fields set explicitly.
    if (req.csr === "") assert.equal(ours.length, 0);
    else assert.deepEqual(ours, Buffer.from(Req.encode(Req.fromObject(req)).finish()));
    assert.deepEqual(decodeCertificateRequest(Req.encode(Req.fromObject(req)).finish()), req);
    const theirs = Req.encode(Req.fromObject({ ...req, subjectId: "ignored", f64: 7, f32: 9, big: "18446744073709551615" })).finish();
    assert.deepEqual(decodeCertificateRequest(theirs), req);
  }
  const res = { certChain: ["leaf", "", "root1\nroot2"] };
  assert.deepEqual(encodeCertificateResponse(res), Buffer.from(Res.encode(Res.fromObject(res)).finish()));
  assert.deepEqual(decodeCertificateResponse(Res.encode(Res.fromObject(res)).finish()), res);
});

const hostile: [string, Buffer, RegExp][] = [
  ["truncated length", Buffer.from([0x0a, 10, 0x41]), /IstioCertificateRequest: a field of 10 bytes runs past the end/],
  ["a varint cut short", Buffer.from([0x18, 0x80]), /a varint runs past the end/],
  ["a varint of eleven bytes", Buffer.from([0x18, ...Array(10).fill(0xff), 0x01]), /longer than ten bytes/],
  ["a group (wire type 3)", Buffer.from([0x23, 0x24]), /wire type 3 is not a proto3 field/],
  ["a fixed64 cut short", Buffer.from([0x29, 1, 2]), /runs past the end/],
  ["field number 0", Buffer.from([0x02, 0]), /field number 0/],
  ["negative validity", Buffer.from([0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), /validity_duration/],
  ["oversized message", Buffer.alloc(MAX_CSR_MESSAGE_BYTES + 1), /exceeds/],
  ["wrong wire type for csr", Buffer.from([0x08, 1]), /./],
];
for (const [name, bytes, err] of hostile) {
  test(`a hostile request is refused: ${name}`, () => {
    assert.throws(() => decodeCertificateRequest(bytes), err);
  });
}
