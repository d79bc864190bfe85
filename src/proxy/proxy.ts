// `tsmesh proxy`: Envoy's server wired together. Configuration comes from ADS (CDS + LDS
// wildcard, then EDS for the EDS clusters and RDS for the listeners' routes) and/or a static
// bootstrap. Envoy's warming: a new EDS cluster is used once its endpoints arrived, a listener is
// bound once every route configuration it names arrived. Each update is validated before it is
// ACKed; a rejected one is NACKed and the last good config keeps serving — also when the control
// plane goes away (the client reconnects with backoff).
import { LocalTokenBuckets, type TokenBucketStore } from "./ratelimit/token-bucket.js";
import { DEBUG, LogRegistry, type Logger } from "../core/log.js";
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE } from "../envoy/protos.js";
import type * as v3 from "../envoy/types.js";
import { AccessLogWriters, compileAccessLogs, FormattedAccessLog, logTo } from "./access-loggers.js";
import { defaultAccessLogFormatter } from "./observability/access-log-format.js";
import { connectionStreamInfo } from "./observability/stream-info-build.js";
import { StreamSinks } from "./stream-sinks.js";
import { FLAG_BIT } from "./access-log.js";
import "./http/hcm.js";
import { compileRoutes, type RouteTable } from "./http/route-glue.js";
import { DEFAULT_BUFFER_LIMIT } from "./http/downstream.js";
import { Router, ROUTER_CLUSTER_COUNTERS } from "./http/router.js";
import { type FilterChainSpec, type ListenerSpec, listenerSpec } from "./listener-spec.js";
import { ListenerManager, type NetworkHandler } from "./listeners.js";
import { listenerUpdateError } from "./bind-error.js";
export { validateAssignment };
import { StatsStore } from "./stats.js";
import type { HostCounterSnapshot } from "./admin.js";
import "./tcp.js";
import "./rbac/network-filter.js";
import "./ratelimit/network-local-ratelimit.js";
import "./ext-authz/network-filter.js";
import "./observability/istio-stats.js";
import "./observability/tcp-metadata-exchange.js";
import { chainHandler, type CompiledNetworkFilter, compileNetworkFilters, type NetworkFilterContext } from "./network-filters.js";

type NetworkFilterRuntime = NetworkFilterContext["runtime"];
import type { SkipReporter } from "./extensions.js";
import { clusterSpec, type ClusterSpec, UpstreamCluster } from "./upstream/cluster.js";
import { validateAssignment } from "./upstream/eds-assignment.js";
import type { ClusterSharing } from "./upstream/shared-limits.js";
import { AdsClient } from "./xds/ads-client.js";
import type { DecodedResource, ResourceUpdate } from "./xds/resources.js";
import { XdsConfigError } from "./xds-error.js";
import { type ContextCertificates } from "./tls/cert-details.js";
import { secretFromResource } from "./tls/secret-resource.js";
import { SecretManager } from "./tls/secrets.js";
import { allRefs, type ContextSecretRefs, type SdsSecretRef } from "./tls/sds-config.js";
import { secretsConfigDump } from "./tls/secrets-dump.js";
import { configDump } from "./config-dump.js";
import { traceNode, TracerRegistry } from "./tracing/tracers.js";
import { type BatcherOptions, DEFAULT_BATCHING } from "./tracing/span-batcher.js";

