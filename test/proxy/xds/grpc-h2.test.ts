// The proxy's minimal gRPC bidi stream over node:http2 against scripted HTTP/2 servers: message
// framing both ways (several messages per DATA frame, one message over several), the status from
// trailers, Trailers-Only and non-gRPC responses, cancel, a server going away (and the next call
// reconnecting), connection refused, compressed messages, and close() leaving no handles.
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { type BidiCall, type GrpcStatus, H2Channel } from "../../../src/proxy/xds/grpc-h2.js";
import { eventually } from "../../helpers/eventually.js";

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

async function server(handler: Handler): Promise<{ target: string; server: http2.Http2Server; sessions: Set<http2.ServerHttp2Session>; close: () => Promise<void> }> {
  const s = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  s.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  s.on("stream", handler);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const target = `127.0.0.1:${(s.address() as AddressInfo).port}`;
  return {
    target,
    server: s,
    sessions,
    close: () =>
      new Promise<void>((r) => {
        for (const x of sessions) x.destroy();
        s.close(() => r());
      }),
  };
}

function frame(msg: Buffer, compressed = 0): Buffer {
  const h = Buffer.alloc(5);
  h[0] = compressed;
  h.writeUInt32BE(msg.length, 1);
  return Buffer.concat([h, msg]);
}

/** Reads gRPC messages off a server stream. */
function messages(stream: http2.ServerHttp2Stream, onMessage: (m: Buffer) => void): void {
  let buf = Buffer.alloc(0);
  stream.on("data", (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
      const len = buf.readUInt32BE(1);
      onMessage(buf.subarray(5, 5 + len));
      buf = buf.subarray(5 + len);
    }
  });
}

function record(call: BidiCall): { events: string[]; data: string[]; status: Promise<GrpcStatus> } {
  const events: string[] = [];
  const data: string[] = [];
  call.on("metadata", () => events.push("metadata"));
  call.on("data", (b) => data.push(b.toString()));
  const status = new Promise<GrpcStatus>((resolve) =>
    call.on("status", (s) => {
      events.push(`status ${s.code}`);
      resolve(s);
    }),
  );
  return { events, data, status };
}

const GRPC_HEADERS = { ":status": 200, "content-type": "application/grpc" };

test("bidi: messages framed both ways, split and coalesced; status from the trailers", async () => {
  let seenHeaders: http2.IncomingHttpHeaders | undefined;
  const srv = await server((stream, headers) => {
    seenHeaders = headers;
    stream.respond(GRPC_HEADERS, { waitForTrailers: true });
    const got: string[] = [];
    messages(stream, (m) => {
      got.push(m.toString());
      if (got.length === 2) {
        // Two messages in one write, then one message in three pieces.
        stream.write(Buffer.concat([frame(Buffer.from(`echo ${got[0]}`)), frame(Buffer.from(`echo ${got[1]}`))]));
        const big = frame(Buffer.from("x".repeat(100_000)));
        stream.write(big.subarray(0, 3));
        stream.write(big.subarray(3, 50_000));
        stream.end(big.subarray(50_000));
      }
    });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", "grpc-message": "all%20good" }));
  });
  const ch = new H2Channel(srv.target, { windowSize: 1 << 20, userAgent: "tsmesh-test" });
  const call = ch.bidi("/test.Echo/Chat");
  const r = record(call);
  call.write(new TextEncoder().encode("one"));
  call.write(Buffer.from("two"));
  const st = await r.status;
  assert.deepEqual(st, { code: 0, details: "all good" });
  assert.deepEqual(r.data.slice(0, 2), ["echo one", "echo two"]);
  assert.equal(r.data[2].length, 100_000);
  assert.deepEqual(r.events, ["metadata", "status 0"]);
  assert.equal(seenHeaders?.[":path"], "/test.Echo/Chat");
  assert.equal(seenHeaders?.[":method"], "POST");
  assert.equal(seenHeaders?.["content-type"], "application/grpc");
  assert.equal(seenHeaders?.te, "trailers");
  assert.equal(seenHeaders?.["user-agent"], "tsmesh-test");
  ch.close();
  await srv.close();
});

