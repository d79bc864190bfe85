// The downstream side of one HTTP stream, whatever the protocol: the response a filter or the
// router writes to (`Downstream`: HTTP/1.1 response, HTTP/2 stream, upgrade socket), the request
// body streamed from it with bounded buffering (`RequestBody`), and local replies (Envoy's
// sendLocalReply, gRPC-aware). Shared by the HTTP connection manager, its filters and the router.
import type { GrpcMessageCounter } from "../../core/grpc-frames.js";
import type * as http from "node:http";
import type * as net from "node:net";
import type { Readable, Writable } from "node:stream";
import { httpToGrpcStatus } from "../../core/grpc.js";
import type { LocalReply } from "./local-reply.js";

export type DownstreamProtocol = "HTTP/1.0" | "HTTP/1.1" | "HTTP/2";

/** A local reply, optionally with the gRPC status to answer a gRPC request with. */
export type Reply = LocalReply & { grpcStatus?: number };

/** Stream activity (resets the HCM's stream idle timer). */
export interface Activity {
  touch(): void;
  /** A response starts before the downstream finished the request (downstream_rq_response_before_rq_complete). */
  responseBeforeRequestComplete?(): void;
  /** The downstream codec found the request broken mid-stream: stop with `reply` (or reset a started response). */
  codecError?(reply: Reply): void;
}

/** How far the downstream got with its request (the HCM's RequestBody): `ended` once all of it arrived. */
export interface RequestProgress {
  readonly ended: boolean;
}

/** Who follows a downstream: the forward in progress. */
export interface DownstreamListener {
  /** The client went away or reset the stream before the response finished. */
  onGone(): void;
  /** The downstream is writable again after `write` returned false. */
  onDrain(): void;
}

/**
 * The downstream side of one stream, whatever the protocol. Tells its `listener` when the client
 * went away ("gone") and when it is writable again ("drain").
 */
export abstract class Downstream {
  abstract readonly protocol: DownstreamProtocol;
  abstract readonly headersSent: boolean;
  /** The client went away before the response finished. */
  abstract readonly gone: boolean;
  /** Sends the response head; endStream: nothing follows (HTTP/2: a trailers-only response). */
  abstract respond(status: number, headers: http.OutgoingHttpHeaders, endStream: boolean): void;
  /** Writes body bytes; false asks the caller to wait for the listener's onDrain. */
  abstract write(chunk: Buffer): boolean;
  /** Ends the response, with trailers where the protocol carries them. */
  abstract end(trailers?: http.IncomingHttpHeaders): void;
  /** Abandons the response (HTTP/1: closes the connection; HTTP/2: RST_STREAM). */
  abstract reset(): void;
  /** HTTP/1.1 upgrades: after a 101 the bytes flow both ways; resolves with bytes sent downstream. */
  tunnel?(upstream: net.Socket, upstreamHead: Buffer): Promise<number>;
  listener: DownstreamListener | undefined = undefined;
  /** The stream's activity tracker (the HCM's stream idle timer), told about every write. */
  activity: Activity | undefined = undefined;
  /**
   * The request as the HCM reads it (none: complete). As in Envoy, a response that starts before
   * the request is complete cannot leave an HTTP/1 connection reusable (it gets `connection: close`
   * and the connection closes after it), and a response that ends before it resets an HTTP/2 stream
   * with NO_ERROR (RFC 9113 §8.1) so the client stops sending.
   */
  request: RequestProgress | undefined = undefined;

  protected touch(): void {
    this.activity?.touch();
  }

  /** Whether the downstream sent the whole request. */
  get requestComplete(): boolean {
    const r = this.request;
    return r === undefined || r.ended;
  }

  /** For `respond`: true when the request is still arriving (counted as a response before the request completed). */
  protected respondsEarly(): boolean {
    const r = this.request;
    if (r === undefined || r.ended) return false;
    this.activity?.responseBeforeRequestComplete?.();
    return true;
  }

  protected emitGone(): void {
    this.listener?.onGone();
  }

  protected emitDrain(): void {
    this.listener?.onDrain();
  }
}

/** Where a request body comes from (a node stream, or the HTTP/1 codec's own body source). */
export interface BodySource {
  /** Starts delivering: `onData` per chunk, then `onEnd` once. */
  start(onData: (chunk: Buffer) => void, onEnd: () => void): void;
  pause(): void;
  resume(): void;
}

/**
 * A body that is already whole (a shadow's copy, a request the proxy sends itself), as a
 * RequestBody; an empty one when there are no bytes.
 */
export function wholeBody(buf: Buffer): RequestBody {
  if (buf.length === 0) return RequestBody.empty();
  const src: BodySource = {
    start(onData, onEnd) {
      onData(buf);
      onEnd();
    },
    pause: () => {},
    resume: () => {},
  };
  return new RequestBody(src, buf.length);
}

