// writeFileAtomic on real files: content and mode whatever the umask, replacement of an existing
// file, a failed write that leaves the target and no temporary file behind, a link planted at the
// temporary name never written through, and durable writes.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { atomicTempName, writeFileAtomic } from "../../src/core/atomic-file.js";

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "tsmesh-atomic-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("writeFileAtomic", () => {
  it("writes the content with the mode asked for, whatever the umask (table)", () => {
    const old = process.umask(0o077);
    try {
      const table: Array<[string, number | undefined, boolean, number]> = [
        ["default", undefined, false, 0o600],
        ["world-readable", 0o644, false, 0o644],
        ["durable", 0o640, true, 0o640],
      ];
      for (const [name, mode, durable, want] of table) {
        const f = join(dir, `${name}.txt`);
        writeFileAtomic(f, `${name}\n`, { mode, durable });
        assert.equal(readFileSync(f, "utf8"), `${name}\n`, name);
        assert.equal(statSync(f).mode & 0o777, want, name);
      }
    } finally {
      process.umask(old);
    }
  });

  it("replaces an existing file (bytes too) and leaves no temporary file", () => {
    const f = join(dir, "replace.bin");
    writeFileSync(f, "old content, longer than the new one");
    writeFileAtomic(f, new Uint8Array([1, 2, 3]), { durable: true });
    assert.deepEqual([...readFileSync(f)], [1, 2, 3]);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith(".tmp")),
      [],
    );
  });

  it("a failed rename leaves the target as it was and removes the temporary file", () => {
    const target = join(dir, "a-folder");
    mkdirSync(target);
    writeFileSync(join(target, "inside"), "x");
    assert.throws(() => writeFileAtomic(target, "new"), (e: NodeJS.ErrnoException) => ["EISDIR", "ENOTEMPTY", "EEXIST"].includes(e.code ?? ""));
    assert.ok(statSync(target).isDirectory());
    assert.equal(existsSync(atomicTempName(target)), false);
  });

  it("a missing folder is an error, nothing written", () => {
    assert.throws(() => writeFileAtomic(join(dir, "no-such", "f"), "x"), (e: NodeJS.ErrnoException) => e.code === "ENOENT");
  });

  it("a link planted at the temporary name is replaced, not written through", () => {
    const victim = join(dir, "victim");
    writeFileSync(victim, "keep me");
    const f = join(dir, "linked");
    symlinkSync(victim, atomicTempName(f));
    writeFileAtomic(f, "mine");
    assert.equal(readFileSync(victim, "utf8"), "keep me");
    assert.equal(readFileSync(f, "utf8"), "mine");
    assert.equal(statSync(f).isFile(), true);
  });
});
