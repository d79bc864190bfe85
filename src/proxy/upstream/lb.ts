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
import { durationMs, type ProtoObject } from "../../envoy/protos.js";
import { XdsConfigError } from "../xds-error.js";
import { hashParts, murmurHash2, xxHash64Into } from "./hash.js";
import { healthGeneration, type Host, type HostSet } from "./host.js";

export type LbPolicy = "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM" | "RING_HASH" | "MAGLEV";

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
export interface LbClusterConfig {
  name?: string;
  lbPolicy?: string;
  ringHashLbConfig?: ProtoObject;
  maglevLbConfig?: ProtoObject;
  leastRequestLbConfig?: ProtoObject;
  roundRobinLbConfig?: ProtoObject;
  commonLbConfig?: ProtoObject;
  /** Cluster.load_balancing_policy (typed extension policies); takes precedence over lbPolicy. */
  loadBalancingPolicy?: ProtoObject;
}

export interface LbOptions {
  /** Monotonic clock in ms, the one Host.lastHcPassTime uses (default performance.now). */
  now?: () => number;
}

export interface SlowStart {
  windowMs: number;
  aggression: number;
  /** min_weight_percent as a fraction (default 0.1). */
  minWeight: number;
}

/** Validated load-balancing settings of a cluster. */
export interface LbSettings {
  policy: LbPolicy;
  /** Percent 0-100; 0 disables panic mode. */
  healthyPanicThreshold: number;
  localityWeighted: boolean;
  /** zone_aware_lb_config.fail_traffic_on_panic: no host instead of all hosts in panic (not for hash policies, as Envoy). */
  failTrafficOnPanic: boolean;
  useHostnameForHashing: boolean;
  choiceCount: number;
  activeRequestBias: number;
  slowStart: SlowStart | undefined;
  minimumRingSize: number;
  maximumRingSize: number;
  hashFunction: "XX_HASH" | "MURMUR_HASH_2";
  tableSize: number;
}

export const DEFAULT_PANIC_THRESHOLD = 50;
export const DEFAULT_MIN_RING_SIZE = 1024;
export const DEFAULT_MAX_RING_SIZE = 8 * 1024 * 1024;
/**
 * Rings never exceed this many entries (12 bytes each: 12 MiB) whatever maximum_ring_size says;
 * rings only get large with very skewed weights (equal weights give max(1024, hosts) entries).
 */
export const RING_SIZE_CAP = 1024 * 1024;
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;
const MAX_MAGLEV_TABLE_SIZE = 5000011;
const MAX_RING_SIZE_PROTO = 8388608;

// ---------------------------------------------------------------------------------------------
// Config

function isObj(v: unknown): v is ProtoObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

type Fail = (field: string, message: string) => never;

function objAt(v: unknown, field: string, fail: Fail): ProtoObject | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) fail(field, "expected an object");
  return v as ProtoObject;
}

/** A UInt32/UInt64 wrapper: undefined when absent, `{}` is 0. */
function wrapped(v: unknown, field: string, fail: Fail): number | undefined {
  const o = objAt(v, field, fail);
  if (!o) return undefined;
  const n = o.value ?? 0;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0) fail(field, `invalid value ${JSON.stringify(n)}`);
  return n as number;
}

/** type.v3.Percent: value 0..100 (absent `value` is 0). */
function percent(v: unknown, field: string, fail: Fail): number | undefined {
  const o = objAt(v, field, fail);
  if (!o) return undefined;
  const n = o.value ?? 0;
  if (typeof n !== "number" || !(n >= 0 && n <= 100)) fail(`${field}.value`, `percent ${JSON.stringify(n)} must be between 0 and 100`);
  return n as number;
}

