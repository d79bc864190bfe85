// The config store: validated Istio resources with a monotonically increasing version and change
// events. Several sources feed it (a folder, extra layered folders, later Kubernetes); each source
// replaces its whole set at once, so a change is applied completely or not at all. Beside the Istio
// resources a source may provide Kubernetes ConfigMaps (istiod's mesh config lives in one); they are
// layered the same way and reported in the same batches.
import type { AnyResource, IstioKind } from "../api/resource.js";
import { resourceKey } from "../api/resource.js";
import { configMapKey, type ConfigMap } from "./configmap.js";

export type ChangeType = "added" | "updated" | "deleted";

export interface ConfigChange {
  type: ChangeType;
  kind: IstioKind;
  namespace: string;
  name: string;
  /** The resource after the change (before it, for "deleted"). */
  resource: AnyResource;
}

export interface ConfigMapChange {
  type: ChangeType;
  namespace: string;
  name: string;
  /** The ConfigMap after the change (before it, for "deleted"). */
  configMap: ConfigMap;
}

export interface ChangeBatch {
  /** Store version after this batch. */
  version: number;
  /** Istio resources added, updated or deleted (may be empty when only ConfigMaps changed). */
  changes: ConfigChange[];
  /** ConfigMaps added, updated or deleted, when any. */
  configMaps?: ConfigMapChange[];
}

export type ChangeListener = (batch: ChangeBatch) => void;

/** A change to a copy that a higher-priority source's copy hides (it changes nothing in force). */
export interface ShadowedChange {
  type: ChangeType;
  kind: IstioKind;
  namespace: string;
  name: string;
  /** The source whose hidden copy changed. */
  source: string;
  /** The copy after the change (before it, for "deleted"). */
  resource: AnyResource;
  /** The source whose copy is in force. */
  shadowedBy: string;
}

interface Entry {
  resource: AnyResource;
  /** The resource as its source gave it (before version stamping), to skip unchanged objects. */
  given: AnyResource;
  /** Canonical JSON of spec+labels+annotations, to tell real updates from re-saves (lazy). */
  fingerprint?: string;
  source: string;
}

function fingerprint(r: AnyResource): string {
  return JSON.stringify([r.apiVersion, r.metadata.labels ?? null, r.metadata.annotations ?? null, r.spec]);
}

export class ConfigStore {
  private version = 0;
  /** Effective resources by key. */
  private readonly effective = new Map<string, Entry>();
  /** What each source currently provides, by key. */
  private readonly sources = new Map<string, { priority: number; items: Map<string, AnyResource>; configMaps: Map<string, ConfigMap> }>();
  /** Effective ConfigMaps by key, with the fingerprint of what their source gave. */
  private readonly effectiveConfigMaps = new Map<string, { configMap: ConfigMap; fingerprint: string; source: string }>();
  private readonly listeners = new Set<ChangeListener>();
  private readonly shadowListeners = new Set<(changes: ShadowedChange[]) => void>();

  get currentVersion(): number {
    return this.version;
  }

  /** Registers a source; higher priority wins when two sources define the same resource. */
  addSource(id: string, priority = 0): void {
    if (!this.sources.has(id)) this.sources.set(id, { priority, items: new Map(), configMaps: new Map() });
  }

  /**
   * Replaces everything `source` provides (its ConfigMaps too, when `configMaps` is given; left as
   * they are otherwise); emits one batch (if anything changed).
   */
  replaceSource(source: string, resources: readonly AnyResource[], configMaps?: readonly ConfigMap[]): ChangeBatch | undefined {
    this.addSource(source);
    const src = this.sources.get(source)!;
    const before = src.items;
    const after = new Map<string, AnyResource>();
    for (const r of resources) after.set(resourceKey(r.kind, r.metadata.namespace, r.metadata.name), r);
    src.items = after;
    const touched = new Set([...before.keys(), ...after.keys()]);
    let touchedMaps = new Set<string>();
    if (configMaps) {
      const beforeMaps = src.configMaps;
      const afterMaps = new Map<string, ConfigMap>();
      for (const m of configMaps) afterMaps.set(configMapKey(m.metadata.namespace, m.metadata.name), m);
      src.configMaps = afterMaps;
      touchedMaps = new Set([...beforeMaps.keys(), ...afterMaps.keys()]);
    }
    const batch = this.recompute(touched, touchedMaps);
    if (this.shadowListeners.size > 0) this.reportShadowed(source, before, after, touched);
    return batch;
  }

