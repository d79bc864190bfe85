// What `tsmesh up` runs, derived from plain Istio config (Istio's VM model): every WorkloadEntry
// is one workload with its own loopback address. A WorkloadEntry picked by a Gateway's selector
// runs `tsmesh proxy router`; any other runs `tsmesh proxy sidecar` plus, when it has the
// `tsmesh.io/command` annotation, its app. The sidecar owns the workload address and service
// ports; the app listens on the same ports on a private address (the workload address with the
// top bit of its second octet flipped: 127.0.2.1 → 127.128.2.1), which the sidecar forwards to.
import type { AnyResource, Resource } from "../api/resource.js";
import { gatewayDeployments, manualGateways } from "./gateway-deployments.js";
import { labelsMatch } from "../registry/model.js";
import { workloadPortFor } from "../registry/kube-service.js";
import { appMetricsTarget } from "../proxy/prometheus-merge.js";
import { appVariables, COMMAND_ANNOTATION, CommandLineError, parseCommandLine, shellCommand, SHELL_ANNOTATION, wantsShell, type ParsedCommand } from "./command-line.js";

/** The sidecar's outbound listener (Envoy's 15001), which apps reach through HTTP_PROXY. */
export const OUTBOUND_PORT = 15001;

export interface PlannedPort {
  /** The port the workload (sidecar inbound listener) and its app listen on. */
  port: number;
  name: string;
  protocol: string;
  /** Host of the ServiceEntry exposing it. */
  service: string;
}

export interface PlannedGatewayServer {
  /** `http://127.0.1.1:8080`, `https://…`, `tcp://…`. */
  url: string;
  /** The Gateway resource, `namespace/name`. */
  gateway: string;
  hosts: string[];
}

export interface PlannedWorkload {
  /** `namespace/name` of its WorkloadEntry. */
  key: string;
  name: string;
  namespace: string;
  role: "sidecar" | "router";
  address: string;
  labels: Record<string, string>;
  serviceAccount?: string;
  locality?: string;
  /** Where its app listens (sidecars only). */
  appAddress?: string;
  /** The service ports it serves, by the ServiceEntries that select it. */
  ports: PlannedPort[];
  /** The app's metrics for the agent to merge (prometheus.io/scrape, /port, /path annotations). */
  appMetrics?: { port: number; path: string };
  /** The app's command (sidecars with the annotation only). */
  command?: ParsedCommand;
  /** The annotation as written (to tell a changed command), with ` (shell)` when run by /bin/sh. */
  commandLine?: string;
  /** The variables up sets for its app (command-line.ts APP_VARIABLES). */
  appEnv?: Record<string, string>;
  /** Gateway servers it serves (routers only). */
  gatewayServers: PlannedGatewayServer[];
}

export interface PlanProblem {
  workload: string;
  message: string;
}

export interface MeshPlan {
  workloads: PlannedWorkload[];
  problems: PlanProblem[];
}

