// Labeled metrics in the proxy's stats store: Istio's standard metrics (istio_requests_total, …) are
// counters and histograms with a label set per series, exposed as Prometheus families the way Envoy
// shows the istio.stats filter's stats. Bounded: each metric holds at most `maxSeriesPerMetric`
// label sets and the store at most `maxSeries` in all; a sample past either cap is not recorded and
// counts in the flat counter `istio_stats.series_overflow` (envoy_istio_stats_series_overflow in
// Prometheus), so a flood of distinct peers or hosts never grows memory without bound.

/**
 * Envoy's default histogram buckets (Istio's bootstrap sets no others for its metrics): the bounds
 * of istio_request_duration_milliseconds, istio_request_bytes and istio_response_bytes.
 */
export const DEFAULT_BUCKETS: readonly number[] = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

/** The flat counter a sample the caps refused counts in. */
export const SERIES_OVERFLOW_STAT = "istio_stats.series_overflow";

export interface SeriesLimits {
  /** Distinct label sets one metric keeps (default 5000). */
  readonly maxSeriesPerMetric: number;
  /** Distinct label sets every labeled metric keeps together (default 20000). */
  readonly maxSeries: number;
}

export const DEFAULT_SERIES_LIMITS: SeriesLimits = { maxSeriesPerMetric: 5000, maxSeries: 20000 };

