// Envoy's router filter for HTTP/1.1 upstreams: picks a host, enforces circuit breakers, sends
// the request with Envoy's x-envoy-* headers, applies the route timeout and per-try timeout,
// retries as the retry policy says (retry_on conditions, jittered backoff, previous_hosts, the
// cluster's max_retries budget), and maps every failure to Envoy's local reply and response flag.
import type * as http from "node:http";
import { request as httpRequest } from "node:http";
import type { ResponseFlag } from "../access-log.js";
import type { Host } from "../upstream/host.js";
import type { UpstreamCluster } from "../upstream/cluster.js";
import { LOCAL_REPLIES, type LocalReply } from "./local-reply.js";

export interface RetryPlan {
  retryOn: ReadonlySet<string>;
  numRetries: number;
  perTryTimeoutMs: number;
  retriableStatusCodes: ReadonlySet<number>;
  previousHosts: boolean;
  hostSelectionRetryMaxAttempts: number;
  baseIntervalMs: number;
  maxIntervalMs: number;
}

export interface ForwardPlan {
  cluster: UpstreamCluster;
  method: string;
  /** Path (with query) sent upstream, after rewrites. */
  path: string;
  /** Host header sent upstream. */
  authority: string;
  headers: http.OutgoingHttpHeaders;
  /** Request body when buffered (retries possible); undefined when streamed. */
  body: Buffer | undefined;
  /** Streamed body source (no retries). */
  stream?: http.IncomingMessage;
  timeoutMs: number;
  retry?: RetryPlan;
  /** Route hash policy result (xxHash64, as Envoy), for RING_HASH and MAGLEV. */
  hash?: bigint;
  includeAttemptCount: boolean;
}

export interface ForwardResult {
  /** Status sent downstream (0 when the downstream went away first). */
  status: number;
  flags: Set<ResponseFlag>;
  upstreamHost?: string;
  upstreamServiceTimeMs?: number;
  bytesSent: number;
  details: string;
}

type AttemptOutcome =
  | { kind: "response"; res: http.IncomingMessage; host: Host }
  | { kind: "connect-failure"; host: Host; reason: string }
  | { kind: "reset"; host: Host }
  | { kind: "per-try-timeout"; host: Host };

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "proxy-authenticate", "proxy-authorization"]);

/** Response headers copied downstream (hop-by-hop removed). */
export function responseHeaders(res: http.IncomingMessage): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

function grpcStatusOf(res: http.IncomingMessage): number | undefined {
  const s = res.headers["grpc-status"];
  return typeof s === "string" ? Number(s) : undefined;
}

const GRPC_RETRY: Record<string, number> = { cancelled: 1, "deadline-exceeded": 4, internal: 13, "resource-exhausted": 8, unavailable: 14 };

/** Whether Envoy's retry_on conditions ask to retry this outcome. */
export function shouldRetry(plan: RetryPlan, o: AttemptOutcome): boolean {
  const on = plan.retryOn;
  switch (o.kind) {
    case "connect-failure":
      return on.has("connect-failure") || on.has("5xx") || on.has("gateway-error") || on.has("reset");
    case "reset":
      return on.has("reset") || on.has("5xx") || on.has("gateway-error");
    case "per-try-timeout":
      return on.has("5xx") || on.has("gateway-error") || on.has("reset");
    case "response": {
      const s = o.res.statusCode ?? 0;
      if (on.has("5xx") && s >= 500) return true;
      if (on.has("gateway-error") && (s === 502 || s === 503 || s === 504)) return true;
      if (on.has("retriable-4xx") && s === 409) return true;
      if (on.has("retriable-status-codes") && plan.retriableStatusCodes.has(s)) return true;
      const g = grpcStatusOf(o.res);
      if (g !== undefined) for (const [name, code] of Object.entries(GRPC_RETRY)) if (on.has(name) && g === code) return true;
      return false;
    }
  }
}

/** Envoy's jittered exponential backoff: uniform in [0, min(base·2^n, max)). */
function backoffMs(plan: RetryPlan, attempt: number): number {
  const ceiling = Math.min(plan.baseIntervalMs * 2 ** (attempt - 1), plan.maxIntervalMs);
  return Math.floor(Math.random() * ceiling);
}

