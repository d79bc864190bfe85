// HTTP/1.1 message pieces shared by the proxy's own HTTP/1.1 codecs (the upstream connection pool
// and the downstream fast path): header block parsing with node's rules for repeated headers (so
// the rest of the proxy sees what node:http would have given it), the chunked transfer coding,
// and header serialization with node's validation (an invalid name or value throws, as
// `writeHead` does). Everything works on latin1 strings: bytes map 1:1 to UTF-16 code units, as
// node:http reads and writes header bytes.
import type * as http from "node:http";
import { STATUS_CODES as STATUS_TEXT } from "node:http";

/** RFC 9110 token characters (header names, methods). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * A head (request/status line + header lines, CRLF-separated) with a byte no HTTP/1.1 parser
 * accepts: a control character, or a CR or LF that is not part of a CRLF.
 */
const INVALID_HEAD = /[^\t\r\n\x20-\x7e\x80-\xff]|\r(?!\n)|(?<!\r)\n/;

/** Headers node:http keeps only once (IncomingMessage's matchKnownFields): later copies are dropped. */
const SINGLE = new Set([
  "content-type",
  "content-length",
  "user-agent",
  "referer",
  "host",
  "authorization",
  "proxy-authorization",
  "if-modified-since",
  "if-unmodified-since",
  "from",
  "location",
  "max-forwards",
  "retry-after",
  "etag",
  "last-modified",
  "server",
  "age",
  "expires",
]);

/**
 * The one hop-by-hop list (Envoy's conn_manager_utility.cc: mutateRequestHeaders and
 * mutateResponseHeaders remove exactly these, on every protocol; Connection and Upgrade go on only
 * for an upgrade). On top of it, for requests only: TE unless it is exactly "trailers", HTTP2-Settings
 * (an h2c upgrade's, stripped with it), `Expect: 100-continue` (the proxy answers it) and the headers
 * a Connection header nominates. Envoy forwards Trailer, TE on responses, Proxy-Authenticate and
 * Proxy-Authorization: so does tsmesh.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);

/** Whether a request header (lowercase name) stops at this hop. */
export function requestHopByHop(name: string, value: string | string[] | undefined): boolean {
  if (HOP_BY_HOP.has(name)) return true;
  switch (name) {
    case "te":
      return typeof value !== "string" || value.toLowerCase() !== "trailers";
    case "http2-settings":
      return true;
    case "expect":
      return typeof value === "string" && value.toLowerCase() === "100-continue";
  }
  return false;
}

/** What the parsers need to know about a header name (one lookup per header line). */
const enum Kind {
  Plain,
  SetCookie,
  Cookie,
  /** node:http keeps the first of these (SINGLE). */
  Single,
  ContentLength,
  Connection,
  TransferEncoding,
  Upgrade,
  /** Keep-Alive, Proxy-Connection: never forwarded. */
  Hop,
  /** HTTP2-Settings: never forwarded on requests (h2c). */
  H2Settings,
  Host,
  Expect,
  Te,
}

interface NameInfo {
  readonly lower: string;
  readonly kind: Kind;
}

function kindOf(lower: string): Kind {
  switch (lower) {
    case "set-cookie":
      return Kind.SetCookie;
    case "cookie":
      return Kind.Cookie;
    case "content-length":
      return Kind.ContentLength;
    case "connection":
      return Kind.Connection;
    case "transfer-encoding":
      return Kind.TransferEncoding;
    case "upgrade":
      return Kind.Upgrade;
    case "keep-alive":
    case "proxy-connection":
      return Kind.Hop;
    case "http2-settings":
      return Kind.H2Settings;
    case "host":
      return Kind.Host;
    case "expect":
      return Kind.Expect;
    case "te":
      return Kind.Te;
  }
  return SINGLE.has(lower) ? Kind.Single : Kind.Plain;
}

/** Raw header name → its lowercase form and kind, for names already validated (bounded). */
const names = new Map<string, NameInfo>();

function nameInfo(raw: string): NameInfo | undefined {
  const known = names.get(raw);
  if (known !== undefined) return known;
  if (!TOKEN.test(raw)) return undefined;
  const lower = raw.toLowerCase();
  const info: NameInfo = { lower, kind: kindOf(lower) };
  if (names.size >= 2048) names.clear();
  names.set(raw, info);
  return info;
}

