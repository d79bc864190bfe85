// The generated protobufjs descriptors (src/envoy/gen) against the .proto files they come from:
// the checked-in files are current, every type has the same wire and JSON shape as when parsed
// from .proto text, and decoding/encoding through protos.ts (the proxy's subset first, the full
// set on demand, also from inside an Any) gives byte for byte and field for field what the .proto
// schema gives.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import protobuf from "protobufjs";
import { allNames, generateDescriptors, genDir, loadProtoFiles } from "../../src/envoy/descriptor-gen.js";
import {
  CLUSTER_TYPE,
  decodeMessage,
  DELTA_DISCOVERY_REQUEST,
  DELTA_DISCOVERY_RESPONSE,
  encodeMessage,
  envoyRoot,
  LISTENER_TYPE,
  messageType,
  type ProtoObject,
  schemaStatus,
  TO_OBJECT,
} from "../../src/envoy/protos.js";
import { goldenResources as goldenXds } from "../helpers/golden-xds.js";

const reference = loadProtoFiles();

/** What decodeMessage gave when the schema was parsed from .proto text. */
function referenceDecode(type: string, bytes: Uint8Array): ProtoObject {
  const t = reference.lookupType(type.replace("type.googleapis.com/", ""));
  return t.toObject(t.decode(bytes), TO_OBJECT) as ProtoObject;
}
function referenceEncode(type: string, obj: ProtoObject): Uint8Array {
  const t = reference.lookupType(type.replace("type.googleapis.com/", ""));
  return t.encode(t.fromObject(obj)).finish();
}
/** Buffers compare by content. */
const plain = (o: unknown): unknown => JSON.parse(JSON.stringify(o));

/** Every golden xDS resource the control plane's generator tests pin, with its type URL. */
function goldenResources(): Array<[string, string, ProtoObject]> {
  return goldenXds().map(([f, type, r]) => {
    const { "@type": _t, ...rest } = r;
    return [f, type, rest];
  });
}

// First, before anything loads the full set: the proxy's own path.
test("bookinfo's xDS decodes from the proxy's subset alone, exactly as from the .proto schema", () => {
  const golden = goldenResources();
  assert.ok(golden.length > 100, `${golden.length} golden resources`);
  for (const [file, type, obj] of golden) {
    const bytes = referenceEncode(type, obj);
    assert.deepEqual(Buffer.from(encodeMessage(type, obj)), Buffer.from(bytes), `${file}: encoding`);
    assert.deepEqual(plain(decodeMessage(type, bytes)), plain(referenceDecode(type, bytes)), `${file}: decoding`);
  }
  // The discovery messages too (the node's metadata is a Struct).
  const req = { node: { id: "sidecar~1.2.3.4~a.ns~ns.svc.cluster.local", metadata: { fields: { A: { stringValue: "b" } } } }, typeUrl: CLUSTER_TYPE, resourceNamesSubscribe: ["*"], initialResourceVersions: { a: "1" } };
  assert.deepEqual(Buffer.from(encodeMessage(DELTA_DISCOVERY_REQUEST, req)), Buffer.from(referenceEncode(DELTA_DISCOVERY_REQUEST, req)));
  const resp = { typeUrl: CLUSTER_TYPE, nonce: "n", resources: [{ name: "a", version: "1", resource: { "@type": CLUSTER_TYPE, name: "a", type: "EDS" } }], removedResources: ["b"] };
  const rb = referenceEncode(DELTA_DISCOVERY_RESPONSE, resp);
  assert.deepEqual(Buffer.from(encodeMessage(DELTA_DISCOVERY_RESPONSE, resp)), Buffer.from(rb));
  assert.deepEqual(plain(decodeMessage(DELTA_DISCOVERY_RESPONSE, rb)), plain(referenceDecode(DELTA_DISCOVERY_RESPONSE, rb)));
  assert.deepEqual(schemaStatus(), { proxy: true, full: false }, "the full set stays unloaded");
});

