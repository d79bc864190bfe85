// A Cluster's outlier_detection compiled when CDS arrives: validated (a bad value is an
// XdsConfigError with its field path) and completed with Envoy's defaults, so the detector
// (outlier.ts) reads plain numbers.
import { durationMs } from "../../envoy/protos.js";
import type * as v3 from "../../envoy/types.js";
import { unknownExtension } from "../extensions.js";
import { XdsConfigError } from "../xds-error.js";

/** envoy.config.cluster.v3.OutlierDetection with Envoy's defaults applied. */
export interface OutlierConfig {
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionTimeMs: number;
  maxEjectionTimeJitterMs: number;
  maxEjectionPercent: number;
  alwaysEjectOneHost: boolean;
  consecutive5xx: number;
  consecutiveGatewayFailure: number;
  consecutiveLocalOriginFailure: number;
  enforcingConsecutive5xx: number;
  enforcingConsecutiveGatewayFailure: number;
  enforcingConsecutiveLocalOriginFailure: number;
  splitExternalLocalOriginErrors: boolean;
  successRateMinimumHosts: number;
  successRateRequestVolume: number;
  /** success_rate_stdev_factor (divided by 1000: 1900 → 1.9 standard deviations). */
  successRateStdevFactor: number;
  enforcingSuccessRate: number;
  enforcingLocalOriginSuccessRate: number;
  failurePercentageThreshold: number;
  failurePercentageMinimumHosts: number;
  failurePercentageRequestVolume: number;
  enforcingFailurePercentage: number;
  enforcingFailurePercentageLocalOrigin: number;
}

const DEFAULT_MAX_EJECTION_TIME_MS = 300_000;

type Wrapped = "maxEjectionPercent" | "consecutive_5xx" | "consecutiveGatewayFailure" | "consecutiveLocalOriginFailure" | "enforcingConsecutive_5xx" | "enforcingConsecutiveGatewayFailure" | "enforcingConsecutiveLocalOriginFailure" | "successRateMinimumHosts" | "successRateRequestVolume" | "successRateStdevFactor" | "enforcingSuccessRate" | "enforcingLocalOriginSuccessRate" | "failurePercentageThreshold" | "failurePercentageMinimumHosts" | "failurePercentageRequestVolume" | "enforcingFailurePercentage" | "enforcingFailurePercentageLocalOrigin";

/**
 * Validates a Cluster's outlier_detection and applies Envoy's defaults (interval 10 s,
 * base_ejection_time 30 s, max_ejection_time max(300 s, base), consecutive_* 5, max_ejection_percent
 * 10, enforcing_consecutive_5xx 100, enforcing_consecutive_gateway_failure 0,
 * enforcing_consecutive_local_origin_failure 100, success_rate_minimum_hosts 5,
 * success_rate_request_volume 100, success_rate_stdev_factor 1900, enforcing_success_rate 100,
 * enforcing_local_origin_success_rate 100, failure_percentage_threshold 85,
 * failure_percentage_minimum_hosts 5, failure_percentage_request_volume 50,
 * enforcing_failure_percentage(_local_origin) 0). Outlier extensions (monitors) and the
 * active-health-check un-ejection are refused: neither runs here.
 */
export function outlierConfig(od: v3.OutlierDetection, path = "outlierDetection"): OutlierConfig {
  // A UInt32Value (`{}` is 0: defaults are not written); `max` bounds the percentages.
  const wrapped = (name: Wrapped, fallback: number, max?: number): number => {
    const w = od[name];
    if (w === undefined) return fallback;
    const n = w.value ?? 0;
    if (!Number.isInteger(n) || n < 0) throw new XdsConfigError(`${path}.${name}`, `invalid value ${JSON.stringify(n)}`);
    if (max !== undefined && n > max) throw new XdsConfigError(`${path}.${name}`, `value must be less than or equal to ${max}`);
    return n;
  };
  const positiveDuration = (name: "interval" | "baseEjectionTime" | "maxEjectionTime"): number | undefined => {
    const d = od[name];
    if (d === undefined) return undefined;
    const ms = durationMs(d) ?? 0;
    if (!Number.isFinite(ms) || ms <= 0) throw new XdsConfigError(`${path}.${name}`, "value must be greater than 0s");
    return ms;
  };
  if (od.monitors?.length) throw unknownExtension(`${path}.monitors[0].typedConfig`, od.monitors[0].name ?? "", od.monitors[0].typedConfig?.["@type"] ?? "");
  if (od.successfulActiveHealthCheckUnejectHost?.value === true) throw new XdsConfigError(`${path}.successfulActiveHealthCheckUnejectHost`, "active health checks are not implemented");
  const base = positiveDuration("baseEjectionTime") ?? 30_000;
  const maxEject = positiveDuration("maxEjectionTime") ?? Math.max(DEFAULT_MAX_EJECTION_TIME_MS, base);
  if (maxEject < base) throw new XdsConfigError(`${path}.maxEjectionTime`, "outlier detector's max_ejection_time cannot be smaller than base_ejection_time");
  const jitter = od.maxEjectionTimeJitter === undefined ? 0 : (durationMs(od.maxEjectionTimeJitter) ?? 0);
  if (!Number.isFinite(jitter) || jitter < 0) throw new XdsConfigError(`${path}.maxEjectionTimeJitter`, "invalid duration");
  // protobufjs keeps `consecutive_5xx` (an underscore before a digit is not camel-cased).
  return {
    intervalMs: positiveDuration("interval") ?? 10_000,
    baseEjectionTimeMs: base,
    maxEjectionTimeMs: maxEject,
    maxEjectionTimeJitterMs: jitter,
    maxEjectionPercent: wrapped("maxEjectionPercent", 10, 100),
    alwaysEjectOneHost: od.alwaysEjectOneHost?.value === true,
    consecutive5xx: wrapped("consecutive_5xx", 5),
    consecutiveGatewayFailure: wrapped("consecutiveGatewayFailure", 5),
    consecutiveLocalOriginFailure: wrapped("consecutiveLocalOriginFailure", 5),
    enforcingConsecutive5xx: wrapped("enforcingConsecutive_5xx", 100, 100),
    enforcingConsecutiveGatewayFailure: wrapped("enforcingConsecutiveGatewayFailure", 0, 100),
    enforcingConsecutiveLocalOriginFailure: wrapped("enforcingConsecutiveLocalOriginFailure", 100, 100),
    splitExternalLocalOriginErrors: od.splitExternalLocalOriginErrors === true,
    successRateMinimumHosts: wrapped("successRateMinimumHosts", 5),
    successRateRequestVolume: wrapped("successRateRequestVolume", 100),
    successRateStdevFactor: wrapped("successRateStdevFactor", 1900),
    enforcingSuccessRate: wrapped("enforcingSuccessRate", 100, 100),
    enforcingLocalOriginSuccessRate: wrapped("enforcingLocalOriginSuccessRate", 100, 100),
    failurePercentageThreshold: wrapped("failurePercentageThreshold", 85, 100),
    failurePercentageMinimumHosts: wrapped("failurePercentageMinimumHosts", 5),
    failurePercentageRequestVolume: wrapped("failurePercentageRequestVolume", 50),
    enforcingFailurePercentage: wrapped("enforcingFailurePercentage", 0, 100),
    enforcingFailurePercentageLocalOrigin: wrapped("enforcingFailurePercentageLocalOrigin", 0, 100),
  };
}
