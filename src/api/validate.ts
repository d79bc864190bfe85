// The validation pipeline for one document: type → metadata → CRD schema → Istio's semantic rules.
// Produces either a typed resource or one diagnostic per problem, each naming its field path.
import { diagnostic, type Diagnostic } from "../core/errors.js";
import { kinds, kindsNamed, lookupKind } from "./kinds.js";
import { parseDocuments, type ParsedDocument } from "./parse.js";
import type { AnyResource, IstioKind, ObjectMeta, Resource } from "./resource.js";
import { applyDefaults, suggest, validateSchema } from "./schema.js";
import { checkK8sDNS1035Label, checkK8sDNS1123Label, checkK8sDNS1123Subdomain, checkLabelKey, checkLabelValue } from "./validation/common.js";
import { ValidationContext, type SemanticValidator } from "./validation/context.js";
import { semanticValidators } from "./validation/index.js";

export interface DocumentResult {
  file: string;
  index: number;
  line: number;
  kind?: string;
  apiVersion?: string;
  namespace?: string;
  name?: string;
  /** True when there is no error (warnings allowed). */
  valid: boolean;
  /** Errors and warnings, in document order. */
  diagnostics: Diagnostic[];
  /** The typed resource, when valid. */
  resource?: AnyResource;
  /** 1-based line of a field path within the source, for messages. */
  lineOf?: (path: string) => number | undefined;
  /** 1-based column of that field (of a syntax error for path ""). */
  columnOf?: (path: string) => number | undefined;
}

