// `tsmesh up` stops cleanly when its parent dies (`npx tsmesh up` killed: npm exits without
// passing the signal on) or its terminal closes (SIGHUP): every child stopped, every port released.
// A small mesh on 127.33.x.y (apps on 127.161.x.y): one app started through the
// variables up provides (and, for SIGHUP, one that crash-loops: the summary names it, the rest
// serves); the banner names the watched folder and points at `tsmesh apply`.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import { eventually } from "../helpers/eventually.js";
import { meshProcesses as processesOfMesh, portsBoundOn } from "../helpers/leftovers.js";
import { httpRequest } from "../helpers/mesh.js";

const OCTET = 33;
const bin = join(packageRoot(), "dist/src/cli/bin.js");
const root = mkdtempSync(join(tmpdir(), "tsmesh-up-parent-"));
after(() => rmSync(root, { recursive: true, force: true }));

const CONFIG = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: default}
spec:
  hosts: [web.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8000, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: web}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: web
  annotations:
    tsmesh.io/command: 'node -e "require(\\"http\\").createServer((q, s) => s.end(process.argv[1])).listen(+process.env.PORT, process.env.HOST)" "$NAME on $HOST:$PORT"'
spec:
  address: 127.${OCTET}.1.1
  labels: {app: web}
`;

/** Pids of this test's meshes: tsmesh up (its command line names the temp folder), proxies and apps. */
const meshProcesses = () => processesOfMesh(OCTET, root);

/** A workload whose app exits at once, every time. */
const CRASHER = `---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: crash
  annotations:
    tsmesh.io/command: node -e "console.error('no config for', process.env.NAME); process.exit(4)"
spec:
  address: 127.${OCTET}.1.2
`;

function meshFolder(name: string, extra = ""): string {
  const dir = join(root, name);
  mkdirSync(join(dir, "config"), { recursive: true });
  writeFileSync(join(dir, "config", "mesh.yaml"), CONFIG + extra);
  return dir;
}

function upArgs(dir: string): string[] {
  return [bin, "up", join(dir, "config"), "--xds-address", `127.${OCTET}.0.1:15010`, "--monitoring-address", `127.${OCTET}.0.1:15014`, "--log-dir", join(dir, "logs"), "--state-dir", join(dir, "state")];
}

async function serving(): Promise<void> {
  const r = await httpRequest(`127.${OCTET}.1.1`, 15001, "http://web:8000/", { headers: { host: "web:8000" } });
  assert.equal(r.status, 200);
  assert.equal(r.body, `web on 127.${OCTET ^ 0x80}.1.1:8000`);
}

async function nothingLeft(): Promise<void> {
  await eventually("every process gone", () => meshProcesses().length === 0, 30_000, 100);
  await eventually("every port released", () => portsBoundOn([`127.${OCTET}.`, `127.${OCTET ^ 0x80}.`]).length === 0, 10_000, 100);
}

describe("tsmesh up and its parent", { timeout: 150_000 }, () => {
  it("the parent shell killed: up notices, stops every workload and releases every port", async () => {
    const dir = meshFolder("parent");
    // `; :` keeps the shell as up's parent (no exec), as npm stays npx's child's parent.
    const quoted = [process.execPath, ...upArgs(dir)].map((a) => `'${a}'`).join(" ");
    const shell = spawn("/bin/sh", ["-c", `${quoted}; :`], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    shell.stdout.on("data", (b: Buffer) => (output += b.toString()));
    shell.stderr.on("data", (b: Buffer) => (output += b.toString()));
    try {
      await eventually("the summary", () => output.includes("Ctrl-C stops the mesh"), 60_000);
      assert.match(output, /tsmesh up: 1 workload ready in \d+\.\d\d s/);
      assert.ok(output.includes(`  watching       ${join(dir, "config")}/ (files there are the lower layer; changes apply live)`), output);
      assert.match(output, /Change the mesh with tsmesh apply -f FILE/);
      assert.doesNotMatch(output, /Edit YAML in/);
      await serving();
      assert.ok(meshProcesses().length >= 3, "up, a proxy and an app");
      shell.kill("SIGKILL");
      await nothingLeft();
      assert.match(output, /tsmesh up: parent process exited: draining and stopping every workload\ntsmesh up: stopped/);
    } finally {
      for (const pid of meshProcesses()) process.kill(pid, "SIGKILL");
    }
  });

  it("SIGHUP (the terminal closed) stops it as Ctrl-C does, a crash-looping workload included", async () => {
    const dir = meshFolder("hup", CRASHER);
    const up = spawn(process.execPath, upArgs(dir), { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    up.stdout.on("data", (b: Buffer) => (output += b.toString()));
    up.stderr.on("data", (b: Buffer) => (output += b.toString()));
    const exit = new Promise<number | null>((r) => up.on("exit", (code) => r(code)));
    try {
      await eventually("the summary", () => output.includes("Ctrl-C stops the mesh"), 60_000);
      assert.match(output, /tsmesh up: 1 of 2 workloads ready in \d+\.\d\d s\n {2}not ready: default\/crash \(failing, retried with backoff\)\n/);
      assert.match(output, /crash app exited \(code 4\); restart in 10 s \(backoff doubling to 5 min\); the rest of the mesh keeps serving\. Last lines of \S+default\.crash\.app\.log:\n {4}no config for crash\n/);
      await serving();
      up.kill("SIGHUP");
      assert.equal(await exit, 0);
      assert.match(output, /tsmesh up: SIGHUP: draining and stopping every workload\ntsmesh up: stopped/);
      await nothingLeft();
    } finally {
      for (const pid of meshProcesses()) process.kill(pid, "SIGKILL");
    }
  });
});
