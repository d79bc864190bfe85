// The control plane with istiod's JWKS resolver: a push that needs a JWKS istiod fetches inlines the
// fail-closed JWKS without waiting (the JWKS server here hangs until the test lets it answer), the
// fetched keys then cause a full push whose snapshot inlines them, and the fetch mode flag reaches
// the push.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Discovery } from "../../src/controlplane/discovery.js";
import { jwtAuthnFilter, PUBLIC_ONLY_JWKS } from "../../src/xds/gen/authn.js";
import { eventually } from "../e2e/helpers.js";
import { testProxy } from "../helpers/xds.js";

const JWKS = JSON.stringify({ keys: [{ kty: "RSA", kid: "k1", e: "AQAB", n: "0xObjM0U" }] });

// Holds every request until `answering` (a fetch that timed out meanwhile is retried and answered).
let answering = false;
const server = createServer((_req, res) => (answering ? res.end(JWKS) : held.push(res)));
const held: ServerResponse[] = [];
let dir: string;
let discovery: Discovery;
let uri = "";

before(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  dir = mkdtempSync(join(tmpdir(), "tsmesh-jwks-push-"));
  writeFileSync(
    join(dir, "ra.yaml"),
    `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  jwtRules: [{issuer: "testing@secure.istio.io", jwksUri: "${uri}"}]
`,
  );
  discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", debounceQuietMs: 10, jwksFetchMode: "istiod", log: () => {} });
  await discovery.start();
});
after(async () => {
  for (const r of held) r.destroy();
  server.close();
  await discovery.close();
  rmSync(dir, { recursive: true, force: true });
});

const proxy = testProxy({ ip: "127.0.34.1", name: "httpbin-1", namespace: "foo", labels: { app: "httpbin" } });
const inlined = () => {
  const f = jwtAuthnFilter(proxy, discovery.pushContext);
  const providers = (f?.typedConfig as unknown as { providers: Record<string, { localJwks?: { inlineString?: string } }> }).providers;
  return providers["origins-0"].localJwks?.inlineString;
};
const fullPushes = () => discovery.metrics.counter("pilot_push_full", "").get();

test("istiod mode: fail-closed JWKS while the server hangs (nothing waits), then a push inlines the fetched keys", async () => {
  assert.equal(discovery.pushContext.jwks.mode, "istiod");
  assert.equal(inlined(), PUBLIC_ONLY_JWKS, "the first generation does not wait for the fetch");
  await eventually("the JWKS request reaches the server", () => held.length > 0);
  // A config change is pushed while the fetch is still hanging.
  const before = fullPushes();
  writeFileSync(join(dir, "other.yaml"), `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: foo}\nspec: {mtls: {mode: PERMISSIVE}}\n`);
  await eventually("a push while the JWKS server hangs", () => fullPushes() > before);
  assert.equal(inlined(), PUBLIC_ONLY_JWKS);
  // The server answers: the resolver pushes, and the new snapshot inlines the keys.
  const beforeKeys = fullPushes();
  answering = true;
  for (const r of held.splice(0)) r.end(JWKS);
  await eventually("a push for the fetched JWKS", () => fullPushes() > beforeKeys);
  assert.equal(inlined(), JWKS);
  assert.equal(discovery.jwksResolver.status("testing@secure.istio.io", uri)?.state, "ok");
});
