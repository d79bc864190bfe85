// Envoy's router filter: picks a host, enforces circuit breakers, sends the request upstream over
// HTTP/1.1 (the cluster's connection pool) or HTTP/2 (the cluster's session pool) with Envoy's
// x-envoy-* headers, applies the route timeout and per-try timeout, retries as the retry policy
// says (retry_on conditions incl. gRPC codes read from trailers-only responses, jittered backoff,
// previous_hosts, the cluster's max_retries budget; the request body is replayed from a bounded
// buffer while it is streamed — past the retry/shadow limit it is abandoned, as Envoy's
// retry_or_shadow_abandoned), bounds each upstream stream by the cluster's max_stream_duration
// (UMSDR), relays the response with trailers, tunnels upgrades, and maps every failure to Envoy's
// local reply and response flag. Protocol-neutral on both sides: the
// downstream is a `Downstream` (HTTP/1.1 response or HTTP/2 stream).
//
// Hot path: one `Forward` object per request drives the whole exchange with callbacks (no
// promises, no per-request closures beyond the attempt's), timers come from the coarse shared
// lists in timers.ts, response flags are a bit set.
import * as http from "node:http";
import * as http2 from "node:http2";
import type * as net from "node:net";
import type { Readable, Writable } from "node:stream";
import { httpToGrpcStatus } from "../../core/grpc.js";
import { FLAG_BIT, flagBit, type ResponseFlag, type ResponseFlags } from "../access-log.js";
import type { Host } from "../upstream/host.js";
import type { Admission, RequestPermit, UpstreamCluster } from "../upstream/cluster.js";
import { grpcToHttpStatus } from "../upstream/outlier.js";
import { appendHeader, headerLine, HOP_BY_HOP } from "../http1/codec.js";
import { BodyMode, type H1Exchange, type H1ExchangeOwner } from "../upstream/pool-h1.js";
import { H2ConnectError, h2PoolFor } from "../upstream/pool-h2.js";
import { LOCAL_REPLIES, type LocalReply, requestTimeoutCode } from "./local-reply.js";
import { TimerEntry, timerList } from "../../core/timers.js";
import { durationMs, type ProtoObject } from "../../envoy/protos.js";
import type { StatsStore } from "../stats.js";

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

/** Stream activity (resets the HCM's stream idle timer). */
export interface Activity {
  touch(): void;
  /** A response starts before the downstream finished the request (downstream_rq_response_before_rq_complete). */
  responseBeforeRequestComplete?(): void;
  /** The downstream codec found the request broken mid-stream: stop with `reply` (or reset a started response). */
  codecError?(reply: Reply): void;
}

/** How far the downstream got with its request (the HCM's RequestBody): `ended` once all of it arrived. */
export interface RequestProgress {
  readonly ended: boolean;
}

/** Who follows a downstream: the forward in progress. */
export interface DownstreamListener {
  /** The client went away or reset the stream before the response finished. */
  onGone(): void;
  /** The downstream is writable again after `write` returned false. */
  onDrain(): void;
}

/**
 * The downstream side of one stream, whatever the protocol. Tells its `listener` when the client
 * went away ("gone") and when it is writable again ("drain").
 */
export abstract class Downstream {
  abstract readonly protocol: DownstreamProtocol;
  abstract readonly headersSent: boolean;
  /** The client went away before the response finished. */
  abstract readonly gone: boolean;
  /** Sends the response head; endStream: nothing follows (HTTP/2: a trailers-only response). */
  abstract respond(status: number, headers: http.OutgoingHttpHeaders, endStream: boolean): void;
  /** Writes body bytes; false asks the caller to wait for the listener's onDrain. */
  abstract write(chunk: Buffer): boolean;
  /** Ends the response, with trailers where the protocol carries them. */
  abstract end(trailers?: http.IncomingHttpHeaders): void;
  /** Abandons the response (HTTP/1: closes the connection; HTTP/2: RST_STREAM). */
  abstract reset(): void;
  /** HTTP/1.1 upgrades: after a 101 the bytes flow both ways; resolves with bytes sent downstream. */
  tunnel?(upstream: net.Socket, upstreamHead: Buffer): Promise<number>;
  listener: DownstreamListener | undefined = undefined;
  /** The stream's activity tracker (the HCM's stream idle timer), told about every write. */
  activity: Activity | undefined = undefined;
  /**
   * The request as the HCM reads it (none: complete). As in Envoy, a response that starts before
   * the request is complete cannot leave an HTTP/1 connection reusable (it gets `connection: close`
   * and the connection closes after it), and a response that ends before it resets an HTTP/2 stream
   * with NO_ERROR (RFC 9113 §8.1) so the client stops sending.
   */
  request: RequestProgress | undefined = undefined;

  protected touch(): void {
    this.activity?.touch();
  }

  /** Whether the downstream sent the whole request. */
  get requestComplete(): boolean {
    const r = this.request;
    return r === undefined || r.ended;
  }

  /** For `respond`: true when the request is still arriving (counted as a response before the request completed). */
  protected respondsEarly(): boolean {
    const r = this.request;
    if (r === undefined || r.ended) return false;
    this.activity?.responseBeforeRequestComplete?.();
    return true;
  }

  protected emitGone(): void {
    this.listener?.onGone();
  }

  protected emitDrain(): void {
    this.listener?.onDrain();
  }
}

/** Where a request body comes from (a node stream, or the HTTP/1 codec's own body source). */
export interface BodySource {
  /** Starts delivering: `onData` per chunk, then `onEnd` once. */
  start(onData: (chunk: Buffer) => void, onEnd: () => void): void;
  pause(): void;
  resume(): void;
}

/** A node Readable as a BodySource. */
export function readableSource(r: Readable): BodySource {
  return {
    start(onData, onEnd) {
      r.on("data", onData);
      r.once("end", onEnd);
      r.on("error", () => {});
    },
    pause: () => r.pause(),
    resume: () => r.resume(),
  };
}

