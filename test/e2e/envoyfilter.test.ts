// EnvoyFilters on a real local mesh (`tsmesh up`'s bookinfo on 127.116.x.y): patches reach the
// gateway's live config (a virtual host MERGE adding a response header, an HTTP_ROUTE INSERT_FIRST
// direct response), a filter the proxy cannot run is withheld whole while the good one keeps
// serving, and deleting a filter takes its patches away.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TestMesh } from "../helpers/mesh.js";

const OCTET = 116;

const good = `apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: gateway-patches, namespace: istio-system}
spec:
  workloadSelector: {labels: {istio: ingressgateway}}
  configPatches:
  - applyTo: VIRTUAL_HOST
    match: {context: GATEWAY}
    patch: {operation: MERGE, value: {response_headers_to_add: [{header: {key: x-envoyfilter, value: applied}}]}}
  - applyTo: HTTP_ROUTE
    match: {context: GATEWAY}
    patch:
      operation: INSERT_FIRST
      value: {name: ef-probe, match: {path: /ef-probe}, direct_response: {status: 200, body: {inline_string: "patched by an EnvoyFilter"}}}
`;

// One good patch and one the proxy cannot run (a network filter it does not implement): nothing of it applies.
const bad = `apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: half, namespace: istio-system}
spec:
  workloadSelector: {labels: {istio: ingressgateway}}
  priority: 5
  configPatches:
  - applyTo: VIRTUAL_HOST
    match: {context: GATEWAY}
    patch: {operation: MERGE, value: {response_headers_to_add: [{header: {key: x-half, value: applied}}]}}
  - applyTo: NETWORK_FILTER
    match: {context: GATEWAY, listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager}}}}
    patch: {operation: INSERT_FIRST, value: {name: x.unknown, typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo}}}
`;

describe("EnvoyFilter on tsmesh up (bookinfo)", { timeout: 180_000 }, () => {
  let mesh: TestMesh;
  before(async () => {
    mesh = await TestMesh.start({ example: "bookinfo", octet: OCTET });
  });
  after(async () => {
    await mesh?.stop();
  });

  it("a VIRTUAL_HOST MERGE and an HTTP_ROUTE INSERT_FIRST reach the gateway", async () => {
    const before = await mesh.gateway("/productpage", { timeoutMs: 30_000 });
    assert.equal(before.status, 200);
    assert.equal(before.headers["x-envoyfilter"], undefined);
    await mesh.apply(good);
    const page = await mesh.gateway("/productpage", { timeoutMs: 30_000 });
    assert.equal(page.status, 200);
    assert.equal(page.headers["x-envoyfilter"], "applied");
    const probe = await mesh.gateway("/ef-probe", { timeoutMs: 30_000 });
    assert.equal(probe.status, 200);
    assert.equal(probe.body, "patched by an EnvoyFilter");
  });

  it("a filter with a patch the proxy cannot run is withheld whole; the good one keeps serving", async () => {
    await mesh.apply(bad);
    const page = await mesh.gateway("/productpage", { timeoutMs: 30_000 });
    assert.equal(page.status, 200);
    assert.equal(page.headers["x-half"], undefined, "nothing of the withheld filter");
    assert.equal(page.headers["x-envoyfilter"], "applied");
  });

  it("deleting the filter takes its patches away", async () => {
    await mesh.delete(good);
    const page = await mesh.gateway("/productpage", { timeoutMs: 30_000 });
    assert.equal(page.status, 200);
    assert.equal(page.headers["x-envoyfilter"], undefined);
    assert.equal((await mesh.gateway("/ef-probe", { timeoutMs: 30_000 })).status, 404);
  });
});
