// The mesh's API (the Kubernetes API server's role for `tsmesh apply|get|delete`): HTTP/1.1 with
// JSON bodies on a Unix socket STATE_DIR/api.sock, created 0600 inside the 0700 state folder, so
// only the mesh's owner can connect. Routes under /apis/tsmesh.io/v1/:
//   POST apply      {yaml, file?, fieldManager?, dryRun?} → per resource created|configured|unchanged
//                   (kubectl's client-side apply: three-way merge, the writer recorded in managedFields)
//   POST delete     {yaml?, file?, refs?, dryRun?}        → per resource deleted, or a Status error
//   GET  resources?kind=&namespace=&name=&labelSelector=[&showManagedFields=true] → effective
//                   resources, source, shadowed copies, status (managedFields hidden unless asked,
//                   as kubectl hides them)
//   GET  resources/KIND/NAMESPACE/NAME[?showManagedFields=true]     → one of them, or 404 NotFound
// Errors are Kubernetes Status objects (reason NotFound, Invalid, Conflict, BadRequest…) worded as
// kubectl shows them. Edits to a folder's copy that an applied copy hides are said on the console.
// Bodies are bounded, requests time out, connections are capped: a stuck client holds nothing for long.
import { chmodSync, existsSync, lstatSync, mkdirSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { dirname } from "node:path";
import { consoleRef, kindOf, kubectlRef, resourceTypeOfKind, yamlKindOf } from "../api/kind-names.js";
import { LabelSelectorError, matchesLabels, parseLabelSelector, type Requirement } from "../api/label-selector.js";
import { resourceKey, type AnyResource, type IstioKind } from "../api/resource.js";
import { APPLIED_SOURCE, k8sTime, refsOf, type AppliedLayer, type ResourceRef } from "../config/applied.js";
import type { ConfigMap } from "../config/configmap.js";
import { SERVER_SIDE_REFUSAL } from "../config/managed-fields.js";
import type { ConfigStore, ShadowedChange } from "../config/store.js";
import { StatusContext, type StatusRegistry } from "./status.js";
import type { TelemetryAnalysisMesh } from "../analysis/telemetry.js";

export const API_PREFIX = "/apis/tsmesh.io/v1/";
/** The Kubernetes API server's request body limit (3 MiB). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

export interface MeshApiOptions {
  socketPath: string;
  store: ConfigStore;
  applied: AppliedLayer;
  status: StatusRegistry;
  /** The mesh config analyze reads for status. */
  mesh: () => TelemetryAnalysisMesh;
  /** `applied`, or where a folder layer defines the resource (`FILE:LINE`). */
  describeSource: (source: string, resource: AnyResource) => string;
  log: (line: string) => void;
  maxBodyBytes?: number;
  /** Whole-request time limit (ms; default 30 s). */
  requestTimeoutMs?: number;
}

/** A Kubernetes Status (kind Status, status Failure), kubectl's error shape. */
export interface ApiStatus {
  kind: "Status";
  apiVersion: "v1";
  status: "Failure";
  reason: string;
  code: number;
  message: string;
  details?: {
    errors?: string[];
    warnings?: string[];
    /** A refused write (Conflict…): the object, as the API server's details name it, and kubectl's context. */
    name?: string;
    group?: string;
    kind?: string;
    namespace?: string;
    apiVersion?: string;
    resource?: string;
    file?: string;
    verb?: "patching" | "creating";
    patch?: string;
  };
}

/** One effective resource as `get` shows it: the object (with status), where it comes from, and the copies it shadows. */
export interface ResourceView {
  object: AnyResource & { status?: Record<string, unknown> };
  source: string;
  shadowed: string[];
}

export interface ApplyResponse {
  dryRun: boolean;
  results: Array<{ ref: string; kind: string; namespace: string; name: string; outcome: "created" | "configured" | "unchanged" }>;
  warnings: string[];
}

export interface DeleteResponse {
  dryRun: boolean;
  results: Array<{ ref: string; kind: string; namespace: string; name: string; outcome?: "deleted"; error?: ApiStatus }>;
  /** Documents that name no resource (they are not deleted). */
  errors: string[];
}

