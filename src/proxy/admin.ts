// Envoy's admin interface (IP:15000) and the health port (IP:15021 /healthz/ready, pilot-agent's
// role): /config_dump, /clusters, /listeners, /stats, /stats/prometheus, /ready, /server_info,
// /logging, /drain_listeners, /quitquitquit.
import * as http from "node:http";
import type { ProxyServer } from "./proxy.js";
import type { StatsStore } from "./stats.js";
import { hostStats } from "./upstream/cluster.js";
import type { Host } from "./upstream/host.js";

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
  const eds = h.healthStatus;
  if (eds === "UNHEALTHY" || eds === "DRAINING" || eds === "TIMEOUT") f += "/failed_eds_health";
  if (eds === "DEGRADED") f += "/degraded_eds_health";
  return f || "healthy";
}

/** Envoy prints -1 when not computed, else the double. */
function fmtRate(v: number | undefined): string {
  return v === undefined || v < 0 ? "-1" : String(v);
}

export interface AdminOptions {
  nodeId: string;
  /** Called by /quitquitquit (the CLI exits). */
  onQuit: () => void;
  /** Process-wide stats when other processes serve traffic (--concurrency); default: this proxy's. */
  collectStats?: () => Promise<StatsStore>;
  /** Worker processes (for /server_info). */
  workers?: () => number[];
  concurrency?: number;
  /** Readiness when more than this process must be ready (workers); default: the proxy's. */
  ready?: () => boolean;
}

function send(res: http.ServerResponse, status: number, body: string, type = "text/plain; charset=UTF-8"): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

export class AdminServer {
  private readonly servers: http.Server[] = [];
  private logLevel = "info";

  constructor(
    private readonly proxy: ProxyServer,
    private readonly options: AdminOptions,
  ) {}

  private isReady(): boolean {
    return this.options.ready ? this.options.ready() : this.proxy.isReady;
  }

  private state(): "LIVE" | "PRE_INITIALIZING" | "DRAINING" {
    return this.isReady() ? "LIVE" : "PRE_INITIALIZING";
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://admin");
    const p = url.pathname;
    const post = req.method === "POST";
    if (p === "/ready") return send(res, this.isReady() ? 200 : 503, this.state() + "\n");
    if (p === "/config_dump") return send(res, 200, JSON.stringify(this.proxy.configDump(), null, 2), "application/json");
    if (p === "/stats/prometheus" || p === "/stats") {
      void this.stats().then(
        (store) => this.sendStats(res, url, p, store),
        (err: Error) => send(res, 500, `stats unavailable: ${err.message}\n`),
      );
      return;
    }

    if (p === "/clusters") {
      const json = url.searchParams.get("format") === "json";
      void this.hostCounters().then(
        (table) => (json ? send(res, 200, JSON.stringify(this.clustersJson(table)), "application/json") : send(res, 200, this.clustersText(table))),
        (err: Error) => send(res, 500, `clusters unavailable: ${err.message}\n`),
      );
      return;
    }
    if (p === "/listeners") {
      const list = this.proxy.listeners.list();
      if (url.searchParams.get("format") === "json") {
        return send(res, 200, JSON.stringify({ listenerStatuses: list.map((l) => ({ name: l.name, localAddress: { socketAddress: { address: l.address, portValue: l.port } } })) }), "application/json");
      }
      return send(res, 200, list.map((l) => `${l.name}::${l.address}:${l.port}`).join("\n") + "\n");
    }
    if (p === "/server_info") {
      return send(
        res,
        200,
        JSON.stringify({
          version: "tsmesh/0.1.0",
          state: this.state(),
          uptime_current_epoch: `${Math.floor((Date.now() - this.proxy.startedAt) / 1000)}s`,
          node: { id: this.options.nodeId },
          command_line_options: { concurrency: this.options.concurrency ?? 1 },
          workers: this.options.workers?.() ?? [process.pid],
        }),
        "application/json",
      );
    }
    if (p === "/logging") {
      const level = url.searchParams.get("level");
      if (post && level) this.logLevel = level;
      return send(res, 200, `active loggers:\n  admin: ${this.logLevel}\n  router: ${this.logLevel}\n  upstream: ${this.logLevel}\n`);
    }
    if (p === "/drain_listeners" && post) {
      this.proxy.listeners.drainAll();
      return send(res, 200, "OK\n");
    }
    if (p === "/quitquitquit" && post) {
      send(res, 200, "OK\n");
      setImmediate(this.options.onQuit);
      return;
    }
    if (p === "/" || p === "/help") {
      return send(res, 200, "admin commands are:\n  /clusters\n  /config_dump\n  /drain_listeners\n  /listeners\n  /logging\n  /quitquitquit\n  /ready\n  /server_info\n  /stats\n  /stats/prometheus\n");
    }
    send(res, 404, "invalid path. admin commands are listed at /help\n");
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
          const health: Record<string, unknown> = { eds_health_status: h.healthStatus };
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

  /** Admin on host:adminPort, health (/healthz/ready) on host:healthPort; returns bound ports. */
  async listen(host: string, adminPort: number, healthPort?: number): Promise<{ admin: number; health?: number }> {
    const admin = await this.bind(host, adminPort, (q, s) => this.handle(q, s));
    let health: number | undefined;
    if (healthPort !== undefined) {
      health = await this.bind(host, healthPort, (req, res) => {
        if ((req.url ?? "").startsWith("/healthz/ready")) return send(res, this.isReady() ? 200 : 503, this.isReady() ? "" : "not ready\n");
        send(res, 404, "");
      });
    }
    return { admin, health };
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
