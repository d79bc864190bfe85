// Envoy's ring hash (ketama): a ring of xxHash64 (or MurmurHash2) points per host, sized by
// minimum/maximum ring size and host weights; a pick is the first point at or after the hash.
import { murmurHash2, xxHash64Into } from "./hash.js";
import { type HashTable, hostHashKey, scratchHash } from "./hash-table.js";
import type { Host } from "./host.js";
import { type LbSettings, RING_SIZE_CAP } from "./lb-config.js";

class Ring implements HashTable {
  constructor(
    private readonly hosts: readonly Host[],
    private readonly hi: Uint32Array,
    private readonly lo: Uint32Array,
    private readonly idx: Int32Array,
  ) {}

  get size(): number {
    return this.idx.length;
  }

  choose(hi: number, lo: number, attempt: number): Host | undefined {
    const n = this.idx.length;
    if (n === 0) return undefined;
    const H = this.hi, L = this.lo;
    // First entry whose hash is >= the request hash, wrapping to the first (ketama).
    let a = 0, b = n;
    while (a < b) {
      const m = (a + b) >>> 1;
      const mh = H[m];
      if (mh < hi || (mh === hi && L[m] < lo)) a = m + 1;
      else b = m;
    }
    let k = a === n ? 0 : a;
    if (attempt > 0) k = (k + attempt) % n;
    return this.hosts[this.idx[k]];
  }
}

export function buildRing(hosts: Host[], weights: number[], minWeight: number, s: LbSettings): Ring {
  const maxSize = Math.min(s.maximumRingSize, RING_SIZE_CAP);
  const scale = Math.min(Math.ceil(minWeight * s.minimumRingSize) / minWeight, maxSize);
  const his: number[] = [];
  const los: number[] = [];
  const ids: number[] = [];
  let current = 0;
  let target = 0;
  for (let e = 0; e < hosts.length; e++) {
    const prefix = `${hostHashKey(hosts[e], s.useHostnameForHashing)}_`;
    target += scale * weights[e];
    for (let i = 0; current < target; i++, current++) {
      const key = prefix + i;
      if (s.hashFunction === "MURMUR_HASH_2") {
        const h = murmurHash2(key);
        his.push(Number(h >> 32n));
        los.push(Number(h & 0xffffffffn));
      } else {
        xxHash64Into(key, scratchHash);
        his.push(scratchHash[0]);
        los.push(scratchHash[1]);
      }
      ids.push(e);
    }
  }
  const n = ids.length;
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => his[a] - his[b] || los[a] - los[b]);
  const H = new Uint32Array(n), L = new Uint32Array(n), I = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const o = order[i];
    H[i] = his[o];
    L[i] = los[o];
    I[i] = ids[o];
  }
  return new Ring(hosts, H, L, I);
}
