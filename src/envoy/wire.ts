// The proxy's protobuf codec: decodes the xDS it receives and encodes the discovery requests it
// sends without protobufjs, from the compact schema descriptor-gen.ts generates for the proxy's
// types (gen/proxy-wire.cts). A sidecar thus never loads protobufjs (~30 ms), builds no reflection
// tree (~20 ms, ~2 MB) and generates no per-type code (~45 ms) at start-up.
//
// The result is exactly protos.ts' decodeMessage()/encodeMessage() — protobufjs' decode + toObject
// with TO_OBJECT ({ enums: String, longs: Number, json: true, defaults: false }) and fromObject +
// encode — key order included; test/envoy/wire.test.ts checks it field for field and byte for
// byte against protobufjs on every golden resource and on random messages of every type. In
// particular: fields appear in field-number order and only when present on the wire (a zero sent
// explicitly is kept); enums are names (numbers when unknown); 64-bit integers are numbers; non-finite
// floats are strings; bytes are Buffers sharing the input; an Any is { ...fields, "@type" } when its
// type is known — from the full schema or the rest of Envoy's API (protobufjs, protos.ts' larger
// tiers) when only those have it — and { type_url, value } otherwise. Types outside the compact
// schema are handed to protos.ts; unpackAny() decodes a raw Any by its URL or names it unknown.
import { createRequire } from "node:module";
import { decodeMessage, encodeMessage, isAllOnly, isKnownType, type ProtoObject, UnknownTypeError, unavailableReason } from "./protos.js";

const require = createRequire(import.meta.url);

// Kinds, in descriptor-gen.ts' WIRE_KINDS order.
const DOUBLE = 0;
const FLOAT = 1;
const INT32 = 2;
const UINT32 = 3;
const SINT32 = 4;
const FIXED32 = 5;
const SFIXED32 = 6;
const INT64 = 7;
const UINT64 = 8;
const SINT64 = 9;
const FIXED64 = 10;
const SFIXED64 = 11;
const BOOL = 12;
const STRING = 13;
const BYTES = 14;
const ENUM = 15;
const MESSAGE = 16;

const REPEATED = 1;
const PACKED = 2;
const MAP = 4;

/** protobufjs' util.recursionLimit (protoc's default). */
const RECURSION_LIMIT = 100;
const ANY = "google.protobuf.Any";
const GOOGLE_API = "type.googleapis.com/";

interface WireField {
  readonly id: number;
  readonly name: string;
  readonly kind: number;
  readonly repeated: boolean;
  readonly packed: boolean;
  readonly map: boolean;
  readonly ref: number;
  /** protobufjs' error prefix for this field (".pkg.Type.field"). */
  readonly fullName: string;
}

interface WireType {
  readonly name: string;
  readonly index: number;
  /** Sorted by field number. */
  readonly fields: WireField[];
  /** Field number → index in `fields`. */
  readonly byId: Map<number, number>;
  readonly isAny: boolean;
}

interface Schema {
  types: WireType[];
  byName: Map<string, WireType>;
  /** Per enum: name by number. */
  enums: Array<Map<number, string>>;
  /** Per enum: number by name. */
  enumValues: Array<Map<string, number>>;
  fullOnly: Set<string>;
}

let schema: Schema | undefined;

function loadSchema(): Schema {
  if (schema) return schema;
  const path = require.resolve("./gen/proxy-wire.cjs");
  const mod = require(path) as typeof import("./gen/proxy-wire.cjs");
  delete require.cache[path]; // its text is not needed once parsed
  const raw = JSON.parse(mod.PROXY_WIRE) as { types: Array<[string, Array<[number, string, number, number, number, number?]>]>; enums: Array<[string, Array<[number, string]>]> };
  const types: WireType[] = raw.types.map(([name, fields], index) => {
    const fs: WireField[] = fields.map(([id, fname, kind, flags, ref]) => ({
      id,
      name: fname,
      kind,
      repeated: (flags & REPEATED) !== 0,
      packed: (flags & PACKED) !== 0,
      map: (flags & MAP) !== 0,
      ref,
      fullName: `.${name}.${fname}`,
    }));
    return { name, index, fields: fs, byId: new Map(fs.map((f, i) => [f.id, i])), isAny: name === ANY };
  });
  schema = {
    types,
    byName: new Map(types.map((t) => [t.name, t])),
    enums: raw.enums.map(([, values]) => new Map(values)),
    enumValues: raw.enums.map(([, values]) => {
      // protobufjs' Enum#values: every name (aliases too) → its number.
      const m = new Map<string, number>();
      for (const [num, name] of values) m.set(name, num);
      return m;
    }),
    fullOnly: new Set(mod.FULL_ONLY_NAMES.split(" ")),
  };
  return schema;
}

