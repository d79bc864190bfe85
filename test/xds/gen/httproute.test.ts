// Table tests for VirtualService HTTP route → Envoy Route conversion (Istio's route.go).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveGatewayName } from "../../../src/api/hosts.js";
import type { HTTPRoute, Resource } from "../../../src/api/resource.js";
import { isAnyOf } from "../../../src/envoy/protos.js";
import type { HashPolicy, HTTPFault, RedirectAction, RetryPolicy, Route, RouteAction, RouteMatch } from "../../../src/envoy/types.js";
import type { Proxy } from "../../../src/model/proxy.js";
import type { PushContext } from "../../../src/model/push-context.js";
import { convertHttpRoutes, type HttpRouteContext } from "../../../src/xds/gen/httproute.js";
import { convertRetryPolicy, defaultRetryPolicy } from "../../../src/xds/gen/retry.js";
import { translateRouteMatch } from "../../../src/xds/gen/route-match.js";
import { assertRoundTrip, bookinfo, testProxy } from "../../helpers/xds.js";

const ROUTE = "envoy.config.route.v3.Route";

const push = bookinfo(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: multi, namespace: default }
spec:
  hosts: [multi.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 8080, name: http, protocol: HTTP }, { number: 8081, name: http-admin, protocol: HTTP }]
