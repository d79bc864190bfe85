// The proxyless form every gRPC release accepts (grpc-compat.ts): table tests over the real route
// builder with `grpc: true`, next to the Envoy form of the same VirtualService, which must not change.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { HTTPRoute, Resource } from "../../../src/api/resource.js";
import { CLUSTER_TYPE, ROUTE_TYPE, type ProtoObject } from "../../../src/envoy/protos.js";
import { buildGrpcClusters, buildGrpcRoutes } from "../../../src/xds/gen/grpc.js";
import { GRPC_CHANNEL_ID_KEY, grpcClientSupport, proxylessCluster } from "../../../src/xds/gen/grpc-compat.js";
import { convertHttpRoutes, defaultOutboundRoute } from "../../../src/xds/gen/httproute.js";
import { assertRoundTrip, bookinfo, pushContext, resourcesFromPaths, resourcesFromYaml, testProxy } from "../../helpers/xds.js";

const ROUTE = "envoy.config.route.v3.Route";
const push = bookinfo();
const grpcProxy = testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage" }, metadata: { GENERATOR: "grpc" } });

function vsOf(http: HTTPRoute[]): Resource<"VirtualService"> {
  return { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "reviews", namespace: "default" }, spec: { hosts: ["reviews"], http } };
}

/** Both forms of the same routes; every route survives a protobuf round trip (real field names). */
function convert(http: HTTPRoute[]): { envoy: ProtoObject[]; grpc: ProtoObject[]; errors: string[] } {
  const ctx = { proxy: grpcProxy, push, port: 9080, gateway: "mesh" };
  const envoy = convertHttpRoutes(vsOf(http), ctx).routes;
  const g = convertHttpRoutes(vsOf(http), { ...ctx, grpc: true });
  for (const r of [...envoy, ...g.routes]) assertRoundTrip(ROUTE, r as ProtoObject, String(r.name));
  // (Read loosely below: the assertions dig into nested fields by name.)
  return { envoy: envoy as ProtoObject[], grpc: g.routes as ProtoObject[], errors: g.errors };
}

/** The reviews VirtualService as YAML; `http` is its `http:` entries, indented two spaces. */
const reviewsRule = (http: string): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: default }
spec:
  hosts: [reviews]
  http:
