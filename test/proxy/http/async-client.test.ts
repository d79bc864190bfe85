// The proxy's own calls to its clusters (Envoy's AsyncClient), against real servers on loopback:
// an HTTP/1.1 GET collected whole, a body over the limit refused, a dead endpoint reported as the
// router's 503, cancellation releasing the upstream request; and unary gRPC over HTTP/2 with its
// strict response rules (one message, grpc-status from trailers or a trailers-only head).
import assert from "node:assert/strict";
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { AsyncCallError, asyncHttpCall } from "../../../src/proxy/http/async-client.js";
import { grpcUnaryCall } from "../../../src/proxy/http/async-grpc.js";
import { Router } from "../../../src/proxy/http/router.js";
import { StatsStore } from "../../../src/proxy/stats.js";
import { clusterSpec, UpstreamCluster } from "../../../src/proxy/upstream/cluster.js";
import { eventually } from "../../helpers/eventually.js";

function staticCluster(name: string, port: number, h2: boolean): UpstreamCluster {
  const spec = clusterSpec({
    name,
    type: "STATIC",
    connectTimeout: { seconds: 2 },
    loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: "127.0.0.1", portValue: port } } } }] }] },
    ...(h2 ? { http2ProtocolOptions: {} } : {}),
  });
  return new UpstreamCluster(spec, new StatsStore().tagged("cluster.", name));
}

function frame(msg: Buffer): Buffer {
  const f = Buffer.alloc(5 + msg.length);
  f.writeUInt32BE(msg.length, 1);
  msg.copy(f, 5);
  return f;
}

describe("asyncHttpCall", () => {
  let server: http.Server;
  let port = 0;
  const hanging: http.ServerResponse[] = [];
  let closedEarly = 0;
  const router = new Router();
  const clusters: UpstreamCluster[] = [];
  const cluster = (h2 = false, p = port) => {
    const c = staticCluster(`c${clusters.length}`, p, h2);
    clusters.push(c);
    return c;
  };

  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === "/hang") {
        hanging.push(res);
        res.on("close", () => {
          if (!res.writableEnded) closedEarly++;
        });
        return;
      }
      if (req.url === "/big") {
        res.end(Buffer.alloc(64 * 1024, 0x61));
        return;
      }
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        res.writeHead(201, { "x-seen-host": req.headers.host ?? "", "content-type": "text/plain" });
        res.end(`${req.method} ${req.url} ${body}`);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    for (const res of hanging) res.destroy();
    for (const c of clusters) c.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("collects a response whole, with the authority and body it was given", async () => {
    const r = await asyncHttpCall(router, cluster(), { method: "POST", path: "/check?x=1", authority: "ext-authz.foo:8000", headers: { "x-a": "b" }, body: Buffer.from("hi"), timeoutMs: 5000, maxResponseBytes: 1024 }).response;
    assert.equal(r.status, 201);
    assert.equal(r.headers["x-seen-host"], "ext-authz.foo:8000");
    assert.equal(r.body.toString(), "POST /check?x=1 hi");
    assert.equal(r.details, "via_upstream");
  });

  it("refuses a body over maxResponseBytes", async () => {
    await assert.rejects(asyncHttpCall(router, cluster(), { method: "GET", path: "/big", authority: "a", headers: {}, timeoutMs: 5000, maxResponseBytes: 1024 }).response, (e) => e instanceof AsyncCallError && /over 1024 bytes/.test(e.message));
  });

  it("reports a dead endpoint as the router's local reply", async () => {
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, "127.0.0.1", r));
    const deadPort = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const r = await asyncHttpCall(router, cluster(false, deadPort), { method: "GET", path: "/", authority: "a", headers: {}, timeoutMs: 5000, maxResponseBytes: 1024 }).response;
    assert.equal(r.status, 503);
    assert.match(r.details, /upstream_reset_before_response_started/);
  });

  it("times out as the router does (504), and cancel() releases the upstream request", async () => {
    const t = await asyncHttpCall(router, cluster(), { method: "GET", path: "/hang", authority: "a", headers: {}, timeoutMs: 200, maxResponseBytes: 1024 }).response;
    assert.equal(t.status, 504);
    const before = closedEarly;
    const call = asyncHttpCall(router, cluster(), { method: "GET", path: "/hang", authority: "a", headers: {}, timeoutMs: 60_000, maxResponseBytes: 1024 });
    await eventually("the upstream has the request", () => hanging.some((h) => !h.destroyed && !h.writableEnded));
    call.cancel();
    await assert.rejects(call.response, (e) => e instanceof AsyncCallError && e.message === "cancelled");
    await eventually("the upstream request is abandoned", () => closedEarly > before);
  });
});

describe("grpcUnaryCall", () => {
  let server: http2.Http2Server;
  let port = 0;
  const router = new Router();
  const clusters: UpstreamCluster[] = [];

  before(async () => {
    server = http2.createServer();
    server.on("stream", (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const body = Buffer.concat(chunks);
        const msg = body.subarray(5).toString();
        const path = headers[":path"];
        if (path === "/test.Echo/Deny") {
          stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "7", "grpc-message": "no%20way" }, { endStream: true });
          return;
        }
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        if (path === "/test.Echo/Two") stream.write(frame(Buffer.from("a")));
        if (path === "/test.Echo/Compressed") {
          const f = frame(Buffer.from("z"));
          f[0] = 1;
          stream.end(f);
          return;
        }
        stream.end(frame(Buffer.from(`echo:${msg}:${String(headers["x-md"] ?? "")}`)));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    for (const c of clusters) c.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const call = (path: string, maxResponseBytes = 1024) => {
    const c = staticCluster(`g${clusters.length}`, port, true);
    clusters.push(c);
    return grpcUnaryCall(router, c, { path, authority: "svc", message: Buffer.from("hello"), timeoutMs: 5000, maxResponseBytes, metadata: { "x-md": "m" } }).result;
  };

  it("answers OK with the one response message and the metadata sent", async () => {
    const r = await call("/test.Echo/Echo");
    assert.equal(r.status, 0);
    assert.equal(r.response?.toString(), "echo:hello:m");
  });

  it("reads a trailers-only error status and its percent-encoded message", async () => {
    assert.deepEqual(await call("/test.Echo/Deny"), { status: 7, message: "no way" });
  });

  it("refuses two messages, a compressed one, and one over the limit", async () => {
    assert.equal((await call("/test.Echo/Two")).status, 13);
    assert.equal((await call("/test.Echo/Compressed")).status, 13);
    const big = await call("/test.Echo/Echo", 4);
    assert.notEqual(big.status, 0);
  });
});
