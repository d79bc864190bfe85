// The `tsmesh` command. Only the CLI wires modules together; each subcommand lives in its own file.
import cluster from "node:cluster";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { SERVER_SIDE_REFUSAL } from "../config/managed-fields.js";
import { parseGoDuration } from "../core/go-duration.js";
import { defaultStateDir, packageRoot } from "../core/paths.js";
import { tsmeshVersion } from "../core/tsmesh-version.js";
import { checkMeshName, stateDirForName } from "../local/registry.js";
import type { AgentFlags } from "../agent/start.js";
import { parseJwksFetchMode, type JwksFetchMode } from "../model/request-authentication.js";
import { type AppMetricsTarget, parseAppMetrics } from "../proxy/prometheus-merge.js";
import { USAGE } from "./usage.js";
// Subcommands are imported when run: a proxy or an app started by `tsmesh up` loads only its own code.

/** -o for the operating commands: istioctl's short (table), json, yaml. */
function machineFormat(v: string | undefined, cmd: string): "short" | "json" | "yaml" {
  if (v === undefined || v === "short" || v === "table") return "short";
  if (v === "json" || v === "yaml") return v;
  throw new UsageError(`${cmd}: -o ${v}: use short, json or yaml`);
}

/** --name / --state-dir, the running mesh a command talks to (src/local/registry.ts). */
const MESH_FLAGS = { name: { type: "string" }, "state-dir": { type: "string" } } as const;
const meshTarget = (values: { name?: string; "state-dir"?: string }) => ({ name: values.name, stateDir: values["state-dir"] });

function outputFormat(v: string | undefined): "text" | "json" {
  if (v === undefined || v === "text") return "text";
  if (v === "json") return "json";
  throw new UsageError(`unknown output format ${JSON.stringify(v)} (use text or json)`);
}

class UsageError extends Error {}

/** Flags `discovery` and `up` share: config paths and the control plane's addresses. */
const CONTROL_PLANE_FLAGS = {
  config: { type: "string", multiple: true },
  "xds-address": { type: "string" },
  "monitoring-address": { type: "string" },
  "mesh-config": { type: "string" },
  "state-dir": { type: "string" },
  cacerts: { type: "string" },
  "secure-xds-address": { type: "string" },
  "ca-key-type": { type: "string" },
  "credentials-dir": { type: "string" },
  "jwks-fetch-mode": { type: "string" },
} as const;

/** --jwks-fetch-mode (Istio's PILOT_JWT_ENABLE_REMOTE_JWKS values, true/false included). */
function jwksFetchModeFlag(v: string | undefined): JwksFetchMode | undefined {
  if (v === undefined) return undefined;
  const mode = parseJwksFetchMode(v);
  if (!mode) throw new UsageError(`--jwks-fetch-mode ${JSON.stringify(v)}: use hybrid, istiod or envoy`);
  return mode;
}

/** The mesh CA's flags, shared by `discovery` and `up`. */
function securityFlags(values: { "state-dir"?: string; cacerts?: string; "secure-xds-address"?: string; "ca-key-type"?: string }) {
  const keyType = values["ca-key-type"];
  if (keyType !== undefined && keyType !== "EC" && keyType !== "RSA") throw new UsageError("--ca-key-type must be EC or RSA");
  return {
    stateDir: values["state-dir"] ?? defaultStateDir(),
    cacertsDir: values.cacerts,
    secureXdsAddress: values["secure-xds-address"],
    caKeyType: keyType as "EC" | "RSA" | undefined,
  };
}

/** `k=v,k2=v2` (the --labels flag). */
/** --app-metrics PORT[/PATH]: the app's metrics the agent merges on 15020. */
function appMetricsFlag(v: string | undefined, host: string): AppMetricsTarget | undefined {
  if (v === undefined) return undefined;
  const t = parseAppMetrics(v, host);
  if (t instanceof Error) throw new UsageError(t.message);
  return t;
}

