// The gRPC calls the proxy makes — a bidirectional stream of already-encoded messages to its control
// plane (ADS), and the agent's unary CreateCertificate to the mesh CA over TLS — spoken directly
// over node:http2 (gRPC over HTTP/2: a POST with `content-type: application/grpc` and
// `te: trailers`; each message framed as a 1-byte compressed flag and a 4-byte big-endian length;
// the status in the trailers, `grpc-status`/`grpc-message`). A full gRPC library costs a sidecar
// ~80 ms of CPU and several MB at start-up for a single stream; this file is the part of it the
// proxy needs. Reconnection and backoff stay with the caller (the ADS client, the agent): a call
// that fails (connection refused, reset, server gone) ends with a status and the next call opens a
// new connection.
import { EventEmitter } from "node:events";
import * as http2 from "node:http2";
import { GRPC_STATUS_NAMES, httpToGrpcStatus } from "../../core/grpc.js";

export { GRPC_STATUS_NAMES };

const CANCELLED = 1;
const UNKNOWN = 2;
const DEADLINE_EXCEEDED = 4;
const RESOURCE_EXHAUSTED = 8;
const INTERNAL = 13;
const UNAVAILABLE = 14;

export interface GrpcStatus {
  code: number;
  details: string;
}

export interface BidiCallEvents {
  /** Response headers arrived (the server accepted the call). */
  metadata: [];
  /** One response message (its bytes, unframed). */
  data: [Buffer];
  /** The call ended; emitted exactly once. */
  status: [GrpcStatus];
}


