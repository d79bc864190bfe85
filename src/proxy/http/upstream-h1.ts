// An HTTP/1.1 try on the cluster's connection pool: the structured request it hands the pool (the
// codec serialises it), the body from the request's replay buffer framed by Content-Length or
// chunked, and the exchange's outcome.
import type { RequestPermit } from "../upstream/cluster.js";
import { BodyMode, type H1RequestHead } from "../http1/request-head.js";
import type { Host } from "../upstream/host.js";
import type { H1Exchange, H1ExchangeOwner } from "../upstream/h1-exchange.js";
import { TimerEntry, timerList } from "../../core/timers.js";
import type { ConnectFailure } from "../upstream/connector.js";
import { type Attempt, type AttemptContext, type AttemptOutcome, CONNECT_ERRORS, type ForwardPlan, tryHeaders } from "./upstream-request.js";

// ---- HTTP/1.1 attempts (the cluster's connection pool) ----

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

  start(ctx: AttemptContext): void {
    const plan = this.plan;
    const body = plan.body;
    const empty = body.ended && body.received === 0;
    const mode = empty ? BodyMode.None : plan.headers["content-length"] !== undefined ? BodyMode.Raw : BodyMode.Chunked;
    const req: H1RequestHead = { method: plan.method, path: plan.path, authority: plan.authority, headers: plan.headers, tryHeaders: tryHeaders(ctx), upgrade: plan.upgrade, body: mode };
    let ex: H1Exchange;
    try {
      ex = plan.cluster.h1Pool.request(this.host, req, this, this.permit);
    } catch (err) {
      this.permit.release();
      throw err;
    }
    this.ex = ex;
    const r = plan.retry;
    if (r !== undefined && r.perTryTimeoutMs > 0 && !this.settled) this.perTry = timerList(r.perTryTimeoutMs).start(() => this.onPerTryTimeout());
    if (mode !== BodyMode.None && !this.settled) body.attach(ex);
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
  a.start(ctx);
  return a;
}