// Envoy's HTTP/1.1 upstream connection pool, hand-written on net.Socket (node:http's client and
// Agent cost more per request than the rest of the proxy together). Per cluster and host: a stack
// of idle keep-alive connections; a request takes one (or opens one) and gives it back when its
// response is complete. One exchange (h1-exchange.ts) at a time per connection (no pipelining, as
// Envoy).
//
// - Reuse: keep-alive unless the response says close (or is HTTP/1.0 without keep-alive), the
//   body ran until close, the request body was not finished, or max_requests_per_connection was
//   reached. Idle connections close after the cluster's idle_timeout (default 1 h); connects are
//   bounded by connect_timeout.
// - Accounting: upstream_cx_total / upstream_cx_active / upstream_cx_http1_total, the connections
//   circuit-breaker resource and `host.activeConnections`, through the cluster (connectionOpened /
//   connectionClosed).
// - Reads land in per-connection buffers (node's `onread`), not a fresh allocation per read.
// - TLS (the cluster's UpstreamTlsContext): tls.connect on the same read path; the connection is up
//   once its handshake is done (connect_timeout covers both), so a failed handshake or verification
//   is a connect failure with Envoy's transport failure reason. With auto_sni the SNI is the
//   request's Host (connections are pooled per SNI). A cluster whose secrets come over SDS opens no
//   connection at all: its requests fail as connect failures.
import type * as net from "node:net";
import { TimerEntry, type TimerList, timerList } from "../../core/timers.js";
import type { UpstreamCluster } from "./cluster.js";
import { type ConnectFailure, type ConnectOwner, connectUpstream, poolKeyFor, UpstreamConnection } from "./connector.js";
import { H1Exchange, type H1ExchangeConnection, type H1ExchangeOwner } from "./h1-exchange.js";
import { type H1RequestHead, serializeRequestHead } from "../http1/request-head.js";
import type { Host } from "./host.js";

const DEFAULT_IDLE_MS = 3_600_000;

/** The pool's ALPN when the TLS context configures none (Envoy's HTTP/1.1 fallback). */
const HTTP1_ALPN: readonly string[] = ["http/1.1"];

function refuse(ex: H1Exchange, f: ConnectFailure): void {
  ex.refuse(f);
}

/** The Host header of a request head (the router writes it first; any position is accepted). */
/**
 * Reads land in a per-connection buffer (node's `onread`), not in a fresh 64 KiB allocation per
 * read pushed through a Readable: each read takes the unused tail of the previous read's buffer,
 * or a new READ_BUFFER when the tail is short. Bytes already read are never overwritten, so
 * subarrays handed on (body chunks) stay valid.
 */
const READ_BUFFER = 16 * 1024;
const MIN_READ_TAIL = 4 * 1024;

/** A connection's read buffers: each read takes the unused tail of the previous one, or a new one. */
class ReadBuffers {
  private last: Buffer | undefined = undefined;
  private len = 0;

  next(): Buffer {
    const last = this.last;
    if (last !== undefined && last.length - this.len >= MIN_READ_TAIL) {
      this.last = undefined;
      return last.subarray(this.len);
    }
    return Buffer.allocUnsafeSlow(READ_BUFFER);
  }

  used(buf: Buffer, n: number): void {
    this.last = buf;
    this.len = n;
  }
}

/** One upstream connection. */
class H1Conn implements ConnectOwner, H1ExchangeConnection {
  readonly socket: net.Socket;
  private isConnected = false;
  exchange: H1Exchange | undefined = undefined;
  private requests = 0;
  private closed = false;
  private detached = false;
  private failure: ConnectFailure | undefined = undefined;
  private readonly idle: TimerEntry;
  /** Do not reuse after the current exchange (pool closing, max requests). */
  retire = false;
  /** What the connection is reused for (TLS per SNI); undefined when all are alike. */
  readonly poolKey: string | undefined;
  /** destroy() was called: the close event is on its way. */
  private destroying = false;

  constructor(
    /** @internal */
    readonly pool: H1Pool,
    readonly host: Host,
    /** The connector's connection (plain or TLS, accounted). */
    conn: UpstreamConnection,
    /** Reads through `onread` (pooled connections); an upgrade's connection uses 'data' events, for the tunnel. */
    userBuffer: boolean,
  ) {
    const socket = conn.socket;
    this.socket = socket;
    this.poolKey = conn.poolKey;
    this.idle = new TimerEntry(() => this.destroy());
    if (!userBuffer) socket.on("data", (c: Buffer) => this.onData(c));
    socket.on("end", () => this.onEnd());
    socket.once("close", () => this.onClose());
  }

