// Envoy's admin interface (IP:15000) and the health port (IP:15021 /healthz/ready, pilot-agent's
// role): /config_dump, /certs, /clusters, /listeners, /stats, /stats/prometheus, /ready, /server_info, and
// the endpoints that change state — /logging, /drain_listeners, /healthcheck/fail|ok,
// /reset_counters, /quitquitquit — which, as Envoy's (handlers marked mutates_server_state), answer
// only POST: any other method gets 405 "Method GET not allowed, POST required.". And tsmesh's own
// /tsmesh/tap: live finished streams for `tsmesh tap` (observability/tap-stream.ts).
import * as http from "node:http";
import { applyLoggingQuery, LEVEL_NAMES, type LogLevelName, type LogRegistry } from "../core/log.js";
import { proxyBuildVersion } from "../core/tsmesh-version.js";
import type { ProxyServer } from "./proxy.js";
import type { StatsStore } from "./stats.js";
import { certificatesJson, type ContextCertificates } from "./tls/cert-details.js";
import { hostStats } from "./upstream/cluster.js";
import { type AppMetricsTarget, mergeMetricsText, scrapeApp } from "./prometheus-merge.js";
import { TapHub, type TapHubOptions } from "./observability/tap.js";
import { serveTap, TAP_ADMIN_PATH } from "./observability/tap-stream.js";
import { adminEdsHealthStatus, edsHealthFlag, type Host } from "./upstream/host.js";

/**
 * One process's view of one host for /clusters: Envoy's per-host counters (rq_*, cx_*), gauges,
 * outlier ejection and success rates. `--concurrency` workers send theirs to the primary, which
 * sums them (counters and gauges), shows a host ejected when any worker ejected it, and averages
 * the success rates the workers computed.
 */
export interface HostCounterSnapshot {
  cluster: string;
  /** Host key (address:port). */
  host: string;
  cxActive: number;
  cxConnectFail: number;
  cxTotal: number;
  rqActive: number;
  rqError: number;
  rqSuccess: number;
  rqTimeout: number;
  rqTotal: number;
  ejected: boolean;
  /** Success rates over the last outlier interval (percent), -1 when not computed. */
  successRate: number;
  localOriginSuccessRate: number;
  /** The cluster's success-rate figures (the same on every host of a cluster), -1 when not computed. */
  clusterSuccessRateAverage: number;
  clusterSuccessRateEjectionThreshold: number;
  clusterLocalOriginSuccessRateAverage: number;
  clusterLocalOriginSuccessRateEjectionThreshold: number;
}

type HostCounters = Omit<HostCounterSnapshot, "cluster" | "host" | `cluster${string}`>;

interface ClusterRates {
  successRateAverage: number;
  successRateEjectionThreshold: number;
  localOriginSuccessRateAverage: number;
  localOriginSuccessRateEjectionThreshold: number;
}

/** Merged host counters, by cluster NUL host key, and the clusters' success-rate figures. */
export interface HostCounterTable {
  hosts: Map<string, HostCounters>;
  clusters: Map<string, ClusterRates>;
}

const ZERO_COUNTERS: HostCounters = { cxActive: 0, cxConnectFail: 0, cxTotal: 0, rqActive: 0, rqError: 0, rqSuccess: 0, rqTimeout: 0, rqTotal: 0, ejected: false, successRate: -1, localOriginSuccessRate: -1 };

function hostId(cluster: string, host: string): string {
  return `${cluster}\u0000${host}`;
}

