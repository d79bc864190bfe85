// One upstream try of a forwarded request, whatever the upstream protocol: what the router hands
// an attempt (the plan), what the attempt reports back (its outcome: a response, a connect
// failure, a reset, a per-try timeout), the response it relays, and the per-try bookkeeping both
// protocols share (the per-try timeout, Envoy's x-envoy-* request headers).
import type * as http from "node:http";
import type * as net from "node:net";
import type { RequestPermit, UpstreamCluster } from "../upstream/cluster.js";
import type { Host } from "../upstream/host.js";
import { TimerEntry, timerList } from "../../core/timers.js";
import type { ResponseFlag } from "../access-log.js";
import type { DownstreamProtocol, RequestBody } from "./downstream.js";
import type { RetryPlan } from "./retry-state.js";
import type { TrySpan, TrySpans } from "./try-spans.js";

export interface ForwardPlan {
  cluster: UpstreamCluster;
  method: string;
  /** Path (with query) sent upstream, after rewrites. */
  path: string;
  /** Host / :authority sent upstream. */
  authority: string;
  scheme: string;
  /** Request headers (lowercase, no pseudo-headers, no hop-by-hop). Never modified by the router. */
  headers: http.OutgoingHttpHeaders;
  body: RequestBody;
  timeoutMs: number;
  retry?: RetryPlan;
  /** Route hash policy result (xxHash64, as Envoy), for RING_HASH and MAGLEV. */
  hash?: bigint;
  includeAttemptCount: boolean;
  /** The router's suppress_envoy_headers: no x-envoy-expected-rq-timeout-ms, upstream-service-time or overloaded. */
  suppressEnvoyHeaders: boolean;
  downstreamProtocol: DownstreamProtocol;
  /** A gRPC request (content-type application/grpc): local replies become gRPC statuses. */
  grpc: boolean;
  /** An allowed HTTP/1.1 upgrade: the Upgrade header value sent upstream (e.g. "websocket"). */
  upgrade?: string;
  /** One span per try (spawn_upstream_span / start_child_span); absent: `headers` carry the parent's context. */
  tries?: TrySpans;
}

/** Receives an upstream response body (see UpstreamResponse.pipe). */
export interface ResponseSink {
  /** A body chunk; false asks the source to pause until `resume()`. */
  data(chunk: Buffer): boolean;
  /** The body is complete (trailers, if any, are in `trailers()` now). */
  end(): void;
  /** The response broke off before its end (UC: connection, UR: stream reset). */
  reset(flag: ResponseFlag): void;
}

/** An upstream response head and its body, whatever the upstream protocol. */
export interface UpstreamResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** `headers` holds no hop-by-hop or pseudo-header: it is relayed (and decorated) as is, not copied. */
  readonly endToEnd?: boolean;
  /** Nothing follows the headers (HTTP/2 END_STREAM on HEADERS: trailers-only / headers-only). */
  endStream: boolean;
  /** Starts delivering the body (once); chunks that arrived before are delivered first, synchronously. */
  pipe(sink: ResponseSink): void;
  /** Resumes a paused body (after `sink.data` returned false). */
  resume(): void;
  trailers(): http.IncomingHttpHeaders | undefined;
  /** Discards the response (and its connection or stream). */
  abort(): void;
  upgrade?: { socket: net.Socket; head: Buffer };
  /** The upstream connection's socket (its local address is logged; read only when the stream is). */
  readonly connectionSocket?: net.Socket;
}

export type AttemptOutcome =
  | { kind: "response"; res: UpstreamResponse; host: Host }
  | { kind: "connect-failure"; host: Host; reason: string }
  | { kind: "reset"; host: Host; refused?: boolean }
  /** The upstream answered something that is not HTTP (Envoy's reset reason protocol_error). */
  | { kind: "protocol-error"; host: Host }
  | { kind: "per-try-timeout"; host: Host };

/** One try on the wire; the outcome callback runs exactly once. */
export interface Attempt {
  cancel(): void;
}

/** What an attempt needs to know (the Forward passes itself). */
export interface AttemptContext {
  readonly plan: ForwardPlan;
  /** 1-based try number. */
  readonly attempt: number;
  /** The try's span, whose context this try's request carries. */
  readonly trySpan: TrySpan | undefined;
}

// DNS failures (ORIGINAL_DST to a name) are connection failures too, as in Envoy.
export const CONNECT_ERRORS: ReadonlySet<string> = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN"]);


/** Whether this request goes upstream over HTTP/2. */
export function upstreamIsH2(cluster: UpstreamCluster, downstream: DownstreamProtocol, upgrade: string | undefined): boolean {
  if (upgrade) return false;
  const p = cluster.spec.upstreamProtocol;
  return p === "http2" || (p === "downstream" && downstream === "HTTP/2");
}


/** Attempt implementations (HTTP/1.1 pool, HTTP/2 pool); the router picks one per try. */
export type AttemptFn = (ctx: AttemptContext, host: Host, permit: RequestPermit, done: (o: AttemptOutcome) => void) => Attempt;

const NO_TRY_HEADERS: ReadonlyArray<readonly [string, string]> = [];

/**
 * The headers a try sets, in order: Envoy's x-envoy-* (the timeout it is given, the attempt count)
 * and its span's trace context.
 */
export function tryHeaders(ctx: AttemptContext): ReadonlyArray<readonly [string, string]> {
  const plan = ctx.plan;
  const timeout = plan.timeoutMs > 0 && !plan.suppressEnvoyHeaders;
  const trace = ctx.trySpan?.headers;
  if (!timeout && !plan.includeAttemptCount) return trace ?? NO_TRY_HEADERS;
  const out: Array<readonly [string, string]> = [];
  if (timeout) out.push(["x-envoy-expected-rq-timeout-ms", String(plan.retry?.perTryTimeoutMs || plan.timeoutMs)]);
  if (plan.includeAttemptCount) out.push(["x-envoy-attempt-count", String(ctx.attempt)]);
  if (trace !== undefined) out.push(...trace);
  return out;
}

/** Sets a try's headers in a header object (an HTTP/2 try's). */
export function attemptHeaders(ctx: AttemptContext, into: http.OutgoingHttpHeaders): void {
  for (const [n, v] of tryHeaders(ctx)) into[n] = v;
}

/**
 * Common settle/timer bookkeeping of one attempt: `settle` passes the outcome on once, releasing
 * the permit unless it is a response (the response releases it when it ends); the per-try timeout
 * settles "per-try-timeout" and kills the try.
 */
export class Settler {
  settled = false;
  private perTry: TimerEntry | undefined = undefined;

  constructor(
    private readonly host: Host,
    private readonly permit: RequestPermit,
    private readonly done: (o: AttemptOutcome) => void,
    plan: ForwardPlan,
    kill: () => void,
  ) {
    const r = plan.retry;
    if (r !== undefined && r.perTryTimeoutMs > 0) {
      this.perTry = timerList(r.perTryTimeoutMs).start(() => {
        this.settle({ kind: "per-try-timeout", host: this.host });
        kill();
      });
    }
  }

  settle(o: AttemptOutcome): void {
    if (this.settled) return;
    this.settled = true;
    this.perTry?.cancel();
    if (o.kind !== "response") this.permit.release();
    this.done(o);
  }
}