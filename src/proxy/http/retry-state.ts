// Envoy's retry state: whether a try's outcome is retried under the route's retry policy
// (retry_on conditions, retriable status codes, gRPC codes read from trailers-only responses),
// and the jittered exponential backoff between tries, which holds a retry of the cluster's budget;
// the host a try goes to (previous_hosts) and what its outcome tells outlier detection.
import type * as http from "node:http";
import { grpcToHttpStatus } from "../../core/grpc.js";
import type { UpstreamCluster } from "../upstream/cluster.js";
import type { Host } from "../upstream/host.js";
import type { AttemptOutcome, ForwardPlan } from "./upstream-request.js";

export interface RetryPlan {
  retryOn: ReadonlySet<string>;
  numRetries: number;
  perTryTimeoutMs: number;
  retriableStatusCodes: ReadonlySet<number>;
  previousHosts: boolean;
  hostSelectionRetryMaxAttempts: number;
  baseIntervalMs: number;
  maxIntervalMs: number;
}

export function grpcStatusOf(h: http.IncomingHttpHeaders | undefined): number | undefined {
  const s = h?.["grpc-status"];
  return typeof s === "string" && s !== "" ? Number(s) : undefined;
}

const GRPC_RETRY: Record<string, number> = { cancelled: 1, "deadline-exceeded": 4, internal: 13, "resource-exhausted": 8, unavailable: 14 };


/** Whether Envoy's retry_on conditions ask to retry this outcome. */
export function shouldRetry(plan: RetryPlan, o: AttemptOutcome): boolean {
  const on = plan.retryOn;
  switch (o.kind) {
    case "connect-failure":
      return on.has("connect-failure") || on.has("5xx") || on.has("gateway-error") || on.has("reset") || on.has("reset-before-request");
    case "reset":
      return on.has("reset") || on.has("reset-before-request") || on.has("5xx") || on.has("gateway-error") || (!!o.refused && on.has("refused-stream"));
    case "protocol-error":
      // A reset like any other for retry_on (router/retry_state_impl.cc wouldRetryFromReset).
      return on.has("reset") || on.has("reset-before-request") || on.has("5xx") || on.has("gateway-error");
    case "per-try-timeout":
      return on.has("5xx") || on.has("gateway-error") || on.has("reset");
    case "response": {
      const s = o.res.status;
      if (on.has("5xx") && s >= 500) return true;
      if (on.has("gateway-error") && (s === 502 || s === 503 || s === 504)) return true;
      if (on.has("retriable-4xx") && s === 409) return true;
      if (on.has("retriable-status-codes") && plan.retriableStatusCodes.has(s)) return true;
      const g = grpcStatusOf(o.res.headers);
      if (g !== undefined) for (const name in GRPC_RETRY) if (on.has(name) && g === GRPC_RETRY[name]) return true;
      return false;
    }
  }
}

/** Envoy's jittered exponential backoff: uniform in [0, min(base·2^n, max)). */
export function backoffMs(plan: RetryPlan, attempt: number): number {
  const ceiling = Math.min(plan.baseIntervalMs * 2 ** (attempt - 1), plan.maxIntervalMs);
  return Math.floor(Math.random() * ceiling);
}
/**
 * A retry from its admission to its send: a unit of the cluster's max_retries (or retry budget)
 * held through the backoff, as Envoy holds it. Under `--concurrency N` the admission may be the
 * primary's answer, so it can come later.
 */
export class RetryBackoff {
  private timer: NodeJS.Timeout | undefined = undefined;
  /** Waiting for the admission (no unit held yet). */
  private asking = false;

  constructor(private readonly cluster: Pick<UpstreamCluster, "acquireRetry" | "releaseRetry" | "stats">) {}

  /**
   * Takes a retry and waits the backoff for `attempt`, then `ready()` (the retry is released).
   * False when refused at once (upstream_rq_retry_overflow); `overflow()` when refused later.
   */
  start(plan: RetryPlan, attempt: number, ready: () => void, overflow: () => void): boolean {
    const admitted = this.cluster.acquireRetry();
    if (admitted === false) return false;
    if (admitted === true) this.wait(plan, attempt, ready);
    else {
      this.asking = true;
      admitted.then(
        (ok) => {
          if (!this.asking) {
            if (ok) this.cluster.releaseRetry(); // cancelled meanwhile
            return;
          }
          this.asking = false;
          if (ok) this.wait(plan, attempt, ready);
          else overflow();
        },
        () => {},
      );
    }
    return true;
  }

  private wait(plan: RetryPlan, attempt: number, ready: () => void): void {
    this.cluster.stats.rqRetry.inc();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.cluster.releaseRetry();
      ready();
    }, backoffMs(plan, attempt - 1));
  }

  /** The forward stops waiting: the retry it holds goes back. */
  cancel(): void {
    if (this.asking) this.asking = false;
    else if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.cluster.releaseRetry();
    }
  }
}

/**
 * The host for the next try: ORIGINAL_DST's from the request, else the load balancer's, skipping
 * `tried` (previous_hosts) up to host_selection_retry_max_attempts picks.
 */
export function pickHost(plan: ForwardPlan, tried: readonly Host[] | undefined): Host | undefined {
  const cluster = plan.cluster;
  if (cluster.spec.type === "ORIGINAL_DST") {
    const header = plan.headers["x-envoy-original-dst-host"];
    return cluster.originalDestination(plan.authority, typeof header === "string" ? header : undefined);
  }
  const retry = plan.retry;
  if (retry === undefined || tried === undefined) return cluster.pick(plan.hash === undefined ? undefined : { hash: plan.hash });
  const attempts = tried.length > 0 ? Math.max(1, retry.hostSelectionRetryMaxAttempts) : 1;
  let host: Host | undefined;
  for (let i = 0; i < attempts; i++) {
    host = cluster.pick({ hash: plan.hash });
    if (!host || tried.length === 0 || !tried.includes(host)) return host;
  }
  return host;
}

/** One try's result for the cluster's per-host stats and outlier detection (gRPC: grpc-status mapped to HTTP). */
export function reportOutcome(cluster: UpstreamCluster, o: AttemptOutcome): void {
  if (o.kind === "response") {
    const g = grpcStatusOf(o.res.headers);
    cluster.reportResponse(o.host, g !== undefined ? grpcToHttpStatus(g) : o.res.status);
  } else cluster.reportResult(o.host, o.kind === "per-try-timeout" ? { kind: "timeout" } : o.kind === "protocol-error" ? { kind: "reset" } : { kind: o.kind });
}
