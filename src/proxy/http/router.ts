// Envoy's router filter: picks a host, enforces circuit breakers, sends the request upstream over
// HTTP/1.1 (the cluster's keep-alive agent) or HTTP/2 (the cluster's session pool) with Envoy's
// x-envoy-* headers, applies the route timeout and per-try timeout, retries as the retry policy
// says (retry_on conditions incl. gRPC codes read from trailers-only responses, jittered backoff,
// previous_hosts, the cluster's max_retries budget; the request body is replayed from a bounded
// buffer while it is streamed), relays the response with trailers, tunnels upgrades, and maps
// every failure to Envoy's local reply and response flag. Protocol-neutral on both sides: the
// downstream is a `Downstream` (HTTP/1.1 response or HTTP/2 stream).
import { EventEmitter } from "node:events";
import * as http from "node:http";
import * as http2 from "node:http2";
import type * as net from "node:net";
import type { Readable, Writable } from "node:stream";
import type { ResponseFlag } from "../access-log.js";
import type { Host } from "../upstream/host.js";
import type { RequestPermit, UpstreamCluster, UpstreamOutcome } from "../upstream/cluster.js";
import { grpcToHttpStatus } from "../upstream/outlier.js";
import { H2ConnectError, h2PoolFor } from "../upstream/pool-h2.js";
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

export type DownstreamProtocol = "HTTP/1.0" | "HTTP/1.1" | "HTTP/2";

/** A local reply, optionally with the gRPC status to answer a gRPC request with. */
export type Reply = LocalReply & { grpcStatus?: number };

/**
 * The downstream side of one stream, whatever the protocol. Emits "drain" (writable again) and
 * "gone" (the client went away or reset the stream before the response finished).
 */
export abstract class Downstream extends EventEmitter {
  abstract readonly protocol: DownstreamProtocol;
  abstract readonly headersSent: boolean;
  /** The client went away before the response finished. */
  abstract readonly gone: boolean;
  /** Sends the response head; endStream: nothing follows (HTTP/2: a trailers-only response). */
  abstract respond(status: number, headers: http.OutgoingHttpHeaders, endStream: boolean): void;
  /** Writes body bytes; false asks the caller to wait for "drain". */
  abstract write(chunk: Buffer): boolean;
  /** Ends the response, with trailers where the protocol carries them. */
  abstract end(trailers?: http.IncomingHttpHeaders): void;
  /** Abandons the response (HTTP/1: closes the connection; HTTP/2: RST_STREAM). */
  abstract reset(): void;
  /** HTTP/1.1 upgrades: after a 101 the bytes flow both ways; resolves with bytes sent downstream. */
  tunnel?(upstream: net.Socket, upstreamHead: Buffer): Promise<number>;
}

/**
 * The request body: streamed upstream as it arrives, and kept (up to `limit` bytes) so a retry can
 * replay it — Envoy's retry buffer. Once it outgrows the limit it can only be sent once.
 */
export class RequestBody {
  private chunks: Buffer[] = [];
  private size = 0;
  private sink: Writable | undefined;
  private delivered = false;
  /** Bytes received from downstream. */
  received = 0;
  ended: boolean;
  /** Whether the whole body can still be sent again (it fit the buffer). */
  replayable = true;
  private readonly endWaiters: Array<() => void> = [];

  constructor(
    private readonly src: Readable | undefined,
    private readonly limit: number,
    private readonly onActivity: () => void = () => {},
  ) {
    this.ended = !src;
    if (!src) return;
    src.on("data", (c: Buffer) => this.onData(c));
    src.once("end", () => {
      this.ended = true;
      this.sink?.end();
      for (const w of this.endWaiters.splice(0)) w();
    });
    src.on("error", () => {});
  }

  /** A body that is known to be empty (no DATA / no content). */
  static empty(): RequestBody {
    return new RequestBody(undefined, 0);
  }

