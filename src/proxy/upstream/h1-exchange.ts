// One request/response on an HTTP/1.1 upstream connection (the pool in pool-h1.ts lends the
// connection): the request head and body written as the router hands them over, and the response
// read strictly — the head by http1/response-head.ts (Envoy's codec rules; a malformed one is a
// protocol error, 502 UPE, upstream_cx_protocol_error), 1xx skipped (each bounded like a head),
// bodies by Content-Length, chunked (with trailers) or until close; HEAD, 204 and 304 have none,
// bytes after a complete response close the connection, and a 101 to an Upgrade request hands the
// socket over. A head arriving in pieces is accumulated in O(n) (HeadBuffer).
import type * as http from "node:http";
import type * as net from "node:net";
import { type BodyTarget, ChunkedDecoder, CRLFCRLF, encodeChunk, hasBareLf, HeadBuffer, HopHeaders, LAST_CHUNK } from "../http1/codec.js";
import { BodyMode } from "../http1/request-head.js";
import { parseResponseHead, ResponseFraming } from "../http1/response-head.js";
import type { ConnectFailure } from "./connector.js";

/** What an exchange needs of the pooled connection it runs on (H1Conn in pool-h1.ts). */
export interface H1ExchangeConnection {
  readonly socket: net.Socket;
  /** The exchange is over; keep-alive says whether the connection can serve another. */
  exchangeDone(ex: H1Exchange, keepAlive: boolean): void;
  /** Closes the connection (its exchange is abandoned). */
  destroy(): void;
  /** Takes the socket out of the pool (an upgrade's tunnel). */
  detach(): net.Socket;
  /** Counts upstream_cx_protocol_error. */
  protocolError(): void;
}

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

/** Longest response head accepted (Envoy's MAX_RESPONSE_HEADERS_KB). */
const MAX_HEAD = 80 * 1024;

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
  conn: H1ExchangeConnection | undefined;

  get connectionSocket(): net.Socket | undefined {
    return this.conn?.socket;
  }

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
  begin(conn: H1ExchangeConnection): void {
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
    this.conn?.protocolError();
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
    this.conn?.protocolError();
    if (this.state !== Res.Head) return this.brokeOff("UPE");
    this.state = Res.Done;
    this.conn?.destroy();
    if (!this.cancelled) this.owner.protocolError();
  }

  /** The body broke off: the connection closed (UC) or its framing broke (UPE). */
  private brokeOff(flag: "UC" | "UPE"): void {
    if (this.state !== Res.Body) return;
    if (flag === "UPE") this.conn?.protocolError();
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

function uncork(socket: net.Socket): void {
  socket.uncork();
}

