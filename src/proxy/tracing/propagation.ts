// Trace context propagation: reading a span context from a downstream request's headers and
// writing this proxy's span into the upstream request, in the forms Envoy's tracers use — Zipkin's
// B3 (the multi-header x-b3-* set, and the single `b3` header) and W3C Trace Context
// (`traceparent` / `tracestate`, the OpenTelemetry tracer's). Every header is hostile: ids must be
// lowercase hex of the exact length, all-zero ids are invalid, and a malformed context is reported
// as such (the caller then traces nothing for that request, as Envoy's tracers return a null span).
import { randomFillSync } from "node:crypto";
import type * as http from "node:http";

/** A span's identity as it travels between proxies. */
export interface SpanContext {
  /** 32 lowercase hex digits (128-bit), or 16 for a 64-bit B3 trace id. */
  readonly traceId: string;
  /** 16 lowercase hex digits. */
  readonly spanId: string;
  /** The parent span's id (B3's x-b3-parentspanid), when the context carried one. */
  readonly parentId?: string;
  /** The caller's sampling decision; undefined when it left the decision to this proxy. */
  readonly sampled: boolean | undefined;
  /** W3C tracestate, passed on unchanged. */
  readonly tracestate?: string;
}

/** What extraction found: no context, a context, or headers present but malformed. */
export type Extracted =
  | { readonly kind: "none"; readonly sampled: boolean | undefined }
  | { readonly kind: "context"; readonly context: SpanContext }
  | { readonly kind: "malformed"; readonly why: string };

/** The propagation format a tracer reads and writes. */
export type Propagation = "b3" | "w3c";

const MAX_HEADER = 512;

/**
 * Whether `id` is exactly `len` lowercase hex digits, not all zero (a character loop: every
 * request's incoming ids pass here, and three regular expressions per id cost more).
 */