  /**
   * The onread options a pooled connection is opened with: reads land in the connection's buffers
   * (node asks for the first one as the socket is made, before its H1Conn exists).
   */
  static readOptions(get: () => H1Conn | undefined): net.OnReadOpts {
    const bufs = new ReadBuffers();
    return {
      buffer: () => bufs.next(),
      callback: (n, b) => {
        bufs.used(b as Buffer, n);
        get()?.onData((b as Buffer).subarray(0, n));
        return true;
      },
    };
  }

  /** ConnectOwner: TCP (and TLS) are up. */
  protocolError(): void {
    this.pool.protocolError();
  }

  connected(): void {
    this.isConnected = true;
  }

  /** ConnectOwner: no connection; the exchange hears it when the socket closes. */
  failed(f: ConnectFailure): void {
    this.failure = f;
  }

  /** Can take a request (idle, open, not retiring). */
  get usable(): boolean {
    return !this.closed && !this.retire && this.exchange === undefined && !this.socket.destroyed;
  }

  start(ex: H1Exchange, maxRequests: number | undefined): void {
    this.idle.cancel();
    this.exchange = ex;
    this.requests++;
    if (maxRequests !== undefined && this.requests >= maxRequests) this.retire = true;
    ex.begin(this);
  }

  /** @internal bytes read from the upstream. */
  onData(c: Buffer): void {
    const ex = this.exchange;
    if (ex === undefined) {
      this.destroy(); // bytes on an idle connection: nothing was asked
      return;
    }
    ex.feed(c);
  }

  private onEnd(): void {
    const ex = this.exchange;
    if (ex !== undefined && ex.onEof()) return;
    this.socket.destroy();
  }

  /** @internal the exchange is over (response complete and request fully sent). */
  exchangeDone(ex: H1Exchange, keepAlive: boolean): void {
    if (this.exchange !== ex) return;
    this.exchange = undefined;
    ex.conn = undefined;
    if (!keepAlive || this.retire || this.closed) {
      this.destroy();
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    this.pool.giveBack(this);
  }

  /** @internal arms the idle timeout. */
  armIdle(list: TimerList): void {
    list.add(this.idle);
  }

  destroy(): void {
    // The FIN leaves now; node reports the close a loop turn later (a `--concurrency` worker's lease
    // counts the connection gone from here). The count drops before the connector's close listener
    // tells the cluster, so the two never disagree.
    if (!this.closed && !this.destroying) {
      this.destroying = true;
      this.pool.closing++;
      this.socket.prependOnceListener("close", () => this.pool.closing--);
    }
    this.socket.destroy();
  }

  /** Hands the socket over (HTTP/1.1 upgrade): it leaves the pool, still counted until it closes. */
  detach(): net.Socket {
    this.detached = true;
    const s = this.socket;
    s.pause();
    s.removeAllListeners("data");
    s.removeAllListeners("end");
    this.exchange = undefined;
    this.pool.forget(this);
    return s;
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.idle.cancel();
    this.pool.closed(this, !this.detached);
    const ex = this.exchange;
    this.exchange = undefined;
    // (The connector's failure arrives before the close: it decides connect-failure vs reset.)
    if (ex !== undefined) ex.onClose(this.isConnected ? undefined : (this.failure ?? { code: undefined, reason: "connection termination", transport: false }));
  }
}

export class H1Pool {
  private readonly idle = new Map<Host, H1Conn[]>();
  private readonly conns = new Set<H1Conn>();
  private isClosed = false;
  private idleTimers: TimerList | undefined;
  /** Connections opened over the pool's lifetime. */
  cxTotal = 0;
  /** Connections the pool destroyed whose close event has not come yet. */
  closing = 0;

  constructor(private readonly cluster: UpstreamCluster) {}

  /** Open connections (all hosts; upgraded sockets that left the pool excluded). */
  get connections(): number {
    return this.conns.size;
  }

