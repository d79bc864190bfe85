// Upstream load balancing as Envoy does it (source/extensions/load_balancing_policies/common/
// load_balancer_impl.cc, thread_aware_lb_impl.cc, ring_hash, maglev, least_request, round_robin):
//
// 1. Priority: each priority's health = min(100, overprovisioning_factor × healthy / hosts) (weights
//    instead of counts with weighted_priority_health), degraded likewise; load is given to priorities
//    in order as long as they have availability, normalized when the total is below 100
//    (recalculatePerPriorityState). A priority whose healthy+degraded share is below the panic
//    threshold (common_lb_config.healthy_panic_threshold, default 50%) is "in panic" and balances over
//    all its hosts — unless the total availability is 100%; when every priority is in panic, load is
//    split by host counts (recalculateLoadInTotalPanic). A pick draws 1..100 against the cumulative
//    loads (choosePriority): random for ROUND_ROBIN/LEAST_REQUEST/RANDOM, the request hash for
//    RING_HASH/MAGLEV (so one key keeps its priority).
// 2. Locality (common_lb_config.locality_weighted_lb_config): a locality is chosen by EDF over
//    effective weights = weight × min(1, factor/100 × healthy/hosts), then the policy runs within it.
//    Consistent-hash policies instead fold locality weights into host weights (normalizeWeights).
// 3. Policy: ROUND_ROBIN (plain RR from a random start when weights are equal, EDF otherwise),
//    LEAST_REQUEST (power of N random choices with equal weights; EDF with weight /
//    (active+1)^active_request_bias otherwise), RANDOM (uniform, weights ignored, as Envoy), RING_HASH
//    (ketama ring of xxHash64("ADDRESS:PORT_N") points, or MurmurHash2), MAGLEV (Envoy's weighted
//    Maglev table, xxHash64 seeds 0/1 for offset/skip). Slow start (slow_start_config) scales weights
//    of hosts that became healthy less than the window ago, for ROUND_ROBIN and LEAST_REQUEST.
// 4. Retries with the previous_hosts predicate: up to host_selection_retry_max_attempts re-picks
//    (ring: next ring entry; Maglev: hash ^ (2^64 - attempt)), then the last pick is used.
//
// Health is read from the hosts (Host.healthy/degraded). Each pick compares the process-wide health
// generation and recomputes the derived state when any host's health changed; hash tables are built
// lazily per priority and cached per HostSet and host selection, so flapping health and LB rebuilds
// with unchanged host sets reuse them.
//
// Not done here: zone-aware routing (needs the local cluster), bounded-load consistent hashing
// (hash_balance_factor is validated, not applied), runtime overrides, excluded hosts, client-side
// weighted round robin. One deliberate difference: when a hash policy's pick lands on a priority's
// degraded share, the table is built over the degraded hosts (Envoy's table only has healthy hosts
// there and fails the pick).
//
// Request hashes (LbContext.hash) are unsigned 64-bit values as `bigint` (what hash.ts's hashKey and
// combineHash return); a non-negative integer `number` is accepted too. Without a hash, RING_HASH and
// MAGLEV pick with a random 64-bit value, as Envoy.
import { performance } from "node:perf_hooks";
import { Edf } from "./edf.js";
import { hashParts } from "./hash.js";
import { type HashTable, hostHashKey, mod64, TABLES_PER_SET, tableCache, TWO32 } from "./hash-table.js";
import { healthGeneration, type Host, type HostSet } from "./host.js";
import type { LbOptions, LbPolicy, LbSettings } from "./lb-config.js";
import { buildMaglev } from "./maglev.js";
import { buildRing } from "./ring-hash.js";

export interface LbContext {
  /**
   * The request's 64-bit hash from the route's hash policies: an unsigned `bigint` (hash.ts's
   * hashKey/combineHash), or a non-negative integer `number`. Used by RING_HASH and MAGLEV (priority
   * and host); ignored by the other policies.
   */
  hash?: bigint | number;
  /** The retry host predicate (previous_hosts): true for hosts to avoid on this attempt. */
  retryExclude?: (h: Host) => boolean;
  /** RetryPolicy.host_selection_retry_max_attempts (default 1): re-picks allowed while retryExclude rejects. */
  hostSelectionRetryMaxAttempts?: number;
}