function failure(code: number, reason: string, message: string, details?: ApiStatus["details"]): ApiStatus {
  return { kind: "Status", apiVersion: "v1", status: "Failure", reason, code, message, ...(details ? { details } : {}) };
}

class HttpError extends Error {
  constructor(readonly status: ApiStatus) {
    super(status.message);
  }
}

/** `virtualservices.networking.istio.io "reviews" not found`, kubectl's NotFound wording. */
export function notFoundMessage(kind: string, name: string): string {
  return `${resourceTypeOfKind(kind)} ${JSON.stringify(name)} not found`;
}

export class MeshApiServer {
  private server: Server | undefined;
  private readonly shadowsShown = new Map<string, string>();
  /** When this control plane first had each folder-layer resource (they carry no creationTimestamp of their own). */
  private readonly firstSeen = new Map<string, string>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly o: MeshApiOptions) {}

  /** Binds the socket (refusing one a live server holds, replacing a stale one) and reports shadowing from now on. */
  async listen(): Promise<void> {
    const path = this.o.socketPath;
    // sockaddr_un holds 108 bytes with the terminating NUL; a longer path fails with a bare EINVAL.
    if (Buffer.byteLength(path) > 107) throw new Error(`the mesh API's socket path ${path} is over 107 bytes, the limit of a Unix socket path: use a shorter --state-dir`);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    if (existsSync(path)) {
      if (!lstatSync(path).isSocket()) throw new Error(`${path} exists and is not a socket; remove it`);
      if (await socketAnswers(path)) throw new Error(`another mesh serves ${path}: is a tsmesh up with this state folder already running? (--state-dir)`);
      rmSync(path, { force: true });
    }
    const server = createServer({ requestTimeout: this.o.requestTimeoutMs ?? 30_000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 }, (req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        const status = e instanceof HttpError ? e.status : failure(500, "InternalError", `internal error: ${(e as Error).message}`);
        if (!(e instanceof HttpError)) this.o.log(`discovery: mesh API: ${(e as Error).stack ?? String(e)}`);
        if (status.code === 413) res.setHeader("connection", "close");
        send(res, status.code, status);
        if (status.code === 413) res.once("finish", () => req.socket.destroy());
      });
    });
    server.keepAliveTimeout = 5_000;
    server.maxConnections = 64;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      // Node binds a pipe within listen(): the umask makes the socket 0600 from its first moment.
      const umask = process.umask(0o177);
      try {
        server.listen(path, () => {
          server.off("error", reject);
          resolve();
        });
      } finally {
        process.umask(umask);
      }
    });
    chmodSync(path, 0o600);
    this.server = server;
    const since = k8sTime(new Date());
    for (const r of this.o.store.list() as AnyResource[]) this.firstSeen.set(keyOf(r), since);
    this.unsubscribe = this.o.store.subscribe((batch) => {
      for (const c of batch.changes) {
        if (c.type === "deleted") this.firstSeen.delete(keyOf(c.resource));
        else if (!this.firstSeen.has(keyOf(c.resource))) this.firstSeen.set(keyOf(c.resource), k8sTime(new Date()));
      }
      this.reportShadowing();
    });
    const unsubscribeShadowed = this.o.store.subscribeShadowed((changes) => this.reportShadowedEdits(changes));
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = () => {
      unsubscribe?.();
      unsubscribeShadowed();
    };
    this.reportShadowing();
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    rmSync(this.o.socketPath, { force: true });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://mesh");
    if (!url.pathname.startsWith(API_PREFIX)) throw new HttpError(failure(404, "NotFound", `the server could not find the requested resource (${url.pathname})`));
    const route = url.pathname.slice(API_PREFIX.length);
    if (route === "apply" || route === "delete") {
      if (req.method !== "POST") throw new HttpError(failure(405, "MethodNotAllowed", `${route} takes POST`));
      const body = await readJson(req, this.o.maxBodyBytes ?? MAX_BODY_BYTES);
      if (route === "apply") {
        const r = this.apply(body);
        send(res, r.code, r.body);
      } else send(res, 200, this.delete(body));
      return;
    }
    if (req.method !== "GET") throw new HttpError(failure(405, "MethodNotAllowed", `${route} takes GET`));
    if (route === "resources") {
      const kind = url.searchParams.get("kind") || undefined;
      const namespace = url.searchParams.get("namespace") || undefined;
      const name = url.searchParams.get("name") || undefined;
      // Selected here, as the API server selects a list (kubectl sends -l as labelSelector).
      let selector: Requirement[] = [];
      try {
        selector = parseLabelSelector(url.searchParams.get("labelSelector") ?? "");
      } catch (e) {
        if (e instanceof LabelSelectorError) throw new HttpError(failure(400, "BadRequest", e.message));
        throw e;
      }
      send(res, 200, { kind: "List", items: this.views(kind, namespace, name, showManagedFields(url), selector) });
      return;
    }
    const one = /^resources\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(route);
    if (one) {
      let kind: string, namespace: string, name: string;
      try {
        [kind, namespace, name] = one.slice(1).map(decodeURIComponent);
      } catch {
        throw new HttpError(failure(400, "BadRequest", `malformed escape in ${url.pathname}`));
      }
      const view = this.views(kind, namespace, name, showManagedFields(url))[0];
      if (!view) throw new HttpError(failure(404, "NotFound", notFoundMessage(kind, name)));
      send(res, 200, view);
      return;
    }
    throw new HttpError(failure(404, "NotFound", `the server could not find the requested resource (${url.pathname})`));
  }

  private apply(body: Record<string, unknown>): { code: number; body: ApplyResponse | ApiStatus } {
    if (typeof body.yaml !== "string") throw new HttpError(failure(400, "BadRequest", "apply needs yaml (the documents' text)"));
    const file = typeof body.file === "string" && body.file ? body.file : "<stdin>";
    const dryRun = body.dryRun === true;
    const namespace = typeof body.namespace === "string" && body.namespace ? body.namespace : undefined;
    if (body.fieldManager !== undefined && typeof body.fieldManager !== "string") throw new HttpError(failure(400, "BadRequest", "fieldManager must be a string"));
    const fieldManager = body.fieldManager as string | undefined;
    if (body.serverSide !== undefined && body.serverSide !== false) throw new HttpError(failure(400, "BadRequest", SERVER_SIDE_REFUSAL));
    const r = this.o.applied.apply(body.yaml, file, { dryRun, namespace, fieldManager });
    if (!r.ok && r.refusal) {
      const { code, reason, message, ...details } = r.refusal;
      return { code, body: { kind: "Status", apiVersion: "v1", status: "Failure", reason, code, message, details: { ...details, warnings: r.warnings } } };
    }
    if (!r.ok) return { code: 422, body: failure(422, "Invalid", `error validating ${JSON.stringify(file)}:\n${r.errors.join("\n")}`, { errors: r.errors, warnings: r.warnings }) };
    const results = r.changes.map((c) => ({ ref: kubectlRef(c.resource), kind: c.resource.kind, namespace: c.resource.metadata.namespace, name: c.resource.metadata.name, outcome: c.outcome as "created" | "configured" | "unchanged" }));
    if (!dryRun) for (const c of r.changes) if (c.outcome !== "unchanged") this.o.log(`discovery: ${consoleRef(c.resource)} ${c.outcome} (tsmesh apply)`);
    return { code: 200, body: { dryRun, results, warnings: r.warnings } };
  }

  private delete(body: Record<string, unknown>): DeleteResponse {
    const dryRun = body.dryRun === true;
    let refs: ResourceRef[] = [];
    let errors: string[] = [];
    const namespace = typeof body.namespace === "string" && body.namespace ? body.namespace : undefined;
    if (typeof body.yaml === "string") ({ refs, errors } = refsOf(body.yaml, typeof body.file === "string" && body.file ? body.file : "<stdin>", namespace));
    else if (Array.isArray(body.refs)) {
      for (const r of body.refs as unknown[]) {
        const ref = r as Partial<ResourceRef>;
        if (typeof ref?.kind !== "string" || typeof ref.name !== "string") throw new HttpError(failure(400, "BadRequest", "each of refs needs kind and name"));
        refs.push({ kind: ref.kind, name: ref.name, namespace: typeof ref.namespace === "string" && ref.namespace ? ref.namespace : "default" });
      }
    } else throw new HttpError(failure(400, "BadRequest", "delete needs yaml or refs"));
    const { deleted, notFound } = this.o.applied.delete(refs, { dryRun });
    const results: DeleteResponse["results"] = [];
    const missing = new Set(notFound);
    for (const ref of refs) {
      const base = { ref: kubectlRef({ kind: ref.kind, metadata: ref }), kind: ref.kind, namespace: ref.namespace, name: ref.name };
      if (!missing.has(ref)) {
        results.push({ ...base, outcome: "deleted" });
        continue;
      }
      // Only a folder layer defines it: deleting is the file's business, not the API's.
      const copies =
        ref.kind === "ConfigMap"
          ? this.o.store.configMapCopiesOf(ref.namespace, ref.name).map((c) => configMapWhere(c.configMap))
          : this.o.store.copiesOf(ref.kind as IstioKind, ref.namespace, ref.name).map((c) => this.o.describeSource(c.source, c.resource));
      if (copies.length > 0) {
        results.push({ ...base, error: failure(400, "BadRequest", `${resourceTypeOfKind(ref.kind)} ${JSON.stringify(ref.name)} is defined in ${copies.join(", ")}, not applied: remove it there`) });
      } else results.push({ ...base, error: failure(404, "NotFound", notFoundMessage(ref.kind, ref.name)) });
    }
    if (!dryRun) for (const r of deleted) this.o.log(`discovery: ${consoleRef(r)} deleted (tsmesh delete)`);
    return { dryRun, results, errors };
  }

  /** ConfigMaps in force matching the filters (the applied copy with its server metadata), their source and shadowed copies. */
  private configMapViews(namespace?: string, name?: string, withManagedFields = false): ResourceView[] {
    return this.o.store
      .listConfigMaps()
      .filter((m) => (!namespace || m.metadata.namespace === namespace) && (!name || m.metadata.name === name))
      .map((m) => {
        const copies = this.o.store.configMapCopiesOf(m.metadata.namespace, m.metadata.name);
        const applied = copies[0]?.source === APPLIED_SOURCE ? this.o.applied.get("ConfigMap", m.metadata.namespace, m.metadata.name) : undefined;
        const { source: _source, ...plain } = m;
        const object = structuredClone((applied ?? plain) as unknown as ResourceView["object"]);
        if (!withManagedFields) delete (object.metadata as { managedFields?: unknown }).managedFields;
        return { object, source: configMapWhere(m), shadowed: copies.slice(1).map((c) => configMapWhere(c.configMap)) };
      });
  }

  /** Effective resources matching the filters, with their source, shadowed copies and status. */
  private views(kind?: string, namespace?: string, name?: string, withManagedFields = false, selector: readonly Requirement[] = []): ResourceView[] {
    if (kind === "ConfigMap") return this.configMapViews(namespace, name, withManagedFields).filter((v) => matchesLabels(selector, v.object.metadata.labels));
    const all = this.o.store.list() as AnyResource[];
    const picked = all.filter((r) => (!kind || r.kind === kind) && (!namespace || r.metadata.namespace === namespace) && (!name || r.metadata.name === name) && matchesLabels(selector, r.metadata.labels));
    if (picked.length === 0) return [];
    const ctx = new StatusContext(all, this.o.mesh());
    return picked.map((effective) => {
      const copies = this.o.store.copiesOf(effective.kind, effective.metadata.namespace, effective.metadata.name);
      const top = copies[0];
      // The applied layer's copy carries the API server's metadata (uid, creationTimestamp…).
      const base = top?.source === APPLIED_SOURCE ? (this.o.applied.get(effective.kind, effective.metadata.namespace, effective.metadata.name) ?? effective) : effective;
      const info = kindOf(base.kind);
      const object = { ...base, kind: (info ? yamlKindOf(info) : base.kind) as AnyResource["kind"] } as ResourceView["object"];
      const seen = this.firstSeen.get(keyOf(base));
      if (!base.metadata.creationTimestamp && seen) object.metadata = { ...base.metadata, creationTimestamp: seen };
      if (!withManagedFields && "managedFields" in object.metadata) {
        object.metadata = { ...object.metadata };
        delete (object.metadata as { managedFields?: unknown }).managedFields;
      }
      // The copy shown: its generation is the one status observed.
      const status = this.o.status.statusOf(base, ctx);
      if (status) object.status = status;
      return {
        object,
        source: top ? this.o.describeSource(top.source, top.resource) : "",
        shadowed: copies.slice(1).map((c) => this.o.describeSource(c.source, c.resource)),
      };
    });
  }

  /** Says once, on the console, when an applied copy shadows a folder layer's copy of the same resource. */
  private reportShadowing(): void {
    const now = new Map<string, string>();
    for (const r of this.o.applied.list()) {
      const copies =
        r.kind === "ConfigMap"
          ? this.o.store.configMapCopiesOf(r.metadata.namespace, r.metadata.name).map((c) => ({ source: c.source, where: () => configMapWhere(c.configMap) }))
          : this.o.store.copiesOf(r.kind, r.metadata.namespace, r.metadata.name).map((c) => ({ source: c.source, where: () => this.o.describeSource(c.source, c.resource) }));
      if (copies.length < 2 || copies[0].source !== APPLIED_SOURCE) continue;
      const key = keyOf(r);
      // Compared by source ids (cheap, on every batch); files are read only to word a new report.
      const sources = copies.slice(1).map((c) => c.source).join("\0");
      now.set(key, sources);
      if (this.shadowsShown.get(key) === sources) continue;
      const hidden = copies
        .slice(1)
        .map((c) => c.where())
        .join(", ");
      this.o.log(`discovery: ${consoleRef(r)}: the applied copy shadows ${hidden} (\`tsmesh delete\` it to use the file's again)`);
    }
    this.shadowsShown.clear();
    for (const [k, v] of now) this.shadowsShown.set(k, v);
  }

  /**
   * One line for every edit to a folder's copy that the applied copy hides: the edit is read (a
   * good edit) but changes nothing in force until the applied copy is deleted.
   */
  private reportShadowedEdits(changes: readonly ShadowedChange[]): void {
    for (const c of changes) {
      if (c.shadowedBy !== APPLIED_SOURCE) continue;
      const where = this.o.describeSource(c.source, c.resource);
      const what = c.type === "deleted" ? `removed from ${where}` : `${c.type === "added" ? "added in" : "changed in"} ${where}`;
      this.o.log(`discovery: ${consoleRef(c.resource)} ${what}: not in force, the applied copy shadows it (\`tsmesh delete\` the applied one to use the file's)`);
      // Said here; the next batch need not say the shadowing again.
      const copies = this.o.store.copiesOf(c.kind, c.namespace, c.name);
      if (copies.length > 1) this.shadowsShown.set(keyOf(c.resource), copies.slice(1).map((x) => x.source).join("\0"));
      else this.shadowsShown.delete(keyOf(c.resource));
    }
  }
}

