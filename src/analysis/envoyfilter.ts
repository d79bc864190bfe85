// EnvoyFilter analysis: Istio's EnvoyPatchAnalyzer warnings (relative operations without a
// priority, operations ignored for an applyTo), and what only a mesh built from the analyzed
// resources shows: a filter that selects no proxy (`tsmesh up` runs one per WorkloadEntry, a
// gateway where a Gateway selects it), a patch whose match finds nothing in any selected proxy's
// generated config, and a filter a selected proxy would not get (with the reason).
import { IstioGenerator } from "../controlplane/generator.js";
import { ISTIO_COMPATIBLE_VERSION } from "../core/istio-version.js";
import { parseProxy, proxyNodeId, type Proxy } from "../model/proxy.js";
import { PushContext, pushInputFrom, DEFAULT_MESH_CONFIG } from "../model/push-context.js";
import { meshDnsHostProblems } from "../xds/gen/envoyfilter/dns-hosts.js";
import type { AnalysisContext } from "./analyze.js";

type Ctx = AnalysisContext;

/** Istio's EnvoyPatchAnalyzer (IST0151–IST0155), with ROUTE_CONFIGURATION only where Istio's patcher really ignores the operation. */
function patchWarnings(ctx: Ctx): void {
  let versioned: string[] = [];
  for (const at of ctx.all("EnvoyFilter")) {
    const spec = at.resource.spec;
    const relative = (i: number, name: string) => {
      if ((spec.priority ?? 0) !== 0) return;
      if (versioned.includes(name))
        ctx.report("IST0155", at, "This EnvoyFilter does not have a priority and has a relative patch operation and proxyVersion set, which can cause it not to be applied during an upgrade; use INSERT_FIRST or ADD, or set the priority.", `spec.configPatches[${i}]`);
      else ctx.report("IST0151", at, "This EnvoyFilter does not have a priority and has a relative patch operation set, which can cause it not to be applied; use INSERT_FIRST or ADD, or set the priority.", `spec.configPatches[${i}]`);
    };
    (spec.configPatches ?? []).forEach((cp, i) => {
      const op = cp.patch?.operation;
      if (!op) return;
      const value = cp.patch?.value as Record<string, unknown> | undefined;
      const name = typeof value?.name === "string" ? value.name : (cp.match?.listener?.filterChain?.filter?.name ?? "");
      if (op === "ADD" && cp.applyTo === "ROUTE_CONFIGURATION") ctx.report("IST0153", at, "The ADD operation is ignored when applyTo is ROUTE_CONFIGURATION.", `spec.configPatches[${i}].patch.operation`);
      else if (op === "REMOVE" && cp.applyTo === "ROUTE_CONFIGURATION") ctx.report("IST0154", at, "The REMOVE operation is ignored when applyTo is ROUTE_CONFIGURATION.", `spec.configPatches[${i}].patch.operation`);
      else if (op === "REPLACE" && cp.applyTo !== "HTTP_FILTER" && cp.applyTo !== "NETWORK_FILTER" && cp.applyTo !== "VIRTUAL_HOST")
        ctx.report("IST0152", at, "The REPLACE operation is only valid for HTTP_FILTER, NETWORK_FILTER and VIRTUAL_HOST.", `spec.configPatches[${i}].patch.operation`);
      else if (op === "REMOVE" || op === "REPLACE" || op === "INSERT_BEFORE" || op === "INSERT_AFTER") relative(i, name);
      if (cp.match?.proxy?.proxyVersion) versioned = [...versioned, name];
    });
  }
}

/**
 * The proxies `tsmesh up` would run for the analyzed resources: one per WorkloadEntry with an
 * address, a gateway (router) when a Gateway selects its labels, else a sidecar.
 */
function meshProxies(ctx: Ctx, push: PushContext): Proxy[] {
  const out: Proxy[] = [];
  for (const { resource: we } of ctx.all("WorkloadEntry")) {
    const address = we.spec.address;
    if (!address) continue;
    const node = (type: "sidecar" | "router") =>
      parseProxy({
        id: proxyNodeId(type, address, we.metadata.name, we.metadata.namespace),
        metadata: { NAMESPACE: we.metadata.namespace, LABELS: we.spec.labels ?? {}, INTERCEPTION_MODE: "NONE", INSTANCE_IPS: address, WORKLOAD_NAME: we.metadata.name, ISTIO_VERSION: ISTIO_COMPATIBLE_VERSION },
      });
    const sidecar = node("sidecar");
    out.push(push.gatewayServers(sidecar).length > 0 ? node("router") : sidecar);
  }
  return out;
}

/** Applies every EnvoyFilter to every proxy of the analyzed mesh and reports what has no effect. */
function effect(ctx: Ctx): void {
  const filters = ctx.all("EnvoyFilter");
  if (filters.length === 0) return;
  const resources = [...ctx.all("ServiceEntry"), ...ctx.all("WorkloadEntry"), ...ctx.all("VirtualService"), ...ctx.all("DestinationRule"), ...ctx.all("Gateway"), ...ctx.all("Sidecar"), ...ctx.all("PeerAuthentication"), ...filters].map((a) => a.resource);
  const push = new PushContext(pushInputFrom(resources), DEFAULT_MESH_CONFIG);
  const gen = new IstioGenerator();
  const selected = new Map<string, Proxy[]>();
  const usedPatches = new Set<string>();
  const withheld = new Map<string, string[]>();
  for (const proxy of meshProxies(ctx, push)) {
    const outcome = gen.envoyFiltered(proxy, push);
    if (!outcome) continue;
    for (const [ef, errs] of outcome.errors) withheld.set(ef.key, [...(withheld.get(ef.key) ?? []), `proxy ${proxy.id}: ${errs.join("; ")}`]);
    for (const ef of [...outcome.applied, ...outcome.errors.keys()]) selected.set(ef.key, [...(selected.get(ef.key) ?? []), proxy]);
    for (const p of outcome.used) usedPatches.add(`${p.filter.key}#${p.index}`);
  }
  for (const at of filters) {
    const key = `${at.resource.metadata.namespace}/${at.resource.metadata.name}`;
    const compiled = push.envoyFilters.all().find((c) => c.key === key);
    for (const p of compiled?.patches ?? []) for (const why of meshDnsHostProblems(p, push)) ctx.report("TSM0008", at, why, `spec.configPatches[${p.index}].patch.value`);
    if (!selected.has(key)) {
      ctx.report("TSM0006", at, "This EnvoyFilter selects no proxy of the mesh (namespace, workloadSelector, targetRefs): it has no effect.");
      continue;
    }
    for (const why of withheld.get(key) ?? []) ctx.report("TSM0007", at, `This EnvoyFilter is not applied to ${why}`);
    if (withheld.has(key)) continue;
    (at.resource.spec.configPatches ?? []).forEach((cp, i) => {
      if (!usedPatches.has(`${key}#${i}`)) ctx.report("TSM0006", at, `This patch (applyTo ${cp.applyTo}) matches nothing in the generated config of the ${selected.get(key)!.length} proxies the EnvoyFilter selects.`, `spec.configPatches[${i}]`);
    });
  }
}

export function analyzeEnvoyFilters(ctx: Ctx): void {
  patchWarnings(ctx);
  effect(ctx);
}
