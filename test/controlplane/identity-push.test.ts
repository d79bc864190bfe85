// A WorkloadEntry change that only moves endpoints takes the incremental EDS path; one that changes
// the service accounts behind a service needs a full push, as istiod's updateShardServiceAccount
// does: clusters name those identities (ISTIO_MUTUAL and auto mTLS SAN checks).
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Discovery } from "../../src/controlplane/discovery.js";
import { eventually } from "../e2e/helpers.js";

const SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: default}
spec:
  hosts: [echo.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: echo}}
`;
const we = (name: string, ip: string, sa?: string) =>
  `apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: ${name}, namespace: default}\nspec: {address: ${ip}, labels: {app: echo}${sa ? `, serviceAccount: ${sa}` : ""}}\n`;

let dir: string;
let discovery: Discovery;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "tsmesh-identity-push-"));
  writeFileSync(join(dir, "echo.yaml"), [SE, we("echo-a", "127.0.33.1", "echo")].join("---\n"));
  discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", debounceQuietMs: 10, log: () => {} });
  await discovery.start();
});
after(async () => {
  await discovery.close();
  rmSync(dir, { recursive: true, force: true });
});

function write(file: string, text: string): void {
  writeFileSync(join(dir, `.${file}.tmp`), text);
  renameSync(join(dir, `.${file}.tmp`), join(dir, file));
}

const counter = (name: string) => discovery.metrics.counter(name, "").get();

test("same identities: incremental EDS; a new service account: full push; an endpoint without one: incremental", async () => {
  const full = counter("pilot_push_full");
  const eds = counter("pilot_push_eds_incremental");
  write("b.yaml", we("echo-b", "127.0.33.2", "echo"));
  await eventually("an incremental push", () => counter("pilot_push_eds_incremental") > eds);
  assert.equal(counter("pilot_push_full"), full, "same service account: no full push");

  write("c.yaml", we("echo-c", "127.0.33.3", "other"));
  await eventually("a full push", () => counter("pilot_push_full") > full);

  const full2 = counter("pilot_push_full");
  const eds2 = counter("pilot_push_eds_incremental");
  write("d.yaml", we("echo-d", "127.0.33.4"));
  await eventually("an incremental push", () => counter("pilot_push_eds_incremental") > eds2);
  assert.equal(counter("pilot_push_full"), full2, "no service account adds no identity (as Istio)");
});
