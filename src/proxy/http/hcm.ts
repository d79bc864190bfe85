// Envoy's http_connection_manager as a network filter. Each connection is sniffed: the HTTP/2
// connection preface (h2c with prior knowledge) goes to a node:http2 server, anything else to the
// HTTP/1.x codec (h1-server.ts: strict, as Envoy's; upgrades in h1-upgrade.ts). All feed one
// protocol-neutral request path: route (RDS, looked up per request so route updates apply to open
// connections) → fault filter → router, with the stream idle timeout, request timeout and
// max_stream_duration (route, else HCM; grpc-timeout with grpc_timeout_header_max) answering as
// Envoy's do (504 once the whole request arrived, 408 while it is still arriving), the request
// body buffer bounded by the listener's per_connection_buffer_limit_bytes, and Envoy's access log
// line and http.PREFIX.* stats.
import { randomUUID } from "node:crypto";
import type * as http from "node:http";
import * as http2 from "node:http2";
import type * as net from "node:net";
import { durationMs, type ProtoObject } from "../../envoy/protos.js";
import { type AccessLog, FLAG_BIT, flagBit } from "../access-log.js";
import type { ConnectionInfo, NetworkHandler } from "../listeners.js";
import type { StatsScope } from "../stats.js";
import type { UpstreamCluster } from "../upstream/cluster.js";
import { XdsConfigError } from "../xds-error.js";
import { applyFault, type FaultConfig, faultConfig } from "./fault.js";
import type { DownstreamRequest } from "./downstream-request.js";
import { DEFAULT_H1_SETTINGS, type H1CodecSettings, type HeadError } from "./h1-request.js";
import { H2Downstream } from "./h2-downstream.js";
import { createH2Server, PrematureResetGuard } from "./h2-server.js";
import type { H1Response } from "./h1-response.js";
import { type H1Request, H1ServerConnection, type H1ServerHost } from "./h1-server.js";
import { LOCAL_REPLIES, type LocalReply } from "./local-reply.js";
import { planRoute, type RouteForwardPlan, type RouteTable } from "./route-glue.js";
import { sendShadow } from "./shadow.js";
import { CORS_FILTER, corsDecision } from "./cors.js";
import { type Activity, DEFAULT_BUFFER_LIMIT, type Downstream, type ForwardResult, readableSource, type Reply, RequestBody, type ResponseDecorator, type Router, sendLocalReply, StreamAbort } from "./router.js";
import { type TimerEntry, timerList } from "../../core/timers.js";
import { requestHopByHop } from "../http1/codec.js";

export const HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
export const FAULT_FILTER = "envoy.filters.http.fault";
export const ROUTER_FILTER = "envoy.filters.http.router";

export interface HcmConfig {
  statPrefix: string;
  /** RDS name, or an inline RouteConfiguration (compiled). */
  rdsName?: string;
  inlineRoutes?: RouteTable;
  serverName: string;
  useRemoteAddress: boolean;
  generateRequestId: boolean;
  /** 0 disables (Istio); Envoy's default is 5 minutes. */
  streamIdleTimeoutMs: number;
  /** 0 disables (Envoy's default). */
  requestTimeoutMs: number;
  maxRequestHeadersBytes: number;
  /** The HTTP/1 codec's settings (http_protocol_options, max_headers_count, max_request_headers_kb). */
  http1: H1CodecSettings;
  /** Listener-level fault filter config (route-level typed_per_filter_config overrides it). */
  fault?: FaultConfig;
  hasFaultFilter: boolean;
  hasCorsFilter: boolean;
  /** upgrade_configs: upgrade type (lowercase) → enabled. */
  upgradeConfigs: Readonly<Record<string, boolean>>;
  /** codec_type: AUTO sniffs the HTTP/2 preface. */
  codecType: "AUTO" | "HTTP1" | "HTTP2";
  /** http2_protocol_options.max_concurrent_streams (Envoy's default 2^31-1). */
  h2MaxConcurrentStreams: number;
  /**
   * common_http_protocol_options.max_stream_duration: every stream's bound from its start
   * (a route's max_stream_duration overrides it); 0 = none (Envoy's default).
   */
  maxStreamDurationMs: number;
  /**
   * The listener's per_connection_buffer_limit_bytes (Envoy's default 1 MiB): request body bytes
   * held while nothing takes them, and the cap of the retry/shadow buffer.
   */
  bufferLimitBytes: number;
}

