// TypedStruct configs (Istio's local rate limit task writes its filter and per-route configs so):
// a Listener arriving over xDS with TypedStruct Anys decodes to the typed configs they carry, and
// the proxy then enforces them; a TypedStruct that does not convert fails the resource.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LISTENER_TYPE, struct, type JsonValue, type ProtoObject } from "../../../src/envoy/protos.js";
import { wireEncode } from "../../../src/envoy/wire.js";
import { HCM_TYPE } from "../../../src/proxy/http/hcm-config.js";
import { decodeAny } from "../../../src/proxy/xds/resources.js";

const TYPED_STRUCT = "type.googleapis.com/udpa.type.v1.TypedStruct";
const LRL = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";

/** A TypedStruct Any as the wire has it: type_url + the Struct of the JSON config. */
function typedStruct(typeUrl: string, value: { [k: string]: JsonValue }): ProtoObject {
  const url = Buffer.from(typeUrl, "utf8");
  const s = wireEncode("google.protobuf.Struct", struct(value) as unknown as ProtoObject);
  const bytes = Buffer.concat([Buffer.from([0x0a, url.length]), url, Buffer.from([0x12]), varint(s.length), s]);
  return { type_url: TYPED_STRUCT, value: bytes };
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

const TASK = {
  stat_prefix: "http_local_rate_limiter",
  token_bucket: { max_tokens: 4, tokens_per_fill: 4, fill_interval: "60s" },
  filter_enabled: { runtime_key: "local_rate_limit_enabled", default_value: { numerator: 100, denominator: "HUNDRED" } },
  response_headers_to_add: [{ append: false, header: { key: "x-local-rate-limit", value: "true" } }],
};

function listenerBytes(filterConfig: ProtoObject, perRoute: ProtoObject): Buffer {
  return wireEncode(LISTENER_TYPE, {
    name: "l",
    address: { socketAddress: { address: "127.0.187.41", portValue: 18731 } },
    filterChains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typedConfig: {
              "@type": HCM_TYPE,
              statPrefix: "l",
              routeConfig: { name: "r", virtualHosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "c" }, typedPerFilterConfig: { "envoy.filters.http.local_ratelimit": perRoute } }] }] },
              httpFilters: [
                { name: "envoy.filters.http.local_ratelimit", typedConfig: filterConfig },
                { name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
              ],
            },
          },
        ],
      },
    ],
  } as ProtoObject);
}

describe("TypedStruct", () => {
  it("decodes to the typed config it carries, in filters and per-route configs", () => {
    const l = decodeAny(LISTENER_TYPE, { type_url: LISTENER_TYPE, value: listenerBytes(typedStruct(LRL, { stat_prefix: "http_local_rate_limiter" }), typedStruct(LRL, TASK)) }, "l") as {
      filterChains: Array<{ filters: Array<{ typedConfig: { httpFilters: Array<{ typedConfig: ProtoObject }>; routeConfig: { virtualHosts: Array<{ routes: Array<{ typedPerFilterConfig: Record<string, ProtoObject> }> }> } } }> }>;
    };
    const hcm = l.filterChains[0].filters[0].typedConfig;
    assert.deepEqual(hcm.httpFilters[0].typedConfig, { "@type": LRL, statPrefix: "http_local_rate_limiter" });
    const per = hcm.routeConfig.virtualHosts[0].routes[0].typedPerFilterConfig["envoy.filters.http.local_ratelimit"];
    assert.equal(per["@type"], LRL);
    assert.deepEqual(per.tokenBucket, { maxTokens: 4, tokensPerFill: { value: 4 }, fillInterval: { seconds: 60 } });
    assert.deepEqual(per.filterEnabled, { runtimeKey: "local_rate_limit_enabled", defaultValue: { numerator: 100, denominator: "HUNDRED" } });
    assert.deepEqual(per.responseHeadersToAdd, [{ append: { value: false }, header: { key: "x-local-rate-limit", value: "true" } }]);
  });

  it("a TypedStruct whose JSON does not fit its type fails the resource", () => {
    const bad = typedStruct(LRL, { stat_prefix: "x", no_such_field: 1 });
    assert.throws(() => decodeAny(LISTENER_TYPE, { type_url: LISTENER_TYPE, value: listenerBytes(bad, bad) }, "l"), /no_such_field: unknown field/);
    const unknown = typedStruct("type.googleapis.com/no.such.Type", {});
    assert.throws(() => decodeAny(LISTENER_TYPE, { type_url: LISTENER_TYPE, value: listenerBytes(unknown, unknown) }, "l"), /unknown type/);
  });
});
