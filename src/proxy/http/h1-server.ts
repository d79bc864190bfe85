// The HCM's HTTP/1.x fast path: a hand-written server codec for plain requests on a downstream
// connection (node:http's server costs more per request than the rest of the proxy). It parses
// the request head, streams Content-Length and chunked request bodies, writes the response head
// and body in as few writes as possible (head and first body chunk together), and keeps the
// connection alive (pipelined requests are answered in order).
//
// Anything unusual goes to node:http instead, for the rest of the connection's life: the bytes
// read so far are put back and the socket is handed to the HCM's node:http server — Upgrade
// (WebSocket, h2c), Expect (100-continue), CONNECT and other methods, absolute-form targets other
// than http(s), any transfer coding but chunked, an invalid Content-Length, a malformed head or
// one larger than max_request_headers_kb (node answers 400 / 431 exactly as before). The hand-over
// only happens between requests, so no request is ever split between the two.
//
// Response framing follows node:http: Content-Length when given, else chunked (HTTP/1.1) or
// until close (HTTP/1.0); a Date header when none is set; `connection: close` when the connection
// will close (the request asked for it, HTTP/1.0 without keep-alive, the listener drains, or — as
// in Envoy — the response starts before the request body finished arriving: the rest of the body
// is then dropped and the connection closed after the response, never read as a next request).
import type * as http from "node:http";
import type * as net from "node:net";
import { ChunkedDecoder, encodeChunk, hasToken, HopHeaders, httpDate, invalidHead, LAST_CHUNK, parseContentLength, parseEndToEnd, serializeHeaders, statusLine } from "../http1/codec.js";
import { TimerEntry, timerList } from "../../core/timers.js";
import { type BodySource, Downstream, type DownstreamProtocol } from "./router.js";

const CRLFCRLF = Buffer.from("\r\n\r\n", "latin1");
/** Methods the fast path serves (others go to node:http). */
const METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"]);
/** node:http's keepAliveTimeout as the HCM configures it, and its default headersTimeout. */
const KEEP_ALIVE_MS = 3_600_000;
const HEADERS_TIMEOUT_MS = 60_000;
const ABSOLUTE = /^https?:\/\//i;
/** A request target the fast path leaves to node:http (anything but visible ASCII). */
const TARGET_INVALID = /[^\x21-\x7e]/;
const keepAliveTimers = timerList(KEEP_ALIVE_MS);
/**
 * Envoy's delayed_close_timeout (1 s): after a response sent while the request body was still
 * arriving, the rest of the body is read and dropped for this long (so the peer reads the response
 * rather than a reset), then the connection is closed.
 */
const DELAYED_CLOSE_MS = 1000;
/** Pipelined bytes kept while a response is in progress before the socket is paused. */
const MAX_PIPELINED = 64 * 1024;
/** Response bodies up to this size are copied into one buffer with the head (one write). */
const COALESCE_MAX = 16 * 1024;

/** One parsed request, as the HCM takes it. */
export interface H1Request {
  protocol: DownstreamProtocol;
  method: string;
  /** Request target as sent (origin-form, or absolute-form http(s)://…). */
  target: string;
  /** The Host header ("" when absent). */
  host: string;
  /**
   * The end-to-end headers only: Host and the hop-by-hop headers (Connection, Keep-Alive,
   * Transfer-Encoding, TE unless "trailers", Trailer, Proxy-Connection, HTTP2-Settings) are
   * left out, so the HCM can send this very object upstream.
   */
  headers: http.IncomingHttpHeaders;
  body: BodySource | undefined;
}



/** What the connection needs from the HCM. */
export interface H1ServerHost {
  readonly maxRequestHeadersBytes: number;
  /** The listener drains: new requests get `connection: close`. */
  readonly draining: boolean;
  /** A request is ready (its body, if any, streams through `req.body`). */
  onH1Request(conn: H1ServerConnection, req: H1Request, ds: H1Response): void;
  /** Hand the socket (with `data` put back) to node:http. */
  handOver(socket: net.Socket, data: Buffer | undefined): void;
  /** The connection is gone (closed or handed over). */
  forget(conn: H1ServerConnection): void;
}

