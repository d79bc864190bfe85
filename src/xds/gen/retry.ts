// VirtualService `retries` → Envoy `RouteAction.RetryPolicy`, as Istio's
// pilot/pkg/networking/core/route/retry/retry.go builds it: Istio's default policy when a route sets
// none, attempts/retryOn/perTryTimeout/backoff applied on top of it otherwise.
import type { HTTPRoute } from "../../api/resource.js";
import { parseDuration } from "../../api/validation/common.js";
import { anyOf, duration } from "../../envoy/protos.js";
import type { RetryPolicy } from "../../envoy/types.js";

/** Istio's default retry policy (mesh defaultHttpRetryPolicy unset). */
export const DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";
const DEFAULT_RETRIES = 2;
const HOST_SELECTION_RETRY_MAX_ATTEMPTS = 5;

/** `envoy.retry_host_predicates.previous_hosts`: retries prefer hosts not tried yet. */
export function previousHostsPredicate(): RetryPolicy.RetryHostPredicate {
  return {
    name: "envoy.retry_host_predicates.previous_hosts",
    typedConfig: anyOf("envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate", {}),
  };
}

/**
 * Istio's default retry policy (retry.DefaultPolicy); with consistent hashing the previous-hosts
 * predicate is left out so retries stay on the hashed host (DefaultConsistentHashPolicy).
 */
export function defaultRetryPolicy(consistentHash = false): RetryPolicy {
  const p: RetryPolicy = { retryOn: DEFAULT_RETRY_ON, numRetries: { value: DEFAULT_RETRIES } };
  if (!consistentHash) p.retryHostPredicate = [previousHostsPredicate()];
  p.hostSelectionRetryMaxAttempts = HOST_SELECTION_RETRY_MAX_ATTEMPTS;
  p.retriableStatusCodes = [503];
  return p;
}

// HTTP status codes Go's http.StatusText knows (Istio's parseRetryOn treats those as status codes).
const HTTP_STATUS_CODES = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402,
  403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431,
  451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

/**
 * Istio's retry.ConvertPolicy: undefined retries → the default policy; attempts ≤ 0 → no policy;
 * otherwise the default with attempts, retryOn (numbers become retriableStatusCodes), perTryTimeout,
 * retryIgnorePreviousHosts, retryRemoteLocalities (previous_priorities) and backoff applied.
 */
export function convertRetryPolicy(retries: HTTPRoute["retries"], consistentHash = false): RetryPolicy | undefined {
  const out = defaultRetryPolicy(consistentHash);
  if (!retries) return out;
  if (!retries.attempts || retries.attempts <= 0) return undefined;
  out.numRetries = { value: retries.attempts };
  if (retries.retryOn) {
    const codes: number[] = [];
    const parts: string[] = [];
    for (const raw of retries.retryOn.split(",")) {
      const part = raw.trim();
      if (!part) continue;
      const n = Number(part);
      if (/^\d+$/.test(part) && HTTP_STATUS_CODES.has(n)) codes.push(n);
      else parts.push(part);
    }
    let retryOn = parts.join(",");
    if (codes.length > 0 && !retryOn.includes("retriable-status-codes")) retryOn += (retryOn ? "," : "") + "retriable-status-codes";
    if (retryOn) out.retryOn = retryOn;
    else delete out.retryOn;
    if (codes.length > 0) out.retriableStatusCodes = codes;
    else delete out.retriableStatusCodes;
  }
  if (retries.perTryTimeout) {
    const ms = parseDuration(retries.perTryTimeout);
    if (ms !== undefined) out.perTryTimeout = duration(ms);
  }
  if (retries.retryIgnorePreviousHosts !== undefined) {
    if (retries.retryIgnorePreviousHosts) out.retryHostPredicate = [previousHostsPredicate()];
    else delete out.retryHostPredicate;
  }
  if (retries.retryRemoteLocalities) {
    out.retryPriority = {
      name: "envoy.retry_priorities.previous_priorities",
      typedConfig: anyOf("envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig", { updateFrequency: 2 }),
    };
  }
  if (retries.backoff) {
    const ms = parseDuration(retries.backoff);
    if (ms !== undefined) out.retryBackOff = { baseInterval: duration(ms) };
  }
  return out;
}
