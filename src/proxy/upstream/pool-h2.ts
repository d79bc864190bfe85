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
import type { UpstreamCluster } from "./cluster.js";
import { connectUpstream, poolKeyFor, UpstreamConnection } from "./connector.js";
import type { Host } from "./host.js";

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
  /** Sessions opened over the pool's lifetime. */
  cxTotal = 0;

  constructor(private readonly cluster: UpstreamCluster) {}

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
    const k = poolKeyFor(this.cluster, host, authority);
    const key = k === undefined ? host.key : `${host.key}|${k}`;
    let list = this.byHost.get(key);
    if (!list) this.byHost.set(key, (list = []));
    const found = list.find((s) => this.usable(s));
    if (found) return found;
    if (list.length > 0 && !this.cluster.canCreateConnection()) {
      // max_connections reached (upstream_cx_overflow): share the least loaded session.
      const shared = list.filter((s) => !s.draining && !s.session.destroyed).sort((a, b) => a.active - b.active)[0];
      if (shared) return shared;
    }
    return this.connect(host, key, list, authority);
  }

  private connect(host: Host, key: string, list: PooledSession[], authority: string | undefined): PooledSession {
    const address = host.address.includes(":") ? `[${host.address}]` : host.address;
    let resolveReady!: () => void;
    let rejectReady!: (e: Error) => void;
    const ready = new Promise<void>((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    });
    ready.catch(() => {});
    const made = connectUpstream(this.cluster, host, { authority, fallbackAlpn: H2_ALPN, protocol: "http2" }, {
      connected: () => {
        ps.connected = true;
        resolveReady();
      },
      failed: (f) => rejectReady(new H2ConnectError(f.reason, true)),
    });
    if (!(made instanceof UpstreamConnection)) {
      // Secrets missing (SDS): no session at all.
      throw new H2ConnectError(made.reason, true);
    }
    this.cxTotal++;
    const socket = made.socket;
    const tlsSocket = (socket as { encrypted?: boolean }).encrypted === true;
    const session = http2.connect(`${tlsSocket ? "https" : "http"}://${address}:${host.port}`, { settings: { enablePush: false }, createConnection: () => socket });
    const ps: PooledSession = { session, host, connected: false, draining: false, active: 0, total: 0, ready };
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
      // (Before the connection was up, the connector reports why when the socket closes.)
      socket.destroy();
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
