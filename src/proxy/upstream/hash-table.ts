// What the consistent-hash balancers (ring hash, Maglev) share: the table interface, host hash
// keys, and a per-host-set cache of built tables.
// Tables are built per priority from normalized host weights.
import type { Host, HostSet } from "./host.js";

export interface HashTable {
  choose(hi: number, lo: number, attempt: number): Host | undefined;
  readonly size: number;
}

export const TWO32 = 4294967296;

/** (hi·2^32 + lo) mod m, exact for m < 2^26. */
export function mod64(hi: number, lo: number, m: number): number {
  return ((hi % m) * (TWO32 % m) + (lo % m)) % m;
}

export const scratchHash = new Uint32Array(2);

export function hostHashKey(h: Host, useHostname: boolean): string {
  if (h.metadataHashKey) return h.metadataHashKey;
  if (useHostname && h.hostname) return h.hostname;
  return h.key;
}

/** Tables per host set, keyed by what they were built from (bounded: a few per set). */
export const tableCache = new WeakMap<HostSet, Map<string, HashTable>>();
export const TABLES_PER_SET = 4;
