// The applied layer: resources given to the mesh's API (`tsmesh apply`), kept as the Kubernetes API
// server keeps objects. One resource per (kind, namespace, name); apply creates or replaces it (last
// applied wins), delete removes it. Server-owned metadata follows Kubernetes: `uid` and
// `creationTimestamp` on create, `generation` advancing when the spec changes, `resourceVersion` (a
// mesh-wide counter) on every change. Every document of one apply is validated (the checks and
// messages of `tsmesh validate`) before any is stored, so a rejected apply changes nothing.
// The layer is one source of the config store, above every folder layer, and it is persisted under
// STATE_DIR/applied/ (one YAML file per resource, written atomically, the folder 0700), so a restart
// with the same state folder restores it before the first push.
import { randomUUID } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { formatDiagnostic } from "../api/format.js";
import { lookupKind } from "../api/kinds.js";
import { parseDocuments } from "../api/parse.js";
import { resourceKey, type AnyResource } from "../api/resource.js";
import type { DocumentResult } from "../api/validate.js";
import { writeFileAtomic } from "../core/atomic-file.js";
import { validateDocument } from "./files.js";
import type { ChangeBatch, ConfigStore } from "./store.js";

/** The store source id of the applied layer. */
export const APPLIED_SOURCE = "applied";
/** Above any folder layer (`up DIR --config …` numbers them from 0). */
export const APPLIED_PRIORITY = 1_000_000;

export type ApplyOutcome = "created" | "configured" | "unchanged";

export interface AppliedChange {
  resource: AnyResource;
  outcome: ApplyOutcome | "deleted";
}

export type ApplyResult =
  | { ok: true; changes: AppliedChange[]; /** Warnings of valid documents, formatted as `validate` prints them. */ warnings: string[] }
  | { ok: false; /** One line per error, formatted as `validate` prints them (file:line, resource, field). */ errors: string[]; warnings: string[] };

export interface ResourceRef {
  kind: string;
  namespace: string;
  name: string;
}

export interface AppliedLayerOptions {
  /** The state folder; the layer lives in its `applied/` subfolder. */
  stateDir: string;
  /** Time source for creationTimestamp (tests inject one). */
  now?: () => Date;
}

/** Metadata the server owns: what a client sends there is replaced, as the API server does. */
const SERVER_FIELDS = ["generation", "resourceVersion", "uid", "creationTimestamp"] as const;
const COUNTER_FILE = ".resource-version";

function contentOf(r: AnyResource): string {
  return JSON.stringify([r.apiVersion, r.metadata.labels ?? null, r.metadata.annotations ?? null, r.spec]);
}

