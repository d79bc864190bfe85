// Envoy's HTTP/2 upstream connection pool: per cluster and host, a few `http2.connect` sessions
// that carry many concurrent streams. A session is reused until it has served
// max_requests_per_connection streams, reached the peer's SETTINGS_MAX_CONCURRENT_STREAMS, received
// a GOAWAY, or sat idle for the cluster's idle_timeout; then it drains (no new streams, closes when
// its streams finish). Connects are bounded by the cluster's connect_timeout; the cluster's
// max_connections circuit breaker caps sessions (over it, streams share the least loaded one; a
// host with no session always gets one, as Envoy). Sessions count in upstream_cx_total/active
// and upstream_cx_http2_total.
//
// TLS (the cluster's UpstreamTlsContext): sessions run over tls.connect and offer ALPN h2 unless
// the context configures its own list (Envoy's fallback for HTTP/2 pools); a session is up once
// its handshake is done, so a failed handshake or verification is a connect failure with Envoy's
// transport failure reason. With auto_sni, sessions are pooled per SNI (the request's :authority).
// A cluster whose secrets come over SDS opens no session: its streams fail as connect failures.
import * as http2 from "node:http2";
import * as tls from "node:tls";
import { sdsFailureReason, sniFor, tlsFailureReason, tlsPoolKey, type TlsStats, type UpstreamTlsConfig, upstreamConnectOptions } from "../tls-context.js";
import type { Host } from "./host.js";
import type { UpstreamCluster } from "./cluster.js";

/** Why a stream could not be opened (the router maps it to UF / UC). */
export class H2ConnectError extends Error {
  /**
   * No connection could be made (UF): a TCP connect error or timeout (`delayed connect error: …`)
   * or a TLS failure (`reason` is then Envoy's transport failure reason, `TLS_error:|…`).
   */
  readonly connectFailure: boolean;

  constructor(
    readonly reason: string,
    connectFailure?: boolean,
  ) {
    super(reason);
    this.connectFailure = connectFailure ?? reason.startsWith("delayed connect error");
  }
}

/** The pool's ALPN when the TLS context configures none (Envoy's HTTP/2 fallback). */
const H2_ALPN: readonly string[] = ["h2"];

interface PooledSession {
  session: http2.ClientHttp2Session;
  host: Host;
  connected: boolean;
  /** No new streams (GOAWAY received, max requests reached, closing). */
  draining: boolean;
  active: number;
  total: number;
  ready: Promise<void>;
}

const DEFAULT_IDLE_MS = 3_600_000;

export class H2Pool {
  private readonly byHost = new Map<string, PooledSession[]>();
  private closed = false;
  /** Sessions opened over the pool's lifetime (upstream_cx_http2_total). */
  cxTotal = 0;
  private readonly tls: UpstreamTlsConfig | undefined;
  private readonly sdsReason: string | undefined;
  private readonly tlsStats: TlsStats | undefined;

  constructor(private readonly cluster: UpstreamCluster) {
    const t = cluster.tls;
    this.tls = t?.kind === "tls" ? t : undefined;
    this.sdsReason = t?.kind === "sds" ? sdsFailureReason(t) : undefined;
    this.tlsStats = cluster.tlsStats;
  }

  /** Sessions currently open (all hosts). */
  get connections(): number {
    let n = 0;
    for (const l of this.byHost.values()) n += l.length;
    return n;
  }

  /** Streams in flight (all hosts). */
  get activeStreams(): number {
    let n = 0;
    for (const l of this.byHost.values()) for (const s of l) n += s.active;
    return n;
  }

  private usable(s: PooledSession): boolean {
    if (s.draining || s.session.destroyed || s.session.closed) return false;
    const max = s.session.remoteSettings?.maxConcurrentStreams ?? 0xffffffff;
    return !s.connected || s.active < max;
  }

  private acquire(host: Host, authority: string | undefined): PooledSession {
    const t = this.tls;
    let key = host.key;
    let sni: string | undefined;
    if (t !== undefined) {
      sni = sniFor(t, authority);
      const k = tlsPoolKey(t, sni, authority);
      if (k !== undefined) key = `${key}|${k}`;
    }
    let list = this.byHost.get(key);
    if (!list) this.byHost.set(key, (list = []));
    const found = list.find((s) => this.usable(s));
    if (found) return found;
    if (list.length > 0 && !this.cluster.canCreateConnection()) {
      // max_connections reached (upstream_cx_overflow): share the least loaded session.
      const shared = list.filter((s) => !s.draining && !s.session.destroyed).sort((a, b) => a.active - b.active)[0];
      if (shared) return shared;
    }
    return this.connect(host, key, list, t === undefined ? undefined : upstreamConnectOptions(t, host.address, host.port, sni, authority, H2_ALPN));
  }

