// EnvoyFilters indexed for a push (Istio's EnvoyFilterWrapper / initEnvoyFilters /
// PushContext.EnvoyFilters): each patch value read once from proto JSON into the typed object of
// its applyTo (TypedStruct and `@type` Anys resolved through the descriptors), proxyVersion regexes
// compiled once; per proxy, the root namespace's filters and the proxy's namespace's, selected by
// workloadSelector or targetRefs (Istio's policy attachment), ordered by priority, root namespace
// first, creation time, name. A filter whose patches cannot be read is kept with its errors, so the
// patcher reports it instead of applying part of it.
import { RE2JS } from "@bufbuild/re2";
import type { Resource } from "../api/resource.js";
import { fromProtoJson } from "../envoy/proto-json-read.js";
import { decodeMessage, encodeMessage, type ProtoObject } from "../envoy/protos.js";
import { labelsMatch } from "../registry/model.js";
import type { Proxy } from "./proxy.js";

type Spec = Resource<"EnvoyFilter">["spec"];
type ConfigPatch = NonNullable<Spec["configPatches"]>[number];
export type ApplyTo = NonNullable<ConfigPatch["applyTo"]>;
export type PatchOperation = NonNullable<NonNullable<ConfigPatch["patch"]>["operation"]>;
export type PatchMatch = NonNullable<ConfigPatch["match"]>;
export type PatchContext = NonNullable<PatchMatch["context"]>;

/** The message type a patch value of each applyTo is (Istio's xds.BuildXDSObjectFromStruct). */
export const VALUE_TYPES: Readonly<Partial<Record<ApplyTo, string>>> = {
  LISTENER: "envoy.config.listener.v3.Listener",
  FILTER_CHAIN: "envoy.config.listener.v3.FilterChain",
  NETWORK_FILTER: "envoy.config.listener.v3.Filter",
  HTTP_FILTER: "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter",
  LISTENER_FILTER: "envoy.config.listener.v3.ListenerFilter",
  ROUTE_CONFIGURATION: "envoy.config.route.v3.RouteConfiguration",
  VIRTUAL_HOST: "envoy.config.route.v3.VirtualHost",
  HTTP_ROUTE: "envoy.config.route.v3.Route",
  CLUSTER: "envoy.config.cluster.v3.Cluster",
  EXTENSION_CONFIG: "envoy.config.core.v3.TypedExtensionConfig",
  BOOTSTRAP: "envoy.config.bootstrap.v3.Bootstrap",
};

/** applyTo kinds whose INSERT_* operations keep their meaning; any other turns them into ADD (as Istio). */
const ORDERED: ReadonlySet<ApplyTo> = new Set(["HTTP_FILTER", "NETWORK_FILTER", "HTTP_ROUTE", "LISTENER_FILTER"]);
/** Istio's wellKnownVersions: common regexes reduced to a prefix test. */
const WELL_KNOWN_VERSION = /^\^1\\\.(\d+)\.\*$/;
const MAX_PROXY_VERSION_LEN = 1024;

export interface CompiledPatch {
  filter: CompiledEnvoyFilter;
  /** Index in spec.configPatches (for field paths). */
  index: number;
  applyTo: ApplyTo;
  operation: PatchOperation;
  /** The match, `{context: "ANY"}` when the patch had none. */
  match: PatchMatch;
  context: PatchContext;
  /** The patch value as a typed object of VALUE_TYPES[applyTo] (undefined for REMOVE without value). */
  value: ProtoObject | undefined;
  /** Whether the patch matches a proxy of this Istio version (and node metadata). */
  proxyMatches(proxy: Proxy): boolean;
}

export interface CompiledEnvoyFilter {
  /** `namespace/name`. */
  key: string;
  name: string;
  namespace: string;
  priority: number;
  creationMs: number;
  resource: Resource<"EnvoyFilter">;
  patches: CompiledPatch[];
  /** Patches that cannot be read or applied by tsmesh at all, with field paths: the filter is applied to no proxy it selects. */
  errors: string[];
}

function creationMs(r: Resource<"EnvoyFilter">): number {
  const t = r.metadata.creationTimestamp ? Date.parse(r.metadata.creationTimestamp) : NaN;
  return Number.isNaN(t) ? 0 : t;
}

function versionMatcher(regex: string | undefined): (version: string) => boolean {
  if (!regex) return () => true;
  const wk = WELL_KNOWN_VERSION.exec(regex);
  if (wk) return (v) => v.startsWith(`1.${wk[1]}`);
  if (regex.length > MAX_PROXY_VERSION_LEN) return () => false; // fail closed, as Istio
  let re: RE2JS;
  try {
    re = RE2JS.compile(regex);
  } catch {
    return () => false; // validation rejects it; never match everything
  }
  // A proxy that sent no version does not match a version regex (Istio).
  return (v) => v !== "" && re.test(v);
}