/** Where a ConfigMap comes from, as get -o wide's SOURCE says it: `applied`, or FILE:LINE. */
function configMapWhere(m: ConfigMap): string {
  if (!m.source || m.source.file === APPLIED_SOURCE) return APPLIED_SOURCE;
  return `${m.source.file}:${m.source.line}`;
}

/** kubectl's --show-managed-fields, passed as a query parameter. */
function showManagedFields(url: URL): boolean {
  return url.searchParams.get("showManagedFields") === "true";
}

function keyOf(r: { kind: string; metadata: { namespace: string; name: string } }): string {
  return resourceKey(r.kind, r.metadata.namespace, r.metadata.name);
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** A JSON object body of at most `limit` bytes. */
function readJson(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > limit) {
      reject(new HttpError(failure(413, "RequestEntityTooLarge", `request body of ${declared} bytes is over the limit of ${limit}`)));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        // Stop reading; the 413 goes out with the connection closed after it.
        req.pause();
        reject(new HttpError(failure(413, "RequestEntityTooLarge", `request body is over the limit of ${limit} bytes`)));
        return;
      }
      chunks.push(c);
    });
    req.on("error", reject);
    req.on("end", () => {
      let v: unknown;
      try {
        v = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch (e) {
        reject(new HttpError(failure(400, "BadRequest", `request body is not JSON: ${(e as Error).message}`)));
        return;
      }
      if (typeof v !== "object" || v === null || Array.isArray(v)) reject(new HttpError(failure(400, "BadRequest", "request body must be a JSON object")));
      else resolve(v as Record<string, unknown>);
    });
  });
}

/** Whether something accepts connections on a Unix socket (a live mesh), within a second. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}
