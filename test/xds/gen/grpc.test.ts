// The proxyless gRPC form (Istio's grpcgen): golden output for bookinfo targets and the rules a
// gRPC client would otherwise NACK (api_listener, EDS only, route actions only).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { packageRoot } from "../../../src/core/paths.js";
import { CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE } from "../../../src/envoy/protos.js";
import { buildGrpcClusters, buildGrpcListeners, buildGrpcRoutes, resolveGrpcTarget } from "../../../src/xds/gen/grpc.js";
import { assertGolden, assertRoundTrip, bookinfo, testProxy } from "../../helpers/xds.js";

const sample = (f: string) => readFileSync(join(packageRoot(), "samples", "bookinfo", "networking", f), "utf8");
const proxy = testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage", version: "v1" }, metadata: { GENERATOR: "grpc" } });

describe("proxyless gRPC generators", () => {
  it("resolves targets by FQDN and short names in the client's namespace", () => {
    const push = bookinfo();
    for (const name of ["reviews.default.svc.cluster.local:9080", "reviews:9080", "reviews.default:9080", "reviews.default.svc:9080"]) {
      assert.equal(resolveGrpcTarget(proxy, push, name)?.service.hostname, "reviews.default.svc.cluster.local", name);
    }
    for (const name of ["reviews:9999", "nope:9080", "reviews", "reviews:x"]) assert.equal(resolveGrpcTarget(proxy, push, name), undefined, name);
  });

  it("builds listener, route, subset clusters for reviews with Istio's reviews-50-v3 rule (golden)", () => {
    const push = bookinfo(sample("virtual-service-reviews-50-v3.yaml"));
    const target = "reviews.default.svc.cluster.local:9080";
    const listeners = buildGrpcListeners(proxy, push, [target, "unknown:1"]);
    const routes = buildGrpcRoutes(proxy, push, [target]);
    const clusters = buildGrpcClusters(proxy, push, ["outbound|9080|v1|reviews.default.svc.cluster.local", "outbound|9080|v3|reviews.default.svc.cluster.local", "outbound|9080|v9|reviews.default.svc.cluster.local"]);
    assert.equal(listeners.length, 1);
    assert.equal(clusters.length, 2, "an unknown subset does not exist");
    for (const l of listeners) assertRoundTrip(LISTENER_TYPE, l, String(l.name));
    for (const r of routes) assertRoundTrip(ROUTE_TYPE, r, String(r.name));
    for (const c of clusters) {
      assertRoundTrip(CLUSTER_TYPE, c, String(c.name));
      assert.equal(c.type, "EDS");
      assert.ok(c.lbPolicy === undefined || c.lbPolicy === "RING_HASH", "gRPC accepts ROUND_ROBIN (default) or RING_HASH");
    }
    const text = JSON.stringify(routes);
    assert.match(text, /"weight":\{"value":50\}/);
    assert.doesNotMatch(text, /redirect|directResponse/);
    assertGolden("grpc-reviews-50-v3", { listeners, routes, clusters });
  });
});
