// The HTTP/1 request head, parsed strictly, as Envoy's codec (codec_impl.cc with the Balsa parser,
// the default) and RFC 9112 have it: the request line (a method from Balsa's list, a target in
// origin, absolute, authority (CONNECT) or asterisk (OPTIONS) form, HTTP/1.1 — HTTP/1.0 and 0.9 only
// with http_protocol_options.accept_http_10), the header block (token names, no whitespace before
// the colon, no obs-fold, no control characters, at most max_headers_count lines), Host (one, valid,
// required on HTTP/1.1), the message framing (Content-Length as 1*DIGIT, once; Transfer-Encoding
// exactly `chunked`; never both unless allow_chunked_length), the headers a Connection header
// nominates (removed; some may not be), upgrades (h2c stripped, others put the connection in
// upgrade mode) and `Expect: 100-continue`. A head this module refuses is answered by the codec
// with `status` and Envoy's response code details, and never reaches anything else.
import type * as http from "node:http";
import { hasToken, HopHeaders, invalidHead, parseContentLength, parseEndToEnd } from "../http1/codec.js";
import { splitAbsoluteForm } from "./absolute-form.js";
import type { DownstreamProtocol } from "./downstream.js";

/** The codec settings of an HCM (http_protocol_options, common_http_protocol_options). */
export interface H1CodecSettings {
  /** max_request_headers_kb, in bytes (Envoy's default 60 KiB). */
  maxRequestHeadersBytes: number;
  /** common_http_protocol_options.max_headers_count (Envoy's default 100). */
  maxRequestHeadersCount: number;
  /** http_protocol_options.accept_http_10 (default false: HTTP/1.0 and 0.9 get 426). */
  acceptHttp10: boolean;
  /** http_protocol_options.default_host_for_http_10. */
  defaultHostForHttp10: string;
  /** http_protocol_options.allow_chunked_length: chunked wins over a Content-Length, which is dropped. */
  allowChunkedLength: boolean;
  /** common_http_protocol_options.idle_timeout: a connection with no request for this long closes (0: never). */
  idleTimeoutMs: number;
}

export const DEFAULT_H1_SETTINGS: H1CodecSettings = {
  maxRequestHeadersBytes: 60 * 1024,
  maxRequestHeadersCount: 100,
  acceptHttp10: false,
  defaultHostForHttp10: "",
  allowChunkedLength: false,
  idleTimeoutMs: 3_600_000,
};

export const enum Framing {
  None,
  Length,
  Chunked,
}

/** A request head the codec accepted. */
export interface RequestHead {
  method: string;
  protocol: DownstreamProtocol;
  /** Host / :authority: from an absolute-form or authority-form target, else the Host header. */
  authority: string;
  /** Origin-form path with the query ("" for CONNECT). */
  path: string;
  /** End-to-end headers only (no Host, no hop-by-hop header): sent upstream as they are. */
  headers: http.IncomingHttpHeaders;
  framing: Framing;
  /** Body length (Framing.Length). */
  length: number;
  /** The request lets the connection stay open (before the listener's draining is considered). */
  keepAlive: boolean;
  /** Upgrade mode: the Upgrade value, or "CONNECT"; the bytes after the head are its payload. */
  upgrade: string | undefined;
  /** `Expect: 100-continue` was sent (the codec answers it). */
  expectContinue: boolean;
}

/** A head the codec refuses: the answer's status and Envoy's response code details. */
export interface HeadError {
  status: 400 | 426 | 431 | 501;
  details: string;
  /** What was parsed before the error (for the access log). */
  method: string;
  path: string;
  protocol: DownstreamProtocol;
}

