// Envoy's retry state: whether a try's outcome is retried under the route's retry policy
// (retry_on conditions, retriable status codes, gRPC codes read from trailers-only responses),
// and the jittered exponential backoff between tries.
import type * as http from "node:http";
import type { AttemptOutcome } from "./upstream-request.js";

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