// istiod's xDS metrics, by their istiod names and labels, so existing dashboards and alerts work.
import type { Counter, Gauge, Histogram, MetricsRegistry } from "../../core/metrics.js";
import { TYPE_SHORT_NAMES } from "../../envoy/protos.js";

/** istiod's `type` label: cds, eds, lds, rds, sds; the full type URL for anything else. */
export function typeLabel(typeUrl: string): string {
  return TYPE_SHORT_NAMES[typeUrl] ?? typeUrl;
}

// istiod's bucket layouts (pilot/pkg/xds/monitoring.go).
const TIME_BUCKETS = [0.01, 0.1, 1, 3, 5, 10, 20, 30];
const CONVERGENCE_BUCKETS = [0.1, 0.5, 1, 3, 5, 10, 20, 30];
const SIZE_BUCKETS = [1, 10_000, 1_000_000, 4_000_000, 10_000_000, 40_000_000];

export class XdsMetrics {
  readonly connected: Gauge;
  readonly pushes: Counter;
  readonly pushTime: Histogram;
  readonly convergence: Histogram;
  readonly configSize: Histogram;
  readonly rejects: Counter;
  readonly expiredNonce: Counter;
  readonly sendTime: Histogram;
  readonly queueTime: Histogram;
  readonly triggers: Counter;

  constructor(registry: MetricsRegistry) {
    this.connected = registry.gauge("pilot_xds", "Number of endpoints connected to this pilot using XDS.");
    this.pushes = registry.counter("pilot_xds_pushes", "Pilot build and send errors for lds, rds, cds and eds.");
    this.pushTime = registry.histogram("pilot_xds_push_time", "Total time in seconds Pilot takes to push lds, rds, cds and eds.", TIME_BUCKETS);
    this.convergence = registry.histogram(
      "pilot_proxy_convergence_time",
      "Delay in seconds between config change and a proxy receiving all required configuration.",
      CONVERGENCE_BUCKETS,
    );
    this.configSize = registry.histogram("pilot_xds_config_size_bytes", "Distribution of configuration sizes pushed to clients", SIZE_BUCKETS);
    this.rejects = registry.counter("pilot_total_xds_rejects", "Total number of XDS responses from pilot rejected by proxy.");
    this.expiredNonce = registry.counter("pilot_xds_expired_nonce", "Total number of XDS requests with an expired nonce.");
    this.sendTime = registry.histogram("pilot_xds_send_time", "Total time in seconds Pilot takes to send generated configuration.", TIME_BUCKETS);
    this.queueTime = registry.histogram("pilot_proxy_queue_time", "Time in seconds, a proxy is in the push queue before being dequeued.", CONVERGENCE_BUCKETS);
    this.triggers = registry.counter("pilot_push_triggers", "Total number of times a push was triggered, labeled by reason for the push.");
  }
}
