// The HCM's stream timers as Envoy answers them, end to end over real sockets:
// - stream_idle_timeout and request_timeout reply with Envoy's maybeRequestTimeoutCode: 504 once
//   the downstream sent the whole request, 408 while it is still arriving ("stream timeout" with
//   flag SI, "request timeout" without a flag); gRPC requests get the status mapped from it
//   (504 → UNAVAILABLE, 408 → UNKNOWN) in a trailers-only reply;
// - the request timeout is disarmed once the router has the whole request (it still fires during
//   a fault delay: 504), and a timer that fires during a fault delay answers at once;
// - a response that starts before the request finished arriving closes an HTTP/1.1 connection
//   (`connection: close`, the rest of the body is dropped, never parsed as a next request), on the
//   fast path and on node:http's (100-continue); an HTTP/2 stream gets RST_STREAM(NO_ERROR) after
//   the response; a response to a complete request keeps the connection alive.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { LOCAL_REPLIES, requestTimeoutCode } from "../../../src/proxy/http/local-reply.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { eventually } from "../../helpers/eventually.js";
import { httpListener, prefixRoute, ProtoBackend, RawConn, staticCluster, STREAM_SERVICE, StreamClient, StreamService } from "../protocol-helpers.js";

const PROXY_IP = "127.0.113.1";
/** stream_idle_timeout 300 ms, no request_timeout. */
const IDLE = 8001;
/** request_timeout 300 ms, no stream idle timeout. */
const REQ = 8002;
const H1_IP = "127.0.113.2";
const H2_IP = "127.0.113.3";
const GRPC_IP = "127.0.113.4";
const EARLY_IP = "127.0.113.5";
const FAULT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";

const ms = (n: number): ProtoObject => ({ nanos: n * 1_000_000 });
/**
 * A route-level fault filter config: every request is held for 5 s — long enough after the 300 ms
 * timers that a loaded machine cannot blur "answered by the timer" with "answered after the delay".
 */
const DELAY_S = 5;
const DELAY = { typedPerFilterConfig: { "envoy.filters.http.fault": { "@type": FAULT_TYPE, delay: { fixedDelay: { seconds: DELAY_S }, percentage: { numerator: 100 } } } } };

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void;