${http}`;

const headersOf = (r: ProtoObject) => (r.match as ProtoObject).headers as ProtoObject[];
const to = (subset: string) => [{ destination: { host: "reviews", subset } }];

describe("header matchers: HeaderMatcher's original fields for gRPC, string_match for Envoy", () => {
  const cases: Array<[string, HTTPRoute["match"], ProtoObject[], ProtoObject[]]> = [
    ["exact", [{ headers: { end_user: { exact: "jason" } } }], [{ name: "end_user", stringMatch: { exact: "jason" } }], [{ name: "end_user", exactMatch: "jason" }]],
    ["prefix", [{ headers: { x: { prefix: "ab" } } }], [{ name: "x", stringMatch: { prefix: "ab" } }], [{ name: "x", prefixMatch: "ab" }]],
    ["regex", [{ headers: { x: { regex: "a.+" } } }], [{ name: "x", stringMatch: { safeRegex: { regex: "a.+" } } }], [{ name: "x", safeRegexMatch: { regex: "a.+" } }]],
    ["present ({})", [{ headers: { x: {} } }], [{ name: "x", presentMatch: true }], [{ name: "x", presentMatch: true }]],
    ["withoutHeaders present", [{ withoutHeaders: { x: {} } }], [{ name: "x", presentMatch: true, invertMatch: true }], [{ name: "x", presentMatch: true, invertMatch: true }]],
    ["method", [{ method: { exact: "POST" } }], [{ name: ":method", stringMatch: { exact: "POST" } }], [{ name: ":method", exactMatch: "POST" }]],
  ];
  for (const [name, match, envoy, grpc] of cases) {
    it(name, () => {
      const out = convert([{ match, route: to("v2") }]);
      assert.deepEqual(headersOf(out.envoy[0]), envoy);
      assert.equal(out.grpc.length, 1);
      assert.deepEqual(headersOf(out.grpc[0]), grpc);
    });
  }

  it("withoutHeaders with a value: 'missing or different' as two routes (gRPC has no treat_missing_header_as_empty)", () => {
    const out = convert([{ match: [{ withoutHeaders: { x: { exact: "a" } }, headers: { y: { exact: "b" } } }], route: to("v2") }]);
    assert.deepEqual(headersOf(out.envoy[0]), [
      { name: "x", stringMatch: { exact: "a" }, invertMatch: true, treatMissingHeaderAsEmpty: true },
      { name: "y", stringMatch: { exact: "b" } },
    ]);
    assert.deepEqual(out.grpc.map(headersOf), [
      [{ name: "x", exactMatch: "a", invertMatch: true }, { name: "y", exactMatch: "b" }],
      [{ name: "x", presentMatch: true, invertMatch: true }, { name: "y", exactMatch: "b" }],
    ]);
    assert.ok(out.grpc.every((r) => (r.route as ProtoObject).cluster === "outbound|9080|v2|reviews.default.svc.cluster.local"));
  });

  it("withoutHeaders whose value matches the empty string: a missing header does not match (no extra route)", () => {
    const out = convert([{ match: [{ withoutHeaders: { x: { exact: "" } } }], route: to("v2") }]);
    assert.deepEqual(out.grpc.map(headersOf), [[{ name: "x", exactMatch: "", invertMatch: true }]]);
  });

  it("more than three withoutHeaders values are not expanded, and reported", () => {
    const withoutHeaders = Object.fromEntries(["a", "b", "c", "d"].map((k) => [k, { exact: "v" }]));
    const out = convert([{ match: [{ withoutHeaders }], route: to("v2") }]);
    assert.equal(out.grpc.length, 1);
    assert.match(out.errors.join("\n"), /more than 3 withoutHeaders values/);
  });

  it("no string_match anywhere in the proxyless form", () => {
    const out = convert([
      { match: [{ headers: { a: { exact: "1" }, b: { prefix: "2" }, c: { regex: "3" } }, withoutHeaders: { d: { exact: "4" } } }], route: to("v2") },
      { route: to("v1") },
    ]);
    assert.doesNotMatch(JSON.stringify(out.grpc), /stringMatch|treatMissingHeaderAsEmpty/);
    assert.match(JSON.stringify(out.envoy), /stringMatch/);
  });
});

describe("route actions for gRPC", () => {
  it("weighted clusters carry total_weight = the sum of the weights (Istio's need not add up to 100)", () => {
    const out = convert([{ route: [{ destination: { host: "reviews", subset: "v1" }, weight: 1 }, { destination: { host: "reviews", subset: "v2" }, weight: 3 }] }]);
    assert.deepEqual(((out.grpc[0].route as ProtoObject).weightedClusters as ProtoObject).totalWeight, { value: 4 });
    assert.equal(((out.envoy[0].route as ProtoObject).weightedClusters as ProtoObject).totalWeight, undefined, "Envoy form unchanged");
  });

  const hashCases: Array<[string, ProtoObject, ProtoObject, string | undefined]> = [
    ["useSourceIp → the channel id", { connectionProperties: { sourceIp: true } }, { filterState: { key: GRPC_CHANNEL_ID_KEY } }, undefined],
    ["header stays", { header: { headerName: "x-user" } }, { header: { headerName: "x-user" } }, undefined],
    ["cookie: reported (gRPC has no cookies)", { cookie: { name: "c" } }, { cookie: { name: "c" } }, "httpCookie"],
    ["query parameter: reported", { queryParameter: { name: "q" } }, { queryParameter: { name: "q" } }, "httpQueryParameterName"],
  ];
  for (const [name, hp, want, reported] of hashCases) {
    it(`hash policy: ${name}`, () => {
      const ctx = { proxy: grpcProxy, push, port: 9080, gateway: "mesh", grpc: true, hashPolicy: () => [hp] };
      const { routes, errors } = convertHttpRoutes(vsOf([{ route: to("v1") }]), ctx);
      assertRoundTrip(ROUTE, routes[0]);
      assert.deepEqual((routes[0].route as ProtoObject).hashPolicy, [want]);
      if (reported) assert.match(errors.join("\n"), new RegExp(reported));
      else assert.deepEqual(errors, []);
    });
  }

  it("the default route (no VirtualService) hashes on the channel id for useSourceIp", () => {
    const r = defaultOutboundRoute("outbound|9080||reviews.default.svc.cluster.local", "reviews:9080/*", [{ connectionProperties: { sourceIp: true } }], true);
    assert.deepEqual((r.route as ProtoObject).hashPolicy, [{ filterState: { key: GRPC_CHANNEL_ID_KEY } }]);
    const envoy = defaultOutboundRoute("outbound|9080||reviews.default.svc.cluster.local", "reviews:9080/*", [{ connectionProperties: { sourceIp: true } }]);
    assert.deepEqual((envoy.route as ProtoObject).hashPolicy, [{ connectionProperties: { sourceIp: true } }]);
  });
});

describe("routes gRPC never applies are left out and reported", () => {
  const cases: Array<[string, HTTPRoute["match"], boolean]> = [
    ["query parameters", [{ queryParams: { q: { exact: "1" } } }], false],
    ["a prefix with three segments", [{ uri: { prefix: "/a/b/c" } }], false],
    ["an exact path that is not /service/method", [{ uri: { exact: "/health" } }], false],
    ["a service prefix", [{ uri: { prefix: "/echo.Echo/" } }], true],
    ["a method path", [{ uri: { exact: "/echo.Echo/Echo" } }], true],
    ["a regex", [{ uri: { regex: "/echo\\..*" } }], true],
  ];
  for (const [name, match, kept] of cases) {
    it(`${name}: ${kept ? "kept" : "left out"}`, () => {
      const out = convert([{ match, route: to("v2") }, { route: to("v1") }]);
      assert.equal(out.envoy.length, 2, "Envoy keeps both");
      assert.equal(out.grpc.length, kept ? 2 : 1);
      if (!kept) assert.match(out.errors.join("\n"), /left out for gRPC clients/);
    });
  }

  it("a VirtualService with no route gRPC applies: the service's default route, not an empty virtual host", () => {
    const rule = reviewsRule(`  - match: [{ queryParams: { q: { exact: "1" } } }]
    route: [{ destination: { host: reviews } }]
