// Envoy's v3 protos (the copy @grpc/grpc-js-xds ships, deps/), so the control plane, the proxy and
// the tests all speak exactly the schema a real xDS client uses. Resources are handled as plain
// objects in protobufjs' camelCase form ("typed objects"); a nested Any is written as
// { "@type": TYPE_URL, ...fields }.
//
// Loading is lazy and cheap: nothing (not even protobufjs) is loaded until a message type is first
// needed, and the schema comes from JSON descriptors generated from the .proto files
// (descriptor-gen.ts → gen/*.cts) rather than from parsing .proto text. Three tiers: messageType()
// serves the types the proxy uses from a small descriptor; any other type (and envoyRoot()) loads
// the full set (PROTO_FILES) once; a type only the rest of Envoy's v3 API has (a Lua or ext_proc
// filter…) adds that third tier to the full set, once — looked up in a list of names first, so an
// unknown type loads nothing big. All of this also from inside an Any, so decoding and encoding
// give exactly what the full set gives. A type no tier has is an UnknownTypeError naming it.
// The proxy's ADS client does not use this module's protobufjs path at all: wire.ts decodes and
// encodes the same typed objects from a compact schema.
import { createRequire } from "node:module";
import type * as protobuf from "protobufjs";
import type { AnyOf, google, Messages } from "./gen/types.js";

const require = createRequire(import.meta.url);

let pb: typeof protobuf | undefined;

/** protobufjs itself, loaded on first use (a process that never decodes never pays for it). */
export function protobufjs(): typeof protobuf {
  return (pb ??= require("protobufjs") as typeof protobuf);
}

export const TYPE_PREFIX = "type.googleapis.com/";

/** xDS resource type URLs (the ones ADS serves). */
export const LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener";
export const ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
export const CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
export const ENDPOINT_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
export const SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/** Short names for logs, metrics (istiod's `type` label) and debug pages. */
export const TYPE_SHORT_NAMES: Readonly<Record<string, string>> = {
  [LISTENER_TYPE]: "lds",
  [ROUTE_TYPE]: "rds",
  [CLUSTER_TYPE]: "cds",
  [ENDPOINT_TYPE]: "eds",
  [SECRET_TYPE]: "sds",
};

/** The order a push sends types in: make before break (clusters and endpoints before their users). */
export const PUSH_ORDER: readonly string[] = [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE];

/** Per-type entries in push order (make before break: CDS, EDS, LDS, RDS, SDS), then any others. */
export function inPushOrder<T>(byType: ReadonlyMap<string, T>): T[] {
  const out: T[] = [];
  for (const t of PUSH_ORDER) {
    const v = byType.get(t);
    if (v !== undefined) out.push(v);
  }
  for (const [t, v] of byType) if (!PUSH_ORDER.includes(t)) out.push(v);
  return out;
}

/** envoy.config.core.v3.Node as ADS requests carry it, metadata as plain JSON (proto3 JSON mapping). */
export interface XdsNode {
  id: string;
  cluster?: string;
  /** The node's metadata Struct as plain JSON (`{ GENERATOR: "grpc" }`). */
  metadata?: Record<string, unknown>;
  locality?: { region?: string; zone?: string; subZone?: string };
  userAgentName?: string;
  userAgentVersion?: string;
}

// The ADS gRPC service and its messages (shared by the server and the proxy's client).
export const ADS_SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService";
export const SOTW_METHOD_PATH = `/${ADS_SERVICE}/StreamAggregatedResources`;
export const DELTA_METHOD_PATH = `/${ADS_SERVICE}/DeltaAggregatedResources`;
export const DISCOVERY_REQUEST = "envoy.service.discovery.v3.DiscoveryRequest";
export const DISCOVERY_RESPONSE = "envoy.service.discovery.v3.DiscoveryResponse";
export const DELTA_DISCOVERY_REQUEST = "envoy.service.discovery.v3.DeltaDiscoveryRequest";
export const DELTA_DISCOVERY_RESPONSE = "envoy.service.discovery.v3.DeltaDiscoveryResponse";