/** This process's hosts, every cluster (what a worker sends its primary). */
export function hostCounterSnapshot(proxy: ProxyServer): HostCounterSnapshot[] {
  const out: HostCounterSnapshot[] = [];
  for (const c of proxy.clusters.values()) {
    const od = c.outlier;
    for (const h of c.hosts()) {
      const hs = hostStats(h);
      const m = od?.monitor(h);
      out.push({
        cluster: c.name,
        host: h.key,
        cxActive: h.activeConnections,
        cxConnectFail: hs.cxConnectFail,
        cxTotal: hs.cxTotal,
        rqActive: h.activeRequests,
        rqError: hs.rqError,
        rqSuccess: hs.rqSuccess,
        rqTimeout: hs.rqTimeout,
        rqTotal: hs.rqTotal,
        ejected: h.ejected,
        successRate: m?.external.rate ?? -1,
        localOriginSuccessRate: m?.localOrigin.rate ?? -1,
        clusterSuccessRateAverage: od?.externalSuccessRate.average ?? -1,
        clusterSuccessRateEjectionThreshold: od?.externalSuccessRate.ejectionThreshold ?? -1,
        clusterLocalOriginSuccessRateAverage: od?.localOriginSuccessRate.average ?? -1,
        clusterLocalOriginSuccessRateEjectionThreshold: od?.localOriginSuccessRate.ejectionThreshold ?? -1,
      });
    }
  }
  return out;
}

/** Mean of the values a process computed (>= 0), or -1. */
class RateMean {
  sum = 0;
  n = 0;
  add(v: number): void {
    if (v < 0) return;
    this.sum += v;
    this.n++;
  }
  get value(): number {
    return this.n === 0 ? -1 : this.sum / this.n;
  }
}

/** Sums several processes' snapshots (counters and gauges add; ejected in any; rates averaged). */
export function mergeHostCounters(snapshots: ReadonlyArray<readonly HostCounterSnapshot[]>): HostCounterTable {
  const hosts = new Map<string, HostCounters>();
  const rates = new Map<string, RateMean[]>();
  const clusterRates = new Map<string, RateMean[]>();
  const seenCluster = new Set<string>();
  for (const snap of snapshots) {
    seenCluster.clear();
    for (const s of snap) {
      const id = hostId(s.cluster, s.host);
      let h = hosts.get(id);
      if (h === undefined) hosts.set(id, (h = { ...ZERO_COUNTERS }));
      h.cxActive += s.cxActive;
      h.cxConnectFail += s.cxConnectFail;
      h.cxTotal += s.cxTotal;
      h.rqActive += s.rqActive;
      h.rqError += s.rqError;
      h.rqSuccess += s.rqSuccess;
      h.rqTimeout += s.rqTimeout;
      h.rqTotal += s.rqTotal;
      h.ejected ||= s.ejected;
      let r = rates.get(id);
      if (r === undefined) rates.set(id, (r = [new RateMean(), new RateMean()]));
      r[0].add(s.successRate);
      r[1].add(s.localOriginSuccessRate);
      if (seenCluster.has(s.cluster)) continue;
      seenCluster.add(s.cluster);
      let cr = clusterRates.get(s.cluster);
      if (cr === undefined) clusterRates.set(s.cluster, (cr = [new RateMean(), new RateMean(), new RateMean(), new RateMean()]));
      cr[0].add(s.clusterSuccessRateAverage);
      cr[1].add(s.clusterSuccessRateEjectionThreshold);
      cr[2].add(s.clusterLocalOriginSuccessRateAverage);
      cr[3].add(s.clusterLocalOriginSuccessRateEjectionThreshold);
    }
  }
  for (const [id, r] of rates) {
    const h = hosts.get(id)!;
    h.successRate = r[0].value;
    h.localOriginSuccessRate = r[1].value;
  }
  const clusters = new Map<string, ClusterRates>();
  for (const [name, cr] of clusterRates) {
    clusters.set(name, { successRateAverage: cr[0].value, successRateEjectionThreshold: cr[1].value, localOriginSuccessRateAverage: cr[2].value, localOriginSuccessRateEjectionThreshold: cr[3].value });
  }
  return { hosts, clusters };
}

/** Envoy's health_flags for /clusters, with the outlier flag as merged across processes. */
function healthFlags(h: Host, ejected: boolean): string {
  let f = "";
  if (h.activeHcFailed) f += "/failed_active_hc";
  if (ejected) f += "/failed_outlier_check";
  f += edsHealthFlag(h.healthStatus);
  return f || "healthy";
}

/** Envoy prints -1 when not computed, else the double. */
function fmtRate(v: number | undefined): string {
  return v === undefined || v < 0 ? "-1" : String(v);
}

