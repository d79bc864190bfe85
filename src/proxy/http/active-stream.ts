// One request through the HTTP connection manager, whatever the protocol: Envoy's request headers
// (x-request-id, x-forwarded-*), the cached route, the stream timers — stream idle, request timeout
// and max_stream_duration (route, else HCM; grpc-timeout under grpc_timeout_header_max) answering
// as Envoy's do (504 once the whole request arrived, 408 while it is still arriving) — the filter
// chain (filter-manager.ts), and at the end the HCM's stats and the access log line.
import { GrpcMessageCounter } from "../../core/grpc-frames.js";
import { randomUUID } from "node:crypto";
import type * as http from "node:http";
import type * as tls from "node:tls";
import { type AccessLogger, logTo } from "../access-loggers.js";
import { buildHttpStreamInfo } from "./stream-record.js";
import type { StreamSinks } from "../stream-sinks.js";
import type { ConnectionInfo } from "../listener-spec.js";
import type { Counter, Gauge } from "../stats.js";
import { type TimerEntry, timerList } from "../../core/timers.js";
import { type Activity, type BodySource, type Downstream, type DownstreamProtocol, type Reply, RequestBody, sendLocalReply, StreamAbort } from "./downstream.js";
import type { FilterRequest, StreamResult } from "./filter.js";
import { FilterManager, type FilterStreamHost } from "./filter-manager.js";
import { DynamicMetadata } from "../dynamic-metadata.js";
import type { DownstreamRequest } from "./downstream-request.js";
import type { HcmConfig } from "./hcm-config.js";
import { requestHopByHop } from "../http1/codec.js";
import { LOCAL_REPLIES } from "./local-reply.js";
import { normalizePath } from "./path-normalization.js";
import { applyXfcc } from "./xfcc.js";
import { downstreamRemoteAddress } from "./xff.js";
import { formatGrpcTimeout, parseGrpcTimeout } from "../../core/grpc.js";
import { type ResolvedRoute, resolveRoute, type RouteTable } from "./route-glue.js";
import { ActiveSpan } from "../tracing/span.js";

/** What a stream needs from its connection manager. */
export interface StreamOwner {
  readonly cfg: HcmConfig;
  routes(name: string): RouteTable | undefined;
  /** Where each request's access log line goes (none: no line). */
  readonly accessLoggers: readonly AccessLogger[];
  readonly streamSinks: StreamSinks | undefined;
  readonly rqTotal: Counter;
  readonly rqActive: Gauge;
  readonly rqByClass: readonly Counter[];
  readonly rqIdleTimeout: Counter;
  readonly rqTimeout: Counter;
  readonly rqMaxDurationReached: Counter;
  readonly rqResponseBeforeRqComplete: Counter;
  readonly cxUpgrades: Counter;
  readonly cxProtocolError: Counter;
}


/** Envoy's table: a route's upgrade_configs entry overrides the HCM's. */
function upgradeAllowed(cfg: HcmConfig, value: string, action: { kind: string; upgradeConfigs?: Readonly<Record<string, boolean>> }): boolean {
  const type = value.toLowerCase();
  // CONNECT tunnelling is not implemented: a config enabling it is refused when it arrives.
  if (type === "connect") return false;
  const route = action.kind === "route" ? action.upgradeConfigs?.[type] : undefined;
  if (route !== undefined) return route;
  return cfg.upgradeConfigs[type] === true;
}

const NO_ROUTE: ResolvedRoute = Object.freeze({}) as ResolvedRoute;

export class ActiveStream implements Activity, FilterStreamHost, FilterRequest {
  /** Start time for the stream's record (0 when nothing observes the stream). */
  private start: number;
  /** Response flags the HCM and its filters set (DI, FI, NR, …); merged with the router's. */
  flags = 0;
  private idle: TimerEntry | undefined = undefined;
  private requestTimer: TimerEntry | undefined = undefined;
  /** The stream's max_stream_duration (route or HCM), when one applies. */
  private durationTimer: TimerEntry | undefined = undefined;
  readonly abort = new StreamAbort();
  readonly headers: http.OutgoingHttpHeaders;
  private body: RequestBody | undefined = undefined;
  readonly grpc: boolean;
  private cached: ResolvedRoute | undefined = undefined;
  private finished = false;
  private filters!: FilterManager;
  readonly localReplyHeaders: http.OutgoingHttpHeaders;
  /** :path after the HCM's normalization (normalize_path, merge_slashes, escaped slashes). */
  private normalizedPath: string;
  private pathRefused = false;
  private metadata: DynamicMetadata | undefined = undefined;
  /** Envoy's downstream remote address: the client address the HCM trusts (xff.ts). */
  readonly downstreamRemoteAddress: string;
  /** The stream's span when the HCM traces (the router injects its context upstream). */
  activeSpan: ActiveSpan | undefined = undefined;

