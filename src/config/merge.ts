// kubectl's client-side apply for custom resources (Istio's kinds are CRDs, which have no strategic
// merge metadata): a three-way JSON merge patch (RFC 7386) from the last applied configuration, the
// new configuration and the live object, applied to the live object. Fields the last apply set and
// the new configuration drops (or sets to null) are deleted; fields whose new value differs from the
// live one are set; everything else in the live object (fields another writer set, server defaults)
// is kept. Lists are atomic: a list is replaced whole, never merged item by item.
// (apimachinery's jsonmergepatch.CreateThreeWayJSONMergePatch, and evanphx/json-patch's
// CreateMergePatch/MergePatch, rebuilt here.)

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Deep equality of JSON values (key order does not matter). */
export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isJsonObject(a) && isJsonObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && jsonEqual(a[k], b[k]));
  }
  return false;
}

/** The RFC 7386 merge patch that turns `from` into `to` (removed keys become null). */
export function createMergePatch(from: JsonObject, to: JsonObject): JsonObject {
  const patch: JsonObject = {};
  for (const [k, tv] of Object.entries(to)) {
    if (!(k in from)) patch[k] = tv;
    else if (isJsonObject(from[k]) && isJsonObject(tv)) {
      const sub = createMergePatch(from[k], tv);
      if (Object.keys(sub).length > 0) patch[k] = sub;
    } else if (!jsonEqual(from[k], tv)) patch[k] = tv;
  }
  for (const k of Object.keys(from)) if (!(k in to)) patch[k] = null;
  return patch;
}

/**
 * Keeps only the nulls of a patch (deletions), or everything but them (additions and changes). An
 * object that filters down to nothing is dropped, but an empty object set as a value stays a value
 * among the additions.
 */
function filterNulls(patch: JsonObject, keepNull: boolean): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) {
      if (keepNull) out[k] = null;
    } else if (isJsonObject(v)) {
      if (Object.keys(v).length === 0) {
        if (!keepNull) out[k] = v;
        continue;
      }
      const sub = filterNulls(v, keepNull);
      if (Object.keys(sub).length > 0) out[k] = sub;
    } else if (!keepNull) out[k] = v;
  }
  return out;
}

/** RFC 7386: applies a merge patch to a JSON object (null deletes, objects merge, the rest replaces). */
export function applyMergePatch(target: Json | undefined, patch: Json): Json {
  if (!isJsonObject(patch)) return structuredClone(patch);
  const out: JsonObject = isJsonObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

/**
 * kubectl apply's patch: deletions are what `original` (the last applied configuration) has and
 * `modified` (the new one) lacks or sets to null; additions and changes are what `modified` sets to
 * a value the live object (`current`) does not have. `{}` when there is nothing to do.
 */
export function threeWayMergePatch(original: JsonObject, modified: JsonObject, current: JsonObject): JsonObject {
  const addAndChange = filterNulls(createMergePatch(current, modified), false);
  const deletions = filterNulls(createMergePatch(original, modified), true);
  // The two never disagree on a key: a deleted key is absent or null in `modified`, so it is not an addition.
  return applyMergePatch(deletions, addAndChange) as JsonObject;
}

/** A JSON string as Go's encoding/json writes it: HTML-sensitive characters and U+2028/9 escaped. */
function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** JSON with object keys sorted, as Go's encoding/json writes a map (kubectl's annotation text). */
export function sortedJson(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(",")}]`;
  if (isJsonObject(v))
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${goString(k)}:${sortedJson(v[k])}`)
      .join(",")}}`;
  return typeof v === "string" ? goString(v) : JSON.stringify(v);
}