`);
const productpage = testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage", version: "v1" } });

function vsOf(http: HTTPRoute[], o: { hosts?: string[]; namespace?: string; name?: string } = {}): Resource<"VirtualService"> {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: o.name ?? "reviews", namespace: o.namespace ?? "default" },
    spec: { hosts: o.hosts ?? ["reviews"], http },
  };
}

interface ConvertOptions extends Partial<HttpRouteContext> {
  proxy?: Proxy;
  push?: PushContext;
}

/** Converts and checks every route survives a protobuf round trip. */
function convert(http: HTTPRoute[], o: ConvertOptions = {}, vsOpts: Parameters<typeof vsOf>[1] = {}): { routes: Route[]; errors: string[] } {
  const ctx: HttpRouteContext = { proxy: productpage, push, port: 9080, gateway: "mesh", ...o };
  const out = convertHttpRoutes(vsOf(http, vsOpts), ctx);
  for (const r of out.routes) assertRoundTrip(ROUTE, r, `route ${String(r.name)}`);
  return out;
}

/** The one route a single-route conversion produces. */
function one(http: HTTPRoute, o: ConvertOptions = {}): Route {
  const { routes, errors } = convert([http], o);
  assert.equal(routes.length, 1, `one route expected (errors: ${errors.join("; ")})`);
  return routes[0];
}

const toReviews = [{ destination: { host: "reviews" } }];
const action = (r: Route): RouteAction => r.route ?? {};

describe("route match conversion", () => {
  const cases: { name: string; match: NonNullable<HTTPRoute["match"]>[number]; want: RouteMatch }[] = [
    { name: "uri exact → path", match: { uri: { exact: "/a" } }, want: { path: "/a", caseSensitive: { value: true } } },
    { name: "uri prefix → prefix", match: { uri: { prefix: "/api" } }, want: { prefix: "/api", caseSensitive: { value: true } } },
    { name: "uri regex → safeRegex", match: { uri: { regex: "/v[0-9]+/.*" } }, want: { safeRegex: { regex: "/v[0-9]+/.*" }, caseSensitive: { value: true } } },
    { name: "ignoreUriCase", match: { uri: { prefix: "/A" }, ignoreUriCase: true }, want: { prefix: "/A", caseSensitive: { value: false } } },
    {
      name: "headers exact/prefix/regex, sorted by name",
      match: { headers: { "x-c": { regex: "a.*" }, "x-a": { exact: "1" }, "x-b": { prefix: "p" } } },
      want: {
        prefix: "/",
        caseSensitive: { value: true },
        headers: [
          { name: "x-a", stringMatch: { exact: "1" } },
          { name: "x-b", stringMatch: { prefix: "p" } },
          { name: "x-c", stringMatch: { safeRegex: { regex: "a.*" } } },
        ],
      },
    },
    {
      name: "empty header match → presentMatch",
      match: { headers: { "x-debug": {} } },
      want: { prefix: "/", caseSensitive: { value: true }, headers: [{ name: "x-debug", presentMatch: true }] },
    },
    {
      name: "regex * → presentMatch",
      match: { headers: { "x-any": { regex: "*" } } },
      want: { prefix: "/", caseSensitive: { value: true }, headers: [{ name: "x-any", presentMatch: true }] },
    },
    {
      name: "withoutHeaders → invertMatch",
      match: { withoutHeaders: { "x-test": { exact: "1" }, "x-beta": {} } },
      want: {
        prefix: "/",
        caseSensitive: { value: true },
        headers: [
          { name: "x-beta", presentMatch: true, invertMatch: true },
          { name: "x-test", stringMatch: { exact: "1" }, invertMatch: true, treatMissingHeaderAsEmpty: true },
        ],
      },
    },
    {
      name: "queryParams exact/regex/present",
      match: { queryParams: { v: { exact: "2" }, q: { regex: "a+" }, debug: {} } },
      want: {
        prefix: "/",
        caseSensitive: { value: true },
        queryParameters: [
          { name: "debug", presentMatch: true },
          { name: "q", stringMatch: { safeRegex: { regex: "a+" } } },
          { name: "v", stringMatch: { exact: "2" } },
        ],
      },
    },
    {
      name: "method, authority, scheme → pseudo-headers after the others",
      match: { method: { exact: "GET" }, authority: { prefix: "api." }, scheme: { exact: "https" }, headers: { "x-z": { exact: "1" } } },
      want: {
        prefix: "/",
        caseSensitive: { value: true },
        headers: [
          { name: "x-z", stringMatch: { exact: "1" } },
          { name: ":method", stringMatch: { exact: "GET" } },
          { name: ":authority", stringMatch: { prefix: "api." } },
          { name: ":scheme", stringMatch: { exact: "https" } },
        ],
      },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(translateRouteMatch(c.match), c.want);
      const r = one({ match: [c.match], route: toReviews });
      assert.deepEqual(r.match, c.want);
    });
  }

  it("no match → prefix / only", () => {
    assert.deepEqual(one({ route: toReviews }).match, { prefix: "/" });
  });

  it("Gateway API semantics (istiod's UseGatewaySemantics): a prefix matches whole path segments, except /", () => {
    const cs = { caseSensitive: { value: true } };
    assert.deepEqual(translateRouteMatch({ uri: { prefix: "/static/" } }, true), { pathSeparatedPrefix: "/static", ...cs });
    assert.deepEqual(translateRouteMatch({ uri: { prefix: "/" } }, true), { prefix: "/", ...cs });
    assert.deepEqual(translateRouteMatch({ uri: { prefix: "/static" } }, false), { prefix: "/static", ...cs });
  });

  it("several matches → several routes with the same action, named route.match", () => {
    const { routes } = convert([{ name: "r", match: [{ name: "a", uri: { exact: "/a" } }, { uri: { prefix: "/b" } }], route: toReviews, timeout: "3s" }]);
    assert.deepEqual(
      routes.map((r) => [r.name, r.match]),
      [
        ["r.a", { path: "/a", caseSensitive: { value: true } }],
        ["r", { prefix: "/b", caseSensitive: { value: true } }],
      ],
    );
    assert.deepEqual(action(routes[0]), action(routes[1]));
  });

  it("a catch-all route ends the list", () => {
    const { routes } = convert([
      { match: [{ uri: { prefix: "/" } }, { uri: { exact: "/never" } }], route: toReviews },
      { route: [{ destination: { host: "ratings" } }] },
    ]);
    assert.equal(routes.length, 1);
  });

  it("port match: only for that listener port", () => {
    const http: HTTPRoute[] = [{ match: [{ port: 9080, uri: { prefix: "/p" } }], route: toReviews }];
    assert.equal(convert(http).routes.length, 1);
    assert.equal(convert(http, { port: 8080 }).routes.length, 0);
  });

  it("sourceLabels: only for proxies whose labels match", () => {
    const http: HTTPRoute[] = [{ match: [{ sourceLabels: { app: "productpage" } }], route: toReviews }];
    assert.equal(convert(http).routes.length, 1);
    const reviews = testProxy({ ip: "127.0.4.1", name: "reviews-v1", labels: { app: "reviews" } });
    assert.equal(convert(http, { proxy: reviews }).routes.length, 0);
  });

  it("sourceNamespace: only for proxies in that namespace", () => {
    const http: HTTPRoute[] = [{ match: [{ sourceNamespace: "default" }], route: toReviews }];
    assert.equal(convert(http).routes.length, 1);
    const other = testProxy({ ip: "127.0.9.1", name: "x", namespace: "other" });
    assert.equal(convert(http, { proxy: other }).routes.length, 0);
  });

  it("match gateways: only for the named gateway (short names resolve in the VS namespace)", () => {
    const http: HTTPRoute[] = [
      { match: [{ gateways: ["bookinfo-gateway"], uri: { prefix: "/gw" } }], route: toReviews },
      { match: [{ gateways: ["mesh"], uri: { prefix: "/mesh" } }], route: toReviews },
    ];
    assert.deepEqual(
      convert(http).routes.map((r) => r.match?.prefix),
      ["/mesh"],
    );
    assert.deepEqual(
      convert(http, { gateway: "default/bookinfo-gateway" }).routes.map((r) => r.match?.prefix),
      ["/gw"],
    );
  });

  it("resolves gateway names as Istio does", () => {
    assert.equal(resolveGatewayName("gw", "ns"), "ns/gw");
    assert.equal(resolveGatewayName("./gw", "ns"), "ns/gw");
    assert.equal(resolveGatewayName("other/gw", "ns"), "other/gw");
    assert.equal(resolveGatewayName("gw.istio-system.svc.cluster.local", "ns"), "istio-system/gw");
    assert.equal(resolveGatewayName("mesh", "ns"), "mesh");
  });

  it("JWT claim keys → dynamic metadata matchers on jwt_authn's payload (Istio's translateMetadataMatch), by name; withoutHeaders inverted", () => {
    const claim = (path: string[], value: object, invert?: boolean) => ({
      filter: "envoy.filters.http.jwt_authn",
      path: ["payload", ...path].map((key) => ({ key })),
      value: { orMatch: { valueMatchers: [{ listMatch: { oneOf: { stringMatch: value } } }, { stringMatch: value }] } },
      ...(invert ? { invert: true } : {}),
    });
    const r = one({
      match: [
        {
          headers: { "@request.auth.claims.group": { exact: "admin" }, "@request.auth.claims[nested][key.1]": { prefix: "x" }, "x-user": { exact: "u" } },
          withoutHeaders: { "@request.auth.claims.sub": { regex: "bot-.*" } },
        },
      ],
      route: toReviews,
    });
    assert.deepEqual(r.match?.headers, [{ name: "x-user", stringMatch: { exact: "u" } }]);
    assert.deepEqual(r.match?.dynamicMetadata, [
      claim(["group"], { exact: "admin" }),
      claim(["sub"], { safeRegex: { regex: "bot-.*" } }, true),
      claim(["nested", "key.1"], { prefix: "x" }),
    ]);
  });

  it("a JWT claim key without exact, prefix or regex: reported and the route left out (Envoy cannot take Istio's value-less matcher)", () => {
    const { routes, errors } = convert([{ match: [{ headers: { "@request.auth.claims.group": {} } }], route: toReviews }]);
    assert.equal(routes.length, 0);
    assert.match(errors[0], /JWT claim match @request\.auth\.claims\.group needs exact, prefix or regex.*route skipped/);
  });
});

describe("route action conversion", () => {
  it("single destination → cluster (the service's only port), timeout 0s, default retries, decorator, metadata", () => {
    const r = one({ name: "to-reviews", route: [{ destination: { host: "reviews", subset: "v2" } }] });
    assert.equal(r.name, "to-reviews");
    assert.deepEqual(action(r), {
      cluster: "outbound|9080|v2|reviews.default.svc.cluster.local",
      timeout: {},
      maxGrpcTimeout: {},
      retryPolicy: defaultRetryPolicy(),
    });
    assert.deepEqual(r.decorator, { operation: "reviews.default.svc.cluster.local:9080/*" });
    assert.deepEqual(r.metadata, {
      filterMetadata: { istio: { fields: { config: { stringValue: "/apis/networking.istio.io/v1/namespaces/default/virtual-service/reviews" } } } },
    });
  });

  it("destination port: explicit, else the only port, else the listener port (reported when not a service port)", () => {
    assert.equal(action(one({ route: [{ destination: { host: "multi", port: { number: 8081 } } }] })).cluster, "outbound|8081||multi.default.svc.cluster.local");
    assert.equal(action(one({ route: [{ destination: { host: "ratings" } }] }, { port: 7000 })).cluster, "outbound|9080||ratings.default.svc.cluster.local");
    const { routes, errors } = convert([{ route: [{ destination: { host: "multi" } }] }]);
    assert.equal(action(routes[0]).cluster, "outbound|9080||multi.default.svc.cluster.local");
    assert.match(errors[0], /several ports/);
    assert.equal(action(one({ route: [{ destination: { host: "multi" } }] }, { port: 8080 })).cluster, "outbound|8080||multi.default.svc.cluster.local");
  });

  it("unknown destination host still names its cluster (503 NC at the proxy, as Istio)", () => {
    assert.equal(action(one({ route: [{ destination: { host: "nope.example.com" } }] })).cluster, "outbound|9080||nope.example.com");
  });

  it("short destination hosts resolve in the VirtualService namespace", () => {
    const { routes } = convert([{ route: [{ destination: { host: "foo" } }] }], {}, { namespace: "other" });
    assert.equal(action(routes[0]).cluster, "outbound|9080||foo.other.svc.cluster.local");
  });

  it("several destinations → weightedClusters, zero weights dropped, per-destination headers", () => {
    const r = one({
      route: [
        { destination: { host: "reviews", subset: "v1" }, weight: 0 },
        { destination: { host: "reviews", subset: "v2" }, weight: 25, headers: { request: { set: { "x-v": "2" } }, response: { remove: ["x-internal"] } } },
        { destination: { host: "reviews", subset: "v3" }, weight: 75 },
      ],
    });
    assert.deepEqual(action(r).weightedClusters, {
      clusters: [
        {
          name: "outbound|9080|v2|reviews.default.svc.cluster.local",
          weight: { value: 25 },
          requestHeadersToAdd: [{ header: { key: "x-v", value: "2" }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" }],
          responseHeadersToRemove: ["x-internal"],
        },
        { name: "outbound|9080|v3|reviews.default.svc.cluster.local", weight: { value: 75 } },
      ],
    });
    assert.equal(action(r).cluster, undefined);
    assert.deepEqual(r.decorator, { operation: "reviews:9080/*" });
  });

  it("all-zero weights: route skipped and reported", () => {
    const { routes, errors } = convert([
      {
        route: [
          { destination: { host: "reviews", subset: "v1" }, weight: 0 },
          { destination: { host: "reviews", subset: "v2" }, weight: 0 },
        ],
      },
    ]);
    assert.equal(routes.length, 0);
    assert.match(errors[0], /weight 0/);
  });

  it("single destination headers go on the route; authority becomes hostRewriteLiteral", () => {
    const r = one({ route: [{ destination: { host: "reviews" }, headers: { request: { add: { "x-a": "1", host: "h.example" } } } }] });
    assert.deepEqual(r.requestHeadersToAdd, [{ header: { key: "x-a", value: "1" } }]);
    assert.equal(action(r).hostRewriteLiteral, "h.example");
  });

  it("timeout → timeout and maxGrpcTimeout", () => {
    const a = action(one({ route: toReviews, timeout: "1.5s" }));
    assert.deepEqual(a.timeout, { seconds: 1, nanos: 500_000_000 });
    assert.deepEqual(a.maxGrpcTimeout, { seconds: 1, nanos: 500_000_000 });
  });

  const retryCases: { name: string; retries: HTTPRoute["retries"]; want: RetryPolicy | undefined }[] = [
    { name: "no retries → Istio's default policy", retries: undefined, want: defaultRetryPolicy() },
    { name: "attempts 0 → no retry policy", retries: { attempts: 0 }, want: undefined },
    {
      name: "attempts + perTryTimeout keep the default retryOn",
      retries: { attempts: 3, perTryTimeout: "2s" },
      want: { ...defaultRetryPolicy(), numRetries: { value: 3 }, perTryTimeout: { seconds: 2 } },
    },
    {
      name: "retryOn kept as given; status codes → retriableStatusCodes",
      retries: { attempts: 2, retryOn: "gateway-error,connect-failure,503,429" },
      want: {
        ...defaultRetryPolicy(),
        retryOn: "gateway-error,connect-failure,retriable-status-codes",
        retriableStatusCodes: [503, 429],
      },
    },
    {
      name: "retryOn without codes drops the default 503",
      retries: { attempts: 2, retryOn: "5xx" },
      want: (() => {
        const p: RetryPolicy = { ...defaultRetryPolicy(), retryOn: "5xx" };
        delete p.retriableStatusCodes;
        return p;
      })(),
    },
    {
      name: "retryRemoteLocalities → previous_priorities; retryIgnorePreviousHosts false → no host predicate; backoff",
      retries: { attempts: 1, retryRemoteLocalities: true, retryIgnorePreviousHosts: false, backoff: "100ms" },
      want: (() => {
        const p: RetryPolicy = {
          ...defaultRetryPolicy(),
          numRetries: { value: 1 },
          retryPriority: {
            name: "envoy.retry_priorities.previous_priorities",
            typedConfig: { "@type": "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig", updateFrequency: 2 },
          },
          retryBackOff: { baseInterval: { nanos: 100_000_000 } },
        };
        delete p.retryHostPredicate;
        return p;
      })(),
    },
  ];
  for (const c of retryCases) {
    it(`retries: ${c.name}`, () => {
      assert.deepEqual(convertRetryPolicy(c.retries), c.want);
      assert.deepEqual(action(one({ route: toReviews, retries: c.retries })).retryPolicy, c.want);
    });
  }

  const faultCases: { name: string; fault: NonNullable<HTTPRoute["fault"]>; want: HTTPFault }[] = [
    {
      name: "delay with percentage",
      fault: { delay: { fixedDelay: "7s", percentage: { value: 100 } } },
      want: { delay: { fixedDelay: { seconds: 7 }, percentage: { numerator: 1_000_000, denominator: "MILLION" } } },
    },
    {
      name: "delay with fractional percentage",
      fault: { delay: { fixedDelay: "500ms", percentage: { value: 0.1 } } },
      want: { delay: { fixedDelay: { nanos: 500_000_000 }, percentage: { numerator: 1000, denominator: "MILLION" } } },
    },
    {
      name: "delay with legacy integer percent",
      fault: { delay: { fixedDelay: "1s", percent: 50 } },
      want: { delay: { fixedDelay: { seconds: 1 }, percentage: { numerator: 50 } } },
    },
    {
      name: "abort httpStatus",
      fault: { abort: { httpStatus: 500, percentage: { value: 100 } } },
      want: { abort: { httpStatus: 500, percentage: { numerator: 1_000_000, denominator: "MILLION" } } },
    },
    {
      name: "abort grpcStatus by name",
      fault: { abort: { grpcStatus: "UNAVAILABLE", percentage: { value: 50 } } },
      want: { abort: { grpcStatus: 14, percentage: { numerator: 500_000, denominator: "MILLION" } } },
    },
  ];
  for (const c of faultCases) {
    it(`fault: ${c.name}`, () => {
      const r = one({ route: toReviews, fault: c.fault });
      assert.deepEqual(r.typedPerFilterConfig, {
        "envoy.filters.http.fault": { "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault", ...c.want },
      });
    });
  }

  it("fault: exponential delay is reported and left out", () => {
    const { routes, errors } = convert([{ route: toReviews, fault: { delay: { exponentialDelay: "1s", percentage: { value: 1 } } } }]);
    assert.equal(routes[0].typedPerFilterConfig, undefined);
    assert.match(errors[0], /fixedDelay/);
  });

  const mirrorCases: { name: string; http: Partial<HTTPRoute>; want: RouteAction.RequestMirrorPolicy[] | undefined }[] = [
    {
      name: "mirror defaults to 100%",
      http: { mirror: { host: "ratings", subset: "v2" } },
      want: [{ cluster: "outbound|9080|v2|ratings.default.svc.cluster.local", runtimeFraction: { defaultValue: { numerator: 100 } }, traceSampled: { value: false } }],
    },
    {
      name: "mirror + mirrorPercentage",
      http: { mirror: { host: "ratings" }, mirrorPercentage: { value: 12.5 } },
      want: [
        {
          cluster: "outbound|9080||ratings.default.svc.cluster.local",
          runtimeFraction: { defaultValue: { numerator: 125_000, denominator: "MILLION" } },
          traceSampled: { value: false },
        },
      ],
    },
    { name: "mirrorPercentage 0 → no mirroring", http: { mirror: { host: "ratings" }, mirrorPercentage: { value: 0 } }, want: undefined },
    {
      name: "legacy mirrorPercent",
      http: { mirror: { host: "ratings" }, mirrorPercent: 30 },
      want: [{ cluster: "outbound|9080||ratings.default.svc.cluster.local", runtimeFraction: { defaultValue: { numerator: 30 } }, traceSampled: { value: false } }],
    },
    {
      name: "mirrors list",
      http: { mirrors: [{ destination: { host: "ratings", port: { number: 9080 } }, percentage: { value: 5 } }, { destination: { host: "details" } }] },
      want: [
        {
          cluster: "outbound|9080||ratings.default.svc.cluster.local",
          runtimeFraction: { defaultValue: { numerator: 50_000, denominator: "MILLION" } },
          traceSampled: { value: false },
        },
        { cluster: "outbound|9080||details.default.svc.cluster.local", runtimeFraction: { defaultValue: { numerator: 100 } }, traceSampled: { value: false } },
      ],
    },
  ];
  for (const c of mirrorCases) {
    it(`mirror: ${c.name}`, () => {
      assert.deepEqual(action(one({ route: toReviews, ...c.http })).requestMirrorPolicies, c.want);
    });
  }

  it("request/response headers: set overwrites, add appends, remove (internal headers dropped)", () => {
    const r = one({
      route: toReviews,
      headers: {
        request: { set: { "x-b": "2", "x-a": "1", ":path": "/x" }, add: { "x-c": "3" }, remove: ["x-d", ":authority"] },
        response: { set: { "x-e": "" }, add: { "x-f": "6" }, remove: ["server"] },
      },
    });
    assert.deepEqual(r.requestHeadersToAdd, [
      { header: { key: "x-a", value: "1" }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" },
      { header: { key: "x-b", value: "2" }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" },
      { header: { key: "x-c", value: "3" } },
    ]);
    assert.deepEqual(r.requestHeadersToRemove, ["x-d"]);
    assert.deepEqual(r.responseHeadersToAdd, [{ header: { key: "x-e" }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" }, { header: { key: "x-f", value: "6" } }]);
    assert.deepEqual(r.responseHeadersToRemove, ["server"]);
  });

  it("request header :authority set → hostRewriteLiteral", () => {
    const r = one({ route: toReviews, headers: { request: { set: { ":authority": "api.example.com" } } } });
    assert.equal(action(r).hostRewriteLiteral, "api.example.com");
    assert.equal(r.requestHeadersToAdd, undefined);
  });

  const redirectCases: { name: string; redirect: NonNullable<HTTPRoute["redirect"]>; port?: number; want: RedirectAction }[] = [
    { name: "uri + authority, default 301", redirect: { uri: "/new", authority: "new.example.com" }, want: { hostRedirect: "new.example.com", pathRedirect: "/new" } },
    { name: "302", redirect: { uri: "/x", redirectCode: 302 }, want: { pathRedirect: "/x", responseCode: "FOUND" } },
    { name: "303", redirect: { uri: "/x", redirectCode: 303 }, want: { pathRedirect: "/x", responseCode: "SEE_OTHER" } },
    { name: "307", redirect: { uri: "/x", redirectCode: 307 }, want: { pathRedirect: "/x", responseCode: "TEMPORARY_REDIRECT" } },
    { name: "308", redirect: { uri: "/x", redirectCode: 308 }, want: { pathRedirect: "/x", responseCode: "PERMANENT_REDIRECT" } },
    { name: "scheme + port", redirect: { scheme: "https", port: 8443 }, want: { schemeRedirect: "https", portRedirect: 8443 } },
    { name: "https on 443 drops the port", redirect: { scheme: "https", port: 443 }, want: { schemeRedirect: "https" } },
    { name: "derivePort FROM_REQUEST_PORT → listener port", redirect: { derivePort: "FROM_REQUEST_PORT" }, port: 8080, want: { portRedirect: 8080 } },
    { name: "derivePort FROM_PROTOCOL_DEFAULT → no port", redirect: { derivePort: "FROM_PROTOCOL_DEFAULT" }, want: {} },
  ];
  for (const c of redirectCases) {
    it(`redirect: ${c.name}`, () => {
      const r = one({ redirect: c.redirect }, c.port ? { port: c.port } : {});
      assert.deepEqual(r.redirect, c.want);
      assert.equal(r.route, undefined);
    });
  }

  it("redirect: unsupported code skips the route", () => {
    const { routes, errors } = convert([{ redirect: { uri: "/x", redirectCode: 399 } }]);
    assert.equal(routes.length, 0);
    assert.match(errors[0], /redirect code 399/);
  });

  const rewriteCases: { name: string; rewrite: NonNullable<HTTPRoute["rewrite"]>; want: RouteAction }[] = [
    { name: "uri → prefixRewrite", rewrite: { uri: "/v2" }, want: { prefixRewrite: "/v2" } },
    { name: "uriRegexRewrite → regexRewrite", rewrite: { uriRegexRewrite: { match: "^/old/(.*)", rewrite: "/new/\\1" } }, want: { regexRewrite: { pattern: { regex: "^/old/(.*)" }, substitution: "/new/\\1" } } },
    { name: "authority → hostRewriteLiteral", rewrite: { authority: "internal.svc" }, want: { hostRewriteLiteral: "internal.svc" } },
  ];
  for (const c of rewriteCases) {
    it(`rewrite: ${c.name}`, () => {
      const a = action(one({ match: [{ uri: { exact: "/old" } }], rewrite: c.rewrite, route: toReviews }));
      for (const [k, v] of Object.entries(c.want)) assert.deepEqual(a[k as keyof RouteAction], v, k);
    });
  }

  it("corsPolicy → typedPerFilterConfig cors", () => {
    const r = one({
      route: toReviews,
      corsPolicy: {
        allowOrigins: [{ exact: "https://a.example" }, { regex: "https://.*\\.b\\.example" }],
        allowMethods: ["GET", "POST"],
        allowHeaders: ["x-a", "x-b"],
        exposeHeaders: ["x-c"],
        maxAge: "24h",
        allowCredentials: false,
      },
    });
    assert.deepEqual(r.typedPerFilterConfig, {
      "envoy.filters.http.cors": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
        allowOriginStringMatch: [{ exact: "https://a.example" }, { safeRegex: { regex: "https://.*\\.b\\.example" } }],
        allowMethods: "GET,POST",
        allowHeaders: "x-a,x-b",
        exposeHeaders: "x-c",
        maxAge: "86400",
        allowCredentials: { value: false },
        filterEnabled: { defaultValue: { numerator: 100 } },
        forwardNotMatchingPreflights: { value: true },
      },
    });
  });

  it("corsPolicy: legacy allowOrigin and unmatchedPreflights IGNORE", () => {
    const r = one({ route: toReviews, corsPolicy: { allowOrigin: ["https://x"], unmatchedPreflights: "IGNORE" } });
    const cors = r.typedPerFilterConfig?.["envoy.filters.http.cors"];
    assert.ok(isAnyOf(cors, "envoy.extensions.filters.http.cors.v3.CorsPolicy"));
    assert.deepEqual(cors.allowOriginStringMatch, [{ exact: "https://x" }]);
    assert.deepEqual(cors.forwardNotMatchingPreflights, { value: false });
  });

  it("directResponse with a string or bytes body", () => {
    assert.deepEqual(one({ directResponse: { status: 418, body: { string: "teapot" } } }).directResponse, { status: 418, body: { inlineString: "teapot" } });
    assert.deepEqual(one({ directResponse: { status: 200, body: { bytes: Buffer.from("hi").toString("base64") } } }).directResponse, {
      status: 200,
      body: { inlineBytes: Buffer.from("hi") },
    });
    assert.deepEqual(one({ directResponse: { status: 503 } }).directResponse, { status: 503 });
  });

  it("hash policy callback: added to the action, retries stay on the hashed host", () => {
    const seen: unknown[] = [];
    const hashPolicy = (host: string, port: number, subset: string | undefined): HashPolicy[] => {
      seen.push([host, port, subset]);
      return [{ header: { headerName: "x-user" } }];
    };
    const a = action(one({ route: [{ destination: { host: "reviews", subset: "v1" } }] }, { hashPolicy }));
    assert.deepEqual(seen, [["reviews.default.svc.cluster.local", 9080, "v1"]]);
    assert.deepEqual(a.hashPolicy, [{ header: { headerName: "x-user" } }]);
    assert.deepEqual(a.retryPolicy, defaultRetryPolicy(true));
    assert.equal(a.retryPolicy?.retryHostPredicate, undefined);
  });

  it("route without destination is skipped and reported", () => {
    const { routes, errors } = convert([{ name: "empty" }]);
    assert.equal(routes.length, 0);
    assert.match(errors[0], /no destination/);
  });
});

describe("VirtualService delegation", () => {
  const delegatePush = bookinfo(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews-root, namespace: default }
spec:
  hosts: [reviews]
  http:
  - name: root
    match: [{ uri: { prefix: /reviews } }]
    timeout: 5s
    delegate: { name: reviews-delegate, namespace: team }
  - route: [{ destination: { host: reviews, subset: v1 } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews-delegate, namespace: team }
spec:
  http:
  - name: v2
    match: [{ uri: { prefix: /reviews/v2 }, headers: { end-user: { exact: jason } } }]
    route: [{ destination: { host: reviews.default.svc.cluster.local, subset: v2 } }]
  - name: conflict
    match: [{ uri: { prefix: /other } }]
    route: [{ destination: { host: reviews.default.svc.cluster.local, subset: v3 } }]
  - name: rest
    route: [{ destination: { host: local } }]
`);

  it("replaces the delegate route with the delegate's routes, matches merged, conflicts dropped", () => {
    const vs = delegatePush.input.virtualServices.find((v) => v.metadata.name === "reviews-root") as Resource<"VirtualService">;
    const { routes, errors } = convertHttpRoutes(vs, { proxy: productpage, push: delegatePush, port: 9080, gateway: "mesh" });
    for (const r of routes) assertRoundTrip(ROUTE, r, String(r.name));
    assert.deepEqual(
      routes.map((r) => [r.name, r.match, action(r).cluster, action(r).timeout]),
      [
        ["root-v2", { prefix: "/reviews/v2", caseSensitive: { value: true }, headers: [{ name: "end-user", stringMatch: { exact: "jason" } }] }, "outbound|9080|v2|reviews.default.svc.cluster.local", { seconds: 5 }],
        // The delegate's catch-all inherits the root's match; its short host resolves in the delegate's namespace.
        ["root-rest", { prefix: "/reviews", caseSensitive: { value: true } }, "outbound|9080||local.team.svc.cluster.local", { seconds: 5 }],
        [undefined, { prefix: "/" }, "outbound|9080|v1|reviews.default.svc.cluster.local", {}],
      ],
    );
    assert.match(errors.join("\n"), /conflict/);
  });

  it("reports a missing delegate", () => {
    const { routes, errors } = convert([{ delegate: { name: "missing" } }, { route: toReviews }]);
    assert.equal(routes.length, 1);
    assert.match(errors[0], /default\/missing not found/);
  });
});

