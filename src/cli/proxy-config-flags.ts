// `tsmesh proxy-config`'s command line: the kind, the workload, istioctl's filters (each allowed only
// for the kinds istioctl gives it — elsewhere it would be silently ignored), -o, and how to reach the
// proxy (--mesh/--state-dir through the registry, --config folders, --admin URL). `--name` is
// istioctl's route filter here, so the mesh's name is --mesh.
import { parseArgs } from "node:util";
import { CommandError, runCommand } from "./mesh-target.js";
import { PROXY_CONFIG_KINDS, proxyConfigKind, runProxyConfig, type ProxyConfigOptions } from "./proxy-config.js";

const FLAGS = {
  admin: { type: "string" },
  config: { type: "string", multiple: true },
  output: { type: "string", short: "o" },
  fqdn: { type: "string" },
  port: { type: "string" },
  subset: { type: "string" },
  direction: { type: "string" },
  address: { type: "string" },
  type: { type: "string" },
  cluster: { type: "string" },
  status: { type: "string" },
  level: { type: "string" },
  name: { type: "string" },
  mesh: { type: "string" },
  "state-dir": { type: "string" },
} as const;

/** The kinds each filter applies to (istioctl's). */
const FILTER_KINDS: Readonly<Record<string, readonly string[]>> = {
  fqdn: ["cluster"],
  subset: ["cluster"],
  direction: ["cluster"],
  port: ["cluster", "listener", "endpoint"],
  address: ["listener", "endpoint"],
  type: ["listener"],
  name: ["route"],
  cluster: ["endpoint"],
  status: ["endpoint"],
  level: ["log"],
};

const usage = (message: string) => new CommandError(`${message}\n(tsmesh proxy-config ${PROXY_CONFIG_KINDS.join("|")} WORKLOAD; see tsmesh help)`, 2);

export function proxyConfigOptions(args: string[]): ProxyConfigOptions {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof FLAGS }>>;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: FLAGS });
  } catch (e) {
    throw usage((e as Error).message);
  }
  const { values, positionals } = parsed;
  const [what, workload, ...extra] = positionals;
  const kind = proxyConfigKind(what);
  if (!kind) throw usage(what ? `unknown kind ${JSON.stringify(what)}` : "needs a kind");
  if (!workload || extra.length > 0) throw usage(`proxy-config ${kind} needs one WORKLOAD (a workload name, or namespace/name)`);
  for (const [flag, kinds] of Object.entries(FILTER_KINDS)) {
    if ((values as Record<string, unknown>)[flag] !== undefined && !kinds.includes(kind)) throw usage(`--${flag} is for ${kinds.join(", ")}${flag === "name" ? " (the mesh's name is --mesh here)" : ""}`);
  }
  if (values.direction !== undefined && values.direction !== "inbound" && values.direction !== "outbound") throw usage("--direction must be inbound or outbound");
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw usage(`--port must be a port, got ${JSON.stringify(values.port)}`);
  }
  const output = values.output === undefined || values.output === "table" ? "short" : values.output;
  if (output !== "short" && output !== "json" && output !== "yaml") throw usage(`-o ${output}: use short, json or yaml`);
  return {
    kind,
    workload,
    admin: values.admin,
    config: values.config,
    name: values.mesh,
    stateDir: values["state-dir"],
    output,
    cluster: { fqdn: values.fqdn, port, subset: values.subset, direction: values.direction },
    listener: { address: values.address, port, type: values.type },
    route: { name: values.name },
    endpoint: { address: values.address, port, cluster: values.cluster, status: values.status },
    level: values.level,
  };
}

export function runProxyConfigCli(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  return runCommand("proxy-config", err, () => runProxyConfig(proxyConfigOptions(args), out, err));
}
