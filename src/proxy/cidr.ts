// Envoy's CidrRange (envoy.config.core.v3.CidrRange) as RBAC's IP matchers use it: compiled once
// into a predicate over an address string. As Envoy's Network::Address::CidrRange, the bits past
// prefix_len are ignored, an IPv4 address never falls in an IPv6 range nor the reverse (an
// IPv4-mapped IPv6 address such as ::ffff:10.0.0.1 is an IPv6 address), and prefix_len 0 takes every
// address of the family. A peer reported as IPv4-mapped IPv6 (::ffff:a.b.c.d, what a dual-stack
// socket shows) is the IPv4 address, as Envoy converts such addresses when it accepts a connection.
// Matching parses the address without allocating.
import type * as v3 from "../envoy/types.js";
import { XdsConfigError } from "./xds-error.js";

/** An address as 4 32-bit words (IPv4 uses word 0 only), reused between calls. */
const scratch = new Uint32Array(4);

/** Parses dotted-quad IPv4 into out[0]; false if `s` is not one. */
function parseV4(s: string, from: number, to: number, out: Uint32Array, at: number): boolean {
  let word = 0;
  let parts = 0;
  let i = from;
  while (i <= to) {
    let n = 0;
    let digits = 0;
    while (i < to) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
      // No leading zeros (Envoy parses with inet_pton, which refuses them).
      if (++digits > 3 || (digits === 2 && n < 10)) return false;
      i++;
    }
    if (digits === 0 || n > 255) return false;
    word = ((word << 8) | n) >>> 0;
    parts++;
    if (i === to) break;
    if (s.charCodeAt(i) !== 46 || parts === 4) return false;
    i++;
  }
  if (parts !== 4) return false;
  out[at] = word;
  return true;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parses IPv6 text (with :: and a trailing dotted quad) into out[0..3]; false if it is not one. */
function parseV6(s: string, out: Uint32Array): boolean {
  let end = s.length;
  // A zone (fe80::1%eth0) is not part of the address.
  const pct = s.indexOf("%");
  if (pct >= 0) end = pct;
  const groups = new Array<number>(); // (only at compile time and for IPv6 peers)
  let gap = -1;
  let i = 0;
  if (end >= 2 && s.charCodeAt(0) === 58 && s.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
  }
  while (i < end) {
    // A trailing IPv4 part.
    const dot = s.indexOf(".", i);
    if (dot >= 0 && dot < end) {
      if (groups.length > 6) return false;
      const tmp = new Uint32Array(1);
      if (!parseV4(s, i, end, tmp, 0)) return false;
      groups.push(tmp[0] >>> 16, tmp[0] & 0xffff);
      i = end;
      break;
    }
    let v = 0;
    let n = 0;
    while (i < end) {
      const d = hexDigit(s.charCodeAt(i));
      if (d < 0) break;
      v = (v << 4) | d;
      if (++n > 4) return false;
      i++;
    }
    if (n === 0) return false;
    groups.push(v);
    if (i === end) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < end && s.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = groups.length;
      i++;
    } else if (i === end) return false;
  }
  if (gap < 0 ? groups.length !== 8 : groups.length > 7) return false;
  const full = new Array<number>(8).fill(0);
  if (gap < 0) groups.forEach((g, k) => (full[k] = g));
  else {
    for (let k = 0; k < gap; k++) full[k] = groups[k];
    const tail = groups.length - gap;
    for (let k = 0; k < tail; k++) full[8 - tail + k] = groups[gap + k];
  }
  for (let w = 0; w < 4; w++) out[w] = ((full[2 * w] << 16) | full[2 * w + 1]) >>> 0;
  return true;
}

/** 4 for IPv4, 6 for IPv6 (written to `out`), 0 for text that is no IP address. */
function parseIp(s: string, out: Uint32Array): 0 | 4 | 6 {
  if (s.indexOf(":") >= 0) return parseV6(s, out) ? 6 : 0;
  return parseV4(s, 0, s.length, out, 0) ? 4 : 0;
}

const MAPPED = "::ffff:";

/** Parses a socket's address into `scratch`, an IPv4-mapped IPv6 address as IPv4. */
function peerFamily(s: string): 0 | 4 | 6 {
  if (s.length > MAPPED.length && s.charCodeAt(0) === 58 && s.startsWith(MAPPED) && s.indexOf(".", MAPPED.length) > 0) {
    return parseV4(s, MAPPED.length, s.length, scratch, 0) ? 4 : 0;
  }
  return parseIp(s, scratch);
}

/** The address family of `s` (4, 6) or 0 when it is no IP address. */
export function ipFamily(s: string): 0 | 4 | 6 {
  return parseIp(s, scratch);
}

/** A compiled CidrRange: whether an address (text as the socket reports it) is in the range. */
export type CidrMatcher = (address: string) => boolean;

/** Compiles a CidrRange; an address prefix that is no IP address or a prefix_len past the family's width is refused. */
export function compileCidr(r: v3.CidrRange, path: string): CidrMatcher {
  const text = r.addressPrefix ?? "";
  const base = new Uint32Array(4);
  const family = parseIp(text, base);
  if (family === 0) throw new XdsConfigError(`${path}.addressPrefix`, `malformed IP address: '${text}'`);
  const len = r.prefixLen?.value ?? 0;
  const width = family === 4 ? 32 : 128;
  if (!Number.isInteger(len) || len < 0 || len > width) throw new XdsConfigError(`${path}.prefixLen`, `prefix length ${len} is out of range for an IPv${family} address`);
  const words = family === 4 ? 1 : 4;
  const mask = new Uint32Array(words);
  for (let w = 0; w < words; w++) {
    const bits = Math.min(32, Math.max(0, len - 32 * w));
    mask[w] = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    base[w] = (base[w] & mask[w]) >>> 0;
  }
  return (address) => {
    if (peerFamily(address) !== family) return false;
    for (let w = 0; w < words; w++) if (((scratch[w] & mask[w]) >>> 0) !== base[w]) return false;
    return true;
  };
}
