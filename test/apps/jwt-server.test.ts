// Istio's jwt-server sample: the JWKS it serves is the one Istio's security tasks sign with (the
// task's demo.jwt verifies against it), `?delay=` holds the answer, a bad delay is a 400, and
// `--jwks FILE` serves another key set.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { jwtServer } from "../../src/apps/jwt-server.js";
import { packageRoot } from "../../src/core/paths.js";

const fixtures = join(packageRoot(), "test", "fixtures", "jwt");

test("serves the JWKS Istio's task tokens verify against, with ?delay and --jwks", async () => {
  const app = await jwtServer({ argv: [], env: { HOST: "127.0.0.1", PORT: "0" }, log: () => {} });
  const dir = mkdtempSync(join(tmpdir(), "jwt-server-"));
  try {
    const base = `http://${app.addresses[0]}`;
    const jwks = (await (await fetch(`${base}/jwks`)).json()) as JSONWebKeySet;
    assert.deepEqual(jwks, JSON.parse(readFileSync(join(fixtures, "jwks.json"), "utf8")));
    const { payload } = await jwtVerify(readFileSync(join(fixtures, "demo.jwt"), "utf8").trim(), createLocalJWKSet(jwks), { issuer: "testing@secure.istio.io" });
    assert.equal(payload.foo, "bar");
    const started = performance.now();
    assert.equal((await fetch(`${base}/?delay=200ms`)).status, 200);
    assert.ok(performance.now() - started >= 150, "the answer waited for the delay");
    const bad = await fetch(`${base}/?delay=soon`);
    assert.equal(bad.status, 400);
    assert.equal(await bad.text(), "Invalid delay parameter");
    // A request that goes away during its delay leaves no timer behind (close() would hang otherwise).
    const ac = new AbortController();
    const pending = fetch(`${base}/?delay=30s`, { signal: ac.signal }).catch(() => undefined);
    setTimeout(() => ac.abort(), 50);
    await pending;
  } finally {
    await app.close();
  }
  const other = join(dir, "other.json");
  writeFileSync(other, '{"keys":[]}');
  const app2 = await jwtServer({ argv: ["--jwks", other], env: { HOST: "127.0.0.1", PORT: "0" }, log: () => {} });
  try {
    assert.deepEqual(await (await fetch(`http://${app2.addresses[0]}/`)).json(), { keys: [] });
  } finally {
    await app2.close();
  }
  writeFileSync(other, "not json");
  await assert.rejects(jwtServer({ argv: ["--jwks", other], env: { HOST: "127.0.0.1", PORT: "0" }, log: () => {} }));
  rmSync(dir, { recursive: true, force: true });
});
