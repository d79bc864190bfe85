// Envoy's stats: flat dotted names (`cluster.outbound|9080||reviews.default.svc.cluster.local.
// upstream_rq_total`, `http.inbound_0.0.0.0_9080.downstream_rq_2xx`), counters and gauges, shown
// as text on /stats and in Prometheus form on /stats/prometheus with Envoy's tag extraction (the
// cluster, HTTP connection manager and listener names become labels: envoy_cluster_name, …).
// Labeled metrics (Istio's istio_* counters and histograms, labeled-stats.ts) live here too and
// show on the same pages.
import { DEFAULT_BUCKETS, DEFAULT_SERIES_LIMITS, envoyStatName, escapeLabel, familyPrometheus, LabeledCounter, LabeledHistogram, type LabeledSnapshot, mergeInto, SERIES_OVERFLOW_STAT, type SeriesBudget, type SeriesLimits, snapshotFamily } from "./labeled-stats.js";

export class Counter {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

export class Gauge {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
  set(v: number): void {
    this.value = v;
  }
}

/** A stats scope: `scope.counter("upstream_rq_total")` under a prefix such as `cluster.NAME.`. */
export class StatsScope {
  constructor(
    /** The whole store (labeled metrics live at its top level). */
    readonly store: StatsStore,
    readonly prefix: string,
  ) {}
  counter(name: string): Counter {
    return this.store.counter(this.prefix + name);
  }
  gauge(name: string): Gauge {
    return this.store.gauge(this.prefix + name);
  }
  scope(name: string): StatsScope {
    return new StatsScope(this.store, `${this.prefix}${name}.`);
  }
  /** The store's top level (filters whose stats Envoy keeps outside the connection manager's prefix). */
  root(): StatsScope {
    return new StatsScope(this.store, "");
  }
}

// Envoy's default tag extractors for the stats tsmesh emits: the name segment after `cluster.`,
// `http.` and `listener.` is a tag (names can contain dots, so the known stat suffix decides).
const TAGGED: Array<{ prefix: string; tag: string }> = [
  { prefix: "cluster.", tag: "envoy_cluster_name" },
  { prefix: "http.", tag: "envoy_http_conn_manager_prefix" },
  { prefix: "listener.", tag: "envoy_listener_address" },
];

function promName(s: string): string {
  return s.replace(/[^a-zA-Z0-9_]/g, "_");
}


export interface StatsSnapshot {
  counters: Array<[string, number]>;
  gauges: Array<[string, number]>;
  /** Tagged prefixes (`cluster.NAME.` → `cluster.`) for Prometheus names. */
  tags: Array<[string, string]>;
  /** Labeled metrics (absent from older senders). */
  labeled?: LabeledSnapshot[];
}

export class StatsStore {
  private readonly counters = new Map<string, Counter>();
  private readonly gauges = new Map<string, Gauge>();
  /** Known stat suffixes per tagged prefix (the part after the tag value), for Prometheus names. */
  private readonly suffixes = new Map<string, string>();
  /** Labeled metrics by name and label names (one metric name may carry several label sets). */
  private readonly labeled = new Map<string, LabeledCounter | LabeledHistogram>();
  private readonly budget: SeriesBudget;

  constructor(limits: SeriesLimits = DEFAULT_SERIES_LIMITS) {
    // The overflow counter appears once something overflowed (cold path).
    this.budget = { series: 0, limits, overflow: () => this.counter(SERIES_OVERFLOW_STAT).inc() };
  }

  /** A labeled counter (istio_requests_total…): the same object for the same name and label names. */
  labeledCounter(name: string, labelNames: readonly string[]): LabeledCounter {
    return this.family(name, labelNames, "counter", () => new LabeledCounter(name, labelNames, this.budget)) as LabeledCounter;
  }

  /** A labeled histogram (istio_request_duration_milliseconds…), Envoy's default buckets unless given. */
  labeledHistogram(name: string, labelNames: readonly string[], bounds: readonly number[] = DEFAULT_BUCKETS): LabeledHistogram {
    return this.family(name, labelNames, "histogram", () => new LabeledHistogram(name, labelNames, this.budget, bounds)) as LabeledHistogram;
  }

  private family(name: string, labelNames: readonly string[], kind: "counter" | "histogram", make: () => LabeledCounter | LabeledHistogram): LabeledCounter | LabeledHistogram {
    const id = `${name}\u0000${labelNames.join(",")}`;
    let f = this.labeled.get(id);
    if (f !== undefined && f.kind !== kind) throw new Error(`stat ${name}: a ${f.kind}, not a ${kind}`);
    if (f === undefined) this.labeled.set(id, (f = make()));
    return f;
  }

  counter(name: string): Counter {
    let c = this.counters.get(name);
    if (!c) this.counters.set(name, (c = new Counter()));
    return c;
  }

  gauge(name: string): Gauge {
    let g = this.gauges.get(name);
    if (!g) this.gauges.set(name, (g = new Gauge()));
    return g;
  }

  scope(prefix: string): StatsScope {
    return new StatsScope(this, prefix);
  }

  /** Registers `prefix + tagValue + "." + stat` names so Prometheus output can split them. */
  tagged(prefix: string, tagValue: string): StatsScope {
    this.suffixes.set(prefix + tagValue + ".", prefix);
    return new StatsScope(this, `${prefix}${tagValue}.`);
  }