export function parseLabels(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (s ?? "").split(",").filter(Boolean)) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new UsageError(`--labels: ${JSON.stringify(part)} is not key=value`);
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** The proxy's agent flags (pilot-agent's role; all but --ca-address need it). */
const AGENT_FLAGS = {
  "ca-address": { type: "string" },
  "ca-root-cert": { type: "string" },
  "credential-file": { type: "string" },
  "service-account": { type: "string" },
  "trust-domain": { type: "string" },
  "cert-ttl": { type: "string" },
  "key-type": { type: "string" },
} as const;

/** The agent's settings from the proxy's flags; undefined without --ca-address (no agent). */
export function agentFlags(values: Partial<Record<keyof typeof AGENT_FLAGS, string>>, namespace: string): AgentFlags | undefined {
  const caAddress = values["ca-address"];
  if (caAddress === undefined) {
    // Never silent: a flag that would do nothing without the agent is an error.
    const stray = (Object.keys(AGENT_FLAGS) as (keyof typeof AGENT_FLAGS)[]).find((f) => values[f] !== undefined);
    if (stray) throw new UsageError(`--${stray} has no effect without --ca-address`);
    return undefined;
  }
  const hp = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(caAddress);
  if (!hp || Number(hp[2]) < 1 || Number(hp[2]) > 65535) throw new UsageError(`--ca-address must be HOST:PORT, got ${JSON.stringify(caAddress)}`);
  const caRootCert = values["ca-root-cert"];
  const credentialFile = values["credential-file"];
  if (caRootCert === undefined || credentialFile === undefined) throw new UsageError("--ca-address needs --ca-root-cert (the mesh roots) and --credential-file (the workload's token)");
  const ttl = values["cert-ttl"] ?? "24h";
  const ttlMs = parseGoDuration(ttl);
  if (ttlMs === undefined || ttlMs < 1000) throw new UsageError(`--cert-ttl must be a duration of at least 1s (e.g. 24h), got ${JSON.stringify(ttl)}`);
  const keyType = values["key-type"] ?? "EC";
  if (keyType !== "EC" && keyType !== "RSA") throw new UsageError(`--key-type must be EC (P-256) or RSA (2048), got ${JSON.stringify(keyType)}`);
  return {
    caAddress,
    caRootCert,
    credentialFile,
    serviceAccount: values["service-account"] ?? "default",
    namespace,
    trustDomain: values["trust-domain"] ?? "cluster.local",
    // Sent as whole seconds, as Istio's agent sends validity_duration.
    ttlSeconds: Math.floor(ttlMs / 1000),
    keyType,
  };
}

/**
 * Processes `tsmesh up` starts get an IPC channel and TSMESH_EXIT_WITH_PARENT=1: when `up` goes
 * away without stopping them (killed), the channel closes and they stop as on SIGTERM.
 */
function exitWithParent(): void {
  // A `--concurrency` worker's channel is its primary's (node deletes NODE_UNIQUE_ID from a worker's env).
  if (process.env.TSMESH_EXIT_WITH_PARENT !== "1" || !process.channel || cluster.isWorker) return;
  process.channel.unref();
  process.once("disconnect", () => process.kill(process.pid, "SIGTERM"));
}

/** kubectl's habit: an expected failure (missing file, unknown resource type, no mesh) is one `error:` line, exit 1. */
function kubectlErrors(p: Promise<number>, err: (s: string) => void): Promise<number> {
  return p.catch((e: unknown) => {
    // Matched by name: the modules defining them are imported when the command runs.
    const known = ["UnknownResourceError", "MeshNotFoundError", "ManifestError", "PrinterColumnError"].includes((e as Error).constructor?.name);
    if (!known) throw e;
    err(`error: ${(e as Error).message}`);
    return 1;
  });
}

