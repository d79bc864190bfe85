// The request body buffer for retries and shadows, as Envoy bounds it: a body is kept for a replay
// only when the route retries or mirrors, up to per_request_buffer_limit_bytes (route, else virtual
// host) capped by the listener's per_connection_buffer_limit_bytes (1 MiB by default); a larger
// body is abandoned (cluster.NAME.retry_or_shadow_abandoned): it is not retried and not mirrored,
// and a retry waiting in its backoff gets 507. Unit checks of RequestBody's memory bounds too.
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, it } from "node:test";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { type BodySource, type BodyWriter, DEFAULT_BUFFER_LIMIT, RequestBody } from "../../../src/proxy/http/downstream.js";
import { eventually } from "../../helpers/eventually.js";
import { httpListener, prefixRoute, ProtoBackend, RawConn, staticCluster } from "../protocol-helpers.js";

const PROXY_IP = "127.0.111.1";
const MAIN = 8001;
const SMALL_LISTENER = 8002;
const APP_IP = "127.0.111.2";
const MIRROR_IP = "127.0.111.3";
const DEAD_IP = "127.0.111.9";

const retry5xx = { retryPolicy: { retryOn: "5xx", numRetries: { value: 1 } } };

function post(port: number, path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: PROXY_IP, port, path, method: "POST", agent: false, headers: { "content-type": "text/plain" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("retry and shadow buffer limits", () => {
  const app = new ProtoBackend("app");
  const mirror = new ProtoBackend("mirror");
  let proxy: ProxyServer;
  const stat = (name: string) => proxy.stats.counter(name).value;
  /** Paths whose first try answers 503 (then 200). */
  const failOnce = new Set<string>();

  before(async () => {
    await app.listen("h1", APP_IP, 8080);
    await mirror.listen("h1", MIRROR_IP, 8080);
    app.behaviour = (path) => {
      if (failOnce.delete(path)) return { status: 503 };
      return {};
    };
    const clusters = [staticCluster("app", APP_IP, 8080), staticCluster("mirror", MIRROR_IP, 8080), staticCluster("dead", DEAD_IP, 8080)];
    const vhostLimited: ProtoObject = {
      name: "limited",
      domains: ["limited"],
      perRequestBufferLimitBytes: { value: 2048 },
      routes: [
        prefixRoute("/route-limit/", "app", retry5xx),
        // The route's limit overrides the virtual host's.
        { ...prefixRoute("/bigger/", "app", retry5xx), perRequestBufferLimitBytes: { value: 8192 } },
      ],
    };
    const main = httpListener("buf", PROXY_IP, MAIN, []);
    const hcm = ((main.filterChains as ProtoObject[])[0].filters as ProtoObject[])[0].typedConfig as ProtoObject;
    hcm.routeConfig = {
      name: "buf",
      virtualHosts: [
        vhostLimited,
        {
          name: "all",
          domains: ["*"],
          routes: [
            { ...prefixRoute("/small/", "app", retry5xx), perRequestBufferLimitBytes: { value: 1024 } },
            { ...prefixRoute("/mirror-small/", "app", { requestMirrorPolicies: [{ cluster: "mirror" }] }), perRequestBufferLimitBytes: { value: 1024 } },
            prefixRoute("/mirror/", "app", { requestMirrorPolicies: [{ cluster: "mirror" }] }),
            {
              ...prefixRoute("/dead/", "dead", { retryPolicy: { retryOn: "connect-failure", numRetries: { value: 1 }, retryBackOff: { baseInterval: { seconds: 10 } } } }),
              perRequestBufferLimitBytes: { value: 1024 },
            },
            prefixRoute("/", "app", retry5xx),
          ],
        },
      ],
    };
    const small = httpListener("buf_small", PROXY_IP, SMALL_LISTENER, [{ ...prefixRoute("/", "app", retry5xx), perRequestBufferLimitBytes: { value: 1 << 20 } }]);
    small.perConnectionBufferLimitBytes = { value: 2048 };
    proxy = new ProxyServer({ staticResources: { listeners: [main, small], clusters }, node: { id: "buf" }, ip: PROXY_IP, log: () => {} });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    await Promise.all([app.close(), mirror.close()]);
  });

  it("shows the counter from the start, as Envoy does", () => {
    assert.match(proxy.stats.text(), /^cluster\.app\.retry_or_shadow_abandoned: 0$/m);
    assert.match(proxy.stats.text(), /^cluster\.app\.upstream_rq_max_duration_reached: 0$/m);
  });

  it("replays a body under the limit: 200 KB (above the old 64 KB buffer) is retried whole", async () => {
    const body = "x".repeat(200 * 1024);
    failOnce.add("/big");
    const seen = app.seen.length;
    const r = await post(MAIN, "/big", body);
    assert.equal(r.status, 200);
    assert.equal(app.seen.length - seen, 2);
    assert.equal(app.seen.at(-1)!.body.length, body.length);
    assert.equal(app.seen.at(-1)!.body, body);
    assert.equal(stat("cluster.app.retry_or_shadow_abandoned"), 0);
  });

  it("a body over the route's per_request_buffer_limit_bytes is not retried (retry_or_shadow_abandoned)", async () => {
    failOnce.add("/small/x");
    const seen = app.seen.length;
    const retries = stat("cluster.app.upstream_rq_retry");
    const r = await post(MAIN, "/small/x", "y".repeat(4096));
    assert.equal(r.status, 503, "the first try's answer: no retry");
    assert.equal(app.seen.length - seen, 1);
    assert.equal(app.seen.at(-1)!.body.length, 4096, "the one try got the whole body");
    assert.equal(stat("cluster.app.retry_or_shadow_abandoned"), 1);
    assert.equal(stat("cluster.app.upstream_rq_retry"), retries);
    // Under the limit the same route retries.
    failOnce.add("/small/y");
    assert.equal((await post(MAIN, "/small/y", "z".repeat(1000))).status, 200);
    assert.equal(stat("cluster.app.retry_or_shadow_abandoned"), 1);
  });

  it("the virtual host's limit applies unless the route has its own", async () => {
    const req = (path: string, size: number) =>
      new Promise<number>((resolve, reject) => {
        const r = http.request({ host: PROXY_IP, port: MAIN, path, method: "POST", agent: false, headers: { host: "limited" } }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        });
        r.on("error", reject);
        r.end("v".repeat(size));
      });
    const before = stat("cluster.app.retry_or_shadow_abandoned");
    failOnce.add("/route-limit/a");
    assert.equal(await req("/route-limit/a", 4096), 503, "4 KB > the virtual host's 2 KB");
    failOnce.add("/bigger/a");
    assert.equal(await req("/bigger/a", 4096), 200, "4 KB < the route's 8 KB");
    assert.equal(stat("cluster.app.retry_or_shadow_abandoned"), before + 1);
  });

  it("the listener's per_connection_buffer_limit_bytes caps a larger route limit", async () => {
    const before = stat("cluster.app.retry_or_shadow_abandoned");
    failOnce.add("/capped");
    assert.equal((await post(SMALL_LISTENER, "/capped", "w".repeat(4096))).status, 503);
    assert.equal(stat("cluster.app.retry_or_shadow_abandoned"), before + 1);
    failOnce.add("/fits");
    assert.equal((await post(SMALL_LISTENER, "/fits", "w".repeat(1024))).status, 200);
  });

  it("shadows: a body under the limit is mirrored, one over it is not (the request itself goes through)", async () => {
    const seen = mirror.seen.length;
    assert.equal((await post(MAIN, "/mirror/a", "m".repeat(1000))).status, 200);
    await eventually("the shadow", () => mirror.seen.length > seen);
    assert.equal(mirror.seen.at(-1)!.body.length, 1000);
    assert.match(String(mirror.seen.at(-1)!.authority), /-shadow/);

    const before = stat("cluster.app.retry_or_shadow_abandoned");
    const mseen = mirror.seen.length;
    const r = await post(MAIN, "/mirror-small/b", "m".repeat(4096));
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body) as { body: string }).body.length, 4096);
    assert.equal(stat("cluster.app.retry_or_shadow_abandoned"), before + 1);
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(mirror.seen.length, mseen, "no shadow of the abandoned body");
  });

  it("507 when the body outgrows the buffer while a retry waits in its backoff", async () => {
    const random = Math.random;
    Math.random = () => 0.99; // the backoff: ~9.9 s of the 10 s base interval
    try {
      const c = await RawConn.open(PROXY_IP, MAIN);
      c.send("POST /dead/x HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n200\r\n" + "a".repeat(512) + "\r\n");
      // The first try's connection is refused at once; the retry waits.
      await eventually("the first try", () => stat("cluster.dead.upstream_rq_retry") === 1);
      c.send("800\r\n" + "b".repeat(2048) + "\r\n");
      const got = await c.until(/exceeded request buffer limit while retrying upstream/);
      assert.match(got, /^HTTP\/1\.1 507 /);
      assert.equal(stat("cluster.dead.retry_or_shadow_abandoned"), 1);
      c.close();
    } finally {
      Math.random = random;
    }
  });
});