export class Router {
  /**
   * Forwards one request and streams the response to `res`. Resolves when the downstream
   * response is complete (or abandoned).
   */
  async forward(plan: ForwardPlan, req: http.IncomingMessage, res: http.ServerResponse, decorate: (h: http.OutgoingHttpHeaders) => void): Promise<ForwardResult> {
    const cluster = plan.cluster;
    const flags = new Set<ResponseFlag>();
    const stats = cluster.stats;
    const started = performance.now();
    let downstreamGone = false;
    const onClose = () => {
      if (!res.writableFinished) downstreamGone = true;
    };
    res.once("close", onClose);

    if (cluster.activeRequests >= cluster.spec.thresholds.maxRequests) {
      stats.rqPendingOverflow.inc();
      return this.local(res, LOCAL_REPLIES.overflow(), flags);
    }
    stats.rqTotal.inc();
    cluster.activeRequests++;
    stats.rqActive.inc();
    const tried: Host[] = [];
    let globalTimer: NodeJS.Timeout | undefined;
    let timedOut = false;
    let inFlight: http.ClientRequest | undefined;
    const globalTimeout = new Promise<"timeout">((resolve) => {
      if (plan.timeoutMs > 0) {
        globalTimer = setTimeout(() => {
          timedOut = true;
          inFlight?.destroy();
          resolve("timeout");
        }, plan.timeoutMs);
      }
    });
    try {
      const maxAttempts = 1 + (plan.retry && plan.body !== undefined ? plan.retry.numRetries : 0);
      let last: AttemptOutcome | undefined;
      for (let attempt = 1; attempt <= maxAttempts; attempt++) {
        if (downstreamGone) {
          flags.add("DC");
          return { status: 0, flags, bytesSent: 0, details: "downstream_remote_disconnect" };
        }
        if (attempt > 1) {
          // The retry budget: max_retries concurrent retries across the cluster.
          if (cluster.activeRetries >= cluster.spec.thresholds.maxRetries) {
            stats.rqRetryOverflow.inc();
            break;
          }
          stats.rqRetry.inc();
          cluster.activeRetries++;
          const wait = backoffMs(plan.retry!, attempt - 1);
          const r = await Promise.race([new Promise<"ok">((ok) => setTimeout(() => ok("ok"), wait).unref()), globalTimeout]);
          cluster.activeRetries--;
          if (r === "timeout") break;
        }
        const host = this.pickHost(plan, tried);
        if (!host) {
          stats.cxNoneHealthy.inc();
          return this.local(res, LOCAL_REPLIES.noHealthyUpstream(), flags);
        }
        tried.push(host);
        const attemptPromise = this.attempt(plan, host, attempt, (r) => (inFlight = r));
        const outcome = await Promise.race([attemptPromise, globalTimeout]);
        if (outcome === "timeout") break;
        last = outcome;
        const retryable = plan.retry && attempt < maxAttempts && shouldRetry(plan.retry, outcome);
        if (outcome.kind === "response") {
          if (retryable) {
            outcome.res.resume(); // discard the body, free the connection
            continue;
          }
          if (attempt > 1) stats.rqRetrySuccess.inc();
          return await this.relay(plan, outcome, res, flags, started, decorate);
        }
        if (outcome.kind === "connect-failure") stats.cxConnectFail.inc();
        if (outcome.kind === "per-try-timeout") stats.rqPerTryTimeout.inc();
        if (!retryable) break;
      }
      if (timedOut) {
        stats.rqTimeout.inc();
        return this.local(res, LOCAL_REPLIES.timeout(), flags, tried.at(-1));
      }
      if (plan.retry && tried.length > 1 && last && last.kind !== "response") flags.add("URX");
      if (!last) return this.local(res, LOCAL_REPLIES.timeout(), flags, tried.at(-1));
      if (last.kind === "response") {
        if (tried.length > 1) flags.add("URX");
        return await this.relay(plan, last, res, flags, started, decorate);
      }
      if (last.kind === "connect-failure") return this.local(res, LOCAL_REPLIES.connectFailure(last.reason), flags, last.host);
      if (last.kind === "per-try-timeout") return this.local(res, LOCAL_REPLIES.timeout(), flags, last.host);
      return this.local(res, LOCAL_REPLIES.upstreamReset(), flags, last.host);
    } finally {
      if (globalTimer) clearTimeout(globalTimer);
      res.removeListener("close", onClose);
      cluster.activeRequests--;
      stats.rqActive.dec();
    }
  }

  private pickHost(plan: ForwardPlan, tried: Host[]): Host | undefined {
    const exclude = plan.retry?.previousHosts && tried.length > 0 ? (h: Host) => tried.includes(h) : undefined;
    const attempts = exclude ? Math.max(1, plan.retry!.hostSelectionRetryMaxAttempts) : 1;
    let host: Host | undefined;
    for (let i = 0; i < attempts; i++) {
      host = plan.cluster.pick({ hash: plan.hash });
      if (!host || !exclude || !exclude(host)) return host;
    }
    return host;
  }