const stripUrl = (nameOrUrl: string): string => (nameOrUrl.startsWith(GOOGLE_API) ? nameOrUrl.slice(GOOGLE_API.length) : nameOrUrl);

/** Whether the compact schema has this message type (full name or type URL). */
export function wireHas(nameOrUrl: string): boolean {
  return loadSchema().byName.has(stripUrl(nameOrUrl));
}

// ---------------------------------------------------------------- decoding

function outOfRange(r: Reader, n = 1): RangeError {
  return new RangeError(`index out of range: ${r.pos} + ${n} > ${r.len}`);
}

class Reader {
  pos = 0;
  len: number;
  constructor(readonly buf: Buffer) {
    this.len = buf.length;
  }

  /** protobufjs Reader#uint32 (a longer varint's upper bytes are skipped). */
  uint32(): number {
    const buf = this.buf;
    if (this.len - this.pos < 5) {
      if (this.pos >= this.len) throw outOfRange(this);
      if (buf[this.pos] >= 128) {
        let value = 0;
        for (let i = 0; i < 4; ++i) {
          if (this.pos >= this.len) throw outOfRange(this);
          const b = buf[this.pos++];
          value = (value | ((b & 127) << (i * 7))) >>> 0;
          if (b < 128) return value;
        }
        throw outOfRange(this);
      }
    }
    let value = (buf[this.pos] & 127) >>> 0;
    if (buf[this.pos++] < 128) return value;
    value = (value | ((buf[this.pos] & 127) << 7)) >>> 0;
    if (buf[this.pos++] < 128) return value;
    value = (value | ((buf[this.pos] & 127) << 14)) >>> 0;
    if (buf[this.pos++] < 128) return value;
    value = (value | ((buf[this.pos] & 127) << 21)) >>> 0;
    if (buf[this.pos++] < 128) return value;
    value = (value | ((buf[this.pos] & 15) << 28)) >>> 0;
    if (buf[this.pos++] < 128) return value;
    if ((this.pos += 5) > this.len) {
      this.pos = this.len;
      throw outOfRange(this, 10);
    }
    return value;
  }

  /** protobufjs' readLongVarint: [lo, hi]. */
  longVarint(): [number, number] {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    let i = 0;
    if (this.len - this.pos > 4) {
      for (; i < 4; ++i) {
        lo = (lo | ((buf[this.pos] & 127) << (i * 7))) >>> 0;
        if (buf[this.pos++] < 128) return [lo, hi];
      }
      lo = (lo | ((buf[this.pos] & 127) << 28)) >>> 0;
      hi = (hi | ((buf[this.pos] & 127) >> 4)) >>> 0;
      if (buf[this.pos++] < 128) return [lo, hi];
      i = 0;
    } else {
      for (; i < 3; ++i) {
        if (this.pos >= this.len) throw outOfRange(this);
        lo = (lo | ((buf[this.pos] & 127) << (i * 7))) >>> 0;
        if (buf[this.pos++] < 128) return [lo, hi];
      }
      lo = (lo | ((buf[this.pos++] & 127) << (i * 7))) >>> 0;
      return [lo, hi];
    }
    if (this.len - this.pos > 4) {
      for (; i < 5; ++i) {
        hi = (hi | ((buf[this.pos] & 127) << (i * 7 + 3))) >>> 0;
        if (buf[this.pos++] < 128) return [lo, hi];
      }
    } else {
      for (; i < 5; ++i) {
        if (this.pos >= this.len) throw outOfRange(this);
        hi = (hi | ((buf[this.pos] & 127) << (i * 7 + 3))) >>> 0;
        if (buf[this.pos++] < 128) return [lo, hi];
      }
    }
    throw new Error("invalid varint encoding");
  }

