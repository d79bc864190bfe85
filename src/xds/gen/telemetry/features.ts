// One switch per generated piece of telemetry config, so a piece whose proxy side is missing can be
// turned off in one place (the control plane then generates what it did before that piece). Each
// switch names exactly what it adds to generated resources.
export const TELEMETRY_FEATURES = {
  /** `istio.stats` (type.googleapis.com/stats.PluginConfig): HTTP filter before the router, network filter before tcp_proxy. */
  stats: true,
  /**
   * `istio.metadata_exchange`: the HTTP peer_metadata filter (TypedStruct io.istio.http.peer_metadata.Config)
   * first in sidecar HCMs, the TCP network filter (TypedStruct envoy.tcp.metadataexchange.config.MetadataExchange)
   * first on inbound mTLS chains, the same as a cluster filter on outbound mTLS clusters, and ALPN
   * `istio-peer-exchange, istio` in those clusters' UpstreamTlsContext.
   */
  metadataExchange: true,
  /** HCM `tracing` (envoy.tracers.zipkin / envoy.tracers.opentelemetry provider, sampling, custom tags). */
  tracing: true,
  /** FileAccessLog `log_format` (Istio's text format or JSON labels); off: Envoy's default format. */
  accessLogFormats: true,
  /** AccessLog `filter` (extension_filter envoy.access_loggers.extension_filters.cel); off: Telemetry filters are reported and the log is unfiltered. */
  accessLogFilters: true,
};

export type TelemetryFeature = keyof typeof TELEMETRY_FEATURES;
