// The response path through encoder filters, on a real proxy on loopback (127.0.224.x): a chain
// whose filters only edit response headers lets the body pass straight to the client once the
// headers are through; a header filter that stops the response holds what the router writes
// meanwhile and lets it go, in order, when it continues; a filter that reads the body still sees
// every chunk. Each with a body the backend writes in several chunks, 10 ms apart, so that chunks
// arrive while a filter holds the headers and after it continued.
import { httpListener, startStaticSidecar, staticCluster } from "../protocol-helpers.js";
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, it } from "node:test";
import type { ProxyServer } from "../../../src/proxy/proxy.js";
import { DataStatus, FilterStatus, registerHttpFilter } from "../../../src/proxy/http/filter.js";
import { request } from "../helpers.js";
import { eventually } from "../../helpers/eventually.js";

const PROXY = "127.0.224.1";
const APP = "127.0.224.2";
const PORTS = { headers: 15201, held: 15202, body: 15203, late: 15204, never: 15205 };

const HEADER_TYPE = "type.googleapis.com/tsmesh.test.ResponseHeaderStamp";
const BODY_TYPE = "type.googleapis.com/tsmesh.test.ResponseBodyCounter";

/** Adds x-stamp to the response headers; with holdMs, stops them and continues after that long. */
registerHttpFilter<{ stamp: string; holdMs?: number }>([HEADER_TYPE], {
  terminal: false,
  create: (config) => ({
    create: (cb) => ({
      encodeHeaders: (_status, headers) => {
        headers["x-stamp"] = [headers["x-stamp"], config.stamp].filter((v) => v !== undefined).join(",");
        if (config.holdMs === undefined) return FilterStatus.Continue;
        // (A negative hold never continues.)
        if (config.holdMs >= 0) setTimeout(() => cb.continueEncoding(), config.holdMs);
        return FilterStatus.StopIteration;
      },
    }),
  }),
});

/** Counts the response body bytes it sees and reports them in a trailer-free way: a header is too late, so it appends a line. */
const bodySeen: number[] = [];
registerHttpFilter<Record<string, never>>([BODY_TYPE], {
  terminal: false,
  create: () => ({
    create: () => {
      let n = 0;
      return {
        encodeData: (chunk: Buffer, end: boolean) => {
          n += chunk.length;
          if (end) bodySeen.push(n);
          return DataStatus.Continue;
        },
      };
    },
  }),
});

const ROUTER = { name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const stamp = (s: string, holdMs?: number) => ({ name: `stamp-${s}`, typedConfig: { "@type": HEADER_TYPE, stamp: s, ...(holdMs === undefined ? {} : { holdMs }) } });

function listener(name: string, port: number, filters: unknown[]) {
  return httpListener(name, PROXY, port, [{ match: { prefix: "/" }, route: { cluster: "app" } }], { httpFilters: [...filters, ROUTER] });
}

const get = (port: number) => request(`http://${PROXY}:${port}/`);

describe("the response through encoder filters", () => {
  // Ten chunks 10 ms apart (at least 90 ms after the headers): the held filter continues after 30 ms.
  const EXPECTED = Array.from({ length: 10 }, (_, i) => `chunk-${i};`).join("");
  /** Called when the backend has written a whole response. */
  let appEnded = () => {};
  const app = http.createServer((_req, res) => {
    res.on("finish", () => appEnded());
    res.writeHead(200, { "content-type": "text/plain" });
    let i = 0;
    const next = () => {
      if (i === 10) return void res.end();
      res.write(`chunk-${i++};`);
      setTimeout(next, 10);
    };
    next();
  });
  let proxy: ProxyServer;

  before(async () => {
    await new Promise<void>((r) => app.listen(0, APP, () => r()));
    const appPort = (app.address() as { port: number }).port;
    proxy = await startStaticSidecar(PROXY, { NAME: "encoder-chain", NAMESPACE: "test" }, {
      listeners: [
        listener("headers", PORTS.headers, [stamp("a"), stamp("b")]),
        listener("held", PORTS.held, [stamp("a"), stamp("held", 30), stamp("c")]),
        // Continues long after the backend's last chunk: the router is done while the headers are held.
        listener("late", PORTS.late, [stamp("a"), stamp("held", 250)]),
        listener("never", PORTS.never, [stamp("held", -1)]),
        listener("body", PORTS.body, [stamp("a"), { name: "body", typedConfig: { "@type": BODY_TYPE } }]),
      ],
      clusters: [staticCluster("app", APP, appPort)],
    });
  });

  after(async () => {
    await proxy?.close();
    app.closeAllConnections();
    await new Promise<void>((r) => app.close(() => r()));
  });

  it("header-only filters: every filter edits the headers (in reverse order) and the whole body follows", async () => {
    const r = await get(PORTS.headers);
    assert.equal(r.status, 200);
    assert.equal(r.headers["x-stamp"], "b,a");
    assert.equal(r.body, EXPECTED);
  });

  it("a header filter that stops the response: what the router writes meanwhile waits, then goes in order", async () => {
    const r = await get(PORTS.held);
    assert.equal(r.status, 200);
    // c runs first, then "held" stops; a runs only once it continues.
    assert.equal(r.headers["x-stamp"], "c,held,a");
    assert.equal(r.body, EXPECTED);
  });

  it("a header filter that continues after the upstream response ended: the stream ends once the client has it all", async () => {
    const active = () => Number(/http\.late\.downstream_rq_active: (\d+)/.exec(proxy.stats.text())?.[1] ?? "NaN");
    const completed = () => Number(/http\.late\.downstream_rq_2xx: (\d+)/.exec(proxy.stats.text())?.[1] ?? "0");
    const before = completed();
    const r = await get(PORTS.late);
    assert.equal(r.status, 200);
    assert.equal(r.headers["x-stamp"], "held,a");
    assert.equal(r.body, EXPECTED);
    // The stream was completed once, after its response: nothing active, one more 2xx.
    assert.equal(active(), 0);
    assert.equal(completed(), before + 1);
  });

  it("a response held for good: the stream ends when the client goes away", async () => {
    const active = () => Number(/http\.never\.downstream_rq_active: (\d+)/.exec(proxy.stats.text())?.[1] ?? "NaN");
    const ended = new Promise<void>((resolve) => (appEnded = resolve));
    const req = http.request({ host: PROXY, port: PORTS.never, path: "/", agent: false });
    req.on("error", () => {});
    req.end();
    await ended;
    // The router has the whole response (its upstream request is over) while the filter holds it.
    await eventually("the upstream request is over", async () => /cluster\.app\.upstream_rq_active: 0/.test(proxy.stats.text()), 5000, 10);
    assert.equal(active(), 1, "the response is held: the stream waits");
    req.destroy();
    await eventually("the stream ended", async () => active() === 0, 5000, 20);
  });

  it("a filter that reads the body sees every chunk, and the client gets them all", async () => {
    bodySeen.length = 0;
    const r = await get(PORTS.body);
    assert.equal(r.headers["x-stamp"], "a");
    assert.equal(r.body, EXPECTED);
    assert.deepEqual(bodySeen, [EXPECTED.length]);
  });
});
