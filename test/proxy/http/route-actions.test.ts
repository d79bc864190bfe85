// Route actions: what a route compiles to (timeouts, retry, rewrites, hash, mirror, redirect, direct
// response, metadata, per-filter configs, header mutation order) and the request-time helpers
// (weighted cluster picks, host and path rewrites, direct response bodies, redirect Location).
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { packageRoot } from "../../../src/core/paths.js";
import { anyOf } from "../../../src/envoy/protos.js";
import type { HeaderValueOption, RedirectAction, RouteAction, RouteMatch } from "../../../src/envoy/types.js";
import { applyRequestHeaderMutations, applyResponseHeaderMutations, mirrorsFor, pickWeightedCluster, pickWeightedClusterEntry, redirectLocation, rewriteHost, rewritePath } from "../../../src/proxy/http/route-actions.js";
import { DEFAULT_ROUTE_TIMEOUT_MS } from "../../../src/proxy/http/route-config.js";
import { RouteTable, type CompiledRoute } from "../../../src/proxy/http/route-table.js";
import { type DirectResponseConfig, type RedirectActionConfig } from "../../../src/proxy/http/route-config.js";
import type { HeaderMap } from "../../../src/proxy/http/headers.js";
import { compileError, firstRoute, req, routeAction, routesTable, table, vhost } from "./route-table-helpers.js";