/** The lowercase name of a raw header name, or undefined when it is not a token. */
export function headerName(raw: string): string | undefined {
  return nameInfo(raw)?.lower;
}

/** Adds one header line to a node-style header object (node's rules for repeated headers). */
export function addHeaderLine(h: http.IncomingHttpHeaders, name: string, value: string): void {
  addLine(h, name, names.get(name)?.kind ?? kindOf(name), value);
}

function addLine(h: http.IncomingHttpHeaders, name: string, kind: Kind, value: string): void {
  const cur = h[name];
  if (cur === undefined) {
    h[name] = kind === Kind.SetCookie ? [value] : value;
    return;
  }
  if (kind === Kind.SetCookie) {
    (cur as string[]).push(value);
    return;
  }
  if (kind === Kind.Single || kind === Kind.ContentLength || kind === Kind.Host) return;
  h[name] = `${cur as string}${kind === Kind.Cookie ? "; " : ", "}${value}`;
}

/** Whether a head string holds a byte HTTP/1.1 forbids there (control characters, bare CR/LF). */
export function invalidHead(s: string): boolean {
  return INVALID_HEAD.test(s);
}

/**
 * Parses the header lines of `s` from `from` (the first line after the start line) to `to` (the
 * index of the CRLF that ends the last line, or of the empty line's CRLF) into `h`. Returns false
 * on a malformed line (no colon, a name that is not a token, obs-fold) or a repeated Content-Length.
 */
export function parseHeaderLines(s: string, from: number, to: number, h: http.IncomingHttpHeaders): boolean {
  let i = from;
  while (i < to) {
    let eol = s.indexOf("\r\n", i);
    if (eol < 0 || eol > to) eol = to;
    const colon = s.indexOf(":", i);
    if (colon <= i || colon > eol) return false;
    const info = nameInfo(s.slice(i, colon));
    if (info === undefined) return false;
    const name = info.lower;
    let vs = colon + 1;
    let ve = eol;
    while (vs < ve && (s.charCodeAt(vs) === 32 || s.charCodeAt(vs) === 9)) vs++;
    while (ve > vs && (s.charCodeAt(ve - 1) === 32 || s.charCodeAt(ve - 1) === 9)) ve--;
    // A repeated Content-Length is a framing ambiguity (request smuggling): llhttp rejects it too.
    if (info.kind === Kind.ContentLength && h[name] !== undefined) return false;
    addLine(h, name, info.kind, s.slice(vs, ve));
    i = eol + 2;
  }
  return true;
}

/** Host and the hop-by-hop headers, kept aside by `parseEndToEnd` (repeats folded as node folds them). */
export class HopHeaders {
  host: string | undefined = undefined;
  /** Host lines seen (requests): more than one is an error (RFC 9112 §3.2). */
  hosts = 0;
  connection: string | undefined = undefined;
  transferEncoding: string | undefined = undefined;
  upgrade: string | undefined = undefined;
  /** The request carried `Expect: 100-continue` (kept aside: the proxy answers it itself). */
  expect = false;

  clear(): void {
    this.host = this.connection = this.transferEncoding = this.upgrade = undefined;
    this.hosts = 0;
    this.expect = false;
  }
}

const fold = (a: string | undefined, v: string): string => (a === undefined ? v : `${a}, ${v}`);

/**
 * parseHeaderLines, with the headers a proxy never forwards kept aside in `hop` instead of `h`, so
 * `h` is the end-to-end header set as is: HOP_BY_HOP, and for requests Host and the request-only
 * rules of requestHopByHop. Returns the number of header lines, or -1 on a malformed line (no
 * colon, a name that is not a token — whitespace before the colon, obs-fold) or a repeated
 * Content-Length.
 */
