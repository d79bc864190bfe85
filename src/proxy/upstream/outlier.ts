// Envoy's outlier detection (passive health checking) for one cluster: per-host consecutive error
// counters fed by the router's results, ejection when a counter reaches its threshold (subject to
// the enforcing percentage and max_ejection_percent), and un-ejection on the interval timer once
// base_ejection_time × the host's ejection backoff (capped by max_ejection_time, plus jitter) has
// passed. Ejection sets `host.ejected` (Envoy's FAILED_OUTLIER_CHECK), which the load balancers
// watch through the health generation.
//
// Semantics follow source/common/upstream/outlier_detection_impl.cc:
// - a 5xx response counts toward consecutive_5xx; 502/503/504 also toward
//   consecutive_gateway_failure (a non-gateway 5xx resets the gateway counter); any other status
//   resets both. A counter fires when it becomes *equal* to its threshold.
// - without split_external_local_origin_errors, local-origin failures are mapped to HTTP codes:
//   connect failure and reset → 503, timeout → 504 (so they count as 5xx and gateway failures).
//   With the split they count toward consecutive_local_origin_failure instead, and a response
//   (the connection worked) resets that counter.
// - on detection: ejections_detected_* counts; the host is ejected if
//   100 × (active + 1) / hosts <= max_ejection_percent (or always_eject_one_host and none is
//   ejected), else ejections_overflow; then ejected only if the enforcing percentage fires. The
//   counter that fired is reset either way.
// - ejection time: min(base × backoff, max_ejection_time) + jitter, where backoff grows by one per
//   ejection (while base × backoff < max + base) and shrinks by one per interval a host stays
//   healthy after its last un-ejection. Un-ejection resets all consecutive counters.
// - success rate (Envoy's SuccessRateAccumulator): every HTTP result counts in the host's current
//   bucket (a success is anything but 5xx; local-origin failures map to 503/504 without the split).
//   With the split, local-origin results (connect success / failure) count in a second, local-origin
//   bucket. Each interval the buckets swap and, per origin: if the cluster has fewer hosts than both
//   success_rate_minimum_hosts and failure_percentage_minimum_hosts nothing happens; else every
//   non-ejected host with at least success_rate_request_volume results is a success-rate sample,
//   and with at least failure_percentage_request_volume a failure-percentage sample. With at least
//   success_rate_minimum_hosts samples: threshold = mean − (success_rate_stdev_factor / 1000) ×
//   stdev (population), and each sample below it is detected (success_rate / local_origin_success_rate)
//   and ejected subject to max_ejection_percent and enforcing_success_rate (resp.
//   enforcing_local_origin_success_rate). With at least failure_percentage_minimum_hosts samples,
//   each host whose failure percentage (100 − success rate) >= failure_percentage_threshold is
//   detected (failure_percentage / local_origin_failure_percentage) and ejected subject to
//   enforcing_failure_percentage (resp. _local_origin), both 0 by default.
//
// Under `--concurrency N` the primary runs one detector per cluster over every worker's results
// (shared-outlier.ts extends this one); the workers only report.
//
// Not implemented: outlier extensions (monitors), the event log, runtime overrides.
import { type Clock, realClock } from "../../core/clock.js";
import type { Counter, Gauge, StatsScope } from "../stats.js";
import type { Host } from "./host.js";
import type { OutlierConfig } from "./outlier-config.js";

/** What one upstream try ended with, as the router reports it. */
export type UpstreamOutcome = { kind: "response"; status: number } | { kind: "connect-failure" } | { kind: "reset" } | { kind: "timeout" };

type EjectionType =
  | "consecutive_5xx"
  | "consecutive_gateway_failure"
  | "consecutive_local_origin_failure"
  | "success_rate"
  | "local_origin_success_rate"
  | "failure_percentage"
  | "local_origin_failure_percentage";

const EJECTION_TYPES: readonly EjectionType[] = [
  "consecutive_5xx",
  "consecutive_gateway_failure",
  "consecutive_local_origin_failure",
  "success_rate",
  "local_origin_success_rate",
  "failure_percentage",
  "local_origin_failure_percentage",
];

