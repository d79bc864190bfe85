// The downstream side of an HTTP/2 stream (h2c prior knowledge): response headers with
// `respond`, trailers after the body (`waitForTrailers`, so gRPC's grpc-status arrives as real
// trailers), trailers-only responses (HEADERS with END_STREAM), RST_STREAM for resets, and — as
// Envoy — RST_STREAM(NO_ERROR) after a response that completed while the request was still
// arriving. The request side is the stream's pseudo-headers and its readable body.
import type * as http from "node:http";
import * as http2 from "node:http2";
import { HOP_BY_HOP } from "../http1/codec.js";
import { Downstream } from "./downstream.js";


export function h2SafeHeaders(h: http.OutgoingHttpHeaders | http.IncomingHttpHeaders | undefined): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  if (!h) return out;
  for (const k in h) {
    const v = h[k];
    // HTTP/2 forbids the connection-specific headers (RFC 9113 §8.2.2: the hop-by-hop set, and TE
    // but for "trailers"); pseudo-headers are the codec's.
    if (v === undefined || k[0] === ":" || HOP_BY_HOP.has(k) || (k === "te" && String(v).toLowerCase() !== "trailers")) continue;
    out[k] = v;
  }
  return out;
}

export class H2Downstream extends Downstream {
  readonly protocol = "HTTP/2" as const;
  private sent = false;
  private ended = false;
  private _gone = false;
  private trailers: http.IncomingHttpHeaders | undefined;

  constructor(
    readonly stream: http2.ServerHttp2Stream,
    /** Called once when the client resets the stream or goes away first (downstream_rq_rx_reset). */
    private readonly onReset: () => void,
  ) {
    super();
    stream.on("drain", () => this.emitDrain());
    stream.on("error", () => {});
    stream.once("close", () => {
      if (!this.ended || stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) {
        if (!this.ended) {
          this._gone = true;
          this.onReset();
          this.emitGone();
        }
      }
    });
    stream.on("wantTrailers", () => {
      const t = h2SafeHeaders(this.trailers);
      try {
        stream.sendTrailers(t);
      } catch {
        stream.close();
        return;
      }
      this.closeUnfinishedRequest();
    });
  }

  get headersSent(): boolean {
    return this.sent || this.stream.headersSent;
  }

  get gone(): boolean {
    return this._gone || this.stream.destroyed;
  }

  respond(status: number, headers: http.OutgoingHttpHeaders, endStream: boolean): void {
    if (this.stream.destroyed || this.stream.closed) return;
    this.sent = true;
    this.touch();
    this.respondsEarly();
    const h = h2SafeHeaders(headers);
    h[":status"] = status;
    if (endStream) this.ended = true;
    this.stream.respond(h, { endStream, waitForTrailers: !endStream });
    if (endStream) this.closeUnfinishedRequest();
  }

  /**
   * The response is complete (its END_STREAM submitted) while the client is still sending the
   * request: RST_STREAM with NO_ERROR asks it to stop (RFC 9113 §8.1; Envoy resets such a stream
   * as it ends). Submitted after the response's last frame, so none of it is cancelled.
   */
  private closeUnfinishedRequest(): void {
    const s = this.stream;
    if (!this.requestComplete && !s.destroyed && !s.closed) s.close(http2.constants.NGHTTP2_NO_ERROR);
  }

  write(chunk: Buffer): boolean {
    if (this.stream.destroyed) return true;
    this.touch();
    return this.stream.write(chunk);
  }

  end(trailers?: http.IncomingHttpHeaders): void {
    if (this.ended) return;
    this.ended = true;
    this.trailers = trailers;
    this.touch();
    if (!this.stream.destroyed) this.stream.end();
  }

  reset(): void {
    this.ended = true;
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  }
}
