// The mesh CA: a self-signed root made once and kept (key file 0600), Istio's plug-in CA layout, and
// SVIDs signed only for the identity the caller has — with an adversarial table of CSRs it refuses.
// Chains are checked with Node's X509Certificate (signature, issuer, SAN, lifetime).
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { CsrRefused, DEFAULT_SVID_TTL_S, MeshCa } from "../../src/security/ca.js";
import { generateCsr } from "../../src/security/csr.js";
import { parseSpiffeId, type SpiffeId, spiffeUri } from "../../src/security/spiffe.js";
import { packageRoot } from "../../src/core/paths.js";

const tmp = mkdtempSync(join(tmpdir(), "tsmesh-ca-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const PLUGIN = join(packageRoot(), "test", "fixtures", "istio", "certs");

const productpage: SpiffeId = { trustDomain: "cluster.local", namespace: "default", serviceAccount: "bookinfo-productpage" };
const URI = spiffeUri(productpage);

/** Checks a returned chain link by link and returns the leaf. */
function checkChain(chain: string[], roots: readonly string[]): X509Certificate {
  const certs = chain.map((p) => new X509Certificate(p));
  for (let i = 0; i + 1 < certs.length; i++) {
    assert.ok(certs[i].checkIssued(certs[i + 1]), `link ${i} issuer`);
    assert.ok(certs[i].verify(certs[i + 1].publicKey), `link ${i} signature`);
  }
  const last = certs[certs.length - 1];
  assert.ok(roots.some((r) => new X509Certificate(r).raw.equals(last.raw)), "the chain ends at a root");
  return certs[0];
}

describe("a self-signed mesh CA", () => {
  const dir = join(tmp, "self");
  it("generates its root once, key file 0600, and loads the same root again", async () => {
    const a = await MeshCa.selfSigned(dir, { trustDomain: "cluster.local" });
    assert.equal(statSync(join(dir, "ca-key.pem")).mode & 0o777, 0o600);
    const root = new X509Certificate(readFileSync(join(dir, "root-cert.pem")));
    assert.ok(root.ca);
    assert.match(root.subject, /O=cluster\.local/);
    const b = await MeshCa.selfSigned(dir, { trustDomain: "cluster.local" });
    assert.deepEqual(b.rootsPem, a.rootsPem);
  });

  for (const keyType of ["EC", "RSA"] as const) {
    it(`signs a ${keyType} workload's CSR for its own identity: SPIFFE URI SAN, 24 h, not a CA, server and client auth`, async () => {
      const ca = await MeshCa.selfSigned(dir, { trustDomain: "cluster.local" });
      const { csrPem } = await generateCsr({ uris: [URI], organization: "cluster.local", keyType });
      const now = new Date();
      const chain = await ca.sign(csrPem, productpage, { now });
      assert.equal(chain.length, 2);
      const leaf = checkChain(chain, ca.rootsPem);
      assert.equal(leaf.subjectAltName, `URI:${URI}`);
      assert.equal(leaf.ca, false);
      assert.equal(leaf.keyUsage?.includes("1.3.6.1.5.5.7.3.1"), true);
      assert.equal(leaf.keyUsage?.includes("1.3.6.1.5.5.7.3.2"), true);
      const life = (Date.parse(leaf.validTo) - now.getTime()) / 1000;
      assert.ok(Math.abs(life - DEFAULT_SVID_TTL_S) <= 1, `lifetime ${life}s`);
      assert.equal(leaf.publicKey.asymmetricKeyType, keyType === "EC" ? "ec" : "rsa");
    });
  }

  it("caps a requested lifetime at 90 days", async () => {
    const ca = await MeshCa.selfSigned(dir, { trustDomain: "cluster.local" });
    const { csrPem } = await generateCsr({ uris: [URI] });
    const now = new Date();
    const leaf = new X509Certificate((await ca.sign(csrPem, productpage, { now, ttlSeconds: 400 * 24 * 3600 }))[0]);
    assert.ok(Date.parse(leaf.validTo) - now.getTime() <= 90 * 24 * 3600_000);
  });

  it("refuses half a CA (a root without its key)", async () => {
    const half = join(tmp, "half");
    await MeshCa.selfSigned(half, { trustDomain: "cluster.local" });
    rmSync(join(half, "ca-key.pem"));
    await assert.rejects(MeshCa.selfSigned(half, { trustDomain: "cluster.local" }), /ca-key\.pem is missing/);
  });
});

describe("Istio's plug-in CA (cacerts)", () => {
  it("issues as an intermediate: leaf, Istio's ca-cert, then the plugged-in root", async () => {
    const ca = await MeshCa.plugIn(PLUGIN);
    const { csrPem } = await generateCsr({ uris: [URI] });
    const chain = await ca.sign(csrPem, productpage);
    assert.equal(chain.length, 3);
    const leaf = checkChain(chain, ca.rootsPem);
    assert.equal(leaf.subjectAltName, `URI:${URI}`);
    assert.ok(new X509Certificate(chain[1]).raw.equals(new X509Certificate(readFileSync(join(PLUGIN, "ca-cert.pem"))).raw));
    assert.ok(new X509Certificate(chain[2]).raw.equals(new X509Certificate(readFileSync(join(PLUGIN, "root-cert.pem"))).raw));
  });

  it("refuses a ca-key that is not ca-cert's key, and a root that did not issue the chain", async () => {
    const bad = join(tmp, "bad-plugin");
    cpSync(PLUGIN, bad, { recursive: true });
    const other = await generateCsr({ uris: [] });
    writeFileSync(join(bad, "ca-key.pem"), other.keyPem);
    await assert.rejects(MeshCa.plugIn(bad), (e: Error) => /ca-key\.pem is not the key of ca-cert\.pem/.test(e.message) && !e.message.includes("PRIVATE KEY"));
    cpSync(join(PLUGIN, "ca-key.pem"), join(bad, "ca-key.pem"));
    const self = await MeshCa.selfSigned(join(tmp, "other-root"), { trustDomain: "cluster.local" });
    writeFileSync(join(bad, "root-cert.pem"), self.rootsPem[0]);
    await assert.rejects(MeshCa.plugIn(bad), /does not end at a certificate of root-cert\.pem/);
  });
});

describe("SVIDs only for the caller's own identity", () => {
  const other = "spiffe://cluster.local/ns/default/sa/bookinfo-ratings";
  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    ["another workload's identity", async () => (await generateCsr({ uris: [other] })).csrPem, /asks for spiffe:\/\/cluster\.local\/ns\/default\/sa\/bookinfo-ratings; the caller may only have/],
    ["its own identity plus another", async () => (await generateCsr({ uris: [URI, other] })).csrPem, /asks for .*bookinfo-productpage, .*bookinfo-ratings/],
    ["a DNS name beside its identity", async () => (await generateCsr({ uris: [URI], dnsNames: ["productpage.default.svc"] })).csrPem, /\(name type 2\)/],
    ["no SAN at all", async () => (await generateCsr({ uris: [] })).csrPem, /asks for none/],
    ["another trust domain", async () => (await generateCsr({ uris: ["spiffe://evil.example/ns/default/sa/bookinfo-productpage"] })).csrPem, /evil\.example/],
    [
      "a tampered CSR (signature no longer verifies)",
      async () => {
        const { csrPem } = await generateCsr({ uris: [URI] });
        const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ""), "base64");
        der[der.length - 5] ^= 0xff; // inside the signature
        return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
      },
      /signature does not verify|not a well-formed/,
    ],
    ["garbage in a CSR block", async () => "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", /not a well-formed PKCS #10 request/],
    ["two CSR blocks", async () => (await generateCsr({ uris: [URI] })).csrPem.repeat(2), /expected one PEM "CERTIFICATE REQUEST" block, found 2/],
    ["a certificate instead of a CSR", async () => readFileSync(join(PLUGIN, "ca-cert.pem"), "utf8"), /found 0/],
  ];
  for (const [what, csr, re] of cases) {
    it(`refuses ${what}`, async () => {
      const ca = await MeshCa.selfSigned(join(tmp, "self"), { trustDomain: "cluster.local" });
      await assert.rejects(ca.sign(await csr(), productpage), (e: Error) => e instanceof CsrRefused && re.test(e.message) && !e.message.includes("PRIVATE KEY"));
    });
  }
});