  /** Tells the shadow listeners about the hidden copies of `source` that changed (no batch carries them). */
  private reportShadowed(source: string, before: Map<string, AnyResource>, after: Map<string, AnyResource>, keys: Set<string>): void {
    const out: ShadowedChange[] = [];
    for (const key of keys) {
      const [b, a] = [before.get(key), after.get(key)];
      if (b === a) continue;
      const win = this.winner(key);
      // Only a copy below the one in force is hidden (a higher one going away uncovers the rest).
      if (!win || win.source === source || this.sources.get(win.source)!.priority <= this.sources.get(source)!.priority) continue;
      if (b && a && fingerprint(a) === fingerprint(b)) continue;
      const r = (a ?? b)!;
      out.push({ type: a ? (b ? "updated" : "added") : "deleted", kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name, source, resource: r, shadowedBy: win.source });
    }
    if (out.length > 0) for (const l of this.shadowListeners) l(out);
  }

  /** Removes a source and everything it provided. */
  removeSource(source: string): ChangeBatch | undefined {
    const src = this.sources.get(source);
    if (!src) return undefined;
    this.sources.delete(source);
    return this.recompute(new Set(src.items.keys()), new Set(src.configMaps.keys()));
  }

  private winner(key: string): { source: string; resource: AnyResource } | undefined {
    let best: { source: string; resource: AnyResource; priority: number } | undefined;
    for (const [id, s] of this.sources) {
      const r = s.items.get(key);
      if (r && (!best || s.priority > best.priority)) best = { source: id, resource: r, priority: s.priority };
    }
    return best;
  }

  private winningConfigMap(key: string): { source: string; configMap: ConfigMap } | undefined {
    let best: { source: string; configMap: ConfigMap; priority: number } | undefined;
    for (const [id, s] of this.sources) {
      const m = s.configMaps.get(key);
      if (m && (!best || s.priority > best.priority)) best = { source: id, configMap: m, priority: s.priority };
    }
    return best;
  }

  private recomputeConfigMaps(keys: Set<string>): ConfigMapChange[] {
    const out: ConfigMapChange[] = [];
    const changeOf = (type: ChangeType, m: ConfigMap): ConfigMapChange => ({ type, namespace: m.metadata.namespace, name: m.metadata.name, configMap: m });
    for (const key of keys) {
      const old = this.effectiveConfigMaps.get(key);
      const win = this.winningConfigMap(key);
      if (!win) {
        if (old) {
          this.effectiveConfigMaps.delete(key);
          out.push(changeOf("deleted", old.configMap));
        }
        continue;
      }
      const m = win.configMap;
      const fp = JSON.stringify([m.metadata.labels ?? null, m.metadata.annotations ?? null, m.data]);
      this.effectiveConfigMaps.set(key, { configMap: m, fingerprint: fp, source: win.source });
      if (old && old.fingerprint === fp) continue;
      out.push(changeOf(old ? "updated" : "added", m));
    }
    return out;
  }

