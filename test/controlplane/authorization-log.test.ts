// The control plane says what Istio's authz builder only logs, per workload: an ALLOW rule with
// HTTP-only conditions dropped from TCP chains, a CUSTOM provider that cannot be used.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Discovery } from "../../src/controlplane/discovery.js";

const CONFIG = `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: httpbin, namespace: foo}
spec: {address: 127.0.114.1, labels: {app: httpbin}, serviceAccount: httpbin}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: get-only, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  rules: [{to: [{operation: {methods: [GET]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext, namespace: foo}
spec:
  action: CUSTOM
  provider: {name: missing}
  rules: [{to: [{operation: {paths: [/admin]}}]}]
`;

test("authorization builder messages are logged once per workload when the control plane loads the policies", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-authz-log-"));
  const logs: string[] = [];
  writeFileSync(join(dir, "config.yaml"), CONFIG);
  const discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", debounceQuietMs: 10, log: (l) => logs.push(l) });
  try {
    await discovery.start();
    const authz = logs.filter((l) => l.includes("AuthorizationPolicy on workload"));
    assert.ok(authz.includes('discovery: AuthorizationPolicy on workload foo/httpbin: skipped rule ns[foo]-policy[get-only]-rule[0] on TCP filter chain: ":method" is HTTP only'), authz.join("\n"));
    assert.ok(
      authz.some((l) => /^discovery: AuthorizationPolicy on workload foo\/httpbin: failed to process CUSTOM action for provider missing, will generate deny configs: available providers are \[\] but found "missing"$/.test(l)),
      authz.join("\n"),
    );
    // HTTP and TCP chains both report the bad provider: each message once.
    assert.equal(new Set(authz).size, authz.length);
  } finally {
    await discovery.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