  private attempt(plan: ForwardPlan, host: Host, attempt: number, track: (r: http.ClientRequest) => void): Promise<AttemptOutcome> {
    return new Promise((resolve) => {
      const headers: http.OutgoingHttpHeaders = { ...plan.headers, host: plan.authority };
      if (plan.timeoutMs > 0) headers["x-envoy-expected-rq-timeout-ms"] = String(plan.retry?.perTryTimeoutMs || plan.timeoutMs);
      if (plan.includeAttemptCount) headers["x-envoy-attempt-count"] = String(attempt);
      if (plan.body !== undefined) headers["content-length"] = String(plan.body.length);
      host.activeRequests++;
      let settled = false;
      let perTry: NodeJS.Timeout | undefined;
      let connectTimer: NodeJS.Timeout | undefined;
      const settle = (o: AttemptOutcome) => {
        if (settled) return;
        settled = true;
        if (perTry) clearTimeout(perTry);
        if (connectTimer) clearTimeout(connectTimer);
        if (o.kind !== "response") host.activeRequests--;
        else o.res.once("close", () => host.activeRequests--);
        resolve(o);
      };
      const req = httpRequest({ host: host.address, port: host.port, method: plan.method, path: plan.path, headers, agent: plan.cluster.agent });
      track(req);
      req.on("socket", (s) => {
        if (!s.connecting) return;
        connectTimer = setTimeout(() => {
          settle({ kind: "connect-failure", host, reason: "delayed connect error: timeout" });
          req.destroy();
        }, plan.cluster.spec.connectTimeoutMs);
        s.once("connect", () => connectTimer && clearTimeout(connectTimer));
      });
      req.on("response", (r) => settle({ kind: "response", res: r, host }));
      req.on("error", (err: NodeJS.ErrnoException) => {
        const connect = err.code === "ECONNREFUSED" || err.code === "EHOSTUNREACH" || err.code === "ENETUNREACH" || err.code === "EADDRNOTAVAIL";
        if (connect) settle({ kind: "connect-failure", host, reason: `delayed connect error: ${err.code === "ECONNREFUSED" ? 111 : err.code}` });
        else settle({ kind: "reset", host });
      });
      if (plan.retry && plan.retry.perTryTimeoutMs > 0) {
        perTry = setTimeout(() => {
          settle({ kind: "per-try-timeout", host });
          req.destroy();
        }, plan.retry.perTryTimeoutMs);
      }
      if (plan.body !== undefined) req.end(plan.body);
      else if (plan.stream) plan.stream.pipe(req);
      else req.end();
    });
  }

  private relay(
    plan: ForwardPlan,
    o: Extract<AttemptOutcome, { kind: "response" }>,
    res: http.ServerResponse,
    flags: Set<ResponseFlag>,
    started: number,
    decorate: (h: http.OutgoingHttpHeaders) => void,
  ): Promise<ForwardResult> {
    const status = o.res.statusCode ?? 502;
    plan.cluster.stats.response(status);
    const headers = responseHeaders(o.res);
    const serviceTime = Math.round(performance.now() - started);
    headers["x-envoy-upstream-service-time"] = String(serviceTime);
    decorate(headers);
    let bytes = 0;
    return new Promise((resolve) => {
      if (res.destroyed) {
        o.res.destroy();
        flags.add("DC");
        return resolve({ status: 0, flags, bytesSent: 0, upstreamHost: o.host.key, details: "downstream_remote_disconnect" });
      }
      res.writeHead(status, headers);
      o.res.on("data", (c: Buffer) => (bytes += c.length));
      o.res.pipe(res);
      const finish = (extra?: ResponseFlag) => {
        if (extra) flags.add(extra);
        resolve({ status, flags, upstreamHost: o.host.key, upstreamServiceTimeMs: serviceTime, bytesSent: bytes, details: "via_upstream" });
      };
      res.once("finish", () => finish());
      res.once("close", () => {
        if (!res.writableFinished) {
          o.res.destroy();
          finish("DC");
        }
      });
      o.res.once("aborted", () => {
        res.destroy();
        finish("UC");
      });
    });
  }

  private local(res: http.ServerResponse, reply: LocalReply, flags: Set<ResponseFlag>, host?: Host): ForwardResult {
    if (reply.flag) flags.add(reply.flag);
    sendLocalReply(res, reply);
    return { status: reply.status, flags, bytesSent: reply.body.length, details: reply.details, upstreamHost: host?.key };
  }
}

/** Writes a local reply (text/plain, as Envoy) unless the response already started. */
export function sendLocalReply(res: http.ServerResponse, reply: LocalReply, extra: http.OutgoingHttpHeaders = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: http.OutgoingHttpHeaders = { ...extra, "content-length": String(Buffer.byteLength(reply.body)) };
  if (reply.body) headers["content-type"] = "text/plain";
  res.writeHead(reply.status, headers);
  res.end(reply.body);
}
