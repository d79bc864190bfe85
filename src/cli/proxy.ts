// `tsmesh proxy sidecar|router`: the data plane (pilot-agent + Envoy roles) until SIGINT/SIGTERM
// or /quitquitquit. Builds Istio's node id and metadata from the flags, serves admin on IP:15000
// and health on IP:15021, and takes its config over ADS and/or from an Envoy bootstrap file.
import { proxyNodeId } from "../model/proxy.js";
import { AdminServer } from "../proxy/admin.js";
import { ProxyServer } from "../proxy/proxy.js";
import cluster from "node:cluster";
import type { ProtoObject } from "../envoy/protos.js";
import type { BootstrapSettings } from "../proxy/bootstrap.js";
import { releaseMemoryWhenSettled, serveAsWorker, WORKER_ENV, WorkerPool } from "./proxy-workers.js";

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
  /** Default: the bootstrap's admin port, else 15000. */
  adminPort?: number;
  healthPort: number;
  /** Default: the bootstrap's ads_config api_type, else delta. */
  xdsProtocol?: "delta" | "sotw";
  /** The app's own address (node metadata INBOUND_APP_ADDRESS: inbound clusters send there). */
  appAddress?: string;
}

export async function runProxy(o: ProxyCliOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let nodeId = proxyNodeId(o.type, o.ip, o.name, o.namespace);
  const [region = "", zone = "", subZone = ""] = (o.locality ?? "").split("/");
  let staticResources: { listeners?: ProtoObject[]; clusters?: ProtoObject[] } | undefined;
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
  const adminPort = o.adminPort ?? settings?.adminPort ?? 15000;
  // The bootstrap's node, as Envoy announces it, over the one built from the flags.
  const bootNode = settings?.node;
  if (typeof bootNode?.id === "string" && bootNode.id) nodeId = bootNode.id;
  const bootLocality = bootNode?.locality as { region?: string; zone?: string; subZone?: string } | undefined;
  const isWorker = cluster.isWorker && process.env[WORKER_ENV] === "1";
  const workers = !isWorker && o.concurrency > 1 ? o.concurrency : 0;
  const proxy = new ProxyServer({
    // A worker gets its config from the primary, which holds the ADS stream.
    discoveryAddress: isWorker ? undefined : discoveryAddress,
    serveTraffic: workers === 0,
    node: {
      id: nodeId,
      cluster: typeof bootNode?.cluster === "string" && bootNode.cluster ? bootNode.cluster : `${o.name}.${o.namespace}`,
      metadata: {
        NAMESPACE: o.namespace,
        LABELS: o.labels,
        INTERCEPTION_MODE: "NONE",
        INSTANCE_IPS: o.ip,
        WORKLOAD_NAME: o.name,
        PROXY_CONCURRENCY: String(o.concurrency),
        ...(o.appAddress ? { INBOUND_APP_ADDRESS: o.appAddress } : {}),
        ...structToPlain(bootNode?.metadata),
      },
      locality: bootLocality ?? (region || zone || subZone ? { region, zone, subZone } : undefined),
    },
    ip: o.ip,
    staticResources,
    protocol: xdsProtocol,
    // `--access-log off` disables it (Envoy: no access_log configured); default is stdout.
    accessLog: o.accessLog === "off" ? false : undefined,
    accessLogPath: o.accessLog === "off" ? undefined : o.accessLog,
    log: err,
  });
  if (isWorker) return serveAsWorker(proxy, () => proxy.start(), err);
  let quit: () => void = () => {};
  const done = new Promise<number>((resolve) => (quit = () => resolve(0)));
  let pool: WorkerPool | undefined;
  const admin = new AdminServer(proxy, {
    nodeId,
    onQuit: () => quit(),
    concurrency: Math.max(1, workers),
    collectStats: workers ? () => pool!.collectStats() : undefined,
    workers: workers ? () => pool!.pids() : undefined,
    ready: workers ? () => proxy.isReady && !!pool?.isReady : undefined,
  });
  try {
    const ports = await admin.listen(o.ip, adminPort, o.healthPort);
    await proxy.start();
    if (workers) {
      pool = new WorkerPool(proxy, workers, err);
      await pool.ready();
    }
    out(`tsmesh proxy: ${nodeId}${workers ? ` (${workers} workers)` : ""}`);
    out(`tsmesh proxy: admin http://${o.ip}:${ports.admin}, health http://${o.ip}:${ports.health}/healthz/ready${discoveryAddress ? `, xDS from ${discoveryAddress}` : ""}`);
  } catch (e) {
    err(`tsmesh proxy: ${(e as Error).message}`);
    admin.close();
    await proxy.close();
    return 1;
  }
  void proxy.ready().then(() => {
    out("tsmesh proxy: ready (clusters and listeners warm)");
    releaseMemoryWhenSettled()();
  });
  const onSignal = (signal: string) => {
    out(`tsmesh proxy: ${signal}, draining`);
    quit();
  };
  const onInt = () => onSignal("SIGINT");
  const onTerm = () => onSignal("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  const code = await done;
  process.off("SIGINT", onInt);
  process.off("SIGTERM", onTerm);
  admin.close();
  await pool?.stop();
  await proxy.close();
  return code;
}

/** A decoded google.protobuf.Struct (node metadata) as plain JSON values. */
function structToPlain(s: unknown): Record<string, unknown> {
  const fields = (s as { fields?: Record<string, unknown> } | undefined)?.fields;
  if (!fields) return {};
  const value = (v: unknown): unknown => {
    const x = v as { nullValue?: unknown; numberValue?: number; stringValue?: string; boolValue?: boolean; structValue?: unknown; listValue?: { values?: unknown[] } };
    if ("stringValue" in x) return x.stringValue;
    if ("numberValue" in x) return x.numberValue;
    if ("boolValue" in x) return x.boolValue;
    if ("structValue" in x) return structToPlain(x.structValue);
    if ("listValue" in x) return (x.listValue?.values ?? []).map(value);
    return null;
  };
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, value(v ?? {})]));
}
