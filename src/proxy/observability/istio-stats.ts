// Istio's `istio.stats` filter (istio/proxy's stats plugin), HTTP and network: on each finished
// stream (onLog) it records Istio's standard metrics in the proxy's stats store with Istio's labels
// — istio_requests_total, istio_request_duration_milliseconds, istio_request_bytes,
// istio_response_bytes, istio_request_messages_total / istio_response_messages_total (gRPC) for
// HTTP; istio_tcp_sent_bytes_total, istio_tcp_received_bytes_total,
// istio_tcp_connections_opened_total / closed_total for TCP. typed_config: stats.PluginConfig
// (istio.io/api envoy/extensions/stats/config.proto, in the proxy's schema; istiod sends it as a
// plain Any). A finished stream costs one map lookup per metric: its label set and key are reused
// from a recent stream with the same inputs (istio-stats-labels.ts' StandardLabelCache).
import { NETWORK_FILTERS, NetworkFilterStatus, type ReadFilter } from "../network-filters.js";
import { registerHttpFilter } from "../http/filter.js";
import type { StatsStore } from "../stats.js";
import type { LabeledCounter, LabeledHistogram, SeriesCounter, SeriesHistogram } from "../labeled-stats.js";
import type { HttpStreamInfo, PeerMetadata, StreamInfo, TcpStreamInfo } from "../stream-info.js";
import type { CelActivation, CelInput } from "../../core/cel/program.js";
import { type CelNode, streamInfoActivation } from "./cel-attributes.js";
import { type CompiledPluginConfig, compilePluginConfig, HTTP_METRICS, localWorkload, type MetricPlan, type PluginConfig, type StandardLabelSet, StandardLabelCache, TCP_METRICS } from "./istio-stats-labels.js";

export const PLUGIN_CONFIG_TYPE = "stats.PluginConfig";
export const ISTIO_STATS_FILTER = "istio.stats";

type HttpMetric = (typeof HTTP_METRICS)[number];
type TcpMetric = (typeof TCP_METRICS)[number];

const HISTOGRAMS = new Set(["request_duration_milliseconds", "request_bytes", "response_bytes"]);

/** One stream's standard labels (and their key), and its CEL activation for custom dimensions (made on first use). */
class StreamLabels {
  private act: CelActivation | undefined = undefined;
  constructor(
    readonly info: StreamInfo,
    readonly std: StandardLabelSet,
    private readonly node: CelNode | undefined,
  ) {}
  activation(): CelActivation {
    return (this.act ??= new StatsActivation(streamInfoActivation(this.info, this.node), this.info));
  }
}

/**
 * Envoy's attributes plus the stats plugin's own: `upstream_peer` / `downstream_peer` as the peer
 * node Istio documents for stats expressions, each label as `{value}` — Istio's example
 * `upstream_peer.labels['app'].value` (the same peers as `filter_state.upstream_peer`).
 */
class StatsActivation implements CelActivation {
  constructor(
    private readonly envoy: CelActivation,
    private readonly info: StreamInfo,
  ) {}

  resolve(name: string): CelInput | undefined {
    if (name !== "upstream_peer" && name !== "downstream_peer") return this.envoy.resolve(name);
    const p = this.info.filterState.get(name) as PeerMetadata | undefined;
    if (p === undefined || p === null || typeof p !== "object" || typeof p.labels !== "object") return undefined;
    const labels = new Map<string, CelInput>();
    for (const [k, v] of Object.entries(p.labels)) labels.set(k, { value: v });
    return { name: p.name, namespace: p.namespace, labels, workload_name: p.workload, cluster_id: p.cluster };
  }
}

/** One metric as a filter records it: its plan and its family in the store (undefined: dropped). */
interface Bound<F> {
  readonly plan: MetricPlan;
  readonly family: F;
}

