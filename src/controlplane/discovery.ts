// `tsmesh discovery`: istiod's Pilot role wired together. Config folders (watched) feed the
// store; store changes are debounced into pushes; a full push builds a new PushContext, an
// endpoints-only change (WorkloadEntries only, services unchanged) takes the incremental EDS path.
import type { AnyResource } from "../api/resource.js";
import { DirectorySource, type FileReport } from "../config/directory.js";
import { ConfigStore, type ChangeBatch } from "../config/store.js";
import { MetricsRegistry } from "../core/metrics.js";
import { DEFAULT_MESH_CONFIG, PushContext, pushInputFrom, type MeshConfig } from "../model/push-context.js";
import type { WorkloadEndpoint } from "../registry/model.js";
import { changedEndpointHosts, ServiceRegistry } from "../registry/registry.js";
import { hostMatches, resolveShortName } from "../api/hosts.js";
import { outboundClusterName } from "../xds/gen/names.js";
import { AdsServer } from "../xds/server/ads.js";
import { Debouncer } from "../xds/server/debounce.js";
import type { PushRequest } from "../xds/server/types.js";
import { WorkloadAutoRegistration } from "./autoregistration.js";
import { IstioGenerator, type ConnectedProxy } from "./generator.js";
import { MonitoringServer } from "./monitoring.js";

export interface DiscoveryOptions {
  /** Folders or files of Istio YAML, lowest priority first (later ones override). */
  configPaths: readonly string[];
  /** ADS listen address (istiod's plaintext 15010). */
  xdsAddress?: string;
  /** /metrics, /ready and /debug/* (istiod's 15014); "" disables it. */
  monitoringAddress?: string;
  mesh?: Partial<MeshConfig>;
  /** Debounce window (istiod: 100 ms quiet, 10 s max). */
  debounceQuietMs?: number;
  debounceMaxMs?: number;
  /** How long an auto-registered WorkloadEntry outlives its proxy's connection (istiod: 10 s). */
  workloadEntryGraceMs?: number;
  /** Watch the config paths for changes (default true). */
  watch?: boolean;
  log?: (line: string) => void;
}

export class Discovery {
  readonly store = new ConfigStore();
  readonly metrics = new MetricsRegistry();
  readonly generator = new IstioGenerator();
  readonly server: AdsServer<ConnectedProxy>;
  readonly mesh: MeshConfig;
  readonly autoRegistration: WorkloadAutoRegistration;
  private readonly sources: DirectorySource[] = [];
  private readonly debouncer: Debouncer;
  private monitoring: MonitoringServer | undefined;
  private unsubscribe: (() => void) | undefined;
  private current: PushContext;
  private readonly log: (line: string) => void;
  private readonly rejectedConfigs = this.metrics.counter("pilot_total_rejected_configs", "Total number of configs that Pilot had to reject or ignore.");
  private readonly pushContextErrors = this.metrics.counter("pilot_xds_push_context_errors", "Number of errors (timeouts) initiating push context.");
  private readonly fullPushes = this.metrics.counter("pilot_push_full", "Full pushes by the discovery server (tsmesh).");
  private readonly edsPushes = this.metrics.counter("pilot_push_eds_incremental", "Endpoint-only (incremental) pushes (tsmesh).");
  xdsPort = 0;
  monitoringPort = 0;
  private started = false;
  /** WorkloadEntries ("ns/name") changed since the last push (the incremental path checks only these). */
  private changedWorkloads = new Set<string>();

  constructor(private readonly options: DiscoveryOptions) {
    this.mesh = { ...DEFAULT_MESH_CONFIG, ...options.mesh };
    this.log = options.log ?? ((l) => process.stderr.write(l + "\n"));
    this.server = new AdsServer(this.generator, { metrics: this.metrics, log: this.log });
    this.debouncer = new Debouncer((req) => this.flush(req), {
      quietMs: options.debounceQuietMs ?? 100,
      maxMs: options.debounceMaxMs ?? 10_000,
      onError: (e) => {
        this.pushContextErrors.inc();
        this.log(`discovery: push failed: ${(e as Error).stack ?? String(e)}`);
      },
    });
    this.autoRegistration = new WorkloadAutoRegistration(this.store, { graceMs: options.workloadEntryGraceMs, log: this.log });
    this.generator.lifecycle = this.autoRegistration;
    this.current = new PushContext(pushInputFrom([]), this.mesh);
    const services = this.metrics.gauge("pilot_services", "Total services known to pilot.");
    services.collect(() => [[undefined, this.current.registry.services.length]]);
    const vs = this.metrics.gauge("pilot_virt_services", "Total virtual services known to pilot.");
    vs.collect(() => [[undefined, this.current.input.virtualServices.length]]);
    const dr = this.metrics.gauge("pilot_destrule_subsets", "Duplicate subsets across destination rules for same host (tsmesh: total subsets).");
    dr.collect(() => [[undefined, this.current.input.destinationRules.reduce((n, d) => n + (d.spec.subsets?.length ?? 0), 0)]]);
  }

  /** The snapshot the last push used. */
  get pushContext(): PushContext {
    return this.current;
  }