describe("proxyless gRPC mode", () => {
  it("skips redirect and directResponse routes, ignores CORS, uses maxStreamDuration", () => {
    const { routes, errors } = convert(
      [
        { match: [{ uri: { prefix: "/r" } }], redirect: { uri: "/x" } },
        { match: [{ uri: { prefix: "/d" } }], directResponse: { status: 404 } },
        {
          match: [{ uri: { regex: "/svc\\..*" } }],
          corsPolicy: { allowOrigins: [{ exact: "x" }] },
          fault: { abort: { grpcStatus: "UNAVAILABLE", percentage: { value: 10 } } },
          timeout: "2s",
          route: [
            { destination: { host: "reviews", subset: "v1" }, weight: 0 },
            { destination: { host: "reviews", subset: "v2" }, weight: 100 },
          ],
        },
      ],
      { grpc: true },
    );
    assert.equal(routes.length, 1);
    assert.equal(errors.length, 3);
    assert.match(errors[0], /redirect is not supported by proxyless gRPC/);
    assert.match(errors[1], /directResponse is not supported/);
    assert.match(errors[2], /corsPolicy/);
    const r = routes[0];
    assert.ok(r.route && !r.redirect && !r.directResponse);
    assert.deepEqual(Object.keys(r.match ?? {}).filter((k) => ["prefix", "path", "safeRegex"].includes(k)), ["safeRegex"]);
    const a = action(r);
    assert.deepEqual(a.maxStreamDuration, { maxStreamDuration: { seconds: 2 } });
    assert.equal(a.maxGrpcTimeout, undefined);
    const clusters = (a.weightedClusters as { clusters: { weight: { value: number } }[] }).clusters;
    assert.ok(clusters.every((c) => c.weight.value > 0));
    assert.deepEqual(Object.keys(r.typedPerFilterConfig ?? {}), ["envoy.filters.http.fault"]);
  });
});
