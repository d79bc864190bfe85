// httpbin, as Istio's samples run it (samples/httpbin/httpbin.yaml: image mccutchen/go-httpbin, port
// 8080): the endpoints Istio's task pages use, with go-httpbin's response shapes — JSON indented by two
// spaces, request headers as arrays under Go's canonical names ("X-B3-Sampled"), query arguments and
// form fields as arrays, errors as {"status_code", "error", "detail"}.
//
// Configuration as go-httpbin's command takes it: flags `-host`, `-port`, `-max-duration`,
// `-max-body-size` (also `--flag` and `-flag=value`), else the env vars HOST, PORT, MAX_DURATION,
// MAX_BODY_SIZE; env vars named HTTPBIN_* are shown by /env. When HTTPBIN_VERSION is set (the example
// sets v1/v2), every response also carries `X-Httpbin-Version`, so a client can tell the versions apart.
import { randomUUID } from "node:crypto";
import { STATUS_CODES, createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { AppContext, AppMain, RunningApp } from "./types.js";

const DEFAULT_PORT = 8080;
const DEFAULT_MAX_BODY = 1024 * 1024;
const DEFAULT_MAX_DURATION_MS = 10_000;

const JSON_TYPE = "application/json; charset=utf-8";
const TEXT_TYPE = "text/plain; charset=utf-8";
const HTML_TYPE = "text/html; charset=utf-8";
const BINARY_TYPE = "application/octet-stream";

type Values = Record<string, string[]>;

interface Options {
  maxBodySize: number;
  maxDurationMs: number;
  env: Record<string, string>;
  version: string | undefined;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    detail?: string,
  ) {
    super(detail ?? "");
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers shared with go-httpbin's semantics.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

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
function sorted<T>(obj: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(obj).sort()) out[k] = obj[k];
  return out;
}

function parseValues(query: string): Values {
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
function pathAndQuery(req: IncomingMessage): { path: string; query: string; raw: string } {
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
function requestHeaders(req: IncomingMessage): Values {
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
function clientIP(req: IncomingMessage): string {
  for (const h of ["fly-client-ip", "cf-connecting-ip", "fastly-client-ip", "true-client-ip"]) {
    const v = req.headers[h];
    if (typeof v === "string" && v !== "") return v;
  }
  const xff = req.headers["x-forwarded-for"];
  const first = Array.isArray(xff) ? xff[0] : xff;
  if (first) return first.split(",")[0].trim();
  return req.socket.remoteAddress ?? "";
}

function requestURL(req: IncomingMessage): string {
  let scheme = header(req, "x-forwarded-proto") || header(req, "x-forwarded-protocol");
  if (!scheme && header(req, "x-forwarded-ssl") === "on") scheme = "https";
  if (!scheme) scheme = "http";
  return `${scheme}://${requestHost(req)}${pathAndQuery(req).raw}`;
}

function header(req: IncomingMessage, name: string): string {
  const v = req.headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? "";
}

/** Go's time.ParseDuration ("1.5s", "500ms", "1m30s"); undefined when it is not one. */
export function parseGoDuration(input: string): number | undefined {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let s = input;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") return undefined;
  let total = 0;
  const re = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (s !== "") {
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * units[m[2]];
    s = s.slice(m[0].length);
  }
  return sign * total;
}

/** go-httpbin's parseDuration: a Go duration, else seconds as a float. Milliseconds, or undefined. */
export function parseDelay(input: string): number | undefined {
  const d = parseGoDuration(input);
  if (d !== undefined) return d;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(input)) return undefined;
  return Math.trunc(Number(input) * 1000);
}

function parseStatusCode(input: string): number {
  if (!/^[+-]?\d+$/.test(input)) throw new HttpError(400, `invalid status code: "${input}": strconv.Atoi: parsing "${input}": invalid syntax`);
  const code = Number(input);
  if (code < 100 || code > 599) throw new HttpError(400, `invalid status code: ${code} not in range [100, 599]`);
  return code;
}

/** `/status/200,503` or `/status/200:0.9,503:0.1`: go-httpbin's weighted random choice (weights default to 1). */
export function chooseStatus(raw: string, random: () => number = Math.random): number {
  if (!raw.includes(",")) return parseStatusCode(raw);
  const choices = raw.split(",").map((pair) => {
    const colon = pair.indexOf(":");
    const rawChoice = colon < 0 ? pair : pair.slice(0, colon);
    let weight = 1;
    if (colon >= 0) {
      const rawWeight = pair.slice(colon + 1);
      weight = Number(rawWeight);
      if (rawWeight.trim() === "" || !Number.isFinite(weight)) throw new HttpError(400, `invalid weight value: "${rawWeight}"`);
    }
    let code: number;
    try {
      code = parseStatusCode(rawChoice);
    } catch {
      throw new HttpError(400, `invalid choice value: "${rawChoice}"`);
    }
    return { code, weight };
  });
  const total = choices.reduce((a, c) => a + c.weight, 0);
  const r = random() * total;
  let acc = 0;
  for (const c of choices) {
    acc += c.weight;
    if (r < acc) return c.code;
  }
  return choices[choices.length - 1].code;
}

/** A small seeded PRNG (mulberry32) for `?seed=` on /bytes and /unstable. */
function seededRandom(rawSeed: string | null): () => number {
  let seed: number;
  if (rawSeed) {
    if (!/^[+-]?\d+$/.test(rawSeed)) throw new HttpError(400, `invalid seed: strconv.ParseInt: parsing "${rawSeed}": invalid syntax`);
    seed = Number(BigInt.asUintN(32, BigInt(rawSeed)));
  } else {
    seed = (Date.now() ^ (Math.random() * 0x1_0000_0000)) >>> 0;
  }
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Bodies and headers go-httpbin sends for some /status codes.
const STATUS_SPECIAL: Record<number, { headers?: Record<string, string>; body?: string }> = {
  300: { headers: { Location: "/image/jpeg" }, body: '<!doctype html>\n<head>\n<title>Multiple Choices</title>\n</head>\n<body>\n<ul>\n<li><a href="/image/jpeg">/image/jpeg</a></li>\n<li><a href="/image/png">/image/png</a></li>\n<li><a href="/image/svg">/image/svg</a></li>\n</body>\n</html>' },
  301: { headers: { Location: "/redirect/1" } },
  302: { headers: { Location: "/redirect/1" } },
  303: { headers: { Location: "/redirect/1" } },
  305: { headers: { Location: "/redirect/1" } },
  307: { headers: { Location: "/redirect/1" } },
  308: { headers: { Location: "/image/jpeg" }, body: '<!doctype html>\n<head>\n<title>Permanent Redirect</title>\n</head>\n<body>Permanently redirected to <a href="/image/jpeg">/image/jpeg</a>\n</body>\n</html>' },
  401: { headers: { "WWW-Authenticate": 'Basic realm="Fake Realm"' } },
  402: { headers: { "X-More-Info": "http://vimeo.com/22053820" }, body: "Fuck you, pay me!" },
  406: {
    headers: { "Content-Type": JSON_TYPE },
    body: '{\n  "message": "Client did not request a supported media type",\n  "accept": [\n    "image/webp",\n    "image/svg+xml",\n    "image/jpeg",\n    "image/png",\n    "image/"\n  ]\n}\n',
  },
  407: { headers: { "Proxy-Authenticate": 'Basic realm="Fake Realm"' } },
  418: { headers: { "X-More-Info": "http://tools.ietf.org/html/rfc2324" }, body: "I'm a teapot!" },
};

const INDEX_HTML = `<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>httpbin</title></head>
<body>
<h1>httpbin</h1>
<p>A simple HTTP request &amp; response service (go-httpbin compatible), from tsmesh's samples.</p>
<ul>
<li><a href="/anything"><code>/anything</code></a> Returns anything that is passed to request.</li>
<li><a href="/bytes/1024"><code>/bytes/:n</code></a> Generates <em>n</em> random bytes of binary data, accepts optional <em>seed</em> integer parameter.</li>
<li><a href="/delay/3"><code>/delay/:n</code></a> Delays responding for <em>min(n, 10)</em> seconds.</li>
<li><code>/delete</code> Returns request data. Allows only <code>DELETE</code> requests.</li>
<li><a href="/env"><code>/env</code></a> Returns all environment variables named with HTTPBIN_ prefix.</li>
<li><a href="/get"><code>/get</code></a> Returns request data. Allows only <code>GET</code> requests.</li>
<li><a href="/headers"><code>/headers</code></a> Returns request header dict.</li>
<li><a href="/hostname"><code>/hostname</code></a> Returns the name of the host serving the request.</li>
<li><a href="/ip"><code>/ip</code></a> Returns Origin IP.</li>
<li><code>/patch</code> Returns request data. Allows only <code>PATCH</code> requests.</li>
<li><code>/post</code> Returns request data. Allows only <code>POST</code> requests.</li>
<li><code>/put</code> Returns request data. Allows only <code>PUT</code> requests.</li>
<li><a href="/response-headers?Server=httpbin&amp;Content-Type=text%2Fplain%3B+charset%3DUTF-8"><code>/response-headers</code></a> Returns given response headers.</li>
<li><a href="/status/418"><code>/status/:code</code></a> Returns given HTTP Status code (or a weighted random choice, e.g. <code>/status/200:0.7,503:0.3</code>).</li>
<li><a href="/stream/20"><code>/stream/:n</code></a> Streams <em>min(n, 100)</em> lines.</li>
<li><a href="/unstable"><code>/unstable</code></a> Fails half the time (<em>failure_rate</em>, <em>seed</em> parameters).</li>
<li><a href="/user-agent"><code>/user-agent</code></a> Returns user-agent.</li>
<li><a href="/uuid"><code>/uuid</code></a> Generates a UUIDv4 value.</li>
</ul>
</body>
</html>
`;

// ---------------------------------------------------------------------------------------------
// The server.

interface Pending {
  timer: NodeJS.Timeout;
  cancel: () => void;
}

function parseArgs(ctx: AppContext): { host: string; port: number; maxBodySize: number; maxDurationMs: number } {
  const flags = new Map<string, string>();
  const argv = ctx.argv;
  for (let i = 0; i < argv.length; i++) {
    const m = /^--?([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`httpbin: unexpected argument ${JSON.stringify(argv[i])} (flags: -host, -port, -max-duration, -max-body-size)`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`httpbin: flag needs an argument: -${m[1]}`);
    flags.set(m[1], value);
  }
  const env = ctx.env;
  const host = flags.get("host") || env.HOST || "127.0.0.1";
  const rawPort = flags.get("port") ?? (env.PORT || String(DEFAULT_PORT));
  const port = Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`httpbin: invalid port ${JSON.stringify(rawPort)}`);
  const rawBody = flags.get("max-body-size") ?? env.MAX_BODY_SIZE;
  const maxBodySize = rawBody ? Number(rawBody) : DEFAULT_MAX_BODY;
  if (!Number.isInteger(maxBodySize) || maxBodySize < 0) throw new Error(`httpbin: invalid max body size ${JSON.stringify(rawBody)}`);
  const rawDuration = flags.get("max-duration") ?? env.MAX_DURATION;
  const maxDurationMs = rawDuration ? parseGoDuration(rawDuration) : DEFAULT_MAX_DURATION_MS;
  if (maxDurationMs === undefined || maxDurationMs < 0) throw new Error(`httpbin: invalid max duration ${JSON.stringify(rawDuration)}`);
  for (const k of flags.keys()) if (!["host", "port", "max-body-size", "max-duration"].includes(k)) throw new Error(`httpbin: unknown flag -${k}`);
  return { host, port, maxBodySize, maxDurationMs };
}

export const httpbin: AppMain = async (ctx) => {
  const { host, port, maxBodySize, maxDurationMs } = parseArgs(ctx);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.env)) if (k.startsWith("HTTPBIN_") && v !== undefined) env[k] = v;
  const opts: Options = { maxBodySize, maxDurationMs, env: sorted(env), version: ctx.env.HTTPBIN_VERSION || undefined };
  const pending = new Set<Pending>();

  const server = createServer((req, res) => {
    const started = process.hrtime.bigint();
    const uri = pathAndQuery(req).raw;
    let logged = false;
    const logOnce = (status: number): void => {
      if (logged) return;
      logged = true;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      ctx.log(`${status} ${req.method ?? "?"} ${uri} ${ms.toFixed(1)}ms`);
    };
    res.on("finish", () => logOnce(res.statusCode));
    // A client gone before the answer: go-httpbin records 499 ("Client Closed Request").
    res.on("close", () => logOnce(res.writableFinished ? res.statusCode : 499));
    handle(req, res, opts, pending).catch((err: unknown) => {
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) writeError(res, err.status, err.message || undefined);
      else writeError(res, 500, err instanceof Error ? err.message : String(err));
    });
  });
  // go-httpbin's server closes idle keep-alive connections after 5 s (its ReadTimeout), as Node does.
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => ctx.log(`httpbin: server error: ${err.message}`));
  const addr = server.address() as AddressInfo;
  const address = addr.family === "IPv6" ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
  ctx.log(`go-httpbin listening on http://${address}`);

  let closing: Promise<void> | undefined;
  const running: RunningApp = {
    addresses: [address],
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const p of pending) {
          clearTimeout(p.timer);
          p.cancel();
        }
        pending.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
  return running;
};