/** Where an upstream request body goes (an upstream HTTP/1.1 connection or an HTTP/2 stream). */
export interface BodyWriter {
  write(chunk: Buffer): boolean;
  end(): void;
  /** Calls `cb` once when a `write` that returned false has drained. */
  whenDrained(cb: () => void): void;
}

/** A node Writable as a BodyWriter. */
export function writableSink(w: Writable): BodyWriter {
  w.on("error", () => {});
  return {
    write: (c) => w.write(c),
    end: () => w.end(),
    whenDrained: (cb) => w.once("drain", cb),
  };
}

/** Who follows a request body's retry/shadow buffer (the forward in progress). */
export interface BodyOwner {
  /** The body outgrew the retry/shadow buffer: it can no longer be replayed or mirrored. */
  bodyAbandoned(): void;
}

/** Envoy's default per_connection_buffer_limit_bytes (1 MiB): the listener's buffer limit. */
export const DEFAULT_BUFFER_LIMIT = 1024 * 1024;

const NO_BYTES = Buffer.alloc(0);

/**
 * The request body, streamed upstream as it arrives. Memory is bounded on every path:
 * - while nothing takes it (before the first try, during a fault delay, a pending slot or a retry
 *   backoff) at most `holdLimit` bytes (the listener's per_connection_buffer_limit_bytes) are held
 *   before the source is paused (flow control, as Envoy's watermarks);
 * - when the route may replay it (a retry policy, or request mirroring) it is also kept after it
 *   was sent, up to the retry/shadow limit (the route's per_request_buffer_limit_bytes, else the
 *   virtual host's, capped by the listener's): past that it is abandoned (Envoy's
 *   `retry_or_shadow_abandoned`): not kept any more, so no retry and no shadow of it;
 * - otherwise nothing is kept once sent.
 */
export class RequestBody {
  private chunks: Buffer[] | undefined = undefined;
  private size = 0;
  private sink: BodyWriter | undefined = undefined;
  private delivered = false;
  /** Bytes received from downstream. */
  received = 0;
  ended: boolean;
  /** Kept whole for a retry or a shadow (decided once the route is known: `configure`). */
  private keep = false;
  private keepLimit = 0;
  /** The body outgrew the retry/shadow buffer. */
  abandoned = false;
  /** Told when the body is abandoned (the router's forward). */
  owner: BodyOwner | undefined = undefined;
  private endWaiters: Array<() => void> | undefined;
  private resumeSrc: (() => void) | undefined = undefined;

  constructor(
    private readonly src: BodySource | undefined,
    /** Bytes held while nothing takes them before the source is paused. */
    private readonly holdLimit: number = DEFAULT_BUFFER_LIMIT,
    private readonly activity: Activity | undefined = undefined,
  ) {
    this.ended = !src;
    if (!src) return;
    src.start(
      (c) => this.onData(c),
      () => {
        this.ended = true;
        this.sink?.end();
        const w = this.endWaiters;
        this.endWaiters = undefined;
        if (w) for (const f of w) f();
      },
    );
  }

  /** The body of a request that has none (shared: it holds no state). */
  static empty(): RequestBody {
    return EMPTY_BODY;
  }

  /**
   * Once the route is known: keep the body for a replay (`keep`: a retry policy or mirrors) up to
   * `limit` bytes. A body already larger is abandoned at once.
   */
  configure(keep: boolean, limit: number): void {
    if (this.src === undefined) return;
    this.keepLimit = Math.min(limit, this.holdLimit);
    this.keep = keep && !this.abandoned;
    if (this.keep && this.received > this.keepLimit) this.abandon();
  }

  /** Calls `cb` once the downstream finished sending the body (now, if it has). */
  onEnded(cb: () => void): void {
    if (this.ended) cb();
    else (this.endWaiters ??= []).push(cb);
  }

  /** Resolves when the downstream finished sending the body. */
  whenEnded(): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((r) => this.onEnded(r));
  }

  private onData(c: Buffer): void {
    const n = c.length;
    this.received += n;
    this.activity?.touch();
    if (this.keep && this.size + n > this.keepLimit) this.abandon();
    const sink = this.sink;
    if (sink === undefined) {
      // Held for the next try; nobody to send to: stop reading past the listener's limit.
      (this.chunks ??= []).push(c);
      this.size += n;
      if (this.size > this.holdLimit) this.src!.pause();
      return;
    }
    if (this.keep) {
      (this.chunks ??= []).push(c);
      this.size += n;
    }
    if (!sink.write(c)) this.waitDrain(sink);
  }

  private waitDrain(sink: BodyWriter): void {
    const src = this.src!;
    src.pause();
    sink.whenDrained((this.resumeSrc ??= () => src.resume()));
  }

  private abandon(): void {
    this.abandoned = true;
    this.keep = false;
    // What was sent is dropped; what was not sent yet stays for the one try that will take it.
    if (this.delivered) {
      this.chunks = undefined;
      this.size = 0;
    }
    this.owner?.bodyAbandoned();
  }

  /** The whole body once it ended, if it is kept (request mirroring sends a copy). */
  buffered(): Buffer | undefined {
    if (this.src === undefined) return NO_BYTES;
    if (!this.ended || !this.keep) return undefined;
    const chunks = this.chunks;
    return chunks === undefined ? NO_BYTES : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.size);
  }

  /** Whether `attach` may be called (again). */
  get canSend(): boolean {
    return !this.delivered || this.keep;
  }

  /** Sends the body (held part first, then live) to an upstream request. */
  attach(sink: BodyWriter): void {
    const src = this.src;
    if (src === undefined) {
      sink.end();
      return;
    }
    this.delivered = true;
    this.sink = sink;
    let ok = true;
    const chunks = this.chunks;
    if (chunks !== undefined) for (const c of chunks) ok = sink.write(c);
    if (!this.keep) {
      this.chunks = undefined;
      this.size = 0;
    }
    if (this.ended) sink.end();
    else if (ok) src.resume();
    else this.waitDrain(sink);
  }

  /** The attempt that owned the sink is over. */
  detach(sink: BodyWriter): void {
    if (this.sink === sink) this.sink = undefined;
  }
}

