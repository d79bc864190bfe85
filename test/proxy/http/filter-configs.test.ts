// HTTP filter configs compiled from their typed messages, as tables: an Any's type URL in both
// decoded forms (errors always name it, also for a payload no schema knows), the registries that
// hand an implementation only a decoded Any of a type it registered, the fault filter's HTTPFault,
// and CorsPolicy in both packages — the CORS filter's per-route config and the deprecated `cors`
// of a virtual host or route, which is compiled with the route configuration so a bad one is
// NACKed rather than failing requests later.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { anyOf, ROUTE_TYPE } from "../../../src/envoy/protos.js";
import type * as v3 from "../../../src/envoy/types.js";
import { anyType, ExtensionRegistry } from "../../../src/proxy/extensions.js";
import { corsPolicy } from "../../../src/proxy/http/cors-policy.js";
import { faultConfig } from "../../../src/proxy/http/filters/fault.js";
import "../../../src/proxy/http/filters/index.js";
import { compileRoutes } from "../../../src/proxy/http/route-glue.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";
import { asDecoded } from "../../helpers/xds.js";

const FAULT_URL = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
const UNKNOWN_URL = "type.googleapis.com/acme.filters.Secret";

const throwsAt = (f: () => unknown, path: string, message?: RegExp) =>
  assert.throws(f, (e: unknown) => e instanceof XdsConfigError && e.path === path && (message === undefined || message.test(e.message)), `expected an error at ${path}`);

describe("anyType: the type URL of an Any in either form", () => {
  const cases: Array<[string, unknown, string]> = [
    ["decoded", { "@type": FAULT_URL, abort: {} }, FAULT_URL],
    ["raw, as the wire decoder leaves a payload no schema knows", { type_url: UNKNOWN_URL, value: new Uint8Array([8, 1]) }, UNKNOWN_URL],
    ["raw, camel-cased", { typeUrl: UNKNOWN_URL, value: new Uint8Array(0) }, UNKNOWN_URL],
    ["an empty Any", {}, ""],
    ["a raw Any without a type URL", { type_url: "", value: new Uint8Array(0) }, ""],
    ["no Any", undefined, ""],
    ["not an object", "type.googleapis.com/x", ""],
  ];
  for (const [what, any, want] of cases) it(what, () => assert.equal(anyType(any), want));
});

describe("an extension registry resolves decoded Anys of its types only", () => {
  const registry = new ExtensionRegistry<string>("thing").register(["envoy.extensions.filters.http.fault.v3.HTTPFault"], "fault");
  const skipped: string[] = [];
  const skips = { skipped: (_path: string, _name: string, typeUrl: string) => skipped.push(typeUrl) };

  it("a decoded Any of a registered type", () => {
    assert.equal(registry.resolve("f", "fault", { "@type": FAULT_URL }, false, undefined), "fault");
    assert.equal(registry.forAny({ "@type": FAULT_URL }), "fault");
  });
  it("a raw Any of an unknown type: the error names its type URL", () => {
    throwsAt(() => registry.resolve("f", "secret", { type_url: UNKNOWN_URL, value: new Uint8Array(0) }, false, undefined), "f", /with type URL: 'acme\.filters\.Secret'/);
  });
  it("a raw Any whose type_url names a registered type is not handed over undecoded", () => {
    assert.equal(registry.forAny({ type_url: FAULT_URL, value: new Uint8Array(0) }), undefined);
    throwsAt(() => registry.resolve("f", "fault", { type_url: FAULT_URL, value: new Uint8Array(0) }, false, undefined), "f", /type URL: 'envoy\.extensions\.filters\.http\.fault\.v3\.HTTPFault'/);
  });
  it("an optional raw Any is skipped and reported with its type URL", () => {
    assert.equal(registry.resolve("f", "secret", { type_url: UNKNOWN_URL, value: new Uint8Array(0) }, true, skips), undefined);
    assert.deepEqual(skipped, [UNKNOWN_URL]);
  });
});

describe("faultConfig: an HTTPFault", () => {
  const abort = (percentage: v3.FractionalPercent | undefined): v3.HTTPFault => ({ abort: { httpStatus: 503, ...(percentage ? { percentage } : {}) } });
  const fractions: Array<[string, v3.FractionalPercent | undefined, number]> = [
    ["no percentage: every request", undefined, 1],
    ["percent (the default denominator)", { numerator: 25 }, 0.25],
    ["per ten thousand", { numerator: 5, denominator: "TEN_THOUSAND" }, 0.0005],
    ["per million", { numerator: 500_000, denominator: "MILLION" }, 0.5],
    ["above 100% is 100%", { numerator: 150 }, 1],
  ];
  for (const [what, p, want] of fractions) it(what, () => assert.equal(faultConfig(abort(p), "f").abort?.fraction, want));

  const bad: Array<[string, v3.HTTPFault, string]> = [
    ["a denominator the schema lacks", abort({ numerator: 1, denominator: 7 as unknown as v3.FractionalPercent.DenominatorType }), "f.abort.percentage.denominator"],
    ["a delay without fixed_delay or header_delay", { delay: {} }, "f.delay"],
    ["an abort without a status", { abort: {} }, "f.abort"],
    ["an HTTP status outside 200-599", { abort: { httpStatus: 600 } }, "f.abort.httpStatus"],
    ["response rate limiting", { responseRateLimit: { fixedLimit: { limitKbps: 1 } } }, "f.responseRateLimit"],
  ];
  for (const [what, f, path] of bad) it(`refused: ${what}`, () => throwsAt(() => faultConfig(f, "f"), path));

  it("headers, upstream cluster, downstream nodes, max active faults", () => {
    const c = faultConfig({ delay: { fixedDelay: { nanos: 5_000_000 } }, headers: [{ name: "x-fault", presentMatch: true }], upstreamCluster: "c", downstreamNodes: ["n"], maxActiveFaults: {} }, "f");
    assert.deepEqual([c.delay?.ms, c.headers.length, c.upstreamCluster, c.downstreamNodes, c.maxActiveFaults], [5, 1, "c", ["n"], 0]);
  });
});

