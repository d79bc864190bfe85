// Route table: virtual host selection, every route matcher kind, RE2 translation (checked against
// the RE2 engine), compile errors with field paths, route actions, the per-request helpers, and
// concrete routing decisions on the control plane's bookinfo golden RouteConfigurations.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { RE2JS } from "@bufbuild/re2";
import { packageRoot } from "../../../src/core/paths.js";
import { anyOf, decodeMessage, encodeMessage, isAnyOf, ROUTE_TYPE } from "../../../src/envoy/protos.js";
import type { HeaderValueOption, RedirectAction, Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost } from "../../../src/envoy/types.js";
import { applyRequestHeaderMutations, applyResponseHeaderMutations, mirrorsFor, pickWeightedCluster, pickWeightedClusterEntry, redirectLocation, rewriteHost, rewritePath } from "../../../src/proxy/http/route-actions.js";
import { compileRegex, compileRegexRewrite, regexReplaceAll } from "../../../src/proxy/http/matchers/regex.js";
import { DEFAULT_ROUTE_TIMEOUT_MS } from "../../../src/proxy/http/route-config.js";
import { RouteTable, type CompiledRoute, type RequestView } from "../../../src/proxy/http/route-table.js";
import { firstQueryParameter, HeaderMatcher } from "../../../src/proxy/http/matchers/matchers.js";
import { type DirectResponseConfig, type RedirectActionConfig, type RouteActionConfig } from "../../../src/proxy/http/route-config.js";
import type { HeaderMap } from "../../../src/proxy/http/headers.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";

// ---------------------------------------------------------------------------------------------
// Helpers

function req(authority: string, path = "/", headers: Record<string, string | string[]> = {}, method = "GET", scheme?: string): RequestView {
  const lower: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
  return {
    authority,
    path,
    method,
    scheme,
    header(name: string): string | undefined {
      const v = lower[name];
      return Array.isArray(v) ? v.join(",") : v;
    },
  };
}

function table(virtualHosts: VirtualHost[], extra: RouteConfiguration = {}): RouteTable {
  return RouteTable.compile({ name: "test", virtualHosts, ...extra });
}

function vhost(name: string, domains: string[], routes: Route[] = [{ match: { prefix: "/" }, route: { cluster: name } }], extra: VirtualHost = {}): VirtualHost {
  return { name, domains, routes, ...extra };
}

/** One vhost ("*"), one route per entry, each routing to a cluster named after its index. */
function routesTable(matches: RouteMatch[], extra: RouteConfiguration = {}): RouteTable {
  return table([vhost("all", ["*"], matches.map((match, i) => ({ name: `r${i}`, match, route: { cluster: `c${i}` } })))], extra);
}

function clusterOf(t: RouteTable, r: RequestView, random01?: number): string | undefined {
  const m = t.match(r, random01);
  if (!m) return undefined;
  const a = m.route.action;
  return a.kind === "route" ? pickWeightedCluster(a, 0, r) : a.kind;
}

function routeAction(route: CompiledRoute): RouteActionConfig {
  assert.equal(route.action.kind, "route");
  return route.action as RouteActionConfig;
}

function firstRoute(t: RouteTable, vh = 0, r = 0): CompiledRoute {
  return t.virtualHosts[vh].routes[r];
}

