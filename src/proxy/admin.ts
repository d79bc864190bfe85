// Envoy's admin interface (IP:15000) and the health port (IP:15021 /healthz/ready, pilot-agent's
// role): /config_dump, /clusters, /listeners, /stats, /stats/prometheus, /ready, /server_info,
// /logging, /drain_listeners, /quitquitquit.
import * as http from "node:http";
import type { ProxyServer } from "./proxy.js";
import type { StatsStore } from "./stats.js";
import { hostStats } from "./upstream/cluster.js";

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
      if (url.searchParams.get("format") === "json") return send(res, 200, JSON.stringify(this.clustersJson()), "application/json");
      return send(res, 200, this.clustersText());
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

  private clustersText(): string {
    const lines: string[] = [];
    for (const c of this.proxy.clusters.values()) {
      const n = c.name;
      const t = c.spec.thresholds;
      lines.push(`${n}::default_priority::max_connections::${t.maxConnections}`, `${n}::default_priority::max_pending_requests::${t.maxPendingRequests}`);
      lines.push(`${n}::default_priority::max_requests::${t.maxRequests}`, `${n}::default_priority::max_retries::${t.maxRetries}`);
      for (const h of c.hosts()) {
        const k = `${n}::${h.address}:${h.port}`;
        const flags = [h.ejected ? "/failed_outlier_check" : "", h.healthStatus !== "HEALTHY" && h.healthStatus !== "UNKNOWN" ? `/eds_health_${h.healthStatus.toLowerCase()}` : ""].join("");
        const hs = hostStats(h);
        lines.push(`${k}::cx_active::${h.activeConnections}`, `${k}::cx_connect_fail::${hs.cxConnectFail}`, `${k}::cx_total::${hs.cxTotal}`);
        lines.push(`${k}::rq_active::${h.activeRequests}`, `${k}::rq_error::${hs.rqError}`, `${k}::rq_success::${hs.rqSuccess}`, `${k}::rq_timeout::${hs.rqTimeout}`, `${k}::rq_total::${hs.rqTotal}`);
        lines.push(`${k}::weight::${h.weight}`);
        lines.push(`${k}::health_flags::${flags || "healthy"}`, `${k}::region::${h.locality.region}`, `${k}::zone::${h.locality.zone}`, `${k}::sub_zone::${h.locality.subZone}`, `${k}::priority::${h.priority}`);
      }
    }
    return lines.join("\n") + "\n";
  }

  private clustersJson(): unknown {
    return {
      cluster_statuses: [...this.proxy.clusters.values()].map((c) => ({
        name: c.name,
        host_statuses: c.hosts().map((h) => ({
          address: { socket_address: { address: h.address, port_value: h.port } },
          weight: h.weight,
          priority: h.priority,
          locality: { region: h.locality.region, zone: h.locality.zone, sub_zone: h.locality.subZone },
          health_status: { eds_health_status: h.healthStatus, failed_outlier_check: h.ejected },
          stats: [
            { name: "cx_active", value: h.activeConnections },
            { name: "cx_connect_fail", value: hostStats(h).cxConnectFail },
            { name: "cx_total", value: hostStats(h).cxTotal },
            { name: "rq_active", value: h.activeRequests },
            { name: "rq_error", value: hostStats(h).rqError },
            { name: "rq_success", value: hostStats(h).rqSuccess },
            { name: "rq_timeout", value: hostStats(h).rqTimeout },
            { name: "rq_total", value: hostStats(h).rqTotal },
          ],
        })),
      })),
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