test("bidi: Trailers-Only and non-gRPC responses end with the right status and no metadata", async () => {
  const srv = await server((stream, headers) => {
    if (headers[":path"] === "/only") stream.respond({ ...GRPC_HEADERS, "grpc-status": "12", "grpc-message": "unknown%20method" }, { endStream: true });
    else if (headers[":path"] === "/html") {
      stream.respond({ ":status": 404, "content-type": "text/html" });
      stream.end("<h1>nope</h1>");
    } else stream.respond({ ":status": 200, "content-type": "text/plain" }, { endStream: true });
  });
  const ch = new H2Channel(srv.target);
  const only = record(ch.bidi("/only"));
  assert.deepEqual(await only.status, { code: 12, details: "unknown method" });
  assert.deepEqual(only.events, ["status 12"]);
  const html = record(ch.bidi("/html"));
  assert.equal((await html.status).code, 12); // HTTP 404 → UNIMPLEMENTED
  assert.deepEqual(html.events, ["status 12"]);
  const plain = record(ch.bidi("/plain"));
  assert.equal((await plain.status).code, 2); // 200 without application/grpc → UNKNOWN
  ch.close();
  await srv.close();
});

test("bidi: cancel() ends with CANCELLED and resets the stream at the server", async () => {
  let serverClosed: Promise<number> | undefined;
  const srv = await server((stream) => {
    serverClosed = new Promise((r) => stream.on("close", () => r(stream.rstCode)));
    stream.respond(GRPC_HEADERS);
    stream.write(frame(Buffer.from("hello")));
  });
  const ch = new H2Channel(srv.target);
  const call = ch.bidi("/s");
  const r = record(call);
  await new Promise<void>((resolve) => call.once("data", () => resolve()));
  call.cancel();
  call.cancel(); // idempotent
  assert.deepEqual(await r.status, { code: 1, details: "Cancelled on client" });
  assert.equal(await serverClosed, http2.constants.NGHTTP2_CANCEL);
  assert.deepEqual(r.events, ["metadata", "status 1"]);
  call.write(Buffer.from("late")); // ignored after the end
  ch.close();
  await srv.close();
});

test("bidi: the server going away ends the call UNAVAILABLE; the next call reconnects", async () => {
  const srv = await server((stream) => {
    stream.respond(GRPC_HEADERS);
    stream.write(frame(Buffer.from("hi")));
  });
  const ch = new H2Channel(srv.target);
  const first = record(ch.bidi("/s"));
  await eventually("the call is up", () => first.data.length > 0);
  for (const s of srv.sessions) s.destroy();
  const st = await first.status;
  assert.ok(st.code === 14 || st.code === 13, `status ${st.code} ${st.details}`);
  const second = ch.bidi("/s");
  const got = await new Promise<string>((resolve) => second.once("data", (b) => resolve(b.toString())));
  assert.equal(got, "hi");
  second.cancel();
  ch.close();
  await srv.close();
});

test("bidi: connection refused is UNAVAILABLE; a compressed message is INTERNAL", async () => {
  const srv = await server((stream) => {
    stream.respond(GRPC_HEADERS);
    stream.write(frame(Buffer.from("zz"), 1));
  });
  const port = Number(srv.target.split(":")[1]);
  const ch = new H2Channel(srv.target);
  const compressed = record(ch.bidi("/s"));
  const st = await compressed.status;
  assert.equal(st.code, 13);
  assert.match(st.details, /compressed/);
  ch.close();
  await srv.close();

  const refused = new H2Channel(`127.0.0.1:${port}`);
  const r = record(refused.bidi("/s"));
  const rs = await r.status;
  assert.equal(rs.code, 14);
  assert.match(rs.details, /ECONNREFUSED/);
  refused.close();
  assert.throws(() => refused.bidi("/s"), /closed/);
});

test("close() leaves no handles", async () => {
  const before = new Set(process.getActiveResourcesInfo());
  const srv = await server((stream) => stream.respond(GRPC_HEADERS));
  const ch = new H2Channel(srv.target);
  const call = ch.bidi("/s");
  const r = record(call);
  await new Promise<void>((resolve) => call.once("metadata", () => resolve()));
  call.cancel();
  await r.status;
  ch.close();
  await srv.close();
  await new Promise((res) => setTimeout(res, 30));
  const after = process.getActiveResourcesInfo().filter((x) => !before.has(x) && x !== "Timeout" && x !== "TTYWrap");
  assert.deepEqual(after, []);
});