function compileError(rc: RouteConfiguration): XdsConfigError {
  try {
    RouteTable.compile(rc);
  } catch (err) {
    assert.ok(err instanceof XdsConfigError, `expected XdsConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the RouteConfiguration to be rejected");
}

// ---------------------------------------------------------------------------------------------
// Virtual hosts

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

// ---------------------------------------------------------------------------------------------
// Route matching

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

// ---------------------------------------------------------------------------------------------
// RE2

describe("RE2 regexes", () => {
  // Each pattern is checked against RE2 itself on every input: the translated JavaScript RegExp
  // (or the RE2 fallback) must agree with RE2's full match.
  const inputs = [
    "",
    "a",
    "A",
    "abc",
    "ABC",
    "a\nb",
    "a\rb",
    "\u000b",
    " ",
    "\t",
    "x{2}",
    "{",
    "a.b",
    "/api/v1/items",
    "/API/V1/ITEMS",
    "ж",
    "Ωmega",
    "😀",
    "123",
    "-5",
    "a+b",
    "foo.bar",
    "\\",
    "]",
    "a]b",
    "abab",
    "ab\nab",
    "K",
    "k",
    "\u212a",
  ];
  const patterns: [string, "js" | "re2"][] = [
    ["a", "js"],
    [".", "js"], // RE2 . matches \r but not \n
    ["a.b", "js"],
    ["(?s)a.b", "js"],
    ["\\s", "js"], // ASCII space class: no \v
    ["\\S+", "js"],
    ["\\d+", "js"],
    ["\\w+", "js"],
    ["\\W", "js"],
    ["[[:alpha:]]+", "js"],
    ["[[:^alpha:]]", "js"],
    ["[[:punct:][:space:]]", "js"],
    ["[^a-z]", "js"],
    ["[]a]+", "js"],
    ["[a\\]]+", "js"],
    ["[\\d-]+", "js"],
    ["-?\\d+", "js"],
    ["\\Qa.b\\E", "js"],
    ["\\Q{\\E", "js"],
    ["x\\{2\\}", "js"],
    ["x{2}", "js"],
    ["x{", "js"],
    ["{", "js"],
    ["a{,2}", "js"],
    ["(?i)abc", "js"],
    ["(?i)k", "js"],
    ["(?i)[a-c]+", "js"],
    ["\\pL+", "js"],
    ["\\p{Greek}mega", "js"],
    ["\\PL", "js"],
    ["\\p{^Greek}", "js"],
    ["\\x{1F600}", "js"],
    ["\\x41", "js"],
    ["\\101", "js"],
    ["\\0", "js"],
    ["\\.", "js"],
    ["\\\\", "js"],
    ["a\\]b", "js"],
    ["(?P<first>a)(?<second>b)", "js"],
    ["^abc$", "js"],
    ["\\Aabc\\z", "js"],
    ["(?m)^ab$\\n^ab$", "js"],
    ["ab\\nab", "js"],
    ["/api/v[0-9]+/items", "js"],
    ["(?i)/api/v[0-9]+/items", "js"],
    ["a+?b*?c??", "js"],
    ["(?:ab)+", "js"],
    ["(ab)*", "js"],
    ["\\bab", "js"],
    ["(a+)+", "re2"], // nested repetition
    ["(a|b)*", "re2"], // alternation under repetition
    [".*a.*b.*", "re2"], // three unbounded repeats
    ["a(?i)bc", "re2"], // scoped flags: not expressible in JavaScript
    ["(?i:a)b", "re2"],
    ["(?U)a+", "re2"],
  ];
  for (const [pattern, engine] of patterns) {
    it(`${JSON.stringify(pattern)} on ${engine}`, () => {
      const m = compileRegex(pattern, "r");
      assert.equal(m.engine, engine);
      const re2 = RE2JS.compile(pattern);
      for (const s of inputs) assert.equal(m.matches(s), re2.matches(s), `${JSON.stringify(pattern)} on ${JSON.stringify(s)}`);
    });
  }

  it("rejects what RE2 rejects, with the field path", () => {
    for (const bad of ["(?=a)", "(a)\\1", "a**", "(", "[a", "\\8", "x{1001}", ""]) {
      assert.throws(() => compileRegex(bad, "match.safeRegex.regex"), (err: unknown) => {
        assert.ok(err instanceof XdsConfigError);
        assert.equal(err.path, "match.safeRegex.regex");
        return true;
      }, bad);
    }
  });

  it("GlobalReplace semantics for rewrites", () => {
    const rw = (pattern: string, substitution: string, input: string): string => regexReplaceAll(compileRegexRewrite({ pattern: { regex: pattern }, substitution }, "r"), input);
    assert.equal(rw("^/service/([^/]+)(/.*)$", "\\2/instance/\\1", "/service/foo/v1/api"), "/v1/api/instance/foo");
    assert.equal(rw("one", "two", "/xxx/one/yyy/one/zzz"), "/xxx/two/yyy/two/zzz");
    assert.equal(rw("^(.*?)one(.*)$", "\\1two\\2", "/xxx/one/yyy/one/zzz"), "/xxx/two/yyy/one/zzz");
    assert.equal(rw(".*", "x", "/foo"), "x"); // no second (empty) match right after the first
    assert.equal(rw("a*", "-", "baaac"), "-b-c-");
    assert.equal(rw("z", "y", "/foo"), "/foo");
    assert.equal(rw("(o)", "\\\\\\1\\0", "o"), "\\oo");
    assert.equal(rw("(?i)FOO", "bar", "/foo/Foo"), "/bar/bar");
    assert.throws(() => compileRegexRewrite({ pattern: { regex: "(a)" }, substitution: "\\2" }, "regexRewrite"), /regexRewrite\.substitution: \\2 refers to a group/);
    assert.throws(() => compileRegexRewrite({ pattern: { regex: "a" }, substitution: "\\x" }, "regexRewrite"), /invalid rewrite pattern/);
    assert.throws(() => compileRegexRewrite({ pattern: { regex: "a(?i)b" }, substitution: "" }, "regexRewrite"), /regexRewrite\.pattern\.regex: .*cannot run for rewrites/);
  });
});

// ---------------------------------------------------------------------------------------------
// Compile errors

describe("compile errors name the field", () => {
  const cases: [string, RouteConfiguration, string | RegExp][] = [
    [
      "bad regex",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/" }, route: { cluster: "c" } }, { match: { safeRegex: { regex: "(?!x)" } }, route: { cluster: "c" } }])] },
      /^virtualHosts\[0\]\.routes\[1\]\.match\.safeRegex\.regex: invalid regular expression '\(\?!x\)': /,
    ],
    [
      "duplicate domain (case-insensitive)",
      { name: "rc", virtualHosts: [vhost("a", ["Foo.com"]), vhost("b", ["bar.com", "foo.COM"])] },
      "virtualHosts[1].domains[1]: Only unique values for domains are permitted. Duplicate entry of domain foo.com in route rc",
    ],
    ["duplicate wildcard domain", { name: "rc", virtualHosts: [vhost("a", ["*.x.com"]), vhost("b", ["*.X.com"])] }, /virtualHosts\[1\]\.domains\[0\]: Only unique values/],
    ["two catch-alls", { name: "rc", virtualHosts: [vhost("a", ["*"]), vhost("b", ["*"])] }, "virtualHosts[1].domains[0]: Only a single wildcard domain is permitted in route rc"],
    ["no domains", { virtualHosts: [vhost("a", [])] }, "virtualHosts[0].domains: a virtual host needs at least one domain"],
    ["route with no action", { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/" } }])] }, /^virtualHosts\[0\]\.routes\[0\]: route has no action/],
    ["route with no match", { virtualHosts: [vhost("a", ["*"], [{ route: { cluster: "c" } }])] }, "virtualHosts[0].routes[0].match: match is required"],
    ["match with no path specifier", { virtualHosts: [vhost("a", ["*"], [{ match: {}, route: { cluster: "c" } }])] }, /^virtualHosts\[0\]\.routes\[0\]\.match: route match needs one of/],
    ["route action with no cluster", { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/" }, route: { timeout: {} } }])] }, /^virtualHosts\[0\]\.routes\[0\]\.route: route action needs one of/],
    [
      "ignoreCase with safeRegex",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/", headers: [{ name: "x", stringMatch: { safeRegex: { regex: "a" }, ignoreCase: true } }] }, route: { cluster: "c" } }])] },
      "virtualHosts[0].routes[0].match.headers[0].stringMatch: ignore_case has no effect for safe_regex.",
    ],
    [
      "header regex in stringMatch",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/", headers: [{ name: "x", stringMatch: { safeRegex: { regex: "a(" } } }] }, route: { cluster: "c" } }])] },
      /^virtualHosts\[0\]\.routes\[0\]\.match\.headers\[0\]\.stringMatch\.safeRegex\.regex: invalid regular expression/,
    ],
    [
      "weights summing to 0",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/" }, route: { weightedClusters: { clusters: [{ name: "x", weight: { value: 0 } }] } } }])] },
      "virtualHosts[0].routes[0].route.weightedClusters: Sum of weights in the weighted_cluster must be greater than 0.",
    ],
    [
      "deprecated totalWeight that disagrees",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/" }, route: { weightedClusters: { clusters: [{ name: "x", weight: { value: 30 } }], totalWeight: { value: 100 } } } }])] },
      /^virtualHosts\[0\]\.routes\[0\]\.route\.weightedClusters\.totalWeight: Sum of weights in the weighted_cluster should add up to 100/,
    ],
    [
      "weighted cluster with neither name nor header",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/" }, route: { weightedClusters: { clusters: [{ weight: { value: 1 } }] } } }])] },
      "virtualHosts[0].routes[0].route.weightedClusters.clusters[0]: At least one of name or cluster_header need to be specified",
    ],
    [
      "two rewrites",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/" }, route: { cluster: "c", prefixRewrite: "/x", regexRewrite: { pattern: { regex: "a" }, substitution: "b" } } }])] },
      "virtualHosts[0].routes[0].route: Specify only one of prefix_rewrite, regex_rewrite or path_rewrite_policy",
    ],
    [
      "header mutation of :path",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/" }, route: { cluster: "c" }, requestHeadersToAdd: [{ header: { key: ":path", value: "/x" } }] }])] },
      "virtualHosts[0].routes[0].requestHeadersToAdd[0].header.key: :-prefixed or host headers may not be modified",
    ],
    [
      "removing host at config level",
      { requestHeadersToRemove: ["Host"], virtualHosts: [vhost("a", ["*"])] },
      "requestHeadersToRemove[0]: :-prefixed or host headers may not be removed",
    ],
    [
      "mirror policy without cluster",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/" }, route: { cluster: "c", requestMirrorPolicies: [{ runtimeFraction: {} }] } }])] },
      "virtualHosts[0].routes[0].route.requestMirrorPolicies[0]: Exactly one of cluster or cluster_header in request mirror policy need to be specified",
    ],
    [
      "retry back-off max below base",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/" }, route: { cluster: "c", retryPolicy: { retryBackOff: { baseInterval: { seconds: 1 }, maxInterval: { nanos: 5e8 } } } } }])] },
      "virtualHosts[0].routes[0].route.retryPolicy.retryBackOff: retry_policy.max_interval must greater than or equal to the base_interval",
    ],
    [
      "direct response status out of range",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/" }, directResponse: { status: 700 } }])] },
      "virtualHosts[0].routes[0].directResponse.status: status must be in [200, 600), got 700",
    ],
    [
      "direct response body over the limit",
      { maxDirectResponseBodySizeBytes: { value: 4 }, virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/" }, directResponse: { status: 200, body: { inlineString: "hello" } } }])] },
      "virtualHosts[0].routes[0].directResponse.body: response body size is 5 bytes; maximum is 4",
    ],
    [
      "redirect with two path rewrites",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/" }, redirect: { pathRedirect: "/a", prefixRewrite: "/b" } }])] },
      "virtualHosts[0].routes[0].redirect: only one of pathRedirect, prefixRewrite and regexRewrite can be set",
    ],
    [
      "invalid pathSeparatedPrefix",
      { virtualHosts: [vhost("a", ["*"], [{ match: { pathSeparatedPrefix: "/api/" }, route: { cluster: "c" } }])] },
      /^virtualHosts\[0\]\.routes\[0\]\.match\.pathSeparatedPrefix: invalid path_separated_prefix/,
    ],
    [
      "duplicate upgrade",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/" }, route: { cluster: "c", upgradeConfigs: [{ upgradeType: "websocket" }, { upgradeType: "WebSocket" }] } }])] },
      "virtualHosts[0].routes[0].route.upgradeConfigs[1]: Duplicate upgrade websocket",
    ],
    [
      "dynamic metadata matchers",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/", dynamicMetadata: [{ filter: "x" }] }, route: { cluster: "c" } }])] },
      "virtualHosts[0].routes[0].match.dynamicMetadata: dynamicMetadata matchers are not supported",
    ],
    [
      "negative duration",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/" }, route: { cluster: "c", retryPolicy: { perTryTimeout: { seconds: -1 } } } }])] },
      "virtualHosts[0].routes[0].route.retryPolicy.perTryTimeout: duration must not be negative",
    ],
  ];
  for (const [name, rc, want] of cases) {
    it(name, () => {
      const err = compileError(rc);
      if (typeof want === "string") assert.equal(err.message, want);
      else assert.match(err.message, want);
    });
  }

  // Only the decoders can give these (so the literals are untyped): an enum value the schema lacks
  // arrives as its number, and is refused where Envoy accepts defined values only.
  const decoded = (rc: object): RouteConfiguration => decodeMessage(ROUTE_TYPE, encodeMessage(ROUTE_TYPE, rc)) as RouteConfiguration;
  const route = (r: object): object => ({ virtualHosts: [{ name: "a", domains: ["*"], routes: [{ match: { prefix: "/" }, ...r }] }] });
  const enumCases: [string, object, string][] = [
    ["requireTls", { virtualHosts: [{ name: "a", domains: ["*"], requireTls: 9 }] }, "virtualHosts[0].requireTls: unknown value 9"],
    ["redirect responseCode", route({ redirect: { responseCode: 12 } }), "virtualHosts[0].routes[0].redirect.responseCode: unknown value 12"],
    ["clusterNotFoundResponseCode", route({ route: { cluster: "c", clusterNotFoundResponseCode: 5 } }), "virtualHosts[0].routes[0].route.clusterNotFoundResponseCode: unknown value 5"],
    ["priority", route({ route: { cluster: "c", priority: 3 } }), "virtualHosts[0].routes[0].route.priority: unknown value 3"],
    [
      "runtimeFraction denominator",
      { virtualHosts: [{ name: "a", domains: ["*"], routes: [{ match: { prefix: "/", runtimeFraction: { defaultValue: { numerator: 1, denominator: 4 } } }, route: { cluster: "c" } }] }] },
      "virtualHosts[0].routes[0].match.runtimeFraction.defaultValue.denominator: unknown value 4",
    ],
  ];
  for (const [name, rc, want] of enumCases) it(`an unknown ${name} value`, () => assert.equal(compileError(decoded(rc)).message, want));
});

// ---------------------------------------------------------------------------------------------
// Actions

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
    assert.deepEqual(mirrorsFor(own, 0.0005, req("own", "/", { "x-mirror": "shadow" })), ["always", "half", "tiny", "shadow"]);
    assert.deepEqual(mirrorsFor(own, 0.3), ["always", "half"]);
    assert.deepEqual(mirrorsFor(own, 0.7), ["always"]);
    assert.deepEqual(mirrorsFor(firstRoute(t, 1), 0.99), ["from-vhost"]);
    assert.deepEqual(mirrorsFor(firstRoute(t, 2), 0.99), ["from-config"]);
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

// ---------------------------------------------------------------------------------------------
// Helpers

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

// ---------------------------------------------------------------------------------------------
// Golden files from the control plane

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