interface Head {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A chunked body at `raw[from..]`, or undefined while incomplete. */
function dechunk(raw: string, from: number): string | undefined {
  let body = "";
  for (let at = from; ; ) {
    const le = raw.indexOf("\r\n", at);
    if (le < 0) return undefined;
    const size = parseInt(raw.slice(at, le), 16);
    if (raw.length < le + 2 + size + 2) return undefined;
    if (size === 0) return body;
    body += raw.slice(le + 2, le + 2 + size);
    at = le + 2 + size + 2;
  }
}

/** The first response in raw HTTP/1.1 text (content-length or chunked). */
function parseResponse(raw: string): Head | undefined {
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  const lines = raw.slice(0, end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  if (headers["transfer-encoding"] === "chunked") {
    const body = dechunk(raw, end + 4);
    return body === undefined ? undefined : { status: Number(lines[0].split(" ")[1]), headers, body };
  }
  const len = Number(headers["content-length"] ?? 0);
  if (raw.length < end + 4 + len) return undefined;
  return { status: Number(lines[0].split(" ")[1]), headers, body: raw.slice(end + 4, end + 4 + len) };
}

/** Waits until the proxy closed a raw connection. */
function closedBy(c: RawConn): Promise<boolean> {
  return eventually("the proxy closes the connection", () => c.closed, 10_000, 10);
}

/** Waits for one complete response on a raw connection (from `from` on). */
async function response(c: RawConn, from = 0): Promise<Head> {
  await c.until(/\r\n\r\n/);
  return eventually("a complete response", () => parseResponse(c.received.slice(from)), 10_000, 5);
}

interface H2Result {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
  /** END_STREAM arrived (the response is complete). */
  ended: boolean;
  /** The stream's RST_STREAM code once closed (0: NO_ERROR). */
  rstCode: number;
  elapsed: number;
}

/**
 * One h2c request on a fresh session; with `partial` the request sends that much body and is never
 * ended (the client keeps the stream open until the server closes it).
 */
function h2(port: number, path: string, opts: { headers?: Record<string, string>; partial?: string } = {}): Promise<H2Result> {
  const t0 = Date.now();
  const session = http2.connect(`http://${PROXY_IP}:${port}`);
  session.on("error", () => {});
  return new Promise((resolve, reject) => {
    const method = opts.partial === undefined ? "GET" : "POST";
    const req = session.request({ ":method": method, ":path": path, ...opts.headers }, { endStream: opts.partial === undefined });
    const chunks: Buffer[] = [];
    let status = 0;
    let headers: http2.IncomingHttpHeaders = {};
    let ended = false;
    const t = setTimeout(() => {
      session.destroy();
      reject(new Error(`no answer for ${path}`));
    }, 10_000);
    req.on("response", (h) => {
      headers = h;
      status = Number(h[":status"]);
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => (ended = true));
    req.on("error", () => {});
    req.on("close", () => {
      clearTimeout(t);
      session.close();
      resolve({ status, headers, body: Buffer.concat(chunks).toString(), ended, rstCode: req.rstCode ?? -1, elapsed: Date.now() - t0 });
    });
    if (opts.partial !== undefined) req.write(opts.partial);
  });
}

describe("HCM stream timers and responses before the request completed", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-timeouts-"));
  const logFile = join(dir, "access.log");
  const h1b = new ProtoBackend("h1");
  const h2b = new ProtoBackend("h2");
  const grpcServer = new grpc.Server();
  /** Answers at once, before reading the request body. */
  const early = http.createServer((_req, res) => res.end("early"));
  const grpcClients: grpc.Client[] = [];
  let proxy: ProxyServer;
  const stat = (name: string) => proxy.stats.counter(name).value;
  const log = () => {
    try {
      return readFileSync(logFile, "utf8");
    } catch {
      return "";
    }
  };
  const logLine = (path: string) => eventually(`access log for ${path}`, () => log().split("\n").find((l) => l.includes(` ${path} `)));

  before(async () => {
    await h1b.listen("h1", H1_IP, 8080);
    await h2b.listen("h2", H2_IP, 8080);
    h1b.behaviour = (path) => (path.includes("hang") ? { hang: true } : {});
    h2b.behaviour = (path) => (path.includes("hang") ? { hang: true } : {});
    grpcServer.addService(STREAM_SERVICE, new StreamService().implementation());
    await new Promise<void>((resolve, reject) => grpcServer.bindAsync(`${GRPC_IP}:8080`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
    await new Promise<void>((resolve) => early.listen(8080, EARLY_IP, resolve));
    const clusters = [
      staticCluster("h1", H1_IP, 8080),
      staticCluster("h2", H2_IP, 8080, { protocol: "http2" }),
      staticCluster("grpc", GRPC_IP, 8080, { protocol: "http2" }),
      staticCluster("early", EARLY_IP, 8080),
    ];
    const idle = httpListener(
      "idle",
      PROXY_IP,
      IDLE,
      [prefixRoute("/delay/", "h1", DELAY), prefixRoute("/stream.Stream/", "grpc"), prefixRoute("/h2/", "h2"), prefixRoute("/early/", "early"), prefixRoute("/", "h1")],
      { streamIdleTimeout: ms(300) },
    );
    const req = httpListener(
      "req",
      PROXY_IP,
      REQ,
      [
        prefixRoute("/delay/", "h1", DELAY),
        prefixRoute("/stream.Stream/", "grpc", DELAY),
        prefixRoute("/h2/delay/", "h2", DELAY),
        prefixRoute("/h2/", "h2"),
        prefixRoute("/upstream-timeout/", "h1", { timeout: ms(600) }),
        prefixRoute("/", "h1"),
      ],
      // No stream idle timeout (0 disables it): only the request timeout runs.
      { streamIdleTimeout: {}, requestTimeout: ms(300) },
    );
    proxy = new ProxyServer({ staticResources: { listeners: [idle, req], clusters }, node: { id: "timeouts" }, ip: PROXY_IP, accessLogPath: logFile, log: () => {} });
    await proxy.start();
  });

  after(async () => {
    for (const c of grpcClients) c.close();
    await proxy.close();
    grpcServer.forceShutdown();
    early.closeAllConnections();
    await new Promise<void>((resolve) => early.close(() => resolve()));
    await Promise.all([h1b.close(), h2b.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("local replies: Envoy's codes, bodies, details and flags", () => {
    const table: Array<[string, ReturnType<typeof LOCAL_REPLIES.streamIdleTimeout>, number, string, string, string | undefined]> = [
      ["idle, request complete", LOCAL_REPLIES.streamIdleTimeout(true), 504, "stream timeout", "stream_idle_timeout", "SI"],
      ["idle, request arriving", LOCAL_REPLIES.streamIdleTimeout(false), 408, "stream timeout", "stream_idle_timeout", "SI"],
      ["request, complete", LOCAL_REPLIES.requestTimeout(true), 504, "request timeout", "request_overall_timeout", undefined],
      ["request, arriving", LOCAL_REPLIES.requestTimeout(false), 408, "request timeout", "request_overall_timeout", undefined],
      ["duration, complete", LOCAL_REPLIES.maxStreamDuration(true), 504, "downstream duration timeout", "max_duration_timeout", undefined],
      ["duration, arriving", LOCAL_REPLIES.maxStreamDuration(false), 408, "downstream duration timeout", "max_duration_timeout", undefined],
    ];
    for (const [name, r, status, body, details, flag] of table) {
      assert.deepEqual([r.status, r.body, r.details, r.flag], [status, body, details, flag], name);
    }
    assert.equal(requestTimeoutCode(true), 504);
    assert.equal(requestTimeoutCode(false), 408);
  });

  // ---- HTTP/1.1 (fast path) ----

  interface H1Case {
    name: string;
    port: number;
    /** What is sent (a request head, maybe part of its body). */
    send: string;
    status: number;
    body: string;
    /** The connection closes after the response (the request was still arriving). */
    closes: boolean;
    logged: RegExp;
  }
  const h1Cases: H1Case[] = [
    {
      name: "stream idle timeout, request complete (waiting for the upstream): 504, keep-alive",
      port: IDLE,
      send: "GET /hang/idle-complete HTTP/1.1\r\nhost: x\r\n\r\n",
      status: 504,
      body: "stream timeout",
      closes: false,
      logged: /"GET \/hang\/idle-complete HTTP\/1\.1" 504 SI /,
    },
    {
      name: "stream idle timeout, body still arriving: 408, connection: close",
      port: IDLE,
      send: "POST /hang/idle-partial HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789",
      status: 408,
      body: "stream timeout",
      closes: true,
      logged: /"POST \/hang\/idle-partial HTTP\/1\.1" 408 SI /,
    },
    {
      name: "stream idle timeout during a fault delay (request complete): 504 at once",
      port: IDLE,
      send: "GET /delay/idle HTTP/1.1\r\nhost: x\r\n\r\n",
      status: 504,
      body: "stream timeout",
      closes: false,
      logged: /"GET \/delay\/idle HTTP\/1\.1" 504 DI,SI /,
    },
    {
      name: "request timeout, body still arriving: 408, connection: close",
      port: REQ,
      send: "POST /hang/req-partial HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n",
      status: 408,
      body: "request timeout",
      closes: true,
      logged: /"POST \/hang\/req-partial HTTP\/1\.1" 408 - /,
    },
    {
      name: "request timeout while a fault delay holds the complete request: 504",
      port: REQ,
      send: "POST /delay/req HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi",
      status: 504,
      body: "request timeout",
      closes: false,
      logged: /"POST \/delay\/req HTTP\/1\.1" 504 DI /,
    },
    {
      name: "request timeout disarmed once the router has the whole request (the route timeout answers)",
      port: REQ,
      send: "GET /upstream-timeout/hang HTTP/1.1\r\nhost: x\r\n\r\n",
      status: 504,
      body: "upstream request timeout",
      closes: false,
      logged: /"GET \/upstream-timeout\/hang HTTP\/1\.1" 504 UT /,
    },
  ];

  for (const tc of h1Cases) {
    it(`HTTP/1.1: ${tc.name}`, async () => {
      const c = await RawConn.open(PROXY_IP, tc.port);
      try {
        const t0 = Date.now();
        c.send(tc.send);
        const r = await response(c);
        const elapsed = Date.now() - t0;
        assert.equal(r.status, tc.status);
        assert.equal(r.body, tc.body);
        assert.ok(elapsed < DELAY_S * 1000 - 500, `answered before the ${DELAY_S} s fault delay / 15 s route timeout (${elapsed} ms)`);
        if (tc.closes) {
          assert.equal(r.headers.connection, "close");
          await closedBy(c);
        } else {
          assert.equal(r.headers.connection, undefined);
          // Still usable: a second request on the same connection.
          const from = c.received.length;
          c.send("GET /ok HTTP/1.1\r\nhost: x\r\n\r\n");
          const next = await response(c, from);
          assert.equal(next.status, 200);
        }
        assert.match(await logLine(tc.send.split(" ")[1]), tc.logged);
      } finally {
        c.close();
      }
    });
  }

  it("HTTP/1.1: the timers' stats", () => {
    assert.equal(stat("http.idle.downstream_rq_idle_timeout"), 3);
    assert.equal(stat("http.req.downstream_rq_timeout"), 2);
    assert.ok(stat("http.idle.downstream_rq_response_before_rq_complete") >= 1);
    assert.ok(stat("http.req.downstream_rq_response_before_rq_complete") >= 1);
  });

  // ---- HTTP/2 and gRPC ----

  interface H2Case {
    name: string;
    port: number;
    path: string;
    grpc?: boolean;
    /** Part of a body sent without ending the request. */
    partial?: string;
    status: number;
    body?: string;
    grpcStatus?: string;
    grpcMessage?: string;
  }
  const GRPC = { "content-type": "application/grpc", te: "trailers" };
  const h2Cases: H2Case[] = [
    { name: "stream idle timeout, request complete: 504", port: IDLE, path: "/h2/hang-idle", status: 504, body: "stream timeout" },
    { name: "stream idle timeout, request still arriving: 408, then RST_STREAM(NO_ERROR)", port: IDLE, path: "/h2/hang-idle-partial", partial: "abc", status: 408, body: "stream timeout" },
    { name: "request timeout, request still arriving: 408, then RST_STREAM(NO_ERROR)", port: REQ, path: "/h2/hang-req-partial", partial: "abc", status: 408, body: "request timeout" },
    { name: "request timeout during a fault delay, request complete: 504", port: REQ, path: "/h2/delay/req", status: 504, body: "request timeout" },
    {
      name: "gRPC, stream idle timeout, request still arriving: UNKNOWN (from 408)",
      port: IDLE,
      path: "/stream.Stream/Hang",
      grpc: true,
      partial: "\0\0\0\0\x05",
      status: 200,
      grpcStatus: "2",
      grpcMessage: "stream timeout",
    },
    {
      name: "gRPC, request timeout, request still arriving: UNKNOWN (from 408)",
      port: REQ,
      path: "/stream.Stream/Hang",
      grpc: true,
      partial: "\0\0\0\0\x05",
      status: 200,
      grpcStatus: "2",
      grpcMessage: "request timeout",
    },
    { name: "gRPC, request timeout during a fault delay, request complete: UNAVAILABLE (from 504)", port: REQ, path: "/stream.Stream/Hang", grpc: true, status: 200, grpcStatus: "14", grpcMessage: "request timeout" },
  ];

  for (const tc of h2Cases) {
    it(`HTTP/2: ${tc.name}`, async () => {
      const r = await h2(tc.port, tc.path, { headers: tc.grpc ? GRPC : {}, partial: tc.partial });
      assert.equal(r.status, tc.status);
      assert.ok(r.elapsed < DELAY_S * 1000 - 500, `answered before the ${DELAY_S} s fault delay (${r.elapsed} ms)`);
      assert.equal(r.ended, true, "the response is complete");
      if (tc.body !== undefined) assert.equal(r.body, tc.body);
      if (tc.grpcStatus !== undefined) {
        // Trailers-only: grpc-status in the response headers.
        assert.equal(r.headers["content-type"], "application/grpc");
        assert.equal(r.headers["grpc-status"], tc.grpcStatus);
        assert.equal(r.headers["grpc-message"], tc.grpcMessage);
      }
      // Closed by the proxy with NO_ERROR: after a complete response, or (request still open) by
      // its RST_STREAM, which stops the client's upload.
      assert.equal(r.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    });
  }

  it("gRPC (grpc-js): stream idle timeout of a complete unary call is UNAVAILABLE \"stream timeout\"", async () => {
    const client = new StreamClient(`${PROXY_IP}:${IDLE}`, grpc.credentials.createInsecure());
    grpcClients.push(client);
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      (client as unknown as Record<string, Unary>).Hang.call(client, {}, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (e) => resolve(e)),
    );
    assert.ok(err);
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.equal(err.details, "stream timeout");
    // (One SI line per listener-IDLE call: the raw partial one above and this one.)
    await eventually("the access log line", () => log().split("\n").filter((l) => /"POST \/stream\.Stream\/Hang HTTP\/2" 200 SI /.test(l)).length >= 2);
  });

  // ---- HTTP/1.1 connections after a response that came before the end of the request ----

  it("HTTP/1.1 fast path: after a local reply mid-body the rest of the body is dropped, never parsed as a request, and the connection closes", async () => {
    const seen = h1b.seen.length;
    // allowHalfOpen: the client keeps sending after the proxy's FIN, as a slow uploader would.
    const s = net.connect({ host: PROXY_IP, port: IDLE, allowHalfOpen: true });
    s.on("error", () => {});
    let received = "";
    let ended = false;
    let closed = false;
    s.on("data", (c: Buffer) => (received += c.toString("latin1")));
    s.on("end", () => (ended = true));
    s.on("close", () => (closed = true));
    await new Promise<void>((resolve) => s.once("connect", () => resolve()));
    const smuggled = "GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n";
    s.write(`POST /hang/mid-body HTTP/1.1\r\nhost: x\r\ncontent-length: ${10 + smuggled.length}\r\n\r\n0123456789`);
    const r = await eventually("the 408", () => parseResponse(received), 10_000, 5);
    assert.equal(r.status, 408);
    assert.equal(r.headers.connection, "close");
    await eventually("the proxy's FIN", () => ended, 10_000, 5);
    // The rest of the body looks like a request: it must be dropped as body. Then more bytes until
    // the proxy has closed the connection (its delayed close), which a write then learns.
    s.write(smuggled);
    const poke = setInterval(() => s.write("x"), 50);
    try {
      await eventually("the proxy closes the connection (delayed close)", () => closed, 10_000, 10);
    } finally {
      clearInterval(poke);
    }
    assert.equal(received.split("HTTP/1.1 ").length - 1, 1, "one response only");
    assert.ok(!h1b.seen.slice(seen).some((x) => x.path === "/smuggled"));
    s.destroy();
  });

  it("HTTP/1.1 fast path: an upstream response before the end of the request body closes the connection too", async () => {
    const before = stat("http.idle.downstream_rq_response_before_rq_complete");
    const c = await RawConn.open(PROXY_IP, IDLE);
    try {
      c.send("POST /early/upload HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789");
      const r = await response(c);
      assert.equal(r.status, 200);
      assert.equal(r.body, "early");
      assert.equal(r.headers.connection, "close");
      await closedBy(c);
      assert.equal(stat("http.idle.downstream_rq_response_before_rq_complete"), before + 1);
    } finally {
      c.close();
    }
  });

  it("HTTP/1.1 fast path: a complete request's response (also a local one) keeps the connection alive", async () => {
    const c = await RawConn.open(PROXY_IP, IDLE);
    try {
      c.send("POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello");
      const a = await response(c);
      assert.equal(a.status, 200);
      assert.equal(a.headers.connection, undefined);
      assert.equal((JSON.parse(a.body) as { body: string }).body, "hello");
      let from = c.received.length;
      // A local reply (stream idle timeout, 504) to a complete request: still keep-alive.
      c.send("GET /hang/again HTTP/1.1\r\nhost: x\r\n\r\n");
      const b = await response(c, from);
      assert.equal(b.status, 504);
      from = c.received.length;
      c.send("GET /third HTTP/1.1\r\nhost: x\r\n\r\n");
      assert.equal((await response(c, from)).status, 200);
      assert.equal(c.closed, false);
    } finally {
      c.close();
    }
  });

  it("HTTP/1.1 node:http path (100-continue): a local reply mid-body gets connection: close and the connection closes", async () => {
    const c = await RawConn.open(PROXY_IP, IDLE);
    try {
      c.send("POST /hang/continue HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 100\r\n\r\n");
      await c.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
      const from = c.received.length;
      c.send("0123456789");
      const r = await response(c, from);
      assert.equal(r.status, 408);
      assert.equal(r.body, "stream timeout");
      assert.equal(r.headers.connection, "close");
      await closedBy(c);
    } finally {
      c.close();
    }
  });

  it("HTTP/1.1 node:http path (100-continue): a complete request's timeout reply keeps the connection alive", async () => {
    const c = await RawConn.open(PROXY_IP, IDLE);
    try {
      c.send("POST /hang/continue-complete HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 2\r\n\r\n");
      await c.until(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
      let from = c.received.length;
      c.send("hi");
      const r = await response(c, from);
      assert.equal(r.status, 504);
      assert.notEqual(r.headers.connection, "close");
      from = c.received.length;
      c.send("GET /after HTTP/1.1\r\nhost: x\r\n\r\n");
      assert.equal((await response(c, from)).status, 200);
    } finally {
      c.close();
    }
  });
});
