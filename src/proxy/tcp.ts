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
import { durationMs } from "../envoy/protos.js";
import type { TcpProxy as TcpProxyMessage } from "../envoy/types.js";
import { FLAG_BIT } from "./access-log.js";
import { type AccessLogger, compileAccessLogs, configuredOrDefault, logTo } from "./access-loggers.js";
import type { ConnectionInfo } from "./listener-spec.js";
import type { NetworkHandler } from "./listeners.js";
import type { StatsScope } from "./stats.js";
import type { UpstreamCluster } from "./upstream/cluster.js";
import { connectUpstream, UpstreamConnection } from "./upstream/connector.js";
import { hashKey } from "./upstream/hash.js";
import type { Host } from "./upstream/host.js";
import { NETWORK_FILTERS } from "./network-filters.js";
import { clusterFilterMetadata } from "./http/stream-record.js";
import { connectionFilterState, connectionStreamInfo, downstreamTlsOf, hostPort, upstreamTlsOf } from "./observability/stream-info-build.js";
import type { StreamSinks } from "./stream-sinks.js";
import type { ConnectionTls, TcpStreamInfo } from "./stream-info.js";
import { XdsConfigError } from "./xds-error.js";

export const TCP_PROXY_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

export interface TcpProxyConfig {
  statPrefix: string;
  clusters: Array<{ name: string; weight: number }>;
  idleTimeoutMs: number;
  /** max_downstream_connection_duration (0: none): the connection closes when it is reached. */
  maxDurationMs: number;
  /** hash_policy source_ip: RING_HASH / MAGLEV pick by the client's address. */
  hashSourceIp: boolean;
  /** max_connect_attempts (Envoy's default 1): connect failures try another host up to this many times. */
  maxConnectAttempts: number;
  accessLoggers: readonly AccessLogger[];
  /** Proxy-wide observers of finished connections (tap). */
  streamSinks?: StreamSinks;
}

/** Compiles a TcpProxy (the fields tsmesh does not implement are refused, naming them). */
export function tcpProxyConfig(c: TcpProxyMessage, path: string, accessLoggers: readonly AccessLogger[] = []): TcpProxyConfig {
  for (const f of ["tunnelingConfig", "onDemand", "metadataMatch", "accessLogFlushInterval"] as const) {
    if (c[f] !== undefined) throw new XdsConfigError(`${path}.${f}`, "not implemented by tsmesh");
  }
  if (c.flushAccessLogOnConnected === true) throw new XdsConfigError(`${path}.flushAccessLogOnConnected`, "not implemented by tsmesh");
  // TcpAccessLogOptions: periodic and on-connect logging; tsmesh logs once, when the connection closes.
  for (const f of ["accessLogFlushInterval", "flushAccessLogOnConnected"] as const) {
    const v = c.accessLogOptions?.[f];
    if (v !== undefined && v !== false) throw new XdsConfigError(`${path}.accessLogOptions.${f}`, "not implemented by tsmesh (access logs are written when a connection closes)");
  }
  const weighted = c.weightedClusters?.clusters;
  const clusters = weighted?.length
    ? weighted.map((w, i) => {
        if (!w.name) throw new XdsConfigError(`${path}.weightedClusters.clusters[${i}].name`, "required");
        if (w.metadataMatch !== undefined) throw new XdsConfigError(`${path}.weightedClusters.clusters[${i}].metadataMatch`, "not implemented by tsmesh");
        return { name: w.name, weight: w.weight ?? 0 };
      })
    : c.cluster
      ? [{ name: c.cluster, weight: 1 }]
      : [];
  if (clusters.length === 0) throw new XdsConfigError(`${path}.cluster`, "tcp_proxy needs cluster or weighted_clusters");
  let hashSourceIp = false;
  (c.hashPolicy ?? []).forEach((h, i) => {
    if (h.sourceIp !== undefined) hashSourceIp = true;
    else throw new XdsConfigError(`${path}.hashPolicy[${i}]`, "only source_ip hash policies are implemented by tsmesh");
  });
  const attempts = c.maxConnectAttempts?.value ?? 1;
  if (attempts < 1) throw new XdsConfigError(`${path}.maxConnectAttempts`, "must be at least 1");
  return {
    statPrefix: c.statPrefix ?? "",
    clusters,
    // (downstream_idle_timeout / upstream_idle_timeout refine idle_timeout in Envoy; one timer here.)
    idleTimeoutMs: durationMs(c.idleTimeout ?? c.downstreamIdleTimeout) ?? 3_600_000,
    maxDurationMs: durationMs(c.maxDownstreamConnectionDuration) ?? 0,
    hashSourceIp,
    maxConnectAttempts: attempts,
    accessLoggers,
  };
}

