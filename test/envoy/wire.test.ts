// wire.ts (the proxy's protobuf codec without protobufjs) against protobufjs through protos.ts:
// byte-identical encoding and identical typed objects — same keys in the same order, same value
// types — on every golden resource, on random messages of every type in the proxy's schema (all
// scalar kinds, enums known and unknown, maps, repeated and packed fields, nested Anys of known,
// full-set-only and unknown types), on truncated input (both fail or both agree), and for the
// discovery messages the ADS client sends and receives.
import assert from "node:assert/strict";
import { test } from "node:test";
import protobuf from "protobufjs";
import { PROXY_ROOT_TYPES, reachableTypes } from "../../src/envoy/descriptor-gen.js";
import {
  CLUSTER_TYPE,
  decodeMessage,
  DELTA_DISCOVERY_REQUEST,
  DELTA_DISCOVERY_RESPONSE,
  DISCOVERY_REQUEST,
  encodeMessage,
  ENDPOINT_TYPE,
  envoyRoot,
  LISTENER_TYPE,
  type ProtoObject,
} from "../../src/envoy/protos.js";
import { wireDecode, wireEncode, wireHas } from "../../src/envoy/wire.js";
import { goldenResources } from "../helpers/golden-xds.js";

/** Same value, same key order, same classes (Buffer stays Buffer). */
function same(actual: unknown, expected: unknown, what: string): void {
  assert.deepStrictEqual(actual, expected, what);
  assert.equal(JSON.stringify(actual), JSON.stringify(expected), `${what}: key order`);
}

test("golden resources: wireEncode and wireDecode equal protobufjs exactly", () => {
  for (const [file, type, obj] of goldenResources()) {
    const bytes = Buffer.from(encodeMessage(type, obj));
    assert.deepEqual(wireEncode(type, obj), bytes, `${file}: encoding`);
    same(wireDecode(type, bytes), decodeMessage(type, bytes), `${file}: decoding`);
  }
});

// ---- random messages

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const root = envoyRoot();
const proxyNames = [...reachableTypes(root, PROXY_ROOT_TYPES)];
/** CEL expressions: the proxy's wire schema keeps them as raw bytes (OPAQUE_WIRE_PACKAGES), so they are not compared. */
const opaque = (n: string): boolean => n.startsWith("google.api.expr.");
const proxyTypes = proxyNames.filter((n) => root.lookup(n) instanceof protobuf.Type && !opaque(n)).sort();

class RandomMessages {
  constructor(private readonly r: () => number) {}
  private int(n: number): number {
    return Math.floor(this.r() * n);
  }
  private pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  private string(): string {
    return this.pick(["", "a", "reviews.default.svc.cluster.local", "ünïcødé ✓ 🚀", "x".repeat(this.int(300)), "__proto__", "0", "10"]);
  }
  scalar(type: string): unknown {
    const r = this.r();
    switch (type) {
      case "double":
        return this.pick([0, 1.5, -2.25, 1e300, NaN, Infinity, -Infinity, r * 1000]);
      case "float":
        return this.pick([0, 0.1, -3.5, 1e30, Infinity, r]);
      case "int32":
      case "sint32":
      case "sfixed32":
        return this.pick([0, 1, -1, 2147483647, -2147483648, this.int(1000) - 500]);
      case "uint32":
      case "fixed32":
        return this.pick([0, 1, 4294967295, this.int(100000)]);
      case "int64":
      case "sint64":
      case "sfixed64":
        return this.pick([0, 1, -1, 2 ** 40, -(2 ** 50), Number.MAX_SAFE_INTEGER, this.int(1e6) - 5e5, -(2 ** 62), 2 ** 62]);
      case "uint64":
      case "fixed64":
        return this.pick([0, 1, 2 ** 40, Number.MAX_SAFE_INTEGER, this.int(1e9), 2 ** 63 + 2 ** 12, 2 ** 64 - 2 ** 12]);
      case "bool":
        return this.pick([true, false]);
      case "string":
        return this.string();
      case "bytes":
        return Buffer.from(Array.from({ length: this.int(6) }, () => this.int(256)));
    }
    throw new Error(type);
  }
  value(f: protobuf.Field, depth: number): unknown {
    f.resolve();
    const rt = f.resolvedType;
    if (rt instanceof protobuf.Enum) {
      const names = Object.keys(rt.values);
      return this.r() < 0.1 ? 57 : this.pick(names); // an unknown number sometimes
    }
    if (rt instanceof protobuf.Type) return this.message(rt, depth + 1);
    return this.scalar(f.type);
  }
  any(depth: number): ProtoObject {
    const k = this.r();
    if (k < 0.15) return { "@type": "type.googleapis.com/example.Unknown.Thing" }; // nobody knows it
    if (k < 0.3) return { "@type": "type.googleapis.com/envoy.config.metrics.v3.StatsdSink", prefix: "full-set", tcpClusterName: "c" };
    if (k < 0.35) return { type_url: "type.googleapis.com/example.Raw", value: Buffer.from([8, 1]) };
    const name = this.pick(proxyTypes.filter((n) => n !== "google.protobuf.Any"));
    // Other prefixes are kept as they are; a bare name gets a "/" (protobufjs' Any wrapper).
    const prefix = this.pick(["type.googleapis.com/", "type.googleapis.com/", "example.com/types/", ""]);
    return { "@type": `${prefix}${name}`, ...this.message(root.lookupType(name), depth + 1) };
  }
  message(t: protobuf.Type, depth: number): ProtoObject {
    if (t.fullName === ".google.protobuf.Any") return this.any(depth);
    const o: ProtoObject = {};
    if (depth > 3) return o;
    for (const f of t.fieldsArray) {
      if (f.declaringField || this.r() > 0.35) continue;
      f.resolve();
      if (f.resolvedType instanceof protobuf.Type && opaque(f.resolvedType.fullName.slice(1))) continue;
      if (f.map) {
        const m: Record<string, unknown> = {};
        for (let i = this.int(3); i > 0; i--) {
          const k = this.pick(["a", "b", "k8s.io/name", "", "7", "__proto__"]);
          // An own "__proto__" key (protobufjs keeps such keys as data).
          Object.defineProperty(m, k, { value: this.value(f, depth), enumerable: true, writable: true, configurable: true });
        }
        o[f.name] = m;
      } else if (f.repeated) o[f.name] = Array.from({ length: this.int(4) }, () => this.value(f, depth));
      else o[f.name] = this.value(f, depth);
    }
    return o;
  }
}