/** One series of a labeled counter. */
export class SeriesCounter {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

/** One series of a histogram: per-bucket counts (not cumulative; the last slot is +Inf), sum, count. */
export class SeriesHistogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  record(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

/** Where a refused sample goes: recorded nowhere that is shown. */
const SINK_COUNTER = new SeriesCounter();

interface Series<M> {
  readonly values: readonly string[];
  readonly metric: M;
}

type Kind = "counter" | "histogram";

/** What families share: the store-wide series count and the overflow counter. */
export interface SeriesBudget {
  series: number;
  readonly limits: SeriesLimits;
  overflow(): void;
}

/** One metric: its name, label names (in order) and its series by label key. */
export abstract class LabeledFamily<M> {
  protected readonly series = new Map<string, Series<M>>();
  constructor(
    readonly name: string,
    readonly kind: Kind,
    readonly labelNames: readonly string[],
    private readonly budget: SeriesBudget,
  ) {}

  protected abstract make(): M;
  protected abstract sink(): M;

  /**
   * The series for a label set: `key` identifies `values` (callers build it once per stream and
   * share it across metrics with the same labels). One map lookup when the series exists.
   */
  at(key: string, values: readonly string[]): M {
    return this.seriesAt(key, values) ?? this.sink();
  }

  /**
   * at()'s series, but undefined past the limits (the overflow counted: there is nothing to record
   * into), so that what it returns may be kept by the caller: a series stays in its family for good.
   */
  seriesAt(key: string, values: readonly string[]): M | undefined {
    const s = this.series.get(key);
    if (s !== undefined) return s.metric;
    const b = this.budget;
    if (this.series.size >= b.limits.maxSeriesPerMetric || b.series >= b.limits.maxSeries) {
      b.overflow();
      return undefined;
    }
    const metric = this.make();
    this.series.set(key, { values, metric });
    b.series++;
    return metric;
  }

  get size(): number {
    return this.series.size;
  }

  entries(): IterableIterator<Series<M>> {
    return this.series.values();
  }
}

export class LabeledCounter extends LabeledFamily<SeriesCounter> {
  constructor(name: string, labelNames: readonly string[], budget: SeriesBudget) {
    super(name, "counter", labelNames, budget);
  }
  protected make(): SeriesCounter {
    return new SeriesCounter();
  }
  protected sink(): SeriesCounter {
    SINK_COUNTER.value = 0;
    return SINK_COUNTER;
  }
  reset(): void {
    for (const s of this.series.values()) s.metric.value = 0;
  }
}

export class LabeledHistogram extends LabeledFamily<SeriesHistogram> {
  private readonly sinkHistogram: SeriesHistogram;
  constructor(
    name: string,
    labelNames: readonly string[],
    budget: SeriesBudget,
    readonly bounds: readonly number[] = DEFAULT_BUCKETS,
  ) {
    super(name, "histogram", labelNames, budget);
    this.sinkHistogram = new SeriesHistogram(bounds);
  }
  protected make(): SeriesHistogram {
    return new SeriesHistogram(this.bounds);
  }
  protected sink(): SeriesHistogram {
    return this.sinkHistogram;
  }
}

/** A labeled family as one process reports it to another (--concurrency workers to their primary). */
export interface LabeledSnapshot {
  name: string;
  kind: Kind;
  labelNames: string[];
  bounds?: number[];
  /** Label values and either the counter's value or [per-bucket counts…, sum, count]. */
  series: Array<[string[], number | number[]]>;
}

export function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Prometheus `{a="x",b="y"}` (with an extra trailing label for buckets). */
function labelText(names: readonly string[], values: readonly string[], extra?: string): string {
  const parts: string[] = [];
  for (let i = 0; i < names.length; i++) parts.push(`${names[i]}="${escapeLabel(values[i] ?? "")}"`);
  if (extra !== undefined) parts.push(extra);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** A bucket bound as Envoy prints `le` (shortest form: 0.5, 1, 3600000). */
function boundText(b: number): string {
  return String(b);
}

/** Envoy's Prometheus text for one family (TYPE line, then its series in label order). */
export function familyPrometheus(f: LabeledFamily<SeriesCounter> | LabeledFamily<SeriesHistogram>): string[] {
  if (f.size === 0) return [];
  const out = [`# TYPE ${f.name} ${f.kind}`];
  const rows = [...f.entries()].sort((a, b) => compareValues(a.values, b.values));
  if (f instanceof LabeledCounter) {
    for (const s of rows as Array<Series<SeriesCounter>>) out.push(`${f.name}${labelText(f.labelNames, s.values)} ${s.metric.value}`);
    return out;
  }
  const h = f as LabeledHistogram;
  for (const s of rows as Array<Series<SeriesHistogram>>) {
    let cum = 0;
    for (let i = 0; i < h.bounds.length; i++) {
      cum += s.metric.counts[i];
      out.push(`${h.name}_bucket${labelText(h.labelNames, s.values, `le="${boundText(h.bounds[i])}"`)} ${cum}`);
    }
    out.push(`${h.name}_bucket${labelText(h.labelNames, s.values, 'le="+Inf"')} ${s.metric.count}`);
    out.push(`${h.name}_sum${labelText(h.labelNames, s.values)} ${s.metric.sum}`);
    out.push(`${h.name}_count${labelText(h.labelNames, s.values)} ${s.metric.count}`);
  }
  return out;
}

function compareValues(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

/**
 * The name Envoy shows on /stats for an istio.stats series: Istio encodes the labels into the stat
 * name (`reporter=.=destination;.;…;.;istio_requests_total`), which is also what its bootstrap's
 * stats_matcher (`prefix: reporter=`) selects.
 */
export function envoyStatName(f: LabeledFamily<unknown>, values: readonly string[]): string {
  const parts: string[] = [];
  for (let i = 0; i < f.labelNames.length; i++) parts.push(`${f.labelNames[i]}=.=${values[i]}`);
  parts.push(f.name);
  return parts.join(";.;");
}

export function snapshotFamily(f: LabeledCounter | LabeledHistogram): LabeledSnapshot {
  const series: LabeledSnapshot["series"] = [];
  if (f instanceof LabeledCounter) for (const s of f.entries()) series.push([[...s.values], s.metric.value]);
  else for (const s of f.entries()) series.push([[...s.values], [...s.metric.counts, s.metric.sum, s.metric.count]]);
  return { name: f.name, kind: f.kind, labelNames: [...f.labelNames], bounds: f instanceof LabeledHistogram ? [...f.bounds] : undefined, series };
}

/** Adds a snapshot's series into a family of the same shape (label key: the values joined by \u0001). */
export function mergeInto(f: LabeledCounter | LabeledHistogram, snap: LabeledSnapshot): void {
  for (const [values, v] of snap.series) {
    const key = values.join("\u0001");
    if (f instanceof LabeledCounter) f.at(key, values).inc(v as number);
    else {
      const h = f.at(key, values);
      const arr = v as number[];
      for (let i = 0; i < h.counts.length; i++) h.counts[i] += arr[i] ?? 0;
      h.sum += arr[h.counts.length] ?? 0;
      h.count += arr[h.counts.length + 1] ?? 0;
    }
  }
}