const EMPTY_BODY = new RequestBody(undefined, 0);

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
  downstreamProtocol: DownstreamProtocol;
  /** A gRPC request (content-type application/grpc): local replies become gRPC statuses. */
  grpc: boolean;
  /** An allowed HTTP/1.1 upgrade: the Upgrade header value sent upstream (e.g. "websocket"). */
  upgrade?: string;
}

export interface ForwardResult {
  /** An internal error stopped the forward (the HCM answers 500 when it still can). */
  error?: Error;
  /** Status sent downstream (0 when the downstream went away first). */
  status: number;
  flags: ResponseFlags;
  upstreamHost?: string;
  upstreamServiceTimeMs?: number;
  bytesSent: number;
  details: string;
  grpcStatus?: number;
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
}

/** Response headers copied downstream (hop-by-hop and pseudo-headers removed). */
export function responseHeaders(h: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const k in h) {
    const v = h[k];
    if (v !== undefined && k.charCodeAt(0) !== 58 /* : */ && !HOP_BY_HOP.has(k)) out[k] = v;
  }
  return out;
}

function grpcStatusOf(h: http.IncomingHttpHeaders | undefined): number | undefined {
  const s = h?.["grpc-status"];
  return typeof s === "string" && s !== "" ? Number(s) : undefined;
}

const GRPC_RETRY: Record<string, number> = { cancelled: 1, "deadline-exceeded": 4, internal: 13, "resource-exhausted": 8, unavailable: 14 };

export { httpToGrpcStatus };

/** Whether Envoy's retry_on conditions ask to retry this outcome. */
export function shouldRetry(plan: RetryPlan, o: AttemptOutcome): boolean {
  const on = plan.retryOn;
  switch (o.kind) {
    case "connect-failure":
      return on.has("connect-failure") || on.has("5xx") || on.has("gateway-error") || on.has("reset") || on.has("reset-before-request");
    case "reset":
      return on.has("reset") || on.has("reset-before-request") || on.has("5xx") || on.has("gateway-error") || (!!o.refused && on.has("refused-stream"));
    case "protocol-error":
      // A reset like any other for retry_on (router/retry_state_impl.cc wouldRetryFromReset).
      return on.has("reset") || on.has("reset-before-request") || on.has("5xx") || on.has("gateway-error");
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
  if (o.kind === "response") {
    const g = grpcStatusOf(o.res.headers);
    cluster.reportResponse(o.host, g !== undefined ? grpcToHttpStatus(g) : o.res.status);
  } else cluster.reportResult(o.host, o.kind === "per-try-timeout" ? { kind: "timeout" } : o.kind === "protocol-error" ? { kind: "reset" } : { kind: o.kind });
}

// DNS failures (ORIGINAL_DST to a name) are connection failures too, as in Envoy.
export const CONNECT_ERRORS: ReadonlySet<string> = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN"]);

/** Envoy's transport failure reason for a connect error. */
export function connectFailureReason(code: string | undefined): string {
  return `delayed connect error: ${code === "ECONNREFUSED" ? 111 : code}`;
}

/** Whether this request goes upstream over HTTP/2. */
export function upstreamIsH2(cluster: UpstreamCluster, downstream: DownstreamProtocol, upgrade: string | undefined): boolean {
  if (upgrade) return false;
  const p = cluster.spec.upstreamProtocol;
  return p === "http2" || (p === "downstream" && downstream === "HTTP/2");
}

/** The HCM's stream timers stop a forward with a local reply (stream idle, request, max stream duration). */
export class StreamAbort {
  reason: Reply | undefined = undefined;
  private cb: ((r: Reply) => void) | undefined = undefined;

  abort(r: Reply): void {
    if (this.reason !== undefined) return;
    this.reason = r;
    const cb = this.cb;
    if (cb !== undefined) cb(r);
  }

  /** @internal the forward in progress */
  listen(cb: ((r: Reply) => void) | undefined): void {
    this.cb = cb;
  }
}

/** The response decorations of the HCM and route (response_headers_to_add, CORS, server). */
export interface ResponseDecorator {
  decorateResponse(h: http.OutgoingHttpHeaders): void;
}

export type ForwardDone = (r: ForwardResult) => void;

/** Attempt implementations (HTTP/1.1 pool, HTTP/2 pool); the router picks one per try. */
export type AttemptFn = (ctx: AttemptContext, host: Host, permit: RequestPermit, done: (o: AttemptOutcome) => void) => Attempt;

/** A cluster's counters the router keeps beyond ClusterStats (created when first used). */
const RETRY_OR_SHADOW_ABANDONED = "retry_or_shadow_abandoned";
const UPSTREAM_RQ_MAX_DURATION_REACHED = "upstream_rq_max_duration_reached";

/** The cluster counters the router adds (so a proxy can show them, as Envoy does, from the start). */
export const ROUTER_CLUSTER_COUNTERS: readonly string[] = [RETRY_OR_SHADOW_ABANDONED, UPSTREAM_RQ_MAX_DURATION_REACHED];

const HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const upstreamDurations = new WeakMap<object, number>();
// The last cluster asked about (most proxies forward to one cluster at a time): no map lookup.
let lastDurationSpec: object | undefined = undefined;
let lastDurationMs = 0;

function protoObj(v: unknown): ProtoObject | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as ProtoObject) : undefined;
}

/**
 * The cluster's common_http_protocol_options.max_stream_duration (its HttpProtocolOptions in
 * typed_extension_protocol_options, else the deprecated Cluster field), 0 when unset: each
 * upstream stream is bounded by it. Read once per cluster spec.
 */
