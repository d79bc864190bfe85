// Envoy's router: the loop of tries for one forwarded request — host selection, circuit-breaker
// admission (with the pending queue), the route timeout, retries as the retry state decides (the
// cluster's max_retries budget, jittered backoff, previous_hosts; the body replayed from its bounded
// buffer, abandoned past the retry/shadow limit as Envoy's retry_or_shadow_abandoned), the cluster's
// max_stream_duration per try (UMSDR) — then the relay of the chosen response (with trailers) or an
// upgrade's tunnel, and every failure mapped to Envoy's local reply and response flag. The tries
// themselves are upstream-h1.ts / upstream-h2.ts; the downstream is a `Downstream`.
//
// Hot path: one `Forward` object per request drives the whole exchange with callbacks (no
// promises, no per-request closures beyond the attempt's), timers come from the coarse shared
// lists in timers.ts, response flags are a bit set.
import { GrpcMessageCounter } from "../../core/grpc-frames.js";
import type * as http from "node:http";
import type * as net from "node:net";
import { FLAG_BIT, flagBit, type ResponseFlag, type ResponseFlags } from "../access-log.js";
import type { Host } from "../upstream/host.js";
import type { Admission, RequestPermit, UpstreamCluster } from "../upstream/cluster.js";
import { responseHeaders } from "./headers.js";
import { LOCAL_REPLIES } from "./local-reply.js";
import { TimerEntry, timerList } from "../../core/timers.js";
import type { StatsStore } from "../stats.js";
import { type BodyOwner, Downstream, type DownstreamListener, type Reply, sendLocalReply, StreamAbort } from "./downstream.js";
import { grpcStatusOf, pickHost, reportOutcome, RetryBackoff, shouldRetry } from "./retry-state.js";
import type { Attempt, AttemptContext, AttemptOutcome, ForwardPlan, ResponseSink, UpstreamResponse } from "./upstream-request.js";
import { upstreamIsH2 } from "./upstream-request.js";
import type { TrySpan } from "./try-spans.js";
import { attemptH1 } from "./upstream-h1.js";
import { attemptH2 } from "./upstream-h2.js";

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
  cluster?: UpstreamCluster;
  /** The response head as relayed downstream (absent for the router's local replies). */
  responseHeaders?: http.OutgoingHttpHeaders;
  /** Why the last upstream connection failed (UPSTREAM_TRANSPORT_FAILURE_REASON). */
  transportFailureReason?: string;
  /** The relayed response's connection (UPSTREAM_LOCAL_ADDRESS is read from it only when logged). */
  upstreamSocket?: net.Socket;
  /** gRPC messages relayed in the response (gRPC streams). */
  responseMessages?: number;
}




/** The response decorations of the HCM and route (response_headers_to_add, CORS, server). */
export interface ResponseDecorator {
  decorateResponse(h: http.OutgoingHttpHeaders): void;
  /** Headers the router's own replies (503 UF, 504 UT…) carry: the connection manager's server. */
  readonly localReplyHeaders: http.OutgoingHttpHeaders;
}

export type ForwardDone = (r: ForwardResult) => void;


/** A cluster's counters the router keeps beyond ClusterStats (created when first used). */
const RETRY_OR_SHADOW_ABANDONED = "retry_or_shadow_abandoned";
const UPSTREAM_RQ_MAX_DURATION_REACHED = "upstream_rq_max_duration_reached";