/** A state change the admin applied that the --concurrency workers (which carry the traffic) must apply too. */
export type WorkerCommand =
  | { type: "drain_listeners" }
  | { type: "reset_counters" }
  | { type: "logging"; levels: Array<[string, LogLevelName]> }
  /** Tapping began (a first tapper) or ended (the last one left): workers forward their streams meanwhile. */
  | { type: "tap"; on: boolean };

export interface AdminOptions {
  nodeId: string;
  /** Called by /quitquitquit (the CLI exits). */
  onQuit: () => void;
  /** Forwards a state change to the workers (--concurrency); unset when this process serves the traffic. */
  toWorkers?: (cmd: WorkerCommand) => void;
  /** Process-wide stats when other processes serve traffic (--concurrency); default: this proxy's. */
  collectStats?: () => Promise<StatsStore>;
  /** Worker processes (for /server_info). */
  workers?: () => number[];
  concurrency?: number;
  /** Readiness when more than this process must be ready (workers); default: the proxy's. */
  ready?: () => boolean;
  /** The TLS contexts in use when other processes serve traffic (--concurrency: a worker's); default: this proxy's. */
  collectCerts?: () => Promise<ContextCertificates[]>;
  /** `tsmesh tap`'s limits (tappers, ring size, session length); Envoy-free defaults otherwise. */
  tap?: Omit<TapHubOptions, "onActive">;
}

function send(res: http.ServerResponse, status: number, body: string, type = "text/plain; charset=UTF-8"): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** One admin endpoint: its path (matched exactly, without the query), help text and whether it changes state. */
interface Endpoint {
  path: string;
  help: string;
  /** Envoy's mutates_server_state: POST only. */
  mutates: boolean;
  run: (url: URL, res: http.ServerResponse) => void;
  /** Not listed on /help (Envoy's mutating endpoints tsmesh does not implement: 405 on GET, 501 on POST). */
  hidden?: boolean;
}

export class AdminServer {
  private readonly servers: http.Server[] = [];
  /** /healthcheck/fail: the server reports DRAINING (not ready) until /healthcheck/ok. */
  private healthCheckFailed = false;
  private readonly endpoints: Map<string, Endpoint>;
  private readonly logs: LogRegistry;
  /** `tsmesh tap`'s tappers; its sink is on the proxy's StreamSinks only while one is connected. */
  readonly tap: TapHub;

  constructor(
    private readonly proxy: ProxyServer,
    private readonly options: AdminOptions,
  ) {
    this.logs = proxy.logs;
    this.tap = new TapHub(proxy.streamSinks, { ...options.tap, stats: proxy.stats, onActive: (on) => options.toWorkers?.({ type: "tap", on }) });
    this.endpoints = new Map(this.table().map((e) => [e.path, e]));
  }

  private isReady(): boolean {
    return (this.options.ready ? this.options.ready() : this.proxy.isReady) && !this.healthCheckFailed;
  }

  /** Envoy's server state: PRE_INITIALIZING until the config is in, then LIVE, or DRAINING after /healthcheck/fail. */
  private state(): "LIVE" | "PRE_INITIALIZING" | "DRAINING" {
    const initialized = this.options.ready ? this.options.ready() : this.proxy.isReady;
    if (!initialized) return "PRE_INITIALIZING";
    return this.healthCheckFailed ? "DRAINING" : "LIVE";
  }

