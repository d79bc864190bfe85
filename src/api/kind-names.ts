// kubectl's names for the mesh's kinds: what `tsmesh get|delete KIND` accepts (plural, singular,
// short names from the CRDs, the Kind itself, and the RESOURCE.GROUP forms) and how apply/delete
// name a resource in their output (`virtualservice.networking.istio.io/reviews`).
import { compareKubeVersions, kinds, type KindInfo } from "./kinds.js";
import { suggest } from "./schema.js";

/** Istio's own group wins a bare name two groups share (`gateway`), as Istio's docs expect. */
const PREFERRED_GROUP = "networking.istio.io";

/** The kind YAML and kubectl print (`Gateway` for the Gateway API's, whose internal kind differs). */
export function yamlKindOf(info: KindInfo): string {
  return (info as KindInfo & { yamlKind?: string }).yamlKind ?? info.kind;
}

/** kubectl's singular resource name: the YAML kind in lower case. */
export function singularOf(info: KindInfo): string {
  return yamlKindOf(info).toLowerCase();
}

/** `virtualservices.networking.istio.io`: the resource type as kubectl's errors name it (`configmaps` in the core group). */
export function resourceType(info: KindInfo): string {
  return info.group ? `${info.plural}.${info.group}` : info.plural;
}

/** `virtualservice.networking.istio.io`, `configmap`: the singular name with its group, as kubectl prefixes names. */
export function qualifiedSingular(info: KindInfo): string {
  return info.group ? `${singularOf(info)}.${info.group}` : singularOf(info);
}

/**
 * core/v1 ConfigMap, the one Kubernetes kind the mesh API stores (Istio's mesh config ConfigMap,
 * `istio-system/istio`): kubectl's names for it resolve here; no CRD describes it.
 */
export const CONFIGMAP_INFO: KindInfo = {
  kind: "ConfigMap",
  yamlKind: "ConfigMap",
  group: "",
  plural: "configmaps",
  shortNames: ["cm"],
  versions: ["v1"],
  storageVersion: "v1",
  namespaced: true,
  categories: [],
  printerColumns: [],
  schema: {},
};

/** kubectl's names for ConfigMaps (`configmaps.v1`: RESOURCE.VERSION of the core group). */
const CONFIGMAP_NAMES = new Set(["configmaps", "configmap", "cm", "configmaps.v1", "configmap.v1"]);

/** Every name a kind answers to, lower case, without the group. */
function bareNames(info: KindInfo): string[] {
  return [info.plural, singularOf(info), ...info.shortNames.map((s) => s.toLowerCase())];
}

export class UnknownResourceError extends Error {}

/**
 * The kind a kubectl resource argument names: `vs`, `virtualservice`, `virtualservices`,
 * `VirtualService`, `virtualservices.networking.istio.io`, `gateways.gateway.networking.k8s.io`,
 * `virtualservice.v1.networking.istio.io`. Throws UnknownResourceError (with close names) otherwise.
 */
export function resolveResourceName(arg: string, table: ReadonlyMap<string, KindInfo> = kinds()): KindInfo {
  const name = arg.trim().toLowerCase();
  if (CONFIGMAP_NAMES.has(name)) return CONFIGMAP_INFO;
  const all = [...table.values()];
  const dot = name.indexOf(".");
  if (dot > 0) {
    const head = name.slice(0, dot);
    const rest = name.slice(dot + 1);
    for (const info of all) {
      if (!bareNames(info).includes(head)) continue;
      if (rest === info.group) return info;
      // RESOURCE.VERSION in the core group (`services.v1`)
      if (info.group === "" && info.versions.includes(rest)) return info;
      // RESOURCE.VERSION.GROUP
      const v = rest.indexOf(".");
      if (v > 0 && rest.slice(v + 1) === info.group && info.versions.includes(rest.slice(0, v))) return info;
    }
  } else {
    const found = all.filter((info) => bareNames(info).includes(name));
    if (found.length > 0) return found.find((i) => i.group === PREFERRED_GROUP) ?? found[0];
  }
  const known = all.flatMap((i) => [...bareNames(i), resourceType(i)]);
  const hint = suggest(name, known);
  throw new UnknownResourceError(`the server doesn't have a resource type ${JSON.stringify(arg)}${hint ? ` (did you mean ${JSON.stringify(hint)}?)` : ""}`);
}