export interface LoadBalancer {
  readonly policy: LbPolicy;
  /** A host for one request, or undefined when no host can be chosen (Envoy's "no healthy upstream"). */
  pick(ctx?: LbContext): Host | undefined;
  /** Recomputes the health-derived state now (pick does it by itself when any host's health changed). */
  refresh(): void;
  /** Current per-priority loads (percent) and panic flags, for the admin page and tests. */
  priorityLoad(): { healthy: number[]; degraded: number[]; panic: boolean[] };
}

/** The Cluster fields load balancing reads (a decoded envoy.config.cluster.v3.Cluster fits). */
// The balancer

interface Source {
  hosts: Host[];
  /** Round-robin position (Envoy's rr_indexes_, starting at the LB's seed). */
  rr: number;
  /** undefined: not prepared yet; null: unweighted selection. */
  edf: Edf<Host> | null | undefined;
  /** Host weights differ. */
  weighted: boolean;
  /** While > 0, hosts are in slow start until this time (EDF is used until then). */
  slowUntil: number;
}

interface PriorityState {
  set: HostSet;
  healthy: Host[];
  degraded: Host[];
  healthyPerLocality: Host[][];
  degradedPerLocality: Host[][];
  health: number;
  degradedAvailability: number;
  panic: boolean;
  all: Source;
  healthySrc: Source;
  degradedSrc: Source;
  localityHealthy: Source[];
  localityDegraded: Source[];
  localityHealthyEdf: Edf<number> | null;
  localityDegradedEdf: Edf<number> | null;
  /** Hash policies: table over healthy hosts (all hosts in panic); undefined until first use. */
  table: HashTable | null | undefined;
  degradedTable: HashTable | null | undefined;
}

function source(hosts: Host[], prev: Source | undefined, seed: number): Source {
  return { hosts, rr: prev ? prev.rr : seed, edf: undefined, weighted: false, slowUntil: 0 };
}

function weightsDiffer(hosts: readonly Host[]): boolean {
  for (let i = 1; i < hosts.length; i++) if (hosts[i].weight !== hosts[0].weight) return true;
  return false;
}

class Balancer implements LoadBalancer {
  readonly policy: LbPolicy;
  private readonly hashing: boolean;
  private states: PriorityState[] = [];
  private healthyLoad: number[] = [];
  private degradedLoad: number[] = [];
  private generation = -1;
  private pickedDegraded = false;
  private readonly seed: number;
  private readonly parts = new Uint32Array(2);
  private readonly hostWeight: (h: Host) => number;

  constructor(
    private readonly s: LbSettings,
    private readonly sets: readonly HostSet[],
    private readonly random: () => number,
    private readonly now: () => number,
  ) {
    this.policy = s.policy;
    this.hashing = s.policy === "RING_HASH" || s.policy === "MAGLEV";
    this.seed = Math.floor(random() * 0x40000000);
    const lr = s.policy === "LEAST_REQUEST";
    const bias = s.activeRequestBias;
    const ss = s.slowStart;
    this.hostWeight = (h: Host): number => {
      let w = h.weight;
      if (lr) {
        if (bias === 1) w = w / (h.activeRequests + 1);
        else if (bias !== 0) w = w / Math.pow(h.activeRequests + 1, bias);
      }
      if (ss && h.healthy) {
        const inHealthy = this.now() - h.lastHcPassTime;
        if (inHealthy < ss.windowMs) {
          const tf = Math.max(1, inHealthy) / ss.windowMs;
          const f = ss.aggression === 1 ? tf : Math.pow(tf, 1 / ss.aggression);
          w = w * Math.max(f, ss.minWeight);
        }
      }
      return w;
    };
    this.refresh();
  }

  priorityLoad(): { healthy: number[]; degraded: number[]; panic: boolean[] } {
    if (healthGeneration() !== this.generation) this.refresh();
    return { healthy: [...this.healthyLoad], degraded: [...this.degradedLoad], panic: this.states.map((s) => s.panic) };
  }

