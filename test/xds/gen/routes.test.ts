// RouteConfigurations for sidecars and gateways: golden files for bookinfo and Istio's samples,
// table tests for virtual hosts, domains, names, catch-all policy and memoization.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { packageRoot } from "../../../src/core/paths.js";
import { ROUTE_TYPE } from "../../../src/envoy/protos.js";
import type { HashPolicy, RouteConfiguration, VirtualHost } from "../../../src/envoy/types.js";
import type { PushContext } from "../../../src/model/push-context.js";
import { defaultRetryPolicy } from "../../../src/xds/gen/retry.js";
import {
  buildRouteConfigurations,
  buildSidecarVirtualHosts,
  gatewayRouteNames,
  sidecarRouteNames,
  type RouteOptions,
} from "../../../src/xds/gen/routes.js";
import { altVirtualHosts, DomainSet, serviceDomains } from "../../../src/xds/gen/vhosts.js";
import { assertGolden, assertRoundTrip, bookinfo, pushContext, resourcesFromPaths, testProxy } from "../../helpers/xds.js";
import type { Proxy } from "../../../src/model/proxy.js";

/** Istio's bookinfo routing rules, as the repository ships them. */
const SAMPLES = join(packageRoot(), "samples", "bookinfo", "networking");
const sample = (file: string): string => readFileSync(join(SAMPLES, file), "utf8");