/**
 * The order kubectl's (aggregated) discovery lists kinds in, which is the order a category expands
 * to: API groups of equal priority (every CRD group) by name, then each group's versions in
 * Kubernetes' version order, a kind under the first version that serves it, kinds of one version by
 * plural name.
 */
export function discoveryOrder(infos: readonly KindInfo[], table: ReadonlyMap<string, KindInfo> = kinds()): KindInfo[] {
  const all = [...table.values()];
  const groupVersions = (group: string) => [...new Set(all.filter((k) => k.group === group).flatMap((k) => k.versions))].sort(compareKubeVersions);
  const rank = (k: KindInfo) => Math.min(...k.versions.map((v) => groupVersions(k.group).indexOf(v)));
  const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...infos].sort((a, b) => byName(a.group, b.group) || rank(a) - rank(b) || byName(a.plural, b.plural));
}

/** kubectl's category "all": Kubernetes' workload kinds (pods, services, deployments…), of which a mesh here has Services. */
export const CATEGORY_ALL = "all";

/**
 * The kinds one resource argument names: a category (`istio-io`, `networking-istio-io`,
 * `gateway-api`) is expanded first, as kubectl does, in discovery order; else one kind
 * (resolveResourceName). `all` is kubectl's category of Kubernetes' own kinds, which the CRDs here
 * are not in (as on Kubernetes): Services only.
 */
export function expandResourceArg(arg: string, table: ReadonlyMap<string, KindInfo> = kinds()): KindInfo[] {
  const name = arg.trim().toLowerCase();
  const members = [...table.values()].filter((k) => (k.categories ?? []).includes(name));
  if (members.length > 0) return discoveryOrder(members, table);
  if (name === CATEGORY_ALL) return [];
  return [resolveResourceName(arg, table)];
}

/** The store's kind a `delete KIND` argument names (resolveResourceName's, ConfigMap included). */
export function resolveKindArg(arg: string): string {
  return resolveResourceName(arg).kind;
}

/** `virtualservices.networking.istio.io` for a stored kind, `configmaps` for a ConfigMap. */
export function resourceTypeOfKind(kind: string, table: ReadonlyMap<string, KindInfo> = kinds()): string {
  const info = kindOf(kind, table);
  return info ? resourceType(info) : `${kind.toLowerCase()}s`;
}

/** The kind of a stored resource (by its internal kind name), or undefined for one tsmesh does not know. */
export function kindOf(kind: string, table: ReadonlyMap<string, KindInfo> = kinds()): KindInfo | undefined {
  return table.get(kind) ?? (kind === CONFIGMAP_INFO.kind ? CONFIGMAP_INFO : undefined);
}

type Named = { kind: string; metadata: { name: string; namespace?: string } };

/** `virtualservice.networking.istio.io/reviews`, as kubectl apply/delete print a resource. */
export function kubectlRef(r: Named, table: ReadonlyMap<string, KindInfo> = kinds()): string {
  const info = kindOf(r.kind, table);
  return info ? `${qualifiedSingular(info)}/${r.metadata.name}` : `${r.kind.toLowerCase()}/${r.metadata.name}`;
}

/**
 * `virtualservice default/reviews`, as up's console names a resource; a kind whose singular name
 * another group's kind shares carries its group (`gateway.gateway.networking.k8s.io default/x`),
 * except Istio's own, which keeps the bare name as kubectl's short names do.
 */
export function consoleRef(r: Named, table: ReadonlyMap<string, KindInfo> = kinds()): string {
  const info = table.get(r.kind);
  let name = info ? singularOf(info) : r.kind.toLowerCase();
  if (info && !info.group.endsWith("istio.io") && [...table.values()].some((k) => k !== info && singularOf(k) === name)) name = `${name}.${info.group}`;
  return `${name} ${r.metadata.namespace ?? "default"}/${r.metadata.name}`;
}
