// The applied layer: resources given to the mesh's API (`tsmesh apply`), kept as the Kubernetes API
// server keeps objects. One object per (kind, namespace, name); apply creates it or updates it the
// way kubectl's client-side apply does: the new configuration is stored in the
// kubectl.kubernetes.io/last-applied-configuration annotation, and the three-way merge of the last
// applied configuration, the new one and the live object (./merge.ts) removes what the user removed
// from their file while keeping what others set. A document whose metadata.resourceVersion differs
// from the stored one is refused as the API server refuses a stale write (Conflict). Server-owned
// metadata follows Kubernetes: `uid` and `creationTimestamp` on create, `generation` advancing when
// the spec changes, `resourceVersion` (a mesh-wide counter) on every change, `managedFields` naming
// the field manager of each write (./managed-fields.ts). Every document of one apply is validated
// (the checks and messages of `tsmesh validate`) and merged before any is stored, so a rejected or
// conflicting apply changes nothing. Besides Istio's kinds the layer holds the mesh config ConfigMap
// (istio-system/istio), which the control plane reads as it reads the one in a config folder.
// The layer is one source of the config store, above every folder layer, and it is persisted under
// STATE_DIR/applied/ (one YAML file per object, written atomically, the folder 0700), so a restart
// with the same state folder restores it before the first push.
import { randomUUID } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { formatDiagnostic } from "../api/format.js";
import { kindOf, resourceType } from "../api/kind-names.js";
import { lookupKind } from "../api/kinds.js";
import { parseDocuments, type ParsedDocument } from "../api/parse.js";
import { resourceKey, type AnyResource } from "../api/resource.js";
import { validateObject, type DocumentResult } from "../api/validate.js";
import { writeFileAtomic } from "../core/atomic-file.js";
import { MESH_CONFIGMAP_NAME, MESH_CONFIGMAP_NAMESPACE, validateConfigMapDocument, type ConfigMap } from "./configmap.js";
import { validateDocument } from "./files.js";
import { notReadReason } from "./kubernetes-kinds.js";
import { DEFAULT_APPLY_MANAGER, recordWrite, type ManagedFieldsEntry } from "./managed-fields.js";
import { applyMergePatch, isJsonObject, jsonEqual, sortedJson, threeWayMergePatch, type Json, type JsonObject } from "./merge.js";
import type { ChangeBatch, ConfigStore } from "./store.js";

/** The store source id of the applied layer. */
export const APPLIED_SOURCE = "applied";
/** Above any folder layer (`up DIR --config …` numbers them from 0). */
export const APPLIED_PRIORITY = 1_000_000;
/** Where kubectl's client-side apply keeps the configuration it applied last. */
export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

export type ApplyOutcome = "created" | "configured" | "unchanged";

/** An applied object: an Istio resource, or the mesh config ConfigMap (kind "ConfigMap"). */
export type AppliedObject = AnyResource | ConfigMap;

export interface AppliedChange {
  resource: AppliedObject;
  outcome: ApplyOutcome | "deleted";
}

/** A write the API server would refuse although the documents are valid (kubectl's `Error from server`). */
export interface ApplyRefusal {
  code: 409 | 422 | 500;
  /** "Conflict", "Invalid", or "" (the API server's unknown reason, which kubectl prints without parentheses). */
  reason: "Conflict" | "Invalid" | "";
  message: string;
  /** What kubectl was doing: patching an existing object, or creating a new one. */
  verb: "patching" | "creating";
  file: string;
  apiVersion: string;
  /** The YAML kind. */
  kind: string;
  /** `virtualservices` (plural) and its group ("" for core). */
  resource: string;
  group: string;
  namespace: string;
  name: string;
  /** The merge patch kubectl would have sent (patching only). */
  patch?: string;
}

export type ApplyResult =
  | { ok: true; changes: AppliedChange[]; /** Warnings of valid documents, formatted as `validate` prints them. */ warnings: string[] }
  | { ok: false; /** One line per error, formatted as `validate` prints them (file:line, resource, field). */ errors: string[]; warnings: string[]; refusal?: ApplyRefusal };

export interface ResourceRef {
  kind: string;
  namespace: string;
  name: string;
}