let fullRoot: protobuf.Root | undefined;
let proxyRoot: protobuf.Root | undefined;
let fullOnly: Set<string> | undefined;
/** Whether the rest of the API (gen/all-descriptor.cts) has been added to fullRoot. */
let allLoaded = false;
let tierNames: { full: Set<string>; allOnly: Set<string>; unavailable: Record<string, string> } | undefined;

/**
 * A type URL (or name) no descriptor tier has: not a message of Envoy's v3 API as
 * @grpc/grpc-js-xds ships it (or one whose .proto could not be loaded: `reason` says why).
 */
export class UnknownTypeError extends Error {
  constructor(
    readonly typeUrl: string,
    readonly reason?: string,
  ) {
    super(`unknown type ${typeUrl}: ${reason ?? "not a message type of Envoy's v3 API (or the protos it uses)"}`);
    this.name = "UnknownTypeError";
  }
}

/** A Root from a generated descriptor: added without resolveAll (types resolve when first used). */
function rootFromDescriptor(json: string): protobuf.Root {
  const pbjs = protobufjs();
  const r = new pbjs.Root();
  r.addJSON((JSON.parse(json) as { nested: Record<string, protobuf.AnyNestedObject> }).nested);
  // Editions features (proto3 packing, presence) are resolved by resolveAll, which we skip.
  r._resolveFeaturesRecursive("proto2");
  for (const n of r.nestedArray) setUp(pbjs, n);
  return r;
}

/** Readies a type, enum or namespace added from a descriptor (and what it nests) for use. */
function setUp(pbjs: typeof protobuf, o: protobuf.ReflectionObject): void {
  if (o instanceof pbjs.Type) setupLazily(pbjs, o);
  if (o instanceof pbjs.Enum && o.options?.allow_alias) {
    // Parsed from .proto, an aliased number's name is the first declared; Enum.fromJSON keeps the last.
    const byId: Record<number, string> = {};
    for (const [name, id] of Object.entries(o.values)) byId[id] ??= name;
    Object.assign(o.valuesById, byId);
  }
  if (o instanceof pbjs.Namespace) for (const n of o.nestedArray) setUp(pbjs, n);
}

type Generated = (...args: unknown[]) => unknown;

/**
 * protobufjs generates all five of a type's functions (encode, decode, verify, fromObject,
 * toObject) the first time any one is used; decoding needs two of them. This installs each as a
 * stub generating only itself — the same code protobufjs' Type#setup generates (its encoder,
 * decoder, verifier and converter, with the same scope), so behaviour is unchanged. Types with a
 * custom wrapper (google.protobuf.Any) keep protobufjs' own setup.
 */
function setupLazily(pbjs: typeof protobuf, type: protobuf.Type): void {
  if (pbjs.wrappers[type.fullName]) return;
  let types: Array<protobuf.Type | protobuf.Enum | null> | undefined;
  const fieldTypes = () => (types ??= type.fieldsArray.map((f) => f.resolve().resolvedType));
  const t = type as unknown as Record<string, Generated>;
  const lazy = (name: string, make: () => Generated) => {
    t[name] = function (this: unknown, ...args: unknown[]) {
      const fn = make();
      t[name] = fn;
      return fn.apply(type, args);
    };
  };
  const { util, Reader, Writer } = pbjs;
  lazy("encode", () => pbjs.encoder(type)({ Writer, types: fieldTypes(), util }) as Generated);
  lazy("decode", () => pbjs.decoder(type)({ Reader, types: fieldTypes(), util }) as Generated);
  lazy("verify", () => pbjs.verifier(type)({ types: fieldTypes(), util }) as Generated);
  lazy("fromObject", () => pbjs.converter.fromObject(type)({ types: fieldTypes(), util }) as Generated);
  lazy("toObject", () => pbjs.converter.toObject(type)({ types: fieldTypes(), util }) as Generated);
}

/** A generated descriptor module, let go of once read (its source and JSON text would stay in memory). */
function readGenerated<T>(path: string): T {
  const resolved = require.resolve(path);
  const mod = require(resolved) as T;
  delete require.cache[resolved];
  return mod;
}

type Lookup = (this: protobuf.ReflectionObject, path: string | string[], ...rest: unknown[]) => protobuf.ReflectionObject | null;