  private recompute(keys: Set<string>, configMapKeys: Set<string> = new Set()): ChangeBatch | undefined {
    const configMaps = this.recomputeConfigMaps(configMapKeys);
    const changes: ConfigChange[] = [];
    const next = this.version + 1;
    for (const key of keys) {
      const old = this.effective.get(key);
      const win = this.winner(key);
      if (!win) {
        if (old) {
          this.effective.delete(key);
          changes.push(change("deleted", old.resource));
        }
        continue;
      }
      if (old && old.given === win.resource) {
        old.source = win.source;
        continue;
      }
      // Fingerprints are only needed to compare with an existing entry, so a first load skips them.
      const fp = old ? fingerprint(win.resource) : undefined;
      if (old && (old.fingerprint ??= fingerprint(old.given)) === fp) {
        old.given = win.resource;
        old.source = win.source;
        continue;
      }
      const generation = old ? (old.resource.metadata.generation ?? 1) + 1 : 1;
      const stored = {
        ...win.resource,
        metadata: { ...win.resource.metadata, generation, resourceVersion: String(next) },
      } as AnyResource;
      this.effective.set(key, { resource: stored, given: win.resource, fingerprint: fp, source: win.source });
      changes.push(change(old ? "updated" : "added", stored));
    }
    if (changes.length === 0 && configMaps.length === 0) return undefined;
    this.version = next;
    const batch: ChangeBatch = configMaps.length > 0 ? { version: next, changes, configMaps } : { version: next, changes };
    for (const l of this.listeners) l(batch);
    return batch;
  }

  get<K extends IstioKind>(kind: K, namespace: string, name: string): Extract<AnyResource, { kind: K }> | undefined {
    return this.effective.get(resourceKey(kind, namespace, name))?.resource as Extract<AnyResource, { kind: K }> | undefined;
  }

  /** All resources, or those of one kind (and namespace), in key order. */
  list<K extends IstioKind>(kind?: K, namespace?: string): Array<Extract<AnyResource, { kind: K }>> {
    const out: AnyResource[] = [];
    for (const e of this.effective.values()) {
      if (kind && e.resource.kind !== kind) continue;
      if (namespace && e.resource.metadata.namespace !== namespace) continue;
      out.push(e.resource);
    }
    out.sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1));
    return out as Array<Extract<AnyResource, { kind: K }>>;
  }

  /** A ConfigMap by namespace and name (the highest-priority source's copy). */
  getConfigMap(namespace: string, name: string): ConfigMap | undefined {
    return this.effectiveConfigMaps.get(configMapKey(namespace, name))?.configMap;
  }

  /** Every ConfigMap, in key order. */
  listConfigMaps(): ConfigMap[] {
    return [...this.effectiveConfigMaps.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([, e]) => e.configMap);
  }

  get size(): number {
    return this.effective.size;
  }

  /** Which source the effective copy of a resource came from. */
  sourceOf(kind: IstioKind, namespace: string, name: string): string | undefined {
    return this.effective.get(resourceKey(kind, namespace, name))?.source;
  }

  /** Every source's copy of one resource, highest priority (the effective one) first. */
  copiesOf(kind: IstioKind, namespace: string, name: string): Array<{ source: string; priority: number; resource: AnyResource }> {
    const key = resourceKey(kind, namespace, name);
    const out: Array<{ source: string; priority: number; resource: AnyResource }> = [];
    for (const [source, s] of this.sources) {
      const r = s.items.get(key);
      if (r) out.push({ source, priority: s.priority, resource: r });
    }
    return out.sort((a, b) => b.priority - a.priority);
  }

  /** Every source's copy of one ConfigMap, highest priority (the effective one) first. */
  configMapCopiesOf(namespace: string, name: string): Array<{ source: string; priority: number; configMap: ConfigMap }> {
    const key = configMapKey(namespace, name);
    const out: Array<{ source: string; priority: number; configMap: ConfigMap }> = [];
    for (const [source, s] of this.sources) {
      const m = s.configMaps.get(key);
      if (m) out.push({ source, priority: s.priority, configMap: m });
    }
    return out.sort((a, b) => b.priority - a.priority);
  }

  /** Calls `fn` after every batch; returns the unsubscribe function. */
  subscribe(fn: ChangeListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Calls `fn` when a source changes a copy another source's copy hides; returns the unsubscribe function. */
  subscribeShadowed(fn: (changes: ShadowedChange[]) => void): () => void {
    this.shadowListeners.add(fn);
    return () => this.shadowListeners.delete(fn);
  }
}

function keyOf(r: AnyResource): string {
  return resourceKey(r.kind, r.metadata.namespace, r.metadata.name);
}

function change(type: ChangeType, r: AnyResource): ConfigChange {
  return { type, kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name, resource: r };
}