  /** Resolves when the downstream finished sending the body. */
  whenEnded(): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((r) => this.endWaiters.push(r));
  }

  private onData(c: Buffer): void {
    this.received += c.length;
    this.onActivity();
    if (this.replayable || !this.sink) {
      this.chunks.push(c);
      this.size += c.length;
      if (this.size > this.limit && this.replayable) {
        this.replayable = false;
        if (this.sink) this.dropDelivered();
      }
    }
    if (this.sink) {
      if (!this.sink.write(c)) {
        this.src!.pause();
        this.sink.once("drain", () => this.src!.resume());
      }
    } else if (!this.replayable) {
      this.src!.pause(); // nobody to send to yet: do not buffer beyond the limit
    }
  }

  private dropDelivered(): void {
    this.chunks = [];
    this.size = 0;
  }

  /** The whole body once it ended, if it fit the buffer (request mirroring sends a copy). */
  buffered(): Buffer | undefined {
    return this.ended && this.replayable ? Buffer.concat(this.chunks) : undefined;
  }

  /** Whether `attach` may be called (again). */
  get canSend(): boolean {
    return !this.delivered || this.replayable;
  }

  /** Sends the body (buffered part first, then live) to an upstream request. */
  attach(sink: Writable): void {
    this.delivered = true;
    this.sink = sink;
    sink.on("error", () => {});
    for (const c of this.chunks) sink.write(c);
    if (!this.replayable) this.dropDelivered();
    if (this.ended) sink.end();
    else this.src?.resume();
  }

  /** The attempt that owned the sink is over. */
  detach(sink: Writable): void {
    if (this.sink === sink) this.sink = undefined;
  }
}

export interface ForwardPlan {
  cluster: UpstreamCluster;
  method: string;
  /** Path (with query) sent upstream, after rewrites. */
  path: string;
  /** Host / :authority sent upstream. */
  authority: string;
  scheme: string;
  /** Request headers (lowercase, no pseudo-headers, no hop-by-hop). */
  headers: http.OutgoingHttpHeaders;
  body: RequestBody;
  timeoutMs: number;
  retry?: RetryPlan;
  /** Route hash policy result (xxHash64, as Envoy), for RING_HASH and MAGLEV. */
  hash?: bigint;
  includeAttemptCount: boolean;
  downstreamProtocol: DownstreamProtocol;
  /** A gRPC request (content-type application/grpc): local replies become gRPC statuses. */
  grpc: boolean;
  /** An allowed HTTP/1.1 upgrade: the Upgrade header value sent upstream (e.g. "websocket"). */
  upgrade?: string;
}

export interface ForwardResult {
  /** Status sent downstream (0 when the downstream went away first). */
  status: number;
  flags: Set<ResponseFlag>;
  upstreamHost?: string;
  upstreamServiceTimeMs?: number;
  bytesSent: number;
  details: string;
  grpcStatus?: number;
}

/** An upstream response head and its body, whatever the upstream protocol. */
export interface UpstreamResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Nothing follows the headers (HTTP/2 END_STREAM on HEADERS: trailers-only / headers-only). */
  endStream: boolean;
  body: Readable;
  trailers(): http.IncomingHttpHeaders | undefined;
  abort(): void;
  /** Called once if the response breaks off before its end (UC: connection, UR: stream reset). */
  onReset(cb: (flag: ResponseFlag) => void): void;
  upgrade?: { socket: net.Socket; head: Buffer };
}

export type AttemptOutcome =
  | { kind: "response"; res: UpstreamResponse; host: Host }
  | { kind: "connect-failure"; host: Host; reason: string }
  | { kind: "reset"; host: Host; refused?: boolean }
  | { kind: "per-try-timeout"; host: Host };

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "proxy-authenticate", "proxy-authorization", "http2-settings"]);

/** Response headers copied downstream (hop-by-hop and pseudo-headers removed). */
export function responseHeaders(h: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const k in h) {
    const v = h[k];
    if (v !== undefined && k[0] !== ":" && !HOP_BY_HOP.has(k)) out[k] = v;
  }
  return out;
}

function grpcStatusOf(h: http.IncomingHttpHeaders | undefined): number | undefined {
  const s = h?.["grpc-status"];
  return typeof s === "string" && s !== "" ? Number(s) : undefined;
}