/** A node Readable as a BodySource. */
export function readableSource(r: Readable): BodySource {
  return {
    start(onData, onEnd) {
      r.on("data", onData);
      r.once("end", onEnd);
      r.on("error", () => {});
    },
    pause: () => r.pause(),
    resume: () => r.resume(),
  };
}

/** Where an upstream request body goes (an upstream HTTP/1.1 connection or an HTTP/2 stream). */
export interface BodyWriter {
  write(chunk: Buffer): boolean;
  end(): void;
  /** Calls `cb` once when a `write` that returned false has drained. */
  whenDrained(cb: () => void): void;
}

/** A node Writable as a BodyWriter. */
export function writableSink(w: Writable): BodyWriter {
  w.on("error", () => {});
  return {
    write: (c) => w.write(c),
    end: () => w.end(),
    whenDrained: (cb) => w.once("drain", cb),
  };
}

/** Who follows a request body's retry/shadow buffer (the forward in progress). */
export interface BodyOwner {
  /** The body outgrew the retry/shadow buffer: it can no longer be replayed or mirrored. */
  bodyAbandoned(): void;
}

/** Envoy's default per_connection_buffer_limit_bytes (1 MiB): the listener's buffer limit. */
export const DEFAULT_BUFFER_LIMIT = 1024 * 1024;

const NO_BYTES = Buffer.alloc(0);

/**
 * The request body, streamed upstream as it arrives. Memory is bounded on every path:
 * - while nothing takes it (before the first try, during a fault delay, a pending slot or a retry
 *   backoff) at most `holdLimit` bytes (the listener's per_connection_buffer_limit_bytes) are held
 *   before the source is paused (flow control, as Envoy's watermarks);
 * - when the route may replay it (a retry policy, or request mirroring) it is also kept after it
 *   was sent, up to the retry/shadow limit (the route's per_request_buffer_limit_bytes, else the
 *   virtual host's, capped by the listener's): past that it is abandoned (Envoy's
 *   `retry_or_shadow_abandoned`): not kept any more, so no retry and no shadow of it;
 * - otherwise nothing is kept once sent.
 */
export class RequestBody {
  private chunks: Buffer[] | undefined = undefined;
  private size = 0;
  private sink: BodyWriter | undefined = undefined;
  private delivered = false;
  /** Bytes received from downstream. */
  received = 0;
  ended: boolean;
  /** Kept whole for a retry or a shadow (decided once the route is known: `configure`). */
  private keep = false;
  private keepLimit = 0;
  /** The body outgrew the retry/shadow buffer. */
  abandoned = false;
  /** Told when the body is abandoned (the router's forward). */
  owner: BodyOwner | undefined = undefined;
  private endWaiters: Array<() => void> | undefined;
  private resumeSrc: (() => void) | undefined = undefined;

  constructor(
    private readonly src: BodySource | undefined,
    /** Bytes held while nothing takes them before the source is paused. */
    private readonly holdLimit: number = DEFAULT_BUFFER_LIMIT,
    private readonly activity: Activity | undefined = undefined,
    /** Counts a gRPC request's messages (given by the stream for gRPC requests; a source may deliver at once). */
    readonly grpcMessages: GrpcMessageCounter | undefined = undefined,
  ) {
    this.ended = !src;
    if (!src) return;
    src.start(
      (c) => this.onData(c),
      () => {
        this.ended = true;
        this.sink?.end();
        const w = this.endWaiters;
        this.endWaiters = undefined;
        if (w) for (const f of w) f();
      },
    );
  }

  /** The body of a request that has none (shared: it holds no state). */
  static empty(): RequestBody {
    return EMPTY_BODY;
  }

  /**
   * Once the route is known: keep the body for a replay (`keep`: a retry policy or mirrors) up to
   * `limit` bytes. A body already larger is abandoned at once.
   */
  configure(keep: boolean, limit: number): void {
    if (this.src === undefined) return;
    this.keepLimit = Math.min(limit, this.holdLimit);
    this.keep = keep && !this.abandoned;
    if (this.keep && this.received > this.keepLimit) this.abandon();
  }

  /** Calls `cb` once the downstream finished sending the body (now, if it has). */
  onEnded(cb: () => void): void {
    if (this.ended) cb();
    else (this.endWaiters ??= []).push(cb);
  }

