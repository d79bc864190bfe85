// The generated protobufjs descriptors (src/envoy/gen) against the .proto files they come from:
// the checked-in files are current, every type has the same wire and JSON shape as when parsed
// from .proto text, and decoding/encoding through protos.ts (the proxy's subset first, the full
// set on demand, the rest of Envoy's v3 API after that, also from inside an Any) gives byte for
// byte and field for field what the .proto schema gives; each tier loads only when needed, and a
// type no tier has is an error naming it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import protobuf from "protobufjs";
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { allNames, envoyV3Files, generateDescriptors, genDir, loadAllProtoFiles, loadProtoFiles } from "../../src/envoy/descriptor-gen.js";
import {
  CLUSTER_TYPE,
  decodeMessage,
  DELTA_DISCOVERY_REQUEST,
  DELTA_DISCOVERY_RESPONSE,
  encodeMessage,
  envoyRoot,
  isKnownType,
  LISTENER_TYPE,
  messageType,
  type ProtoObject,
  schemaStatus,
  TO_OBJECT,
  UnknownTypeError,
} from "../../src/envoy/protos.js";
import { unpackAny, wireDecode, wireEncode } from "../../src/envoy/wire.js";
import { goldenResources as goldenXds } from "../helpers/golden-xds.js";

const reference = loadProtoFiles();
const v3 = envoyV3Files();
/** Every loadable envoy/…/v3/*.proto, parsed from .proto text. */
const referenceAll = loadAllProtoFiles(v3);

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

/** What decides a type's wire and JSON form. */
function shape(o: protobuf.ReflectionObject): unknown {
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
}

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
  assert.deepEqual(schemaStatus(), { proxy: true, full: false, all: false }, "the full set stays unloaded");
});