const GRPC_RETRY: Record<string, number> = { cancelled: 1, "deadline-exceeded": 4, internal: 13, "resource-exhausted": 8, unavailable: 14 };

/** Envoy's HTTP → gRPC status mapping for local replies. */
export function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400:
      return 13;
    case 401:
      return 16;
    case 403:
      return 7;
    case 404:
      return 12;
    case 429:
    case 502:
    case 503:
    case 504:
      return 14;
    default:
      return 2;
  }
}

/** Whether Envoy's retry_on conditions ask to retry this outcome. */
export function shouldRetry(plan: RetryPlan, o: AttemptOutcome): boolean {
  const on = plan.retryOn;
  switch (o.kind) {
    case "connect-failure":
      return on.has("connect-failure") || on.has("5xx") || on.has("gateway-error") || on.has("reset") || on.has("reset-before-request");
    case "reset":
      return on.has("reset") || on.has("reset-before-request") || on.has("5xx") || on.has("gateway-error") || (!!o.refused && on.has("refused-stream"));
    case "per-try-timeout":
      return on.has("5xx") || on.has("gateway-error") || on.has("reset");
    case "response": {
      const s = o.res.status;
      if (on.has("5xx") && s >= 500) return true;
      if (on.has("gateway-error") && (s === 502 || s === 503 || s === 504)) return true;
      if (on.has("retriable-4xx") && s === 409) return true;
      if (on.has("retriable-status-codes") && plan.retriableStatusCodes.has(s)) return true;
      const g = grpcStatusOf(o.res.headers);
      if (g !== undefined) for (const name in GRPC_RETRY) if (on.has(name) && g === GRPC_RETRY[name]) return true;
      return false;
    }
  }
}

/** Envoy's jittered exponential backoff: uniform in [0, min(base·2^n, max)). */
function backoffMs(plan: RetryPlan, attempt: number): number {
  const ceiling = Math.min(plan.baseIntervalMs * 2 ** (attempt - 1), plan.maxIntervalMs);
  return Math.floor(Math.random() * ceiling);
}

/** One try's result for the cluster's per-host stats and outlier detection (gRPC: grpc-status mapped to HTTP). */
function report(cluster: UpstreamCluster, o: AttemptOutcome): void {
  let outcome: UpstreamOutcome;
  if (o.kind === "response") {
    const g = grpcStatusOf(o.res.headers);
    outcome = { kind: "response", status: g !== undefined ? grpcToHttpStatus(g) : o.res.status };
  } else if (o.kind === "per-try-timeout") outcome = { kind: "timeout" };
  else outcome = { kind: o.kind };
  cluster.reportResult(o.host, outcome);
}

/** Why the router stopped waiting: route timeout, the client left, or the HCM aborted (stream timers). */
type Stop = { kind: "timeout" } | { kind: "gone" } | { kind: "abort"; reply: Reply };

interface Attempt {
  promise: Promise<AttemptOutcome>;
  cancel(): void;
}

// DNS failures (ORIGINAL_DST to a name) are connection failures too, as in Envoy.
const CONNECT_ERRORS = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN"]);

/** Whether this request goes upstream over HTTP/2. */
export function upstreamIsH2(cluster: UpstreamCluster, downstream: DownstreamProtocol, upgrade: string | undefined): boolean {
  if (upgrade) return false;
  const p = cluster.spec.upstreamProtocol;
  return p === "http2" || (p === "downstream" && downstream === "HTTP/2");
}

