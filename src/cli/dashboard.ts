// `tsmesh dashboard [envoy|proxy WORKLOAD | controlz | istiod-debug | prometheus]`: istioctl
// dashboard's role for a local mesh — nothing needs port-forwarding, so it prints the URLs: every
// proxy's admin, the control plane's monitoring and debug pages, Prometheus when `up --prometheus`
// runs it. With a dashboard name, just that URL (scripts can open it).
import { adminUrl, type MeshRecord } from "../local/registry.js";
import { CommandError, runCommand, targetMesh, targetWorkload, type MeshTarget } from "./mesh-target.js";
import { formatTable, machineOutput, terminalWidth } from "./output.js";

export interface DashboardOptions extends MeshTarget {
  /** envoy, proxy, controlz, istiod-debug, prometheus; undefined: all. */
  which?: string;
  workload?: string;
  output: "short" | "json" | "yaml";
}

/** istioctl dashboards tsmesh up does not run. */
const NOT_RUN = ["grafana", "kiali", "jaeger", "zipkin", "skywalking"];

export function dashboardUrl(mesh: MeshRecord, which: string, workload: string | undefined): string {
  switch (which) {
    case "envoy":
    case "proxy":
      if (!workload) throw new CommandError(`dashboard ${which} needs a WORKLOAD`, 2);
      return adminUrl(targetWorkload(mesh, workload));
    case "controlz":
    case "istiod-debug":
      if (!mesh.monitoring) throw new CommandError(`mesh ${mesh.name} runs without a monitoring port`);
      return `${mesh.monitoring}/debug`;
    case "prometheus":
      if (!mesh.prometheus) throw new CommandError(`mesh ${mesh.name} runs without Prometheus (start it with tsmesh up --prometheus)`);
      return mesh.prometheus;
    default:
      if (NOT_RUN.includes(which)) throw new CommandError(`tsmesh up does not run ${which}`);
      throw new CommandError(`unknown dashboard ${JSON.stringify(which)} (envoy WORKLOAD, proxy WORKLOAD, controlz, istiod-debug, prometheus)`, 2);
  }
}

export function dashboardRows(mesh: MeshRecord): string[][] {
  const rows = [["istiod", "monitoring", mesh.monitoring ? `${mesh.monitoring}/debug` : "(off)"]];
  if (mesh.prometheus) rows.push(["prometheus", "prometheus", mesh.prometheus]);
  for (const w of mesh.workloads) rows.push([`${w.namespace}/${w.name}`, w.role === "router" ? "gateway admin" : "envoy admin", adminUrl(w)]);
  return rows;
}

export function runDashboard(o: DashboardOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  return runCommand("dashboard", err, () => {
    const mesh = targetMesh(o);
    if (o.which !== undefined) out(dashboardUrl(mesh, o.which, o.workload));
    else {
      const rows = dashboardRows(mesh);
      out(o.output === "short" ? formatTable(["NAME", "DASHBOARD", "URL"], rows, { width: terminalWidth() }) : machineOutput(rows.map(([name, dashboard, url]) => ({ name, dashboard, url })), o.output, true));
    }
    return Promise.resolve(0);
  });
}