/** The label values and key of one metric for one stream (the standard set's, unless the plan changes it). */
function seriesKey(plan: MetricPlan, labels: StreamLabels): StandardLabelSet {
  const src = plan.sources;
  if (src === undefined) return labels.std;
  const values: string[] = new Array<string>(src.length);
  for (let i = 0; i < src.length; i++) {
    const s = src[i];
    values[i] = typeof s === "number" ? labels.std.values[s] : s(labels.activation());
  }
  return { values, key: values.join("\u0001") };
}

function bind<F>(stats: StatsStore, cfg: CompiledPluginConfig, metric: string, tcp: boolean): Bound<F> | undefined {
  const plan = cfg.plan(metric, tcp);
  if (plan.drop) return undefined;
  const name = `istio_${metric}`;
  const family = HISTOGRAMS.has(metric) ? stats.labeledHistogram(name, plan.labelNames) : stats.labeledCounter(name, plan.labelNames);
  return { plan, family: family as F };
}

/** The HTTP side: istio.stats on an http_connection_manager. */
export class IstioHttpStats {
  private readonly counterMetrics: HttpMetric[] = [];
  private readonly counters: Array<Bound<LabeledCounter>> = [];
  private readonly histogramMetrics: HttpMetric[] = [];
  private readonly histograms: Array<Bound<LabeledHistogram>> = [];
  private readonly labels: StandardLabelCache;

  constructor(
    stats: StatsStore,
    cfg: CompiledPluginConfig,
    local: PeerMetadata,
    private readonly node?: CelNode,
  ) {
    this.labels = new StandardLabelCache(local, cfg);
    for (const m of HTTP_METRICS) {
      if (HISTOGRAMS.has(m)) {
        const b = bind<LabeledHistogram>(stats, cfg, m, false);
        if (b) {
          this.histogramMetrics.push(m);
          this.histograms.push(b);
        }
      } else {
        const b = bind<LabeledCounter>(stats, cfg, m, false);
        if (b) {
          this.counterMetrics.push(m);
          this.counters.push(b);
        }
      }
    }
  }

  // (Indexed loops: this runs for every stream, and destructuring iteration allocates.)
  record(info: HttpStreamInfo): void {
    const std = this.labels.get(info);
    // A metric with the standard labels records into the series kept with the (cached) label set:
    // no key lookup per metric per stream. Custom labels build their key per stream.
    const kept = (std.series ??= []);
    let labels: StreamLabels | undefined;
    const grpc = std.values[20] === "grpc";
    const nc = this.counters.length;
    for (let i = 0; i < nc; i++) {
      const m = this.counterMetrics[i];
      let n: number;
      if (m === "requests_total") n = 1;
      else if (!grpc) continue;
      else n = m === "request_messages_total" ? info.requestMessages : info.responseMessages;
      const b = this.counters[i];
      let series = kept[i] as SeriesCounter | undefined;
      if (series === undefined) {
        const k = b.plan.sources === undefined ? std : seriesKey(b.plan, (labels ??= new StreamLabels(info, std, this.node)));
        series = b.family.seriesAt(k.key, k.values);
        // (undefined: past the series caps, counted as overflow; nothing to record into.)
        if (series !== undefined) {
          if (k === std) kept[i] = series;
          series.inc(n);
        }
      } else series.inc(n);
    }
    for (let i = 0; i < this.histograms.length; i++) {
      const m = this.histogramMetrics[i];
      const v = m === "request_duration_milliseconds" ? info.durationMs : m === "request_bytes" ? info.requestHeadersBytes + info.bytesReceived : info.responseHeadersBytes + info.bytesSent;
      const b = this.histograms[i];
      let series = kept[nc + i] as SeriesHistogram | undefined;
      if (series === undefined) {
        const k = b.plan.sources === undefined ? std : seriesKey(b.plan, (labels ??= new StreamLabels(info, std, this.node)));
        series = b.family.seriesAt(k.key, k.values);
        if (series !== undefined) {
          if (k === std) kept[nc + i] = series;
          series.record(v);
        }
      } else series.record(v);
    }
  }
}