export interface PlanInput {
  workloadEntries: readonly Resource<"WorkloadEntry">[];
  serviceEntries: readonly Resource<"ServiceEntry">[];
  gateways: readonly Resource<"Gateway">[];
  /** Gateway API Gateways, GatewayClasses and ReferenceGrants: each Istio-class Gateway gets a router. */
  gatewayApi?: readonly AnyResource[];
  /**
   * The workloads running now (the last plan): an address belongs to the workload that had it
   * first, as Kubernetes never evicts a running pod for a new one.
   */
  running?: readonly PlannedWorkload[];
  /** The environment apps inherit (up's own), for `$VAR` in tsmesh.io/command beyond up's variables. */
  environment?: Readonly<Record<string, string | undefined>>;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The app's private address for a workload address in 127.0.0.0/8, or undefined. */
export function appAddressFor(address: string): string | undefined {
  const m = IPV4.exec(address);
  if (!m || m[1] !== "127") return undefined;
  const [b, c, d] = [Number(m[2]), Number(m[3]), Number(m[4])];
  if (b > 255 || c > 255 || d > 255) return undefined;
  return `127.${b ^ 0x80}.${c}.${d}`;
}

function serverScheme(protocol: string | undefined, tls: unknown): string {
  const p = (protocol ?? "").toUpperCase();
  if (p === "HTTPS" || (p === "" && tls)) return "https";
  if (p === "HTTP" || p === "HTTP2" || p === "GRPC") return "http";
  if (p === "TLS") return "tls";
  return "tcp";
}

export function planMesh(given: PlanInput): MeshPlan {
  const input = withGatewayDeployments(given);
  const problems: PlanProblem[] = [];
  const workloads: PlannedWorkload[] = [];
  const byAddress = new Map<string, string>();
  const keyOf = (we: Resource<"WorkloadEntry">) => `${we.metadata.namespace}/${we.metadata.name}`;
  // Who came first: a running workload keeps its address; newcomers follow in name order.
  const incumbent = new Set((input.running ?? []).map((w) => `${w.key}\0${w.address}`));
  const first = (we: Resource<"WorkloadEntry">) => (incumbent.has(`${keyOf(we)}\0${we.spec.address ?? ""}`) ? 0 : 1);
  const entries = [...input.workloadEntries].sort((a, b) => first(a) - first(b) || keyOf(a).localeCompare(keyOf(b)));
  for (const we of entries) {
    const key = `${we.metadata.namespace}/${we.metadata.name}`;
    const address = we.spec.address ?? "";
    const labels = { ...(we.spec.labels ?? {}) };
    const appAddress = appAddressFor(address);
    if (!appAddress) {
      problems.push({ workload: key, message: `spec.address ${JSON.stringify(address)} is not in 127.0.0.0/8; tsmesh up runs only loopback workloads (skipped)` });
      continue;
    }
    const other = byAddress.get(address);
    if (other) {
      const running = (input.running ?? []).some((w) => w.key === other && w.address === address);
      problems.push({ workload: key, message: `spec.address ${address} is taken by ${running ? "running " : ""}workload ${other}; WorkloadEntry ${key} is not started (every workload needs its own address; ${other} keeps running)` });
      continue;
    }
    byAddress.set(address, key);

    const ports: PlannedPort[] = [];
    // Service port → the workload's port (Istio's resolvePorts: a gateway listens on the target port).
    const targetOf = new Map<number, number>();
    for (const se of input.serviceEntries) {
      const sel = se.spec.workloadSelector?.labels;
      if (!sel || se.metadata.namespace !== we.metadata.namespace || !labelsMatch(sel, labels)) continue;
      for (const p of se.spec.ports ?? []) {
        if (!p.number) continue;
        const port = workloadPortFor(se, p, we.spec.ports ?? {});
        if (port === undefined) continue; // a Service's named targetPort this workload does not have
        if (!targetOf.has(p.number)) targetOf.set(p.number, port);
        if (ports.some((x) => x.port === port)) continue;
        ports.push({ port, name: p.name ?? "", protocol: p.protocol ?? "", service: se.spec.hosts?.[0] ?? se.metadata.name });
      }
    }

    const gatewayServers: PlannedGatewayServer[] = [];
    for (const gw of input.gateways) {
      const selector = gw.spec.selector;
      if (!selector || Object.keys(selector).length === 0 || !labelsMatch(selector, labels)) continue;
      for (const server of gw.spec.servers ?? []) {
        const port = server.port?.number;
        if (!port) continue;
        const url = `${serverScheme(server.port?.protocol, server.tls)}://${address}:${targetOf.get(port) ?? port}`;
        const hosts = (server.hosts ?? []).map((h) => h.slice(h.indexOf("/") + 1));
        gatewayServers.push({ url, gateway: `${gw.metadata.namespace}/${gw.metadata.name}`, hosts });
      }
    }
    const role = gatewayServers.length > 0 ? "router" : "sidecar";

    let command: ParsedCommand | undefined;
    let shell = false;
    const commandLine = we.metadata.annotations?.[COMMAND_ANNOTATION];
    const appEnv = appVariables({ name: we.metadata.name, namespace: we.metadata.namespace, address, appAddress, ports: ports.map((p) => p.port), serviceAccount: we.spec.serviceAccount, proxyUrl: `http://${address}:${OUTBOUND_PORT}` });
    if (commandLine !== undefined && role === "sidecar") {
      let field = SHELL_ANNOTATION;
      try {
        shell = wantsShell(we.metadata.annotations?.[SHELL_ANNOTATION]);
        field = COMMAND_ANNOTATION;
        const env = input.environment ?? {};
        command = shell ? shellCommand(commandLine) : parseCommandLine(commandLine, (name) => appEnv[name] ?? env[name]);
      } catch (e) {
        if (!(e instanceof CommandLineError)) throw e;
        problems.push({ workload: key, message: `metadata.annotations["${field}"]: ${e.message} (the sidecar runs without its app)` });
      }
    } else if (commandLine !== undefined) {
      problems.push({ workload: key, message: `metadata.annotations["${COMMAND_ANNOTATION}"] is ignored: a Gateway selects this workload, so it runs the gateway proxy` });
    }

    workloads.push({
      key,
      name: we.metadata.name,
      namespace: we.metadata.namespace,
      role,
      address,
      labels,
      serviceAccount: we.spec.serviceAccount,
      locality: we.spec.locality,
      appAddress: role === "sidecar" ? appAddress : undefined,
      appMetrics: role === "sidecar" ? appMetricsOf(we.metadata.annotations ?? {}) : undefined,
      ports,
      command,
      commandLine: command ? `${commandLine}${shell ? " (shell)" : ""}` : undefined,
      appEnv: command ? appEnv : undefined,
      gatewayServers,
    });
  }
  // A workload whose app address is another workload's address would collide.
  for (const w of workloads) {
    const clash = w.appAddress && byAddress.get(w.appAddress);
    if (clash) problems.push({ workload: w.key, message: `its app address ${w.appAddress} is ${clash}'s workload address; move one of them` });
  }
  return { workloads, problems };
}

/** Adds the router workloads Istio would deploy for Gateway API gateways, and their converted Gateways (manually deployed ones' too). */
function withGatewayDeployments(input: PlanInput): PlanInput {
  const all = [...(input.gatewayApi ?? []), ...input.workloadEntries, ...input.serviceEntries];
  const deployed = gatewayDeployments(all);
  const manual = manualGateways(all);
  if (deployed.length === 0 && manual.length === 0) return input;
  return {
    ...input,
    workloadEntries: [...input.workloadEntries, ...deployed.map((d) => d.workloadEntry)],
    gateways: [...input.gateways, ...deployed.flatMap((d) => d.gateways), ...manual],
  };
}

/** Whether two plans of one workload need its processes restarted. */
export function sameWorkload(a: PlannedWorkload, b: PlannedWorkload): boolean {
  return (
    a.role === b.role &&
    a.address === b.address &&
    a.commandLine === b.commandLine &&
    a.locality === b.locality &&
    a.serviceAccount === b.serviceAccount &&
    JSON.stringify(a.labels) === JSON.stringify(b.labels) &&
    JSON.stringify(a.ports.map((p) => p.port)) === JSON.stringify(b.ports.map((p) => p.port))
  );
}

/** The app's metrics port and path from Istio's prometheus.io annotations (undefined: not scraped). */
function appMetricsOf(annotations: Readonly<Record<string, string>>): { port: number; path: string } | undefined {
  const t = appMetricsTarget(annotations, "");
  return t && { port: t.port, path: t.path };
}