/**
 * Envoy's SuccessRateAccumulator: the interval's results go to the current bucket; at each
 * interval the buckets swap and the one just completed is read.
 */
export class SuccessRateBuckets {
  total = 0;
  success = 0;
  lastTotal = 0;
  lastSuccess = 0;
  /** The host's success rate over the last interval (percent), -1 when not computed (/clusters). */
  rate = -1;

  swap(): void {
    this.lastTotal = this.total;
    this.lastSuccess = this.success;
    this.total = 0;
    this.success = 0;
  }

  copyFrom(b: SuccessRateBuckets): void {
    this.total = b.total;
    this.success = b.success;
    this.lastTotal = b.lastTotal;
    this.lastSuccess = b.lastSuccess;
    this.rate = b.rate;
  }
}

/** One host's detector state (Envoy's DetectorHostMonitorImpl). */
export class HostMonitor {
  consecutive5xx = 0;
  consecutiveGatewayFailure = 0;
  consecutiveLocalOriginFailure = 0;
  /** External-origin results (HTTP statuses; local failures too without the split). */
  readonly external = new SuccessRateBuckets();
  /** Local-origin results (connect success / failure), with split_external_local_origin_errors. */
  readonly localOrigin = new SuccessRateBuckets();
  /** Times the host was ejected (Envoy's num_ejections, shown in the event log). */
  numEjections = 0;
  /** Multiplier of base_ejection_time for the current/next ejection. */
  ejectTimeBackoff = 0;
  lastEjectionTime: number | undefined;
  lastUnejectionTime: number | undefined;
  jitterMs = 0;
  /** Whether this detector ejected the host (mirrors host.ejected while the monitor is live). */
  ejected = false;

  constructor(public host: Host) {}

  copyFrom(m: HostMonitor): void {
    this.consecutive5xx = m.consecutive5xx;
    this.consecutiveGatewayFailure = m.consecutiveGatewayFailure;
    this.consecutiveLocalOriginFailure = m.consecutiveLocalOriginFailure;
    this.numEjections = m.numEjections;
    this.ejectTimeBackoff = m.ejectTimeBackoff;
    this.lastEjectionTime = m.lastEjectionTime;
    this.lastUnejectionTime = m.lastUnejectionTime;
    this.jitterMs = m.jitterMs;
    this.ejected = m.ejected;
    this.external.copyFrom(m.external);
    this.localOrigin.copyFrom(m.localOrigin);
  }
}

/** A success-rate pass's cluster figures (Envoy's success_rate_average / _ejection_threshold), -1 when not computed. */
export interface SuccessRateNumbers {
  average: number;
  ejectionThreshold: number;
}

/** cluster.NAME.outlier_detection.* (Envoy's ALL_OUTLIER_DETECTION_STATS that apply here). */
class OutlierStats {
  readonly ejectionsActive: Gauge;
  readonly ejectionsOverflow: Counter;
  readonly ejectionsEnforcedTotal: Counter;
  readonly ejectionsTotal: Counter;
  readonly ejectionsConsecutive5xx: Counter;
  readonly ejectionsSuccessRate: Counter;
  readonly enforced: Record<EjectionType, Counter>;
  readonly detected: Record<EjectionType, Counter>;

  constructor(s: StatsScope) {
    this.ejectionsActive = s.gauge("ejections_active");
    this.ejectionsOverflow = s.counter("ejections_overflow");
    this.ejectionsEnforcedTotal = s.counter("ejections_enforced_total");
    this.ejectionsTotal = s.counter("ejections_total"); // deprecated in Envoy, still emitted
    this.ejectionsConsecutive5xx = s.counter("ejections_consecutive_5xx"); // deprecated, still emitted
    this.ejectionsSuccessRate = s.counter("ejections_success_rate"); // deprecated, still emitted
    const enforced = {} as Record<EjectionType, Counter>;
    const detected = {} as Record<EjectionType, Counter>;
    for (const t of EJECTION_TYPES) {
      enforced[t] = s.counter(`ejections_enforced_${t}`);
      detected[t] = s.counter(`ejections_detected_${t}`);
    }
    this.enforced = enforced;
    this.detected = detected;
  }
}

