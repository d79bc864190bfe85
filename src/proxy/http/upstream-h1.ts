// An HTTP/1.1 try on the cluster's connection pool: the request head (Host first, Envoy's
// x-envoy-* headers, framing by Content-Length or chunked), the body from the request's replay
// buffer, and the exchange's outcome.
import type { RequestPermit } from "../upstream/cluster.js";
import { appendHeader, headerLine } from "../http1/codec.js";
import type { Host } from "../upstream/host.js";
import { BodyMode, type H1Exchange, type H1ExchangeOwner } from "../upstream/h1-exchange.js";
import { TimerEntry, timerList } from "../../core/timers.js";
import type { ConnectFailure } from "../upstream/connector.js";
import { type Attempt, type AttemptContext, type AttemptOutcome, CONNECT_ERRORS, type ForwardPlan } from "./upstream-request.js";

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
    const timeout = plan.timeoutMs > 0 && !plan.suppressEnvoyHeaders;
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

  connectFailed(f: ConnectFailure): void {
    // A TLS failure, a connect timeout or a refused/unreachable connect is UF; anything else a reset.
    if (f.transport || f.code === "timeout" || (f.code !== undefined && CONNECT_ERRORS.has(f.code))) this.settle({ kind: "connect-failure", host: this.host, reason: f.reason });
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

export function attemptH1(ctx: AttemptContext, host: Host, permit: RequestPermit, done: (o: AttemptOutcome) => void): Attempt {
  const a = new H1Attempt(ctx.plan, host, permit, done);
  a.start(ctx.attempt);
  return a;
}