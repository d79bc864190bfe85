// Bookinfo with Istio's destination-rule-all-mtls.yaml on a real local mesh (127.111.x.y) whose CA is
// Istio's plug-in CA (the sample cacerts: an intermediate of Istio's sample root), with 40 s workload
// certificates so rotation happens during the test: every page through the gateway is complete
// (gateway → productpage → details/reviews → ratings, each hop mutual TLS); a workload's chain
// verifies to the plugged-in root with `openssl verify` and its leaf carries the SPIFFE ID (the
// plug-in CA task's check); certificates rotate under a steady stream of requests and none fails.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import { pemBlocks } from "../../src/core/pem.js";
import { opensslVerify } from "../helpers/ca-client.js";
import { httpRequest, TestMesh } from "../helpers/mesh.js";

const OCTET = 111;
const CACERTS = join(packageRoot(), "test", "fixtures", "istio", "certs");
const PRODUCTPAGE = `127.${OCTET}.2.1`;
const REVIEWS_V2 = `127.${OCTET}.4.2`;

/** The `default` certificate chain a proxy holds (SecretsConfigDump, as istioctl reads it). */
async function workloadChain(ip: string): Promise<string[]> {
  const r = await httpRequest(ip, 15000, "/config_dump");
  const dump = JSON.parse(r.body) as { configs: Array<{ "@type": string; dynamic_active_secrets?: Array<{ name: string; secret: { tls_certificate?: { certificate_chain?: { inline_bytes?: string } } } }> }> };
  const secrets = dump.configs.find((c) => c["@type"].endsWith("SecretsConfigDump"))?.dynamic_active_secrets ?? [];
  const chain = secrets.find((s) => s.name === "default")?.secret.tls_certificate?.certificate_chain?.inline_bytes;
  assert.ok(chain, `no default certificate in ${ip}'s config dump`);
  return pemBlocks(Buffer.from(chain, "base64").toString("utf8"), "CERTIFICATE");
}

describe("bookinfo with destination-rule-all-mtls.yaml on Istio's plug-in CA", { timeout: 180_000 }, () => {
  let mesh: TestMesh;
  before(async () => {
    mesh = await TestMesh.start({ example: "bookinfo", octet: OCTET, cacertsDir: CACERTS, workloadCertTtl: "40s" });
    await mesh.apply(join(packageRoot(), "samples/bookinfo/networking/destination-rule-all-mtls.yaml"));
  });
  after(async () => {
    await mesh?.stop();
  });

  it("every product page is complete: details and reviews (with ratings) over mutual TLS", async () => {
    for (let i = 0; i < 6; i++) {
      const r = await mesh.gateway("/productpage");
      assert.equal(r.status, 200);
      assert.match(r.body, /Book Details/);
      assert.doesNotMatch(r.body, /Error fetching product (details|reviews)/);
      assert.match(r.body, /Reviewer1/);
    }
    const s = await mesh.stats("productpage-v1");
    assert.ok((s.get("cluster.outbound|9080||details.default.svc.cluster.local.ssl.handshake") ?? 0) > 0, "productpage → details is TLS");
  });

  it("plug-in CA: the workload's chain verifies to Istio's sample root with openssl and the leaf carries its SPIFFE ID", async () => {
    const [leaf, ...intermediates] = await workloadChain(PRODUCTPAGE);
    const v = opensslVerify(readFileSync(join(CACERTS, "root-cert.pem"), "utf8"), leaf, intermediates.join(""));
    assert.ok(v.ok, v.output);
    assert.match(v.output, /: OK/);
    const cert = new X509Certificate(leaf);
    assert.equal(cert.subjectAltName, "URI:spiffe://cluster.local/ns/default/sa/bookinfo-productpage");
    assert.equal(intermediates[0], pemBlocks(readFileSync(join(CACERTS, "ca-cert.pem"), "utf8"), "CERTIFICATE")[0], "issued by the plugged-in intermediate");
  });

  it("certificates rotate at about half their life under a steady stream of requests, and no request fails", async () => {
    const serial = async (ip: string) => new X509Certificate((await workloadChain(ip))[0]).serialNumber;
    const first = { productpage: await serial(PRODUCTPAGE), reviews: await serial(REVIEWS_V2) };
    let requests = 0;
    const failures: string[] = [];
    const deadline = Date.now() + 60_000;
    let rotatedAt: number | undefined;
    while (Date.now() < deadline) {
      // Four requests at a time, as a small steady load.
      const rs = await Promise.all(Array.from({ length: 4 }, () => mesh.gateway("/productpage").catch((e: Error) => ({ status: 0, body: e.message }))));
      for (const r of rs) {
        requests++;
        if (r.status !== 200 || /Error fetching/.test(r.body)) failures.push(`${r.status} ${r.body.slice(0, 120)}`);
      }
      if (rotatedAt === undefined && requests % 40 === 0 && (await serial(PRODUCTPAGE)) !== first.productpage && (await serial(REVIEWS_V2)) !== first.reviews) rotatedAt = Date.now();
      // A little more traffic on the new certificates, then done.
      if (rotatedAt !== undefined && Date.now() - rotatedAt > 3000) break;
    }
    const rotated = rotatedAt !== undefined;
    assert.ok(rotated, "productpage's and reviews-v2's certificates rotated within 60 s (40 s lifetime)");
    assert.deepEqual(failures, [], `${failures.length} of ${requests} requests failed`);
    assert.ok(requests >= 40);
  });
});
