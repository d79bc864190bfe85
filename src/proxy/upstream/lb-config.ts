// A cluster's load-balancing settings, compiled once from CDS: lb_policy or load_balancing_policy
// (Envoy's typed extensions: round_robin, least_request, random, ring_hash, maglev), ring and
// table sizes, hash functions, slow start, locality weighting and the panic threshold.
import { durationMs, type ProtoObject } from "../../envoy/protos.js";
import { XdsConfigError } from "../xds-error.js";

export type LbPolicy = "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM" | "RING_HASH" | "MAGLEV";

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
