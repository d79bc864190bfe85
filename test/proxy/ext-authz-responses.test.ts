// How ext_authz reads a check service's answer, as Envoy's two clients do — tables over the HTTP
// client (200 OK / 5xx error / anything else denied; which response headers go upstream, are
// appended, reach the client on success or on denial, become dynamic metadata;
// x-envoy-auth-headers-to-remove) and the gRPC client (OkHttpResponse header append rules,
// response headers, DeniedHttpResponse status mapping, dynamic metadata).
import assert from "node:assert/strict";
import type * as http from "node:http";
import { describe, it } from "node:test";
import { CheckStatus, fromCheckResponse, fromHttpResponse, type HttpServiceConfig } from "../../src/proxy/ext-authz/client.js";
import { anyOf, clientMatch } from "../../src/proxy/ext-authz/header-match.js";

const list = (...names: string[]) => ({ patterns: names.map((exact) => ({ exact })) });

function httpConfig(o: { upstream?: string[]; append?: string[]; client?: string[]; onSuccess?: string[]; metadata?: string[] } = {}): HttpServiceConfig {
  return {
    cluster: "c",
    timeoutMs: 200,
    pathPrefix: "",
    requestHeaders: anyOf(undefined, "r"),
    headersToAdd: undefined,
    upstreamHeaders: anyOf(o.upstream && list(...o.upstream), "u"),
    upstreamHeadersToAppend: anyOf(o.append && list(...o.append), "a"),
    clientHeaders: clientMatch(o.client && list(...o.client), "c"),
    clientHeadersOnSuccess: anyOf(o.onSuccess && list(...o.onSuccess), "s"),
    dynamicMetadataFromHeaders: anyOf(o.metadata && list(...o.metadata), "m"),
  };
}

describe("HTTP check responses", () => {
  const headers: http.OutgoingHttpHeaders = { "x-a": "1", "x-b": ["2", "3"], host: "h", "content-length": "4", "www-authenticate": "Bearer", "x-envoy-auth-headers-to-remove": "x-gone, X-Other" };
  const cases: Array<[string, number, ReturnType<typeof httpConfig>, Partial<ReturnType<typeof fromHttpResponse>>]> = [
    ["200 with no response rules: OK, nothing propagates", 200, httpConfig(), { status: CheckStatus.OK, headersToSet: [], headersToAdd: [], responseHeadersToAdd: [], headersToRemove: ["x-gone", "x-other"] }],
    ["200: allowed_upstream_headers set, _to_append add, on_success to the client", 200, httpConfig({ upstream: ["x-a"], append: ["x-b"], onSuccess: ["x-a"] }), { headersToSet: [["x-a", "1"]], headersToAdd: [["x-b", "2"], ["x-b", "3"]], responseHeadersToAdd: [["x-a", "1"]] }],
    ["200: dynamic_metadata_from_headers", 200, httpConfig({ metadata: ["x-a"] }), { dynamicMetadata: { "x-a": "1" } }],
    ["500 is an error", 500, httpConfig({ upstream: ["x-a"] }), { status: CheckStatus.Error, headersToSet: [] }],
    ["599 is an error", 599, httpConfig(), { status: CheckStatus.Error }],
    [
      "403 with no allowed_client_headers: every header but Host (framing headers never)",
      403,
      httpConfig(),
      { status: CheckStatus.Denied, statusCode: 403, headersToSet: [["x-a", "1"], ["x-b", "2"], ["x-b", "3"], ["www-authenticate", "Bearer"]], headersToRemove: [] },
    ],
    ["401 with allowed_client_headers: those plus www-authenticate/location", 401, httpConfig({ client: ["x-a"] }), { status: CheckStatus.Denied, statusCode: 401, headersToSet: [["x-a", "1"], ["www-authenticate", "Bearer"]] }],
    ["302 is denied too (only 200 allows)", 302, httpConfig({ client: ["x-none"] }), { status: CheckStatus.Denied, statusCode: 302, headersToSet: [["www-authenticate", "Bearer"]] }],
  ];
  for (const [what, status, cfg, want] of cases) {
    it(what, () => {
      const r = fromHttpResponse(cfg, status, headers, Buffer.from("body"));
      for (const [k, v] of Object.entries(want)) assert.deepEqual(r[k as keyof typeof r], v, k);
      if (r.status === CheckStatus.Denied) assert.equal(r.body, "body");
    });
  }
});

