// A raw HTTP/1.1 backend for the proxy's HTTP/1 tests: it records every byte each connection carried
// and each request it parsed (head as sent, decoded body), and answers from a script — any bytes,
// in timed parts, a close or a hang — so a test can hand the proxy any response, well-formed or not.
// `responses` parses what a raw client received.
import * as net from "node:net";

export interface Received {
  conn: number;
  head: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export type Answer = string | Buffer | { parts: Array<string | Buffer>; gapMs: number; close?: boolean } | { close: true } | { hang: true };

/** A raw HTTP/1.1 backend: records each request (head as sent, decoded body) and answers with a script. */
export class ScriptBackend {
  readonly received: Received[] = [];
  /** Every byte each connection carried, in arrival order (index = connection id - 1). */
  readonly raw: string[] = [];
  connections = 0;
  open = 0;
  answer: (r: Received) => Answer = () => ok("hello");
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly ip: string,
    private readonly port: number,
  ) {
    this.server = net.createServer((s) => this.onConn(s));
  }

  listen(): Promise<void> {
    return new Promise((r) => this.server.listen(this.port, this.ip, () => r()));
  }

  /** Everything every connection carried, joined (for "the backend never saw X" checks). */
  get allRaw(): string {
    return this.raw.join("");
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }

  private onConn(s: net.Socket): void {
    const id = ++this.connections;
    this.raw.push("");
    this.open++;
    this.sockets.add(s);
    s.on("close", () => {
      this.open--;
      this.sockets.delete(s);
    });
    s.on("error", () => {});
    let buf = Buffer.alloc(0);
    const tryParse = () => {
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buf.toString("latin1", 0, end);
        const [line, ...rest] = head.split("\r\n");
        const [method, path] = line.split(" ");
        const headers: Record<string, string> = {};
        for (const l of rest) {
          const i = l.indexOf(":");
          const k = l.slice(0, i).toLowerCase();
          headers[k] = headers[k] !== undefined ? `${headers[k]}|${l.slice(i + 1).trim()}` : l.slice(i + 1).trim();
        }
        let at = end + 4;
        let body = "";
        if (headers["transfer-encoding"] === "chunked") {
          for (;;) {
            const le = buf.indexOf("\r\n", at);
            if (le < 0) return;
            const size = parseInt(buf.toString("latin1", at, le), 16);
            if (Number.isNaN(size)) {
              s.destroy(); // not chunked framing: nothing more to parse on this connection
              return;
            }
            if (buf.length < le + 2 + size + 2) return;
            body += buf.toString("latin1", le + 2, le + 2 + size);
            at = le + 2 + size + 2;
            if (size === 0) break;
          }
        } else if (headers["content-length"]) {
          const n = Number(headers["content-length"]);
          if (buf.length < at + n) return;
          body = buf.toString("latin1", at, at + n);
          at += n;
        }
        buf = buf.subarray(at);
        const r: Received = { conn: id, head, method, path, headers, body };
        this.received.push(r);
        this.reply(s, this.answer(r));
      }
    };
    s.on("data", (c: Buffer) => {
      this.raw[id - 1] += c.toString("latin1");
      buf = Buffer.concat([buf, c]);
      tryParse();
    });
  }

  private reply(s: net.Socket, a: Answer): void {
    if (typeof a === "string" || Buffer.isBuffer(a)) {
      s.write(a);
      return;
    }
    if ("hang" in a) return;
    if (!("parts" in a)) {
      s.destroy();
      return;
    }
    let i = 0;
    const next = () => {
      if (s.destroyed) return;
      if (i < a.parts.length) {
        s.write(a.parts[i++]);
        setTimeout(next, a.gapMs);
      } else if (a.close) s.end();
    };
    next();
  }
}

export function ok(body: string, extra = ""): string {
  return `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

/** Parses every complete response in `text` (content-length, chunked, or to the end when closed). */
export function responses(text: string, opts: { headRequests?: ReadonlySet<number> } = {}): Array<{ status: number; head: string; headers: Record<string, string>; body: string }> {
  const out: Array<{ status: number; head: string; headers: Record<string, string>; body: string }> = [];
  let at = 0;
  while (at < text.length) {
    // Responses to HEAD (by index), 1xx, 204 and 304 have no body whatever their headers say.
    const noBody = opts.headRequests?.has(out.length) === true || /^HTTP\/1\.[01] (1\d\d|204|304) /.test(text.slice(at, at + 16));
    const end = text.indexOf("\r\n\r\n", at);
    if (end < 0) break;
    const head = text.slice(at, end);
    const [line, ...rest] = head.split("\r\n");
    const headers: Record<string, string> = {};
    for (const l of rest) headers[l.slice(0, l.indexOf(":")).toLowerCase()] = l.slice(l.indexOf(":") + 1).trim();
    let p = end + 4;
    let body = "";
    if (noBody) {
      // nothing
    } else if (headers["transfer-encoding"] === "chunked") {
      for (;;) {
        const le = text.indexOf("\r\n", p);
        const size = le < 0 ? NaN : parseInt(text.slice(p, le), 16);
        if (Number.isNaN(size) || le + 2 + size > text.length) {
          // Cut off (a reset, or still arriving): what came is the body.
          if (le >= 0) body += text.slice(le + 2);
          p = text.length;
          break;
        }
        body += text.slice(le + 2, le + 2 + size);
        p = le + 2 + size + 2;
        if (size === 0) break;
      }
    } else if (headers["content-length"] !== undefined) {
      body = text.slice(p, p + Number(headers["content-length"]));
      p += Number(headers["content-length"]);
    } else if (!/^HTTP\/1\.1 (1\d\d|204|304) /.test(line)) {
      body = text.slice(p);
      p = text.length;
    }
    out.push({ status: Number(line.split(" ")[1]), head, headers, body });
    at = p;
  }
  return out;
}