export interface ProxyOptions {
  /** ADS server (host:port); absent when running from a static bootstrap only. */
  discoveryAddress?: string;
  node: { id: string; cluster?: string; metadata?: Record<string, unknown>; locality?: { region?: string; zone?: string; subZone?: string } };
  /** Address that 0.0.0.0 listeners bind (the workload's loopback address in local mode). */
  ip?: string;
  /** Envoy bootstrap: static_resources {listeners, clusters}, as the bootstrap decoder gives them. */
  staticResources?: { listeners?: v3.Listener[]; clusters?: v3.Cluster[] };
  protocol?: "delta" | "sotw";
  /**
   * tsmesh's default access log (`--access-log PATH`): connection managers and TCP proxies whose
   * config names no access_log write Envoy's default format here. Unset: none — as Envoy, which
   * logs only what access_log config asks for.
   */
  accessLogPath?: string;
  drainMs?: number;
  /**
   * false: keep and validate the config (ADS, admin, readiness) but bind no listeners — the
   * primary of `--concurrency N`, whose workers serve the traffic.
   */
  serveTraffic?: boolean;
  /** A `--concurrency` worker: its config comes from the primary, which logs the config changes. */
  worker?: boolean;
  /** `--concurrency N`: the clusters' limits and outlier detection shared across the proxy's processes. */
  clusterSharing?: ClusterSharing;
  /** The local rate limit's buckets (`--concurrency N`: a worker's link to the primary's); default: this process's own. */
  tokenBuckets?: TokenBucketStore;
  /**
   * The proxy's SDS secrets: the agent sets `sds-grpc` ones, the ADS client `ads` ones, a
   * `--concurrency` worker its primary's. A new, empty one by default.
   */
  secrets?: SecretManager;
  /** Span export batching (Envoy's min_flush_spans 5, flush_interval_ms 5000); tests shorten it. */
  traceBatching?: BatcherOptions;
  /** Call metadata for each ADS stream (the workload credential: `authorization: Bearer TOKEN`). */
  xdsCallMetadata?: () => Record<string, string>;
  /** Where log lines go (stderr by default); ignored when `logs` is given. */
  log?: (line: string) => void;
  /** The proxy's loggers (PROXY_LOGGERS), when the caller sets their sink or levels. */
  logs?: LogRegistry;
}

/**
 * The proxy's loggers, named as Envoy's for the same parts: admin; config (the xDS client, the
 * listener manager); conn_handler (accepted connections, filter-chain selection); main (the
 * process and its workers); misc (the access log); rbac (each RBAC decision, at debug); secret (the
 * agent: workload certificates, the mesh CA, ROOTCA); upstream (clusters, listeners added, secrets).
 */
export const PROXY_LOGGERS = ["admin", "config", "conn_handler", "main", "misc", "rbac", "secret", "upstream"] as const;

/** A listener's network filters, compiled (so validation happens before the update is ACKed). */
interface CompiledChain {
  chain: FilterChainSpec;
  filters: CompiledNetworkFilter[];
}

interface CompiledListener {
  spec: ListenerSpec;
  chains: Map<FilterChainSpec, CompiledChain>;
  /** RDS names its HTTP connection managers use. */
  routeNames: string[];
}

export class ProxyServer {
  readonly stats = new StatsStore();
  readonly clusters = new Map<string, UpstreamCluster>();
  /** EDS clusters waiting for their first endpoints (Envoy's warming); they replace a live one once warm. */
  private readonly warming = new Map<string, UpstreamCluster>();
  readonly routes = new Map<string, RouteTable>();
  readonly routeObjects = new Map<string, v3.RouteConfiguration>();
  private readonly compiledListeners = new Map<string, CompiledListener>();
  /** Each listener spec's own compile (a spec outlives its entry in compiledListeners while it is being bound). */
  private readonly compiledBySpec = new WeakMap<ListenerSpec, CompiledListener>();
  /** An LDS update's listeners as they were before it, until settleListeners has bound it. */
  private readonly listenerRollback = new WeakMap<ResourceUpdate, Map<string, CompiledListener | undefined>>();
  private readonly staticClusterNames = new Set<string>();
  private readonly staticListenerNames = new Set<string>();
  readonly listeners: ListenerManager;
  readonly router: Router;
  readonly ads: AdsClient | undefined;
  /** Named SDS secrets (TLS contexts over SDS watch theirs). */
  readonly secrets: SecretManager;
  private readonly accessLogWriters: AccessLogWriters;
  /** HCM tracing providers' drivers (batched span exporters). */
  private readonly tracers: TracerRegistry;
  /** Proxy-wide observers of finished streams and connections (`tsmesh tap`; the admin server registers on it). */
  readonly streamSinks = new StreamSinks();
  readonly logs: LogRegistry;
  private readonly configLog: Logger;
  private readonly upstreamLog: Logger;
  private applying: Promise<void> = Promise.resolve();
  readonly startedAt = Date.now();
  private initialized = false;
  private readonly readyWaiters: Array<() => void> = [];

  /** What filters reach of the proxy: clusters, the router, route tables, the access log. */
  private readonly runtime: NetworkFilterRuntime;
  /** Optional extensions the proxy skipped (is_optional): logged and counted. */
  private readonly skips: SkipReporter;

