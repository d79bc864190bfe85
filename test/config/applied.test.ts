// The applied layer: Kubernetes metadata semantics, created/configured/unchanged, all-or-nothing
// validation, persistence across a new instance (a restart), and its place above the folder layers.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { AppliedLayer, APPLIED_SOURCE, refsOf } from "../../src/config/applied.js";
import { ConfigStore } from "../../src/config/store.js";
import { packageRoot } from "../../src/core/paths.js";

// Istio's request-routing task: all four services to v1, then reviews (same name) to v2 for jason.
const NETWORKING = join(packageRoot(), "samples/bookinfo/networking");
const ALL_V1 = readFileSync(join(NETWORKING, "virtual-service-all-v1.yaml"), "utf8");
const REVIEWS_V2 = readFileSync(join(NETWORKING, "virtual-service-reviews-test-v2.yaml"), "utf8");
const ALL_NAMES = ["productpage", "reviews", "ratings", "details"];

function fixture(): { stateDir: string; store: ConfigStore; layer: AppliedLayer; done: () => void } {
  const stateDir = mkdtempSync(join(tmpdir(), "tsmesh-applied-"));
  const store = new ConfigStore();
  let t = Date.parse("2026-01-02T03:04:05.678Z");
  const layer = new AppliedLayer(store, { stateDir, now: () => new Date((t += 1000)) });
  layer.load();
  return { stateDir, store, layer, done: () => rmSync(stateDir, { recursive: true, force: true }) };
}

test("apply creates, configures and leaves unchanged, with Kubernetes metadata", () => {
  const f = fixture();
  try {
    const first = f.layer.apply(ALL_V1, "all-v1.yaml");
    assert.ok(first.ok);
    assert.deepEqual(first.changes.map((c) => [c.resource.metadata.name, c.outcome]), ALL_NAMES.map((n) => [n, "created"]));
    const created = f.layer.get("VirtualService", "default", "reviews")!;
    assert.equal(created.metadata.generation, 1);
    assert.equal(created.metadata.resourceVersion, "2");
    assert.match(created.metadata.uid!, /^[0-9a-f-]{36}$/);
    // One apply request is one moment: every object it creates carries the same time.
    assert.equal(created.metadata.creationTimestamp, "2026-01-02T03:04:06Z");
    assert.equal(f.layer.get("VirtualService", "default", "ratings")!.metadata.resourceVersion, "3");
    assert.notEqual(f.layer.get("VirtualService", "default", "ratings")!.metadata.uid, created.metadata.uid);

    // Same content again: unchanged, nothing advances, no store batch.
    const before = f.store.currentVersion;
    const again = f.layer.apply(ALL_V1, "all-v1.yaml");
    assert.ok(again.ok);
    assert.deepEqual(again.changes.map((c) => c.outcome), ["unchanged", "unchanged", "unchanged", "unchanged"]);
    assert.equal(f.store.currentVersion, before);

    // Same name, new spec (Istio's request-routing task): configured, generation 2, same uid.
    const v2 = f.layer.apply(REVIEWS_V2, "test-v2.yaml");
    assert.ok(v2.ok);
    assert.deepEqual(v2.changes.map((c) => c.outcome), ["configured"]);
    const replaced = f.layer.get("VirtualService", "default", "reviews")!;
    assert.equal(replaced.metadata.generation, 2);
    assert.equal(replaced.metadata.resourceVersion, "5");
    assert.equal(replaced.metadata.uid, created.metadata.uid);
    assert.equal(replaced.metadata.creationTimestamp, created.metadata.creationTimestamp);
    assert.equal(f.store.get("VirtualService", "default", "reviews")!.spec.http!.length, 2);

    // A label change is a new resourceVersion, not a new generation.
    const labelled = f.layer.apply(REVIEWS_V2.replace("  name: reviews\n", "  name: reviews\n  labels: {team: a}\n"), "x.yaml");
    assert.ok(labelled.ok);
    assert.equal(f.layer.get("VirtualService", "default", "reviews")!.metadata.generation, 2);
    assert.equal(f.layer.get("VirtualService", "default", "reviews")!.metadata.resourceVersion, "6");

    // Server-owned fields a client sends (e.g. from `get -o yaml`) are the server's to set; a current
    // resourceVersion passes.
    const echoed = f.layer.apply(REVIEWS_V2.replace("  name: reviews\n", "  name: reviews\n  labels: {team: a}\n  generation: 9\n  resourceVersion: '6'\n  creationTimestamp: '2020-01-01T00:00:00Z'\n"), "x.yaml");
    assert.ok(echoed.ok, JSON.stringify(echoed));
    assert.equal(f.layer.get("VirtualService", "default", "reviews")!.metadata.generation, 2);
    assert.equal(f.layer.get("VirtualService", "default", "reviews")!.metadata.uid, created.metadata.uid);
    assert.equal(f.layer.get("VirtualService", "default", "reviews")!.metadata.creationTimestamp, created.metadata.creationTimestamp);
  } finally {
    f.done();
  }
});

