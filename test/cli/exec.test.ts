// `tsmesh exec WORKLOAD --config DIR -- COMMAND` as a user runs it: the command gets the workload's
// own variables exactly as `up` gives its app (command-line.ts's workloadVariables), the rest of the
// caller's environment, and its exit code passed through.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import { workloadVariables } from "../../src/local/command-line.js";

const bin = join(packageRoot(), "dist/src/cli/bin.js");
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "tsmesh-exec-"));
  writeFileSync(
    join(dir, "we.yaml"),
    "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata:\n  name: sleep\n  namespace: shop\n  labels: {app: sleep}\nspec:\n  address: 127.0.36.7\n  serviceAccount: sleeper\n",
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

it("the command sees the workload's variables as up's apps do, and the caller's own", () => {
  const want = workloadVariables({ name: "sleep", namespace: "shop", address: "127.0.36.7", proxyUrl: "http://127.0.36.7:15001" });
  const names = [...Object.keys(want), "HOST", "PORT", "TSMESH_EXEC_TEST"];
  const script = `const o = {}; for (const n of ${JSON.stringify(names)}) if (process.env[n] !== undefined) o[n] = process.env[n]; console.log(JSON.stringify(o));`;
  const env: NodeJS.ProcessEnv = { ...process.env, TSMESH_EXEC_TEST: "kept", HTTP_PROXY: "http://caller:1" };
  delete env.HOST;
  delete env.PORT;
  const r = spawnSync(process.execPath, [bin, "exec", "shop/sleep", "--config", dir, "--", process.execPath, "-e", script], { encoding: "utf8", env });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout) as Record<string, string>, { ...want, TSMESH_EXEC_TEST: "kept" }, "the workload's proxy wins over the caller's; no app HOST/PORT");
  const code = spawnSync(process.execPath, [bin, "exec", "sleep", "--config", dir, "--", process.execPath, "-e", "process.exit(7)"]);
  assert.equal(code.status, 7);
});
