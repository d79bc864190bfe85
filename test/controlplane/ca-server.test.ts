// The control plane's CA (Citadel's role) on 15012, as an agent meets it: real gRPC over real TLS on
// loopback, the serving certificate verified against the mesh root bundle as istiod.istio-system.svc,
// a bearer credential the control plane issued. A workload gets a certificate for its own identity
// only (checked by Node and by `openssl verify`); other identities, extra or DNS names, expired or
// forged tokens and bad requests are refused with the contract's status and logged without the
// token; no private key reaches a log line or an answer; ADS is served on the same TLS port.
import assert from "node:assert/strict";
import { createPrivateKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { SignJWT } from "jose";
import { Discovery } from "../../src/controlplane/discovery.js";
import { packageRoot } from "../../src/core/paths.js";
import { CLUSTER_TYPE } from "../../src/envoy/protos.js";
import { generateCsr } from "../../src/security/csr.js";
import { createCertificate, opensslVerify, secureClient } from "../helpers/ca-client.js";
import { deltaStreamTo } from "../xds/server/helpers.js";

const URI = "spiffe://cluster.local/ns/default/sa/bookinfo-reviews";
const reviews = { namespace: "default", serviceAccount: "bookinfo-reviews" };

/** The base64 body lines of every PEM private key in `pem` (what a leak would show). */
function keyLines(pem: string): string[] {
  return pem.split("\n").filter((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l));
}

describe("the mesh CA on 15012", () => {
  const state = mkdtempSync(join(tmpdir(), "tsmesh-ca-server-"));
  const logs: string[] = [];
  let discovery: Discovery;
  let client: grpc.Client;
  let address = "";
  let token = "";

  before(async () => {
    discovery = new Discovery({
      configPaths: [join(packageRoot(), "examples", "bookinfo")],
      watch: false,
      xdsAddress: "127.0.0.1:0",
      secureXdsAddress: "127.0.0.1:0",
      monitoringAddress: "",
      stateDir: state,
      log: (l) => logs.push(l),
    });
    await discovery.start();
    address = `127.0.0.1:${discovery.secureXdsPort}`;
    client = secureClient(address, readFileSync(discovery.security!.rootBundleFile, "utf8"));
    token = (await discovery.security!.issueCredential(reviews)).token;
  });
  after(async () => {
    client.close();
    await discovery.close();
    rmSync(state, { recursive: true, force: true });
  });

  it("keeps its self-signed root and credential key in the state folder (keys 0600) and writes the root bundle", () => {
    assert.equal(statSync(join(state, "ca", "ca-key.pem")).mode & 0o777, 0o600);
    assert.equal(statSync(join(state, "credential-key.pem")).mode & 0o777, 0o600);
    const bundle = readFileSync(join(state, "istio-ca-root-cert.pem"), "utf8");
    assert.ok(new X509Certificate(bundle).raw.equals(new X509Certificate(readFileSync(join(state, "ca", "root-cert.pem"))).raw));
  });

  it("serves with a certificate for istiod.istio-system.svc from the mesh CA", () => {
    const serving = new X509Certificate(discovery.security!.serving.certChainPem[0]);
    assert.equal(serving.subjectAltName, "DNS:istiod.istio-system.svc, DNS:istiod.istio-system.svc.cluster.local");
    assert.ok(serving.verify(new X509Certificate(readFileSync(join(state, "ca", "root-cert.pem"))).publicKey));
  });

  it("issues a workload its own SPIFFE identity: 24 h, chain to the root, the root bundle last", async () => {
    const { csrPem } = await generateCsr({ uris: [URI] });
    const answer = await createCertificate(client, { token, csr: csrPem });
    assert.ok("chain" in answer, JSON.stringify(answer));
    const bundle = readFileSync(discovery.security!.rootBundleFile, "utf8");
    assert.equal(answer.chain.length, 2);
    assert.equal(answer.chain[1], bundle, "the last element is the whole root bundle");
    const leaf = new X509Certificate(answer.chain[0]);
    assert.equal(leaf.subjectAltName, `URI:${URI}`);
    assert.ok(leaf.verify(new X509Certificate(bundle).publicKey));
    const life = Date.parse(leaf.validTo) - Date.now();
    assert.ok(life > 23.9 * 3600_000 && life <= 24 * 3600_000, `lifetime ${life} ms`);
    const v = opensslVerify(bundle, answer.chain[0]);
    assert.ok(v.ok, v.output);
    assert.ok(logs.some((l) => l.startsWith(`ca: issued ${URI} to 127.0.0.1:`)), logs.join("\n"));
  });

  it("honours validity_duration, capped at 90 days", async () => {
    for (const [asked, want] of [
      [3600, 3600],
      [400 * 86400, 90 * 86400],
    ]) {
      const answer = await createCertificate(client, { token, csr: (await generateCsr({ uris: [URI] })).csrPem, validityDuration: asked });
      assert.ok("chain" in answer);
      const life = (Date.parse(new X509Certificate(answer.chain[0]).validTo) - Date.now()) / 1000;
      assert.ok(life <= want && life > want - 120, `asked ${asked}: ${life}`);
    }
  });

  describe("refusals", () => {
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const forged = async (key = other, o: { exp?: number; aud?: string } = {}) =>
      new SignJWT({ "kubernetes.io": { namespace: "default", serviceaccount: { name: "bookinfo-reviews" } } })
        .setProtectedHeader({ alg: "ES256" })
        .setIssuer("tsmesh")
        .setAudience(o.aud ?? "istio-ca")
        .setSubject("system:serviceaccount:default:bookinfo-reviews")
        .setIssuedAt()
        .setNotBefore(Math.floor(Date.now() / 1000) - 7200)
        .setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 3600)
        .sign(key);
    const ownKey = () => createPrivateKey(readFileSync(join(state, "credential-key.pem")));
    const ratingsUri = "spiffe://cluster.local/ns/default/sa/bookinfo-ratings";
    const cases: Array<[string, () => Promise<{ token?: string; authorization?: string[]; csr?: string; raw?: Buffer }>, grpc.status, RegExp]> = [
      ["a CSR for another identity", async () => ({ csr: (await generateCsr({ uris: [ratingsUri] })).csrPem }), grpc.status.PERMISSION_DENIED, /asked for another identity: .*bookinfo-ratings/],
      ["its own identity plus another", async () => ({ csr: (await generateCsr({ uris: [URI, ratingsUri] })).csrPem }), grpc.status.PERMISSION_DENIED, /asked for another identity/],
      ["a DNS name beside its identity", async () => ({ csr: (await generateCsr({ uris: [URI], dnsNames: ["reviews.default.svc"] })).csrPem }), grpc.status.PERMISSION_DENIED, /name type 2/],
      ["another trust domain", async () => ({ csr: (await generateCsr({ uris: ["spiffe://evil.example/ns/default/sa/bookinfo-reviews"] })).csrPem }), grpc.status.PERMISSION_DENIED, /evil\.example/],
      ["no token", async () => ({ token: undefined }), grpc.status.UNAUTHENTICATED, /no authorization metadata/],
      ["Basic authorization", async () => ({ authorization: ["Basic dXNlcjpwYXNz"] }), grpc.status.UNAUTHENTICATED, /not one "Bearer TOKEN"/],
      ["an expired token", async () => ({ token: await forged(ownKey(), { exp: Math.floor(Date.now() / 1000) - 60 }) }), grpc.status.UNAUTHENTICATED, /expired.*claims sub "system:serviceaccount:default:bookinfo-reviews", unverified/],
      ["a forged token (another key)", async () => ({ token: await forged() }), grpc.status.UNAUTHENTICATED, /signature does not verify/],
      ["a token for another audience", async () => ({ token: await forged(ownKey(), { aud: "kubernetes" }) }), grpc.status.UNAUTHENTICATED, /"aud" claim/],
      ["garbage in the CSR", async () => ({ csr: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n" }), grpc.status.INVALID_ARGUMENT, /bad CSR: .*PKCS #10/],
      ["a request that is not protobuf", async () => ({ raw: Buffer.from([0x0a, 0xff, 0xff, 0x01]) }), grpc.status.INVALID_ARGUMENT, /malformed request/],
    ];
    for (const [what, make, code, logged] of cases) {
      it(`refuses ${what}: ${grpc.status[code]}, logged`, async () => {
        const o = await make();
        const before = logs.length;
        const answer = await createCertificate(client, { token: "token" in o ? o.token : token, csr: o.csr ?? (await generateCsr({ uris: [URI] })).csrPem, raw: o.raw, authorization: o.authorization });
        assert.ok("code" in answer, "refused");
        assert.equal(answer.code, code, answer.details);
        const line = logs.slice(before).find((l) => l.startsWith("ca: refused CreateCertificate from 127.0.0.1:"));
        assert.ok(line, logs.slice(before).join("\n"));
        assert.match(line, logged);
        if (o.token) assert.ok(!logs.some((l) => l.includes(o.token!.split(".")[2])), "the token is never logged");
      });
    }
  });

  it("counts CSRs, issuances and refusals with istiod's citadel_server_* metrics", () => {
    const text = discovery.metrics.render();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
    assert.equal(value("citadel_server_csr_count"), 14);
    assert.equal(value("citadel_server_success_cert_issuance_count"), 3);
    assert.equal(value("citadel_server_authentication_failure_count"), 5);
    assert.equal(value("citadel_server_csr_parsing_err_count"), 2);
    assert.match(text, /^citadel_server_csr_sign_err_count\{error="IDENTITY_MISMATCH"\} 4$/m);
    const rootExpiry = Date.parse(new X509Certificate(readFileSync(join(state, "ca", "root-cert.pem"))).validTo) / 1000;
    assert.equal(value("citadel_server_root_cert_expiry_timestamp"), Math.floor(rootExpiry));
    assert.equal(value("citadel_server_id_extraction_err_count"), 0);
    // Time left: between the expiry less now after rendering and the expiry less now before it.
    const before = Date.now() / 1000;
    const again = discovery.metrics.render();
    const left = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(again)?.[1]);
    const after = Date.now() / 1000;
    const rootLeft = left("citadel_server_root_cert_expiry_seconds");
    assert.ok(rootLeft <= Math.floor(rootExpiry) - before && rootLeft >= Math.floor(rootExpiry) - after, `${rootLeft}`);
    const chainLeft = left("citadel_server_cert_chain_expiry_seconds");
    const chainExpiry = left("citadel_server_cert_chain_expiry_timestamp");
    assert.ok(chainLeft > 0 && chainLeft <= chainExpiry - before && chainLeft >= chainExpiry - after, `${chainLeft}`);
  });

  it("never writes a private key (CA, credential or serving key) into a log line or an answer", async () => {
    const secrets = [
      ...keyLines(readFileSync(join(state, "ca", "ca-key.pem"), "utf8")),
      ...keyLines(readFileSync(join(state, "credential-key.pem"), "utf8")),
      // The serving key lives only in memory (the provider hands it to grpc-js).
      ...keyLines((discovery.security!.serving as unknown as { latest: { privateKey: Buffer } }).latest.privateKey.toString()),
    ];
    assert.ok(secrets.length >= 3);
    const answer = await createCertificate(client, { token, csr: (await generateCsr({ uris: [URI] })).csrPem });
    assert.ok("chain" in answer);
    const seen = [...logs, ...answer.chain].join("\n");
    assert.doesNotMatch(seen, /PRIVATE KEY/);
    for (const s of secrets) assert.ok(!seen.includes(s), "a key line leaked");
  });

  it("serves ADS on the same TLS port (a client verifying istiod's certificate against the root)", async () => {
    const stream = deltaStreamTo(client, { id: "sidecar~127.0.3.1~reviews-v1.default~default.svc.cluster.local", metadata: { NAMESPACE: "default" } });
    stream.request(CLUSTER_TYPE);
    const res = await stream.next(20_000);
    stream.ack(res);
    assert.ok(res.resources.some((r) => r.name === "outbound|9080||ratings.default.svc.cluster.local"));
    stream.close();
  });

  it("is not trusted by a client holding another root", async () => {
    const otherState = mkdtempSync(join(tmpdir(), "tsmesh-ca-other-"));
    const { MeshCa } = await import("../../src/security/ca.js");
    const foreign = await MeshCa.selfSigned(otherState, { trustDomain: "cluster.local" });
    const c = secureClient(address, foreign.rootBundlePem);
    const answer = await createCertificate(c, { token, csr: (await generateCsr({ uris: [URI] })).csrPem });
    c.close();
    rmSync(otherState, { recursive: true, force: true });
    assert.ok("code" in answer);
    assert.equal(answer.code, grpc.status.UNAVAILABLE);
  });
});