function obj(v: unknown): ProtoObject | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as ProtoObject) : undefined;
}
function wrappedNum(v: unknown): number | undefined {
  const o = obj(v);
  return o && typeof o.value === "number" ? o.value : undefined;
}

/**
 * Validates a decoded HttpConnectionManager (path names the listener and chain); `bufferLimitBytes`
 * is the listener's per_connection_buffer_limit_bytes.
 */
export function hcmConfig(c: ProtoObject, path: string, compile: (rc: ProtoObject) => RouteTable, bufferLimitBytes = DEFAULT_BUFFER_LIMIT): HcmConfig {
  const rds = obj(c.rds);
  const filters = Array.isArray(c.httpFilters) ? (c.httpFilters as ProtoObject[]) : [];
  if (!rds?.routeConfigName && !obj(c.routeConfig)) throw new XdsConfigError(`${path}.rds`, "an http_connection_manager needs rds or route_config");
  const names = filters.map((f) => String(f.name ?? ""));
  if (!names.includes(ROUTER_FILTER) && names.length > 0 && !names.some((n) => n.endsWith(".router"))) {
    throw new XdsConfigError(`${path}.httpFilters`, "the router filter must be configured (last)");
  }
  const upgradeConfigs: Record<string, boolean> = {};
  (Array.isArray(c.upgradeConfigs) ? (c.upgradeConfigs as ProtoObject[]) : []).forEach((u, i) => {
    const type = typeof u.upgradeType === "string" ? u.upgradeType.toLowerCase() : "";
    if (!type) throw new XdsConfigError(`${path}.upgradeConfigs[${i}].upgradeType`, "upgrade_type must not be empty");
    if (type in upgradeConfigs) throw new XdsConfigError(`${path}.upgradeConfigs[${i}]`, `Duplicate upgrade ${type}`);
    upgradeConfigs[type] = obj(u.enabled)?.value !== false;
  });
  const codec = typeof c.codecType === "string" ? c.codecType : "AUTO";
  if (codec !== "AUTO" && codec !== "HTTP1" && codec !== "HTTP2") throw new XdsConfigError(`${path}.codecType`, `unsupported codec ${codec}`);
  const h2 = obj(c.http2ProtocolOptions);
  const common = obj(c.commonHttpProtocolOptions);
  const msd = common?.maxStreamDuration;
  const maxStreamDurationMs = msd === undefined ? 0 : durationMs(msd);
  if (maxStreamDurationMs === undefined || !Number.isFinite(maxStreamDurationMs) || maxStreamDurationMs < 0) {
    throw new XdsConfigError(`${path}.commonHttpProtocolOptions.maxStreamDuration`, "expected a non-negative duration");
  }
  if (upgradeConfigs.connect === true) throw new XdsConfigError(`${path}.upgradeConfigs`, "CONNECT tunnelling is not implemented");
  const h1o = obj(c.httpProtocolOptions);
  const maxHeadersCount = wrappedNum(common?.maxHeadersCount) ?? DEFAULT_H1_SETTINGS.maxRequestHeadersCount;
  if (!Number.isInteger(maxHeadersCount) || maxHeadersCount < 1) throw new XdsConfigError(`${path}.commonHttpProtocolOptions.maxHeadersCount`, "expected at least 1");
  const maxRequestHeadersBytes = (wrappedNum(c.maxRequestHeadersKb) ?? 60) * 1024;
  const http1: H1CodecSettings = {
    maxRequestHeadersBytes,
    maxRequestHeadersCount: maxHeadersCount,
    acceptHttp10: h1o?.acceptHttp10 === true,
    defaultHostForHttp10: typeof h1o?.defaultHostForHttp10 === "string" ? h1o.defaultHostForHttp10 : "",
    allowChunkedLength: h1o?.allowChunkedLength === true,
  };
  const faultEntry = filters.find((f) => f.name === FAULT_FILTER);
  const cfg: HcmConfig = {
    statPrefix: typeof c.statPrefix === "string" ? c.statPrefix : "",
    serverName: typeof c.serverName === "string" && c.serverName ? c.serverName : "envoy",
    useRemoteAddress: obj(c.useRemoteAddress)?.value === true,
    generateRequestId: obj(c.generateRequestId)?.value !== false,
    streamIdleTimeoutMs: durationMs(c.streamIdleTimeout) ?? 300_000,
    requestTimeoutMs: durationMs(c.requestTimeout) ?? 0,
    maxRequestHeadersBytes,
    http1,
    hasFaultFilter: !!faultEntry,
    hasCorsFilter: filters.some((f) => f.name === CORS_FILTER),
    upgradeConfigs,
    codecType: codec,
    h2MaxConcurrentStreams: wrappedNum(h2?.maxConcurrentStreams) ?? 2147483647,
    maxStreamDurationMs: Math.ceil(maxStreamDurationMs),
    bufferLimitBytes,
  };
  if (rds?.routeConfigName) cfg.rdsName = String(rds.routeConfigName);
  if (obj(c.routeConfig)) cfg.inlineRoutes = compile(obj(c.routeConfig)!);
  const ft = obj(faultEntry?.typedConfig);
  if (ft && (ft.abort || ft.delay)) cfg.fault = faultConfig(ft, `${path}.httpFilters.${FAULT_FILTER}`);
  return cfg;
}

