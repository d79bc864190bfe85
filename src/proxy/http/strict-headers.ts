// The router's strict_check_headers: x-envoy-* request headers whose values must be well formed
// (Envoy's FilterUtility::StrictHeaderChecker). A request carrying a malformed one is answered
// 400 with the IH flag before it is forwarded, so a bad override never reaches a hop that would
// read it differently.
import type * as http from "node:http";
import { XdsConfigError } from "../xds-error.js";
import type { LocalReply } from "./local-reply.js";

/** Envoy's HTTP retry_on values (x-envoy-retry-on; retry_state_impl.cc parseRetryOn). */
const HTTP_RETRY_ON = new Set([
  "5xx",
  "gateway-error",
  "connect-failure",
  "envoy-ratelimited",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
  "retriable-headers",
  "reset",
  "reset-before-request",
  "http3-post-connect-failure",
]);
/** Envoy's gRPC retry_on values (x-envoy-retry-grpc-on; parseRetryGrpcOn). */
const GRPC_RETRY_ON = new Set(["cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"]);

const UNSIGNED = /^[0-9]+$/;
const MAX_U64 = 2n ** 64n - 1n;

const isUnsigned = (v: string) => UNSIGNED.test(v) && BigInt(v) <= MAX_U64;
const isRetryList = (known: ReadonlySet<string>) => (v: string) =>
  v.split(",").every((t) => {
    const s = t.trim();
    return s === "" || known.has(s);
  });

/** The headers Envoy allows in strict_check_headers, each with what a valid value is. */
const CHECKS: ReadonlyMap<string, (v: string) => boolean> = new Map([
  ["x-envoy-upstream-rq-timeout-ms", isUnsigned],
  ["x-envoy-upstream-rq-per-try-timeout-ms", isUnsigned],
  ["x-envoy-max-retries", isUnsigned],
  ["x-envoy-retry-on", isRetryList(HTTP_RETRY_ON)],
  ["x-envoy-retry-grpc-on", isRetryList(GRPC_RETRY_ON)],
]);

export type StrictHeaderCheck = (headers: http.IncomingHttpHeaders | http.OutgoingHttpHeaders) => LocalReply | undefined;

/**
 * Compiles the router's strict_check_headers (`path` is the field's); a header Envoy does not
 * allow there is a config error, as its proto validation makes it.
 */
export function compileStrictCheck(names: readonly string[], path: string): StrictHeaderCheck | undefined {
  if (names.length === 0) return undefined;
  const checks = names.map((raw, i) => {
    const name = raw.toLowerCase();
    const valid = CHECKS.get(name);
    if (valid === undefined) throw new XdsConfigError(`${path}[${i}]`, `"${raw}" is not one of ${[...CHECKS.keys()].join(", ")}`);
    return [name, valid] as const;
  });
  return (headers) => {
    for (const [name, valid] of checks) {
      const v = headers[name];
      if (v === undefined) continue;
      const value = Array.isArray(v) ? v.join(",") : String(v);
      if (!valid(value)) {
        return { status: 400, body: `invalid header '${name}' with value '${value}'`, flag: "IH", details: `request_headers_failed_strict_check{${name}}` };
      }
    }
    return undefined;
  };
}