  refresh(): void {
    this.generation = healthGeneration();
    const old = this.states;
    const states = this.sets.map((set, p) => this.priorityState(set, old[p]));
    this.states = states;
    const n = states.length;
    const hl = new Array<number>(n).fill(0);
    const dl = new Array<number>(n).fill(0);
    let sum = 0;
    for (const st of states) sum += st.health + st.degradedAvailability;
    const normalized = Math.min(100, sum);
    if (normalized > 0) {
      // distributeLoad: healthy first, then degraded with what remains, rounding to the first available.
      let total = 100;
      let firstHealthy = -1;
      for (let i = 0; i < n; i++) {
        if (firstHealthy < 0 && states[i].health > 0) firstHealthy = i;
        hl[i] = Math.min(total, Math.floor((states[i].health * 100) / normalized));
        total -= hl[i];
      }
      let firstDegraded = -1;
      for (let i = 0; i < n; i++) {
        if (firstDegraded < 0 && states[i].degradedAvailability > 0) firstDegraded = i;
        dl[i] = Math.min(total, Math.floor((states[i].degradedAvailability * 100) / normalized));
        total -= dl[i];
      }
      if (total !== 0) {
        if (firstHealthy !== -1) hl[firstHealthy] += total;
        else dl[firstDegraded] += total;
      }
    }
    // recalculatePerPriorityPanic
    const threshold = Math.min(100, this.s.healthyPanicThreshold);
    if (n > 0) {
      if (threshold === 0 && normalized === 0) {
        for (const st of states) st.panic = false;
        hl[0] = 100;
      } else {
        let totalPanic = true;
        for (const st of states) {
          st.panic = normalized === 100 ? false : this.inPanic(st, threshold);
          totalPanic = totalPanic && st.panic;
        }
        if (totalPanic) {
          // recalculateLoadInTotalPanic: by host counts, regardless of health.
          let hosts = 0;
          for (const st of states) hosts += st.set.hosts.length;
          hl.fill(0);
          dl.fill(0);
          if (hosts === 0) hl[0] = 100;
          else {
            let total = 100;
            let first = -1;
            for (let i = 0; i < n; i++) {
              const c = states[i].set.hosts.length;
              if (first < 0 && c > 0) first = i;
              hl[i] = Math.floor((100 * c) / hosts);
              total -= hl[i];
            }
            hl[first] += total;
          }
        }
      }
    }
    this.healthyLoad = hl;
    this.degradedLoad = dl;
  }

  private inPanic(st: PriorityState, threshold: number): boolean {
    const count = st.set.hosts.length;
    const healthyPct = count === 0 ? 0 : (100 * st.healthy.length) / count;
    const degradedPct = count === 0 ? 0 : (100 * st.degraded.length) / count;
    return healthyPct + degradedPct < threshold;
  }

  private priorityState(set: HostSet, prev: PriorityState | undefined): PriorityState {
    const healthy: Host[] = [];
    const degraded: Host[] = [];
    let healthyW = 0, degradedW = 0, totalW = 0;
    for (const h of set.hosts) {
      totalW += h.weight;
      if (h.healthy) {
        healthy.push(h);
        healthyW += h.weight;
      } else if (h.degraded) {
        degraded.push(h);
        degradedW += h.weight;
      }
    }
    const count = set.hosts.length;
    let health = 0, degradedAvailability = 0;
    if (count > 0) {
      const weighted = set.weightedPriorityHealth;
      const hw = weighted ? healthyW : healthy.length;
      const dw = weighted ? degradedW : degraded.length;
      const tw = weighted ? totalW : count;
      health = Math.min(100, Math.floor((set.overprovisioningFactor * hw) / tw));
      degradedAvailability = Math.min(100, Math.floor((set.overprovisioningFactor * dw) / tw));
    }
    const healthyPerLocality: Host[][] = [];
    const degradedPerLocality: Host[][] = [];
    for (const l of set.localities) {
      const h: Host[] = [];
      const d: Host[] = [];
      for (const host of l.hosts) {
        if (host.healthy) h.push(host);
        else if (host.degraded) d.push(host);
      }
      healthyPerLocality.push(h);
      degradedPerLocality.push(d);
    }
    const seed = this.seed;
    const st: PriorityState = {
      set,
      healthy,
      degraded,
      healthyPerLocality,
      degradedPerLocality,
      health,
      degradedAvailability,
      panic: false,
      all: source(set.hosts, prev?.all, seed),
      healthySrc: source(healthy, prev?.healthySrc, seed),
      degradedSrc: source(degraded, prev?.degradedSrc, seed),
      localityHealthy: [],
      localityDegraded: [],
      localityHealthyEdf: null,
      localityDegradedEdf: null,
      table: undefined,
      degradedTable: undefined,
    };
    if (this.s.localityWeighted && !this.hashing) {
      for (let i = 0; i < set.localities.length; i++) {
        st.localityHealthy.push(source(healthyPerLocality[i], prev?.localityHealthy[i], seed));
        st.localityDegraded.push(source(degradedPerLocality[i], prev?.localityDegraded[i], seed));
      }
      st.localityHealthyEdf = this.localityScheduler(set, healthyPerLocality);
      st.localityDegradedEdf = this.localityScheduler(set, degradedPerLocality);
    }
    return st;
  }