/** The cluster counters the router adds (so a proxy can show them, as Envoy does, from the start). */
export const ROUTER_CLUSTER_COUNTERS: readonly string[] = [RETRY_OR_SHADOW_ABANDONED, UPSTREAM_RQ_MAX_DURATION_REACHED];

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
  /** Hosts tried, in order (only kept for previous_hosts). */
  private tried: Host[] | undefined = undefined;
  private lastHost: Host | undefined = undefined;
  private triedCount = 0;
  private last: AttemptOutcome | undefined = undefined;
  private globalTimer: TimerEntry | undefined = undefined;
  /** The retry being admitted or waiting its backoff (State.Backoff). */
  private backoff: RetryBackoff | undefined = undefined;
  private pending: Extract<Admission, { pending: true }> | undefined = undefined;
  private att: Attempt | undefined = undefined;
  private h2 = false;
  private up: UpstreamResponse | undefined = undefined;
  private relayStatus = 0;
  private relayHeaders: http.OutgoingHttpHeaders | undefined = undefined;
  private transportFailure: string | undefined = undefined;
  private relaySocket: net.Socket | undefined = undefined;
  /** Counts a gRPC response's messages as they are relayed. */
  private responseMessages: GrpcMessageCounter | undefined = undefined;
  private serviceTime = 0;
  private bytes = 0;
  private readonly started = performance.now();
  /** The cluster's max_stream_duration for the try in flight (only with one configured). */
  private durationTimer: TimerEntry | undefined = undefined;
  /** The span of the try in flight or relayed (plan.tries only). */
  trySpan: TrySpan | undefined = undefined;

  constructor(
    private readonly router: Router,
    readonly plan: ForwardPlan,
    private readonly ds: Downstream,
    private readonly decorator: ResponseDecorator,
    private readonly abortHandle: StreamAbort | undefined,
    private readonly done: ForwardDone,
  ) {
    this.maxAttempts = 1 + (plan.retry ? plan.retry.numRetries : 0);
    if (plan.retry?.previousHosts === true && plan.cluster.spec.type !== "ORIGINAL_DST") this.tried = [];
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
    if (this.state === State.Backoff) this.backoff?.cancel(); // the retry it holds goes back
    this.state = State.Done;
    this.globalTimer?.cancel();
    this.durationTimer?.cancel();
    this.att?.cancel();
    this.pending?.cancel();
    up?.abort();
    if (this.ds.listener === this) this.ds.listener = undefined;
    if (this.plan.body.owner === this) this.plan.body.owner = undefined;
    this.abortHandle?.listen(undefined);
    this.endTry(0, true);
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
    this.backoff?.cancel();
    this.state = State.Idle;
    try {
      this.finishLocal(LOCAL_REPLIES.retryBufferExceeded(), this.lastHost);
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
    const reply = LOCAL_REPLIES.upstreamMaxDuration(plan.body.ended);
    if (state !== State.Attempt) return this.stop(StopKind.Abort, reply); // the response started: reset
    // The try is reset locally; a retry policy that retries resets may try again.
    const att = this.att;
    this.att = undefined;
    this.state = State.Idle;
    att?.cancel();
    this.endTry(0, true); // (UMSDR is the stream's flag, not the try's, as in Envoy)
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
      const b = (this.backoff ??= new RetryBackoff(cluster));
      if (!b.start(plan.retry!, attempt, () => this.afterBackoff(this.pickAndSend), () => this.afterBackoff(this.afterTries))) return this.afterTries();
      this.state = State.Backoff;
      return;
    }
    this.pickAndSend();
  }

  /** The backoff is over (or the retry was refused): the loop goes on. */
  private afterBackoff(then: () => void): void {
    this.state = State.Idle;
    try {
      then.call(this);
    } catch (err) {
      this.fail(err);
    }
  }

  private pickAndSend(): void {
    const plan = this.plan;
    const cluster = plan.cluster;
    const host = pickHost(plan, this.tried);
    if (!host) {
      cluster.stats.cxNoneHealthy.inc();
      return this.finishLocal(LOCAL_REPLIES.noHealthyUpstream(), undefined);
    }
    this.tried?.push(host);
    this.lastHost = host;
    this.triedCount++;
    const h2 = (this.h2 = upstreamIsH2(cluster, plan.downstreamProtocol, plan.upgrade));
    this.trySpan = plan.tries?.start(this.attempt, host.key, h2);
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
          else this.overflow(host);
        } catch (err) {
          this.fail(err);
        }
      }, () => {});
      return;
    }
    if (adm.ok) this.send(host, adm);
    else this.overflow(host);
  }

  private overflow(host: Host): void {
    this.trySpan?.overflowed();
    this.trySpan = undefined;
    this.finishLocal(LOCAL_REPLIES.overflow(), host);
  }

  /** The try's span ends (if it has one still open): `flags` are the try's own. */
  private endTry(flags: ResponseFlags, canceled: boolean): void {
    const span = this.trySpan;
    if (span === undefined) return;
    this.trySpan = undefined;
    span.end(flags, canceled, this.up?.trailers());
  }

  private send(host: Host, permit: RequestPermit): void {
    this.state = State.Attempt;
    const maxDuration = this.plan.cluster.spec.maxStreamDurationMs;
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
    reportOutcome(cluster, o);
    this.last = o;
    const retryable = plan.retry !== undefined && this.attempt < this.maxAttempts && shouldRetry(plan.retry, o) && plan.body.canSend;
    const span = this.trySpan;
    if (o.kind === "response") {
      span?.response(o.res.status, o.res.headers);
      if (retryable) {
        o.res.abort(); // discard the body, free the stream
        this.endTry(0, !o.res.endStream);
        return this.next();
      }
      if (this.attempt > 1) cluster.stats.rqRetrySuccess.inc();
      if (this.triedCount > 1) this.flags |= FLAG_BIT.URX;
      return this.relay(o.res, o.host);
    }
    // (upstream_cx_connect_fail is the connector's: it counts every connection that failed.)
    this.trySpan = undefined;
    span?.failed(o);
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
    if (last.kind === "connect-failure") {
      this.transportFailure = last.reason;
      return this.finishLocal(LOCAL_REPLIES.connectFailure(last.reason), last.host);
    }
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
        this.backoff?.cancel();
        this.state = State.Idle;
        return this.afterTries();
      case State.Pending:
        this.state = State.Idle;
        this.pending?.cancel();
        this.pending = undefined;
        this.endTry(0, true);
        return this.afterTries();
      case State.Attempt: {
        this.state = State.Idle;
        const att = this.att;
        this.att = undefined;
        att?.cancel();
        this.endTry(0, true);
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

  // ---- the relay ----

  private relay(up: UpstreamResponse, host: Host): void {
    const plan = this.plan;
    const ds = this.ds;
    const status = up.status;
    plan.cluster.stats.response(status);
    const headers: http.OutgoingHttpHeaders = up.endToEnd === true ? up.headers : responseHeaders(up.headers);
    const serviceTime = Math.round(performance.now() - this.started);
    if (!plan.suppressEnvoyHeaders) headers["x-envoy-upstream-service-time"] = String(serviceTime);
    this.decorator.decorateResponse(headers);
    this.relayStatus = status;
    this.relayHeaders = headers;
    this.relaySocket = up.connectionSocket;
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
    if (this.plan.grpc) this.responseMessages = new GrpcMessageCounter();
    if (this.stopKind !== StopKind.None) return this.stopRelay(); // stopped while sending the head
    up.pipe(this);
  }

  // ResponseSink
  data(chunk: Buffer): boolean {
    if (this.state !== State.Relay) return true;
    this.bytes += chunk.length;
    this.responseMessages?.feed(chunk);
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
    this.trySpan?.brokeOff(flag === "UC" ? "UC" : "UR");
    this.trySpan = undefined;
    const up = this.up!;
    this.finishRelay(this.relayStatus, "via_upstream", grpcStatusOf(up.trailers()) ?? grpcStatusOf(up.headers));
  }

  private stopRelay(): void {
    const up = this.up!;
    this.state = State.Idle;
    up.abort();
    this.endTry(0, true);
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
    // Envoy marks a request its circuit breakers dropped (x-envoy-overloaded) so callers do not retry it.
    const headers = reply.flag === "UO" && !this.plan.suppressEnvoyHeaders ? { ...this.decorator.localReplyHeaders, "x-envoy-overloaded": "true" } : this.decorator.localReplyHeaders;
    const r = sendLocalReply(this.ds, reply, headers, this.plan.grpc);
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
    this.endTry(0, false);
    r.cluster = this.plan.cluster;
    if (this.relayHeaders !== undefined) r.responseHeaders = this.relayHeaders;
    if (this.transportFailure !== undefined) r.transportFailureReason = this.transportFailure;
    if (this.relaySocket !== undefined) r.upstreamSocket = this.relaySocket;
    if (this.responseMessages !== undefined) r.responseMessages = this.responseMessages.count;
    this.done(r);
  }
}

const MULTIPLEXED = { multiplexed: true } as const;
