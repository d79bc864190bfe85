// The proxy's protocols end to end, from a static bootstrap: h2c prior knowledge and HTTP/1.1 on
// one listener, HTTP/2 upstreams (explicit and "downstream"), session reuse and
// max_requests_per_connection, GOAWAY, gRPC (unary, server streaming, trailers, trailers-only
// errors, deadlines, fault aborts, retries on gRPC codes), 100-continue, WebSocket upgrades,
// streamed chunked bodies, keep-alive, stream idle and request timeouts, downstream disconnects.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { eventually } from "../../helpers/eventually.js";
import { ECHO_SERVICE, EchoServer, type EchoReply } from "../../helpers/grpc-echo.js";
import {
  grpcFault,
  h2request,
  httpListener,
  prefixRoute,
  ProtoBackend,
  RawConn,
  type SeenRequest,
  staticCluster,
  STREAM_SERVICE,
  StreamClient,
  StreamService,
} from "../protocol-helpers.js";

const PROXY_IP = "127.0.70.1";
const MAIN = 8001;
const TIMEOUTS = 8002;
const ORIGIN = `http://${PROXY_IP}:${MAIN}`;
const H1_IP = "127.0.70.2";
const H2_IP = "127.0.70.3";
const DUAL_IP = "127.0.70.4";
const GRPC_IP = "127.0.70.5";
const DEAD_IP = "127.0.70.9";

const EchoCtor = grpc.makeGenericClientConstructor(ECHO_SERVICE, "Echo");
type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: EchoReply) => void) => void;

