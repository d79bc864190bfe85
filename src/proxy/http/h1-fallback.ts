// The node:http fallback of the HCM's HTTP/1.x path: the fast path (h1-server.ts) hands a connection
// here, for the rest of its life, when a request is something it does not take (Upgrade, Expect,
// CONNECT and other methods, malformed or oversized heads). node:http parses; each request goes to
// the HCM's request path as a DownstreamRequest, its response through H1Downstream (node's
// ServerResponse), an Upgrade through UpgradeDownstream (the raw socket node hands over); node's
// parse errors get Envoy's 400 / 431 local replies.
import * as http from "node:http";
import type * as net from "node:net";
import { splitAbsoluteForm } from "./absolute-form.js";
import type { DownstreamRequest } from "./downstream-request.js";
import { LOCAL_REPLIES, type LocalReply } from "./local-reply.js";
import { type BodySource, Downstream, type DownstreamProtocol, readableSource } from "./router.js";

/** What the fallback needs from the HCM. */
export interface H1FallbackHost {
  /** The listener drains: requests get `connection: close`. */
  readonly draining: boolean;
  /** One request node:http parsed (the host counts it and runs it). */
  onFallbackRequest(req: DownstreamRequest, ds: Downstream): void;
  /** node:http refused a malformed request (downstream_cx_protocol_error). */
  protocolError(): void;
}

/** The downstream side of an HTTP/1.x request (node:http response). */
class H1Downstream extends Downstream {
  private _gone = false;
  private resetByUs = false;

  constructor(
    readonly protocol: DownstreamProtocol,
    private readonly res: http.ServerResponse,
  ) {
    super();
    res.on("drain", () => this.emitDrain());
    res.once("close", () => {
      if (!res.writableFinished && !this.resetByUs) {
        this._gone = true;
        this.emitGone();
      }
    });
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  get gone(): boolean {
    return this._gone;
  }

  respond(status: number, headers: http.OutgoingHttpHeaders, endStream: boolean): void {
    if (this.res.destroyed) return;
    this.touch();
    // A response before the request body finished arriving: `connection: close`, and node closes
    // the connection after it (Envoy cannot reuse such a connection either).
    if (this.respondsEarly()) this.res.shouldKeepAlive = false;
    this.res.writeHead(status, headers);
    if (endStream) this.res.end();
  }

  write(chunk: Buffer): boolean {
    if (this.res.destroyed) return true;
    this.touch();
    return this.res.write(chunk);
  }

  end(): void {
    // HTTP/1.1 trailers are dropped (Envoy's default: enable_trailers is off).
    if (!this.res.writableEnded) this.res.end();
  }

  reset(): void {
    this.resetByUs = true;
    this.res.destroy();
  }
}

/**
 * The downstream side of an HTTP/1.1 Upgrade request, on the raw socket node:http handed over:
 * a 101 switches to a byte tunnel; any other answer is written by hand and closes the connection.
 */
class UpgradeDownstream extends Downstream {
  readonly protocol = "HTTP/1.1" as const;
  private sent = false;
  private ended = false;
  private chunked = false;
  private _gone = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly head: Buffer,
  ) {
    super();
    socket.on("drain", () => this.emitDrain());
    socket.on("error", () => {});
    socket.once("close", () => {
      if (!this.ended) {
        this._gone = true;
        this.emitGone();
      }
    });
  }

  get headersSent(): boolean {
    return this.sent;
  }

  get gone(): boolean {
    return this._gone;
  }

