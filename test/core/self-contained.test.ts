// The suite runs from a clean clone: no test names a path on the developer's machine or a folder
// beside the repository (its inputs live under test/fixtures and samples/), and a test that needs
// something outside fails under CI=true instead of skipping (test/helpers/outside.ts).
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import { needsOutside } from "../helpers/outside.js";

const root = packageRoot();

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

// Built from pieces so this file does not match itself.
const FORBIDDEN: Array<[RegExp, string]> = [
  [new RegExp(`["'\`]/${"work"}/`), "an absolute path on the developer's machine"],
  [new RegExp(`["'\`]/(${"root"}|${"home"}|${"tmp"})/`), "an absolute machine path (use os.tmpdir() or packageRoot())"],
  [new RegExp(`\\.\\./${"shared"}\\b|["']${"shared"}["'],\\s*["']istio["']`), "the folder beside the repository (copy the input under test/fixtures)"],
];

test("no test reads a path outside the repository", () => {
  const files = sources(join(root, "test"));
  assert.ok(files.length > 50, `found ${files.length} test sources`);
  const found: string[] = [];
  for (const f of files) {
    readFileSync(f, "utf8")
      .split("\n")
      .forEach((line, i) => {
        for (const [re, why] of FORBIDDEN) if (re.test(line)) found.push(`${relative(root, f)}:${i + 1}: ${why}: ${line.trim()}`);
      });
  }
  assert.deepEqual(found, []);
});

test("needsOutside: goes on when present, skips locally, fails under CI=true naming what is missing", () => {
  const skipped: string[] = [];
  const t = { skip: (why?: string) => void skipped.push(why ?? "") };
  assert.equal(needsOutside(t, true, "python3-grpcio", { CI: "true" }), true);
  assert.equal(needsOutside(t, false, "python3-grpcio", {}), false);
  assert.deepEqual(skipped, ["python3-grpcio is not there"]);
  assert.throws(() => needsOutside(t, false, "python3-grpcio", { CI: "true" }), /needs python3-grpcio, which is not there \(CI=true/);
  assert.equal(skipped.length, 1);
});