export function parseEndToEnd(s: string, from: number, to: number, h: http.IncomingHttpHeaders, hop: HopHeaders, request: boolean): number {
  let i = from;
  let lines = 0;
  while (i < to) {
    let eol = s.indexOf("\r\n", i);
    if (eol < 0 || eol > to) eol = to;
    const colon = s.indexOf(":", i);
    if (colon <= i || colon > eol) return -1;
    const info = nameInfo(s.slice(i, colon));
    if (info === undefined) return -1;
    let vs = colon + 1;
    let ve = eol;
    while (vs < ve && (s.charCodeAt(vs) === 32 || s.charCodeAt(vs) === 9)) vs++;
    while (ve > vs && (s.charCodeAt(ve - 1) === 32 || s.charCodeAt(ve - 1) === 9)) ve--;
    const value = s.slice(vs, ve);
    i = eol + 2;
    lines++;
    const kind = info.kind;
    switch (kind) {
      case Kind.Plain:
        break;
      case Kind.Connection:
        hop.connection = fold(hop.connection, value);
        continue;
      case Kind.TransferEncoding:
        hop.transferEncoding = fold(hop.transferEncoding, value);
        continue;
      case Kind.Upgrade:
        hop.upgrade = fold(hop.upgrade, value);
        continue;
      case Kind.Hop:
        continue;
      case Kind.H2Settings:
        if (!request) break;
        continue;
      case Kind.Host:
        if (!request) break;
        hop.host ??= value;
        hop.hosts++;
        continue;
      case Kind.Expect:
        // Requests: Envoy answers `100-continue` itself and drops it; other expectations go on.
        if (!request || value.toLowerCase() !== "100-continue") break;
        hop.expect = true;
        continue;
      case Kind.Te:
        // Requests: only "TE: trailers" goes on (gRPC); responses keep it (Envoy does).
        if (request && value.toLowerCase() !== "trailers") continue;
        break;
      case Kind.ContentLength:
        if (h[info.lower] !== undefined) return -1; // repeated: ambiguous framing
        break;
    }
    addLine(h, info.lower, kind, value);
  }
  return lines;
}

/**
 * A message head arriving in pieces (a slow peer may send it a byte at a time): the copy grows by
 * doubling and the search for the blank line resumes where it stopped, so a head of n bytes costs
 * O(n) however it is split, never O(n²).
 */
export class HeadBuffer {
  private buf: Buffer | undefined = undefined;
  private len = 0;
  private scanned = 0;

  get length(): number {
    return this.len;
  }

  /** The bytes so far (a view, valid until the next append). */
  get bytes(): Buffer {
    return this.buf === undefined ? EMPTY : this.buf.subarray(0, this.len);
  }

  append(c: Buffer): void {
    const need = this.len + c.length;
    if (this.buf === undefined || need > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(need, this.len * 2, 1024));
      if (this.buf !== undefined) this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    c.copy(this.buf, this.len);
    this.len = need;
  }

  /** The index of the CRLFCRLF that ends the head, or -1 (bytes searched before are not searched again). */
  headEnd(): number {
    if (this.buf === undefined) return -1;
    const at = this.buf.subarray(0, this.len).indexOf(CRLFCRLF, this.scanned);
    this.scanned = at < 0 ? Math.max(0, this.len - 3) : at;
    return at;
  }

  clear(): void {
    this.buf = undefined;
    this.len = this.scanned = 0;
  }
}

const EMPTY = Buffer.alloc(0);
/** The blank line that ends a head. */
export const CRLFCRLF = Buffer.from("\r\n\r\n", "latin1");

/**
 * Whether `b[from..]` holds a LF that does not end a CRLF (RFC 9112 §2.2 lets a recipient accept
 * one; tsmesh refuses it, as it does a bare CR: a head that uses them never ends in CRLFCRLF).
 */
export function hasBareLf(b: Buffer, from: number): boolean {
  let i = b.indexOf(10, from);
  while (i >= 0) {
    if (i === 0 || b[i - 1] !== 13) return true;
    i = b.indexOf(10, i + 1);
  }
  return false;
}

/** Does a comma-separated header value hold `token` (lowercase), case-insensitively? */
export function hasToken(v: string | string[] | undefined, token: string): boolean {
  if (v === undefined) return false;
  const s = (typeof v === "string" ? v : v.join(",")).toLowerCase();
  if (s === token) return true;
  let i = s.indexOf(token);
  while (i >= 0) {
    const before = i === 0 ? 44 : s.charCodeAt(i - 1);
    const after = i + token.length >= s.length ? 44 : s.charCodeAt(i + token.length);
    if ((before === 44 || before === 32 || before === 9) && (after === 44 || after === 32 || after === 9)) return true;
    i = s.indexOf(token, i + 1);
  }
  return false;
}