  respond(status: number, headers: http.OutgoingHttpHeaders, endStream: boolean): void {
    if (this.socket.destroyed) return;
    this.sent = true;
    this.touch();
    const h: http.OutgoingHttpHeaders = { ...headers };
    if (status !== 101) {
      delete h.upgrade;
      h.connection = "close";
      if (!endStream && h["content-length"] === undefined) {
        h["transfer-encoding"] = "chunked";
        this.chunked = true;
      }
    }
    let out = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ""}\r\n`;
    for (const [k, v] of Object.entries(h)) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) out += `${k}: ${String(one)}\r\n`;
    }
    this.socket.write(out + "\r\n");
    if (endStream && status !== 101) this.end();
  }

  write(chunk: Buffer): boolean {
    if (this.socket.destroyed) return true;
    this.touch();
    if (!this.chunked) return this.socket.write(chunk);
    this.socket.write(`${chunk.length.toString(16)}\r\n`);
    this.socket.write(chunk);
    return this.socket.write("\r\n");
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.chunked) this.socket.write("0\r\n\r\n");
    this.socket.end();
  }

  reset(): void {
    this.ended = true;
    this.socket.destroy();
  }

  override tunnel(up: net.Socket, upHead: Buffer): Promise<number> {
    const down = this.socket;
    this.ended = true;
    let bytes = 0;
    return new Promise((resolve) => {
      let closed = 0;
      const done = () => {
        down.destroy();
        up.destroy();
        if (++closed === 1) resolve(bytes);
      };
      up.on("error", done);
      down.on("error", done);
      up.once("close", done);
      down.once("close", done);
      up.on("data", (c: Buffer) => {
        bytes += c.length;
        this.touch();
      });
      down.on("data", () => this.touch());
      if (upHead.length) {
        bytes += upHead.length;
        down.write(upHead);
      }
      if (this.head.length) up.write(this.head);
      up.on("end", () => down.end());
      down.on("end", () => up.end());
      up.pipe(down, { end: false });
      down.pipe(up, { end: false });
      down.resume();
    });
  }
}

/** The node:http server the fast path hands connections to. */
export class H1Fallback {
  private readonly server: http.Server;
  private readonly upgradeSockets = new Set<net.Socket>();

  constructor(
    private readonly host: H1FallbackHost,
    maxRequestHeadersBytes: number,
  ) {
    this.server = http.createServer({
      maxHeaderSize: maxRequestHeadersBytes,
      requestTimeout: 0,
      keepAliveTimeout: 3_600_000,
    });
    this.server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => this.onNodeRequest(req, res));
    this.server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    this.server.on("clientError", (err: NodeJS.ErrnoException, socket: net.Socket) => this.onClientError(err, socket));
  }

  /** node:http takes the socket, with `data` (bytes the fast path read but did not consume) put back. */
  handOver(socket: net.Socket, data: Buffer | undefined): void {
    // node:http reads through 'data' events (not straight from the handle), so the bytes put back
    // are parsed before anything that arrives later.
    const handle = (socket as unknown as { _handle?: { _consumed?: boolean } })._handle;
    if (handle) handle._consumed = true;
    socket.pause();
    if (data) socket.unshift(data);
    this.server.emit("connection", socket);
    socket.resume();
  }

  /** The listener drains: idle connections close. */
  drain(): void {
    this.server.closeIdleConnections();
  }

  close(): void {
    this.server.closeAllConnections();
    for (const s of this.upgradeSockets) s.destroy();
  }

  private onClientError(err: NodeJS.ErrnoException, socket: net.Socket): void {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    this.host.protocolError();
    const reply: LocalReply = err.code === "HPE_HEADER_OVERFLOW" ? LOCAL_REPLIES.headersTooLarge() : LOCAL_REPLIES.badRequest();
    socket.end(`HTTP/1.1 ${reply.status} ${http.STATUS_CODES[reply.status]}\r\ncontent-length: ${reply.body.length}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${reply.body}`);
  }

  private h1Request(req: http.IncomingMessage, body: BodySource | undefined): DownstreamRequest {
    let authority = req.headers.host ?? "";
    let path = req.url ?? "/";
    // Absolute-form (explicit proxy): the target is in the request line.
    if (!path.startsWith("/") && /^https?:\/\//i.test(path)) {
      const t = splitAbsoluteForm(path);
      if (t) {
        authority = t.authority;
        path = t.path;
      } else path = "/";
    }
    return {
      protocol: req.httpVersion === "1.0" ? "HTTP/1.0" : "HTTP/1.1",
      method: req.method ?? "GET",
      authority,
      path,
      // TLS terminated by this listener's filter chain: the request arrived over https.
      scheme: (req.socket as { encrypted?: boolean }).encrypted ? "https" : "http",
      headers: req.headers,
      body,
      remote: req.socket.remoteAddress?.replace(/^::ffff:/, "") ?? "",
    };
  }

  private onNodeRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.host.draining) res.shouldKeepAlive = false;
    const len = req.headers["content-length"];
    const hasBody = req.headers["transfer-encoding"] !== undefined || (len !== undefined && len !== "0");
    if (!hasBody) req.resume();
    const dr = this.h1Request(req, hasBody ? readableSource(req) : undefined);
    this.host.onFallbackRequest(dr, new H1Downstream(dr.protocol, res));
  }

  private onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    this.upgradeSockets.add(socket);
    socket.once("close", () => this.upgradeSockets.delete(socket));
    const dr = this.h1Request(req, undefined);
    const value = String(req.headers.upgrade ?? "");
    // Envoy strips an h2c upgrade and serves the request as HTTP/1.1.
    if (value.toLowerCase() !== "h2c") dr.upgrade = value;
    this.host.onFallbackRequest(dr, new UpgradeDownstream(socket, head));
  }
}
