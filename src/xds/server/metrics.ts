// istiod's xDS metrics, by their istiod names, labels and buckets (pilot/pkg/xds/monitoring.go and
// pkg/xds/monitoring.go), so existing dashboards and alerts work.
import type { Counter, Gauge, Histogram, MetricsRegistry } from "../../core/metrics.js";
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, TYPE_SHORT_NAMES } from "../../envoy/protos.js";

/** istiod's `type` label: cds, eds, lds, rds, sds; the full type URL for anything else. */
export function typeLabel(typeUrl: string): string {
  return TYPE_SHORT_NAMES[typeUrl] ?? typeUrl;
}

// istiod's bucket layouts.
const PUSH_TIME_BUCKETS = [0.01, 0.1, 0.5, 1, 3, 5, 10, 20, 30];
const SEND_TIME_BUCKETS = [0.01, 0.1, 1, 3, 5, 10, 20, 30];
const CONVERGENCE_BUCKETS = [0.1, 0.5, 1, 3, 5, 10, 20, 30];
const SIZE_BUCKETS = [1, 10_000, 1_000_000, 4_000_000, 10_000_000, 40_000_000];
const DEBOUNCE_BUCKETS = [0.01, 0.1, 0.5, 1, 3, 5, 10, 20, 30];
const PUSH_CONTEXT_INIT_BUCKETS = [0.01, 0.1, 0.5, 1, 3, 5];

/** The per-type reject gauges istiod keeps for backwards compatibility (only these four types). */
const REJECT_GAUGES: Readonly<Record<string, [string, string]>> = {
  [CLUSTER_TYPE]: ["pilot_xds_cds_reject", "Pilot rejected CDS configs."],
  [ENDPOINT_TYPE]: ["pilot_xds_eds_reject", "Pilot rejected EDS."],
  [LISTENER_TYPE]: ["pilot_xds_lds_reject", "Pilot rejected LDS."],
  [ROUTE_TYPE]: ["pilot_xds_rds_reject", "Pilot rejected RDS."],
};

/** gRPC status codes as Go's codes.Code.String() spells them (istiod's `err` label on rejects). */
const GO_CODE_NAMES = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];

export function grpcCodeName(code: number): string {
  return GO_CODE_NAMES[code] ?? `Code(${code})`;
}

// gRPC's CANCELLED and UNAVAILABLE: a stream going away, which istiod does not count as a send error.
const STREAM_GONE_CODES = new Set([1, 14]);

export class XdsMetrics {
  readonly connected: Gauge;
  readonly pushes: Counter;
  readonly pushTime: Histogram;
  readonly convergence: Histogram;
  readonly configSize: Histogram;
  readonly rejects: Counter;
  private readonly typeRejects = new Map<string, Gauge>();
  readonly expiredNonce: Counter;
  readonly sendTime: Histogram;
  readonly queueTime: Histogram;
  readonly triggers: Counter;
  readonly debounceTime: Histogram;
  readonly pushContextInitTime: Histogram;
  readonly inboundUpdates: Counter;
  readonly recvMax: Gauge;
  readonly internalErrors: Counter;

  constructor(registry: MetricsRegistry) {
    this.connected = registry.gauge("pilot_xds", "Number of endpoints connected to this pilot using XDS.");
    this.pushes = registry.counter("pilot_xds_pushes", "Pilot build and send errors for lds, rds, cds and eds.");
    this.pushTime = registry.histogram("pilot_xds_push_time", "Total time in seconds Pilot takes to push lds, rds, cds and eds.", PUSH_TIME_BUCKETS);
    this.convergence = registry.histogram(
      "pilot_proxy_convergence_time",
      "Delay in seconds between config change and a proxy receiving all required configuration.",
      CONVERGENCE_BUCKETS,
    );
    this.configSize = registry.histogram("pilot_xds_config_size_bytes", "Distribution of configuration sizes pushed to clients", SIZE_BUCKETS);
    this.rejects = registry.counter("pilot_total_xds_rejects", "Total number of XDS responses from pilot rejected by proxy.");
    for (const [typeUrl, [name, help]] of Object.entries(REJECT_GAUGES)) this.typeRejects.set(typeUrl, registry.gauge(name, help));
    this.expiredNonce = registry.counter("pilot_xds_expired_nonce", "Total number of XDS requests with an expired nonce.");
    this.sendTime = registry.histogram("pilot_xds_send_time", "Total time in seconds Pilot takes to send generated configuration.", SEND_TIME_BUCKETS);
    this.queueTime = registry.histogram("pilot_proxy_queue_time", "Time in seconds, a proxy is in the push queue before being dequeued.", CONVERGENCE_BUCKETS);
    this.triggers = registry.counter("pilot_push_triggers", "Total number of times a push was triggered, labeled by reason for the push.");
    this.debounceTime = registry.histogram(
      "pilot_debounce_time",
      "Delay in seconds between the first config enters debouncing and the merged push request is pushed into the push queue (includes pushcontext_init_seconds).",
      DEBOUNCE_BUCKETS,
    );
    this.pushContextInitTime = registry.histogram("pilot_pushcontext_init_seconds", "Total time in seconds Pilot takes to init pushContext.", PUSH_CONTEXT_INIT_BUCKETS);
    this.inboundUpdates = registry.counter("pilot_inbound_updates", "Total number of updates received by pilot.");
    this.recvMax = registry.gauge("pilot_xds_recv_max", "The maximum size request we have received so far.");
    this.internalErrors = registry.counter("pilot_total_xds_internal_errors", "Total number of internal XDS errors in pilot.");
  }

  /** A NACK: the total by type, and istiod's per-type gauges by node and error code. */
  recordReject(typeUrl: string, nodeId: string, code: number): void {
    this.rejects.inc({ type: typeLabel(typeUrl) });
    this.typeRejects.get(typeUrl)?.inc({ node: nodeId, err: grpcCodeName(code) });
  }

  /**
   * A response the stream refused. As istiod: counted as `<type>_senderr` for CDS, EDS, LDS and RDS
   * only, and not when the gRPC status says the stream went away (CANCELLED, UNAVAILABLE). Returns
   * whether the error was unexpected (worth a log line).
   */
  recordSendError(typeUrl: string, err: unknown): boolean {
    const code = (err as { code?: unknown } | undefined)?.code;
    if (typeof code === "number" && STREAM_GONE_CODES.has(code)) return false;
    if (typeUrl in REJECT_GAUGES) this.pushes.inc({ type: `${typeLabel(typeUrl)}_senderr` });
    return true;
  }

  /** The largest request received so far (istiod's gRPC stats handler). */
  recordRequestSize(bytes: number): void {
    if (bytes > this.recvMax.get()) this.recvMax.set(bytes);
  }
}