test("an Any of a type outside the proxy's subset decodes as before (the full set loads); an unknown one keeps its bytes", () => {
  const rbac = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";
  const listener: ProtoObject = {
    name: "l",
    filterChains: [{ filters: [{ name: "envoy.filters.network.rbac", typedConfig: { "@type": rbac, statPrefix: "rbac", rules: { action: "DENY" } } }] }],
  };
  const bytes = referenceEncode(LISTENER_TYPE, listener);
  // An Any whose type nobody knows: { type_url, value } with the bytes, as protobufjs always gave.
  const t = reference.lookupType("envoy.config.listener.v3.Listener");
  const any = reference.lookupType("google.protobuf.Any");
  const msg = t.decode(bytes) as unknown as { filterChains: Array<{ filters: Array<{ typedConfig: unknown }> }> };
  msg.filterChains[0].filters.push({ typedConfig: any.create({ type_url: "type.googleapis.com/example.Unknown", value: new Uint8Array([8, 1]) }) } as never);
  const withUnknown = t.encode(msg as never).finish();
  assert.equal(schemaStatus().full, false);
  const decoded = decodeMessage(LISTENER_TYPE, withUnknown);
  assert.deepEqual(plain(decoded), plain(referenceDecode(LISTENER_TYPE, withUnknown)));
  const filters = (decoded.filterChains as Array<{ filters: Array<{ typedConfig: ProtoObject }> }>)[0].filters;
  assert.equal(filters[0].typedConfig["@type"], rbac);
  assert.deepEqual((filters[0].typedConfig.rules as ProtoObject).action, "DENY");
  assert.equal(filters[1].typedConfig.type_url, "type.googleapis.com/example.Unknown");
  assert.deepEqual([...(filters[1].typedConfig.value as Uint8Array)], [8, 1]);
  assert.equal(schemaStatus().full, true, "RBAC came from the full set");
  // And encoding such a typed object goes through the full set too.
  assert.deepEqual(Buffer.from(encodeMessage(LISTENER_TYPE, listener)), Buffer.from(bytes));
});

test("types only the full set has (bootstrap, admin) resolve by name", () => {
  for (const name of ["envoy.config.bootstrap.v3.Bootstrap", "envoy.admin.v3.ClustersConfigDump", "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"]) {
    assert.equal(messageType(name).fullName, "." + name.replace("type.googleapis.com/", ""));
  }
  assert.throws(() => messageType("envoy.config.listener.v3.NoSuchThing"), /no such type/);
});

test("the checked-in descriptors are what descriptor-gen.ts makes of the .proto files", () => {
  const g = generateDescriptors(reference);
  for (const [name, text] of g.files) {
    assert.ok(readFileSync(join(genDir(), name), "utf8") === text, `src/envoy/gen/${name} is stale: run \`node dist/src/envoy/descriptor-gen.js\``);
  }
});

test("every type has the same wire and JSON shape as parsed from .proto text", () => {
  const root = envoyRoot();
  const names = allNames(reference);
  assert.deepEqual(allNames(root), names);
  const shape = (o: protobuf.ReflectionObject): unknown => {
    if (o instanceof protobuf.Enum) return { values: { ...o.values }, byId: { ...o.valuesById } };
    if (o instanceof protobuf.Service) return { methods: Object.keys(o.methods) };
    const t = o as protobuf.Type;
    return {
      // Extension fields (custom options such as udpa/validate annotations on google.protobuf.*Options)
      // are left out of the descriptors: protobufjs never reads options at run time.
      fields: t.fieldsArray.filter((f) => !f.declaringField).map((f) => {
        f.resolve();
        const m = f as protobuf.Field & { keyType?: string; rule?: string };
        return [f.name, f.id, f.type, m.rule ?? "", m.keyType ?? "", f.repeated, f.packed, f.hasPresence, f.delimited, f.required, f.partOf?.name ?? "", f.resolvedType?.fullName ?? "", String(f.typeDefault), f.long];
      }),
      oneofs: t.oneofsArray.map((x) => [x.name, x.oneof]),
    };
  };
  for (const n of names) assert.deepEqual(plain(shape(root.lookup(n)!)), plain(shape(reference.lookup(n)!)), n);
});