const fullName = (path: string | string[]): string => {
  const name = Array.isArray(path) ? path.join(".") : path;
  return name.startsWith(".") ? name.slice(1) : name;
};

/** The protobufjs Root with every Envoy type tsmesh uses (loaded on first call). */
export function envoyRoot(): protobuf.Root {
  if (fullRoot) return fullRoot;
  // Loaded only on demand (the proxy's own types come from the small descriptor).
  const r = rootFromDescriptor(readGenerated<typeof import("./gen/full-descriptor.cjs")>("./gen/full-descriptor.cjs").FULL_DESCRIPTOR);
  // An Any of a type only the rest of the API has loads that tier, then resolves as usual.
  const any = r.lookupType("google.protobuf.Any");
  const ownLookup = any.lookup as Lookup;
  const lookup: Lookup = function (this: protobuf.ReflectionObject, path, ...rest) {
    const found = ownLookup.call(this, path, ...rest);
    if (found || allLoaded || !isAllOnly(fullName(path))) return found;
    loadAllTier();
    return ownLookup.call(this, path, ...rest);
  };
  any.lookup = lookup as typeof any.lookup;
  fullRoot = r;
  return r;
}

function names(): NonNullable<typeof tierNames> {
  if (tierNames) return tierNames;
  const m = readGenerated<typeof import("./gen/all-names.cjs")>("./gen/all-names.cjs");
  tierNames = { full: new Set(m.FULL_TYPES.split(" ")), allOnly: new Set(m.ALL_ONLY_TYPES.split(" ")), unavailable: JSON.parse(m.UNAVAILABLE) as Record<string, string> };
  return tierNames;
}

const stripPrefix = (nameOrUrl: string): string => nameOrUrl.slice(nameOrUrl.lastIndexOf("/") + 1);

/** Whether only the third tier (the rest of Envoy's v3 API) has this message type. */
export function isAllOnly(nameOrUrl: string): boolean {
  return names().allOnly.has(stripPrefix(nameOrUrl));
}

/**
 * Whether some descriptor tier has this message type (full name or type URL), i.e. a config naming
 * it can be decoded. Reads the list of names only; no descriptor is loaded.
 */
export function isKnownType(nameOrUrl: string): boolean {
  const n = names();
  const name = stripPrefix(nameOrUrl);
  return n.full.has(name) || n.allOnly.has(name);
}

/** Why a message type of Envoy's v3 API has no descriptor (its .proto imports one the deps lack), if so. */
export function unavailableReason(nameOrUrl: string): string | undefined {
  return names().unavailable[stripPrefix(nameOrUrl)];
}

/** Adds the rest of Envoy's v3 API to the full set (once). */
function loadAllTier(): void {
  if (allLoaded) return;
  const pbjs = protobufjs();
  const root = envoyRoot();
  const json = JSON.parse(readGenerated<typeof import("./gen/all-descriptor.cjs")>("./gen/all-descriptor.cjs").ALL_ONLY_DESCRIPTOR) as { nested: Record<string, JsonNode> };
  const added: protobuf.ReflectionObject[] = [];
  // Packages both tiers share (envoy.config.core.v3…) are entered, not replaced: their types stay as they are.
  const merge = (ns: protobuf.Namespace, nested: Record<string, JsonNode>): void => {
    for (const [k, node] of Object.entries(nested)) {
      const existing = ns.get(k);
      const plain = !node.fields && !node.values && !node.methods;
      if (plain && existing instanceof pbjs.Namespace && !(existing instanceof pbjs.Type) && !(existing instanceof pbjs.Service)) {
        merge(existing, node.nested ?? {});
      } else {
        ns.addJSON({ [k]: node } as Record<string, protobuf.AnyNestedObject>);
        added.push(ns.get(k)!);
      }
    }
  };
  merge(root, json.nested);
  root._resolveFeaturesRecursive("proto2");
  for (const o of added) setUp(pbjs, o);
  allLoaded = true;
}

interface JsonNode {
  fields?: unknown;
  values?: unknown;
  methods?: unknown;
  nested?: Record<string, JsonNode>;
}