// ---------------------------------------------------------------------------------------------
// Routing.

function allow(req: IncomingMessage, ...methods: string[]): void {
  const m = req.method ?? "";
  if (methods.includes(m) || (m === "HEAD" && methods.includes("GET"))) return;
  throw new HttpError(405);
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: Options, pending: Set<Pending>): Promise<void> {
  // go-httpbin's preflight middleware: CORS on every answer; OPTIONS is answered right here.
  res.setHeader("Access-Control-Allow-Origin", header(req, "origin") || "*");
  res.setHeader("Access-Control-Allow-Credentials", "true");
  if (opts.version) res.setHeader("X-Httpbin-Version", opts.version);
  if (req.method === "OPTIONS") {
    res.setHeader("Access-Control-Allow-Methods", "GET, POST, HEAD, PUT, DELETE, PATCH, OPTIONS");
    res.setHeader("Access-Control-Max-Age", "3600");
    const reqHeaders = header(req, "access-control-request-headers");
    if (reqHeaders) res.setHeader("Access-Control-Allow-Headers", reqHeaders);
    res.writeHead(200, { "Content-Length": 0 }).end();
    return;
  }

  const { path, query } = pathAndQuery(req);
  const args = parseValues(query);
  const segments = path.split("/").slice(1);
  const first = segments[0] ?? "";
  const one = segments.length === 2 ? segments[1] : undefined;

  switch (path) {
    case "/":
      allow(req, "GET");
      return writeBody(res, 200, HTML_TYPE, INDEX_HTML);
    case "/get":
      allow(req, "GET");
      return writeJSON(res, 200, noBody(req, args));
    case "/head":
      allow(req, "HEAD");
      return writeJSON(res, 200, noBody(req, args));
    case "/post":
      allow(req, "POST");
      return writeJSON(res, 200, await withBody(req, args, opts));
    case "/put":
      allow(req, "PUT");
      return writeJSON(res, 200, await withBody(req, args, opts));
    case "/patch":
      allow(req, "PATCH");
      return writeJSON(res, 200, await withBody(req, args, opts));
    case "/delete":
      allow(req, "DELETE");
      return writeJSON(res, 200, await withBody(req, args, opts));
    case "/headers":
      return writeJSON(res, 200, { headers: requestHeaders(req) });
    case "/ip":
      return writeJSON(res, 200, { origin: clientIP(req) });
    case "/user-agent":
      return writeJSON(res, 200, { "user-agent": header(req, "user-agent") });
    case "/uuid":
      return writeJSON(res, 200, { uuid: randomUUID() });
    case "/hostname":
      return writeJSON(res, 200, { hostname: "go-httpbin" });
    case "/env":
      return writeJSON(res, 200, { env: opts.env });
    case "/response-headers":
      return responseHeaders(res, args);
    case "/unstable":
      return unstable(res, args);
  }

  if (first === "anything") {
    if (req.method === "HEAD") return writeJSON(res, 200, noBody(req, args));
    return writeJSON(res, 200, await withBody(req, args, opts));
  }
  if (one !== undefined && one !== "") {
    switch (first) {
      case "status":
        return status(res, chooseStatus(one));
      case "delay":
        return delay(req, res, one, args, opts, pending);
      case "bytes":
        return bytes(res, one, args, opts);
      case "stream":
        return stream(req, res, one, args);
    }
  }
  throw new HttpError(404);
}

