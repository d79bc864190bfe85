// Hashing for consistent-hash load balancing, bit-for-bit as Envoy does it:
//  - xxHash64 (seed 0) of the UTF-8 bytes — Envoy's HashUtil::xxHash64, used for request hashes
//    (header, cookie, source IP, query parameter hash policies), for RING_HASH ring points
//    ("ADDRESS:PORT_N") and for MAGLEV permutations (seeds 0 and 1);
//  - MurmurHash2 64-bit (libstdc++'s std::hash, seed 0xc70f6907) for RING_HASH's MURMUR_HASH_2.
//
// Request hashes are 64-bit unsigned values represented as `bigint`. The core works on two 32-bit
// halves with plain numbers (no BigInt arithmetic, no allocation besides the final bigint), so a
// per-request hash costs about as much as the string encoding.

const P1H = 0x9e3779b1, P1L = 0x85ebca87;
const P2H = 0xc2b2ae3d, P2L = 0x27d4eb4f;
const P3H = 0x165667b1, P3L = 0x9e3779f9;
const P4H = 0x85ebca77, P4L = 0xc2b2ae63;
const P5H = 0x27d4eb2f, P5L = 0x165667c5;
/** 2^64 - PRIME64_1 (to compute seed - PRIME64_1). */
const NP1H = 0x61c8864e, NP1L = 0x7a143579;

// Result registers of the 64-bit helpers below. Halves are kept as int32 (bit patterns) so they stay
// in integer registers, and in a typed array so storing one never boxes a number.
const R = new Int32Array(2);

/** (ah:al) * (bh:bl) mod 2^64 → R[0]:R[1]. */
function mul(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff, a1 = al >>> 16, b0 = bl & 0xffff, b1 = bl >>> 16;
  const t = a0 * b0;
  const m1 = a1 * b0 + (t >>> 16);
  const m2 = a0 * b1 + (m1 & 0xffff);
  const high = a1 * b1 + (m1 >>> 16) + (m2 >>> 16);
  R[1] = (m2 << 16) | (t & 0xffff);
  R[0] = (high + Math.imul(ah, bl) + Math.imul(al, bh)) | 0;
}

/** (ah:al) + (bh:bl) mod 2^64 → R[0]:R[1]. */
function add(ah: number, al: number, bh: number, bl: number): void {
  const lo = (al >>> 0) + (bl >>> 0);
  R[1] = lo | 0;
  R[0] = (ah + bh + (lo > 0xffffffff ? 1 : 0)) | 0;
}

/** rotate-left (h:l) by 0 < r < 32 → R[0]:R[1]. */
function rotl(h: number, l: number, r: number): void {
  R[0] = (h << r) | (l >>> (32 - r));
  R[1] = (l << r) | (h >>> (32 - r));
}

function rd32(b: Uint8Array, p: number): number {
  return b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24);
}

/** xxHash64 round: acc = rotl(acc + input * P2, 31) * P1 → R[0]:R[1]. */
function round(ah: number, al: number, ih: number, il: number): void {
  mul(ih, il, P2H, P2L);
  add(ah, al, R[0], R[1]);
  rotl(R[0], R[1], 31);
  mul(R[0], R[1], P1H, P1L);
}