  private table(): Endpoint[] {
    /** A state change answered "OK", as Envoy's. */
    const command = (path: string, help: string, act: () => void): Endpoint => ({
      path,
      help,
      mutates: true,
      run: (_url, res) => {
        act();
        send(res, 200, "OK\n");
      },
    });
    const notImplemented = (path: string, help: string): Endpoint => ({
      path,
      help,
      mutates: true,
      hidden: true,
      run: (_url, res) => send(res, 501, `${path} is not implemented by tsmesh\n`),
    });
    return [
      { path: "/", help: "this list", mutates: false, run: (_u, res) => send(res, 200, this.help()) },
      { path: "/help", help: "this list", mutates: false, run: (_u, res) => send(res, 200, this.help()) },
      { path: "/ready", help: "server state; 200 when LIVE, else 503", mutates: false, run: (_u, res) => send(res, this.state() === "LIVE" ? 200 : 503, this.state() + "\n") },
      { path: "/config_dump", help: "the configuration in effect (Envoy's ConfigDump)", mutates: false, run: (_u, res) => send(res, 200, JSON.stringify(this.proxy.configDump(), null, 2), "application/json") },
      { path: "/certs", help: "the certificates of the TLS contexts in use (Envoy's Certificates)", mutates: false, run: (_u, res) => this.certsPage(res) },
      { path: "/stats", help: "counters and gauges (?filter=REGEX, ?format=json)", mutates: false, run: (url, res) => this.statsPage(url, "/stats", res) },
      { path: "/stats/prometheus", help: "counters and gauges in Prometheus' text format", mutates: false, run: (url, res) => this.statsPage(url, "/stats/prometheus", res) },
      { path: "/clusters", help: "upstream clusters and their hosts (?format=json)", mutates: false, run: (url, res) => this.clustersPage(url, res) },
      { path: "/listeners", help: "listeners and their addresses (?format=json)", mutates: false, run: (url, res) => this.listenersPage(url, res) },
      { path: TAP_ADMIN_PATH, help: "stream finished requests and connections as JSON lines, for `tsmesh tap` (?path=PREFIX&method=M&authority=A&status=5xx)", mutates: false, run: (url, res) => serveTap(this.tap, url, res.req.method ?? "", res) },
      { path: "/server_info", help: "version, state, uptime, node and workers", mutates: false, run: (_u, res) => this.serverInfo(res) },
      { path: "/logging", help: "list loggers; ?level=L sets all, ?paths=name:L,... or ?NAME=L sets some", mutates: true, run: (url, res) => this.logging(url, res) },
      command("/drain_listeners", "drain every listener", () => {
        this.proxy.listeners.drainAll();
        this.options.toWorkers?.({ type: "drain_listeners" });
      }),
      command("/healthcheck/fail", "fail readiness (/ready and the health port) until /healthcheck/ok", () => (this.healthCheckFailed = true)),
      command("/healthcheck/ok", "pass readiness again after /healthcheck/fail", () => (this.healthCheckFailed = false)),
      command("/reset_counters", "set every counter to zero", () => {
        this.proxy.stats.resetCounters();
        this.options.toWorkers?.({ type: "reset_counters" });
      }),
      // The answer goes out before the process stops.
      command("/quitquitquit", "exit the proxy", () => setImmediate(this.options.onQuit)),
      notImplemented("/cpuprofiler", "CPU profiler"),
      notImplemented("/heapprofiler", "heap profiler"),
      notImplemented("/runtime_modify", "runtime overrides"),
      notImplemented("/reopen_logs", "reopen access logs"),
      notImplemented("/stats/recentlookups/clear", "stat-name lookup recording"),
      notImplemented("/stats/recentlookups/disable", "stat-name lookup recording"),
      notImplemented("/stats/recentlookups/enable", "stat-name lookup recording"),
    ];
  }

  /** Envoy's help: every endpoint, sorted, the ones that change state marked (POST). */
  private help(): string {
    const rows = [...this.endpoints.values()].filter((e) => !e.hidden).sort((a, b) => (a.path < b.path ? -1 : 1));
    return "admin commands are:\n" + rows.map((e) => `  ${e.path}${e.mutates ? " (POST)" : ""}: ${e.help}\n`).join("");
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://admin");
    const e = this.endpoints.get(url.pathname);
    if (!e) return send(res, 404, "invalid path. " + this.help());
    const method = req.method ?? "";
    if (e.mutates && method !== "POST") {
      this.logs.get("admin").error(`admin path ${JSON.stringify(e.path)} changes state: ${method} refused, POST required`);
      return send(res, 405, `Method ${method} not allowed, POST required.`);
    }
    try {
      e.run(url, res);
    } catch (err) {
      // A page that cannot be built is this request's 500, never the proxy's crash.
      this.logs.get("admin").error(`admin path ${JSON.stringify(e.path)}: ${(err as Error).message}`);
      if (!res.headersSent) send(res, 500, `${e.path}: ${(err as Error).message}\n`);
      else res.destroy();
    }
  }

