// Delegate VirtualServices merged into their roots (Istio's model/virtualservice.go): a table of
// match merges and conflicts, exportTo and namespace visibility, missing delegates reported; and the
// merge done once per push, however many proxies, ports and generators read the routes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { HTTPMatchRequest, HTTPRoute, Resource } from "../../src/api/resource.js";
import { indexDelegates, mergeDelegates } from "../../src/model/virtualservice.js";
import { buildGrpcRoutes } from "../../src/xds/gen/grpc.js";
import { buildRouteConfigurations } from "../../src/xds/gen/routes.js";
import { bookinfo, testProxy } from "../helpers/xds.js";

function vs(namespace: string, name: string, spec: Resource<"VirtualService">["spec"]): Resource<"VirtualService"> {
  return { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name, namespace }, spec };
}

const dest = (host: string): HTTPRoute["route"] => [{ destination: { host } }];

/** Merges one root route (delegating to team/leaf) with one delegate route; the merged matches or "conflict". */
function mergeOne(root: HTTPMatchRequest[] | undefined, leaf: HTTPMatchRequest[] | undefined): HTTPMatchRequest[] | undefined | "conflict" {
  const rootVs = vs("default", "root", { hosts: ["reviews"], http: [{ match: root, delegate: { name: "leaf", namespace: "team" } }] });
  const leafVs = vs("team", "leaf", { http: [{ match: leaf, route: dest("reviews") }] });
  const { routes, errors } = mergeDelegates(rootVs, indexDelegates([rootVs, leafVs]));
  if (errors.length > 0) {
    assert.equal(routes.length, 0);
    assert.match(errors[0], /^VirtualService default\/root: spec\.http\[0\]\.delegate: delegate VirtualService team\/leaf: its spec\.http\[0\] conflicts with the root's match; left out$/);
    return "conflict";
  }
  assert.equal(routes.length, 1);
  assert.equal(routes[0].namespace, "team", "delegate routes resolve in the delegate's namespace");
  assert.equal(routes[0].route.delegate, undefined);
  return routes[0].route.match;
}

describe("delegate match merging (Istio's mergeHTTPMatchRequests / hasConflict)", () => {
  const cases: Array<[string, HTTPMatchRequest[] | undefined, HTTPMatchRequest[] | undefined, HTTPMatchRequest[] | undefined | "conflict"]> = [
    ["no matches on either side", undefined, undefined, undefined],
    ["root only: the root's matches", [{ uri: { prefix: "/a" } }], undefined, [{ uri: { prefix: "/a" } }]],
    ["delegate only: the delegate's matches", undefined, [{ uri: { exact: "/x" } }], [{ uri: { exact: "/x" } }]],
    ["prefix inside the root's prefix", [{ uri: { prefix: "/a" } }], [{ uri: { prefix: "/a/b" } }], [{ uri: { prefix: "/a/b" } }]],
    ["exact inside the root's prefix", [{ uri: { prefix: "/a" } }], [{ uri: { exact: "/a/x" } }], [{ uri: { exact: "/a/x" } }]],
    ["prefix outside the root's prefix", [{ uri: { prefix: "/a" } }], [{ uri: { prefix: "/b" } }], "conflict"],
    ["prefix under an exact root", [{ uri: { exact: "/a" } }], [{ uri: { prefix: "/a" } }], "conflict"],
    ["same exact", [{ uri: { exact: "/a" } }], [{ uri: { exact: "/a" } }], [{ uri: { exact: "/a" } }]],
    ["other exact", [{ uri: { exact: "/a" } }], [{ uri: { exact: "/b" } }], "conflict"],
    ["regex under a root regex", [{ uri: { regex: "/a.*" } }], [{ uri: { regex: "/a.*" } }], "conflict"],
    ["regex under a root prefix", [{ uri: { prefix: "/a" } }], [{ uri: { regex: "/a.*" } }], "conflict"],
    ["a header added to the root's uri", [{ uri: { prefix: "/a" } }], [{ headers: { u: { exact: "j" } } }], [{ uri: { prefix: "/a" }, headers: { u: { exact: "j" } } }]],
    ["conflicting header", [{ headers: { u: { exact: "j" } } }], [{ headers: { u: { exact: "k" } } }], "conflict"],
    ["conflicting query parameter", [{ queryParams: { q: { exact: "1" } } }], [{ queryParams: { q: { prefix: "1" } } }], "conflict"],
    ["conflicting withoutHeaders", [{ withoutHeaders: { u: { exact: "j" } } }], [{ withoutHeaders: { u: { exact: "k" } } }], "conflict"],
    ["ignoreUriCase differs", [{ ignoreUriCase: true }], [{ uri: { prefix: "/" } }], "conflict"],
    ["port differs", [{ port: 80 }], [{ port: 81 }], "conflict"],
    ["port inherited", [{ port: 80 }], [{ uri: { prefix: "/" } }], [{ uri: { prefix: "/" }, port: 80 }]],
    ["sourceNamespace differs", [{ sourceNamespace: "a" }], [{ sourceNamespace: "b" }], "conflict"],
    ["sourceLabels differ", [{ sourceLabels: { app: "a" } }], [{ sourceLabels: { app: "b" } }], "conflict"],
    ["sourceLabels added", [{ sourceLabels: { app: "a" } }], [{ sourceLabels: { v: "1" } }], [{ sourceLabels: { app: "a", v: "1" } }]],
    ["gateways not a subset of the root's", [{ gateways: ["mesh"] }], [{ gateways: ["mesh", "ns/gw"] }], "conflict"],
    ["gateways inherited", [{ gateways: ["ns/gw"] }], [{ uri: { prefix: "/" } }], [{ uri: { prefix: "/" }, gateways: ["ns/gw"] }]],
    ["names joined", [{ name: "r", uri: { prefix: "/a" } }], [{ name: "l" }], [{ name: "r-l", uri: { prefix: "/a" } }]],
    ["one root match of two fits", [{ uri: { prefix: "/a" } }, { uri: { prefix: "/b" } }], [{ uri: { prefix: "/b/1" } }], [{ uri: { prefix: "/b/1" } }]],
    ["each delegate match needs a root match", [{ uri: { prefix: "/a" } }], [{ uri: { prefix: "/a/1" } }, { uri: { prefix: "/c" } }], "conflict"],
  ];
  for (const [name, root, leaf, want] of cases) {
    it(name, () => {
      const got = mergeOne(root, leaf);
      // Compare without the keys merging leaves undefined.
      assert.deepEqual(got === "conflict" || got === undefined ? got : JSON.parse(JSON.stringify(got)), want);
    });
  }

  it("route fields: the delegate's win, the root's fill in; names joined; the delegate's own host stays", () => {
    const rootVs = vs("default", "root", {
      hosts: ["reviews"],
      http: [{ name: "root", timeout: "5s", retries: { attempts: 1 }, headers: { request: { set: { a: "1" } } }, delegate: { name: "leaf", namespace: "team" } }],
    });
    const leafVs = vs("team", "leaf", { http: [{ name: "leaf", timeout: "1s", route: dest("local") }] });
    const [r] = mergeDelegates(rootVs, indexDelegates([leafVs])).routes;
    assert.equal(r.route.name, "root-leaf");
    assert.equal(r.route.timeout, "1s");
    assert.deepEqual(r.route.retries, { attempts: 1 });
    assert.deepEqual(r.route.headers, { request: { set: { a: "1" } } });
    assert.deepEqual(r.route.route, dest("local"));
  });
});

describe("delegates in another namespace than their root", () => {
  it("what the root passes down resolves in the root's namespace (gateways, mirrors), the delegate's own in its", () => {
    const rootVs = vs("istio-system", "root", {
      hosts: ["shop.example.com"],
      gateways: ["web"],
      http: [{ match: [{ gateways: ["web"], uri: { prefix: "/shop" } }], mirror: { host: "audit" }, mirrors: [{ destination: { host: "audit2" } }], delegate: { name: "leaf", namespace: "team" } }],
    });
    const leafVs = vs("team", "leaf", {
      http: [
        { name: "own", match: [{ uri: { prefix: "/shop/a" }, gateways: ["istio-system/web"] }], route: dest("shop"), mirror: { host: "own-audit" } },
        { name: "inherits", route: dest("shop") },
      ],
    });
    const { routes, errors } = mergeDelegates(rootVs, indexDelegates([leafVs]));
    assert.deepEqual(errors, []);
    assert.deepEqual(
      routes.map((r) => [r.route.name, r.namespace, r.route.match?.[0].gateways, r.route.mirror?.host, r.route.mirrors?.[0].destination.host, r.route.route?.[0].destination?.host]),
      [
        // The delegate's short names stay, to resolve in its namespace ("team") when routes are built.
        ["own", "team", ["istio-system/web"], "own-audit", "audit2.istio-system.svc.cluster.local", "shop"],
        ["inherits", "team", ["istio-system/web"], "audit.istio-system.svc.cluster.local", "audit2.istio-system.svc.cluster.local", "shop"],
      ],
    );
  });

  it("a delegate's short gateway name is its own namespace's gateway when checked against the root's", () => {
    const rootVs = vs("istio-system", "root", { hosts: ["shop.example.com"], gateways: ["web"], http: [{ match: [{ gateways: ["web"] }], delegate: { name: "leaf", namespace: "team" } }] });
    // "web" in team is team/web: not one of the root's gateways.
    const leafVs = vs("team", "leaf", { http: [{ match: [{ gateways: ["web"] }], route: dest("shop") }] });
    const { routes, errors } = mergeDelegates(rootVs, indexDelegates([leafVs]));
    assert.equal(routes.length, 0);
    assert.match(errors[0], /conflicts with the root's match/);
  });
});

describe("delegate lookup and visibility", () => {
  const root = (delegate: { name: string; namespace?: string }) =>
    vs("default", "root", { hosts: ["reviews"], http: [{ delegate }, { name: "after", route: dest("reviews") }] });

  const cases: Array<[string, { name: string; namespace?: string }, Resource<"VirtualService">[], string | undefined]> = [
    ["no exportTo: visible everywhere", { name: "leaf", namespace: "team" }, [vs("team", "leaf", { http: [{ route: dest("a") }] })], undefined],
    ['exportTo ["*"]', { name: "leaf", namespace: "team" }, [vs("team", "leaf", { exportTo: ["*"], http: [{ route: dest("a") }] })], undefined],
    ["exported to the root's namespace", { name: "leaf", namespace: "team" }, [vs("team", "leaf", { exportTo: ["default"], http: [{ route: dest("a") }] })], undefined],
    [
      'exportTo ["."] from another namespace',
      { name: "leaf", namespace: "team" },
      [vs("team", "leaf", { exportTo: ["."], http: [{ route: dest("a") }] })],
      "delegate VirtualService team/leaf is not exported to default",
    ],
    ['exportTo ["."] in the root\'s own namespace (namespace defaults to the root\'s)', { name: "leaf" }, [vs("default", "leaf", { exportTo: ["."], http: [{ route: dest("a") }] })], undefined],
    ["missing", { name: "leaf", namespace: "team" }, [], "delegate VirtualService team/leaf not found"],
    ["a VirtualService with hosts is no delegate", { name: "leaf", namespace: "team" }, [vs("team", "leaf", { hosts: ["x"], http: [{ route: dest("a") }] })], "delegate VirtualService team/leaf not found"],
    ["in another namespace than named", { name: "leaf" }, [vs("team", "leaf", { http: [{ route: dest("a") }] })], "delegate VirtualService default/leaf not found"],
  ];
  for (const [name, delegate, delegates, error] of cases) {
    it(name, () => {
      const { routes, errors } = mergeDelegates(root(delegate), indexDelegates(delegates));
      if (error) {
        assert.deepEqual(errors, [`VirtualService default/root: spec.http[0].delegate: ${error}; route left out`]);
        assert.deepEqual(routes.map((r) => r.route.name), ["after"], "only the delegating route is left out");
      } else {
        assert.deepEqual(errors, []);
        assert.equal(routes.length, 2);
        assert.deepEqual(routes[0].route.route, dest("a"));
      }
    });
  }

  it("a delegate that delegates again is reported, its other routes kept", () => {
    const leafVs = vs("team", "leaf", { http: [{ name: "again", delegate: { name: "x" } }, { name: "ok", route: dest("a") }] });
    const { routes, errors } = mergeDelegates(root({ name: "leaf", namespace: "team" }), indexDelegates([leafVs]));
    assert.deepEqual(routes.map((r) => r.route.name), ["ok", "after"]);
    assert.match(errors.join("\n"), /team\/leaf: its spec\.http\[0\] \(again\) delegates again/);
  });
});

describe("delegates merged once per push", () => {
  const yaml = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews-root, namespace: default }
spec:
  hosts: [reviews]
  http:
  - name: root
    match: [{ uri: { prefix: /reviews } }]
    delegate: { name: reviews-leaf, namespace: team }
  - route: [{ destination: { host: reviews, subset: v1 } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews-leaf, namespace: team }
spec:
  http:
  - name: jason
    match: [{ uri: { prefix: /reviews/v2 }, sourceLabels: { app: productpage } }]
    route: [{ destination: { host: reviews.default.svc.cluster.local, subset: v2 } }]
  - name: rest
    route: [{ destination: { host: reviews.default.svc.cluster.local, subset: v3 } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ratings-root, namespace: default }
spec:
  hosts: [ratings]
  http:
  - delegate: { name: ratings-leaf }
  - delegate: { name: missing }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ratings-leaf, namespace: default }
spec:
  http:
  - route: [{ destination: { host: ratings, subset: v1 } }]
`;

  it("sidecars with many labels and namespaces, every port and proxyless gRPC read one merge per root", () => {
    const push = bookinfo(yaml);
    assert.equal(push.delegateMerges, 2, "both roots merged when the snapshot is built");
    assert.deepEqual(push.virtualServiceErrors, ["VirtualService default/ratings-root: spec.http[1].delegate: delegate VirtualService default/missing not found; route left out"]);
    const names = new Set<string>();
    const clusters = new Set<string>();
    for (let i = 0; i < 60; i++) {
      // Labels differ per proxy and some match uses sourceLabels: nothing is shared between proxies.
      const generator = i % 3 === 2 ? { GENERATOR: "grpc" } : undefined;
      const p = testProxy({ ip: `127.0.9.${i + 1}`, name: `p${i}`, labels: { app: i % 2 ? "productpage" : "details", i: String(i) }, metadata: generator });
      const rcs = generator ? buildGrpcRoutes(p, push, ["reviews.default.svc.cluster.local:9080"]) : buildRouteConfigurations(p, push);
      for (const rc of rcs) for (const vh of rc.virtualHosts ?? []) for (const r of vh.routes ?? []) {
        if (r.name) names.add(r.name);
        if (r.route?.cluster) clusters.add(r.route.cluster);
      }
    }
    // The merged routes reach the proxies (root-jason only those with productpage's labels).
    assert.deepEqual([...names].sort(), ["allow_any", "default", "root-jason", "root-rest"]);
    assert.ok(clusters.has("outbound|9080|v1|ratings.default.svc.cluster.local"), "ratings' delegate route is there, the missing one left out");
    assert.equal(push.delegateMerges, 2, "no generator merged again");

    assert.equal(bookinfo(yaml).delegateMerges, 2, "a new push merges again");
    const eds = push.withRegistry(push.registry, push.input.workloadEntries);
    assert.equal(eds.delegateMerges, 0, "an endpoints-only push keeps the merged VirtualServices");
    const root = push.input.virtualServices.find((v) => v.metadata.name === "reviews-root");
    assert.ok(root);
    assert.equal(eds.httpRoutes(root), push.httpRoutes(root), "the very same merged routes");
  });
});
