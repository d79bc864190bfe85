// Workload CSRs as the CA reads them (pkijs, the CA's parser): the self-signature verifies, the
// subject and the one critical subjectAltName are what was asked, the key is P-256 or RSA 2048 and
// the private key returned is its pair; names that are not ASCII are refused.
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { describe, it } from "node:test";
import { derOfPem, pemBlocks } from "../../src/core/pem.js";
import { generateCsr } from "../../src/security/csr.js";
import { pkijs } from "../../src/security/x509-engine.js";

const URI = "spiffe://cluster.local/ns/default/sa/reviews";

describe("a workload CSR", () => {
  for (const keyType of ["EC", "RSA"] as const) {
    it(`with a ${keyType} key is well-formed PKCS #10, signed by its own key, asking for one critical URI SAN`, async () => {
      const { csrPem, keyPem } = await generateCsr({ uris: [URI], organization: "cluster.local", keyType });
      const csr = pkijs.CertificationRequest.fromBER(derOfPem(pemBlocks(csrPem, "CERTIFICATE REQUEST")[0]));
      assert.equal(await csr.verify(), true);
      assert.equal(csr.version, 0);
      assert.deepEqual(csr.subject.typesAndValues.map((t) => [t.type, t.value.valueBlock.value]), [["2.5.4.10", "cluster.local"]]);
      const ext = new pkijs.Extensions({ schema: csr.attributes![0].values[0] }).extensions;
      assert.equal(csr.attributes![0].type, "1.2.840.113549.1.9.14");
      assert.deepEqual(ext.map((e) => [e.extnID, e.critical]), [["2.5.29.17", true]]);
      const names = pkijs.GeneralNames.fromBER(ext[0].extnValue.valueBlock.valueHexView).names;
      assert.deepEqual(names.map((n) => [n.type, n.value]), [[6, URI]]);
      const spki = Buffer.from(csr.subjectPublicKeyInfo.toSchema().toBER(false));
      assert.deepEqual(spki, createPublicKey(createPrivateKey(keyPem)).export({ type: "spki", format: "der" }));
      const pub = createPublicKey(createPrivateKey(keyPem)).asymmetricKeyDetails;
      if (keyType === "EC") assert.equal(pub?.namedCurve, "prime256v1");
      else assert.equal(pub?.modulusLength, 2048);
    });
  }

  it("without names has no attributes, and a DNS name is written as one", async () => {
    const none = pkijs.CertificationRequest.fromBER(derOfPem((await generateCsr({ uris: [] })).csrPem));
    assert.equal(none.attributes?.length ?? 0, 0);
    assert.equal(none.subject.typesAndValues.length, 0);
    const dns = pkijs.CertificationRequest.fromBER(derOfPem((await generateCsr({ uris: [URI], dnsNames: ["a.example"] })).csrPem));
    const ext = new pkijs.Extensions({ schema: dns.attributes![0].values[0] }).extensions[0];
    assert.deepEqual(pkijs.GeneralNames.fromBER(ext.extnValue.valueBlock.valueHexView).names.map((n) => [n.type, n.value]), [[6, URI], [2, "a.example"]]);
  });

  it("refuses a name that is not ASCII", async () => {
    await assert.rejects(generateCsr({ uris: ["spiffe://cluster.local/ns/é/sa/x"] }), /is not printable ASCII/);
  });
});