  private statsPage(url: URL, p: string, res: http.ServerResponse): void {
    void this.stats().then(
      (store) => this.sendStats(res, url, p, store),
      (err: Error) => send(res, 500, `stats unavailable: ${err.message}\n`),
    );
  }

  private clustersPage(url: URL, res: http.ServerResponse): void {
    const json = url.searchParams.get("format") === "json";
    void this.hostCounters().then(
      (table) => (json ? send(res, 200, JSON.stringify(this.clustersJson(table)), "application/json") : send(res, 200, this.clustersText(table))),
      (err: Error) => send(res, 500, `clusters unavailable: ${err.message}\n`),
    );
  }

  private certsPage(res: http.ServerResponse): void {
    const contexts = this.options.collectCerts ? this.options.collectCerts() : Promise.resolve(this.proxy.tlsContexts());
    void contexts.then(
      (c) => send(res, 200, JSON.stringify(certificatesJson(c, Date.now()), null, 1), "application/json"),
      (err: Error) => send(res, 500, `certs unavailable: ${err.message}\n`),
    );
  }

  private listenersPage(url: URL, res: http.ServerResponse): void {
    const list = this.proxy.listeners.list();
    if (url.searchParams.get("format") === "json") {
      return send(res, 200, JSON.stringify({ listenerStatuses: list.map((l) => ({ name: l.name, localAddress: { socketAddress: { address: l.address, portValue: l.port } } })) }), "application/json");
    }
    send(res, 200, list.map((l) => `${l.name}::${l.address}:${l.port}`).join("\n") + "\n");
  }

  private serverInfo(res: http.ServerResponse): void {
    const uptime = `${Math.floor((Date.now() - this.proxy.startedAt) / 1000)}s`;
    send(
      res,
      200,
      // envoy.admin.v3.ServerInfo's JSON; one epoch (no hot restart: Istio starts Envoy with
      // --disable-hot-restart), so both uptimes agree. `workers` is tsmesh's (--concurrency processes).
      JSON.stringify({
        version: proxyBuildVersion(),
        state: this.state(),
        hot_restart_version: "disabled",
        command_line_options: { concurrency: this.options.concurrency ?? 1 },
        node: { id: this.options.nodeId },
        uptime_current_epoch: uptime,
        uptime_all_epochs: uptime,
        workers: this.options.workers?.() ?? [process.pid],
      }),
      "application/json",
    );
  }

  /** Envoy's /logging: change levels (one parameter), then list every logger; 400 with the usage on a bad query. */
  private logging(url: URL, res: http.ServerResponse): void {
    const admin = this.logs.get("admin");
    const { error, changed } = applyLoggingQuery(this.logs, url.searchParams, (name, level) => admin.info(name === "*" ? `log level of every logger: ${level}` : `log level of ${name}: ${level}`));
    if (changed.length > 0) this.options.toWorkers?.({ type: "logging", levels: this.logs.levels() });
    let body = "";
    if (error) {
      body += `error: ${error}\n\n`;
      body += "usage: /logging?NAME=LEVEL sets one logger\n";
      body += "usage: /logging?paths=NAME:LEVEL,NAME:LEVEL... sets several\n";
      body += "usage: /logging?level=LEVEL sets every logger\n";
      body += `levels: ${LEVEL_NAMES.join(" ")}\n`;
    }
    body += "active loggers:\n" + this.logs.levels().map(([n, l]) => `  ${n}: ${l}\n`).join("") + "\n";
    send(res, error ? 400 : 200, body);
  }

  private stats(): Promise<StatsStore> {
    return this.options.collectStats ? this.options.collectStats() : Promise.resolve(this.proxy.stats);
  }