/** core.v3.RuntimeDouble: its default_value (runtime overrides do not exist here). */
function runtimeDouble(v: unknown, field: string, fail: Fail): number | undefined {
  const o = objAt(v, field, fail);
  if (!o) return undefined;
  const n = o.defaultValue ?? 0;
  if (typeof n !== "number" || Number.isNaN(n)) fail(`${field}.defaultValue`, `invalid number ${JSON.stringify(n)}`);
  return n as number;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

function slowStartOf(v: unknown, field: string, fail: Fail): SlowStart | undefined {
  const o = objAt(v, field, fail);
  if (!o) return undefined;
  const windowMs = durationMs(o.slowStartWindow) ?? 0;
  if (!(windowMs >= 0)) fail(`${field}.slowStartWindow`, "invalid duration");
  if (windowMs <= 0) return undefined;
  let aggression = runtimeDouble(o.aggression, `${field}.aggression`, fail) ?? 1;
  if (!(aggression > 0)) aggression = 1; // Envoy logs and uses 1.0
  const minPct = percent(o.minWeightPercent, `${field}.minWeightPercent`, fail);
  return { windowMs, aggression, minWeight: (minPct ?? 10) / 100 };
}

function defaults(): LbSettings {
  return {
    policy: "ROUND_ROBIN",
    healthyPanicThreshold: DEFAULT_PANIC_THRESHOLD,
    localityWeighted: false,
    failTrafficOnPanic: false,
    useHostnameForHashing: false,
    choiceCount: 2,
    activeRequestBias: 1,
    slowStart: undefined,
    minimumRingSize: DEFAULT_MIN_RING_SIZE,
    maximumRingSize: DEFAULT_MAX_RING_SIZE,
    hashFunction: "XX_HASH",
    tableSize: DEFAULT_MAGLEV_TABLE_SIZE,
  };
}

function leastRequestFields(s: LbSettings, o: ProtoObject | undefined, field: string, fail: Fail): void {
  if (!o) return;
  const cc = wrapped(o.choiceCount, `${field}.choiceCount`, fail);
  if (cc !== undefined) {
    if (cc < 2) fail(`${field}.choiceCount`, "value must be greater than or equal to 2");
    s.choiceCount = cc;
  }
  const bias = runtimeDouble(o.activeRequestBias, `${field}.activeRequestBias`, fail);
  if (bias !== undefined) {
    if (bias < 0) fail(`${field}.activeRequestBias.defaultValue`, "active_request_bias must be greater than or equal to 0.0");
    s.activeRequestBias = bias;
  }
  s.slowStart = slowStartOf(o.slowStartConfig, `${field}.slowStartConfig`, fail);
}

function ringHashFields(s: LbSettings, o: ProtoObject | undefined, field: string, fail: Fail): void {
  if (!o) return;
  const min = wrapped(o.minimumRingSize, `${field}.minimumRingSize`, fail);
  if (min !== undefined) {
    if (min > MAX_RING_SIZE_PROTO) fail(`${field}.minimumRingSize`, `value must be less than or equal to ${MAX_RING_SIZE_PROTO}`);
    s.minimumRingSize = min;
  }
  const max = wrapped(o.maximumRingSize, `${field}.maximumRingSize`, fail);
  if (max !== undefined) {
    if (max > MAX_RING_SIZE_PROTO) fail(`${field}.maximumRingSize`, `value must be less than or equal to ${MAX_RING_SIZE_PROTO}`);
    s.maximumRingSize = max;
  }
  if (s.minimumRingSize > s.maximumRingSize) {
    fail(field, `ring hash: minimum_ring_size (${s.minimumRingSize}) > maximum_ring_size (${s.maximumRingSize})`);
  }
  const hf = o.hashFunction ?? "XX_HASH";
  if (hf !== "XX_HASH" && hf !== "MURMUR_HASH_2") fail(`${field}.hashFunction`, `unknown hash function ${JSON.stringify(hf)}`);
  s.hashFunction = hf as LbSettings["hashFunction"];
  if (o.useHostnameForHashing === true) s.useHostnameForHashing = true;
}

function maglevFields(s: LbSettings, o: ProtoObject | undefined, field: string, fail: Fail): void {
  if (!o) return;
  const size = wrapped(o.tableSize, `${field}.tableSize`, fail);
  if (size !== undefined) {
    if (size > MAX_MAGLEV_TABLE_SIZE) fail(`${field}.tableSize`, `value must be less than or equal to ${MAX_MAGLEV_TABLE_SIZE}`);
    if (!isPrime(size)) fail(`${field}.tableSize`, "The table size of maglev must be prime number");
    s.tableSize = size;
  }
}

function consistentHashingFields(s: LbSettings, o: unknown, field: string, fail: Fail): void {
  const c = objAt(o, field, fail);
  if (c?.useHostnameForHashing === true) s.useHostnameForHashing = true;
  // hash_balance_factor (bounded loads) is validated but not applied.
  const f = wrapped(c?.hashBalanceFactor, `${field}.hashBalanceFactor`, fail);
  if (f !== undefined && f < 100) fail(`${field}.hashBalanceFactor`, "value must be greater than or equal to 100");
}

function localityLbConfig(s: LbSettings, o: unknown, field: string, fail: Fail): void {
  const c = objAt(o, field, fail);
  if (c && c.localityWeightedLbConfig !== undefined) s.localityWeighted = true;
}

const EXT_PREFIX = "type.googleapis.com/envoy.extensions.load_balancing_policies.";

/** Cluster.load_balancing_policy: the first policy this proxy supports wins, as in Envoy. */
function extensionPolicy(s: LbSettings, lbp: ProtoObject, field: string, fail: Fail): void {
  const policies = lbp.policies ?? [];
  if (!Array.isArray(policies) || policies.length === 0) fail(`${field}.policies`, "at least one policy is required");
  const list = policies as unknown[];
  for (let i = 0; i < list.length; i++) {
    const f = `${field}.policies[${i}].typedExtensionConfig.typedConfig`;
    const p = list[i];
    const tc = isObj(p) && isObj(p.typedExtensionConfig) ? p.typedExtensionConfig.typedConfig : undefined;
    if (!isObj(tc)) fail(f, "a policy needs a typed config");
    const cfg = tc as ProtoObject;
    const type = typeof cfg["@type"] === "string" ? (cfg["@type"] as string) : "";
    switch (type) {
      case `${EXT_PREFIX}round_robin.v3.RoundRobin`:
        s.policy = "ROUND_ROBIN";
        s.slowStart = slowStartOf(cfg.slowStartConfig, `${f}.slowStartConfig`, fail);
        localityLbConfig(s, cfg.localityLbConfig, `${f}.localityLbConfig`, fail);
        return;
      case `${EXT_PREFIX}least_request.v3.LeastRequest`:
        s.policy = "LEAST_REQUEST";
        leastRequestFields(s, cfg, f, fail);
        localityLbConfig(s, cfg.localityLbConfig, `${f}.localityLbConfig`, fail);
        return;
      case `${EXT_PREFIX}random.v3.Random`:
        s.policy = "RANDOM";
        localityLbConfig(s, cfg.localityLbConfig, `${f}.localityLbConfig`, fail);
        return;
      case `${EXT_PREFIX}ring_hash.v3.RingHash`:
        s.policy = "RING_HASH";
        ringHashFields(s, cfg, f, fail);
        consistentHashingFields(s, cfg.consistentHashingLbConfig, `${f}.consistentHashingLbConfig`, fail);
        if (cfg.localityWeightedLbConfig !== undefined) s.localityWeighted = true;
        return;
      case `${EXT_PREFIX}maglev.v3.Maglev`:
        s.policy = "MAGLEV";
        maglevFields(s, cfg, f, fail);
        consistentHashingFields(s, cfg.consistentHashingLbConfig, `${f}.consistentHashingLbConfig`, fail);
        if (cfg.localityWeightedLbConfig !== undefined) s.localityWeighted = true;
        return;
      case `${EXT_PREFIX}wrr_locality.v3.WrrLocality`: {
        const inner = objAt(cfg.endpointPickingPolicy, `${f}.endpointPickingPolicy`, fail);
        if (!inner) fail(`${f}.endpointPickingPolicy`, "an endpoint picking policy is required");
        extensionPolicy(s, inner as ProtoObject, `${f}.endpointPickingPolicy`, fail);
        s.localityWeighted = true;
        return;
      }
      default:
        // Not supported here: try the next one.
        break;
    }
  }
  fail(`${field}.policies`, "none of the load balancing policies is supported");
}

/**
 * Validates a cluster's load-balancing fields. Throws XdsConfigError with a field path
 * (`cluster NAME: ringHashLbConfig.minimumRingSize: ...` when the cluster has a name).
 * CLUSTER_PROVIDED (ORIGINAL_DST) is the cluster's own balancer and is rejected here.
 */
export function lbSettings(cluster: LbClusterConfig): LbSettings {
  const prefix = typeof cluster.name === "string" && cluster.name ? `cluster ${cluster.name}: ` : "";
  const fail: Fail = (field, message) => {
    throw new XdsConfigError(prefix + field, message);
  };
  const s = defaults();
  const common = objAt(cluster.commonLbConfig, "commonLbConfig", fail);
  const panic = percent(common?.healthyPanicThreshold, "commonLbConfig.healthyPanicThreshold", fail);
  if (panic !== undefined) s.healthyPanicThreshold = Math.round(panic);
  if (common?.localityWeightedLbConfig !== undefined) s.localityWeighted = true;
  const zoneAware = objAt(common?.zoneAwareLbConfig, "commonLbConfig.zoneAwareLbConfig", fail);
  if (zoneAware?.failTrafficOnPanic === true) s.failTrafficOnPanic = true;
  consistentHashingFields(s, common?.consistentHashingLbConfig, "commonLbConfig.consistentHashingLbConfig", fail);

  const lbp = objAt(cluster.loadBalancingPolicy, "loadBalancingPolicy", fail);
  if (lbp) {
    extensionPolicy(s, lbp, "loadBalancingPolicy", fail);
    return s;
  }
  const policy = cluster.lbPolicy ?? "ROUND_ROBIN";
  switch (policy) {
    case "ROUND_ROBIN":
      s.policy = "ROUND_ROBIN";
      s.slowStart = slowStartOf(objAt(cluster.roundRobinLbConfig, "roundRobinLbConfig", fail)?.slowStartConfig, "roundRobinLbConfig.slowStartConfig", fail);
      break;
    case "LEAST_REQUEST":
      s.policy = "LEAST_REQUEST";
      leastRequestFields(s, objAt(cluster.leastRequestLbConfig, "leastRequestLbConfig", fail), "leastRequestLbConfig", fail);
      break;
    case "RANDOM":
      s.policy = "RANDOM";
      break;
    case "RING_HASH":
      s.policy = "RING_HASH";
      ringHashFields(s, objAt(cluster.ringHashLbConfig, "ringHashLbConfig", fail), "ringHashLbConfig", fail);
      break;
    case "MAGLEV":
      s.policy = "MAGLEV";
      maglevFields(s, objAt(cluster.maglevLbConfig, "maglevLbConfig", fail), "maglevLbConfig", fail);
      break;
    case "CLUSTER_PROVIDED":
      fail("lbPolicy", "CLUSTER_PROVIDED is the cluster's own load balancer (ORIGINAL_DST), not built here");
      break;
    case "LOAD_BALANCING_POLICY_CONFIG":
      fail("loadBalancingPolicy", "LOAD_BALANCING_POLICY_CONFIG needs load_balancing_policy");
      break;
    default:
      fail("lbPolicy", `unsupported load balancing policy ${JSON.stringify(policy)}`);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// EDF scheduler (Envoy's EdfScheduler): each pick takes the entry with the earliest deadline and
// re-adds it at deadline + 1/weight (weight read at that moment); ties go in insertion order.

class Edf<T> {
  private readonly items: readonly T[];
  private readonly weightOf: (t: T) => number;
  private readonly dl: Float64Array;
  private readonly ord: Float64Array;
  private readonly ix: Int32Array;
  private readonly n: number;
  private time = 0;
  private order = 0;

  constructor(items: readonly T[], weightOf: (t: T) => number, prePicks: number) {
    const n = items.length;
    this.items = items;
    this.weightOf = weightOf;
    this.n = n;
    this.dl = new Float64Array(n);
    this.ord = new Float64Array(n);
    this.ix = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      this.dl[i] = 1 / safeWeight(weightOf(items[i]));
      this.ord[i] = this.order++;
      this.ix[i] = i;
    }
    for (let i = (n >> 1) - 1; i >= 0; i--) this.down(i);
    // A start offset (Envoy pre-picks seed % N times) so workers/instances do not move in lockstep.
    for (let i = 0; i < prePicks; i++) this.pick();
  }

  pick(): T {
    const item = this.items[this.ix[0]];
    this.time = this.dl[0];
    this.dl[0] = this.time + 1 / safeWeight(this.weightOf(item));
    this.ord[0] = this.order++;
    this.down(0);
    return item;
  }

  private less(a: number, b: number): boolean {
    const da = this.dl[a], db = this.dl[b];
    return da < db || (da === db && this.ord[a] < this.ord[b]);
  }

  private down(k: number): void {
    const n = this.n;
    for (;;) {
      const l = 2 * k + 1;
      if (l >= n) return;
      let m = l;
      if (l + 1 < n && this.less(l + 1, l)) m = l + 1;
      if (!this.less(m, k)) return;
      const d = this.dl[k], o = this.ord[k], x = this.ix[k];
      this.dl[k] = this.dl[m];
      this.ord[k] = this.ord[m];
      this.ix[k] = this.ix[m];
      this.dl[m] = d;
      this.ord[m] = o;
      this.ix[m] = x;
      k = m;
    }
  }
}

function safeWeight(w: number): number {
  return w > 1e-9 && w < Infinity ? w : 1e-9;
}

// ---------------------------------------------------------------------------------------------
// Consistent-hash tables (ring, Maglev), built per priority from normalized host weights.

interface HashTable {
  choose(hi: number, lo: number, attempt: number): Host | undefined;
  readonly size: number;
}

const TWO32 = 4294967296;

/** (hi·2^32 + lo) mod m, exact for m < 2^26. */
function mod64(hi: number, lo: number, m: number): number {
  return ((hi % m) * (TWO32 % m) + (lo % m)) % m;
}

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

const scratchHash = new Uint32Array(2);

function hostHashKey(h: Host, useHostname: boolean): string {
  if (h.metadataHashKey) return h.metadataHashKey;
  if (useHostname && h.hostname) return h.hostname;
  return h.key;
}

function buildRing(hosts: Host[], weights: number[], minWeight: number, s: LbSettings): Ring {
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

function buildMaglev(hosts: Host[], weights: number[], maxWeight: number, s: LbSettings): Maglev {
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

/** Tables per host set, keyed by what they were built from (bounded: a few per set). */
const tableCache = new WeakMap<HostSet, Map<string, HashTable>>();
const TABLES_PER_SET = 4;

// ---------------------------------------------------------------------------------------------
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
 * Builds the load balancer of a cluster over its host sets (index = priority). Throws
 * XdsConfigError for invalid load-balancing config (see lbSettings). `random` returns [0, 1)
 * (default Math.random); tests pass a seeded one.
 *
 * Building is O(hosts); ring/Maglev tables are built on the first pick of each priority and cached
 * per HostSet. ORIGINAL_DST (CLUSTER_PROVIDED) is not handled here.
 */
export function createLoadBalancer(cluster: LbClusterConfig, sets: HostSet[], random: () => number = Math.random, opts: LbOptions = {}): LoadBalancer {
  const s = lbSettings(cluster);
  const now = opts.now ?? (() => performance.now());
  return new Balancer(s, sets, random, now);
}