export function upstreamMaxStreamDurationMs(cluster: UpstreamCluster): number {
  const spec = cluster.spec;
  if (spec === lastDurationSpec) return lastDurationMs;
  let ms = upstreamDurations.get(spec);
  if (ms === undefined) {
    const c = spec.object;
    const hpo = protoObj(protoObj(c.typedExtensionProtocolOptions)?.[HTTP_PROTOCOL_OPTIONS]);
    const d = protoObj(hpo?.commonHttpProtocolOptions)?.maxStreamDuration ?? protoObj(c.commonHttpProtocolOptions)?.maxStreamDuration;
    const v = durationMs(d);
    ms = v !== undefined && Number.isFinite(v) && v > 0 ? Math.max(1, Math.round(v)) : 0;
    upstreamDurations.set(spec, ms);
  }
  lastDurationSpec = spec;
  lastDurationMs = ms;
  return ms;
}

/** Envoy's local reply when the cluster's max_stream_duration passes (408 before the request ended, else 504). */
export function upstreamMaxDurationReply(requestComplete: boolean): LocalReply {
  return { status: requestTimeoutCode(requestComplete), body: "upstream max stream duration reached", flag: "UMSDR", details: "upstream_max_stream_duration_reached" };
}

/** Envoy's local reply when the body outgrew the retry buffer while no try was in flight. */
export function retryBufferExceededReply(): LocalReply {
  return { status: 507, body: "exceeded request buffer limit while retrying upstream", details: "request_payload_exceeded_retry_buffer_limit" };
}

export class Router {
  /** `stats`: where the router's own cluster counters go (`cluster.NAME.retry_or_shadow_abandoned`, …). */
  constructor(readonly stats: StatsStore | undefined = undefined) {}

  /** A cluster counter the router keeps (rare events: looked up by name when they happen). */
  clusterCounter(cluster: UpstreamCluster, name: string): void {
    this.stats?.counter(`cluster.${cluster.name}.${name}`).inc();
  }

  /**
   * Forwards one request and streams the response to the downstream. `done` runs once the
   * downstream response is complete (or abandoned). `abort` stops it with a Reply (HCM timers).
   */
  forward(plan: ForwardPlan, ds: Downstream, decorate: ResponseDecorator, abort: StreamAbort | undefined, done: ForwardDone): void {
    new Forward(this, plan, ds, decorate, abort, done).start();
  }

  /** The same, as a promise. */
  forwardAsync(plan: ForwardPlan, ds: Downstream, decorate: ResponseDecorator, abort?: StreamAbort): Promise<ForwardResult> {
    return new Promise((resolve) => this.forward(plan, ds, decorate, abort, resolve));
  }
}

const enum State {
  Idle,
  Backoff,
  Pending,
  Attempt,
  Relay,
  Tunnel,
  Done,
}

const enum StopKind {
  None,
  Timeout,
  Gone,
  Abort,
}

/** One request through the router: tries (with retries), then the relay of the chosen response. */
class Forward implements DownstreamListener, ResponseSink, AttemptContext, BodyOwner {
  private state = State.Idle;
  private stopKind = StopKind.None;
  private stopReply: Reply | undefined = undefined;
  private flags: ResponseFlags = 0;
  attempt = 0;
  private readonly maxAttempts: number;
  /** Hosts tried, in order (only kept when a retry can happen). */
  private tried: Host[] | undefined = undefined;
  private lastHost: Host | undefined = undefined;
  private triedCount = 0;
  private last: AttemptOutcome | undefined = undefined;
  private globalTimer: TimerEntry | undefined = undefined;
  private backoffTimer: NodeJS.Timeout | undefined = undefined;
  private pending: Extract<Admission, { pending: true }> | undefined = undefined;
  private att: Attempt | undefined = undefined;
  private h2 = false;
  private up: UpstreamResponse | undefined = undefined;
  private relayStatus = 0;
  private serviceTime = 0;
  private bytes = 0;
  private readonly started = performance.now();
  /** The cluster's max_stream_duration for the try in flight (only with one configured). */
  private durationTimer: TimerEntry | undefined = undefined;

  constructor(
    private readonly router: Router,
    readonly plan: ForwardPlan,
    private readonly ds: Downstream,
    private readonly decorator: ResponseDecorator,
    private readonly abortHandle: StreamAbort | undefined,
    private readonly done: ForwardDone,
  ) {
    this.maxAttempts = 1 + (plan.retry ? plan.retry.numRetries : 0);
  }

  start(): void {
    try {
      this.begin();
    } catch (err) {
      this.fail(err);
    }
  }

  /** An exception in the router's own code (a bad header from config, …): the HCM answers 500. */
  private fail(err: unknown): void {
    if (this.state === State.Done) return;
    const up = this.up;
    this.state = State.Done;
    this.globalTimer?.cancel();
    this.durationTimer?.cancel();
    clearTimeout(this.backoffTimer);
    this.att?.cancel();
    this.pending?.cancel();
    up?.abort();
    if (this.ds.listener === this) this.ds.listener = undefined;
    if (this.plan.body.owner === this) this.plan.body.owner = undefined;
    this.abortHandle?.listen(undefined);
    this.done({ error: err instanceof Error ? err : new Error(String(err)), status: 0, flags: this.flags, bytesSent: this.bytes, details: "internal_error", upstreamHost: this.lastHost?.key });
  }

  private begin(): void {
    const plan = this.plan;
    if (plan.timeoutMs > 0) this.globalTimer = timerList(plan.timeoutMs).start(() => this.guarded(StopKind.Timeout, undefined));
    this.ds.listener = this;
    const body = plan.body;
    if (body.abandoned) this.router.clusterCounter(plan.cluster, RETRY_OR_SHADOW_ABANDONED);
    else if (!body.ended) body.owner = this;
    if (this.ds.gone) this.stop(StopKind.Gone, undefined);
    const a = this.abortHandle;
    if (a !== undefined) {
      if (a.reason !== undefined) this.stop(StopKind.Abort, a.reason);
      else a.listen((r) => this.guarded(StopKind.Abort, r));
    }
    this.next();
  }

