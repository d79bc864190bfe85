// jwt_authn's config and caches: bad JwtAuthentication configs are refused with their field path
// (NACK) — unknown providers, a wrong requirement_name, unimplemented filter_state_rules and JWKS
// retries, a provider without JWKS, a remote JWKS without timeout; a remote JWKS served by a real
// HTTP server through a real STATIC cluster and the real router, with an injected clock: kept for
// cache_duration (Envoy's default 10 minutes), fetched again after, fetches in flight shared,
// async_fetch fetching ahead and retrying after failed_refetch_duration; the JWT cache
// (jwt_cache_config) counting hits; and the MetadataMatcher value table routes use.
import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import * as http from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import { packageRoot } from "../../../src/core/paths.js";
import { DynamicMetadata } from "../../../src/proxy/dynamic-metadata.js";
import type { FilterContext } from "../../../src/proxy/http/filter.js";
import { compileJwtAuthn } from "../../../src/proxy/http/filters/jwt-authn.js";
import { Extractor, jwtAuthnStats, JwtProvider, type ProviderRuntime } from "../../../src/proxy/http/filters/jwt-provider.js";
import { JwtStatus } from "../../../src/proxy/http/filters/jwt-token.js";
import { ProviderSet, compileRequirement, VerifyContext } from "../../../src/proxy/http/filters/jwt-verifier.js";
import { compileMetadataMatcher, type MetadataMatcher } from "../../../src/proxy/http/matchers/metadata.js";
import { Router } from "../../../src/proxy/http/router.js";
import { StatsStore } from "../../../src/proxy/stats.js";
import { clusterSpec, UpstreamCluster } from "../../../src/proxy/upstream/cluster.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";
import { FakeClock } from "../../helpers/fake-clock.js";

const FIX = join(packageRoot(), "test", "fixtures", "jwt");
const JWKS = readFileSync(join(FIX, "jwks.json"), "utf8");
const DEMO = readFileSync(join(FIX, "demo.jwt"), "utf8").trim();
const ISS = "testing@secure.istio.io";
const IP = "127.0.214.9";

type Cfg = Parameters<typeof compileJwtAuthn>[0];

function context(stats: StatsStore, clusters: Map<string, UpstreamCluster> = new Map()): FilterContext {
  return {
    name: "envoy.filters.http.jwt_authn",
    stats: stats.scope("http.test."),
    path: "jwt",
    hcm: { serverName: "envoy", localReplyHeaders: {}, bufferLimitBytes: 1 << 20 },
    runtime: { cluster: (n) => clusters.get(n), router: new Router() },
  };
}

describe("bad configs are refused with their field path", () => {
  const local = { issuer: ISS, localJwks: { inlineString: JWKS } };
  const cases: Array<[string, Cfg, string]> = [
    ["a requirement naming no provider", { providers: { a: local }, rules: [{ match: { prefix: "/" }, requires: { providerName: "b" } }] }, "jwt.rules[0].requires.providerName: Required provider ['b'] is not configured."],
    [
      "an allow_missing branch under an unknown provider",
      { providers: { a: local }, requirementMap: { r: { requiresAny: { requirements: [{ providerName: "zz" }, { allowMissing: {} }] } } } },
      `jwt.requirementMap["r"].requiresAny.requirements[0].providerName: Required provider ['zz'] is not configured.`,
    ],
    ["a wrong requirement_name", { providers: { a: local }, requirementMap: { r: { providerName: "a" } }, rules: [{ match: { prefix: "/" }, requirementName: "x" }] }, "jwt.rules[0].requirementName: Wrong requirement_name: x. It should be one of [r]"],
    ["requires_any with one requirement", { providers: { a: local }, rules: [{ match: { prefix: "/" }, requires: { requiresAny: { requirements: [{ providerName: "a" }] } } }] }, "jwt.rules[0].requires.requiresAny.requirements: needs at least 2 requirements"],
    ["filter_state_rules", { providers: { a: local }, filterStateRules: { name: "x" } }, "jwt.filterStateRules: filter_state_rules are not implemented by tsmesh"],
    ["a provider without JWKS", { providers: { a: { issuer: ISS } } }, `jwt.providers["a"]: jwks_source_specifier is required: local_jwks or remote_jwks`],
    ["a remote JWKS without timeout", { providers: { a: { remoteJwks: { httpUri: { uri: "http://x/j", cluster: "c" } } } } }, `jwt.providers["a"].remoteJwks.httpUri.timeout: timeout is required`],
    ["a remote JWKS with retries", { providers: { a: { remoteJwks: { httpUri: { uri: "http://x/j", cluster: "c", timeout: { seconds: 1 } }, retryPolicy: {} } } } }, `jwt.providers["a"].remoteJwks.retryPolicy: JWKS fetch retries are not implemented by tsmesh`],
    ["a rule with a bad regex", { providers: { a: local }, rules: [{ match: { safeRegex: { regex: "(" } } }] }, "jwt.rules[0].match.safeRegex.regex"],
    ["a JWKS file that is not there", { providers: { a: { localJwks: { filename: "/nonexistent/jwks.json" } } } }, `jwt.providers["a"].localJwks.filename: cannot read /nonexistent/jwks.json`],
  ];
  for (const [what, cfg, msg] of cases) {
    it(what, () => {
      assert.throws(
        () => compileJwtAuthn(cfg, context(new StatsStore())),
        (e: unknown) => e instanceof XdsConfigError && e.message.startsWith(msg),
      );
    });
  }
});

