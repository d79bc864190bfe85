// `tsmesh proxy-config cluster|listener|route|endpoint|secret|bootstrap|log|all WORKLOAD`: istioctl's
// proxy-config for a workload of a running mesh (found through the registry) or any proxy's admin
// (--admin URL): reads the proxy's /config_dump (/clusters for endpoints, /logging for log levels),
// applies istioctl's filters and prints istioctl's tables (-o short) or the selected resources
// (-o json|yaml).
import { adminUrl } from "../local/registry.js";
import { workloadAdminUrl } from "./exec.js";
import { dumpedClusters, dumpedListeners, dumpedRoutes, dumpSection, field, type DumpedResource, type Json } from "./config-dump.js";
import { CommandError, httpJson, httpText, runCommand, targetMesh, targetWorkload, type MeshTarget } from "./mesh-target.js";
import { formatTable, machineOutput, terminalWidth } from "./output.js";
import {
  CLUSTER_HEAD,
  clusterRow,
  ENDPOINT_HEAD,
  endpointCells,
  endpointRows,
  LISTENER_HEAD,
  listenerRows,
  ROUTE_HEAD,
  routeRows,
  selectClusters,
  selectListeners,
  selectRoutes,
  type ClusterFilter,
  type EndpointFilter,
  type ListenerFilter,
  type RouteFilter,
} from "./proxy-config-tables.js";
import { SECRET_HEAD, secretCells, secretRows, secretsDump } from "./proxy-config-secret.js";

export const PROXY_CONFIG_KINDS = ["cluster", "listener", "route", "endpoint", "secret", "bootstrap", "log", "all"] as const;
export type ProxyConfigKind = (typeof PROXY_CONFIG_KINDS)[number];

/** istioctl's names and aliases for each kind. */
const KIND_ALIASES: Record<string, ProxyConfigKind> = {
  cluster: "cluster", clusters: "cluster", c: "cluster",
  listener: "listener", listeners: "listener", l: "listener",
  route: "route", routes: "route", r: "route",
  endpoint: "endpoint", endpoints: "endpoint", ep: "endpoint",
  secret: "secret", secrets: "secret", s: "secret",
  bootstrap: "bootstrap", b: "bootstrap",
  log: "log", o: "log",
  all: "all", a: "all",
}; // prettier-ignore

export function proxyConfigKind(arg: string | undefined): ProxyConfigKind | undefined {
  return arg === undefined ? undefined : KIND_ALIASES[arg];
}

export interface ProxyConfigOptions extends MeshTarget {
  kind: ProxyConfigKind;
  workload: string;
  output: "short" | "json" | "yaml";
  /** The proxy's admin URL, instead of finding the workload in a running mesh. */
  admin?: string;
  /** WorkloadEntry folders to find the workload in, instead of the running mesh. */
  config?: string[];
  cluster?: ClusterFilter;
  listener?: ListenerFilter;
  route?: RouteFilter;
  endpoint?: EndpointFilter;
  /** `log --level`: Envoy's level for all loggers, or NAME:LEVEL,… for some. */
  level?: string;
}

/** Resources as -o json/yaml print them: the resource itself, without the Any's @type. */
function bare(rs: readonly DumpedResource[]): Json[] {
  return rs.map((r) => Object.fromEntries(Object.entries(r.resource).filter(([k]) => k !== "@type")));
}

/** The filters given, for the table's caption when nothing matches. */
const anyFilter = (f: object | undefined) => !!f && Object.values(f).some((v) => v !== undefined && v !== "" && v !== 0);

