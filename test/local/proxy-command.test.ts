// The command line `tsmesh up` starts a workload's proxy with: its identity, the ADS address and,
// when the mesh CA serves, the agent's flags (CA address, root bundle, credential file, service
// account — "default" when the WorkloadEntry names none — and trust domain).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { proxyCommandArgs } from "../../src/local/mesh.js";
import type { PlannedWorkload } from "../../src/local/plan.js";

const plan: PlannedWorkload = {
  key: "default/reviews-v2",
  name: "reviews-v2",
  namespace: "default",
  role: "sidecar",
  address: "127.0.4.2",
  labels: { app: "reviews" },
  serviceAccount: "bookinfo-reviews",
  appAddress: "127.128.4.2",
  ports: [],
  gatewayServers: [],
};
const identity = { caAddress: "127.0.0.1:15012", rootCertFile: "/s/istio-ca-root-cert.pem", credentialFile: "/s/credentials/default.reviews-v2.token", trustDomain: "cluster.local" };

/** The value following `flag`, or undefined. */
function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
}

describe("a proxy's command line under tsmesh up", () => {
  it("carries the agent's flags when the mesh CA serves", () => {
    const args = proxyCommandArgs(plan, { tsmeshBin: "bin.js", xdsAddress: "127.0.0.1:15010", concurrency: 1, identity });
    assert.equal(flag(args, "--ca-address"), "127.0.0.1:15012");
    assert.equal(flag(args, "--ca-root-cert"), "/s/istio-ca-root-cert.pem");
    assert.equal(flag(args, "--credential-file"), "/s/credentials/default.reviews-v2.token");
    assert.equal(flag(args, "--service-account"), "bookinfo-reviews");
    assert.equal(flag(args, "--trust-domain"), "cluster.local");
    assert.equal(flag(args, "--namespace"), "default");
  });

  it("names the default service account when the WorkloadEntry has none", () => {
    const args = proxyCommandArgs({ ...plan, serviceAccount: undefined }, { tsmeshBin: "bin.js", xdsAddress: "127.0.0.1:15010", concurrency: 1, identity });
    assert.equal(flag(args, "--service-account"), "default");
  });

  it("has no agent flags without the CA (bench:proxy's plaintext pair)", () => {
    const args = proxyCommandArgs(plan, { tsmeshBin: "bin.js", xdsAddress: "127.0.0.1:15010", concurrency: 1 });
    for (const f of ["--ca-address", "--ca-root-cert", "--credential-file", "--service-account", "--trust-domain"]) assert.equal(args.includes(f), false, f);
  });
});