  // ---- DownstreamListener ----

  onGone(): void {
    this.guarded(StopKind.Gone, undefined);
  }

  onDrain(): void {
    if (this.state === State.Relay) this.up!.resume();
  }

  // ---- BodyOwner ----

  bodyAbandoned(): void {
    if (this.state === State.Done) return;
    const plan = this.plan;
    this.router.clusterCounter(plan.cluster, RETRY_OR_SHADOW_ABANDONED);
    if (this.state !== State.Backoff) return; // the try in flight goes on; no retry of it
    // Waiting to retry, and the body to replay is gone: Envoy answers 507.
    clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    plan.cluster.releaseRetry();
    this.state = State.Idle;
    try {
      this.finishLocal(retryBufferExceededReply(), this.lastHost);
    } catch (err) {
      this.fail(err);
    }
  }

  // ---- the cluster's max_stream_duration ----

  private onUpstreamDuration(): void {
    try {
      this.upstreamDurationReached();
    } catch (err) {
      this.fail(err);
    }
  }

  private upstreamDurationReached(): void {
    const plan = this.plan;
    const state = this.state;
    if (state !== State.Attempt && state !== State.Relay && state !== State.Tunnel) return;
    this.router.clusterCounter(plan.cluster, UPSTREAM_RQ_MAX_DURATION_REACHED);
    const reply = upstreamMaxDurationReply(plan.body.ended);
    if (state !== State.Attempt) return this.stop(StopKind.Abort, reply); // the response started: reset
    // The try is reset locally; a retry policy that retries resets may try again.
    const att = this.att;
    this.att = undefined;
    this.state = State.Idle;
    att?.cancel();
    const host = this.lastHost!;
    const o: AttemptOutcome = { kind: "reset", host };
    this.last = o;
    const retry = plan.retry;
    if (retry !== undefined && this.attempt < this.maxAttempts && shouldRetry(retry, o) && plan.body.canSend) return this.next();
    this.finishLocal(reply, host);
  }

  private guarded(kind: StopKind, reply: Reply | undefined): void {
    try {
      this.stop(kind, reply);
    } catch (err) {
      this.fail(err);
    }
  }

  // ---- the try loop ----

  /** The loop's head: the next try, or the end of trying. */
  private next(): void {
    if (this.stopKind !== StopKind.None) return this.afterTries();
    const attempt = ++this.attempt;
    if (attempt > this.maxAttempts) return this.afterTries();
    if (attempt > 1) {
      const plan = this.plan;
      const cluster = plan.cluster;
      if (!plan.body.canSend) return this.afterTries(); // the body outgrew the retry buffer
      // The retry budget: max_retries concurrent retries across the cluster (held during the backoff).
      if (!cluster.acquireRetry()) return this.afterTries();
      cluster.stats.rqRetry.inc();
      const wait = backoffMs(plan.retry!, attempt - 1);
      this.state = State.Backoff;
      this.backoffTimer = setTimeout(() => {
        this.backoffTimer = undefined;
        cluster.releaseRetry();
        this.state = State.Idle;
        try {
          this.pickAndSend();
        } catch (err) {
          this.fail(err);
        }
      }, wait);
      return;
    }
    this.pickAndSend();
  }

  private pickAndSend(): void {
    const plan = this.plan;
    const cluster = plan.cluster;
    const host = this.pickHost();
    if (!host) {
      cluster.stats.cxNoneHealthy.inc();
      return this.finishLocal(LOCAL_REPLIES.noHealthyUpstream(), undefined);
    }
    this.tried?.push(host);
    this.lastHost = host;
    this.triedCount++;
    const h2 = (this.h2 = upstreamIsH2(cluster, plan.downstreamProtocol, plan.upgrade));
    // Circuit breakers: max_requests, and for HTTP/1.1 a connection slot (else the pending queue).
    const adm = cluster.acquire(host, h2 ? MULTIPLEXED : undefined);
    if (adm.ok && adm.pending) {
      this.state = State.Pending;
      this.pending = adm;
      adm.granted.then((g) => {
        if (this.state !== State.Pending || this.pending !== adm) return;
        this.pending = undefined;
        this.state = State.Idle;
        try {
          if (g.ok) this.send(host, g);
          else this.finishLocal(LOCAL_REPLIES.overflow(), host);
        } catch (err) {
          this.fail(err);
        }
      }, () => {});
      return;
    }
    if (adm.ok) this.send(host, adm);
    else this.finishLocal(LOCAL_REPLIES.overflow(), host);
  }

  private send(host: Host, permit: RequestPermit): void {
    this.state = State.Attempt;
    const maxDuration = upstreamMaxStreamDurationMs(this.plan.cluster);
    if (maxDuration > 0) timerList(maxDuration).add((this.durationTimer ??= new TimerEntry(() => this.onUpstreamDuration())));
    const fn = this.h2 ? attemptH2 : attemptH1;
    const attempt = this.attempt;
    const att = fn(this, host, permit, (o) => {
      try {
        this.onOutcome(o, attempt);
      } catch (err) {
        this.fail(err);
      }
    });
    // (The outcome may have come synchronously; only a try still in flight is kept.)
    if (this.state === State.Attempt && this.attempt === attempt) this.att = att;
  }

  private onOutcome(o: AttemptOutcome, attempt: number): void {
    if (this.state !== State.Attempt || attempt !== this.attempt) {
      // The forward stopped waiting for this try: a late response is discarded.
      if (o.kind === "response") o.res.abort();
      return;
    }
    this.att = undefined;
    this.state = State.Idle;
    if (o.kind !== "response") this.durationTimer?.cancel();
    const plan = this.plan;
    const cluster = plan.cluster;
    report(cluster, o);
    this.last = o;
    const retryable = plan.retry !== undefined && this.attempt < this.maxAttempts && shouldRetry(plan.retry, o) && plan.body.canSend;
    if (o.kind === "response") {
      if (retryable) {
        o.res.abort(); // discard the body, free the stream
        return this.next();
      }
      if (this.attempt > 1) cluster.stats.rqRetrySuccess.inc();
      if (this.triedCount > 1) this.flags |= FLAG_BIT.URX;
      return this.relay(o.res, o.host);
    }
    if (o.kind === "connect-failure") cluster.stats.cxConnectFail.inc();
    if (o.kind === "per-try-timeout") cluster.stats.rqPerTryTimeout.inc();
    if (!retryable) return this.afterTries();
    this.next();
  }