  constructor(
    private readonly owner: StreamOwner,
    private readonly req: DownstreamRequest,
    readonly downstream: Downstream,
  ) {
    this.start = owner.accessLoggers.length > 0 || owner.streamSinks?.active === true ? Date.now() : 0;
    const cfg = owner.cfg;
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
    const forwardedFor = rh["x-forwarded-for"] as string | undefined;
    // Read before the HCM appends its peer to X-Forwarded-For, as Envoy does.
    this.downstreamRemoteAddress = downstreamRemoteAddress(cfg.useRemoteAddress, cfg.xffNumTrustedHops, forwardedFor, req.remote);
    if (cfg.generateRequestId && !headers["x-request-id"]) headers["x-request-id"] = randomUUID();
    if (!headers["x-forwarded-proto"]) headers["x-forwarded-proto"] = req.scheme;
    if (cfg.useRemoteAddress) {
      const xff = forwardedFor;
      headers["x-forwarded-for"] = xff ? `${String(xff)}, ${req.remote}` : req.remote;
    }
    applyXfcc(cfg.xfcc, headers, req.tls);
    this.headers = headers;
    let path: string | undefined = req.path;
    if (cfg.paths !== undefined) {
      path = normalizePath(cfg.paths, req.path);
      if (path === undefined) this.pathRefused = true;
    }
    this.normalizedPath = path ?? req.path;
    const ct = rh["content-type"];
    this.grpc = typeof ct === "string" ? ct.startsWith("application/grpc") : String(ct ?? "").startsWith("application/grpc");
    this.localReplyHeaders = cfg.localReplyHeaders;
  }

  // ---- FilterRequest ----

  get protocol(): DownstreamProtocol {
    return this.req.protocol;
  }
  get method(): string {
    return this.req.method;
  }
  get authority(): string {
    return this.req.authority;
  }
  get path(): string {
    return this.normalizedPath;
  }
  get scheme(): string {
    return this.req.scheme;
  }
  get remote(): string {
    return this.req.remote;
  }
  get upgrade(): string | undefined {
    return this.req.upgrade;
  }
  get connection(): ConnectionInfo {
    return this.req.connection;
  }
  get tls(): tls.TLSSocket | undefined {
    return this.req.tls;
  }

  // ---- FilterStreamHost ----

  get request(): FilterRequest {
    return this;
  }

  get dynamicMetadata(): DynamicMetadata {
    return (this.metadata ??= new DynamicMetadata());
  }

  get bodySource(): BodySource | undefined {
    return this.req.body;
  }

  get bufferLimit(): number {
    return this.owner.cfg.bufferLimitBytes;
  }

  route(): ResolvedRoute | undefined {
    let r = this.cached;
    if (r === undefined) {
      const cfg = this.owner.cfg;
      const table = cfg.inlineRoutes ?? (cfg.rdsName !== undefined ? this.owner.routes(cfg.rdsName) : undefined);
      const req = this.req;
      r = (table ? resolveRoute(table, { authority: req.authority, path: this.normalizedPath, method: req.method, headers: this.headers, remote: req.remote, dynamicMetadata: this.metadata }) : undefined) ?? NO_ROUTE;
      this.cached = r;
    }
    return r === NO_ROUTE ? undefined : r;
  }

  clearRouteCache(): void {
    this.cached = undefined;
  }

  setPath(path: string): void {
    this.normalizedPath = path;
  }

  makeBody(source: BodySource | undefined): RequestBody {
    const b = source ? new RequestBody(source, this.owner.cfg.bufferLimitBytes, this, this.grpc ? new GrpcMessageCounter() : undefined) : RequestBody.empty();
    this.body = b;
    this.downstream.request = b;
    return b;
  }

  terminalReached(): void {
    // Envoy disarms the request timeout once the end of the request passed every filter: the whole
    // body arrived and the router has it.
    if (this.requestTimer !== undefined) this.body!.onEnded(() => this.requestTimer?.cancel());
  }