describe("route actions", () => {
  it("defaults: 15 s timeout, no retry policy, 503 for a missing cluster", () => {
    const a = routeAction(firstRoute(routesTable([{ prefix: "/" }])));
    assert.equal(a.timeoutMs, DEFAULT_ROUTE_TIMEOUT_MS);
    assert.equal(a.timeoutMs, 15000);
    assert.equal(a.idleTimeoutMs, undefined);
    assert.equal(a.retryPolicy, undefined);
    assert.equal(a.clusterNotFoundResponseCode, 503);
    assert.deepEqual(a.hashPolicy, []);
    assert.deepEqual(a.requestMirrorPolicies, []);
  });

  it("timeouts (0 = disabled), stream durations and idle timeout", () => {
    const t = table([
      vhost("a", ["*"], [
        {
          match: { prefix: "/" },
          route: {
            cluster: "c",
            timeout: {},
            idleTimeout: { seconds: 2, nanos: 500000000 },
            maxGrpcTimeout: {},
            grpcTimeoutOffset: { nanos: 1000000 },
            maxStreamDuration: { maxStreamDuration: { seconds: 30 }, grpcTimeoutHeaderMax: { seconds: 5 } },
            clusterNotFoundResponseCode: "NOT_FOUND",
          },
        },
      ]),
    ]);
    const a = routeAction(firstRoute(t));
    assert.equal(a.timeoutMs, 0);
    assert.equal(a.idleTimeoutMs, 2500);
    assert.equal(a.maxGrpcTimeoutMs, 0);
    assert.equal(a.grpcTimeoutOffsetMs, 1);
    assert.equal(a.maxStreamDurationMs, 30000);
    assert.equal(a.grpcTimeoutHeaderMaxMs, 5000);
    assert.equal(a.grpcTimeoutHeaderOffsetMs, undefined);
    assert.equal(a.clusterNotFoundResponseCode, 404);
  });

  it("retry policy: parsed, defaulted, and inherited from the virtual host", () => {
    const t = table([
      vhost(
        "a",
        ["*"],
        [
          {
            match: { prefix: "/own" },
            route: {
              cluster: "c",
              retryPolicy: {
                retryOn: " 5xx, gateway-error ,reset,",
                numRetries: { value: 3 },
                perTryTimeout: { seconds: 1 },
                retriableStatusCodes: [502, 503],
                retryHostPredicate: [{ name: "envoy.retry_host_predicates.previous_hosts" }],
                retryPriority: {
                  name: "envoy.retry_priorities.previous_priorities",
                  typedConfig: anyOf("envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig", { updateFrequency: 2 }),
                },
                hostSelectionRetryMaxAttempts: 5,
                retryBackOff: { baseInterval: { nanos: 100000000 } },
                retriableHeaders: [{ name: "x-retry", presentMatch: true }],
              },
            },
          },
          { match: { prefix: "/" }, route: { cluster: "c" } },
        ],
        { retryPolicy: { retryOn: "connect-failure" } },
      ),
    ]);
    const own = routeAction(firstRoute(t, 0, 0)).retryPolicy;
    assert.ok(own);
    assert.deepEqual(own.retryOn, ["5xx", "gateway-error", "reset"]);
    assert.equal(own.numRetries, 3);
    assert.equal(own.perTryTimeoutMs, 1000);
    assert.deepEqual(own.retriableStatusCodes, [502, 503]);
    assert.deepEqual(own.retryHostPredicates, ["envoy.retry_host_predicates.previous_hosts"]);
    assert.equal(own.retryPriority?.name, "envoy.retry_priorities.previous_priorities");
    assert.equal(own.hostSelectionRetryMaxAttempts, 5);
    assert.equal(own.baseIntervalMs, 100);
    assert.equal(own.maxIntervalMs, 1000); // 10 × base when max is not set
    assert.equal(own.retriableHeaders.length, 1);
    const inherited = routeAction(firstRoute(t, 0, 1)).retryPolicy;
    assert.ok(inherited);
    assert.deepEqual(inherited.retryOn, ["connect-failure"]);
    assert.equal(inherited.numRetries, 1);
    assert.equal(inherited.perTryTimeoutMs, 0);
    assert.equal(inherited.hostSelectionRetryMaxAttempts, 1);
    assert.equal(inherited.baseIntervalMs, 25);
    assert.equal(inherited.maxIntervalMs, 250);
  });

  it("rewrites, host rewrites, hash policies, upgrades and metadata match", () => {
    const t = table([
      vhost("a", ["*"], [
        {
          match: { prefix: "/" },
          route: {
            cluster: "c",
            prefixRewrite: "/v2",
            hostRewriteLiteral: "upstream.example",
            hashPolicy: [
              { header: { headerName: "X-User" } },
              { cookie: { name: "session", ttl: { seconds: 60 }, path: "/" }, terminal: true },
              { connectionProperties: { sourceIp: true } },
              { connectionProperties: {} },
              { queryParameter: { name: "u" } },
            ],
            upgradeConfigs: [{ upgradeType: "WebSocket" }, { upgradeType: "CONNECT", enabled: { value: false } }],
            metadataMatch: { filterMetadata: { "envoy.lb": { fields: { version: { stringValue: "v1" } } } } },
            autoHostRewrite: { value: true },
          },
        },
      ]),
    ]);
    const a = routeAction(firstRoute(t));
    assert.equal(a.prefixRewrite, "/v2");
    assert.equal(a.hostRewriteLiteral, "upstream.example");
    assert.equal(a.autoHostRewrite, true);
    assert.deepEqual(a.hashPolicy, [
      { kind: "header", headerName: "x-user", regexRewrite: undefined, terminal: false },
      { kind: "cookie", name: "session", ttlMs: 60000, path: "/", attributes: [], terminal: true },
      { kind: "sourceIp", terminal: false },
      { kind: "queryParameter", name: "u", terminal: false },
    ]);
    assert.deepEqual(a.upgradeConfigs, { websocket: true, connect: false });
    assert.deepEqual(a.metadataMatch, { fields: { version: { stringValue: "v1" } } });
  });

  it("mirror policies: fractions, clusterHeader, inheritance from the virtual host and the configuration", () => {
    const t = table(
      [
        vhost("own", ["own"], [
          {
            match: { prefix: "/" },
            route: {
              cluster: "c",
              requestMirrorPolicies: [
                { cluster: "always" },
                { cluster: "half", runtimeFraction: { defaultValue: { numerator: 50 } } },
                { cluster: "tiny", runtimeFraction: { defaultValue: { numerator: 10, denominator: "TEN_THOUSAND" } } },
                { clusterHeader: "X-Mirror", runtimeFraction: { defaultValue: { numerator: 1000000, denominator: "MILLION" } } },
              ],
            },
          },
        ]),
        vhost("vh", ["vh"], undefined, { requestMirrorPolicies: [{ cluster: "from-vhost" }] }),
        vhost("rc", ["rc"]),
      ],
      { requestMirrorPolicies: [{ cluster: "from-config" }] },
    );
    const own = firstRoute(t, 0);
    assert.deepEqual(mirrorsFor(own, 0.0005, req("own", "/", { "x-mirror": "shadow" })).map((m) => m.cluster), ["always", "half", "tiny", "shadow"]);
    assert.deepEqual(mirrorsFor(own, 0.3).map((m) => m.cluster), ["always", "half"]);
    assert.deepEqual(mirrorsFor(own, 0.7).map((m) => m.cluster), ["always"]);
    assert.deepEqual(mirrorsFor(firstRoute(t, 1), 0.99).map((m) => m.cluster), ["from-vhost"]);
    assert.deepEqual(mirrorsFor(firstRoute(t, 2), 0.99).map((m) => m.cluster), ["from-config"]);
    const none = routesTable([{ prefix: "/" }]);
    assert.equal(mirrorsFor(firstRoute(none), 0.5).length, 0);
  });

  it("redirect and direct response actions", () => {
    const t = table([
      vhost("a", ["*"], [
        { match: { prefix: "/r" }, redirect: { hostRedirect: "new.example", responseCode: "PERMANENT_REDIRECT", stripQuery: true } },
        { match: { prefix: "/s" }, redirect: { schemeRedirect: "HTTPS", portRedirect: 8443 } },
        { match: { prefix: "/d" }, directResponse: { status: 503, body: { inlineString: "no healthy upstream" } } },
        { match: { prefix: "/b" }, directResponse: { status: 200, body: { inlineBytes: Buffer.from("bytes") } } },
        { match: { prefix: "/e" }, directResponse: { status: 204 } },
      ]),
    ]);
    const r0 = firstRoute(t, 0, 0).action as RedirectActionConfig;
    assert.equal(r0.kind, "redirect");
    assert.equal(r0.responseCode, 308);
    assert.equal(r0.hostRedirect, "new.example");
    assert.equal(r0.stripQuery, true);
    const r1 = firstRoute(t, 0, 1).action as RedirectActionConfig;
    assert.equal(r1.responseCode, 301);
    assert.equal(r1.schemeRedirect, "HTTPS"); // used as configured, as Envoy does
    assert.equal(r1.portRedirect, 8443);
    const d = firstRoute(t, 0, 2).action as DirectResponseConfig;
    assert.deepEqual([d.kind, d.status, d.body?.toString()], ["direct", 503, "no healthy upstream"]);
    assert.equal((firstRoute(t, 0, 3).action as DirectResponseConfig).body?.toString(), "bytes");
    assert.equal((firstRoute(t, 0, 4).action as DirectResponseConfig).body, undefined);
    for (const [code, status] of [
      ["MOVED_PERMANENTLY", 301],
      ["FOUND", 302],
      ["SEE_OTHER", 303],
      ["TEMPORARY_REDIRECT", 307],
      ["PERMANENT_REDIRECT", 308],
    ] as const) {
      const rt = table([vhost("a", ["*"], [{ match: { prefix: "/" }, redirect: { responseCode: code } }])]);
      assert.equal((firstRoute(rt).action as RedirectActionConfig).responseCode, status);
    }
  });

  it("route metadata, decorator, name, statPrefix and per-filter configs (most specific wins)", () => {
    const fault = (n: number) => anyOf("envoy.extensions.filters.http.fault.v3.HTTPFault", { abort: { httpStatus: n } });
    const cors = anyOf("envoy.extensions.filters.http.cors.v3.CorsPolicy", { allowMethods: "PUT" });
    const rbac = anyOf("envoy.extensions.filters.http.rbac.v3.RBACPerRoute", {});
    const [fault500, fault400] = [fault(500), fault(400)];
    const t = table(
      [
        vhost(
          "a",
          ["*"],
          [
            {
              name: "r",
              statPrefix: "sp",
              match: { prefix: "/" },
              route: { cluster: "c", weightedClusters: undefined },
              decorator: { operation: "op" },
              metadata: { filterMetadata: { istio: { fields: {} } } },
              typedPerFilterConfig: { "envoy.filters.http.fault": fault500 },
            },
            { match: { prefix: "/" }, route: { cluster: "c" } },
          ],
          { typedPerFilterConfig: { "envoy.filters.http.fault": fault400, "envoy.filters.http.cors": cors }, cors: { allowMethods: "GET" } },
        ),
      ],
      { typedPerFilterConfig: { "envoy.filters.http.rbac": rbac } },
    );
    const r = firstRoute(t, 0, 0);
    assert.equal(r.name, "r");
    assert.equal(r.statPrefix, "sp");
    assert.deepEqual(r.decorator, { operation: "op", propagate: true });
    assert.deepEqual(r.metadata, { filterMetadata: { istio: { fields: {} } } });
    assert.equal(r.filterConfigs["envoy.filters.http.fault"], fault500);
    assert.equal(r.filterConfigs["envoy.filters.http.rbac"], rbac);
    assert.equal(r.filterConfigs["envoy.filters.http.cors"], cors);
    assert.equal(firstRoute(t, 0, 1).filterConfigs["envoy.filters.http.fault"], fault400);
    // The deprecated virtual host policy, compiled with the table.
    assert.deepEqual(t.virtualHosts[0].cors, {
      origins: [],
      allowMethods: "GET",
      allowHeaders: undefined,
      exposeHeaders: undefined,
      maxAge: undefined,
      allowCredentials: false,
      enabledFraction: 1,
      forwardNotMatchingPreflights: true,
    });
  });

  it("header mutation order: route → vhost → config, unless mostSpecificHeaderMutationsWins", () => {
    const set = (v: string): HeaderValueOption[] => [{ header: { key: "x-level", value: v }, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" }];
    const add = (v: string): HeaderValueOption[] => [{ header: { key: "x-trail", value: v } }];
    const rc = (mostSpecific: boolean): RouteTable =>
      table(
        [
          vhost(
            "a",
            ["*"],
            [
              {
                match: { prefix: "/" },
                requestHeadersToAdd: [...set("route"), ...add("route")],
                responseHeadersToAdd: set("route"),
                route: {
                  weightedClusters: {
                    clusters: [
                      { name: "w1", weight: { value: 1 }, requestHeadersToAdd: [...set("cluster"), ...add("cluster")], requestHeadersToRemove: ["x-drop"], hostRewriteLiteral: "w1.host" },
                      { name: "w2", weight: { value: 1 } },
                    ],
                  },
                },
              },
            ],
            { requestHeadersToAdd: [...set("vhost"), ...add("vhost")], responseHeadersToAdd: set("vhost") },
          ),
        ],
        { requestHeadersToAdd: [...set("config"), ...add("config")], responseHeadersToAdd: set("config"), mostSpecificHeaderMutationsWins: mostSpecific },
      );
    const def = rc(false);
    const route = firstRoute(def);
    const action = routeAction(route);
    const w1 = pickWeightedClusterEntry(action, 0);
    assert.equal(w1?.name, "w1");
    const headers: HeaderMap = { "x-drop": "1" };
    applyRequestHeaderMutations(route, w1, headers);
    assert.deepEqual(headers, { "x-level": "config", "x-trail": ["cluster", "route", "vhost", "config"] });
    const resp: HeaderMap = {};
    applyResponseHeaderMutations(route, undefined, resp);
    assert.deepEqual(resp, { "x-level": "config" });
    assert.equal(rewriteHost(route, w1, req("orig", "/")), "w1.host");

    const specific = rc(true);
    const h2: HeaderMap = {};
    applyRequestHeaderMutations(firstRoute(specific), undefined, h2);
    assert.deepEqual(h2, { "x-level": "route", "x-trail": ["config", "vhost", "route"] });
  });
});

describe("weighted cluster picks", () => {
  const t = table([
    vhost("a", ["*"], [
      {
        match: { prefix: "/" },
        route: {
          weightedClusters: {
            clusters: [
              { name: "ten", weight: { value: 10 } },
              { name: "zero", weight: { value: 0 } },
              { name: "twenty", weight: { value: 20 } },
              { name: "seventy", weight: { value: 70 } },
            ],
            headerName: "X-Random",
          },
        },
      },
    ]),
  ]);
  const a = routeAction(firstRoute(t));
  const cases: [number, string][] = [
    [0, "ten"],
    [0.0999, "ten"],
    [0.1, "twenty"],
    [0.2999, "twenty"],
    [0.3, "seventy"],
    [0.9999, "seventy"],
  ];
  for (const [r, want] of cases) it(`${r} → ${want}`, () => assert.equal(pickWeightedCluster(a, r), want));

  it("follows the weights over many draws", () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 1000; i++) {
      const c = pickWeightedCluster(a, i / 1000);
      counts[c] = (counts[c] ?? 0) + 1;
    }
    assert.deepEqual(counts, { ten: 100, twenty: 200, seventy: 700 });
  });

  it("uses the header's random value when it holds one integer", () => {
    assert.equal(a.weightedClusters?.totalWeight, 100);
    assert.equal(pickWeightedCluster(a, 0.99, req("x", "/", { "x-random": "5" })), "ten");
    assert.equal(pickWeightedCluster(a, 0.99, req("x", "/", { "x-random": "105" })), "ten");
    assert.equal(pickWeightedCluster(a, 0.99, req("x", "/", { "x-random": "25" })), "twenty");
    assert.equal(pickWeightedCluster(a, 0, req("x", "/", { "x-random": "abc" })), "ten");
    assert.equal(pickWeightedCluster(a, 0.99, req("x", "/", { "x-random": ["5", "6"] })), "seventy");
  });

  it("single cluster, clusterHeader and weighted clusterHeader", () => {
    const t2 = table([
      vhost("a", ["*"], [
        { match: { prefix: "/one" }, route: { cluster: "solo" } },
        { match: { prefix: "/hdr" }, route: { clusterHeader: "X-Cluster" } },
        { match: { prefix: "/" }, route: { weightedClusters: { clusters: [{ clusterHeader: "X-Pick", weight: { value: 1 } }] } } },
      ]),
    ]);
    assert.equal(pickWeightedCluster(routeAction(firstRoute(t2, 0, 0)), 0.5), "solo");
    assert.equal(pickWeightedCluster(routeAction(firstRoute(t2, 0, 1)), 0.5, req("x", "/", { "x-cluster": "dyn" })), "dyn");
    assert.equal(pickWeightedCluster(routeAction(firstRoute(t2, 0, 1)), 0.5, req("x", "/")), "");
    assert.equal(pickWeightedCluster(routeAction(firstRoute(t2, 0, 2)), 0.5, req("x", "/", { "x-pick": "a,b" })), "a");
  });
});

