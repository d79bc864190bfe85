// The istio.stats filter (Istio's buildHTTPTelemetryFilter / buildTCPTelemetryFilter and
// generateStatsConfig): one per Prometheus provider the merged Telemetry keeps, with that
// provider's overrides for the listener's mode (CLIENT for outbound and gateways, SERVER for
// inbound) as stats.PluginConfig metrics (Istio metric names mapped to the Prometheus names without
// the istio_ prefix; custom names as given), dropped metrics, removed tags and CEL dimensions.
// No filter when the mode has ALL_METRICS disabled.
import type { Any } from "../../../envoy/types.js";
import type { ListenerClass, ProviderMetrics } from "../../../model/telemetry.js";
import { statsPluginConfig } from "./istio-any.js";

export const STATS_FILTER_NAME = "istio.stats";

/** Istio's metricToPrometheusMetric. */
export const METRIC_TO_PROMETHEUS: Readonly<Record<string, string>> = {
  REQUEST_COUNT: "requests_total",
  REQUEST_DURATION: "request_duration_milliseconds",
  REQUEST_SIZE: "request_bytes",
  RESPONSE_SIZE: "response_bytes",
  TCP_OPENED_CONNECTIONS: "tcp_connections_opened_total",
  TCP_CLOSED_CONNECTIONS: "tcp_connections_closed_total",
  TCP_SENT_BYTES: "tcp_sent_bytes_total",
  TCP_RECEIVED_BYTES: "tcp_received_bytes_total",
  GRPC_REQUEST_MESSAGES: "request_messages_total",
  GRPC_RESPONSE_MESSAGES: "response_messages_total",
};

/** Istio's generateStatsConfig; undefined when the listener's mode has its metrics disabled. */
export function statsConfig(c: ListenerClass, m: ProviderMetrics): Any | undefined {
  const mode = c === "sidecar-inbound" ? m.server : m.client;
  if (mode.disabled) return undefined;
  return statsPluginConfig({
    disableHostHeaderFallback: c === "sidecar-inbound" || c === "gateway",
    tcpReportingDurationMs: m.reportingIntervalMs,
    metrics: mode.overrides.map((o) => ({
      name: METRIC_TO_PROMETHEUS[o.name] ?? o.name,
      drop: o.disabled,
      tagsToRemove: o.tags.filter((t) => t.remove).map((t) => t.name),
      dimensions: Object.fromEntries(o.tags.filter((t) => !t.remove).map((t) => [t.name, t.value])),
    })),
  });
}
