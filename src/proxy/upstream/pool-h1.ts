// Envoy's HTTP/1.1 upstream connection pool, hand-written on net.Socket (node:http's client and
// Agent cost more per request than the rest of the proxy together). Per cluster and host: a stack
// of idle keep-alive connections; a request takes one (or opens one) and gives it back when its
// response is complete. One exchange at a time per connection (no pipelining, as Envoy).
//
// - Request: the head is one latin1 string written in one call (corked with the first body bytes);
//   bodies go out raw (Content-Length) or chunked.
// - Response: the head parsed strictly (http1/response-head.ts: Envoy's codec rules; a malformed
//   one is a protocol error — 502 UPE, counted as upstream_cx_protocol_error), 1xx skipped (100
//   Continue included; any number of them, each bounded like a head), bodies by Content-Length,
//   chunked (with trailers) or until close; HEAD, 204 and 304 have none, and bytes after a complete
//   response close the connection. A 101 to an Upgrade request hands the socket over (leaves the
//   pool). A head arriving in pieces is accumulated in O(n) (HeadBuffer).
// - Reuse: keep-alive unless the response says close (or is HTTP/1.0 without keep-alive), the
//   body ran until close, the request body was not finished, or max_requests_per_connection was
//   reached. Idle connections close after the cluster's idle_timeout (default 1 h); connects are
//   bounded by connect_timeout.
// - Accounting: upstream_cx_total / upstream_cx_active / upstream_cx_http1_total, the connections
//   circuit-breaker resource and `host.activeConnections`, through the cluster (connectionOpened /
//   connectionClosed).
// - TLS (the cluster's UpstreamTlsContext): tls.connect on the same read path; the connection is up
//   once its handshake is done (connect_timeout covers both), so a failed handshake or verification
//   is a connect failure with Envoy's transport failure reason. With auto_sni the SNI is the
//   request's Host (connections are pooled per SNI). A cluster whose secrets come over SDS opens no
//   connection at all: its requests fail as connect failures.
import type * as http from "node:http";
import * as net from "node:net";
import type { UpstreamCluster } from "./cluster.js";
import { type ConnectFailure, type ConnectOwner, connectUpstream, poolKeyFor, UpstreamConnection } from "./connector.js";
import { type BodyTarget, ChunkedDecoder, CRLFCRLF, encodeChunk, hasBareLf, HeadBuffer, HopHeaders, LAST_CHUNK } from "../http1/codec.js";
import { parseResponseHead, ResponseFraming } from "../http1/response-head.js";
import type { Host } from "./host.js";
import { TimerEntry, type TimerList, timerList } from "../../core/timers.js";

/** What the exchange tells its owner (the router's attempt) before the response is handed over. */
export interface H1ExchangeOwner {
  /**
   * No connection (the connector's failure: the socket error code, "timeout" for
   * connect_timeout, or a TLS failure with Envoy's transport failure reason).
   */
  connectFailed(f: ConnectFailure): void;
  /** The connection broke before a response head. */
  reset(): void;
  /** The upstream sent something that is not HTTP before a complete response head (Envoy's protocol_error). */
  protocolError(): void;
  /** The response head arrived; from here on `ex` is the response (pipe / abort it). */
  response(ex: H1Exchange): void;
}

/** Receives the response body (the router's relay). */
export interface H1ResponseSink {
  data(chunk: Buffer): boolean;
  end(): void;
  /** The body broke off: the connection closed (UC) or its framing broke (UPE). */
  reset(flag: "UC" | "UPE"): void;
}

export const enum BodyMode {
  /** No request body (nothing framed). */
  None,
  /** Raw bytes (the head carries Content-Length). */
  Raw,
  /** Chunked transfer coding. */
  Chunked,
}

/** Longest response head accepted (Envoy's MAX_RESPONSE_HEADERS_KB). */
const MAX_HEAD = 80 * 1024;
const DEFAULT_IDLE_MS = 3_600_000;

const enum Res {
  Head,
  Body,
  Done,
}

/**
 * One request/response on a pooled connection. Until the response head it reports to its owner;
 * then it is the response (status, headers, pipe, resume, trailers, abort) the router relays. As
 * a request body sink it takes write/end/whenDrained.
 */
