// proto3 JSON (YAML/JSON text as users write Envoy config: snake_case or camelCase names, durations
// as "1.5s", wrapper types as bare values, Struct as plain JSON, Any as {"@type", ...}) read into the
// typed-object form the generators and the proxy use. Driven by the descriptors (protos.ts, any
// tier), so an unknown field or type is an error naming its path, as Envoy reports it. A
// TypedStruct Any (udpa.type.v1 / xds.type.v3: `type_url` + `value`) becomes the Any of the type it
// names, which is what Envoy does with one in a typed_config. Shared by the proxy's bootstrap and
// the control plane's EnvoyFilter patches.
import type * as protobuf from "protobufjs";
import { encodeMessage, messageType, protobufjs, type ProtoObject, struct, type JsonValue } from "./protos.js";

/** A value that does not fit the message type; `path` is where (JSON path from the caller's root). */
export class ProtoJsonError extends Error {}

const WRAPPERS = new Set(["DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value", "BoolValue", "StringValue", "BytesValue"]);
const TYPED_STRUCTS = new Set(["type.googleapis.com/udpa.type.v1.TypedStruct", "type.googleapis.com/xds.type.v3.TypedStruct"]);

/** While one fromProtoJson call runs: which TypedStruct inner types without a descriptor stay TypedStructs. */
let keepTypedStruct: ((innerUrl: string) => boolean) | undefined;

