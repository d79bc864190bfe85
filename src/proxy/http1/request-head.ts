// The HTTP/1.1 request head an upstream connection sends, from the structured request the router
// hands the pool: serialised as the codec writes heads (Host first; names must be tokens; values
// that come from outside the codecs checked for CR, LF and NUL), the headers the proxy sets on each
// try replacing same-named ones, the upgrade, and the body's framing.
import type * as http from "node:http";
import { appendHeader, headerLine } from "./codec.js";

/** How the request body is framed on the wire. */
export const enum BodyMode {
  /** No request body (nothing framed). */
  None,
  /** Raw bytes (the head carries Content-Length). */
  Raw,
  /** Chunked transfer coding. */
  Chunked,
}

export interface H1RequestHead {
  readonly method: string;
  /** The request target (origin form, with query). */
  readonly path: string;
  /** Sent as Host (and what TLS pools key on with auto_sni). */
  readonly authority: string;
  /** End-to-end request headers, lowercase; any `host` or `te` among them is not sent. */
  readonly headers: http.OutgoingHttpHeaders;
  /** Headers this try sets (Envoy's x-envoy-*), replacing any of the same name in `headers`. */
  readonly tryHeaders: ReadonlyArray<readonly [name: string, value: string]>;
  /** An allowed upgrade's protocol (sent with `connection: Upgrade`). */
  readonly upgrade: string | undefined;
  readonly body: BodyMode;
}

/** Methods node:http sends without framing when they have no body (others get content-length: 0). */
const NO_BODY_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"]);

function isSet(set: H1RequestHead["tryHeaders"], name: string): boolean {
  for (let i = 0; i < set.length; i++) if (set[i][0] === name) return true;
  return false;
}

/** The request head, CRLF-terminated. Throws (ERR_INVALID_HTTP_TOKEN / ERR_INVALID_CHAR) as writeHead would. */
export function serializeRequestHead(r: H1RequestHead): string {
  let head = r.method + " " + r.path + " HTTP/1.1\r\n" + headerLine("host", r.authority);
  const set = r.tryHeaders;
  const h = r.headers;
  for (const k in h) {
    const v = h[k];
    if (v === undefined || k === "te" || k === "host") continue;
    if (set.length > 0 && isSet(set, k)) continue;
    head = appendHeader(head, k, v);
  }
  for (const [n, v] of set) head += n + ": " + v + "\r\n";
  if (r.upgrade !== undefined) head += "connection: Upgrade\r\n" + headerLine("upgrade", r.upgrade);
  if (r.body === BodyMode.Chunked) head += "transfer-encoding: chunked\r\n";
  else if (r.body === BodyMode.None && h["content-length"] === undefined && !NO_BODY_METHODS.has(r.method)) head += "content-length: 0\r\n";
  return head + "\r\n";
}
