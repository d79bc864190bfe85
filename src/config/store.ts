// The config store: validated Istio resources with a monotonically increasing version and change
// events. Several sources feed it (a folder, extra layered folders, later Kubernetes); each source
// replaces its whole set at once, so a change is applied completely or not at all.
import type { AnyResource, IstioKind } from "../api/resource.js";
import { resourceKey } from "../api/resource.js";

export type ChangeType = "added" | "updated" | "deleted";

export interface ConfigChange {
  type: ChangeType;
  kind: IstioKind;
  namespace: string;
  name: string;
  /** The resource after the change (before it, for "deleted"). */
  resource: AnyResource;
}

export interface ChangeBatch {
  /** Store version after this batch. */
  version: number;
  changes: ConfigChange[];
}

export type ChangeListener = (batch: ChangeBatch) => void;

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
  private readonly sources = new Map<string, { priority: number; items: Map<string, AnyResource> }>();
  private readonly listeners = new Set<ChangeListener>();

  get currentVersion(): number {
    return this.version;
  }

  /** Registers a source; higher priority wins when two sources define the same resource. */
  addSource(id: string, priority = 0): void {
    if (!this.sources.has(id)) this.sources.set(id, { priority, items: new Map() });
  }

  /** Replaces everything `source` provides; emits one batch (if anything changed). */
  replaceSource(source: string, resources: readonly AnyResource[]): ChangeBatch | undefined {
    this.addSource(source);
    const src = this.sources.get(source)!;
    const before = src.items;
    const after = new Map<string, AnyResource>();
    for (const r of resources) after.set(resourceKey(r.kind, r.metadata.namespace, r.metadata.name), r);
    src.items = after;
    const touched = new Set([...before.keys(), ...after.keys()]);
    return this.recompute(touched);
  }

  /** Removes a source and everything it provided. */
  removeSource(source: string): ChangeBatch | undefined {
    const src = this.sources.get(source);
    if (!src) return undefined;
    this.sources.delete(source);
    return this.recompute(new Set(src.items.keys()));
  }

  private winner(key: string): { source: string; resource: AnyResource } | undefined {
    let best: { source: string; resource: AnyResource; priority: number } | undefined;
    for (const [id, s] of this.sources) {
      const r = s.items.get(key);
      if (r && (!best || s.priority > best.priority)) best = { source: id, resource: r, priority: s.priority };
    }
    return best;
  }

  private recompute(keys: Set<string>): ChangeBatch | undefined {
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
    if (changes.length === 0) return undefined;
    this.version = next;
    const batch = { version: next, changes };
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

  get size(): number {
    return this.effective.size;
  }

  /** Which source the effective copy of a resource came from. */
  sourceOf(kind: IstioKind, namespace: string, name: string): string | undefined {
    return this.effective.get(resourceKey(kind, namespace, name))?.source;
  }

  /** Calls `fn` after every batch; returns the unsubscribe function. */
  subscribe(fn: ChangeListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

function keyOf(r: AnyResource): string {
  return resourceKey(r.kind, r.metadata.namespace, r.metadata.name);
}

function change(type: ChangeType, r: AnyResource): ConfigChange {
  return { type, kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name, resource: r };
}