export interface OutlierOptions {
  clock?: Clock;
  /** Uniform in [0, 1): enforcing percentages and ejection jitter. */
  random?: () => number;
}

/** A cluster's outlier detector (Envoy's DetectorImpl). */
export class OutlierDetector {
  protected readonly monitors = new Map<Host, HostMonitor>();
  /** State carried over from a previous detector for hosts not (yet) in this cluster, by key. */
  private readonly carried = new Map<string, HostMonitor>();
  private readonly stats: OutlierStats;
  private readonly clock: Clock;
  private readonly random: () => number;
  private timer: unknown;
  protected closed = false;
  private active = 0;
  /** The last success-rate pass's figures, external and local origin (Envoy's getSRNums). */
  readonly externalSuccessRate: SuccessRateNumbers = { average: -1, ejectionThreshold: -1 };
  readonly localOriginSuccessRate: SuccessRateNumbers = { average: -1, ejectionThreshold: -1 };

  constructor(
    readonly config: OutlierConfig,
    scope: StatsScope,
    opts: OutlierOptions = {},
    previous?: OutlierDetector,
  ) {
    this.stats = new OutlierStats(scope.scope("outlier_detection"));
    this.clock = opts.clock ?? realClock;
    this.random = opts.random ?? Math.random;
    if (previous) for (const [h, m] of previous.monitors) this.carried.set(h.key, m);
    this.arm();
  }

  /** Hosts currently ejected by this detector. */
  get ejectionsActive(): number {
    return this.active;
  }

  /** The host's detector state (undefined for a host not in the cluster). */
  monitor(host: Host): HostMonitor | undefined {
    return this.monitors.get(host);
  }

  /**
   * Syncs monitors with the cluster's hosts (call after every assignment): new hosts get a monitor
   * (with carried-over state when a previous detector knew the address), removed hosts lose theirs.
   */
  setHosts(hosts: Iterable<Host>): void {
    if (this.closed) return;
    const seen = new Set<Host>();
    for (const h of hosts) {
      seen.add(h);
      if (this.monitors.has(h)) continue;
      const m = new HostMonitor(h);
      const old = this.carried.get(h.key);
      if (old) {
        this.carried.delete(h.key);
        m.copyFrom(old);
      }
      if (m.ejected) {
        this.active++;
        h.ejected = true;
        this.ejectionChanged(h, true);
      }
      this.monitors.set(h, m);
    }
    for (const [h, m] of this.monitors) {
      if (seen.has(h)) continue;
      if (m.ejected) this.active--;
      this.monitors.delete(h);
    }
    this.stats.ejectionsActive.set(this.active);
  }

  /** One upstream try's result for `host` (Envoy's putHttpResponseCode / putResult). */
  report(host: Host, outcome: UpstreamOutcome): void {
    if (outcome.kind === "response") return this.reportHttpStatus(host, outcome.status);
    if (this.closed) return;
    const m = this.monitors.get(host);
    if (!m) return;
    if (this.config.splitExternalLocalOriginErrors) {
      m.localOrigin.total++;
      if (++m.consecutiveLocalOriginFailure === this.config.consecutiveLocalOriginFailure) this.onConsecutiveError(m, "consecutive_local_origin_failure");
      return;
    }
    this.putHttpResponseCode(m, outcome.kind === "timeout" ? 504 : 503);
  }

  /** A response's status for `host` (gRPC: grpc-status mapped to HTTP) — `report` without the outcome object. */
  reportHttpStatus(host: Host, status: number): void {
    if (this.closed) return;
    const m = this.monitors.get(host);
    if (m === undefined) return;
    if (this.config.splitExternalLocalOriginErrors) {
      // The connection worked (Envoy's LocalOriginConnectSuccess).
      m.localOrigin.total++;
      m.localOrigin.success++;
      m.consecutiveLocalOriginFailure = 0;
    }
    this.putHttpResponseCode(m, status);
  }

  private putHttpResponseCode(m: HostMonitor, status: number): void {
    m.external.total++;
    if (status < 500 || status >= 600) m.external.success++;
    this.consecutiveHttp(m, status);
  }