  /** Resolves when the downstream finished sending the body. */
  whenEnded(): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((r) => this.onEnded(r));
  }

  private onData(c: Buffer): void {
    const n = c.length;
    this.received += n;
    this.grpcMessages?.feed(c);
    this.activity?.touch();
    if (this.keep && this.size + n > this.keepLimit) this.abandon();
    const sink = this.sink;
    if (sink === undefined) {
      // Held for the next try; nobody to send to: stop reading past the listener's limit.
      (this.chunks ??= []).push(c);
      this.size += n;
      if (this.size > this.holdLimit) this.src!.pause();
      return;
    }
    if (this.keep) {
      (this.chunks ??= []).push(c);
      this.size += n;
    }
    if (!sink.write(c)) this.waitDrain(sink);
  }

  private waitDrain(sink: BodyWriter): void {
    const src = this.src!;
    src.pause();
    sink.whenDrained((this.resumeSrc ??= () => src.resume()));
  }

  private abandon(): void {
    this.abandoned = true;
    this.keep = false;
    // What was sent is dropped; what was not sent yet stays for the one try that will take it.
    if (this.delivered) {
      this.chunks = undefined;
      this.size = 0;
    }
    this.owner?.bodyAbandoned();
  }

  /** The whole body once it ended, if it is kept (request mirroring sends a copy). */
  buffered(): Buffer | undefined {
    if (this.src === undefined) return NO_BYTES;
    if (!this.ended || !this.keep) return undefined;
    const chunks = this.chunks;
    return chunks === undefined ? NO_BYTES : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.size);
  }

  /** Whether `attach` may be called (again). */
  get canSend(): boolean {
    return !this.delivered || this.keep;
  }

  /** Sends the body (held part first, then live) to an upstream request. */
  attach(sink: BodyWriter): void {
    const src = this.src;
    if (src === undefined) {
      sink.end();
      return;
    }
    this.delivered = true;
    this.sink = sink;
    let ok = true;
    const chunks = this.chunks;
    if (chunks !== undefined) for (const c of chunks) ok = sink.write(c);
    if (!this.keep) {
      this.chunks = undefined;
      this.size = 0;
    }
    if (this.ended) sink.end();
    else if (ok) src.resume();
    else this.waitDrain(sink);
  }

  /** The attempt that owned the sink is over. */
  detach(sink: BodyWriter): void {
    if (this.sink === sink) this.sink = undefined;
  }
}

const EMPTY_BODY = new RequestBody(undefined, 0);

/** The HCM's stream timers stop a forward with a local reply (stream idle, request, max stream duration). */
export class StreamAbort {
  reason: Reply | undefined = undefined;
  private cb: ((r: Reply) => void) | undefined = undefined;

  abort(r: Reply): void {
    if (this.reason !== undefined) return;
    this.reason = r;
    const cb = this.cb;
    if (cb !== undefined) cb(r);
  }

  /** @internal the forward in progress */
  listen(cb: ((r: Reply) => void) | undefined): void {
    this.cb = cb;
  }

  /** A forward in progress takes the stop (and answers it itself). */
  get listening(): boolean {
    return this.cb !== undefined;
  }
}


/** gRPC's percent-encoding of grpc-message. */
function grpcMessage(s: string): string {
  return s.replace(/[^\x20-\x24\x26-\x7e]/g, (c) => encodeURIComponent(c));
}

/**
 * Writes a local reply (text/plain, as Envoy), or for a gRPC request a trailers-only response
 * (HTTP 200, grpc-status from the reply or mapped from its HTTP status, grpc-message = body).
 * Resets the stream instead when the response already started.
 */
export function sendLocalReply(ds: Downstream, reply: Reply, extra: http.OutgoingHttpHeaders | undefined = undefined, grpc = false): { status: number; bytes: number; grpcStatus?: number } {
  if (ds.headersSent) {
    ds.reset();
    return { status: reply.status, bytes: 0 };
  }
  if (grpc || reply.grpcStatus !== undefined) {
    const code = reply.grpcStatus ?? httpToGrpcStatus(reply.status);
    const h: http.OutgoingHttpHeaders = { ...extra, "content-type": "application/grpc", "grpc-status": String(code) };
    if (reply.body) h["grpc-message"] = grpcMessage(reply.body);
    if (ds.protocol !== "HTTP/2") h["content-length"] = "0";
    ds.respond(200, h, true);
    return { status: 200, bytes: 0, grpcStatus: code };
  }
  const len = Buffer.byteLength(reply.body);
  const headers: http.OutgoingHttpHeaders = { ...extra, "content-length": String(len) };
  if (reply.body) headers["content-type"] = "text/plain";
  if (!reply.body) {
    ds.respond(reply.status, headers, true);
    return { status: reply.status, bytes: 0 };
  }
  ds.respond(reply.status, headers, false);
  ds.write(Buffer.from(reply.body));
  ds.end();
  return { status: reply.status, bytes: len };
}