/** xxHash64 of buf[0..len) with seed sh:sl → R[0]:R[1]. */
function xxh64Core(buf: Uint8Array, len: number, sh: number, sl: number): void {
  let p = 0;
  let hh: number, hl: number;
  if (len >= 32) {
    add(sh, sl, P1H, P1L);
    add(R[0], R[1], P2H, P2L);
    let v1h = R[0], v1l = R[1];
    add(sh, sl, P2H, P2L);
    let v2h = R[0], v2l = R[1];
    let v3h = sh, v3l = sl;
    add(sh, sl, NP1H, NP1L);
    let v4h = R[0], v4l = R[1];
    const limit = len - 32;
    do {
      round(v1h, v1l, rd32(buf, p + 4), rd32(buf, p));
      v1h = R[0]; v1l = R[1]; p += 8;
      round(v2h, v2l, rd32(buf, p + 4), rd32(buf, p));
      v2h = R[0]; v2l = R[1]; p += 8;
      round(v3h, v3l, rd32(buf, p + 4), rd32(buf, p));
      v3h = R[0]; v3l = R[1]; p += 8;
      round(v4h, v4l, rd32(buf, p + 4), rd32(buf, p));
      v4h = R[0]; v4l = R[1]; p += 8;
    } while (p <= limit);
    rotl(v1h, v1l, 1);
    hh = R[0]; hl = R[1];
    rotl(v2h, v2l, 7);
    add(hh, hl, R[0], R[1]);
    hh = R[0]; hl = R[1];
    rotl(v3h, v3l, 12);
    add(hh, hl, R[0], R[1]);
    hh = R[0]; hl = R[1];
    rotl(v4h, v4l, 18);
    add(hh, hl, R[0], R[1]);
    hh = R[0]; hl = R[1];
    // merge rounds
    for (let k = 0; k < 4; k++) {
      const vh = k === 0 ? v1h : k === 1 ? v2h : k === 2 ? v3h : v4h;
      const vl = k === 0 ? v1l : k === 1 ? v2l : k === 2 ? v3l : v4l;
      round(0, 0, vh, vl);
      hh ^= R[0];
      hl ^= R[1];
      mul(hh, hl, P1H, P1L);
      add(R[0], R[1], P4H, P4L);
      hh = R[0]; hl = R[1];
    }
  } else {
    add(sh, sl, P5H, P5L);
    hh = R[0]; hl = R[1];
  }
  add(hh, hl, Math.floor(len / 4294967296) >>> 0, len >>> 0);
  hh = R[0]; hl = R[1];
  while (p + 8 <= len) {
    round(0, 0, rd32(buf, p + 4), rd32(buf, p));
    hh ^= R[0];
    hl ^= R[1];
    rotl(hh, hl, 27);
    mul(R[0], R[1], P1H, P1L);
    add(R[0], R[1], P4H, P4L);
    hh = R[0]; hl = R[1];
    p += 8;
  }
  if (p + 4 <= len) {
    mul(0, rd32(buf, p), P1H, P1L);
    hh ^= R[0];
    hl ^= R[1];
    rotl(hh, hl, 23);
    mul(R[0], R[1], P2H, P2L);
    add(R[0], R[1], P3H, P3L);
    hh = R[0]; hl = R[1];
    p += 4;
  }
  while (p < len) {
    mul(0, buf[p], P5H, P5L);
    hh ^= R[0];
    hl ^= R[1];
    rotl(hh, hl, 11);
    mul(R[0], R[1], P1H, P1L);
    hh = R[0]; hl = R[1];
    p++;
  }
  // avalanche
  hl ^= hh >>> 1; // h ^= h >> 33
  mul(hh, hl, P2H, P2L);
  hh = R[0]; hl = R[1];
  hl ^= (hl >>> 29) | (hh << 3); // h ^= h >> 29
  hh ^= hh >>> 29;
  mul(hh, hl, P3H, P3L);
  hh = R[0]; hl = R[1];
  R[1] = hl ^ hh; // h ^= h >> 32
  R[0] = hh;
}

let scratch = Buffer.allocUnsafeSlow(1024);

/** Encodes `s` as UTF-8 into `scratch`; returns the byte length. ASCII is copied in JS (no native call). */
function utf8(s: string): number {
  const n = s.length;
  if (n * 3 > scratch.length) scratch = Buffer.allocUnsafeSlow(Math.max(n * 3, scratch.length * 2));
  if (n <= 64) {
    const b = scratch;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      b[i] = c;
    }
    if (i === n) return n;
  }
  return scratch.write(s, 0, "utf8");
}

/**
 * xxHash64 into `out` as [high 32 bits, low 32 bits] (unsigned), without allocating. The seed is
 * given as two 32-bit halves. This is what the load balancers use to build rings and tables.
 */
export function xxHash64Into(input: string | Uint8Array, out: Uint32Array, seedHi = 0, seedLo = 0): void {
  if (typeof input === "string") xxh64Core(scratch, utf8(input), seedHi | 0, seedLo | 0);
  else xxh64Core(input, input.length, seedHi | 0, seedLo | 0);
  out[0] = R[0];
  out[1] = R[1];
}

const MASK64 = 0xffffffffffffffffn;

function big(h: number, l: number): bigint {
  return (BigInt(h >>> 0) << 32n) | BigInt(l >>> 0);
}

/** Envoy's HashUtil::xxHash64(input, seed): xxHash64 of the UTF-8 bytes as an unsigned 64-bit bigint. */
export function xxHash64(input: string | Uint8Array, seed: bigint = 0n): bigint {
  let sh = 0, sl = 0;
  if (seed !== 0n) {
    const s = seed & MASK64;
    sh = Number(s >> 32n);
    sl = Number(s & 0xffffffffn);
  }
  if (typeof input === "string") xxh64Core(scratch, utf8(input), sh, sl);
  else xxh64Core(input, input.length, sh, sl);
  return big(R[0], R[1]);
}