export class Router {
  /**
   * Forwards one request and streams the response to the downstream. Resolves when the downstream
   * response is complete (or abandoned). `signal` aborts with a Reply as its reason (HCM timers).
   */
  async forward(plan: ForwardPlan, ds: Downstream, decorate: (h: http.OutgoingHttpHeaders) => void, signal?: AbortSignal): Promise<ForwardResult> {
    const cluster = plan.cluster;
    const flags = new Set<ResponseFlag>();
    const stats = cluster.stats;
    const started = performance.now();

    let stopped: Stop | undefined;
    let onStop: (s: Stop) => void = () => {};
    const stop = new Promise<Stop>((resolve) => {
      onStop = (s) => {
        if (stopped) return;
        stopped = s;
        resolve(s);
      };
    });
    const globalTimer = plan.timeoutMs > 0 ? setTimeout(() => onStop({ kind: "timeout" }), plan.timeoutMs) : undefined;
    const onGone = () => onStop({ kind: "gone" });
    ds.once("gone", onGone);
    if (ds.gone) onGone();
    const onAbort = () => onStop({ kind: "abort", reply: signal!.reason as Reply });
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();

    const tried: Host[] = [];
    try {
      const maxAttempts = 1 + (plan.retry ? plan.retry.numRetries : 0);
      let last: AttemptOutcome | undefined;
      for (let attempt = 1; attempt <= maxAttempts && !stopped; attempt++) {
        if (attempt > 1) {
          if (!plan.body.canSend) break; // the body outgrew the retry buffer
          // The retry budget: max_retries concurrent retries across the cluster (held during the backoff).
          if (!cluster.acquireRetry()) break;
          stats.rqRetry.inc();
          const wait = backoffMs(plan.retry!, attempt - 1);
          let t: NodeJS.Timeout | undefined;
          await Promise.race([new Promise<void>((ok) => (t = setTimeout(ok, wait))), stop]);
          clearTimeout(t);
          cluster.releaseRetry();
          if (stopped) break;
        }
        const host = this.pickHost(plan, tried);
        if (!host) {
          stats.cxNoneHealthy.inc();
          return this.local(ds, plan, LOCAL_REPLIES.noHealthyUpstream(), flags);
        }
        tried.push(host);
        const h2 = upstreamIsH2(cluster, plan.downstreamProtocol, plan.upgrade);
        // Circuit breakers: max_requests, and for HTTP/1.1 a connection slot (else the pending queue).
        const adm = cluster.acquire(host, { multiplexed: h2 });
        let permit: RequestPermit | undefined;
        if (adm.ok && adm.pending) {
          const granted = await Promise.race([adm.granted, stop]);
          if (stopped) {
            adm.cancel();
            break;
          }
          if ("ok" in granted && granted.ok) permit = granted;
        } else if (adm.ok) permit = adm;
        if (!permit) return this.local(ds, plan, LOCAL_REPLIES.overflow(), flags, host);
        const att = h2 ? this.attemptH2(plan, host, attempt, permit) : this.attemptH1(plan, host, attempt, permit);
        const outcome = await Promise.race([att.promise, stop]);
        if (stopped) {
          att.cancel();
          if ((stopped as Stop).kind === "timeout") cluster.reportResult(host, { kind: "timeout" });
          void att.promise.then((o) => o.kind === "response" && o.res.abort());
          break;
        }
        const o = outcome as AttemptOutcome;
        report(cluster, o);
        last = o;
        const retryable = !!plan.retry && attempt < maxAttempts && shouldRetry(plan.retry, o) && plan.body.canSend;
        if (o.kind === "response") {
          if (retryable) {
            o.res.abort(); // discard the body, free the stream
            continue;
          }
          if (attempt > 1) stats.rqRetrySuccess.inc();
          if (tried.length > 1) flags.add("URX");
          return await this.relay(plan, o, ds, flags, started, decorate, stop, () => stopped);
        }
        if (o.kind === "connect-failure") stats.cxConnectFail.inc();
        if (o.kind === "per-try-timeout") stats.rqPerTryTimeout.inc();
        if (!retryable) break;
      }
      const s = stopped as Stop | undefined;
      if (s?.kind === "gone") {
        flags.add("DC");
        return { status: 0, flags, bytesSent: 0, details: "downstream_remote_disconnect", upstreamHost: tried.at(-1)?.key };
      }
      if (s?.kind === "abort") return this.local(ds, plan, s.reply, flags, tried.at(-1));
      if (s?.kind === "timeout") {
        stats.rqTimeout.inc();
        return this.local(ds, plan, LOCAL_REPLIES.timeout(), flags, tried.at(-1));
      }
      if (plan.retry && tried.length > 1 && last && last.kind !== "response") flags.add("URX");
      if (!last) return this.local(ds, plan, LOCAL_REPLIES.timeout(), flags, tried.at(-1));
      if (last.kind === "connect-failure") return this.local(ds, plan, LOCAL_REPLIES.connectFailure(last.reason), flags, last.host);
      if (last.kind === "per-try-timeout") return this.local(ds, plan, LOCAL_REPLIES.timeout(), flags, last.host);
      if (last.kind === "reset") return this.local(ds, plan, LOCAL_REPLIES.upstreamReset(), flags, last.host);
      return this.local(ds, plan, LOCAL_REPLIES.upstreamReset(), flags, last.host);
    } finally {
      if (globalTimer) clearTimeout(globalTimer);
      ds.removeListener("gone", onGone);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  private pickHost(plan: ForwardPlan, tried: Host[]): Host | undefined {
    if (plan.cluster.spec.type === "ORIGINAL_DST") {
      const header = plan.headers["x-envoy-original-dst-host"];
      return plan.cluster.originalDestination(plan.authority, typeof header === "string" ? header : undefined);
    }
    const exclude = plan.retry?.previousHosts && tried.length > 0 ? (h: Host) => tried.includes(h) : undefined;
    const attempts = exclude ? Math.max(1, plan.retry!.hostSelectionRetryMaxAttempts) : 1;
    let host: Host | undefined;
    for (let i = 0; i < attempts; i++) {
      host = plan.cluster.pick({ hash: plan.hash });
      if (!host || !exclude || !exclude(host)) return host;
    }
    return host;
  }

  /** x-envoy-* headers every attempt carries. */
  private attemptHeaders(plan: ForwardPlan, attempt: number, into: http.OutgoingHttpHeaders): void {
    if (plan.timeoutMs > 0) into["x-envoy-expected-rq-timeout-ms"] = String(plan.retry?.perTryTimeoutMs || plan.timeoutMs);
    if (plan.includeAttemptCount) into["x-envoy-attempt-count"] = String(attempt);
  }

  /** Common settle/timer bookkeeping of one attempt. */
  private settler(plan: ForwardPlan, host: Host, permit: RequestPermit, resolve: (o: AttemptOutcome) => void, kill: () => void) {
    let settled = false;
    let perTry: NodeJS.Timeout | undefined;
    const settle = (o: AttemptOutcome) => {
      if (settled) return;
      settled = true;
      if (perTry) clearTimeout(perTry);
      if (o.kind !== "response") permit.release();
      resolve(o);
    };
    if (plan.retry && plan.retry.perTryTimeoutMs > 0) {
      perTry = setTimeout(() => {
        settle({ kind: "per-try-timeout", host });
        kill();
      }, plan.retry.perTryTimeoutMs);
    }
    return { settle, settled: () => settled };
  }

  private attemptH1(plan: ForwardPlan, host: Host, attempt: number, permit: RequestPermit): Attempt {
    let req: http.ClientRequest | undefined;
    let cancelled = false;
    const kill = () => {
      cancelled = true;
      req?.destroy();
    };
    const promise = new Promise<AttemptOutcome>((resolve) => {
      const headers: http.OutgoingHttpHeaders = {};
      for (const k in plan.headers) if (k !== "te") headers[k] = plan.headers[k];
      headers.host = plan.authority;
      this.attemptHeaders(plan, attempt, headers);
      if (plan.upgrade) {
        headers.connection = "Upgrade";
        headers.upgrade = plan.upgrade;
      }
      const { settle } = this.settler(plan, host, permit, resolve, kill);
      let connectTimer: NodeJS.Timeout | undefined;
      const r = http.request({ host: host.address, port: host.port, method: plan.method, path: plan.path, headers, agent: plan.cluster.agent, setHost: false });
      req = r;
      r.on("socket", (s) => {
        if (!s.connecting) return;
        connectTimer = setTimeout(() => {
          settle({ kind: "connect-failure", host, reason: "delayed connect error: timeout" });
          r.destroy();
        }, plan.cluster.spec.connectTimeoutMs);
        s.once("connect", () => clearTimeout(connectTimer));
      });
      const wrap = (res: http.IncomingMessage, upgrade?: { socket: net.Socket; head: Buffer }): UpstreamResponse => {
        let done = false;
        res.once("end", () => (done = true));
        const released = () => permit.release();
        if (upgrade) upgrade.socket.once("close", released);
        else res.once("close", released);
        return {
          status: res.statusCode ?? 502,
          headers: res.headers,
          endStream: false,
          body: res,
          trailers: () => res.trailers,
          abort: () => {
            res.destroy();
            r.destroy();
            upgrade?.socket.destroy();
          },
          onReset: (cb) => {
            res.once("close", () => {
              if (!done && !res.complete) cb("UC");
            });
          },
          upgrade,
        };
      };
      r.on("response", (res) => {
        clearTimeout(connectTimer);
        settle({ kind: "response", res: wrap(res), host });
      });
      r.on("upgrade", (res, socket: net.Socket, head: Buffer) => {
        clearTimeout(connectTimer);
        settle({ kind: "response", res: wrap(res, { socket, head }), host });
      });
      r.on("error", (err: NodeJS.ErrnoException) => {
        clearTimeout(connectTimer);
        if (cancelled) settle({ kind: "reset", host });
        else if (err.code && CONNECT_ERRORS.has(err.code)) settle({ kind: "connect-failure", host, reason: `delayed connect error: ${err.code === "ECONNREFUSED" ? 111 : err.code}` });
        else settle({ kind: "reset", host });
      });
      r.once("close", () => {
        clearTimeout(connectTimer);
        plan.body.detach(r);
        settle({ kind: "reset", host });
      });
      if (plan.body.ended && plan.body.received === 0) r.end();
      else plan.body.attach(r);
    });
    return { promise, cancel: kill };
  }

  private attemptH2(plan: ForwardPlan, host: Host, attempt: number, permit: RequestPermit): Attempt {
    let stream: http2.ClientHttp2Stream | undefined;
    let cancelled = false;
    const kill = () => {
      cancelled = true;
      if (stream && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
    };
    const promise = new Promise<AttemptOutcome>((resolve) => {
      const headers: http2.OutgoingHttpHeaders = { ":method": plan.method, ":path": plan.path, ":authority": plan.authority, ":scheme": plan.scheme };
      for (const k in plan.headers) {
        if (k === "host") continue;
        const v = plan.headers[k];
        if (k === "te" && String(v).toLowerCase() !== "trailers") continue;
        headers[k] = v;
      }
      this.attemptHeaders(plan, attempt, headers);
      const { settle, settled } = this.settler(plan, host, permit, resolve, kill);
      const empty = plan.body.ended && plan.body.received === 0;
      h2PoolFor(plan.cluster)
        .request(host, headers, empty)
        .then(
          (s) => {
            stream = s;
            if (settled() || cancelled) {
              s.close(http2.constants.NGHTTP2_CANCEL);
              settle({ kind: "reset", host });
              return;
            }
            let trailers: http.IncomingHttpHeaders | undefined;
            let ended = false;
            s.on("trailers", (t: http.IncomingHttpHeaders) => (trailers = t));
            s.once("end", () => (ended = true));
            s.on("error", () => {});
            s.on("response", (h: http.IncomingHttpHeaders & http2.IncomingHttpStatusHeader, flags: number) => {
              s.once("close", () => permit.release());
              const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
              settle({
                kind: "response",
                host,
                res: {
                  status: Number(h[":status"] ?? 502),
                  headers: h,
                  endStream,
                  body: s,
                  trailers: () => trailers,
                  abort: () => {
                    if (!s.destroyed) s.close(http2.constants.NGHTTP2_CANCEL);
                  },
                  onReset: (cb) => {
                    s.once("close", () => {
                      if (!ended && !endStream) cb(s.rstCode === http2.constants.NGHTTP2_NO_ERROR ? "UC" : "UR");
                    });
                  },
                },
              });
              if (endStream) s.resume();
            });
            s.once("close", () => {
              plan.body.detach(s);
              const refused = s.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM;
              settle({ kind: "reset", host, refused });
            });
            if (!empty) plan.body.attach(s);
          },
          (err: Error) => {
            settle(err instanceof H2ConnectError && err.reason.startsWith("delayed connect error") ? { kind: "connect-failure", host, reason: err.reason } : { kind: "reset", host });
          },
        );
    });
    return { promise, cancel: kill };
  }

  private relay(
    plan: ForwardPlan,
    o: Extract<AttemptOutcome, { kind: "response" }>,
    ds: Downstream,
    flags: Set<ResponseFlag>,
    started: number,
    decorate: (h: http.OutgoingHttpHeaders) => void,
    stop: Promise<Stop>,
    isStopped: () => Stop | undefined,
  ): Promise<ForwardResult> {
    const up = o.res;
    const status = up.status;
    plan.cluster.stats.response(status);
    const headers = responseHeaders(up.headers);
    const serviceTime = Math.round(performance.now() - started);
    headers["x-envoy-upstream-service-time"] = String(serviceTime);
    decorate(headers);
    const base = { status, flags, upstreamHost: o.host.key, upstreamServiceTimeMs: serviceTime, details: "via_upstream" };
    if (ds.gone || isStopped()?.kind === "gone") {
      up.abort();
      flags.add("DC");
      return Promise.resolve({ ...base, status: 0, bytesSent: 0, details: "downstream_remote_disconnect" });
    }
    if (up.upgrade && status === 101 && ds.tunnel) {
      ds.respond(101, { ...headers, connection: "Upgrade", upgrade: String(up.headers.upgrade ?? plan.upgrade) }, false);
      return ds.tunnel(up.upgrade.socket, up.upgrade.head).then((bytes) => ({ ...base, bytesSent: bytes }));
    }
    if (up.endStream) {
      ds.respond(status, headers, true);
      return Promise.resolve({ ...base, bytesSent: 0, grpcStatus: grpcStatusOf(up.headers) });
    }
    ds.respond(status, headers, false);
    let bytes = 0;
    return new Promise((resolve) => {
      let finished = false;
      const finish = (extra?: ResponseFlag) => {
        if (finished) return;
        finished = true;
        if (extra) flags.add(extra);
        ds.removeListener("drain", onDrain);
        resolve({ ...base, bytesSent: bytes, grpcStatus: grpcStatusOf(up.trailers()) ?? grpcStatusOf(up.headers) });
      };
      const onDrain = () => up.body.resume();
      ds.on("drain", onDrain);
      up.body.on("data", (c: Buffer) => {
        bytes += c.length;
        if (!ds.write(c)) up.body.pause();
      });
      up.body.once("end", () => {
        ds.end(up.trailers());
        finish();
      });
      up.onReset((flag) => {
        if (finished) return;
        ds.reset();
        finish(flag);
      });
      void stop.then((s) => {
        if (finished) return;
        up.abort();
        if (s.kind === "gone") return finish("DC");
        ds.reset();
        if (s.kind === "timeout") {
          plan.cluster.stats.rqTimeout.inc();
          return finish("UT");
        }
        finish(s.reply.flag);
      });
    });
  }

  private local(ds: Downstream, plan: ForwardPlan, reply: Reply, flags: Set<ResponseFlag>, host?: Host): ForwardResult {
    if (reply.flag) flags.add(reply.flag);
    const r = sendLocalReply(ds, reply, {}, plan.grpc);
    return { status: r.status, flags, bytesSent: r.bytes, details: reply.details, upstreamHost: host?.key, grpcStatus: r.grpcStatus };
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
export function sendLocalReply(ds: Downstream, reply: Reply, extra: http.OutgoingHttpHeaders = {}, grpc = false): { status: number; bytes: number; grpcStatus?: number } {
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
  const headers: http.OutgoingHttpHeaders = { ...extra, "content-length": String(Buffer.byteLength(reply.body)) };
  if (reply.body) headers["content-type"] = "text/plain";
  if (!reply.body) {
    ds.respond(reply.status, headers, true);
    return { status: reply.status, bytes: 0 };
  }
  ds.respond(reply.status, headers, false);
  ds.write(Buffer.from(reply.body));
  ds.end();
  return { status: reply.status, bytes: Buffer.byteLength(reply.body) };
}
