// The kinds tsmesh understands (Istio's and the Kubernetes Gateway API's), read from the generated
// CRD table (group, versions, schema), and Kubernetes' core/v1 Service (./kube-service.ts). A kind is identified by its group and YAML name; inside
// tsmesh it goes by Istio's internal config kind name, unique across groups (KubernetesGateway).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../core/paths.js";
import { SERVICE_INFO } from "./kube-service.js";
import type { OpenApiSchema } from "./schema.js";

/** One of a CRD's additionalPrinterColumns: what `kubectl get` shows beside NAME. */
export interface PrinterColumn {
  name: string;
  /** OpenAPI type: string, integer, number, boolean, date. */
  type: string;
  /** A JSONPath (kubectl's dialect) into the object. */
  jsonPath: string;
  /** Above 0: only with `-o wide`. */
  priority?: number;
  format?: string;
}

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
  /** False for a cluster-scoped kind (GatewayClass). */
  namespaced: boolean;
  /** kubectl's categories: `istio-io`, `networking-istio-io`, `gateway-api`. */
  categories: string[];
  /** The CRD's additionalPrinterColumns (of the version kubectl reads); empty: kubectl's default, AGE. */
  printerColumns: PrinterColumn[];
  schema: OpenApiSchema;
}

let table: Map<string, KindInfo> | undefined;

/** Internal kind name → info, for every CRD in api/*-crds.gen.yaml, and core/v1 Service. */
export function kinds(): ReadonlyMap<string, KindInfo> {
  if (!table) {
    const entries = JSON.parse(readFileSync(join(packageRoot(), "src/api/gen/schemas.json"), "utf8")) as KindInfo[];
    table = new Map([...entries, SERVICE_INFO].map((e) => [e.kind, e]));
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

const KUBE_VERSION = /^v(\d+)(?:(alpha|beta)(\d+))?$/;

/**
 * Kubernetes' version order (apimachinery's CompareKubeAwareVersionStrings), as a sort comparator:
 * negative when `a` comes first. GA before beta before alpha, higher numbers first, and names that
 * are not Kubernetes versions last, alphabetically.
 */
export function compareKubeVersions(a: string, b: string): number {
  const ma = KUBE_VERSION.exec(a);
  const mb = KUBE_VERSION.exec(b);
  if (!ma || !mb) return ma ? -1 : mb ? 1 : a < b ? -1 : a > b ? 1 : 0;
  const stability = (m: RegExpExecArray) => (m[2] === undefined ? 2 : m[2] === "beta" ? 1 : 0);
  return stability(mb) - stability(ma) || Number(mb[1]) - Number(ma[1]) || Number(mb[3] ?? 0) - Number(ma[3] ?? 0);
}
