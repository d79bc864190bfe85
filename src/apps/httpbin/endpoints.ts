// httpbin's endpoints (the ones Istio's task pages use), routed by path as go-httpbin routes them:
// CORS preflight on every answer, method checks, /status, /delay, /bytes, /stream, /unstable,
// /response-headers and the request-echoing ones.
import { randomUUID } from "node:crypto";
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import {
  BINARY_TYPE,
  clientIP,
  header,
  HTML_TYPE,
  HttpError,
  JSON_TYPE,
  noBody,
  parseValues,
  pathAndQuery,
  requestHeaders,
  requestURL,
  sorted,
  TEXT_TYPE,
  TOKEN,
  withBody,
  writeBody,
  writeJSON,
  type Options,
  type Values,
} from "./request.js";
import { chooseStatus, parseDelay, seededRandom } from "./values.js";

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

export interface Pending {
  timer: NodeJS.Timeout;
  cancel: () => void;
}

function allow(req: IncomingMessage, ...methods: string[]): void {
  const m = req.method ?? "";
  if (methods.includes(m) || (m === "HEAD" && methods.includes("GET"))) return;
  throw new HttpError(405);
}

export async function handle(req: IncomingMessage, res: ServerResponse, opts: Options, pending: Set<Pending>): Promise<void> {
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