/** Names only the full set has (read with the proxy's descriptor). */
function isFullOnly(name: string): boolean {
  // The names only: a type the full set serves needs no proxy Root built.
  fullOnly ??= new Set(readGenerated<typeof import("./gen/proxy-descriptor.cjs")>("./gen/proxy-descriptor.cjs").FULL_ONLY_NAMES.split(" "));
  return fullOnly.has(name);
}

/**
 * The proxy's types. Its google.protobuf.Any looks a payload type up in the full set when the
 * small one lacks it (protobufjs resolves Any payloads by name when converting), so an Any of,
 * say, an RBAC filter decodes to the same typed object it always did.
 */
function proxyTypes(): protobuf.Root {
  if (proxyRoot) return proxyRoot;
  const { PROXY_DESCRIPTOR, FULL_ONLY_NAMES } = readGenerated<typeof import("./gen/proxy-descriptor.cjs")>("./gen/proxy-descriptor.cjs");
  fullOnly ??= new Set(FULL_ONLY_NAMES.split(" "));
  const r = rootFromDescriptor(PROXY_DESCRIPTOR);
  const any = r.lookupType("google.protobuf.Any");
  const ownLookup = any.lookup as Lookup;
  const lookup: Lookup = function (this: protobuf.ReflectionObject, path, ...rest) {
    const found = ownLookup.call(this, path, ...rest);
    if (found) return found;
    const name = fullName(path);
    if (!isFullOnly(name) && !isAllOnly(name)) return null;
    const fullAny = envoyRoot().lookupType("google.protobuf.Any");
    return (fullAny.lookup as Lookup).call(fullAny, path, ...rest);
  };
  any.lookup = lookup as typeof any.lookup;
  proxyRoot = r;
  return r;
}

/** Which schemas this process has loaded so far (the proxy's subset, the full set, the rest of the API). */
export function schemaStatus(): { proxy: boolean; full: boolean; all: boolean } {
  return { proxy: proxyRoot !== undefined, full: fullRoot !== undefined, all: allLoaded };
}

const typeCache = new Map<string, protobuf.Type>();

/** The message type for a full name ("envoy.config.cluster.v3.Cluster") or a type URL. */
export function messageType(nameOrUrl: string): protobuf.Type {
  const cached = typeCache.get(nameOrUrl);
  if (cached) return cached;
  const name = stripPrefix(nameOrUrl);
  const Type = protobufjs().Type;
  // Once the full set is loaded it serves every type; until then the proxy's set does what it can.
  const own = fullRoot || isFullOnly(name) ? undefined : proxyTypes().lookup(name, Type);
  let found = own ?? envoyRoot().lookup(name, Type);
  if (!found && !allLoaded && isAllOnly(name)) {
    loadAllTier();
    found = envoyRoot().lookup(name, Type);
  }
  if (!(found instanceof Type)) throw new UnknownTypeError(nameOrUrl, unavailableReason(name));
  typeCache.set(nameOrUrl, found);
  return found;
}

/** A typed object in protobufjs' camelCase form. */
export type ProtoObject = Record<string, unknown>;

/** Wraps a typed object as an Any: `{ "@type": URL, ...fields }`. */
export function anyOf<N extends keyof Messages>(typeName: N, fields: Messages[N]): AnyOf<N> {
  return { "@type": `${TYPE_PREFIX}${typeName}`, ...fields } as unknown as AnyOf<N>;
}

/** Whether an Any holds a message of type `typeName` (and so has that message's fields). */
export function isAnyOf<N extends keyof Messages>(any: google.protobuf.Any | undefined, typeName: N): any is AnyOf<N> {
  return any?.["@type"] === `${TYPE_PREFIX}${typeName}`;
}

/** Encodes a typed object of the given type (URL or full name) to protobuf bytes. */
export function encodeMessage(typeNameOrUrl: string, obj: object): Uint8Array {
  const t = messageType(typeNameOrUrl);
  return t.encode(t.fromObject(obj as ProtoObject)).finish();
}

/** Options that turn decoded messages back into the typed-object form generators write. */
export const TO_OBJECT: protobuf.IConversionOptions = { enums: String, longs: Number, json: true, defaults: false };