/**
 * Appends `name: value\r\n` lines for a node-style outgoing header object (arrays repeat the
 * header; undefined values are skipped). Throws like node's writeHead on a name that is not a token.
 */
export function serializeHeaders(h: http.OutgoingHttpHeaders, out: string): string {
  for (const k in h) {
    const v = h[k];
    if (v !== undefined) out = appendHeader(out, k, v);
  }
  return out;
}

/**
 * Appends one header (every value of an array). Names must be tokens (else it throws, as
 * writeHead does). Values are not checked again: every value that gets here was validated on the
 * way in — by the codecs (no control characters, no bare CR or LF), nghttp2, or the route config
 * (Envoy's rule: no NUL, CR or LF) — so none can split the line.
 */
export function appendHeader(out: string, name: string, v: string | number | readonly string[]): string {
  if (nameInfo(name) === undefined) throw invalidToken(name);
  if (typeof v === "string") return out + name + ": " + v + "\r\n";
  if (typeof v === "number") return out + name + ": " + v + "\r\n";
  for (let i = 0; i < v.length; i++) out += name + ": " + String(v[i]) + "\r\n";
  return out;
}

/** One header line with a value from elsewhere (Host, Upgrade), checked: no CR, LF or NUL. */
export function headerLine(name: string, value: string): string {
  if (UNSAFE_VALUE.test(value)) throw invalidChar(name);
  return `${name}: ${value}\r\n`;
}

const UNSAFE_VALUE = /[\0\r\n]/;

function invalidToken(name: string): Error {
  const e = new TypeError(`Header name must be a valid HTTP token ["${name}"]`) as TypeError & { code: string };
  e.code = "ERR_INVALID_HTTP_TOKEN";
  return e;
}

function invalidChar(name: string): Error {
  const e = new TypeError(`Invalid character in header content ["${name}"]`) as TypeError & { code: string };
  e.code = "ERR_INVALID_CHAR";
  return e;
}

/** A decimal Content-Length (digits only, at most 15 of them), or -1. */
export function parseContentLength(v: string | string[] | undefined): number {
  if (typeof v !== "string" || v.length === 0 || v.length > 15) return -1;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  return Number(v);
}

/** Receives decoded body bytes. */
export interface BodyTarget {
  body(chunk: Buffer): void;
}

const enum Chunk {
  Size,
  Data,
  DataEnd,
  Trailers,
  Done,
}

/**
 * Longest chunk-size line (size and extensions) kept while waiting for its end: extensions are
 * never read, so there is no reason to hold more (Envoy's Balsa reads them into nothing too).
 */
const MAX_CHUNK_LINE = 4096;
/** Longest trailer section kept while waiting for its end. */
const MAX_TRAILERS = 64 * 1024;

/**
 * The chunked transfer coding, decoded incrementally. `feed` hands data to the target as it
 * arrives (subarrays of the input, no copies) and returns where the message ended in `buf`
 * (bytes after it belong to the next message), -1 when it needs more bytes, or -2 on a framing
 * error. Trailers are parsed into `trailers`.
 */
export class ChunkedDecoder {
  private state = Chunk.Size;
  private remaining = 0;
  private line = "";
  trailers: http.IncomingHttpHeaders | undefined = undefined;

  get done(): boolean {
    return this.state === Chunk.Done;
  }

