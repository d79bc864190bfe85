// The admin's /tsmesh/tap over real sockets, against a real proxy and admin server: a tapper gets
// the finished streams the proxy's StreamSinks see (fed here as the HTTP/TCP paths feed them),
// filtered in the proxy; the sink exists only while a tapper is connected; a slow reader loses the
// oldest events and is told how many; the session ends at its limit; bad queries, other methods
// and one tapper too many are refused.
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, it } from "node:test";
import { AdminServer } from "../../../src/proxy/admin.js";
import type { TapEvent } from "../../../src/proxy/observability/tap.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { eventually } from "../../helpers/eventually.js";
import { request } from "../helpers.js";
import { inboundHttpInfo, inboundTcpInfo } from "./stream-info-fixtures.js";

const IP = "127.125.200.1";

type Line = { type: string; [k: string]: unknown };

/** A tapper: the lines it read, and its connection. */
class Tapper {
  readonly lines: Line[] = [];
  status = 0;
  closed = false;
  res: http.IncomingMessage | undefined;
  private readonly req: http.ClientRequest;
  private pending = "";

  constructor(url: string) {
    this.req = http.get(url, (res) => {
      this.res = res;
      this.status = res.statusCode ?? 0;
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        this.pending += c;
        let nl: number;
        while ((nl = this.pending.indexOf("\n")) >= 0) {
          const line = this.pending.slice(0, nl);
          this.pending = this.pending.slice(nl + 1);
          this.lines.push(this.status === 200 ? (JSON.parse(line) as Line) : { type: "text", text: line });
        }
      });
      res.on("close", () => (this.closed = true));
    });
    this.req.on("error", () => (this.closed = true));
  }

  events(): TapEvent[] {
    return this.lines.filter((l) => l.type === "http" || l.type === "tcp") as unknown as TapEvent[];
  }

  started(): Promise<unknown> {
    return eventually("the tap stream's start line", () => this.lines[0]?.type === "start");
  }

  close(): void {
    this.req.destroy();
  }
}