export function main(argv: string[], out: (s: string) => void = console.log, err: (s: string) => void = console.error): number | Promise<number> {
  const [cmd, ...rest] = argv;
  exitWithParent();
  /** A usage error found after a subcommand's module loaded: the same message and exit code as one found before. */
  const usageAfterLoad = (p: Promise<number>) =>
    p.catch((e: unknown) => {
      if (!(e instanceof UsageError)) throw e;
      err(`tsmesh: ${e.message}\n\n${USAGE}`);
      return 2;
    });
  try {
    switch (cmd) {
      case "validate": {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: { output: { type: "string", short: "o" }, "ignore-unknown": { type: "boolean" } },
        });
        if (positionals.length === 0) throw new UsageError("validate needs at least one file or folder");
        const options = { output: outputFormat(values.output), ignoreUnknown: values["ignore-unknown"] ?? false };
        return import("./validate.js").then((m) => m.runValidate(positionals, options, out));
      }
      case "analyze": {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: { output: { type: "string", short: "o" }, "failure-threshold": { type: "string" }, "mesh-config": { type: "string" }, live: { type: "boolean" }, ...MESH_FLAGS },
        });
        if (values.live && positionals.length > 0) throw new UsageError("analyze --live takes no files (it analyzes the running mesh)");
        if (positionals.length === 0 && values["mesh-config"] !== undefined) throw new UsageError("analyze of the running mesh uses its own mesh config (--mesh-config is for files)");
        const threshold = values["failure-threshold"] ?? "Error";
        if (!["Error", "Warning", "Info"].includes(threshold)) throw new UsageError(`--failure-threshold must be Error, Warning or Info`);
        const options = { output: outputFormat(values.output), failureThreshold: threshold as "Error" | "Warning" | "Info", meshConfigFile: values["mesh-config"], ...meshTarget(values) };
        return import("./analyze.js").then((m) => m.runAnalyze(positionals, options, out));
      }
      case "discovery": {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: CONTROL_PLANE_FLAGS,
        });
        const config = [...(values.config ?? []), ...positionals];
        if (config.length === 0) throw new UsageError("discovery needs --config DIR");
        const options = {
          config,
          xdsAddress: values["xds-address"] ?? "127.0.0.1:15010",
          monitoringAddress: values["monitoring-address"] ?? "127.0.0.1:15014",
          meshConfigFile: values["mesh-config"],
          ...securityFlags(values),
          credentialsDir: values["credentials-dir"],
          jwksFetchMode: jwksFetchModeFlag(values["jwks-fetch-mode"]),
        };
        return import("./discovery.js").then((m) => m.runDiscovery(options, out, err));
      }
      case "proxy": {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: {
            "discovery-address": { type: "string" },
            ip: { type: "string" },
            name: { type: "string" },
            namespace: { type: "string" },
            labels: { type: "string" },
            locality: { type: "string" },
            concurrency: { type: "string" },
            bootstrap: { type: "string" },
            "access-log": { type: "string" },
            "admin-port": { type: "string" },
            "health-port": { type: "string" },
            xds: { type: "string" },
            "app-address": { type: "string" },
            "prometheus-port": { type: "string" },
            "status-port": { type: "string" },
            "app-metrics": { type: "string" },
            "log-level": { type: "string" },
            "component-log-level": { type: "string" },
            ...AGENT_FLAGS,
          },
        });
        const type = positionals[0];
        if (type !== "sidecar" && type !== "router") throw new UsageError("proxy needs sidecar or router");
        const ip = values.ip ?? "127.0.0.1";
        const num = (v: string | undefined, d: number, flag: string) => {
          if (v === undefined) return d;
          const n = Number(v);
          if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag} must be a port or count, got ${JSON.stringify(v)}`);
          return n;
        };
        const xds = values.xds;
        if (xds !== undefined && xds !== "delta" && xds !== "sotw") throw new UsageError("--xds must be delta or sotw");
        const labels = parseLabels(values.labels);
        const namespace = values.namespace ?? (type === "router" ? "istio-system" : "default");
        const options = {
          type,
          discoveryAddress: values["discovery-address"],
          ip,
          name: values.name ?? (type === "router" ? "istio-ingressgateway" : "workload"),
          namespace,
          labels,
          locality: values.locality,
          concurrency: num(values.concurrency, 2, "--concurrency"),
          bootstrap: values.bootstrap,
          accessLog: values["access-log"],
          adminPort: values["admin-port"] === undefined ? undefined : num(values["admin-port"], 15000, "--admin-port"),
          healthPort: values["health-port"] === undefined ? undefined : num(values["health-port"], 15021, "--health-port"),
          xdsProtocol: xds as "delta" | "sotw" | undefined,
          appAddress: values["app-address"],
          prometheusPort: values["prometheus-port"] === undefined ? undefined : num(values["prometheus-port"], 15090, "--prometheus-port"),
          agentPort: values["status-port"] === undefined ? undefined : num(values["status-port"], 15020, "--status-port"),
          appMetrics: appMetricsFlag(values["app-metrics"], values["app-address"] ?? "127.0.0.1"),
          logLevel: values["log-level"],
          componentLogLevel: values["component-log-level"],
          agent: agentFlags(values, namespace),
        } as const;
        return import("./proxy.js").then((m) => m.runProxy(options, out, err));
      }
      case "up": {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: {
            ...CONTROL_PLANE_FLAGS,
            "log-dir": { type: "string" },
            concurrency: { type: "string" },
            "workload-cert-ttl": { type: "string" },
            prometheus: { type: "boolean" },
            "prometheus-address": { type: "string" },
            "prometheus-scrape-interval": { type: "string" },
            name: { type: "string" },
          },
        });
        if (positionals.length > 1) throw new UsageError("up takes one folder (use --config for more)");
        const meshName = values.name ?? "default";
        const badName = checkMeshName(meshName);
        if (badName) throw new UsageError(badName);
        if (!values.prometheus && (values["prometheus-address"] !== undefined || values["prometheus-scrape-interval"] !== undefined)) throw new UsageError("--prometheus-address and --prometheus-scrape-interval need --prometheus");
        const scrapeMs = values["prometheus-scrape-interval"] === undefined ? 15_000 : parseGoDuration(values["prometheus-scrape-interval"]);
        if (scrapeMs === undefined || scrapeMs < 1000 || scrapeMs % 1000 !== 0) throw new UsageError(`--prometheus-scrape-interval ${JSON.stringify(values["prometheus-scrape-interval"])}: use whole seconds, at least 1s, e.g. 15s`);
        const certTtl = values["workload-cert-ttl"];
        if (certTtl !== undefined && (parseGoDuration(certTtl) ?? 0) < 1000) throw new UsageError(`--workload-cert-ttl ${JSON.stringify(certTtl)}: use a Go duration of at least 1s, e.g. 24h or 90m`);
        const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
        if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)) throw new UsageError("--concurrency must be 1..64");
        const options = {
          dir: positionals[0] ?? join(packageRoot(), "examples/bookinfo"),
          extraConfig: values.config ?? [],
          xdsAddress: values["xds-address"],
          monitoringAddress: values["monitoring-address"],
          meshConfigFile: values["mesh-config"],
          credentialsDir: values["credentials-dir"],
          logDir: values["log-dir"],
          concurrency,
          workloadCertTtl: certTtl,
          jwksFetchMode: jwksFetchModeFlag(values["jwks-fetch-mode"]),
          prometheus: values.prometheus ? { address: values["prometheus-address"], scrapeIntervalSeconds: scrapeMs / 1000 } : undefined,
          ...securityFlags(values),
          name: meshName,
          stateDir: values["state-dir"] ?? stateDirForName(meshName),
        };
        return import("./up.js").then((m) => m.runUp(options, out, err));
      }
      case "apply":
      case "delete":
      case "get": {
        // kubectl's boolean flags also take =true|=false; parseArgs takes neither, so they are read here.
        const boolFlags: Record<string, boolean> = {};
        const args = rest.filter((a) => {
          const m = /^--(allow-missing-template-keys|show-labels|no-headers)=(true|false)$/.exec(a);
          if (m) boolFlags[m[1]] = m[2] === "true";
          return !m;
        });
        const { values, positionals } = parseArgs({
          args,
          allowPositionals: true,
          options: {
            filename: { type: "string", short: "f", multiple: true },
            recursive: { type: "boolean", short: "R" },
            namespace: { type: "string", short: "n" },
            "all-namespaces": { type: "boolean", short: "A" },
            output: { type: "string", short: "o" },
            "dry-run": { type: "string" },
            "field-manager": { type: "string" },
            "server-side": { type: "boolean" },
            "show-managed-fields": { type: "boolean" },
            name: { type: "string" },
            "state-dir": { type: "string" },
            selector: { type: "string", short: "l" },
            "label-columns": { type: "string", short: "L", multiple: true },
            "show-labels": { type: "boolean" },
            "no-headers": { type: "boolean" },
            "allow-missing-template-keys": { type: "boolean" },
          },
        });
        const getOnly = ["selector", "label-columns", "show-labels", "no-headers", "allow-missing-template-keys"] as const;
        if (cmd !== "get" && (getOnly.some((f) => values[f] !== undefined) || Object.keys(boolFlags).length > 0)) throw new UsageError(`${cmd} takes none of -l, -L, --show-labels, --no-headers, --allow-missing-template-keys`);
        const target = { name: values.name, stateDir: values["state-dir"] };
        if (cmd !== "apply" && (values["field-manager"] !== undefined || values["server-side"])) throw new UsageError(`${cmd} takes neither --field-manager nor --server-side`);
        if (cmd !== "get" && values["show-managed-fields"]) throw new UsageError(`${cmd} does not take --show-managed-fields (get -o yaml|json does)`);
        if (values["server-side"]) {
          // kubectl's flag, refused as kubectl words an error (not a usage mistake: the mode is not built).
          err(`error: ${SERVER_SIDE_REFUSAL}`);
          return 1;
        }
        const files = values.filename ?? [];
        const dryRun = values["dry-run"];
        if (dryRun !== undefined && dryRun !== "server" && dryRun !== "none") throw new UsageError(`--dry-run=${dryRun}: tsmesh has server (validated and reported by the mesh, nothing stored) and none`);
        if (cmd === "get") {
          if (files.length > 0 || dryRun !== undefined || values.recursive) throw new UsageError("get takes KIND [NAME...], not -f, -R or --dry-run");
          const [kind, ...names] = positionals;
          if (!kind) throw new UsageError("get needs a KIND (e.g. virtualservices, vs, dr, gw)");
          const flag = (f: "show-labels" | "no-headers" | "allow-missing-template-keys") => boolFlags[f] ?? values[f];
          const options = {
            kind,
            names,
            namespace: values.namespace,
            allNamespaces: values["all-namespaces"] ?? false,
            output: values.output ?? "",
            selector: values.selector,
            showManagedFields: values["show-managed-fields"] ?? false,
            labelColumns: (values["label-columns"] ?? []).flatMap((l) => l.split(",")).filter((l) => l !== ""),
            showLabels: flag("show-labels") ?? false,
            noHeaders: flag("no-headers") ?? false,
            allowMissingTemplateKeys: flag("allow-missing-template-keys") ?? true,
            write: out === console.log ? (text: string) => void process.stdout.write(text) : undefined,
            target,
          };
          return kubectlErrors(import("./get.js").then((m) => m.runGet(options, out, err)), err);
        }
        if (values.output !== undefined || values["all-namespaces"]) throw new UsageError(`${cmd} takes neither -o nor -A`);
        if (cmd === "apply") {
          if (files.length === 0) throw new UsageError("apply needs -f FILE|DIR|- (kubectl's: must specify one of -f and -k)");
          if (positionals.length > 0) throw new UsageError(`apply takes files with -f, not ${positionals.join(" ")}`);
          const options = { files, recursive: values.recursive ?? false, dryRun: dryRun === "server", namespace: values.namespace, fieldManager: values["field-manager"], target };
          return kubectlErrors(import("./apply.js").then((m) => m.runApply(options, out, err)), err);
        }
        if (files.length > 0 && positionals.length > 0) throw new UsageError("delete takes -f FILE or KIND NAME..., not both");
        if (files.length === 0 && positionals.length < 2) throw new UsageError("delete needs -f FILE|DIR|- or KIND NAME...");
        const [kind, ...names] = positionals;
        const options = { files, recursive: values.recursive ?? false, kind, names, namespace: values.namespace, dryRun: dryRun === "server", target };
        return kubectlErrors(import("./delete.js").then((m) => m.runDelete(options, out, err)), err);
      }
      case "exec": {
        const dash = rest.indexOf("--");
        if (dash < 0 || dash === rest.length - 1) throw new UsageError("exec needs WORKLOAD -- COMMAND [ARGS...]");
        const { values, positionals } = parseArgs({ args: rest.slice(0, dash), allowPositionals: true, options: { config: { type: "string", multiple: true }, ...MESH_FLAGS } });
        if (positionals.length !== 1) throw new UsageError("exec needs one WORKLOAD (a WorkloadEntry name) before --");
        const options = { workload: positionals[0], config: values.config ?? [], ...meshTarget(values), command: rest.slice(dash + 1) };
        return import("./exec.js").then((m) => m.runExec(options, err));
      }
      case "tap": {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: {
            config: { type: "string", multiple: true },
            admin: { type: "string" },
            path: { type: "string" },
            method: { type: "string" },
            authority: { type: "string" },
            status: { type: "string" },
            output: { type: "string", short: "o", default: "text" },
            ...MESH_FLAGS,
          },
        });
        if (positionals.length !== 1) throw new UsageError("tap needs one WORKLOAD (a WorkloadEntry name, or namespace/name)");
        const output = values.output;
        if (output !== "text" && output !== "wide" && output !== "json") throw new UsageError(`tap: -o ${output}: use text, wide or json`);
        const options = { workload: positionals[0], config: values.config ?? [], ...meshTarget(values), admin: values.admin, path: values.path, method: values.method, authority: values.authority, status: values.status, output } as const;
        return import("./tap.js").then((m) => m.runTap(options, out, err));
      }
      case "proxy-config":
      case "pc":
        return import("./proxy-config-flags.js").then((m) => m.runProxyConfigCli(rest, out, err));
      case "proxy-status":
      case "ps": {
        const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { output: { type: "string", short: "o" }, ...MESH_FLAGS } });
        if (positionals.length > 1) throw new UsageError("proxy-status takes at most one WORKLOAD");
        const options = { workload: positionals[0], output: machineFormat(values.output, "proxy-status"), ...meshTarget(values) };
        return import("./proxy-status.js").then((m) => m.runProxyStatus(options, out, err));
      }
      case "describe":
      case "x": {
        // `tsmesh x describe …` as istioctl's experimental path.
        const args = cmd === "x" && rest[0] === "describe" ? rest.slice(1) : rest;
        if (cmd === "x" && rest[0] !== "describe") throw new UsageError("tsmesh x has: describe");
        const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { ...MESH_FLAGS } });
        return usageAfterLoad(import("./describe.js").then((m) => {
          const what = m.describeWhat(positionals[0]);
          if (!what || positionals.length !== 2) throw new UsageError("describe needs pod|workload NAME or service NAME");
          return m.runDescribe({ what, ref: positionals[1], ...meshTarget(values) }, out, err);
        }));
      }
      case "dashboard":
      case "dash":
      case "d": {
        const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { output: { type: "string", short: "o" }, ...MESH_FLAGS } });
        if (positionals.length > 2) throw new UsageError("dashboard takes a dashboard name and, for envoy/proxy, a WORKLOAD");
        const options = { which: positionals[0], workload: positionals[1], output: machineFormat(values.output, "dashboard"), ...meshTarget(values) };
        return import("./dashboard.js").then((m) => m.runDashboard(options, out, err));
      }
      case "ratelimit":
        return import("./ratelimit.js").then((m) => m.runRateLimitCli(rest, out, err));
      case "app": {
        const [name, ...args] = rest;
        if (!name || name === "--help" || name === "-h") {
          return import("./app.js").then((m) => {
            out(`tsmesh app NAME [ARGS...]: runs a bundled sample app\n\n${Object.entries(m.SAMPLE_APPS).map(([n, a]) => `  ${n.padEnd(12)} ${a.about}`).join("\n")}`);
            return name ? 0 : 2;
          });
        }
        return import("./app.js").then((m) => m.runApp(name, args, out, err));
      }
      case "version": {
        const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { output: { type: "string", short: "o" }, ...MESH_FLAGS } });
        if (positionals.length > 0) throw new UsageError("version takes no arguments");
        const options = { output: machineFormat(values.output, "version"), ...meshTarget(values) };
        return import("./version.js").then((m) => m.runVersion(options, out, err));
      }
      case "--version":
        out(`tsmesh ${tsmeshVersion()}`);
        return 0;
      case undefined:
      case "help":
      case "--help":
      case "-h":
        out(USAGE);
        return 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      err(`tsmesh: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}

