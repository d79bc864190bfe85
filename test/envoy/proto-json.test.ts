// toProtoJson (typed objects → proto3 JSON with .proto field names, Envoy's admin output) against
// the .proto files parsed with their own field names: every key it prints for every golden resource
// is a real field name of its type; the well-known types print in proto3 JSON's forms (table); and
// the naming rule it relies on holds for every field of Envoy's v3 API.
import assert from "node:assert/strict";
import { test } from "node:test";
import protobuf from "protobufjs";
import { envoyV3Files, loadAllProtoFiles, protoNameMismatches } from "../../src/envoy/descriptor-gen.js";
import { CLUSTER_TYPE, type ProtoObject, struct, TYPE_PREFIX } from "../../src/envoy/protos.js";
import { durationJson, protoFieldName, timestampJson, toProtoJson } from "../../src/envoy/proto-json.js";
import { goldenResources } from "../helpers/golden-xds.js";

/** Envoy's v3 API with the .proto field names (snake_case), parsed from the .proto files. */
const snake = loadAllProtoFiles(envoyV3Files(), true);

test("protoFieldName recovers the .proto name of every field of Envoy's v3 API", () => {
  assert.deepEqual(protoNameMismatches(snake), []);
  const table: Array<[string, string]> = [
    ["lbPolicy", "lb_policy"],
    ["consecutive_5xx", "consecutive_5xx"],
    ["typedConfig", "typed_config"],
    ["name", "name"],
    ["http2ProtocolOptions", "http2_protocol_options"],
  ];
  for (const [camel, proto] of table) assert.equal(protoFieldName(camel), proto);
});

const WELL_KNOWN_JSON = new Set(["Duration", "Timestamp", "Struct", "Value", "ListValue", "FieldMask", "Any", "DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value", "BoolValue", "StringValue", "BytesValue"]);

/** Keys of proto JSON `json` (of `type`) that are not .proto field names, descending into messages and Anys. */
function foreignKeys(type: protobuf.Type, json: unknown, path: string, out: string[]): string[] {
  if (type.fullName.startsWith(".google.protobuf.") && WELL_KNOWN_JSON.has(type.name) && type.name !== "Any") return out;
  const obj = json as Record<string, unknown>;
  if (type.fullName === ".google.protobuf.Any") {
    // A raw Any (Istio's own filter configs: TypedStruct, stats.PluginConfig) is in no schema: its type URL and bytes only.
    if (obj["@type"] === undefined || !snake.lookup(String(obj["@type"]).slice(TYPE_PREFIX.length))) {
      for (const k of Object.keys(obj)) if (!["@type", "type_url", "value"].includes(k)) out.push(`${path}.${k}`);
      return out;
    }
    const inner = snake.lookupType(String(obj["@type"]).slice(TYPE_PREFIX.length));
    const { "@type": _t, ...rest } = obj;
    return foreignKeys(inner, rest, `${path}<${inner.name}>`, out);
  }
  for (const [k, v] of Object.entries(obj)) {
    const f = type.fields[k];
    if (!f) {
      out.push(`${path}.${k}`);
      continue;
    }
    f.resolve();
    if (!(f.resolvedType instanceof protobuf.Type)) continue;
    const rt = f.resolvedType;
    if (f.map) for (const [mk, mv] of Object.entries(v as object)) foreignKeys(rt, mv, `${path}.${k}[${mk}]`, out);
    else if (f.repeated) (v as unknown[]).forEach((x, i) => foreignKeys(rt, x, `${path}.${k}[${i}]`, out));
    else foreignKeys(rt, v, `${path}.${k}`, out);
  }
  return out;
}

test("every key printed for every golden resource is a .proto field name of its type", () => {
  for (const [file, url, obj] of goldenResources()) {
    const json = toProtoJson(url, obj);
    assert.deepEqual(foreignKeys(snake.lookupType(url.slice(TYPE_PREFIX.length)), json, "", []), [], file);
  }
});

