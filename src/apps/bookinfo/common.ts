// Shared pieces of the bookinfo apps: the HTTP server built from an AppContext, the outbound HTTP
// client (plain node:http that honours the standard proxy variables the way curl does), and the
// tracing/context header propagation lists of Istio's originals. No mesh-specific code lives here:
// an app reaches `http://reviews:9080/...` by name only because HTTP_PROXY points somewhere that
// serves absolute-form requests.

import http from "node:http";
import net from "node:net";
import type { AppContext, RunningApp } from "../types.js";

// ---------------------------------------------------------------------------------------------
// Header propagation
// ---------------------------------------------------------------------------------------------

/** B3 headers. productpage.py propagates these through its B3 propagator, reviews lists them. */
export const B3_HEADERS: readonly string[] = [
  "x-b3-traceid",
  "x-b3-spanid",
  "x-b3-parentspanid",
  "x-b3-sampled",
  "x-b3-flags",
  "b3",
];

/**
 * The incoming headers productpage.py's getForwardHeaders copies verbatim (besides B3, which the
 * original re-injects through its propagator, and `end-user`, which it sets from the session).
 */
export const PRODUCTPAGE_FORWARD_HEADERS: readonly string[] = [
  "x-request-id",
  "x-ot-span-context",
  "x-datadog-trace-id",
  "x-datadog-parent-id",
  "x-datadog-sampling-priority",
  "traceparent",
  "tracestate",
  "x-cloud-trace-context",
  "grpc-trace-bin",
  "sw8",
  "user-agent",
  "cookie",
  "authorization",
  "jwt",
];

/** LibertyRestEndpoint.java's headers_to_propagate (reviews -> ratings), plus the single `b3` header. */
export const REVIEWS_FORWARD_HEADERS: readonly string[] = [
  "x-request-id",
  "x-ot-span-context",
  "x-datadog-trace-id",
  "x-datadog-parent-id",
  "x-datadog-sampling-priority",
  "traceparent",
  "tracestate",
  "x-cloud-trace-context",
  "grpc-trace-bin",
  ...B3_HEADERS,
  "sw8",
  "end-user",
  "user-agent",
  "cookie",
  "authorization",
  "jwt",
];

