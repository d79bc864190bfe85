// The response side of one downstream HTTP/1 request (the codec in h1-server.ts): framing as
// node:http does it — Content-Length when given, else chunked (HTTP/1.1) or until close (HTTP/1.0);
// a Date header when none is set; `connection: close` when the connection will close (the request
// asked for it, HTTP/1.0 without keep-alive, the listener drains, a refusal, or — as in Envoy — the
// response starts before the request body finished arriving) — and as few writes as possible: the
// head waits for the first body chunk and leaves with it (one buffer up to 16 KiB, corked above).
import type * as http from "node:http";
import type * as net from "node:net";
import { encodeChunk, httpDate, LAST_CHUNK, serializeHeaders, statusLine } from "../http1/codec.js";
import { Downstream, type DownstreamProtocol } from "./downstream.js";

/** Response bodies up to this size are copied into one buffer with the head (one write). */
const COALESCE_MAX = 16 * 1024;

/** What a response needs from its connection. */
export interface H1ResponseConnection {
  readonly socket: net.Socket;
  /** The response is complete (or was reset). */
  responseDone(ds: H1Response): void;
}

/** The response side of one HTTP/1 request. */
export class H1Response extends Downstream {
  private sent = false;
  private ended = false;
  private _gone = false;
  private resetByUs = false;
  private chunked = false;
  private bodyAllowed = true;
  private pendingHead: string | undefined = undefined;

  constructor(
    private readonly conn: H1ResponseConnection,
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
