// Strict reading of the JSON an Istio filter's TypedStruct carries (messages that are not in Envoy's
// API, so no descriptor checks them): each field by its proto name or its lowerCamelCase JSON name,
// as proto3 JSON accepts; an unknown field, a wrong kind or a duplicate spelling is an
// XdsConfigError naming the field's path.
import { XdsConfigError } from "../xds-error.js";

function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * The fields of a JSON object, keyed by proto name. `ignored` keys (e.g. "@type") pass unread.
 * Throws on anything but an object, on a field not in `fields`, or on a field given twice.
 */
export function jsonObject(v: unknown, path: string, fields: readonly string[], ignored: readonly string[] = []): Map<string, unknown> {
  if (v === undefined || v === null) return new Map();
  if (typeof v !== "object" || Array.isArray(v)) throw new XdsConfigError(path, "must be an object");
  const byJsonName = new Map<string, string>();
  for (const f of fields) {
    byJsonName.set(f, f);
    byJsonName.set(camel(f), f);
  }
  const out = new Map<string, unknown>();
  for (const [k, value] of Object.entries(v as Record<string, unknown>)) {
    if (ignored.includes(k)) continue;
    const f = byJsonName.get(k);
    if (f === undefined) throw new XdsConfigError(`${path}.${k}`, "unknown field");
    if (out.has(f)) throw new XdsConfigError(`${path}.${k}`, `field ${f} given twice`);
    out.set(f, value);
  }
  return out;
}

export function jsonBool(v: unknown, path: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw new XdsConfigError(path, "must be a boolean");
  return v;
}

export function jsonString(v: unknown, path: string): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw new XdsConfigError(path, "must be a string");
  return v;
}

export function jsonStringList(v: unknown, path: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new XdsConfigError(path, "must be a list of strings");
  return v.map((s, i) => jsonString(s, `${path}[${i}]`));
}