describe("SPIFFE IDs", () => {
  const cases: Array<[string, SpiffeId | RegExp]> = [
    ["spiffe://cluster.local/ns/default/sa/bookinfo-productpage", productpage],
    ["spiffe://cluster.local/ns/default/sa/", /not a SPIFFE ID/],
    ["spiffe://cluster.local/ns/default/sa/a/b", /not a SPIFFE ID/],
    ["spiffe://Cluster.Local/ns/default/sa/x", /trust domain/],
    ["spiffe://cluster.local/ns/Default/sa/x", /namespace/],
    ["spiffe://cluster.local/ns/default/sa/-x", /service account/],
    ["https://cluster.local/ns/default/sa/x", /not a SPIFFE ID/],
  ];
  for (const [uri, want] of cases) {
    it(uri, () => {
      const got = parseSpiffeId(uri);
      if (want instanceof RegExp) assert.match((got as Error).message, want);
      else assert.deepEqual(got, want);
    });
  }
});

describe("a stored self-signed root is the one asked for, or refused", () => {
  it("refuses a root made for another trust domain, naming the file", async () => {
    const dir = join(tmp, "td");
    await MeshCa.selfSigned(dir, { trustDomain: "cluster.local" });
    await assert.rejects(MeshCa.selfSigned(dir, { trustDomain: "example.org" }), (e: Error) => e.message.includes(join(dir, "root-cert.pem")) && /made for trust domain "cluster\.local", not "example\.org"/.test(e.message));
  });

  it("refuses a root of another key type when one is asked for, and accepts it when none is", async () => {
    const dir = join(tmp, "kt");
    await MeshCa.selfSigned(dir, { trustDomain: "cluster.local", keyType: "EC" });
    await assert.rejects(MeshCa.selfSigned(dir, { trustDomain: "cluster.local", keyType: "RSA" }), /holds an EC root, not RSA/);
    await MeshCa.selfSigned(dir, { trustDomain: "cluster.local" });
  });
});

describe("the CA's own serving certificate", () => {
  it("carries the DNS names asked for, is a server certificate and chains to the root", async () => {
    const ca = await MeshCa.plugIn(PLUGIN);
    const issued = await ca.issueServingCertificate(["istiod.istio-system.svc"], { ttlSeconds: 3600 });
    const leaf = checkChain(issued.certChainPem, ca.rootsPem);
    assert.equal(leaf.subjectAltName, "DNS:istiod.istio-system.svc");
    assert.equal(leaf.ca, false);
    assert.ok(leaf.checkPrivateKey(createPrivateKey(issued.keyPem)));
    assert.equal(issued.notAfter.getTime(), Date.parse(leaf.validTo));
  });
});