/** One length-delimited protobuf field (tag, varint length, bytes). */
function lengthDelimited(field: number, bytes: Uint8Array): Buffer {
  const head = [(field << 3) | 2];
  let n = bytes.length;
  while (n >= 0x80) {
    head.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  head.push(n);
  return Buffer.concat([Buffer.from(head), bytes]);
}

/** A TypedStruct's bytes: the inner type URL and its fields as a google.protobuf.Struct. */
export function typedStructBytes(innerUrl: string, fields: Readonly<Record<string, unknown>>): Buffer {
  return Buffer.concat([lengthDelimited(1, Buffer.from(innerUrl)), lengthDelimited(2, encodeMessage("google.protobuf.Struct", struct(fields as { [k: string]: JsonValue })))]);
}

const camel = (s: string) => s.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
const jsonCamel = (s: string) => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

/** The protobufjs field name of `k` written as the proto name or its proto3 JSON name. */
function fieldByJsonName(t: protobuf.Type, k: string): string | undefined {
  const want = jsonCamel(k);
  for (const name of Object.keys(t.fields)) if (jsonCamel(name) === want) return name;
  return undefined;
}

function durationFromJson(v: unknown, path: string): ProtoObject {
  if (typeof v === "object" && v !== null) return v as ProtoObject;
  const m = /^(-?\d+(?:\.\d+)?)s$/.exec(String(v));
  if (!m) throw new ProtoJsonError(`${path}: invalid duration ${JSON.stringify(v)} (use e.g. "0.25s")`);
  const secs = Number(m[1]);
  const seconds = Math.trunc(secs);
  const nanos = Math.round((secs - seconds) * 1e9);
  const out: ProtoObject = {};
  if (seconds) out.seconds = seconds;
  if (nanos) out.nanos = nanos;
  return out;
}

function convertValue(field: protobuf.Field, v: unknown, path: string): unknown {
  const rt = field.resolvedType;
  if (!(rt instanceof protobufjs().Type)) return v; // scalars and enums (names) pass through
  return convertMessage(rt, v, path);
}

function convertAny(src: Record<string, unknown>, path: string): ProtoObject {
  let url = src["@type"];
  let body: Record<string, unknown> = { ...src };
  delete body["@type"];
  if (typeof url === "string" && TYPED_STRUCTS.has(url)) {
    const inner = src.type_url ?? src.typeUrl;
    if (typeof inner !== "string" || inner === "") throw new ProtoJsonError(`${path}.type_url: a TypedStruct needs the type URL of its value`);
    const value = src.value ?? {};
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ProtoJsonError(`${path}.value: expected an object`);
    // A type no descriptor has (Istio's own filters' configs) stays the TypedStruct it came in, as
    // bytes, when the caller knows who reads it (the proxy expands those as it does xDS ones).
    if (keepTypedStruct?.(inner)) {
      return { type_url: url, value: typedStructBytes(inner, value as Record<string, unknown>) };
    }
    url = inner;
    body = value as Record<string, unknown>;
    path = `${path}.value`;
  }
  if (typeof url !== "string") throw new ProtoJsonError(`${path}: an Any needs "@type"`);
  let t: protobuf.Type;
  try {
    t = messageType(url);
  } catch {
    throw new ProtoJsonError(`${path}: unknown type ${url}`);
  }
  return { "@type": url, ...(convertMessage(t, body, path) as ProtoObject) };
}

/** proto3 JSON for message type `t` → protobufjs typed-object form. */
function convertMessage(t: protobuf.Type, v: unknown, path: string): unknown {
  const full = t.fullName.replace(/^\./, "");
  if (full === "google.protobuf.Duration") return durationFromJson(v, path);
  if (full === "google.protobuf.Struct" || full === "google.protobuf.Value" || full === "google.protobuf.ListValue") return structFromJson(full, v);
  if (full.startsWith("google.protobuf.") && WRAPPERS.has(t.name)) return typeof v === "object" && v !== null ? v : { value: v };
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ProtoJsonError(`${path}: expected an object for ${full}`);
  const src = v as Record<string, unknown>;
  if (full === "google.protobuf.Any") return convertAny(src, path);
  const out: ProtoObject = {};
  for (const [k, raw] of Object.entries(src)) {
    // protobufjs names fields lowerCamel for letters only (consecutive_5xx stays as is), proto3
    // JSON also folds digits (consecutive5xx): accept the snake name and both camel forms.
    let name = camel(k);
    if (!t.fields[name]) name = fieldByJsonName(t, k) ?? name;
    const field = t.fields[name];
    const p = `${path}.${k}`;
    if (!field) throw new ProtoJsonError(`${p}: unknown field of ${full}`);
    field.resolve();
    if (field instanceof protobufjs().MapField) {
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new ProtoJsonError(`${p}: expected a map`);
      const m: Record<string, unknown> = {};
      for (const [mk, mv] of Object.entries(raw as Record<string, unknown>)) m[mk] = convertValue(field, mv, `${p}.${mk}`);
      out[name] = m;
    } else if (field.repeated) {
      if (!Array.isArray(raw)) throw new ProtoJsonError(`${p}: expected a list`);
      out[name] = raw.map((x, i) => convertValue(field, x, `${p}[${i}]`));
    } else out[name] = convertValue(field, raw, p);
  }
  return out;
}

function structFromJson(full: string, v: unknown): unknown {
  const value = (x: unknown): ProtoObject => {
    if (x === null) return { nullValue: "NULL_VALUE" };
    if (typeof x === "number") return { numberValue: x };
    if (typeof x === "string") return { stringValue: x };
    if (typeof x === "boolean") return { boolValue: x };
    if (Array.isArray(x)) return { listValue: { values: x.map(value) } };
    return { structValue: { fields: Object.fromEntries(Object.entries(x as object).map(([k, y]) => [k, value(y)])) } };
  };
  if (full === "google.protobuf.Value") return value(v);
  if (full === "google.protobuf.ListValue") return { values: (v as unknown[]).map(value) };
  return { fields: Object.fromEntries(Object.entries((v ?? {}) as object).map(([k, y]) => [k, value(y)])) };
}

/**
 * proto3 JSON of message type `typeName` (full name or type URL) → typed object, not yet
 * normalized (callers that need the decoded form round-trip it through encode/decode).
 */
export function fromProtoJson(typeName: string, value: unknown, path: string, keepTypedStructs?: (innerUrl: string) => boolean): ProtoObject {
  const outer = keepTypedStruct;
  keepTypedStruct = keepTypedStructs;
  try {
    return convertMessage(messageType(typeName), value ?? {}, path) as ProtoObject;
  } finally {
    keepTypedStruct = outer;
  }
}