const enum BodyState {
  Streaming,
  Done,
}

/** A request body on the fast path (Content-Length or chunked). */
class H1Body implements BodySource {
  private onData: ((c: Buffer) => void) | undefined = undefined;
  private onEnd: (() => void) | undefined = undefined;
  private queued: Buffer[] | undefined = undefined;
  private state = BodyState.Streaming;
  private paused = false;
  /** The response is over: the rest of the body is read and dropped. */
  discard = false;
  private readonly decoder: ChunkedDecoder | undefined;

  constructor(
    private readonly conn: H1ServerConnection,
    private remaining: number,
    chunked: boolean,
  ) {
    this.decoder = chunked ? new ChunkedDecoder() : undefined;
  }

  start(onData: (c: Buffer) => void, onEnd: () => void): void {
    this.onData = onData;
    this.onEnd = onEnd;
    const q = this.queued;
    this.queued = undefined;
    if (q !== undefined) for (const c of q) onData(c);
    if (this.state === BodyState.Done) onEnd();
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.conn.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.conn.socket.resume();
  }

  /** BodyTarget (the chunked decoder). */
  body(c: Buffer): void {
    if (this.discard) return;
    const f = this.onData;
    if (f !== undefined) f(c);
    else (this.queued ??= []).push(c);
  }

  /**
   * Body bytes from `buf[from..]`: returns where the body ended in `buf` (the rest is the next
   * request), -1 when all of it was body, -2 on a framing error.
   */
  feed(buf: Buffer, from: number): number {
    if (this.decoder !== undefined) {
      const end = this.decoder.feed(buf, from, this);
      if (end >= 0) this.finish();
      return end;
    }
    const avail = buf.length - from;
    if (avail <= 0) return -1;
    const take = avail < this.remaining ? avail : this.remaining;
    this.remaining -= take;
    this.body(from === 0 && take === buf.length ? buf : buf.subarray(from, from + take));
    if (this.remaining > 0) return -1;
    this.finish();
    return from + take;
  }

  private finish(): void {
    this.state = BodyState.Done;
    if (this.paused) {
      this.paused = false;
      this.conn.socket.resume();
    }
    if (this.discard) return;
    const f = this.onEnd;
    if (f !== undefined) f();
  }

  /** The response ended first: drop the rest, and do not hold the socket paused for it. */
  drop(): void {
    this.discard = true;
    this.queued = undefined;
    this.resume();
  }
}

/** The response side of one fast-path request. */
export class H1Response extends Downstream {
  private sent = false;
  private ended = false;
  private _gone = false;
  private resetByUs = false;
  private chunked = false;
  private bodyAllowed = true;
  private pendingHead: string | undefined = undefined;

  constructor(
    private readonly conn: H1ServerConnection,
    readonly protocol: DownstreamProtocol,
    /** The connection stays open after this response. */
    public keepAlive: boolean,
    private readonly isHead: boolean,
  ) {
    super();
  }

  get headersSent(): boolean {
    return this.sent;
  }

  get gone(): boolean {
    return this._gone;
  }

  /** @internal the response is fully written (or abandoned). */
  get finished(): boolean {
    return this.ended;
  }

  respond(status: number, headers: http.OutgoingHttpHeaders, endStream: boolean): void {
    const socket = this.conn.socket;
    if (socket.destroyed || this.sent) return;
    let head = serializeHeaders(headers, statusLine(status));
    this.sent = true;
    this.touch();
    if (headers.date === undefined) head += "date: " + httpDate() + "\r\n";
    const noBody = this.isHead || status === 204 || status === 304 || status < 200;
    this.bodyAllowed = !noBody;
    // A response before the request body finished arriving: the connection cannot be reused
    // (Envoy: connection: close, then the connection closes once the response is out).
    if (this.respondsEarly()) this.keepAlive = false;
    if (!noBody && headers["content-length"] === undefined) {
      if (this.protocol === "HTTP/1.1") {
        head += "transfer-encoding: chunked\r\n";
        this.chunked = true;
      } else this.keepAlive = false; // HTTP/1.0: the body runs until close
    }
    if (!this.keepAlive) head += "connection: close\r\n";
    else if (this.protocol === "HTTP/1.0") head += "connection: keep-alive\r\n";
    this.pendingHead = head + "\r\n";
    if (endStream) this.end();
  }

