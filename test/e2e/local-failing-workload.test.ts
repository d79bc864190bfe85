// A local mesh that never surprises (issue 16): a workload whose app crashes forever is reported
// once (why, with its log's tail) and retried with backoff while the rest of the mesh serves every
// request; fixing its WorkloadEntry restarts it at once; a WorkloadEntry that takes a running
// workload's address is rejected, naming both, and the running one keeps running; a workload that
// is not ready in time is reported once and restarted, never fatal. Traffic is
// bounded (20 s here; bench/soak-failing-workload.ts runs Istio's 10 minutes).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually } from "../helpers/eventually.js";
import { TestMesh } from "../helpers/mesh.js";
import { CRASHER_SERVICE, crasherEntry, serveUntil, SLEEPER } from "./failing-workload.js";

const OCTET = 32;
// Generous for the healthy workloads on a loaded machine, short enough for the never-ready one.
const READY_TIMEOUT_MS = 15_000;

describe("tsmesh up: one failing workload", { timeout: 180_000 }, () => {
  let mesh: TestMesh;
  const lines: string[] = [];
  let files: string;

  before(async () => {
    files = mkdtempSync(join(tmpdir(), "tsmesh-crasher-"));
    writeFileSync(join(files, "ServiceEntry.default.crasher.yaml"), CRASHER_SERVICE);
    writeFileSync(join(files, "WorkloadEntry.default.crasher.yaml"), crasherEntry("crash"));
    mesh = await TestMesh.start({ example: "httpbin-tcp-echo", octet: OCTET, apply: [join(files, "ServiceEntry.default.crasher.yaml"), join(files, "WorkloadEntry.default.crasher.yaml")], readyTimeoutMs: READY_TIMEOUT_MS, log: (l) => lines.push(l) });
  });
  after(async () => {
    await mesh?.stop();
    rmSync(files, { recursive: true, force: true });
  });

  it("starts the rest of the mesh; the failing workload is reported with its log's tail, not fatal", () => {
    assert.equal(mesh.mesh.workload("crasher")?.state, "failing");
    for (const w of mesh.mesh.list()) if (w.plan.name !== "crasher") assert.equal(w.state, "ready", w.plan.key);
    const report = lines.find((l) => l.startsWith("crasher app exited (code 3)"));
    assert.ok(report, lines.join("\n"));
    assert.match(report, /restart in 0\.2 s \(backoff doubling to 5 min\); the rest of the mesh keeps serving\. Last lines of \S+default\.crasher\.app\.log:\n {4}crasher on 127\.160\.8\.1:8000\n {4}fatal: cannot open \/nonexistent\/db/);
  });

  it("serves 20 s of traffic without an error while the crasher restarts; the crash is reported once", async () => {
    const restartsBefore = mesh.mesh.workload("crasher")!.app!.restarts;
    // Meanwhile a workload that is never ready (checked in the next test).
    await mesh.apply(SLEEPER);
    const { ok, failed } = await serveUntil(mesh, Date.now() + 20_000);
    assert.deepEqual(failed, [], `${failed.length} failed of ${ok + failed.length}`);
    assert.ok(ok >= 50, `${ok} requests`);
    const w = mesh.mesh.workload("crasher")!;
    assert.ok(w.app!.restarts >= restartsBefore + 1 && w.app!.restarts >= 3, `restarts ${restartsBefore} → ${w.app!.restarts}`);
    assert.equal(w.state, "failing");
    assert.equal(lines.filter((l) => l.includes("crasher app exited")).length, 1, lines.join("\n"));
  });

  it("a workload not ready in time is reported once with its log, and its app restarted with backoff", async () => {
    const sleeper = mesh.mesh.workload("sleeper")!;
    await eventually("the not-ready report", () => lines.some((l) => l.startsWith("sleeper app not ready after 15 s")), 30_000);
    const report = lines.find((l) => l.startsWith("sleeper app not ready after 15 s"))!;
    assert.match(report, /^sleeper app not ready after 15 s; restart in 0\.2 s \(backoff doubling to 5 min\); the rest of the mesh keeps serving\. Last lines of \S+default\.sleeper\.app\.log:\n {4}sleeping, not listening/);
    await eventually("restarted", () => sleeper.app!.restarts >= 1 && sleeper.app!.running, 10_000);
    assert.equal(sleeper.state, "failing");
    assert.equal(lines.filter((l) => l.includes("sleeper app not ready")).length, 1);
    assert.equal(mesh.mesh.workload("httpbin-v1")!.state, "ready");
  });

  it("a fix to its WorkloadEntry applies at once: restarted without waiting out the backoff, then ready", async () => {
    const from = lines.length;
    await mesh.apply(crasherEntry("serve"));
    await eventually("crasher ready", () => mesh.mesh.workload("crasher")?.state === "ready", 30_000);
    const r = await mesh.fromWorkload("curl", "http://crasher:8000/");
    assert.equal(r.status, 200);
    assert.equal(r.body, "crasher serving on 127.160.8.1:8000 as default/crasher");
    const logged = lines.slice(from);
    assert.ok(logged.includes("workloadentry default/crasher configured"), logged.join("\n"));
    assert.ok(logged.includes("restarting default/crasher"), logged.join("\n"));
    assert.ok(logged.some((l) => /^ready +sidecar\+app +default\/crasher +127\.32\.8\.1 +\d+\.\d\d s$/.test(l)), logged.join("\n"));
  });

  it("a good edit prints one line, an unchanged save nothing, a bad edit one error at the field's line", async () => {
    const vs = (weight: number, port: number) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: crasher, namespace: default}
spec:
  hosts: [crasher]
  http:
  - route:
    - destination: {host: crasher, port: {number: ${port}}}
      weight: ${weight}
`;
    let from = lines.length;
    await mesh.apply(vs(100, 8000));
    assert.deepEqual(lines.slice(from), ["virtualservice default/crasher created"]);
    from = lines.length;
    await mesh.apply(vs(100, 8000));
    assert.deepEqual(lines.slice(from), []);
    await mesh.apply(vs(-1, 99999));
    await eventually("the error", () => lines.length > from, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(lines.length, from + 1, lines.slice(from).join("\n"));
    // The harness rewrites the YAML (flow style spacing): the column is where `number` is in the file written.
    const written = readFileSync(join(mesh.appliedDir, "VirtualService.default.crasher.yaml"), "utf8").split("\n");
    const column = written[7].indexOf("number:") + 1;
    assert.ok(column > 0, written.join("\n"));
    assert.ok(lines[from].includes(`VirtualService.default.crasher.yaml:8:${column} `), lines[from]);
    assert.match(lines[from], /^discovery: \S+\/VirtualService\.default\.crasher\.yaml:8:\d+ VirtualService default\/crasher: spec\.http\[0\]\.route\[0\]\.destination\.port\.number: .* \(and 1 more: tsmesh validate \S+\) \(last good version kept\)$/);
  });

  it("a WorkloadEntry on a running workload's address is rejected, naming both; the running one keeps running", async () => {
    const running = mesh.mesh.workload("httpbin-v1")!;
    const pids = [running.proxy.pid, running.app!.pid];
    const from = lines.length;
    await mesh.apply(`apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: intruder, namespace: default}
spec: {address: 127.0.5.1, labels: {app: intruder}}
`);
    await eventually("the rejection", () => lines.slice(from).some((l) => l.includes("default/intruder: spec.address")), 10_000);
    assert.ok(
      lines.includes("default/intruder: spec.address 127.32.5.1 is taken by running workload default/httpbin-v1; WorkloadEntry default/intruder is not started (every workload needs its own address; default/httpbin-v1 keeps running)"),
      lines.slice(from).join("\n"),
    );
    assert.equal(mesh.mesh.workload("intruder"), undefined);
    assert.equal(mesh.mesh.workload("httpbin-v1"), running);
    assert.deepEqual([running.proxy.pid, running.app!.pid], pids);
    const { failed } = await serveUntil(mesh, Date.now() + 2000);
    assert.deepEqual(failed, []);
  });
});
