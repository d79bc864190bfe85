// The router's side of tracing, as Envoy's router and UpstreamRequest do it: with the HCM's
// spawn_upstream_span or the router's start_child_span, every try of a forwarded request — the
// first, each retry — gets its own CLIENT child span ("router CLUSTER egress", retry.count on
// retries), the upstream request carries that span's context, and the span ends when its try does
// (a response relayed to its end, a retried response, a connect failure, a reset with its
// error.reason, a per-try timeout or any cancel with canceled=true). Without either, the parent's
// context goes upstream unchanged on every try. A mirror gets its own "mirror" span (Envoy's async
// client span), ended with the shadow's result.
import type * as http from "node:http";
import { FLAG_BIT, type ResponseFlags } from "../access-log.js";
import type { DynamicMetadata } from "../dynamic-metadata.js";
import type { UpstreamSpan } from "../tracing/span.js";

/** A span a try can be a child of (the HCM's active span, or a mirror span). */
export interface SpanParent {
  spawnChild(name: string, sampled?: boolean): UpstreamSpan;
}

/** How a try failed before a response (upstream-request.ts's AttemptOutcome, less the response). */
export type TryFailure =
  | { readonly kind: "connect-failure"; readonly reason: string }
  | { readonly kind: "reset"; readonly refused?: boolean }
  | { readonly kind: "protocol-error" }
  | { readonly kind: "per-try-timeout" };

/** Makes the spans of one forward's tries; the Forward asks it once per try. */
export class TrySpans {
  private readonly name: string;

  constructor(
    private readonly parent: SpanParent,
    private readonly cluster: string,
    private readonly dynamicMetadata: DynamicMetadata | undefined,
  ) {
    this.name = `router ${cluster} egress`;
  }

  /** The span of try `attempt` (1-based) on host `hostKey`, started now. */
  start(attempt: number, hostKey: string, h2: boolean): TrySpan {
    const span = this.parent.spawnChild(this.name);
    if (attempt > 1) span.setTag("retry.count", String(attempt - 1));
    return new TrySpan(span, this.cluster, hostKey, h2, this.dynamicMetadata);
  }
}

/** Envoy's reset reason (Http::Utility::resetReasonToString) and the try's response flag for an outcome. */
function failureOf(o: TryFailure, h2: boolean): { flags: ResponseFlags; reason: string | undefined; canceled: boolean; connected: boolean } {
  switch (o.kind) {
    case "connect-failure":
      return { flags: FLAG_BIT.UF, reason: /timeout/i.test(o.reason) ? "connection timeout" : "remote connection failure", canceled: false, connected: false };
    case "reset":
      // HTTP/1.1 has no stream reset: its connection closed under the exchange.
      if (o.refused === true) return { flags: FLAG_BIT.UR, reason: "remote refused stream reset", canceled: false, connected: true };
      return h2 ? { flags: FLAG_BIT.UR, reason: "remote reset", canceled: false, connected: true } : { flags: FLAG_BIT.UC, reason: "connection termination", canceled: false, connected: true };
    case "protocol-error":
      return { flags: FLAG_BIT.UPE, reason: "protocol error", canceled: false, connected: true };
    case "per-try-timeout":
      // The router resets the try itself: Envoy tags that as a cancel, not a reset reason.
      return { flags: FLAG_BIT.UT, reason: undefined, canceled: true, connected: true };
  }
}

function header(h: http.IncomingHttpHeaders | undefined, name: string): string | undefined {
  const v = h?.[name];
  return typeof v === "string" ? v : undefined;
}

/** One try's span: the context headers its request carries, and its end. */
export class TrySpan {
  /** The try's context headers (they replace the parent's in this try's request). */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  private status = 0;
  private responseHeaders: http.IncomingHttpHeaders | undefined = undefined;

  constructor(
    private readonly span: UpstreamSpan,
    private readonly cluster: string,
    private readonly hostKey: string,
    private readonly h2: boolean,
    private readonly dynamicMetadata: DynamicMetadata | undefined,
  ) {
    this.headers = span.contextHeaders();
  }

  /** The try's response head arrived. */
  response(status: number, headers: http.IncomingHttpHeaders): void {
    this.status = status;
    this.responseHeaders = headers;
  }

  /** The try failed before a response (its outcome says how). */
  failed(o: TryFailure): void {
    const f = failureOf(o, this.h2);
    if (f.reason !== undefined) this.span.setTag("error.reason", f.reason);
    this.end(f.flags, f.canceled, undefined, f.connected);
  }

  /** The router's circuit breaker refused the try (Envoy's pool overflow). */
  overflowed(): void {
    this.span.setTag("error.reason", "overflow");
    this.end(FLAG_BIT.UO, false, undefined, false);
  }

  /** A relayed response broke off (UC: its connection closed, UR: its stream was reset). */
  brokeOff(flag: "UC" | "UR"): void {
    this.span.setTag("error.reason", flag === "UC" ? "connection termination" : "remote reset");
    this.end(FLAG_BIT[flag], false, undefined, true);
  }

  /**
   * The try is over. `canceled`: the router reset it before it completed (a retried response not
   * yet read, a timeout, the client leaving) — Envoy's canceled tag. `trailers`: the response's.
   */
  end(flags: ResponseFlags, canceled: boolean, trailers?: http.IncomingHttpHeaders, connected = true): void {
    const span = this.span;
    if (canceled) span.setTag("canceled", "true");
    const g = header(trailers, "grpc-status") !== undefined ? trailers : this.responseHeaders;
    span.finish({
      status: this.status,
      flags,
      protocol: connected ? (this.h2 ? "HTTP/2" : "HTTP/1.1") : "-",
      upstreamCluster: this.cluster,
      upstreamHost: this.hostKey,
      dynamicMetadata: this.dynamicMetadata,
      grpcStatus: header(g, "grpc-status"),
      grpcMessage: header(g, "grpc-message"),
    });
  }
}