  /** EDF over localities by effective weight (HostSetImpl::effectiveLocalityWeight); null if all are 0. */
  private localityScheduler(set: HostSet, eligible: Host[][]): Edf<number> | null {
    const weights: number[] = [];
    const items: number[] = [];
    for (let i = 0; i < set.localities.length; i++) {
      const l = set.localities[i];
      const count = l.hosts.length;
      if (count === 0 || l.weight === 0) continue;
      const ratio = Math.min(1, (set.overprovisioningFactor / 100) * (eligible[i].length / count));
      const w = l.weight * ratio;
      if (w > 0) {
        weights[i] = w;
        items.push(i);
      }
    }
    if (items.length === 0) return null;
    return new Edf(items, (i) => weights[i], 0);
  }

  /** choosePriority: x in 1..100 against cumulative healthy, then degraded loads. */
  private choosePriority(x: number): number {
    let agg = 0;
    const hl = this.healthyLoad, dl = this.degradedLoad;
    for (let i = 0; i < hl.length; i++) {
      agg += hl[i];
      if (x <= agg) {
        this.pickedDegraded = false;
        return i;
      }
    }
    for (let i = 0; i < dl.length; i++) {
      agg += dl[i];
      if (x <= agg) {
        this.pickedDegraded = true;
        return i;
      }
    }
    this.pickedDegraded = false;
    return 0;
  }

  pick(ctx?: LbContext): Host | undefined {
    if (healthGeneration() !== this.generation) this.refresh();
    if (this.states.length === 0) return undefined;
    const exclude = ctx?.retryExclude;
    const attempts = exclude ? Math.max(0, ctx?.hostSelectionRetryMaxAttempts ?? 1) + 1 : 1;
    if (this.hashing) return this.pickHashed(ctx, exclude, attempts);
    let host: Host | undefined;
    for (let i = 0; i < attempts; i++) {
      host = this.pickOnce();
      if (!host || !exclude || !exclude(host)) return host;
    }
    return host;
  }

  private pickOnce(): Host | undefined {
    const p = this.choosePriority(Math.floor(this.random() * 100) + 1);
    const st = this.states[p];
    const degraded = this.pickedDegraded;
    let src: Source;
    if (st.panic) {
      if (this.s.failTrafficOnPanic) return undefined;
      src = st.all;
    } else {
      src = degraded ? st.degradedSrc : st.healthySrc;
      if (this.s.localityWeighted) {
        const edf = degraded ? st.localityDegradedEdf : st.localityHealthyEdf;
        if (edf) {
          const li = edf.pick();
          src = degraded ? st.localityDegraded[li] : st.localityHealthy[li];
        }
      }
    }
    return this.pickFrom(src);
  }

  private prepare(src: Source): void {
    const hosts = src.hosts;
    src.weighted = weightsDiffer(hosts);
    src.slowUntil = 0;
    const ss = this.s.slowStart;
    if (ss) {
      const now = this.now();
      for (const h of hosts) {
        if (!h.healthy) continue;
        const until = h.lastHcPassTime + ss.windowMs;
        if (until > now && until > src.slowUntil) src.slowUntil = until;
      }
    }
    const useEdf = this.s.policy !== "RANDOM" && hosts.length > 1 && (src.weighted || src.slowUntil > 0);
    src.edf = useEdf ? new Edf(hosts, this.hostWeight, this.seed % hosts.length) : null;
  }

  private pickFrom(src: Source): Host | undefined {
    const hosts = src.hosts;
    const n = hosts.length;
    if (n === 0) return undefined;
    if (src.edf === undefined) this.prepare(src);
    const edf = src.edf;
    if (edf) {
      // Once slow start is over, equal weights go back to unweighted selection.
      if (src.weighted || src.slowUntil === 0 || this.now() < src.slowUntil) return edf.pick();
      src.edf = null;
      src.slowUntil = 0;
    }
    switch (this.s.policy) {
      case "LEAST_REQUEST": {
        // Power of N choices (with replacement), fewest active requests wins, ties keep the first.
        let cand = hosts[Math.floor(this.random() * n)];
        for (let i = 1; i < this.s.choiceCount; i++) {
          const h = hosts[Math.floor(this.random() * n)];
          if (h.activeRequests < cand.activeRequests) cand = h;
        }
        return cand;
      }
      case "RANDOM":
        return hosts[Math.floor(this.random() * n)];
      default: {
        const h = hosts[src.rr % n];
        src.rr = src.rr >= 0x3fffffff ? 0 : src.rr + 1;
        return h;
      }
    }
  }

