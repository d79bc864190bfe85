// The proxy's protobuf encoder: a typed object of a message type in the compact schema
// (wire-schema.ts) to the bytes protobufjs' fromObject + encode would give (field-number order,
// presence = not null, an Any with "@type" packed by its type).
import { encodeMessage, isAllOnly, type ProtoObject } from "./protos.js";
import {
  BOOL,
  BYTES,
  DOUBLE,
  ENUM,
  FIXED32,
  FIXED64,
  FLOAT,
  INT32,
  INT64,
  loadSchema,
  MESSAGE,
  packable,
  RECURSION_LIMIT,
  SFIXED32,
  SFIXED64,
  SINT32,
  SINT64,
  STRING,
  stripUrl,
  UINT32,
  UINT64,
  type Schema,
  type WireField,
  type WireType,
} from "./wire-schema.js";

/** Appends protobuf wire data; sub-messages are written to their own Writer and length-prefixed. */
class Writer {
  private readonly chunks: Buffer[] = [];
  private cur = Buffer.allocUnsafe(256);
  private pos = 0;
  length = 0;

  private room(n: number): void {
    if (this.pos + n <= this.cur.length) return;
    this.chunks.push(this.cur.subarray(0, this.pos));
    this.cur = Buffer.allocUnsafe(Math.max(256, n));
    this.pos = 0;
  }

  byte(b: number): void {
    this.room(1);
    this.cur[this.pos++] = b;
    this.length++;
  }

  uint32(v: number): void {
    v >>>= 0;
    while (v > 127) {
      this.byte((v & 127) | 128);
      v >>>= 7;
    }
    this.byte(v);
  }

  /** protobufjs Writer#int32: negative numbers as 10-byte varints. */
  int32(v: number): void {
    if (v < 0) this.varint64(...longBitsFromNumber(v));
    else this.uint32(v);
  }

  varint64(lo: number, hi: number): void {
    while (hi) {
      this.byte((lo & 127) | 128);
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    while (lo > 127) {
      this.byte((lo & 127) | 128);
      lo >>>= 7;
    }
    this.byte(lo);
  }

  fixed32(v: number): void {
    this.room(4);
    this.cur.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
    this.length += 4;
  }

  float(v: number): void {
    this.room(4);
    this.cur.writeFloatLE(v, this.pos);
    this.pos += 4;
    this.length += 4;
  }

  double(v: number): void {
    this.room(8);
    this.cur.writeDoubleLE(v, this.pos);
    this.pos += 8;
    this.length += 8;
  }

  raw(b: Uint8Array): void {
    this.room(b.length);
    this.cur.set(b, this.pos);
    this.pos += b.length;
    this.length += b.length;
  }

  /** Length-prefixed bytes. */
  lengthDelimited(b: Uint8Array): void {
    this.uint32(b.length);
    this.raw(b);
  }

  finish(): Buffer {
    this.chunks.push(this.cur.subarray(0, this.pos));
    return this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.length);
  }
}

/** protobufjs LongBits.fromNumber. */
function longBitsFromNumber(value: number): [number, number] {
  if (value === 0) return [0, 0];
  const sign = value < 0;
  if (sign) value = -value;
  let lo = value >>> 0;
  let hi = ((value - lo) / 4294967296) >>> 0;
  if (sign) {
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
    if (++lo > 4294967295) {
      lo = 0;
      if (++hi > 4294967295) hi = 0;
    }
  }
  return [lo, hi];
}

/** A 64-bit field's value as protobufjs' Long.fromValue takes it (number, decimal string, { low, high }). */
function longBits(v: unknown, unsigned: boolean): [number, number] {
  if (v === null || v === undefined) throw new TypeError(`Cannot read properties of ${v} (reading 'low')`);
  if (typeof v !== "number" && typeof v !== "string") {
    const l = v as { low?: number; high?: number };
    return [(l.low ?? 0) >>> 0, (l.high ?? 0) >>> 0];
  }
  let big: bigint;
  if (typeof v === "string") {
    try {
      big = BigInt(v.trim() || "0");
    } catch {
      big = 0n;
    }
  } else {
    const n = Number(v);
    if (!Number.isFinite(n)) big = Number.isNaN(n) ? 0n : n > 0 ? (unsigned ? 2n ** 64n - 1n : 2n ** 63n - 1n) : unsigned ? 0n : -(2n ** 63n);
    else big = BigInt(Math.trunc(n));
  }
  // Long.fromNumber clamps to the type's range.
  if (unsigned) big = big < 0n ? 0n : big > 2n ** 64n - 1n ? 2n ** 64n - 1n : big;
  else big = big < -(2n ** 63n) ? -(2n ** 63n) : big > 2n ** 63n - 1n ? 2n ** 63n - 1n : big;
  const u = BigInt.asUintN(64, big);
  return [Number(u & 0xffffffffn), Number(u >> 32n)];
}