/** Balsa's method list (balsa_parser.cc isMethodValid; allow_custom_methods is off by default). */
const METHODS: ReadonlySet<string> = new Set([
  "ACL", "BIND", "CHECKOUT", "CONNECT", "COPY", "DELETE", "GET", "HEAD", "LINK", "LOCK", "MERGE", "MKACTIVITY", "MKCALENDAR", "MKCOL", "MOVE", "MSEARCH", "NOTIFY",
  "OPTIONS", "PATCH", "POST", "PROPFIND", "PROPPATCH", "PURGE", "PUT", "REBIND", "REPORT", "SEARCH", "SOURCE", "SUBSCRIBE", "TRACE", "UNBIND", "UNLINK", "UNLOCK", "UNSUBSCRIBE",
]); // prettier-ignore
/** A request target: visible ASCII only (no space, tab, control byte or obs-text). */
const TARGET_INVALID = /[^\x21-\x7e]/;
/** An authority (Host, CONNECT target): RFC 3986 reg-name / IP literal characters and a port. */
const AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:@[\]%]*$/;
const VERSION = /^HTTP\/\d\.\d$/;
/** Connection tokens that name no header (Envoy's sanitizeConnectionHeader skips them). */
const CONNECTION_OPTIONS: ReadonlySet<string> = new Set(["close", "keep-alive", "upgrade", "http2-settings"]);
/** Headers a Connection header may not nominate for removal (sanitizeConnectionHeader). */
const NOT_NOMINABLE: ReadonlySet<string> = new Set(["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"]);
/** Envoy's MAX_ALLOWED_NOMINATED_HEADERS: ten or more Connection tokens are refused. */
const MAX_CONNECTION_TOKENS = 10;

function fail(status: HeadError["status"], details: string, method = "", path = "", protocol: DownstreamProtocol = "HTTP/1.1"): HeadError {
  return { status, details, method, path, protocol };
}

/**
 * The first line of a request (`line` without its CRLF), checked as soon as it is complete (an
 * HTTP/0.9 request has nothing after it): a HeadError, or undefined when it is acceptable.
 */
export function checkRequestLine(line: string, settings: H1CodecSettings): HeadError | undefined {
  const sp1 = line.indexOf(" ");
  if (sp1 <= 0) return fail(400, "http1.codec_error");
  const method = line.slice(0, sp1);
  if (!METHODS.has(method)) return fail(400, "http1.codec_error");
  const sp2 = line.indexOf(" ", sp1 + 1);
  const target = sp2 < 0 ? line.slice(sp1 + 1) : line.slice(sp1 + 1, sp2);
  if (target === "" || TARGET_INVALID.test(target)) return fail(400, "http1.codec_error", method);
  // HTTP/0.9 (no version) and every version but 1.1 count as HTTP/1.0 (checkProtocolVersion).
  if (sp2 < 0) return fail(settings.acceptHttp10 ? 400 : 426, settings.acceptHttp10 ? "http1.codec_error" : "low_version", method, target, "HTTP/1.0");
  const version = line.slice(sp2 + 1);
  if (!VERSION.test(version)) return fail(400, "http1.codec_error", method, target);
  if (version !== "HTTP/1.1" && !settings.acceptHttp10) return fail(426, "low_version", method, target, "HTTP/1.0");
  return undefined;
}

/**
 * Parses a complete request head (`s`: request line and header lines, each with its CRLF, without
 * the blank line). `hop` is scratch space (reused per connection).
 */
