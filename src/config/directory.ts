// A folder (or single file) of Istio YAML feeding the config store, watched for changes.
// File-system events only schedule a rescan (config/watch.ts); the rescan compares file stats and
// content, so missed or duplicated events (editors' rename-and-replace, fast successive writes)
// cannot leave it wrong.
// A file with any invalid document is reported and its last good resources stay in the store.
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { diagnostic } from "../core/errors.js";
import { parseDocuments } from "../api/parse.js";
import type { AnyResource } from "../api/resource.js";
import { resourceKey, resourceName } from "../api/resource.js";
import type { DocumentResult } from "../api/validate.js";
import { configMapKey, type ConfigMap } from "./configmap.js";
import { CONFIG_EXTENSIONS, displayPath, listConfigFiles, validateDocument } from "./files.js";
import type { ConfigStore } from "./store.js";
import { FolderWatch } from "../core/folder-watch.js";

export interface FileReport {
  file: string;
  /** "applied": all documents valid and in the store; "rejected": errors, last good kept; "removed". */
  status: "applied" | "rejected" | "removed";
  results: DocumentResult[];
  /** True when the store still holds resources from an earlier good version of this file. */
  keptLastGood: boolean;
}

export interface DirectorySourceOptions {
  /** Store source id; defaults to the path. */
  id?: string;
  /** Layer priority in the store (later `--config` layers get higher numbers). */
  priority?: number;
  /** Quiet time after a file-system event before rescanning (ms). */
  debounceMs?: number;
  /** Full rescan interval as a safety net for events the platform drops (ms; 0 disables). */
  pollMs?: number;
  /** Called for every file whose outcome changed. */
  onReport?: (report: FileReport) => void;
  /** Called after each rescan that changed the store. */
  onSynced?: (version: number) => void;
}

interface FileState {
  mtimeMs: number;
  size: number;
  ino: number;
  hash: string;
  /** Resources of the last version of this file that was fully valid. */
  lastGood?: AnyResource[];
  /** ConfigMaps of that same version. */
  lastGoodConfigMaps?: ConfigMap[];
  results: DocumentResult[];
  ok: boolean;
}

/**
 * The document of a file that defines a resource, for a message about it: valid files keep no
 * per-document results (they hold source text), so the file is read again — only on this rare path.
 */
function documentOf(file: string, r: { kind: string; metadata: { name?: string; namespace?: string } }): DocumentResult | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  for (const doc of parseDocuments(text, displayPath(file))) {
    const v = doc.value as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | undefined;
    if (v?.kind !== r.kind || v.metadata?.name !== r.metadata.name || (v.metadata?.namespace ?? "default") !== (r.metadata.namespace ?? "default")) continue;
    return { file: doc.file, index: doc.index, line: doc.line, lineOf: doc.lineOf, columnOf: doc.columnOf, kind: r.kind, namespace: r.metadata.namespace ?? "default", name: r.metadata.name, valid: true, diagnostics: [] };
  }
  return undefined;
}

export class DirectorySource {
  readonly id: string;
  private readonly files = new Map<string, FileState>();
  private readonly watch: FolderWatch;
  private closed = false;
  /** Duplicates already reported, so each is reported once, not on every rescan. */
  private reportedDuplicates = new Set<string>();
  private readonly opts: Required<Omit<DirectorySourceOptions, "onReport" | "onSynced" | "id">> & DirectorySourceOptions;

  constructor(
    readonly path: string,
    private readonly store: ConfigStore,
    options: DirectorySourceOptions = {},
  ) {
    this.id = options.id ?? path;
    this.opts = { debounceMs: 40, pollMs: 5000, priority: 0, ...options };
    store.addSource(this.id, this.opts.priority);
    this.watch = new FolderWatch(path, { ...this.opts, relevant: (name) => CONFIG_EXTENSIONS.test(name) }, () => this.rescan());
  }

  /** Loads everything once; returns the reports of files that are not fully valid. */
  load(): FileReport[] {
    const reports: FileReport[] = [];
    this.rescan((r) => {
      if (r.status !== "applied") reports.push(r);
    });
    return reports;
  }

  /** Loads, then keeps watching until close(). */
  start(): FileReport[] {
    const reports = this.load();
    this.watch.start();
    return reports;
  }

  close(): void {
    this.closed = true;
    this.watch.close();
  }

  /** Current state of every file with errors or warnings (other than TSMESH_NOT_ENFORCED and TSMESH_NOT_READ ones). */
  problems(): FileReport[] {
    const out: FileReport[] = [];
    for (const [file, st] of this.files) {
      if (!st.ok || st.results.some((r) => r.diagnostics.length > 0))
        out.push({ file: displayPath(file), status: st.ok ? "applied" : "rejected", results: st.results, keptLastGood: !st.ok && !!st.lastGood });
    }
    return out;
  }

