// The HCM's HTTP/1.x codec (downstream): a hand-written server for every HTTP/1 request on a
// downstream connection (node:http's server costs more per request than the rest of the proxy, and
// parses more loosely than Envoy). It reads the request head — strictly (h1-request.ts: Envoy's
// codec rules, RFC 9112 where Envoy is laxer) — answers what it refuses itself (400, 426, 431, 501,
// as Envoy's codec, then closes the connection), answers `Expect: 100-continue`, streams
// Content-Length and chunked request bodies, hands an upgrade (WebSocket, CONNECT) its raw socket
// (h1-upgrade.ts: the bytes after the head are the upgrade's payload, never a request), writes
// responses (h1-response.ts) and keeps the connection alive (pipelined requests are answered in
// order).
//
// Bounded: a head larger than max_request_headers_kb is refused as soon as it is (431), a head
// arriving in pieces costs O(n) however it is split, pipelined bytes past 64 KiB pause the socket,
// and after a refusal or a close-delimited response the rest is read and dropped for at most
// Envoy's delayed close timeout.
import type * as net from "node:net";
import { ChunkedDecoder, CRLFCRLF, HeadBuffer, hasBareLf, HopHeaders } from "../http1/codec.js";
import { TimerEntry, type TimerList, timerList } from "../../core/timers.js";
import { checkRequestLine, Framing, type H1CodecSettings, type HeadError, parseRequestHead, type RequestHead } from "./h1-request.js";
import { H1Response, type H1ResponseConnection } from "./h1-response.js";
import { UpgradeDownstream } from "./h1-upgrade.js";
import { LOCAL_REPLIES } from "./local-reply.js";
import type { BodySource, Downstream } from "./downstream.js";

/** node:http's keepAliveTimeout as the HCM configures it, and its default headersTimeout. */
const HEADERS_TIMEOUT_MS = 60_000;
/**
 * Envoy's delayed_close_timeout (1 s): after a response sent while the request body was still
 * arriving, or after a refused request, the rest is read and dropped for this long (so the peer
 * reads the response rather than a reset), then the connection is closed.
 */
const DELAYED_CLOSE_MS = 1000;
/** Pipelined bytes kept while a response is in progress before the socket is paused. */
const MAX_PIPELINED = 64 * 1024;
const CONTINUE = Buffer.from("HTTP/1.1 100 Continue\r\n\r\n", "latin1");
const EMPTY = Buffer.alloc(0);

/** One request the codec accepted, as the HCM takes it. */
export interface H1Request {
  head: RequestHead;
  body: BodySource | undefined;
}

/** What the connection needs from the HCM. */
export interface H1ServerHost {
  readonly h1: H1CodecSettings;
  /** The listener drains: new requests get `connection: close`. */
  readonly draining: boolean;
  /**
   * A request is ready (its body, if any, streams through `req.body`); `ds` is an H1Response, or
   * for an upgrade an UpgradeDownstream that owns the socket from now on.
   */
  onH1Request(conn: H1ServerConnection, req: H1Request, ds: Downstream): void;
  /** A request the codec refused: the HCM answers it on `ds` (which closes the connection), counts and logs it. */
  onH1Reject(conn: H1ServerConnection, err: HeadError, ds: H1Response): void;
  /** The connection is gone (closed or upgraded). */
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

/** One downstream HTTP/1.x connection. */
export class H1ServerConnection implements H1ResponseConnection {
  /** Unparsed bytes: a partial request head, or requests pipelined behind the current one. */
  private buf: Buffer | undefined = undefined;
  /** Where `buf` grows when bytes arrive in pieces (copies double: O(n) for a trickled head). */
  private readonly grow = new HeadBuffer();
  private growing = false;
  /** How far `buf` was searched for the end of a head without finding it. */
  private scanned = 0;
  /** The request line of the head in `buf` was checked (a bad one is answered before the head ends). */
  private lineChecked = false;
  private active: H1Response | undefined = undefined;
  /** The current request's body while it is still arriving. */
  private body: H1Body | undefined = undefined;
  private processing = false;
  /** The socket left this codec (an upgrade took it). */
  private detached = false;
  /** No more requests: the connection closes after the response in progress; what arrives is dropped. */
  private closed = false;
  private pausedForPipeline = false;
  /**
   * The connection idle timeout (the HCM's common_http_protocol_options.idle_timeout, Envoy's
   * default 1 h), armed once and checked lazily: when it fires on a connection that served a
   * request since, it re-arms — so the close comes one to two timeouts after the last request, and
   * requests pay nothing for it.
   */
  private readonly idle: TimerEntry;
  private keepAlive: TimerList | undefined = undefined;
  private served = 0;
  private servedAtArm = 0;
  /** node:http's headersTimeout (60 s) for a request head that is still incomplete. */
  private headersTimer: TimerEntry | undefined = undefined;
  /** The delayed close after a response that ends the connection while the peer may still send. */
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
    // The HCM's connection idle timeout (common_http_protocol_options.idle_timeout; 0: none).
    const ms = host.h1.idleTimeoutMs;
    if (ms > 0) (this.keepAlive = timerList(ms)).add(this.idle);
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
    if (this.closed) return; // closing: the rest is dropped
    const body = this.body;
    if (body !== undefined) {
      const end = body.feed(chunk, 0);
      if (end === -1) return;
      this.body = undefined;
      if (end === -2) return this.bodyError();
      if (end >= chunk.length) {
        if (this.active === undefined) this.waitForRequest();
        return;
      }
      chunk = chunk.subarray(end);
    }
    this.push(chunk);
    if (this.active !== undefined) {
      // Pipelined: answered once the current response is done.
      if (this.buf!.length > MAX_PIPELINED && !this.pausedForPipeline) {
        this.pausedForPipeline = true;
        this.socket.pause();
      }
      return;
    }
    this.process();
  }