  write(chunk: Buffer): boolean {
    const socket = this.conn.socket;
    if (socket.destroyed || this.ended) return true;
    this.touch();
    const head = this.pendingHead;
    if (!this.bodyAllowed || chunk.length === 0) {
      if (head !== undefined) {
        this.pendingHead = undefined;
        return socket.write(head, "latin1");
      }
      return true;
    }
    if (head === undefined) return socket.write(this.chunked ? encodeChunk(chunk) : chunk);
    this.pendingHead = undefined;
    if (chunk.length > COALESCE_MAX) {
      socket.cork();
      socket.write(head, "latin1");
      const ok = socket.write(this.chunked ? encodeChunk(chunk) : chunk);
      socket.uncork();
      return ok;
    }
    // Head and body in one buffer: one write, one segment.
    const size = this.chunked ? chunk.length.toString(16) : "";
    const extra = this.chunked ? size.length + 4 : 0;
    const out = Buffer.allocUnsafe(head.length + extra + chunk.length);
    let at = out.write(head, 0, "latin1");
    if (this.chunked) {
      at += out.write(size, at, "latin1");
      out[at++] = 13;
      out[at++] = 10;
    }
    at += chunk.copy(out, at);
    if (this.chunked) {
      out[at++] = 13;
      out[at] = 10;
    }
    return socket.write(out);
  }

  end(): void {
    // HTTP/1.1 trailers are dropped (Envoy's default: enable_trailers is off).
    if (this.ended) return;
    this.ended = true;
    const socket = this.conn.socket;
    if (!socket.destroyed) {
      const head = this.pendingHead;
      this.pendingHead = undefined;
      const last = this.chunked && this.bodyAllowed;
      if (head !== undefined) socket.write(last ? head + "0\r\n\r\n" : head, "latin1");
      else if (last) socket.write(LAST_CHUNK);
    }
    this.conn.responseDone(this);
  }

  reset(): void {
    this.resetByUs = true;
    this.ended = true;
    this.conn.socket.destroy();
  }

  /** @internal the socket is writable again. */
  drained(): void {
    this.emitDrain();
  }

  /** @internal the connection closed before this response finished. */
  closed(): void {
    if (this.ended || this.resetByUs) return;
    this.ended = true;
    this._gone = true;
    this.emitGone();
  }
}

/** One downstream HTTP/1.x connection on the fast path. */
export class H1ServerConnection {
  /** Unparsed bytes: a partial request head, or requests pipelined behind the current one. */
  private buf: Buffer | undefined = undefined;
  private active: H1Response | undefined = undefined;
  /** The current request's body while it is still arriving. */
  private body: H1Body | undefined = undefined;
  private processing = false;
  private handedOver = false;
  private closed = false;
  private pausedForPipeline = false;
  /**
   * Keep-alive timeout (node:http's keepAliveTimeout, 1 h), armed once and checked lazily: when it
   * fires on a connection that served a request since, it re-arms — so the close comes 1–2 h after
   * the last request, and requests pay nothing for it.
   */
  private readonly idle: TimerEntry;
  private served = 0;
  private servedAtArm = 0;
  /** node:http's headersTimeout (60 s) for a request head that is still incomplete. */
  private headersTimer: TimerEntry | undefined = undefined;
  /** The delayed close after a response that came before the end of its request's body. */
  private closeTimer: TimerEntry | undefined = undefined;
  private readonly hop = new HopHeaders();
  private readonly onDataFn = (c: Buffer) => this.onData(c);
  private readonly onDrainFn = () => this.active?.drained();
  private readonly onCloseFn = () => this.onClose();
  /** Peer address without the IPv4-mapped prefix. */
  readonly remote: string;
  readonly scheme: "http" | "https";

