// Route rate_limits actions (Envoy's router_ratelimit.cc), as tables: what descriptor each action
// produces for a request, when an entry yields none, stages, the limit override from dynamic
// metadata, and the config errors (with field paths) for what cannot be compiled.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import type * as v3 from "../../../src/envoy/types.js";
import { DynamicMetadata } from "../../../src/proxy/dynamic-metadata.js";
import { type ActionInput, compileRateLimits, maskedAddress, type RateLimitDescriptor } from "../../../src/proxy/ratelimit/actions.js";

interface Req {
  headers?: Record<string, string | string[]>;
  path?: string;
  remote?: string;
  cluster?: string;
  routeMetadata?: v3.Metadata;
  dynamic?: Record<string, Record<string, unknown>>;
}

function input(r: Req): ActionInput {
  const h = r.headers ?? {};
  const path = r.path ?? "/";
  const pseudo = (n: string) => (n === ":path" ? path : n === ":authority" ? "example.com" : n === ":method" ? "GET" : undefined);
  const dm = new DynamicMetadata();
  for (const [ns, f] of Object.entries(r.dynamic ?? {})) dm.set(ns, f as never);
  return {
    header: (n) => (n.startsWith(":") ? pseudo(n) : Array.isArray(h[n]) ? h[n][0] : (h[n] as string | undefined)),
    joinedHeader: (n) => (n.startsWith(":") ? pseudo(n) : Array.isArray(h[n]) ? (h[n] as string[]).join(",") : (h[n] as string | undefined)),
    path,
    remote: r.remote ?? "10.1.2.3",
    localCluster: "productpage.default",
    routeCluster: r.cluster ?? "outbound|9080||reviews",
    routeMetadata: r.routeMetadata,
    dynamicMetadata: dm,
  };
}

function descriptors(rateLimits: ProtoObject[], r: Req, stage = 0): RateLimitDescriptor[] {
  const p = compileRateLimits(rateLimits as v3.envoy.config.route.v3.RateLimit[], "rateLimits");
  const out: RateLimitDescriptor[] = [];
  for (const e of p.applicable(stage)) e.populate(input(r), out);
  return out;
}

const entries = (...kv: string[]) => {
  const out = [];
  for (let i = 0; i < kv.length; i += 2) out.push({ key: kv[i], value: kv[i + 1] });
  return out;
};

