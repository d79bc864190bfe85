// metadata.managedFields as the Kubernetes API server records them for writes that are not
// server-side apply: one entry per field manager (kubectl's `--field-manager`, default
// `kubectl-client-side-apply`) with operation Update, the apiVersion it wrote, when, and the fields
// it set in FieldsV1 form (`f:spec: {.: {}, f:hosts: {}}`; lists of custom resources are atomic, so a
// list is one field). A write takes the fields it changes away from the other managers' entries, and
// an entry left owning nothing is dropped, as the API server does. Server-side apply's ownership
// conflicts are not computed here (tsmesh refuses `--server-side`).
import { isJsonObject, type Json, type JsonObject } from "./merge.js";

export interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time: string;
  fieldsType: "FieldsV1";
  fieldsV1: JsonObject;
}

/** Why `--server-side` is refused: only client-side apply's behaviour is built. */
export const SERVER_SIDE_REFUSAL =
  "--server-side: server-side apply is not supported; tsmesh apply is kubectl's client-side apply (last-applied-configuration annotation, three-way merge, managedFields with operation Update): run it without --server-side";

/** kubectl's field manager for client-side apply when `--field-manager` is not given. */
export const DEFAULT_APPLY_MANAGER = "kubectl-client-side-apply";

// Identity and server-owned metadata: never part of a field set.
const UNTRACKED_TOP = new Set(["apiVersion", "kind", "status"]);
const UNTRACKED_META = new Set(["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink"]);

function fieldsOfValue(v: Json): JsonObject {
  if (!isJsonObject(v) || Object.keys(v).length === 0) return {};
  const out: JsonObject = { ".": {} };
  for (const [k, sub] of Object.entries(v)) if (sub !== null) out[`f:${k}`] = fieldsOfValue(sub);
  return out;
}

/** The FieldsV1 set of the fields an object sets. */
export function fieldsOf(obj: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) {
    if (UNTRACKED_TOP.has(k) || v === null) continue;
    if (k === "metadata" && isJsonObject(v)) {
      const meta: JsonObject = {};
      for (const [mk, mv] of Object.entries(v)) if (!UNTRACKED_META.has(mk) && mv !== null) meta[`f:${mk}`] = fieldsOfValue(mv);
      if (Object.keys(meta).length > 0) out["f:metadata"] = meta;
    } else out[`f:${k}`] = fieldsOfValue(v);
  }
  return out;
}

/** Removes from `set` the fields a merge patch changes (a nested patch reaches into a map it does not replace). */
function withoutPatched(set: JsonObject, patch: JsonObject): JsonObject {
  const out: JsonObject = { ...set };
  for (const [k, pv] of Object.entries(patch)) {
    const key = `f:${k}`;
    const owned = out[key];
    if (!isJsonObject(owned)) continue;
    if (isJsonObject(pv) && Object.keys(owned).length > 0) {
      const rest = withoutPatched(owned, pv);
      const children = Object.keys(rest).filter((c) => c !== ".");
      if (children.length > 0 || "." in rest) out[key] = rest;
      else delete out[key];
    } else delete out[key];
  }
  return out;
}


/**
 * The managedFields after `manager` wrote `written` (the configuration it sent) through `patch`
 * (what changed): its own entry replaced, the changed fields taken from the others.
 */
export function recordWrite(entries: readonly ManagedFieldsEntry[], manager: string, apiVersion: string, time: string, written: JsonObject, patch: JsonObject): ManagedFieldsEntry[] {
  const mine: ManagedFieldsEntry = { manager, operation: "Update", apiVersion, time, fieldsType: "FieldsV1", fieldsV1: fieldsOf(written) };
  const out: ManagedFieldsEntry[] = [];
  let placed = false;
  for (const e of entries) {
    if (e.manager === manager && e.operation === "Update") {
      out.push(mine);
      placed = true;
      continue;
    }
    const fieldsV1 = withoutPatched(e.fieldsV1, patch);
    if (Object.keys(fieldsV1).length > 0) out.push({ ...e, fieldsV1 });
  }
  if (!placed) out.push(mine);
  return out;
}
