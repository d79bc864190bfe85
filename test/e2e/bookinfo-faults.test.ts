// Istio's fault-injection and request-timeouts tasks on a real local mesh (`tsmesh up`'s bookinfo on
// 127.106.x.y), with Istio's sample YAML and the tasks' inline YAML, checked as the task pages
// check them: what the product page says, and how long it takes.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import { login, stars } from "../helpers/bookinfo.js";
import { TestMesh } from "../helpers/mesh.js";

const NETWORKING = join(packageRoot(), "samples/bookinfo/networking");
const OCTET = 106;
const REVIEWS_UNAVAILABLE = "Sorry, product reviews are currently unavailable for this book.";
const RATINGS_UNAVAILABLE = "Ratings service is currently unavailable";

/** The request-timeouts task's rules: reviews → v2, ratings → v1 with a fixed delay, optional reviews timeout. */
const reviewsV2 = (timeout?: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v2}
${timeout ? `    timeout: ${timeout}\n` : ""}`;
const ratingsDelay2s = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - fault:
      delay: {percentage: {value: 100}, fixedDelay: 2s}
    route:
    - destination: {host: ratings, subset: v1}
`;

describe("bookinfo on tsmesh up: Istio's fault-injection and request-timeouts tasks", { timeout: 180_000 }, () => {
  let mesh: TestMesh;
  let jason = "";

  const page = async (cookie?: string) => {
    const t0 = Date.now();
    const r = await mesh.gateway("/productpage", { headers: cookie ? { cookie } : {}, timeoutMs: 30_000 });
    assert.equal(r.status, 200, r.body.slice(0, 300));
    return { body: r.body, ms: Date.now() - t0 };
  };

  before(async () => {
    mesh = await TestMesh.start({ example: "bookinfo", octet: OCTET });
    // The tasks start from request routing: everyone on v1, jason on reviews v2.
    await mesh.apply(join(NETWORKING, "virtual-service-all-v1.yaml"));
    await mesh.apply(join(NETWORKING, "virtual-service-reviews-test-v2.yaml"));
    jason = await login(mesh, "jason");
  });
  after(async () => {
    await mesh?.stop();
  });

  it("ratings-test-delay (7 s for jason): productpage's reviews call times out (3 s, one retry), others unaffected", async () => {
    await mesh.apply(join(NETWORKING, "virtual-service-ratings-test-delay.yaml"));
    const j = await page(jason);
    assert.ok(j.body.includes(REVIEWS_UNAVAILABLE), j.body.slice(0, 2000));
    // Two tries of 3 s each (the error text shows it did not wait out the 7 s delay).
    assert.ok(j.ms >= 5500, `jason's page took ${j.ms} ms`);
    const other = await page();
    assert.ok(!other.body.includes(REVIEWS_UNAVAILABLE));
    assert.equal(stars(other.body), "none");
    assert.ok(other.ms < 5000, `others' page took ${other.ms} ms (not delayed)`);
  });

  it("ratings-test-abort (HTTP 500 for jason): the page says ratings are unavailable, others unaffected", async () => {
    await mesh.apply(join(NETWORKING, "virtual-service-ratings-test-abort.yaml"));
    const j = await page(jason);
    assert.ok(j.body.includes(RATINGS_UNAVAILABLE), j.body.slice(0, 2000));
    assert.ok(!j.body.includes(REVIEWS_UNAVAILABLE));
    const other = await page();
    assert.ok(!other.body.includes(RATINGS_UNAVAILABLE));
    const stats = await mesh.stats("reviews-v2");
    assert.ok((stats.get("http.outbound_0.0.0.0_9080.downstream_rq_5xx") ?? 0) >= 1, "reviews-v2's sidecar answered 500 itself (fault filter)");
  });

  it("request timeouts: ratings delayed 2 s still shows black stars; timeout 0.5s on reviews makes reviews unavailable in about 1 s", async () => {
    await mesh.apply(reviewsV2());
    await mesh.apply(ratingsDelay2s);
    const slow = await page();
    assert.equal(stars(slow.body), "black");
    assert.ok(slow.ms >= 1900, `the 2 s delay shows (${slow.ms} ms)`);
    await mesh.apply(reviewsV2("0.5s"));
    const cut = await page();
    assert.ok(cut.body.includes(REVIEWS_UNAVAILABLE), cut.body.slice(0, 2000));
    // Istio's task: "returns in about 1 second, instead of 2" (two tries of 0.5 s: productpage retries once).
    assert.ok(cut.ms >= 900, `the page took ${cut.ms} ms`);
  });
});
