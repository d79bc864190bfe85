// Reading a request and writing a response the way go-httpbin does: headers under Go's canonical
// names, query and form values as sorted arrays, the client IP and URL as go-httpbin derives them,
// bodies read up to the size limit and echoed as data/form/json, errors as
// {"status_code", "error", "detail"} in JSON indented by two spaces.
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";

export const JSON_TYPE = "application/json; charset=utf-8";

export const TEXT_TYPE = "text/plain; charset=utf-8";

export const HTML_TYPE = "text/html; charset=utf-8";

export const BINARY_TYPE = "application/octet-stream";

export type Values = Record<string, string[]>;

export interface Options {
  maxBodySize: number;
  maxDurationMs: number;
  env: Record<string, string>;
  version: string | undefined;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    detail?: string,
  ) {
    super(detail ?? "");
  }
}

export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Go's http.CanonicalHeaderKey: "x-b3-sampled" → "X-B3-Sampled"; keys with non-token bytes unchanged. */
export function canonicalHeaderKey(key: string): string {
  if (!TOKEN.test(key)) return key;
  let upper = true;
  let out = "";
  for (const ch of key) {
    out += upper ? ch.toUpperCase() : ch.toLowerCase();
    upper = ch === "-";
  }
  return out;
}

/** Sorted copy (Go marshals maps with sorted keys). */
export function sorted<T>(obj: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(obj).sort()) out[k] = obj[k];
  return out;
}

export function parseValues(query: string): Values {
  const out: Values = {};
  for (const [k, v] of new URLSearchParams(query)) (out[k] ??= []).push(v);
  return sorted(out);
}

function requestHost(req: IncomingMessage): string {
  const target = req.url ?? "/";
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    try {
      return new URL(target).host;
    } catch {
      // fall through to the Host header
    }
  }
  return req.headers.host ?? "";
}

/** Path and query of the request target (absolute-form targets, as a proxy sends them, reduced). */
export function pathAndQuery(req: IncomingMessage): { path: string; query: string; raw: string } {
  let raw = req.url ?? "/";
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
    try {
      const u = new URL(raw);
      raw = u.pathname + u.search;
    } catch {
      raw = "/";
    }
  }
  const q = raw.indexOf("?");
  const rawPath = q < 0 ? raw : raw.slice(0, q);
  let path = rawPath;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    // keep the raw path
  }
  return { path, query: q < 0 ? "" : raw.slice(q + 1), raw };
}

/** The request headers as go-httpbin shows them: canonical names, every value, Host included. */
export function requestHeaders(req: IncomingMessage): Values {
  const out: Values = {};
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = canonicalHeaderKey(raw[i]);
    if (key === "Host") continue;
    (out[key] ??= []).push(raw[i + 1]);
  }
  out.Host = [requestHost(req)];
  return sorted(out);
}

/** go-httpbin's getClientIP: well-known client-IP headers, then X-Forwarded-For's first entry, then the peer. */
export function clientIP(req: IncomingMessage): string {
  for (const h of ["fly-client-ip", "cf-connecting-ip", "fastly-client-ip", "true-client-ip"]) {
    const v = req.headers[h];
    if (typeof v === "string" && v !== "") return v;
  }
  const xff = req.headers["x-forwarded-for"];
  const first = Array.isArray(xff) ? xff[0] : xff;
  if (first) return first.split(",")[0].trim();
  return req.socket.remoteAddress ?? "";
}

export function requestURL(req: IncomingMessage): string {
  let scheme = header(req, "x-forwarded-proto") || header(req, "x-forwarded-protocol");
  if (!scheme && header(req, "x-forwarded-ssl") === "on") scheme = "https";
  if (!scheme) scheme = "http";
  return `${scheme}://${requestHost(req)}${pathAndQuery(req).raw}`;
}

export function header(req: IncomingMessage, name: string): string {
  const v = req.headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? "";
}

export function writeBody(res: ServerResponse, code: number, contentType: string, body: string | Buffer): void {
  res.setHeader("Content-Type", contentType);
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.writeHead(code, STATUS_CODES[code] ?? `status code ${code}`);
  res.end(body);
}

export function writeJSON(res: ServerResponse, code: number, value: unknown): void {
  writeBody(res, code, JSON_TYPE, JSON.stringify(value, null, 2) + "\n");
}

export function writeError(res: ServerResponse, code: number, detail?: string): void {
  const body: Record<string, unknown> = { status_code: code, error: STATUS_CODES[code] ?? "" };
  if (detail) body.detail = detail;
  writeJSON(res, code, body);
}

export function noBody(req: IncomingMessage, args: Values): Record<string, unknown> {
  return { args, headers: requestHeaders(req), method: req.method, origin: clientIP(req), url: requestURL(req) };
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw new HttpError(400, "error parsing request body: http: request body too large");
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** go-httpbin's bodyResponse: the raw body in `data`, parsed as `form` or `json` by Content-Type. */
export async function withBody(req: IncomingMessage, args: Values, opts: Options): Promise<Record<string, unknown>> {
  const body = await readBody(req, opts.maxBodySize);
  const out: Record<string, unknown> = { ...noBody(req, args), data: "", files: {}, form: {}, json: null };
  if (body.length === 0) return out;
  out.data = body.toString("utf8");
  const contentType = header(req, "content-type").split(";")[0].trim();
  switch (contentType) {
    case "text/html":
    case "text/plain":
      break;
    case "application/x-www-form-urlencoded":
      out.form = parseValues(body.toString("utf8"));
      break;
    case "application/json":
      try {
        out.json = JSON.parse(body.toString("utf8")) as unknown;
      } catch (err) {
        throw new HttpError(400, `error parsing request body: ${(err as Error).message}`);
      }
      break;
    default: {
      // Unknown types (multipart included) come back as a base64 data URL, padded URL-safe alphabet.
      const b64 = body.toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
      out.data = `data:${contentType || BINARY_TYPE};base64,${b64}`;
    }
  }
  return out;
}