test("a rejected apply changes nothing, and names file, line and field as validate does", () => {
  const f = fixture();
  try {
    assert.ok(f.layer.apply(ALL_V1, "all-v1.yaml").ok);
    const version = f.store.currentVersion;
    const files = readdirSync(join(f.stateDir, "applied")).sort();
    const bad = REVIEWS_V2 + "---\n" + ALL_V1.split("---\n")[2].replace("  hosts:", "  htp: []\n  hosts:");
    const r = f.layer.apply(bad, "mixed.yaml");
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.errors.some((e) => /^mixed\.yaml:27:3 \(document 1\) VirtualService default\/ratings: spec\.htp: Unknown field .*\[TSMESH_SCHEMA_UNKNOWN_FIELD\]/.test(e)), JSON.stringify(r));
    // The valid first document was not stored either.
    assert.equal(f.store.get("VirtualService", "default", "reviews")!.spec.http!.length, 1);
    assert.equal(f.store.currentVersion, version);
    assert.deepEqual(readdirSync(join(f.stateDir, "applied")).sort(), files);
    const unknown = f.layer.apply("apiVersion: v1\nkind: Servce\nmetadata: {name: x}\n", "svc.yaml");
    assert.ok(!unknown.ok && /TSMESH_UNKNOWN_KIND/.test(unknown.errors[0]));
    const empty = f.layer.apply("# nothing\n", "empty.yaml");
    assert.ok(!empty.ok && /no objects passed to apply/.test(empty.errors[0]));
  } finally {
    f.done();
  }
});

test("dry run validates and reports outcomes without storing", () => {
  const f = fixture();
  try {
    const r = f.layer.apply(ALL_V1, "all-v1.yaml", { dryRun: true });
    assert.ok(r.ok);
    assert.deepEqual(r.changes.map((c) => c.outcome), ["created", "created", "created", "created"]);
    assert.equal(f.layer.list().length, 0);
    assert.equal(f.store.size, 0);
  } finally {
    f.done();
  }
});

test("persisted under applied/ (0700, one 0600 file per resource) and restored by a new instance", () => {
  const f = fixture();
  try {
    assert.ok(f.layer.apply(ALL_V1, "all-v1.yaml").ok);
    assert.ok(f.layer.apply(REVIEWS_V2, "test-v2.yaml").ok);
    const dir = join(f.stateDir, "applied");
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const files = readdirSync(dir).filter((n) => n.endsWith(".yaml")).sort();
    assert.deepEqual(files, ALL_NAMES.map((n) => `VirtualService.default.${n}.yaml`).sort());
    for (const n of files) assert.equal(statSync(join(dir, n)).mode & 0o777, 0o600);
    assert.ok(!readdirSync(dir).some((n) => n.endsWith(".tmp")));

    // A restart: a new store and layer over the same state folder.
    const store = new ConfigStore();
    const restarted = new AppliedLayer(store, { stateDir: f.stateDir });
    assert.deepEqual(restarted.load(), []);
    const reviews = store.get("VirtualService", "default", "reviews")!;
    assert.equal(reviews.spec.http!.length, 2);
    assert.equal(store.sourceOf("VirtualService", "default", "reviews"), APPLIED_SOURCE);
    const kept = restarted.get("VirtualService", "default", "reviews")!;
    assert.equal(kept.metadata.generation, 2);
    assert.equal(kept.metadata.uid, f.layer.get("VirtualService", "default", "reviews")!.metadata.uid);
    // The mesh-wide counter continues after the restart (deletes advanced it too).
    assert.equal(restarted.delete([{ kind: "VirtualService", namespace: "default", name: "ratings" }]).deleted.length, 1);
    const after = restarted.apply(ALL_V1, "all-v1.yaml");
    assert.ok(after.ok);
    // Re-applying all-v1 creates ratings (7) and puts reviews back to v1 (8).
    assert.equal(restarted.get("VirtualService", "default", "ratings")!.metadata.resourceVersion, "8");

    // A stored file that no longer validates is reported and left out, the rest restored.
    writeFileSync(join(dir, "VirtualService.default.broken.yaml"), "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: broken}\nspec: {hosts: 7}\n");
    const third = new AppliedLayer(new ConfigStore(), { stateDir: f.stateDir });
    const problems = third.load();
    assert.equal(problems.length, 1);
    assert.match(problems[0], /VirtualService\.default\.broken\.yaml:4:8 .*spec\.hosts/);
    assert.equal(third.list().length, 4);
  } finally {
    f.done();
  }
});