/**
 * The hash of one request key (header value, cookie value, source IP, query parameter): xxHash64,
 * the same function the ring and the Maglev table are built with, so equal keys map to equal hosts
 * — and to the hosts Envoy would choose for the same endpoints.
 */
export function hashKey(s: string): bigint {
  xxh64Core(scratch, utf8(s), 0, 0);
  return big(R[0], R[1]);
}

/**
 * Envoy's HashUtil::xxHash64 over a span of strings: each value hashed with the previous hash as
 * seed (the first with seed 0); an empty span hashes the empty input.
 */
export function xxHash64Span(values: readonly string[]): bigint {
  if (values.length === 0) return hashKey("");
  let h = 0, l = 0;
  for (const v of values) {
    xxh64Core(scratch, utf8(v), h, l);
    h = R[0];
    l = R[1];
  }
  return big(h, l);
}

/**
 * The hash of a multi-valued key (a header sent several times), as Envoy's header hash policy:
 * the values sorted (so their order does not matter), then xxHash64Span. One value gives the same
 * result as hashKey.
 */
export function hashKeys(values: readonly string[]): bigint {
  if (values.length === 1) return hashKey(values[0]);
  return xxHash64Span([...values].sort());
}

/**
 * Combines the hashes of a route's hash policies as Envoy's HashPolicyImpl::generateHash:
 * `hash = rotl(previous, 1) ^ next` (the first policy's hash is used as is).
 */
export function combineHash(previous: bigint | undefined, next: bigint): bigint {
  if (previous === undefined) return next & MASK64;
  const p = previous & MASK64;
  return (((p << 1n) | (p >> 63n)) & MASK64) ^ (next & MASK64);
}

/** Envoy's lower-case hex of a 64-bit hash (Hex::uint64ToHex), as used for generated cookie values. */
export function hashToHex(h: bigint): string {
  return (h & MASK64).toString(16).padStart(16, "0");
}

const MURMUR_MUL = 0xc6a4a7935bd1e995n;
/** Envoy's MurmurHash::STD_HASH_SEED. */
export const STD_HASH_SEED = 0xc70f6907n;

function shiftMix(v: bigint): bigint {
  return v ^ (v >> 47n);
}

/**
 * Envoy's MurmurHash::murmurHash2 (libstdc++'s 64-bit _Hash_bytes), used to build RING_HASH rings
 * with hash_function MURMUR_HASH_2. BigInt arithmetic: it only runs while building a ring.
 */
export function murmurHash2(input: string | Uint8Array, seed: bigint = STD_HASH_SEED): bigint {
  const buf = typeof input === "string" ? Buffer.from(input, "utf8") : input;
  const len = buf.length;
  const aligned = len & ~7;
  let hash = (seed ^ ((BigInt(len) * MURMUR_MUL) & MASK64)) & MASK64;
  for (let p = 0; p < aligned; p += 8) {
    const word = big(rd32(buf, p + 4), rd32(buf, p));
    const data = (shiftMix((word * MURMUR_MUL) & MASK64) * MURMUR_MUL) & MASK64;
    hash = ((hash ^ data) * MURMUR_MUL) & MASK64;
  }
  const rest = len & 7;
  if (rest !== 0) {
    let data = 0n;
    for (let n = rest - 1; n >= 0; n--) data = (data << 8n) + BigInt(buf[aligned + n]);
    hash = ((hash ^ data) * MURMUR_MUL) & MASK64;
  }
  hash = (shiftMix(hash) * MURMUR_MUL) & MASK64;
  return shiftMix(hash);
}

/** Splits a request hash (bigint, or a non-negative integer number) into `out` = [high, low] 32-bit halves. */
export function hashParts(h: bigint | number, out: Uint32Array): void {
  if (typeof h === "bigint") {
    const u = BigInt.asUintN(64, h);
    out[0] = Number(u >> 32n);
    out[1] = Number(u & 0xffffffffn);
  } else {
    const n = Number.isFinite(h) && h > 0 ? Math.floor(h) : 0;
    out[0] = Math.floor(n / 4294967296) >>> 0;
    out[1] = n >>> 0;
  }
}
