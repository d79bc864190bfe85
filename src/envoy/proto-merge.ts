// Istio's proto merge (istio/istio pkg/proto/merge, golang proto.Merge semantics) over typed
// objects, driven by the descriptors: set scalars overwrite, messages merge field by field,
// repeated fields are appended (or replaced, MERGE_AND_REPLACE_LIST), map entries are replaced per
// key, setting one member of a oneof clears the others, a Duration is replaced whole (Istio's
// workaround) and so is an Any (Go merges its type_url and bytes, i.e. replaces it). Scalars that
// hold their proto3 default without presence are not "set" and change nothing, as in Go.
// mergeAny is Istio's MergeAnyWithAny for filter typed_config: two Anys of one type merged as
// messages; of different types it is an error (Istio panics and drops the listener's patches).
import protobuf from "protobufjs";
import { messageType, type ProtoObject, TYPE_PREFIX } from "./protos.js";

export class ProtoMergeError extends Error {}

function isObject(v: unknown): v is ProtoObject {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** A deep copy of a typed object (bytes copied too). */
export function cloneProto<T>(v: T): T {
  if (v instanceof Uint8Array) return new Uint8Array(v) as T;
  if (Array.isArray(v)) return v.map(cloneProto) as T;
  if (isObject(v)) {
    const out: ProtoObject = {};
    for (const [k, x] of Object.entries(v)) out[k] = cloneProto(x);
    return out as T;
  }
  return v;
}

function isDefaultScalar(field: protobuf.Field, v: unknown): boolean {
  if (field.partOf) return false; // oneof members and proto3 optional have presence
  if (field.resolvedType instanceof protobuf.Enum) {
    const zero = Object.entries(field.resolvedType.values).find(([, n]) => n === 0)?.[0];
    return v === 0 || v === zero;
  }
  return v === false || v === 0 || v === "" || (v instanceof Uint8Array && v.length === 0) || (typeof v === "string" && field.type === "bytes" && v === "");
}

function fullName(t: protobuf.Type): string {
  return t.fullName.replace(/^\./, "");
}

/** Merges `src` into `dst` (both typed objects of message type `t`); mutates and returns `dst`. */
function mergeInto(t: protobuf.Type, dst: ProtoObject, src: ProtoObject, replaceLists: boolean): ProtoObject {
  for (const [k, v] of Object.entries(src)) {
    if (v === undefined) continue;
    const field = t.fields[k];
    if (!field) throw new ProtoMergeError(`${fullName(t)} has no field ${k}`);
    field.resolve();
    const rt = field.resolvedType;
    if (field instanceof protobuf.MapField) {
      const m = isObject(dst[k]) ? (dst[k] as ProtoObject) : {};
      for (const [mk, mv] of Object.entries(v as ProtoObject)) m[mk] = cloneProto(mv);
      dst[k] = m;
      continue;
    }
    if (field.repeated) {
      const list = Array.isArray(dst[k]) && !replaceLists ? (dst[k] as unknown[]) : [];
      for (const x of v as unknown[]) list.push(cloneProto(x));
      dst[k] = list;
      continue;
    }
    if (!(rt instanceof protobuf.Type) && isDefaultScalar(field, v)) continue;
    if (field.partOf) for (const other of field.partOf.oneof) if (other !== k) delete dst[other];
    if (rt instanceof protobuf.Type) {
      const name = fullName(rt);
      if (name === "google.protobuf.Duration" || name === "google.protobuf.Any" || !isObject(dst[k])) dst[k] = cloneProto(v);
      else mergeInto(rt, dst[k] as ProtoObject, v as ProtoObject, replaceLists);
    } else dst[k] = cloneProto(v);
  }
  return dst;
}

/**
 * Merges `src` into `dst`, typed objects of message type `typeName` (full name or type URL), as
 * Istio's merge.Merge (`replaceLists`: merge.MergeWithReplaceList). Mutates and returns `dst`.
 */
export function protoMerge<T extends object>(typeName: string, dst: T, src: object, replaceLists = false): T {
  return mergeInto(messageType(typeName), dst as ProtoObject, src as ProtoObject, replaceLists) as T;
}

/** Istio's MergeAnyWithAny: a new Any, `src` merged into a copy of `dst`; different types are an error. */
export function mergeAny(dst: ProtoObject, src: ProtoObject): ProtoObject {
  const dt = dst["@type"];
  const st = src["@type"];
  if (typeof dt !== "string" || typeof st !== "string") throw new ProtoMergeError("typed_config without @type");
  if (dt !== st) throw new ProtoMergeError(`cannot merge a ${st.replace(TYPE_PREFIX, "")} into a ${dt.replace(TYPE_PREFIX, "")}`);
  const out = cloneProto(dst);
  const body = { ...src };
  delete body["@type"];
  delete out["@type"];
  return { "@type": dt, ...mergeInto(messageType(dt), out, body, false) };
}
