// The Istio kinds tsmesh understands, read from the generated CRD table (group, versions, schema).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../core/paths.js";
import type { OpenApiSchema } from "./schema.js";

export interface KindInfo {
  kind: string;
  group: string;
  plural: string;
  shortNames: string[];
  /** Served apiVersion versions, e.g. ["v1", "v1alpha3", "v1beta1"]. */
  versions: string[];
  storageVersion: string;
  schema: OpenApiSchema;
}

let table: Map<string, KindInfo> | undefined;

/** Kind name → info, for every CRD in api/istio-crds.gen.yaml. */
export function kinds(): ReadonlyMap<string, KindInfo> {
  if (!table) {
    const entries = JSON.parse(readFileSync(join(packageRoot(), "src/api/gen/schemas.json"), "utf8")) as KindInfo[];
    table = new Map(entries.map((e) => [e.kind, e]));
  }
  return table;
}

/** Finds the kind for an apiVersion/kind pair; `version` tells whether that version is served. */
export function lookupKind(apiVersion: string, kind: string): { info?: KindInfo; groupKnown: boolean; versionServed: boolean } {
  const info = kinds().get(kind);
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  if (!info || info.group !== group) {
    return { groupKnown: [...kinds().values()].some((k) => k.group === group), versionServed: false };
  }
  return { info, groupKnown: true, versionServed: info.versions.includes(version) };
}
