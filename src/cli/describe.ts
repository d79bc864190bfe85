// `tsmesh describe pod|workload NAME` and `tsmesh describe service NAME`: istioctl x describe for a
// running mesh — the effective config from istiod's /debug/configz, the mesh's root namespace from
// /debug/mesh, the workloads (and their labels, from their WorkloadEntries) from the registry; the
// content is describe-model.ts's.
import type { AnyResource, Resource } from "../api/resource.js";
import { meshWorkload, type MeshRecord } from "../local/registry.js";
import { describeService, describeWorkload, fqdn, proxyView, type DescribeInput, type DescribeWorkload, type ProxyView } from "./describe-model.js";
import { CommandError, httpJson, monitoringUrl, proxyConfigDump, runCommand, targetMesh, type MeshTarget } from "./mesh-target.js";

export interface DescribeOptions extends MeshTarget {
  what: "workload" | "service";
  ref: string;
}

/** `pod`, `po`, `workload`, `svc`, `service`: istioctl's resource words. */
export function describeWhat(arg: string | undefined): DescribeOptions["what"] | undefined {
  if (arg === "pod" || arg === "pods" || arg === "po" || arg === "workload" || arg === "workloads") return "workload";
  if (arg === "service" || arg === "services" || arg === "svc") return "service";
  return undefined;
}

/** NAME, NAME.NAMESPACE or NAMESPACE/NAME → [namespace?, name]. */
function splitRef(ref: string): [string | undefined, string] {
  if (ref.includes("/")) {
    const [ns, name] = ref.split("/", 2);
    return [ns, name];
  }
  const dot = ref.indexOf(".");
  return dot > 0 ? [ref.slice(dot + 1), ref.slice(0, dot)] : [undefined, ref];
}

export async function describeInput(mesh: MeshRecord): Promise<DescribeInput> {
  const base = monitoringUrl(mesh);
  const [resources, meshConfig] = await Promise.all([
    httpJson<AnyResource[]>(`${base}/debug/configz`, "the control plane's monitoring port"),
    httpJson<{ rootNamespace?: string }>(`${base}/debug/mesh`, "the control plane's monitoring port"),
  ]);
  const entries = resources.filter((r): r is Resource<"WorkloadEntry"> => r.kind === "WorkloadEntry");
  const workloads: DescribeWorkload[] = mesh.workloads.map((w) => {
    const we = entries.find((e) => e.metadata.name === w.name && (e.metadata.namespace ?? "default") === w.namespace);
    return { name: w.name, namespace: w.namespace, role: w.role, address: w.address, labels: { ...(we?.spec.labels ?? {}) } };
  });
  return { resources, workloads, rootNamespace: meshConfig.rootNamespace ?? "istio-system" };
}

/** The workload a reference names. */
export function describedWorkload(ref: string, input: DescribeInput): DescribeWorkload {
  const [ns, name] = splitRef(ref);
  const w = input.workloads.find((x) => x.name === name && (ns === undefined || x.namespace === ns));
  if (!w) throw new CommandError(`no workload ${JSON.stringify(ref)} (workloads: ${input.workloads.map((x) => `${x.namespace}/${x.name}`).join(", ")})`, 2);
  return w;
}

export function describeLines(o: Pick<DescribeOptions, "what" | "ref">, input: DescribeInput, proxy?: ProxyView): string[] {
  const [ns, name] = splitRef(o.ref);
  if (o.what === "workload") return describeWorkload(describedWorkload(o.ref, input), input, proxy);
  const ses = input.resources.filter((r): r is Resource<"ServiceEntry"> => r.kind === "ServiceEntry");
  // By the ServiceEntry's name, or by a host (short names in the namespace given, default "default").
  const se =
    ses.find((s) => s.metadata.name === name && (ns === undefined || (s.metadata.namespace ?? "default") === ns)) ??
    ses.find((s) => (s.spec.hosts ?? []).some((h) => fqdn(h, s.metadata.namespace ?? "default") === fqdn(name, ns ?? "default") || h === o.ref));
  if (!se) throw new CommandError(`no service ${JSON.stringify(o.ref)} (no ServiceEntry of that name or host)`, 2);
  return describeService(se, input);
}

export function runDescribe(o: DescribeOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  return runCommand("describe", err, async () => {
    const mesh = targetMesh(o);
    const input = await describeInput(mesh);
    let proxy: ProxyView | undefined;
    if (o.what === "workload") {
      const w = describedWorkload(o.ref, input);
      proxy = proxyView(await proxyConfigDump(meshWorkload(mesh, `${w.namespace}/${w.name}`)!), w.address);
    }
    out(describeLines(o, input, proxy).join("\n"));
    return 0;
  });
}
