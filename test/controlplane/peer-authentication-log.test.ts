// The control plane says which PeerAuthentications it ignores (istiod only logs them): a second
// namespace-wide policy (the oldest wins) and a selector policy in the root namespace, once each.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Discovery } from "../../src/controlplane/discovery.js";

const pa = (ns: string, name: string, spec: string) => `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: ${spec}\n`;

test("ignored PeerAuthentications are logged once, when the control plane loads them", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-pa-log-"));
  const logs: string[] = [];
  writeFileSync(
    join(dir, "pa.yaml"),
    [pa("foo", "a-first", "{mtls: {mode: STRICT}}"), pa("foo", "b-second", "{mtls: {mode: DISABLE}}"), pa("istio-system", "selecting", "{selector: {matchLabels: {app: x}}, mtls: {mode: STRICT}}")].join("---\n"),
  );
  const discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", debounceQuietMs: 10, log: (l) => logs.push(l) });
  try {
    await discovery.start();
    const ignored = logs.filter((l) => l.includes("is ignored"));
    assert.deepEqual(ignored, [
      "discovery: PeerAuthentication foo/b-second is ignored: foo/a-first is older and also applies to the whole namespace (the oldest wins)",
      "discovery: PeerAuthentication istio-system/selecting is ignored: a policy with a selector in the root namespace (istio-system) applies to no workload, as in Istio",
    ]);
  } finally {
    await discovery.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
