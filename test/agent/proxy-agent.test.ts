// The agent as `tsmesh proxy` runs it: the flags (Istio's names and defaults, refused when they
// would do nothing or are malformed), and a real proxy process with --concurrency 2 whose primary
// alone asks the CA for the workload's certificate and logs it — without the key or the token.
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { agentFlags, main } from "../../src/cli/main.js";
import { packageRoot } from "../../src/core/paths.js";
import { eventually } from "../helpers/eventually.js";
import { meshCaIn, TestCa } from "./test-ca.js";

const bin = join(packageRoot(), "dist/src/cli/bin.js");
const IP = "127.0.174.1";

describe("the proxy's agent flags", () => {
  it("default to Istio's: service account default, trust domain cluster.local, 24h, EC", () => {
    assert.deepEqual(agentFlags({ "ca-address": "127.0.0.1:15012", "ca-root-cert": "root.pem", "credential-file": "token" }, "bookinfo"), {
      caAddress: "127.0.0.1:15012",
      caRootCert: "root.pem",
      credentialFile: "token",
      serviceAccount: "default",
      namespace: "bookinfo",
      trustDomain: "cluster.local",
      ttlSeconds: 86_400,
      keyType: "EC",
    });
    const f = agentFlags({ "ca-address": "[::1]:15012", "ca-root-cert": "r", "credential-file": "t", "service-account": "reviews", "trust-domain": "example.org", "cert-ttl": "1h30m", "key-type": "RSA" }, "ns");
    assert.deepEqual([f?.serviceAccount, f?.trustDomain, f?.ttlSeconds, f?.keyType], ["reviews", "example.org", 5400, "RSA"]);
  });

  it("mean no agent without --ca-address", () => assert.equal(agentFlags({}, "default"), undefined));

  it("with a --ca-root-cert that cannot be read, or an identity that is not a SPIFFE ID, stop the proxy at start (exit 1)", async () => {
    const { runProxy } = await import("../../src/cli/proxy.js");
    const dir = mkdtempSync(join(tmpdir(), "tsmesh-agent-flags-"));
    writeFileSync(join(dir, "empty.pem"), "");
    const run = async (agent: Partial<NonNullable<ReturnType<typeof agentFlags>>>) => {
      const errs: string[] = [];
      const flags = { ...agentFlags({ "ca-address": "127.0.0.1:1", "ca-root-cert": join(dir, "missing.pem"), "credential-file": "t" }, "default")!, ...agent };
      const code = await runProxy({ type: "sidecar", ip: IP, name: "w", namespace: "default", labels: {}, concurrency: 1, agent: flags }, () => {}, (s) => errs.push(s));
      return { code, err: errs.join("\n") };
    };
    try {
      let r = await run({});
      assert.equal(r.code, 1);
      assert.match(r.err, /tsmesh proxy: --ca-root-cert .*missing\.pem cannot be read \(ENOENT\)/);
      r = await run({ caRootCert: join(dir, "empty.pem") });
      assert.match(r.err, /--ca-root-cert .*empty\.pem holds no PEM certificate/);
      r = await run({ serviceAccount: "Not_A_Name" });
      assert.match(r.err, /the workload identity: .*service account "Not_A_Name" is not a Kubernetes name/);
      assert.equal(r.code, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const base = ["proxy", "sidecar", "--ip", IP];
  const full = ["--ca-address", "127.0.0.1:15012", "--ca-root-cert", "r.pem", "--credential-file", "t"];
  for (const [what, args, want] of [
    ["an agent flag without --ca-address", ["--service-account", "reviews"], /--service-account has no effect without --ca-address/],
    ["--ca-address without the roots and the credential", ["--ca-address", "127.0.0.1:15012"], /--ca-address needs --ca-root-cert \(the mesh roots\) and --credential-file/],
    ["--ca-address without a port", [...full, "--ca-address", "istiod"], /--ca-address must be HOST:PORT, got "istiod"/],
    ["--ca-address with port 0", [...full, "--ca-address", "127.0.0.1:0"], /--ca-address must be HOST:PORT/],
    ["a --cert-ttl that is not a Go duration", [...full, "--cert-ttl", "1 day"], /--cert-ttl must be a duration of at least 1s \(e\.g\. 24h\), got "1 day"/],
    ["a --cert-ttl under a second", [...full, "--cert-ttl", "500ms"], /--cert-ttl must be a duration of at least 1s/],
    ["an unknown --key-type", [...full, "--key-type", "ED25519"], /--key-type must be EC \(P-256\) or RSA \(2048\), got "ED25519"/],
  ] as const) {
    it(`refuse ${what}`, () => {
      const errs: string[] = [];
      assert.equal(main([...base, ...args], () => {}, (s) => errs.push(s)), 2);
      assert.match(errs.join("\n"), want);
    });
  }
});

describe("tsmesh proxy --ca-address (the agent in the primary)", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-proxy-agent-"));
  const TOKEN = "productpage-token-5f3a9c";
  let ca: TestCa;
  let child: ChildProcessWithoutNullStreams;
  let stdout = "";
  let stderr = "";

  before(async () => {
    const mesh = await meshCaIn(join(dir, "ca"));
    ca = new TestCa({ ca: mesh.ca, serving: mesh.serving, tokens: new Map([[TOKEN, { trustDomain: "cluster.local", namespace: "bookinfo", serviceAccount: "bookinfo-productpage" }]]) });
    await ca.start();
    writeFileSync(join(dir, "root-cert.pem"), mesh.rootPem);
    writeFileSync(join(dir, "token"), TOKEN);
    // A static bootstrap: no control plane is needed to see the agent work.
    writeFileSync(join(dir, "bootstrap.yaml"), "static_resources: {}\n");
    child = spawn(process.execPath, [
      bin, "proxy", "sidecar", "--bootstrap", join(dir, "bootstrap.yaml"), "--ip", IP, "--admin-port", "0", "--concurrency", "2",
      "--name", "productpage-v1", "--namespace", "bookinfo", "--service-account", "bookinfo-productpage",
      "--ca-address", ca.address, "--ca-root-cert", join(dir, "root-cert.pem"), "--credential-file", join(dir, "token"), "--cert-ttl", "2h",
    ]);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  });
  after(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
    ca.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gets the workload's certificate once, from the primary, and logs its identity, serial and expiry", async () => {
    const line = await eventually("the agent's certificate line", () => /\[info\]\[secret\] agent: workload certificate for (\S+): serial ([0-9A-F]+), valid until (\S+); renewal at (\S+)/.exec(stderr) ?? undefined, 30_000);
    assert.equal(line[1], "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage");
    const life = Date.parse(line[3]) - Date.now();
    assert.ok(life > 1.9 * 3600_000 && life <= 2 * 3600_000, `valid for ${life} ms`);
    await eventually("both workers up", () => /\(2 workers\)/.test(stdout), 30_000);
    assert.equal(ca.calls.length, 1, "only the primary runs the agent");
    assert.equal(ca.calls[0].request.validityDuration, 7200);
    assert.equal(ca.calls[0].authorization, `Bearer ${TOKEN}`);
    assert.ok(!stderr.includes(TOKEN) && !stderr.includes("PRIVATE KEY"), stderr);
  });

  it("exits 0 on SIGTERM", async () => {
    const code = new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    child.kill("SIGTERM");
    assert.equal(await code, 0);
  });
});