  fixed32(): number {
    if (this.pos + 4 > this.len) throw outOfRange(this, 4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  fixed64(): [number, number] {
    if (this.pos + 8 > this.len) throw outOfRange(this, 8);
    const lo = this.buf.readUInt32LE(this.pos);
    const hi = this.buf.readUInt32LE(this.pos + 4);
    this.pos += 8;
    return [lo, hi];
  }

  float(): number {
    if (this.pos + 4 > this.len) throw outOfRange(this, 4);
    const v = this.buf.readFloatLE(this.pos);
    this.pos += 4;
    return v;
  }

  double(): number {
    if (this.pos + 8 > this.len) throw outOfRange(this, 4);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** protobufjs BufferReader: a view on the input (an empty one is a new Buffer). */
  bytes(): Buffer {
    const length = this.uint32();
    const start = this.pos;
    const end = start + length;
    if (end > this.len) throw outOfRange(this, length);
    this.pos += length;
    return start === end ? Buffer.alloc(0) : this.buf.subarray(start, end);
  }

  /** protobufjs BufferReader#string: a string cut short by the end of the message is not an error. */
  string(): string {
    const len = this.uint32();
    const start = this.pos;
    this.pos = Math.min(this.pos + len, this.len);
    return this.buf.toString("utf8", start, this.pos);
  }

  skip(length?: number): void {
    if (length !== undefined) {
      if (this.pos + length > this.len) throw outOfRange(this, length);
      this.pos += length;
      return;
    }
    do {
      if (this.pos >= this.len) throw outOfRange(this);
    } while (this.buf[this.pos++] & 128);
  }

  skipType(wireType: number, depth: number): void {
    if (depth > RECURSION_LIMIT) throw new Error("maximum nesting depth exceeded");
    switch (wireType) {
      case 0:
        this.skip();
        break;
      case 1:
        this.skip(8);
        break;
      case 2:
        this.skip(this.uint32());
        break;
      case 3:
        while ((wireType = this.uint32() & 7) !== 4) this.skipType(wireType, depth + 1);
        break;
      case 5:
        this.skip(4);
        break;
      default:
        throw new Error(`invalid wire type ${wireType} at offset ${this.pos}`);
    }
  }
}

/** protobufjs LongBits#toNumber. */
function longToNumber(lo: number, hi: number, unsigned: boolean): number {
  if (!unsigned && hi >>> 31) {
    const l = (~lo + 1) >>> 0;
    let h = ~hi >>> 0;
    if (!l) h = (h + 1) >>> 0;
    return -(l + h * 4294967296);
  }
  return lo + hi * 4294967296;
}

interface DecodeOptions {
  /** Leave Any fields as { type_url, value } (the ADS client checks and decodes each resource itself). */
  rawAny: boolean;
}

/** One scalar, enum or message value of field `f`, converted as protobufjs' toObject would. */
function readValue(s: Schema, f: WireField, r: Reader, depth: number, o: DecodeOptions): unknown {
  switch (f.kind) {
    case DOUBLE: {
      const v = r.double();
      return isFinite(v) ? v : String(v);
    }
    case FLOAT: {
      const v = r.float();
      return isFinite(v) ? v : String(v);
    }
    case INT32:
      return r.uint32() | 0;
    case UINT32:
      return r.uint32();
    case SINT32: {
      const v = r.uint32();
      return ((v >>> 1) ^ -(v & 1)) | 0;
    }
    case FIXED32:
      return r.fixed32();
    case SFIXED32:
      return r.fixed32() | 0;
    case INT64:
    case UINT64: {
      const [lo, hi] = r.longVarint();
      return longToNumber(lo, hi, f.kind === UINT64);
    }
    case SINT64: {
      const [lo, hi] = r.longVarint();
      // LongBits#zzDecode
      const mask = -(lo & 1);
      return longToNumber((((lo >>> 1) | (hi << 31)) ^ mask) >>> 0, ((hi >>> 1) ^ mask) >>> 0, false);
    }
    case FIXED64:
    case SFIXED64: {
      const [lo, hi] = r.fixed64();
      return longToNumber(lo, hi, f.kind === FIXED64);
    }
    case BOOL:
      return r.uint32() !== 0;
    case STRING:
      return r.string();
    case BYTES:
      return r.bytes();
    case ENUM: {
      const n = r.uint32() | 0;
      return s.enums[f.ref].get(n) ?? n;
    }
    default:
      return decodeNested(s, s.types[f.ref], r, depth, o);
  }
}

/** A length-delimited sub-message at the reader's position. */
function decodeNested(s: Schema, t: WireType, r: Reader, depth: number, o: DecodeOptions): ProtoObject {
  const length = r.uint32();
  const end = r.pos + length;
  if (end > r.len) throw new RangeError("index out of range");
  const outer = r.len;
  r.len = end;
  const v = decodeBody(s, t, r, depth + 1, o);
  if (r.pos !== end) throw new RangeError("index out of range");
  r.len = outer;
  return v;
}

/** Kinds protobufjs reads packed (wire type 2) as well as one by one. */
const packable = (kind: number) => kind !== STRING && kind !== BYTES && kind !== MESSAGE;

function decodeBody(s: Schema, t: WireType, r: Reader, depth: number, o: DecodeOptions): ProtoObject {
  if (depth > RECURSION_LIMIT) throw new Error("maximum nesting depth exceeded");
  if (t.isAny) return decodeAny(s, t, r, depth, o);
  const fields = t.fields;
  const vals: unknown[] = new Array(fields.length);
  const end = r.len;
  while (r.pos < end) {
    const tag = r.uint32();
    const i = t.byId.get(tag >>> 3);
    if (i === undefined) {
      r.skipType(tag & 7, depth);
      continue;
    }
    const f = fields[i];
    if (f.map) {
      let m = vals[i] as Record<string, unknown> | undefined;
      if (!m) vals[i] = m = {};
      const c2 = r.uint32() + r.pos;
      if (c2 > r.len) throw new RangeError("index out of range");
      const outer = r.len;
      r.len = c2;
      let k = "";
      let value: unknown = mapDefault(s, f);
      while (r.pos < c2) {
        const tag2 = r.uint32();
        if (tag2 >>> 3 === 1) k = r.string();
        else if (tag2 >>> 3 === 2) value = f.kind === MESSAGE ? decodeNested(s, s.types[f.ref], r, depth, o) : readValue(s, f, r, depth, o);
        else r.skipType(tag2 & 7, depth);
      }
      if (r.pos !== c2) throw new RangeError("index out of range");
      r.len = outer;
      // A message value missing from its entry: protobufjs' toObject fails on the null it decoded.
      if (value === null) throw new TypeError(`${f.fullName}: map entry ${JSON.stringify(k)} has no value`);
      if (k === "__proto__") Object.defineProperty(m, k, { value, enumerable: true, writable: true, configurable: true });
      else m[k] = value;
    } else if (f.repeated) {
      let list = vals[i] as unknown[] | undefined;
      if (!list) vals[i] = list = [];
      if (packable(f.kind) && (tag & 7) === 2) {
        const c2 = r.uint32() + r.pos;
        if (c2 > r.len) throw new RangeError("index out of range");
        const outer = r.len;
        r.len = c2;
        while (r.pos < c2) list.push(readValue(s, f, r, depth, o));
        if (r.pos !== c2) throw new RangeError("index out of range");
        r.len = outer;
      } else list.push(readValue(s, f, r, depth, o));
    } else vals[i] = readValue(s, f, r, depth, o);
  }
  const out: ProtoObject = {};
  for (let i = 0; i < fields.length; i++) {
    const v = vals[i];
    if (v === undefined) continue;
    const f = fields[i];
    if (f.map) {
      if (Object.keys(v as object).length === 0) continue;
    } else if (f.repeated && (v as unknown[]).length === 0) continue;
    out[f.name] = v;
  }
  return out;
}

/** protobufjs' value default of a map entry (types.defaults; a message is null). */
function mapDefault(s: Schema, f: WireField): unknown {
  switch (f.kind) {
    case STRING:
      return "";
    case BOOL:
      return false;
    case BYTES:
      return [];
    case MESSAGE:
      return null;
    case ENUM:
      return s.enums[f.ref].get(0) ?? 0;
    default:
      return 0;
  }
}

/** google.protobuf.Any, as protobufjs' Any wrapper converts it (json: true). */
function decodeAny(s: Schema, t: WireType, r: Reader, depth: number, o: DecodeOptions): ProtoObject {
  let typeUrl: string | undefined;
  let value: Buffer | undefined;
  const end = r.len;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag >>> 3 === 1) typeUrl = r.string();
    else if (tag >>> 3 === 2) value = r.bytes();
    else r.skipType(tag & 7, depth);
  }
  if (o.rawAny) return { type_url: typeUrl ?? "", value: value ?? Buffer.alloc(0) };
  if (typeUrl) {
    const slash = typeUrl.lastIndexOf("/");
    const name = typeUrl.slice(slash + 1);
    const prefix = slash >= 0 ? typeUrl.slice(0, slash + 1) : "";
    const payload = value ?? Buffer.alloc(0);
    const key = name.startsWith(".") ? name.slice(1) : name;
    const known = s.byName.get(key);
    let object: ProtoObject | undefined;
    if (known) {
      const inner = new Reader(payload);
      object = decodeBody(s, known, inner, depth + 1, o);
    } else if (s.fullOnly.has(key) || isAllOnly(key)) object = decodeMessage(key, payload);
    if (object) {
      object["@type"] = (prefix || GOOGLE_API) + key;
      return object;
    }
  }
  const out: ProtoObject = {};
  if (typeUrl !== undefined) out.type_url = typeUrl;
  if (value !== undefined) out.value = value;
  return out;
}

/**
 * Decodes protobuf bytes of a message type (full name or type URL) to a typed object — what
 * protos.ts' decodeMessage() gives. `rawAny` leaves Any fields as { type_url, value }.
 */
export function wireDecode(typeNameOrUrl: string, bytes: Uint8Array, options: { rawAny?: boolean } = {}): ProtoObject {
  const name = stripUrl(typeNameOrUrl);
  const s = loadSchema();
  const t = s.byName.get(name);
  if (!t) {
    if (options.rawAny) throw new Error(`wire: ${name} is not in the proxy's schema`);
    return decodeMessage(typeNameOrUrl, bytes);
  }
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return decodeBody(s, t, new Reader(buf), 0, { rawAny: options.rawAny === true });
}

/**
 * The payload of an Any as a typed object: an Any decoding already resolved ({ "@type", ...fields })
 * is returned as is; a raw one ({ type_url, value }: its type was not in the proxy's schema, or the
 * ADS client asked for raw Anys) is decoded by its type URL, from whichever tier has the type.
 * Throws UnknownTypeError, naming the type URL, when no tier has it.
 */
export function unpackAny(any: ProtoObject): ProtoObject {
  if (typeof any["@type"] === "string") return any;
  const typeUrl = typeof any.type_url === "string" ? any.type_url : "";
  if (!typeUrl || !isKnownType(typeUrl)) throw new UnknownTypeError(typeUrl || "(an Any without a type URL)", unavailableReason(typeUrl));
  const value = any.value instanceof Uint8Array ? any.value : new Uint8Array(0);
  return { ...wireDecode(typeUrl, value), "@type": typeUrl };
}

// ---------------------------------------------------------------- encoding

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

/** Whether the proxy's compact schema is loaded in this process (for tests and benchmarks). */
export function wireLoaded(): boolean {
  return schema !== undefined;
}