  /** Appends to `buf`: the first piece is kept as it is (no copy), later ones grow a copy. */
  private push(chunk: Buffer): void {
    if (this.buf === undefined) {
      this.buf = chunk;
      return;
    }
    if (!this.growing) {
      this.grow.clear();
      this.grow.append(this.buf);
      this.growing = true;
    }
    this.grow.append(chunk);
    this.buf = this.grow.bytes;
  }

  /** `buf` now starts at `rest` (bytes after the head, or undefined). */
  private consumed(rest: Buffer | undefined): void {
    this.buf = rest;
    this.growing = false;
    this.scanned = 0;
    this.lineChecked = false;
  }

  /** Parses and starts requests from `buf` while no response is in progress. */
  private process(): void {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.buf !== undefined && this.active === undefined && this.body === undefined && !this.detached && !this.closed) {
        if (!this.next()) break;
      }
    } finally {
      this.processing = false;
    }
    if (this.active === undefined && this.body === undefined && !this.detached && !this.closed) this.waitForRequest();
  }

  /** One request from `buf`; false when more bytes are needed (or the connection stops reading requests). */
  private next(): boolean {
    const buf = this.buf!;
    const settings = this.host.h1;
    const max = settings.maxRequestHeadersBytes;
    const end = buf.indexOf(CRLFCRLF, this.scanned);
    if (end < 0) {
      const from = this.scanned;
      this.scanned = Math.max(0, buf.length - 3);
      // Refused before the head is complete: too large, or a request line that cannot be served
      // (HTTP/0.9 has nothing after it), or a bare LF (the head would never end with CRLFCRLF).
      if (buf.length > max) return this.reject({ status: 431, details: "http1.headers_too_large", method: "", path: "", protocol: "HTTP/1.1" });
      if (!this.lineChecked) {
        const le = buf.indexOf(10, from);
        if (le >= 0) {
          this.lineChecked = true;
          if (le === 0 || buf[le - 1] !== 13) return this.reject({ status: 400, details: "http1.codec_error", method: "", path: "", protocol: "HTTP/1.1" });
          const bad = checkRequestLine(buf.toString("latin1", 0, le - 1), settings);
          if (bad !== undefined) return this.reject(bad);
        }
      }
      if (hasBareLf(buf, from)) return this.reject({ status: 400, details: "http1.codec_error", method: "", path: "", protocol: "HTTP/1.1" });
      return false;
    }
    if (end + 4 > max) return this.reject({ status: 431, details: "http1.headers_too_large", method: "", path: "", protocol: "HTTP/1.1" });
    const head = parseRequestHead(buf.toString("latin1", 0, end + 2), settings, this.hop);
    if ("status" in head) return this.reject(head);
    const rest = end + 4 < buf.length ? buf.subarray(end + 4) : undefined;
    this.consumed(undefined);
    this.served++;
    this.headersTimer?.cancel();
    if (head.upgrade !== undefined) return this.upgrade(head, rest);
    let body: H1Body | undefined;
    if (head.framing !== Framing.None) body = new H1Body(this, head.length, head.framing === Framing.Chunked);
    if (head.expectContinue && body !== undefined) this.socket.write(CONTINUE);
    const ds = new H1Response(this, head.protocol, head.keepAlive && !this.host.draining, head.method === "HEAD");
    if (body !== undefined) {
      this.body = body;
      if (rest !== undefined) {
        const bend = body.feed(rest, 0);
        if (bend === -2) {
          // Broken framing in the bytes that came with the head: refused before anything is routed.
          this.body = undefined;
          return this.reject({ status: 400, details: "http1.codec_error", method: head.method, path: head.path, protocol: head.protocol });
        }
        if (bend >= 0) {
          this.body = undefined;
          if (bend < rest.length) this.buf = rest.subarray(bend);
        }
      }
    } else if (rest !== undefined) this.buf = rest;
    this.active = ds;
    try {
      this.host.onH1Request(this, { head, body }, ds);
    } catch {
      this.socket.destroy(); // never a crash for one request
      return false;
    }
    return true;
  }

  /**
   * A request the codec refuses: answered (with `connection: close`) by the HCM, then the
   * connection closes; nothing after the refused head is ever read as a request.
   */
  private reject(err: HeadError): false {
    this.consumed(undefined);
    this.grow.clear();
    this.headersTimer?.cancel();
    const ds = new H1Response(this, err.protocol, false, err.method === "HEAD");
    this.active = ds;
    this.closed = true;
    this.armDelayedClose();
    try {
      this.host.onH1Reject(this, err, ds);
    } catch {
      this.socket.destroy();
    }
    return false;
  }

  /**
   * The request body's framing broke after the request was routed: as Envoy's codec error, a 400
   * if the response has not started (the stream stops with it), else the response is reset.
   */
  private bodyError(): void {
    const ds = this.active;
    this.closed = true;
    this.armDelayedClose();
    const activity = ds?.activity;
    if (ds === undefined || ds.finished || activity?.codecError === undefined) {
      this.socket.destroy();
      return;
    }
    ds.keepAlive = false;
    activity.codecError(LOCAL_REPLIES.badRequest());
  }

  /**
   * Upgrade mode: the socket leaves this codec for an UpgradeDownstream, paused, with the bytes
   * read after the head (the upgrade's payload) — nothing on it is parsed as HTTP again.
   */
  private upgrade(head: RequestHead, rest: Buffer | undefined): false {
    this.detach();
    const ds = new UpgradeDownstream(this.socket, rest ?? EMPTY);
    try {
      this.host.onH1Request(this, { head, body: undefined }, ds);
    } catch {
      this.socket.destroy();
    }
    return false;
  }

  private detach(): void {
    this.detached = true;
    this.idle.cancel();
    this.headersTimer?.cancel();
    const s = this.socket;
    s.pause();
    s.removeListener("data", this.onDataFn);
    s.removeListener("drain", this.onDrainFn);
    s.removeListener("close", this.onCloseFn);
    s.removeListener("error", noop);
    this.host.forget(this);
  }

  private armDelayedClose(): void {
    if (this.closeTimer === undefined) this.closeTimer = timerList(DELAYED_CLOSE_MS).start(() => this.socket.destroy());
  }

  /** @internal the response is complete (or was reset). */
  responseDone(ds: H1Response): void {
    if (this.active !== ds) return;
    this.active = undefined;
    const body = this.body;
    if (body !== undefined) body.drop();
    if (!ds.keepAlive) {
      this.closed = true;
      this.body = undefined;
      this.idle.cancel();
      this.headersTimer?.cancel();
      this.socket.end();
      // Whatever still arrives (the rest of a body, pipelined requests) is read and dropped until
      // the peer closes, for at most the delayed close timeout.
      this.armDelayedClose();
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
      this.keepAlive?.add(this.idle);
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