function grpcMessage(v: unknown): string {
  if (typeof v !== "string") return "";
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** A bidirectional-streaming call: write() framed messages, read "data", one "status" at the end. */
export class BidiCall extends EventEmitter<BidiCallEvents> {
  private buffered: Buffer = Buffer.alloc(0);
  private ended = false;
  private cancelled = false;
  private httpStatus = 0;
  private headersSeen = false;
  private error: Error | undefined;

  private readonly stream: http2.ClientHttp2Stream | undefined;

  /**
   * A call on `stream`, or one that failed to start (it ends with UNAVAILABLE once listeners are
   * attached). A response message longer than `maxMessageBytes` ends the call with
   * RESOURCE_EXHAUSTED before it is buffered (default: no limit, the ADS stream's case).
   */
  constructor(
    stream: http2.ClientHttp2Stream | Error,
    private readonly maxMessageBytes = Infinity,
  ) {
    super();
    if (stream instanceof Error) {
      this.error = stream;
      setImmediate(() => this.onClose());
      return;
    }
    this.stream = stream;
    stream.on("response", (headers) => this.onHeaders(headers));
    stream.on("data", (chunk: Buffer) => this.onData(chunk));
    stream.on("trailers", (trailers) => this.onTrailers(trailers));
    stream.on("error", (err: Error) => (this.error ??= err));
    stream.on("close", () => this.onClose());
  }

  /** Sends one message (gRPC length-prefixed, uncompressed). */
  write(message: Uint8Array): void {
    if (this.ended || !this.stream || this.stream.destroyed || this.stream.closed) return;
    const frame = Buffer.allocUnsafe(5 + message.byteLength);
    frame[0] = 0;
    frame.writeUInt32BE(message.byteLength, 1);
    frame.set(message, 5);
    this.stream.write(frame);
  }

  /** Half-closes the call: no more messages from this side (a unary call after its request). */
  end(): void {
    if (!this.ended && this.stream && !this.stream.destroyed && !this.stream.closed) this.stream.end();
  }

  /** Ends the call from the client side: the status is CANCELLED (unless the call already ended). */
  cancel(): void {
    if (this.ended) return;
    this.cancelled = true;
    if (this.stream && !this.stream.closed && !this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    else queueMicrotask(() => this.onClose());
  }

  /** Ends the call from the client side with `status` (a deadline passed, a protocol violation). */
  abort(status: GrpcStatus): void {
    this.finish(status, true);
  }

  private onHeaders(headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader): void {
    this.httpStatus = Number(headers[":status"] ?? 0);
    // A Trailers-Only response carries the status in its only header block.
    if (headers["grpc-status"] !== undefined) return this.onTrailers(headers);
    const type = String(headers["content-type"] ?? "");
    if (this.httpStatus !== 200 || !type.startsWith("application/grpc")) {
      const code = this.httpStatus === 200 ? UNKNOWN : httpToGrpcStatus(this.httpStatus);
      return this.finish({ code, details: `received HTTP status ${this.httpStatus} (${type || "no content-type"})` }, true);
    }
    this.headersSeen = true;
    this.emit("metadata");
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    let buf = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    while (buf.length >= 5) {
      const compressed = buf[0];
      const len = buf.readUInt32BE(1);
      if (len > this.maxMessageBytes) return this.finish({ code: RESOURCE_EXHAUSTED, details: `received a message larger than max (${len} vs. ${this.maxMessageBytes})` }, true);
      if (buf.length < 5 + len) break;
      if (compressed !== 0) return this.finish({ code: INTERNAL, details: "received a compressed message (no grpc-encoding was negotiated)" }, true);
      const msg = buf.subarray(5, 5 + len);
      buf = buf.subarray(5 + len);
      this.emit("data", msg);
      if (this.ended) return;
    }
    this.buffered = buf.length ? Buffer.from(buf) : Buffer.alloc(0);
  }

  private onTrailers(trailers: http2.IncomingHttpHeaders): void {
    const raw = trailers["grpc-status"];
    const code = raw === undefined ? UNKNOWN : Number(raw);
    this.finish({ code: Number.isInteger(code) ? code : UNKNOWN, details: grpcMessage(trailers["grpc-message"]) }, false);
  }

  private onClose(): void {
    if (this.ended) return;
    if (this.cancelled) return this.finish({ code: CANCELLED, details: "Cancelled on client" }, false);
    if (this.error) return this.finish({ code: UNAVAILABLE, details: this.error.message }, false);
    if (this.httpStatus && !this.headersSeen) return this.finish({ code: httpToGrpcStatus(this.httpStatus), details: `received HTTP status ${this.httpStatus}` }, false);
    const rst = this.stream?.rstCode;
    this.finish({ code: rst === http2.constants.NGHTTP2_REFUSED_STREAM ? UNAVAILABLE : INTERNAL, details: `stream closed without a gRPC status (RST_STREAM code ${rst ?? 0})` }, false);
  }

  private finish(status: GrpcStatus, reset: boolean): void {
    if (this.ended) return;
    this.ended = true;
    this.buffered = Buffer.alloc(0);
    if (reset && this.stream && !this.stream.closed && !this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    this.emit("status", status);
  }
}

export interface H2ChannelOptions {
  /** HTTP/2 stream and connection flow-control window (bytes). */
  windowSize?: number;
  /** The user-agent header. */
  userAgent?: string;
  /**
   * gRPC over TLS: the server's certificate must chain to `ca` (PEM bundle, the only trust
   * anchors) and carry `serverName` (also sent as SNI). Without it the channel is plaintext.
   */
  tls?: { ca: string; serverName: string };
}

export interface UnaryCallOptions {
  /** Request metadata (lower-case names), e.g. `authorization`. */
  metadata?: Record<string, string>;
  /** The call's deadline (sent as grpc-timeout, and enforced here). */
  timeoutMs: number;
  /** The largest response message accepted. */
  maxResponseBytes: number;
}

/** A unary call's outcome: the status, and the one response message when the status is OK. */
export interface UnaryResult {
  status: GrpcStatus;
  message?: Buffer;
}

/**
 * One HTTP/2 connection to `host:port`, opened on the first call and reopened by the first call
 * after it failed or the server went away (GOAWAY).
 */
export class H2Channel {
  private session: http2.ClientHttp2Session | undefined;
  private closed = false;

  constructor(
    private readonly target: string,
    private readonly options: H2ChannelOptions = {},
  ) {}

  private connect(): http2.ClientHttp2Session {
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    const { windowSize, tls } = this.options;
    const options: http2.SecureClientSessionOptions = windowSize ? { settings: { initialWindowSize: windowSize } } : {};
    // Only `ca` is trusted (not the system store); the server name is checked against the certificate's DNS SANs.
    if (tls) Object.assign(options, { ca: tls.ca, servername: tls.serverName, rejectUnauthorized: true });
    const session = http2.connect(`${tls ? "https" : "http"}://${this.target}`, options);
    const drop = () => {
      if (this.session === session) this.session = undefined;
    };
    session.on("error", drop); // each open stream reports it (and ends with UNAVAILABLE)
    session.on("goaway", drop);
    session.on("close", drop);
    if (windowSize) session.once("connect", () => session.setLocalWindowSize(windowSize));
    this.session = session;
    return session;
  }

  /** Opens a bidirectional-streaming call to `path` ("/package.Service/Method"). */
  bidi(path: string, metadata: Record<string, string> = {}, maxMessageBytes?: number): BidiCall {
    if (this.closed) throw new Error("channel closed");
    const session = this.connect();
    const headers: http2.OutgoingHttpHeaders = {
      ...metadata,
      ":method": "POST",
      ":path": path,
      ":authority": this.target,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-accept-encoding": "identity",
    };
    if (this.options.userAgent) headers["user-agent"] = this.options.userAgent;
    try {
      return new BidiCall(session.request(headers, { endStream: false }), maxMessageBytes);
    } catch (err) {
      // The session died between connect() and now (e.g. a GOAWAY): this call fails, the next one reconnects.
      this.session = undefined;
      return new BidiCall(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * A unary call: one request message, one response message. Resolves (never rejects) with the
   * status; OK comes with exactly one message (none, or a second one, is INTERNAL). The deadline
   * covers connecting and the TLS handshake too.
   */
  unary(path: string, request: Uint8Array, o: UnaryCallOptions): Promise<UnaryResult> {
    const timeoutMs = Math.max(1, Math.ceil(o.timeoutMs));
    // grpc-timeout: at most 8 digits (gRPC's HTTP/2 protocol); milliseconds cover 27 hours.
    const call = this.bidi(path, { ...o.metadata, "grpc-timeout": `${Math.min(timeoutMs, 99_999_999)}m` }, o.maxResponseBytes);
    return new Promise((resolve) => {
      let message: Buffer | undefined;
      const deadline = setTimeout(() => call.abort({ code: DEADLINE_EXCEEDED, details: `Deadline exceeded after ${timeoutMs} ms` }), timeoutMs);
      call.on("data", (m) => {
        if (message !== undefined) return call.abort({ code: INTERNAL, details: "more than one response message on a unary call" });
        message = Buffer.from(m);
      });
      call.on("status", (status) => {
        clearTimeout(deadline);
        if (status.code !== 0) return resolve({ status });
        if (message === undefined) return resolve({ status: { code: INTERNAL, details: "no response message on a unary call" } });
        resolve({ status, message });
      });
      call.write(request);
      call.end();
    });
  }

  /** Closes the connection (calls still open end with a status). */
  close(): void {
    this.closed = true;
    const s = this.session;
    this.session = undefined;
    if (s && !s.destroyed) s.destroy();
  }
}