/** A BodySource driven by hand. */
class FakeSource implements BodySource {
  paused = false;
  private onData: ((c: Buffer) => void) | undefined;
  private onEnd: (() => void) | undefined;
  start(onData: (c: Buffer) => void, onEnd: () => void): void {
    this.onData = onData;
    this.onEnd = onEnd;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  push(n: number): void {
    this.onData!(Buffer.alloc(n, 1));
  }
  end(): void {
    this.onEnd!();
  }
}

/** A BodyWriter that collects, and says "full" when told. */
class FakeSink implements BodyWriter {
  bytes = 0;
  ended = false;
  full = false;
  private drained: (() => void) | undefined;
  write(c: Buffer): boolean {
    this.bytes += c.length;
    return !this.full;
  }
  end(): void {
    this.ended = true;
  }
  whenDrained(cb: () => void): void {
    this.drained = cb;
  }
  drain(): void {
    this.full = false;
    const d = this.drained;
    this.drained = undefined;
    d?.();
  }
}

describe("RequestBody memory bounds", () => {
  it("holds at most the listener's limit while nobody takes the body, then pauses the source", () => {
    const src = new FakeSource();
    const body = new RequestBody(src, 4096);
    body.configure(false, DEFAULT_BUFFER_LIMIT);
    src.push(3000);
    assert.equal(src.paused, false);
    src.push(3000);
    assert.equal(src.paused, true, "6000 > 4096: flow control");
    const sink = new FakeSink();
    body.attach(sink);
    assert.equal(sink.bytes, 6000);
    assert.equal(src.paused, false);
    assert.equal(body.canSend, false, "not kept: no replay");
    assert.equal(body.buffered(), undefined);
  });

  it("keeps nothing once sent when the route neither retries nor mirrors", () => {
    const src = new FakeSource();
    const body = new RequestBody(src, DEFAULT_BUFFER_LIMIT);
    body.configure(false, DEFAULT_BUFFER_LIMIT);
    const sink = new FakeSink();
    body.attach(sink);
    for (let i = 0; i < 100; i++) src.push(64 * 1024); // 6.4 MB streamed
    src.end();
    assert.equal(sink.bytes, 100 * 64 * 1024);
    assert.equal(sink.ended, true);
    assert.equal(body.buffered(), undefined);
    assert.equal(body.abandoned, false, "nothing to abandon: nothing was kept");
  });

  it("keeps a replayable body up to the limit, then abandons it (once) and tells its owner", () => {
    const src = new FakeSource();
    const body = new RequestBody(src, DEFAULT_BUFFER_LIMIT);
    body.configure(true, 10_000);
    let told = 0;
    body.owner = { bodyAbandoned: () => told++ };
    const sink = new FakeSink();
    body.attach(sink);
    src.push(6000);
    assert.equal(body.canSend, true);
    src.push(6000);
    assert.equal(body.abandoned, true);
    assert.equal(body.canSend, false);
    assert.equal(told, 1);
    src.push(6000);
    assert.equal(told, 1);
    assert.equal(sink.bytes, 18_000, "the try in flight still gets everything");
    src.end();
    assert.equal(body.buffered(), undefined, "no shadow of it");
  });

  it("a body already over the limit when the route is known is abandoned at once", () => {
    const src = new FakeSource();
    const body = new RequestBody(src, DEFAULT_BUFFER_LIMIT);
    src.push(5000);
    body.configure(true, 1000);
    assert.equal(body.abandoned, true);
    const sink = new FakeSink();
    body.attach(sink);
    assert.equal(sink.bytes, 5000, "the held bytes still go to the one try");
  });

  it("replays the kept body to the next try, and honours the sink's backpressure", () => {
    const src = new FakeSource();
    const body = new RequestBody(src, DEFAULT_BUFFER_LIMIT);
    body.configure(true, DEFAULT_BUFFER_LIMIT);
    const first = new FakeSink();
    body.attach(first);
    src.push(1000);
    first.full = true;
    src.push(1000);
    assert.equal(src.paused, true, "the sink is full");
    first.drain();
    assert.equal(src.paused, false);
    body.detach(first);
    src.push(500); // arrives between tries: held
    const second = new FakeSink();
    body.attach(second);
    assert.equal(second.bytes, 2500);
    src.end();
    assert.equal(second.ended, true);
    assert.equal(body.buffered()!.length, 2500);
  });

  it("a bodiless request shares one empty body (no allocation)", () => {
    const a = RequestBody.empty();
    assert.equal(a, RequestBody.empty());
    assert.equal(a.ended, true);
    assert.equal(a.buffered()!.length, 0);
    const sink = new FakeSink();
    a.attach(sink);
    assert.equal(sink.ended, true);
    a.configure(true, 1);
    assert.equal(a.abandoned, false);
  });
});