test("random messages of every type: same bytes, same typed objects as protobufjs", () => {
  const gen = new RandomMessages(rng(4242));
  let cases = 0;
  for (const name of proxyTypes) {
    assert.ok(wireHas(name), name);
    const t = root.lookupType(name);
    for (let i = 0; i < 6; i++) {
      const obj = gen.message(t, 0);
      const bytes = Buffer.from(encodeMessage(name, obj));
      assert.deepEqual(wireEncode(name, obj), bytes, `${name} #${i}: encoding ${JSON.stringify(obj).slice(0, 300)}`);
      same(wireDecode(name, bytes), decodeMessage(name, bytes), `${name} #${i}: decoding`);
      cases++;
    }
  }
  assert.ok(cases > 1500, `${cases} cases`);
});

test("unknown fields are skipped; explicit zeros and repeated non-packed scalars are kept as protobufjs keeps them", () => {
  // Listener{name: "l"} + unknown field 999 (varint) + unknown 998 (bytes) + per_connection_buffer_limit_bytes {value: 0}
  const known = Buffer.from(encodeMessage(LISTENER_TYPE, { name: "l", perConnectionBufferLimitBytes: { value: 0 } }));
  const unknown = Buffer.from([0xb8, 0x3e, 0x05, 0xb2, 0x3e, 0x02, 0x61, 0x62]);
  const bytes = Buffer.concat([known, unknown]);
  same(wireDecode(LISTENER_TYPE, bytes), decodeMessage(LISTENER_TYPE, bytes), "unknown fields");
  // ClusterLoadAssignment policy overprovisioning_factor explicitly 0, endpoints twice (merge order).
  const cla = Buffer.from(encodeMessage(ENDPOINT_TYPE, { clusterName: "c", endpoints: [{ priority: 0 }, { priority: 2 }] }));
  same(wireDecode(ENDPOINT_TYPE, cla), decodeMessage(ENDPOINT_TYPE, cla), "explicit zero priority");
  // An unpacked repeated enum (wire type 0) where the schema packs: protobufjs accepts both.
  const route = root.lookupType("envoy.config.route.v3.RetryPolicy");
  const w = protobuf.Writer.create();
  w.uint32((7 << 3) | 0).uint32(500); // retriable_status_codes: 500, unpacked
  w.uint32((7 << 3) | 0).uint32(503);
  const rp = Buffer.from(w.finish());
  same(wireDecode("envoy.config.route.v3.RetryPolicy", rp), decodeMessage("envoy.config.route.v3.RetryPolicy", rp), "unpacked");
  assert.ok(route);
});

test("truncated or corrupted input: wire fails exactly when protobufjs fails, and agrees otherwise", () => {
  const r = rng(7);
  let failures = 0;
  for (const [file, type, obj] of goldenResources().slice(0, 40)) {
    const bytes = Buffer.from(encodeMessage(type, obj));
    for (let i = 0; i < 15; i++) {
      const b = Buffer.from(bytes);
      if (i % 2) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      const cut = b.subarray(0, Math.floor(r() * b.length));
      let expected: ProtoObject | Error;
      try {
        expected = decodeMessage(type, cut);
      } catch (e) {
        expected = e as Error;
      }
      let actual: ProtoObject | Error;
      try {
        actual = wireDecode(type, cut);
      } catch (e) {
        actual = e as Error;
      }
      if (expected instanceof Error) {
        failures++;
        assert.ok(actual instanceof Error, `${file} cut at ${cut.length}: protobufjs failed (${expected.message}), wire did not`);
      } else {
        assert.ok(!(actual instanceof Error), `${file} cut at ${cut.length}: wire failed (${(actual as Error).message})`);
        same(actual, expected, `${file} cut at ${cut.length}`);
      }
    }
  }
  assert.ok(failures > 50, `${failures} failing inputs exercised`);
});