export interface ApplyOptions {
  dryRun?: boolean;
  /** -n: the namespace of documents that name none. */
  namespace?: string;
  /** The writer recorded in managedFields (kubectl's --field-manager; default kubectl-client-side-apply). */
  fieldManager?: string;
}

export interface AppliedLayerOptions {
  /** The state folder; the layer lives in its `applied/` subfolder. */
  stateDir: string;
  /** Time source for creationTimestamp and managedFields (tests inject one). */
  now?: () => Date;
  /**
   * Checks the mesh config ConfigMap's content as the control plane will read it (errors, one per
   * line, refuse the apply; warnings are passed on). Without it its data.mesh is not checked here.
   */
  checkMeshConfigMap?: (cm: ConfigMap) => { errors: string[]; warnings: string[] };
}

/** Metadata the server owns: reset from the stored object on every write, as the API server does. */
const SERVER_META = ["generation", "resourceVersion", "uid", "creationTimestamp", "managedFields"] as const;
const COUNTER_FILE = ".resource-version";

/** RFC 3339 in whole seconds, as Kubernetes writes timestamps. */
export function k8sTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function metaOf(o: JsonObject): JsonObject {
  return isJsonObject(o.metadata) ? o.metadata : {};
}

/** The object without the metadata the server owns and without status: what a write is compared by. */
function content(o: JsonObject): JsonObject {
  const meta = { ...metaOf(o) };
  for (const f of SERVER_META) delete meta[f];
  const out: JsonObject = { ...o, metadata: meta };
  delete out.status;
  return out;
}

/** The (kind, namespace, name) key of a stored object; a ConfigMap is keyed under kind "ConfigMap". */
function keyOf(o: { kind: string; metadata: { namespace?: string; name: string } }): string {
  return resourceKey(o.kind, o.metadata.namespace ?? "default", o.metadata.name);
}

/** One valid document of an apply, with what the user wrote (before validation applied defaults). */
interface ValidDoc {
  doc: ParsedDocument;
  result: DocumentResult;
  /** The store's kind (Istio's internal kind, or "ConfigMap"). */
  kind: string;
  written: JsonObject;
}

export class AppliedLayer {
  readonly dir: string;
  private items = new Map<string, JsonObject>();
  private resourceVersion = 0;
  private readonly now: () => Date;

