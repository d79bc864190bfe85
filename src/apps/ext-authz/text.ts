// How Istio's Go ext-authz sample prints what it saw, so its logs and x-ext-authz-check-received
// headers read the same under tsmesh: Go's log timestamp, an http.Header as `%v` prints it
// (map[Canonical-Key:[values] …], keys sorted), and a proto message in compact text format
// (`source:{address:{socket_address:{address:"…" port_value:…}}} request:{http:{headers:{key:"…"
// value:"…"} …}}`, map entries sorted by key).

function pad(n: number, w = 2): string {
  return String(n).padStart(w, "0");
}

/** Go's log.Printf prefix: `2021/01/07 22:55:47`. */
export function goLogTime(d = new Date()): string {
  return `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** textproto.CanonicalMIMEHeaderKey: `x-ext-authz` → `X-Ext-Authz`. */
export function canonicalHeaderKey(k: string): string {
  return k
    .toLowerCase()
    .split("-")
    .map((p) => (p === "" ? p : p[0].toUpperCase() + p.slice(1)))
    .join("-");
}

/** An http.Header printed with %v, from Node's rawHeaders (name, value, name, value…). */
export function goHeaderMap(raw: readonly string[]): string {
  const m = new Map<string, string[]>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = canonicalHeaderKey(raw[i]);
    // Go keeps Host out of the header map (it is request.Host).
    if (k === "Host") continue;
    let vs = m.get(k);
    if (vs === undefined) m.set(k, (vs = []));
    vs.push(raw[i + 1]);
  }
  const keys = [...m.keys()].sort();
  return `map[${keys.map((k) => `${k}:[${m.get(k)!.join(" ")}]`).join(" ")}]`;
}

/** Fields that are proto maps (printed as repeated {key value} entries). */
const MAP_FIELDS = new Set(["headers", "context_extensions", "labels", "filter_metadata", "typed_filter_metadata", "fields"]);

function snake(k: string): string {
  return k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function scalar(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return JSON.stringify(Buffer.from(v).toString("latin1"));
  return String(v);
}

function field(name: string, v: unknown, depth: number): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.flatMap((e) => field(name, e, depth));
  if (MAP_FIELDS.has(name) && typeof v === "object" && !Buffer.isBuffer(v) && !(v instanceof Uint8Array)) {
    const o = v as Record<string, unknown>;
    return Object.keys(o)
      .sort()
      .map((k) => `${name}:{key:${JSON.stringify(k)} ${value("value", o[k], depth + 1)}}`);
  }
  return [value(name, v, depth)];
}

function value(name: string, v: unknown, depth: number): string {
  if (typeof v === "object" && v !== null && !Buffer.isBuffer(v) && !(v instanceof Uint8Array)) return `${name}:{${message(v as Record<string, unknown>, depth + 1)}}`;
  return `${name}:${scalar(v)}`;
}

/** A decoded message (camelCase fields, as protobufjs' toObject leaves it) in compact text format. */
export function message(o: Record<string, unknown>, depth = 0): string {
  if (depth > 32) return "…";
  const parts: string[] = [];
  for (const [k, v] of Object.entries(o)) parts.push(...field(snake(k), v, depth));
  return parts.join(" ");
}

/** The CheckRequest's attributes as the sample prints them. */
export function attributesText(attributes: Record<string, unknown>): string {
  return message(attributes);
}
