// Envoy's http_connection_manager as a network filter: the connection side. Each connection is
// sniffed: the HTTP/2 connection preface (h2c with prior knowledge) goes to a node:http2 server,
// anything else to the hand-written HTTP/1.x codec (h1-server.ts; node:http takes what it leaves:
// Upgrade, Expect, unusual framing). Every request becomes an ActiveStream (active-stream.ts: route,
// stream timers, the HTTP filter chain, the access log) with the connection's http.PREFIX.* stats.
import * as http from "node:http";
import * as http2 from "node:http2";
import type * as net from "node:net";
import type { AccessLog } from "../access-log.js";
import type { ConnectionInfo, NetworkHandler } from "../listeners.js";
import type { StatsScope } from "../stats.js";
import { splitAbsoluteForm } from "./absolute-form.js";
import { ActiveStream, type DownstreamRequest, type StreamOwner } from "./active-stream.js";
import { type BodySource, Downstream, type DownstreamProtocol, readableSource } from "./downstream.js";
import { H2Downstream } from "./h2-downstream.js";
import { type H1Request, type H1Response, H1ServerConnection, type H1ServerHost } from "./h1-server.js";
import { HCM_TYPE, type HcmConfig, hcmConfig } from "./hcm-config.js";
import { NETWORK_FILTERS } from "../network-filters.js";
import { LOCAL_REPLIES, type LocalReply } from "./local-reply.js";
import type { RouteTable } from "./route-table.js";

export type { DownstreamRequest } from "./active-stream.js";

/** What a connection manager needs from the proxy: route tables by RDS name, the access log. */
export interface HcmDeps {
  routes(name: string): RouteTable | undefined;
  accessLog?: AccessLog;
}

/** The listener's view of each connection, for the requests on it (filters read addresses from it). */
const connections = new WeakMap<net.Socket, ConnectionInfo>();
const UNKNOWN_CONNECTION: ConnectionInfo = Object.freeze({ listenerName: "", localAddress: "", localPort: 0, remoteAddress: "", remotePort: 0 });

function connectionOf(socket: net.Socket | undefined): ConnectionInfo {
  return (socket !== undefined ? connections.get(socket) : undefined) ?? UNKNOWN_CONNECTION;
}

const H2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

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

export class HttpConnectionManager implements NetworkHandler, H1ServerHost, StreamOwner {
  private readonly server: http.Server;
  private readonly h2server: http2.Http2Server;
  private readonly h2sessions = new Set<http2.ServerHttp2Session>();
  private readonly upgradeSockets = new Set<net.Socket>();
  /** HTTP/1.x connections on the hand-written fast path (h1-server.ts). */
  private readonly h1conns = new Set<H1ServerConnection>();
  /** The listener drains: new HTTP/1 requests get `connection: close`. */
  draining = false;
  /** @internal */
  readonly rqTotal;
  /** @internal */
  readonly rqActive;
  /** @internal */
  readonly rqByClass;
  private readonly cxTotal;
  private readonly cxHttp1;
  private readonly cxHttp2;
  private readonly rqHttp1;
  private readonly rqHttp2;
  /** @internal */
  readonly cxUpgrades;
  /** @internal */
  readonly rqIdleTimeout;
  /** @internal */
  readonly rqTimeout;
  /** @internal */
  readonly rqMaxDurationReached;
  /** @internal */
  readonly rqResponseBeforeRqComplete;
  private readonly rqRxReset;
  private readonly cxProtocolError;