test("an Any of a type outside the proxy's subset decodes as before (the full set loads); an unknown one keeps its bytes", () => {
  // A full-set type the proxy never decodes (a stats sink), standing in for any such Any.
  const fullOnly = "type.googleapis.com/envoy.config.metrics.v3.StatsdSink";
  const listener: ProtoObject = {
    name: "l",
    filterChains: [{ filters: [{ name: "statsd", typedConfig: { "@type": fullOnly, prefix: "p", tcpClusterName: "c" } }] }],
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
  assert.equal(filters[0].typedConfig["@type"], fullOnly);
  assert.equal(filters[0].typedConfig.tcpClusterName, "c");
  assert.equal(filters[1].typedConfig.type_url, "type.googleapis.com/example.Unknown");
  assert.deepEqual([...(filters[1].typedConfig.value as Uint8Array)], [8, 1]);
  assert.equal(schemaStatus().full, true, "StatsdSink came from the full set");
  assert.equal(schemaStatus().all, false, "an unknown type loads no descriptor (only the list of names)");
  // And encoding such a typed object goes through the full set too.
  assert.deepEqual(Buffer.from(encodeMessage(LISTENER_TYPE, listener)), Buffer.from(bytes));
});

test("types only the full set has (bootstrap, admin) resolve by name", () => {
  for (const name of ["envoy.config.bootstrap.v3.Bootstrap", "envoy.admin.v3.ClustersConfigDump", "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"]) {
    assert.equal(messageType(name).fullName, "." + name.replace("type.googleapis.com/", ""));
  }
  assert.throws(() => messageType("envoy.config.listener.v3.NoSuchThing"), (e) => e instanceof UnknownTypeError && /unknown type envoy\.config\.listener\.v3\.NoSuchThing/.test(e.message));
  assert.equal(schemaStatus().all, false);
});

test("the checked-in descriptors are what descriptor-gen.ts makes of the .proto files", () => {
  const g = generateDescriptors(reference, v3, referenceAll);
  for (const [name, text] of g.files) {
    assert.ok(readFileSync(join(genDir(), name), "utf8") === text, `src/envoy/gen/${name} is stale: run \`node dist/src/envoy/descriptor-gen.js\``);
  }
});

test("every type has the same wire and JSON shape as parsed from .proto text", () => {
  const root = envoyRoot();
  const names = allNames(reference);
  assert.deepEqual(allNames(root), names);
  for (const n of names) assert.deepEqual(plain(shape(root.lookup(n)!)), plain(shape(reference.lookup(n)!)), n);
});

// ---- the third tier: the rest of Envoy's v3 API ----

const LUA = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua";
const EXT_PROC = "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/** A listener whose HCM lists an optional Lua filter with inline code, as an EnvoyFilter would add it. */
const luaListener: ProtoObject = {
  name: "0.0.0.0_8080",
  filterChains: [
    {
      filters: [
        {
          name: "envoy.filters.network.http_connection_manager",
          typedConfig: {
            "@type": HCM,
            statPrefix: "outbound_0.0.0.0_8080",
            httpFilters: [
              { name: "envoy.filters.http.lua", isOptional: true, typedConfig: { "@type": LUA, defaultSourceCode: { inlineString: "function envoy_on_request(h) h:headers():add('x-lua', '1') end" } } },
              { name: "envoy.filters.http.router", typedConfig: { "@type": ROUTER } },
            ],
          },
        },
      ],
    },
  ],
};

function allReference(type: string): protobuf.Type {
  return referenceAll.lookupType(type.slice(type.lastIndexOf("/") + 1));
}

test("a listener with an optional Lua filter decodes through wire.ts and protobufjs exactly as from the .proto schema", () => {
  const t = allReference(LISTENER_TYPE);
  const bytes = t.encode(t.fromObject(luaListener)).finish();
  const expected = plain(t.toObject(t.decode(bytes), TO_OBJECT));
  assert.equal(schemaStatus().all, false);
  const viaWire = wireDecode(LISTENER_TYPE, bytes);
  assert.equal(schemaStatus().all, true, "the Lua filter's type loaded the third tier");
  assert.deepEqual(plain(viaWire), expected);
  assert.deepEqual(plain(decodeMessage(LISTENER_TYPE, bytes)), expected);
  const lua = ((viaWire.filterChains as ProtoObject[])[0].filters as Array<{ typedConfig: ProtoObject }>)[0].typedConfig.httpFilters as Array<ProtoObject & { typedConfig: ProtoObject }>;
  assert.equal(lua[0].isOptional, true);
  assert.equal(lua[0].typedConfig["@type"], LUA);
  assert.match((lua[0].typedConfig.defaultSourceCode as { inlineString: string }).inlineString, /envoy_on_request/);
  // And back: the same bytes from both encoders.
  assert.deepEqual(Buffer.from(encodeMessage(LISTENER_TYPE, luaListener)), Buffer.from(bytes));
  assert.deepEqual(wireEncode(LISTENER_TYPE, luaListener), Buffer.from(bytes));
});

test("types only the rest of the API has (ext_proc, wasm, Lua) decode by type URL; a raw Any of one unpacks", () => {
  const t = allReference(EXT_PROC);
  const obj = { grpcService: { envoyGrpc: { clusterName: "ext-proc" } }, processingMode: { requestHeaderMode: "SEND", responseBodyMode: "STREAMED" }, failureModeAllow: true };
  const bytes = t.encode(t.fromObject(obj)).finish();
  assert.deepEqual(plain(wireDecode(EXT_PROC, bytes)), plain(t.toObject(t.decode(bytes), TO_OBJECT)));
  assert.deepEqual(plain(unpackAny({ type_url: EXT_PROC, value: bytes })), { "@type": EXT_PROC, ...(plain(obj) as object) });
  const wasm = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
  assert.equal(messageType(wasm).fullName, ".envoy.extensions.filters.http.wasm.v3.Wasm");
});

test("a type URL no tier has is an UnknownTypeError naming it; an Any of one keeps its bytes until unpacked", () => {
  const t = allReference(LISTENER_TYPE);
  const any = referenceAll.lookupType("google.protobuf.Any");
  const msg = t.decode(t.encode(t.fromObject(luaListener)).finish()) as unknown as { filterChains: Array<{ filters: Array<{ typedConfig: unknown }> }> };
  msg.filterChains[0].filters[0].typedConfig = any.create({ type_url: "type.googleapis.com/example.filters.Nope", value: new Uint8Array([8, 1]) });
  const bytes = t.encode(msg as never).finish();
  const filter = (wireDecode(LISTENER_TYPE, bytes).filterChains as Array<{ filters: Array<{ typedConfig: ProtoObject }> }>)[0].filters[0];
  assert.deepEqual(plain(filter.typedConfig), plain({ type_url: "type.googleapis.com/example.filters.Nope", value: Buffer.from([8, 1]) }));
  const named = (e: unknown) => e instanceof UnknownTypeError && e.typeUrl === "type.googleapis.com/example.filters.Nope" && e.message.includes("type.googleapis.com/example.filters.Nope");
  assert.throws(() => unpackAny(filter.typedConfig), named);
  assert.throws(() => wireDecode("type.googleapis.com/example.filters.Nope", new Uint8Array()), named);
  assert.throws(() => decodeMessage("type.googleapis.com/example.filters.Nope", new Uint8Array()), named);
  // A type of Envoy's API whose .proto imports one the deps lack: unknown too, and the error says why.
  const otel = "type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig";
  assert.throws(() => messageType(otel), (e) => e instanceof UnknownTypeError && /opentelemetry\/proto\/common\/v1\/common\.proto/.test(e.message));
});

test("isKnownType: every tier's types, and nothing else", () => {
  const table: Array<[string, boolean]> = [
    [LISTENER_TYPE, true], // the proxy's
    ["type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC", true], // the proxy's (issue 14)
    [LUA, true], // the rest of the API
    [EXT_PROC, true],
    ["envoy.extensions.filters.http.wasm.v3.Wasm", true],
    ["type.googleapis.com/example.filters.Nope", false],
    ["envoy.config.cluster.v3.Cluster.LbPolicy", false], // an enum, not a message
    ["type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig", false],
    ["", false],
  ];
  for (const [url, known] of table) assert.equal(isKnownType(url), known, url);
  // Which files were left out, and why: only those importing protos the deps lack.
  assert.deepEqual([...v3.skipped.keys()].sort(), [
    "envoy/config/trace/v3/opencensus.proto",
    "envoy/config/trace/v3/trace.proto",
    "envoy/extensions/access_loggers/open_telemetry/v3/logs_service.proto",
    "envoy/service/metrics/v3/metrics_service.proto",
    "envoy/service/trace/v3/trace_service.proto",
  ]);
  assert.ok(v3.files.length > 300, `${v3.files.length} loadable v3 files`);
});

test("after the third tier loads, every type of Envoy's v3 API has the shape it has when parsed from .proto text", () => {
  messageType(LUA);
  const root = envoyRoot();
  const names = allNames(referenceAll);
  assert.deepEqual(allNames(root).sort(), [...names].sort());
  for (const n of names) assert.deepEqual(plain(shape(root.lookup(n)!)), plain(shape(referenceAll.lookup(n)!)), n);
});

test("a sidecar's codec loads only the proxy's schema; the full set and the rest load when a config names their types", () => {
  // A fresh process, counting the modules it loads (the generated descriptors are CommonJS).
  const t = allReference(LISTENER_TYPE);
  const listener = (filter: ProtoObject) => Buffer.from(t.encode(t.fromObject({ name: "l", filterChains: [{ filters: [filter] }] })).finish()).toString("base64");
  const statsd = listener({ name: "statsd", typedConfig: { "@type": "type.googleapis.com/envoy.config.metrics.v3.StatsdSink", prefix: "r" } });
  const lua = listener((luaListener.filterChains as Array<{ filters: ProtoObject[] }>)[0].filters[0]);
  const golden = goldenResources().map(([, type, obj]) => [type, Buffer.from(referenceEncode(type, obj)).toString("base64")]);
  const wire = pathToFileURL(join(genDir(), "..", "..", "..", "dist", "src", "envoy", "wire.js")).href;
  const protos = pathToFileURL(join(genDir(), "..", "..", "..", "dist", "src", "envoy", "protos.js")).href;
  const script = `
    import Module from "node:module";
    const loaded = [];
    const load = Module._load;
    Module._load = function (request, ...rest) {
      if (request === "protobufjs" || request.includes("/gen/")) loaded.push(request.split("/").pop());
      return load.call(this, request, ...rest);
    };
    const { wireDecode } = await import(${JSON.stringify(wire)});
    const { schemaStatus } = await import(${JSON.stringify(protos)});
    const { readFileSync } = await import("node:fs");
    const input = JSON.parse(readFileSync(0, "utf8"));
    const stage = () => ({ loaded: [...new Set(loaded)].sort(), status: schemaStatus() });
    for (const [type, b64] of input.golden) wireDecode(type, Buffer.from(b64, "base64"));
    const sidecar = stage();
    wireDecode(${JSON.stringify(LISTENER_TYPE)}, Buffer.from(input.statsd, "base64"));
    const statsd = stage();
    wireDecode(${JSON.stringify(LISTENER_TYPE)}, Buffer.from(input.lua, "base64"));
    console.log(JSON.stringify({ sidecar, statsd, lua: stage() }));
  `;
  // The resources go through stdin: as one argument they outgrow Linux's 128 KiB argument limit.
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { input: JSON.stringify({ golden, statsd, lua }), encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<"sidecar" | "statsd" | "lua", { loaded: string[]; status: { proxy: boolean; full: boolean; all: boolean } }>;
  // Istio's own filter configs (TypedStruct, stats.PluginConfig) are in no Envoy tier: the codec
  // consults the list of names once to know that, and loads no descriptor.
  assert.deepEqual(out.sidecar.loaded, ["all-names.cjs", "proxy-wire.cjs"], "bookinfo's xDS needs the proxy's compact schema only (no protobufjs)");
  assert.deepEqual(out.sidecar.status, { proxy: false, full: false, all: false });
  for (const m of ["full-descriptor.cjs", "protobufjs"]) assert.ok(out.statsd.loaded.includes(m), `StatsdSink (a full-set type) loads ${m}`);
  assert.ok(!out.statsd.loaded.includes("all-descriptor.cjs"), "StatsdSink does not load all-descriptor.cjs");
  assert.equal(out.statsd.status.full, true);
  assert.equal(out.statsd.status.all, false);
  for (const m of ["all-names.cjs", "all-descriptor.cjs"]) assert.ok(out.lua.loaded.includes(m), `Lua (a type of the rest of the API) loads ${m}`);
  assert.equal(out.lua.status.all, true);
});
