// Generates src/api/gen/{schemas.json,types.ts} from Istio's CRDs (api/istio-crds.gen.yaml) and the
// Kubernetes Gateway API's (api/gateway-api-crds.gen.yaml). Run with `npm run gen`;
// test/api/generated.test.ts fails when the committed output is stale.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { compareKubeVersions, type PrinterColumn } from "../src/api/kinds.js";

type Schema = Record<string, unknown> & {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  required?: string[];
  enum?: unknown[];
  description?: string;
};

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema: { openAPIV3Schema: Schema };
  additionalPrinterColumns?: Array<PrinterColumn & { description?: string }>;
}

interface Crd {
  spec: {
    group: string;
    names: { kind: string; plural: string; shortNames?: string[]; categories?: string[] };
    scope: string;
    versions: CrdVersion[];
  };
}

export interface KindSchemaEntry {
  /** Istio's internal config kind name (pkg/config/schema/kind): unique across groups. */
  kind: string;
  /** The kind as YAML and kubectl spell it. */
  yamlKind: string;
  group: string;
  plural: string;
  shortNames: string[];
  versions: string[];
  storageVersion: string;
  /** Namespaced, or cluster-scoped (GatewayClass). */
  namespaced: boolean;
  /** kubectl's categories (`istio-io`, `gateway-api`): `tsmesh get istio-io`. */
  categories: string[];
  /** The additionalPrinterColumns of the version kubectl reads (the served one first in Kubernetes' version order). */
  printerColumns: PrinterColumn[];
  schema: Schema;
}

function stripDescriptions(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(stripDescriptions);
  if (s && typeof s === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(s)) if (k !== "description") out[k] = stripDescriptions(v);
    return out;
  }
  return s;
}

function firstSentence(d: string | undefined): string | undefined {
  if (!d) return undefined;
  const line = d.split("\n")[0].trim();
  const m = /^(.*?\.)(\s|$)/.exec(line);
  return (m ? m[1] : line).replace(/\*\//g, "*\\/");
}

function tsType(s: Schema, indent: string): string {
  if (s["x-kubernetes-int-or-string"]) return "number | string";
  if (s.enum && s.type === "string") return s.enum.map((e) => JSON.stringify(e)).join(" | ");
  switch (s.type) {
    case "string":
      return "string";
    case "integer":
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "array":
      return s.items ? `Array<${tsType(s.items, indent)}>` : "unknown[]";
    case "object":
    case undefined: {
      if (s.properties) return objectType(s, indent);
      if (s.additionalProperties && typeof s.additionalProperties === "object")
        return `Record<string, ${tsType(s.additionalProperties, indent)}>`;
      return "Record<string, unknown>";
    }
    default:
      return "unknown";
  }
}

function objectType(s: Schema, indent: string): string {
  const inner = indent + "  ";
  const req = new Set(s.required ?? []);
  const lines = ["{"];
  for (const [name, p] of Object.entries(s.properties ?? {})) {
    const doc = firstSentence(p.description);
    if (doc) lines.push(`${inner}/** ${doc} */`);
    const key = /^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name);
    lines.push(`${inner}${key}${req.has(name) ? "" : "?"}: ${tsType(p, inner)};`);
  }
  lines.push(`${indent}}`);
  return lines.join("\n");
}

interface Overlay {
  kind: string;
  path: string;
  schema: Schema;
}

/** Adds the property at `path` (e.g. `spec.jwtRules[].presence`) to a kind's schema. */
function applyOverlay(root: Schema, o: Overlay): void {
  const segs = o.path.split(".");
  let node = root;
  for (let i = 0; i < segs.length; i++) {
    const array = segs[i].endsWith("[]");
    const name = array ? segs[i].slice(0, -2) : segs[i];
    if (i === segs.length - 1) {
      node.properties = { ...node.properties, [name]: o.schema };
      return;
    }
    const next = node.properties?.[name];
    if (!next) throw new Error(`overlay ${o.kind} ${o.path}: no property ${name}`);
    node = array ? next.items! : next;
    if (!node) throw new Error(`overlay ${o.kind} ${o.path}: ${name} is not an array`);
  }
}

/** The CRD files, in the order their kinds are listed. */
const CRD_FILES = ["api/istio-crds.gen.yaml", "api/gateway-api-crds.gen.yaml"];

/**
 * Istio names a kind whose YAML name another group already uses by its group (pkg/config/schema:
 * gateway.networking.k8s.io's Gateway is KubernetesGateway), so internal names stay unique.
 */
const INTERNAL_KIND: Record<string, string> = { "gateway.networking.k8s.io/Gateway": "KubernetesGateway" };

/** Builds the generated files' contents from the CRDs under `root`. */
export function generateApi(root: string): { schemasJson: string; typesTs: string; kinds: number } {
  const crds = CRD_FILES.flatMap((f) =>
    parseAllDocuments(readFileSync(join(root, f), "utf8"))
      .map((d) => d.toJS() as Crd | null)
      .filter((d): d is Crd => d !== null),
  );
  const entries: KindSchemaEntry[] = [];
  const types: string[] = [
    `// Generated by scripts/gen-api.ts from ${CRD_FILES.join(" and ")}. Do not edit.`,
    "",
  ];
  const overlays = parse(readFileSync(join(root, "api/crd-overlay.yaml"), "utf8")) as Overlay[];
  for (const crd of crds) {
    const { group, names, versions } = crd.spec;
    for (const v of versions) for (const o of overlays) if (o.kind === names.kind) applyOverlay(v.schema.openAPIV3Schema, o);
    const storage = versions.find((v) => v.storage) ?? versions[0];
    const full = storage.schema.openAPIV3Schema;
    const kind = INTERNAL_KIND[`${group}/${names.kind}`] ?? names.kind;
    const served = versions.filter((v) => v.served);
    const preferred = [...served].sort((a, b) => compareKubeVersions(a.name, b.name))[0] ?? storage;
    entries.push({
      kind,
      yamlKind: names.kind,
      group,
      plural: names.plural,
      shortNames: names.shortNames ?? [],
      versions: served.map((v) => v.name),
      storageVersion: storage.name,
      namespaced: crd.spec.scope !== "Cluster",
      categories: names.categories ?? [],
      // Descriptions are for `kubectl explain`, not tables.
      printerColumns: (preferred.additionalPrinterColumns ?? []).map(({ description: _d, ...c }) => c),
      schema: stripDescriptions(full) as Schema,
    });
    const spec = full.properties?.spec;
    if (spec) {
      const doc = firstSentence(spec.description);
      if (doc) types.push(`/** ${doc} */`);
      types.push(`export type ${kind}Spec = ${tsType(spec, "")};`, "");
    }
  }
  // Group and YAML name per internal kind, for messages that must not read the whole schema table.
  types.push("/** Internal kind → [group, the kind as YAML spells it]. */", "export const KIND_GROUPS = {");
  for (const e of entries) types.push(`  ${e.kind}: [${JSON.stringify(e.group)}, ${JSON.stringify(e.yamlKind)}],`);
  types.push("} as const;", "");
  return { schemasJson: JSON.stringify(entries) + "\n", typesTs: types.join("\n"), kinds: entries.length };
}

if (process.argv[1]?.endsWith("gen-api.js")) {
  const root = process.cwd();
  const out = generateApi(root);
  writeFileSync(join(root, "src/api/gen/schemas.json"), out.schemasJson);
  writeFileSync(join(root, "src/api/gen/types.ts"), out.typesTs);
  console.log(`generated ${out.kinds} kinds`);
}
