// max_stream_duration as Envoy enforces it, end to end from a static bootstrap:
// - the route's max_stream_duration (else the HCM's common_http_protocol_options one; 0 disables)
//   bounds the whole stream from its start: 504 "downstream duration timeout" once the request is
//   in (408 while it is still arriving), gRPC DEADLINE_EXCEEDED, a reset once the response started,
//   http.PREFIX.downstream_rq_max_duration_reached; such a route has no route timeout any more;
//   with grpc_timeout_header_max the grpc-timeout header is the bound, and is sent upstream as it;
// - the cluster's common_http_protocol_options.max_stream_duration bounds each upstream stream:
//   UMSDR, "upstream max stream duration reached", cluster.NAME.upstream_rq_max_duration_reached,
//   retried as a reset when the retry policy says so, a reset once the response started.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { formatGrpcTimeout } from "../../../src/core/grpc.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { eventually } from "../../helpers/eventually.js";
import { h2request, httpListener, prefixRoute, ProtoBackend, RawConn, staticCluster } from "../protocol-helpers.js";

const PROXY_IP = "127.0.110.1";
const MAIN = 8001;
const HCM_WIDE = 8002;
const H1_IP = "127.0.110.2";
const H2_IP = "127.0.110.3";
const HPO = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

const ms = (n: number): ProtoObject => ({ nanos: n * 1_000_000 });

/** A cluster whose HttpProtocolOptions carry common_http_protocol_options.max_stream_duration. */
function boundedCluster(name: string, address: string, port: number, maxMs: number, protocol: "http1" | "http2" = "http1"): ProtoObject {
  const c = staticCluster(name, address, port, { protocol });
  const hpo = (c.typedExtensionProtocolOptions as Record<string, ProtoObject>)[HPO];
  hpo.commonHttpProtocolOptions = { maxStreamDuration: ms(maxMs) };
  return c;
}