function compilePatch(ef: CompiledEnvoyFilter, cp: ConfigPatch, index: number): CompiledPatch | undefined {
  const path = `spec.configPatches[${index}]`;
  if (!cp.patch) return undefined; // Istio discards a patch without a patch
  const applyTo = cp.applyTo ?? "INVALID";
  let operation = cp.patch.operation ?? "INVALID";
  if ((operation === "INSERT_BEFORE" || operation === "INSERT_AFTER" || operation === "INSERT_FIRST") && !ORDERED.has(applyTo)) operation = "ADD";
  const type = VALUE_TYPES[applyTo];
  let value: ProtoObject | undefined;
  if (!type) ef.errors.push(`${path}.applyTo: ${applyTo} is not a patchable object`);
  else if (cp.patch.value !== undefined) {
    try {
      // Read from proto JSON, then normalized by a protobuf round trip (defaults dropped as Go's
      // merge ignores them; Anys in their decoded form), which also proves it encodes.
      value = decodeMessage(type, encodeMessage(type, fromProtoJson(type, cp.patch.value, `${path}.patch.value`)));
    } catch (err) {
      const msg = (err as Error).message;
      ef.errors.push(msg.startsWith(path) ? msg : `${path}.patch.value: ${msg}`);
    }
  }
  const match: PatchMatch = cp.match ?? { context: "ANY" };
  const proxyMatch = match.proxy;
  const versionOk = versionMatcher(proxyMatch?.proxyVersion);
  return {
    filter: ef,
    index,
    applyTo,
    operation,
    match,
    context: match.context ?? "ANY",
    value,
    proxyMatches(proxy: Proxy): boolean {
      if (!proxyMatch) return true;
      if (!versionOk(proxy.istioVersion)) return false;
      for (const [k, v] of Object.entries(proxyMatch.metadata ?? {})) if (proxy.metadata[k] !== v) return false;
      return true;
    },
  };
}

/** Reads one EnvoyFilter (Istio's convertToEnvoyFilterWrapper). */
export function compileEnvoyFilter(r: Resource<"EnvoyFilter">): CompiledEnvoyFilter {
  const ef: CompiledEnvoyFilter = {
    key: `${r.metadata.namespace}/${r.metadata.name}`,
    name: r.metadata.name,
    namespace: r.metadata.namespace,
    priority: r.spec.priority ?? 0,
    creationMs: creationMs(r),
    resource: r,
    patches: [],
    errors: [],
  };
  (r.spec.configPatches ?? []).forEach((cp, i) => {
    const p = compilePatch(ef, cp, i);
    if (p) ef.patches.push(p);
  });
  return ef;
}

/** Label Gateway API gateways' deployments carry (Istio's workloadGatewayName). */
const GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";

/** Istio's WorkloadPolicyMatcher.ShouldAttachPolicy for a (non-waypoint) proxy. */
export function envoyFilterSelects(ef: CompiledEnvoyFilter, proxy: Pick<Proxy, "namespace" | "labels">): boolean {
  const spec = ef.resource.spec;
  const refs = spec.targetRefs ?? [];
  const selector = spec.workloadSelector?.labels;
  const gatewayName = proxy.labels[GATEWAY_NAME_LABEL];
  if (gatewayName === undefined) return refs.length === 0 && labelsMatch(selector, proxy.labels);
  if (refs.length === 0) return labelsMatch(selector, proxy.labels);
  if (ef.namespace !== proxy.namespace) return false;
  return refs.some(
    (t) => (t.group ?? "") === "gateway.networking.k8s.io" && t.kind === "Gateway" && t.name === gatewayName && (!t.namespace || t.namespace === proxy.namespace),
  );
}

/** The patches that apply to one proxy, in application order, with the filters they came from. */
export interface ProxyEnvoyFilters {
  filters: readonly CompiledEnvoyFilter[];
  /** Patches of those filters that match the proxy, by applyTo, in filter order then patch order. */
  patches: ReadonlyMap<ApplyTo, readonly CompiledPatch[]>;
  /** Identity of this selection (filter keys and matched patch indexes), for memoizing results. */
  key: string;
}

/** EnvoyFilters by namespace, compiled once per push. */
export class EnvoyFilterIndex {
  private readonly byNamespace = new Map<string, CompiledEnvoyFilter[]>();

  constructor(
    filters: readonly Resource<"EnvoyFilter">[],
    private readonly rootNamespace: string,
  ) {
    for (const r of filters) {
      const list = this.byNamespace.get(r.metadata.namespace) ?? [];
      list.push(compileEnvoyFilter(r));
      this.byNamespace.set(r.metadata.namespace, list);
    }
  }

  /** Every compiled filter (for analysis). */
  all(): CompiledEnvoyFilter[] {
    return [...this.byNamespace.values()].flat();
  }

  get empty(): boolean {
    return this.byNamespace.size === 0;
  }

  /** Istio's PushContext.EnvoyFilters: undefined when none selects the proxy. */
  forProxy(proxy: Proxy): ProxyEnvoyFilters | undefined {
    const root = this.rootNamespace;
    const matched = (this.byNamespace.get(root) ?? []).filter((ef) => envoyFilterSelects(ef, proxy));
    if (proxy.namespace !== root) matched.push(...(this.byNamespace.get(proxy.namespace) ?? []).filter((ef) => envoyFilterSelects(ef, proxy)));
    if (matched.length === 0) return undefined;
    matched.sort((a, b) => {
      if (a.priority !== b.priority) return a.priority - b.priority;
      if (a.namespace !== b.namespace && (a.namespace === root || b.namespace === root)) return a.namespace === root ? -1 : 1;
      if (a.creationMs !== b.creationMs) return a.creationMs - b.creationMs;
      const an = `${a.name}.${a.namespace}`;
      const bn = `${b.name}.${b.namespace}`;
      return an < bn ? -1 : an > bn ? 1 : 0;
    });
    const patches = new Map<ApplyTo, CompiledPatch[]>();
    const keyParts: string[] = [];
    for (const ef of matched) {
      const idx: number[] = [];
      for (const p of ef.patches) {
        if (!p.proxyMatches(proxy)) continue;
        idx.push(p.index);
        const list = patches.get(p.applyTo) ?? [];
        list.push(p);
        patches.set(p.applyTo, list);
      }
      keyParts.push(`${ef.key}[${idx.join(",")}]`);
    }
    return { filters: matched, patches, key: keyParts.join(";") };
  }
}