  /** The consecutive-error counters' part of a response (the success-rate buckets are counted apart). */
  protected consecutiveHttp(m: HostMonitor, status: number): void {
    if (status >= 500 && status < 600) {
      if (status === 502 || status === 503 || status === 504) {
        if (++m.consecutiveGatewayFailure === this.config.consecutiveGatewayFailure) this.onConsecutiveError(m, "consecutive_gateway_failure");
      } else {
        m.consecutiveGatewayFailure = 0;
      }
      if (++m.consecutive5xx === this.config.consecutive5xx) this.onConsecutiveError(m, "consecutive_5xx");
    } else {
      m.consecutive5xx = 0;
      m.consecutiveGatewayFailure = 0;
    }
  }

  protected onConsecutiveError(m: HostMonitor, type: EjectionType): void {
    if (m.ejected) return;
    this.stats.detected[type].inc();
    this.eject(m, type);
    if (type === "consecutive_5xx") {
      this.stats.ejectionsConsecutive5xx.inc();
      m.consecutive5xx = 0;
    } else if (type === "consecutive_gateway_failure") {
      m.consecutiveGatewayFailure = 0;
    } else {
      m.consecutiveLocalOriginFailure = 0;
    }
  }

  private enforcing(type: EjectionType): number {
    const c = this.config;
    switch (type) {
      case "consecutive_5xx":
        return c.enforcingConsecutive5xx;
      case "consecutive_gateway_failure":
        return c.enforcingConsecutiveGatewayFailure;
      case "consecutive_local_origin_failure":
        return c.enforcingConsecutiveLocalOriginFailure;
      case "success_rate":
        return c.enforcingSuccessRate;
      case "local_origin_success_rate":
        return c.enforcingLocalOriginSuccessRate;
      case "failure_percentage":
        return c.enforcingFailurePercentage;
      case "local_origin_failure_percentage":
        return c.enforcingFailurePercentageLocalOrigin;
    }
  }

  private eject(m: HostMonitor, type: EjectionType): void {
    const c = this.config;
    // (A host can be a success-rate and a failure-percentage outlier in one pass: eject it once.)
    if (m.ejected) return;
    const ejectedPercent = (100 * (this.active + 1)) / this.monitors.size;
    const shouldEject = ejectedPercent <= c.maxEjectionPercent || (c.alwaysEjectOneHost && this.active === 0);
    if (!shouldEject) {
      this.stats.ejectionsOverflow.inc();
      return;
    }
    if (type === "consecutive_5xx" || type === "success_rate") this.stats.ejectionsTotal.inc();
    // Runtime featureEnabled(percent): enabled when a uniform draw in [0, 100) is below it.
    const pct = this.enforcing(type);
    if (pct <= 0 || (pct < 100 && Math.floor(this.random() * 100) >= pct)) return;
    this.active++;
    this.stats.ejectionsActive.set(this.active);
    this.stats.ejectionsEnforcedTotal.inc();
    this.stats.enforced[type].inc();
    m.ejected = true;
    m.numEjections++;
    m.lastEjectionTime = this.clock.now();
    m.jitterMs = Math.floor(this.random() * (c.maxEjectionTimeJitterMs + 1));
    if (m.ejectTimeBackoff * c.baseEjectionTimeMs < c.maxEjectionTimeMs + c.baseEjectionTimeMs) m.ejectTimeBackoff++;
    m.host.ejected = true;
    this.ejectionChanged(m.host, true);
  }

  /** A host was ejected or brought back (the primary of `--concurrency N` tells its workers). */
  protected ejectionChanged(_host: Host, _ejected: boolean): void {}

  private uneject(m: HostMonitor, now: number): void {
    this.active--;
    this.stats.ejectionsActive.set(this.active);
    m.ejected = false;
    m.host.ejected = false;
    this.ejectionChanged(m.host, false);
    m.consecutive5xx = 0;
    m.consecutiveGatewayFailure = 0;
    m.consecutiveLocalOriginFailure = 0;
    m.lastUnejectionTime = now;
  }

  private arm(): void {
    if (this.closed) return;
    this.timer = this.clock.setTimeout(() => this.intervalDue(), this.config.intervalMs);
  }