  /** Drops every stat under a prefix (a removed cluster or listener). */
  removePrefix(prefix: string): void {
    for (const k of [...this.counters.keys()]) if (k.startsWith(prefix)) this.counters.delete(k);
    for (const k of [...this.gauges.keys()]) if (k.startsWith(prefix)) this.gauges.delete(k);
    this.suffixes.delete(prefix);
  }

  /** Admin /reset_counters: every counter back to zero (gauges are current values and stay). */
  resetCounters(): void {
    for (const c of this.counters.values()) c.value = 0;
    for (const f of this.labeled.values()) if (f instanceof LabeledCounter) f.reset();
  }

  /** Everything, for another process to merge (--concurrency workers report to their primary). */
  snapshot(): StatsSnapshot {
    return { counters: [...this.counters].map(([n, c]) => [n, c.value]), gauges: [...this.gauges].map(([n, g]) => [n, g.value]), tags: [...this.suffixes], labeled: [...this.labeled.values()].map(snapshotFamily) };
  }

  /** A store holding the sum of several snapshots (Envoy's stats are process-wide). */
  static merged(snapshots: readonly StatsSnapshot[]): StatsStore {
    const s = new StatsStore();
    for (const snap of snapshots) {
      for (const [n, v] of snap.counters) s.counter(n).inc(v);
      for (const [n, v] of snap.gauges) s.gauge(n).inc(v);
      for (const [full, prefix] of snap.tags) s.suffixes.set(full, prefix);
      for (const l of snap.labeled ?? []) mergeInto(l.kind === "counter" ? s.labeledCounter(l.name, l.labelNames) : s.labeledHistogram(l.name, l.labelNames, l.bounds), l);
    }
    return s;
  }

  /** Envoy's /stats text: `name: value`, sorted. */
  text(filter?: RegExp): string {
    const rows: string[] = [];
    for (const [k, c] of this.counters) if (!filter || filter.test(k)) rows.push(`${k}: ${c.value}`);
    for (const [k, g] of this.gauges) if (!filter || filter.test(k)) rows.push(`${k}: ${g.value}`);
    for (const [k, v] of this.labeledRows()) if (!filter || filter.test(k)) rows.push(`${k}: ${v}`);
    return rows.sort().join("\n") + (rows.length ? "\n" : "");
  }

  /** Envoy's /stats as JSON ({"stats":[{name,value}]}). */
  json(): { stats: Array<{ name: string; value: number }>; histograms?: Array<{ name: string; count: number; sum: number }> } {
    const stats: Array<{ name: string; value: number }> = [];
    for (const [name, c] of this.counters) stats.push({ name, value: c.value });
    for (const [name, g] of this.gauges) stats.push({ name, value: g.value });
    for (const f of this.labeled.values()) if (f instanceof LabeledCounter) for (const s of f.entries()) stats.push({ name: envoyStatName(f, s.values), value: s.metric.value });
    stats.sort((a, b) => (a.name < b.name ? -1 : 1));
    const histograms: Array<{ name: string; count: number; sum: number }> = [];
    for (const f of this.labeled.values()) if (f instanceof LabeledHistogram) for (const s of f.entries()) histograms.push({ name: envoyStatName(f, s.values), count: s.metric.count, sum: s.metric.sum });
    histograms.sort((a, b) => (a.name < b.name ? -1 : 1));
    return histograms.length ? { stats, histograms } : { stats };
  }

  /** Labeled series as /stats text rows: Istio's encoded stat name; a histogram as its count and sum. */
  private labeledRows(): Array<[string, string]> {
    const rows: Array<[string, string]> = [];
    for (const f of this.labeled.values()) {
      if (f instanceof LabeledCounter) for (const s of f.entries()) rows.push([envoyStatName(f, s.values), String(s.metric.value)]);
      else for (const s of f.entries()) rows.push([envoyStatName(f, s.values), `count=${s.metric.count} sum=${s.metric.sum}`]);
    }
    return rows;
  }

  /** Envoy's /stats/prometheus: `envoy_` + name with the tagged segment as a label. */
  prometheus(): string {
    const families = new Map<string, { type: string; rows: string[] }>();
    const add = (name: string, value: number, type: string) => {
      let metric = name;
      let labels = "";
      for (const [full, prefix] of this.suffixes) {
        if (!name.startsWith(full)) continue;
        const t = TAGGED.find((x) => x.prefix === prefix);
        if (!t) continue;
        metric = prefix + name.slice(full.length);
        labels = `{${t.tag}="${escapeLabel(full.slice(prefix.length, -1))}"}`;
        break;
      }
      const fam = `envoy_${promName(metric)}`;
      let f = families.get(fam);
      if (!f) families.set(fam, (f = { type, rows: [] }));
      f.rows.push(`${fam}${labels} ${value}`);
    };
    for (const [k, c] of this.counters) add(k, c.value, "counter");
    for (const [k, g] of this.gauges) add(k, g.value, "gauge");
    const out: string[] = [];
    for (const [name, f] of [...families].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      out.push(`# TYPE ${name} ${f.type}`, ...f.rows.sort());
    }
    // Labeled families, one TYPE line per metric name even when filters gave it several label sets.
    const byName = new Map<string, Array<LabeledCounter | LabeledHistogram>>();
    for (const f of this.labeled.values()) byName.set(f.name, [...(byName.get(f.name) ?? []), f]);
    for (const [, fams] of [...byName].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const rows = fams.flatMap((f) => familyPrometheus(f));
      if (rows.length) out.push(rows[0], ...rows.filter((r) => !r.startsWith("# TYPE ")));
    }
    return out.join("\n") + "\n";
  }
}