test("discovery messages: requests encode like protobufjs; responses decode with raw Anys for the ADS client", () => {
  const node = {
    id: "sidecar~127.0.92.2~productpage-v1.default~default.svc.cluster.local",
    cluster: "productpage-v1.default",
    userAgentName: "tsmesh",
    metadata: { fields: { NAMESPACE: { stringValue: "default" }, LABELS: { structValue: { fields: { app: { stringValue: "productpage" } } } }, N: { numberValue: 2 }, B: { boolValue: false }, Z: { nullValue: "NULL_VALUE" } } },
    locality: { region: "local", zone: "zone-a", subZone: "" },
  };
  const requests: Array<[string, ProtoObject]> = [
    [DELTA_DISCOVERY_REQUEST, { node, typeUrl: CLUSTER_TYPE, resourceNamesSubscribe: [] }],
    [DELTA_DISCOVERY_REQUEST, { typeUrl: ENDPOINT_TYPE, resourceNamesSubscribe: ["a", "b"], resourceNamesUnsubscribe: ["c"], initialResourceVersions: { a: "v1", "b/c": "v2" } }],
    [DELTA_DISCOVERY_REQUEST, { typeUrl: CLUSTER_TYPE, responseNonce: "7", errorDetail: { code: 3, message: "bad: ünïcødé" } }],
    [DISCOVERY_REQUEST, { node, typeUrl: LISTENER_TYPE, versionInfo: "", resourceNames: ["*"], responseNonce: "" }],
  ];
  for (const [type, obj] of requests) assert.deepEqual(wireEncode(type, obj), Buffer.from(encodeMessage(type, obj)), JSON.stringify(obj).slice(0, 120));

  const listener = { name: "l", address: { socketAddress: { address: "0.0.0.0", portValue: 9080 } } };
  const resp = {
    systemVersionInfo: "2024-01-01",
    typeUrl: LISTENER_TYPE,
    nonce: "n1",
    resources: [{ name: "l", version: "abc", resource: { "@type": LISTENER_TYPE, ...listener } }, { name: "ttl-only", version: "x" }],
    removedResources: ["old"],
  };
  const bytes = Buffer.from(encodeMessage(DELTA_DISCOVERY_RESPONSE, resp));
  same(wireDecode(DELTA_DISCOVERY_RESPONSE, bytes), decodeMessage(DELTA_DISCOVERY_RESPONSE, bytes), "typed");
  const raw = wireDecode(DELTA_DISCOVERY_RESPONSE, bytes, { rawAny: true }) as { resources: Array<{ resource?: { type_url: string; value: Buffer } }> };
  const any = raw.resources[0].resource!;
  assert.equal(any.type_url, LISTENER_TYPE);
  same(wireDecode(any.type_url, any.value), decodeMessage(LISTENER_TYPE, any.value), "the resource");
  assert.equal(raw.resources[1].resource, undefined);
});

test("encoding what fromObject rejects or skips: the same errors and the same bytes as protobufjs", () => {
  const cases: ProtoObject[] = [
    { resourceNamesSubscribe: "x" },
    { node: "x" },
    { node: { metadata: { fields: { a: null } } } },
    { initialResourceVersions: 7 },
    { resourceNamesSubscribe: 0, initialResourceVersions: "", typeUrl: 5, responseNonce: null },
    { errorDetail: { code: "3", message: 42, details: [{ "@type": "type.googleapis.com/example.Nope", x: 1 }] } },
    { errorDetail: { details: [null] } },
  ];
  for (const obj of cases) {
    let expected: Buffer | string;
    try {
      expected = Buffer.from(encodeMessage(DELTA_DISCOVERY_REQUEST, obj));
    } catch (e) {
      expected = (e as Error).constructor.name + ": " + (e as Error).message;
    }
    let actual: Buffer | string;
    try {
      actual = wireEncode(DELTA_DISCOVERY_REQUEST, obj);
    } catch (e) {
      actual = (e as Error).constructor.name + ": " + (e as Error).message;
    }
    if (typeof expected === "string") assert.equal(typeof actual, "string", `${JSON.stringify(obj)}: protobufjs threw ${expected}`);
    else assert.deepEqual(actual, expected, JSON.stringify(obj));
    if (typeof expected === "string" && /expected$/.test(expected)) assert.equal(actual, expected);
  }
});