test("a cluster prints as Envoy's admin prints it", () => {
  const cluster: ProtoObject = {
    name: "outbound|9080||reviews.default.svc.cluster.local",
    type: "EDS",
    edsClusterConfig: { edsConfig: { ads: {}, initialFetchTimeout: {}, resourceApiVersion: "V3" }, serviceName: "outbound|9080||reviews.default.svc.cluster.local" },
    connectTimeout: { seconds: 10 },
    lbPolicy: "LEAST_REQUEST",
    circuitBreakers: { thresholds: [{ maxConnections: { value: 4294967295 }, trackRemaining: true }] },
    outlierDetection: { consecutive_5xx: { value: 7 }, interval: { nanos: 250000000 }, maxEjectionPercent: { value: 100 } },
    ringHashLbConfig: { minimumRingSize: { value: 1024 } },
    typedExtensionProtocolOptions: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        useDownstreamProtocolConfig: { httpProtocolOptions: {}, http2ProtocolOptions: {} },
      },
    },
    metadata: { filterMetadata: { istio: struct({ services: [{ host: "reviews.default.svc.cluster.local", name: "reviews" }], default_original_port: 9080 }) } },
  };
  assert.deepEqual(toProtoJson(CLUSTER_TYPE, cluster), {
    name: "outbound|9080||reviews.default.svc.cluster.local",
    type: "EDS",
    eds_cluster_config: { eds_config: { ads: {}, initial_fetch_timeout: "0s", resource_api_version: "V3" }, service_name: "outbound|9080||reviews.default.svc.cluster.local" },
    connect_timeout: "10s",
    lb_policy: "LEAST_REQUEST",
    circuit_breakers: { thresholds: [{ max_connections: 4294967295, track_remaining: true }] },
    outlier_detection: { consecutive_5xx: 7, interval: "0.250s", max_ejection_percent: 100 },
    ring_hash_lb_config: { minimum_ring_size: "1024" },
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} },
      },
    },
    // Struct contents and map keys as they are (camelCase or not).
    metadata: { filter_metadata: { istio: { services: [{ host: "reviews.default.svc.cluster.local", name: "reviews" }], default_original_port: 9080 } } },
  });
});

test("well-known types and scalars take proto3 JSON's forms", () => {
  const durations: Array<[ProtoObject, string]> = [
    [{}, "0s"],
    [{ seconds: 1, nanos: 500000000 }, "1.500s"],
    [{ seconds: 3600 }, "3600s"],
    [{ nanos: 1000 }, "0.000001s"],
    [{ nanos: 1 }, "0.000000001s"],
    [{ seconds: -1, nanos: -250000000 }, "-1.250s"],
    [{ nanos: -5000000 }, "-0.005s"],
  ];
  for (const [d, s] of durations) assert.equal(durationJson(d), s, JSON.stringify(d));
  const stamps: Array<[ProtoObject, string]> = [
    [{}, "1970-01-01T00:00:00Z"],
    [{ seconds: 1714557600, nanos: 123000000 }, "2024-05-01T10:00:00.123Z"],
    [{ seconds: 1714557600, nanos: 120000 }, "2024-05-01T10:00:00.000120Z"],
  ];
  for (const [t, s] of stamps) assert.equal(timestampJson(t), s, JSON.stringify(t));
  const any = (o: ProtoObject) => toProtoJson("google.protobuf.Any", o);
  // An Any of a well-known type holds its JSON form under "value"; bytes are base64; an unknown type keeps its bytes.
  assert.deepEqual(any({ "@type": "type.googleapis.com/google.protobuf.Duration", seconds: 2 }), { "@type": "type.googleapis.com/google.protobuf.Duration", value: "2s" });
  assert.deepEqual(any({ "@type": "type.googleapis.com/google.protobuf.BoolValue" }), { "@type": "type.googleapis.com/google.protobuf.BoolValue", value: false });
  assert.deepEqual(any({ type_url: "type.googleapis.com/example.Nope", value: Buffer.from([1, 2, 255]) }), { "@type": "type.googleapis.com/example.Nope", value: "AQL/" });
  assert.deepEqual(toProtoJson("envoy.config.core.v3.DataSource", { inlineBytes: Buffer.from("hi") }), { inline_bytes: "aGk=" });
  // An Any of a type only the rest of the API has (Lua) converts by its own type too.
  assert.deepEqual(any({ "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", defaultSourceCode: { inlineString: "x" } }), {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
    default_source_code: { inline_string: "x" },
  });
  // A scalar without presence at its default is not printed (Envoy's always_print_primitive_fields off); one with
  // presence is (a wrapper, a oneof member such as Cluster.type).
  assert.deepEqual(toProtoJson(CLUSTER_TYPE, { name: "", lbPolicy: "ROUND_ROBIN", respectDnsTtl: false, type: "STATIC", perConnectionBufferLimitBytes: { value: 0 } }), {
    type: "STATIC",
    per_connection_buffer_limit_bytes: 0,
  });
  assert.throws(() => toProtoJson(CLUSTER_TYPE, { lbPolicyy: "RANDOM" }), /lbPolicyy: not a field of envoy\.config\.cluster\.v3\.Cluster/);
});
