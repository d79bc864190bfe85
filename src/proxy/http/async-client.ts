// Envoy's AsyncClient: a request the proxy itself sends to one of its clusters — ext_authz's check,
// a remote JWKS fetch, a rate-limit service call — through the same router as client traffic, so
// it gets the cluster's load balancing, connection pools (HTTP/2 for gRPC clusters), circuit
// breakers, TLS (mTLS to a mesh service) and stats. The response is collected whole, bounded by
// `maxResponseBytes` (past it the call fails and the stream is reset), and the call ends on its own
// timeout or when the caller cancels it. A router failure (no healthy upstream, connect failure,
// timeout) comes back as the local reply the router wrote (503/504 with its details), as Envoy's
// async client reports a response from its router filter.
import type * as http from "node:http";
import type { UpstreamCluster } from "../upstream/cluster.js";
import { Downstream, type DownstreamProtocol, wholeBody } from "./downstream.js";
import type { ResponseDecorator, Router } from "./router.js";

export interface AsyncRequest {
  method: string;
  /** Path with query. */
  path: string;
  /** :authority / Host (the cluster's service name, as Envoy's http_uri host). */
  authority: string;
  scheme?: string;
  /** Lowercase names, no pseudo-headers or hop-by-hop headers. */
  headers: http.OutgoingHttpHeaders;
  body?: Buffer;
  /** The whole call, connection included (Envoy's per-call timeout). */
  timeoutMs: number;
  /** A gRPC call: HTTP/2 semantics and gRPC local replies. */
  grpc?: boolean;
  /** The most response body bytes accepted; more fails the call. */
  maxResponseBytes: number;
}

export interface AsyncResponse {
  status: number;
  headers: http.OutgoingHttpHeaders;
  body: Buffer;
  /** HTTP/2 trailers (gRPC status), when the upstream sent any. */
  trailers?: http.IncomingHttpHeaders;
  /** The router's response code details ("via_upstream", "upstream_reset_before_response_started{…}"…). */
  details: string;
}

/** The call failed before a complete response (reset mid-body, response too large, cancelled). */
export class AsyncCallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AsyncCallError";
  }
}

/** A call in flight: its outcome, and a way to abandon it (the stream that wanted it is gone). */
export interface AsyncCall {
  readonly response: Promise<AsyncResponse>;
  cancel(): void;
}

const NO_DECORATION: ResponseDecorator = { decorateResponse: () => {}, localReplyHeaders: {} };

/** Where the router writes the response: into a bounded buffer. */
class CollectingDownstream extends Downstream {
  private sent = false;
  private done = false;
  status = 0;
  headers: http.OutgoingHttpHeaders = {};
  trailers: http.IncomingHttpHeaders | undefined = undefined;
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(
    readonly protocol: DownstreamProtocol,
    private readonly limit: number,
    private readonly finish: (err: AsyncCallError | undefined) => void,
  ) {
    super();
  }

  get headersSent(): boolean {
    return this.sent;
  }

  get gone(): boolean {
    return this.done;
  }

  respond(status: number, headers: http.OutgoingHttpHeaders, endStream: boolean): void {
    this.sent = true;
    this.status = status;
    this.headers = headers;
    if (endStream) this.complete(undefined);
  }

  write(chunk: Buffer): boolean {
    if (this.done) return true;
    this.size += chunk.length;
    if (this.size > this.limit) {
      this.complete(new AsyncCallError(`response body over ${this.limit} bytes`));
      this.listener?.onGone();
      return true;
    }
    this.chunks.push(chunk);
    return true;
  }

  end(trailers?: http.IncomingHttpHeaders): void {
    if (trailers !== undefined) this.trailers = trailers;
    this.complete(undefined);
  }

  reset(): void {
    this.complete(new AsyncCallError("the response was reset before its end"));
  }

  body(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
  }

  /** The caller gave up: the forward sees a downstream that went away. */
  abandon(): void {
    if (this.done) return;
    this.complete(new AsyncCallError("cancelled"));
    this.listener?.onGone();
  }

  private complete(err: AsyncCallError | undefined): void {
    if (this.done) return;
    this.done = true;
    this.finish(err);
  }
}

/** Sends `req` through `router` to `cluster`. Never throws; failures reject the response promise. */
export function asyncHttpCall(router: Router, cluster: UpstreamCluster, req: AsyncRequest): AsyncCall {
  const grpc = req.grpc === true;
  const body = req.body ?? Buffer.alloc(0);
  const headers: http.OutgoingHttpHeaders = { ...req.headers };
  if (body.length > 0 || req.method === "POST" || req.method === "PUT") headers["content-length"] = String(body.length);
  let resolve!: (r: AsyncResponse) => void;
  let reject!: (e: Error) => void;
  const response = new Promise<AsyncResponse>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  let details = "";
  let settled = false;
  const settle = (err: AsyncCallError | undefined): void => {
    if (settled) return;
    settled = true;
    if (err !== undefined) reject(err);
    else resolve({ status: ds.status, headers: ds.headers, body: ds.body(), trailers: ds.trailers, details });
  };
  const ds: CollectingDownstream = new CollectingDownstream(grpc ? "HTTP/2" : "HTTP/1.1", req.maxResponseBytes, (err) => {
    // The forward reports its details after the body ends; wait for them on success.
    if (err !== undefined) settle(err);
  });
  try {
    router.forward(
      {
        cluster,
        method: req.method,
        path: req.path,
        authority: req.authority,
        scheme: req.scheme ?? "http",
        headers,
        body: wholeBody(body),
        timeoutMs: req.timeoutMs,
        includeAttemptCount: false,
        suppressEnvoyHeaders: true,
        downstreamProtocol: grpc ? "HTTP/2" : "HTTP/1.1",
        grpc,
      },
      ds,
      NO_DECORATION,
      undefined,
      (r) => {
        details = r.details;
        if (r.error !== undefined) settle(new AsyncCallError(r.error.message));
        else if (ds.status === 0) settle(new AsyncCallError(r.details || "no response"));
        else settle(undefined);
      },
    );
  } catch (e) {
    settle(new AsyncCallError(e instanceof Error ? e.message : String(e)));
  }
  return {
    response,
    // As a client that went away: the forward stops and releases its connection.
    cancel: () => ds.abandon(),
  };
}
