// Kubernetes ConfigMaps in config folders. istiod reads one (istio-system/istio, its mesh config) and
// Istio installs put it next to the rest of the YAML, so a ConfigMap in a watched folder is a
// valid document, not an unknown kind: it is checked as the API server would check it (name,
// namespace, string data) and kept beside the Istio resources; its content is for the consumer to
// interpret (the control plane reads `data.mesh` of istio-system/istio and ignores the others).
import { diagnostic, type Diagnostic } from "../core/errors.js";
import type { ParsedDocument } from "../api/parse.js";
import type { DocumentResult } from "../api/validate.js";
import { checkK8sDNS1123Label, checkK8sDNS1123Subdomain } from "../api/validation/common.js";

export interface ConfigMap {
  apiVersion: "v1";
  kind: "ConfigMap";
  metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  data: Record<string, string>;
  /** The file (and line) it was read from, for messages about its content. */
  source?: { file: string; line: number };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Whether a document claims to be a core/v1 ConfigMap. */
export function isConfigMapDocument(value: unknown): boolean {
  return isObject(value) && value.kind === "ConfigMap" && value.apiVersion === "v1";
}

/** The ConfigMap istiod reads its mesh config from (revision "default"), and its key. */
export const MESH_CONFIGMAP_NAMESPACE = "istio-system";
export const MESH_CONFIGMAP_NAME = "istio";
export const MESH_CONFIGMAP_KEY = "mesh";

export function configMapKey(namespace: string, name: string): string {
  return `ConfigMap/${namespace}/${name}`;
}

/** Validates a ConfigMap document: the result for reports, and the ConfigMap when valid. */
export function validateConfigMapDocument(doc: ParsedDocument): { result: DocumentResult; configMap?: ConfigMap } {
  const diags: Diagnostic[] = [];
  const value = doc.value as Record<string, unknown>;
  const meta = isObject(value.metadata) ? value.metadata : {};
  const name = meta.name;
  const namespace = meta.namespace === undefined || meta.namespace === null || meta.namespace === "" ? "default" : meta.namespace;
  if (typeof name !== "string" || name === "") diags.push(diagnostic("TSMESH_METADATA_INVALID", "metadata.name", "Required value: name is required"));
  else {
    const e = checkK8sDNS1123Subdomain(name);
    if (e) diags.push(diagnostic("TSMESH_METADATA_INVALID", "metadata.name", `Invalid value: ${JSON.stringify(name)}: ${e}`));
  }
  if (typeof namespace !== "string") diags.push(diagnostic("TSMESH_METADATA_INVALID", "metadata.namespace", `Invalid value: ${JSON.stringify(namespace)}: must be a string`));
  else {
    const e = checkK8sDNS1123Label(namespace);
    if (e) diags.push(diagnostic("TSMESH_METADATA_INVALID", "metadata.namespace", `Invalid value: ${JSON.stringify(namespace)}: ${e}`));
  }
  const data: Record<string, string> = {};
  if (value.data !== undefined && value.data !== null) {
    if (!isObject(value.data)) diags.push(diagnostic("TSMESH_SCHEMA_TYPE", "data", "Invalid value: data must be a map of string keys to string values"));
    else {
      for (const [k, v] of Object.entries(value.data)) {
        if (typeof v === "string") data[k] = v;
        else diags.push(diagnostic("TSMESH_SCHEMA_TYPE", `data[${k}]`, `Invalid value: ${JSON.stringify(v)}: must be a string (quote it in YAML, or use a block scalar: \`${k}: |\`)`));
      }
    }
  }
  const valid = diags.length === 0;
  const result: DocumentResult = {
    file: doc.file,
    index: doc.index,
    line: doc.line,
    lineOf: doc.lineOf,
    columnOf: doc.columnOf,
    kind: "ConfigMap",
    apiVersion: "v1",
    name: typeof name === "string" ? name : undefined,
    namespace: typeof namespace === "string" ? namespace : undefined,
    valid,
    diagnostics: diags,
  };
  if (!valid) return { result };
  const labels = isObject(meta.labels) ? (meta.labels as Record<string, string>) : undefined;
  const annotations = isObject(meta.annotations) ? (meta.annotations as Record<string, string>) : undefined;
  return {
    result,
    configMap: {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: name as string, namespace: namespace as string, ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) },
      data,
      source: { file: doc.file, line: doc.line },
    },
  };
}
