// Reading protojson fields of the mesh config: JSON or proto field names, protobuf durations.

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** protojson accepts a field by its JSON name (lowerCamel) or its proto name (snake_case). */
export function field(obj: Record<string, unknown>, camel: string): unknown {
  if (camel in obj) return obj[camel];
  const snake = camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return obj[snake];
}

/**
 * A google.protobuf.Duration as protojson reads it: seconds with an `s` suffix ("10s", "0.5s").
 * Returns milliseconds, or an error message.
 */
export function parseProtoDuration(v: unknown): number | string {
  if (typeof v !== "string") return `must be a duration string such as "10s", not ${JSON.stringify(v)}`;
  const m = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(v);
  if (!m) {
    const hint = /^\d+(\.\d+)?(ms|m|h|us|µs|ns)$/.test(v) ? ` (mesh config durations are protobuf durations, in seconds: e.g. "0.25s", "90s")` : ` (e.g. "10s" or "0.5s")`;
    return `invalid duration ${JSON.stringify(v)}${hint}`;
  }
  const ms = (Number(m[2]) + Number(`0.${m[3] ?? "0"}`)) * 1000;
  return m[1] ? -ms : ms;
}