function h1(path: string, opts: { method?: string; headers?: Record<string, string>; body?: string; agent?: http.Agent; port?: number } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: PROXY_IP, port: opts.port ?? MAIN, path, method: opts.method ?? "GET", headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

describe("tsmesh proxy protocols", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-proxy-proto-"));
  const logFile = join(dir, "access.log");
  let proxy: ProxyServer;
  const h1b = new ProtoBackend("h1");
  const h2b = new ProtoBackend("h2");
  const dual = new ProtoBackend("dual");
  const echo = new EchoServer({ name: "grpc-1", address: GRPC_IP, port: 8080 });
  const streams = new StreamService();
  let echoClient: grpc.Client;
  let streamClient: grpc.Client;

  const log = () => (() => {
    try {
      return readFileSync(logFile, "utf8");
    } catch {
      return "";
    }
  })();
  const stat = (name: string) => proxy.stats.counter(name).value;

  before(async () => {
    await h1b.listen("h1", H1_IP, 8080);
    await h2b.listen("h2", H2_IP, 8080);
    await dual.listen("dual", DUAL_IP, 8080);
    echo.server.addService(STREAM_SERVICE, streams.implementation());
    await echo.start();
    const clusters = [
      staticCluster("h1", H1_IP, 8080),
      staticCluster("h2", H2_IP, 8080, { protocol: "http2" }),
      staticCluster("h2-mrpc", H2_IP, 8080, { protocol: "http2", maxRequestsPerConnection: 2 }),
      staticCluster("dual", DUAL_IP, 8080, { protocol: "downstream" }),
      staticCluster("grpc", GRPC_IP, 8080, { protocol: "http2" }),
      staticCluster("dead-h2", DEAD_IP, 8080, { protocol: "http2" }),
      staticCluster("h2-small", H2_IP, 8080, { protocol: "http2", maxRequests: 1 }),
    ];
    const retry = (retryOn: string, n = 2, extra = {}) => ({ retryPolicy: { retryOn, numRetries: { value: n }, ...extra } });
    const main = httpListener(
      "main",
      PROXY_IP,
      MAIN,
      [
        prefixRoute("/", "grpc", { typedPerFilterConfig: grpcFault(14) }, { headers: [{ name: "x-fault", presentMatch: true }] }),
        prefixRoute("/echo.Echo/", "grpc", { ...retry("unavailable,cancelled", 2), maxGrpcTimeout: {} }),
        prefixRoute("/stream.Stream/", "grpc", { maxGrpcTimeout: {} }),
        prefixRoute("/h1/", "h1"),
        prefixRoute("/h2/retry", "h2", retry("5xx", 2)),
        prefixRoute("/h2/pertry", "h2", retry("5xx", 1, { perTryTimeout: { nanos: 150_000_000 } })),
        prefixRoute("/h2/timeout", "h2", { timeout: { nanos: 200_000_000 } }),
        prefixRoute("/h2/", "h2"),
        prefixRoute("/mrpc/", "h2-mrpc"),
        prefixRoute("/dual/", "dual"),
        prefixRoute("/dead/", "dead-h2", retry("connect-failure", 1)),
        prefixRoute("/dead.Dead/", "dead-h2"),
        prefixRoute("/small/", "h2-small"),
        prefixRoute("/nows/", "h1", { upgradeConfigs: [{ upgradeType: "websocket", enabled: { value: false } }] }),
        prefixRoute("/ws/", "h1"),
      ],
      { upgradeConfigs: [{ upgradeType: "websocket" }] },
    );
    const timeouts = httpListener("timeouts", PROXY_IP, TIMEOUTS, [prefixRoute("/", "h1", { timeout: { seconds: 0 } })], {
      streamIdleTimeout: { nanos: 300_000_000 },
      requestTimeout: { nanos: 600_000_000 },
    });
    proxy = new ProxyServer({ staticResources: { listeners: [main, timeouts], clusters }, node: { id: "test" }, ip: PROXY_IP, accessLogPath: logFile, log: () => {} });
    await proxy.start();
    echoClient = new EchoCtor(`${PROXY_IP}:${MAIN}`, grpc.credentials.createInsecure());
    streamClient = new StreamClient(`${PROXY_IP}:${MAIN}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    echoClient.close();
    streamClient.close();
    await proxy.close();
    await echo.stop();
    await Promise.all([h1b.close(), h2b.close(), dual.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const unary = (md: Record<string, string> = {}, deadlineMs = 3000, client = echoClient, method = "Echo"): Promise<EchoReply> => {
    const m = new grpc.Metadata();
    for (const [k, v] of Object.entries(md)) m.set(k, v);
    return new Promise((resolve, reject) =>
      ((client as unknown as Record<string, Unary>)[method]).call(client, { message: "hi" }, m, { deadline: Date.now() + deadlineMs }, (e, r) => (e ? reject(e) : resolve(r!))),
    );
  };

  it("serves h2c prior knowledge and HTTP/1.1 on the same listener", async () => {
    const before2 = stat("http.main.downstream_rq_http2_total");
    const r = await h2request(ORIGIN, "/h1/hello?x=1", { headers: { "x-test": "a" } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.server, "envoy");
    assert.ok(r.headers["x-envoy-upstream-service-time"] !== undefined);
    const seen = JSON.parse(r.body) as SeenRequest;
    assert.equal(seen.protocol, "HTTP/1.1");
    assert.equal(seen.path, "/h1/hello?x=1");
    assert.equal(seen.authority, `${PROXY_IP}:${MAIN}`);
    assert.equal(seen.headers["x-test"], "a");
    assert.equal(seen.headers["x-forwarded-proto"], "http");
    const r1 = await h1("/h1/plain");
    assert.equal(r1.status, 200);
    assert.equal((JSON.parse(r1.body) as SeenRequest).protocol, "HTTP/1.1");
    assert.equal(stat("http.main.downstream_rq_http2_total"), before2 + 1);
    assert.ok(stat("http.main.downstream_cx_http2_total") >= 1);
    assert.ok(stat("http.main.downstream_cx_http1_total") >= 1);
    await eventually("access log", () => /"GET \/h1\/hello\?x=1 HTTP\/2" 200 - /.test(log()) && /"GET \/h1\/plain HTTP\/1\.1" 200 - /.test(log()));
  });

  it("keeps HTTP/1.1 connections alive across requests", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const cx = stat("http.main.downstream_cx_total");
    for (let i = 0; i < 3; i++) assert.equal((await h1("/h1/ka", { agent })).status, 200);
    assert.equal(stat("http.main.downstream_cx_total") - cx, 1);
    agent.destroy();
  });

  it("sends HTTP/2 upstream for an http2 cluster, from HTTP/1.1 and HTTP/2 downstreams, bodies both ways", async () => {
    const r = await h1("/h2/post", { method: "POST", body: "hello h2", headers: { "content-type": "text/plain" } });
    assert.equal(r.status, 200);
    let seen = JSON.parse(r.body) as SeenRequest;
    assert.equal(seen.protocol, "HTTP/2");
    assert.equal(seen.body, "hello h2");
    assert.equal(seen.authority, `${PROXY_IP}:${MAIN}`);
    assert.equal(seen.headers.host, undefined);
    const r2 = await h2request(ORIGIN, "/h2/again", { method: "POST", body: "x".repeat(100_000) });
    assert.equal(r2.status, 200);
    seen = JSON.parse(r2.body) as SeenRequest;
    assert.equal(seen.protocol, "HTTP/2");
    assert.equal(seen.body.length, 100_000);
  });

  it("follows the downstream protocol for a use_downstream_protocol cluster", async () => {
    const a = JSON.parse((await h2request(ORIGIN, "/dual/x")).body) as SeenRequest;
    assert.equal(a.protocol, "HTTP/2");
    const b = JSON.parse((await h1("/dual/y")).body) as SeenRequest;
    assert.equal(b.protocol, "HTTP/1.1");
  });

  it("reuses upstream HTTP/2 sessions, and opens new ones after max_requests_per_connection", async () => {
    const pool = () => proxy.cluster("h2")!.h2Pool;
    const cxBefore = pool().cxTotal;
    await Promise.all(Array.from({ length: 5 }, (_, i) => h1(`/h2/reuse${i}`)));
    for (let i = 0; i < 3; i++) await h1(`/h2/seq${i}`);
    assert.equal(pool().cxTotal, cxBefore, "one session carries every stream");
    for (let i = 0; i < 5; i++) assert.equal((await h1(`/mrpc/${i}`)).status, 200);
    assert.equal(proxy.cluster("h2-mrpc")!.h2Pool.cxTotal, 3);
  });

  it("handles GOAWAY from the upstream: the next request opens a new session", async () => {
    await h1("/h2/warm");
    const pool = proxy.cluster("h2")!.h2Pool;
    const before = pool.cxTotal;
    h2b.goawayAll();
    await eventually("the pool closed the session that got GOAWAY", () => pool.connections === 0);
    const r = await h1("/h2/after-goaway");
    assert.equal(r.status, 200);
    assert.equal(pool.cxTotal, before + 1);
  });

  it("retries, times out and fails over HTTP/2 upstreams like HTTP/1", async () => {
    let tries = 0;
    h2b.behaviour = (path) => (path.startsWith("/h2/retry") ? { status: ++tries % 3 === 0 ? 200 : 503 } : path.startsWith("/h2/pertry") || path.startsWith("/h2/timeout") ? { hang: true } : {});
    try {
      const retries = stat("cluster.h2.upstream_rq_retry");
      const r = await h1("/h2/retry");
      assert.equal(r.status, 200);
      assert.equal(stat("cluster.h2.upstream_rq_retry") - retries, 2);
      const t = await h1("/h2/timeout");
      assert.equal(t.status, 504);
      assert.equal(t.body, "upstream request timeout");
      const pt = await h2request(ORIGIN, "/h2/pertry");
      assert.equal(pt.status, 504);
      assert.ok(stat("cluster.h2.upstream_rq_per_try_timeout") >= 2);
      const dead = await h1("/dead/x");
      assert.equal(dead.status, 503);
      assert.match(dead.body, /^upstream connect error or disconnect\/reset before headers\. reset reason: remote connection failure/);
      await eventually("log", () => /"GET \/h2\/timeout HTTP\/1\.1" 504 UT /.test(log()) && /"GET \/dead\/x HTTP\/1\.1" 503 UF,URX /.test(log()));
      await eventually("hung streams cancelled upstream", () => h2b.aborted >= 3);
      await eventually("no streams left", () => proxy.cluster("h2")!.h2Pool.activeStreams === 0);
    } finally {
      h2b.behaviour = () => ({});
    }
  });

  it("applies max_requests to HTTP/2 upstreams: 503 UO over the limit", async () => {
    h2b.behaviour = (path) => (path === "/small/hang" ? { hang: true } : {});
    const session = http2.connect(ORIGIN);
    session.on("error", () => {});
    try {
      const hung = session.request({ ":path": "/small/hang" });
      hung.on("error", () => {});
      await eventually("the first request is upstream", () => proxy.cluster("h2-small")!.activeRequests === 1);
      const r = await h2request(ORIGIN, "/small/second", { session });
      assert.equal(r.status, 503);
      assert.match(r.body, /reset reason: overflow$/);
      hung.close(http2.constants.NGHTTP2_CANCEL);
      await eventually("released", () => proxy.cluster("h2-small")!.activeRequests === 0);
      assert.equal((await h2request(ORIGIN, "/small/third", { session })).status, 200);
    } finally {
      session.close();
      h2b.behaviour = () => ({});
    }
  });

  it("turns local replies to gRPC requests into trailers-only gRPC statuses", async () => {
    const r = await h2request(ORIGIN, "/dead.Dead/Call", { method: "POST", headers: { "content-type": "application/grpc", te: "trailers" }, body: "" });
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], "application/grpc");
    assert.equal(r.headers["grpc-status"], "14");
    assert.match(decodeURIComponent(String(r.headers["grpc-message"])), /^upstream connect error or disconnect\/reset before headers\. reset reason: remote connection failure/);
    await eventually("log", () => /"POST \/dead\.Dead\/Call HTTP\/2" 200 UF /.test(log()));
  });

  it("relays HTTP/2 response trailers to HTTP/2 clients", async () => {
    h2b.behaviour = () => ({ parts: ["a", "b"], trailers: { "x-checksum": "ab" } });
    try {
      const r = await h2request(ORIGIN, "/h2/trailers");
      assert.equal(r.body, "ab");
      assert.equal(r.trailers["x-checksum"], "ab");
    } finally {
      h2b.behaviour = () => ({});
    }
  });

  it("carries gRPC unary calls through an http2 cluster, with metadata and error statuses", async () => {
    const r = await unary({ "x-hello": "world" });
    assert.equal(r.server, "grpc-1");
    assert.equal(r.metadata["x-hello"], "world");
    assert.ok(r.metadata["x-request-id"]);
    echo.failWith = grpc.status.PERMISSION_DENIED;
    try {
      await assert.rejects(unary(), (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED && e.details === "grpc-1 fails on purpose");
    } finally {
      echo.failWith = undefined;
    }
  });

  it("streams gRPC server-streaming responses with trailers, also when the stream ends in an error", async () => {
    const count = (req: { n: number; failWith?: number }) =>
      new Promise<{ items: number[]; status: grpc.StatusObject }>((resolve) => {
        const items: number[] = [];
        const call = (streamClient as unknown as Record<string, (r: unknown) => grpc.ClientReadableStream<{ i: number }>>).Count.call(streamClient, req);
        call.on("data", (m: { i: number }) => items.push(m.i));
        call.on("error", () => {});
        call.on("status", (status: grpc.StatusObject) => resolve({ items, status }));
      });
    const ok = await count({ n: 5 });
    assert.deepEqual(ok.items, [0, 1, 2, 3, 4]);
    assert.equal(ok.status.code, grpc.status.OK);
    assert.equal(ok.status.metadata.get("x-count")[0], "5");
    const bad = await count({ n: 3, failWith: grpc.status.RESOURCE_EXHAUSTED });
    assert.deepEqual(bad.items, [0, 1, 2]);
    assert.equal(bad.status.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(bad.status.details, "stopped after 3");
  });

  it("answers the fault filter's gRPC abort as a trailers-only response", async () => {
    await assert.rejects(unary({ "x-fault": "1" }), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE && e.details === "fault filter abort");
    const r = await h2request(ORIGIN, "/echo.Echo/Echo", { method: "POST", headers: { "x-fault": "1", "content-type": "application/grpc" }, body: "" });
    assert.equal(r.status, 200);
    assert.equal(r.headers["grpc-status"], "14");
    assert.deepEqual(r.trailers, {});
    await eventually("log", () => /"POST \/echo\.Echo\/Echo HTTP\/2" 200 FI /.test(log()));
  });

  it("retries gRPC calls on retry_on gRPC codes read from trailers-only responses", async () => {
    echo.failFirstPerKey = 2;
    const calls = echo.calls;
    try {
      const r = await unary({ "x-attempt-key": `k-${Date.now()}` });
      assert.equal(r.server, "grpc-1");
      assert.equal(echo.calls - calls, 3);
    } finally {
      echo.failFirstPerKey = 0;
    }
  });

  it("honours gRPC deadlines: grpc-timeout reaches the server and a cancelled call is reset upstream", async () => {
    const before = streams.cancelled;
    await assert.rejects(unary({}, 300, streamClient, "Hang"), (e: grpc.ServiceError) => e.code === grpc.status.DEADLINE_EXCEEDED);
    await eventually("the server saw the call cancelled", () => streams.cancelled > before);
    await eventually("no upstream streams left", () => proxy.cluster("grpc")!.h2Pool.activeStreams === 0);
    assert.equal(proxy.cluster("grpc")!.activeRequests, 0);
  });

  it("answers Expect: 100-continue itself and forwards the body", async () => {
    const c = await RawConn.open(PROXY_IP, MAIN);
    try {
      c.send(`POST /h1/expect HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n`);
      await c.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
      c.send("hello");
      const text = await c.until(/\r\n0\r\n\r\n$/);
      assert.match(text, /HTTP\/1\.1 200 OK/);
      const seen = JSON.parse(text.slice(text.indexOf("{"), text.lastIndexOf("}") + 1)) as SeenRequest;
      assert.equal(seen.body, "hello");
      assert.equal(seen.headers.expect, undefined);
    } finally {
      c.close();
    }
  });

  it("tunnels WebSocket upgrades when upgrade_configs allow them, and refuses them where a route disables them", async () => {
    const c = await RawConn.open(PROXY_IP, MAIN);
    try {
      c.send(`GET /ws/chat HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-key: abc\r\nsec-websocket-version: 13\r\n\r\n`);
      await c.until(/^HTTP\/1\.1 101 Switching Protocols\r\n[^]*\r\n\r\n/);
      assert.match(c.received, /\r\nupgrade: websocket\r\n/i);
      c.received = "";
      c.send("ping");
      await c.until(/^PING$/);
      c.send("more bytes");
      await c.until(/^PINGMORE BYTES$/);
      const seen = h1b.seen.at(-1)!;
      assert.equal(seen.headers.upgrade, "websocket");
      assert.equal(seen.headers["sec-websocket-key"], "abc");
    } finally {
      c.close();
    }
    const d = await RawConn.open(PROXY_IP, MAIN);
    try {
      d.send(`GET /nows/chat HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n`);
      await d.until(/^HTTP\/1\.1 403 Forbidden\r\n/);
    } finally {
      d.close();
    }
    assert.ok(stat("http.main.downstream_cx_upgrades_total") >= 1);
  });

  it("streams chunked request bodies upstream as they arrive", async () => {
    h1b.behaviour = () => ({});
    const res = new Promise<string>((resolve, reject) => {
      const req = http.request({ host: PROXY_IP, port: MAIN, path: "/h1/chunked", method: "POST", agent: false }, (r) => {
        const chunks: Buffer[] = [];
        r.on("data", (c: Buffer) => chunks.push(c));
        r.on("end", () => resolve(Buffer.concat(chunks).toString()));
      });
      req.on("error", reject);
      req.write("first-part;");
      void eventually("the backend got the first part before the request ended", () => h1b.bytesInFlight >= 11).then(() => req.end("second-part"), reject);
    });
    const seen = JSON.parse(await res) as SeenRequest;
    assert.equal(seen.body, "first-part;second-part");
    assert.equal(seen.headers["transfer-encoding"], "chunked");
  });

  it("answers 504 with flag SI after stream_idle_timeout (request complete), and 408 after request_timeout (body still arriving)", async () => {
    h1b.behaviour = (path) => (path.startsWith("/idle") ? { hang: true } : {});
    try {
      // (test/proxy/http/timeouts.test.ts has the full table: Envoy's maybeRequestTimeoutCode.)
      const r = await h1("/idle", { port: TIMEOUTS });
      assert.equal(r.status, 504);
      assert.equal(r.body, "stream timeout");
      await eventually("log", () => /"GET \/idle HTTP\/1\.1" 504 SI /.test(log()));
      assert.equal(stat("http.timeouts.downstream_rq_idle_timeout"), 1);
      // A body that keeps trickling in keeps the stream alive, but the request must finish in request_timeout.
      const c = await RawConn.open(PROXY_IP, TIMEOUTS);
      try {
        c.send(`POST /slow-body HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n`);
        const trickle = setInterval(() => c.send("x"), 100);
        try {
          await c.until(/^HTTP\/1\.1 408 Request Timeout\r\n[^]*request timeout$/);
        } finally {
          clearInterval(trickle);
        }
      } finally {
        c.close();
      }
      assert.equal(stat("http.timeouts.downstream_rq_timeout"), 1);
    } finally {
      h1b.behaviour = () => ({});
    }
  });

  it("cleans up when the downstream disconnects mid-stream (HTTP/1.1 and HTTP/2)", async () => {
    h1b.behaviour = () => ({ parts: ["first", "second"], gapMs: 5000 });
    h2b.behaviour = () => ({ parts: ["first", "second"], gapMs: 5000 });
    try {
      const abortedH1 = h1b.aborted;
      await new Promise<void>((resolve, reject) => {
        const req = http.request({ host: PROXY_IP, port: MAIN, path: "/h1/dc", agent: false }, (r) => {
          r.once("data", () => {
            req.destroy();
            resolve();
          });
        });
        req.on("error", () => {});
        req.on("close", () => resolve());
        req.end();
        setTimeout(() => reject(new Error("no first chunk")), 3000);
      });
      await eventually("the upstream request was aborted", () => h1b.aborted > abortedH1);
      await eventually("log DC", () => /"GET \/h1\/dc HTTP\/1\.1" 200 DC /.test(log()));

      const abortedH2 = h2b.aborted;
      const session = http2.connect(ORIGIN);
      session.on("error", () => {});
      await new Promise<void>((resolve) => {
        const s = session.request({ ":path": "/h2/dc" });
        s.on("error", () => {});
        s.once("data", () => {
          s.close(http2.constants.NGHTTP2_CANCEL);
          resolve();
        });
      });
      await eventually("the upstream stream was reset", () => h2b.aborted > abortedH2);
      await eventually("log DC (h2)", () => /"GET \/h2\/dc HTTP\/2" 200 DC /.test(log()));
      session.close();
      await eventually("nothing in flight", () => proxy.cluster("h1")!.activeRequests === 0 && proxy.cluster("h2")!.activeRequests === 0 && proxy.cluster("h2")!.h2Pool.activeStreams === 0);
      assert.equal(proxy.cluster("h2")!.hosts()[0].activeRequests, 0);
      assert.equal(proxy.cluster("h1")!.hosts()[0].activeRequests, 0);
      assert.equal(proxy.stats.gauge("http.main.downstream_rq_active").value, 0);
    } finally {
      h1b.behaviour = () => ({});
      h2b.behaviour = () => ({});
    }
  });
});
