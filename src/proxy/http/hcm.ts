// Envoy's http_connection_manager as a network filter: the connection side. Each connection is
// sniffed: the HTTP/2 connection preface (h2c with prior knowledge) goes to a node:http2 server,
// anything else to the HTTP/1.x codec (h1-server.ts: strict, as Envoy's; upgrades in
// h1-upgrade.ts). Every request becomes an ActiveStream (active-stream.ts: route, stream timers,
// the HTTP filter chain, the access log) with the connection's http.PREFIX.* stats.
import type * as http from "node:http";
import * as http2 from "node:http2";
import type * as net from "node:net";
import type * as tls from "node:tls";
import type { AccessLogger } from "../access-loggers.js";
import type { StreamSinks } from "../stream-sinks.js";
import type { ConnectionInfo } from "../listener-spec.js";
import type { NetworkHandler } from "../listeners.js";
import { NETWORK_FILTERS } from "../network-filters.js";
import type { StatsScope } from "../stats.js";
import { ActiveStream, type StreamOwner } from "./active-stream.js";
import { type Downstream, readableSource } from "./downstream.js";
import type { DownstreamRequest } from "./downstream-request.js";
import type { H1CodecSettings, HeadError } from "./h1-request.js";
import type { H1Response } from "./h1-response.js";
import { type H1Request, H1ServerConnection, type H1ServerHost } from "./h1-server.js";
import { H2Downstream } from "./h2-downstream.js";
import { createH2Server, PrematureResetGuard } from "./h2-server.js";
import type { HttpConnectionManager as HcmMessage } from "../../envoy/types.js";
import { HCM_TYPE, type HcmConfig, hcmConfig } from "./hcm-config.js";
import { LOCAL_REPLIES } from "./local-reply.js";
import type { RouteTable } from "./route-table.js";

export type { DownstreamRequest } from "./downstream-request.js";

/** What a connection manager needs from the proxy: route tables by RDS name. */
export interface HcmDeps {
  routes(name: string): RouteTable | undefined;
  /** A stream that failed with an exception before it could answer (logged; the stream is reset). */
  streamError?(err: unknown): void;
}

const H2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/** The listener's view of each connection, for the requests on it (filters read addresses from it). */
const connections = new WeakMap<net.Socket, ConnectionInfo>();
const UNKNOWN_CONNECTION: ConnectionInfo = Object.freeze({ listenerName: "", localAddress: "", localPort: 0, remoteAddress: "", remotePort: 0 });

/**
 * The socket of each HTTP/2 session: `session.socket` is a proxy object, not the socket the
 * listener's connection info is keyed by (h2 requests had no addresses without this).
 */
const sessionSockets = new WeakMap<http2.Http2Session, net.Socket>();

/** Streams open per HTTP/2 session (the idle timeout closes only sessions with none). */
const openStreams = new WeakMap<http2.Http2Session, number>();

/** The TLS socket a request came on, when this listener terminated TLS. */
function tlsOf(socket: net.Socket | undefined): tls.TLSSocket | undefined {
  return (socket as { encrypted?: boolean } | undefined)?.encrypted === true ? (socket as tls.TLSSocket) : undefined;
}

function connectionOf(socket: net.Socket | undefined): ConnectionInfo {
  return (socket !== undefined ? connections.get(socket) : undefined) ?? UNKNOWN_CONNECTION;
}