// ---------------------------------------------------------------------------------------------
// Responses.

function writeBody(res: ServerResponse, code: number, contentType: string, body: string | Buffer): void {
  res.setHeader("Content-Type", contentType);
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.writeHead(code, STATUS_CODES[code] ?? `status code ${code}`);
  res.end(body);
}

function writeJSON(res: ServerResponse, code: number, value: unknown): void {
  writeBody(res, code, JSON_TYPE, JSON.stringify(value, null, 2) + "\n");
}

function writeError(res: ServerResponse, code: number, detail?: string): void {
  const body: Record<string, unknown> = { status_code: code, error: STATUS_CODES[code] ?? "" };
  if (detail) body.detail = detail;
  writeJSON(res, code, body);
}

function noBody(req: IncomingMessage, args: Values): Record<string, unknown> {
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
async function withBody(req: IncomingMessage, args: Values, opts: Options): Promise<Record<string, unknown>> {
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

function status(res: ServerResponse, code: number): void {
  res.setHeader("Content-Type", TEXT_TYPE);
  if (code < 200) {
    // Node sends only some informational answers; like Go, the final answer is then a 200.
    if (code === 100) res.writeContinue();
    else if (code === 102) res.writeProcessing();
    else if (code === 103) res.writeEarlyHints({});
    res.writeHead(200, { "Content-Length": 0 }).end();
    return;
  }
  const special = STATUS_SPECIAL[code];
  for (const [k, v] of Object.entries(special?.headers ?? {})) res.setHeader(k, v);
  const body = special?.body ?? "";
  // No Content-Length on answers that never have a body (as Go's server leaves it off).
  if (code !== 204 && code !== 304) res.setHeader("Content-Length", Buffer.byteLength(body));
  res.writeHead(code, STATUS_CODES[code] ?? `status code ${code}`);
  res.end(body);
}

function delay(req: IncomingMessage, res: ServerResponse, raw: string, args: Values, opts: Options, pending: Set<Pending>): Promise<void> {
  const ms = parseDelay(raw);
  if (ms === undefined) throw new HttpError(400, `invalid duration: time: invalid duration "${raw}"`);
  if (ms > opts.maxDurationMs) throw new HttpError(400, `invalid duration: duration ${raw} longer than ${opts.maxDurationMs / 1000}s`);
  if (ms < 0) throw new HttpError(400, `invalid duration: duration ${raw} shorter than 0s`);
  return new Promise<void>((resolve, reject) => {
    const entry: Pending = {
      timer: setTimeout(() => {
        pending.delete(entry);
        res.off("close", onClose);
        res.setHeader("Server-Timing", `initial_delay;dur=${ms.toFixed(2)};desc="initial delay"`);
        withBody(req, args, opts).then((body) => {
          writeJSON(res, 200, body);
          resolve();
        }, reject);
      }, ms),
      cancel: resolve,
    };
    // The client went away (or the server is closing): drop the timer, answer nobody.
    const onClose = (): void => {
      clearTimeout(entry.timer);
      pending.delete(entry);
      resolve();
    };
    res.once("close", onClose);
    pending.add(entry);
  });
}

function bytes(res: ServerResponse, raw: string, args: Values, opts: Options): void {
  if (!/^[+-]?\d+$/.test(raw)) throw new HttpError(400, `invalid byte count: strconv.Atoi: parsing "${raw}": invalid syntax`);
  const n = Number(raw);
  const random = seededRandom(args.seed?.[0] ?? null);
  if (n < 0) throw new HttpError(400, `invalid byte count: ${n} must be greater than 0`);
  if (n > opts.maxBodySize) throw new HttpError(400, `invalid byte count: ${n} not in range [1, ${opts.maxBodySize}]`);
  const buf = Buffer.alloc(n);
  for (let i = 0; i < n; i++) buf[i] = Math.floor(random() * 256);
  writeBody(res, 200, BINARY_TYPE, buf);
}

function stream(req: IncomingMessage, res: ServerResponse, raw: string, args: Values): void {
  if (!/^[+-]?\d+$/.test(raw)) throw new HttpError(400, `invalid count: strconv.Atoi: parsing "${raw}": invalid syntax`);
  const n = Math.min(100, Math.max(1, Number(raw)));
  const base = { args, headers: requestHeaders(req), origin: clientIP(req), url: requestURL(req) };
  res.setHeader("Content-Type", TEXT_TYPE);
  res.writeHead(200);
  for (let id = 0; id < n; id++) res.write(JSON.stringify({ id, ...base }) + "\n");
  res.end();
}

function unstable(res: ServerResponse, args: Values): void {
  const random = seededRandom(args.seed?.[0] ?? null);
  let failureRate = 0.5;
  const raw = args.failure_rate?.[0];
  if (raw !== undefined && raw !== "") {
    failureRate = Number(raw);
    if (!Number.isFinite(failureRate)) throw new HttpError(400, `invalid failure rate: strconv.ParseFloat: parsing "${raw}": invalid syntax`);
    if (failureRate < 0 || failureRate > 1) throw new HttpError(400, `invalid failure rate: ${raw} not in range [0, 1]`);
  }
  res.setHeader("Content-Type", TEXT_TYPE);
  res.setHeader("Content-Length", 0);
  res.writeHead(random() < failureRate ? 500 : 200).end();
}

const SAFE_CONTENT_TYPES = new Set(["text/plain", "application/json", "application/octet-string"]);

function escapeHTML(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;" })[c] ?? c);
}

/** Every query parameter becomes a response header; the body echoes them (HTML-escaped for risky types). */
function responseHeaders(res: ServerResponse, args: Values): void {
  const values: Values = { ...args };
  const contentType = values["Content-Type"]?.[0] ?? "";
  if (!contentType) values["Content-Type"] = [JSON_TYPE];
  for (const [k, vs] of Object.entries(values)) {
    if (!TOKEN.test(k)) continue;
    const safe = vs.filter((v) => !/[\r\n\0]/.test(v));
    if (safe.length > 0) res.setHeader(k, safe.length === 1 ? safe[0] : safe);
  }
  const mediaType = (values["Content-Type"][0] ?? "").split(";")[0].trim().toLowerCase();
  let body = values;
  if (!SAFE_CONTENT_TYPES.has(mediaType)) {
    body = {};
    for (const [k, vs] of Object.entries(values)) body[escapeHTML(k)] = vs.map(escapeHTML);
  }
  const text = JSON.stringify(sorted(body), null, 2) + "\n";
  res.setHeader("Content-Length", Buffer.byteLength(text));
  res.writeHead(200);
  res.end(text);
}