export class H1Exchange implements BodyTarget {
  status = 0;
  /** The end-to-end response headers (hop-by-hop ones are parsed aside): the router relays this object as is. */
  headers: http.IncomingHttpHeaders = {};
  readonly endToEnd = true;
  readonly endStream = false;
  private readonly hop = new HopHeaders();
  upgrade: { socket: net.Socket; head: Buffer } | undefined = undefined;
  private state = Res.Head;
  private bodyMode = ResponseFraming.None;
  private remaining = 0;
  private chunked: ChunkedDecoder | undefined = undefined;
  /** A response head arriving in pieces. */
  private readonly headBuf = new HeadBuffer();
  private keepAlive = true;
  private sink: H1ResponseSink | undefined = undefined;
  private pendingBody: Buffer[] | undefined = undefined;
  private pendingEnd = false;
  private pendingReset: "UC" | "UPE" | undefined = undefined;
  /** The request (head and body) is fully written. */
  private requestDone: boolean;
  private finished = false;
  private cancelled = false;
  /** @internal */
  conn: H1Conn | undefined;

  constructor(
    private readonly owner: H1ExchangeOwner,
    private readonly permit: { release(): void },
    private readonly head: string,
    private readonly isHead: boolean,
    private readonly upgradeRequested: boolean,
    private readonly mode: BodyMode,
  ) {
    this.requestDone = mode === BodyMode.None;
  }

  // ---- request side ----

  /** @internal the connection is ours: send the head. */
  begin(conn: H1Conn): void {
    this.conn = conn;
    const socket = conn.socket;
    if (this.mode === BodyMode.None) {
      socket.write(this.head, "latin1");
      return;
    }
    // The head and the body bytes already here leave together (as node:http corks them).
    socket.cork();
    socket.write(this.head, "latin1");
    process.nextTick(uncork, socket);
  }

  /** Request body bytes (BodyWriter). */
  write(chunk: Buffer): boolean {
    const c = this.conn;
    if (c === undefined || this.requestDone || c.socket.destroyed || chunk.length === 0) return true;
    return c.socket.write(this.mode === BodyMode.Chunked ? encodeChunk(chunk) : chunk);
  }

  /** The request body is complete (BodyWriter). */
  end(): void {
    const c = this.conn;
    if (c === undefined || this.requestDone) return;
    this.requestDone = true;
    if (this.mode === BodyMode.Chunked && !c.socket.destroyed) c.socket.write(LAST_CHUNK);
  }

  whenDrained(cb: () => void): void {
    const c = this.conn;
    if (c === undefined || c.socket.destroyed) cb();
    else c.socket.once("drain", cb);
  }

  /** Abandons the try (per-try timeout, route timeout, client gone): the connection is closed. */
  cancel(): void {
    if (this.finished) return;
    this.cancelled = true;
    this.conn?.destroy();
  }

  // ---- response side (UpstreamResponse) ----

  pipe(sink: H1ResponseSink): void {
    this.sink = sink;
    const pending = this.pendingBody;
    if (pending !== undefined) {
      this.pendingBody = undefined;
      for (const c of pending) if (!sink.data(c)) this.conn?.socket.pause();
    }
    if (this.pendingEnd) sink.end();
    else if (this.pendingReset !== undefined) sink.reset(this.pendingReset);
  }

  resume(): void {
    if (this.state === Res.Body) this.conn?.socket.resume();
  }

  trailers(): http.IncomingHttpHeaders | undefined {
    return this.chunked?.trailers;
  }

  /** Discards the response: a complete one leaves its connection pooled, otherwise it is closed. */
  abort(): void {
    if (this.upgrade !== undefined) {
      this.upgrade.socket.destroy();
      return;
    }
    if (this.state !== Res.Done) {
      this.state = Res.Done;
      this.sink = undefined;
      this.conn?.destroy();
    }
    this.release();
  }

  private release(): void {
    if (this.finished) return;
    this.finished = true;
    this.permit.release();
  }

  // ---- parsing (the connection feeds every byte it reads) ----

