// Envoy's http_connection_manager as a network filter: an HTTP server per filter chain that
// takes the listener's sockets, routes each request through the RouteConfiguration (RDS, looked up
// per request so route updates apply to open connections), runs the HTTP filters (fault, then the
// router), and writes Envoy's access log line and http.PREFIX.* stats.
import { randomUUID } from "node:crypto";
import * as http from "node:http";
import type * as net from "node:net";
import { durationMs, type ProtoObject } from "../../envoy/protos.js";
import { type AccessLog, type ResponseFlag } from "../access-log.js";
import type { ConnectionInfo, NetworkHandler } from "../listeners.js";
import type { StatsScope } from "../stats.js";
import type { UpstreamCluster } from "../upstream/cluster.js";
import { XdsConfigError } from "../xds-error.js";
import { applyFault, type FaultConfig, faultConfig } from "./fault.js";
import { LOCAL_REPLIES, type LocalReply } from "./local-reply.js";
import { planRoute, type RouteTable } from "./route-glue.js";
import { type ForwardResult, Router, sendLocalReply } from "./router.js";

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
  streamIdleTimeoutMs: number;
  requestTimeoutMs: number;
  maxRequestHeadersBytes: number;
  /** Listener-level fault filter config (route-level typed_per_filter_config overrides it). */
  fault?: FaultConfig;
  hasFaultFilter: boolean;
}

function obj(v: unknown): ProtoObject | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as ProtoObject) : undefined;
}

