// The agent inside the proxy against a real mesh CA over gRPC + real TLS (test-ca.ts: grpc-js
// signing with MeshCa): the certificate at start for the workload's own identity, renewal near
// half-life with a new key, the CA down (current certificate kept, capped backoff, renewal when it
// returns, loud logs once expired), CA servers and responses it must refuse, the root file
// watched, and logs that never carry the key or the token. Time is a manual clock (wall = a base +
// the clock), so renewals happen exactly when the test says; network I/O is real.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createPublicKey, X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type AgentEvents, retryDelay, rotationTime, WorkloadAgent, type WorkloadAgentOptions } from "../../src/agent/agent.js";
import { CaClient } from "../../src/agent/ca-client.js";
import { CertificateRefused } from "../../src/agent/svid.js";
import { pemBlocks } from "../../src/core/pem.js";
import { DEBUG, LogRegistry } from "../../src/core/log.js";
import { type SdsSecret, SecretManager, type TlsCertificateSecret, type ValidationContextSecret } from "../../src/proxy/tls/secrets.js";
import { type SpiffeId, spiffeUri } from "../../src/security/spiffe.js";
import { eventually } from "../helpers/eventually.js";
import { FakeClock } from "../helpers/fake-clock.js";
import { issueServingCert, meshCaIn, TestCa } from "./test-ca.js";

const tmp = mkdtempSync(join(tmpdir(), "tsmesh-agent-"));
const productpage: SpiffeId = { trustDomain: "cluster.local", namespace: "default", serviceAccount: "bookinfo-productpage" };
const TOKEN = "token-of-productpage-0123456789";
const rootFile = join(tmp, "root-cert.pem");
const tokenFile = join(tmp, "istio-token");

let mesh: Awaited<ReturnType<typeof meshCaIn>>;
let otherMesh: Awaited<ReturnType<typeof meshCaIn>>;
/** Every log line of every agent in this file (checked for secrets at the end). */
const allLines: string[] = [];
/** Every private key and token the agents held. */
const secretsSeen = new Set<string>([TOKEN]);
const cas: TestCa[] = [];
const agents: WorkloadAgent[] = [];

before(async () => {
  mesh = await meshCaIn(join(tmp, "ca"));
  otherMesh = await meshCaIn(join(tmp, "other-ca"));
  writeFileSync(rootFile, mesh.rootPem);
  writeFileSync(tokenFile, `${TOKEN}\n`);
});