  private connect(host: Host, key: string, list: PooledSession[], tlsOptions: tls.ConnectionOptions | undefined): PooledSession {
    const address = host.address.includes(":") ? `[${host.address}]` : host.address;
    let session: http2.ClientHttp2Session;
    /** TLS: the TCP connection is up, and the failure reason if the handshake then failed. */
    let tcpUp = false;
    let tlsFailure: string | undefined;
    if (tlsOptions === undefined) session = http2.connect(`http://${address}:${host.port}`, { settings: { enablePush: false } });
    else {
      const stats = this.tlsStats;
      const createConnection = () => {
        const socket = tls.connect(tlsOptions);
        socket.once("connect", () => (tcpUp = true));
        socket.once("secureConnect", () => stats?.handshake.inc());
        socket.once("error", (err: NodeJS.ErrnoException) => {
          if (tcpUp && tlsFailure === undefined) tlsFailure = tlsFailureReason(err, stats);
        });
        return socket;
      };
      session = http2.connect(`https://${address}:${host.port}`, { settings: { enablePush: false }, createConnection });
    }
    this.cxTotal++;
    host.activeConnections++;
    this.cluster.connectionOpened(host);
    this.cluster.stats.cxHttp2Total.inc();
    const ps: PooledSession = { session, host, connected: false, draining: false, active: 0, total: 0, ready: Promise.resolve() };
    ps.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        session.destroy();
        reject(new H2ConnectError("delayed connect error: timeout"));
      }, this.cluster.spec.connectTimeoutMs);
      session.once("connect", () => {
        clearTimeout(timer);
        ps.connected = true;
        resolve();
      });
      session.once("error", (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (ps.connected) return;
        if (tlsFailure !== undefined) reject(new H2ConnectError(tlsFailure, true));
        else if (tcpUp) reject(new H2ConnectError(tlsFailureReason(err, this.tlsStats), true));
        else reject(new H2ConnectError(`delayed connect error: ${err.code === "ECONNREFUSED" ? 111 : (err.code ?? err.message)}`));
      });
      session.once("close", () => {
        clearTimeout(timer);
        if (ps.connected) return;
        if (tlsFailure !== undefined) reject(new H2ConnectError(tlsFailure, true));
        else reject(new H2ConnectError("delayed connect error: connection closed"));
      });
    });
    ps.ready.catch(() => {});
    session.on("error", () => {});
    session.on("goaway", () => {
      ps.draining = true;
      if (ps.active === 0) session.close();
    });
    session.setTimeout(this.cluster.spec.idleTimeoutMs ?? DEFAULT_IDLE_MS, () => {
      if (ps.active === 0) {
        ps.draining = true;
        session.close();
      }
    });
    session.once("close", () => {
      host.activeConnections--;
      this.cluster.connectionClosed();
      const i = list.indexOf(ps);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0 && this.byHost.get(key) === list) this.byHost.delete(key);
    });
    session.unref();
    list.push(ps);
    return ps;
  }

  /**
   * Opens a stream to `host` once a session is connected. Rejects with H2ConnectError when no
   * connection could be made. The stream counts against the session until it closes.
   */
  async request(host: Host, headers: http2.OutgoingHttpHeaders, endStream: boolean): Promise<http2.ClientHttp2Stream> {
    if (this.closed) throw new H2ConnectError("pool closed");
    if (this.sdsReason !== undefined) {
      // Never plaintext to a server that expects TLS: the stream fails as a connect failure.
      this.cluster.tlsUnavailable();
      throw new H2ConnectError(this.sdsReason, true);
    }
    const authority = headers[":authority"];
    const ps = this.acquire(host, typeof authority === "string" ? authority : undefined);
    ps.active++;
    ps.total++;
    const mrpc = this.cluster.spec.maxRequestsPerConnection;
    if (mrpc && ps.total >= mrpc) ps.draining = true;
    ps.session.ref();
    const release = () => {
      ps.active--;
      if (ps.active === 0) {
        if (ps.draining && !ps.session.closed) ps.session.close();
        else if (!ps.session.destroyed) ps.session.unref();
      }
    };
    try {
      await ps.ready;
    } catch (err) {
      release();
      throw err;
    }
    if (ps.session.destroyed || ps.session.closed) {
      release();
      throw new H2ConnectError("connection termination");
    }
    let stream: http2.ClientHttp2Stream;
    try {
      stream = ps.session.request(headers, { endStream });
    } catch (err) {
      release();
      throw new H2ConnectError((err as Error).message);
    }
    stream.once("close", release);
    return stream;
  }

  close(): void {
    this.closed = true;
    for (const list of this.byHost.values()) for (const s of list) s.session.destroy();
    this.byHost.clear();
  }
}

const pools = new WeakMap<UpstreamCluster, H2Pool>();

/**
 * The cluster's HTTP/2 pool (created on first use). The pool closes with the cluster: its
 * `close()` destroys the HTTP/1 agent, which is wrapped here to close the sessions too.
 */
export function h2PoolFor(cluster: UpstreamCluster): H2Pool {
  let p = pools.get(cluster);
  if (!p) {
    const pool = new H2Pool(cluster);
    pools.set(cluster, pool);
    const agent = cluster.agent;
    const destroy = agent.destroy.bind(agent);
    agent.destroy = () => {
      pool.close();
      destroy();
    };
    p = pool;
  }
  return p;
}

/** The cluster's pool if one was created (tests, admin). */
export function existingH2Pool(cluster: UpstreamCluster): H2Pool | undefined {
  return pools.get(cluster);
}
