// An HTTP/2 try on the cluster's session pool: a stream with the request's pseudo-headers and
// Envoy's x-envoy-* headers, the body from the request's replay buffer, and the response (with
// trailers) relayed from the stream.
import type * as http from "node:http";
import type * as net from "node:net";
import * as http2 from "node:http2";
import type { RequestPermit } from "../upstream/cluster.js";
import type { Host } from "../upstream/host.js";
import { H2ConnectError } from "../upstream/pool-h2.js";
import { writableSink } from "./downstream.js";
import { type Attempt, type AttemptContext, type AttemptOutcome, attemptHeaders, type ResponseSink, Settler, type UpstreamResponse } from "./upstream-request.js";

// ---- HTTP/2 attempts (the cluster's session pool) ----

/**
 * A stream that ended with PROTOCOL_ERROR on its own (node's ERR_HTTP2_STREAM_ERROR, not the
 * session's): nghttp2 refused what the upstream sent on it (a malformed response header block, a
 * bad content-length…). Envoy resets such a stream with reason protocol_error — 502 UPE before the
 * response, UPE on the access log after it. node does not tell a reset nghttp2 sent from one the
 * upstream sent with the same code; the latter (Envoy: remote reset, UR) is counted here too.
 */
function streamProtocolError(s: http2.ClientHttp2Stream, err: NodeJS.ErrnoException | undefined): boolean {
  return s.rstCode === http2.constants.NGHTTP2_PROTOCOL_ERROR && err?.code === "ERR_HTTP2_STREAM_ERROR";
}

class H2Response implements UpstreamResponse {
  readonly status: number;
  private ended = false;
  private trailerHeaders: http.IncomingHttpHeaders | undefined;

  constructor(
    private readonly s: http2.ClientHttp2Stream,
    readonly headers: http.IncomingHttpHeaders,
    readonly endStream: boolean,
    private readonly streamError: () => NodeJS.ErrnoException | undefined,
  ) {
    this.status = Number(headers[":status"] ?? 502);
    s.on("trailers", (t: http.IncomingHttpHeaders) => (this.trailerHeaders = t));
    s.once("end", () => (this.ended = true));
  }

  get connectionSocket(): net.Socket | undefined {
    // (node:http2's proxy of the session's socket: reading it after the session is gone throws.)
    return this.s.session?.socket as net.Socket | undefined;
  }

  pipe(sink: ResponseSink): void {
    const s = this.s;
    s.on("data", (c: Buffer) => {
      if (!sink.data(c)) s.pause();
    });
    s.once("end", () => sink.end());
    s.once("close", () => {
      if (this.ended || this.endStream) return;
      sink.reset(streamProtocolError(s, this.streamError()) ? "UPE" : s.rstCode === http2.constants.NGHTTP2_NO_ERROR ? "UC" : "UR");
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

export function attemptH2(ctx: AttemptContext, host: Host, permit: RequestPermit, done: (o: AttemptOutcome) => void): Attempt {
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
  attemptHeaders(ctx, headers);
  const st = new Settler(host, permit, done, plan, kill);
  const empty = plan.body.ended && plan.body.received === 0;
  plan.cluster.h2Pool
    .request(host, headers, empty)
    .then(
      (s) => {
        stream = s;
        if (st.settled || cancelled) {
          s.close(http2.constants.NGHTTP2_CANCEL);
          st.settle({ kind: "reset", host });
          return;
        }
        let streamError: NodeJS.ErrnoException | undefined;
        s.on("error", (e: NodeJS.ErrnoException) => (streamError ??= e));
        s.on("response", (h: http.IncomingHttpHeaders & http2.IncomingHttpStatusHeader, flags: number) => {
          s.once("close", () => permit.release());
          const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
          st.settle({ kind: "response", host, res: new H2Response(s, h, endStream, () => streamError) });
          if (endStream) s.resume();
        });
        const sink = writableSink(s);
        s.once("close", () => {
          plan.body.detach(sink);
          if (streamProtocolError(s, streamError)) {
            st.settle({ kind: "protocol-error", host });
            return;
          }
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