/**
 * The TCP side: istio.stats as a network filter. Each report (periodic, `intermediate`, or the
 * final one at close) adds the bytes since the connection's previous report; the connection counts
 * as opened at its first report (when the peer metadata is known, as Istio's), closed at the last.
 */
export class IstioTcpStats {
  private readonly bound = new Map<TcpMetric, Bound<LabeledCounter>>();
  private readonly labels: StandardLabelCache;

  constructor(
    stats: StatsStore,
    readonly cfg: CompiledPluginConfig,
    local: PeerMetadata,
    private readonly node?: CelNode,
  ) {
    this.labels = new StandardLabelCache(local, cfg);
    for (const m of TCP_METRICS) {
      const b = bind<LabeledCounter>(stats, cfg, m, true);
      if (b) this.bound.set(m, b);
    }
  }

  /** One connection's reporter: it remembers what it already reported. */
  connection(): (info: TcpStreamInfo) => void {
    let sent = 0;
    let received = 0;
    let opened = false;
    return (info) => {
      const labels = new StreamLabels(info, this.labels.get(info), this.node);
      const add = (m: TcpMetric, n: number) => {
        const b = this.bound.get(m);
        if (b === undefined || n === 0) return;
        const k = seriesKey(b.plan, labels);
        b.family.at(k.key, k.values).inc(n);
      };
      if (!opened) {
        opened = true;
        add("tcp_connections_opened_total", 1);
      }
      add("tcp_sent_bytes_total", Math.max(0, info.bytesSent - sent));
      add("tcp_received_bytes_total", Math.max(0, info.bytesReceived - received));
      sent = Math.max(sent, info.bytesSent);
      received = Math.max(received, info.bytesReceived);
      if (!info.intermediate) add("tcp_connections_closed_total", 1);
    };
  }
}

/** The proxy's node for CEL's `node` and `xds.node`. */
function celNode(n: { readonly id: string; readonly metadata: Readonly<Record<string, unknown>> } | undefined): CelNode | undefined {
  return n === undefined ? undefined : { id: n.id, metadata: n.metadata as CelNode["metadata"] };
}

registerHttpFilter<PluginConfig>([PLUGIN_CONFIG_TYPE], {
  terminal: false,
  create(config, ctx) {
    const cfg = compilePluginConfig(config, ctx.path);
    // The filter's stats live at the store's top level, as Envoy's istio.stats do.
    const node = ctx.runtime.localNode;
    const rec = new IstioHttpStats(ctx.stats.store, cfg, localWorkload(node?.metadata ?? {}), celNode(node));
    const filter = { onLog: (info: HttpStreamInfo) => rec.record(info) };
    return { create: () => filter };
  },
});

NETWORK_FILTERS.register([PLUGIN_CONFIG_TYPE], {
  terminal: false,
  compile(config, ctx) {
    const cfg = compilePluginConfig(config as unknown as PluginConfig, ctx.path);
    const node = ctx.runtime.localNode;
    const rec = new IstioTcpStats(ctx.stats, cfg, localWorkload(node?.metadata ?? {}), celNode(node));
    return {
      terminal: false,
      name: ctx.name,
      create: (): ReadFilter => {
        const report = rec.connection();
        let timer: NodeJS.Timeout | undefined;
        return {
          // Istio's tcp_reporting_duration: a long-lived connection reports what it moved so far.
          onNewConnection: (cb) => {
            timer = setInterval(() => {
              const now = cb.connection.currentRecord?.();
              if (now !== undefined) report(now);
            }, cfg.tcpReportingMs);
            timer.unref();
            return NetworkFilterStatus.Continue;
          },
          onLog: (info) => {
            clearInterval(timer);
            report(info);
          },
          onDestroy: () => clearInterval(timer),
        };
      },
    };
  },
});
