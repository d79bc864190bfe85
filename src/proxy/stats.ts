// Envoy's stats: flat dotted names (`cluster.outbound|9080||reviews.default.svc.cluster.local.
// upstream_rq_total`, `http.inbound_0.0.0.0_9080.downstream_rq_2xx`), counters and gauges, shown
// as text on /stats and in Prometheus form on /stats/prometheus with Envoy's tag extraction (the
// cluster, HTTP connection manager and listener names become labels: envoy_cluster_name, …).

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
    private readonly store: StatsStore,
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

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

export interface StatsSnapshot {
  counters: Array<[string, number]>;
  gauges: Array<[string, number]>;
  /** Tagged prefixes (`cluster.NAME.` → `cluster.`) for Prometheus names. */
  tags: Array<[string, string]>;
}

export class StatsStore {
  private readonly counters = new Map<string, Counter>();
  private readonly gauges = new Map<string, Gauge>();
  /** Known stat suffixes per tagged prefix (the part after the tag value), for Prometheus names. */
  private readonly suffixes = new Map<string, string>();

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
  }

  /** Everything, for another process to merge (--concurrency workers report to their primary). */
  snapshot(): StatsSnapshot {
    return { counters: [...this.counters].map(([n, c]) => [n, c.value]), gauges: [...this.gauges].map(([n, g]) => [n, g.value]), tags: [...this.suffixes] };
  }

  /** A store holding the sum of several snapshots (Envoy's stats are process-wide). */
  static merged(snapshots: readonly StatsSnapshot[]): StatsStore {
    const s = new StatsStore();
    for (const snap of snapshots) {
      for (const [n, v] of snap.counters) s.counter(n).inc(v);
      for (const [n, v] of snap.gauges) s.gauge(n).inc(v);
      for (const [full, prefix] of snap.tags) s.suffixes.set(full, prefix);
    }
    return s;
  }

  /** Envoy's /stats text: `name: value`, sorted. */
  text(filter?: RegExp): string {
    const rows: string[] = [];
    for (const [k, c] of this.counters) if (!filter || filter.test(k)) rows.push(`${k}: ${c.value}`);
    for (const [k, g] of this.gauges) if (!filter || filter.test(k)) rows.push(`${k}: ${g.value}`);
    return rows.sort().join("\n") + (rows.length ? "\n" : "");
  }

  /** Envoy's /stats as JSON ({"stats":[{name,value}]}). */
  json(): { stats: Array<{ name: string; value: number }> } {
    const stats: Array<{ name: string; value: number }> = [];
    for (const [name, c] of this.counters) stats.push({ name, value: c.value });
    for (const [name, g] of this.gauges) stats.push({ name, value: g.value });
    stats.sort((a, b) => (a.name < b.name ? -1 : 1));
    return { stats };
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
    return out.join("\n") + "\n";
  }
}