const productpage = testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage", version: "v1" } });
const ingress = testProxy({ type: "router", ip: "127.0.1.1", name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" } });

/** Builds, checks every RouteConfiguration round-trips and has no domain twice. */
function routes(proxy: Proxy, push: PushContext, names?: readonly string[], opts?: RouteOptions): RouteConfiguration[] {
  const out = buildRouteConfigurations(proxy, push, names, opts);
  for (const rc of out) {
    assertRoundTrip(ROUTE_TYPE, rc, `RouteConfiguration ${String(rc.name)}`);
    const seen = new Set<string>();
    for (const vh of vhosts(rc)) {
      for (const d of vh.domains ?? []) {
        assert.ok(!seen.has(d.toLowerCase()), `${String(rc.name)}: domain ${d} appears twice`);
        seen.add(d.toLowerCase());
      }
    }
  }
  return out;
}

function one(proxy: Proxy, push: PushContext, name: string, opts?: RouteOptions): RouteConfiguration {
  const [rc] = routes(proxy, push, [name], opts);
  assert.ok(rc, `route ${name} expected`);
  return rc;
}

function vhosts(rc: RouteConfiguration): VirtualHost[] {
  return rc.virtualHosts ?? [];
}

function vhost(rc: RouteConfiguration, name: string): VirtualHost {
  const vh = vhosts(rc).find((v) => v.name === name);
  assert.ok(vh, `virtual host ${name} in ${vhosts(rc).map((v) => v.name).join(", ")}`);
  return vh;
}

function firstCluster(vh: VirtualHost): unknown {
  return vh.routes?.[0].route?.cluster;
}

describe("route names", () => {
  it("sidecar: HTTP service ports; gateway: http.PORT per server", () => {
    const push = bookinfo();
    assert.deepEqual(sidecarRouteNames(productpage, push), ["80", "9080"]);
    assert.deepEqual(gatewayRouteNames(ingress, push), ["http.8080"]);
    assert.deepEqual(gatewayRouteNames(testProxy({ type: "router", ip: "127.0.1.9", name: "other", labels: { istio: "egress" } }), push), []);
  });

  it("names that do not exist are skipped", () => {
    const push = bookinfo();
    assert.deepEqual(
      routes(productpage, push, ["9080", "nope", "12345", "9080"]).map((r) => r.name),
      ["9080"],
    );
    assert.deepEqual(
      routes(ingress, push, ["http.8080", "http.9999", "9080"]).map((r) => r.name),
      ["http.8080"],
    );
  });

  it("TLS-terminating HTTPS servers get https.PORT.PORTNAME.GATEWAY.NAMESPACE; passthrough none", () => {
    const push = bookinfo(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: secure, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 8443, name: https-web, protocol: HTTPS }
    hosts: ["*.example.com"]
    tls: { mode: SIMPLE, credentialName: web-cert }
  - port: { number: 9443, name: tls-pass, protocol: TLS }
    hosts: ["*"]
    tls: { mode: PASSTHROUGH }
`);
    assert.deepEqual(gatewayRouteNames(ingress, push), ["http.8080", "https.8443.https-web.secure.istio-system"]);
  });
});

describe("sidecar RouteConfiguration golden files (bookinfo, productpage's view of port 9080)", () => {
  const cases: [string, string | undefined][] = [
    ["routes-sidecar-9080-no-vs", undefined],
    ["routes-sidecar-9080-all-v1", "virtual-service-all-v1.yaml"],
    ["routes-sidecar-9080-reviews-test-v2", "virtual-service-reviews-test-v2.yaml"],
    ["routes-sidecar-9080-reviews-50-v3", "virtual-service-reviews-50-v3.yaml"],
    ["routes-sidecar-9080-ratings-test-delay", "virtual-service-ratings-test-delay.yaml"],
    ["routes-sidecar-9080-ratings-test-abort", "virtual-service-ratings-test-abort.yaml"],
    ["routes-sidecar-9080-reviews-v2-v3", "virtual-service-reviews-v2-v3.yaml"],
  ];
  for (const [golden, file] of cases) {
    it(file ?? "no VirtualService", () => {
      const push = file ? bookinfo(sample(file)) : bookinfo();
      assertGolden(golden, one(productpage, push, "9080"));
    });
  }

  it("reviews-test-v2: jason's header route first, then the catch-all", () => {
    const rc = one(productpage, bookinfo(sample("virtual-service-reviews-test-v2.yaml")), "9080");
    const rs = vhost(rc, "reviews.default.svc.cluster.local:9080").routes ?? [];
    assert.deepEqual(
      rs.map((r) => [r.match?.headers, r.route?.cluster]),
      [
        [[{ name: "end-user", stringMatch: { exact: "jason" } }], "outbound|9080|v2|reviews.default.svc.cluster.local"],
        [undefined, "outbound|9080|v1|reviews.default.svc.cluster.local"],
      ],
    );
  });
});

describe("gateway RouteConfiguration", () => {
  it("Istio's jwt-route task: a claim match on the gateway becomes a jwt_authn metadata match before the catch-all", () => {
    const push = bookinfo(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: claims, namespace: default }
spec:
  hosts: [claims.example.com]
  gateways: [bookinfo-gateway]
  http:
  - match: [{ uri: { prefix: /headers }, headers: { "@request.auth.claims.groups": { exact: group1 } } }]
    route: [{ destination: { host: productpage, port: { number: 9080 } } }]
`);
    const routesOf = vhost(one(ingress, push, "http.8080"), "claims.example.com:8080").routes ?? [];
    assert.equal(routesOf.length, 1);
    const value = { exact: "group1" };
    assert.deepEqual(routesOf[0].match, {
      prefix: "/headers",
      caseSensitive: { value: true },
      dynamicMetadata: [
        {
          filter: "envoy.filters.http.jwt_authn",
          path: [{ key: "payload" }, { key: "groups" }],
          value: { orMatch: { valueMatchers: [{ listMatch: { oneOf: { stringMatch: value } } }, { stringMatch: value }] } },
        },
      ],
    });
  });

  it("golden: bookinfo-gateway http.8080", () => {
    const rc = one(ingress, bookinfo(), "http.8080");
    assertGolden("routes-gateway-http-8080", rc);
    const vh = vhost(rc, "*:8080");
    assert.deepEqual(vh.domains, ["*"]);
    assert.deepEqual(
      (vh.routes ?? []).map((r) => [r.match, r.route?.cluster]),
      [
        [{ path: "/productpage", caseSensitive: { value: true } }, "outbound|9080||productpage.default.svc.cluster.local"],
        [{ prefix: "/static", caseSensitive: { value: true } }, "outbound|9080||productpage.default.svc.cluster.local"],
        [{ path: "/login", caseSensitive: { value: true } }, "outbound|9080||productpage.default.svc.cluster.local"],
        [{ path: "/logout", caseSensitive: { value: true } }, "outbound|9080||productpage.default.svc.cluster.local"],
        [{ prefix: "/api/v1/products", caseSensitive: { value: true } }, "outbound|9080||productpage.default.svc.cluster.local"],
      ],
    );
  });

  const GATEWAY = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: web, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers:
  # Not a port of the gateway's service (80 would be listened on, and routed, at its target port 8080).
  - port: { number: 8081, name: http, protocol: HTTP }
    hosts: ["default/shop.example.com", "team/*", "plain.example.com", "redirect-only.example.com"]
    tls: { httpsRedirect: true }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shop, namespace: default }
spec:
  hosts: [shop.example.com, plain.example.com, www.example.com]
  gateways: [istio-system/web, mesh]
  http:
  - match: [{ gateways: [mesh], uri: { prefix: /mesh-only } }]
    route: [{ destination: { host: productpage } }]
  - match: [{ gateways: [istio-system/web], uri: { prefix: /shop } }]
    route: [{ destination: { host: productpage } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shop-elsewhere, namespace: other }
spec:
  hosts: [shop.example.com]
  gateways: [istio-system/web]
  http:
  - route: [{ destination: { host: ratings.default.svc.cluster.local } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: team, namespace: team }
spec:
  hosts: [a.team.example.com, b.team.example.com]
  gateways: [istio-system/web]
  http:
  - route: [{ destination: { host: details.default.svc.cluster.local } }]
`;

  it("intersects VirtualService hosts with server hosts (ns/host filters the VS namespace), collapses identical routes, httpsRedirect", () => {
    const rc = one(ingress, bookinfo(GATEWAY), "http.8081");
    assert.deepEqual(
      vhosts(rc).map((v) => [v.name, v.domains, v.requireTls]),
      [
        // httpsRedirect: every server host redirects, routes or not (team/* → "*").
        ["*:8081", ["*"], "ALL"],
        // team/* admits both team hosts; they share one route list, so one virtual host.
        ["a.team.example.com:8081", ["a.team.example.com", "b.team.example.com"], "ALL"],
        // plain.example.com and shop.example.com come from the same VirtualService: collapsed too.
        ["plain.example.com:8081", ["plain.example.com", "shop.example.com"], "ALL"],
        ["redirect-only.example.com:8081", ["redirect-only.example.com"], "ALL"],
      ],
    );
    // www.example.com is not a server host; shop-elsewhere (namespace other) is filtered by default/shop.example.com.
    const shop = vhost(rc, "plain.example.com:8081").routes ?? [];
    assert.deepEqual(
      shop.map((r) => r.match?.prefix),
      ["/shop"],
    );
    assert.equal(vhost(rc, "redirect-only.example.com:8081").routes, undefined);
  });

  it("a gateway with no bound VirtualService answers 404 from a blackhole virtual host", () => {
    const push = bookinfo(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: empty, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 7070, name: http-empty, protocol: HTTP }
    hosts: ["*"]
`);
    const rc = one(ingress, push, "http.7070");
    assert.deepEqual(vhosts(rc), [{ name: "blackhole:7070", domains: ["*"], includeRequestAttemptCount: true }]);
  });

  it("ports in domains when ignorePortInHostMatching is off", () => {
    const rc = one(ingress, bookinfo(GATEWAY), "http.8081", { ignorePortInHostMatching: false });
    assert.equal(rc.ignorePortInHostMatching, undefined);
    assert.deepEqual(vhost(rc, "redirect-only.example.com:8081").domains, ["redirect-only.example.com", "redirect-only.example.com:8081"]);
    assert.deepEqual(vhost(one(ingress, bookinfo(), "http.8080", { ignorePortInHostMatching: false }), "*:8080").domains, ["*"]);
  });

  it("is shared by gateways with the same labels and namespace", () => {
    const push = bookinfo();
    const other = testProxy({ type: "router", ip: "127.0.1.2", name: "istio-ingressgateway-2", namespace: "istio-system", labels: { istio: "ingressgateway" } });
    assert.equal(routes(ingress, push)[0], routes(other, push)[0]);
  });
});