  sendLocalReply(ds: Downstream, reply: Reply, headers: http.OutgoingHttpHeaders | undefined): void {
    const extra = headers === undefined ? this.localReplyHeaders : { ...headers, server: this.owner.cfg.serverName };
    const r = sendLocalReply(ds, reply, extra, this.grpc);
    this.filters.finish({ status: r.status, flags: 0, bytesSent: r.bytes, details: reply.details, grpcStatus: r.grpcStatus });
  }

  // ---- Activity ----

  touch(): void {
    this.idle?.refresh();
  }

  responseBeforeRequestComplete(): void {
    this.owner.rqResponseBeforeRqComplete.inc();
  }

  /** Envoy's remoteDecodeComplete: the downstream sent the whole request. */
  private get requestComplete(): boolean {
    const b = this.body;
    return b === undefined || b.ended;
  }

  /** A request the downstream codec refused: its local reply, counted and logged; nothing is routed. */
  reject(reply: Reply): void {
    const owner = this.owner;
    owner.rqTotal.inc();
    owner.rqActive.inc();
    this.filters = new FilterManager(this, []);
    this.makeBody(undefined);
    this.filters.hcmLocalReply(reply);
  }

  /** Activity: the downstream codec found the request broken mid-stream (a codec error, as Envoy's). */
  codecError(reply: Reply): void {
    if (this.finished) return;
    this.owner.cxProtocolError.inc();
    this.stopWith(reply);
  }

  run(): void {
    const owner = this.owner;
    const cfg = owner.cfg;
    owner.rqTotal.inc();
    owner.rqActive.inc();
    if (cfg.streamIdleTimeoutMs > 0) this.idle = timerList(cfg.streamIdleTimeoutMs).start(() => this.onIdle());
    this.downstream.activity = this;
    if (cfg.requestTimeoutMs > 0) this.requestTimer = timerList(cfg.requestTimeoutMs).start(() => this.onRequestTimeout());
    this.filters = new FilterManager(this, cfg.filters);
    if (cfg.tracing !== undefined) this.activeSpan = ActiveSpan.start(cfg.tracing, this);
    if (this.start === 0 && this.filters.logFilters) this.start = Date.now();
    if (this.pathRefused) {
      // Envoy's answer to a path normalization cannot accept (or an escaped slash it must refuse).
      this.makeBody(this.req.body);
      this.filters.hcmLocalReply({ status: 400, body: "Bad Request", details: "path_normalization_failed" });
      return;
    }
    try {
      const resolved = this.route();
      const req = this.req;
      if (req.upgrade !== undefined && resolved !== undefined) {
        // Envoy checks the upgrade before the filter chain: 403 when neither route nor HCM allows it.
        if (!upgradeAllowed(cfg, req.upgrade, resolved.route.action)) {
          this.makeBody(req.body);
          this.filters.localReply({ status: 403, body: "", details: "upgrade_failed" }, undefined, 0);
          return;
        }
        owner.cxUpgrades.inc();
      }
      if (resolved !== undefined) this.armDuration(resolved);
      // Until the router follows the downstream, a client that leaves ends the stream here.
      const filters = this.filters;
      this.downstream.listener ??= { onGone: () => filters.downstreamGone(), onDrain: () => {} };
      this.filters.start();
    } catch (err) {
      this.fail(err);
    }
  }

  // Envoy's onIdleTimeout / onRequestTimeout / onStreamMaxDurationReached: a local reply with
  // maybeRequestTimeoutCode (504 once the whole request arrived, else 408 — gRPC maps it, UNAVAILABLE
  // or UNKNOWN), or a reset once the response started.

  private onIdle(): void {
    if (this.finished) return;
    this.owner.rqIdleTimeout.inc();
    this.stopWith(LOCAL_REPLIES.streamIdleTimeout(this.requestComplete));
  }

  private onRequestTimeout(): void {
    if (this.finished) return;
    this.owner.rqTimeout.inc();
    this.stopWith(LOCAL_REPLIES.requestTimeout(this.requestComplete));
  }

