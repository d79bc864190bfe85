// Route table: virtual host selection (exact, suffix and prefix wildcards, ports) and every route
// matcher kind (path specifiers, headers, query parameters, runtime fractions, TLS requirement).
// RE2 translation, compile errors, route actions and the bookinfo goldens have their own files.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RouteConfiguration, RouteMatch } from "../../../src/envoy/types.js";
import { redirectLocation } from "../../../src/proxy/http/route-actions.js";
import { type RequestView } from "../../../src/proxy/http/route-table.js";
import { firstQueryParameter, HeaderMatcher } from "../../../src/proxy/http/matchers/matchers.js";
import { type RedirectActionConfig } from "../../../src/proxy/http/route-config.js";
import { clusterOf, req, routesTable, table, vhost } from "./route-table-helpers.js";

describe("virtual host selection", () => {
  const t = table([
    vhost("exact", ["foo.com", "Mixed.Case.Example"]),
    vhost("suffix-dot", ["*.foo.com"]),
    vhost("suffix-dash", ["*-bar.foo.com"]),
    vhost("suffix-long", ["*.baz.bar.foo.com"]),
    vhost("prefix-short", ["api.*"]),
    vhost("prefix-long", ["api.internal.*"]),
    vhost("catch-all", ["*"]),
  ]);

  const cases: [string, string][] = [
    ["foo.com", "exact"],
    ["FOO.COM", "exact"],
    ["mixed.case.example", "exact"],
    ["a.foo.com", "suffix-dot"],
    ["x.y.foo.com", "suffix-dot"],
    ["baz-bar.foo.com", "suffix-dash"], // longest suffix wins over *.foo.com
    ["-bar.foo.com", "suffix-dot"], // `*` needs at least one character
    ["q.baz.bar.foo.com", "suffix-long"],
    ["baz.bar.foo.com", "suffix-dot"], // *.baz.bar.foo.com needs one more character
    [".foo.com", "catch-all"], // *.foo.com does not match .foo.com
    ["api.example.com", "prefix-short"],
    ["api.internal.example", "prefix-long"],
    ["api.", "catch-all"],
    ["api.foo.com", "suffix-dot"], // suffix wildcards before prefix wildcards
    ["other.org", "catch-all"],
    ["foo.com:8080", "catch-all"], // ports count without ignorePortInHostMatching
  ];
  for (const [authority, want] of cases) {
    it(`${authority} → ${want}`, () => assert.equal(t.virtualHost(authority)?.name, want));
  }

  it("matches host:port domains exactly when ports are not ignored", () => {
    const tp = table([vhost("with-port", ["reviews:9080", "reviews.default.svc.cluster.local:9080"]), vhost("plain", ["reviews"])]);
    assert.equal(tp.virtualHost("reviews:9080")?.name, "with-port");
    assert.equal(tp.virtualHost("Reviews.Default.Svc.Cluster.Local:9080")?.name, "with-port");
    assert.equal(tp.virtualHost("reviews")?.name, "plain");
    assert.equal(tp.virtualHost("reviews:9081"), undefined);
  });

  it("strips the port with ignorePortInHostMatching (IPv6 aware)", () => {
    const tp = table([vhost("svc", ["reviews", "10.0.0.1", "[::1]"]), vhost("v6port", ["[::1]:80"])], { ignorePortInHostMatching: true });
    assert.equal(tp.virtualHost("reviews:9080")?.name, "svc");
    assert.equal(tp.virtualHost("reviews")?.name, "svc");
    assert.equal(tp.virtualHost("10.0.0.1:80")?.name, "svc");
    assert.equal(tp.virtualHost("[::1]:8080")?.name, "svc");
    assert.equal(tp.virtualHost("[::1]")?.name, "svc");
    assert.equal(tp.virtualHost("nope:80"), undefined);
  });

  it("uses the only default virtual host for any authority (even none)", () => {
    const tp = table([vhost("only", ["*"])]);
    assert.equal(tp.virtualHost("")?.name, "only");
    assert.equal(tp.virtualHost("whatever:1")?.name, "only");
    assert.equal(table([vhost("x", ["x.com"])]).virtualHost(""), undefined);
  });

  it("caches lookups without changing results", () => {
    for (let i = 0; i < 3; i++) {
      assert.equal(t.virtualHost("a.foo.com")?.name, "suffix-dot");
      assert.equal(t.virtualHost("unknown.example")?.name, "catch-all");
    }
    const none = table([vhost("x", ["x.com"])]);
    assert.equal(none.virtualHost("y.com"), undefined);
    assert.equal(none.virtualHost("y.com"), undefined);
  });

  it("match() returns undefined without a virtual host or a matching route", () => {
    const tp = table([vhost("x", ["x.com"], [{ match: { path: "/only" }, route: { cluster: "c" } }])]);
    assert.equal(tp.match(req("y.com", "/only")), undefined);
    assert.equal(tp.match(req("x.com", "/other")), undefined);
    assert.equal(tp.match(req("x.com", "/only"))?.route.vhost.name, "x");
  });
});

