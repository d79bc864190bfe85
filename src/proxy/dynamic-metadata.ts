// Envoy's dynamic metadata (StreamInfo::dynamicMetadata): what filters learn about a stream or a
// connection and leave for the ones after them, by namespace — the filter that wrote it
// ("envoy.filters.http.jwt_authn" with the verified token's payload, "envoy.filters.http.rbac" with
// the shadow engine's result, "istio_authn"…). RBAC and route metadata matchers, ext_authz's
// filter_enabled_metadata and the access log read it. Values are JSON (a google.protobuf.Struct's
// values); the store is created on first write, so a stream no filter writes to costs one object.

/** A google.protobuf.Value as JSON. */
export type MetadataValue = null | boolean | number | string | readonly MetadataValue[] | { readonly [key: string]: MetadataValue };

/** One namespace's fields (a google.protobuf.Struct as JSON). */
export type MetadataFields = { readonly [key: string]: MetadataValue };

export class DynamicMetadata {
  // Maps, not objects: a per-stream object keyed by config-chosen names would be a V8 dictionary
  // built on every request (measured as the dearest step of a JWT-checked request).
  private byNamespace: Map<string, Map<string, MetadataValue>> | undefined = undefined;

  /** A copy of the namespace's fields, or undefined when no filter wrote to it. */
  get(namespace: string): MetadataFields | undefined {
    const m = this.byNamespace?.get(namespace);
    return m === undefined ? undefined : Object.fromEntries(m);
  }

  /**
   * Envoy's setDynamicMetadata: merges `fields` into the namespace, a field of the same name
   * replacing the earlier one (top-level keys only, as Envoy's Struct merge of one level).
   */
  set(namespace: string, fields: MetadataFields): void {
    const ns = this.namespace(namespace);
    for (const k of Object.keys(fields)) ns.set(k, fields[k]);
  }

  /** set, from a map of fields. */
  setEntries(namespace: string, fields: ReadonlyMap<string, MetadataValue>): void {
    const ns = this.namespace(namespace);
    for (const [k, v] of fields) ns.set(k, v);
  }

  private namespace(name: string): Map<string, MetadataValue> {
    this.byNamespace ??= new Map();
    let ns = this.byNamespace.get(name);
    if (ns === undefined) this.byNamespace.set(name, (ns = new Map()));
    return ns;
  }

  /**
   * The value at `path` (MetadataMatcher's path: keys into nested Structs) under the namespace;
   * undefined when any step is missing or not a Struct.
   */
  lookup(namespace: string, path: readonly string[]): MetadataValue | undefined {
    const ns = this.byNamespace?.get(namespace);
    if (ns === undefined) return undefined;
    if (path.length === 0) return Object.fromEntries(ns);
    let v: MetadataValue | undefined = ns.get(path[0]);
    for (let i = 1; i < path.length; i++) {
      if (v === null || v === undefined || typeof v !== "object" || Array.isArray(v)) return undefined;
      const o = v as { readonly [key: string]: MetadataValue };
      if (!Object.prototype.hasOwnProperty.call(o, path[i])) return undefined;
      v = o[path[i]];
    }
    return v;
  }

  /** Every namespace and its fields (access log %DYNAMIC_METADATA%, debugging). */
  toJSON(): Record<string, MetadataFields> {
    const out: Record<string, MetadataFields> = {};
    for (const [k, v] of this.byNamespace ?? []) out[k] = Object.fromEntries(v);
    return out;
  }
}