/** Copies the named headers (lower-case names) that are present on the incoming request. */
export function pickHeaders(incoming: http.IncomingHttpHeaders, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const v = incoming[name];
    if (v === undefined) continue;
    out[name] = Array.isArray(v) ? v.join(name === "cookie" ? "; " : ", ") : v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Proxy selection (curl semantics)
// ---------------------------------------------------------------------------------------------

type Env = Readonly<Record<string, string | undefined>>;

/** First variable that is set and non-empty (curl treats an empty variable as unset). */
function firstEnv(env: Env, names: readonly string[]): string | undefined {
  for (const n of names) {
    const v = env[n];
    if (v !== undefined && v !== "") return v;
  }
  return undefined;
}

export interface ProxyTarget {
  host: string;
  port: number;
  /** Value for Proxy-Authorization when the proxy URL carries user:password. */
  authorization?: string;
}

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/**
 * The proxy to use for `url`, or null for a direct connection. Like curl: `<scheme>_proxy`, then
 * `<SCHEME>_PROXY`, then `all_proxy`/`ALL_PROXY` (lower case wins); `no_proxy` (else `NO_PROXY`)
 * exempts hosts. A proxy given without a scheme is http://, and its port defaults to 1080.
 */
export function proxyFor(url: URL, env: Env): ProxyTarget | null {
  const scheme = url.protocol.replace(/:$/, "").toLowerCase();
  const raw = firstEnv(env, [`${scheme}_proxy`, `${scheme.toUpperCase()}_PROXY`, "all_proxy", "ALL_PROXY"]);
  if (raw === undefined) return null;
  const noProxy = firstEnv(env, ["no_proxy", "NO_PROXY"]);
  if (noProxy !== undefined && noProxyMatches(url.hostname, noProxy)) return null;
  const p = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  if (p.protocol !== "http:") throw new Error(`unsupported proxy scheme in ${raw}`);
  const target: ProxyTarget = { host: stripBrackets(p.hostname), port: p.port ? Number(p.port) : 1080 };
  if (p.username) {
    const cred = `${decodeURIComponent(p.username)}:${decodeURIComponent(p.password)}`;
    target.authorization = `Basic ${Buffer.from(cred).toString("base64")}`;
  }
  return target;
}

function ipv4ToBigInt(ip: string): bigint {
  return ip.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function ipv6ToBigInt(ip: string): bigint {
  let s = ip;
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  // An embedded dotted quad (::ffff:1.2.3.4) becomes two hextets.
  const m = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (m) {
    const v4 = ipv4ToBigInt(m[1]);
    s = `${s.slice(0, m.index)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, tail] = s.includes("::") ? s.split("::") : [s, undefined];
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function ipMatches(host: string, family: number, token: string): boolean {
  const slash = token.indexOf("/");
  const addr = stripBrackets(slash >= 0 ? token.slice(0, slash) : token);
  if (net.isIP(addr) !== family) return false;
  const bits = family === 4 ? 32 : 128;
  const prefix = slash >= 0 ? Number(token.slice(slash + 1)) : bits;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits) return false;
  const toInt = family === 4 ? ipv4ToBigInt : ipv6ToBigInt;
  const shift = BigInt(bits - prefix);
  return toInt(host) >> shift === toInt(addr) >> shift;
}

/**
 * curl's no_proxy match: `*` matches everything; otherwise a comma (or space) separated list where
 * an IP host matches an equal address or a CIDR range, and a name matches an entry equal to it or
 * an entry that is a domain suffix of it (`example.com` and `.example.com` both match
 * `www.example.com`, neither matches `badexample.com`). Case-insensitive; ports are not part of
 * entries (as in curl).
 */
export function noProxyMatches(hostname: string, noProxy: string): boolean {
  const tokens = noProxy.split(/[\s,]+/).filter((t) => t !== "");
  if (tokens.length === 0) return false;
  if (tokens.includes("*")) return true;
  let host = stripBrackets(hostname).toLowerCase();
  const family = net.isIP(host);
  if (family !== 0) return tokens.some((t) => ipMatches(host, family, t));
  if (host.endsWith(".")) host = host.slice(0, -1);
  for (let token of tokens) {
    token = token.toLowerCase();
    if (token.startsWith(".")) token = token.slice(1);
    if (token.endsWith(".")) token = token.slice(0, -1);
    if (token === "") continue;
    if (host === token) return true;
    if (host.length > token.length && host.endsWith(token) && host[host.length - token.length - 1] === ".") {
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Outbound HTTP client
// ---------------------------------------------------------------------------------------------

export interface ClientResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface ClientRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /**
   * Socket inactivity timeout in ms, covering connect and every wait for data — what Python
   * requests' `timeout=` and the JAX-RS connection/receive timeouts mean. Unset: no timeout.
   */
  timeoutMs?: number;
}

export class HttpTimeoutError extends Error {
  constructor(url: string, ms: number) {
    super(`timeout after ${ms}ms: ${url}`);
    this.name = "HttpTimeoutError";
  }
}

export interface HttpClientOptions {
  /** "fresh": one new connection per request, closed after it (no pooling). "keepalive": a pooled agent. */
  connections?: "fresh" | "keepalive";
}

/** A small HTTP/1.1 client for http:// URLs that goes through HTTP_PROXY like curl does. */
export class HttpClient {
  private readonly env: Env;
  private readonly agent: http.Agent | false;
  private readonly inflight = new Set<http.ClientRequest>();
  private closed = false;

  constructor(env: Env, opts: HttpClientOptions = {}) {
    this.env = env;
    this.agent = opts.connections === "keepalive" ? new http.Agent({ keepAlive: true }) : false;
  }

  request(url: string, opts: ClientRequestOptions = {}): Promise<ClientResponse> {
    return new Promise<ClientResponse>((resolve, reject) => {
      if (this.closed) {
        reject(new Error("client closed"));
        return;
      }
      let u: URL;
      let proxy: ProxyTarget | null;
      try {
        u = new URL(url);
        if (u.protocol !== "http:") throw new Error(`unsupported URL scheme: ${url}`);
        proxy = proxyFor(u, this.env);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      for (const k of Object.keys(headers)) {
        if (k.toLowerCase() === "host") delete headers[k];
      }
      headers.host = u.host; // URL drops the default port, as curl's Host header does
      const pathOnly = `${u.pathname}${u.search}`;
      const reqOpts: http.RequestOptions = {
        method: opts.method ?? "GET",
        agent: this.agent,
        setHost: false,
        headers,
      };
      if (proxy) {
        // Absolute-form request line to the proxy, as curl sends through http_proxy.
        reqOpts.host = proxy.host;
        reqOpts.port = proxy.port;
        reqOpts.path = `${u.protocol}//${u.host}${pathOnly}`;
        if (proxy.authorization) headers["proxy-authorization"] = proxy.authorization;
      } else {
        reqOpts.host = stripBrackets(u.hostname);
        reqOpts.port = u.port ? Number(u.port) : 80;
        reqOpts.path = pathOnly;
      }
      if (opts.body !== undefined) headers["content-length"] = String(Buffer.byteLength(opts.body));
      if (opts.timeoutMs !== undefined) reqOpts.timeout = opts.timeoutMs;

      const req = http.request(reqOpts);
      this.inflight.add(req);
      let settled = false;
      let response: http.IncomingMessage | undefined;
      const chunks: Buffer[] = [];
      const succeed = (): void => {
        if (settled || !response) return;
        settled = true;
        this.inflight.delete(req);
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) });
      };
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        this.inflight.delete(req);
        req.destroy();
        reject(err);
      };
      req.on("timeout", () => fail(new HttpTimeoutError(url, opts.timeoutMs ?? 0)));
      req.on("error", (err) => fail(err));
      req.on("close", () => {
        this.inflight.delete(req);
        if (response?.complete) succeed();
        else fail(new Error(`connection closed: ${url}`));
      });
      req.on("response", (res) => {
        response = res;
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) => fail(err));
        res.on("aborted", () => fail(new Error(`response aborted: ${url}`)));
        res.on("end", succeed);
      });
      req.end(opts.body);
    });
  }

  get(url: string, opts: Omit<ClientRequestOptions, "method" | "body"> = {}): Promise<ClientResponse> {
    return this.request(url, { ...opts, method: "GET" });
  }

  /** Aborts in-flight requests and ends pooled sockets. */
  close(): void {
    this.closed = true;
    for (const req of this.inflight) req.destroy(new Error("client closed"));
    this.inflight.clear();
    if (this.agent) this.agent.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

export interface Request {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface Response {
  status: number;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
}

/**
 * A handler returns the response, or takes over `raw` itself and returns null (used to answer
 * later, e.g. ratings' delayed version).
 */
export type Handler = (req: Request, raw: http.ServerResponse) => Promise<Response | null> | Response | null;

export interface ServeOptions {
  ctx: AppContext;
  /** Used when neither a positional port argument (if the original takes one) nor PORT is given. */
  defaultPort: number;
  /** The original program takes its port as the first argument (productpage, details, ratings). */
  portArg: boolean;
  handler: Handler;
  /** Extra cleanup run on close (clients, timers). */
  onClose?: () => void;
}

const MAX_BODY = 1 << 20;

export function json(status: number, value: unknown): Response {
  return { status, headers: { "content-type": "application/json" }, body: JSON.stringify(value) };
}

function parsePort(s: string | undefined): number | undefined {
  if (s === undefined || s === "" || !/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
}

export function listenPort(ctx: AppContext, portArg: boolean, defaultPort: number): number {
  const fromArg = portArg ? parsePort(ctx.argv.find((a) => !a.startsWith("-"))) : undefined;
  return fromArg ?? parsePort(ctx.env.PORT) ?? defaultPort;
}

export async function serve(opts: ServeOptions): Promise<RunningApp> {
  const { ctx, handler } = opts;
  const host = ctx.env.HOST && ctx.env.HOST !== "" ? ctx.env.HOST : "127.0.0.1";
  const port = listenPort(ctx, opts.portArg, opts.defaultPort);

  const server = http.createServer((req, res) => {
    const started = Date.now();
    const method = req.method ?? "GET";
    const target = req.url ?? "/";
    res.on("close", () => {
      const status = res.headersSent ? res.statusCode : 0;
      ctx.log(`${method} ${target} ${status} ${Date.now() - started}ms`);
    });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        res.writeHead(413, { "content-type": "text/plain" });
        res.end("request body too large\n");
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (res.writableEnded) return;
      // Absolute-form targets are accepted too; only path and query matter here.
      const u = new URL(target, "http://localhost");
      const request: Request = {
        method,
        path: u.pathname,
        query: u.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      Promise.resolve()
        .then(() => handler(request, res))
        .then(
          (out) => {
            if (out === null || res.writableEnded || res.destroyed) return;
            const body = out.body ?? "";
            res.writeHead(out.status, { ...(out.headers ?? {}), "content-length": String(Buffer.byteLength(body)) });
            res.end(body);
          },
          (err: unknown) => {
            if (res.headersSent || res.destroyed) {
              res.destroy();
              return;
            }
            const msg = err instanceof Error ? err.message : String(err);
            res.writeHead(500, { "content-type": "text/plain" });
            res.end(`internal error: ${msg}\n`);
          },
        );
    });
    req.on("error", () => res.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as net.AddressInfo;
  const shown = addr.family === "IPv6" || addr.address.includes(":") ? `[${addr.address}]` : addr.address;

  let closing: Promise<void> | undefined;
  return {
    addresses: [`${shown}:${addr.port}`],
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        opts.onClose?.();
      });
      return closing;
    },
  };
}

export function escapeHtml(s: unknown): string {
  return String(s ?? "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&#34;")
    .replace(/'/g, "&#39;");
}

/** Parses a JSON body, or undefined when it is not JSON. */
export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8")) as unknown;
  } catch {
    return undefined;
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