  private sendStats(res: http.ServerResponse, url: URL, p: string, store: StatsStore): void {
    if (p === "/stats/prometheus") return send(res, 200, store.prometheus(), "text/plain; version=0.0.4");
    if (url.searchParams.get("format") === "json") return send(res, 200, JSON.stringify(store.json()), "application/json");
    const filter = url.searchParams.get("filter");
    let re: RegExp | undefined;
    try {
      re = filter ? new RegExp(filter) : undefined;
    } catch {
      return send(res, 400, "Invalid regex\n");
    }
    send(res, 200, store.text(re));
  }

  /** This process's host counters, or (with --concurrency) every worker's summed. */
  private hostCounters(): Promise<HostCounterTable> {
    const collect = this.proxy.hostCollector;
    if (collect === undefined) return Promise.resolve(mergeHostCounters([hostCounterSnapshot(this.proxy)]));
    return collect().then(mergeHostCounters);
  }

  private clustersText(table: HostCounterTable): string {
    const lines: string[] = [];
    for (const c of this.proxy.clusters.values()) {
      const n = c.name;
      const t = c.spec.thresholds;
      if (c.outlier) {
        const sr = table.clusters.get(n);
        lines.push(`${n}::outlier::success_rate_average::${fmtRate(sr?.successRateAverage)}`, `${n}::outlier::success_rate_ejection_threshold::${fmtRate(sr?.successRateEjectionThreshold)}`);
        lines.push(`${n}::outlier::local_origin_success_rate_average::${fmtRate(sr?.localOriginSuccessRateAverage)}`, `${n}::outlier::local_origin_success_rate_ejection_threshold::${fmtRate(sr?.localOriginSuccessRateEjectionThreshold)}`);
      }
      lines.push(`${n}::default_priority::max_connections::${t.maxConnections}`, `${n}::default_priority::max_pending_requests::${t.maxPendingRequests}`);
      lines.push(`${n}::default_priority::max_requests::${t.maxRequests}`, `${n}::default_priority::max_retries::${t.maxRetries}`);
      for (const h of c.hosts()) {
        const k = `${n}::${h.address}:${h.port}`;
        const hc = table.hosts.get(hostId(n, h.key)) ?? ZERO_COUNTERS;
        lines.push(`${k}::cx_active::${hc.cxActive}`, `${k}::cx_connect_fail::${hc.cxConnectFail}`, `${k}::cx_total::${hc.cxTotal}`);
        lines.push(`${k}::rq_active::${hc.rqActive}`, `${k}::rq_error::${hc.rqError}`, `${k}::rq_success::${hc.rqSuccess}`, `${k}::rq_timeout::${hc.rqTimeout}`, `${k}::rq_total::${hc.rqTotal}`);
        lines.push(`${k}::hostname::${h.hostname}`);
        lines.push(`${k}::health_flags::${healthFlags(h, hc.ejected)}`, `${k}::weight::${h.weight}`, `${k}::region::${h.locality.region}`, `${k}::zone::${h.locality.zone}`, `${k}::sub_zone::${h.locality.subZone}`);
        lines.push(`${k}::canary::false`, `${k}::priority::${h.priority}`, `${k}::success_rate::${fmtRate(hc.successRate)}`, `${k}::local_origin_success_rate::${fmtRate(hc.localOriginSuccessRate)}`);
      }
    }
    return lines.join("\n") + "\n";
  }