export interface HcmDeps {
  routes(name: string): RouteTable | undefined;
  cluster(name: string): UpstreamCluster | undefined;
  accessLog?: AccessLog;
  router: Router;
}

const H2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/** Envoy's toGrpcTimeout: ms in the largest unit of m, S, M, H whose value fits in 8 digits. */
export function formatGrpcTimeout(ms: number): string {
  let t = Math.max(0, Math.round(ms));
  const units = "mSMH";
  let u = 0;
  while (t > 99_999_999 && u < 3) {
    t = u === 0 ? Math.ceil(t / 1000) : Math.ceil(t / 60);
    u++;
  }
  return String(Math.min(t, 99_999_999)) + units[u];
}

/** gRPC's grpc-timeout header (e.g. "100m", "5S") in ms, or undefined. */
export function parseGrpcTimeout(v: string | string[] | undefined): number | undefined {
  if (typeof v !== "string") return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };
  return Math.ceil(n * unit[m[2]]);
}

export class HttpConnectionManager implements NetworkHandler, H1ServerHost {
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
    this.h2server.on("session", (session: http2.ServerHttp2Session) => {
      this.h2sessions.add(session);
      session.on("error", () => {});
      session.once("close", () => this.h2sessions.delete(session));
      if (this.draining) session.close();
    });
    this.h2server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => this.onH2Stream(stream, headers, flags));
    this.h2server.on("sessionError", () => this.cxProtocolError.inc());
  }

  handle(socket: net.Socket, _info: ConnectionInfo): void {
    this.cxTotal.inc();
    if (this.cfg.codecType !== "AUTO") return this.dispatch(socket, this.cfg.codecType === "HTTP2", undefined);
    // Over TLS (handed over after the handshake) the protocol is the one ALPN chose. No peeking:
    // the HTTP codecs read the TLS socket's handle directly and would miss bytes put back.
    const secure = socket as net.Socket & { encrypted?: boolean; alpnProtocol?: string | false };
    if (secure.encrypted) return this.dispatch(socket, secure.alpnProtocol === "h2", undefined);
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

  get h1(): H1CodecSettings {
    return this.cfg.http1;
  }

  onH1Request(conn: H1ServerConnection, req: H1Request, ds: Downstream): void {
    const h = req.head;
    this.rqHttp1.inc();
    const dr: DownstreamRequest = { protocol: h.protocol, method: h.method, authority: h.authority, path: h.path, scheme: conn.scheme, headers: h.headers, endToEnd: true, body: req.body, remote: conn.remote };
    if (h.upgrade !== undefined) dr.upgrade = h.upgrade;
    this.onStream(dr, ds);
  }

  onH1Reject(conn: H1ServerConnection, err: HeadError, ds: H1Response): void {
    this.rqHttp1.inc();
    // Envoy's codec errors count as downstream_cx_protocol_error; a missing Host is the HCM's own.
    if (err.details !== "missing_host_header") this.cxProtocolError.inc();
    const reply = err.details === "missing_host_header" ? LOCAL_REPLIES.missingHost() : err.status === 426 ? LOCAL_REPLIES.lowVersion() : err.status === 431 ? LOCAL_REPLIES.headersTooLarge(err.details) : err.status === 501 ? LOCAL_REPLIES.invalidTransferEncoding() : LOCAL_REPLIES.badRequest(err.details);
    const dr: DownstreamRequest = { protocol: err.protocol, method: err.method, authority: "", path: err.path, scheme: conn.scheme, headers: {}, endToEnd: true, body: undefined, remote: conn.remote };
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

  /** One request: route → fault → CORS → router, with the stream timers, stats and access log. */
  onStream(req: DownstreamRequest, downstream: Downstream): void {
    new ActiveStream(this, req, downstream).run();
  }

  /** Envoy's table: a route's upgrade_configs entry overrides the HCM's. @internal */
  upgradeAllowed(value: string, action: { kind: string; upgradeConfigs?: Readonly<Record<string, boolean>> }): boolean {
    const type = value.toLowerCase();
    // CONNECT tunnelling is not implemented: a config enabling it is refused when it arrives.
    if (type === "connect") return false;
    const route = action.kind === "route" ? action.upgradeConfigs?.[type] : undefined;
    if (route !== undefined) return route;
    return this.cfg.upgradeConfigs[type] === true;
  }

  /** The fault filter's gRPC abort: HTTP 200, trailers-only, grpc-status from config or header. @internal */
  grpcAbort(reply: LocalReply, fault: FaultConfig, headers: http.OutgoingHttpHeaders): Reply {
    if (reply.status !== 200 || reply.details !== "fault_filter_abort" || !fault.abort) return reply;
    const fromHeader = headers["x-envoy-fault-abort-grpc-request"];
    const code = fault.abort.fromHeader && fromHeader !== undefined ? Number(fromHeader) : fault.abort.grpcStatus;
    return { ...reply, body: "fault filter abort", grpcStatus: code !== undefined && Number.isFinite(code) ? code : 2 };
  }
}

/**
 * One request through the HCM (both protocols): stream idle and request timers, Envoy's request
 * headers, route → fault → CORS → router, then stats and the access log line.
 */
class ActiveStream implements Activity, ResponseDecorator {
  /** Start time for the access log (not read without one). */
  private readonly start: number;
  /** Response flags the HCM and its filters set (DI, FI, NR, …); merged with the router's. */
  flags = 0;
  private idle: TimerEntry | undefined = undefined;
  private requestTimer: TimerEntry | undefined = undefined;
  /** The stream's max_stream_duration (route or HCM), when one applies. */
  private durationTimer: TimerEntry | undefined = undefined;
  private readonly abort = new StreamAbort();
  private headers: http.OutgoingHttpHeaders = EMPTY_HEADERS;
  private body: RequestBody | undefined = undefined;
  private grpc = false;
  private plan: RouteForwardPlan | undefined = undefined;
  private corsHeaders: http.OutgoingHttpHeaders | undefined = undefined;
  private forwardedFor: string | undefined = undefined;
  /** The router has the request (a stream timer stops it through `abort`). */
  private forwarding = false;
  private finished = false;

  constructor(
    private readonly hcm: HttpConnectionManager,
    private readonly req: DownstreamRequest,
    private readonly ds: Downstream,
  ) {
    this.start = hcm.deps.accessLog !== undefined ? Date.now() : 0;
  }

  touch(): void {
    this.idle?.refresh();
  }

  responseBeforeRequestComplete(): void {
    this.hcm.rqResponseBeforeRqComplete.inc();
  }

  /** Envoy's remoteDecodeComplete: the downstream sent the whole request. */
  private get requestComplete(): boolean {
    const b = this.body;
    return b === undefined || b.ended;
  }

  /** A request the downstream codec refused: its local reply, counted and logged; nothing is routed. */
  reject(reply: LocalReply): void {
    this.hcm.rqTotal.inc();
    this.hcm.rqActive.inc();
    this.local(reply);
  }

  /** Activity: the downstream codec found the request broken mid-stream (a codec error, as Envoy's). */
  codecError(reply: Reply): void {
    if (this.finished) return;
    this.hcm.cxProtocolError.inc();
    this.stopWith(reply);
  }

  run(): void {
    const hcm = this.hcm;
    const cfg = hcm.cfg;
    const req = this.req;
    hcm.rqTotal.inc();
    hcm.rqActive.inc();
    if (cfg.streamIdleTimeoutMs > 0) this.idle = timerList(cfg.streamIdleTimeoutMs).start(() => this.onIdle());
    this.ds.activity = this;
    if (cfg.requestTimeoutMs > 0) this.requestTimer = timerList(cfg.requestTimeoutMs).start(() => this.onRequestTimeout());

    const rh = req.headers;
    let headers: http.OutgoingHttpHeaders;
    if (req.endToEnd === true) headers = rh;
    else {
      headers = {};
      for (const k in rh) {
        const v = rh[k];
        if (v === undefined || k === "host" || requestHopByHop(k, v)) continue;
        headers[k] = v;
      }
    }
    // (The access log shows X-Forwarded-For as the client sent it.)
    this.forwardedFor = rh["x-forwarded-for"] as string | undefined;
    if (cfg.generateRequestId && !headers["x-request-id"]) headers["x-request-id"] = randomUUID();
    if (!headers["x-forwarded-proto"]) headers["x-forwarded-proto"] = req.scheme;
    if (cfg.useRemoteAddress) {
      const xff = this.forwardedFor;
      headers["x-forwarded-for"] = xff ? `${String(xff)}, ${req.remote}` : req.remote;
    }
    this.headers = headers;
    const ct = rh["content-type"];
    this.grpc = typeof ct === "string" ? ct.startsWith("application/grpc") : String(ct ?? "").startsWith("application/grpc");
    this.ds.request = this.body = req.body ? new RequestBody(req.body, cfg.bufferLimitBytes, this) : RequestBody.empty();
    try {
      this.route();
    } catch (err) {
      this.fail(err);
    }
  }

  // Envoy's onIdleTimeout / onRequestTimeout / onStreamMaxDurationReached: a local reply with
  // maybeRequestTimeoutCode (504 once the whole request arrived, else 408 — gRPC maps it, UNAVAILABLE
  // or UNKNOWN), or a reset once the response started.

  private onIdle(): void {
    if (this.finished) return;
    this.hcm.rqIdleTimeout.inc();
    this.stopWith(LOCAL_REPLIES.streamIdleTimeout(this.requestComplete));
  }

  private onRequestTimeout(): void {
    if (this.finished) return;
    this.hcm.rqTimeout.inc();
    this.stopWith(LOCAL_REPLIES.requestTimeout(this.requestComplete));
  }

  /**
   * A stream timer fired: the router's forward stops with the reply (or resets a started response);
   * before the router has the request (a fault delay) the reply goes out at once, as Envoy's does.
   */
  private stopWith(reply: Reply): void {
    this.abort.abort(reply);
    if (this.forwarding) return;
    try {
      this.local(reply);
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * Envoy's refreshDurationTimeout, once the route is known: the route's max_stream_duration, else
   * the HCM's; for a gRPC request with grpc-timeout and a route grpc_timeout_header_max, the
   * header's timeout (capped by the max unless it is 0, less grpc_timeout_header_offset). With a
   * route max_stream_duration a gRPC request's grpc-timeout header is set to the bound.
   */
  private armDuration(plan: RouteForwardPlan): void {
    const action = plan.route.action;
    if (action.kind !== "route") return;
    let ms: number;
    const header = this.grpc && action.grpcTimeoutHeaderMaxMs !== undefined ? parseGrpcTimeout(this.req.headers["grpc-timeout"]) : undefined;
    if (header === undefined) {
      ms = action.maxStreamDurationMs ?? this.hcm.cfg.maxStreamDurationMs;
      if (ms === 0) return; // an explicit 0 disables it
    } else {
      ms = header;
      const max = action.grpcTimeoutHeaderMaxMs!;
      if (max !== 0 && ms > max) ms = max;
      const offset = action.grpcTimeoutHeaderOffsetMs;
      if (ms !== 0 && offset !== undefined) ms = offset < ms ? ms - offset : 0;
    }
    if (action.usingNewTimeouts && this.grpc) plan.requestHeaders["grpc-timeout"] = formatGrpcTimeout(ms);
    // (The route is picked as the stream starts: no time has passed to take off.)
    this.durationTimer = timerList(Math.max(1, ms)).start(() => this.onMaxDuration());
  }

  private onMaxDuration(): void {
    if (this.finished) return;
    this.hcm.rqMaxDurationReached.inc();
    const reply: Reply = LOCAL_REPLIES.maxStreamDuration(this.requestComplete);
    if (this.grpc) reply.grpcStatus = 4; // DEADLINE_EXCEEDED
    this.stopWith(reply);
  }

  decorateResponse(h: http.OutgoingHttpHeaders): void {
    this.plan?.decorateResponse(h);
    if (this.corsHeaders !== undefined) Object.assign(h, this.corsHeaders);
    h.server = this.hcm.cfg.serverName;
  }

  private local(reply: Reply): void {
    this.flags |= flagBit(reply.flag);
    const r = sendLocalReply(this.ds, reply, { server: this.hcm.cfg.serverName }, this.grpc);
    this.complete({ status: r.status, flags: 0, bytesSent: r.bytes, details: reply.details, grpcStatus: r.grpcStatus });
  }

  private fail(err: unknown): void {
    if (this.finished) return;
    try {
      this.local({ status: 500, body: "internal error", details: `tsmesh: ${(err as Error).message}` });
    } catch {
      this.ds.reset();
      this.complete({ status: 500, flags: 0, bytesSent: 0, details: `tsmesh: ${(err as Error).message}` });
    }
  }

  private route(): void {
    const hcm = this.hcm;
    const cfg = hcm.cfg;
    const req = this.req;
    const headers = this.headers;
    const table = cfg.inlineRoutes ?? (cfg.rdsName !== undefined ? hcm.deps.routes(cfg.rdsName) : undefined);
    const plan = table ? planRoute(table, { authority: req.authority, path: req.path, method: req.method, headers, remote: req.remote }) : undefined;
    if (!plan || plan.kind === "none") return this.local(LOCAL_REPLIES.noRoute());
    if (plan.kind !== "route") {
      const h: http.OutgoingHttpHeaders = { ...plan.headers };
      h.server = cfg.serverName;
      const bodyBuf = typeof plan.body === "string" ? Buffer.from(plan.body) : plan.body;
      h["content-length"] = String(bodyBuf.length);
      this.ds.respond(plan.status, h, bodyBuf.length === 0);
      if (bodyBuf.length) {
        this.ds.write(bodyBuf);
        this.ds.end();
      }
      return this.complete({ status: plan.status, flags: 0, bytesSent: bodyBuf.length, details: plan.kind === "direct" ? "direct_response" : "redirect" });
    }
    if (req.upgrade !== undefined && !hcm.upgradeAllowed(req.upgrade, plan.route.action)) return this.local({ status: 403, body: "", details: "upgrade_failed" });
    if (req.upgrade !== undefined) hcm.cxUpgrades.inc();
    this.plan = plan;
    this.armDuration(plan);
    // The request body is kept for a replay only when the route may retry or mirror it.
    const action = plan.route.action;
    if (action.kind === "route") this.body!.configure(plan.retry !== undefined || plan.mirrors.length > 0, action.perRequestBufferLimitBytes ?? cfg.bufferLimitBytes);
    const fault = cfg.hasFaultFilter ? (plan.fault ?? cfg.fault) : undefined;
    if (fault === undefined) return this.afterFault(plan, undefined, undefined);
    applyFault(fault, headers, this).then(
      (abort) => {
        try {
          this.afterFault(plan, fault, abort);
        } catch (err) {
          this.fail(err);
        }
      },
      (err: unknown) => this.fail(err),
    );
  }

  private afterFault(plan: RouteForwardPlan, fault: FaultConfig | undefined, abort: LocalReply | undefined): void {
    if (this.finished) return; // a stream timer answered during the fault delay
    const hcm = this.hcm;
    const req = this.req;
    const headers = this.headers;
    const ds = this.ds;
    const cors = hcm.cfg.hasCorsFilter && plan.cors ? corsDecision(plan.cors, req.method, headers) : undefined;
    if (this.abort.reason !== undefined) return this.local(this.abort.reason);
    if (ds.gone) {
      this.flags |= FLAG_BIT.DC;
      return this.complete({ status: 0, flags: 0, bytesSent: 0, details: "downstream_remote_disconnect" });
    }
    if (abort) return this.local(hcm.grpcAbort(abort, fault!, headers));
    if (cors?.kind === "preflight") {
      const h: http.OutgoingHttpHeaders = { ...cors.headers, "content-length": "0" };
      h.server = hcm.cfg.serverName;
      ds.respond(200, h, true);
      return this.complete({ status: 200, flags: 0, bytesSent: 0, details: "cors_response" });
    }
    const cluster = hcm.deps.cluster(plan.cluster);
    if (!cluster) return this.local(LOCAL_REPLIES.noCluster());
    let timeoutMs = plan.timeoutMs;
    const action = plan.route.action;
    if (action.kind === "route") {
      // Envoy's finalTimeout: a route with max_stream_duration has no route timeout (the stream
      // duration bounds it); else for gRPC with max_grpc_timeout, grpc-timeout is the route timeout
      // (0 = none), less grpc_timeout_offset, capped by the max when it is set.
      if (action.usingNewTimeouts) timeoutMs = 0;
      else if (this.grpc && action.maxGrpcTimeoutMs !== undefined) {
        const max = action.maxGrpcTimeoutMs;
        let t = parseGrpcTimeout(req.headers["grpc-timeout"]) ?? 0;
        const offset = action.grpcTimeoutOffsetMs ?? 0;
        if (t > offset && offset > 0) t -= offset;
        if (max && (t === 0 || t > max)) t = max;
        timeoutMs = t;
      }
    }
    const body = this.body!;
    // Mirrors: copies of the request once its body is in (fire and forget).
    for (const name of plan.mirrors) {
      const mirror = hcm.deps.cluster(name);
      if (!mirror) continue;
      const shadow = { method: req.method, path: plan.path, authority: plan.authority, headers: plan.requestHeaders, timeoutMs };
      body.onEnded(() => {
        const buf = body.buffered();
        if (buf) sendShadow(mirror, { ...shadow, body: buf });
      });
    }
    if (cors?.kind === "actual") this.corsHeaders = cors.responseHeaders;
    // Envoy disarms the request timeout once the end of the request passed every filter: the
    // whole body arrived and the router has it.
    if (this.requestTimer !== undefined) body.onEnded(() => this.requestTimer?.cancel());
    this.forwarding = true;
    hcm.deps.router.forward(
      {
        cluster,
        method: req.method,
        path: plan.path,
        authority: plan.authority,
        scheme: req.scheme,
        headers: plan.requestHeaders,
        body,
        timeoutMs,
        retry: plan.retry,
        hash: plan.hash,
        includeAttemptCount: plan.includeAttemptCount,
        downstreamProtocol: req.protocol,
        grpc: this.grpc,
        upgrade: req.upgrade,
      },
      ds,
      this,
      this.abort,
      (r) => this.forwarded(r),
    );
  }

  private forwarded(r: ForwardResult): void {
    if (r.error !== undefined) {
      this.flags |= r.flags;
      return this.fail(r.error);
    }
    this.complete(r);
  }

  /** The request is over: timers, stats, access log. */
  private complete(r: ForwardResult): void {
    if (this.finished) return;
    this.finished = true;
    const hcm = this.hcm;
    const req = this.req;
    this.idle?.cancel();
    this.requestTimer?.cancel();
    this.durationTimer?.cancel();
    hcm.rqActive.dec();
    const status = r.status;
    if (status >= 100) hcm.rqByClass[Math.min(5, Math.floor(status / 100)) - 1].inc();
    const flags = r.flags | this.flags;
    hcm.deps.accessLog?.log({
      startTime: this.start,
      method: req.method,
      path: (req.headers["x-envoy-original-path"] as string | undefined) ?? req.path,
      protocol: req.protocol,
      responseCode: status,
      flags,
      bytesReceived: this.body?.received ?? 0,
      bytesSent: r.bytesSent,
      durationMs: Date.now() - this.start,
      upstreamServiceTimeMs: r.upstreamServiceTimeMs,
      forwardedFor: this.forwardedFor,
      userAgent: req.headers["user-agent"],
      requestId: this.headers["x-request-id"] as string | undefined,
      authority: req.authority,
      upstreamHost: r.upstreamHost,
    });
  }
}

const EMPTY_HEADERS: http.OutgoingHttpHeaders = Object.freeze({}) as http.OutgoingHttpHeaders;
