// The watched folder, with real files in a temp folder: edits, additions, removals and renames reach
// the store through the file-system watch alone (the safety-net poll is off); a bad edit is reported
// and the last good version stays; a fix applies. How fast is the benchmark's business, not the
// tests': the bound below only stops a test that would otherwise wait forever.
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { DirectorySource, type FileReport } from "../../src/config/directory.js";
import { ConfigStore, type ChangeBatch } from "../../src/config/store.js";

const dr = (name: string, host: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ${name}
spec:
  host: ${host}
`;

let dir: string;
let store: ConfigStore;
let source: DirectorySource;
let reports: FileReport[];
let batches: ChangeBatch[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tsmesh-watch-"));
  store = new ConfigStore();
  reports = [];
  batches = [];
  store.subscribe((b) => batches.push(b));
});

afterEach(() => {
  source?.close();
  rmSync(dir, { recursive: true, force: true });
});

function start(): FileReport[] {
  // The poll is off so only the file-system watch can deliver changes.
  source = new DirectorySource(dir, store, { pollMs: 0, onReport: (r) => reports.push(r) });
  return source.start();
}

/** Resolves as soon as `cond` holds; fails after a bound generous enough for a loaded machine. */
async function watched(what: string, cond: () => boolean): Promise<void> {
  const ms = 10_000;
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const host = (name: string) => (store.get("DestinationRule", "default", name)?.spec as { host?: string } | undefined)?.host;

test("loads a folder tree, then follows edits, additions, removals and renames", async () => {
  mkdirSync(join(dir, "nested"));
  writeFileSync(join(dir, "a.yaml"), dr("a", "reviews"));
  writeFileSync(join(dir, "nested", "b.yml"), dr("b", "ratings"));
  writeFileSync(join(dir, "notes.txt"), "not config");
  assert.deepEqual(start(), []);
  assert.equal(store.size, 2);
  const v0 = store.currentVersion;

  writeFileSync(join(dir, "a.yaml"), dr("a", "reviews.prod.svc.cluster.local"));
  await watched("edit applied", () => host("a") === "reviews.prod.svc.cluster.local");
  assert.ok(store.currentVersion > v0);
  assert.equal(batches.at(-1)?.changes[0].type, "updated");

  writeFileSync(join(dir, "nested", "c.json"), JSON.stringify({ apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: { name: "c" }, spec: { host: "details" } }));
  await watched("new file added", () => host("c") === "details");

  rmSync(join(dir, "nested", "b.yml"));
  await watched("removed file deleted", () => host("b") === undefined);
  assert.equal(batches.at(-1)?.changes[0].type, "deleted");

  renameSync(join(dir, "a.yaml"), join(dir, "nested", "renamed.yaml"));
  await watched("renamed file still applied", () => reports.some((r) => r.file.endsWith("renamed.yaml") && r.status === "applied"));
  assert.equal(host("a"), "reviews.prod.svc.cluster.local");
});

test("a bad edit is reported and the last good version stays; fixing the file applies it", async () => {
  writeFileSync(join(dir, "rules.yaml"), dr("r1", "reviews") + "---\n" + dr("r2", "ratings"));
  start();
  assert.equal(store.size, 2);
  const v = store.currentVersion;

  // One document turns invalid, the other changes validly: nothing of the file is applied.
  writeFileSync(join(dir, "rules.yaml"), dr("r1", "reviews.v2") + "---\n" + dr("r2", "ratings").replace("host: ratings", "host: [not, a, host]"));
  await watched("bad edit reported", () => reports.some((r) => r.status === "rejected"));
  const bad = reports.find((r) => r.status === "rejected")!;
  assert.equal(bad.keptLastGood, true);
  const err = bad.results.find((r) => !r.valid)!;
  assert.equal(err.index, 1);
  assert.equal(err.diagnostics[0].path, "spec.host");
  assert.equal(store.currentVersion, v, "no change may be applied from a file with errors");
  assert.equal(host("r1"), "reviews");
  assert.equal(host("r2"), "ratings");

  writeFileSync(join(dir, "rules.yaml"), "this: [is not yaml");
  await watched("syntax error reported", () => reports.filter((r) => r.status === "rejected").length >= 2);
  assert.equal(reports.at(-1)?.results[0].diagnostics[0].code, "TSMESH_YAML_SYNTAX");
  assert.equal(store.size, 2);

  writeFileSync(join(dir, "rules.yaml"), dr("r1", "reviews.v2") + "---\n" + dr("r2", "ratings.v2"));
  await watched("fix applied", () => host("r1") === "reviews.v2" && host("r2") === "ratings.v2");
  assert.equal(reports.at(-1)?.status, "applied");
  assert.deepEqual(source.problems(), []);
});

test("a new file that is invalid from the start contributes nothing and is reported", async () => {
  start();
  writeFileSync(join(dir, "new.yaml"), dr("n", "x").replace("kind: DestinationRule", "kind: DestinationRul"));
  await watched("reported", () => reports.some((r) => r.status === "rejected"));
  assert.equal(store.size, 0);
  assert.equal(reports.at(-1)?.keptLastGood, false);
  assert.equal(source.problems().length, 1);
});

test("the same resource in two files: the first (by path) wins, the copy is reported once", async () => {
  writeFileSync(join(dir, "1.yaml"), dr("same", "first"));
  writeFileSync(join(dir, "2.yaml"), dr("same", "second"));
  start();
  assert.equal(host("same"), "first");
  const dups = reports.filter((r) => r.results.some((x) => x.diagnostics.some((d) => d.code === "TSMESH_DUPLICATE_RESOURCE")));
  assert.equal(dups.length, 1);
  assert.match(dups[0].file, /2\.yaml$/);
  // The copy's position, although a valid file keeps no per-document results: metadata.name's line and column.
  const copy = dups[0].results[0];
  assert.deepEqual([copy.line, copy.lineOf?.("metadata.name"), copy.columnOf?.("metadata.name")], [1, 4, 3]);
  writeFileSync(join(dir, "3.yaml"), dr("other", "x"));
  await watched("third file", () => host("other") === "x");
  assert.equal(reports.filter((r) => r.results.some((x) => x.diagnostics.some((d) => d.code === "TSMESH_DUPLICATE_RESOURCE"))).length, 1);
});

test("re-saving a file unchanged does not bump the store version", async () => {
  writeFileSync(join(dir, "a.yaml"), dr("a", "x"));
  start();
  const v = store.currentVersion;
  writeFileSync(join(dir, "a.yaml"), dr("a", "x"));
  writeFileSync(join(dir, "b.yaml"), dr("b", "y"));
  await watched("b applied", () => host("b") === "y");
  assert.equal(store.currentVersion, v + 1);
  assert.deepEqual(batches.at(-1)?.changes.map((c) => c.name), ["b"]);
});

test("close() stops watching and leaves no timers behind", async () => {
  writeFileSync(join(dir, "a.yaml"), dr("a", "x"));
  start();
  source.close();
  writeFileSync(join(dir, "a.yaml"), dr("a", "changed"));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(host("a"), "x");
});

test("follows repeated rename-and-replace saves (editors, kubectl-style atomic writes), also in new subfolders", async () => {
  writeFileSync(join(dir, "a.yaml"), dr("a", "v0"));
  start();
  const save = (file: string, text: string) => {
    writeFileSync(join(dir, ".tmp"), text);
    renameSync(join(dir, ".tmp"), file);
  };
  for (let i = 1; i <= 4; i++) {
    save(join(dir, "a.yaml"), dr("a", `v${i}`));
    await watched(`save ${i} applied`, () => host("a") === `v${i}`);
  }
  mkdirSync(join(dir, "later"));
  // A file saved before the rescan that follows the new folder would be found by that rescan; one
  // saved after it by the folder's own watch. Wait for the watch so the second case is the one tested.
  const watchers = (source as unknown as { watch: { watchers: Map<string, unknown> } }).watch.watchers;
  await watched("the new folder watched", () => watchers.has(join(dir, "later")));
  save(join(dir, "later", "b.yaml"), dr("b", "first"));
  await watched("file in a new folder applied", () => host("b") === "first");
  save(join(dir, "later", "b.yaml"), dr("b", "second"));
  await watched("second save in the new folder applied", () => host("b") === "second");
});

test("a file that is not config, written constantly (a log in the folder), does not hold edits back", async () => {
  writeFileSync(join(dir, "a.yaml"), dr("a", "v0"));
  start();
  const log = join(dir, "access.log");
  let writing = true;
  const appender = (async () => {
    while (writing) {
      appendFileSync(log, "a line\n");
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  try {
    for (let i = 1; i <= 3; i++) {
      writeFileSync(join(dir, "a.yaml"), dr("a", `v${i}`));
      await watched(`edit ${i} applied while the log grows`, () => host("a") === `v${i}`);
    }
  } finally {
    writing = false;
    await appender;
  }
});