  constructor(private readonly options: ProxyOptions) {
    this.logs = options.logs ?? new LogRegistry(PROXY_LOGGERS, options.log);
    this.configLog = this.logs.get("config");
    this.upstreamLog = this.logs.get("upstream");
    this.secrets = options.secrets ?? new SecretManager();
    // One line per secret change (never its material); a worker's come from its primary, which logs them.
    if (!options.worker) this.secrets.onChange((source, name, e) => this.upstreamLog.info(`sds: secret '${name}' (${source}) ${e ? `updated, version ${e.version}` : "removed"}`));
    this.router = new Router(this.stats);
    const skipped = this.stats.counter("server.optional_extensions_skipped");
    this.skips = {
      skipped: (path, name, typeUrl) => {
        skipped.inc();
        this.configLog.warn(`${path}: skipping optional extension '${name}' (type URL '${typeUrl.replace(/^.*\//, "")}'): not implemented by tsmesh`);
      },
    };
    this.accessLogWriters = new AccessLogWriters(this.logs.get("misc"));
    this.tracers = new TracerRegistry({ cluster: (n) => this.cluster(n), router: this.router, stats: this.stats, node: traceNode(options.node), batching: options.traceBatching ?? DEFAULT_BATCHING });
    // Only when asked for (accessLogPath): connection managers and TCP proxies whose config names
    // no access_log write here.
    const defaultAccessLog = options.accessLogPath === undefined ? undefined : new FormattedAccessLog(this.accessLogWriters.get(options.accessLogPath), defaultAccessLogFormatter());
    this.runtime = {
      tracers: this.tracers,
      cluster: (n) => this.cluster(n),
      router: this.router,
      localCluster: options.node.cluster ?? "",
      localNode: { id: options.node.id, metadata: options.node.metadata ?? {} },
      tokenBuckets: options.tokenBuckets ?? new LocalTokenBuckets(),
      logger: (n) => this.logs.get(n),
      routes: (n) => this.routes.get(n),
      defaultAccessLog,
      accessLogWriters: this.accessLogWriters,
      streamSinks: this.streamSinks,
      // An HCM's inline route_config, as the listener decoder gives it: a RouteConfiguration's typed form.
      compileRoutes,
      streamError: (err) => {
        this.logs.get("conn_handler").error(`stream reset after an internal error: ${err instanceof Error ? (err.stack ?? err.message).split("\n").slice(0, 3).join(" | ") : String(err)}`);
      },
    };

    this.listeners = new ListenerManager(options.ip, this.stats, (l, fc) => this.handlerFor(l, fc), options.drainMs ?? 5000, this.configLog, this.logs.get("conn_handler"), this.secrets);
    if (options.discoveryAddress) {
      this.ads = new AdsClient(
        {
          target: options.discoveryAddress,
          node: options.node,
          protocol: options.protocol,
          log: this.configLog,
          callMetadata: options.xdsCallMetadata,
          settle: (u) => (u.typeUrl === LISTENER_TYPE ? this.settleListeners(u) : undefined),
        },
        (type, resources) => this.validate(type, resources),
      );
      this.ads.on("update", (u) => this.onUpdate(u, true));
      this.ads.on("connected", () => this.stats.gauge("control_plane.connected_state").set(1));
      this.ads.on("disconnected", (why) => {
        this.stats.gauge("control_plane.connected_state").set(0);
        this.configLog.warn(`lost the control plane (${why}); serving the last good config, reconnecting`);
      });
    }
  }

  /** Loads static resources, connects to ADS. */
  async start(): Promise<void> {
    const st = this.options.staticResources;
    for (const c of st?.clusters ?? []) {
      const spec = clusterSpec(c);
      this.staticClusterNames.add(spec.name);
      this.clusters.set(spec.name, this.newCluster(spec));
    }
    if (st?.listeners?.length) {
      for (const l of st.listeners) {
        const cl = this.compileListener(l);
        this.staticListenerNames.add(cl.spec.name);
        this.compiledListeners.set(cl.spec.name, cl);
      }
      await this.applyListeners();
    }
    this.watchAdsSecrets();
    if (this.ads) {
      this.ads.watch(CLUSTER_TYPE, "*");
      this.ads.watch(LISTENER_TYPE, "*");
      this.ads.start();
    } else this.markInitialized();
  }

