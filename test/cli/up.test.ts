// `tsmesh up` as a user runs it: a process that prints progress and the gateway URL, serves bookinfo,
// reports a crashed app with its log tail and restarts it, and on SIGTERM stops everything it started
// (no process, no listening port left). The example is copied to a temp dir and moved to 127.103.x.y.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { decodeJwt } from "jose";
import { packageRoot } from "../../src/core/paths.js";
import { eventually } from "../helpers/eventually.js";
import { meshProcesses as processesOfMesh, portsBoundOn } from "../helpers/leftovers.js";
import { httpRequest, relocate } from "../helpers/mesh.js";

const OCTET = 103;
const bin = join(packageRoot(), "dist/src/cli/bin.js");

/** Pids of this mesh's apps and proxies. */
const meshProcesses = () => processesOfMesh(OCTET);

describe("tsmesh up (the command)", { timeout: 120_000 }, () => {
  let dir: string;
  let child: ChildProcessWithoutNullStreams;
  let output = "";
  let exit: Promise<number | null>;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "tsmesh-up-cli-"));
    cpSync(join(packageRoot(), "examples/bookinfo"), join(dir, "bookinfo"), { recursive: true });
    for (const f of readdirSync(join(dir, "bookinfo"))) {
      const p = join(dir, "bookinfo", f);
      writeFileSync(p, relocate(readFileSync(p, "utf8"), OCTET));
    }
    child = spawn(
      process.execPath,
      [bin, "up", join(dir, "bookinfo"), "--xds-address", `127.${OCTET}.0.1:15010`, "--monitoring-address", `127.${OCTET}.0.1:15014`, "--log-dir", join(dir, "logs"), "--state-dir", join(dir, "state")],
      { stdio: "pipe" },
    );
    child.stdout.on("data", (b: Buffer) => (output += b.toString()));
    child.stderr.on("data", (b: Buffer) => (output += b.toString()));
    exit = new Promise((r) => child.on("exit", (code) => r(code)));
  });
  after(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("shows progress, then the gateway URL, admin URLs and where the logs are", async () => {
    await eventually("the summary", () => output.includes("Ctrl-C stops the mesh"), 60_000);
    assert.match(output, /Change the mesh with tsmesh apply -f FILE/);
    assert.match(output, /ready +sidecar\+app +default\/reviews-v2 +127\.103\.4\.2/);
    assert.match(output, /ready +gateway +istio-system\/istio-ingressgateway/);
    assert.match(output, /7 workloads ready in \d+\.\d\d s/);
    assert.match(output, /^ {2}ingress gateway +http:\/\/127\.103\.1\.1:8080 /m);
    assert.match(output, /default\/productpage-v1 +sidecar +127\.103\.2\.1 +yes +http:\/\/127\.103\.2\.1:15000/);
    // The apps' private addresses are not announced (a client that skips the sidecar skips mTLS).
    assert.doesNotMatch(output, /127\.231\./);
    assert.ok(output.includes(`logs           ${join(dir, "logs")}/`), output);
    assert.match(output, /Try: curl http:\/\/127\.103\.1\.1:8080\/productpage/);
  });

  it("starts the mesh CA on the control plane's address and gives each workload its credential (0600)", () => {
    assert.ok(output.includes(`mesh CA        127.${OCTET}.0.1:15012 (xDS + certificates over TLS), trust domain cluster.local, roots in ${join(dir, "state", "istio-ca-root-cert.pem")}`), output);
    assert.ok(output.includes(`state          ${join(dir, "state")}/`), output);
    assert.match(readFileSync(join(dir, "state", "istio-ca-root-cert.pem"), "utf8"), /^-----BEGIN CERTIFICATE-----/);
    const file = join(dir, "state", "credentials", "default.reviews-v2.token");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, "state", "credentials")).mode & 0o777, 0o700);
    const claims = decodeJwt(readFileSync(file, "utf8"));
    assert.equal(claims.sub, "system:serviceaccount:default:bookinfo-reviews");
    assert.equal(decodeJwt(readFileSync(join(dir, "state", "credentials", "istio-system.istio-ingressgateway.token"), "utf8")).sub, "system:serviceaccount:istio-system:istio-ingressgateway-service-account");
    assert.equal(readdirSync(join(dir, "state", "credentials")).filter((f) => f.endsWith(".token")).length, 7);
  });

  it("serves bookinfo through the gateway", async () => {
    const r = await httpRequest(`127.${OCTET}.1.1`, 8080, "/productpage");
    assert.equal(r.status, 200);
    assert.match(r.body, /The Comedy of Errors/);
    assert.match(r.body, /Reviewer1/);
  });

  it("tsmesh exec runs a command inside a workload: HTTP_PROXY is its sidecar, exit code passed through", () => {
    const script = "const u = new URL(process.env.HTTP_PROXY); require('http').get({ host: u.hostname, port: u.port, path: 'http://details:9080/details/0', headers: { host: 'details:9080' } }, (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => console.log(r.statusCode, b)); });";
    const r = spawnSync(process.execPath, [bin, "exec", "productpage-v1", "--config", join(dir, "bookinfo"), "--", process.execPath, "-e", script], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^200 .*William Shakespeare/);
    assert.equal(spawnSync(process.execPath, [bin, "exec", "ratings-v1", "--config", join(dir, "bookinfo"), "--", process.execPath, "-e", "process.exit(3)"]).status, 3);
    const missing = spawnSync(process.execPath, [bin, "exec", "nobody", "--config", join(dir, "bookinfo"), "--", "true"], { encoding: "utf8" });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /no WorkloadEntry "nobody"/);
  });

  it("keeps STATE_DIR/mesh.json, through which the operating commands find the mesh", async () => {
    const state = join(dir, "state");
    const record = await eventually("every workload ready in mesh.json", () => {
      const r = JSON.parse(readFileSync(join(state, "mesh.json"), "utf8")) as { name: string; pid: number; workloads: Array<{ name: string; state: string }> };
      return r.workloads.length === 7 && r.workloads.every((w) => w.state === "ready") && r;
    });
    assert.equal(record.name, "default");
    assert.equal(record.pid, child.pid);
    const ps = spawnSync(process.execPath, [bin, "proxy-status", "--state-dir", state], { encoding: "utf8" });
    assert.equal(ps.status, 0, ps.stderr);
    assert.match(ps.stdout, /^reviews-v2\.default\s+Kubernetes\s+SYNCED/m);
    const script = "console.log(process.env.HTTP_PROXY, process.env.POD_NAME)";
    const exec = spawnSync(process.execPath, [bin, "exec", "productpage-v1", "--state-dir", state, "--", process.execPath, "-e", script], { encoding: "utf8" });
    assert.equal(exec.stdout.trim(), `http://127.${OCTET}.2.1:15001 productpage-v1`, exec.stderr);
    // A second up on the same state folder is refused while this one runs.
    const second = spawnSync(process.execPath, [bin, "up", join(dir, "bookinfo"), "--state-dir", state], { encoding: "utf8" });
    assert.equal(second.status, 1);
    assert.match(second.stderr, new RegExp(`mesh "default" \\(pid ${child.pid}\\) is running with the state folder`));
  });

  it("reports a crashed app with the tail of its log and restarts it", async () => {
    const ratings = meshProcesses().find((pid) => readFileSync(`/proc/${pid}/environ`, "utf8").includes(`INSTANCE_IP=127.${OCTET}.5.1\0`) && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("app"));
    assert.ok(ratings, "the ratings app is running");
    process.kill(ratings, "SIGKILL");
    // Kubernetes' CrashLoopBackOff: the first restart after 10 s.
    await eventually("the crash report", () => /ratings-v1 app exited \(signal SIGKILL\); restart in 10 s \(backoff doubling to 5 min\); the rest of the mesh keeps serving\. Last lines of .*default\.ratings-v1\.app\.log:\n {4}\S/.test(output), 10_000);
    // Back in service: reviews v2/v3 show stars again (ratings answered).
    await eventually("ratings back", async () => {
      const again = meshProcesses().find((pid) => pid !== ratings && readFileSync(`/proc/${pid}/environ`, "utf8").includes(`INSTANCE_IP=127.${OCTET}.5.1\0`));
      assert.ok(again);
      const r = await httpRequest(`127.${OCTET}.4.2`, 15001, "http://ratings:9080/ratings/0", { headers: { host: "ratings:9080" } });
      return r.status === 200;
    }, 30_000);
    await eventually("the recovery", () => /ready +sidecar\+app +default\/ratings-v1 +127\.103\.5\.1 +recovered/.test(output), 10_000);
  });

  it("SIGTERM drains and stops everything: exit 0, no process and no listening port left", async () => {
    assert.ok(meshProcesses().length >= 13);
    child.kill("SIGTERM");
    assert.equal(await exit, 0);
    assert.match(output, /tsmesh up: SIGTERM: draining and stopping every workload\ntsmesh up: stopped/);
    assert.deepEqual(meshProcesses(), []);
    assert.deepEqual(portsBoundOn([`127.${OCTET}.`, `127.${OCTET ^ 0x80}.`]), []);
    assert.deepEqual(readdirSync(join(dir, "state", "credentials")), [], "credentials are deleted with their workloads");
    assert.ok(!readdirSync(join(dir, "state")).includes("mesh.json"), "the registry record is removed on stop");
  });
});