describe("CorsPolicy (the filter's and the deprecated route one)", () => {
  it("compiles its fields", () => {
    const p = corsPolicy(
      {
        allowOriginStringMatch: [{ exact: "https://a.example" }, { suffix: ".b.example" }],
        allowMethods: "GET,POST",
        allowHeaders: "x-a",
        exposeHeaders: "x-e",
        maxAge: "60",
        allowCredentials: { value: true },
        filterEnabled: { defaultValue: { numerator: 50 } },
        forwardNotMatchingPreflights: { value: false },
      },
      "cors",
    );
    assert.deepEqual(
      [p.origins.map((m) => m.match("https://x.b.example")), p.allowMethods, p.allowHeaders, p.exposeHeaders, p.maxAge, p.allowCredentials, p.enabledFraction, p.forwardNotMatchingPreflights],
      [[false, true], "GET,POST", "x-a", "x-e", "60", true, 0.5, false],
    );
  });

  const bad: Array<[string, v3.CorsPolicy, string]> = [
    ["an empty origin matcher", { allowOriginStringMatch: [{ exact: "https://a" }, {}] }, "cors.allowOriginStringMatch[1]"],
    ["an invalid origin regex", { allowOriginStringMatch: [{ safeRegex: { regex: "(" } }] }, "cors.allowOriginStringMatch[0].safeRegex.regex"],
    ["shadow mode (not implemented)", { shadowEnabled: { defaultValue: { numerator: 100 } } }, "cors.shadowEnabled"],
    ["Private Network Access (not implemented)", { allowPrivateNetworkAccess: { value: true } }, "cors.allowPrivateNetworkAccess"],
    ["a filter_enabled denominator the schema lacks", { filterEnabled: { defaultValue: { numerator: 1, denominator: 9 as unknown as v3.FractionalPercent.DenominatorType } } }, "cors.filterEnabled.defaultValue.denominator"],
  ];
  for (const [what, p, path] of bad) it(`refused: ${what}`, () => throwsAt(() => corsPolicy(p, "cors"), path));

  // A RouteConfiguration as RDS decodes it.
  const rc = (vh: v3.VirtualHost): v3.RouteConfiguration => asDecoded<v3.RouteConfiguration>(ROUTE_TYPE, { name: "r", virtualHosts: [{ name: "v", domains: ["*"], ...vh }] });
  const route = (more: v3.RouteAction = {}): v3.Route => ({ match: { prefix: "/" }, route: { cluster: "c", ...more } });

  it("a bad deprecated virtual host or route policy is refused with the route configuration (before it is ACKed)", () => {
    throwsAt(() => compileRoutes(rc({ cors: { allowOriginStringMatch: [{}] }, routes: [route()] })), "virtualHosts[0].cors.allowOriginStringMatch[0]");
    throwsAt(() => compileRoutes(rc({ routes: [route({ cors: { allowOriginStringMatch: [{ safeRegex: { regex: "[" } }] } })] })), "virtualHosts[0].routes[0].route.cors.allowOriginStringMatch[0].safeRegex.regex");
  });

  it("a good deprecated policy is compiled into the table", () => {
    const t = compileRoutes(rc({ cors: { allowOriginStringMatch: [{ exact: "https://v" }] }, routes: [route({ cors: { allowMethods: "PUT" } })] }));
    const r = t.virtualHosts[0].routes[0];
    assert.equal(t.virtualHosts[0].cors?.origins[0].match("https://v"), true);
    assert.equal(r.action.kind === "route" ? r.action.cors?.allowMethods : undefined, "PUT");
  });

  it("the filter's per-route CorsPolicy goes through its registered compiler; a raw one is not", () => {
    const per = anyOf("envoy.extensions.filters.http.cors.v3.CorsPolicy", { allowOriginStringMatch: [{}] });
    throwsAt(() => compileRoutes(rc({ typedPerFilterConfig: { "envoy.filters.http.cors": per }, routes: [route()] })), 'virtualHosts[0].typedPerFilterConfig["envoy.filters.http.cors"].allowOriginStringMatch[0]');
    const raw = { type_url: "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy", value: new Uint8Array(0) } as v3.Any;
    throwsAt(() => compileRoutes({ name: "r", virtualHosts: [{ name: "v", domains: ["*"], typedPerFilterConfig: { "envoy.filters.http.cors": raw }, routes: [route()] }] }), 'virtualHosts[0].typedPerFilterConfig["envoy.filters.http.cors"]', /type URL: 'envoy\.extensions\.filters\.http\.cors\.v3\.CorsPolicy'/);
  });
});
