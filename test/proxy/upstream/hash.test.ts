// The hashes behind hash policies and ring hash / Maglev: Envoy's xxHash64 and MurmurHash2 test
// vectors, a reference BigInt xxHash64 for every length, seed and UTF-8 input, and how policies and
// multi-valued headers combine.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { combineHash, hashKey, hashKeys, hashToHex, murmurHash2, xxHash64, xxHash64Span } from "../../../src/proxy/upstream/hash.js";
import { rng } from "./lb-helpers.js";

/** Plain BigInt xxHash64, as the spec writes it, to check the 32-bit-halves implementation. */
function referenceXxh64(bytes: Uint8Array, seed = 0n): bigint {
  const M = (1n << 64n) - 1n;
  const P1 = 0x9e3779b185ebca87n, P2 = 0xc2b2ae3d27d4eb4fn, P3 = 0x165667b19e3779f9n, P4 = 0x85ebca77c2b2ae63n, P5 = 0x27d4eb2f165667c5n;
  const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & M;
  const rd = (p: number, n: number) => {
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[p + i]);
    return v;
  };
  const round = (acc: bigint, input: bigint) => (rotl((acc + input * P2) & M, 31n) * P1) & M;
  const n = bytes.length;
  let p = 0;
  let h: bigint;
  if (n >= 32) {
    let v1 = (seed + P1 + P2) & M, v2 = (seed + P2) & M, v3 = seed, v4 = (seed - P1) & M;
    while (p <= n - 32) {
      v1 = round(v1, rd(p, 8));
      v2 = round(v2, rd(p + 8, 8));
      v3 = round(v3, rd(p + 16, 8));
      v4 = round(v4, rd(p + 24, 8));
      p += 32;
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & M;
    for (const v of [v1, v2, v3, v4]) h = (((h ^ round(0n, v)) * P1) + P4) & M;
  } else h = (seed + P5) & M;
  h = (h + BigInt(n)) & M;
  for (; p + 8 <= n; p += 8) h = ((rotl(h ^ round(0n, rd(p, 8)), 27n) * P1) + P4) & M;
  if (p + 4 <= n) {
    h = ((rotl(h ^ ((rd(p, 4) * P1) & M), 23n) * P2) + P3) & M;
    p += 4;
  }
  for (; p < n; p++) h = (rotl(h ^ ((BigInt(bytes[p]) * P5) & M), 11n) * P1) & M;
  h ^= h >> 33n;
  h = (h * P2) & M;
  h ^= h >> 29n;
  h = (h * P3) & M;
  return h ^ (h >> 32n);
}

describe("hash", () => {
  it("matches Envoy's xxHash64 and MurmurHash2 test vectors", () => {
    const vectors: [string, string, string][] = [
      ["foo", "3728699739546630719", "9631199822919835226"],
      ["bar", "5234164152756840025", "11474628671133349555"],
      ["foo\nbar", "8917841378505826757", "16306510975912980159"],
      ["lyft", "4400747396090729504", "12847078931730529320"],
      ["", "17241709254077376921", "6142509188972423790"],
    ];
    for (const [s, xx, mm] of vectors) {
      assert.equal(xxHash64(s).toString(), xx, `xxHash64(${JSON.stringify(s)})`);
      assert.equal(hashKey(s).toString(), xx);
      assert.equal(murmurHash2(s).toString(), mm, `murmurHash2(${JSON.stringify(s)})`);
    }
    assert.equal(xxHash64Span(["foo", "bar"]).toString(), "17745830980996999794");
  });

  it("equals a reference implementation for all lengths, seeds and UTF-8", () => {
    const r = rng(7);
    for (let len = 0; len < 100; len++) {
      const bytes = new Uint8Array(len);
      for (let i = 0; i < len; i++) bytes[i] = Math.floor(r() * 256);
      const seed = len % 3 === 0 ? 0n : BigInt(Math.floor(r() * 2 ** 32)) * 4294967296n + BigInt(Math.floor(r() * 2 ** 32));
      assert.equal(xxHash64(bytes, seed), referenceXxh64(bytes, seed), `len ${len}`);
    }
    const s = "héllo wörld — ünïcode ключ 键 🔑 ".repeat(3);
    assert.equal(hashKey(s), referenceXxh64(Buffer.from(s, "utf8")));
  });

  it("combines policies and multi-valued headers as Envoy", () => {
    const a = hashKey("a"), b = hashKey("b");
    assert.equal(combineHash(undefined, a), a);
    const rotl = ((a << 1n) | (a >> 63n)) & ((1n << 64n) - 1n);
    assert.equal(combineHash(a, b), rotl ^ b);
    assert.equal(hashKeys(["x", "y"]), hashKeys(["y", "x"]));
    assert.equal(hashKeys(["x"]), hashKey("x"));
    assert.equal(hashToHex(1n), "0000000000000001");
  });
});
