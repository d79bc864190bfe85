// The checks on a CreateCertificate response, as an adversarial table: the agent serves a chain
// only when its leaf is for our key and SPIFFE ID, each link is signed by the next and valid now,
// intermediates are CAs, and the chain ends at a root of the bundle the response carries last —
// for a self-signed mesh CA and for Istio's plug-in CA (an intermediate of the user's root).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CertificateRefused, checkCertificateResponse, mergeRootBundles, parseRootBundle } from "../../src/agent/svid.js";
import { packageRoot } from "../../src/core/paths.js";
import { MeshCa } from "../../src/security/ca.js";
import { generateCsr } from "../../src/security/csr.js";
import { type SpiffeId, spiffeUri } from "../../src/security/spiffe.js";
import { meshCaIn } from "./test-ca.js";

const tmp = mkdtempSync(join(tmpdir(), "tsmesh-svid-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const id: SpiffeId = { trustDomain: "cluster.local", namespace: "default", serviceAccount: "reviews" };
const URI = spiffeUri(id);

let self: Awaited<ReturnType<typeof meshCaIn>>;
let other: Awaited<ReturnType<typeof meshCaIn>>;
let plugIn: MeshCa;
let key: string;
let chain: string[];
let plugChain: string[];

before(async () => {
  self = await meshCaIn(join(tmp, "self"));
  other = await meshCaIn(join(tmp, "other"));
  plugIn = await MeshCa.plugIn(join(packageRoot(), "test", "fixtures", "istio", "certs"));
  const csr = await generateCsr({ uris: [URI] });
  key = csr.keyPem;
  chain = await self.ca.sign(csr.csrPem, id); // [leaf, root]
  plugChain = await plugIn.sign(csr.csrPem, id); // [leaf, ca-cert, root]
});

describe("a CreateCertificate response", () => {
  const now = () => Date.now();

  it("from a self-signed CA is accepted: the leaf alone, anchored at the bundle", () => {
    const c = checkCertificateResponse(chain, { keyPem: key, spiffeId: URI, now: now() });
    assert.equal(c.chainPem, chain[0]);
    assert.equal(c.caRootsPem, self.rootPem);
    assert.equal(c.spiffeId, URI);
    assert.match(c.serial, /^[0-9A-F]+$/);
    assert.ok(c.notAfter > now());
  });

  it("from a plug-in CA is accepted: leaf and intermediate served, the root bundle kept apart", () => {
    const c = checkCertificateResponse(plugChain, { keyPem: key, spiffeId: URI, now: now() });
    // Each PEM block ends with a newline in what the agent serves, whatever the CA sent.
    const nl = (pem: string) => (pem.endsWith("\n") ? pem : `${pem}\n`);
    assert.equal(c.chainPem, nl(plugChain[0]) + nl(plugChain[1]));
    assert.equal(c.caRootsPem, nl(plugChain[2]));
  });

  it("with a bundle of several roots (a root rotation) is accepted when one of them anchors the chain", () => {
    const c = checkCertificateResponse([chain[0], other.rootPem + self.rootPem], { keyPem: key, spiffeId: URI, now: now() });
    assert.equal(c.caRootsPem, other.rootPem + self.rootPem);
  });

  const table: [string, () => string[], () => { keyPem?: string; spiffeId?: string; now?: number }, RegExp][] = [
    ["only one element", () => [chain[0]], () => ({}), /has 1 element\(s\); expected the certificate chain and the root bundle/],
    ["no element", () => [], () => ({}), /has 0 element/],
    ["a leaf that is not a certificate", () => ["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", chain[1]], () => ({}), /element 0 of the response is not a readable X\.509 certificate/],
    ["two certificates in one element", () => [chain[0] + chain[0], chain[1]], () => ({}), /element 0 of the response is not one PEM certificate/],
    ["an empty root bundle", () => [chain[0], ""], () => ({}), /root bundle \(its last element\) holds no certificate/],
    ["a chain that does not end at the bundle", () => [chain[0], other.rootPem], () => ({}), /does not end at a root of the response's root bundle/],
    ["a plug-in leaf without its intermediate", () => [plugChain[0], plugChain[2]], () => ({}), /does not end at a root/],
    ["a leaf passed off as an intermediate", () => [plugChain[0], chain[0], plugChain[2]], () => ({}), /certificate 1 of the chain is not a CA certificate/],
    ["another identity than the one asked for", () => chain, () => ({ spiffeId: spiffeUri({ ...id, serviceAccount: "ratings" }) }), /the certificate is for spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews, not spiffe:\/\/cluster\.local\/ns\/default\/sa\/ratings/],
    ["an expired leaf", () => chain, () => ({ now: Date.now() + 25 * 3600_000 }), /certificate 0 of the chain is not valid now/],
    ["a leaf not yet valid", () => chain, () => ({ now: Date.now() - 3600_000 }), /certificate 0 of the chain is not valid now/],
  ];
  for (const [what, response, opts, want] of table) {
    it(`is refused with ${what}`, () => {
      const o = opts();
      assert.throws(() => checkCertificateResponse(response(), { keyPem: o.keyPem ?? key, spiffeId: o.spiffeId ?? URI, now: o.now ?? now() }), (e: Error) => e instanceof CertificateRefused && want.test(e.message));
    });
  }

  it("is refused for another key (the CA certified a key this agent never made)", async () => {
    const { keyPem } = await generateCsr({ uris: [URI] });
    assert.throws(() => checkCertificateResponse(chain, { keyPem, spiffeId: URI, now: now() }), /not for the key this agent generated/);
  });
});

describe("root bundles", () => {
  it("merge without duplicates, the first bundle's order first", () => {
    assert.equal(mergeRootBundles(self.rootPem, other.rootPem + self.rootPem), self.rootPem + other.rootPem);
  });
  for (const [what, text, want] of [
    ["no certificate", "hello\n", /holds no PEM certificate/],
    ["a block that is not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", /certificate 0 is not a readable X\.509 certificate/],
  ] as const) {
    it(`from a file with ${what} are refused`, () => assert.throws(() => parseRootBundle(text, "roots.pem"), want));
  }
});