const WIRE_TYPE = [1, 5, 0, 0, 0, 5, 5, 0, 0, 0, 1, 1, 0, 2, 2, 0, 2];

/** protobufjs' util.isObject (arrays count; null does not). */
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/** fromObject's conversion of one scalar or enum value (undefined: an enum name it does not know). */
function scalar(s: Schema, f: WireField, v: unknown): unknown {
  switch (f.kind) {
    case STRING:
      return String(v);
    case BOOL:
      return Boolean(v);
    case INT32:
    case SINT32:
    case SFIXED32:
      return (v as number) | 0;
    case UINT32:
    case FIXED32:
      return (v as number) >>> 0;
    case DOUBLE:
    case FLOAT:
      return Number(v);
    case BYTES:
      if (typeof v === "string") return Buffer.from(v, "base64");
      return (v as { length?: number }).length !== undefined && (v as { length: number }).length >= 0 ? v : undefined;
    case ENUM: {
      if (typeof v === "number") return v;
      if (typeof v === "string") return s.enumValues[f.ref].get(v);
      return undefined;
    }
    default:
      return v; // 64-bit: converted when written
  }
}

function writeScalar(w: Writer, f: WireField, v: unknown): void {
  switch (f.kind) {
    case DOUBLE:
      return w.double(v as number);
    case FLOAT:
      return w.float(v as number);
    case INT32:
    case ENUM:
      return w.int32(v as number);
    case UINT32:
      return w.uint32(v as number);
    case SINT32: {
      const n = v as number;
      return w.uint32(((n << 1) ^ (n >> 31)) >>> 0);
    }
    case FIXED32:
    case SFIXED32:
      return w.fixed32(v as number);
    case INT64:
    case UINT64:
      return w.varint64(...longBits(v, f.kind === UINT64));
    case SINT64: {
      const [lo, hi] = longBits(v, false);
      // LongBits#zzEncode
      const mask = hi >> 31;
      return w.varint64((((lo << 1) ^ mask) >>> 0) >>> 0, (((hi << 1) | (lo >>> 31)) ^ mask) >>> 0);
    }
    case FIXED64:
    case SFIXED64: {
      const [lo, hi] = longBits(v, f.kind === FIXED64);
      w.fixed32(lo);
      return w.fixed32(hi);
    }
    case BOOL:
      return w.uint32(v ? 1 : 0);
    case STRING:
      return w.lengthDelimited(Buffer.from(v as string, "utf8"));
    case BYTES:
      return w.lengthDelimited(v instanceof Uint8Array ? v : Uint8Array.from(v as ArrayLike<number>));
  }
}