  /** Why the loop ended: a stop, or the last try's failure. */
  private afterTries(): void {
    const host = this.lastHost;
    switch (this.stopKind) {
      case StopKind.Gone:
        this.flags |= FLAG_BIT.DC;
        return this.finish({ status: 0, flags: this.flags, bytesSent: 0, details: "downstream_remote_disconnect", upstreamHost: host?.key });
      case StopKind.Abort:
        return this.finishLocal(this.stopReply!, host);
      case StopKind.Timeout:
        this.plan.cluster.stats.rqTimeout.inc();
        return this.finishLocal(LOCAL_REPLIES.timeout(), host);
    }
    const last = this.last;
    if (this.plan.retry && this.triedCount > 1 && last && last.kind !== "response") this.flags |= FLAG_BIT.URX;
    if (!last) return this.finishLocal(LOCAL_REPLIES.timeout(), host);
    if (last.kind === "connect-failure") return this.finishLocal(LOCAL_REPLIES.connectFailure(last.reason), last.host);
    if (last.kind === "per-try-timeout") return this.finishLocal(LOCAL_REPLIES.timeout(), last.host);
    if (last.kind === "protocol-error") return this.finishLocal(LOCAL_REPLIES.upstreamProtocolError(), last.host);
    return this.finishLocal(LOCAL_REPLIES.upstreamReset(), last.host);
  }

  /** A route timeout, the client leaving, or an HCM timer. */
  private stop(kind: StopKind, reply: Reply | undefined): void {
    if (this.stopKind !== StopKind.None || this.state === State.Done) return;
    this.stopKind = kind;
    this.stopReply = reply;
    switch (this.state) {
      case State.Backoff:
        clearTimeout(this.backoffTimer);
        this.backoffTimer = undefined;
        this.plan.cluster.releaseRetry();
        this.state = State.Idle;
        return this.afterTries();
      case State.Pending:
        this.state = State.Idle;
        this.pending?.cancel();
        this.pending = undefined;
        return this.afterTries();
      case State.Attempt: {
        this.state = State.Idle;
        const att = this.att;
        this.att = undefined;
        att?.cancel();
        if (kind === StopKind.Timeout && this.lastHost) this.plan.cluster.reportResult(this.lastHost, { kind: "timeout" });
        return this.afterTries();
      }
      case State.Relay:
        return this.stopRelay();
      case State.Tunnel:
        // An HCM timer (max_stream_duration, stream idle) or the cluster's max_stream_duration
        // ends an upgraded stream too: both sides close, the tunnel reports its bytes.
        if (kind === StopKind.Abort) {
          this.flags |= flagBit(reply?.flag);
          this.ds.reset();
        }
        return;
      default:
        // Idle: the loop checks the stop at its head.
        return;
    }
  }

  private pickHost(): Host | undefined {
    const plan = this.plan;
    const cluster = plan.cluster;
    if (cluster.spec.type === "ORIGINAL_DST") {
      const header = plan.headers["x-envoy-original-dst-host"];
      return cluster.originalDestination(plan.authority, typeof header === "string" ? header : undefined);
    }
    const retry = plan.retry;
    if (retry === undefined || !retry.previousHosts) return cluster.pick(plan.hash === undefined ? undefined : { hash: plan.hash });
    const tried = (this.tried ??= []);
    const attempts = tried.length > 0 ? Math.max(1, retry.hostSelectionRetryMaxAttempts) : 1;
    let host: Host | undefined;
    for (let i = 0; i < attempts; i++) {
      host = cluster.pick({ hash: plan.hash });
      if (!host || tried.length === 0 || !tried.includes(host)) return host;
    }
    return host;
  }

  // ---- the relay ----

  private relay(up: UpstreamResponse, host: Host): void {
    const plan = this.plan;
    const ds = this.ds;
    const status = up.status;
    plan.cluster.stats.response(status);
    const headers: http.OutgoingHttpHeaders = up.endToEnd === true ? up.headers : responseHeaders(up.headers);
    const serviceTime = Math.round(performance.now() - this.started);
    headers["x-envoy-upstream-service-time"] = String(serviceTime);
    this.decorator.decorateResponse(headers);
    this.relayStatus = status;
    this.serviceTime = serviceTime;
    this.lastHost = host;
    if (ds.gone || this.stopKind === StopKind.Gone) {
      up.abort();
      this.flags |= FLAG_BIT.DC;
      return this.finishRelay(0, "downstream_remote_disconnect");
    }
    if (up.upgrade && status === 101 && ds.tunnel) {
      headers.connection = "Upgrade";
      headers.upgrade = String(up.headers.upgrade ?? plan.upgrade);
      ds.respond(101, headers, false);
      this.state = State.Tunnel;
      this.globalTimer?.cancel();
      void ds.tunnel(up.upgrade.socket, up.upgrade.head).then((bytes) => {
        this.bytes = bytes;
        this.finishRelay(status, "via_upstream");
      });
      return;
    }
    if (up.endStream) {
      ds.respond(status, headers, true);
      return this.finishRelay(status, "via_upstream", grpcStatusOf(up.headers));
    }
    ds.respond(status, headers, false);
    this.state = State.Relay;
    this.up = up;
    if (this.stopKind !== StopKind.None) return this.stopRelay(); // stopped while sending the head
    up.pipe(this);
  }