  /** Resolves when the first CDS and LDS updates (and their warming) are done (Envoy's init). */
  ready(): Promise<void> {
    if (this.initialized) return Promise.resolve();
    return new Promise((r) => this.readyWaiters.push(r));
  }

  get isReady(): boolean {
    return this.initialized;
  }

  private markInitialized(): void {
    if (this.initialized) return;
    this.initialized = true;
    for (const w of this.readyWaiters.splice(0)) w();
  }

  cluster(name: string): UpstreamCluster | undefined {
    return this.clusters.get(name);
  }

  private newCluster(spec: ClusterSpec, live?: UpstreamCluster): UpstreamCluster {
    const scope = this.stats.tagged("cluster.", spec.name);
    // The router's own cluster counters show from the start (at 0), as Envoy's do.
    for (const n of ROUTER_CLUSTER_COUNTERS) scope.counter(n);
    return new UpstreamCluster(spec, scope, live, { log: (line) => this.upstreamLog.warn(line), sharing: this.options.clusterSharing, secrets: this.secrets, localNode: { id: this.options.node.id, metadata: this.options.node.metadata ?? {} } });
  }

  /**
   * Per-host counters and health summed over the processes that serve traffic (`--concurrency`
   * workers), for /clusters; unset when this process serves the traffic itself.
   */
  hostCollector: (() => Promise<HostCounterSnapshot[][]>) | undefined = undefined;

  // ---- validation (before ACK) ----

  /**
   * What an ADS response is checked with before the ACK (decode, then compile as if applied);
   * public so the control plane can be handed the same checks for EnvoyFilter results.
   */
  validate(type: string, resources: DecodedResource[]): string | undefined {
    const errors: string[] = [];
    for (const r of resources) {
      try {
        if (type === CLUSTER_TYPE) clusterSpec(asCluster(r));
        else if (type === LISTENER_TYPE) this.compileListener(asListener(r));
        else if (type === ROUTE_TYPE) compileRoutes(asRouteConfiguration(r));
        else if (type === ENDPOINT_TYPE) validateAssignment(r.name, asAssignment(r));
        else if (type === SECRET_TYPE) secretFromResource(r.name, asSecret(r));
      } catch (err) {
        errors.push(err instanceof XdsConfigError ? err.message : `${r.name}: ${(err as Error).message}`);
      }
    }
    return errors.length ? errors.join("; ") : undefined;
  }

  private compileListener(l: v3.Listener): CompiledListener {
    const spec = listenerSpec(l);
    const chains = new Map<FilterChainSpec, CompiledChain>();
    const routeNames = new Set<string>();
    const all = [...spec.filterChains, ...(spec.defaultFilterChain ? [spec.defaultFilterChain] : [])];
    // Listener.per_connection_buffer_limit_bytes (a UInt32Value; Envoy's default 1 MiB).
    const bufferLimitBytes = l.perConnectionBufferLimitBytes ? (l.perConnectionBufferLimitBytes.value ?? 0) : DEFAULT_BUFFER_LIMIT;
    all.forEach((fc, i) => {
      const path = fc === spec.defaultFilterChain ? `listener ${spec.name}: defaultFilterChain` : `listener ${spec.name}: filterChains[${i}]`;
      const filters = compileNetworkFilters(fc.filters, path, { listenerName: spec.name, trafficDirection: l.trafficDirection, bufferLimitBytes, stats: this.stats, runtime: this.runtime, skips: this.skips });
      for (const f of filters) if (f.terminal) for (const n of f.rdsNames) routeNames.add(n);
      chains.set(fc, { chain: fc, filters });
    });
    const loggers = compileAccessLogs(l.accessLog, `listener ${spec.name}: accessLog`, this.accessLogWriters);
    if (loggers.length > 0) {
      // Envoy's NR flag also means "no filter chain matched the connection".
      spec.noFilterChainLog = (info) => logTo(loggers, connectionStreamInfo(info, undefined, Date.now(), FLAG_BIT.NR));
    }
    const compiled = { spec, chains, routeNames: [...routeNames] };
    this.compiledBySpec.set(spec, compiled);
    return compiled;
  }

  // ---- updates (after validation, before ACK) ----