  /** @internal */
  feed(chunk: Buffer): void {
    let buf = chunk;
    let i = 0;
    if (this.state === Res.Head) {
      const hb = this.headBuf;
      let end: number;
      const from = Math.max(0, hb.length - 1);
      if (hb.length === 0) end = buf.indexOf(CRLFCRLF);
      else {
        hb.append(chunk);
        buf = hb.bytes;
        end = hb.headEnd();
      }
      for (;;) {
        if (end < 0) {
          // Too long, or a bare LF (that head would never end): not HTTP as Envoy reads it.
          if (buf.length - i > MAX_HEAD || hasBareLf(buf, Math.max(i, from))) return this.protocolError();
          if (hb.length === 0) hb.append(buf.subarray(i));
          else if (i > 0) {
            // Interim responses were consumed: keep only what follows them.
            const rest = Buffer.from(buf.subarray(i));
            hb.clear();
            hb.append(rest);
          }
          return;
        }
        if (end - i + 4 > MAX_HEAD) return this.protocolError();
        const head = parseResponseHead(buf.toString("latin1", i, end + 2), this.hop, this.isHead);
        if (head === undefined) return this.protocolError();
        this.status = head.status;
        this.headers = head.headers;
        if (!head.keepAlive) this.keepAlive = false;
        this.bodyMode = head.framing;
        this.remaining = head.length;
        i = end + 4;
        const st = head.status;
        // 1xx informational responses (100 Continue, 103 Early Hints) are skipped, as node:http does.
        if (st < 200 && st !== 101) {
          if (i >= buf.length) {
            hb.clear();
            return;
          }
          end = buf.indexOf(CRLFCRLF, i);
          continue;
        }
        break;
      }
      if (hb.length > 0) {
        // The rest is a view of the head buffer's copy: it stays valid, the buffer starts anew.
        hb.clear();
      }
      const st = this.status;
      if (st === 101) {
        if (!this.upgradeRequested) return this.protocolError();
        if (this.hop.upgrade !== undefined) this.headers.upgrade = this.hop.upgrade;
        this.state = Res.Done;
        const conn = this.conn!;
        const socket = conn.detach();
        this.upgrade = { socket, head: i < buf.length ? buf.subarray(i) : EMPTY };
        socket.once("close", () => this.release());
        this.owner.response(this);
        return;
      }
      if (this.bodyMode === ResponseFraming.Chunked) this.chunked = new ChunkedDecoder();
      else if (this.bodyMode === ResponseFraming.UntilClose) this.keepAlive = false;
      // A response to an upgrade request that did not switch: the connection is not reused.
      if (this.upgradeRequested) this.keepAlive = false;
      this.state = Res.Body;
      this.owner.response(this);
      if (this.state !== Res.Body) return; // aborted meanwhile
      if (this.bodyMode === ResponseFraming.None) {
        if (i < buf.length) this.extraneous(); // bytes nobody asked for
        return this.complete();
      }
      if (i >= buf.length) return;
    }
    if (this.state !== Res.Body) {
      // Bytes after the response: nothing is outstanding on this connection.
      this.extraneous();
      this.conn?.destroy();
      return;
    }
    switch (this.bodyMode) {
      case ResponseFraming.Length: {
        const avail = buf.length - i;
        const take = avail < this.remaining ? avail : this.remaining;
        this.remaining -= take;
        this.body(i === 0 && take === buf.length ? buf : buf.subarray(i, i + take));
        if (this.remaining === 0 && this.state === Res.Body) {
          if (i + take < buf.length) this.extraneous();
          this.complete();
        }
        return;
      }
      case ResponseFraming.Chunked: {
        const end = this.chunked!.feed(buf, i, this);
        if (this.state !== Res.Body) return;
        if (end === -2) return this.brokeOff("UPE");
        if (end >= 0) {
          if (end < buf.length) this.extraneous();
          this.complete();
        }
        return;
      }
      case ResponseFraming.UntilClose:
        this.body(i === 0 ? buf : buf.subarray(i));
        return;
    }
  }

  /**
   * Bytes past the end of a complete response (Envoy: "extraneous data after response complete"):
   * the response stands, the connection is not reused, and it counts as a protocol error.
   */
  private extraneous(): void {
    this.keepAlive = false;
    this.conn?.pool.protocolError();
  }

  /** Body bytes (also the chunked decoder's target). */
  body(chunk: Buffer): void {
    if (this.state !== Res.Body) return;
    const sink = this.sink;
    if (sink === undefined) (this.pendingBody ??= []).push(chunk);
    else if (!sink.data(chunk)) this.conn?.socket.pause();
  }

