// Concrete routing decisions on the control plane's bookinfo golden RouteConfigurations (test/xds/gen/
// testdata/routes-*.json), raw and after the encode/decode round trip the proxy sees over xDS.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { packageRoot } from "../../../src/core/paths.js";
import { decodeMessage, encodeMessage, isAnyOf, ROUTE_TYPE } from "../../../src/envoy/protos.js";
import type { RouteConfiguration } from "../../../src/envoy/types.js";
import { pickWeightedCluster } from "../../../src/proxy/http/route-actions.js";
import { RouteTable, type CompiledRoute, type RequestView } from "../../../src/proxy/http/route-table.js";
import { clusterOf, req, routeAction } from "./route-table-helpers.js";

describe("bookinfo golden RouteConfigurations", () => {
  const dir = join(packageRoot(), "test", "xds", "gen", "testdata");
  const load = (name: string): RouteConfiguration => JSON.parse(readFileSync(join(dir, `routes-${name}.json`), "utf8")) as RouteConfiguration;
  /** The golden JSON as the proxy will see it: encoded by the control plane, decoded by the proxy. */
  const decoded = (name: string): RouteTable => RouteTable.compile(decodeMessage(ROUTE_TYPE, encodeMessage(ROUTE_TYPE, load(name))));
  const R = (host: string, path = "/", headers: Record<string, string> = {}): RequestView => req(host, path, headers);
  const cluster = (host: string, subset = ""): string => `outbound|9080|${subset}|${host}.default.svc.cluster.local`;

  it("every routes-*.json golden compiles (raw and after an encode/decode round trip)", () => {
    const files = readdirSync(dir).filter((f) => f.startsWith("routes-") && f.endsWith(".json"));
    assert.ok(files.length >= 8);
    for (const f of files) {
      const json = JSON.parse(readFileSync(join(dir, f), "utf8")) as RouteConfiguration | RouteConfiguration[];
      for (const rc of Array.isArray(json) ? json : [json]) {
        const t = RouteTable.compile(rc);
        assert.equal(t.name, rc.name);
        RouteTable.compile(decodeMessage(ROUTE_TYPE, encodeMessage(ROUTE_TYPE, rc)));
      }
    }
  });

  it("sidecar 9080, reviews-test-v2: jason goes to v2, everyone else to v1", () => {
    const t = decoded("sidecar-9080-reviews-test-v2");
    assert.equal(t.name, "9080");
    assert.equal(t.ignorePortInHostMatching, true);
    assert.equal(clusterOf(t, R("reviews:9080", "/reviews/0", { "end-user": "jason" })), cluster("reviews", "v2"));
    assert.equal(clusterOf(t, R("reviews:9080", "/reviews/0", { "end-user": "bob" })), cluster("reviews", "v1"));
    assert.equal(clusterOf(t, R("reviews:9080", "/reviews/0")), cluster("reviews", "v1"));
    assert.equal(clusterOf(t, R("Reviews.Default.Svc.Cluster.Local:9080", "/", { "end-user": "jason" })), cluster("reviews", "v2"));
    assert.equal(clusterOf(t, R("reviews.default", "/", { "end-user": "Jason" })), cluster("reviews", "v1"));
    assert.equal(clusterOf(t, R("ratings.default.svc:9080", "/ratings/0")), cluster("ratings"));
    assert.equal(clusterOf(t, R("details:9080")), cluster("details"));
    assert.equal(clusterOf(t, R("productpage")), cluster("productpage"));
    // Anything else: the allow_any virtual host.
    const other = t.match(R("example.com", "/x"));
    assert.equal(other?.vhost.name, "allow_any");
    assert.equal(other?.route.name, "allow_any");
    assert.equal(clusterOf(t, R("example.com")), "PassthroughCluster");

    const m = t.match(R("reviews:9080", "/", { "end-user": "jason" }));
    assert.ok(m);
    assert.equal(m.vhost.name, "reviews.default.svc.cluster.local:9080");
    assert.equal(m.route.decorator?.operation, "reviews.default.svc.cluster.local:9080/*");
    const a = routeAction(m.route);
    assert.equal(a.timeoutMs, 0);
    assert.equal(a.maxGrpcTimeoutMs, 0);
    assert.equal(a.includeRequestAttemptCount, true);
    assert.deepEqual(a.retryPolicy?.retryOn, ["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"]);
    assert.equal(a.retryPolicy?.numRetries, 2);
    assert.deepEqual(a.retryPolicy?.retriableStatusCodes, [503]);
    assert.deepEqual(a.retryPolicy?.retryHostPredicates, ["envoy.retry_host_predicates.previous_hosts"]);
    assert.equal(a.retryPolicy?.hostSelectionRetryMaxAttempts, 5);
    assert.equal(routeAction(t.match(R("example.com"))?.route as CompiledRoute).retryPolicy, undefined);
  });

  it("gateway http.8080: bookinfo paths go to productpage, others find no route", () => {
    const t = decoded("gateway-http-8080");
    assert.equal(t.name, "http.8080");
    const pp = cluster("productpage");
    for (const path of ["/productpage", "/productpage?u=normal", "/static/css/style.css", "/static", "/login", "/logout", "/api/v1/products", "/api/v1/products/0/reviews"]) {
      assert.equal(clusterOf(t, R("bookinfo.example.com:8080", path)), pp, path);
    }
    for (const path of ["/other", "/", "/productpage/x", "/Productpage", "/login/x", "/api/v1/product"]) {
      assert.equal(t.match(R("bookinfo.example.com", path)), undefined, path);
    }
    assert.equal(t.match(R("any.host", "/static/x"))?.route.decorator?.operation, "productpage.default.svc.cluster.local:9080/static*");
  });

  it("reviews 50/50 v1/v3 splits by the random number", () => {
    const t = decoded("sidecar-9080-reviews-50-v3");
    const m = t.match(R("reviews:9080", "/reviews/1"));
    assert.ok(m);
    const a = routeAction(m.route);
    assert.equal(a.weightedClusters?.totalWeight, 100);
    assert.equal(pickWeightedCluster(a, 0.1), cluster("reviews", "v1"));
    assert.equal(pickWeightedCluster(a, 0.4999), cluster("reviews", "v1"));
    assert.equal(pickWeightedCluster(a, 0.5), cluster("reviews", "v3"));
    assert.equal(pickWeightedCluster(a, 0.99), cluster("reviews", "v3"));
  });

  it("reviews v2/v3 and all-v1 route by subset", () => {
    const all = decoded("sidecar-9080-all-v1");
    for (const svc of ["reviews", "ratings", "details", "productpage"]) assert.equal(clusterOf(all, R(`${svc}:9080`)), cluster(svc, "v1"), svc);
    const v23 = decoded("sidecar-9080-reviews-v2-v3");
    const a = routeAction(v23.match(R("reviews:9080"))?.route as CompiledRoute);
    const picks = new Set([0, 0.25, 0.5, 0.75, 0.99].map((r) => pickWeightedCluster(a, r)));
    assert.ok([...picks].every((c) => c.startsWith("outbound|9080|v2|") || c.startsWith("outbound|9080|v3|")), [...picks].join());
    const novs = decoded("sidecar-9080-no-vs");
    assert.equal(clusterOf(novs, R("reviews:9080", "/", { "end-user": "jason" })), cluster("reviews"));
    assert.equal(novs.match(R("reviews:9080"))?.route.name, "default");
  });

  it("ratings fault injection: jason's route carries the fault filter config", () => {
    const abort = decoded("sidecar-9080-ratings-test-abort");
    const j = abort.match(R("ratings:9080", "/ratings/0", { "end-user": "jason" }));
    assert.ok(j);
    const f = j.route.filterConfigs["envoy.filters.http.fault"];
    assert.ok(isAnyOf(f, "envoy.extensions.filters.http.fault.v3.HTTPFault"));
    assert.deepEqual(f.abort, { httpStatus: 500, percentage: { numerator: 1000000, denominator: "MILLION" } });
    const other = abort.match(R("ratings:9080", "/ratings/0"));
    assert.equal(other?.route.filterConfigs["envoy.filters.http.fault"], undefined);
    assert.equal(clusterOf(abort, R("ratings:9080", "/", { "end-user": "jason" })), cluster("ratings", "v1"));

    const delay = decoded("sidecar-9080-ratings-test-delay");
    const d = delay.match(R("ratings.default.svc.cluster.local", "/", { "end-user": "jason" }))?.route.filterConfigs["envoy.filters.http.fault"];
    assert.ok(isAnyOf(d, "envoy.extensions.filters.http.fault.v3.HTTPFault"));
    assert.deepEqual(d.delay?.fixedDelay, { seconds: 7 });
  });
});