  /** Applies an update that was validated elsewhere (a --concurrency worker fed by its primary). */
  applyUpdate(u: ResourceUpdate): void {
    this.onUpdate(u);
  }

  /** The whole current ADS state as updates in push order (to bring a new worker up to date). */
  currentUpdates(): ResourceUpdate[] {
    const snap = this.ads?.snapshot();
    if (!snap) return [];
    const out: ResourceUpdate[] = [];
    for (const type of [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE]) {
      const t = snap.get(type);
      if (!t || t.resources.size === 0) continue;
      out.push({ typeUrl: type, updated: [...t.resources.values()].map((r) => ({ name: r.name, version: r.version, object: r.object })), removed: [], versionInfo: t.versionInfo, fullState: false });
    }
    return out;
  }

  /** `settled`: an LDS update's listeners are bound by settleListeners before it is ACKed (ADS), not here. */
  private onUpdate(u: ResourceUpdate, settled = false): void {
    if (u.typeUrl === CLUSTER_TYPE) this.updateClusters(u);
    else if (u.typeUrl === ENDPOINT_TYPE) this.updateEndpoints(u);
    else if (u.typeUrl === LISTENER_TYPE) this.updateListeners(u, settled);
    else if (u.typeUrl === ROUTE_TYPE) this.updateRoutes(u);
    else if (u.typeUrl === SECRET_TYPE) this.updateSecrets(u);
  }

  /** ADS Secrets (validated before the ACK) into the SecretManager; the contexts watching them rebuild. */
  private updateSecrets(u: ResourceUpdate): void {
    for (const r of u.updated) this.secrets.set("ads", r.name, secretFromResource(r.name, asSecret(r)), r.version);
    for (const n of u.removed) this.secrets.set("ads", n, undefined);
  }

  /** Every SDS secret the config refers to (clusters, warming or not, and listeners, bound or waiting for routes). */
  private sdsRefs(): SdsSecretRef[] {
    const out = new Map<string, SdsSecretRef>();
    const add = (t: { kind: string; refs?: ContextSecretRefs } | undefined) => {
      if (t?.kind !== "sds" || !t.refs) return;
      for (const r of allRefs(t.refs)) out.set(`${r.source}\u0000${r.name}`, r);
    };
    for (const c of [...this.clusters.values(), ...this.warming.values()]) {
      add(c.spec.tls);
      for (const m of c.spec.transportSocketMatches) add(m.tls);
    }
    for (const l of this.compiledListeners.values()) for (const fc of l.chains.keys()) add(fc.tls);
    return [...out.values()];
  }

  /**
   * Subscribes to the Secrets the config names over ADS (after the clusters and listeners that
   * need them, as Envoy). From the config rather than from the bound contexts (the
   * SecretManager's watchers): a `--concurrency` primary binds no listener but its workers need
   * their secrets, and a listener still draining must not keep a secret subscribed.
   */
  private watchAdsSecrets(): void {
    if (!this.ads) return;
    const names = new Set(this.sdsRefs().filter((r) => r.source === "ads").map((r) => r.name));
    this.ads.watch(SECRET_TYPE, [...names].sort());
  }

  /** The certificates of every TLS context in use (admin /certs): clusters', then listeners'. */
  tlsContexts(): ContextCertificates[] {
    const out: ContextCertificates[] = [];
    for (const c of this.clusters.values()) for (const t of c.tlsContexts()) out.push(t.certificates);
    for (const l of this.listeners.tlsContexts()) out.push(l.tls.certificates);
    return out;
  }

  private updateClusters(u: ResourceUpdate): void {
    if (!this.options.worker) this.upstreamLog.info(`cds: add ${u.updated.length} cluster(s), remove ${u.removed.length} cluster(s)`);
    for (const r of u.updated) {
      if (this.staticClusterNames.has(r.name)) continue;
      const spec: ClusterSpec = clusterSpec(asCluster(r));
      const live = this.clusters.get(spec.name);
      const next = this.newCluster(spec, live);
      this.warming.get(spec.name)?.close();
      this.warming.delete(spec.name);
      if (next.warmed) {
        this.clusters.set(spec.name, next);
        if (live && live !== next) live.close();
      } else {
        this.warming.set(spec.name, next);
      }
      if (!this.options.worker && this.upstreamLog.enabled(DEBUG)) this.upstreamLog.debug(`cds: ${live ? "update" : "add"} cluster '${spec.name}' (${spec.type}${next.warmed ? "" : ", warming until its endpoints arrive"})`);
    }
    for (const name of u.removed) {
      if (this.staticClusterNames.has(name)) continue;
      this.clusters.get(name)?.close();
      this.clusters.delete(name);
      this.warming.get(name)?.close();
      this.warming.delete(name);
      this.stats.removePrefix(`cluster.${name}.`);
    }
    this.ads?.watch(ENDPOINT_TYPE, this.edsNames());
    this.watchAdsSecrets();
    this.maybeInitialized();
  }