`);
    const [rc] = buildGrpcRoutes(grpcProxy, bookinfo(rule), ["reviews.default.svc.cluster.local:9080"]);
    const routes = ((rc.virtualHosts as ProtoObject[])[0].routes as ProtoObject[]).map((r) => r.name);
    assert.deepEqual(routes, ["default"]);
  });
});

describe("client versions (node user_agent_name / user_agent_version)", () => {
  const cases: Array<[string, string, boolean]> = [
    ["gRPC Node Pure JS", "1.9.2", false],
    ["gRPC Node Pure JS", "1.8.0", false],
    ["gRPC Node Pure JS", "1.10.0", true],
    ["gRPC Node Pure JS", "1.14.1", true],
    ["gRPC Go", "1.40.0", false],
    ["gRPC Go", "1.41.0", true],
    ["gRPC Java", "1.40.0", false],
    ["gRPC Java", "1.40.1", true],
    ["gRPC C-core linux Python", "C-core 29.0.0 Python 1.51.1", true],
    ["gRPC Node Pure JS", "", true],
    ["", "", true],
    ["envoy", "1.9.0", true],
  ];
  for (const [agent, version, ringHash] of cases) {
    it(`${agent || "(none)"} ${version || "(none)"}: ring hash ${ringHash ? "yes" : "no"}`, () => {
      assert.equal(grpcClientSupport(agent, version).ringHash, ringHash);
    });
  }

  it("a RING_HASH cluster is sent as round robin to a client without ring hash, unchanged otherwise", () => {
    const dr = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: default }
spec:
  host: reviews
  trafficPolicy: { loadBalancer: { consistentHash: { useSourceIp: true } } }
`;
    // bookinfo's services and workloads without its DestinationRules: this one is the reviews rule.
    const p = pushContext([...resourcesFromPaths("examples/bookinfo/services.yaml", "examples/bookinfo/workloads.yaml"), ...resourcesFromYaml(dr)]);
    const name = "outbound|9080||reviews.default.svc.cluster.local";
    const node = (userAgentVersion: string) => testProxy({ ip: "127.0.2.1", name: "productpage-v1", metadata: { GENERATOR: "grpc" }, userAgent: ["gRPC Node Pure JS", userAgentVersion] });
    const [current] = buildGrpcClusters(node("1.14.1"), p, [name]);
    const [old] = buildGrpcClusters(node("1.9.2"), p, [name]);
    assert.equal(current.lbPolicy, "RING_HASH");
    assert.ok(current.ringHashLbConfig);
    assert.equal(old.lbPolicy, undefined);
    assert.equal(old.ringHashLbConfig, undefined);
    assert.deepEqual({ ...old, lbPolicy: "RING_HASH", ringHashLbConfig: current.ringHashLbConfig }, current, "nothing else differs");
    assertRoundTrip(CLUSTER_TYPE, old);
    assert.equal(proxylessCluster(current, { ringHash: true }), current);
  });
});

it("the whole proxyless RouteConfiguration survives a protobuf round trip", () => {
  const rule = reviewsRule(`  - match: [{ headers: { end_user: { exact: jason } }, withoutHeaders: { x-debug: { prefix: "1" } } }]
    route: [{ destination: { host: reviews, subset: v2 } }]
  - route: [{ destination: { host: reviews, subset: v1 }, weight: 1 }, { destination: { host: reviews, subset: v3 }, weight: 2 }]
`);
  for (const rc of buildGrpcRoutes(grpcProxy, bookinfo(rule), ["reviews.default.svc.cluster.local:9080"])) assertRoundTrip(ROUTE_TYPE, rc);
});
