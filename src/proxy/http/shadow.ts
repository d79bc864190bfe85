// Envoy's request mirroring: a copy of the request goes to the mirror cluster through the same
// router as any request — its circuit breakers, connection pools (HTTP/2 for gRPC), outlier
// detection and stats — and its response is discarded: it never delays, changes or fails the real
// one. The Host gets Envoy's `-shadow` suffix (before any port), so the shadow service can tell
// mirrored traffic apart, unless the policy's disable_shadow_host_suffix_append says not to. A traced request's shadow carries its own "mirror" span's context.
import type * as http from "node:http";
import type { UpstreamSpan } from "../tracing/span.js";
import type { UpstreamCluster } from "../upstream/cluster.js";
import { Downstream, type DownstreamProtocol, wholeBody } from "./downstream.js";
import type { ForwardDone, ResponseDecorator, Router } from "./router.js";
import type { TrySpans } from "./try-spans.js";

/** `reviews:9080` → `reviews-shadow:9080`; `[::1]:80` keeps its brackets. */
export function shadowHost(authority: string): string {
  const m = /^(\[[^\]]*\]|[^:]*)(:\d+)?$/.exec(authority);
  if (!m) return `${authority}-shadow`;
  return `${m[1]}-shadow${m[2] ?? ""}`;
}

export interface ShadowRequest {
  method: string;
  path: string;
  authority: string;
  scheme: string;
  headers: http.OutgoingHttpHeaders;
  body: Buffer;
  timeoutMs: number;
  downstreamProtocol: DownstreamProtocol;
  grpc: boolean;
  /** disable_shadow_host_suffix_append: send the request's own Host. */
  keepHost?: boolean;
  /** The router's suppress_envoy_headers, as for the request it copies. */
  suppressEnvoyHeaders: boolean;
  /** The mirror's span: its context replaces the copied request's. */
  span?: UpstreamSpan;
  /** Spans per try under `span` (the router's start_child_span). */
  tries?: TrySpans;
}

/** Where a shadow's response goes: nowhere (never backpressure, never a reset seen by anyone). */
class DiscardingDownstream extends Downstream {
  private sent = false;

  constructor(readonly protocol: DownstreamProtocol) {
    super();
  }

  get headersSent(): boolean {
    return this.sent;
  }

  get gone(): boolean {
    return false;
  }

  respond(): void {
    this.sent = true;
  }

  write(): boolean {
    return true;
  }

  end(): void {}

  reset(): void {}
}

const NO_DECORATION: ResponseDecorator = { decorateResponse: () => {}, localReplyHeaders: {} };

/** Sends the copy through `router` to `cluster`; never throws, never waits for the caller. `done` sees how it ended. */
export function sendShadow(router: Router, cluster: UpstreamCluster, r: ShadowRequest, done: ForwardDone = () => {}): void {
  const headers: http.OutgoingHttpHeaders = { ...r.headers };
  r.span?.injectContext(headers);
  delete headers["transfer-encoding"];
  if (r.body.length > 0 || headers["content-length"] !== undefined) headers["content-length"] = String(r.body.length);
  const body = wholeBody(r.body);
  try {
    router.forward(
      {
        cluster,
        method: r.method,
        path: r.path,
        authority: r.keepHost === true ? r.authority : shadowHost(r.authority),
        scheme: r.scheme,
        headers,
        body,
        timeoutMs: r.timeoutMs,
        includeAttemptCount: false,
        suppressEnvoyHeaders: r.suppressEnvoyHeaders,
        downstreamProtocol: r.downstreamProtocol,
        grpc: r.grpc,
        tries: r.tries,
      },
      new DiscardingDownstream(r.downstreamProtocol),
      NO_DECORATION,
      undefined,
      done,
    );
  } catch {
    // a mirror never fails the request it copies
    done({ status: 0, flags: 0, bytesSent: 0, details: "internal_error" });
  }
}