  private pickHashed(ctx: LbContext | undefined, exclude: ((h: Host) => boolean) | undefined, attempts: number): Host | undefined {
    const parts = this.parts;
    if (ctx?.hash !== undefined) hashParts(ctx.hash, parts);
    else {
      parts[0] = Math.floor(this.random() * TWO32);
      parts[1] = Math.floor(this.random() * TWO32);
    }
    const hi = parts[0], lo = parts[1];
    const p = this.choosePriority(mod64(hi, lo, 100) + 1);
    const st = this.states[p];
    let table: HashTable | null;
    if (this.pickedDegraded && !st.panic) {
      if (st.degradedTable === undefined) st.degradedTable = this.table(st, true);
      table = st.degradedTable;
    } else {
      if (st.table === undefined) st.table = this.table(st, false);
      table = st.table;
    }
    if (!table) return undefined;
    let host: Host | undefined;
    for (let i = 0; i < attempts; i++) {
      host = table.choose(hi, lo, i);
      if (!host || !exclude || !exclude(host)) return host;
    }
    return host;
  }

  /** normalizeWeights + ring/Maglev build (cached per host set and selection). */
  private table(st: PriorityState, degraded: boolean): HashTable | null {
    const s = this.s;
    const set = st.set;
    const hosts: Host[] = [];
    const weights: number[] = [];
    let min = 1, max = 0;
    const addHosts = (list: readonly Host[], localityWeight: number): void => {
      let sum = 0;
      for (const h of list) sum += h.weight;
      for (const h of list) {
        const w = (h.weight * localityWeight) / sum;
        hosts.push(h);
        weights.push(w);
        if (w < min) min = w;
        if (w > max) max = w;
      }
    };
    if (!s.localityWeighted || set.localities.length === 0) {
      addHosts(st.panic ? set.hosts : degraded ? st.degraded : st.healthy, 1);
    } else {
      let sum = 0;
      for (const l of set.localities) sum += l.weight;
      if (sum > 0) {
        for (let i = 0; i < set.localities.length; i++) {
          const l = set.localities[i];
          if (l.weight === 0) continue;
          addHosts(st.panic ? l.hosts : degraded ? st.degradedPerLocality[i] : st.healthyPerLocality[i], l.weight / sum);
        }
      }
    }
    if (hosts.length === 0) return null;
    let key = `${s.policy}|${s.minimumRingSize}|${s.maximumRingSize}|${s.hashFunction}|${s.tableSize}|${s.useHostnameForHashing}|`;
    for (let i = 0; i < hosts.length; i++) key += `${hostHashKey(hosts[i], s.useHostnameForHashing)}=${hosts[i].key}*${weights[i]},`;
    let cache = tableCache.get(set);
    const hit = cache?.get(key);
    if (hit) return hit;
    const t = s.policy === "MAGLEV" ? buildMaglev(hosts, weights, max, s) : buildRing(hosts, weights, min, s);
    if (!cache) tableCache.set(set, (cache = new Map()));
    if (cache.size >= TABLES_PER_SET) cache.delete(cache.keys().next().value as string);
    cache.set(key, t);
    return t;
  }
}

/**
 * Builds the load balancer of a cluster over its host sets (index = priority) from the settings
 * compiled with the cluster (lb-config.ts' lbSettings, once per CDS update). `random` returns [0, 1)
 * (default Math.random); tests pass a seeded one.
 *
 * Building is O(hosts); ring/Maglev tables are built on the first pick of each priority and cached
 * per HostSet. ORIGINAL_DST (CLUSTER_PROVIDED) is not handled here.
 */
export function createLoadBalancer(s: LbSettings, sets: HostSet[], random: () => number = Math.random, opts: LbOptions = {}): LoadBalancer {
  const now = opts.now ?? (() => performance.now());
  return new Balancer(s, sets, random, now);
}