  /**
   * Sends a request to `host` on an idle connection (or a new one): the codec serialises its head
   * (which throws, before anything is sent, on a header no HTTP/1.1 head can carry); the body (if
   * `req.body` says there is one) follows through the exchange's write/end. The request's authority
   * is its Host and, with auto_sni, the SNI its TLS connection is pooled by.
   */
  request(host: Host, req: H1RequestHead, owner: H1ExchangeOwner, permit: { release(): void }): H1Exchange {
    const head = serializeRequestHead(req);
    const upgrade = req.upgrade !== undefined;
    const ex = new H1Exchange(owner, permit, head, req.method === "HEAD", upgrade, req.body);
    const authority = req.authority;
    const key = poolKeyFor(this.cluster, host, authority);
    let conn = this.idleConn(host, upgrade, key);
    if (conn === undefined) {
      const made = this.open(host, upgrade, authority);
      if (!(made instanceof H1Conn)) {
        // Never plaintext to a server that expects TLS: the request fails as a connect failure.
        process.nextTick(refuse, ex, made);
        return ex;
      }
      conn = made;
    }
    conn.start(ex, this.cluster.spec.maxRequestsPerConnection);
    return ex;
  }

  /** An idle connection to `host` with the same pool key (an upgrade never takes one: it leaves the pool). */
  private idleConn(host: Host, upgrade: boolean, key: string | undefined): H1Conn | undefined {
    const list = upgrade ? undefined : this.idle.get(host);
    if (list === undefined) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const c = list[i];
      if (c.poolKey !== key) continue;
      list.splice(i, 1);
      if (c.usable) return c;
    }
    return undefined;
  }

  /** A new connection to `host` through the connector (or why there is none). */
  private open(host: Host, upgrade: boolean, authority: string | undefined): H1Conn | ConnectFailure {
    // The connection object exists before its H1Conn: callbacks and reads find it through `ref`.
    const ref: { c?: H1Conn } = {};
    const made = connectUpstream(
      this.cluster,
      host,
      { authority, fallbackAlpn: HTTP1_ALPN, protocol: "http1", onread: upgrade ? undefined : H1Conn.readOptions(() => ref.c) },
      { connected: () => ref.c?.connected(), failed: (f) => ref.c?.failed(f) },
    );
    if (!(made instanceof UpstreamConnection)) return made;
    const c = (ref.c = new H1Conn(this, host, made, !upgrade));
    if (upgrade) c.retire = true;
    this.conns.add(c);
    this.cxTotal++;
    if (this.isClosed) c.retire = true;
    return c;
  }

  /** @internal a response that was not HTTP (upstream_cx_protocol_error). */
  protocolError(): void {
    this.cluster.stats.cxProtocolError.inc();
  }

  /** @internal a connection finished its exchange and can be reused. */
  giveBack(c: H1Conn): void {
    if (this.isClosed) {
      c.destroy();
      return;
    }
    let list = this.idle.get(c.host);
    if (list === undefined) this.idle.set(c.host, (list = []));
    list.push(c);
    const ms = this.cluster.spec.idleTimeoutMs ?? DEFAULT_IDLE_MS;
    if (ms > 0) c.armIdle((this.idleTimers ??= timerList(ms))); // idle_timeout 0 disables it
  }

  /** @internal an upgraded socket left the pool (its close is still accounted by the connector). */
  forget(c: H1Conn): void {
    this.conns.delete(c);
    this.dropIdle(c);
  }

  /** @internal */
  closed(c: H1Conn, pooled: boolean): void {
    if (!pooled) return;
    this.conns.delete(c);
    this.dropIdle(c);
  }

  private dropIdle(c: H1Conn): void {
    const list = this.idle.get(c.host);
    if (list === undefined) return;
    const i = list.indexOf(c);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.idle.delete(c.host);
  }

  /** Idle connections to `host` (a `--concurrency` worker's admission: a request to it needs no new connection). */
  idleTo(host: Host): number {
    return this.idle.get(host)?.length ?? 0;
  }

  /** Closes up to `n` idle connections, least recently used first (a worker hands their units back); returns how many. */
  closeIdle(n: number): number {
    let closed = 0;
    for (const [host, list] of this.idle) {
      while (closed < n && list.length > 0) {
        list.shift()!.destroy();
        closed++;
      }
      if (list.length === 0) this.idle.delete(host);
      if (closed >= n) break;
    }
    return closed;
  }

  /** Closes idle connections now; busy ones close when their exchange ends (Envoy drains the pool). */
  close(): void {
    this.isClosed = true;
    for (const list of this.idle.values()) for (const c of list) c.destroy();
    this.idle.clear();
    for (const c of this.conns) c.retire = true;
  }
}