describe("rate limit actions produce Envoy's descriptor entries", () => {
  const cases: Array<[string, ProtoObject[], Req, RateLimitDescriptor[]]> = [
    ["source_cluster", [{ actions: [{ sourceCluster: {} }] }], {}, [{ entries: entries("source_cluster", "productpage.default") }]],
    ["destination_cluster", [{ actions: [{ destinationCluster: {} }] }], {}, [{ entries: entries("destination_cluster", "outbound|9080||reviews") }]],
    ["request_headers :path (Istio's task)", [{ actions: [{ requestHeaders: { headerName: ":path", descriptorKey: "PATH" } }] }], { path: "/productpage?x=1" }, [{ entries: entries("PATH", "/productpage?x=1") }]],
    ["request_headers: the first value", [{ actions: [{ requestHeaders: { headerName: "X-User", descriptorKey: "user" } }] }], { headers: { "x-user": ["a", "b"] } }, [{ entries: entries("user", "a") }]],
    ["request_headers absent: no descriptor", [{ actions: [{ requestHeaders: { headerName: "x-user", descriptorKey: "user" } }] }], {}, []],
    [
      "request_headers absent with skip_if_absent: the entry is left out",
      [{ actions: [{ genericKey: { descriptorValue: "v" } }, { requestHeaders: { headerName: "x-user", descriptorKey: "user", skipIfAbsent: true } }] }],
      {},
      [{ entries: entries("generic_key", "v") }],
    ],
    ["remote_address", [{ actions: [{ remoteAddress: {} }] }], { remote: "::ffff:10.0.0.7" }, [{ entries: entries("remote_address", "10.0.0.7") }]],
    ["masked_remote_address defaults (/32)", [{ actions: [{ maskedRemoteAddress: {} }] }], { remote: "10.1.2.3" }, [{ entries: entries("masked_remote_address", "10.1.2.3/32") }]],
    ["masked_remote_address /16", [{ actions: [{ maskedRemoteAddress: { v4PrefixMaskLen: { value: 16 } } }] }], { remote: "10.1.2.3" }, [{ entries: entries("masked_remote_address", "10.1.0.0/16") }]],
    ["masked_remote_address v6 /64", [{ actions: [{ maskedRemoteAddress: { v6PrefixMaskLen: { value: 64 } } }] }], { remote: "2001:db8:1:2:3:4:5:6" }, [{ entries: entries("masked_remote_address", "2001:db8:1:2::/64") }]],
    ["generic_key default key", [{ actions: [{ genericKey: { descriptorValue: "x" } }] }], {}, [{ entries: entries("generic_key", "x") }]],
    ["generic_key with descriptor_key", [{ actions: [{ genericKey: { descriptorKey: "k", descriptorValue: "x" } }] }], {}, [{ entries: entries("k", "x") }]],
    [
      "header_value_match (Istio's advanced task): match",
      [{ actions: [{ headerValueMatch: { descriptorKey: "PATH", descriptorValue: "api", headers: [{ name: ":path", safeRegexMatch: { googleRe2: {}, regex: "/api/v1/products/[1-9]{1,2}" } }] } }] }],
      { path: "/api/v1/products/12" },
      [{ entries: entries("PATH", "api") }],
    ],
    [
      "header_value_match: no match, no descriptor",
      [{ actions: [{ headerValueMatch: { descriptorValue: "api", headers: [{ name: ":path", safeRegexMatch: { googleRe2: {}, regex: "/api/v1/products/[1-9]{1,2}" } }] } }] }],
      { path: "/api/v1/products/123" },
      [],
    ],
    [
      "header_value_match expect_match false: key header_match",
      [{ actions: [{ headerValueMatch: { descriptorValue: "other", expectMatch: { value: false }, headers: [{ name: "x-a", exactMatch: "1" }] } }] }],
      { headers: { "x-a": "2" } },
      [{ entries: entries("header_match", "other") }],
    ],
    [
      "query_parameter_value_match",
      [{ actions: [{ queryParameterValueMatch: { descriptorValue: "beta", queryParameters: [{ name: "v", stringMatch: { exact: "2" } }] } }] }],
      { path: "/x?v=2" },
      [{ entries: entries("query_match", "beta") }],
    ],
    [
      "metadata DYNAMIC, string value",
      [{ actions: [{ metadata: { descriptorKey: "tenant", metadataKey: { key: "envoy.filters.http.jwt_authn", path: [{ key: "payload" }, { key: "tenant" }] } } }] }],
      { dynamic: { "envoy.filters.http.jwt_authn": { payload: { tenant: "acme" } } } },
      [{ entries: entries("tenant", "acme") }],
    ],
    [
      "metadata absent: default_value",
      [{ actions: [{ metadata: { descriptorKey: "tenant", defaultValue: "none", metadataKey: { key: "ns", path: [{ key: "t" }] } } }] }],
      {},
      [{ entries: entries("tenant", "none") }],
    ],
    ["metadata absent, no default: no descriptor", [{ actions: [{ metadata: { descriptorKey: "tenant", metadataKey: { key: "ns", path: [{ key: "t" }] } } }] }], {}, []],
    [
      "metadata non-string value counts as absent",
      [{ actions: [{ dynamicMetadata: { descriptorKey: "n", metadataKey: { key: "ns", path: [{ key: "t" }] } } }] }],
      { dynamic: { ns: { t: 5 } } },
      [],
    ],
    [
      "metadata ROUTE_ENTRY",
      [{ actions: [{ metadata: { descriptorKey: "r", source: "ROUTE_ENTRY", metadataKey: { key: "ns", path: [{ key: "t" }] } } }] }],
      { routeMetadata: { filterMetadata: { ns: { fields: { t: { stringValue: "route-v" } } } } } },
      [{ entries: entries("r", "route-v") }],
    ],
    [
      "several entries, several actions, in order",
      [{ actions: [{ sourceCluster: {} }, { genericKey: { descriptorValue: "g" } }] }, { actions: [{ remoteAddress: {} }] }],
      {},
      [{ entries: entries("source_cluster", "productpage.default", "generic_key", "g") }, { entries: entries("remote_address", "10.1.2.3") }],
    ],
    [
      "limit override from dynamic metadata",
      [{ actions: [{ genericKey: { descriptorValue: "g" } }], limit: { dynamicMetadata: { metadataKey: { key: "ns", path: [{ key: "limit" }] } } } }],
      { dynamic: { ns: { limit: { requests_per_unit: 42, unit: "HOUR" } } } },
      [{ entries: entries("generic_key", "g"), limit: { requestsPerUnit: 42, unit: "HOUR" } }],
    ],
    [
      "limit override malformed: ignored",
      [{ actions: [{ genericKey: { descriptorValue: "g" } }], limit: { dynamicMetadata: { metadataKey: { key: "ns", path: [{ key: "limit" }] } } } }],
      { dynamic: { ns: { limit: { requests_per_unit: "x", unit: "HOUR" } } } },
      [{ entries: entries("generic_key", "g") }],
    ],
  ];
  for (const [what, rl, req, want] of cases) it(what, () => assert.deepEqual(descriptors(rl, req), want));

  it("stages select entries", () => {
    const rl = [{ actions: [{ genericKey: { descriptorValue: "s0" } }] }, { stage: { value: 1 }, actions: [{ genericKey: { descriptorValue: "s1" } }] }];
    assert.deepEqual(descriptors(rl, {}, 0), [{ entries: entries("generic_key", "s0") }]);
    assert.deepEqual(descriptors(rl, {}, 1), [{ entries: entries("generic_key", "s1") }]);
    assert.deepEqual(descriptors(rl, {}, 2), []);
  });
});