  constructor(
    /** @internal */
    readonly cfg: HcmConfig,
    /** @internal */
    readonly deps: HcmDeps,
    stats: StatsScope,
  ) {
    const s = stats;
    this.rqTotal = s.counter("downstream_rq_total");
    this.rqActive = s.gauge("downstream_rq_active");
    this.cxTotal = s.counter("downstream_cx_total");
    this.cxHttp1 = s.counter("downstream_cx_http1_total");
    this.cxHttp2 = s.counter("downstream_cx_http2_total");
    this.rqHttp1 = s.counter("downstream_rq_http1_total");
    this.rqHttp2 = s.counter("downstream_rq_http2_total");
    this.cxUpgrades = s.counter("downstream_cx_upgrades_total");
    this.rqIdleTimeout = s.counter("downstream_rq_idle_timeout");
    this.rqTimeout = s.counter("downstream_rq_timeout");
    this.rqMaxDurationReached = s.counter("downstream_rq_max_duration_reached");
    this.rqResponseBeforeRqComplete = s.counter("downstream_rq_response_before_rq_complete");
    this.rqRxReset = s.counter("downstream_rq_rx_reset");
    this.cxProtocolError = s.counter("downstream_cx_protocol_error");
    this.rqByClass = [1, 2, 3, 4, 5].map((n) => s.counter(`downstream_rq_${n}xx`));
    this.server = http.createServer({
      maxHeaderSize: cfg.maxRequestHeadersBytes,
      requestTimeout: 0,
      keepAliveTimeout: 3_600_000,
    });
    this.server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => this.onNodeRequest(req, res));
    this.server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    this.server.on("clientError", (err: NodeJS.ErrnoException, socket: net.Socket) => this.onClientError(err, socket));
    this.h2server = http2.createServer({
      maxSessionMemory: 64,
      settings: {
        maxConcurrentStreams: Math.min(cfg.h2MaxConcurrentStreams, 0xffffffff),
        maxHeaderListSize: cfg.maxRequestHeadersBytes,
        enablePush: false,
      },
    });
    this.h2server.on("session", (session: http2.ServerHttp2Session) => {
      this.h2sessions.add(session);
      session.on("error", () => {});
      session.once("close", () => this.h2sessions.delete(session));
      if (this.draining) session.close();
    });
    this.h2server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => this.onH2Stream(stream, headers, flags));
    this.h2server.on("sessionError", () => this.cxProtocolError.inc());
  }

  handle(socket: net.Socket, info: ConnectionInfo): void {
    this.cxTotal.inc();
    connections.set(socket, info);
    if (this.cfg.codecType !== "AUTO") {
      this.dispatch(socket, this.cfg.codecType === "HTTP2", undefined);
      socket.resume();
      return;
    }
    // Over TLS (handed over after the handshake) the protocol is the one ALPN chose. No peeking:
    // the HTTP codecs read the TLS socket's handle directly and would miss bytes put back.
    const secure = socket as net.Socket & { encrypted?: boolean; alpnProtocol?: string | false };
    if (secure.encrypted) {
      this.dispatch(socket, secure.alpnProtocol === "h2", undefined);
      socket.resume();
      return;
    }
    // Sniff the connection preface (Envoy's AUTO codec); the bytes are put back for the codec.
    let buf: Buffer | undefined;
    const onData = (c: Buffer) => {
      buf = buf ? Buffer.concat([buf, c]) : c;
      const n = Math.min(buf.length, H2_PREFACE.length);
      const h2 = buf.subarray(0, n).toString("latin1") === H2_PREFACE.slice(0, n);
      if (h2 && buf.length < H2_PREFACE.length) return;
      socket.removeListener("data", onData);
      this.dispatch(socket, h2, buf);
    };
    socket.on("data", onData);
    socket.resume();
  }

  private dispatch(socket: net.Socket, h2: boolean, first: Buffer | undefined): void {
    if (h2) {
      if (first) {
        socket.pause();
        socket.unshift(first);
      }
      this.cxHttp2.inc();
      this.h2server.emit("connection", socket);
    } else {
      // HTTP/1.x: the fast path takes the socket (and the sniffed bytes directly).
      this.cxHttp1.inc();
      const conn = new H1ServerConnection(this, socket);
      this.h1conns.add(conn);
      conn.start(first);
    }
  }

  // ---- H1ServerHost (the HTTP/1 fast path) ----

  get maxRequestHeadersBytes(): number {
    return this.cfg.maxRequestHeadersBytes;
  }

  onH1Request(conn: H1ServerConnection, req: H1Request, ds: H1Response): void {
    let authority = req.host;
    let path = req.target;
    if (path.charCodeAt(0) !== 47 /* / */) {
      // Absolute-form (explicit proxy, every request of local mode's apps): the target is in the
      // request line. Split by hand; new URL() per request cost about 3% of a sidecar's CPU.
      const t = splitAbsoluteForm(path);
      if (t) {
        authority = t.authority;
        path = t.path;
      } else path = "/";
    }
    this.rqHttp1.inc();
    this.onStream({ protocol: req.protocol, method: req.method, authority, path, scheme: conn.scheme, headers: req.headers, endToEnd: true, body: req.body, remote: conn.remote, connection: connectionOf(conn.socket) }, ds);
  }

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

  forget(conn: H1ServerConnection): void {
    this.h1conns.delete(conn);
  }

  drain(): void {
    this.draining = true;
    this.server.closeIdleConnections();
    for (const c of [...this.h1conns]) c.closeIfIdle();
    for (const s of this.h2sessions) s.close();
  }

  close(): void {
    this.server.closeAllConnections();
    for (const c of [...this.h1conns]) c.socket.destroy();
    for (const s of this.h2sessions) s.destroy();
    for (const s of this.upgradeSockets) s.destroy();
  }

  private onClientError(err: NodeJS.ErrnoException, socket: net.Socket): void {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    this.cxProtocolError.inc();
    const reply: LocalReply = err.code === "HPE_HEADER_OVERFLOW" ? LOCAL_REPLIES.headersTooLarge() : LOCAL_REPLIES.badRequest();
    socket.end(`HTTP/1.1 ${reply.status} ${http.STATUS_CODES[reply.status]}\r\ncontent-length: ${reply.body.length}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${reply.body}`);
  }

  // ---- protocol front ends ----

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
      connection: connectionOf(req.socket),
    };
  }

  private onNodeRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.draining) res.shouldKeepAlive = false;
    const len = req.headers["content-length"];
    const hasBody = req.headers["transfer-encoding"] !== undefined || (len !== undefined && len !== "0");
    if (!hasBody) req.resume();
    const dr = this.h1Request(req, hasBody ? readableSource(req) : undefined);
    this.rqHttp1.inc();
    this.onStream(dr, new H1Downstream(dr.protocol, res));
  }

  private onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    this.upgradeSockets.add(socket);
    socket.once("close", () => this.upgradeSockets.delete(socket));
    const dr = this.h1Request(req, undefined);
    const value = String(req.headers.upgrade ?? "");
    // Envoy strips an h2c upgrade and serves the request as HTTP/1.1.
    if (value.toLowerCase() !== "h2c") dr.upgrade = value;
    this.rqHttp1.inc();
    this.onStream(dr, new UpgradeDownstream(socket, head));
  }

  private onH2Stream(stream: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders, flags: number): void {
    const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    const headers: http.IncomingHttpHeaders = {};
    for (const k in h) if (k[0] !== ":") headers[k] = h[k] as string | string[];
    const session = stream.session;
    const sock = session?.socket;
    if (endStream) stream.resume();
    const dr: DownstreamRequest = {
      protocol: "HTTP/2",
      method: String(h[":method"] ?? "GET"),
      authority: String(h[":authority"] ?? h.host ?? ""),
      path: String(h[":path"] ?? "/"),
      scheme: String(h[":scheme"] ?? "http"),
      headers,
      body: endStream ? undefined : readableSource(stream),
      remote: sock?.remoteAddress?.replace(/^::ffff:/, "") ?? "",
      connection: connectionOf(sock as net.Socket | undefined),
    };
    this.rqHttp2.inc();
    this.onStream(dr, new H2Downstream(stream, () => this.rqRxReset.inc()));
  }

  // ---- the request path (both protocols) ----

  /** One request: its own ActiveStream (timers, route, filters, access log). */
  onStream(req: DownstreamRequest, downstream: Downstream): void {
    new ActiveStream(this, req, downstream).run();
  }

  routes(name: string): RouteTable | undefined {
    return this.deps.routes(name);
  }

  get accessLog(): AccessLog | undefined {
    return this.deps.accessLog;
  }
}

NETWORK_FILTERS.register([HCM_TYPE], {
  terminal: true,
  compile(config, ctx) {
    const rt = ctx.runtime;
    const cfg = hcmConfig(config, ctx.path, {
      compileRoutes: (rc) => rt.compileRoutes(rc),
      bufferLimitBytes: ctx.bufferLimitBytes,
      statsFor: (prefix) => ctx.stats.tagged("http.", prefix || ctx.listenerName),
      runtime: rt,
      skips: ctx.skips,
    });
    return {
      terminal: true,
      name: ctx.name,
      rdsNames: cfg.rdsName !== undefined ? [cfg.rdsName] : [],
      handler: () => new HttpConnectionManager(cfg, { routes: (n) => rt.routes(n), accessLog: rt.accessLog }, cfg.stats),
    };
  },
});