test("applied copies shadow the folder layers' and uncover them when deleted", () => {
  const f = fixture();
  try {
    f.store.addSource("config:0:dir", 0);
    f.store.replaceSource("config:0:dir", [
      { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "reviews", namespace: "default" }, spec: { hosts: ["reviews"], http: [{ route: [{ destination: { host: "reviews", subset: "v3" } }] }] } },
    ]);
    assert.ok(f.layer.apply(REVIEWS_V2, "v2.yaml").ok);
    assert.equal(f.store.sourceOf("VirtualService", "default", "reviews"), APPLIED_SOURCE);
    assert.equal(f.store.get("VirtualService", "default", "reviews")!.spec.http!.length, 2);
    const d = f.layer.delete(refsOf(REVIEWS_V2, "v2.yaml").refs);
    assert.equal(d.deleted.length, 1);
    assert.equal(f.store.sourceOf("VirtualService", "default", "reviews"), "config:0:dir");
    assert.equal(f.store.get("VirtualService", "default", "reviews")!.spec.http![0].route![0].destination.subset, "v3");
    const again = f.layer.delete(refsOf(REVIEWS_V2, "v2.yaml").refs);
    assert.deepEqual(again.notFound, [{ apiVersion: "networking.istio.io/v1", kind: "VirtualService", namespace: "default", name: "reviews" }]);
    assert.ok(!readFileSync(join(f.stateDir, "applied", ".resource-version"), "utf8").includes("NaN"));
  } finally {
    f.done();
  }
});

test("refsOf names each document's resource and reports the ones it cannot", () => {
  const { refs, errors } = refsOf(`${ALL_V1}---\nkind: VirtualService\nmetadata: {name: x}\n---\n{ bad: [\n---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g, namespace: other}\n`, "f.yaml", "prod");
  assert.deepEqual(refs.map((r) => `${r.kind}/${r.namespace}/${r.name}`), ALL_NAMES.map((n) => `VirtualService/prod/${n}`));
  assert.equal(errors.length, 3);
  assert.match(errors[0], /f\.yaml:\d+ \(document 5\): needs apiVersion, kind and metadata\.name/);
  assert.match(errors[2], /the namespace from the provided object "other" does not match the namespace "prod"/);
});

test("apply takes Kubernetes Services (Istio's bookinfo-versions.yaml) and skips other Kubernetes kinds with one warning each", () => {
  const f = fixture();
  try {
    const versions = readFileSync(join(packageRoot(), "samples/bookinfo/platform/kube/bookinfo-versions.yaml"), "utf8");
    const deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: reviews-v1 }\nspec: {}\n---\n";
    const r = f.layer.apply(deployment + versions, "bookinfo-versions.yaml");
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.changes.map((c) => [c.resource.kind, c.resource.metadata.name, c.outcome]).slice(0, 2), [["Service", "reviews-v1", "created"], ["Service", "reviews-v2", "created"]]);
    assert.equal(r.changes.length, 6);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0], /Deployment default\/reviews-v1: warning: not read: tsmesh runs workloads from WorkloadEntries/);
    const svc = f.store.get("Service", "default", "reviews-v2")!;
    assert.deepEqual(svc.spec.selector, { app: "reviews", version: "v2" });
    assert.equal(svc.spec.type, "ClusterIP", "defaulted as the API server defaults it");
    assert.equal(svc.spec.ports![0].protocol, "TCP");
    assert.deepEqual(readdirSync(join(f.stateDir, "applied")).filter((n) => n.startsWith("Service.")).length, 6);
    assert.deepEqual(f.layer.delete([{ kind: "Service", namespace: "default", name: "reviews-v3" }]).deleted.map((d) => d.metadata.name), ["reviews-v3"]);
    assert.equal(f.store.get("Service", "default", "reviews-v3"), undefined);
    const bad = f.layer.apply(versions.replace("- port: 9080\n    name: http\n  selector:\n    app: reviews\n    version: v1", "- port: 0\n    name: http\n  selector:\n    app: reviews\n    version: v1"), "bad.yaml");
    assert.ok(!bad.ok);
    assert.match(bad.errors.join("\n"), /^bad\.yaml:7:\d+ .*Service default\/reviews-v1: spec\.ports\[0\]\.port: Invalid value: 0: must be between 1 and 65535, inclusive/m);
  } finally {
    f.done();
  }
});