describe("rate limit config errors name the field", () => {
  const cases: Array<[string, ProtoObject[], RegExp]> = [
    ["no actions", [{}], /rateLimits\[0\]\.actions: /],
    ["an empty action", [{ actions: [{}] }], /rateLimits\[0\]\.actions\[0\]: rate limit action needs one action kind/],
    ["an extension action", [{ actions: [{ extension: { name: "x" } }] }], /rateLimits\[0\]\.actions\[0\]\.extension: .*not implemented/],
    ["stage too high", [{ stage: { value: 11 }, actions: [{ remoteAddress: {} }] }], /rateLimits\[0\]\.stage/],
    ["request_headers without descriptor_key", [{ actions: [{ requestHeaders: { headerName: "x" } }] }], /actions\[0\]\.requestHeaders\.descriptorKey/],
    ["generic_key without value", [{ actions: [{ genericKey: {} }] }], /actions\[0\]\.genericKey\.descriptorValue/],
    ["header_value_match without headers", [{ actions: [{ headerValueMatch: { descriptorValue: "v" } }] }], /headerValueMatch\.headers/],
    ["a bad regex", [{ actions: [{ headerValueMatch: { descriptorValue: "v", headers: [{ name: "x", safeRegexMatch: { regex: "(" } }] } }] }], /headerValueMatch\.headers\[0\]\.safeRegexMatch/],
    ["v4 mask too long", [{ actions: [{ maskedRemoteAddress: { v4PrefixMaskLen: { value: 33 } } }] }], /maskedRemoteAddress\.v4PrefixMaskLen/],
    ["metadata without a path", [{ actions: [{ metadata: { descriptorKey: "k", metadataKey: { key: "ns" } } }] }], /metadata\.metadataKey\.path/],
  ];
  for (const [what, rl, re] of cases) it(what, () => assert.throws(() => compileRateLimits(rl as v3.envoy.config.route.v3.RateLimit[], "rateLimits"), re));
});

describe("masked addresses", () => {
  const cases: Array<[string, number, number, string | undefined]> = [
    ["192.168.7.9", 24, 128, "192.168.7.0/24"],
    ["192.168.7.9", 0, 128, "0.0.0.0/0"],
    ["192.168.7.9", 20, 128, "192.168.0.0/20"],
    ["::1", 32, 128, "::1/128"],
    ["2001:db8::1", 32, 48, "2001:db8::/48"],
    ["fe80::1:2", 32, 112, "fe80::1:0/112"],
    ["::ffff:1.2.3.4", 8, 128, "1.0.0.0/8"],
    ["not-an-ip", 32, 128, undefined],
    ["1::2::3", 32, 128, undefined],
  ];
  for (const [ip, v4, v6, want] of cases) it(`${ip} /${v4} /${v6}`, () => assert.equal(maskedAddress(ip, v4, v6), want));
});