  private clustersJson(table: HostCounterTable): unknown {
    return {
      cluster_statuses: [...this.proxy.clusters.values()].map((c) => {
        const sr = table.clusters.get(c.name);
        const out: Record<string, unknown> = { name: c.name };
        if (sr && sr.successRateEjectionThreshold >= 0) out.success_rate_ejection_threshold = { value: sr.successRateEjectionThreshold };
        if (sr && sr.localOriginSuccessRateEjectionThreshold >= 0) out.local_origin_success_rate_ejection_threshold = { value: sr.localOriginSuccessRateEjectionThreshold };
        out.host_statuses = c.hosts().map((h) => {
          const hc = table.hosts.get(hostId(c.name, h.key)) ?? ZERO_COUNTERS;
          const health: Record<string, unknown> = { eds_health_status: adminEdsHealthStatus(h.healthStatus) };
          if (hc.ejected) health.failed_outlier_check = true;
          if (h.activeHcFailed) health.failed_active_health_check = true;
          const hs: Record<string, unknown> = {
            address: { socket_address: { address: h.address, port_value: h.port } },
            stats: [
              { name: "cx_connect_fail", value: hc.cxConnectFail },
              { name: "cx_total", value: hc.cxTotal },
              { name: "rq_error", value: hc.rqError },
              { name: "rq_success", value: hc.rqSuccess },
              { name: "rq_timeout", value: hc.rqTimeout },
              { name: "rq_total", value: hc.rqTotal },
              { type: "GAUGE", name: "cx_active", value: hc.cxActive },
              { type: "GAUGE", name: "rq_active", value: hc.rqActive },
            ],
            health_status: health,
            weight: h.weight,
            hostname: h.hostname,
            priority: h.priority,
            locality: { region: h.locality.region, zone: h.locality.zone, sub_zone: h.locality.subZone },
          };
          if (hc.successRate >= 0) hs.success_rate = { value: hc.successRate };
          if (hc.localOriginSuccessRate >= 0) hs.local_origin_success_rate = { value: hc.localOriginSuccessRate };
          return hs;
        });
        return out;
      }),
    };
  }

  /** Admin on host:port; returns the bound port. */
  listen(host: string, port: number): Promise<number> {
    return this.bind(host, port, (q, s) => this.handle(q, s));
  }

  /** pilot-agent's health port: /healthz/ready on host:port; returns the bound port. */
  listenHealth(host: string, port: number): Promise<number> {
    return this.bind(host, port, (req, res) => {
      if ((req.url ?? "").startsWith("/healthz/ready")) return send(res, this.isReady() ? 200 : 503, this.isReady() ? "" : "not ready\n");
      send(res, 404, "");
    });
  }

  /** Istio's prometheus listener (IP:15090): GET /stats/prometheus only; returns the bound port. */
  listenPrometheus(host: string, port: number): Promise<number> {
    return this.bind(host, port, (req, res) => {
      if (new URL(req.url ?? "/", "http://p").pathname !== "/stats/prometheus") return send(res, 404, "");
      if (req.method !== "GET") return send(res, 405, "");
      void this.stats().then(
        (store) => send(res, 200, store.prometheus(), "text/plain; version=0.0.4"),
        (err: Error) => send(res, 500, `stats unavailable: ${err.message}\n`),
      );
    });
  }

  /**
   * pilot-agent's status port (IP:15020): /healthz/ready and the merged /stats/prometheus (the
   * proxy's, then the app's when annotated; an app that fails leaves the proxy's part whole and
   * counts in `agent.app_scrape_failed`).
   */
  listenAgent(host: string, port: number, app: AppMetricsTarget | undefined): Promise<number> {
    return this.bind(host, port, (req, res) => {
      const path = new URL(req.url ?? "/", "http://a").pathname;
      if (path === "/healthz/ready") return send(res, this.isReady() ? 200 : 503, this.isReady() ? "" : "not ready\n");
      if (path !== "/stats/prometheus") return send(res, 404, "");
      if (req.method !== "GET") return send(res, 405, "");
      const appText = app ? scrapeApp(app) : Promise.resolve(undefined);
      void Promise.all([this.stats(), appText]).then(
        ([store, a]) => {
          if (a instanceof Error) {
            this.proxy.stats.counter("agent.app_scrape_failed").inc();
            this.logs.get("admin").debug(`${a.message}`);
          }
          send(res, 200, mergeMetricsText(store.prometheus(), typeof a === "string" ? a : undefined), "text/plain; version=0.0.4");
        },
        (err: Error) => send(res, 500, `stats unavailable: ${err.message}\n`),
      );
    });
  }

  private bind(host: string, port: number, fn: http.RequestListener): Promise<number> {
    const s = http.createServer(fn);
    this.servers.push(s);
    return new Promise((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, host, () => {
        const a = s.address();
        resolve(typeof a === "object" && a ? a.port : port);
      });
    });
  }

  close(): void {
    for (const s of this.servers) {
      s.close();
      s.closeAllConnections();
    }
  }
}
