// Envoy's weighted Maglev table: each host fills its preference list (xxHash64 seeds 0/1 for
// offset/skip) in proportion to its weight; a pick is table[hash mod size].
import { xxHash64Into } from "./hash.js";
import { type HashTable, hostHashKey, mod64, scratchHash, TWO32 } from "./hash-table.js";
import type { Host } from "./host.js";
import type { LbSettings } from "./lb-config.js";

class Maglev implements HashTable {
  constructor(
    private readonly hosts: readonly Host[],
    private readonly table: Int32Array,
  ) {}

  get size(): number {
    return this.table.length;
  }

  choose(hi: number, lo: number, attempt: number): Host | undefined {
    if (this.hosts.length === 0) return undefined;
    if (attempt > 0) {
      // hash ^= ~0 - attempt + 1 (= 2^64 - attempt)
      hi = (hi ^ 0xffffffff) >>> 0;
      lo = (lo ^ ((TWO32 - attempt) >>> 0)) >>> 0;
    }
    return this.hosts[this.table[mod64(hi, lo, this.table.length)]];
  }
}

export function buildMaglev(hosts: Host[], weights: number[], maxWeight: number, s: LbSettings): Maglev {
  const M = s.tableSize;
  const keys = hosts.map((h) => hostHashKey(h, s.useHostnameForHashing));
  // Maglev fills the table in a stable order: hosts sorted by their hash key.
  const order = hosts.map((_, i) => i).sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : a - b));
  const k = order.length;
  const sortedHosts = order.map((i) => hosts[i]);
  const w = new Float64Array(k), target = new Float64Array(k), pos = new Float64Array(k), skip = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    const key = keys[order[j]];
    w[j] = weights[order[j]];
    xxHash64Into(key, scratchHash);
    pos[j] = mod64(scratchHash[0], scratchHash[1], M);
    xxHash64Into(key, scratchHash, 0, 1);
    skip[j] = mod64(scratchHash[0], scratchHash[1], M - 1) + 1;
  }
  const table = new Int32Array(M).fill(-1);
  let filled = 0;
  for (let iteration = 1; filled < M; iteration++) {
    for (let j = 0; j < k && filled < M; j++) {
      if (iteration * w[j] < target[j]) continue;
      target[j] += maxWeight;
      let c = pos[j];
      while (table[c] !== -1) {
        c += skip[j];
        if (c >= M) c -= M;
      }
      table[c] = j;
      c += skip[j];
      if (c >= M) c -= M;
      pos[j] = c;
      filled++;
    }
  }
  return new Maglev(sortedHosts, table);
}