  constructor(
    private readonly host: H1ServerHost,
    readonly socket: net.Socket,
  ) {
    const addr = socket.remoteAddress ?? "";
    this.remote = addr.startsWith("::ffff:") ? addr.slice(7) : addr;
    this.scheme = (socket as { encrypted?: boolean }).encrypted ? "https" : "http";
    this.idle = new TimerEntry(() => this.onKeepAliveTimer());
    socket.setNoDelay(true);
    socket.on("data", this.onDataFn);
    socket.on("drain", this.onDrainFn);
    socket.once("close", this.onCloseFn);
    socket.on("error", noop);
    keepAliveTimers.add(this.idle);
  }

  /** Bytes read before the codec took the socket (the HCM's protocol sniffing). */
  start(first: Buffer | undefined): void {
    if (first !== undefined && first.length > 0) this.onData(first);
  }

  /** Closes the connection if no request is in progress (the listener drains). */
  closeIfIdle(): void {
    if (this.active === undefined && this.body === undefined && this.buf === undefined) this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    const body = this.body;
    if (body !== undefined) {
      const end = body.feed(chunk, 0);
      if (end === -1) return;
      this.body = undefined;
      if (end === -2) {
        this.socket.destroy(); // broken chunked framing mid-request
        return;
      }
      if (end >= chunk.length) {
        if (this.active === undefined) this.waitForRequest();
        return;
      }
      chunk = chunk.subarray(end);
    }
    this.buf = this.buf === undefined ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.active !== undefined) {
      // Pipelined: answered once the current response is done.
      if (this.buf.length > MAX_PIPELINED && !this.pausedForPipeline) {
        this.pausedForPipeline = true;
        this.socket.pause();
      }
      return;
    }
    this.process();
  }

  /** Parses and starts requests from `buf` while no response is in progress. */
  private process(): void {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.buf !== undefined && this.active === undefined && this.body === undefined && !this.handedOver && !this.closed) {
        if (!this.next()) break;
      }
    } finally {
      this.processing = false;
    }
    if (this.active === undefined && this.body === undefined && !this.handedOver && !this.closed) this.waitForRequest();
  }

  /** One request from `buf`; false when more bytes are needed (or the socket was handed over). */
  private next(): boolean {
    const buf = this.buf!;
    const max = this.host.maxRequestHeadersBytes;
    const end = buf.indexOf(CRLFCRLF);
    if (end < 0) {
      if (buf.length > max) this.handOver();
      return false;
    }
    if (end + 4 > max) return this.handOver();
    const s = buf.toString("latin1", 0, end + 2);
    const req = this.parseHead(s);
    if (req === undefined) return this.handOver();
    const h = req.headers;
    const hop = this.hop;
    // Framing: Content-Length or chunked; anything else is node:http's.
    let body: H1Body | undefined;
    const te = hop.transferEncoding;
    const cl = h["content-length"];
    if (te !== undefined) {
      if (cl !== undefined || req.protocol !== "HTTP/1.1" || te.toLowerCase() !== "chunked") return this.handOver();
      body = new H1Body(this, 0, true);
    } else if (cl !== undefined) {
      const n = parseContentLength(cl);
      if (n < 0) return this.handOver();
      if (n > 0) body = new H1Body(this, n, false);
    }
    const rest = end + 4 < buf.length ? buf.subarray(end + 4) : undefined;
    this.buf = undefined;
    this.served++;
    this.headersTimer?.cancel();
    const keepAlive = !this.host.draining && (req.protocol === "HTTP/1.1" ? !hasToken(hop.connection, "close") : hasToken(hop.connection, "keep-alive"));
    const ds = new H1Response(this, req.protocol, keepAlive, req.method === "HEAD");
    this.active = ds;
    req.body = body;
    if (body !== undefined) {
      this.body = body;
      if (rest !== undefined) {
        const bend = body.feed(rest, 0);
        if (bend === -2) {
          this.socket.destroy();
          return false;
        }
        if (bend >= 0) {
          this.body = undefined;
          if (bend < rest.length) this.buf = rest.subarray(bend);
        }
      }
    } else if (rest !== undefined) this.buf = rest;
    try {
      this.host.onH1Request(this, req, ds);
    } catch {
      this.socket.destroy(); // never a crash for one request
      return false;
    }
    return true;
  }

  /** The request line and headers (s ends with the last header line's CRLF), or undefined for node:http. */
  private parseHead(s: string): H1Request | undefined {
    const le = s.indexOf("\r\n");
    const sp1 = s.indexOf(" ");
    if (sp1 <= 0 || sp1 > le) return undefined;
    const method = s.slice(0, sp1);
    if (!METHODS.has(method)) return undefined;
    const sp2 = s.indexOf(" ", sp1 + 1);
    if (sp2 < 0 || sp2 > le || le - sp2 !== 9) return undefined;
    // HTTP/1.1 or HTTP/1.0
    if (!s.startsWith("HTTP/1.", sp2 + 1)) return undefined;
    const minor = s.charCodeAt(sp2 + 8);
    if (minor !== 49 && minor !== 48) return undefined;
    const target = s.slice(sp1 + 1, sp2);
    const c0 = target.charCodeAt(0);
    if (c0 !== 47 /* / */ && !ABSOLUTE.test(target)) return undefined;
    if (TARGET_INVALID.test(target)) return undefined;
    if (invalidHead(s)) return undefined;
    const headers: http.IncomingHttpHeaders = {};
    const hop = this.hop;
    hop.clear();
    if (!parseEndToEnd(s, le + 2, s.length - 2, headers, hop, true)) return undefined;
    if (hop.upgrade !== undefined || hop.expect || hasToken(hop.connection, "upgrade")) return undefined;
    return { protocol: minor === 49 ? "HTTP/1.1" : "HTTP/1.0", method, target, host: hop.host ?? "", headers, body: undefined };
  }

  /** node:http takes the socket from here (the bytes not consumed go with it). */
  private handOver(): false {
    this.handedOver = true;
    const data = this.buf;
    this.buf = undefined;
    this.idle.cancel();
    this.headersTimer?.cancel();
    const s = this.socket;
    s.removeListener("data", this.onDataFn);
    s.removeListener("drain", this.onDrainFn);
    s.removeListener("close", this.onCloseFn);
    s.removeListener("error", noop);
    this.host.forget(this);
    this.host.handOver(s, data);
    return false;
  }

  /** @internal the response is complete (or was reset). */
  responseDone(ds: H1Response): void {
    if (this.active !== ds) return;
    this.active = undefined;
    const body = this.body;
    if (body !== undefined) body.drop();
    if (!ds.keepAlive) {
      this.closed = true;
      this.idle.cancel();
      this.headersTimer?.cancel();
      this.socket.end();
      // The request body is still arriving: it is read and dropped until the peer closes, for at
      // most the delayed close timeout.
      if (body !== undefined) this.closeTimer = timerList(DELAYED_CLOSE_MS).start(() => this.socket.destroy());
      return;
    }
    if (this.pausedForPipeline) {
      this.pausedForPipeline = false;
      this.socket.resume();
    }
    if (this.body !== undefined) return; // the rest of the request body first
    if (this.buf !== undefined) {
      // The next pipelined request (not from inside the previous one's call stack).
      if (!this.processing) process.nextTick(() => this.process());
      return;
    }
    this.waitForRequest();
  }

  /** Between requests: a partial head gets the headers timeout (the keep-alive one is always armed). */
  private waitForRequest(): void {
    if (this.closed || this.buf === undefined) return;
    const t = (this.headersTimer ??= new TimerEntry(() => this.socket.destroy()));
    if (!t.armed) timerList(HEADERS_TIMEOUT_MS).add(t);
  }

  private onKeepAliveTimer(): void {
    if (this.closed) return;
    if (this.active !== undefined || this.body !== undefined || this.buf !== undefined || this.served !== this.servedAtArm) {
      this.servedAtArm = this.served;
      keepAliveTimers.add(this.idle);
      return;
    }
    this.socket.destroy();
  }

  private onClose(): void {
    this.closed = true;
    this.idle.cancel();
    this.headersTimer?.cancel();
    this.closeTimer?.cancel();
    this.host.forget(this);
    const ds = this.active;
    this.active = undefined;
    this.body = undefined;
    if (ds !== undefined) ds.closed();
  }
}

function noop(): void {}
