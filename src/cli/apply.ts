// `tsmesh apply -f FILE|DIR|-`: kubectl's client-side apply against the running mesh's API. Every
// file is checked by the server first (a dry run), so one bad document anywhere changes nothing;
// then each file is applied and each resource printed as kubectl prints it
// (`virtualservice.networking.istio.io/reviews created`). Writes are recorded under a field manager
// (`--field-manager`, kubectl's default kubectl-client-side-apply); a refused write (a stale
// resourceVersion) is printed in kubectl's `Error from server (Conflict): error when applying patch` shape.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ApiStatus, ApplyResponse } from "../controlplane/api-server.js";
import { CONFIG_EXTENSIONS, displayPath, listConfigFiles } from "../config/files.js";
import { findMeshSocket, isFailure, MeshApiClient, type MeshTarget } from "./api-client.js";

export interface ApplyCliOptions {
  /** -f values: files, folders (their .yaml, .yml and .json files) or "-" for stdin. */
  files: string[];
  /** -R: folders' subfolders too. */
  recursive: boolean;
  /** --dry-run=server: validated and reported by the mesh, nothing stored. */
  dryRun: boolean;
  /** -n: the namespace of documents that name none (a document naming another is an error, as kubectl's). */
  namespace?: string;
  /** --field-manager: the writer managedFields records (default kubectl-client-side-apply). */
  fieldManager?: string;
  target: MeshTarget;
}

/** kubectl's wording of an apply the server refused (`Error from server (Conflict): …`, `error: …` for invalid documents). */
export function applyErrorMessage(s: ApiStatus): string {
  const d = s.details;
  const from = `Error from server${s.reason ? ` (${s.reason})` : ""}: `;
  if (d?.verb === "creating") return `${from}error when creating ${JSON.stringify(d.file)}: ${s.message}`;
  if (d?.verb === "patching") {
    const gv = d.apiVersion?.includes("/") ? d.apiVersion : `/${d.apiVersion ?? ""}`;
    return [
      `${from}error when applying patch:`,
      d.patch ?? "{}",
      "to:",
      `Resource: ${JSON.stringify(`${gv}, Resource=${d.resource}`)}, GroupVersionKind: ${JSON.stringify(`${gv}, Kind=${d.kind}`)}`,
      `Name: ${JSON.stringify(d.name)}, Namespace: ${JSON.stringify(d.namespace)}`,
      `for: ${JSON.stringify(d.file)}: error when patching ${JSON.stringify(d.file)}: ${s.message}`,
    ].join("\n");
  }
  return `error: ${s.message}`;
}

export interface Manifest {
  /** As messages name it (relative to the working directory, `<stdin>` for "-"). */
  file: string;
  text: string;
}

/** A -f argument that cannot be used (kubectl's `error: the path "x" does not exist`). */
export class ManifestError extends Error {}

/** A folder's config files: its own, or with `recursive` (kubectl's -R) those of every subfolder too. */
function folderFiles(dir: string, recursive: boolean): string[] {
  if (recursive) return listConfigFiles(dir);
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith(".") && CONFIG_EXTENSIONS.test(e.name))
    .map((e) => join(dir, e.name))
    .sort();
}

/** Reads the -f arguments: a file, the config files of a folder, or stdin; kubectl's error for a missing path. */
export function readManifests(paths: readonly string[], recursive = false): Manifest[] {
  const out: Manifest[] = [];
  for (const p of paths) {
    if (p === "-") {
      out.push({ file: "<stdin>", text: readFileSync(0, "utf8") });
      continue;
    }
    if (!existsSync(p)) throw new ManifestError(`the path ${JSON.stringify(p)} does not exist`);
    for (const f of statSync(p).isDirectory() ? folderFiles(p, recursive) : [p]) out.push({ file: displayPath(f), text: readFileSync(f, "utf8") });
  }
  if (out.length === 0) throw new ManifestError(`no objects passed to apply (no .yaml, .yml or .json files in ${paths.join(" ")})`);
  return out;
}

export async function runApply(o: ApplyCliOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const manifests = readManifests(o.files, o.recursive);
  const client = new MeshApiClient(findMeshSocket(o.target));
  const post = (m: Manifest, dryRun: boolean) => client.post<ApplyResponse>("apply", { yaml: m.text, file: m.file, dryRun, namespace: o.namespace, ...(o.fieldManager !== undefined ? { fieldManager: o.fieldManager } : {}) });
  // One file is one request; a dry run of all of them first keeps a bad file from half-applying the set.
  if (manifests.length > 1 && !o.dryRun) {
    let bad = false;
    for (const m of manifests) {
      const r = await post(m, true);
      if (isFailure(r.body)) {
        err(applyErrorMessage(r.body));
        bad = true;
      }
    }
    if (bad) return 1;
  }
  for (const m of manifests) {
    const r = await post(m, o.dryRun);
    if (isFailure(r.body)) {
      for (const w of r.body.details?.warnings ?? []) err(`Warning: ${w}`);
      err(applyErrorMessage(r.body));
      return 1;
    }
    for (const w of r.body.warnings) err(`Warning: ${w}`);
    for (const res of r.body.results) out(`${res.ref} ${res.outcome}${o.dryRun ? " (server dry run)" : ""}`);
  }
  return 0;
}
