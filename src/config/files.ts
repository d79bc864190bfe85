// Finding and reading config files: folders are walked recursively for .yaml, .yml and .json;
// each document is validated and checked for what tsmesh accepts but does not enforce yet.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parse as parseYaml } from "yaml";
import { diagnostic, type Diagnostic } from "../core/errors.js";
import { meshConfigNotEnforced, notEnforcedDiagnostic, notEnforcedDiagnostics } from "../api/enforcement.js";
import { parseDocuments, type ParsedDocument } from "../api/parse.js";
import { validateParsed, type DocumentResult } from "../api/validate.js";
import { notReadDocument } from "./kubernetes-kinds.js";
import { isConfigMapDocument, MESH_CONFIGMAP_KEY, MESH_CONFIGMAP_NAME, MESH_CONFIGMAP_NAMESPACE, validateConfigMapDocument, type ConfigMap } from "./configmap.js";

export const CONFIG_EXTENSIONS = /\.(ya?ml|json)$/i;

/** Config files under `path` (or `path` itself), sorted, skipping hidden entries. */
export function listConfigFiles(path: string): string[] {
  const st = statSync(path);
  if (!st.isDirectory()) return [path]; // a file, or a pipe such as /dev/stdin
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name.startsWith(".")) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && CONFIG_EXTENSIONS.test(e.name)) out.push(p);
    }
  };
  walk(path);
  return out;
}

/**
 * Validates one document of a config file: an Istio resource or Service, or a Kubernetes ConfigMap
 * (istiod's mesh config comes in one); other Kubernetes kinds (Deployment, ServiceAccount…) are
 * skipped with one TSMESH_NOT_READ warning each; anything else is reported as an unknown kind. A valid document also
 * gets a TSMESH_NOT_ENFORCED warning for each kind or field it uses that tsmesh does not enforce yet.
 */
export function validateDocument(doc: ParsedDocument): { result: DocumentResult; configMap?: ConfigMap } {
  if (!doc.syntaxError && isConfigMapDocument(doc.value)) {
    const v = validateConfigMapDocument(doc);
    if (v.configMap) v.result.diagnostics.push(...meshConfigMapNotEnforced(v.configMap));
    return v;
  }
  const skipped = doc.syntaxError ? undefined : notReadDocument(doc);
  if (skipped) return { result: skipped };
  const result = validateParsed(doc);
  if (result.resource) result.diagnostics.push(...notEnforcedDiagnostics(result.resource));
  return { result };
}

/** Warnings for the mesh config in istio-system/istio `data.mesh` (its errors are the control plane's to report). */
function meshConfigMapNotEnforced(cm: ConfigMap): Diagnostic[] {
  const text = cm.metadata.namespace === MESH_CONFIGMAP_NAMESPACE && cm.metadata.name === MESH_CONFIGMAP_NAME ? cm.data[MESH_CONFIGMAP_KEY] : undefined;
  if (text === undefined) return [];
  let mesh: unknown;
  try {
    mesh = parseYaml(text, { uniqueKeys: false });
  } catch {
    return [];
  }
  return meshConfigNotEnforced(mesh).map((u) => notEnforcedDiagnostic(u, `data.${MESH_CONFIGMAP_KEY}`));
}

/** Validates every document of one file; a file that cannot be read yields one error entry. */
export function validateFile(file: string, displayName = file): DocumentResult[] {
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (err) {
    return [{ file: displayName, index: 0, line: 1, valid: false, diagnostics: [diagnostic("TSMESH_FILE_READ", "", (err as Error).message)] }];
  }
  return parseDocuments(text, displayName).map((d) => validateDocument(d).result);
}

/** Names a file relative to the working directory when that is shorter. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith("..") && rel.length < file.length ? rel : file;
}