describe("sidecar virtual hosts and domains", () => {
  it("short names for the proxy's own namespace; namespace-qualified ones from elsewhere", () => {
    const push = bookinfo();
    assert.deepEqual(vhost(one(productpage, push, "9080"), "reviews.default.svc.cluster.local:9080").domains, [
      "reviews.default.svc.cluster.local",
      "reviews",
      "reviews.default.svc",
      "reviews.default",
    ]);
    const elsewhere = testProxy({ ip: "127.0.9.1", name: "client", namespace: "other" });
    assert.deepEqual(vhost(one(elsewhere, push, "9080"), "reviews.default.svc.cluster.local:9080").domains, [
      "reviews.default.svc.cluster.local",
      "reviews.default",
      "reviews.default.svc",
    ]);
  });

  const EXTERNAL = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: api, namespace: default }
spec:
  hosts: [api.example.com]
  addresses: [240.0.0.10]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 9080, name: http, protocol: HTTP }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: api2, namespace: default }
spec:
  hosts: [api2.example.com]
  addresses: [240.0.0.10]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 9080, name: http, protocol: HTTP }]
`;

  it("VIPs are domains; a domain two services share stays with the first", () => {
    const rc = one(productpage, bookinfo(EXTERNAL), "9080");
    assert.deepEqual(vhost(rc, "api.example.com:9080").domains, ["api.example.com", "240.0.0.10"]);
    assert.deepEqual(vhost(rc, "api2.example.com:9080").domains, ["api2.example.com"]);
  });

  it("with ignorePortInHostMatching off, every domain also with :PORT", () => {
    const rc = one(productpage, bookinfo(EXTERNAL), "9080", { ignorePortInHostMatching: false });
    assert.equal(rc.ignorePortInHostMatching, undefined);
    assert.deepEqual(vhost(rc, "api.example.com:9080").domains, ["api.example.com", "api.example.com:9080", "240.0.0.10", "240.0.0.10:9080"]);
    assert.deepEqual(vhost(rc, "reviews.default.svc.cluster.local:9080").domains, [
      "reviews.default.svc.cluster.local",
      "reviews.default.svc.cluster.local:9080",
      "reviews",
      "reviews:9080",
      "reviews.default.svc",
      "reviews.default.svc:9080",
      "reviews.default",
      "reviews.default:9080",
    ]);
  });

  it("vhosts.ts: alt hosts, IPv6 VIPs, dedupe", () => {
    assert.deepEqual(altVirtualHosts("foo.bar.svc.cluster.local", 80, "bar.svc.cluster.local"), ["foo", "foo:80", "foo.bar.svc", "foo.bar.svc:80", "foo.bar", "foo.bar:80"]);
    assert.deepEqual(altVirtualHosts("foo.bar.svc.cluster.local", undefined, "baz.svc.cluster.local"), ["foo.bar", "foo.bar.svc"]);
    assert.deepEqual(altVirtualHosts("api.example.com", undefined, "default.svc.cluster.local"), []);
    assert.deepEqual(altVirtualHosts("foo.local.campus.net", undefined, "local.campus.net"), ["foo"]);
    assert.deepEqual(altVirtualHosts("foo.ns1.campus.net", undefined, "ns2.campus.net"), ["foo.ns1", "foo.ns1.campus"]);
    assert.deepEqual(serviceDomains("v6.example.com", ["2001:db8::1", "10.0.0.0/24", "10.0.0.5/32"], 8080, "default.svc.cluster.local").domains, [
      "v6.example.com",
      "v6.example.com:8080",
      "[2001:db8::1]",
      "[2001:db8::1]:8080",
      "10.0.0.5",
      "10.0.0.5:8080",
    ]);
    const set = new DomainSet(new Set(["foo.com"]));
    assert.deepEqual(set.take(["a", "A", "b"]), ["a", "b"]);
    assert.deepEqual(set.take(["b", "c", "foo.com"], ["foo.com"]), ["c"]);
  });

  it("ALLOW_ANY ends with allow_any → PassthroughCluster; REGISTRY_ONLY with block_all → 502", () => {
    const allow = vhosts(one(productpage, bookinfo(), "9080")).at(-1);
    assert.deepEqual(allow, {
      name: "allow_any",
      domains: ["*"],
      routes: [{ name: "allow_any", match: { prefix: "/" }, route: { cluster: "PassthroughCluster", timeout: {}, maxGrpcTimeout: {} } }],
      includeRequestAttemptCount: true,
    });
    const blockAll = {
      name: "block_all",
      domains: ["*"],
      routes: [{ name: "block_all", match: { prefix: "/" }, directResponse: { status: 502 } }],
      includeRequestAttemptCount: true,
    };
    const mesh = pushContext(resourcesFromPaths("examples/bookinfo"), { outboundTrafficPolicy: "REGISTRY_ONLY" });
    assert.deepEqual(vhosts(one(productpage, mesh, "9080")).at(-1), blockAll);
    const sidecar = bookinfo(`
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: default }
spec:
  outboundTrafficPolicy: { mode: REGISTRY_ONLY }