export function parseRequestHead(s: string, settings: H1CodecSettings, hop: HopHeaders): RequestHead | HeadError {
  const le = s.indexOf("\r\n");
  const line = s.slice(0, le);
  const bad = checkRequestLine(line, settings);
  if (bad !== undefined) return bad;
  const sp1 = line.indexOf(" ");
  const sp2 = line.indexOf(" ", sp1 + 1);
  const method = line.slice(0, sp1);
  const target = line.slice(sp1 + 1, sp2);
  const protocol: DownstreamProtocol = line.endsWith(" HTTP/1.1") ? "HTTP/1.1" : "HTTP/1.0";
  if (invalidHead(s)) return fail(400, "http1.invalid_characters", method, target, protocol);
  const headers: http.IncomingHttpHeaders = {};
  hop.clear();
  const lines = parseEndToEnd(s, le + 2, s.length - 2, headers, hop, true);
  if (lines < 0) return fail(400, "http1.codec_error", method, target, protocol);
  if (lines > settings.maxRequestHeadersCount) return fail(431, "http1.too_many_headers", method, target, protocol);

  // The target: origin-form, asterisk-form (OPTIONS only), authority-form (CONNECT only), absolute-form.
  const connect = method === "CONNECT";
  let authority: string;
  let path: string;
  const c0 = target.charCodeAt(0);
  if (connect) {
    if (!AUTHORITY.test(target) || target.indexOf(":") < 0) return fail(400, "http1.invalid_url", method, target, protocol);
    authority = target;
    path = "";
  } else if (c0 === 47 /* / */ || (c0 === 42 /* * */ && target.length === 1 && method === "OPTIONS")) {
    authority = hop.host ?? "";
    path = target;
  } else {
    // Absolute-form: the host in the target wins over Host (RFC 9112 §3.2.2; Envoy's handlePath).
    const t = splitAbsoluteForm(target);
    if (t === undefined || !AUTHORITY.test(t.authority)) return fail(400, "http1.invalid_url", method, target, protocol);
    authority = t.authority;
    path = t.path;
  }

  // Host: exactly one on HTTP/1.1 (RFC 9112 §3.2; Envoy: missing_host_header), and a valid one.
  if (hop.hosts > 1) return fail(400, "http1.codec_error", method, target, protocol);
  if (hop.host !== undefined && !AUTHORITY.test(hop.host)) return fail(400, "http.invalid_authority", method, target, protocol);
  if (hop.hosts === 0 && authority === "") {
    if (protocol === "HTTP/1.1") return fail(400, "missing_host_header", method, target, protocol);
    authority = settings.defaultHostForHttp10;
    if (authority === "") return fail(400, "missing_host_header", method, target, protocol);
  }

  // Framing.
  const te = hop.transferEncoding;
  const cl = headers["content-length"];
  let framing = Framing.None;
  let length = 0;
  if (te !== undefined) {
    const chunked = te.toLowerCase() === "chunked";
    if (cl !== undefined) {
      if (!chunked || !settings.allowChunkedLength) return fail(400, "http1.content_length_and_chunked_not_allowed", method, target, protocol);
      delete headers["content-length"];
    }
    if (!chunked || connect) return fail(501, "http1.invalid_transfer_encoding", method, target, protocol);
    // Transfer-Encoding on HTTP/1.0 is faulty framing (RFC 9112 §6.1).
    if (protocol !== "HTTP/1.1") return fail(400, "http1.codec_error", method, target, protocol);
    framing = Framing.Chunked;
  } else if (cl !== undefined) {
    length = parseContentLength(cl);
    if (length < 0) return fail(400, "http1.codec_error", method, target, protocol);
    if (connect) {
      // A CONNECT has no body (codec_impl.cc: "0" is dropped, anything else refused).
      if (length > 0) return fail(400, "http1.body_disallowed", method, target, protocol);
      delete headers["content-length"];
    } else if (length > 0) framing = Framing.Length;
  }

  const conn = hop.connection;
  // Upgrade mode (Envoy's handling_upgrade_): an h2c upgrade is stripped and served as HTTP/1.1
  // (its Upgrade, HTTP2-Settings and Connection are never forwarded); any other upgrade, and
  // CONNECT, makes the bytes after the head the upgrade's payload: no body framing, so neither
  // Content-Length nor Transfer-Encoding goes upstream.
  let upgrade: string | undefined;
  if (connect) upgrade = "CONNECT";
  else if (hop.upgrade !== undefined && hasToken(conn, "upgrade") && hop.upgrade.toLowerCase() !== "h2c") upgrade = hop.upgrade;
  if (upgrade !== undefined) {
    framing = Framing.None;
    delete headers["content-length"];
  } else if (conn !== undefined && !sanitizeConnection(conn, headers)) {
    return fail(400, "http1.connection_header_rejected", method, target, protocol);
  }

  const keepAlive = protocol === "HTTP/1.1" ? !hasToken(conn, "close") : hasToken(conn, "keep-alive");
  return { method, protocol, authority, path, headers, framing, length, keepAlive, upgrade, expectContinue: hop.expect && protocol === "HTTP/1.1" };
}

/**
 * Envoy's sanitizeConnectionHeader: the headers a Connection header nominates are hop-by-hop and
 * removed; ten or more tokens, or nominating X-Forwarded-For/-Host/-Proto or a pseudo-header (a
 * way to hide the request's origin from the next hop), refuse the request.
 */
function sanitizeConnection(value: string, headers: http.IncomingHttpHeaders): boolean {
  const v = value.toLowerCase();
  if (CONNECTION_OPTIONS.has(v)) return true; // the usual case: one option, nothing nominated
  const tokens = v.split(",");
  if (tokens.length >= MAX_CONNECTION_TOKENS) return false;
  for (const raw of tokens) {
    const t = raw.trim();
    if (t === "" || CONNECTION_OPTIONS.has(t)) continue;
    if (NOT_NOMINABLE.has(t) || t.charCodeAt(0) === 58 /* : */) return false;
    // TE is kept aside by the codec unless it is exactly "trailers"; nominated, it may stay so.
    if (t !== "te") delete headers[t];
  }
  return true;
}