  constructor(
    private readonly store: ConfigStore,
    private readonly options: AppliedLayerOptions,
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
      const parsed = parseDocuments(readFileSync(path, "utf8"), path);
      const raw = parsed.length === 1 && isJsonObject(parsed[0].value) ? (structuredClone(parsed[0].value) as JsonObject) : undefined;
      const results = parsed.map((d) => validateDocument(d));
      const one = results.length === 1 && results[0].result.valid ? (results[0].result.resource ?? results[0].configMap) : undefined;
      if (!one || !raw) {
        for (const { result } of results) for (const d of result.diagnostics) if (d.severity === "error") problems.push(formatDiagnostic(result, d));
        if (results.length !== 1) problems.push(`${path}: holds ${results.length} documents; an applied resource file holds one (not restored)`);
        continue;
      }
      // Kept as stored (with the server's metadata); the store's kind is the validated one.
      raw.kind = one.kind;
      this.items.set(keyOf(one), raw);
      this.resourceVersion = Math.max(this.resourceVersion, Number(metaOf(raw).resourceVersion) || 0);
    }
    const counter = Number(existsSync(join(this.dir, COUNTER_FILE)) ? readFileSync(join(this.dir, COUNTER_FILE), "utf8").trim() : 0);
    if (Number.isSafeInteger(counter)) this.resourceVersion = Math.max(this.resourceVersion, counter);
    this.publish();
    return problems;
  }

  /** What the layer holds (Istio resources and ConfigMaps, with every server field), by key order. */
  list(): AppliedObject[] {
    return [...this.items.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([, o]) => o as unknown as AppliedObject);
  }

  /** One stored object as the API server holds it (annotations, managedFields and all). */
  get(kind: string, namespace: string, name: string): AnyResource | undefined {
    return this.items.get(resourceKey(kind, namespace, name)) as unknown as AnyResource | undefined;
  }

  /**
   * Validates every document of `text`, then merges each into what is stored as kubectl apply does
   * (created, configured or unchanged) and, unless `dryRun`, stores them all. Any invalid document,
   * or any the server would refuse (a stale resourceVersion), rejects the whole apply.
   */
  apply(text: string, file: string, opts: ApplyOptions = {}): ApplyResult {
    const parsed = parseDocuments(text, file);
    // What the user wrote, before validation fills in the schemas' defaults: the annotation keeps it.
    const written = parsed.map((d) => (isJsonObject(d.value) ? (structuredClone(d.value) as JsonObject) : undefined));
    // Validated without null members: null asks the merge to delete a field (checked again on create).
    const docs = parsed.map((d) => validateDocument(isJsonObject(d.value) ? { ...d, value: withoutNulls(d.value) } : d));
    const errors: string[] = [];
    const warnings: string[] = [];
    const valid: ValidDoc[] = [];
    const manager = opts.fieldManager ?? DEFAULT_APPLY_MANAGER;
    const badManager = checkFieldManager(manager);
    if (badManager) errors.push(badManager);
    for (const [i, { result, configMap }] of docs.entries()) {
      for (const d of result.diagnostics) (d.severity === "error" ? errors : warnings).push(formatDiagnostic(result, d));
      const named = result.resource ?? configMap;
      const conflict = named && opts.namespace !== undefined ? namespaceConflict(parsed[i].value, opts.namespace) : undefined;
      const where = `${result.file}:${result.line} (document ${result.index})`;
      if (conflict) errors.push(`${where}: ${conflict}`);
      if (!named || conflict || !written[i]) continue;
      const namespace = opts.namespace ?? named.metadata.namespace;
      if (configMap && !(namespace === MESH_CONFIGMAP_NAMESPACE && configMap.metadata.name === MESH_CONFIGMAP_NAME)) {
        errors.push(
          `${where} ConfigMap ${namespace}/${configMap.metadata.name}: the mesh reads one ConfigMap, ${MESH_CONFIGMAP_NAMESPACE}/${MESH_CONFIGMAP_NAME} (its mesh config); ` +
            `apply holds only that one. Give other ConfigMaps to the program that reads them (e.g. tsmesh ratelimit's config folder) [TSMESH_UNKNOWN_KIND]`,
        );
        continue;
      }
      const w = written[i]!;
      w.metadata = { ...metaOf(w), namespace };
      valid.push({ doc: parsed[i], result, kind: named.kind, written: w });
    }
    if (docs.length === 0) errors.push(`${file}: no objects passed to apply`);
    if (errors.length > 0) return { ok: false, errors, warnings };

    const next = new Map(this.items);
    let rv = this.resourceVersion;
    const changes: AppliedChange[] = [];
    const time = k8sTime(this.now());
    for (const v of valid) {
      const meta = metaOf(v.written);
      const key = resourceKey(v.kind, meta.namespace as string, meta.name as string);
      const old = next.get(key);
      const step = this.merge(v, old, file, manager, time);
      warnings.push(...step.warnings);
      if ("refusal" in step) return { ok: false, errors: [step.refusal.message], warnings, refusal: step.refusal };
      if ("errors" in step) {
        errors.push(...step.errors);
        continue;
      }
      if (!step.object) {
        changes.push({ resource: old as unknown as AppliedObject, outcome: "unchanged" });
        continue;
      }
      rv++;
      const m = metaOf(step.object);
      m.resourceVersion = String(rv);
      next.set(key, step.object);
      changes.push({ resource: step.object as unknown as AppliedObject, outcome: old ? "configured" : "created" });
    }
    if (errors.length > 0) return { ok: false, errors, warnings };
    if (!opts.dryRun) this.commit(next, rv, changes);
    return { ok: true, changes, warnings };
  }

  /**
   * One document against the stored object: the merged object to store, none when nothing changes,
   * the errors of a merged object that does not validate, or the API server's refusal.
   */
  private merge(
    v: ValidDoc,
    old: JsonObject | undefined,
    file: string,
    manager: string,
    time: string,
  ): { object?: JsonObject; warnings: string[] } | { errors: string[]; warnings: string[] } | { refusal: ApplyRefusal; warnings: string[] } {
    const warnings: string[] = [];
    const meta = metaOf(v.written);
    const annotations = isJsonObject(meta.annotations) ? { ...meta.annotations } : {};
    delete annotations[LAST_APPLIED_ANNOTATION];
    // kubectl's modified configuration: the file's object (annotations always present), then again
    // with that text as its last-applied annotation.
    const lastApplied: JsonObject = { ...v.written, metadata: { ...meta, annotations } };
    const modified: JsonObject = { ...lastApplied, metadata: { ...meta, annotations: { ...annotations, [LAST_APPLIED_ANNOTATION]: `${sortedJson(lastApplied)}\n` } } };
    const refusal = (code: ApplyRefusal["code"], reason: ApplyRefusal["reason"], message: string, verb: ApplyRefusal["verb"], patch?: JsonObject): { refusal: ApplyRefusal; warnings: string[] } => {
      const info = kindOf(v.kind);
      const resource = info?.plural ?? `${v.kind.toLowerCase()}s`;
      const yamlKind = typeof v.written.kind === "string" ? v.written.kind : v.kind;
      return {
        refusal: { code, reason, message, verb, file, apiVersion: String(v.written.apiVersion), kind: yamlKind, resource, group: info?.group ?? "", namespace: String(meta.namespace), name: String(meta.name), ...(patch ? { patch: sortedJson(patch) } : {}) },
        warnings,
      };
    };
    const givenVersion = typeof meta.resourceVersion === "string" && meta.resourceVersion !== "" ? meta.resourceVersion : undefined;
    if (!old && givenVersion) return refusal(500, "", "resourceVersion should not be set on objects to be created", "creating");
    // A create sends the object itself, nulls and all: the schema sees them (a patch deletes them).
    if (!old && hasNull(v.written)) {
      const created = this.check(v, structuredClone(v.written));
      if (created.errors.length > 0) return { errors: created.errors, warnings };
    }
    const oldMeta = old ? metaOf(old) : {};
    let original: JsonObject = {};
    if (old) {
      const text = isJsonObject(oldMeta.annotations) ? oldMeta.annotations[LAST_APPLIED_ANNOTATION] : undefined;
      const parsedText = typeof text === "string" ? safeJson(text) : undefined;
      if (isJsonObject(parsedText)) original = parsedText;
      else warnings.push(`resource ${resourceNameOf(v.kind, String(meta.name))} is missing the ${LAST_APPLIED_ANNOTATION} annotation which is required by tsmesh apply. tsmesh apply should only be used on resources created declaratively by tsmesh apply. The missing annotation will be patched automatically.`);
    }
    // The patch kubectl computes; server-owned fields and status take no part in the merge (the
    // server resets them), except resourceVersion and uid, which the server checks (below).
    // The stored kind is the store's (KubernetesGateway); the user's is the YAML one (Gateway).
    const live: JsonObject = old ? { ...content(old), kind: v.written.kind ?? null } : {};
    const sent = content(modified);
    // resourceVersion and uid are sent as written (the checks below), compared with the stored ones.
    const givenUid = typeof meta.uid === "string" && meta.uid !== "" ? meta.uid : undefined;
    if (givenVersion) metaOf(sent).resourceVersion = givenVersion;
    if (givenUid) metaOf(sent).uid = givenUid;
    if (old && oldMeta.resourceVersion !== undefined) metaOf(live).resourceVersion = oldMeta.resourceVersion;
    if (old && oldMeta.uid !== undefined) metaOf(live).uid = oldMeta.uid;
    const patch = threeWayMergePatch(content(original), sent, live);
    if (old && givenVersion && givenVersion !== oldMeta.resourceVersion) {
      const info = kindOf(v.kind);
      const type = info ? resourceType(info) : `${v.kind.toLowerCase()}s`;
      return refusal(409, "Conflict", `Operation cannot be fulfilled on ${type} ${JSON.stringify(meta.name)}: the object has been modified; please apply your changes to the latest version and try again`, "patching", patch);
    }
    // A uid the file names must be the stored one: the API server keeps uid immutable.
    if (old && givenUid && givenUid !== oldMeta.uid) {
      const info = kindOf(v.kind);
      const qualified = `${typeof v.written.kind === "string" ? v.written.kind : v.kind}${info?.group ? `.${info.group}` : ""}`;
      return refusal(422, "Invalid", `${qualified} ${JSON.stringify(meta.name)} is invalid: metadata.uid: Invalid value: ${JSON.stringify(givenUid)}: field is immutable`, "patching", patch);
    }
    if (old && Object.keys(patch).length === 0) return { warnings };
    // A copy: the patch leaves untouched parts shared with the stored object, which must not change.
    const merged = content(structuredClone(applyMergePatch(live, patch)) as JsonObject);
    // Checked (and given the schema's defaults, as the API server defaults a custom resource) before comparing.
    const checked = this.check(v, merged);
    if (checked.errors.length > 0) return { errors: checked.errors, warnings };
    if (old && jsonEqual(merged, { ...content(old), kind: v.written.kind ?? null })) return { warnings };
    warnings.push(...checked.warnings);
    const m = metaOf(merged);
    m.uid = (oldMeta.uid as Json | undefined) ?? randomUUID();
    m.creationTimestamp = (oldMeta.creationTimestamp as Json | undefined) ?? time;
    if (v.kind !== "ConfigMap") {
      const specChanged = !old || !jsonEqual(old.spec, merged.spec);
      m.generation = old ? (typeof oldMeta.generation === "number" ? oldMeta.generation : 1) + (specChanged ? 1 : 0) : 1;
    }
    const entries = Array.isArray(oldMeta.managedFields) ? (oldMeta.managedFields as unknown as ManagedFieldsEntry[]) : [];
    m.managedFields = recordWrite(entries, manager, String(v.written.apiVersion), time, content(modified), patch) as unknown as Json;
    // Key order as the API server writes it (metadata fields, then the rest of the object).
    return { object: { apiVersion: merged.apiVersion, kind: v.kind, metadata: m, ...withoutKeys(merged, ["apiVersion", "kind", "metadata"]) }, warnings };
  }

  /**
   * Validates a merged object as its document was validated (messages point at the document's
   * lines); the schema's defaults are filled into its spec in place.
   */
  private check(v: ValidDoc, merged: JsonObject): { errors: string[]; warnings: string[] } {
    const doc: ParsedDocument = { ...v.doc, value: { ...merged, kind: v.written.kind } };
    const errors: string[] = [];
    const warnings: string[] = [];
    if (v.kind === "ConfigMap") {
      const { result, configMap } = validateConfigMapDocument(doc);
      for (const d of result.diagnostics) if (d.severity === "error") errors.push(formatDiagnostic(result, d));
      const mesh = configMap && this.options.checkMeshConfigMap?.(configMap);
      const where = `${v.result.file}:${v.result.line} (document ${v.result.index}) ConfigMap ${MESH_CONFIGMAP_NAMESPACE}/${MESH_CONFIGMAP_NAME}`;
      for (const e of mesh?.errors ?? []) errors.push(`${where}: ${e}`);
      for (const w of mesh?.warnings ?? []) warnings.push(`${where}: ${w}`);
      return { errors, warnings };
    }
    const result: DocumentResult = { ...validateObject(doc.value), file: v.result.file, index: v.result.index, line: v.result.line, lineOf: v.doc.lineOf, columnOf: v.doc.columnOf };
    for (const d of result.diagnostics) if (d.severity === "error") errors.push(formatDiagnostic(result, d));
    return { errors, warnings };
  }

  /** Removes the given objects; those the layer does not hold come back in `notFound`. */
  delete(refs: readonly ResourceRef[], opts: { dryRun?: boolean } = {}): { deleted: AppliedObject[]; notFound: ResourceRef[] } {
    const next = new Map(this.items);
    const deleted: AppliedObject[] = [];
    const notFound: ResourceRef[] = [];
    for (const ref of refs) {
      const key = resourceKey(ref.kind, ref.namespace, ref.name);
      const old = next.get(key);
      if (!old) notFound.push(ref);
      else {
        next.delete(key);
        deleted.push(old as unknown as AppliedObject);
      }
    }
    if (!opts.dryRun && deleted.length > 0) this.commit(next, this.resourceVersion + 1, deleted.map((resource) => ({ resource, outcome: "deleted" as const })));
    return { deleted, notFound };
  }

  /** Writes the changed files, then hands the whole layer to the store (one batch, one push). */
  private commit(next: Map<string, JsonObject>, rv: number, changes: readonly AppliedChange[]): ChangeBatch | undefined {
    this.ensureDir();
    for (const c of changes) {
      const file = this.fileOf(c.resource);
      if (c.outcome === "deleted") rmSync(file, { force: true });
      else if (c.outcome !== "unchanged") writeFileAtomic(file, stringify({ ...c.resource, kind: yamlKindOfStored(c.resource) }), { mode: 0o600, durable: true });
    }
    this.resourceVersion = rv;
    writeFileAtomic(join(this.dir, COUNTER_FILE), `${rv}\n`, { mode: 0o600, durable: true });
    this.items = next;
    return this.publish();
  }

  /** The store gets the objects without managedFields (nothing in the mesh reads them); ConfigMaps apart. */
  private publish(): ChangeBatch | undefined {
    const resources: AnyResource[] = [];
    const configMaps: ConfigMap[] = [];
    for (const o of this.list()) {
      const metadata = { ...o.metadata } as Record<string, unknown>;
      delete metadata.managedFields;
      if (o.kind === "ConfigMap") configMaps.push({ ...o, metadata, source: { file: APPLIED_SOURCE, line: 1 } } as ConfigMap);
      else resources.push({ ...o, metadata } as unknown as AnyResource);
    }
    return this.store.replaceSource(APPLIED_SOURCE, resources, configMaps);
  }

  private fileOf(r: AppliedObject): string {
    // Kinds are identifiers and names DNS-1123 (validated), so the file name needs no escaping.
    return join(this.dir, `${r.kind}.${r.metadata.namespace}.${r.metadata.name}.yaml`);
  }

  private ensureDir(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
  }
}

