// `tsmesh up`'s default credentials folder: `credentials/` beside the config folder, only when it is
// a folder that exists.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { defaultCredentialsDir } from "../../src/local/mesh.js";

test("up: credentials/ beside the config folder is the default credentials folder, when it exists", () => {
  const root = mkdtempSync(join(tmpdir(), "tsmesh-up-creds-"));
  try {
    mkdirSync(join(root, "mesh"));
    assert.equal(defaultCredentialsDir(join(root, "mesh")), undefined);
    writeFileSync(join(root, "credentials"), "a file, not a folder");
    assert.equal(defaultCredentialsDir(join(root, "mesh")), undefined);
    rmSync(join(root, "credentials"));
    mkdirSync(join(root, "credentials"));
    assert.equal(defaultCredentialsDir(join(root, "mesh")), join(root, "credentials"));
    // A trailing slash names the same folder.
    assert.equal(defaultCredentialsDir(join(root, "mesh") + "/"), join(root, "credentials"));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
