// istioctl proxy-status: istiod's per-type status (statusgen.go's debugSyncStatus), the age suffix,
// the table, and the comparison of what istiod would send with what a proxy holds.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compareResources, proxyName, proxyStatusTable, typeStatus, type SynczEntry } from "../../src/cli/proxy-status.js";
import { humanDuration } from "../../src/cli/output.js";
import { unifiedDiff } from "../../src/cli/unified-diff.js";

const NOW = Date.parse("2026-01-01T00:10:00Z");
const T = "type.googleapis.com/envoy.config.";
const at = (s: number) => new Date(NOW - s * 1000).toISOString();

describe("proxy-status per type", () => {
  const table: Array<[string, SynczEntry["types"][string] | undefined, string]> = [
    ["not watched", undefined, "IGNORED"],
    ["watched, nothing sent", { typeUrl: "x" }, "NOT SENT"],
    ["sent and acked", { typeUrl: "x", sentNonce: "3", sentAt: at(5), ackedNonce: "3", ackedAt: at(4) }, "SYNCED (5s)"],
    ["sent, older nonce acked", { typeUrl: "x", sentNonce: "4", sentAt: at(1), ackedNonce: "3", ackedAt: at(300) }, "STALE (1s)"],
    ["sent, never acked", { typeUrl: "x", sentNonce: "1", sentAt: at(200) }, "STALE (3m20s)"],
    ["nacked after the last ack", { typeUrl: "x", sentNonce: "4", sentAt: at(60), ackedNonce: "3", ackedAt: at(120), nack: { at: at(59), error: "bad" } }, "ERROR (60s)"],
    ["a later ack clears the nack", { typeUrl: "x", sentNonce: "5", sentAt: at(10), ackedNonce: "5", ackedAt: at(9), nack: { at: at(59), error: "bad" } }, "SYNCED (10s)"],
  ];
  for (const [what, t, want] of table) it(`${what} → ${want}`, () => assert.equal(typeStatus(t, NOW), want));

  const durations: Array<[number, string]> = [
    [0, "0s"],
    [119, "119s"],
    [120, "2m"],
    [125, "2m5s"],
    [600, "10m"],
    [3 * 3600, "3h"],
    [3 * 3600 + 60, "3h1m"],
    [10 * 3600, "10h"],
    [50 * 3600, "2d2h"],
    [30 * 86400, "30d"],
  ];
  for (const [s, want] of durations) it(`${s} s → ${want}`, () => assert.equal(humanDuration(s * 1000), want));
});

describe("proxy-status table", () => {
  it("istioctl's columns: CDS LDS EDS RDS ECDS, then other types served; sorted by NAME.NAMESPACE", () => {
    const synced = { sentNonce: "1", sentAt: at(1), ackedNonce: "1", ackedAt: at(1) };
    const syncz: SynczEntry[] = [
      {
        proxy: "sidecar~127.0.3.1~reviews-v1.default~default.svc.cluster.local",
        clusterId: "Kubernetes",
        istioVersion: "1.31.0",
        types: { cds: { typeUrl: `${T}cluster.v3.Cluster`, ...synced }, lds: { typeUrl: `${T}listener.v3.Listener`, ...synced }, eds: { typeUrl: `${T}endpoint.v3.ClusterLoadAssignment`, ...synced }, rds: { typeUrl: `${T}route.v3.RouteConfiguration`, sentNonce: "2", sentAt: at(1), ackedNonce: "1" } },
      },
      {
        proxy: "router~127.0.1.1~istio-ingressgateway.istio-system~istio-system.svc.cluster.local",
        clusterId: "Kubernetes",
        istioVersion: "1.31.0",
        types: { cds: { typeUrl: `${T}cluster.v3.Cluster` }, sds: { typeUrl: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret", ...synced } },
      },
    ];
    const t = proxyStatusTable(syncz, "istiod@127.0.0.1:15010", NOW);
    assert.deepEqual(t.head, ["NAME", "CLUSTER", "CDS", "LDS", "EDS", "RDS", "ECDS", "SDS", "ISTIOD", "VERSION"]);
    assert.deepEqual(t.rows, [
      ["istio-ingressgateway.istio-system", "Kubernetes", "NOT SENT", "IGNORED", "IGNORED", "IGNORED", "IGNORED", "SYNCED (1s)", "istiod@127.0.0.1:15010", "1.31.0"],
      ["reviews-v1.default", "Kubernetes", "SYNCED (1s)", "SYNCED (1s)", "SYNCED (1s)", "STALE (1s)", "IGNORED", "IGNORED", "istiod@127.0.0.1:15010", "1.31.0"],
    ]);
    assert.equal(proxyName("not-a-node-id"), "not-a-node-id");
  });
});

describe("proxy-status WORKLOAD comparison", () => {
  const res = (name: string, extra: object = {}) => ({ name, resource: { name, type: "EDS", ...extra }, versionInfo: "v", lastUpdated: "", origin: "dynamic" as const });
  it("Match when every dynamic resource is the same, whatever the versions", () => {
    assert.equal(compareResources("Clusters", [res("a"), res("b")], [{ ...res("b"), versionInfo: "other" }, res("a")]), "Clusters Match");
  });
  it("a changed field, a resource on one side only: Don't Match and a diff naming each", () => {
    const text = compareResources("Clusters", [res("a"), res("b", { lbPolicy: "RANDOM" })], [res("b"), res("c")]);
    const lines = text.split("\n");
    assert.equal(lines[0], "Clusters Don't Match");
    assert.ok(lines.includes("--- Istiod Clusters a") && lines.includes("+++ Envoy Clusters c"), text);
    assert.ok(lines.includes('-  "lbPolicy": "RANDOM",'), text);
  });
  it("unified diff hunks", () => {
    assert.equal(unifiedDiff("a", "x\ny", "b", "x\ny"), "");
    assert.equal(unifiedDiff("a", "1\n2\n3", "b", "1\n4\n3", 1), "--- a\n+++ b\n@@ -1,3 +1,3 @@\n 1\n-2\n+4\n 3");
    assert.equal(unifiedDiff("a", "", "b", "x", 3), "--- a\n+++ b\n@@ -1,1 +1,1 @@\n-\n+x");
  });
});