/** Decodes protobuf bytes to a typed object. */
export function decodeMessage(typeNameOrUrl: string, bytes: Uint8Array): ProtoObject {
  const t = messageType(typeNameOrUrl);
  return t.toObject(t.decode(bytes), TO_OBJECT) as ProtoObject;
}

/**
 * A google.protobuf.Duration from milliseconds, without proto3 default fields (zero is `{}`), so
 * the typed object equals what decoding gives back.
 */
export function duration(ms: number): google.protobuf.Duration {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  const d: google.protobuf.Duration = {};
  if (seconds) d.seconds = seconds;
  if (nanos) d.nanos = nanos;
  return d;
}

/** Milliseconds from a google.protobuf.Duration in typed-object form (or undefined). */
export function durationMs(d: unknown): number | undefined {
  if (!d || typeof d !== "object") return undefined;
  const { seconds, nanos } = d as { seconds?: number | string; nanos?: number };
  return Number(seconds ?? 0) * 1000 + Number(nanos ?? 0) / 1e6;
}

/** A plain JSON value (a Struct's contents). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

function structValue(v: JsonValue): google.protobuf.Value {
  if (v === null) return { nullValue: "NULL_VALUE" };
  if (typeof v === "boolean") return { boolValue: v };
  if (typeof v === "number") return { numberValue: v };
  if (typeof v === "string") return { stringValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(structValue) } };
  return { structValue: struct(v) };
}

/** A google.protobuf.Struct in typed-object form from plain JSON (protobufjs has no JSON mapping for it). */
export function struct(obj: { [k: string]: JsonValue }): google.protobuf.Struct {
  const fields: Record<string, google.protobuf.Value> = {};
  for (const [k, v] of Object.entries(obj)) fields[k] = structValue(v);
  return { fields };
}

/** Plain JSON from a google.protobuf.Struct in typed-object form. */
export function fromStruct(s: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields = (s as { fields?: Record<string, ProtoObject> } | undefined)?.fields ?? {};
  for (const [k, v] of Object.entries(fields)) out[k] = fromStructValue(v);
  return out;
}

/**
 * Envoy's ValueUtil::equal for google.protobuf.Values in typed-object form: the same kind with equal
 * contents (structs field by field, lists in order); two values of no kind are equal.
 */
export function valueEqual(a: google.protobuf.Value, b: google.protobuf.Value): boolean {
  if (a.stringValue !== undefined || b.stringValue !== undefined) return a.stringValue === b.stringValue;
  if (a.numberValue !== undefined || b.numberValue !== undefined) return a.numberValue === b.numberValue;
  if (a.boolValue !== undefined || b.boolValue !== undefined) return a.boolValue === b.boolValue;
  if (a.nullValue !== undefined || b.nullValue !== undefined) return a.nullValue !== undefined && b.nullValue !== undefined;
  if (a.structValue !== undefined || b.structValue !== undefined) {
    if (a.structValue === undefined || b.structValue === undefined) return false;
    const x = a.structValue.fields ?? {};
    const y = b.structValue.fields ?? {};
    const keys = Object.keys(x);
    return keys.length === Object.keys(y).length && keys.every((k) => Object.hasOwn(y, k) && valueEqual(x[k], y[k]));
  }
  if (a.listValue !== undefined || b.listValue !== undefined) {
    if (a.listValue === undefined || b.listValue === undefined) return false;
    const x = a.listValue.values ?? [];
    const y = b.listValue.values ?? [];
    return x.length === y.length && x.every((v, i) => valueEqual(v, y[i]));
  }
  return true;
}

/** Plain JSON from a google.protobuf.Value in typed-object form. */
export function fromStructValue(v: ProtoObject): unknown {
  if ("stringValue" in v) return v.stringValue;
  if ("numberValue" in v) return v.numberValue;
  if ("boolValue" in v) return v.boolValue;
  if ("listValue" in v) return ((v.listValue as { values?: ProtoObject[] }).values ?? []).map(fromStructValue);
  if ("structValue" in v) return fromStruct(v.structValue);
  return null;
}