export class HttpConnectionManager implements NetworkHandler, H1ServerHost, StreamOwner {
  private readonly h2server: http2.Http2Server;
  private readonly resetGuard: PrematureResetGuard;
  private readonly h2sessions = new Set<http2.ServerHttp2Session>();
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
  /** @internal */
  readonly cxProtocolError;

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
    const prematureResets = s.counter("downstream_rq_too_many_premature_resets");
    this.resetGuard = new PrematureResetGuard(() => prematureResets.inc());
    this.h2server = createH2Server({ maxConcurrentStreams: cfg.h2MaxConcurrentStreams, maxHeaderListSize: cfg.maxRequestHeadersBytes, maxHeadersCount: cfg.http1.maxRequestHeadersCount });
    const idleMs = cfg.http1.idleTimeoutMs;
    this.h2server.on("session", (session: http2.ServerHttp2Session) => {
      // (node:http2 makes the session inside emit("connection"): dispatch set the socket just before.)
      if (this.sessionSocket !== undefined) sessionSockets.set(session, this.sessionSocket);
      this.sessionSocket = undefined;
      this.h2sessions.add(session);
      session.on("error", () => {});
      session.once("close", () => this.h2sessions.delete(session));
      if (this.draining) session.close();
      // The connection idle timeout: a session with no open stream for that long is closed (GOAWAY).
      if (idleMs > 0) session.setTimeout(idleMs, () => (openStreams.get(session) ?? 0) === 0 && session.close());
    });
    this.h2server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => this.onH2Stream(stream, headers, flags));
    this.h2server.on("sessionError", () => this.cxProtocolError.inc());
  }

  /** The socket whose HTTP/2 session node:http2 is creating (see sessionSockets). */
  private sessionSocket: net.Socket | undefined = undefined;

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
      this.sessionSocket = socket;
      this.h2server.emit("connection", socket);
      this.sessionSocket = undefined;
    } else {
      // HTTP/1.x: the fast path takes the socket (and the sniffed bytes directly).
      this.cxHttp1.inc();
      const conn = new H1ServerConnection(this, socket);
      this.h1conns.add(conn);
      conn.start(first);
    }
  }

  // ---- H1ServerHost (the HTTP/1 fast path) ----

  get h1(): H1CodecSettings {
    return this.cfg.http1;
  }

  onH1Request(conn: H1ServerConnection, req: H1Request, ds: Downstream): void {
    const h = req.head;
    this.rqHttp1.inc();
    const dr: DownstreamRequest = { protocol: h.protocol, method: h.method, authority: h.authority, path: h.path, scheme: conn.scheme, headers: h.headers, endToEnd: true, body: req.body, remote: conn.remote, connection: connectionOf(conn.socket), tls: tlsOf(conn.socket) };
    if (h.upgrade !== undefined) dr.upgrade = h.upgrade;
    this.onStream(dr, ds);
  }

  onH1Reject(conn: H1ServerConnection, err: HeadError, ds: H1Response): void {
    this.rqHttp1.inc();
    // Envoy's codec errors count as downstream_cx_protocol_error; a missing Host is the HCM's own.
    if (err.details !== "missing_host_header") this.cxProtocolError.inc();
    const reply = err.details === "missing_host_header" ? LOCAL_REPLIES.missingHost() : err.status === 426 ? LOCAL_REPLIES.lowVersion() : err.status === 431 ? LOCAL_REPLIES.headersTooLarge(err.details) : err.status === 501 ? LOCAL_REPLIES.invalidTransferEncoding() : LOCAL_REPLIES.badRequest(err.details);
    const dr: DownstreamRequest = { protocol: err.protocol, method: err.method, authority: "", path: err.path, scheme: conn.scheme, headers: {}, endToEnd: true, body: undefined, remote: conn.remote, connection: connectionOf(conn.socket) };
    new ActiveStream(this, dr, ds).reject(reply);
  }

  forget(conn: H1ServerConnection): void {
    this.h1conns.delete(conn);
  }

  drain(): void {
    this.draining = true;
    for (const c of [...this.h1conns]) c.closeIfIdle();
    for (const s of this.h2sessions) s.close();
  }

  close(): void {
    for (const c of [...this.h1conns]) c.socket.destroy();
    for (const s of this.h2sessions) s.destroy();
  }

  // ---- protocol front ends ----

  private onH2Stream(stream: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders, flags: number): void {
    const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    const headers: http.IncomingHttpHeaders = {};
    for (const k in h) if (k[0] !== ":") headers[k] = h[k] as string | string[];
    const session = stream.session;
    if (session !== undefined) {
      openStreams.set(session, (openStreams.get(session) ?? 0) + 1);
      stream.once("close", () => openStreams.set(session, (openStreams.get(session) ?? 1) - 1));
    }
    const sock = (session !== undefined ? sessionSockets.get(session) : undefined) ?? session?.socket;
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
      tls: tlsOf(sock as net.Socket | undefined),
    };
    this.rqHttp2.inc();
    const guard = this.resetGuard;
    const openedAt = session !== undefined ? guard.opened(session) : 0;
    this.onStream(
      dr,
      new H2Downstream(stream, () => {
        this.rqRxReset.inc();
        if (session !== undefined) guard.reset(session, openedAt);
      }),
    );
  }

  // ---- the request path (both protocols) ----

  /** One request: its own ActiveStream (timers, route, filters, access log). */
  onStream(req: DownstreamRequest, downstream: Downstream): void {
    try {
      new ActiveStream(this, req, downstream).run();
    } catch (err) {
      // A bug must cost one stream, never the proxy (an exception here would reach node:http2's
      // event emitter uncaught): reset it, and say so.
      this.deps.streamError?.(err);
      try {
        downstream.reset();
      } catch {
        // already gone
      }
    }
  }

  routes(name: string): RouteTable | undefined {
    return this.deps.routes(name);
  }

  get accessLoggers(): readonly AccessLogger[] {
    return this.cfg.accessLoggers;
  }

  get streamSinks(): StreamSinks | undefined {
    return this.cfg.streamSinks;
  }
}

NETWORK_FILTERS.register([HCM_TYPE], {
  terminal: true,
  compile(config, ctx) {
    const rt = ctx.runtime;
    const cfg = hcmConfig(config as HcmMessage, ctx.path, {
      compileRoutes: (rc) => rt.compileRoutes(rc),
      bufferLimitBytes: ctx.bufferLimitBytes,
      statsFor: (prefix) => ctx.stats.tagged("http.", prefix || ctx.listenerName),
      runtime: rt,
      skips: ctx.skips,
      accessLogWriters: rt.accessLogWriters,
      defaultAccessLog: rt.defaultAccessLog,
      tracers: rt.tracers,
      egress: ctx.trafficDirection === "OUTBOUND",
    });
    return {
      terminal: true,
      name: ctx.name,
      rdsNames: cfg.rdsName !== undefined ? [cfg.rdsName] : [],
      handler: () => new HttpConnectionManager(cfg, { routes: (n) => rt.routes(n), streamError: rt.streamError }, cfg.stats),
    };
  },
});