/** An HTTP/1.1 answer to an explicit-proxy client, then close. */
function httpReply(down: net.Socket, status: number, body: string): void {
  const reason = status === 502 ? "Bad Gateway" : "Service Unavailable";
  down.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${body}`);
  down.resume(); // discard the request
}

export class TcpProxy implements NetworkHandler {
  /** @internal */
  readonly conns = new Set<net.Socket>();
  private readonly cxTotal;
  /** @internal */
  readonly cxNoRoute;

  constructor(
    /** @internal */
    readonly cfg: TcpProxyConfig,
    /** @internal */
    readonly cluster: (name: string) => UpstreamCluster | undefined,
    stats: StatsScope,
  ) {
    this.cxTotal = stats.counter("downstream_cx_total");
    this.cxNoRoute = stats.counter("downstream_cx_no_route");
  }

  handle(down: net.Socket, info: ConnectionInfo): void {
    this.cxTotal.inc();
    new TcpSession(this, down, info).connect(1);
  }

  /** @internal */
  pickCluster(): string {
    const total = this.cfg.clusters.reduce((n, c) => n + c.weight, 0);
    if (total <= 0) return this.cfg.clusters[0].name;
    let r = Math.random() * total;
    for (const c of this.cfg.clusters) {
      r -= c.weight;
      if (r < 0) return c.name;
    }
    return this.cfg.clusters[this.cfg.clusters.length - 1].name;
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
    const c = config as TcpProxyMessage; // (registered for TcpProxy: the registry checked the type)
    const loggers = configuredOrDefault(compileAccessLogs(c.accessLog, `${ctx.path}.accessLog`, ctx.runtime.accessLogWriters), ctx.runtime.defaultAccessLog);
    const rt = ctx.runtime;
    const cfg = tcpProxyConfig(c, ctx.path, loggers);
    cfg.streamSinks = rt.streamSinks;
    return {
      terminal: true,
      name: ctx.name,
      rdsNames: [],
      handler: () => new TcpProxy(cfg, (n) => rt.cluster(n), ctx.stats.tagged("tcp.", cfg.statPrefix || ctx.listenerName)),
    };
  },
});

/**
 * One downstream connection through tcp_proxy: the host (by the client's address when hashing on
 * it), the connection (another host on a connect failure, up to max_connect_attempts), the byte
 * copy both ways, the idle and max-duration timers, and the access log line when it closes
 * (Envoy's default format: "- - -" and response code 0 for TCP).
 */
class TcpSession {
  private readonly start = Date.now();
  private flags = 0;
  private host: Host | undefined = undefined;
  private clusterRef: UpstreamCluster | undefined = undefined;
  /** The upstream connection's local address (kept only when the connection is observed). */
  private upstreamLocal = "";
  /** The upstream connection's filter state (its metadata exchange's upstream_peer). */
  private upstreamState: ReadonlyMap<string, unknown> | undefined = undefined;
  private upstreamTls: ConnectionTls | undefined = undefined;
  /** Payload from and to the downstream, counted once the upstream is connected (when observed). */
  private bytesReceived = 0;
  private bytesSent = 0;
  /** The upstream connection of the current attempt. */
  private conn: UpstreamConnection | undefined = undefined;
  private done = false;
  private durationTimer: NodeJS.Timeout | undefined = undefined;

  constructor(
    private readonly proxy: TcpProxy,
    private readonly down: net.Socket,
    private readonly info: ConnectionInfo,
  ) {
    const cfg = proxy.cfg;
    proxy.conns.add(down);
    down.setTimeout(cfg.idleTimeoutMs, () => this.close());
    if (cfg.maxDurationMs > 0) this.durationTimer = setTimeout(() => this.close(), cfg.maxDurationMs);
    down.on("error", () => this.close());
    down.once("close", () => this.close());
    // A closed TLS socket no longer shows its certificates: the record's TLS sides are read now.
    if (this.observed) downstreamTlsOf(down, info);
    // Read filters' periodic reports (istio.stats' tcp_reporting_duration) read the record so far.
    if (info.readFilterLog !== undefined) info.currentRecord = () => this.record(true);
  }

  connect(attempt: number): void {
    const { proxy, down, info } = this;
    const cluster = proxy.cluster(proxy.pickCluster());
    const host =
      cluster?.spec.type === "ORIGINAL_DST"
        ? info.originalDestination
          ? cluster.originalDestination(info.originalDestination)
          : undefined
        : cluster?.pick(proxy.cfg.hashSourceIp ? { hash: hashKey(info.remoteAddress) } : undefined);
    if (!cluster || !host) {
      this.clusterRef = cluster;
      proxy.cxNoRoute.inc();
      this.flags |= cluster ? FLAG_BIT.UH : FLAG_BIT.NC;
      if (cluster) cluster.stats.cxNoneHealthy.inc();
      return this.refuse(502, "");
    }
    this.host = host;
    this.clusterRef = cluster;
    if (attempt === 1) cluster.stats.rqTotal.inc();
    const made = connectUpstream(cluster, host, { protocol: "tcp" }, {
      connected: () => {
        const up = this.conn?.socket;
        if (this.done || up === undefined) return;
        if (this.observed) {
          this.upstreamLocal = up.localAddress === undefined ? "" : hostPort(up.localAddress, up.localPort ?? 0);
          this.upstreamState = this.conn?.filterState;
          this.upstreamTls = upstreamTlsOf(up);
          // Payload bytes as tcp_proxy relays them (a TLS socket's own counters include the records' overhead).
          down.on("data", (c: Buffer) => (this.bytesReceived += c.length));
          up.on("data", (c: Buffer) => (this.bytesSent += c.length));
        }
        down.pipe(up);
        up.pipe(down);
        down.resume();
      },
      failed: () => {
        // (The connector counted upstream_cx_connect_fail and the reason.)
        if (this.done) return;
        this.conn = undefined;
        if (attempt < proxy.cfg.maxConnectAttempts && !down.destroyed) return this.connect(attempt + 1);
        this.flags |= FLAG_BIT.UF;
        this.refuse(503, "upstream connect error or disconnect/reset before headers. reset reason: connection failure");
      },
    });
    if (!(made instanceof UpstreamConnection)) {
      // Secrets missing (SDS): no connection at all, never plaintext.
      this.flags |= FLAG_BIT.UF;
      return this.refuse(503, "upstream connect error or disconnect/reset before headers. reset reason: connection failure");
    }
    this.conn = made;
    const up = made.socket;
    up.setTimeout(proxy.cfg.idleTimeoutMs, () => this.close());
    up.on("error", () => {
      if (made.connected) this.close();
    });
    up.once("close", () => {
      if (made.connected) this.close();
    });
  }

  /** No upstream: an explicit-proxy client waits for an HTTP answer, any other client is closed. */
  private refuse(status: 502 | 503, body: string): void {
    this.proxy.conns.delete(this.down);
    if (this.info.explicitHttp) httpReply(this.down, status, body);
    else this.down.destroy();
    this.finish();
  }

  private close(): void {
    if (this.done) return;
    this.proxy.conns.delete(this.down);
    this.down.destroy();
    const c = this.conn;
    if (c !== undefined && !c.connected) c.abandon();
    else c?.socket.destroy();
    this.finish();
  }

  /** Whether anything observes the connection's end (its record is built only then). */
  private get observed(): boolean {
    const cfg = this.proxy.cfg;
    return cfg.accessLoggers.length > 0 || cfg.streamSinks?.active === true || this.info.readFilterLog !== undefined;
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.durationTimer);
    if (!this.observed) return;
    const cfg = this.proxy.cfg;
    const record = this.record(false);
    this.info.readFilterLog?.(record);
    if (cfg.accessLoggers.length > 0) logTo(cfg.accessLoggers, record);
    if (cfg.streamSinks?.active === true) cfg.streamSinks.tcp(record);
  }

  /** The connection's record so far (`intermediate`: a periodic report of a connection still open). */
  private record(intermediate: boolean): TcpStreamInfo {
    const cluster = this.clusterRef;
    return {
      ...connectionStreamInfo(this.info, this.down, this.start, this.flags),
      intermediate,
      upstreamCluster: cluster?.name ?? "",
      upstreamClusterMetadata: cluster === undefined ? undefined : clusterFilterMetadata(cluster),
      upstreamHost: this.host?.key ?? "",
      upstreamLocalAddress: this.upstreamLocal,
      upstreamTls: this.upstreamTls,
      bytesReceived: this.bytesReceived,
      bytesSent: this.bytesSent,
      filterState: connectionFilterState(this.info.filterState, this.upstreamState),
    };
  }
}