/** RFC 3339 in whole seconds, as Kubernetes writes timestamps. */
export function k8sTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export class AppliedLayer {
  readonly dir: string;
  private items = new Map<string, AnyResource>();
  private resourceVersion = 0;
  private readonly now: () => Date;

  constructor(
    private readonly store: ConfigStore,
    options: AppliedLayerOptions,
  ) {
    this.dir = join(options.stateDir, "applied");
    this.now = options.now ?? (() => new Date());
    store.addSource(APPLIED_SOURCE, APPLIED_PRIORITY);
  }

  /**
   * Restores what was applied before (call before the first push). Returns one line per stored file
   * that no longer validates (it stays on disk and out of the mesh until applied again or deleted).
   */
  load(): string[] {
    this.ensureDir();
    const problems: string[] = [];
    const files = readdirSync(this.dir).filter((f) => f.endsWith(".yaml") && !f.startsWith(".")).sort();
    for (const f of files) {
      const path = join(this.dir, f);
      const results = parseDocuments(readFileSync(path, "utf8"), path).map((d) => validateDocument(d).result);
      const r = results.length === 1 && results[0].valid ? results[0].resource : undefined;
      if (!r) {
        for (const doc of results) for (const d of doc.diagnostics) if (d.severity === "error") problems.push(formatDiagnostic(doc, d));
        if (results.length !== 1) problems.push(`${path}: holds ${results.length} documents; an applied resource file holds one (not restored)`);
        continue;
      }
      this.items.set(keyOf(r), r);
      this.resourceVersion = Math.max(this.resourceVersion, Number(r.metadata.resourceVersion) || 0);
    }
    const counter = Number(existsSync(join(this.dir, COUNTER_FILE)) ? readFileSync(join(this.dir, COUNTER_FILE), "utf8").trim() : 0);
    if (Number.isSafeInteger(counter)) this.resourceVersion = Math.max(this.resourceVersion, counter);
    this.publish();
    return problems;
  }

  /** What the layer holds, by key order. */
  list(): AnyResource[] {
    return [...this.items.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([, r]) => r);
  }

  get(kind: string, namespace: string, name: string): AnyResource | undefined {
    return this.items.get(resourceKey(kind, namespace, name));
  }

  /**
   * Validates every document of `text`, then (unless `dryRun`) stores them all: each is created,
   * configured (replaced) or left unchanged. Any invalid document rejects the whole apply.
   */
  apply(text: string, file: string, opts: { dryRun?: boolean; namespace?: string } = {}): ApplyResult {
    const parsed = parseDocuments(text, file);
    const docs = parsed.map((d) => validateDocument(d));
    const errors: string[] = [];
    const warnings: string[] = [];
    const valid: AnyResource[] = [];
    for (const [i, { result, configMap }] of docs.entries()) {
      for (const d of result.diagnostics) (d.severity === "error" ? errors : warnings).push(formatDiagnostic(result, d));
      const conflict = result.resource && opts.namespace !== undefined ? namespaceConflict(parsed[i].value, opts.namespace) : undefined;
      if (conflict) errors.push(`${result.file}:${result.line} (document ${result.index}): ${conflict}`);
      else if (result.resource && opts.namespace !== undefined) result.resource.metadata.namespace = opts.namespace;
      if (configMap) errors.push(`${result.file}:${result.line} (document ${result.index}) ConfigMap ${configMap.metadata.namespace}/${configMap.metadata.name}: ConfigMaps are read from up's config folders; the applied layer does not hold them [TSMESH_UNKNOWN_KIND]`);
      else if (result.resource) valid.push(result.resource);
    }
    if (docs.length === 0) errors.push(`${file}: no objects passed to apply`);
    if (errors.length > 0) return { ok: false, errors, warnings };
    const next = new Map(this.items);
    let rv = this.resourceVersion;
    const changes: AppliedChange[] = [];
    for (const given of valid) {
      const key = keyOf(given);
      const old = next.get(key);
      const meta = { ...given.metadata };
      for (const f of SERVER_FIELDS) delete meta[f];
      const candidate = { apiVersion: given.apiVersion, kind: given.kind, metadata: meta, spec: given.spec } as AnyResource;
      if (old && contentOf(old) === contentOf(candidate)) {
        changes.push({ resource: old, outcome: "unchanged" });
        continue;
      }
      rv++;
      const specChanged = !old || JSON.stringify(old.spec) !== JSON.stringify(candidate.spec);
      candidate.metadata = {
        ...meta,
        generation: old ? (old.metadata.generation ?? 1) + (specChanged ? 1 : 0) : 1,
        resourceVersion: String(rv),
        uid: old?.metadata.uid ?? randomUUID(),
        creationTimestamp: old?.metadata.creationTimestamp ?? k8sTime(this.now()),
      };
      next.set(key, candidate);
      changes.push({ resource: candidate, outcome: old ? "configured" : "created" });
    }
    if (!opts.dryRun) this.commit(next, rv, changes);
    return { ok: true, changes, warnings };
  }

  /** Removes the given resources; those the layer does not hold come back in `notFound`. */
  delete(refs: readonly ResourceRef[], opts: { dryRun?: boolean } = {}): { deleted: AnyResource[]; notFound: ResourceRef[] } {
    const next = new Map(this.items);
    const deleted: AnyResource[] = [];
    const notFound: ResourceRef[] = [];
    for (const ref of refs) {
      const key = resourceKey(ref.kind, ref.namespace, ref.name);
      const old = next.get(key);
      if (!old) notFound.push(ref);
      else {
        next.delete(key);
        deleted.push(old);
      }
    }
    if (!opts.dryRun && deleted.length > 0) this.commit(next, this.resourceVersion + 1, deleted.map((resource) => ({ resource, outcome: "deleted" as const })));
    return { deleted, notFound };
  }

  /** Writes the changed files, then hands the whole layer to the store (one batch, one push). */
  private commit(next: Map<string, AnyResource>, rv: number, changes: readonly AppliedChange[]): ChangeBatch | undefined {
    this.ensureDir();
    for (const c of changes) {
      const file = this.fileOf(c.resource);
      if (c.outcome === "deleted") rmSync(file, { force: true });
      else if (c.outcome !== "unchanged") writeFileAtomic(file, stringify(c.resource), { mode: 0o600, durable: true });
    }
    this.resourceVersion = rv;
    writeFileAtomic(join(this.dir, COUNTER_FILE), `${rv}\n`, { mode: 0o600, durable: true });
    this.items = next;
    return this.publish();
  }

  private publish(): ChangeBatch | undefined {
    return this.store.replaceSource(APPLIED_SOURCE, this.list());
  }

  private fileOf(r: AnyResource): string {
    // Kinds are identifiers and names DNS-1123 (validated), so the file name needs no escaping.
    return join(this.dir, `${r.kind}.${r.metadata.namespace}.${r.metadata.name}.yaml`);
  }

  private ensureDir(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
  }
}