after(() => {
  for (const a of agents) a.close();
  for (const c of cas) c.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function startCa(o: Partial<ConstructorParameters<typeof TestCa>[0]> = {}): Promise<TestCa> {
  const ca = new TestCa({ ca: mesh.ca, serving: mesh.serving, tokens: new Map([[TOKEN, productpage]]), ...o });
  await ca.start();
  cas.push(ca);
  return ca;
}

interface Harness {
  agent: WorkloadAgent;
  secrets: SecretManager;
  lines: string[];
  clock: FakeClock;
  wall: () => number;
}

/** An agent on a manual clock (wall time = now + the clock), logging at debug into `lines`. */
function startAgent(ca: TestCa, o: Partial<WorkloadAgentOptions> = {}): Harness {
  const clock = new FakeClock();
  const base = Date.now();
  const wall = () => base + clock.now();
  const lines: string[] = [];
  const logs = new LogRegistry(["secret"], (l) => {
    lines.push(l);
    allLines.push(l);
  }, DEBUG);
  const secrets = new SecretManager();
  secrets.watch("sds-grpc", "default", (s) => {
    if (s?.kind === "tlsCertificate") secretsSeen.add(s.privateKeyPem);
  });
  const rootCertFile = o.rootCertFile ?? rootFile;
  const agent: WorkloadAgent = new WorkloadAgent({
    identity: productpage,
    ttlSeconds: 3600,
    signer: new CaClient({ address: ca.address, credentialFile: tokenFile, rootsPem: () => agent.rootsPem, timeoutMs: 20_000 }),
    secrets,
    rootCertFile,
    log: logs.get("secret"),
    clock,
    wallNow: wall,
    random: () => 0.5,
    backoff: { initialMs: 1000, maxMs: 8000 },
    rootPollMs: 50,
    ...o,
  });
  agents.push(agent);
  agent.start();
  return { agent, secrets, lines, clock, wall };
}

function next<K extends keyof AgentEvents>(agent: WorkloadAgent, event: K): Promise<AgentEvents[K]> {
  return once(agent as never, event, { signal: AbortSignal.timeout(30_000) }) as Promise<AgentEvents[K]>;
}

function tlsSecret(s: SecretManager): TlsCertificateSecret | undefined {
  const v: SdsSecret | undefined = s.get("sds-grpc", "default");
  return v?.kind === "tlsCertificate" ? v : undefined;
}

function rootca(s: SecretManager): string[] {
  const v = s.get("sds-grpc", "ROOTCA") as ValidationContextSecret | undefined;
  return v ? pemBlocks(v.trustedCaPem, "CERTIFICATE").map((p) => new X509Certificate(p).fingerprint256) : [];
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
const spki = (k: ReturnType<typeof createPublicKey>) => k.export({ type: "spki", format: "der" }).toString("base64");

describe("the agent's certificate", () => {
  for (const keyType of ["EC", "RSA"] as const) {
    it(`is obtained at start for the workload's own SPIFFE ID, with a ${keyType} key made in the proxy, chained to ROOTCA`, async () => {
      const ca = await startCa();
      const { agent, secrets } = startAgent(ca, { keyType });
      const [cert] = await next(agent, "certificate");
      const s = tlsSecret(secrets);
      assert.ok(s, "the default secret is set");
      const chain = pemBlocks(s.certificateChainPem, "CERTIFICATE").map((p) => new X509Certificate(p));
      const leaf = chain[0];
      assert.equal(leaf.subjectAltName, `URI:${spiffeUri(productpage)}`);
      assert.equal(cert.spiffeId, spiffeUri(productpage));
      assert.equal(cert.serial, leaf.serialNumber);
      // The key in the secret is the one the leaf certifies; the CA never saw it (only the CSR).
      assert.equal(spki(leaf.publicKey), spki(createPublicKey(s.privateKeyPem)));
      const key = createPublicKey(s.privateKeyPem);
      if (keyType === "EC") assert.equal(key.asymmetricKeyDetails?.namedCurve, "prime256v1");
      else assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
      assert.ok(!ca.calls.some((c) => c.request.csr.includes("PRIVATE KEY")));
      // ROOTCA is the mesh root, and the chain ends at it.
      assert.deepEqual(rootca(secrets), [fingerprint(mesh.rootPem)]);
      const root = new X509Certificate(mesh.rootPem);
      assert.ok(chain[chain.length - 1].verify(root.publicKey));
      // The call: the bearer token from the file, the requested lifetime.
      assert.equal(ca.calls.length, 1);
      assert.equal(ca.calls[0].authorization, `Bearer ${TOKEN}`);
      assert.equal(ca.calls[0].request.validityDuration, 3600);
      agent.close();
      ca.stop();
    });
  }

  it("is renewed near half its lifetime (±1%) with a new key and a new serial", async () => {
    const ca = await startCa();
    const h = startAgent(ca);
    ca.now = h.wall;
    const [first] = await next(h.agent, "certificate");
    const firstKey = tlsSecret(h.secrets)!.privateKeyPem;
    const life = first.notAfter - h.wall();
    const at = h.agent.nextRenewalAt!;
    const share = (at - h.wall()) / life;
    assert.ok(share > 0.49 && share < 0.51, `renewal at ${share} of the lifetime`);
    // One second before: nothing happens (the renewal timer is still pending, no new call).
    h.clock.advance(at - h.wall() - 1000);
    assert.equal(ca.calls.length, 1);
    assert.equal(h.clock.pending, 1);
    const renewed = next(h.agent, "certificate");
    h.clock.advance(1000);
    const [second] = await renewed;
    assert.equal(ca.calls.length, 2);
    assert.notEqual(second.serial, first.serial);
    const s = tlsSecret(h.secrets)!;
    assert.notEqual(s.privateKeyPem, firstKey, "a new key for each certificate");
    assert.equal(new X509Certificate(s.certificateChainPem).serialNumber, second.serial);
    assert.ok(second.notAfter > first.notAfter);
    h.agent.close();
    ca.stop();
  });

  it("renews a 60-day certificate after 30 days: past a single timer's range, it waits in hourly steps and is on time", async () => {
    const ca = await startCa();
    const h = startAgent(ca, { ttlSeconds: 60 * 86_400 });
    ca.now = h.wall;
    const [first] = await next(h.agent, "certificate");
    const at = h.agent.nextRenewalAt!;
    assert.ok(at - h.wall() > 2 ** 31, "beyond setTimeout's limit");
    h.clock.advance(at - h.wall() - 1000);
    assert.equal(ca.calls.length, 1, "no renewal before its time");
    const renewed = next(h.agent, "certificate");
    h.clock.advance(1000);
    const [second] = await renewed;
    assert.notEqual(second.serial, first.serial);
    h.agent.close();
    ca.stop();
  });

  it("keeps the current certificate while the CA is down, backs off (capped), says loudly once it expired, and renews when the CA returns", async () => {
    const ca = await startCa();
    const h = startAgent(ca);
    ca.now = h.wall;
    const [first] = await next(h.agent, "certificate");
    const served = tlsSecret(h.secrets);
    ca.stop();
    const delays: number[] = [];
    let failure = next(h.agent, "failure");
    h.clock.advance(h.agent.nextRenewalAt! - h.wall());
    for (let i = 0; i < 5; i++) {
      const [f] = await failure;
      assert.equal(f.attempt, i + 1);
      assert.match(f.error.message, /UNAVAILABLE/);
      delays.push(f.retryInMs);
      assert.equal(tlsSecret(h.secrets), served, "the current certificate stays in use");
      failure = next(h.agent, "failure");
      h.clock.advance(f.retryInMs);
    }
    // random() = 0.5: ¾ of 1 s, 2 s, 4 s, 8 s, then capped at 8 s.
    assert.deepEqual(delays, [750, 1500, 3000, 6000, 6000]);
    assert.ok(h.lines.some((l) => /\[warning\]\[secret\] agent: renewing the workload certificate for spiffe:\/\/cluster\.local\/ns\/default\/sa\/bookinfo-productpage failed: .*UNAVAILABLE.*; keeping serial [0-9A-F]+ \(valid until .*\), retrying in 6\.0s \(attempt 4\)/.test(l)), h.lines.join("\n"));
    // Past its expiry, with the CA still down: still served, and every retry logs an error.
    let [f] = await failure;
    failure = next(h.agent, "failure");
    h.clock.advance(first.notAfter - h.wall() + 60_000);
    [f] = await failure;
    assert.equal(tlsSecret(h.secrets), served);
    const expired = h.lines.filter((l) => /\[error\]\[secret\] agent: the workload certificate for spiffe:\/\/\S+ \(serial [0-9A-F]+\) EXPIRED at .* and cannot be renewed: .*UNAVAILABLE.*; still serving it, retrying in/.test(l));
    assert.equal(expired.length, 1, h.lines.join("\n"));
    failure = next(h.agent, "failure");
    h.clock.advance(f.retryInMs);
    [f] = await failure;
    assert.equal(h.lines.filter((l) => l.includes("EXPIRED")).length, 2, "each retry says so");
    // The CA is back (same address): the next retry renews.
    await ca.start();
    const renewed = next(h.agent, "certificate");
    h.clock.advance(f.retryInMs);
    const [second] = await renewed;
    assert.notEqual(second.serial, first.serial);
    assert.notEqual(tlsSecret(h.secrets), served);
    assert.ok(second.notAfter > h.wall());
    h.agent.close();
    ca.stop();
  });
});

describe("what the agent refuses", () => {
  it("a CA whose serving certificate does not chain to --ca-root-cert, or does not carry istiod's name", async () => {
    const wrongName = await issueServingCert(mesh.rootPem, readFileSync(join(tmp, "ca", "ca-key.pem"), "utf8"), ["evil.example.com"]);
    for (const [what, serving, want] of [
      ["signed by another root", otherMesh.serving, /UNAVAILABLE: .*(certificate|verify)/i],
      ["for another name", wrongName, /UNAVAILABLE: .*(altnames|does not match|istiod)/i],
    ] as const) {
      const ca = await startCa({ serving });
      const h = startAgent(ca);
      const [f] = await next(h.agent, "failure");
      assert.match(f.error.message, want, what);
      assert.equal(tlsSecret(h.secrets), undefined, `${what}: no certificate`);
      assert.equal(ca.calls.length, 0, `${what}: the request (and its token) never reached that server`);
      h.agent.close();
      ca.stop();
    }
  });

  for (const [mode, want] of [
    ["other-identity", /refused the CA's response: the certificate is not for the key this agent generated|the certificate is for spiffe:\/\/cluster\.local\/ns\/default\/sa\/someone-else/],
    ["other-key", /refused the CA's response: the certificate is not for the key this agent generated/],
  ] as const) {
    it(`a response whose leaf is for ${mode === "other-identity" ? "another identity" : "another key"}`, async () => {
      const ca = await startCa();
      ca.mode = mode;
      const h = startAgent(ca);
      const [f] = await next(h.agent, "failure");
      assert.ok(f.error instanceof CertificateRefused, f.error.message);
      assert.equal(tlsSecret(h.secrets), undefined);
      assert.ok(h.lines.some((l) => want.test(l) && l.includes("[error][secret]")), h.lines.join("\n"));
      h.agent.close();
      ca.stop();
    });
  }

  it("a token the CA does not accept: UNAUTHENTICATED with the CA's message; the file is read again at every call", async () => {
    const ca = await startCa({ tokens: new Map([["the-new-token", productpage]]) });
    const h = startAgent(ca);
    const [f] = await next(h.agent, "failure");
    assert.match(f.error.message, /^CreateCertificate to 127\.0\.0\.1:\d+: UNAUTHENTICATED: the caller's token is not valid$/);
    writeFileSync(tokenFile, "the-new-token\n");
    try {
      const got = next(h.agent, "certificate");
      h.clock.advance(f.retryInMs);
      await got;
      assert.deepEqual(ca.calls.map((c) => c.authorization), [`Bearer ${TOKEN}`, "Bearer the-new-token"]);
    } finally {
      writeFileSync(tokenFile, `${TOKEN}\n`);
    }
    secretsSeen.add("the-new-token");
    h.agent.close();
    ca.stop();
  });
});

describe("the root bundle", () => {
  it("a change of --ca-root-cert is a new ROOTCA, without a restart; an unreadable one changes nothing", async () => {
    const dir = join(tmp, "roots");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "root-cert.pem");
    writeFileSync(file, mesh.rootPem);
    const ca = await startCa();
    const h = startAgent(ca, { rootCertFile: file });
    await next(h.agent, "certificate");
    assert.deepEqual(rootca(h.secrets), [fingerprint(mesh.rootPem)]);
    // The plug-in CA's new root joins the bundle (a rotation): both trusted.
    writeFileSync(file, mesh.rootPem + otherMesh.rootPem);
    await eventually("ROOTCA with both roots", () => rootca(h.secrets).length === 2);
    assert.deepEqual(rootca(h.secrets), [fingerprint(mesh.rootPem), fingerprint(otherMesh.rootPem)]);
    assert.ok(h.lines.some((l) => /\[info\]\[secret\] agent: .*root-cert\.pem changed: ROOTCA updated \(2 root\(s\) in the file\)/.test(l)), h.lines.join("\n"));
    // Garbage: the last good bundle stays, and the problem is logged.
    writeFileSync(file, "not a certificate\n");
    await eventually("the bad root file reported", () => h.lines.some((l) => /\[error\]\[secret\] agent: --ca-root-cert .* holds no PEM certificate; ROOTCA unchanged/.test(l)));
    assert.equal(rootca(h.secrets).length, 2);
    // The old root gone from the file: ROOTCA still has it while the CA's own bundle has it.
    writeFileSync(file, otherMesh.rootPem);
    await eventually("ROOTCA from the new file", () => rootca(h.secrets)[0] === fingerprint(otherMesh.rootPem));
    assert.deepEqual(rootca(h.secrets), [fingerprint(otherMesh.rootPem), fingerprint(mesh.rootPem)]);
    h.agent.close();
    ca.stop();
  });

  it("roots the CA adds to its bundle (a root rotation) are trusted with the file's", async () => {
    const ca = await startCa({ extraRootPem: otherMesh.rootPem });
    const h = startAgent(ca);
    await next(h.agent, "certificate");
    assert.deepEqual(rootca(h.secrets), [fingerprint(mesh.rootPem), fingerprint(otherMesh.rootPem)]);
    assert.ok(h.lines.some((l) => /the CA's root bundle has 1 root\(s\) not in .*: trusting both/.test(l)), h.lines.join("\n"));
    h.agent.close();
    ca.stop();
  });
});

describe("renewal timing (Istio's grace ratio 0.5 ± 0.01, capped exponential retries)", () => {
  const H = 3600_000;
  for (const [random, share] of [
    [0, 0.51],
    [0.5, 0.5],
    [0.999999, 0.49],
  ] as const) {
    it(`random ${random}: renewal at ${share} of the lifetime`, () => {
      const at = rotationTime(0, 24 * H, () => random);
      assert.ok(Math.abs(at / (24 * H) - share) < 1e-5, `${at / (24 * H)}`);
    });
  }
  it("a certificate already past its renewal point is renewed at once (never in the past)", () => {
    assert.equal(rotationTime(10 * H, 10 * H, () => 0.5), 10 * H);
  });
  for (const [attempt, random, ms] of [
    [1, 0, 500],
    [1, 1, 1000],
    [2, 0.5, 1500],
    [5, 1, 16_000],
    [6, 1, 30_000],
    [40, 0, 15_000],
  ] as const) {
    it(`retry ${attempt} with random ${random}: ${ms} ms`, () => assert.equal(retryDelay(attempt, () => random), ms));
  }
});

describe("logs", () => {
  it("never carry a private key or a token", () => {
    assert.ok(allLines.length > 20, "the tests above logged");
    assert.ok(secretsSeen.size > 5, "keys were issued");
    for (const secret of secretsSeen) {
      // Any line of a key's base64 body, or the token itself.
      const needles = secret.includes("PRIVATE KEY") ? secret.split("\n").filter((l) => l.length >= 32 && !l.startsWith("-----")) : [secret];
      for (const n of needles) for (const line of allLines) assert.ok(!line.includes(n), `a log line carries a secret: ${line}`);
    }
  });
});