const TOP_LEVEL = new Set(["apiVersion", "kind", "metadata", "spec", "status"]);
const MAX_ANNOTATIONS_BYTES = 256 * 1024;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `group/version`, or the bare version in Kubernetes' core group (`v1`). */
function groupVersion(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

/** How a kind's object names are checked: a Service's name is a DNS label (its host's first label), others' a subdomain. */
function nameRule(kind: string): (name: string) => string | undefined {
  return kind === "Service" ? checkK8sDNS1035Label : checkK8sDNS1123Subdomain;
}

function validateMetadata(meta: unknown, out: Diagnostic[], checkName: (name: string) => string | undefined): void {
  const bad = (path: string, msg: string) => out.push(diagnostic("TSMESH_METADATA_INVALID", path, msg));
  if (meta === undefined || meta === null) {
    bad("metadata.name", "Required value: name is required");
    return;
  }
  if (!isObject(meta)) {
    bad("metadata", "Invalid value: metadata must be an object");
    return;
  }
  const { name, namespace, labels, annotations, generation, resourceVersion } = meta;
  if (name === undefined || name === "") bad("metadata.name", "Required value: name is required");
  else if (typeof name !== "string") bad("metadata.name", `Invalid value: ${JSON.stringify(name)}: must be a string`);
  else {
    const e = checkName(name);
    if (e) bad("metadata.name", `Invalid value: ${JSON.stringify(name)}: ${e}`);
  }
  if (namespace !== undefined) {
    if (typeof namespace !== "string") bad("metadata.namespace", `Invalid value: ${JSON.stringify(namespace)}: must be a string`);
    else {
      const e = checkK8sDNS1123Label(namespace);
      if (e) bad("metadata.namespace", `Invalid value: ${JSON.stringify(namespace)}: ${e}`);
    }
  }
  for (const [field, map] of [
    ["labels", labels],
    ["annotations", annotations],
  ] as const) {
    if (map === undefined || map === null) continue;
    if (!isObject(map)) {
      bad(`metadata.${field}`, `Invalid value: must be a map of string keys to string values`);
      continue;
    }
    let bytes = 0;
    for (const [k, v] of Object.entries(map)) {
      const path = `metadata.${field}[${k}]`;
      const ke = checkLabelKey(k);
      if (ke) bad(path, `Invalid value: ${JSON.stringify(k)}: ${ke}`);
      if (typeof v !== "string") bad(path, `Invalid value: ${JSON.stringify(v)}: must be a string (quote it in YAML)`);
      else if (field === "labels") {
        const ve = checkLabelValue(v);
        if (ve) bad(path, `Invalid value: ${JSON.stringify(v)}: ${ve}`);
      } else bytes += k.length + v.length;
    }
    if (bytes > MAX_ANNOTATIONS_BYTES) bad("metadata.annotations", `Too long: must have at most ${MAX_ANNOTATIONS_BYTES} bytes`);
  }
  if (generation !== undefined && !(Number.isInteger(generation) && (generation as number) >= 0))
    bad("metadata.generation", `Invalid value: ${JSON.stringify(generation)}: must be a non-negative integer`);
  if (resourceVersion !== undefined && typeof resourceVersion !== "string")
    bad("metadata.resourceVersion", `Invalid value: ${JSON.stringify(resourceVersion)}: must be a string`);
}

function normalizedMeta(meta: Record<string, unknown>): ObjectMeta {
  const m = { ...meta } as unknown as ObjectMeta;
  if (!m.namespace) m.namespace = "default";
  return m;
}

/** Validates a plain object that claims to be an Istio resource. */
export function validateObject(value: unknown): Omit<DocumentResult, "file" | "index" | "line"> {
  const diags: Diagnostic[] = [];
  const done = (extra: Partial<DocumentResult> = {}) => ({
    valid: !diags.some((d) => d.severity === "error"),
    diagnostics: diags,
    ...extra,
  });
  if (!isObject(value)) {
    diags.push(diagnostic("TSMESH_DOC_NOT_OBJECT", "", `document is a ${Array.isArray(value) ? "list" : typeof value}, not an object with apiVersion and kind`));
    return done();
  }
  const { apiVersion, kind } = value;
  const meta = isObject(value.metadata) ? value.metadata : {};
  const ids = {
    apiVersion: typeof apiVersion === "string" ? apiVersion : undefined,
    kind: typeof kind === "string" ? kind : undefined,
    name: typeof meta.name === "string" ? meta.name : undefined,
    namespace: typeof meta.namespace === "string" && meta.namespace !== "" ? meta.namespace : "default",
  };
  if (typeof apiVersion !== "string" || apiVersion === "")
    diags.push(diagnostic("TSMESH_MISSING_TYPE", "apiVersion", "Required value: apiVersion is required (e.g. networking.istio.io/v1)"));
  if (typeof kind !== "string" || kind === "")
    diags.push(diagnostic("TSMESH_MISSING_TYPE", "kind", "Required value: kind is required (e.g. VirtualService)"));
  if (diags.length) return done(ids);
  const found = lookupKind(apiVersion as string, kind as string);
  if (!found.info) {
    const named = kindsNamed(kind as string);
    if (named.length > 0) {
      const uses = named.map((k) => groupVersion(k.group, k.storageVersion)).join(" or ");
      const groups = named.map((k) => k.group).join(" and ");
      diags.push(diagnostic("TSMESH_UNKNOWN_KIND", "apiVersion", `kind ${kind} belongs to group ${groups}, not ${JSON.stringify(apiVersion)} (use ${uses})`));
    } else {
      const yamlKinds = [...new Set([...kinds().values()].map((k) => k.yamlKind))];
      const hint = suggest(kind as string, yamlKinds);
      diags.push(
        diagnostic(
          "TSMESH_UNKNOWN_KIND",
          "kind",
          `unknown kind ${apiVersion}/${kind}${hint ? ` (did you mean ${hint}?)` : ""}; tsmesh reads ${yamlKinds.join(", ")}`,
        ),
      );
    }
    return done(ids);
  }
  const info = found.info;
  if (!found.versionServed) {
    diags.push(
      diagnostic("TSMESH_UNSUPPORTED_VERSION", "apiVersion", `${apiVersion} does not serve ${kind}; served versions: ${info.versions.map((v) => groupVersion(info.group, v)).join(", ")}`),
    );
    return done(ids);
  }
  validateMetadata(value.metadata, diags, nameRule(info.kind));
  for (const key of Object.keys(value)) {
    if (!TOP_LEVEL.has(key)) {
      const hint = suggest(key, TOP_LEVEL);
      diags.push(diagnostic("TSMESH_SCHEMA_UNKNOWN_FIELD", key, `Unknown field ${JSON.stringify(key)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ""}`));
    }
  }
  const root = info.schema;
  if (root.required?.includes("spec") && !("spec" in value)) diags.push(diagnostic("TSMESH_SCHEMA_REQUIRED", "spec", "Required value"));
  const specSchema = root.properties?.spec;
  if (specSchema && "spec" in value) {
    applyDefaults(value.spec, specSchema);
    diags.push(...validateSchema(value.spec, specSchema, "spec"));
  }
  if (diags.some((d) => d.severity === "error")) return done(ids);

  const resource = {
    apiVersion: apiVersion as string,
    kind: info.kind as IstioKind,
    metadata: normalizedMeta(meta),
    spec: (value.spec ?? {}) as object,
  } as AnyResource;
  const ctx = new ValidationContext();
  const semantic = semanticValidators[resource.kind] as SemanticValidator<IstioKind>;
  try {
    semantic(resource as Resource<IstioKind>, ctx);
  } catch (err) {
    // A validator bug must not take the control plane down; report it against the resource.
    ctx.error("TSMESH_INVALID_VALUE", "spec", `internal validation error: ${(err as Error).message}`);
  }
  diags.push(...ctx.diagnostics);
  const valid = !ctx.hasErrors;
  return { ...done(ids), valid, resource: valid ? resource : undefined };
}

export function validateParsed(doc: ParsedDocument): DocumentResult {
  if (doc.syntaxError) return { file: doc.file, index: doc.index, line: doc.line, lineOf: doc.lineOf, columnOf: doc.columnOf, valid: false, diagnostics: [doc.syntaxError] };
  const r = validateObject(doc.value) as DocumentResult;
  r.file = doc.file;
  r.index = doc.index;
  r.line = doc.line;
  r.lineOf = doc.lineOf;
  r.columnOf = doc.columnOf;
  return r;
}

/** Parses and validates every document in a YAML/JSON text. */
export function validateText(text: string, file = "<input>"): DocumentResult[] {
  return parseDocuments(text, file).map(validateParsed);
}
