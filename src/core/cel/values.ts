// Building CEL values from what the proxy records (Envoy's attribute types: int is a bigint, uint a
// CelUint, timestamps and durations google.protobuf messages) and printing a result as Envoy does
// when an expression's value becomes text (a metric label, a log field).
import type { CelInput, CelValue } from "@bufbuild/cel";
import { celRuntime } from "./runtime.js";

/** A CEL int (Envoy's int attributes: response.code, source.port, request.size…). */
export function celInt(n: number): bigint {
  return BigInt(Math.trunc(n));
}

/** A CEL uint (connection.id, upstream.request_attempt_count…). */
export function celUintOf(n: number): CelInput {
  return celRuntime().cel.celUint(BigInt(Math.max(0, Math.trunc(n))));
}

/** A CEL timestamp from epoch milliseconds (request.time). */
export function celTimestamp(ms: number): CelInput {
  return celRuntime().wkt.timestampFromMs(ms);
}

/** A CEL duration from milliseconds (request.duration). */
export function celDuration(ms: number): CelInput {
  return celRuntime().wkt.durationFromMs(ms);
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, "0");
}

/**
 * A result as text, as Envoy prints a CEL value for a label or a log field: strings as they are,
 * numbers in decimal, bools and null by name, bytes as their UTF-8, timestamps in RFC 3339,
 * durations in seconds ("1.5s"); lists and maps in CEL's literal form.
 */
export function celValueToString(v: CelValue): string {
  switch (typeof v) {
    case "string":
      return v;
    case "bigint":
    case "boolean":
      return String(v);
    case "number":
      return Number.isInteger(v) && Math.abs(v) < 1e21 ? v.toFixed(0) : String(v);
  }
  if (v === null) return "null";
  if (v instanceof Uint8Array) return Buffer.from(v).toString("utf8");
  const { cel, reflect, wkt } = celRuntime();
  const { isCelList, isCelMap, isCelUint } = cel;
  if (isCelUint(v)) return String(v.value);
  if (isCelList(v)) return `[${[...v].map(quoted).join(", ")}]`;
  if (isCelMap(v)) return `{${[...v].map(([k, x]) => `${quoted(k as CelValue)}: ${quoted(x)}`).join(", ")}}`;
  if (reflect.isReflectMessage(v)) {
    const m = v.message as unknown as { seconds: bigint; nanos: number };
    if (v.desc.typeName === "google.protobuf.Timestamp") {
      const ms = wkt.timestampMs(v.message as never);
      const d = new Date(ms);
      const frac = m.nanos === 0 ? "" : `.${pad(m.nanos, 9).replace(/0+$/, "")}`;
      return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}${frac}Z`;
    }
    if (v.desc.typeName === "google.protobuf.Duration") {
      const neg = m.seconds < 0n || m.nanos < 0;
      const s = m.seconds < 0n ? -m.seconds : m.seconds;
      const n = Math.abs(m.nanos);
      return `${neg ? "-" : ""}${s}${n === 0 ? "" : `.${pad(n, 9).replace(/0+$/, "")}`}s`;
    }
    return v.desc.typeName;
  }
  return String(v);
}

function quoted(v: CelValue): string {
  return typeof v === "string" ? JSON.stringify(v) : celValueToString(v);
}