describe("admin /tsmesh/tap", () => {
  let proxy: ProxyServer;
  let admin: AdminServer;
  let base = "";

  before(async () => {
    proxy = new ProxyServer({ node: { id: "tap-test" }, staticResources: { listeners: [], clusters: [] }, drainMs: 100, log: () => {} });
    await proxy.start();
    admin = new AdminServer(proxy, { nodeId: "tap-test", onQuit: () => {}, tap: { maxTappers: 2, bufferEvents: 50 } });
    base = `http://${IP}:${await admin.listen(IP, 0)}`;
  });
  after(async () => {
    admin.close();
    await proxy.close();
  });

  it("is on the help page, apart from Envoy's /tap", async () => {
    const help = (await request(`${base}/help`)).body;
    assert.match(help, /^ {2}\/tsmesh\/tap: stream finished requests/m);
    assert.doesNotMatch(help, /^ {2}\/tap:/m);
  });

  it("streams the proxy's finished streams while connected; the sink goes with the tapper", async () => {
    assert.equal(proxy.streamSinks.active, false, "nobody taps: no sink");
    // A stream while nobody taps reaches no one, and nothing keeps it for a later tapper.
    proxy.streamSinks.http(inboundHttpInfo({ path: "/before" }));
    const t = new Tapper(`${base}/tsmesh/tap`);
    await t.started();
    assert.equal(t.status, 200);
    assert.equal(t.res?.headers["content-type"], "application/x-ndjson");
    assert.equal(t.res?.headers["transfer-encoding"], "chunked");
    assert.deepEqual(t.lines[0], { type: "start", filter: {}, bufferEvents: 50, maxSessionMs: 30 * 60_000 });
    assert.equal(proxy.streamSinks.active, true);
    proxy.streamSinks.http(inboundHttpInfo({ path: "/productpage", responseCode: 200 }));
    proxy.streamSinks.tcp(inboundTcpInfo());
    await eventually("two events", () => t.events().length === 2);
    const [h, c] = t.events();
    assert.deepEqual([h.type, h.path, h.status, h.dst.cluster, h.src.address], ["http", "/productpage", 200, "inbound|9080||", "127.125.200.9:40000"]);
    assert.equal(c.type, "tcp");
    assert.ok(!t.events().some((e) => e.path === "/before"));
    assert.match((await request(`${base}/stats?filter=^tap\\.`)).body, /^tap\.tappers: 1$/m);
    t.close();
    await eventually("the sink unregistered after the tapper left", () => !proxy.streamSinks.active);
    assert.equal(admin.tap.tapperCount, 0);
    assert.match((await request(`${base}/stats?filter=^tap\\.`)).body, /^tap\.tappers: 0$/m);
  });

  it("applies the tapper's filters in the proxy", async () => {
    const t = new Tapper(`${base}/tsmesh/tap?path=/reviews&method=GET&status=5xx`);
    await t.started();
    assert.deepEqual(t.lines[0].filter, { pathPrefix: "/reviews", method: "GET", statusClass: 5 });
    proxy.streamSinks.http(inboundHttpInfo({ path: "/reviews/1", responseCode: 200 }));
    proxy.streamSinks.http(inboundHttpInfo({ path: "/ratings/1", responseCode: 503 }));
    proxy.streamSinks.http(inboundHttpInfo({ path: "/reviews/2", method: "POST", responseCode: 503 }));
    proxy.streamSinks.tcp(inboundTcpInfo());
    proxy.streamSinks.http(inboundHttpInfo({ path: "/reviews/3", responseCode: 503 }));
    await eventually("the matching event", () => t.events().length >= 1);
    // A later marker that matches: everything before it has been through the filter.
    proxy.streamSinks.http(inboundHttpInfo({ path: "/reviews/marker", responseCode: 500 }));
    await eventually("the marker", () => t.events().length >= 2);
    assert.deepEqual(t.events().map((e) => e.path), ["/reviews/3", "/reviews/marker"]);
    t.close();
    await eventually("no sink", () => !proxy.streamSinks.active);
  });

  it("a reader that stops reading loses the oldest events, is told how many, and gets the rest in order", async () => {
    const t = new Tapper(`${base}/tsmesh/tap`);
    await t.started();
    t.res!.pause();
    // Far more than socket buffers hold: the proxy's writes block and its ring (50) overflows.
    const published = 20_000;
    const pad = "x".repeat(400);
    for (let i = 0; i < published; i += 500) {
      for (let j = i; j < i + 500; j++) proxy.streamSinks.http(inboundHttpInfo({ path: `/n/${j}/${pad}` }));
      await new Promise((r) => setImmediate(r));
    }
    t.res!.resume();
    const count = () => t.events().length + t.lines.filter((l) => l.type === "dropped").reduce((n, l) => n + (l.count as number), 0);
    await eventually("every event delivered or counted as dropped", () => count() === published, 30_000);
    const dropped = t.lines.filter((l) => l.type === "dropped");
    assert.ok(dropped.length > 0, "some were dropped");
    const seen = t.events().map((e) => Number(e.path.split("/")[2]));
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b), "in order");
    assert.equal(seen.at(-1), published - 1, "the newest arrive");
    // The proxy counts what its tappers lost.
    const lost = dropped.reduce((n, l) => n + (l.count as number), 0);
    assert.match((await request(`${base}/stats?filter=^tap\\.`)).body, new RegExp(`^tap\\.events_dropped: ${lost}$`, "m"));
    t.close();
    await eventually("no sink", () => !proxy.streamSinks.active);
  });

  it("refuses a bad filter (400), another method (405) and a tapper past the limit (503), registering nothing", async () => {
    const bad = await request(`${base}/tsmesh/tap?status=6xx`);
    assert.equal(bad.status, 400);
    assert.match(bad.body, /status "6xx"/);
    const unknown = await request(`${base}/tsmesh/tap?verb=GET`);
    assert.equal(unknown.status, 400);
    const post = await request(`${base}/tsmesh/tap`, { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(proxy.streamSinks.active, false);
    const a = new Tapper(`${base}/tsmesh/tap`);
    const b = new Tapper(`${base}/tsmesh/tap`);
    await a.started();
    await b.started();
    const third = await request(`${base}/tsmesh/tap`);
    assert.equal(third.status, 503);
    assert.match(third.body, /2 tappers are connected already/);
    a.close();
    await eventually("a's place freed", () => admin.tap.tapperCount === 1);
    const c = new Tapper(`${base}/tsmesh/tap`);
    await c.started();
    b.close();
    c.close();
    await eventually("no sink", () => !proxy.streamSinks.active);
  });
});

describe("admin /tsmesh/tap: the session limit", () => {
  it("ends the stream with an end line after maxSessionMs, and unregisters", async () => {
    const proxy = new ProxyServer({ node: { id: "tap-limit" }, staticResources: { listeners: [], clusters: [] }, log: () => {} });
    await proxy.start();
    const admin = new AdminServer(proxy, { nodeId: "tap-limit", onQuit: () => {}, tap: { maxSessionMs: 2000 } });
    try {
      const base = `http://${IP}:${await admin.listen(IP, 0)}`;
      const t = new Tapper(`${base}/tsmesh/tap`);
      await t.started();
      proxy.streamSinks.http(inboundHttpInfo());
      await eventually("the session's end", () => t.closed, 20_000);
      assert.deepEqual(t.lines.map((l) => l.type), ["start", "http", "end"]);
      assert.match(t.lines[2].reason as string, /maximum duration/);
      assert.equal(proxy.streamSinks.active, false);
    } finally {
      admin.close();
      await proxy.close();
    }
  });
});
