// `tsmesh proxy sidecar|router`: the data plane (pilot-agent + Envoy roles) until SIGINT/SIGTERM
// or /quitquitquit. Builds Istio's node id and metadata from the flags and takes its config over
// ADS and/or from an Envoy bootstrap file. Without a bootstrap it serves admin on IP:15000 and
// health on IP:15021, as a sidecar does; with one it opens only what the bootstrap names (admin on
// admin.address, as Envoy) and what flags ask for explicitly (--admin-port on --ip, --health-port).
// Log lines go to stderr through the proxy's loggers (--log-level, --component-log-level, /logging);
// stdout gets the command's own report (node, addresses, ready, draining).
import { DEFAULT_CLUSTER_ID, ISTIO_COMPATIBLE_VERSION } from "../core/istio-version.js";
import { proxyNodeId } from "../model/proxy.js";
import { AdminServer } from "../proxy/admin.js";
import type { AppMetricsTarget } from "../proxy/prometheus-merge.js";
import { PROXY_LOGGERS, type ProxyOptions, ProxyServer } from "../proxy/proxy.js";
import cluster from "node:cluster";
import { LogRegistry, parseComponentLevels, parseLogLevel } from "../core/log.js";
import { fromStruct } from "../envoy/protos.js";
import type { BootstrapSettings } from "../proxy/bootstrap.js";
import { PrimaryLimits } from "../proxy/upstream/primary-limits.js";
import { WorkerLimits } from "../proxy/upstream/worker-limits.js";
import { WorkerTokenBuckets } from "../proxy/ratelimit/shared-buckets.js";
import type { AgentFlags } from "../agent/start.js";
import type { WorkloadAgent } from "../agent/agent.js";
import { SecretManager } from "../proxy/tls/secrets.js";
import { credentialMetadata } from "../agent/credential-file.js";
import { PER_WORKER_LIMITS_ENV, releaseMemoryWhenSettled, serveAsWorker, WORKER_ENV, WORKER_LOG_LEVELS_ENV, type WorkerMessage, WorkerPool } from "./proxy-workers.js";

export interface ProxyCliOptions {
  type: "sidecar" | "router";
  discoveryAddress?: string;
  ip: string;
  name: string;
  namespace: string;
  labels: Record<string, string>;
  locality?: string;
  concurrency: number;
  bootstrap?: string;
  accessLog?: string;
  /** Default: the bootstrap's admin port; else 15000 without a bootstrap, no admin with one. */
  adminPort?: number;
  /** Default: 15021 without a bootstrap; with one, no health port unless given. */
  healthPort?: number;
  /** Istio's prometheus port (GET /stats/prometheus); default 15090 without a bootstrap. */
  prometheusPort?: number;
  /** pilot-agent's status port (merged /stats/prometheus, /healthz/ready); default 15020 without a bootstrap. */
  agentPort?: number;
  /** The app's metrics the agent merges (the workload's prometheus.io annotations). */
  appMetrics?: AppMetricsTarget;
  /** Envoy's --log-level: every logger's level (default info). */
  logLevel?: string;
  /** Envoy's --component-log-level: `name:level,...`. */
  componentLogLevel?: string;
  /** Default: the bootstrap's ads_config api_type, else delta. */
  xdsProtocol?: "delta" | "sotw";
  /** The app's own address (node metadata INBOUND_APP_ADDRESS: inbound clusters send there). */
  appAddress?: string;
  /** pilot-agent's role (--ca-address and its flags); undefined: no agent, no `sds-grpc` secrets. */
  agent?: AgentFlags;
}

/** The proxy's loggers writing to `err`, at the levels the flags (or, in a worker, its primary) set. */
function proxyLogs(o: ProxyCliOptions, err: (s: string) => void, isWorker: boolean): LogRegistry | string {
  const logs = new LogRegistry(PROXY_LOGGERS, err);
  if (o.logLevel !== undefined) {
    const level = parseLogLevel(o.logLevel);
    if (level === undefined) return `--log-level: unknown level ${JSON.stringify(o.logLevel)} (trace, debug, info, warning, error, critical, off)`;
    logs.setAll(level);
  }
  if (o.componentLogLevel !== undefined) {
    const changes = parseComponentLevels(o.componentLogLevel);
    const problem = typeof changes === "string" ? changes : logs.set(changes);
    if (problem) return `--component-log-level: ${problem} (loggers: ${PROXY_LOGGERS.join(", ")})`;
  }
  const inherited = isWorker ? process.env[WORKER_LOG_LEVELS_ENV] : undefined;
  if (inherited) {
    const levels = parseComponentLevels(inherited);
    if (typeof levels !== "string") logs.set(levels);
  }
  return logs;
}

