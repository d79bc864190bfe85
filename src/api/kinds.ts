// The kinds tsmesh understands (Istio's and the Kubernetes Gateway API's), read from the generated
// CRD table (group, versions, schema). A kind is identified by its group and YAML name; inside
// tsmesh it goes by Istio's internal config kind name, unique across groups (KubernetesGateway).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../core/paths.js";
import type { OpenApiSchema } from "./schema.js";

export interface KindInfo {
  /** Istio's internal kind name (resource.kind, store keys): `KubernetesGateway`. */
  kind: string;
  /** What YAML and kubectl print: `Gateway`. */
  yamlKind: string;
  group: string;
  plural: string;
  shortNames: string[];
  /** Served apiVersion versions, e.g. ["v1", "v1alpha3", "v1beta1"]. */
  versions: string[];
  storageVersion: string;
  schema: OpenApiSchema;
}

let table: Map<string, KindInfo> | undefined;

/** Internal kind name → info, for every CRD in api/*-crds.gen.yaml. */
export function kinds(): ReadonlyMap<string, KindInfo> {
  if (!table) {
    const entries = JSON.parse(readFileSync(join(packageRoot(), "src/api/gen/schemas.json"), "utf8")) as KindInfo[];
    table = new Map(entries.map((e) => [e.kind, e]));
  }
  return table;
}

/** The info of an internal kind name (`KubernetesGateway`, `VirtualService`). */
export function kindInfo(kind: string): KindInfo | undefined {
  return kinds().get(kind);
}

/** Every kind that YAML spells `yamlKind`, whatever its group (`Gateway` → Istio's and the Gateway API's). */
export function kindsNamed(yamlKind: string): KindInfo[] {
  return [...kinds().values()].filter((k) => k.yamlKind === yamlKind);
}

/** Splits an apiVersion into group ("" for the core group) and version. */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf("/");
  return slash < 0 ? { group: "", version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** Finds the kind for an apiVersion/kind pair by group and YAML name; `versionServed` tells whether that version is served. */
export function lookupKind(apiVersion: string, yamlKind: string): { info?: KindInfo; groupKnown: boolean; versionServed: boolean } {
  const { group, version } = splitApiVersion(apiVersion);
  const info = kindsNamed(yamlKind).find((k) => k.group === group);
  if (!info) return { groupKnown: [...kinds().values()].some((k) => k.group === group), versionServed: false };
  return { info, groupKnown: true, versionServed: info.versions.includes(version) };
}