  /** Loads config, starts serving ADS and monitoring; returns the bound ports. */
  async start(): Promise<{ xdsPort: number; monitoringPort: number }> {
    this.options.configPaths.forEach((path, i) => {
      const src = new DirectorySource(path, this.store, { id: `config:${i}:${path}`, priority: i, onReport: (r) => this.report(r) });
      this.sources.push(src);
    });
    for (const src of this.sources) {
      const problems = this.options.watch === false ? src.load() : src.start();
      for (const r of problems) this.report(r);
    }
    this.current = this.buildPushContext();
    this.generator.beginPush(this.current, { full: true });
    this.server.setContext({ full: true, reasons: ["initial"], start: Date.now(), context: this.current });
    this.unsubscribe = this.store.subscribe((batch) => this.onStoreChange(batch));
    this.xdsPort = await this.server.listen(this.options.xdsAddress ?? "127.0.0.1:15010");
    if (this.options.monitoringAddress !== "") {
      this.monitoring = new MonitoringServer(this);
      this.monitoringPort = await this.monitoring.listen(this.options.monitoringAddress ?? "127.0.0.1:15014");
    }
    this.started = true;
    return { xdsPort: this.xdsPort, monitoringPort: this.monitoringPort };
  }

  get ready(): boolean {
    return this.started;
  }

  /**
   * Whether config has settled everywhere: no change waiting in the debouncer, no push queued or in
   * flight, and every connected proxy has answered (ACK or NACK) the last response of each type.
   */
  async converged(): Promise<boolean> {
    if (this.debouncer.hasPending) return false;
    const idle = await Promise.race([this.server.idle().then(() => true), new Promise<boolean>((r) => setImmediate(() => r(false)))]);
    if (!idle || this.debouncer.hasPending) return false;
    for (const c of this.server.connections()) {
      for (const t of c.types) {
        if (!t.sentNonce) continue;
        if (t.sentNonce !== t.ackedNonce && t.sentNonce !== t.nack?.nonce) return false;
      }
    }
    return true;
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    this.debouncer.close();
    this.autoRegistration.close();
    for (const s of this.sources) s.close();
    await Promise.all([this.server.close(), this.monitoring?.close()]);
  }

  private report(r: FileReport): void {
    if (r.status !== "rejected") return;
    for (const doc of r.results) {
      for (const d of doc.diagnostics) {
        if (d.severity !== "error") continue;
        const what = doc.kind && doc.name ? ` ${doc.kind} ${doc.namespace ?? "default"}/${doc.name}` : "";
        this.log(`discovery: ${r.file}:${doc.line}${what}: ${d.path ? d.path + ": " : ""}${d.message} [${d.code}]${r.keptLastGood ? " (last good version kept)" : ""}`);
      }
      if (!doc.valid) this.rejectedConfigs.inc();
    }
  }

  private buildPushContext(): PushContext {
    return new PushContext(pushInputFrom(this.store.list() as AnyResource[]), this.mesh);
  }

  private onStoreChange(batch: ChangeBatch): void {
    const endpointsOnly = batch.changes.every((c) => c.kind === "WorkloadEntry");
    for (const c of batch.changes) if (c.kind === "WorkloadEntry") this.changedWorkloads.add(`${c.namespace}/${c.name}`);
    this.debouncer.add({
      full: !endpointsOnly,
      configKinds: new Set(batch.changes.map((c) => c.kind)),
      reasons: [endpointsOnly ? "endpoint" : "config"],
      start: Date.now(),
      context: undefined,
    });
  }

  /** Debounced: builds the next snapshot and hands it to the ADS server. */
  private flush(req: PushRequest): void {
    if (!req.full) {
      const incremental = this.incrementalEndpoints();
      if (incremental) {
        const { push, hosts, clusters } = incremental;
        if (hosts.size === 0) return;
        this.current = push;
        this.generator.beginPush(push, { full: false }, hosts);
        this.edsPushes.inc();
        this.server.push({ ...req, full: false, edsUpdates: clusters, context: push });
        return;
      }
    }
    this.changedWorkloads = new Set();
    this.current = this.buildPushContext();
    this.generator.beginPush(this.current, { full: true });
    this.fullPushes.inc();
    this.server.push({ ...req, full: true, edsUpdates: undefined, context: this.current });
  }

  /**
   * The incremental EDS path: valid when only endpoints moved (services unchanged) and no connected
   * proxy's own workload changed (its inbound config and labels would change: full push).
   */
  private incrementalEndpoints(): { push: PushContext; hosts: Set<string>; clusters: Set<string> } | undefined {
    const workloadEntries = this.store.list("WorkloadEntry");
    const registry = new ServiceRegistry({ serviceEntries: this.current.input.serviceEntries, workloadEntries });
    const hosts = changedEndpointHosts(this.current.registry, registry);
    if (!hosts) return undefined;
    // Entries the store reported changed since the last push, before and after.
    const proxyIps = new Set(this.generator.proxies().flatMap((p) => p.proxy.ipAddresses));
    const changed = this.changedWorkloads;
    this.changedWorkloads = new Set();
    const touchesProxy = (workloads: readonly WorkloadEndpoint[]) =>
      workloads.some((w) => changed.has(`${w.namespace}/${w.source.name}`) && proxyIps.has(w.address));
    if (touchesProxy(this.current.registry.workloads) || touchesProxy(registry.workloads)) return undefined;
    const push = this.current.withRegistry(registry, workloadEntries);
    return { push, hosts, clusters: this.clusterNamesFor(push, hosts) };
  }

  /** Every EDS cluster name of the given hosts: all ports, and all subsets any rule defines for them. */
  private clusterNamesFor(push: PushContext, hosts: ReadonlySet<string>): Set<string> {
    const out = new Set<string>();
    for (const host of hosts) {
      const subsets = new Set<string>([""]);
      for (const dr of push.input.destinationRules) {
        if (!hostMatches(resolveShortName(dr.spec.host, dr.metadata.namespace), host)) continue;
        for (const s of dr.spec.subsets ?? []) subsets.add(s.name);
      }
      for (const svc of push.registry.servicesFor(host)) {
        for (const p of svc.ports) for (const subset of subsets) out.add(outboundClusterName(p.port, host, subset));
      }
    }
    return out;
  }
}