  feed(buf: Buffer, start: number, target: BodyTarget): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case Chunk.Size: {
          const lf = buf.indexOf(10, i);
          if (lf < 0) {
            this.line += buf.toString("latin1", i, n);
            if (this.line.length > MAX_CHUNK_LINE) return -2;
            return -1;
          }
          if (this.line.length + lf - i > MAX_CHUNK_LINE) return -2;
          const line = this.line + buf.toString("latin1", i, lf);
          this.line = "";
          i = lf + 1;
          if (line.length === 0 || line.charCodeAt(line.length - 1) !== 13) return -2;
          const size = chunkSize(line, line.length - 1);
          if (size < 0) return -2;
          if (size === 0) {
            this.state = Chunk.Trailers;
          } else {
            this.remaining = size;
            this.state = Chunk.Data;
          }
          break;
        }
        case Chunk.Data: {
          const take = Math.min(this.remaining, n - i);
          target.body(i === 0 && take === n ? buf : buf.subarray(i, i + take));
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) {
            this.state = Chunk.DataEnd;
            this.remaining = 2;
          }
          break;
        }
        case Chunk.DataEnd: {
          // The CRLF after the chunk data (it may arrive split).
          const c = buf[i++];
          if (this.remaining === 2 ? c !== 13 : c !== 10) return -2;
          if (--this.remaining === 0) this.state = Chunk.Size;
          break;
        }
        case Chunk.Trailers: {
          // Trailer lines, then the empty line. `line` keeps what came so far.
          const text = this.line + buf.toString("latin1", i, n);
          const end = text.startsWith("\r\n") ? 0 : text.indexOf("\r\n\r\n");
          if (end < 0) {
            if (text.length > MAX_TRAILERS) return -2;
            this.line = text;
            return -1;
          }
          const consumedBefore = this.line.length;
          this.line = "";
          if (end > 0) {
            if (end + 2 > MAX_TRAILERS || invalidHead(text.slice(0, end + 2))) return -2;
            const t: http.IncomingHttpHeaders = {};
            if (!parseHeaderLines(text, 0, end, t)) return -2;
            this.trailers = t;
          }
          this.state = Chunk.Done;
          return i + (end === 0 ? 2 : end + 4) - consumedBefore;
        }
        case Chunk.Done:
          return i;
      }
    }
    return this.state === Chunk.Done ? i : -1;
  }
}

/**
 * The size of a chunk-size line (s[0, end)): 1*HEXDIG, then nothing, or extensions — optional
 * whitespace, `;`, and visible characters, whitespace or obs-text (never a control character such
 * as a lone CR); -1 otherwise.
 */
function chunkSize(s: string, end: number): number {
  let size = 0;
  let i = 0;
  for (; i < end; i++) {
    const c = s.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else if (c >= 65 && c <= 70) d = c - 55;
    else break;
    if (i >= 12) return -1; // more than 2^48 bytes in one chunk
    size = size * 16 + d;
  }
  if (i === 0) return -1;
  if (i === end) return size;
  // Extensions (`;name=value`), optionally after whitespace, are ignored.
  while (i < end && (s.charCodeAt(i) === 32 || s.charCodeAt(i) === 9)) i++;
  if (i >= end || s.charCodeAt(i) !== 59 /* ; */) return -1;
  for (; i < end; i++) {
    const c = s.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127) return -1;
  }
  return size;
}

/** Writes one chunk of the chunked coding as a single buffer (size line, data, CRLF). */
export function encodeChunk(chunk: Buffer): Buffer {
  const size = chunk.length.toString(16);
  const out = Buffer.allocUnsafe(size.length + 4 + chunk.length);
  out.write(size, 0, "latin1");
  out[size.length] = 13;
  out[size.length + 1] = 10;
  chunk.copy(out, size.length + 2);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}

/** The last chunk of a chunked body (no trailers). */
export const LAST_CHUNK = Buffer.from("0\r\n\r\n", "latin1");

const REASONS: Record<number, string> = {};

/** "HTTP/1.1 200 OK\r\n" (cached per status). */
export function statusLine(status: number, reason?: string): string {
  if (reason !== undefined) return `HTTP/1.1 ${status} ${reason}\r\n`;
  let s = REASONS[status];
  if (s === undefined) {
    s = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "unknown"}\r\n`;
    REASONS[status] = s;
  }
  return s;
}

let dateSecond = -1;
let dateValue = "";

/** The Date header value for now (node:http's format, cached per second). */
export function httpDate(): string {
  const now = Date.now();
  const sec = Math.floor(now / 1000);
  if (sec !== dateSecond) {
    dateSecond = sec;
    dateValue = new Date(sec * 1000).toUTCString();
  }
  return dateValue;
}