  /** The interval timer fired: run the pass (the primary of `--concurrency N` first collects its workers' counts). */
  protected intervalDue(): void {
    this.onInterval();
  }

  /**
   * Envoy's onIntervalTimer: un-eject hosts whose time is up, swap the success-rate buckets, run
   * the success-rate and failure-percentage passes (external, then local origin), decay the
   * backoff of healthy hosts.
   */
  onInterval(): void {
    if (this.closed) return;
    const c = this.config;
    const now = this.clock.now();
    for (const m of this.monitors.values()) {
      if (m.ejected && m.lastEjectionTime !== undefined) {
        const ejectFor = Math.min(c.baseEjectionTimeMs * m.ejectTimeBackoff, c.maxEjectionTimeMs) + m.jitterMs;
        if (ejectFor <= now - m.lastEjectionTime) this.uneject(m, now);
      }
      m.external.swap();
      m.localOrigin.swap();
      m.external.rate = -1;
      m.localOrigin.rate = -1;
    }
    this.successRatePass(false);
    this.successRatePass(true);
    for (const m of this.monitors.values()) {
      if (m.ejected || m.lastUnejectionTime === undefined) continue;
      if (now - m.lastUnejectionTime >= c.intervalMs && m.ejectTimeBackoff > 0) m.ejectTimeBackoff--;
    }
    this.arm();
  }

  /** Envoy's processSuccessRateEjections for one origin. */
  private successRatePass(local: boolean): void {
    const c = this.config;
    const nums = local ? this.localOriginSuccessRate : this.externalSuccessRate;
    nums.average = -1;
    nums.ejectionThreshold = -1;
    const hosts = this.monitors.size;
    if (hosts < c.successRateMinimumHosts && hosts < c.failurePercentageMinimumHosts) return;
    const srVolume = c.successRateRequestVolume;
    const fpVolume = c.failurePercentageRequestVolume;
    const sr: Array<[HostMonitor, number]> = [];
    const fp: Array<[HostMonitor, number]> = [];
    let sum = 0;
    for (const m of this.monitors.values()) {
      if (m.ejected) continue;
      const b = local ? m.localOrigin : m.external;
      const volume = b.lastTotal;
      if (volume === 0) continue;
      const rate = (b.lastSuccess * 100) / volume;
      if (volume >= Math.min(srVolume, fpVolume)) b.rate = rate;
      if (volume >= srVolume) {
        sr.push([m, rate]);
        sum += rate;
      }
      if (volume >= fpVolume) fp.push([m, rate]);
    }
    if (sr.length > 0 && sr.length >= c.successRateMinimumHosts) {
      const mean = sum / sr.length;
      let variance = 0;
      for (const [, r] of sr) variance += (r - mean) ** 2;
      variance /= sr.length;
      const threshold = mean - (c.successRateStdevFactor / 1000) * Math.sqrt(variance);
      nums.average = mean;
      nums.ejectionThreshold = threshold;
      const type: EjectionType = local ? "local_origin_success_rate" : "success_rate";
      for (const [m, r] of sr) {
        if (r >= threshold) continue;
        this.stats.ejectionsSuccessRate.inc();
        this.stats.detected[type].inc();
        this.eject(m, type);
      }
    }
    if (fp.length > 0 && fp.length >= c.failurePercentageMinimumHosts) {
      const type: EjectionType = local ? "local_origin_failure_percentage" : "failure_percentage";
      for (const [m, r] of fp) {
        if (100 - r < c.failurePercentageThreshold) continue;
        this.stats.detected[type].inc();
        this.eject(m, type);
      }
    }
  }

  /**
   * Stops the interval timer and ignores later reports. Hosts keep their flags: a successor
   * detector (a CDS update of the cluster) carries them over; `unejectAll()` clears them.
   */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Clears every ejection this detector made (outlier detection removed from the cluster). */
  unejectAll(): void {
    for (const m of this.monitors.values()) {
      if (!m.ejected) continue;
      m.ejected = false;
      m.host.ejected = false;
      this.ejectionChanged(m.host, false);
    }
    this.active = 0;
    this.stats.ejectionsActive.set(0);
  }
}
