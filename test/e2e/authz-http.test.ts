// Istio's "Authorization for HTTP traffic" task (docs/tasks/security/authorization/authz-http) on
// `tsmesh up`'s bookinfo (127.120.x.y), with the page's YAML: allow-nothing in default denies the
// product page (403 "RBAC: access denied"); productpage-viewer brings the page back with "Error
// fetching product details/reviews"; details-viewer and reviews-viewer (principals: productpage's
// service account, so mTLS identities are what is checked) restore details and reviews, with
// ratings still unavailable until ratings-viewer admits reviews' identity. The gateway lives in
// istio-system, so allow-nothing in default does not touch it (as with Istio's default gateway).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TestMesh } from "../helpers/mesh.js";
import { eventually } from "./helpers.js";

const OCTET = 120;

const viewer = (name: string, app: string, principal?: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: "${name}"
  namespace: default
spec:
  selector:
    matchLabels:
      app: ${app}
  action: ALLOW
  rules:
  - ${principal ? `from:
    - source:
        principals: ["${principal}"]
    ` : ""}to:
    - operation:
        methods: ["GET"]
`;

describe("Istio's authz-http task on tsmesh up's bookinfo", { timeout: 180_000 }, () => {
  let mesh: TestMesh;
  before(async () => {
    mesh = await TestMesh.start({ example: "bookinfo", octet: OCTET });
    // reviews v2 shows ratings: every request goes there, so the page is the same each time.
    await mesh.apply(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v2}
`);
    await eventually("the product page", async () => (await mesh.gateway("/productpage")).status === 200, 30_000);
  });
  after(async () => {
    await mesh?.stop();
  });

  const page = () => mesh.gateway("/productpage");

  it("allow-nothing: the product page is denied with RBAC's 403", async () => {
    await mesh.apply("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: allow-nothing\n  namespace: default\nspec:\n  {}\n");
    const r = await page();
    assert.equal(r.status, 403);
    assert.equal(r.body, "RBAC: access denied");
  });

  it("productpage-viewer: the page is back, without details or reviews", async () => {
    await mesh.apply(viewer("productpage-viewer", "productpage"));
    const r = await page();
    assert.equal(r.status, 200);
    assert.match(r.body, /Error fetching product details!/);
    assert.match(r.body, /Error fetching product reviews!/);
    // A POST is not a GET: still denied.
    assert.equal((await mesh.gateway("/productpage", { method: "POST" })).status, 403);
  });

  it("details-viewer and reviews-viewer admit productpage's identity; ratings stay unavailable", async () => {
    await mesh.apply(viewer("details-viewer", "details", "cluster.local/ns/default/sa/bookinfo-productpage"));
    let r = await page();
    assert.doesNotMatch(r.body, /Error fetching product details!/);
    assert.match(r.body, /Error fetching product reviews!/);
    await mesh.apply(viewer("reviews-viewer", "reviews", "cluster.local/ns/default/sa/bookinfo-productpage"));
    r = await page();
    assert.doesNotMatch(r.body, /Error fetching product reviews!/);
    assert.match(r.body, /Ratings service is currently unavailable/);
  });

  it("ratings-viewer admits reviews' identity: the whole page, stars included", async () => {
    await mesh.apply(viewer("ratings-viewer", "ratings", "cluster.local/ns/default/sa/bookinfo-reviews"));
    const r = await page();
    assert.equal(r.status, 200);
    assert.doesNotMatch(r.body, /Error fetching|currently unavailable/);
    assert.match(r.body, /class="glyphicon glyphicon-star"/);
  });

  it("a principal that is not the caller's is denied: details-viewer for another service account", async () => {
    await mesh.apply(viewer("details-viewer", "details", "cluster.local/ns/default/sa/someone-else"));
    assert.match((await page()).body, /Error fetching product details!/);
  });
});