export async function runProxy(o: ProxyCliOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const isWorker = cluster.isWorker && process.env[WORKER_ENV] === "1";
  const logs = proxyLogs(o, err, isWorker);
  if (typeof logs === "string") {
    err(`tsmesh proxy: ${logs}`);
    return 1;
  }
  let nodeId = proxyNodeId(o.type, o.ip, o.name, o.namespace);
  const [region = "", zone = "", subZone = ""] = (o.locality ?? "").split("/");
  let staticResources: ProxyOptions["staticResources"];
  let discoveryAddress = o.discoveryAddress;
  let settings: BootstrapSettings | undefined;
  if (o.bootstrap) {
    try {
      // Only a bootstrap needs the YAML parser and the bootstrap schema.
      const { loadBootstrap, bootstrapSettings } = await import("../proxy/bootstrap.js");
      settings = bootstrapSettings(loadBootstrap(o.bootstrap), o.bootstrap);
      staticResources = settings.staticResources;
    } catch (e) {
      err(`tsmesh proxy: ${(e as Error).message}`);
      return 1;
    }
  }
  // --discovery-address wins over the bootstrap's ADS cluster; with neither and no static config, the default.
  discoveryAddress ??= settings?.ads?.address;
  if (!discoveryAddress && !staticResources) discoveryAddress = "127.0.0.1:15010";
  const xdsProtocol = o.xdsProtocol ?? settings?.ads?.protocol ?? "delta";
  // Envoy's admin.address (IP and port); a bootstrap without one has no admin unless --admin-port asks.
  const adminHost = settings?.admin?.address ?? o.ip;
  const adminPort = o.adminPort ?? settings?.admin?.port ?? (o.bootstrap ? undefined : 15000);
  // Istio's 15021 is a listener in its own bootstrap: a bootstrap proxy has it only when asked.
  const healthPort = o.healthPort ?? (o.bootstrap ? undefined : 15021);
  // Istio's 15090 (Envoy's prometheus listener) and 15020 (the agent's merged metrics), as a sidecar has them.
  const prometheusPort = o.prometheusPort ?? (o.bootstrap ? undefined : 15090);
  const agentPort = o.agentPort ?? (o.bootstrap ? undefined : 15020);
  // The bootstrap's node, as Envoy announces it, over the one built from the flags.
  const bootNode = settings?.node;
  if (bootNode?.id) nodeId = bootNode.id;
  const bootLocality = bootNode?.locality;
  const workers = !isWorker && o.concurrency > 1 ? o.concurrency : 0;
  // The proxy's SDS secrets. The primary runs the agent, which fills the `sds-grpc` ones (`default`,
  // `ROOTCA`); the agent's code loads only when --ca-address asks for it.
  const secrets = new SecretManager();
  let agent: WorkloadAgent | undefined;
  if (o.agent && !isWorker) {
    try {
      const { startAgent } = await import("../agent/start.js");
      agent = startAgent(o.agent, secrets, logs.get("secret"));
    } catch (e) {
      err(`tsmesh proxy: ${(e as Error).message}`);
      return 1;
    }
  }
  // Limits for the proxy as a whole: the primary arbitrates, the workers lease (unless measuring without).
  const shared = process.env[PER_WORKER_LIMITS_ENV] !== "1";
  let pool: WorkerPool | undefined;
  const workerLimits = isWorker && shared ? new WorkerLimits((batch) => process.connected && process.send?.({ type: "limits", batch } satisfies WorkerMessage)) : undefined;
  // The local rate limit's buckets are the primary's: a worker asks it for tokens.
  const workerBuckets = isWorker ? new WorkerTokenBuckets((asks) => {
        // send() answers false under backpressure too (the message still goes): only a closed channel fails.
        if (!process.connected || !process.send) return false;
        process.send({ type: "buckets", asks } satisfies WorkerMessage);
        return true;
      }) : undefined;
  const primaryLimits: PrimaryLimits | undefined = workers && shared ? new PrimaryLimits((name) => proxy.cluster(name)?.spec, (worker, batch) => pool?.sendLimits(worker, batch)) : undefined;
  const proxy: ProxyServer = new ProxyServer({
    // A worker gets its config from the primary, which holds the ADS stream.
    discoveryAddress: isWorker ? undefined : discoveryAddress,
    serveTraffic: workers === 0,
    worker: isWorker,
    clusterSharing: workerLimits ?? primaryLimits,
    tokenBuckets: workerBuckets,
    // The agent's secrets (primary); the primary forwards every secret to its workers.
    secrets,
    // The workload credential on the ADS stream too: the control plane sends keys (gateway
    // credentials) only to a stream that proved its namespace.
    xdsCallMetadata: o.agent ? () => credentialMetadata(o.agent!.credentialFile) : undefined,
    logs,
    node: {
      id: nodeId,
      cluster: bootNode?.cluster || `${o.name}.${o.namespace}`,
      metadata: {
        // NAME and CLUSTER_ID as Istio's injector sets them: the metadata exchange sends them (peer
        // name, source_cluster / destination_cluster).
        NAME: o.name,
        CLUSTER_ID: DEFAULT_CLUSTER_ID,
        NAMESPACE: o.namespace,
        LABELS: o.labels,
        INTERCEPTION_MODE: "NONE",
        INSTANCE_IPS: o.ip,
        WORKLOAD_NAME: o.name,
        PROXY_CONCURRENCY: String(o.concurrency),
        // The Istio release tsmesh follows, so EnvoyFilter proxyVersion regexes select tsmesh proxies.
        ISTIO_VERSION: ISTIO_COMPATIBLE_VERSION,
        ...(o.appAddress ? { INBOUND_APP_ADDRESS: o.appAddress } : {}),
        ...fromStruct(bootNode?.metadata),
      },
      locality: bootLocality ?? (region || zone || subZone ? { region, zone, subZone } : undefined),
    },
    ip: o.ip,
    staticResources,
    protocol: xdsProtocol,
    // `--access-log PATH` adds a default access log for config that names none; without it (or
    // with `off`) the proxy logs only what its access_log config asks for, as Envoy and Istio
    // (mesh config accessLogFile empty: no access log).
    accessLogPath: o.accessLog === "off" ? undefined : o.accessLog,
  });
  if (isWorker) return serveAsWorker(proxy, () => proxy.start(), logs.get("main"), workerLimits, workerBuckets);
  if (workers && !shared) logs.get("main").warn(`${PER_WORKER_LIMITS_ENV}=1: circuit breakers, retry budgets and outlier detection are per worker process; limits do not hold for the proxy as a whole`);
  let quit: () => void = () => {};
  const done = new Promise<number>((resolve) => (quit = () => resolve(0)));
  const admin = new AdminServer(proxy, {
    nodeId,
    onQuit: () => quit(),
    concurrency: Math.max(1, workers),
    collectStats: workers ? () => pool!.collectStats() : undefined,
    workers: workers ? () => pool!.pids() : undefined,
    ready: workers ? () => proxy.isReady && !!pool?.isReady : undefined,
    toWorkers: workers ? (cmd) => pool?.command(cmd) : undefined,
    collectCerts: workers ? () => pool!.collectCerts() : undefined,
  });
  // Before anything is announced: whoever reads "(N workers)" or the admin address may signal at
  // once, and a signal during start-up drains once the start is over.
  const onSignal = (signal: string) => {
    out(`tsmesh proxy: ${signal}, draining`);
    quit();
  };
  const onInt = () => onSignal("SIGINT");
  const onTerm = () => onSignal("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  try {
    const adminBound = adminPort === undefined ? undefined : await admin.listen(adminHost, adminPort);
    const healthBound = healthPort === undefined ? undefined : await admin.listenHealth(o.ip, healthPort);
    const promBound = prometheusPort === undefined ? undefined : await admin.listenPrometheus(o.ip, prometheusPort);
    const agentBound = agentPort === undefined ? undefined : await admin.listenAgent(o.ip, agentPort, o.appMetrics);
    await proxy.start();
    if (workers) {
      pool = new WorkerPool(proxy, workers, logs.get("main"), primaryLimits);
      pool.tapHub = admin.tap;
      await pool.ready();
    }
    out(`tsmesh proxy: ${nodeId}${workers ? ` (${workers} workers)` : ""}`);
    const where = [
      adminBound === undefined ? "no admin (the bootstrap has no admin.address)" : `admin http://${hostPort(adminHost, adminBound)}`,
      healthBound === undefined ? "no health port" : `health http://${hostPort(o.ip, healthBound)}/healthz/ready`,
      ...(discoveryAddress ? [`xDS from ${discoveryAddress}`] : []),
      ...(promBound === undefined ? [] : [`metrics http://${hostPort(o.ip, promBound)}/stats/prometheus`]),
      ...(agentBound === undefined ? [] : [`merged metrics http://${hostPort(o.ip, agentBound)}/stats/prometheus`]),
    ];
    out(`tsmesh proxy: ${where.join(", ")}`);
  } catch (e) {
    err(`tsmesh proxy: ${(e as Error).message}`);
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
    agent?.close();
    admin.close();
    await proxy.close();
    return 1;
  }
  void proxy.ready().then(() => {
    out("tsmesh proxy: ready (clusters and listeners warm)");
    releaseMemoryWhenSettled()();
  });
  const code = await done;
  process.off("SIGINT", onInt);
  process.off("SIGTERM", onTerm);
  agent?.close();
  admin.close();
  await pool?.stop();
  primaryLimits?.close();
  await proxy.close();
  return code;
}

/** host:port, with an IPv6 host in brackets. */
function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