/** One message's fields (protobufjs fromObject, then encode: field-number order, presence = not null). */
function encodeBody(s: Schema, t: WireType, d: Record<string, unknown>, w: Writer, depth: number): void {
  if (!isObject(d)) throw new TypeError(`.${t.name}: object expected`);
  if (depth > RECURSION_LIMIT) throw new Error("maximum nesting depth exceeded");
  if (t.isAny) return encodeAny(s, t, d, w, depth);
  for (const f of t.fields) {
    const v = d[f.name];
    if (v === undefined || v === null) continue;
    // protobufjs' fromObject skips a falsy (0, "", false) map or list silently.
    if ((f.map || f.repeated) && !v) continue;
    if (f.map) {
      if (!isObject(v)) throw new TypeError(`${f.fullName}: object expected`);
      for (const k of Object.keys(v)) {
        const entry = new Writer();
        entry.uint32(10);
        entry.lengthDelimited(Buffer.from(k, "utf8"));
        const x = (v as Record<string, unknown>)[k];
        if (f.kind === MESSAGE) {
          if (!isObject(x)) throw new TypeError(`${f.fullName}: object expected`);
          entry.uint32((2 << 3) | 2);
          entry.lengthDelimited(encodeSub(s, s.types[f.ref], x as Record<string, unknown>, depth));
        } else {
          entry.uint32((2 << 3) | WIRE_TYPE[f.kind]);
          writeScalar(entry, f, scalar(s, f, x) ?? 0);
        }
        w.uint32((f.id << 3) | 2);
        w.lengthDelimited(entry.finish());
      }
    } else if (f.repeated) {
      if (!Array.isArray(v)) throw new TypeError(`${f.fullName}: array expected`);
      if (v.length === 0) continue;
      if (f.kind === MESSAGE) {
        for (const x of v) {
          if (!isObject(x)) throw new TypeError(`${f.fullName}: object expected`);
          w.uint32((f.id << 3) | 2);
          w.lengthDelimited(encodeSub(s, s.types[f.ref], x as Record<string, unknown>, depth));
        }
      } else if (f.packed && packable(f.kind)) {
        const packed = new Writer();
        for (const x of v) writeScalar(packed, f, scalar(s, f, x) ?? 0);
        w.uint32((f.id << 3) | 2);
        w.lengthDelimited(packed.finish());
      } else {
        for (const x of v) {
          w.uint32((f.id << 3) | WIRE_TYPE[f.kind]);
          writeScalar(w, f, scalar(s, f, x) ?? 0);
        }
      }
    } else if (f.kind === MESSAGE) {
      if (!isObject(v)) throw new TypeError(`${f.fullName}: object expected`);
      w.uint32((f.id << 3) | 2);
      w.lengthDelimited(encodeSub(s, s.types[f.ref], v as Record<string, unknown>, depth));
    } else {
      const c = scalar(s, f, v);
      if (c === undefined) continue; // an enum name the type does not have: left unset
      w.uint32((f.id << 3) | WIRE_TYPE[f.kind]);
      writeScalar(w, f, c);
    }
  }
}

function encodeSub(s: Schema, t: WireType, d: Record<string, unknown>, depth: number): Buffer {
  const w = new Writer();
  encodeBody(s, t, d, w, depth + 1);
  return w.finish();
}

/** protobufjs' Any wrapper (fromObject): { "@type", ...fields } of a known type becomes type_url + encoded value. */
function encodeAny(s: Schema, t: WireType, d: Record<string, unknown>, w: Writer, depth: number): void {
  const at = d["@type"];
  if (typeof at === "string" && at) {
    const name = at.slice(at.lastIndexOf("/") + 1);
    const key = name.startsWith(".") ? name.slice(1) : name;
    const known = s.byName.get(key);
    let value: Uint8Array | undefined;
    if (known) value = encodeSub(s, known, d, depth);
    else if (s.fullOnly.has(key) || isAllOnly(key)) value = encodeMessage(key, d);
    if (value) {
      let typeUrl = at.charAt(0) === "." ? at.slice(1) : at;
      if (!typeUrl.includes("/")) typeUrl = "/" + typeUrl;
      w.uint32(10);
      w.lengthDelimited(Buffer.from(typeUrl, "utf8"));
      w.uint32(18);
      w.lengthDelimited(value);
      return;
    }
  }
  if (d.type_url !== undefined && d.type_url !== null) {
    w.uint32(10);
    w.lengthDelimited(Buffer.from(String(d.type_url), "utf8"));
  }
  if (d.value !== undefined && d.value !== null) {
    const f = t.fields[t.byId.get(2)!];
    const b = scalar(s, f, d.value);
    if (b !== undefined) {
      w.uint32(18);
      writeScalar(w, f, b);
    }
  }
}

/** Encodes a typed object of a message type (full name or type URL) — what protos.ts' encodeMessage() gives. */
export function wireEncode(typeNameOrUrl: string, obj: ProtoObject): Buffer {
  const name = stripUrl(typeNameOrUrl);
  const s = loadSchema();
  const t = s.byName.get(name);
  if (!t) return Buffer.from(encodeMessage(typeNameOrUrl, obj));
  const w = new Writer();
  encodeBody(s, t, obj, w, 0);
  return w.finish();
}
