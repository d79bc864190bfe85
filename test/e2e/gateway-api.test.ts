// Istio's Gateway API tasks on a real local mesh (`tsmesh up`'s bookinfo on 127.34.x.y): the
// bookinfo sample's Gateway (class istio) gets a router proxy started and labelled as istiod's
// automated deployment is, its HTTPRoute serves /productpage, and the traffic-shifting task's
// Gateway API variant (HTTPRoutes with a Service parent) shifts reviews traffic between versions,
// the version Services being Istio's own bookinfo-versions.yaml (Kubernetes Services).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import { binomialRange } from "../helpers/binomial.js";
import { stars, type Stars } from "../helpers/bookinfo.js";
import { httpRequest, TestMesh } from "../helpers/mesh.js";

const OCTET = 34;
const GATEWAY_API = join(packageRoot(), "samples/bookinfo/gateway-api");

describe("bookinfo on tsmesh up through the Kubernetes Gateway API", { timeout: 240_000 }, () => {
  let mesh: TestMesh;
  let router = "";

  const get = (path: string) => httpRequest(router, 80, path, { timeoutMs: 30_000 });
  const tally = async (n: number): Promise<Record<Stars, number>> => {
    const counts: Record<Stars, number> = { none: 0, black: 0, red: 0 };
    for (let i = 0; i < n; i++) {
      const r = await get("/productpage");
      assert.equal(r.status, 200, r.body.slice(0, 300));
      counts[stars(r.body)]++;
    }
    return counts;
  };

  before(async () => {
    mesh = await TestMesh.start({
      example: "bookinfo",
      octet: OCTET,
      // The task's `kubectl apply -f samples/bookinfo/platform/kube/bookinfo-versions.yaml` (Kubernetes
      // Services selecting bookinfo's WorkloadEntries), then `kubectl apply -f samples/bookinfo/gateway-api/bookinfo-gateway.yaml`.
      apply: [join(packageRoot(), "samples/bookinfo/platform/kube/bookinfo-versions.yaml"), join(GATEWAY_API, "bookinfo-gateway.yaml")],
    });
    const w = mesh.mesh.list().find((x) => x.plan.labels["gateway.networking.k8s.io/gateway-name"] === "bookinfo-gateway");
    assert.ok(w, "a router runs for the Gateway");
    router = w.plan.address;
  });
  after(async () => {
    await mesh?.stop();
  });

  it("the Gateway gets a router, deployed and labelled as istiod deploys it, on an address up assigns", () => {
    const w = mesh.mesh.list().find((x) => x.plan.address === router)!;
    assert.equal(w.plan.role, "router");
    assert.equal(w.plan.name, "bookinfo-gateway-istio");
    assert.equal(w.plan.labels["gateway.istio.io/managed"], "istio.io-gateway-controller");
    assert.equal(router, `127.${OCTET}.255.1`);
    assert.deepEqual(w.plan.gatewayServers.map((s) => s.url), [`http://${router}:80`]);
  });

  it("the HTTPRoute routes /productpage (and only its matches) to productpage", async () => {
    const r = await get("/productpage");
    assert.equal(r.status, 200, r.body.slice(0, 300));
    assert.match(r.body, /Reviewer1/);
    assert.equal((await get("/not-routed")).status, 404);
    // PathPrefix /static matches whole segments (Envoy's path_separated_prefix, as istiod generates).
    assert.equal((await get("/staticfoo")).status, 404);
  });

  it("traffic shifting: route-reviews-v1, then 50% to v3, then 90/10 v1/v2, then all to v3", async () => {
    await mesh.apply(join(GATEWAY_API, "route-reviews-v1.yaml"));
    assert.deepEqual(await tally(10), { none: 10, black: 0, red: 0 });

    await mesh.apply(join(GATEWAY_API, "route-reviews-50-v3.yaml"));
    const n = 40;
    const half = await tally(n);
    const [lo, hi] = binomialRange(n, 0.5);
    assert.equal(half.black, 0, JSON.stringify(half));
    assert.ok(half.red >= lo && half.red <= hi, `v3 answered ${half.red} of ${n} (${lo}..${hi} expected)`);

    await mesh.apply(join(GATEWAY_API, "route-reviews-90-10.yaml"));
    const ninety = await tally(n);
    const [lo10, hi10] = binomialRange(n, 0.1);
    assert.equal(ninety.red, 0, JSON.stringify(ninety));
    assert.ok(ninety.black >= lo10 && ninety.black <= hi10, `v2 answered ${ninety.black} of ${n} (${lo10}..${hi10} expected)`);

    await mesh.apply(join(GATEWAY_API, "route-reviews-v3.yaml"));
    assert.deepEqual(await tally(10), { none: 0, black: 0, red: 10 });
  });
});
