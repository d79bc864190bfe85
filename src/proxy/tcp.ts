// Envoy's tcp_proxy network filter: one upstream connection per downstream connection to a host
// of the cluster (or of one of weighted_clusters), bytes copied both ways, idle timeout (1 h by
// default), connect failures close the downstream (no local reply at L4). A cluster with an
// UpstreamTlsContext gets a TLS connection (its configured SNI and ALPN); the upstream is connected
// once the handshake is done, and a failed handshake is a connect failure (upstream_cx_connect_fail,
// ssl.*). A cluster whose secrets come over SDS gets no connection (never plaintext).
// ORIGINAL_DST clusters (PassthroughCluster) connect to the connection's original destination,
// which local mode's explicit proxy supplies. When that proxy took a plain HTTP request, its client
// waits for an HTTP answer, so a connection that cannot be made is answered as an HTTP proxy
// answers: 502 with no upstream host (BlackHoleCluster, Istio's block_all answer), 503 on a
// connect failure (Envoy's UF text).
import * as net from "node:net";
import { durationMs, type ProtoObject } from "../envoy/protos.js";
import type { ConnectionInfo, NetworkHandler } from "./listeners.js";
import type { StatsScope } from "./stats.js";
import type { UpstreamCluster } from "./upstream/cluster.js";
import { connectUpstream, UpstreamConnection } from "./upstream/connector.js";
import { NETWORK_FILTERS } from "./network-filters.js";
import { XdsConfigError } from "./xds-error.js";

export const TCP_PROXY_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

export interface TcpProxyConfig {
  statPrefix: string;
  clusters: Array<{ name: string; weight: number }>;
  idleTimeoutMs: number;
}

export function tcpProxyConfig(c: ProtoObject, path: string): TcpProxyConfig {
  const weighted = (c.weightedClusters as ProtoObject | undefined)?.clusters as ProtoObject[] | undefined;
  const clusters = weighted?.length
    ? weighted.map((w, i) => {
        if (typeof w.name !== "string") throw new XdsConfigError(`${path}.weightedClusters.clusters[${i}].name`, "required");
        return { name: w.name, weight: typeof w.weight === "number" ? w.weight : 0 };
      })
    : typeof c.cluster === "string"
      ? [{ name: c.cluster, weight: 1 }]
      : [];
  if (clusters.length === 0) throw new XdsConfigError(`${path}.cluster`, "tcp_proxy needs cluster or weighted_clusters");
  const idle = durationMs(c.idleTimeout);
  return { statPrefix: String(c.statPrefix ?? ""), clusters, idleTimeoutMs: idle ?? 3_600_000 };
}

/** An HTTP/1.1 answer to an explicit-proxy client, then close. */
function httpReply(down: net.Socket, status: number, body: string): void {
  const reason = status === 502 ? "Bad Gateway" : "Service Unavailable";
  down.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${body}`);
  down.resume(); // discard the request
}

export class TcpProxy implements NetworkHandler {
  private readonly conns = new Set<net.Socket>();
  private readonly cxTotal;
  private readonly cxNoRoute;

  constructor(
    private readonly cfg: TcpProxyConfig,
    private readonly cluster: (name: string) => UpstreamCluster | undefined,
    stats: StatsScope,
  ) {
    this.cxTotal = stats.counter("downstream_cx_total");
    this.cxNoRoute = stats.counter("downstream_cx_no_route");
  }

  private pickCluster(): string {
    const total = this.cfg.clusters.reduce((n, c) => n + c.weight, 0);
    if (total <= 0) return this.cfg.clusters[0].name;
    let r = Math.random() * total;
    for (const c of this.cfg.clusters) {
      r -= c.weight;
      if (r < 0) return c.name;
    }
    return this.cfg.clusters[this.cfg.clusters.length - 1].name;
  }

  handle(down: net.Socket, info: ConnectionInfo): void {
    this.cxTotal.inc();
    const cluster = this.cluster(this.pickCluster());
    const host =
      cluster?.spec.type === "ORIGINAL_DST" ? (info.originalDestination ? cluster.originalDestination(info.originalDestination) : undefined) : cluster?.pick();
    if (!cluster || !host) {
      this.cxNoRoute.inc();
      if (cluster) cluster.stats.cxNoneHealthy.inc();
      if (info.explicitHttp) httpReply(down, 502, "");
      else down.destroy();
      return;
    }
    cluster.stats.rqTotal.inc();
    let done = false;
    const made = connectUpstream(cluster, host, { protocol: "tcp" }, {
      connected: () => {
        if (done) return;
        const up = (made as UpstreamConnection).socket;
        down.pipe(up);
        up.pipe(down);
        down.resume();
      },
      failed: () => {
        // (The connector counted upstream_cx_connect_fail and the reason.)
        if (done) return;
        done = true;
        this.conns.delete(down);
        // An explicit-proxy client waits for an HTTP answer (Envoy's UF text).
        if (info.explicitHttp) httpReply(down, 503, "upstream connect error or disconnect/reset before headers. reset reason: connection failure");
        else down.destroy();
      },
    });
    if (!(made instanceof UpstreamConnection)) {
      // Secrets missing (SDS): no connection at all, never plaintext.
      if (info.explicitHttp) httpReply(down, 503, "upstream connect error or disconnect/reset before headers. reset reason: connection failure");
      else down.destroy();
      return;
    }
    const up = made.socket;
    this.conns.add(down);
    const idle = () => {
      down.destroy();
      up.destroy();
    };
    down.setTimeout(this.cfg.idleTimeoutMs, idle);
    up.setTimeout(this.cfg.idleTimeoutMs, idle);
    const finish = () => {
      if (done) return;
      done = true;
      this.conns.delete(down);
      down.destroy();
      up.destroy();
    };
    up.on("error", () => {
      if (made.connected) finish();
    });
    down.on("error", finish);
    up.once("close", () => {
      if (made.connected) finish();
    });
    down.once("close", () => {
      if (!made.connected) made.abandon();
      finish();
    });
  }

  drain(): void {}

  close(): void {
    for (const c of this.conns) c.destroy();
    this.conns.clear();
  }
}

NETWORK_FILTERS.register([TCP_PROXY_TYPE], {
  terminal: true,
  compile(config, ctx) {
    const cfg = tcpProxyConfig(config, ctx.path);
    const rt = ctx.runtime;
    return {
      terminal: true,
      name: ctx.name,
      rdsNames: [],
      handler: () => new TcpProxy(cfg, (n) => rt.cluster(n), ctx.stats.tagged("tcp.", cfg.statPrefix || ctx.listenerName)),
    };
  },
});
