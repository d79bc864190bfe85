// The hand-written HTTP/1.1 paths end to end, over raw sockets on both sides so every byte is
// visible: the downstream codec (keep-alive, pipelining, HTTP/1.0 when accepted, Connection: close,
// HEAD, Content-Length and chunked request bodies, response framing, other methods, Expect,
// refusals) and the upstream connection pool (reuse, max_requests_per_connection, idle
// timeout, 1xx, 204, chunked with trailers, close-delimited bodies, malformed responses, resets,
// backpressure on a large body).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { eventually } from "../../helpers/eventually.js";
import { httpListener, prefixRoute, RawConn, staticCluster } from "../protocol-helpers.js";
import { ok, responses, ScriptBackend } from "../raw-backend.js";

const PROXY_IP = "127.0.75.1";
const PORT = 8001;
const BACKEND_IP = "127.0.75.2";
const BACKEND_PORT = 8080;
const DEAD_IP = "127.0.75.9";

describe("HTTP/1.1 fast paths (downstream codec, upstream pool)", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-h1-fast-"));
  const logFile = join(dir, "access.log");
  const backend = new ScriptBackend(BACKEND_IP, BACKEND_PORT);
  let proxy: ProxyServer;
  const stat = (name: string) => proxy.stats.counter(name).value;
  const gauge = (name: string) => proxy.stats.gauge(name).value;
  const log = () => {
    try {
      return readFileSync(logFile, "utf8");
    } catch {
      return "";
    }
  };

  before(async () => {
    await backend.listen();
    const idle = staticCluster("idle", BACKEND_IP, BACKEND_PORT);
    (idle.typedExtensionProtocolOptions as Record<string, Record<string, unknown>>)["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].commonHttpProtocolOptions = { idleTimeout: { nanos: 200_000_000 } };
    proxy = new ProxyServer({
      staticResources: {
        listeners: [
          httpListener("fast", PROXY_IP, PORT, [
            prefixRoute("/mrpc/", "mrpc"),
            prefixRoute("/idle/", "idle"),
            prefixRoute("/dead/", "dead"),
            prefixRoute("/slow/", "main", { timeout: { nanos: 300_000_000 } }),
            prefixRoute("/", "main"),
            // HTTP/1.0 is served only when accepted (Envoy's default refuses it with 426).
          ], { httpProtocolOptions: { acceptHttp_10: true } }),
        ],
        clusters: [
          staticCluster("main", BACKEND_IP, BACKEND_PORT),
          staticCluster("mrpc", BACKEND_IP, BACKEND_PORT, { maxRequestsPerConnection: 2 }),
          idle,
          staticCluster("dead", DEAD_IP, BACKEND_PORT),
        ],
      },
      node: { id: "test" },
      ip: PROXY_IP,
      accessLogPath: logFile,
      log: () => {},
    });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps a connection alive, frames responses as node:http does, and sends Envoy's request headers upstream", async () => {
    backend.answer = () => ok("hello", "connection: keep-alive\r\nkeep-alive: timeout=5\r\nx-up: 1\r\n");
    const cx = stat("http.fast.downstream_cx_total");
    const c = await RawConn.open(PROXY_IP, PORT);
    try {
      c.send("GET /a?q=1 HTTP/1.1\r\nHost: example.com\r\nX-Custom: v\r\nConnection: keep-alive\r\nTE: gzip\r\n\r\n");
      await c.until(/hello$/);
      c.send("GET /b HTTP/1.1\r\nHost: example.com\r\n\r\n");
      await c.until(/hello[^]*hello$/);
      const rs = responses(c.received);
      assert.equal(rs.length, 2);
      for (const r of rs) {
        assert.equal(r.status, 200);
        assert.equal(r.body, "hello");
        assert.equal(r.headers["content-length"], "5");
        assert.equal(r.headers["x-up"], "1");
        assert.equal(r.headers.server, "envoy");
        assert.ok(r.headers.date);
        assert.ok(r.headers["x-envoy-upstream-service-time"] !== undefined);
        assert.equal(r.headers.connection, undefined, "hop-by-hop response headers are not relayed");
        assert.equal(r.headers["keep-alive"], undefined);
      }
      assert.equal(c.closed, false);
    } finally {
      c.close();
    }
    assert.equal(stat("http.fast.downstream_cx_total") - cx, 1);
    const [a, b] = backend.received.slice(-2);
    assert.match(a.head, /^GET \/a\?q=1 HTTP\/1\.1\r\nhost: example\.com\r\n/);
    assert.equal(a.headers["x-custom"], "v");
    assert.equal(a.headers["x-forwarded-proto"], "http");
    assert.match(a.headers["x-request-id"], /^[0-9a-f-]{36}$/);
    assert.equal(a.headers["x-envoy-expected-rq-timeout-ms"], "15000");
    assert.equal(a.headers.connection, undefined);
    assert.equal(a.headers.te, undefined);
    assert.equal(b.path, "/b");
    assert.equal(a.conn, b.conn, "the upstream connection was reused");
  });

  it("answers pipelined requests in order", async () => {
    backend.answer = (r) => ok(`for ${r.path}`);
    const c = await RawConn.open(PROXY_IP, PORT);
    try {
      c.send("GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\nGET /p3 HTTP/1.1\r\nHost: x\r\n\r\n");
      await c.until(/for \/p3$/);
      assert.deepEqual(
        responses(c.received).map((r) => r.body),
        ["for /p1", "for /p2", "for /p3"],
      );
    } finally {
      c.close();
    }
  });

  it("closes after the response for Connection: close and for HTTP/1.0 without keep-alive; keeps HTTP/1.0 keep-alive", async () => {
    backend.answer = () => ok("x");
    const c = await RawConn.open(PROXY_IP, PORT);
    c.send("GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    await eventually("closed", () => c.closed);
    assert.equal(responses(c.received)[0].headers.connection, "close");
    const d = await RawConn.open(PROXY_IP, PORT);
    d.send("GET /d HTTP/1.0\r\nHost: x\r\n\r\n");
    await eventually("closed", () => d.closed);
    assert.match(d.received, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(responses(d.received)[0].headers.connection, "close");
    const e = await RawConn.open(PROXY_IP, PORT);
    try {
      e.send("GET /e HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
      await e.until(/\r\n\r\nx$/);
      assert.equal(responses(e.received)[0].headers.connection, "keep-alive");
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(e.closed, false);
    } finally {
      e.close();
    }
  });

  it("streams an HTTP/1.0 response without length until close, and a HEAD response without its body", async () => {
    backend.answer = () => ({ parts: ["HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n", "3\r\nabc\r\n", "0\r\n\r\n"], gapMs: 10 });
    const c = await RawConn.open(PROXY_IP, PORT);
    c.send("GET /ten HTTP/1.0\r\nHost: x\r\n\r\n");
    await eventually("closed", () => c.closed);
    assert.match(c.received, /\r\n\r\nabc$/);
    assert.doesNotMatch(c.received, /transfer-encoding/i);
    backend.answer = () => ok("not sent");
    const h = await RawConn.open(PROXY_IP, PORT);
    try {
      h.send("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n");
      await h.until(/\r\n\r\n$/);
      await new Promise((r) => setTimeout(r, 50));
      assert.match(h.received, /content-length: 8\r\n/);
      assert.ok(h.received.endsWith("\r\n\r\n"), "no body after the head");
      h.send("GET /after-head HTTP/1.1\r\nHost: x\r\n\r\n");
      await h.until(/not sent$/);
    } finally {
      h.close();
    }
  });

  it("streams Content-Length and chunked request bodies upstream, split across writes", async () => {
    backend.answer = (r) => ok(`got ${r.body.length}`);
    const c = await RawConn.open(PROXY_IP, PORT);
    try {
      c.send("POST /cl HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello");
      await new Promise((r) => setTimeout(r, 20));
      c.send(" world");
      await c.until(/got 11$/);
      c.send("POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n");
      await new Promise((r) => setTimeout(r, 20));
      c.send("2\r\nef\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n");
      await c.until(/got 6[^]*got 0$/);
    } finally {
      c.close();
    }
    const [cl, ch, next] = backend.received.slice(-3);
    assert.equal(cl.body, "hello world");
    assert.equal(cl.headers["content-length"], "11");
    assert.equal(ch.body, "abcdef");
    assert.equal(ch.headers["transfer-encoding"], "chunked");
    assert.equal(next.method, "GET");
    assert.equal(next.headers["content-length"], undefined);
    // An empty POST gets content-length: 0, as node's client sends it.
    const p = await RawConn.open(PROXY_IP, PORT);
    try {
      p.send("POST /empty HTTP/1.1\r\nHost: x\r\n\r\n");
      await p.until(/got 0$/);
    } finally {
      p.close();
    }
    assert.equal(backend.received.at(-1)!.headers["content-length"], "0");
  });

  it("relays chunked responses with trailers, skips 100 Continue, and gives 204 no body", async () => {
    backend.answer = (r) =>
      r.path === "/trailers"
        ? "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-sum: 1\r\n\r\n"
        : "HTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n";
    const c = await RawConn.open(PROXY_IP, PORT);
    try {
      c.send("GET /trailers HTTP/1.1\r\nHost: x\r\n\r\n");
      await c.until(/0\r\n\r\n$/);
      const [r] = responses(c.received);
      assert.equal(r.status, 200);
      assert.equal(r.body, "hello world");
      assert.equal(r.headers["transfer-encoding"], "chunked");
      assert.doesNotMatch(c.received, /100 Continue/);
      c.received = "";
      c.send("GET /nocontent HTTP/1.1\r\nHost: x\r\n\r\n");
      await c.until(/\r\n\r\n$/);
      await new Promise((r) => setTimeout(r, 30));
      assert.match(c.received, /^HTTP\/1\.1 204 No Content\r\n/);
      assert.doesNotMatch(c.received, /transfer-encoding|content-length/i);
    } finally {
      c.close();
    }
  });

  it("reads a close-delimited upstream body to the end and does not reuse that connection", async () => {
    backend.answer = (r) => (r.path === "/eof" ? { parts: ["HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\npart1-", "part2"], gapMs: 20, close: true } : ok("fine"));
    const before = backend.connections;
    const c = await RawConn.open(PROXY_IP, PORT);
    try {
      c.send("GET /eof HTTP/1.1\r\nHost: x\r\n\r\n");
      await c.until(/0\r\n\r\n$/);
      assert.equal(responses(c.received)[0].body, "part1-part2");
      c.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
      await c.until(/fine$/);
    } finally {
      c.close();
    }
    const [eof, afterEof] = backend.received.slice(-2);
    assert.notEqual(eof.conn, afterEof.conn);
    assert.ok(backend.connections > before);
  });

  it("opens a new upstream connection after max_requests_per_connection, and closes idle ones after idle_timeout", async () => {
    backend.answer = () => ok("m");
    const c = await RawConn.open(PROXY_IP, PORT);
    try {
      for (let i = 0; i < 4; i++) {
        c.send(`GET /mrpc/${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
        await eventually(`response ${i}`, () => responses(c.received).length === i + 1);
      }
      const conns = backend.received.slice(-4).map((r) => r.conn);
      assert.equal(conns[0], conns[1]);
      assert.equal(conns[2], conns[3]);
      assert.notEqual(conns[1], conns[2]);
      assert.equal(stat("cluster.mrpc.upstream_cx_total"), 2);
      c.send("GET /idle/1 HTTP/1.1\r\nHost: x\r\n\r\n");
      await eventually("response 5", () => responses(c.received).length === 5);
      assert.equal(gauge("cluster.idle.upstream_cx_active"), 1);
      await eventually("idle upstream connection closed", () => gauge("cluster.idle.upstream_cx_active") === 0);
      assert.equal(proxy.cluster("idle")!.hosts()[0].activeConnections, 0);
    } finally {
      c.close();
    }
  });

  it("maps upstream failures to Envoy's replies: malformed → 502 UPE, reset mid-body → downstream reset, connect failure → 503 UF, timeout → 504 UT", async () => {
    backend.answer = (r) => (r.path === "/garbage" ? "NOT HTTP AT ALL\r\n\r\n" : r.path === "/midbody" ? { parts: ["HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort"], gapMs: 30, close: true } : r.path.startsWith("/slow") ? { hang: true } : ok("x"));
    const g = await RawConn.open(PROXY_IP, PORT);
    try {
      g.send("GET /garbage HTTP/1.1\r\nHost: x\r\n\r\n");
      await g.until(/protocol error$/);
      assert.match(g.received, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
    } finally {
      g.close();
    }
    const m = await RawConn.open(PROXY_IP, PORT);
    m.send("GET /midbody HTTP/1.1\r\nHost: x\r\n\r\n");
    await eventually("downstream reset", () => m.closed);
    assert.match(m.received, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nshort$/);
    const d = await RawConn.open(PROXY_IP, PORT);
    try {
      d.send("GET /dead/x HTTP/1.1\r\nHost: x\r\n\r\n");
      await d.until(/remote connection failure[^]*$/);
      assert.match(d.received, /^HTTP\/1\.1 503 /);
      d.received = "";
      d.send("GET /slow/x HTTP/1.1\r\nHost: x\r\n\r\n");
      await d.until(/upstream request timeout$/);
      assert.match(d.received, /^HTTP\/1\.1 504 /);
    } finally {
      d.close();
    }
    await eventually("log", () => /"GET \/garbage HTTP\/1\.1" 502 UPE /.test(log()) && /"GET \/midbody HTTP\/1\.1" 200 UC /.test(log()) && /"GET \/dead\/x HTTP\/1\.1" 503 UF /.test(log()) && /"GET \/slow\/x HTTP\/1\.1" 504 UT /.test(log()));
    await eventually("nothing in flight", () => proxy.cluster("main")!.activeRequests === 0 && gauge("http.fast.downstream_rq_active") === 0);
  });

  it("relays a large body under backpressure without losing bytes", async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, "y");
    backend.answer = () => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${big.length}\r\n\r\n`), big]);
    const body = await new Promise<number>((resolve, reject) => {
      const req = http.get({ host: PROXY_IP, port: PORT, path: "/big", agent: false }, (res) => {
        let n = 0;
        res.on("data", (c: Buffer) => {
          n += c.length;
          res.pause();
          setTimeout(() => res.resume(), 1); // a slow reader
        });
        res.on("end", () => resolve(n));
      });
      req.on("error", reject);
    });
    assert.equal(body, big.length);
  });

  it("serves unusual requests itself (other methods, Expect: 100-continue) and refuses malformed heads (400) and oversized ones (431)", async () => {
    backend.answer = (r) => ok(`method ${r.method}`);
    const c = await RawConn.open(PROXY_IP, PORT);
    try {
      c.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
      await c.until(/method GET$/);
      c.send("PROPFIND /dav HTTP/1.1\r\nHost: x\r\n\r\n");
      await c.until(/method PROPFIND$/);
      c.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n");
      await c.until(/method PROPFIND[^]*method GET$/);
    } finally {
      c.close();
    }
    // Mid-connection: a request, then Expect: 100-continue (the codec answers the 100).
    const e = await RawConn.open(PROXY_IP, PORT);
    try {
      e.send("GET /one HTTP/1.1\r\nHost: x\r\n\r\n");
      await e.until(/method GET$/);
      e.send("POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
      await e.until(/HTTP\/1\.1 100 Continue\r\n\r\n$/);
      e.send("abc");
      await e.until(/method POST$/);
      assert.equal(backend.received.at(-1)!.body, "abc");
      assert.equal(backend.received.at(-1)!.headers.expect, undefined);
    } finally {
      e.close();
    }
    const raw = (bytes: string) =>
      new Promise<string>((resolve, reject) => {
        const s = net.connect(PORT, PROXY_IP, () => s.write(bytes));
        let out = "";
        s.on("data", (d: Buffer) => (out += d.toString("latin1")));
        s.on("close", () => resolve(out));
        s.on("error", reject);
        s.setTimeout(3000, () => s.destroy());
      });
    assert.match(await raw("GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n"), /^HTTP\/1\.1 400 /);
    assert.match(await raw("GET / HTTP/1.1\r\nHost: x\r\nA: b\nC: d\r\n\r\n"), /^HTTP\/1\.1 400 /);
    assert.match(await raw("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), /^HTTP\/1\.1 400 /);
    assert.match(await raw(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(70 * 1024)}\r\n\r\n`), /^HTTP\/1\.1 431 /);
  });
});
