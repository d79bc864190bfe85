// What `tsmesh proxy` loads at start-up: every proxy `tsmesh up` starts pays each module it imports
// (on this machine, loading is most of a proxy's CPU to ready). The CEL implementation loads only
// when a config has an expression, and the proxy never loads the control plane's push context, generators or validation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";

const proxyModule = pathToFileURL(fileURLToPath(new URL("../../src/cli/proxy.js", import.meta.url))).href;
const celProgram = pathToFileURL(fileURLToPath(new URL("../../src/core/cel/program.js", import.meta.url))).href;

// A loader hook that records every module URL the child loads; the child prints them as JSON.
const hooks = `export async function load(url, context, next) { const r = await next(url, context); process.stderr.write("LOADED " + url + "\\n"); return r; }`;

function loadedBy(script: string): string[] {
  const register = `import { register } from "node:module"; register(${JSON.stringify("data:text/javascript," + encodeURIComponent(hooks))});`;
  const r = spawnSync(process.execPath, ["--import", `data:text/javascript,${encodeURIComponent(register)}`, "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stderr.split("\n").filter((l) => l.startsWith("LOADED ")).map((l) => l.slice("LOADED ".length));
}

test("tsmesh proxy imports neither the CEL implementation nor the control plane", () => {
  const loaded = loadedBy(`await import(${JSON.stringify(proxyModule)});`);
  assert.ok(loaded.some((u) => u.endsWith("/src/proxy/proxy.js")), "the hook saw the proxy's modules");
  const cel = loaded.filter((u) => u.includes("/@bufbuild/cel") || u.includes("/@bufbuild/protobuf"));
  assert.deepEqual(cel, [], "CEL loads on first use");
  // The node id's grammar (model/proxy) and the registry's plain types are shared; istiod's push
  // context, generators, validation and discovery are not.
  const controlPlane = loaded.filter((u) => /\/src\/(xds|controlplane|api)\/|\/src\/model\/(?!proxy\.js)/.test(u));
  assert.deepEqual(controlPlane, [], "the proxy imports none of the control plane's modules");
});

test("the first CEL expression compiled loads the implementation, synchronously", () => {
  const r = spawnSync(
    process.execPath,
    ["--input-type=module", "-e", `const { compileCel } = await import(${JSON.stringify(celProgram)}); const p = compileCel("1 + 2 == 3"); console.log(String(p.eval({ resolve: () => undefined })));`],
    { encoding: "utf8", timeout: 60_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), "true");
});
