// Envoy's tracing decision for one request (ConnectionManagerUtility::mutateTracingRequestHeader and
// HttpTracerUtility::shouldTraceRequest). The decision travels in the x-request-id UUID itself: its
// version nibble (index 14) is rewritten to a trace reason — '9' forced, 'a' random sampling, 'b'
// client sampling, '4' none — so proxies further along see why the trace exists. The "random" value
// each percentage is tested against is the request id's first 8 hex digits mod 10000, so every proxy
// on the path takes the same decision for the same request.

/** Envoy's Tracing::Reason, as the UUID encodes it. */
export const enum TraceReason {
  NotTraceable = 0,
  Sampled = 1,
  Client = 2,
  Forced = 3,
}

const REASON_CHAR: Record<number, string> = { [TraceReason.Sampled]: "a", [TraceReason.Client]: "b", [TraceReason.Forced]: "9" };
const TRACE_BYTE = 14;

/** A hex digit's value (either case), -1 for anything else. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Envoy's sampling value for a request id: its first 8 characters as hex, or -1 when the id is not
 * 36 characters long (Envoy's UUID extension neither reads nor rewrites the trace reason of such an
 * id, so it is never traced by reason) or does not start with 8 hex digits (Envoy's getInteger
 * fails). Envoy looks no further into the id: neither does this, which runs for every request.
 */
function uuidPrefix(id: string): number {
  if (id.length !== 36) return -1;
  let prefix = 0;
  for (let i = 0; i < 8; i++) {
    const v = hexValue(id.charCodeAt(i));
    if (v < 0) return -1;
    prefix = prefix * 16 + v;
  }
  return prefix;
}

/** A fraction as Envoy's Percent (0–100), in units of 1/10000 for the mod-10000 test. */
export interface SamplingConfig {
  /** client_sampling (default 100%). */
  readonly client: number;
  /** random_sampling (default 100%). */
  readonly random: number;
  /** overall_sampling (default 100%). */
  readonly overall: number;
}

/** The reason a request id carries ('4' and anything unknown: none). */
export function traceReason(requestId: string): TraceReason {
  return uuidPrefix(requestId) >= 0 ? uuidReason(requestId) : TraceReason.NotTraceable;
}

/** traceReason of an id already known to be a UUID. */
function uuidReason(requestId: string): TraceReason {
  switch (requestId[TRACE_BYTE]) {
    case "9":
      return TraceReason.Forced;
    case "a":
      return TraceReason.Sampled;
    case "b":
      return TraceReason.Client;
    default:
      return TraceReason.NotTraceable;
  }
}

function withReason(requestId: string, reason: TraceReason): string {
  const c = REASON_CHAR[reason] ?? "4";
  // Most ids already carry their reason (a downstream proxy wrote it): no new string then.
  if (requestId[TRACE_BYTE] === c) return requestId;
  return requestId.slice(0, TRACE_BYTE) + c + requestId.slice(TRACE_BYTE + 1);
}

/** Whether `value` (0–9999) falls under `percent` (Envoy's featureEnabled on a FractionalPercent of 10000). */
function under(percent: number, value: number): boolean {
  return value < Math.round(percent * 100);
}

/**
 * The decision for a request, and the x-request-id that records it (undefined when the id is not a
 * UUID: Envoy then leaves it alone and the request is not traced by reason).
 * `forceTrace`: x-envoy-force-trace from a trusted (internal) peer; `clientTraceId`: x-client-trace-id
 * present; `random` draws 0–9999 when the id cannot (only used then).
 */
export function decide(cfg: SamplingConfig, requestId: string | undefined, forceTrace: boolean, clientTraceId: boolean, random: () => number): { traced: boolean; reason: TraceReason; requestId: string | undefined } {
  const prefix = requestId === undefined ? -1 : uuidPrefix(requestId);
  if (requestId === undefined || prefix < 0) return { traced: false, reason: TraceReason.NotTraceable, requestId: undefined };
  const value = prefix % 10000;
  let reason = uuidReason(requestId);
  if (reason === TraceReason.NotTraceable) {
    if (clientTraceId && under(cfg.client, random())) reason = TraceReason.Client;
    else if (forceTrace) reason = TraceReason.Forced;
    else if (under(cfg.random, value)) reason = TraceReason.Sampled;
  }
  if (reason !== TraceReason.NotTraceable && !under(cfg.overall, value)) reason = TraceReason.NotTraceable;
  return { traced: reason !== TraceReason.NotTraceable, reason, requestId: withReason(requestId, reason) };
}
