// A CLUSTER ADD of a STRICT_DNS/LOGICAL_DNS cluster whose endpoints name a mesh hostname (the rate
// limit task's older `rate_limit_cluster` → ratelimit.default.svc.cluster.local): in Kubernetes the
// cluster DNS resolves it; tsmesh's proxy asks the system resolver, which does not know mesh
// hostnames in local mode, so the cluster gets no endpoints. Said out loud by the control plane
// and by analyze, with the mesh cluster to use instead.
import type { CompiledPatch } from "../../../model/envoyfilter.js";
import type { PushContext } from "../../../model/push-context.js";

type Obj = Record<string, unknown>;
const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

/** Why the DNS cluster a patch adds cannot resolve in local mode (one line per mesh hostname), or nothing. */
export function meshDnsHostProblems(p: CompiledPatch, push: PushContext): string[] {
  if (p.applyTo !== "CLUSTER" || p.operation !== "ADD" || !p.value) return [];
  const type = p.value.type;
  if (type !== "STRICT_DNS" && type !== "LOGICAL_DNS") return [];
  const out: string[] = [];
  const cla = (p.value.loadAssignment ?? {}) as Obj;
  for (const le of list(cla.endpoints))
    for (const lb of list(le.lbEndpoints)) {
      const host = (((lb.endpoint as Obj | undefined)?.address as Obj | undefined)?.socketAddress as Obj | undefined)?.address;
      if (typeof host !== "string") continue;
      const known = push.registry.servicesFor(host).length > 0;
      if (!known && !host.endsWith(`.svc.${push.mesh.domainSuffix}`)) continue;
      const hint = known ? `; use the mesh's own cluster (outbound|PORT||${host}), as the current istio.io task does` : "";
      out.push(
        `spec.configPatches[${p.index}].patch.value: the ${type} cluster ${String(p.value.name)} resolves ${host} with the system resolver, which does not know mesh hostnames in tsmesh's local mode (no cluster DNS): it gets no endpoints${hint}`,
      );
    }
  return out;
}
