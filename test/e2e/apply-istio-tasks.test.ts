// Istio's request-routing and fault-injection tasks done as their pages say, with `tsmesh apply -f`
// instead of kubectl: bookinfo on `tsmesh up` (127.30.x.y), virtual-service-all-v1.yaml, then
// virtual-service-reviews-test-v2.yaml (the same name: replaced, not duplicated), then
// ratings-test-delay and ratings-test-abort, `get` between the steps, a restart of the mesh on the
// same state folder (applied resources are kept), and the tasks' cleanup `delete -f`; traffic through
// the gateway follows every step (stars and messages on the product page).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import { main } from "../../src/cli/main.js";
import { displayPath } from "../../src/config/files.js";
import { packageRoot } from "../../src/core/paths.js";
import { login, tally } from "../helpers/bookinfo.js";
import { TestMesh } from "../helpers/mesh.js";

const NETWORKING = join(packageRoot(), "samples/bookinfo/networking");
const OCTET = 30;
const REVIEWS_UNAVAILABLE = "Sorry, product reviews are currently unavailable for this book.";
const RATINGS_UNAVAILABLE = "Ratings service is currently unavailable";

describe("tsmesh apply/get/delete: Istio's request-routing and fault-injection tasks on tsmesh up", { timeout: 300_000 }, () => {
  let mesh: TestMesh | undefined;
  let stateDir: string;

  /** `tsmesh ARGS --state-dir STATE`, as a user would type it, through the mesh's socket. */
  async function tsmesh(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main([...argv, "--state-dir", stateDir], (s) => out.push(s), (s) => err.push(s));
    // The change is in the store when the command returns; wait until every proxy has it.
    await mesh!.mesh.converged(30_000);
    return { code, out, err };
  }

  /** The product page through the gateway (as a user, or as jason with his cookie). */
  async function page(cookie?: string): Promise<string> {
    const r = await mesh!.gateway("/productpage", { headers: cookie ? { cookie } : {}, timeoutMs: 30_000 });
    assert.equal(r.status, 200, r.body.slice(0, 300));
    return r.body;
  }

  before(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "tsmesh-apply-state-"));
    mesh = await TestMesh.start({ example: "bookinfo", octet: OCTET, stateDir });
  });
  after(async () => {
    await mesh?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("before any rule, reviews v1, v2 and v3 all answer", async () => {
    const c = await tally(mesh!, 24);
    assert.ok(c.none > 0 && c.black > 0 && c.red > 0, JSON.stringify(c));
  });

  it("apply -f virtual-service-all-v1.yaml: four created, no request shows stars", async () => {
    const r = await tsmesh("apply", "-f", join(NETWORKING, "virtual-service-all-v1.yaml"));
    assert.deepEqual(r, {
      code: 0,
      out: ["productpage", "reviews", "ratings", "details"].map((n) => `virtualservice.networking.istio.io/${n} created`),
      err: [],
    });
    assert.deepEqual(await tally(mesh!, 20), { none: 20, black: 0, red: 0 });
  });

  it("get virtualservices -o yaml shows the four routes to subset v1 (the task's expected output)", async () => {
    const r = await tsmesh("get", "virtualservices", "-o", "yaml");
    const list = parse(r.out.join("\n")) as { items: Array<{ apiVersion: string; kind: string; metadata: { name: string; annotations?: Record<string, string> }; spec: { hosts: string[]; http: Array<{ route: Array<{ destination: { host: string; subset: string } }> }> } }> };
    // The example's own gateway route (bookinfo, from bookinfo-gateway.yaml) is listed too, as it is on Kubernetes.
    assert.deepEqual(list.items.map((i) => i.metadata.name), ["bookinfo", "details", "productpage", "ratings", "reviews"]);
    assert.deepEqual(
      list.items.slice(1).map((i) => [i.kind, i.spec.hosts, i.spec.http[0].route[0].destination]),
      ["details", "productpage", "ratings", "reviews"].map((h) => ["VirtualService", [h], { host: h, subset: "v1" }]),
    );
    // kubectl's table: the VirtualService CRD's GATEWAYS and HOSTS columns.
    const table = await tsmesh("get", "vs");
    assert.deepEqual(
      table.out.map((l) => l.replace(/\S+$/, "AGE")),
      [
        "NAME          GATEWAYS               HOSTS             AGE",
        'bookinfo      ["bookinfo-gateway"]   ["*"]             AGE',
        'details                              ["details"]       AGE',
        'productpage                          ["productpage"]   AGE',
        'ratings                              ["ratings"]       AGE',
        'reviews                              ["reviews"]       AGE',
      ],
    );
    // kubectl's client-side apply keeps the applied file in the last-applied annotation (the folder's bookinfo route has none).
    const lastApplied = JSON.parse(list.items[4].metadata.annotations!["kubectl.kubernetes.io/last-applied-configuration"]) as { metadata: unknown; spec: { http: unknown[] } };
    assert.deepEqual(lastApplied.metadata, { annotations: {}, name: "reviews", namespace: "default" });
    assert.equal(lastApplied.spec.http.length, 1);
    assert.equal(list.items[0].metadata.annotations, undefined);
    const dr = await tsmesh("get", "destinationrules", "-o", "wide");
    assert.match(dr.out.find((l) => l.startsWith("reviews"))!, /^reviews\s+reviews\s+\S+\s+\S*destination-rule-all\.yaml:\d+\s+<none>$/);
  });

  it("apply -f virtual-service-reviews-test-v2.yaml replaces reviews: jason sees black stars, others none", async () => {
    const r = await tsmesh("apply", "-f", join(NETWORKING, "virtual-service-reviews-test-v2.yaml"));
    assert.deepEqual(r, { code: 0, out: ["virtualservice.networking.istio.io/reviews configured"], err: [] });
    const cookie = await login(mesh!, "jason");
    assert.deepEqual(await tally(mesh!, 15, { cookie }), { none: 0, black: 15, red: 0 });
    assert.deepEqual(await tally(mesh!, 15), { none: 15, black: 0, red: 0 });
    const again = await tsmesh("apply", "-f", join(NETWORKING, "virtual-service-all-v1.yaml"), "--dry-run=server");
    assert.deepEqual(again.out, [
      "virtualservice.networking.istio.io/productpage unchanged (server dry run)",
      "virtualservice.networking.istio.io/reviews configured (server dry run)",
      "virtualservice.networking.istio.io/ratings unchanged (server dry run)",
      "virtualservice.networking.istio.io/details unchanged (server dry run)",
    ]);
  });

  it("the fault-injection task: apply -f ratings-test-delay, then ratings-test-abort (ratings replaced each time)", async () => {
    const cookie = await login(mesh!, "jason");
    const delay = await tsmesh("apply", "-f", join(NETWORKING, "virtual-service-ratings-test-delay.yaml"));
    assert.deepEqual(delay, { code: 0, out: ["virtualservice.networking.istio.io/ratings configured"], err: [] });
    // 7 s for jason at ratings: productpage's reviews call times out (3 s, one retry).
    assert.ok((await page(cookie)).includes(REVIEWS_UNAVAILABLE));
    assert.ok(!(await page()).includes(REVIEWS_UNAVAILABLE));
    const abort = await tsmesh("apply", "-f", join(NETWORKING, "virtual-service-ratings-test-abort.yaml"));
    assert.deepEqual(abort, { code: 0, out: ["virtualservice.networking.istio.io/ratings configured"], err: [] });
    assert.ok((await page(cookie)).includes(RATINGS_UNAVAILABLE));
    assert.ok(!(await page()).includes(RATINGS_UNAVAILABLE));
  });

  it("a restart of the mesh with the same state folder keeps the applied resources", async () => {
    await mesh!.stop();
    mesh = undefined;
    mesh = await TestMesh.start({ example: "bookinfo", octet: OCTET, stateDir });
    // jason: reviews v2 (test-v2), whose ratings call is aborted (ratings-test-abort); others v1.
    const cookie = await login(mesh, "jason");
    for (let i = 0; i < 5; i++) assert.ok((await page(cookie)).includes(RATINGS_UNAVAILABLE));
    assert.deepEqual(await tally(mesh, 10), { none: 10, black: 0, red: 0 });
    const get = async (name: string) => JSON.parse((await tsmesh("get", "vs", name, "-o", "json")).out.join("\n")) as { metadata: { generation: number; resourceVersion: string } };
    assert.deepEqual([(await get("reviews")).metadata.generation, (await get("reviews")).metadata.resourceVersion], [2, "5"]);
    assert.deepEqual([(await get("ratings")).metadata.generation, (await get("ratings")).metadata.resourceVersion], [3, "7"]);
  });

  it("delete -f virtual-service-all-v1.yaml (the task's cleanup): all four deleted, round robin again", async () => {
    const r = await tsmesh("delete", "-f", join(NETWORKING, "virtual-service-all-v1.yaml"));
    assert.deepEqual(r, {
      code: 0,
      out: ["productpage", "reviews", "ratings", "details"].map((n) => `virtualservice.networking.istio.io "${n}" deleted`),
      err: [],
    });
    const c = await tally(mesh!, 24);
    assert.ok(c.none > 0 && c.black > 0 && c.red > 0, JSON.stringify(c));
    const left = await tsmesh("get", "vs", "-o", "wide");
    assert.equal(left.out.length, 2, left.out.join("\n"));
    assert.match(left.out[1], /^bookinfo\s+\["bookinfo-gateway"\]\s+\["\*"\]\s+\S+\s+\S*bookinfo-gateway\.yaml:\d+\s+<none>$/);
    const gone = await tsmesh("delete", "-f", join(NETWORKING, "virtual-service-reviews-test-v2.yaml"));
    assert.equal(gone.code, 1);
    assert.deepEqual(gone.err, [`Error from server (NotFound): error when deleting "${displayPath(join(NETWORKING, "virtual-service-reviews-test-v2.yaml"))}": virtualservices.networking.istio.io "reviews" not found`]);
  });
});
