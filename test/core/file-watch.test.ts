// A watched file: changes seen through fs.watch (written in place, replaced by a rename, a
// Kubernetes-style `..data` symlink swap) and through the poll alone; the callback only for new
// content; a missing file reported once, its previous content kept, and its return noticed.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { FileWatch } from "../../src/core/file-watch.js";
import { eventually } from "../helpers/eventually.js";

const tmp = mkdtempSync(join(tmpdir(), "tsmesh-file-watch-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function watched(name: string, o: { pollMs: number; debounceMs: number }) {
  const dir = join(tmp, name);
  mkdirSync(dir);
  const file = join(dir, "root-cert.pem");
  writeFileSync(file, "v0");
  const seen: string[] = [];
  const errors: string[] = [];
  const w = new FileWatch(file, "v0", (t) => seen.push(t), { ...o, onError: (m) => errors.push(m) });
  return { dir, file, seen, errors, w };
}

describe("a watched file", () => {
  it("through fs.watch: written in place, replaced by a rename; the same content again is no change", async () => {
    const { dir, file, seen, w } = watched("events", { pollMs: 3600_000, debounceMs: 20 });
    writeFileSync(file, "v1");
    await eventually("v1", () => seen.includes("v1"));
    writeFileSync(join(dir, ".tmp"), "v2");
    renameSync(join(dir, ".tmp"), file);
    await eventually("v2", () => seen.includes("v2"));
    writeFileSync(file, "v2");
    writeFileSync(file, "v3");
    await eventually("v3", () => seen.includes("v3"));
    assert.deepEqual(seen, ["v1", "v2", "v3"]);
    w.close();
  });

  it("through fs.watch: a ConfigMap-style symlink swap (the file links to ..data/, ..data is replaced)", async () => {
    const dir = join(tmp, "configmap");
    mkdirSync(join(dir, "..2024_1"), { recursive: true });
    writeFileSync(join(dir, "..2024_1", "root-cert.pem"), "old");
    symlinkSync("..2024_1", join(dir, "..data"));
    symlinkSync(join("..data", "root-cert.pem"), join(dir, "root-cert.pem"));
    const seen: string[] = [];
    const w = new FileWatch(join(dir, "root-cert.pem"), "old", (t) => seen.push(t), { pollMs: 3600_000, debounceMs: 20 });
    mkdirSync(join(dir, "..2024_2"));
    writeFileSync(join(dir, "..2024_2", "root-cert.pem"), "new");
    symlinkSync("..2024_2", join(dir, "..data_tmp"));
    renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
    await eventually("the swapped content", () => seen.includes("new"));
    w.close();
  });

  it("through the poll alone (no event acted on)", async () => {
    const { file, seen, w } = watched("poll", { pollMs: 30, debounceMs: 3600_000 });
    writeFileSync(file, "polled, longer");
    await eventually("the polled content", () => seen.includes("polled, longer"));
    w.close();
  });

  it("missing for a while: reported once, then its return is a change", async () => {
    const { file, seen, errors, w } = watched("missing", { pollMs: 30, debounceMs: 20 });
    unlinkSync(file);
    await eventually("the error", () => errors.length > 0);
    await new Promise((r) => setTimeout(r, 200)); // several polls while it is gone
    assert.equal(errors.length, 1, errors.join("\n"));
    assert.match(errors[0], /root-cert\.pem: the file cannot be read; keeping its previous content/);
    writeFileSync(file, "back");
    await eventually("its return", () => seen.includes("back"));
    assert.deepEqual(seen, ["back"]);
    w.close();
  });
});
