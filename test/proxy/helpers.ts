// Helpers for proxy tests: HTTP backends on loopback addresses that report who answered and what
// they saw, and a plain HTTP/1.1 client that can set any Host header.
import * as http from "node:http";

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface BackendOptions {
  /** Status to answer with (default 200); a function decides per request. */
  status?: number | ((req: http.IncomingMessage, n: number) => number);
  delayMs?: number;
}

/** An HTTP server on ADDRESS:PORT answering `NAME` in the body and `x-backend: NAME`. */
export class Backend {
  readonly seen: Seen[] = [];
  private readonly server: http.Server;
  private count = 0;

  private constructor(
    readonly name: string,
    private readonly options: BackendOptions,
  ) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const n = ++this.count;
        this.seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString() });
        const status = typeof options.status === "function" ? options.status(req, n) : (options.status ?? 200);
        const answer = () => {
          res.writeHead(status, { "content-type": "text/plain", "x-backend": name });
          res.end(name);
        };
        if (this.options.delayMs) setTimeout(answer, this.options.delayMs);
        else answer();
      });
    });
  }

  static async start(name: string, address: string, port: number, options: BackendOptions = {}): Promise<Backend> {
    const b = new Backend(name, options);
    await new Promise<void>((resolve, reject) => {
      b.server.once("error", reject);
      b.server.listen(port, address, () => resolve());
    });
    return b;
  }

  get requests(): number {
    return this.count;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const agent = new http.Agent({ keepAlive: false });

/** One HTTP/1.1 request (no keep-alive) with any headers, including Host. */
export function request(url: string, options: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<Reply> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: options.method ?? "GET", headers: options.headers, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      },
    );
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error(`no answer from ${url}`)));
    req.on("error", reject);
    req.end(options.body);
  });
}