describe("host rewrites", () => {
  const rt = (route: RouteAction): CompiledRoute => firstRoute(table([vhost("a", ["*"], [{ match: { prefix: "/" }, route: { cluster: "c", ...route } }])]));
  it("literal, header (first value) and path regex; none = undefined", () => {
    assert.equal(rewriteHost(rt({ hostRewriteLiteral: "lit" }), undefined, req("orig", "/")), "lit");
    assert.equal(rewriteHost(rt({ hostRewriteHeader: "X-Host" }), undefined, req("orig", "/", { "x-host": "a.example,b" })), "a.example");
    assert.equal(rewriteHost(rt({ hostRewriteHeader: "X-Host" }), undefined, req("orig", "/")), undefined);
    const re = rt({ hostRewritePathRegex: { pattern: { regex: "^/prefix/([^/]+).*$" }, substitution: "\\1.example" } });
    assert.equal(rewriteHost(re, undefined, req("orig", "/prefix/svc/x?q=/prefix/other")), "svc.example");
    assert.equal(rewriteHost(rt({}), undefined, req("orig", "/")), undefined);
    assert.equal(routeAction(rt({ autoHostRewrite: { value: true } })).autoHostRewrite, true);
  });
});

describe("direct response bodies", () => {
  it("environment variables and files", () => {
    process.env.TSMESH_TEST_BODY = "from env";
    const t = table([
      vhost("a", ["*"], [
        { match: { prefix: "/env" }, directResponse: { status: 200, body: { environmentVariable: "TSMESH_TEST_BODY" } } },
        { match: { prefix: "/file" }, directResponse: { status: 200, body: { filename: join(packageRoot(), "package.json") } } },
      ]),
    ], { maxDirectResponseBodySizeBytes: { value: 0 } });
    assert.equal((firstRoute(t, 0, 0).action as DirectResponseConfig).body?.toString(), "from env");
    assert.match((firstRoute(t, 0, 1).action as DirectResponseConfig).body?.toString() ?? "", /"name": "tsmesh"/);
    const err = compileError({ virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/" }, directResponse: { status: 200, body: { environmentVariable: "TSMESH_NO_SUCH_VAR" } } }])] });
    assert.equal(err.message, "virtualHosts[0].routes[0].directResponse.body.environmentVariable: Environment variable doesn't exist: TSMESH_NO_SUCH_VAR");
  });
});

describe("path rewrites", () => {
  const rt = (match: RouteMatch, route: RouteAction): CompiledRoute => firstRoute(table([vhost("a", ["*"], [{ match, route: { cluster: "c", ...route } }])]));
  const cases: [string, CompiledRoute, string, string][] = [
    ["prefix rewrite replaces the matched prefix", rt({ prefix: "/api" }, { prefixRewrite: "/v2" }), "/api/users?id=1", "/v2/users?id=1"],
    ["prefix rewrite to /", rt({ prefix: "/prefix/" }, { prefixRewrite: "/" }), "/prefix/x", "/x"],
    ["case-insensitive prefix", rt({ prefix: "/API", caseSensitive: { value: false } }, { prefixRewrite: "/v2" }), "/api/x", "/v2/x"],
    ["path route", rt({ path: "/old" }, { prefixRewrite: "/new" }), "/old?q", "/new?q"],
    ["pathSeparatedPrefix route", rt({ pathSeparatedPrefix: "/a" }, { prefixRewrite: "/b" }), "/a/c", "/b/c"],
    ["prefix rewrite on a regex route replaces the path, keeps the query", rt({ safeRegex: { regex: "/x/.*" } }, { prefixRewrite: "/y" }), "/x/1?q=2", "/y?q=2"],
    [
      "regex rewrite keeps the query",
      rt({ prefix: "/" }, { regexRewrite: { pattern: { regex: "^/service/([^/]+)(/.*)$" }, substitution: "\\2/instance/\\1" } }),
      "/service/foo/v1/api?x=1",
      "/v1/api/instance/foo?x=1",
    ],
    ["no rewrite returns the same path", rt({ prefix: "/" }, {}), "/same?x", "/same?x"],
  ];
  for (const [name, route, input, want] of cases) it(name, () => assert.equal(rewritePath(route, input), want));
});

describe("redirect Location (Envoy's newUri)", () => {
  const loc = (redirect: RedirectAction, authority: string, path: string, scheme: "http" | "https" = "http", match: RouteMatch = { prefix: "/" }): string => {
    const t = table([vhost("a", ["*"], [{ match, redirect }])]);
    const m = t.match(req(authority, path));
    assert.ok(m);
    const r = redirectLocation(m.route.action as RedirectActionConfig, req(authority, path), scheme);
    return `${r.status} ${r.location}`;
  };
  const cases: [string, RedirectAction, string, string, "http" | "https", string, RouteMatch?][] = [
    ["https redirect drops :80", { httpsRedirect: true }, "example.com:80", "/a?b=1", "http", "301 https://example.com/a?b=1"],
    ["https redirect keeps other ports", { httpsRedirect: true }, "example.com:8080", "/a", "http", "301 https://example.com:8080/a"],
    ["scheme redirect https→http drops :443", { schemeRedirect: "http" }, "example.com:443", "/", "https", "301 http://example.com/"],
    ["same scheme keeps the port", { hostRedirect: undefined, responseCode: "FOUND", pathRedirect: "/new" }, "example.com:80", "/old", "http", "302 http://example.com:80/new"],
    ["host redirect", { hostRedirect: "new.example.com" }, "old.example.com:8080", "/p?q", "http", "301 http://new.example.com/p?q"],
    ["port redirect replaces the port", { portRedirect: 8443, httpsRedirect: true }, "example.com:8080", "/p", "http", "301 https://example.com:8443/p"],
    ["IPv6 authority", { portRedirect: 9000 }, "[::1]:8080", "/p", "http", "301 http://[::1]:9000/p"],
    ["path redirect keeps the request query", { pathRedirect: "/new" }, "h", "/old?x=1", "http", "301 http://h/new?x=1"],
    ["path redirect with its own query wins", { pathRedirect: "/new?y=2", stripQuery: true }, "h", "/old?x=1", "http", "301 http://h/new?y=2"],
    ["strip query", { hostRedirect: "h2", stripQuery: true }, "h", "/p?x=1", "http", "301 http://h2/p"],
    ["path redirect without a leading slash", { pathRedirect: "rel" }, "h", "/x", "http", "301 http://h/rel"],
    ["prefix rewrite", { prefixRewrite: "/v2/" }, "h", "/v1/users?id=3", "http", "301 http://h/v2/users?id=3", { prefix: "/v1/" }],
    [
      "regex rewrite",
      { regexRewrite: { pattern: { regex: "^/v1/(.*)$" }, substitution: "/v2/\\1" }, responseCode: "TEMPORARY_REDIRECT" },
      "h",
      "/v1/a/b?z",
      "https",
      "307 https://h/v2/a/b?z",
    ],
  ];
  for (const [name, redirect, authority, path, scheme, want, match] of cases) {
    it(name, () => assert.equal(loc(redirect, authority, path, scheme, match), want));
  }
});
