// Istio's plug-in CA task on the control plane: with a `cacerts` folder (Istio's sample certs) a
// workload's chain verifies to the plugged-in root with `openssl verify` and carries its SPIFFE ID;
// rewriting the folder (a combined-root rotation, then the new root alone) reloads the CA without a
// restart: the root bundle file follows root-cert.pem, new certificates and 15012's serving
// certificate chain to the new CA. Also: the trust domain comes from mesh config, and a stored
// self-signed root made for another trust domain stops the control plane with the file named.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Discovery, type DiscoveryOptions } from "../../src/controlplane/discovery.js";
import { packageRoot } from "../../src/core/paths.js";
import { pemBlocks } from "../../src/core/pem.js";
import { MeshCa } from "../../src/security/ca.js";
import { generateCsr } from "../../src/security/csr.js";
import { createCertificate, opensslVerify, secureClient } from "../helpers/ca-client.js";
import { eventually } from "../helpers/eventually.js";

const SAMPLE = join(packageRoot(), "test", "fixtures", "istio", "certs");
const tmp = mkdtempSync(join(tmpdir(), "tsmesh-ca-plugin-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const productpage = { namespace: "default", serviceAccount: "bookinfo-productpage" };

function discoveryWith(o: Partial<DiscoveryOptions>, logs: string[]): Discovery {
  return new Discovery({ configPaths: [join(packageRoot(), "examples", "bookinfo")], watch: false, xdsAddress: "127.0.0.1:0", secureXdsAddress: "127.0.0.1:0", monitoringAddress: "", log: (l) => logs.push(l), ...o });
}

/** A certificate for productpage from `discovery`'s 15012, as an agent trusting the root bundle file asks. */
async function issue(discovery: Discovery, uri = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"): Promise<string[]> {
  const client = secureClient(`127.0.0.1:${discovery.secureXdsPort}`, readFileSync(discovery.security!.rootBundleFile, "utf8"));
  try {
    const { token } = await discovery.security!.issueCredential(productpage);
    const answer = await createCertificate(client, { token, csr: (await generateCsr({ uris: [uri] })).csrPem });
    assert.ok("chain" in answer, JSON.stringify(answer));
    return answer.chain;
  } finally {
    client.close();
  }
}

describe("the plug-in CA (cacerts)", () => {
  const cacerts = join(tmp, "cacerts");
  const logs: string[] = [];
  let discovery: Discovery;
  const oldRoot = readFileSync(join(SAMPLE, "root-cert.pem"), "utf8");

  before(async () => {
    cpSync(SAMPLE, cacerts, { recursive: true });
    discovery = discoveryWith({ stateDir: join(tmp, "state"), cacertsDir: cacerts, cacertsPollMs: 50, watch: true }, logs);
    await discovery.start();
  });
  after(() => discovery.close());

  it("issues as an intermediate of the plugged-in root: openssl verify accepts the chain, the leaf carries the SPIFFE ID", async () => {
    const chain = await issue(discovery);
    assert.equal(chain.length, 3, "leaf, Istio's ca-cert, the root bundle");
    assert.equal(new X509Certificate(chain[0]).subjectAltName, "URI:spiffe://cluster.local/ns/default/sa/bookinfo-productpage");
    assert.ok(new X509Certificate(chain[1]).raw.equals(new X509Certificate(readFileSync(join(SAMPLE, "ca-cert.pem"))).raw));
    assert.equal(readFileSync(discovery.security!.rootBundleFile, "utf8").trim(), oldRoot.trim());
    const v = opensslVerify(oldRoot, chain[0], chain[1]);
    assert.ok(v.ok, v.output);
    assert.match(v.output, /OK/);
  });

  it("reloads a rotated cacerts folder: both roots while root-cert.pem holds both, then the new root alone", async () => {
    const next = await MeshCa.selfSigned(join(tmp, "new-root"), { trustDomain: "cluster.local" });
    const newRoot = next.rootsPem[0];
    // Istio's combined-root step: the new CA signs, root-cert.pem holds the old and the new root.
    writeFileSync(join(cacerts, "ca-key.pem"), readFileSync(join(tmp, "new-root", "ca-key.pem")));
    writeFileSync(join(cacerts, "ca-cert.pem"), newRoot);
    writeFileSync(join(cacerts, "cert-chain.pem"), newRoot);
    writeFileSync(join(cacerts, "root-cert.pem"), `${oldRoot.trim()}\n${newRoot}`);
    const bundleFile = discovery.security!.rootBundleFile;
    await eventually("the root bundle file holds both roots", () => pemBlocks(readFileSync(bundleFile, "utf8"), "CERTIFICATE").length === 2);
    const chain = await issue(discovery);
    assert.equal(pemBlocks(chain.at(-1)!, "CERTIFICATE").length, 2, "the answer's last element holds both roots");
    assert.ok(new X509Certificate(chain[0]).verify(new X509Certificate(newRoot).publicKey), "new certificates chain to the new CA");
    const v = opensslVerify(readFileSync(bundleFile, "utf8"), chain[0]);
    assert.ok(v.ok, v.output);
    assert.ok(new X509Certificate(discovery.security!.serving.certChainPem[0]).verify(new X509Certificate(newRoot).publicKey), "15012's certificate follows");
    assert.ok(logs.some((l) => /ca: plug-in CA .* reloaded/.test(l)), logs.join("\n"));

    writeFileSync(join(cacerts, "root-cert.pem"), newRoot);
    await eventually("the root bundle file holds the new root alone", () => readFileSync(bundleFile, "utf8").trim() === newRoot.trim());
    // An agent trusting only the new root still reaches 15012 and gets a certificate.
    const only = await issue(discovery);
    assert.equal(only.at(-1)!.trim(), newRoot.trim());
  });

  it("keeps the CA in force when the folder turns bad, and says so", async () => {
    const before = discovery.security!.ca;
    const from = logs.length;
    writeFileSync(join(cacerts, "ca-key.pem"), (await generateCsr({ uris: [] })).keyPem);
    await eventually("the refusal is logged", () => logs.slice(from).some((l) => /not reloaded: .*ca-key\.pem is not the key of ca-cert\.pem.*the CA in force keeps issuing/.test(l)));
    assert.equal(discovery.security!.ca, before);
    assert.ok(!logs.some((l) => l.includes("PRIVATE KEY")));
    await issue(discovery);
  });
});

describe("the trust domain", () => {
  it("comes from mesh config", async () => {
    const logs: string[] = [];
    const d = discoveryWith({ stateDir: join(tmp, "td-state"), mesh: { trustDomain: "example.org" } }, logs);
    await d.start();
    try {
      const chain = await issue(d, "spiffe://example.org/ns/default/sa/bookinfo-productpage");
      assert.equal(new X509Certificate(chain[0]).subjectAltName, "URI:spiffe://example.org/ns/default/sa/bookinfo-productpage");
    } finally {
      await d.close();
    }
  });

  it("stops the control plane when the stored root was made for another one, naming the file", async () => {
    const logs: string[] = [];
    const state = join(tmp, "td-state"); // its root was made for example.org above
    const d = discoveryWith({ stateDir: state }, logs);
    await assert.rejects(d.start(), (e: Error) => e.message.includes(join(state, "ca", "root-cert.pem")) && /made for trust domain "example\.org", not "cluster\.local"/.test(e.message));
    await d.close();
  });
});
