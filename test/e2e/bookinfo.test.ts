// Istio's request-routing task on a real local mesh: `tsmesh up`'s bookinfo (control plane, gateway,
// six sidecars and the TypeScript bookinfo apps as processes on 127.101.x.y), with Istio's own
// sample YAML applied live, checked the way the task page checks it (stars on the product page).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import { login, tally } from "../helpers/bookinfo.js";
import { TestMesh } from "../helpers/mesh.js";
import { portsBoundOn, processesUsing } from "../helpers/leftovers.js";

const NETWORKING = join(packageRoot(), "samples/bookinfo/networking");
const OCTET = 101;

describe("bookinfo on tsmesh up: Istio's request-routing task", { timeout: 120_000 }, () => {
  let mesh: TestMesh;
  let pids: number[] = [];

  before(async () => {
    mesh = await TestMesh.start({ example: "bookinfo", octet: OCTET });
    pids = mesh.mesh.list().flatMap((w) => [w.proxy.pid, w.app?.pid]).filter((p): p is number => p !== undefined);
  });
  after(async () => {
    await mesh?.stop();
  });

  it("starts the gateway and every workload, each on its own address", () => {
    assert.equal(mesh.gatewayUrl, `http://127.${OCTET}.1.1:8080`);
    const names = mesh.mesh.list().map((w) => `${w.plan.name}:${w.plan.role}:${w.app ? "app" : "-"}`);
    assert.deepEqual(names.sort(), [
      "details-v1:sidecar:app",
      "istio-ingressgateway:router:-",
      "productpage-v1:sidecar:app",
      "ratings-v1:sidecar:app",
      "reviews-v1:sidecar:app",
      "reviews-v2:sidecar:app",
      "reviews-v3:sidecar:app",
    ]);
  });

  it("with no routing rules, reviews v1, v2 and v3 all answer (round robin)", async () => {
    const c = await tally(mesh, 24);
    assert.ok(c.none > 0 && c.black > 0 && c.red > 0, JSON.stringify(c));
  });

  it("a workload reaches a service by name through its sidecar (HTTP_PROXY)", async () => {
    const r = await mesh.fromWorkload("productpage-v1", "http://details:9080/details/0");
    assert.equal(r.status, 200);
    assert.match(r.body, /William Shakespeare/);
    const stats = await mesh.stats("productpage-v1");
    assert.ok((stats.get("cluster.outbound|9080||details.default.svc.cluster.local.upstream_rq_total") ?? 0) >= 1, "the sidecar counted the call");
  });

  it("virtual-service-all-v1.yaml: no request shows stars", async () => {
    await mesh.apply(join(NETWORKING, "virtual-service-all-v1.yaml"));
    const c = await tally(mesh, 20);
    assert.deepEqual(c, { none: 20, black: 0, red: 0 });
  });

  it("virtual-service-reviews-test-v2.yaml: jason always sees black stars, others none", async () => {
    await mesh.apply(join(NETWORKING, "virtual-service-reviews-test-v2.yaml"));
    const cookie = await login(mesh, "jason");
    assert.deepEqual(await tally(mesh, 15, { cookie }), { none: 0, black: 15, red: 0 });
    assert.deepEqual(await tally(mesh, 15), { none: 15, black: 0, red: 0 });
  });

  it("virtual-service-reviews-50-v3.yaml: about half of the requests show red stars (50 ± 10 per 100)", async () => {
    await mesh.apply(join(NETWORKING, "virtual-service-reviews-50-v3.yaml"));
    // Envoy picks weighted clusters at random per request. 50 ± 10 over 100 requests would fail one
    // run in 20 by chance (2σ); the same ± 10% over 300 requests is 3.5σ (about 1 in 2,000).
    const c = await tally(mesh, 300);
    assert.equal(c.black, 0);
    assert.ok(c.red >= 120 && c.red <= 180, `red ${c.red} of 300`);
  });

  it("stopping leaves no process and no bound port behind", async () => {
    assert.ok(pids.length >= 13, `pids: ${pids.join(",")}`);
    await mesh.stop();
    assert.deepEqual(processesUsing(pids), [], "processes left");
    assert.deepEqual(portsBoundOn([`127.${OCTET}.`, `127.${OCTET ^ 0x80}.`]), [], "ports left bound");
  });
});
