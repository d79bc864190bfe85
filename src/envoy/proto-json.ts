// Typed objects → proto3 JSON with the proto field names, as Envoy's admin prints config
// (/config_dump: `dynamic_active_clusters`, `lb_policy`, `typed_config`, `consecutive_5xx`). Driven by
// the descriptors (protos.ts, any tier): field names become the .proto names; an Any's payload is
// converted by its own type; the well-known types take their proto3 JSON forms (Duration "1.500s",
// Timestamp RFC 3339, wrappers as bare values, Struct/Value as plain JSON, FieldMask as a string);
// 64-bit integers are decimal strings and bytes base64, as protobuf's JSON printer writes them.
// Map keys and Struct contents are left as they are. Like Envoy (always_print_primitive_fields
// off), a scalar without presence that holds its default is not printed.
import type * as protobuf from "protobufjs";
import { fromStruct, fromStructValue, messageType, type ProtoObject } from "./protos.js";

/**
 * The .proto name of a field from protobufjs' camelCase name: protobufjs only upper-cases a letter
 * after "_" (`consecutive_5xx` stays), so this inverts it for every field of Envoy's API — which
 * test/envoy/descriptors.test.ts checks against the .proto files parsed with their own names.
 */
export function protoFieldName(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

const LONG_KINDS = new Set(["int64", "uint64", "sint64", "fixed64", "sfixed64"]);
const WRAPPERS = new Set(["DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value", "BoolValue", "StringValue", "BytesValue"]);
const WRAPPER_KINDS: Readonly<Record<string, string>> = {
  DoubleValue: "double",
  FloatValue: "float",
  Int64Value: "int64",
  UInt64Value: "uint64",
  Int32Value: "int32",
  UInt32Value: "uint32",
  BoolValue: "bool",
  StringValue: "string",
  BytesValue: "bytes",
};
const DEFAULTS: Readonly<Record<string, unknown>> = { bool: false, string: "" };

function base64(v: unknown): string {
  if (typeof v === "string") return v; // already base64 (fromObject's input form)
  return Buffer.from(v as Uint8Array).toString("base64");
}

function scalarJson(kind: string, v: unknown): unknown {
  if (LONG_KINDS.has(kind)) return String(v); // a number, a decimal string or a Long
  if (kind === "bytes") return base64(v);
  return v;
}

/** protobuf's rendering of a fraction of a second: 0, 3, 6 or 9 digits. */
function fraction(nanos: number): string {
  if (!nanos) return "";
  const s = String(nanos).padStart(9, "0");
  return "." + (s.endsWith("000000") ? s.slice(0, 3) : s.endsWith("000") ? s.slice(0, 6) : s);
}

/** google.protobuf.Duration → "1.500s" (negative: "-0.250s"). */
export function durationJson(d: { seconds?: number | string; nanos?: number }): string {
  const seconds = Number(d.seconds ?? 0);
  const nanos = Number(d.nanos ?? 0);
  const negative = seconds < 0 || nanos < 0;
  return `${negative ? "-" : ""}${Math.abs(seconds)}${fraction(Math.abs(nanos))}s`;
}

/** google.protobuf.Timestamp → RFC 3339 in UTC ("2024-05-01T10:00:00.123Z"). */
export function timestampJson(t: { seconds?: number | string; nanos?: number }): string {
  const seconds = Number(t.seconds ?? 0);
  const nanos = Number(t.nanos ?? 0);
  const iso = new Date(seconds * 1000).toISOString(); // "…T10:00:00.000Z"
  return `${iso.slice(0, 19)}${fraction(nanos)}Z`;
}

/** A typed object of `type` as proto3 JSON with proto field names. */
function messageJson(type: protobuf.Type, obj: ProtoObject, path: string): unknown {
  const full = type.fullName.slice(1);
  switch (full) {
    case "google.protobuf.Any":
      return anyJson(obj, path);
    case "google.protobuf.Duration":
      return durationJson(obj);
    case "google.protobuf.Timestamp":
      return timestampJson(obj);
    case "google.protobuf.Struct":
      return fromStruct(obj);
    case "google.protobuf.Value":
      return fromStructValue(obj);
    case "google.protobuf.ListValue":
      return ((obj.values ?? []) as ProtoObject[]).map(fromStructValue);
    case "google.protobuf.FieldMask":
      return ((obj.paths ?? []) as string[]).join(",");
  }
  if (full.startsWith("google.protobuf.") && WRAPPERS.has(type.name)) {
    const kind = WRAPPER_KINDS[type.name];
    return scalarJson(kind, obj.value ?? DEFAULTS[kind] ?? (kind === "bytes" ? "" : 0));
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined || v === null) continue;
    const field = type.fields[k];
    if (!field) throw new Error(`${path}.${k}: not a field of ${full}`);
    field.resolve();
    const name = protoFieldName(k);
    const at = `${path}.${name}`;
    const one = (x: unknown, p: string): unknown => {
      const rt = field.resolvedType;
      if (rt && "fields" in rt) return messageJson(rt as protobuf.Type, x as ProtoObject, p);
      return rt ? x : scalarJson(field.type, x); // enum names stay names
    };
    if (field.map) {
      const m: Record<string, unknown> = {};
      for (const [mk, mv] of Object.entries(v as object)) m[mk] = one(mv, `${at}[${mk}]`);
      out[name] = m;
    } else if (field.repeated) {
      if ((v as unknown[]).length) out[name] = (v as unknown[]).map((x, i) => one(x, `${at}[${i}]`));
    } else if (field.hasPresence || !isDefault(field, v)) out[name] = one(v, at);
  }
  return out;
}

/** A proto3 scalar or enum without presence at its default value (not printed, as by protobuf). */
function isDefault(field: protobuf.Field, v: unknown): boolean {
  const rt = field.resolvedType;
  if (rt && "fields" in rt) return false;
  if (rt) return v === 0 || v === (rt as protobuf.Enum).valuesById[0];
  if (field.type === "bytes") return (v as { length?: number }).length === 0;
  if (LONG_KINDS.has(field.type)) return Number(v) === 0;
  return v === (DEFAULTS[field.type] ?? 0);
}

function anyJson(obj: ProtoObject, path: string): unknown {
  const url = obj["@type"];
  if (typeof url !== "string") {
    // A payload of a type no schema has: its URL and bytes.
    return { "@type": obj.type_url ?? "", value: obj.value === undefined ? "" : base64(obj.value) };
  }
  const { "@type": _t, ...rest } = obj;
  const inner = messageType(url);
  const json = messageJson(inner, rest, `${path}<${inner.name}>`);
  // Payloads with a special JSON form (Duration, Struct, wrappers…) sit under "value".
  if (typeof json !== "object" || json === null || Array.isArray(json) || inner.fullName.startsWith(".google.protobuf.")) return { "@type": url, value: json };
  return { "@type": url, ...json };
}

/**
 * A typed object of the given message type (full name or type URL) as proto3 JSON with proto field
 * names — Envoy's admin output. Throws on a key that is not a field of its type.
 */
export function toProtoJson(typeNameOrUrl: string, obj: ProtoObject): unknown {
  const type = messageType(typeNameOrUrl);
  return messageJson(type, obj, type.name);
}