describe("route matchers", () => {
  interface Case {
    name: string;
    match: RouteMatch;
    yes: RequestView[];
    no: RequestView[];
    extra?: RouteConfiguration;
  }
  const h = (headers: Record<string, string | string[]>, path = "/", method = "GET"): RequestView => req("x", path, headers, method);
  const p = (path: string): RequestView => req("x", path);
  const cases: Case[] = [
    { name: "prefix", match: { prefix: "/api" }, yes: [p("/api"), p("/api/v1"), p("/apix"), p("/api?x=1")], no: [p("/ap"), p("/API"), p("/ap?i")] },
    { name: "empty prefix", match: { prefix: "" }, yes: [p("/"), p("/x")], no: [req("x", "", {}, "CONNECT")] },
    { name: "prefix case-insensitive", match: { prefix: "/Api", caseSensitive: { value: false } }, yes: [p("/api/x"), p("/API"), p("/aPi")], no: [p("/ap")] },
    { name: "path", match: { path: "/exact" }, yes: [p("/exact"), p("/exact?q=1"), p("/exact#frag")], no: [p("/exact/"), p("/Exact"), p("/exac"), p("/exacz?/exact")] },
    { name: "path case-insensitive", match: { path: "/Exact", caseSensitive: { value: false } }, yes: [p("/EXACT"), p("/exact?x")], no: [p("/exact/x")] },
    {
      name: "safeRegex (full match, query ignored)",
      match: { safeRegex: { regex: "/v[0-9]+/items" } },
      yes: [p("/v1/items"), p("/v22/items?x=1")],
      no: [p("/v1/items/1"), p("/x/v1/items"), p("/vx/items")],
    },
    {
      name: "pathSeparatedPrefix",
      match: { pathSeparatedPrefix: "/api" },
      yes: [p("/api"), p("/api/"), p("/api/x"), p("/api?x"), p("/api#f")],
      no: [p("/apix"), p("/ap"), p("/API")],
    },
    { name: "pathSeparatedPrefix case-insensitive", match: { pathSeparatedPrefix: "/Api", caseSensitive: { value: false } }, yes: [p("/API/x")], no: [p("/apix")] },
    { name: "connectMatcher", match: { connectMatcher: {} }, yes: [req("x:443", "", {}, "CONNECT")], no: [p("/")] },
    {
      name: "header exactMatch (legacy)",
      match: { prefix: "/", headers: [{ name: "x-a", exactMatch: "v" }] },
      yes: [h({ "x-a": "v" })],
      no: [h({ "x-a": "V" }), h({}), h({ "x-a": "vv" })],
    },
    { name: "header exactMatch empty = any value", match: { prefix: "/", headers: [{ name: "x-a", exactMatch: "" }] }, yes: [h({ "x-a": "anything" })], no: [h({})] },
    {
      name: "header stringMatch exact",
      match: { prefix: "/", headers: [{ name: "end-user", stringMatch: { exact: "jason" } }] },
      yes: [h({ "end-user": "jason" })],
      no: [h({ "end-user": "Jason" }), h({})],
    },
    {
      name: "header stringMatch exact ignoreCase",
      match: { prefix: "/", headers: [{ name: "End-User", stringMatch: { exact: "Jason", ignoreCase: true } }] },
      yes: [h({ "end-user": "JASON" }), h({ "end-user": "jason" })],
      no: [h({ "end-user": "jasonx" })],
    },
    {
      name: "header prefix/suffix/contains (legacy and stringMatch)",
      match: {
        prefix: "/",
        headers: [
          { name: "a", prefixMatch: "pre" },
          { name: "b", suffixMatch: "suf" },
          { name: "c", containsMatch: "mid" },
          { name: "d", stringMatch: { prefix: "P", ignoreCase: true } },
          { name: "e", stringMatch: { suffix: "S", ignoreCase: true } },
          { name: "f", stringMatch: { contains: "M", ignoreCase: true } },
        ],
      },
      yes: [h({ a: "prefix", b: "xsuf", c: "amidb", d: "pX", e: "xs", f: "amb" })],
      no: [h({ a: "xpre", b: "xsuf", c: "amidb", d: "pX", e: "xs", f: "amb" }), h({ a: "prefix", b: "xsuf", c: "amidb", d: "pX", e: "xs" })],
    },
    {
      name: "header safeRegexMatch and stringMatch.safeRegex (full match)",
      match: {
        prefix: "/",
        headers: [
          { name: "a", safeRegexMatch: { regex: "\\d{3}" } },
          { name: "b", stringMatch: { safeRegex: { regex: "v[12]" } } },
        ],
      },
      yes: [h({ a: "123", b: "v2" })],
      no: [h({ a: "1234", b: "v2" }), h({ a: "123", b: "v3" })],
    },
    {
      name: "header rangeMatch [start, end)",
      match: { prefix: "/", headers: [{ name: "n", rangeMatch: { start: -10, end: 10 } }] },
      yes: [h({ n: "-10" }), h({ n: "0" }), h({ n: "9" }), h({ n: "+5" })],
      no: [h({ n: "10" }), h({ n: "1.5" }), h({ n: "x" }), h({ n: "" }), h({})],
    },
    { name: "header presentMatch true", match: { prefix: "/", headers: [{ name: "p", presentMatch: true }] }, yes: [h({ p: "" }), h({ p: "x" })], no: [h({})] },
    { name: "header presentMatch false", match: { prefix: "/", headers: [{ name: "p", presentMatch: false }] }, yes: [h({})], no: [h({ p: "x" })] },
    { name: "header with no specifier = present", match: { prefix: "/", headers: [{ name: "p" }] }, yes: [h({ p: "x" })], no: [h({})] },
    {
      name: "header invertMatch",
      match: { prefix: "/", headers: [{ name: "x", stringMatch: { exact: "a" }, invertMatch: true }] },
      // A missing header does not match, inverted or not (unless treated as empty).
      yes: [h({ x: "b" })],
      no: [h({ x: "a" }), h({})],
    },
    {
      name: "header invertMatch + treatMissingHeaderAsEmpty (Istio withoutHeaders)",
      match: { prefix: "/", headers: [{ name: "x", stringMatch: { exact: "a" }, invertMatch: true, treatMissingHeaderAsEmpty: true }] },
      yes: [h({ x: "b" }), h({})],
      no: [h({ x: "a" })],
    },
    {
      name: "header treatMissingHeaderAsEmpty with an empty-matching regex",
      match: { prefix: "/", headers: [{ name: "x", stringMatch: { safeRegex: { regex: "^$" } }, treatMissingHeaderAsEmpty: true }] },
      yes: [h({}), h({ x: "" })],
      no: [h({ x: "v" })],
    },
    { name: "header presentMatch inverted", match: { prefix: "/", headers: [{ name: "p", presentMatch: true, invertMatch: true }] }, yes: [h({})], no: [h({ p: "1" })] },
    {
      name: "repeated header values are joined with ','",
      match: { prefix: "/", headers: [{ name: "x", stringMatch: { exact: "a,b" } }] },
      yes: [h({ x: ["a", "b"] })],
      no: [h({ x: ["a"] })],
    },
    {
      name: "pseudo-headers :method, :authority, :path, :scheme",
      match: {
        prefix: "/",
        headers: [
          { name: ":method", stringMatch: { exact: "POST" } },
          { name: ":authority", stringMatch: { prefix: "x" } },
          { name: ":path", stringMatch: { suffix: "?q=1" } },
          { name: ":scheme", stringMatch: { exact: "https" } },
        ],
      },
      yes: [req("x:80", "/a?q=1", {}, "POST", "https")],
      no: [req("x:80", "/a?q=1", {}, "GET", "https"), req("x:80", "/a", {}, "POST", "https"), req("x:80", "/a?q=1", {}, "POST", "http")],
    },
    {
      name: "queryParameters stringMatch (first value, undecoded)",
      match: { prefix: "/", queryParameters: [{ name: "v", stringMatch: { exact: "1" } }] },
      yes: [p("/?v=1"), p("/?a=2&v=1"), p("/?v=1&v=2")],
      no: [p("/?v=2&v=1"), p("/?v=%31"), p("/"), p("/?vv=1"), p("/#?v=1")],
    },
    { name: "queryParameters presentMatch", match: { prefix: "/", queryParameters: [{ name: "debug", presentMatch: true }] }, yes: [p("/?debug"), p("/?debug=")], no: [p("/?nodebug=1")] },
    { name: "queryParameters presentMatch false", match: { prefix: "/", queryParameters: [{ name: "debug", presentMatch: false }] }, yes: [p("/?x=1"), p("/")], no: [p("/?debug=0")] },
    { name: "queryParameters bare name = present", match: { prefix: "/", queryParameters: [{ name: "k" }] }, yes: [p("/?k=anything")], no: [p("/")] },
    {
      name: "grpc",
      match: { prefix: "/", grpc: {} },
      yes: [h({ "content-type": "application/grpc" }), h({ "content-type": "application/grpc+proto" })],
      no: [h({ "content-type": "application/grpc-web" }), h({ "content-type": "application/json" }), h({})],
    },
    {
      name: "ignorePathParametersInPathMatching",
      match: { path: "/a" },
      extra: { ignorePathParametersInPathMatching: true },
      yes: [p("/a;jsessionid=1"), p("/a")],
      no: [p("/a/b;x")],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const t = routesTable([c.match], c.extra);
      for (const r of c.yes) assert.equal(clusterOf(t, r), "c0", `${c.name}: should match ${r.method} ${r.path}`);
      for (const r of c.no) assert.equal(clusterOf(t, r), undefined, `${c.name}: should not match ${r.method} ${r.path}`);
    });
  }

  it("the first matching route wins", () => {
    const t = routesTable([{ prefix: "/api/v1" }, { prefix: "/api" }, { prefix: "/" }]);
    assert.equal(clusterOf(t, p("/api/v1/x")), "c0");
    assert.equal(clusterOf(t, p("/api/v2")), "c1");
    assert.equal(clusterOf(t, p("/other")), "c2");
  });

  it("runtimeFraction uses the request's random number", () => {
    const t = routesTable([{ prefix: "/", runtimeFraction: { defaultValue: { numerator: 25 } } }, { prefix: "/" }]);
    assert.equal(clusterOf(t, p("/"), 0.1), "c0");
    assert.equal(clusterOf(t, p("/"), 0.24), "c0");
    assert.equal(clusterOf(t, p("/"), 0.25), "c1");
    const million = routesTable([{ prefix: "/", runtimeFraction: { defaultValue: { numerator: 500000, denominator: "MILLION" } } }, { prefix: "/" }]);
    assert.equal(clusterOf(million, p("/"), 0.4999), "c0");
    assert.equal(clusterOf(million, p("/"), 0.5), "c1");
  });

  it("require_tls redirects plain requests to https", () => {
    const t = table([vhost("secure", ["*"], undefined, { requireTls: "ALL" })]);
    const m = t.match(req("example.com:8080", "/a?b", { "x-forwarded-proto": "http" }));
    assert.equal(m?.route.action.kind, "redirect");
    assert.deepEqual(redirectLocation(m?.route.action as RedirectActionConfig, req("example.com:8080", "/a?b"), "http"), {
      status: 301,
      location: "https://example.com:8080/a?b",
    });
    assert.equal(clusterOf(t, req("example.com", "/", { "x-forwarded-proto": "https" })), "secure");
    const ext = table([vhost("ext", ["*"], undefined, { requireTls: "EXTERNAL_ONLY" })]);
    assert.equal(clusterOf(ext, req("e", "/", { "x-forwarded-proto": "http", "x-envoy-internal": "true" })), "ext");
    assert.equal(clusterOf(ext, req("e", "/", { "x-forwarded-proto": "http" })), "redirect");
  });

  it("HeaderMatcher works on any header source (retriable headers on responses)", () => {
    const m = HeaderMatcher.compile({ name: "X-Upstream", stringMatch: { prefix: "retry" } }, "retriableHeaders[0]");
    assert.equal(m.matches({ header: (n) => (n === "x-upstream" ? "retry-later" : undefined) }), true);
    assert.equal(m.matches({ header: () => undefined }), false);
  });

  it("firstQueryParameter", () => {
    assert.equal(firstQueryParameter("/p?a=1&b=&c&a=2", "a"), "1");
    assert.equal(firstQueryParameter("/p?a=1&b=&c&a=2", "b"), "");
    assert.equal(firstQueryParameter("/p?a=1&b=&c&a=2", "c"), "");
    assert.equal(firstQueryParameter("/p?a=1", "d"), undefined);
    assert.equal(firstQueryParameter("/p", "a"), undefined);
  });
});
