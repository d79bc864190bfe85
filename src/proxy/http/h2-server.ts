// The HCM's HTTP/2 server (node:http2, nghttp2) with its flood limits set on purpose, and Envoy's
// premature-reset guard (the mitigation of CVE-2023-44487, "rapid reset"). What each limit follows:
// - SETTINGS_MAX_HEADER_LIST_SIZE = max_request_headers_kb, maxHeaderListPairs = max_headers_count
//   (Envoy's defaults 60 KiB and 100): an HPACK bomb or a header-count flood resets its stream.
// - nghttp2 (1.61 in node 20) ends a session on its own for a CONTINUATION flood (a bounded number
//   of CONTINUATION frames per header block), a stream-reset rate above 1000 burst / 33 per s, and
//   an outbound queue of SETTINGS/PING ACKs past 1000 (Envoy's max_outbound_control_frames is the
//   same 1000) — a client that floods them without reading is cut off.
// - maxSessionInvalidFrames 1000, maxSessionRejectedStreams 100 (node's defaults, stated here).
// - maxSessionMemory bounds what one session may hold buffered (new streams are refused above it).
// - Premature resets: as Envoy's conn_manager_impl.cc maybeDrainDueToPrematureResets, a connection
//   whose client reset half of its streams within 1 s of opening them — once 500 streams were
//   opened, or as soon as 250 were reset that way — is closed
//   (http.PREFIX.downstream_rq_too_many_premature_resets).
import * as http2 from "node:http2";

/** Envoy's overload.premature_reset_total_stream_count default. */
const PREMATURE_RESET_STREAMS = 500;
/** Envoy's premature_reset_min_stream_lifetime_seconds default. */
const PREMATURE_RESET_LIFETIME_MS = 1000;

export interface H2ServerLimits {
  /** http2_protocol_options.max_concurrent_streams. */
  maxConcurrentStreams: number;
  /** max_request_headers_kb in bytes. */
  maxHeaderListSize: number;
  /** common_http_protocol_options.max_headers_count. */
  maxHeadersCount: number;
}

export function createH2Server(l: H2ServerLimits): http2.Http2Server {
  return http2.createServer({
    maxSessionMemory: 64,
    maxHeaderListPairs: Math.max(4, l.maxHeadersCount),
    maxSessionInvalidFrames: 1000,
    maxSessionRejectedStreams: 100,
    settings: {
      maxConcurrentStreams: Math.min(l.maxConcurrentStreams, 0xffffffff),
      maxHeaderListSize: l.maxHeaderListSize,
      enablePush: false,
    },
  });
}

/** Per session: streams opened, and those the client reset early. */
class ResetCount {
  streams = 0;
  premature = 0;
}

/** Envoy's premature-reset guard over every session of one HCM. */
export class PrematureResetGuard {
  private readonly sessions = new WeakMap<http2.Http2Session, ResetCount>();

  constructor(private readonly onTooMany: () => void) {}

  /** A stream opened on `session`; returns its start time for `reset`. */
  opened(session: http2.Http2Session): number {
    let c = this.sessions.get(session);
    if (c === undefined) this.sessions.set(session, (c = new ResetCount()));
    c.streams++;
    return Date.now();
  }

  /** The client reset a stream (or went away) before its response ended. */
  reset(session: http2.Http2Session, openedAt: number): void {
    const c = this.sessions.get(session);
    if (c === undefined || Date.now() - openedAt >= PREMATURE_RESET_LIFETIME_MS) return;
    c.premature++;
    const limit = c.streams < PREMATURE_RESET_STREAMS ? PREMATURE_RESET_STREAMS : c.streams;
    if (c.premature * 2 < limit || session.destroyed) return;
    this.onTooMany();
    session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    session.destroy();
  }
}
