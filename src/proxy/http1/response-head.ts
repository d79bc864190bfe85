// The HTTP/1 response head, parsed strictly, as Envoy's upstream codec has it (codec_impl.cc,
// ClientConnectionImpl, with the Balsa parser): `HTTP/1.x SP 3DIGIT [SP reason]`, a header block
// with token names and no control characters (no obs-fold, no whitespace before a colon: RFC 9112
// lets a proxy refuse them), at most max_response_headers_count (100) lines, and one framing —
// Transfer-Encoding exactly `chunked` (never with a Content-Length, never on HTTP/1.0, a 1xx or a
// 204), or a Content-Length that is 1*DIGIT and given once (never non-zero on a 1xx or 204), or
// none (the body runs until close). Anything else is a protocol error: the router answers 502 UPE.
import type * as http from "node:http";
import { hasToken, type HopHeaders, invalidHead, parseContentLength, parseEndToEnd } from "./codec.js";

/** Envoy's max_response_headers_count default (common_http_protocol_options.max_headers_count). */
export const MAX_RESPONSE_HEADERS = 100;

export const enum ResponseFraming {
  /** HEAD, 1xx, 204, 304, Content-Length: 0. */
  None,
  Length,
  Chunked,
  UntilClose,
}

export interface ResponseHead {
  status: number;
  /** End-to-end headers (the hop-by-hop ones are in `hop`). */
  headers: http.IncomingHttpHeaders;
  /** The response lets the connection be reused (its own Connection header and version). */
  keepAlive: boolean;
  framing: ResponseFraming;
  /** Body length (ResponseFraming.Length). */
  length: number;
}

/**
 * Parses a response head (`s`: status line and header lines, each with its CRLF, without the blank
 * line) to a request that was a HEAD or not; undefined on a protocol error. `hop` is scratch space.
 */
export function parseResponseHead(s: string, hop: HopHeaders, isHead: boolean): ResponseHead | undefined {
  if (invalidHead(s)) return undefined;
  const le = s.indexOf("\r\n");
  // HTTP/1.x SP 3DIGIT [SP reason]
  if (le < 12 || !s.startsWith("HTTP/1.") || s.charCodeAt(8) !== 32 || (le > 12 && s.charCodeAt(12) !== 32)) return undefined;
  const minor = s.charCodeAt(7) - 48;
  if (minor !== 0 && minor !== 1) return undefined;
  const d0 = s.charCodeAt(9) - 48;
  const d1 = s.charCodeAt(10) - 48;
  const d2 = s.charCodeAt(11) - 48;
  if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return undefined;
  const status = d0 * 100 + d1 * 10 + d2;
  const headers: http.IncomingHttpHeaders = {};
  hop.clear();
  const lines = parseEndToEnd(s, le + 2, s.length - 2, headers, hop, false);
  if (lines < 0 || lines > MAX_RESPONSE_HEADERS) return undefined;
  const connection = hop.connection;
  const keepAlive = minor === 0 ? hasToken(connection, "keep-alive") : !hasToken(connection, "close");
  const te = hop.transferEncoding;
  const cl = headers["content-length"];
  const noContent = status < 200 || status === 204;
  if (te !== undefined) {
    // Both framings (request smuggling's response twin), a coding but chunked, chunked on
    // HTTP/1.0 (RFC 9112 §6.1: faulty framing), or a body on a response that has none.
    if (cl !== undefined || te.toLowerCase() !== "chunked" || minor === 0 || noContent) return undefined;
  }
  let length = 0;
  if (cl !== undefined) {
    length = parseContentLength(cl);
    if (length < 0) return undefined;
    if (noContent) {
      // Envoy papers over "Content-Length: 0" on a 1xx or 204, and refuses any other.
      if (length !== 0) return undefined;
      delete headers["content-length"];
    }
  }
  let framing: ResponseFraming;
  if (isHead || noContent || status === 304) framing = ResponseFraming.None;
  else if (te !== undefined) framing = ResponseFraming.Chunked;
  else if (cl !== undefined) framing = length === 0 ? ResponseFraming.None : ResponseFraming.Length;
  else framing = ResponseFraming.UntilClose;
  return { status, headers, keepAlive, framing, length };
}
