// A RouteConfiguration the proxy cannot implement is rejected with the field path and Envoy's
// message: a table of invalid configurations, and enum values only a decoder can produce.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeMessage, encodeMessage, ROUTE_TYPE } from "../../../src/envoy/protos.js";
import type { RouteConfiguration } from "../../../src/envoy/types.js";
import { compileError, vhost } from "./route-table-helpers.js";

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
      "a dynamic metadata matcher without a path",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/", dynamicMetadata: [{ filter: "x" }] }, route: { cluster: "c" } }])] },
      "virtualHosts[0].routes[0].match.dynamicMetadata[0].path: path needs at least one segment",
    ],
    [
      "a dynamic metadata matcher without a value",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/", dynamicMetadata: [{ filter: "x", path: [{ key: "k" }] }] }, route: { cluster: "c" } }])] },
      "virtualHosts[0].routes[0].match.dynamicMetadata[0].value: value is required",
    ],
    [
      "an or matcher with one branch",
      { virtualHosts: [vhost("a", ["*"], [{ match: { prefix: "/", dynamicMetadata: [{ filter: "x", path: [{ key: "k" }], value: { orMatch: { valueMatchers: [{ presentMatch: true }] } } }] }, route: { cluster: "c" } }])] },
      "virtualHosts[0].routes[0].match.dynamicMetadata[0].value.orMatch.valueMatchers: OrMatcher needs at least 2 value matchers",
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