function keyOf(r: AnyResource): string {
  return resourceKey(r.kind, r.metadata.namespace, r.metadata.name);
}

/** kubectl's check of `-n NS` against a document's own namespace (undefined when they agree or it has none). */
function namespaceConflict(value: unknown, namespace: string): string | undefined {
  const own = (value as { metadata?: { namespace?: unknown } } | undefined)?.metadata?.namespace;
  if (typeof own !== "string" || own === "" || own === namespace) return undefined;
  return `the namespace from the provided object ${JSON.stringify(own)} does not match the namespace ${JSON.stringify(namespace)}. You must pass '--namespace=${own}' to perform this operation.`;
}

/**
 * The (kind, namespace, name) of each document in `text` that names one, for `delete -f` (documents
 * without a namespace are in `namespace`, default "default"); errors for the rest.
 */
export function refsOf(text: string, file: string, namespace?: string): { refs: Array<ResourceRef & { apiVersion: string }>; errors: string[] } {
  const refs: Array<ResourceRef & { apiVersion: string }> = [];
  const errors: string[] = [];
  for (const doc of parseDocuments(text, file)) {
    const v = doc.value as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | undefined;
    const conflict = namespace !== undefined ? namespaceConflict(v, namespace) : undefined;
    if (doc.syntaxError) errors.push(formatDiagnostic({ file: doc.file, index: doc.index, line: doc.line, valid: false, diagnostics: [] } as DocumentResult, doc.syntaxError));
    else if (typeof v?.kind !== "string" || typeof v.apiVersion !== "string" || typeof v.metadata?.name !== "string")
      errors.push(`${doc.file}:${doc.line} (document ${doc.index}): needs apiVersion, kind and metadata.name`);
    else if (conflict) errors.push(`${doc.file}:${doc.line} (document ${doc.index}): ${conflict}`);
    // The store's kind (group-aware: a Gateway API Gateway is not Istio's Gateway).
    else refs.push({ apiVersion: v.apiVersion, kind: lookupKind(v.apiVersion, v.kind).info?.kind ?? v.kind, name: v.metadata.name, namespace: typeof v.metadata.namespace === "string" && v.metadata.namespace ? v.metadata.namespace : (namespace ?? "default") });
  }
  return { refs, errors };
}