describe("gRPC CheckResponses", () => {
  const h = (key: string, value: string, more: object = {}) => ({ header: { key, value }, ...more });
  it("OkHttpResponse: append unset or false overwrites, true appends; append_action decides when append is unset", () => {
    const r = fromCheckResponse({
      status: { code: 0 },
      okResponse: {
        headers: [
          h("X-Set", "1"),
          h("x-set2", "2", { append: { value: false } }),
          h("x-app", "3", { append: { value: true } }),
          h("x-absent", "4", { appendAction: "ADD_IF_ABSENT" }),
          h("x-exists", "5", { appendAction: "OVERWRITE_IF_EXISTS" }),
          h("x-or-add", "6", { appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" }),
        ],
        headersToRemove: ["X-Gone"],
        responseHeadersToAdd: [h("x-r1", "a"), h("x-r2", "b", { append: { value: true } })],
        queryParametersToSet: [{ key: "q", value: "v" }],
        queryParametersToRemove: ["z"],
      },
    });
    assert.equal(r.status, CheckStatus.OK);
    assert.deepEqual(r.headersToSet, [["x-set", "1"], ["x-set2", "2"], ["x-or-add", "6"]]);
    assert.deepEqual(r.headersToAppend, [["x-app", "3"]]);
    assert.deepEqual(r.headersToAddIfAbsent, [["x-absent", "4"]]);
    assert.deepEqual(r.headersToOverwriteIfExists, [["x-exists", "5"]]);
    assert.deepEqual(r.headersToRemove, ["x-gone"]);
    assert.deepEqual(r.responseHeadersToSet, [["x-r1", "a"]]);
    assert.deepEqual(r.responseHeadersToAdd, [["x-r2", "b"]]);
    assert.deepEqual(r.queryParametersToSet, [["q", "v"]]);
    assert.deepEqual(r.queryParametersToRemove, ["z"]);
  });

  it("dynamic metadata: the top-level field, else the OkHttpResponse's", () => {
    assert.deepEqual(fromCheckResponse({ status: { code: 0 }, dynamicMetadata: { fields: { a: { stringValue: "top" } } }, okResponse: { dynamicMetadata: { fields: { a: { stringValue: "ok" } } } } }).dynamicMetadata, { a: "top" });
    assert.deepEqual(fromCheckResponse({ status: { code: 0 }, okResponse: { dynamicMetadata: { fields: { n: { numberValue: 1 } } } } }).dynamicMetadata, { n: 1 });
    assert.equal(fromCheckResponse({ status: { code: 0 } }).dynamicMetadata, undefined);
  });

  const denied: Array<[string, object, number]> = [
    ["a DeniedHttpResponse status", { status: { code: 7 }, deniedResponse: { status: { code: "Unauthorized" } } }, 401],
    ["no DeniedHttpResponse: 403", { status: { code: 7 } }, 403],
    ["any non-OK status denies", { status: { code: 16 }, deniedResponse: { body: "b" } }, 403],
    ["an unknown status number: 403", { status: { code: 7 }, deniedResponse: { status: { code: 42 } } }, 403],
    ["TooManyRequests", { status: { code: 7 }, deniedResponse: { status: { code: "TooManyRequests" } } }, 429],
  ];
  for (const [what, msg, status] of denied) {
    it(`denied: ${what}`, () => {
      const r = fromCheckResponse(msg);
      assert.equal(r.status, CheckStatus.Denied);
      assert.equal(r.statusCode, status);
    });
  }

  it("denied: headers for the local reply, body", () => {
    const r = fromCheckResponse({ status: { code: 7 }, deniedResponse: { body: "no", headers: [h("X-Why", "w")] } });
    assert.deepEqual(r.headersToSet, [["x-why", "w"]]);
    assert.equal(r.body, "no");
  });
});
