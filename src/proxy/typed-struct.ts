// Envoy's TypedStruct (udpa.type.v1.TypedStruct, xds.type.v3.TypedStruct) in typed configs: an Any
// that carries a config as JSON (a Struct) and the type URL it is for. Envoy translates it to that
// message wherever it reads an extension's config (translateOpaqueConfig); Istio's EnvoyFilter
// tasks use it (the local rate limit's filter and per-route configs). The proxy expands every one
// in a decoded resource, once, before the resource is validated, so each extension point sees the
// ordinary typed Any; a TypedStruct that does not convert fails the resource (NACK).
import { encodeMessage, fromStruct, type ProtoObject, TYPE_PREFIX } from "../envoy/protos.js";
import { wireDecode } from "../envoy/wire.js";
import { fromProtoJson, typedStructBytes } from "../envoy/proto-json-read.js";

const TYPED_STRUCT = new Set([`${TYPE_PREFIX}udpa.type.v1.TypedStruct`, `${TYPE_PREFIX}xds.type.v3.TypedStruct`]);
/** Nesting bound while walking a resource (decoded resources are trees of bounded depth). */
const MAX_DEPTH = 64;

function varint(b: Uint8Array, at: { i: number }): number {
  let v = 0;
  let shift = 0;
  for (;;) {
    if (at.i >= b.length || shift > 28) throw new Error("malformed TypedStruct");
    const x = b[at.i++];
    v += (x & 0x7f) * 2 ** shift;
    if ((x & 0x80) === 0) return v;
    shift += 7;
  }
}

/**
 * TypedStruct { string type_url = 1; google.protobuf.Struct value = 2; } from its bytes (the same
 * layout as a google.protobuf.Any's type_url and value). Throws on malformed bytes.
 */
export function parseTypeUrlAndValue(bytes: Uint8Array): { typeUrl: string; value: Uint8Array } {
  let typeUrl = "";
  let value: Uint8Array = new Uint8Array(0);
  const at = { i: 0 };
  while (at.i < bytes.length) {
    const key = varint(bytes, at);
    const field = key >>> 3;
    const wire = key & 7;
    if (wire !== 2) {
      if (wire === 0) varint(bytes, at);
      else throw new Error("malformed TypedStruct");
      continue;
    }
    const len = varint(bytes, at);
    if (at.i + len > bytes.length) throw new Error("malformed TypedStruct");
    const chunk = bytes.subarray(at.i, at.i + len);
    at.i += len;
    if (field === 1) typeUrl = Buffer.from(chunk).toString("utf8");
    else if (field === 2) value = chunk;
  }
  return { typeUrl, value };
}

function expandOne(raw: { value?: unknown }, path: string): ProtoObject {
  const bytes = raw.value instanceof Uint8Array ? raw.value : new Uint8Array(0);
  const { typeUrl, value } = parseTypeUrlAndValue(bytes);
  if (!typeUrl) throw new Error(`${path}: TypedStruct without a type_url`);
  const json = fromStruct(wireDecode("google.protobuf.Struct", value));
  const url = typeUrl.includes("/") ? typeUrl : TYPE_PREFIX + typeUrl;
  // Istio's own filters' configs (no Envoy descriptor): kept as the JSON, read by the filter's schema.
  if (JSON_TYPED_STRUCTS.has(url)) return { ...(json ?? {}), "@type": url } as ProtoObject;
  // proto3 JSON through the full descriptors (protobufjs, loaded only when a TypedStruct arrives),
  // then decoded with the proxy's own codec. A conversion error names the field.
  return { ...wireDecode(url, encodeMessage(url, fromProtoJson(url, json ?? {}, `${path} (TypedStruct ${typeUrl})`))), "@type": url };
}

/**
 * Type URLs whose TypedStruct is handed to the extension as its JSON fields ({ ...fields, "@type" }):
 * Istio's filters whose messages are not in Envoy's API (istio.metadata_exchange, …). The extension
 * validates the fields with its own strict schema.
 */
const JSON_TYPED_STRUCTS = new Set<string>();

export function registerJsonTypedStruct(typeUrl: string): void {
  JSON_TYPED_STRUCTS.add(typeUrl);
}

/** Whether `typeUrl` is one of those (a bootstrap keeps their TypedStructs for expandTypedStructs). */
export function isJsonTypedStruct(typeUrl: string): boolean {
  return JSON_TYPED_STRUCTS.has(typeUrl.includes("/") ? typeUrl : TYPE_PREFIX + typeUrl);
}

/**
 * A copy of `o` with each JSON TypedStruct config (the ones registered above) back in the TypedStruct
 * it arrived in, as a raw Any (type URL and bytes), as Envoy's config_dump keeps them: their types are
 * in no descriptor to print with, and the proxy's schema leaves TypedStruct itself raw.
 */
export function asReceivedTypedStructs(o: unknown): unknown {
  if (Array.isArray(o)) return o.map(asReceivedTypedStructs);
  if (o === null || typeof o !== "object" || ArrayBuffer.isView(o)) return o;
  const rec = o as Record<string, unknown>;
  const t = rec["@type"];
  if (typeof t === "string" && JSON_TYPED_STRUCTS.has(t)) {
    const fields = Object.fromEntries(Object.entries(rec).filter(([k]) => k !== "@type"));
    return { type_url: `${TYPE_PREFIX}udpa.type.v1.TypedStruct`, value: typedStructBytes(t, fields) };
  }
  return Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, asReceivedTypedStructs(v)]));
}

function isRawTypedStruct(v: unknown): v is { type_url: string; value?: unknown } {
  return v !== null && typeof v === "object" && TYPED_STRUCT.has((v as { type_url?: unknown }).type_url as string);
}

/** Replaces every TypedStruct Any inside `o` by the message it carries (in place). */
export function expandTypedStructs(o: unknown, path = "", depth = 0): void {
  if (o === null || typeof o !== "object" || depth > MAX_DEPTH || o instanceof Uint8Array) return;
  if (Array.isArray(o)) {
    o.forEach((v, i) => (isRawTypedStruct(v) ? (o[i] = expandOne(v, `${path}[${i}]`)) : expandTypedStructs(v, `${path}[${i}]`, depth + 1)));
    return;
  }
  const rec = o as Record<string, unknown>;
  for (const k of Object.keys(rec)) {
    const v = rec[k];
    const p = path ? `${path}.${k}` : k;
    if (isRawTypedStruct(v)) rec[k] = expandOne(v, p);
    else expandTypedStructs(v, p, depth + 1);
  }
}