/** The kind as its YAML is written (a Gateway API Gateway's internal kind is KubernetesGateway). */
function yamlKindOfStored(o: AppliedObject): string {
  const info = kindOf(o.kind);
  return info ? ((info as { yamlKind?: string }).yamlKind ?? info.kind) : o.kind;
}

function resourceNameOf(kind: string, name: string): string {
  const info = kindOf(kind);
  return `${info ? info.plural : `${kind.toLowerCase()}s`}/${name}`;
}

function withoutKeys(o: JsonObject, keys: readonly string[]): JsonObject {
  const out = { ...o };
  for (const k of keys) delete out[k];
  return out;
}

/** A copy without null object members, at any depth. */
function withoutNulls(v: Json): Json {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (!isJsonObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = withoutNulls(x);
  return out;
}

function hasNull(v: Json): boolean {
  if (Array.isArray(v)) return v.some(hasNull);
  return isJsonObject(v) && Object.values(v).some((x) => x === null || hasNull(x));
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The API server's checks of a field manager's name (at most 128 bytes, printable). */
export function checkFieldManager(manager: string): string | undefined {
  if (manager === "") return "fieldManager: Required value: is required for apply requests";
  if (Buffer.byteLength(manager) > 128) return `fieldManager: Too long: may not be more than 128 bytes`;
  if (!/^[\x20-\x7e]+$/.test(manager)) return `fieldManager: Invalid value: ${JSON.stringify(manager)}: must be made of printable characters`;
  return undefined;
}

/** kubectl's check of `-n NS` against a document's own namespace (undefined when they agree or it has none). */
function namespaceConflict(value: unknown, namespace: string): string | undefined {
  const own = (value as { metadata?: { namespace?: unknown } } | undefined)?.metadata?.namespace;
  if (typeof own !== "string" || own === "" || own === namespace) return undefined;
  return `the namespace from the provided object ${JSON.stringify(own)} does not match the namespace ${JSON.stringify(namespace)}. You must pass '--namespace=${own}' to perform this operation.`;
}

/**
 * The (kind, namespace, name) of each document in `text` that names one, for `delete -f` (documents
 * without a namespace are in `namespace`, default "default"; Kubernetes kinds apply does not store
 * are left out); errors for the rest.
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
    // A Deployment beside its Service: apply said it was not read, so there is nothing to delete.
    else if (notReadReason(v.apiVersion, v.kind)) continue;
    // The store's kind (group-aware: a Gateway API Gateway is not Istio's Gateway).
    else refs.push({ apiVersion: v.apiVersion, kind: lookupKind(v.apiVersion, v.kind).info?.kind ?? v.kind, name: v.metadata.name, namespace: typeof v.metadata.namespace === "string" && v.metadata.namespace ? v.metadata.namespace : (namespace ?? "default") });
  }
  return { refs, errors };
}