  private rescan(extraReport?: (r: FileReport) => void): void {
    if (this.closed) return;
    const report = (r: FileReport) => {
      this.opts.onReport?.(r);
      extraReport?.(r);
    };
    let present: string[];
    try {
      present = listConfigFiles(this.path);
    } catch {
      present = []; // the folder itself is gone: everything in it was removed
    }
    const seen = new Set(present);
    let changed = false;
    for (const file of [...this.files.keys()]) {
      if (seen.has(file)) continue;
      this.files.delete(file);
      changed = true;
      report({ file: displayPath(file), status: "removed", results: [], keptLastGood: false });
    }
    for (const file of present) {
      let stat;
      try {
        stat = statSync(file);
      } catch {
        continue; // removed between listing and stat; the next scan sees it gone
      }
      const old = this.files.get(file);
      if (old && old.mtimeMs === stat.mtimeMs && old.size === stat.size && old.ino === stat.ino) continue;
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch {
        continue;
      }
      const hash = createHash("sha1").update(text).digest("hex");
      if (old && old.hash === hash) {
        Object.assign(old, { mtimeMs: stat.mtimeMs, size: stat.size, ino: stat.ino });
        continue;
      }
      const validated = parseDocuments(text, displayPath(file)).map(validateDocument);
      const results = validated.map((v) => v.result);
      const ok = results.every((r) => r.valid);
      const st: FileState = {
        mtimeMs: stat.mtimeMs,
        size: stat.size,
        ino: stat.ino,
        hash,
        // Keep per-document results only where there is a problem to report; they hold source text.
        // (Not-enforced and not-read warnings alone do not count: they are reported as the file
        // changes, and keeping them would keep the text of every file with a policy in it.)
        results: results.some((r) => r.diagnostics.some((d) => d.code !== "TSMESH_NOT_ENFORCED" && d.code !== "TSMESH_NOT_READ")) ? results : [],
        ok,
        lastGood: ok ? results.map((r) => r.resource!).filter(Boolean) : old?.lastGood,
        lastGoodConfigMaps: ok ? validated.flatMap((v) => (v.configMap ? [v.configMap] : [])) : old?.lastGoodConfigMaps,
      };
      this.files.set(file, st);
      changed = true;
      report({ file: displayPath(file), status: ok ? "applied" : "rejected", results, keptLastGood: !ok && !!st.lastGood });
    }
    if (changed) this.publish(report);
    this.watch.sync();
  }

  /** Pushes the union of every file's last good resources into the store. */
  private publish(report: (r: FileReport) => void): void {
    const all: AnyResource[] = [];
    const configMaps: ConfigMap[] = [];
    const owner = new Map<string, string>();
    const duplicates = new Set<string>();
    for (const [file, st] of [...this.files].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      for (const m of st.lastGoodConfigMaps ?? []) {
        const key = configMapKey(m.metadata.namespace, m.metadata.name);
        const first = owner.get(key);
        if (first !== undefined) {
          const id = `${file}\0${key}`;
          duplicates.add(id);
          if (this.reportedDuplicates.has(id)) continue;
          const dup = st.results.find((x) => x.kind === "ConfigMap" && x.name === m.metadata.name && x.namespace === m.metadata.namespace) ?? documentOf(file, { kind: "ConfigMap", metadata: m.metadata });
          report({
            file: displayPath(file),
            status: "rejected",
            keptLastGood: false,
            results: [
              {
                ...(dup ?? { file: displayPath(file), index: 0, line: m.source?.line ?? 1 }),
                valid: false,
                diagnostics: [diagnostic("TSMESH_DUPLICATE_RESOURCE", "metadata.name", `ConfigMap ${m.metadata.namespace}/${m.metadata.name} is already defined in ${displayPath(first)}; this copy is ignored`)],
              },
            ],
          });
          continue;
        }
        owner.set(key, file);
        configMaps.push(m);
      }
      for (const r of st.lastGood ?? []) {
        const key = resourceKey(r.kind, r.metadata.namespace, r.metadata.name);
        const first = owner.get(key);
        if (first !== undefined) {
          const id = `${file}\0${key}`;
          duplicates.add(id);
          if (this.reportedDuplicates.has(id)) continue;
          const dup = st.results.find((x) => x.resource === r) ?? documentOf(file, r);
          report({
            file: displayPath(file),
            status: "rejected",
            keptLastGood: false,
            results: [
              {
                ...(dup ?? { file: displayPath(file), index: 0, line: 1 }),
                valid: false,
                diagnostics: [diagnostic("TSMESH_DUPLICATE_RESOURCE", "metadata.name", `${resourceName(r)} is already defined in ${displayPath(first)}; this copy is ignored`)],
              },
            ],
          });
          continue;
        }
        owner.set(key, file);
        all.push(r);
      }
    }
    this.reportedDuplicates = duplicates;
    const batch = this.store.replaceSource(this.id, all, configMaps);
    if (batch) this.opts.onSynced?.(batch.version);
  }
}
