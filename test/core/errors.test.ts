// The error table and docs/errors.md list the same codes with the same severities (fastify's habit).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { MESSAGE_TYPES } from "../../src/analysis/messages.js";
import { ERROR_CODES } from "../../src/core/errors.js";
import { packageRoot } from "../../src/core/paths.js";

const doc = readFileSync(join(packageRoot(), "docs/errors.md"), "utf8");

test("every TSMESH_* code is documented with its severity, and nothing else is", () => {
  const documented = new Map([...doc.matchAll(/^\| `(TSMESH_[A-Z_]+)` \| (error|warning) \|/gm)].map((m) => [m[1], m[2]]));
  assert.deepEqual([...documented.keys()].sort(), Object.keys(ERROR_CODES).sort());
  for (const [code, info] of Object.entries(ERROR_CODES)) assert.equal(documented.get(code), info.severity, code);
});

test("every analyzer code is documented with its level and name", () => {
  const documented = new Map([...doc.matchAll(/^\| `((?:IST|TSM)\d{4})` \| (\w+) \| (\w+) \|/gm)].map((m) => [m[1], `${m[2]} ${m[3]}`]));
  assert.deepEqual([...documented.keys()].sort(), Object.keys(MESSAGE_TYPES).sort());
  for (const [code, t] of Object.entries(MESSAGE_TYPES)) assert.equal(documented.get(code), `${t.level} ${t.name}`, code);
});