describe("remote JWKS through a real cluster, with an injected clock", () => {
  let server: http.Server;
  let port = 0;
  let hits = 0;
  let failing = false;
  let cluster: UpstreamCluster;
  const clusters = new Map<string, UpstreamCluster>();

  before(async () => {
    server = http.createServer((_req, res) => {
      hits++;
      if (failing) {
        res.writeHead(503);
        res.end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JWKS);
    });
    await new Promise<void>((r) => server.listen(0, IP, r));
    port = (server.address() as { port: number }).port;
    const spec = clusterSpec({
      name: "jwks",
      type: "STATIC",
      connectTimeout: { seconds: 2 },
      loadAssignment: { clusterName: "jwks", endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: IP, portValue: port } } } }] }] },
    });
    cluster = new UpstreamCluster(spec, new StatsStore().tagged("cluster.", "jwks"));
    clusters.set("jwks", cluster);
  });

  after(async () => {
    cluster.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  function runtime(clock: FakeClock, stats: StatsStore): ProviderRuntime {
    return { runtime: context(stats, clusters).runtime, clock, wallNow: Date.now, stats: jwtAuthnStats(stats.scope("http.test.jwt_authn.")) };
  }

  function provider(clock: FakeClock, stats: StatsStore, extra: Record<string, unknown> = {}): JwtProvider {
    return new JwtProvider("p", { issuer: ISS, remoteJwks: { httpUri: { uri: `http://jwks.test:${port}/keys`, cluster: "jwks", timeout: { seconds: 5 } }, ...extra } }, "p", runtime(clock, stats));
  }

  it("kept for Envoy's default 10 minutes, then fetched again; concurrent fetches share one request", async () => {
    hits = 0;
    const clock = new FakeClock();
    const p = provider(clock, new StatsStore());
    assert.equal(p.remote!.current(), undefined);
    const [a, b] = await Promise.all([p.remote!.fetch(), p.remote!.fetch()]);
    assert.ok(a !== undefined && a === b);
    assert.equal(hits, 1);
    clock.advance(10 * 60 * 1000 - 1);
    assert.ok(p.remote!.current() !== undefined);
    clock.advance(1);
    assert.equal(p.remote!.current(), undefined);
    await p.remote!.fetch();
    assert.equal(hits, 2);
  });

  it("cache_duration is honoured", async () => {
    const clock = new FakeClock();
    const q = provider(clock, new StatsStore(), { cacheDuration: { seconds: 5 } });
    await q.remote!.fetch();
    clock.advance(4999);
    assert.ok(q.remote!.current() !== undefined);
    clock.advance(1);
    assert.equal(q.remote!.current(), undefined);
  });

  it("a failed fetch is counted and not cached; the next request fetches again", async () => {
    const stats = new StatsStore();
    const clock = new FakeClock();
    const p = provider(clock, stats);
    failing = true;
    try {
      assert.equal(await p.remote!.fetch(), undefined);
      assert.equal(p.remote!.current(), undefined);
      assert.equal(stats.counter("http.test.jwt_authn.jwks_fetch_failed").value, 1);
    } finally {
      failing = false;
    }
    assert.ok((await p.remote!.fetch()) !== undefined);
    assert.equal(stats.counter("http.test.jwt_authn.jwks_fetch_success").value, 1);
  });

  it("async_fetch fetches ahead and retries a failure after failed_refetch_duration", async () => {
    const clock = new FakeClock();
    failing = true;
    const stats = new StatsStore();
    const p = provider(clock, stats, { asyncFetch: { failedRefetchDuration: { seconds: 2 } } });
    const failed = stats.counter("http.test.jwt_authn.jwks_fetch_failed");
    const success = stats.counter("http.test.jwt_authn.jwks_fetch_success");
    try {
      for (let i = 0; i < 200 && failed.value === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(failed.value, 1);
      failing = false;
      // Let the failure's timer be armed, then pass its deadline.
      for (let i = 0; i < 50 && clock.pending === 0; i++) await new Promise((r) => setTimeout(r, 5));
      clock.advance(2000);
      for (let i = 0; i < 200 && success.value === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(success.value, 1);
      assert.ok(p.remote!.current() !== undefined);
    } finally {
      failing = false;
      p.remote!.close();
    }
  });

  it("jwt_cache_config: a verified token is a cache hit the next time", async () => {
    const stats = new StatsStore();
    const rt = runtime(new FakeClock(), stats);
    const cached = new JwtProvider("c", { issuer: ISS, localJwks: { inlineString: JWKS }, jwtCacheConfig: { jwtCacheSize: 2 } }, "c", rt);
    const set = new ProviderSet(new Map([["c", cached]]), new Map([["c", ISS]]), rt);
    const v = compileRequirement({ providerName: "c" }, set, "r");
    const run = async () => v.verify(new VerifyContext({ authorization: `Bearer ${DEMO}` }, "/"));
    assert.equal(await run(), JwtStatus.Ok);
    assert.equal(await run(), JwtStatus.Ok);
    assert.equal(stats.counter("http.test.jwt_authn.jwt_cache_miss").value, 1);
    assert.equal(stats.counter("http.test.jwt_authn.jwt_cache_hit").value, 1);
    // A missing token does not touch the cache.
    assert.equal(await v.verify(new VerifyContext({}, "/")), JwtStatus.JwtMissed);
    assert.equal(stats.counter("http.test.jwt_authn.jwt_cache_miss").value, 1);
  });
});

describe("MetadataMatcher: Envoy's value matchers against dynamic metadata", () => {
  const md = new DynamicMetadata();
  md.set("envoy.filters.http.jwt_authn", { payload: { groups: ["g1", "g2"], scope: "read", n: 3, admin: false, none: null, nested: { k: "v" } } });
  const m = (key: string[], value: Record<string, unknown>, invert = false) =>
    compileMetadataMatcher({ filter: "envoy.filters.http.jwt_authn", path: ["payload", ...key].map((k) => ({ key: k })), value, invert }, "m");
  const cases: Array<[string, MetadataMatcher, boolean]> = [
    ["list one_of hit", m(["groups"], { listMatch: { oneOf: { stringMatch: { exact: "g2" } } } }), true],
    ["list one_of miss", m(["groups"], { listMatch: { oneOf: { stringMatch: { exact: "g3" } } } }), false],
    ["a string is not a list", m(["scope"], { listMatch: { oneOf: { stringMatch: { exact: "read" } } } }), false],
    ["or: list or string", m(["scope"], { orMatch: { valueMatchers: [{ listMatch: { oneOf: { stringMatch: { exact: "read" } } } }, { stringMatch: { exact: "read" } }] } }), true],
    ["string prefix", m(["nested", "k"], { stringMatch: { prefix: "v" } }), true],
    ["double exact", m(["n"], { doubleMatch: { exact: 3 } }), true],
    ["double range [1,3)", m(["n"], { doubleMatch: { range: { start: 1, end: 3 } } }), false],
    ["bool", m(["admin"], { boolMatch: false }), true],
    ["null", m(["none"], { nullMatch: {} }), true],
    ["present on a missing key", m(["missing"], { presentMatch: true }), false],
    // As Envoy's PresentMatcher: present_match false never matches (invert asks for absence).
    ["present: false on a missing key", m(["missing"], { presentMatch: false }), false],
    ["inverted present on a missing key", m(["missing"], { presentMatch: true }, true), true],
    ["inverted miss", m(["groups"], { listMatch: { oneOf: { stringMatch: { exact: "g3" } } } }, true), true],
    ["a path through a non-object", m(["scope", "x"], { presentMatch: true }), false],
  ];
  for (const [what, matcher, want] of cases) it(what, () => assert.equal(matcher(md), want));

  it("no metadata written at all: only what matches a missing value", () => {
    assert.equal(m(["groups"], { presentMatch: true })(undefined), false);
    assert.equal(m(["groups"], { presentMatch: true }, true)(undefined), true);
  });
});

describe("token locations (Envoy's extractor)", () => {
  const rt: ProviderRuntime = { runtime: context(new StatsStore()).runtime, clock: new FakeClock(), wallNow: Date.now, stats: jwtAuthnStats(new StatsStore().scope("x.")) };
  const prov = (name: string, p: Record<string, unknown>) => new JwtProvider(name, { localJwks: { inlineString: JWKS }, ...p }, name, rt);
  const defaults = prov("d", { issuer: "a" });
  const custom = prov("c", { issuer: "b", fromHeaders: [{ name: "X-Token", valuePrefix: "JWT " }, { name: "x-raw" }], fromParams: ["tok"], fromCookies: ["session"] });
  const ex = new Extractor([defaults, custom], new Map([[defaults, "a"], [custom, "b"]]));
  const cases: Array<[string, Record<string, string>, string, string[]]> = [
    ["Authorization: Bearer", { authorization: "Bearer a.b.c" }, "/", ["a.b.c"]],
    ["spaces after the prefix, and what follows the token", { authorization: "Bearer   a.b.c, other" }, "/", ["a.b.c"]],
    ["another scheme is no token", { authorization: "Basic dXNlcjpwYXNz" }, "/", []],
    ["a custom header and prefix", { "x-token": "JWT x.y.z" }, "/", ["x.y.z"]],
    ["a header without prefix takes the whole value", { "x-raw": "r.s.t" }, "/", ["r.s.t"]],
    ["the default and a custom query parameter", {}, "/p?tok=q.w.e&access_token=a%2Eb.c", ["a.b.c", "q.w.e"]],
    ["a cookie", { cookie: "a=1; session=c.o.k" }, "/", ["c.o.k"]],
    ["an empty value is no token", { authorization: "Bearer " }, "/", []],
  ];
  for (const [what, headers, path, want] of cases) {
    it(what, () => assert.deepEqual(ex.extract(headers, path).map((t) => t.token).sort(), want));
  }

  it("a location names the issuers whose providers use it", () => {
    const [t] = ex.extract({ "x-token": "JWT x.y.z" }, "/");
    assert.deepEqual([...t.issuers], ["b"]);
  });

  it("only this filter's headers are dropped before extraction", () => {
    const p = prov("f", { forwardPayloadHeader: "X-Payload", claimToHeaders: [{ headerName: "x-sub", claimName: "sub" }] });
    const h: Record<string, string> = { "x-payload": "forged", "x-sub": "admin", "x-other": "kept" };
    new Extractor([p], new Map([[p, ""]])).sanitizeHeaders(h);
    // Removed headers are left undefined (every header consumer skips those).
    assert.deepEqual(
      Object.entries(h).filter(([, v]) => v !== undefined),
      [["x-other", "kept"]],
    );
  });
});

describe("several tokens in one request", () => {
  const rt: ProviderRuntime = { runtime: context(new StatsStore()).runtime, clock: new FakeClock(), wallNow: Date.now, stats: jwtAuthnStats(new StatsStore().scope("x.")) };
  const p = new JwtProvider("p", { issuer: ISS, localJwks: { inlineString: JWKS }, fromHeaders: [{ name: "a" }, { name: "b" }] }, "p", rt);
  const set = new ProviderSet(new Map([["p", p]]), new Map([["p", ISS]]), rt);
  it("a provider requirement needs every token to verify", async () => {
    const v = compileRequirement({ providerName: "p" }, set, "r");
    assert.equal(await v.verify(new VerifyContext({ a: DEMO, b: DEMO }, "/")), JwtStatus.Ok);
    assert.equal(await v.verify(new VerifyContext({ a: DEMO, b: "x.y.z" }, "/")), JwtStatus.JwtHeaderParseErrorBadBase64);
  });
  it("allow_missing_or_failed lets a bad token through", async () => {
    const v = compileRequirement({ allowMissingOrFailed: {} }, set, "r");
    assert.equal(await v.verify(new VerifyContext({ a: "garbage" }, "/")), JwtStatus.Ok);
  });
  it("allow_missing refuses an invalid token", async () => {
    const v = compileRequirement({ allowMissing: {} }, set, "r");
    assert.equal(v.verify(new VerifyContext({}, "/")), JwtStatus.Ok);
    assert.equal(await v.verify(new VerifyContext({ a: "a.b" }, "/")), JwtStatus.JwtBadFormat);
  });
});

describe("what a verified token leaves, and provider limits", () => {
  const KEY = createPrivateKey(readFileSync(join(FIX, "key.pem")));
  const sign = (claims: Record<string, unknown>) => new SignJWT({ iss: ISS, ...claims }).setProtectedHeader({ alg: "RS256", kid: "DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ" }).sign(KEY);
  const rt: ProviderRuntime = { runtime: context(new StatsStore()).runtime, clock: new FakeClock(), wallNow: Date.now, stats: jwtAuthnStats(new StatsStore().scope("x.")) };
  const verify = async (p: Record<string, unknown>, token: string, headers: Record<string, string | string[]> = {}) => {
    const prov = new JwtProvider("p", { issuer: ISS, localJwks: { inlineString: JWKS }, ...p }, "p", rt);
    const ctx = new VerifyContext({ authorization: `Bearer ${token}`, ...headers }, "/");
    const status = await compileRequirement({ providerName: "p" }, new ProviderSet(new Map([["p", prov]]), new Map([["p", ISS]]), rt), "r").verify(ctx);
    return { status, ctx };
  };
  const nowSec = () => Math.floor(Date.now() / 1000);

  it("payload and header in metadata, space-delimited claims as lists", async () => {
    const { status, ctx } = await verify({ payloadInMetadata: "payload", headerInMetadata: "hdr", normalizePayloadInMetadata: { spaceDelimitedClaims: ["scope"] } }, await sign({ scope: "read  write", n: 1 }));
    assert.equal(status, JwtStatus.Ok);
    const payload = ctx.extracted?.get("payload") as Record<string, unknown>;
    assert.deepEqual(payload.scope, ["read", "write"]);
    assert.equal(payload.n, 1);
    assert.equal((ctx.extracted?.get("hdr") as Record<string, unknown>).alg, "RS256");
  });

  it("failed_status_in_metadata: Envoy's code and message", async () => {
    const { status, ctx } = await verify({ failedStatusInMetadata: "failed" }, await sign({ exp: nowSec() - 3600 }));
    assert.equal(status, JwtStatus.JwtExpired);
    assert.deepEqual({ ...(ctx.extracted?.get("failed") as object) }, { code: 3, message: "Jwt is expired" });
  });

  it("pad_forward_payload_header pads the base64url payload; forward keeps the token", async () => {
    const token = await sign({ x: "ab" });
    const { ctx } = await verify({ forwardPayloadHeader: "x-payload", padForwardPayloadHeader: true, forward: true }, token);
    const v = String(ctx.headers["x-payload"]);
    assert.equal(v.length % 4, 0);
    assert.equal(Buffer.from(v, "base64url").toString(), Buffer.from(token.split(".")[1], "base64url").toString());
    assert.equal(ctx.headers.authorization, `Bearer ${token}`);
  });

  it("claim_to_headers: nested claims, numbers, booleans, lists as base64 JSON", async () => {
    const { ctx } = await verify(
      {
        claimToHeaders: [
          { headerName: "x-nested", claimName: "a.b" },
          { headerName: "x-num", claimName: "n" },
          { headerName: "x-bool", claimName: "t" },
          { headerName: "x-list", claimName: "l" },
          { headerName: "x-absent", claimName: "a.zz" },
          { headerName: "x-crlf", claimName: "evil" },
        ],
      },
      await sign({ a: { b: "deep" }, n: 9999, t: true, l: ["s1", "s2"], evil: "x\r\nset-cookie: a=b" }),
    );
    assert.equal(ctx.headers["x-crlf"], undefined);
    assert.equal(ctx.headers["x-nested"], "deep");
    assert.equal(ctx.headers["x-num"], "9999");
    assert.equal(ctx.headers["x-bool"], "true");
    assert.equal(ctx.headers["x-list"], Buffer.from('["s1","s2"]').toString("base64"));
    assert.equal(ctx.headers["x-absent"], undefined);
  });

  it("subjects, max_lifetime and require_expiration fail as verification failures", async () => {
    assert.equal((await verify({ subjects: { prefix: "spiffe://" } }, await sign({ sub: "user@x" }))).status, JwtStatus.JwtVerificationFail);
    assert.equal((await verify({ subjects: { prefix: "spiffe://" } }, await sign({ sub: "spiffe://a/b" }))).status, JwtStatus.Ok);
    assert.equal((await verify({ maxLifetime: { seconds: 3600 } }, await sign({ exp: nowSec() + 7200 }))).status, JwtStatus.JwtVerificationFail);
    assert.equal((await verify({ maxLifetime: { seconds: 3600 } }, await sign({ exp: nowSec() + 600 }))).status, JwtStatus.Ok);
    assert.equal((await verify({ requireExpiration: true }, await sign({}))).status, JwtStatus.JwtVerificationFail);
  });

  it("clock_skew_seconds widens exp", async () => {
    const token = await sign({ exp: nowSec() - 100 });
    assert.equal((await verify({}, token)).status, JwtStatus.JwtExpired);
    assert.equal((await verify({ clockSkewSeconds: 300 }, token)).status, JwtStatus.Ok);
  });
});

describe("requires_any aggregates as Envoy", () => {
  const KEY = createPrivateKey(readFileSync(join(FIX, "key.pem")));
  const rt: ProviderRuntime = { runtime: context(new StatsStore()).runtime, clock: new FakeClock(), wallNow: Date.now, stats: jwtAuthnStats(new StatsStore().scope("x.")) };
  const p1 = new JwtProvider("p1", { issuer: "one", localJwks: { inlineString: JWKS } }, "p1", rt);
  const p2 = new JwtProvider("p2", { issuer: ISS, localJwks: { inlineString: JWKS } }, "p2", rt);
  const set = new ProviderSet(
    new Map([
      ["p1", p1],
      ["p2", p2],
    ]),
    new Map([
      ["p1", "one"],
      ["p2", ISS],
    ]),
    rt,
  );
  const expired = () => new SignJWT({ iss: ISS, exp: Math.floor(Date.now() / 1000) - 3600 }).setProtectedHeader({ alg: "RS256" }).sign(KEY);
  const any = (...extra: Array<Record<string, unknown>>) => compileRequirement({ requiresAny: { requirements: [{ providerName: "p1" }, { providerName: "p2" }, ...extra] } }, set, "r");
  const run = async (v: ReturnType<typeof any>, token?: string) => v.verify(new VerifyContext(token ? { authorization: `Bearer ${token}` } : {}, "/"));

  it("no token: missing", async () => assert.equal(await run(any()), JwtStatus.JwtMissed));
  it("one provider's good token", async () => assert.equal(await run(any(), DEMO), JwtStatus.Ok));
  it("an expired token: its error wins over the other provider's unknown issuer", async () => assert.equal(await run(any(), await expired()), JwtStatus.JwtExpired));
  it("a token of no provider's issuer: unknown issuer over missing", async () => {
    const t = await new SignJWT({ iss: "nobody" }).setProtectedHeader({ alg: "RS256" }).sign(KEY);
    assert.equal(await run(any(), t), JwtStatus.JwtUnknownIssuer);
  });
  it("allow_missing: no token passes, an expired one does not", async () => {
    assert.equal(await run(any({ allowMissing: {} })), JwtStatus.Ok);
    assert.equal(await run(any({ allowMissing: {} }), await expired()), JwtStatus.JwtExpired);
  });
  it("allow_missing_or_failed: an expired token passes", async () => assert.equal(await run(any({ allowMissingOrFailed: {} }), await expired()), JwtStatus.Ok));
});