  /**
   * A stream timer fired: a forward in progress stops with the reply (or resets a started
   * response); before the router has the request (a fault delay) the reply goes out at once.
   */
  private stopWith(reply: Reply): void {
    const abort = this.abort;
    abort.abort(reply);
    if (abort.listening) return;
    try {
      this.filters.hcmLocalReply(reply);
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
  private armDuration(r: ResolvedRoute): void {
    const action = r.route.action;
    if (action.kind !== "route") return;
    let ms: number;
    const header = this.grpc && action.grpcTimeoutHeaderMaxMs !== undefined ? parseGrpcTimeout(this.req.headers["grpc-timeout"]) : undefined;
    if (header === undefined) {
      ms = action.maxStreamDurationMs ?? this.owner.cfg.maxStreamDurationMs;
      if (ms === 0) return; // an explicit 0 disables it
    } else {
      ms = header;
      const max = action.grpcTimeoutHeaderMaxMs!;
      if (max !== 0 && ms > max) ms = max;
      const offset = action.grpcTimeoutHeaderOffsetMs;
      if (ms !== 0 && offset !== undefined) ms = offset < ms ? ms - offset : 0;
    }
    if (action.usingNewTimeouts && this.grpc) this.headers["grpc-timeout"] = formatGrpcTimeout(ms);
    // (The route is picked as the stream starts: no time has passed to take off.)
    this.durationTimer = timerList(Math.max(1, ms)).start(() => this.onMaxDuration());
  }

  private onMaxDuration(): void {
    if (this.finished) return;
    this.owner.rqMaxDurationReached.inc();
    const reply: Reply = LOCAL_REPLIES.maxStreamDuration(this.requestComplete);
    if (this.grpc) reply.grpcStatus = 4; // DEADLINE_EXCEEDED
    this.stopWith(reply);
  }

  private fail(err: unknown): void {
    if (this.finished) return;
    try {
      if (this.body === undefined) this.makeBody(undefined);
      this.filters.hcmLocalReply({ status: 500, body: "internal error", details: `tsmesh: ${(err as Error).message}` });
    } catch {
      this.downstream.reset();
      this.filters.finish({ status: 500, flags: 0, bytesSent: 0, details: `tsmesh: ${(err as Error).message}` });
    }
  }

  /** The request is over (FilterManager.finish): timers, stats, access log. */
  complete(r: StreamResult): void {
    if (r.error !== undefined && !this.finished) {
      // The router stopped on an internal error: answer 500 if the response has not started.
      this.flags |= r.flags;
      const ds = this.downstream;
      if (!ds.headersSent) {
        const l = sendLocalReply(ds, { status: 500, body: "internal error", details: `tsmesh: ${r.error.message}` }, this.localReplyHeaders, this.grpc);
        r = { status: l.status, flags: 0, bytesSent: l.bytes, details: "internal_error", grpcStatus: l.grpcStatus };
      } else ds.reset();
    }
    if (this.finished) return;
    this.finished = true;
    const owner = this.owner;
    const req = this.req;
    this.idle?.cancel();
    this.requestTimer?.cancel();
    this.durationTimer?.cancel();
    owner.rqActive.dec();
    const status = r.status;
    if (status >= 100) owner.rqByClass[Math.min(5, Math.floor(status / 100)) - 1].inc();
    const flags = r.flags | this.flags;
    // (An unsampled span records nothing: no result object for it.)
    if (this.activeSpan?.sampled === true) this.activeSpan.finish({ status, flags, bytesReceived: this.body?.received ?? 0, bytesSent: r.bytesSent, upstreamCluster: this.cached?.cluster, upstreamHost: r.upstreamHost, reset: status === 0 || r.error !== undefined, dynamicMetadata: this.metadata });
    // The stream's record, only when something observes it: its filters, access logs, tap.
    const loggers = owner.accessLoggers;
    const sinks = owner.streamSinks;
    const filters = this.filters;
    const tapped = sinks !== undefined && sinks.active;
    if (loggers.length === 0 && !tapped && !filters.logFilters) return;
    const info = buildHttpStreamInfo(req, r, {
      startTime: this.start === 0 ? Date.now() : this.start,
      flags: r.flags | this.flags,
      path: this.normalizedPath,
      headers: this.headers,
      trustedRemote: this.downstreamRemoteAddress,
      route: this.cached,
      bytesReceived: this.body?.received ?? 0,
      dynamicMetadata: this.metadata,
      grpc: this.grpc,
      filterState: filters.filterStateIfAny,
      requestMessages: this.body?.grpcMessages?.count ?? 0,
    });
    if (filters.logFilters) filters.log(info);
    if (loggers.length > 0) logTo(loggers, info);
    if (tapped) sinks.http(info);
  }
}
