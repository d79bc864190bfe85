// kubectl's names for the mesh's kinds: what `tsmesh get|delete KIND` accepts (plural, singular,
// short names from the CRDs, the Kind itself, and the RESOURCE.GROUP forms) and how apply/delete
// name a resource in their output (`virtualservice.networking.istio.io/reviews`).
import { kinds, type KindInfo } from "./kinds.js";
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

/** `virtualservices.networking.istio.io`: the resource type as kubectl's errors name it. */
export function resourceType(info: KindInfo): string {
  return `${info.plural}.${info.group}`;
}

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
  const all = [...table.values()];
  const dot = name.indexOf(".");
  if (dot > 0) {
    const head = name.slice(0, dot);
    const rest = name.slice(dot + 1);
    for (const info of all) {
      if (!bareNames(info).includes(head)) continue;
      if (rest === info.group) return info;
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

/** kubectl's names for core/v1 ConfigMaps (the mesh config ConfigMap is applied and listed too). */
const CONFIGMAP_NAMES = new Set(["configmaps", "configmap", "cm", "configmaps.v1"]);

/**
 * The store's kind a `get|delete KIND` argument names: an Istio (or Gateway API) kind as
 * resolveResourceName finds it, or "ConfigMap" for kubectl's ConfigMap names.
 */
export function resolveKindArg(arg: string): string {
  return CONFIGMAP_NAMES.has(arg.trim().toLowerCase()) ? "ConfigMap" : resolveResourceName(arg).kind;
}

/** `virtualservices.networking.istio.io` for an Istio kind, `configmaps` for a ConfigMap (the core group has no suffix). */
export function resourceTypeOfKind(kind: string, table: ReadonlyMap<string, KindInfo> = kinds()): string {
  const info = table.get(kind);
  return info ? resourceType(info) : `${kind.toLowerCase()}s`;
}

/** The kind of a stored resource (by its internal kind name), or undefined for one tsmesh does not know. */
export function kindOf(kind: string, table: ReadonlyMap<string, KindInfo> = kinds()): KindInfo | undefined {
  return table.get(kind);
}

type Named = { kind: string; metadata: { name: string; namespace?: string } };

/** `virtualservice.networking.istio.io/reviews`, as kubectl apply/delete print a resource. */
export function kubectlRef(r: Named, table: ReadonlyMap<string, KindInfo> = kinds()): string {
  const info = table.get(r.kind);
  return info ? `${singularOf(info)}.${info.group}/${r.metadata.name}` : `${r.kind.toLowerCase()}/${r.metadata.name}`;
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