/** Validates a decoded HttpConnectionManager (path names the listener and chain). */
export function hcmConfig(c: ProtoObject, path: string, compile: (rc: ProtoObject) => RouteTable): HcmConfig {
  const rds = obj(c.rds);
  const filters = Array.isArray(c.httpFilters) ? (c.httpFilters as ProtoObject[]) : [];
  if (!rds?.routeConfigName && !obj(c.routeConfig)) throw new XdsConfigError(`${path}.rds`, "an http_connection_manager needs rds or route_config");
  const names = filters.map((f) => String(f.name ?? ""));
  if (!names.includes(ROUTER_FILTER) && names.length > 0 && !names.some((n) => n.endsWith(".router"))) {
    throw new XdsConfigError(`${path}.httpFilters`, "the router filter must be configured (last)");
  }
  const faultEntry = filters.find((f) => f.name === FAULT_FILTER);
  const cfg: HcmConfig = {
    statPrefix: typeof c.statPrefix === "string" ? c.statPrefix : "",
    serverName: typeof c.serverName === "string" && c.serverName ? c.serverName : "envoy",
    useRemoteAddress: obj(c.useRemoteAddress)?.value === true,
    generateRequestId: obj(c.generateRequestId)?.value !== false,
    streamIdleTimeoutMs: durationMs(c.streamIdleTimeout) ?? 300_000,
    requestTimeoutMs: durationMs(c.requestTimeout) ?? 0,
    maxRequestHeadersBytes: (typeof obj(c.maxRequestHeadersKb)?.value === "number" ? (obj(c.maxRequestHeadersKb)!.value as number) : 60) * 1024,
    hasFaultFilter: !!faultEntry,
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

const PROTOCOL = (req: http.IncomingMessage) => `HTTP/${req.httpVersion}`;

export class HttpConnectionManager implements NetworkHandler {
  private readonly server: http.Server;
  private draining = false;
  private readonly rqTotal;
  private readonly rqActive;
  private readonly rqByClass;
  private readonly cxTotal;

  constructor(
    private readonly cfg: HcmConfig,
    private readonly deps: HcmDeps,
    stats: StatsScope,
  ) {
    const s = stats;
    this.rqTotal = s.counter("downstream_rq_total");
    this.rqActive = s.gauge("downstream_rq_active");
    this.cxTotal = s.counter("downstream_cx_total");
    this.rqByClass = [1, 2, 3, 4, 5].map((n) => s.counter(`downstream_rq_${n}xx`));
    this.server = http.createServer({
      maxHeaderSize: cfg.maxRequestHeadersBytes,
      requestTimeout: cfg.requestTimeoutMs,
      keepAliveTimeout: 3_600_000,
    });
    this.server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => void this.onRequest(req, res));
    this.server.on("clientError", (err: NodeJS.ErrnoException, socket: net.Socket) => this.onClientError(err, socket));
  }

  handle(socket: net.Socket, _info: ConnectionInfo): void {
    this.cxTotal.inc();
    this.server.emit("connection", socket);
  }

  drain(): void {
    this.draining = true;
    this.server.closeIdleConnections();
  }

  close(): void {
    this.server.closeAllConnections();
  }

  private onClientError(err: NodeJS.ErrnoException, socket: net.Socket): void {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const reply: LocalReply = err.code === "HPE_HEADER_OVERFLOW" ? LOCAL_REPLIES.headersTooLarge() : LOCAL_REPLIES.badRequest();
    socket.end(`HTTP/1.1 ${reply.status} ${http.STATUS_CODES[reply.status]}\r\ncontent-length: ${reply.body.length}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${reply.body}`);
  }

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const start = Date.now();
    this.rqTotal.inc();
    this.rqActive.inc();
    if (this.draining) res.shouldKeepAlive = false;
    let authority = req.headers.host ?? "";
    let path = req.url ?? "/";
    // Absolute-form (explicit proxy): the target is in the request line.
    if (!path.startsWith("/") && /^https?:\/\//i.test(path)) {
      try {
        const u = new URL(path);
        authority = u.host;
        path = u.pathname + u.search;
      } catch {
        path = "/";
      }
    }
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && k !== "host" && !HOP.has(k)) headers[k] = v;
    if (this.cfg.generateRequestId && !headers["x-request-id"]) headers["x-request-id"] = randomUUID();
    if (!headers["x-forwarded-proto"]) headers["x-forwarded-proto"] = "http";
    const remote = req.socket.remoteAddress?.replace(/^::ffff:/, "") ?? "";
    if (this.cfg.useRemoteAddress) {
      const xff = req.headers["x-forwarded-for"];
      headers["x-forwarded-for"] = xff ? `${xff}, ${remote}` : remote;
    }
    const flags = new Set<ResponseFlag>();
    let result: ForwardResult | undefined;
    const serverName = this.cfg.serverName;
    const decorate = (h: http.OutgoingHttpHeaders) => {
      h.server = serverName;
    };
    try {
      const table = this.cfg.inlineRoutes ?? (this.cfg.rdsName !== undefined ? this.deps.routes(this.cfg.rdsName) : undefined);
      const plan = table ? planRoute(table, { authority, path, method: req.method ?? "GET", headers, remote }) : undefined;
      if (!plan || plan.kind === "none") {
        result = this.local(res, LOCAL_REPLIES.noRoute(), flags, decorate);
      } else if (plan.kind !== "route") {
        const h: http.OutgoingHttpHeaders = { ...plan.headers };
        decorate(h);
        res.writeHead(plan.status, h);
        res.end(plan.body);
        result = { status: plan.status, flags, bytesSent: Buffer.byteLength(plan.body), details: plan.kind === "direct" ? "direct_response" : "redirect" };
      } else {
        const fault = this.cfg.hasFaultFilter ? (plan.fault ?? this.cfg.fault) : undefined;
        const abort = fault ? await applyFault(fault, headers, flags) : undefined;
        if (abort) {
          result = this.local(res, abort, flags, decorate);
        } else {
          const cluster = this.deps.cluster(plan.cluster);
          if (!cluster) {
            result = this.local(res, LOCAL_REPLIES.noCluster(), flags, decorate);
          } else {
            const body = await readBody(req);
            result = await this.deps.router.forward(
              {
                cluster,
                method: req.method ?? "GET",
                path: plan.path,
                authority: plan.authority,
                headers: plan.requestHeaders,
                body: body ?? undefined,
                stream: body === null ? req : undefined,
                timeoutMs: plan.timeoutMs,
                retry: plan.retry,
                hash: plan.hash,
                includeAttemptCount: plan.includeAttemptCount,
              },
              req,
              res,
              (h) => {
                plan.decorateResponse(h);
                decorate(h);
              },
            );
            for (const f of flags) result.flags.add(f);
          }
        }
      }
    } catch (err) {
      result = this.local(res, { status: 500, body: "internal error", details: `tsmesh: ${(err as Error).message}` }, flags, decorate);
    } finally {
      this.rqActive.dec();
      const status = result?.status ?? 0;
      if (status >= 100) this.rqByClass[Math.min(5, Math.floor(status / 100)) - 1].inc();
      this.deps.accessLog?.log({
        startTime: start,
        method: req.method,
        path: (req.headers["x-envoy-original-path"] as string | undefined) ?? path,
        protocol: PROTOCOL(req),
        responseCode: status,
        flags: result?.flags ?? flags,
        bytesReceived: Number(req.headers["content-length"] ?? 0) || 0,
        bytesSent: result?.bytesSent ?? 0,
        durationMs: Date.now() - start,
        upstreamServiceTimeMs: result?.upstreamServiceTimeMs,
        forwardedFor: req.headers["x-forwarded-for"] as string | undefined,
        userAgent: req.headers["user-agent"],
        requestId: headers["x-request-id"] as string | undefined,
        authority,
        upstreamHost: result?.upstreamHost,
      });
    }
  }

  private local(res: http.ServerResponse, reply: LocalReply, flags: Set<ResponseFlag>, decorate: (h: http.OutgoingHttpHeaders) => void): ForwardResult {
    if (reply.flag) flags.add(reply.flag);
    const h: http.OutgoingHttpHeaders = {};
    decorate(h);
    sendLocalReply(res, reply, h);
    return { status: reply.status, flags, bytesSent: reply.body.length, details: reply.details };
  }
}

const HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"]);
/** Bodies up to this size are buffered so the request can be retried (Envoy's per-request buffer limit). */
const RETRY_BUFFER_LIMIT = 64 * 1024;

/** The request body if small enough to buffer (empty Buffer for none), null when it must stream. */
function readBody(req: http.IncomingMessage): Promise<Buffer | null> {
  const len = req.headers["content-length"];
  const chunked = req.headers["transfer-encoding"] !== undefined;
  if (!chunked && (len === undefined || len === "0")) {
    req.resume();
    return Promise.resolve(Buffer.alloc(0));
  }
  if (chunked || Number(len) > RETRY_BUFFER_LIMIT) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.once("end", () => resolve(Buffer.concat(chunks)));
    req.once("error", reject);
  });
}