function isHexId(id: string, len: number): boolean {
  if (id.length !== len) return false;
  let nonZero = false;
  for (let i = 0; i < len; i++) {
    const c = id.charCodeAt(i);
    if (c === 48) continue;
    if (!((c > 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
    nonZero = true;
  }
  return nonZero;
}

function one(h: http.OutgoingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  if (v === undefined) return undefined;
  // Repeated headers are ambiguous: treated as malformed by the callers (an empty string).
  if (Array.isArray(v)) return v.length === 1 ? String(v[0]) : "";
  return String(v);
}

function validId(id: string, allow128: boolean): boolean {
  return isHexId(id, 16) || (allow128 && isHexId(id, 32));
}

/** B3's sampling values: "1"/"true" sampled, "0"/"false" not, "d" (single form) debug = sampled. */
function b3Sampled(v: string): boolean | undefined {
  if (v === "1" || v === "true" || v === "d") return true;
  if (v === "0" || v === "false") return false;
  return undefined;
}

/** Zipkin's B3: the multi-header set first, else the single `b3` header (as Envoy's extractor). */
export function extractB3(h: http.OutgoingHttpHeaders): Extracted {
  const traceId = one(h, "x-b3-traceid");
  const spanId = one(h, "x-b3-spanid");
  const sampledHeader = one(h, "x-b3-sampled");
  const flags = one(h, "x-b3-flags");
  let sampled: boolean | undefined = undefined;
  if (flags === "1") sampled = true;
  else if (sampledHeader !== undefined) {
    sampled = b3Sampled(sampledHeader);
    if (sampled === undefined) return { kind: "malformed", why: "x-b3-sampled" };
  }
  if (traceId !== undefined || spanId !== undefined) {
    if (traceId === undefined || !validId(traceId, true)) return { kind: "malformed", why: "x-b3-traceid" };
    if (spanId === undefined || !validId(spanId, false)) return { kind: "malformed", why: "x-b3-spanid" };
    const parent = one(h, "x-b3-parentspanid");
    if (parent !== undefined && !validId(parent, false)) return { kind: "malformed", why: "x-b3-parentspanid" };
    return { kind: "context", context: parent === undefined ? { traceId, spanId, sampled } : { traceId, spanId, parentId: parent, sampled } };
  }
  const single = one(h, "b3");
  if (single !== undefined) return extractB3Single(single, sampled);
  return { kind: "none", sampled };
}

/** `b3: {traceid}-{spanid}[-{sampling}[-{parentspanid}]]`, or the sampling state alone. */
function extractB3Single(v: string, multiSampled: boolean | undefined): Extracted {
  if (v.length > MAX_HEADER) return { kind: "malformed", why: "b3" };
  if (v.length === 1) {
    const s = b3Sampled(v);
    return s === undefined ? { kind: "malformed", why: "b3" } : { kind: "none", sampled: s };
  }
  const parts = v.split("-");
  if (parts.length < 2 || parts.length > 4) return { kind: "malformed", why: "b3" };
  const [traceId, spanId, sampling, parent] = parts;
  if (!validId(traceId, true) || !validId(spanId, false)) return { kind: "malformed", why: "b3" };
  let sampled = multiSampled;
  if (sampling !== undefined) {
    const s = b3Sampled(sampling);
    if (s === undefined || sampling === "true" || sampling === "false") return { kind: "malformed", why: "b3" };
    sampled = s;
  }
  if (parent !== undefined && !validId(parent, false)) return { kind: "malformed", why: "b3" };
  return { kind: "context", context: parent === undefined ? { traceId, spanId, sampled } : { traceId, spanId, parentId: parent, sampled } };
}

/**
 * W3C `traceparent: {version}-{trace-id}-{parent-id}-{flags}`. Version 00 must be exactly that;
 * a later version may carry more fields after a dash (the spec's forward compatibility); "ff" is invalid.
 */
export function extractW3c(h: http.OutgoingHttpHeaders): Extracted {
  const tp = one(h, "traceparent");
  if (tp === undefined) return { kind: "none", sampled: undefined };
  if (tp.length < 55 || tp.length > MAX_HEADER) return { kind: "malformed", why: "traceparent" };
  const version = tp.slice(0, 2);
  if (!/^[0-9a-f]{2}$/.test(version) || version === "ff") return { kind: "malformed", why: "traceparent" };
  if (version === "00" && tp.length !== 55) return { kind: "malformed", why: "traceparent" };
  if (tp.length > 55 && tp[55] !== "-") return { kind: "malformed", why: "traceparent" };
  if (tp[2] !== "-" || tp[35] !== "-" || tp[52] !== "-") return { kind: "malformed", why: "traceparent" };
  const traceId = tp.slice(3, 35);
  const spanId = tp.slice(36, 52);
  const flags = tp.slice(53, 55);
  if (!isHexId(traceId, 32) || !isHexId(spanId, 16) || !/^[0-9a-f]{2}$/.test(flags)) {
    return { kind: "malformed", why: "traceparent" };
  }
  const sampled = (parseInt(flags, 16) & 1) === 1;
  const raw = h.tracestate;
  const tracestate = raw === undefined ? undefined : (Array.isArray(raw) ? raw.join(",") : String(raw)).slice(0, MAX_HEADER);
  return { kind: "context", context: tracestate ? { traceId, spanId, sampled, tracestate } : { traceId, spanId, sampled } };
}

export function extract(format: Propagation, h: http.OutgoingHttpHeaders): Extracted {
  return format === "b3" ? extractB3(h) : extractW3c(h);
}

/** Writes `ctx` into upstream request headers, replacing what the downstream sent in that format. */
export function inject(format: Propagation, ctx: SpanContext, h: http.OutgoingHttpHeaders): void {
  if (format === "b3") {
    h["x-b3-traceid"] = ctx.traceId;
    h["x-b3-spanid"] = ctx.spanId;
    if (ctx.parentId !== undefined) h["x-b3-parentspanid"] = ctx.parentId;
    else if (h["x-b3-parentspanid"] !== undefined) h["x-b3-parentspanid"] = undefined;
    h["x-b3-sampled"] = ctx.sampled === true ? "1" : "0";
    // The single form would now disagree with the multi-header set: Envoy's Zipkin writes the set.
    // (Cleared only when sent: an absent header stays absent rather than a key every later pass walks.)
    if (h.b3 !== undefined) h.b3 = undefined;
    if (h["x-b3-flags"] !== undefined) h["x-b3-flags"] = undefined;
    return;
  }
  h.traceparent = `00-${ctx.traceId}-${ctx.spanId}-${ctx.sampled === true ? "01" : "00"}`;
  if (ctx.tracestate) h.tracestate = ctx.tracestate;
}

/**
 * Random bytes for ids, drawn from the CSPRNG 2 KiB at a time (as Envoy's random generator buffers
 * 256 RAND_bytes words): every request gets span ids, sampled or not (they are propagated upstream
 * either way), and a randomBytes call per id cost more than the rest of an unsampled request's
 * tracing. Each id is hex-encoded here, into a string of its own 16 or 32 characters: a hex string
 * of the whole pool outlived scavenges and was promoted, and Buffer#toString is a call into C++ that
 * costs a request more, cold, than these few table lookups.
 */
const POOL = Buffer.alloc(2048);
let poolAt = POOL.length;
/** Character codes of "0"–"9", "a"–"f". */
const HEX_CODES = Uint8Array.from("0123456789abcdef", (c) => c.charCodeAt(0));

/** 8 pool bytes from `at` as 16 lowercase hex digits. */
function hex8(at: number): string {
  const p = POOL;
  const h = HEX_CODES;
  const b0 = p[at], b1 = p[at + 1], b2 = p[at + 2], b3 = p[at + 3], b4 = p[at + 4], b5 = p[at + 5], b6 = p[at + 6], b7 = p[at + 7];
  return String.fromCharCode(
    h[b0 >> 4], h[b0 & 15], h[b1 >> 4], h[b1 & 15], h[b2 >> 4], h[b2 & 15], h[b3 >> 4], h[b3 & 15],
    h[b4 >> 4], h[b4 & 15], h[b5 >> 4], h[b5 & 15], h[b6 >> 4], h[b6 & 15], h[b7 >> 4], h[b7 & 15],
  );
}

/** A random non-zero id of `bytes` bytes, as hex. */
export function randomId(bytes: 8 | 16): string {
  for (;;) {
    if (poolAt + bytes > POOL.length) {
      randomFillSync(POOL);
      poolAt = 0;
    }
    const at = poolAt;
    poolAt += bytes;
    for (let i = at; i < at + bytes; i++) if (POOL[i] !== 0) return bytes === 8 ? hex8(at) : hex8(at) + hex8(at + 8);
  }
}