  private edsNames(): string[] {
    const names = new Set<string>();
    for (const c of [...this.clusters.values(), ...this.warming.values()]) if (c.spec.type === "EDS") names.add(c.spec.edsServiceName);
    return [...names].sort();
  }

  private updateEndpoints(u: ResourceUpdate): void {
    for (const r of u.updated) {
      for (const c of [...this.warming.values(), ...this.clusters.values()]) {
        if (c.spec.type !== "EDS" || c.spec.edsServiceName !== r.name) continue;
        c.setAssignment(asAssignment(r));
        if (this.warming.get(c.name) === c) {
          this.warming.delete(c.name);
          const live = this.clusters.get(c.name);
          this.clusters.set(c.name, c);
          if (live && live !== c) live.close();
        }
      }
    }
    for (const name of u.removed) {
      for (const c of this.clusters.values()) if (c.spec.type === "EDS" && c.spec.edsServiceName === name) c.setAssignment({ clusterName: name });
      // A cluster whose assignment does not exist warms empty (Envoy does too, after the fetch).
      for (const c of [...this.warming.values()]) {
        if (c.spec.type !== "EDS" || c.spec.edsServiceName !== name) continue;
        c.setAssignment({ clusterName: name });
        this.warming.delete(c.name);
        this.clusters.set(c.name, c);
      }
    }
    this.maybeInitialized();
  }

  private updateListeners(u: ResourceUpdate, settled: boolean): void {
    const previous = new Map<string, CompiledListener | undefined>();
    for (const r of u.updated) {
      if (this.staticListenerNames.has(r.name)) continue;
      previous.set(r.name, this.compiledListeners.get(r.name));
      this.compiledListeners.set(r.name, this.compileListener(asListener(r)));
      if (!this.options.worker) this.upstreamLog.info(`lds: add/update listener '${r.name}'`);
    }
    if (!this.options.worker && u.removed.length > 0) this.upstreamLog.info(`lds: remove listener(s) ${u.removed.map((n) => `'${n}'`).join(", ")}`);
    for (const name of u.removed) if (!this.staticListenerNames.has(name)) this.compiledListeners.delete(name);
    const routeNames = new Set<string>();
    for (const l of this.compiledListeners.values()) for (const n of l.routeNames) routeNames.add(n);
    for (const n of [...this.routes.keys()]) if (!routeNames.has(n)) this.routes.delete(n);
    this.ads?.watch(ROUTE_TYPE, [...routeNames].sort());
    this.watchAdsSecrets();
    if (settled) this.listenerRollback.set(u, previous);
    else void this.applyListeners();
  }

  /**
   * Binds an LDS update's listeners before its ACK, as Envoy does: one that cannot bind is not
   * added (its previous version keeps serving) and the update is NACKed naming it, its address and
   * the OS error; the others apply. One waiting for its routes has its address tried now.
   */
  private async settleListeners(u: ResourceUpdate): Promise<{ message: string; rejected: string[] } | undefined> {
    const previous = this.listenerRollback.get(u) ?? new Map<string, CompiledListener | undefined>();
    // A new version on the socket its previous one has is not tried (a --concurrency primary's workers hold it).
    const sameSocket = (a: ListenerSpec, b: ListenerSpec | undefined) => b !== undefined && a.address === b.address && a.port === b.port && a.bindToPort === b.bindToPort;
    const specs = [...previous.keys()].map((n) => this.compiledListeners.get(n)!.spec).filter((spec) => !sameSocket(spec, previous.get(spec.name)?.spec));
    const failures = await this.listeners.checkBind(specs);
    for (const f of failures) {
      const before = previous.get(f.name);
      if (before) this.compiledListeners.set(f.name, before);
      else this.compiledListeners.delete(f.name);
    }
    for (const e of await this.applyListeners()) if (previous.has(e.name) && !failures.some((f) => f.name === e.name)) failures.push(e);
    setImmediate(() => this.maybeInitialized()); // once the ACK or NACK is recorded
    if (failures.length === 0) return undefined;
    const message = listenerUpdateError(failures);
    this.configLog.error(`lds: ${message}`);
    return { message, rejected: failures.map((f) => f.name) };
  }