/** The lines proxy-config prints for one kind (endpoints and logs read their own admin pages). */
export async function proxyConfigOutput(o: ProxyConfigOptions, admin: string, dump: unknown): Promise<string> {
  const width = terminalWidth();
  const table = (head: string[], rows: string[][], gap = 5) => formatTable(head, rows, { gap, width });
  const machine = (v: unknown) => machineOutput(v, o.output as "json" | "yaml", true);
  switch (o.kind) {
    case "cluster": {
      const cs = selectClusters(dumpedClusters(dump), o.cluster ?? {});
      if (cs.length === 0 && !anyFilter(o.cluster)) throw new CommandError("no clusters found");
      return o.output === "short" ? table(CLUSTER_HEAD, cs.map((c) => clusterRow(c.resource))) : machine(bare(cs));
    }
    case "listener": {
      const ls = selectListeners(dumpedListeners(dump), o.listener ?? {});
      if (ls.length === 0 && !anyFilter(o.listener)) throw new CommandError("no listeners found");
      return o.output === "short" ? table(LISTENER_HEAD, ls.flatMap((l) => listenerRows(l.resource)), 1) : machine(bare(ls));
    }
    case "route": {
      const rs = selectRoutes(dumpedRoutes(dump), o.route ?? {});
      return o.output === "short" ? table(ROUTE_HEAD, rs.flatMap((r) => routeRows(r.resource))) : machine(bare(rs));
    }
    case "endpoint": {
      const clusters = await httpJson<unknown>(`${admin}/clusters?format=json`, `${o.workload}'s proxy admin`);
      const rows = endpointRows(clusters, o.endpoint ?? {});
      if (o.output === "short") return table(ENDPOINT_HEAD, rows.map(endpointCells));
      const names = new Set(rows.map((r) => r.cluster));
      return machine((field(clusters, "cluster_statuses") as Json[] | undefined)?.filter((c) => names.has(String(c.name))) ?? []);
    }
    case "secret": {
      const s = secretsDump(dump);
      return o.output === "short" ? table(SECRET_HEAD, secretRows(s).map(secretCells)) : machine(s);
    }
    case "bootstrap": {
      // istioctl prints the bootstrap as JSON unless asked for YAML.
      const b = dumpSection(dump, "BootstrapConfigDump") ?? {};
      return machineOutput(b, o.output === "yaml" ? "yaml" : "json", true);
    }
    case "log": {
      const q = o.level === undefined ? "" : o.level.includes(":") ? `?paths=${encodeURIComponent(o.level)}` : `?level=${encodeURIComponent(o.level)}`;
      // Envoy's /logging changes state, so it answers POST only (with or without a change).
      return (await httpText(`${admin}/logging${q}`, `${o.workload}'s proxy admin`, { method: "POST" })).trimEnd();
    }
    case "all": {
      if (o.output !== "short") return machine(dump);
      return fullSummary(o, admin, dump, width);
    }
  }
}

/**
 * istioctl's `proxy-config all` summary: a section per kind under `------ KIND INFO ------`, the
 * tables with a NAME column saying what each row is (`cluster/…`, `listener/…`, `route/…`).
 */
async function fullSummary(o: ProxyConfigOptions, admin: string, dump: unknown, width: number | undefined): Promise<string> {
  const node = field(dumpSection(dump, "BootstrapConfigDump")?.bootstrap, "node");
  const istioVersion = field(field(node, "metadata"), "ISTIO_VERSION");
  const bootstrap = [typeof istioVersion === "string" ? `Istio Version: ${istioVersion}` : "", `Node: ${String(field(node, "id") ?? "")}`].filter(Boolean).join("\n");
  const cs = selectClusters(dumpedClusters(dump), o.cluster ?? {});
  const ls = selectListeners(dumpedListeners(dump), o.listener ?? {});
  const rs = selectRoutes(dumpedRoutes(dump), o.route ?? {});
  const routeRowsNamed = rs.flatMap((r) => routeRows(r.resource).map(([, ...rest]) => [`route/${r.name}`, ...rest]));
  const sections: Array<[string, string]> = [
    ["BOOTSTRAP INFO", bootstrap],
    ["CLUSTER INFO", formatTable(["NAME", ...CLUSTER_HEAD], cs.map((c) => [`cluster/${c.name}`, ...clusterRow(c.resource)]), { width })],
    ["LISTENER INFO", formatTable(["NAME", ...LISTENER_HEAD], ls.flatMap((l) => listenerRows(l.resource).map((row) => [`listener/${l.name}`, ...row])), { gap: 1, width })],
    ["ROUTE INFO", formatTable(ROUTE_HEAD, routeRowsNamed, { width })],
    ["SECRET INFO", formatTable(SECRET_HEAD, secretRows(secretsDump(dump)).map(secretCells), { width })],
    ["ENDPOINTS INFO", await proxyConfigOutput({ ...o, kind: "endpoint" }, admin, dump)],
  ];
  return sections.map(([h, body]) => `------ ${h} ------\n\n${body}`).join("\n\n");
}

/** The admin URL: --admin, else the workload's in --config's WorkloadEntries, else in the running mesh. */
export function proxyAdmin(o: Pick<ProxyConfigOptions, "admin" | "workload" | "name" | "stateDir" | "config">): string {
  if (o.admin !== undefined) return o.admin.replace(/\/$/, "");
  if (o.config?.length) {
    const found = workloadAdminUrl({ config: o.config }, o.workload, "proxy-config");
    if ("error" in found) throw new CommandError(found.error.replace(/^tsmesh proxy-config: /, ""), 2);
    return found.url;
  }
  return adminUrl(targetWorkload(targetMesh(o), o.workload));
}

export function runProxyConfig(o: ProxyConfigOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  return runCommand("proxy-config", err, async () => {
    const admin = proxyAdmin(o);
    const dump = o.kind === "log" || o.kind === "endpoint" ? undefined : await httpJson<unknown>(`${admin}/config_dump`, `${o.workload}'s proxy admin`);
    out(await proxyConfigOutput(o, admin, dump));
    return 0;
  });
}
