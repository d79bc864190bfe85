// The generated schema table and spec types must match the CRDs they come from.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { generateApi } from "../../scripts/gen-api.js";
import { packageRoot } from "../../src/core/paths.js";

test("src/api/gen is up to date with api/istio-crds.gen.yaml and api/gateway-api-crds.gen.yaml (run `npm run gen`)", () => {
  const root = packageRoot();
  const out = generateApi(root);
  assert.equal(readFileSync(join(root, "src/api/gen/schemas.json"), "utf8"), out.schemasJson);
  assert.equal(readFileSync(join(root, "src/api/gen/types.ts"), "utf8"), out.typesTs);
  assert.equal(out.kinds, 22);
});
