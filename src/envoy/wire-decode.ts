// The proxy's protobuf decoder: bytes of a message type in the compact schema (wire-schema.ts) to
// the typed object protobufjs' decode + toObject would give, Anys resolved by their type URL from
// whichever schema tier has the type. Bounded: nesting past protobufjs' recursion limit and reads
// past the end of the input are errors, never hangs.
import { decodeMessage, isAllOnly, isKnownType, type ProtoObject, unavailableReason, UnknownTypeError } from "./protos.js";
import {
  BOOL,
  BYTES,
  DOUBLE,
  ENUM,
  FIXED32,
  FIXED64,
  FLOAT,
  GOOGLE_API,
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
