// The rate-limit service's counters, named as envoyproxy/ratelimit names them
// (`ratelimit.service.rate_limit.DOMAIN.KEY_VALUE….total_hits|over_limit|near_limit|within_limit|
// shadow_mode`, `…DOMAIN.domain_not_found`, `ratelimit.service.config_load_success|error`,
// `ratelimit.service.call.should_rate_limit.redis_error|service_error`,
// `ratelimit.service.global_shadow_mode`). Rendered as `name: value` lines (the debug port's /stats)
// and in Prometheus text with the reference's default statsd-exporter mapping
// (`ratelimit_service_rate_limit_total_hits{domain,key1,key2…}`). The number of per-descriptor
// series is bounded: detailed_metric / value_to_metric keys come from requests.

export const STAT_NAMES = ["total_hits", "over_limit", "near_limit", "over_limit_with_local_cache", "within_limit", "shadow_mode"] as const;
export type StatName = (typeof STAT_NAMES)[number];

/** Counters of one rate-limit key (the reference's RateLimitStats). */
export class RateLimitStats {
  readonly counts: Record<StatName, number> = { total_hits: 0, over_limit: 0, near_limit: 0, over_limit_with_local_cache: 0, within_limit: 0, shadow_mode: 0 };
  constructor(
    /** The key as given (DOMAIN.KEY_VALUE…), before sanitizing. */
    readonly key: string,
    /** The sanitized key used in stat names. */
    readonly statKey: string,
  ) {}
  add(stat: StatName, n: number): void {
    this.counts[stat] += n;
  }
}

/** A key's counters when the table is full: counted nowhere (the overflow counter says how often). */
const DISCARD_PREFIX = "\0";

const IPV4 = /\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/g;

/** The reference's SanitizeStatName: ':' and '|' become '_', and so do the dots of IPv4 addresses. */
export function sanitizeStatName(s: string): string {
  return s.replace(/[:|]/g, "_").replace(IPV4, (ip) => ip.replace(/\./g, "_"));
}

export const SERVICE_COUNTERS = ["config_load_success", "config_load_error", "call.should_rate_limit.redis_error", "call.should_rate_limit.service_error", "global_shadow_mode"] as const;
export type ServiceCounter = (typeof SERVICE_COUNTERS)[number];

export class RateLimitStatsManager {
  private readonly byKey = new Map<string, RateLimitStats>();
  private readonly notFound = new Map<string, number>();
  readonly service: Record<ServiceCounter, number> = {
    config_load_success: 0,
    config_load_error: 0,
    "call.should_rate_limit.redis_error": 0,
    "call.should_rate_limit.service_error": 0,
    global_shadow_mode: 0,
  };
  /** Keys that found the table full. */
  overflow = 0;

  constructor(readonly maxKeys = 10_000) {}

  /** The counters of `key` (one object per key, as the reference's NewStats guarantees equivalence). */
  forKey(key: string): RateLimitStats {
    let s = this.byKey.get(key);
    if (s) return s;
    if (this.byKey.size >= this.maxKeys) {
      this.overflow++;
      return new RateLimitStats(key, DISCARD_PREFIX);
    }
    s = new RateLimitStats(key, sanitizeStatName(key));
    this.byKey.set(key, s);
    return s;
  }

  domainNotFound(domain: string): void {
    const k = sanitizeStatName(domain);
    if (!this.notFound.has(k) && this.notFound.size >= this.maxKeys) {
      this.overflow++;
      return;
    }
    this.notFound.set(k, (this.notFound.get(k) ?? 0) + 1);
  }

  /** A counter's value by its full reference name (tests, debugging); 0 when never counted. */
  value(name: string): number {
    for (const [n, v] of this.entries()) if (n === name) return v;
    return 0;
  }

  /** Every counter as [full name, value], sorted by name. */
  entries(): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const s of this.byKey.values()) for (const stat of STAT_NAMES) out.push([`ratelimit.service.rate_limit.${s.statKey}.${stat}`, s.counts[stat]]);
    for (const [d, n] of this.notFound) out.push([`ratelimit.service.rate_limit.${d}.domain_not_found`, n]);
    for (const c of SERVICE_COUNTERS) out.push([`ratelimit.service.${c}`, this.service[c]]);
    out.push(["ratelimit.service.stats_overflow", this.overflow]);
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /** `name: value` lines (the debug port's /stats). */
  renderText(): string {
    return this.entries()
      .map(([n, v]) => `${n}: ${v}\n`)
      .join("");
  }

  /** Prometheus text, named and labelled as the reference's default statsd-exporter mapping. */
  renderPrometheus(): string {
    const lines: string[] = [];
    for (const stat of STAT_NAMES) {
      const name = `ratelimit_service_rate_limit_${stat}`;
      lines.push(`# TYPE ${name} counter`);
      for (const s of this.byKey.values()) {
        const [domain, ...keys] = s.statKey.split(".");
        const labels = [`domain="${escape(domain)}"`, ...keys.map((k, i) => `key${i + 1}="${escape(k)}"`)].join(",");
        lines.push(`${name}{${labels}} ${s.counts[stat]}`);
      }
    }
    lines.push("# TYPE ratelimit_service_rate_limit_domain_not_found counter");
    for (const [d, n] of this.notFound) lines.push(`ratelimit_service_rate_limit_domain_not_found{domain="${escape(d)}"} ${n}`);
    lines.push("# TYPE ratelimit_service_should_rate_limit_error counter");
    lines.push(`ratelimit_service_should_rate_limit_error{err_type="redis_error"} ${this.service["call.should_rate_limit.redis_error"]}`);
    lines.push(`ratelimit_service_should_rate_limit_error{err_type="service_error"} ${this.service["call.should_rate_limit.service_error"]}`);
    for (const c of ["config_load_success", "config_load_error", "global_shadow_mode"] as const) {
      lines.push(`# TYPE ratelimit_service_${c} counter`, `ratelimit_service_${c} ${this.service[c]}`);
    }
    return lines.join("\n") + "\n";
  }
}

function escape(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}
