// The registry of running meshes: atomic mesh.json, stale records (dead pid) ignored, and findMesh's
// choice between one, several and no running meshes.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { checkMeshName, findMesh, listMeshes, meshWorkload, pidAlive, processStartTime, readMesh, recordAlive, removeMesh, writeMesh, type MeshRecord } from "../../src/local/registry.js";

const root = mkdtempSync(join(tmpdir(), "tsmesh-registry-"));
after(() => rmSync(root, { recursive: true, force: true }));

function record(name: string, pid: number): MeshRecord {
  return {
    name,
    pid,
    startedAt: new Date(0).toISOString(),
    tsmeshVersion: "0.0.0",
    stateDir: join(root, name),
    configDirs: ["/cfg"],
    apiSocket: join(root, name, "api.sock"),
    xds: "127.0.0.1:15010",
    monitoring: "http://127.0.0.1:15014",
    workloads: [{ name: "reviews-v1", namespace: "default", role: "sidecar", address: "127.0.3.1", adminPort: 15000, proxyId: "sidecar~127.0.3.1~reviews-v1.default~default.svc.cluster.local", state: "ready" }],
  };
}

// Pids chosen by the test: 1000 and 1001 "alive", anything else dead.
const alive = (r: { pid: number }) => r.pid === 1000 || r.pid === 1001;

describe("mesh registry", () => {
  it("writes mesh.json atomically (no temp file left) and reads it back", () => {
    writeMesh(record("one", 1000));
    assert.deepEqual(readdirSync(join(root, "one")), ["mesh.json"]);
    assert.equal(readMesh(join(root, "one"), alive)?.name, "one");
  });

  it("ignores a record whose pid is dead, and unreadable files", () => {
    writeMesh(record("stale", 4242));
    assert.equal(readMesh(join(root, "stale"), alive), undefined);
    mkdirSync(join(root, "garbage"));
    writeFileSync(join(root, "garbage", "mesh.json"), "{not json");
    assert.deepEqual(
      listMeshes(root, alive).map((m) => m.name),
      ["one"],
    );
  });

  it("findMesh: the only one; several need --name; --state-dir and --name pick", () => {
    const one = findMesh({ root, alive });
    assert.ok(!(one instanceof Error) && one.name === "one");
    writeMesh(record("two", 1001));
    const several = findMesh({ root, alive });
    assert.ok(several instanceof Error);
    assert.match(several.message, /2 meshes are running \(one, two\): choose one with --name/);
    const two = findMesh({ root, alive, name: "two" });
    assert.ok(!(two instanceof Error) && two.pid === 1001);
    const byDir = findMesh({ root, alive, stateDir: join(root, "one") });
    assert.ok(!(byDir instanceof Error) && byDir.name === "one");
    const wrong = findMesh({ root, alive, stateDir: join(root, "one"), name: "two" });
    assert.ok(wrong instanceof Error && /is "one", not "two"/.test(wrong.message));
    const missing = findMesh({ root, alive, name: "three" });
    assert.ok(missing instanceof Error && /no running mesh named "three" \(running: one, two\)/.test(missing.message));
    const none = findMesh({ root: join(root, "nowhere"), alive });
    assert.ok(none instanceof Error && /no running mesh found/.test(none.message));
    const staleDir = findMesh({ root, alive, stateDir: join(root, "stale") });
    assert.ok(staleDir instanceof Error);
  });

  it("removeMesh removes only this process's record", () => {
    removeMesh(join(root, "two"), 999);
    assert.ok(readMesh(join(root, "two"), alive));
    removeMesh(join(root, "two"), 1001);
    assert.equal(readMesh(join(root, "two"), alive), undefined);
  });

  it("finds a workload by name, namespace/name, NAME.NS, address or node id", () => {
    const m = record("x", 1000);
    for (const ref of ["reviews-v1", "default/reviews-v1", "reviews-v1.default", "127.0.3.1", m.workloads[0].proxyId]) assert.equal(meshWorkload(m, ref)?.name, "reviews-v1", ref);
    assert.equal(meshWorkload(m, "reviews"), undefined);
  });

  it("mesh names are folder names; this process is alive, pid 0 and negatives are not", () => {
    for (const ok of ["default", "a", "demo-2", "x.y_z"]) assert.equal(checkMeshName(ok), undefined, ok);
    for (const bad of ["", "../up", "a/b", "-x", ".hidden", "x".repeat(64)]) assert.ok(checkMeshName(bad), bad);
    assert.equal(pidAlive(process.pid), true);
    // A record of this process is live; the same pid with another start time is a reused pid, stale.
    const start = processStartTime(process.pid);
    assert.equal(recordAlive({ pid: process.pid, pidStartTime: start }), true);
    if (start !== undefined) assert.equal(recordAlive({ pid: process.pid, pidStartTime: String(Number(start) + 1) }), false);
    assert.equal(pidAlive(0), false);
    assert.equal(pidAlive(-1), false);
  });
});
