// Istio's own validation test data and samples: every -valid document accepted, every -invalid one
// rejected for the reason Istio gives (its `_err` text appears in our message for that field).
// The inputs are copies in the repository (test/fixtures/istio, samples/).
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseDocuments } from "../../src/api/parse.js";
import { validateObject, validateText } from "../../src/api/validate.js";
import { validateDocument } from "../../src/config/files.js";
import { packageRoot } from "../../src/core/paths.js";

const fixtures = join(packageRoot(), "test", "fixtures", "istio");
const testdata = join(fixtures, "validation-testdata");

function* testdataDocs(suffix: string) {
  for (const f of readdirSync(testdata).filter((n) => n.endsWith(suffix)).sort()) {
    for (const d of parseDocuments(readFileSync(join(testdata, f), "utf8"), f)) {
      const { _err, ...doc } = d.value as Record<string, unknown>;
      yield { file: f, index: d.index, err: _err as string | undefined, doc };
    }
  }
}

test("Istio validation testdata: every -valid document is accepted", () => {
  let n = 0;
  for (const { file, index, doc } of testdataDocs("-valid.yaml")) {
    const r = validateObject(doc);
    assert.ok(r.valid, `${file}#${index} should be valid:\n${r.diagnostics.map((d) => `  ${d.path}: ${d.message}`).join("\n")}`);
    n++;
  }
  assert.ok(n >= 25, `expected the valid testdata, read ${n} documents`);
});

test("Istio validation testdata: every -invalid document is rejected with Istio's reason", () => {
  let n = 0;
  for (const { file, index, err, doc } of testdataDocs("-invalid.yaml")) {
    const r = validateObject(doc);
    const errors = r.diagnostics.filter((d) => d.severity === "error");
    assert.ok(!r.valid && errors.length > 0, `${file}#${index} should be rejected`);
    // Every error names a field (or the document's spec) and the text Istio's test expects.
    for (const e of errors) assert.ok(e.path.length > 0, `${file}#${index}: error without a field path: ${e.message}`);
    const text = errors.map((d) => `${d.path}: ${d.message}`).join("\n");
    assert.ok(err !== undefined, `${file}#${index} has no _err`);
    assert.ok(text.includes(err), `${file}#${index}: expected ${JSON.stringify(err)} in:\n${text}`);
    n++;
  }
  assert.ok(n >= 60, `expected the invalid testdata, read ${n} documents`);
});

/** Every YAML file of Istio's samples copied here (test/fixtures/istio/samples and samples/). */
function sampleFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(e.name)) files.push(p);
    }
  };
  walk(join(fixtures, "samples"));
  walk(join(packageRoot(), "samples"));
  return files;
}

test("every Istio resource in Istio's samples is accepted", () => {
  const files = sampleFiles();
  let n = 0;
  for (const f of files) {
    for (const r of validateText(readFileSync(f, "utf8"), f)) {
      if (!/\.istio\.io\/|^gateway\.networking\.k8s\.io\//.test(r.apiVersion ?? "")) continue;
      n++;
      assert.ok(r.valid, `${f}#${r.index} ${r.kind} ${r.name}:\n${r.diagnostics.map((d) => `  ${d.path}: ${d.message}`).join("\n")}`);
    }
  }
  // 61 in Istio's samples (test/fixtures/istio/README.md lists the copies).
  assert.ok(n >= 61, `expected Istio resources in the samples, found ${n}`);
});

test("Istio's samples' Kubernetes documents: Services are accepted, other kinds skipped with one TSMESH_NOT_READ each", () => {
  const files = sampleFiles();
  const seen = new Map<string, number>();
  for (const f of files) {
    for (const doc of parseDocuments(readFileSync(f, "utf8"), f)) {
      const { result } = validateDocument(doc);
      if (/\.istio\.io\/|^gateway\.networking\.k8s\.io\//.test(result.apiVersion ?? "") || result.kind === "ConfigMap") continue;
      assert.ok(result.valid, `${f}#${result.index} ${result.kind} ${result.name}:\n${result.diagnostics.map((d) => `  ${d.path}: ${d.message}`).join("\n")}`);
      if (result.kind === "Service") assert.ok(result.resource, `${f}#${result.index}: a Service is read`);
      else assert.deepEqual(result.diagnostics.map((d) => d.code), ["TSMESH_NOT_READ"], `${f}#${result.index} ${result.kind}`);
      seen.set(result.kind ?? "", (seen.get(result.kind ?? "") ?? 0) + 1);
    }
  }
  // bookinfo.yaml (fixtures) and bookinfo-versions.yaml (samples/) at least.
  assert.ok((seen.get("Service") ?? 0) >= 7 && (seen.get("Deployment") ?? 0) >= 1 && (seen.get("ServiceAccount") ?? 0) >= 1, JSON.stringify([...seen]));
});