`);
    assert.deepEqual(vhosts(one(productpage, sidecar, "9080")).at(-1), blockAll);
  });

  it("Sidecar egress hosts limit services and VirtualServices", () => {
    const push = bookinfo(
      sample("virtual-service-all-v1.yaml"),
      `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: default }
spec:
  egress: [{ hosts: ["./reviews.default.svc.cluster.local", "./details.default.svc.cluster.local"] }]
`,
    );
    const rc = one(productpage, push, "9080");
    assert.deepEqual(
      vhosts(rc).map((v) => [v.name, firstCluster(v)]),
      [
        ["details.default.svc.cluster.local:9080", "outbound|9080|v1|details.default.svc.cluster.local"],
        ["reviews.default.svc.cluster.local:9080", "outbound|9080|v1|reviews.default.svc.cluster.local"],
        ["allow_any", "PassthroughCluster"],
      ],
    );
  });

  it("the first (oldest) VirtualService for a host wins", () => {
    const push = bookinfo(sample("virtual-service-reviews-v3.yaml"), sample("virtual-service-reviews-test-v2.yaml").replace("name: reviews", "name: reviews-newer"));
    const rc = one(productpage, push, "9080");
    assert.deepEqual(
      (vhost(rc, "reviews.default.svc.cluster.local:9080").routes ?? []).map((r) => r.route?.cluster),
      ["outbound|9080|v3|reviews.default.svc.cluster.local"],
    );
  });

  it("VirtualService hosts that are not services: own virtual host on port 80 only; shared with services elsewhere", () => {
    const push = bookinfo(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: www, namespace: default }
spec:
  hosts: [www.example.com]
  http: [{ route: [{ destination: { host: productpage, port: { number: 9080 } } }] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: mixed, namespace: default }
spec:
  hosts: [ratings, ratings.example.com]
  http: [{ route: [{ destination: { host: ratings, subset: v1 } }] }]
`);
    const rc80 = one(productpage, push, "80");
    assert.deepEqual(vhost(rc80, "www.example.com:80").domains, ["www.example.com"]);
    assert.equal(firstCluster(vhost(rc80, "www.example.com:80")), "outbound|9080||productpage.default.svc.cluster.local");
    const rc9080 = one(productpage, push, "9080");
    assert.ok(!vhosts(rc9080).some((v) => v.name === "www.example.com:9080"));
    assert.deepEqual(vhost(rc9080, "ratings.example.com:9080").domains, ["ratings.example.com"]);
    assert.equal(firstCluster(vhost(rc9080, "ratings.example.com:9080")), "outbound|9080|v1|ratings.default.svc.cluster.local");
  });

  it("wildcard VirtualService hosts claim matching services; an exact host wins", () => {
    const push = bookinfo(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: everything, namespace: default }
spec:
  hosts: ["*.default.svc.cluster.local"]
  http: [{ timeout: 3s, route: [{ destination: { host: details } }] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: default }
spec:
  hosts: [reviews]
  http: [{ route: [{ destination: { host: reviews, subset: v2 } }] }]
`);
    const rc = one(productpage, push, "9080");
    assert.equal(firstCluster(vhost(rc, "ratings.default.svc.cluster.local:9080")), "outbound|9080||details.default.svc.cluster.local");
    assert.equal(firstCluster(vhost(rc, "reviews.default.svc.cluster.local:9080")), "outbound|9080|v2|reviews.default.svc.cluster.local");
    assert.ok(!vhosts(rc).some((v) => String(v.name).startsWith("*")));
  });

  it("sourceLabels: routes differ by proxy labels, and the memo key includes labels only then", () => {
    const vs = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: default }
spec:
  hosts: [reviews]
  http:
  - match: [{ sourceLabels: { app: productpage } }]
    route: [{ destination: { host: reviews, subset: v2 } }]
  - route: [{ destination: { host: reviews, subset: v1 } }]
`;
    const push = bookinfo(vs);
    const reviewsProxy = testProxy({ ip: "127.0.4.1", name: "reviews-v1", labels: { app: "reviews", version: "v1" } });
    const clusters = (p: Proxy): unknown[] =>
      (vhost(one(p, push, "9080"), "reviews.default.svc.cluster.local:9080").routes ?? []).map((r) => r.route?.cluster);
    assert.deepEqual(clusters(productpage), ["outbound|9080|v2|reviews.default.svc.cluster.local"]);
    assert.deepEqual(clusters(reviewsProxy), ["outbound|9080|v1|reviews.default.svc.cluster.local"]);
    const twin = testProxy({ ip: "127.0.2.2", name: "productpage-v1-b", labels: { app: "productpage", version: "v1" } });
    assert.equal(one(productpage, push, "9080"), one(twin, push, "9080"), "same labels share one object");

    const plain = bookinfo();
    assert.equal(one(productpage, plain, "9080"), one(reviewsProxy, plain, "9080"), "labels do not matter without sourceLabels");
  });

  it("sniffed service route HOST:PORT: that service's virtual host with domains [*], no catch-all", () => {
    const rc = one(productpage, bookinfo(), "reviews.default.svc.cluster.local:9080");
    assert.deepEqual(
      vhosts(rc).map((v) => [v.name, v.domains]),
      [["reviews.default.svc.cluster.local:9080", ["*"]]],
    );
    assert.deepEqual(routes(productpage, bookinfo(), ["nothing.example.com:9080"]), []);
  });

  it("default routes take the hash policy callback", () => {
    const hashPolicy = (host: string): HashPolicy[] | undefined => (host.startsWith("ratings.") ? [{ connectionProperties: { sourceIp: true } }] : undefined);
    const rc = one(productpage, bookinfo(), "9080", { hashPolicy });
    const r = (vhost(rc, "ratings.default.svc.cluster.local:9080").routes ?? [])[0];
    assert.deepEqual(r.route?.hashPolicy, [{ connectionProperties: { sourceIp: true } }]);
    assert.deepEqual(r.route?.retryPolicy, defaultRetryPolicy());
    assert.equal((vhost(rc, "reviews.default.svc.cluster.local:9080").routes ?? [])[0].route?.hashPolicy, undefined);
  });

  it("proxyless gRPC proxies: host:port domains, no catch-all, HOST:PORT names give the port's virtual hosts", () => {
    const grpc = testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage" }, metadata: { GENERATOR: "grpc" } });
    const push = bookinfo(sample("virtual-service-reviews-50-v3.yaml"));
    const rc = one(grpc, push, "reviews.default.svc.cluster.local:9080");
    assert.equal(rc.ignorePortInHostMatching, undefined);
    assert.ok(!vhosts(rc).some((v) => v.name === "allow_any"));
    assert.ok((vhost(rc, "reviews.default.svc.cluster.local:9080").domains as string[]).includes("reviews.default.svc.cluster.local:9080"));
    const action = (vhost(rc, "reviews.default.svc.cluster.local:9080").routes ?? [])[0].route ?? {};
    assert.ok(action.maxStreamDuration);
    assert.equal(buildSidecarVirtualHosts(grpc, push, 9080).length, 4);
  });

  it("the whole bookinfo mesh validates: every proxy's routes round-trip", () => {
    const push = bookinfo(sample("virtual-service-all-v1.yaml"), readFileSync(join(SAMPLES, "virtual-service-reviews-jason-v2-v3.yaml"), "utf8").replace("name: reviews", "name: reviews-jason"));
    for (const we of resourcesFromPaths("examples/bookinfo/workloads.yaml")) {
      if (we.kind !== "WorkloadEntry") continue;
      const spec = we.spec as { address?: string; labels?: Record<string, string> };
      const type = spec.labels?.istio === "ingressgateway" ? "router" : "sidecar";
      const p = testProxy({ type, ip: spec.address ?? "", name: we.metadata.name, namespace: we.metadata.namespace, labels: spec.labels });
      assert.ok(routes(p, push).length > 0, we.metadata.name);
    }
  });
});