interface Got {
  status: number;
  body: string;
  /** The response broke off (reset after it started). */
  aborted: boolean;
  elapsed: number;
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Got> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: PROXY_IP, port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let aborted = false;
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("aborted", () => (aborted = true));
      res.on("error", () => (aborted = true));
      res.on("close", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), aborted: aborted || !res.complete, elapsed: Date.now() - t0 }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("max_stream_duration", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-msd-"));
  const logFile = join(dir, "access.log");
  const h1b = new ProtoBackend("h1");
  const h2b = new ProtoBackend("h2");
  let proxy: ProxyServer;
  const stat = (name: string) => proxy.stats.counter(name).value;
  const logLine = (path: string) => eventually(`access log for ${path}`, () => readFileSync(logFile, "utf8").split("\n").find((l) => l.includes(` ${path} `)));

  before(async () => {
    await h1b.listen("h1", H1_IP, 8080);
    await h2b.listen("h2", H2_IP, 8080);
    h1b.behaviour = (path) => {
      if (path.startsWith("/hang") || path.endsWith("/hang")) return { hang: true };
      if (path.endsWith("/slow")) return { parts: ["a", "b", "c", "d", "e"], gapMs: 100 };
      if (path.endsWith("/late")) return { parts: ["", "late"], gapMs: 300 };
      return {};
    };
    h2b.behaviour = (path) => (path.includes("hang") ? { hang: true } : {});
    const clusters = [
      staticCluster("h1", H1_IP, 8080),
      staticCluster("h2", H2_IP, 8080, { protocol: "http2" }),
      boundedCluster("h1-bounded", H1_IP, 8080, 200),
    ];
    const main = httpListener(
      "msd",
      PROXY_IP,
      MAIN,
      [
        // The route timeout (100 ms) gives way to the stream duration (300 ms).
        prefixRoute("/route/", "h1", { timeout: ms(100), maxStreamDuration: { maxStreamDuration: ms(300) } }),
        prefixRoute("/ws/", "h1", { maxStreamDuration: { maxStreamDuration: ms(300) } }),
        prefixRoute("/grpc/", "h2", { maxStreamDuration: { grpcTimeoutHeaderMax: { seconds: 2 } } }),
        prefixRoute("/upstream/retry/", "h1-bounded", { retryPolicy: { retryOn: "reset", numRetries: { value: 1 } } }),
        prefixRoute("/upstream/", "h1-bounded"),
      ],
      { upgradeConfigs: [{ upgradeType: "websocket" }] },
    );
    const wide = httpListener(
      "msd_wide",
      PROXY_IP,
      HCM_WIDE,
      [prefixRoute("/off/", "h1", { maxStreamDuration: { maxStreamDuration: {} } }), prefixRoute("/", "h1", { timeout: {} })],
      { commonHttpProtocolOptions: { maxStreamDuration: ms(200) } },
    );
    proxy = new ProxyServer({ staticResources: { listeners: [main, wide], clusters }, node: { id: "msd" }, ip: PROXY_IP, accessLogPath: logFile, log: () => {} });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    await Promise.all([h1b.close(), h2b.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("the route's max_stream_duration bounds the stream (504 once the request is in) and replaces the route timeout", async () => {
    const r = await get(MAIN, "/route/hang");
    assert.equal(r.status, 504);
    assert.equal(r.body, "downstream duration timeout");
    assert.ok(r.elapsed >= 280, `the 100 ms route timeout no longer applies (${r.elapsed} ms)`);
    assert.equal(stat("http.msd.downstream_rq_max_duration_reached"), 1);
    assert.equal(stat("cluster.h1.upstream_rq_timeout"), 0);
    assert.match(await logLine("/route/hang"), /" 504 - /);
    // No x-envoy-expected-rq-timeout-ms: the route has no route timeout.
    assert.equal(h1b.seen.at(-1)!.headers["x-envoy-expected-rq-timeout-ms"], undefined);
  });

  it("408 while the request is still arriving", async () => {
    const c = await RawConn.open(PROXY_IP, MAIN);
    c.send(`POST /route/hang HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n`);
    const got = await c.until(/\r\n\r\n[\s\S]*downstream duration timeout/);
    assert.match(got, /^HTTP\/1\.1 408 /);
    c.close();
  });

  it("resets a response that already started", async () => {
    const r = await get(MAIN, "/route/slow");
    assert.equal(r.status, 200);
    assert.equal(r.aborted, true, "the response broke off");
    assert.ok(r.body.length < 5, `only part of the body arrived (${JSON.stringify(r.body)})`);
  });

  it("the HCM's max_stream_duration applies to every route; a route's 0 disables it", async () => {
    const before = stat("http.msd_wide.downstream_rq_max_duration_reached");
    const r = await get(HCM_WIDE, "/any/hang");
    assert.equal(r.status, 504);
    assert.equal(r.body, "downstream duration timeout");
    assert.equal(stat("http.msd_wide.downstream_rq_max_duration_reached"), before + 1);
    const late = await get(HCM_WIDE, "/off/late");
    assert.equal(late.status, 200);
    assert.equal(late.aborted, false);
    assert.equal(late.body, "late");
  });

  it("gRPC: grpc-timeout (capped by grpc_timeout_header_max) is the bound, sent upstream as such; DEADLINE_EXCEEDED", async () => {
    const origin = `http://${PROXY_IP}:${MAIN}`;
    const grpcHeaders = { "content-type": "application/grpc", te: "trailers" };
    const t0 = Date.now();
    const r = await h2request(origin, "/grpc/hang", { method: "POST", headers: { ...grpcHeaders, "grpc-timeout": "10S" }, body: "" });
    const elapsed = Date.now() - t0;
    assert.equal(r.status, 200);
    assert.equal(r.headers["grpc-status"], "4");
    assert.equal(r.headers["grpc-message"], "downstream duration timeout");
    // Bounds far apart (2 s cap, 10 s asked, 100 ms below) so a loaded machine cannot blur them.
    assert.ok(elapsed >= 1950 && elapsed < 9000, `capped at 2 s, not the 10 s asked (${elapsed} ms)`);
    assert.equal(h2b.seen.at(-1)!.headers["grpc-timeout"], "2000m", "the upstream sees the bound");
    // Below the cap the header's own timeout applies.
    const t1 = Date.now();
    const s = await h2request(origin, "/grpc/hang", { method: "POST", headers: { ...grpcHeaders, "grpc-timeout": "100m" }, body: "" });
    assert.equal(s.headers["grpc-status"], "4");
    assert.ok(Date.now() - t1 < 1500, `the header's 100 ms, not the 2 s cap (${Date.now() - t1} ms)`);
    assert.equal(h2b.seen.at(-1)!.headers["grpc-timeout"], "100m");
    // Without grpc-timeout the route's (absent) max_stream_duration applies: none. The call is answered.
    const ok = await h2request(origin, "/grpc/ok", { method: "POST", headers: grpcHeaders, body: "" });
    assert.equal(ok.status, 200);
  });

  it("the cluster's max_stream_duration: 504 UMSDR, upstream_rq_max_duration_reached", async () => {
    const r = await get(MAIN, "/upstream/hang");
    assert.equal(r.status, 504);
    assert.equal(r.body, "upstream max stream duration reached");
    assert.equal(stat("cluster.h1-bounded.upstream_rq_max_duration_reached"), 1);
    assert.match(await logLine("/upstream/hang"), /" 504 UMSDR /);
  });

  it("the cluster's max_stream_duration is a reset for the retry policy (retry_on reset), per try", async () => {
    const seen = h1b.seen.length;
    const r = await get(MAIN, "/upstream/retry/hang");
    assert.equal(r.status, 504);
    assert.equal(h1b.seen.length - seen, 2, "tried twice");
    assert.equal(stat("cluster.h1-bounded.upstream_rq_max_duration_reached"), 3);
    assert.equal(stat("cluster.h1-bounded.upstream_rq_retry"), 1);
    assert.match(await logLine("/upstream/retry/hang"), /" 504 UMSDR /);
  });

  it("the cluster's max_stream_duration resets a response that started (UMSDR in the access log)", async () => {
    const r = await get(MAIN, "/upstream/slow");
    assert.equal(r.status, 200);
    assert.equal(r.aborted, true);
    assert.match(await logLine("/upstream/slow"), /" 200 UMSDR /);
  });

  it("ends an upgraded stream (WebSocket) at the route's and at the cluster's max_stream_duration", async () => {
    for (const [path, flag] of [
      ["/ws/chat", "-"],
      ["/upstream/ws", "UMSDR"],
    ] as const) {
      const t0 = Date.now();
      const c = await RawConn.open(PROXY_IP, MAIN);
      c.send(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-key: abc\r\nsec-websocket-version: 13\r\n\r\n`);
      await c.until(/^HTTP\/1\.1 101 /);
      c.send("hello");
      await c.until(/HELLO/);
      await eventually("the tunnel closed", () => c.closed);
      assert.ok(Date.now() - t0 >= 180, `${path} lasted ${Date.now() - t0} ms`);
      assert.match(await logLine(path), new RegExp(`" 101 ${flag} `));
    }
  });

  it("formats grpc-timeout as Envoy does", () => {
    assert.equal(formatGrpcTimeout(250), "250m");
    assert.equal(formatGrpcTimeout(99_999_999), "99999999m");
    assert.equal(formatGrpcTimeout(100_000_000), "100000S");
  });
});