  // ResponseSink
  data(chunk: Buffer): boolean {
    if (this.state !== State.Relay) return true;
    this.bytes += chunk.length;
    try {
      return this.ds.write(chunk);
    } catch (err) {
      this.fail(err);
      return true;
    }
  }

  end(): void {
    if (this.state !== State.Relay) return;
    const up = this.up!;
    try {
      this.ds.end(up.trailers());
    } catch (err) {
      return this.fail(err);
    }
    this.finishRelay(this.relayStatus, "via_upstream", grpcStatusOf(up.trailers()) ?? grpcStatusOf(up.headers));
  }

  reset(flag: ResponseFlag): void {
    if (this.state !== State.Relay) return;
    this.state = State.Idle;
    try {
      this.ds.reset();
    } catch {
      // the downstream is gone either way
    }
    this.flags |= FLAG_BIT[flag];
    const up = this.up!;
    this.finishRelay(this.relayStatus, "via_upstream", grpcStatusOf(up.trailers()) ?? grpcStatusOf(up.headers));
  }

  private stopRelay(): void {
    const up = this.up!;
    this.state = State.Idle;
    up.abort();
    const grpc = grpcStatusOf(up.trailers()) ?? grpcStatusOf(up.headers);
    if (this.stopKind === StopKind.Gone) {
      this.flags |= FLAG_BIT.DC;
      return this.finishRelay(this.relayStatus, "via_upstream", grpc);
    }
    this.ds.reset();
    if (this.stopKind === StopKind.Timeout) {
      this.plan.cluster.stats.rqTimeout.inc();
      this.flags |= FLAG_BIT.UT;
    } else this.flags |= flagBit(this.stopReply?.flag);
    this.finishRelay(this.relayStatus, "via_upstream", grpc);
  }

  private finishRelay(status: number, details: string, grpcStatus?: number): void {
    const r: ForwardResult = { status, flags: this.flags, upstreamHost: this.lastHost?.key, upstreamServiceTimeMs: this.serviceTime, bytesSent: this.bytes, details };
    if (grpcStatus !== undefined) r.grpcStatus = grpcStatus;
    this.finish(r);
  }

  private finishLocal(reply: Reply, host: Host | undefined): void {
    this.flags |= flagBit(reply.flag);
    const r = sendLocalReply(this.ds, reply, undefined, this.plan.grpc);
    this.finish({ status: r.status, flags: this.flags, bytesSent: r.bytes, details: reply.details, upstreamHost: host?.key, grpcStatus: r.grpcStatus });
  }

  private finish(r: ForwardResult): void {
    if (this.state === State.Done) return;
    this.state = State.Done;
    this.globalTimer?.cancel();
    this.durationTimer?.cancel();
    if (this.ds.listener === this) this.ds.listener = undefined;
    if (this.plan.body.owner === this) this.plan.body.owner = undefined;
    this.abortHandle?.listen(undefined);
    this.done(r);
  }
}

const MULTIPLEXED = { multiplexed: true } as const;