  private updateRoutes(u: ResourceUpdate): void {
    for (const r of u.updated) {
      const rc = asRouteConfiguration(r);
      this.routes.set(r.name, compileRoutes(rc));
      this.routeObjects.set(r.name, rc);
    }
    for (const n of u.removed) {
      this.routes.delete(n);
      this.routeObjects.delete(n);
    }
    void this.applyListeners();
  }

  /** Binds every listener whose routes are all here (warm); others wait for RDS. */
  private applyListeners(): Promise<Array<{ name: string; message: string }>> {
    const run = this.applying.then(async () => {
      const ready: ListenerSpec[] = [];
      let waiting = 0;
      for (const l of this.compiledListeners.values()) {
        const cold = l.routeNames.filter((n) => !this.routes.has(n));
        if (cold.length === 0) ready.push(l.spec);
        else {
          waiting++;
          // Keep the running version (if any) until the new one is warm.
          const running = this.listeners.specs().find((s) => s.name === l.spec.name);
          if (running) ready.push(running);
        }
      }
      const errors = this.options.serveTraffic === false ? [] : await this.listeners.apply(ready);
      for (const e of errors) this.configLog.error(`listener ${e.name}: ${e.message}`);
      if (waiting === 0) this.maybeInitialized();
      return errors;
    });
    this.applying = run.then(() => undefined);
    return run;
  }


  private maybeInitialized(): void {
    if (this.initialized || !this.ads) return;
    const snap = this.ads.snapshot();
    const cds = snap.get(CLUSTER_TYPE);
    const lds = snap.get(LISTENER_TYPE);
    // A rejected first LDS response ends its initial fetch too (Envoy's init target), so a proxy
    // whose listener cannot bind still gets ready and serves its other listeners.
    if (!cds?.lastUpdated || !(lds?.lastUpdated || lds?.nack)) return;
    if (this.warming.size > 0) return;
    for (const l of this.compiledListeners.values()) if (l.routeNames.some((n) => !this.routes.has(n))) return;
    this.markInitialized();
  }

  // ---- handlers ----

  private handlerFor(l: ListenerSpec, fc: FilterChainSpec): NetworkHandler {
    // The spec's own compile: a version still being bound when a newer one arrived keeps its chains.
    const compiled = this.compiledBySpec.get(l)?.chains.get(fc);
    if (!compiled) throw new Error(`listener ${l.name}: no handler`);
    return chainHandler(compiled.filters);
  }

  /** Envoy's /config_dump: an admin ConfigDump as Envoy prints it (proto field names, proto3 JSON). */
  configDump(): unknown {
    return configDump({ node: this.options.node, staticResources: this.options.staticResources, snapshot: this.ads?.snapshot(), warming: (n) => this.warming.has(n), secrets: secretsConfigDump(this.secrets.entries(), this.sdsRefs()) });
  }

  async close(): Promise<void> {
    await this.ads?.close();
    await this.listeners.close();
    for (const c of [...this.clusters.values(), ...this.warming.values()]) c.close();
    this.accessLogWriters.close();
    this.tracers.close();
  }
}

// The decode-once boundary: the ADS client decodes each resource with its type URL's schema (wire.ts),
// which guarantees the message's shape, so a resource is typed here, once per resource type, and
// used typed from then on.
const asCluster = (r: DecodedResource): v3.Cluster => r.object as v3.Cluster;
const asAssignment = (r: DecodedResource): v3.ClusterLoadAssignment => r.object as v3.ClusterLoadAssignment;
const asListener = (r: DecodedResource): v3.Listener => r.object as v3.Listener;
const asRouteConfiguration = (r: DecodedResource): v3.RouteConfiguration => r.object as v3.RouteConfiguration;
const asSecret = (r: DecodedResource): v3.Secret => r.object as v3.Secret;