  /** The response is complete: the connection goes back to the pool, then the relay ends. */
  private complete(): void {
    this.state = Res.Done;
    const conn = this.conn!;
    if (this.requestDone) conn.exchangeDone(this, this.keepAlive);
    // The response ended before the request did: the rest of the request has nowhere to go, so
    // the connection closes (as Envoy resets the upstream stream).
    else conn.destroy();
    const sink = this.sink;
    if (sink !== undefined) sink.end();
    else this.pendingEnd = true;
    this.release();
  }

  /** A malformed response head: the try ends as Envoy's protocol_error (the connection closes). */
  private protocolError(): void {
    this.headBuf.clear();
    this.conn?.pool.protocolError();
    if (this.state !== Res.Head) return this.brokeOff("UPE");
    this.state = Res.Done;
    this.conn?.destroy();
    if (!this.cancelled) this.owner.protocolError();
  }

  /** The body broke off: the connection closed (UC) or its framing broke (UPE). */
  private brokeOff(flag: "UC" | "UPE"): void {
    if (this.state !== Res.Body) return;
    if (flag === "UPE") this.conn?.pool.protocolError();
    this.state = Res.Done;
    this.conn?.destroy();
    const sink = this.sink;
    if (sink !== undefined) sink.reset(flag);
    else this.pendingReset = flag;
    this.release();
  }

  /** @internal the upstream closed its side (a body that runs until close ends here). */
  onEof(): boolean {
    if (this.state === Res.Body && this.bodyMode === ResponseFraming.UntilClose) {
      this.keepAlive = false;
      this.complete();
      return true;
    }
    return false;
  }

  /** @internal no connection could be made for this exchange. */
  refuse(f: ConnectFailure): void {
    if (this.state !== Res.Head || this.cancelled) return;
    this.state = Res.Done;
    this.owner.connectFailed(f);
  }

  /** @internal the connection is gone (error or close) while this exchange was on it. */
  onClose(failure: ConnectFailure | undefined): void {
    switch (this.state) {
      case Res.Head:
        this.state = Res.Done;
        if (failure !== undefined && !this.cancelled) this.owner.connectFailed(failure);
        else this.owner.reset();
        return;
      case Res.Body:
        if (this.bodyMode === ResponseFraming.UntilClose && !this.cancelled) {
          this.keepAlive = false;
          this.complete();
          return;
        }
        this.brokeOff("UC");
        return;
      default:
        return;
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** The pool's ALPN when the TLS context configures none (Envoy's HTTP/1.1 fallback). */
const HTTP1_ALPN: readonly string[] = ["http/1.1"];

function refuse(ex: H1Exchange, f: ConnectFailure): void {
  ex.refuse(f);
}

/** The Host header of a request head (the router writes it first; any position is accepted). */
export function headHost(head: string): string | undefined {
  const lineEnd = head.indexOf("\r\n");
  let at = lineEnd + 2;
  if (!/^host:/i.test(head.slice(at, at + 5))) {
    const m = /\r\nhost:/i.exec(head);
    if (m === null) return undefined;
    at = m.index + 2;
  }
  const end = head.indexOf("\r\n", at);
  return head.slice(at + 5, end < 0 ? head.length : end).trim();
}

function uncork(socket: net.Socket): void {
  socket.uncork();
}

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
class H1Conn implements ConnectOwner {
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
   * Sends a request to `host` on an idle connection (or a new one). `head` is the complete request
   * head; the body (if `mode` says there is one) follows through the exchange's write/end.
   * `authority` is the request's Host (TLS connections are pooled per SNI with auto_sni).
   */
  request(host: Host, head: string, opts: { isHead: boolean; upgrade: boolean; mode: BodyMode; authority?: string }, owner: H1ExchangeOwner, permit: { release(): void }): H1Exchange {
    const ex = new H1Exchange(owner, permit, head, opts.isHead, opts.upgrade, opts.mode);
    const authority = opts.authority ?? headHost(head);
    const key = poolKeyFor(this.cluster, host, authority);
    let conn = this.idleConn(host, opts.upgrade, key);
    if (conn === undefined) {
      const made = this.open(host, opts.upgrade, authority);
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