/** x-envoy-* headers every attempt carries. */
export function attemptHeaders(plan: ForwardPlan, attempt: number, into: http.OutgoingHttpHeaders): void {
  if (plan.timeoutMs > 0) into["x-envoy-expected-rq-timeout-ms"] = String(plan.retry?.perTryTimeoutMs || plan.timeoutMs);
  if (plan.includeAttemptCount) into["x-envoy-attempt-count"] = String(attempt);
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

// ---- HTTP/1.1 attempts (the cluster's connection pool) ----

/** Methods node:http sends without framing when they have no body (others get content-length: 0). */
const NO_BODY_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"]);

/** One HTTP/1.1 try: the request head, the body, and the exchange's outcome. */
class H1Attempt implements H1ExchangeOwner, Attempt {
  private settled = false;
  private perTry: TimerEntry | undefined = undefined;
  private ex: H1Exchange | undefined = undefined;

  constructor(
    private readonly plan: ForwardPlan,
    private readonly host: Host,
    private readonly permit: RequestPermit,
    private readonly done: (o: AttemptOutcome) => void,
  ) {}

  start(attempt: number): void {
    const plan = this.plan;
    const body = plan.body;
    const cl = plan.headers["content-length"];
    const empty = body.ended && body.received === 0;
    const mode = empty ? BodyMode.None : cl !== undefined ? BodyMode.Raw : BodyMode.Chunked;
    let head: string;
    try {
      head = this.head(attempt, mode, cl !== undefined);
    } catch (err) {
      this.permit.release();
      throw err;
    }
    const r = plan.retry;
    if (r !== undefined && r.perTryTimeoutMs > 0) this.perTry = timerList(r.perTryTimeoutMs).start(() => this.onPerTryTimeout());
    const ex = plan.cluster.h1Pool.request(this.host, head, { isHead: plan.method === "HEAD", upgrade: plan.upgrade !== undefined, mode }, this, this.permit);
    this.ex = ex;
    if (mode !== BodyMode.None && !this.settled) body.attach(ex);
  }

  private head(attempt: number, mode: BodyMode, hasLength: boolean): string {
    const plan = this.plan;
    const timeout = plan.timeoutMs > 0;
    let head = plan.method + " " + plan.path + " HTTP/1.1\r\n" + headerLine("host", plan.authority);
    const h = plan.headers;
    for (const k in h) {
      const v = h[k];
      if (v === undefined || k === "te" || k === "host") continue;
      if (timeout && k === "x-envoy-expected-rq-timeout-ms") continue;
      if (plan.includeAttemptCount && k === "x-envoy-attempt-count") continue;
      head = appendHeader(head, k, v);
    }
    if (timeout) head += "x-envoy-expected-rq-timeout-ms: " + String(plan.retry?.perTryTimeoutMs || plan.timeoutMs) + "\r\n";
    if (plan.includeAttemptCount) head += "x-envoy-attempt-count: " + attempt + "\r\n";
    if (plan.upgrade !== undefined) head += "connection: Upgrade\r\n" + headerLine("upgrade", plan.upgrade);
    if (mode === BodyMode.Chunked) head += "transfer-encoding: chunked\r\n";
    else if (mode === BodyMode.None && !hasLength && !NO_BODY_METHODS.has(plan.method)) head += "content-length: 0\r\n";
    return head + "\r\n";
  }

  private settle(o: AttemptOutcome): void {
    if (this.settled) return;
    this.settled = true;
    this.perTry?.cancel();
    if (o.kind !== "response") {
      this.permit.release();
      if (this.ex !== undefined) this.plan.body.detach(this.ex);
    }
    this.done(o);
  }

  private onPerTryTimeout(): void {
    this.settle({ kind: "per-try-timeout", host: this.host });
    this.ex?.cancel();
  }

  connectFailed(code: string | undefined, transportFailure?: string): void {
    // TLS origination failed (verification, handshake, or a secret SDS has not supplied).
    if (transportFailure !== undefined) return this.settle({ kind: "connect-failure", host: this.host, reason: transportFailure });
    if (code === "timeout") this.settle({ kind: "connect-failure", host: this.host, reason: "delayed connect error: timeout" });
    else if (code !== undefined && CONNECT_ERRORS.has(code)) this.settle({ kind: "connect-failure", host: this.host, reason: connectFailureReason(code) });
    else this.settle({ kind: "reset", host: this.host });
  }

  reset(): void {
    this.settle({ kind: "reset", host: this.host });
  }

  protocolError(): void {
    this.settle({ kind: "protocol-error", host: this.host });
  }

  response(ex: H1Exchange): void {
    if (this.settled) {
      ex.abort();
      return;
    }
    this.settle({ kind: "response", res: ex, host: this.host });
  }

  cancel(): void {
    this.ex?.cancel();
  }
}

function attemptH1(ctx: AttemptContext, host: Host, permit: RequestPermit, done: (o: AttemptOutcome) => void): Attempt {
  const a = new H1Attempt(ctx.plan, host, permit, done);
  a.start(ctx.attempt);
  return a;
}

// ---- HTTP/2 attempts (the cluster's session pool) ----

class H2Response implements UpstreamResponse {
  readonly status: number;
  private ended = false;
  private trailerHeaders: http.IncomingHttpHeaders | undefined;

  constructor(
    private readonly s: http2.ClientHttp2Stream,
    readonly headers: http.IncomingHttpHeaders,
    readonly endStream: boolean,
  ) {
    this.status = Number(headers[":status"] ?? 502);
    s.on("trailers", (t: http.IncomingHttpHeaders) => (this.trailerHeaders = t));
    s.once("end", () => (this.ended = true));
  }

  pipe(sink: ResponseSink): void {
    const s = this.s;
    s.on("data", (c: Buffer) => {
      if (!sink.data(c)) s.pause();
    });
    s.once("end", () => sink.end());
    s.once("close", () => {
      if (!this.ended && !this.endStream) sink.reset(s.rstCode === http2.constants.NGHTTP2_NO_ERROR ? "UC" : "UR");
    });
  }

  resume(): void {
    this.s.resume();
  }

  trailers(): http.IncomingHttpHeaders | undefined {
    return this.trailerHeaders;
  }

  abort(): void {
    if (!this.s.destroyed) this.s.close(http2.constants.NGHTTP2_CANCEL);
  }
}

function attemptH2(ctx: AttemptContext, host: Host, permit: RequestPermit, done: (o: AttemptOutcome) => void): Attempt {
  const plan = ctx.plan;
  let stream: http2.ClientHttp2Stream | undefined;
  let cancelled = false;
  const kill = () => {
    cancelled = true;
    if (stream && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
  };
  const headers: http2.OutgoingHttpHeaders = { ":method": plan.method, ":path": plan.path, ":authority": plan.authority, ":scheme": plan.scheme };
  for (const k in plan.headers) {
    if (k === "host") continue;
    const v = plan.headers[k];
    if (k === "te" && String(v).toLowerCase() !== "trailers") continue;
    headers[k] = v;
  }
  attemptHeaders(plan, ctx.attempt, headers);
  const st = new Settler(host, permit, done, plan, kill);
  const empty = plan.body.ended && plan.body.received === 0;
  h2PoolFor(plan.cluster)
    .request(host, headers, empty)
    .then(
      (s) => {
        stream = s;
        if (st.settled || cancelled) {
          s.close(http2.constants.NGHTTP2_CANCEL);
          st.settle({ kind: "reset", host });
          return;
        }
        s.on("error", () => {});
        s.on("response", (h: http.IncomingHttpHeaders & http2.IncomingHttpStatusHeader, flags: number) => {
          s.once("close", () => permit.release());
          const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
          st.settle({ kind: "response", host, res: new H2Response(s, h, endStream) });
          if (endStream) s.resume();
        });
        const sink = writableSink(s);
        s.once("close", () => {
          plan.body.detach(sink);
          const refused = s.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM;
          st.settle({ kind: "reset", host, refused });
        });
        if (!empty) plan.body.attach(sink);
      },
      (err: Error) => {
        st.settle(err instanceof H2ConnectError && err.connectFailure ? { kind: "connect-failure", host, reason: err.reason } : { kind: "reset", host });
      },
    );
  return { cancel: kill };
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
export function sendLocalReply(ds: Downstream, reply: Reply, extra: http.OutgoingHttpHeaders | undefined = undefined, grpc = false): { status: number; bytes: number; grpcStatus?: number } {
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
  const len = Buffer.byteLength(reply.body);
  const headers: http.OutgoingHttpHeaders = { ...extra, "content-length": String(len) };
  if (reply.body) headers["content-type"] = "text/plain";
  if (!reply.body) {
    ds.respond(reply.status, headers, true);
    return { status: reply.status, bytes: 0 };
  }
  ds.respond(reply.status, headers, false);
  ds.write(Buffer.from(reply.body));
  ds.end();
  return { status: reply.status, bytes: len };
}
