// A cluster's load-balancing settings, compiled once from CDS: lb_policy or load_balancing_policy
// (Envoy's typed extensions: round_robin, least_request, random, ring_hash, maglev), ring and
// table sizes, hash functions, slow start, locality weighting and the panic threshold.
import { durationMs, isAnyOf } from "../../envoy/protos.js";
import type * as v3 from "../../envoy/types.js";
import { XdsConfigError } from "../xds-error.js";

export type LbPolicy = "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM" | "RING_HASH" | "MAGLEV";

export interface LbOptions {
  /** Monotonic clock in ms, the one Host.lastHcPassTime uses (default performance.now). */
  now?: () => number;
}

interface SlowStart {
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

const DEFAULT_PANIC_THRESHOLD = 50;
const DEFAULT_MIN_RING_SIZE = 1024;
const DEFAULT_MAX_RING_SIZE = 8 * 1024 * 1024;
/**
 * Rings never exceed this many entries (12 bytes each: 12 MiB) whatever maximum_ring_size says;
 * rings only get large with very skewed weights (equal weights give max(1024, hosts) entries).
 */
export const RING_SIZE_CAP = 1024 * 1024;
const DEFAULT_MAGLEV_TABLE_SIZE = 65537;
const MAX_MAGLEV_TABLE_SIZE = 5000011;
const MAX_RING_SIZE_PROTO = 8388608;

// Config

type Fail = (field: string, message: string) => never;

/** type.v3.Percent: value 0..100 (absent `value` is 0; a non-finite one arrives as a string). */
function percent(p: v3.Percent | undefined, field: string, fail: Fail): number | undefined {
  if (!p) return undefined;
  const n = p.value ?? 0;
  if (!(n >= 0 && n <= 100)) fail(`${field}.value`, `percent ${JSON.stringify(n)} must be between 0 and 100`);
  return n;
}

/** core.v3.RuntimeDouble: its default_value (runtime overrides do not exist here). */
function runtimeDouble(d: v3.RuntimeDouble | undefined, field: string, fail: Fail): number | undefined {
  if (!d) return undefined;
  const n = d.defaultValue ?? 0;
  // NaN and the infinities arrive from the decoders as strings.
  if (!Number.isFinite(n)) fail(`${field}.defaultValue`, `invalid number ${JSON.stringify(n)}`);
  return n;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

function slowStartOf(o: v3.SlowStartConfig | undefined, field: string, fail: Fail): SlowStart | undefined {
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

/** Cluster.least_request_lb_config, or the least_request extension (which adds full scan). */
function leastRequestFields(s: LbSettings, o: v3.Cluster.LeastRequestLbConfig & v3.LeastRequest, field: string, fail: Fail): void {
  if (o.choiceCount) {
    const cc = o.choiceCount.value ?? 0;
    if (cc < 2) fail(`${field}.choiceCount`, "value must be greater than or equal to 2");
    s.choiceCount = cc;
  }
  const bias = runtimeDouble(o.activeRequestBias, `${field}.activeRequestBias`, fail);
  if (bias !== undefined) {
    if (bias < 0) fail(`${field}.activeRequestBias.defaultValue`, "active_request_bias must be greater than or equal to 0.0");
    s.activeRequestBias = bias;
  }
  s.slowStart = slowStartOf(o.slowStartConfig, `${field}.slowStartConfig`, fail);
  // Scanning every host is not implemented: refused rather than run as N random choices.
  if (o.enableFullScan?.value === true) fail(`${field}.enableFullScan`, "full scan is not implemented by tsmesh");
  if (o.selectionMethod !== undefined && o.selectionMethod !== "N_CHOICES") fail(`${field}.selectionMethod`, `selection method ${JSON.stringify(o.selectionMethod)} is not implemented by tsmesh`);
}

const HASH_FUNCTIONS: Readonly<Record<v3.RingHash.HashFunction, LbSettings["hashFunction"]>> = {
  // The ring_hash extension's default, as Envoy: xxHash.
  DEFAULT_HASH: "XX_HASH",
  XX_HASH: "XX_HASH",
  MURMUR_HASH_2: "MURMUR_HASH_2",
};

/** Cluster.ring_hash_lb_config, or the ring_hash extension. */
function ringHashFields(s: LbSettings, o: v3.Cluster.RingHashLbConfig | v3.RingHash, field: string, fail: Fail): void {
  if (o.minimumRingSize) {
    const min = o.minimumRingSize.value ?? 0;
    if (min > MAX_RING_SIZE_PROTO) fail(`${field}.minimumRingSize`, `value must be less than or equal to ${MAX_RING_SIZE_PROTO}`);
    s.minimumRingSize = min;
  }
  if (o.maximumRingSize) {
    const max = o.maximumRingSize.value ?? 0;
    if (max > MAX_RING_SIZE_PROTO) fail(`${field}.maximumRingSize`, `value must be less than or equal to ${MAX_RING_SIZE_PROTO}`);
    s.maximumRingSize = max;
  }
  if (s.minimumRingSize > s.maximumRingSize) {
    fail(field, `ring hash: minimum_ring_size (${s.minimumRingSize}) > maximum_ring_size (${s.maximumRingSize})`);
  }
  const hf = o.hashFunction ?? "XX_HASH";
  // A value the schema does not know arrives as its number.
  if (!Object.hasOwn(HASH_FUNCTIONS, hf)) fail(`${field}.hashFunction`, `unknown hash function ${JSON.stringify(hf)}`);
  s.hashFunction = HASH_FUNCTIONS[hf];
}

/** Cluster.maglev_lb_config, or the maglev extension. */
function maglevFields(s: LbSettings, o: v3.Cluster.MaglevLbConfig, field: string, fail: Fail): void {
  if (o.tableSize) {
    const size = o.tableSize.value ?? 0;
    if (size > MAX_MAGLEV_TABLE_SIZE) fail(`${field}.tableSize`, `value must be less than or equal to ${MAX_MAGLEV_TABLE_SIZE}`);
    if (!isPrime(size)) fail(`${field}.tableSize`, "The table size of maglev must be prime number");
    s.tableSize = size;
  }
}

function consistentHashingFields(s: LbSettings, c: v3.Cluster.CommonLbConfig.ConsistentHashingLbConfig | undefined, field: string, fail: Fail): void {
  if (c?.useHostnameForHashing === true) s.useHostnameForHashing = true;
  // hash_balance_factor (bounded loads) is validated but not applied.
  hashBalanceFactor(c?.hashBalanceFactor, `${field}.hashBalanceFactor`, fail);
}

function hashBalanceFactor(f: v3.UInt32Value | undefined, field: string, fail: Fail): void {
  if (f && (f.value ?? 0) < 100) fail(field, "value must be greater than or equal to 100");
}

/** The extensions' locality_lb_config: locality-weighted, or zone-aware (only fail_traffic_on_panic applies here). */
function localityLbConfig(s: LbSettings, c: v3.LocalityLbConfig | undefined): void {
  if (c?.localityWeightedLbConfig !== undefined) s.localityWeighted = true;
  if (c?.zoneAwareLbConfig?.failTrafficOnPanic === true) s.failTrafficOnPanic = true;
}

const WRR_LOCALITY = "type.googleapis.com/envoy.extensions.load_balancing_policies.wrr_locality.v3.WrrLocality";

/** envoy.extensions.load_balancing_policies.wrr_locality.v3.WrrLocality (in the all-API tier, outside the generated types). */
interface WrrLocality {
  endpointPickingPolicy?: v3.LoadBalancingPolicy;
}

/** Cluster.load_balancing_policy: the first policy this proxy supports wins, as in Envoy. */
function extensionPolicy(s: LbSettings, lbp: v3.LoadBalancingPolicy, field: string, fail: Fail): void {
  const list = lbp.policies ?? [];
  if (list.length === 0) fail(`${field}.policies`, "at least one policy is required");
  for (let i = 0; i < list.length; i++) {
    const f = `${field}.policies[${i}].typedExtensionConfig.typedConfig`;
    const cfg = list[i].typedExtensionConfig?.typedConfig;
    if (!cfg) fail(f, "a policy needs a typed config");
    if (isAnyOf(cfg, "envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin")) {
      s.policy = "ROUND_ROBIN";
      s.slowStart = slowStartOf(cfg.slowStartConfig, `${f}.slowStartConfig`, fail);
      localityLbConfig(s, cfg.localityLbConfig);
      return;
    }
    if (isAnyOf(cfg, "envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest")) {
      s.policy = "LEAST_REQUEST";
      leastRequestFields(s, cfg, f, fail);
      localityLbConfig(s, cfg.localityLbConfig);
      return;
    }
    if (isAnyOf(cfg, "envoy.extensions.load_balancing_policies.random.v3.Random")) {
      s.policy = "RANDOM";
      localityLbConfig(s, cfg.localityLbConfig);
      return;
    }
    if (isAnyOf(cfg, "envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash")) {
      s.policy = "RING_HASH";
      ringHashFields(s, cfg, f, fail);
      if (cfg.useHostnameForHashing === true) s.useHostnameForHashing = true;
      hashBalanceFactor(cfg.hashBalanceFactor, `${f}.hashBalanceFactor`, fail);
      consistentHashingFields(s, cfg.consistentHashingLbConfig, `${f}.consistentHashingLbConfig`, fail);
      if (cfg.localityWeightedLbConfig !== undefined) s.localityWeighted = true;
      return;
    }
    if (isAnyOf(cfg, "envoy.extensions.load_balancing_policies.maglev.v3.Maglev")) {
      s.policy = "MAGLEV";
      maglevFields(s, cfg, f, fail);
      consistentHashingFields(s, cfg.consistentHashingLbConfig, `${f}.consistentHashingLbConfig`, fail);
      if (cfg.localityWeightedLbConfig !== undefined) s.localityWeighted = true;
      return;
    }
    if (cfg["@type"] === (WRR_LOCALITY as string)) {
      const inner = (cfg as unknown as WrrLocality).endpointPickingPolicy;
      if (!inner) fail(`${f}.endpointPickingPolicy`, "an endpoint picking policy is required");
      extensionPolicy(s, inner, `${f}.endpointPickingPolicy`, fail);
      s.localityWeighted = true;
      return;
    }
    // Not supported here: try the next one.
  }
  fail(`${field}.policies`, "none of the load balancing policies is supported");
}

const LB_POLICIES: Readonly<Partial<Record<v3.Cluster.LbPolicy, LbPolicy>>> = {
  ROUND_ROBIN: "ROUND_ROBIN",
  LEAST_REQUEST: "LEAST_REQUEST",
  RANDOM: "RANDOM",
  RING_HASH: "RING_HASH",
  MAGLEV: "MAGLEV",
};

/**
 * Validates a cluster's load-balancing fields. Throws XdsConfigError with a field path
 * (`cluster NAME: ringHashLbConfig.minimumRingSize: ...` when the cluster has a name).
 * CLUSTER_PROVIDED (ORIGINAL_DST) is the cluster's own balancer and is rejected here.
 */
export function lbSettings(cluster: v3.Cluster): LbSettings {
  const prefix = cluster.name ? `cluster ${cluster.name}: ` : "";
  const fail: Fail = (field, message) => {
    throw new XdsConfigError(prefix + field, message);
  };
  const s = defaults();
  const common = cluster.commonLbConfig;
  const panic = percent(common?.healthyPanicThreshold, "commonLbConfig.healthyPanicThreshold", fail);
  if (panic !== undefined) s.healthyPanicThreshold = Math.round(panic);
  if (common?.localityWeightedLbConfig !== undefined) s.localityWeighted = true;
  if (common?.zoneAwareLbConfig?.failTrafficOnPanic === true) s.failTrafficOnPanic = true;
  consistentHashingFields(s, common?.consistentHashingLbConfig, "commonLbConfig.consistentHashingLbConfig", fail);

  if (cluster.loadBalancingPolicy) {
    extensionPolicy(s, cluster.loadBalancingPolicy, "loadBalancingPolicy", fail);
    return s;
  }
  const policy = cluster.lbPolicy ?? "ROUND_ROBIN";
  if (policy === "CLUSTER_PROVIDED") fail("lbPolicy", "CLUSTER_PROVIDED is the cluster's own load balancer (ORIGINAL_DST), not built here");
  if (policy === "LOAD_BALANCING_POLICY_CONFIG") fail("loadBalancingPolicy", "LOAD_BALANCING_POLICY_CONFIG needs load_balancing_policy");
  // A value the schema does not know arrives as its number.
  const p = Object.hasOwn(LB_POLICIES, policy) ? LB_POLICIES[policy] : undefined;
  if (p === undefined) fail("lbPolicy", `unsupported load balancing policy ${JSON.stringify(policy)}`);
  s.policy = p;
  if (p === "ROUND_ROBIN") s.slowStart = slowStartOf(cluster.roundRobinLbConfig?.slowStartConfig, "roundRobinLbConfig.slowStartConfig", fail);
  else if (p === "LEAST_REQUEST") leastRequestFields(s, cluster.leastRequestLbConfig ?? {}, "leastRequestLbConfig", fail);
  else if (p === "RING_HASH") ringHashFields(s, cluster.ringHashLbConfig ?? {}, "ringHashLbConfig", fail);
  else if (p === "MAGLEV") maglevFields(s, cluster.maglevLbConfig ?? {}, "maglevLbConfig", fail);
  return s;
}
