// HTTP/2 floods against the downstream (h2c prior knowledge), frames written by hand: rapid reset
// (CVE-2023-44487), CONTINUATION flood (CVE-2024-27316 style), an HPACK bomb, too many headers,
// SETTINGS and PING floods from a client that never reads. Each asserts that the proxy ends the
// abusive connection (GOAWAY and/or close) within a bounded number of frames, that the backend saw
// no request the flood did not earn, that the proxy's memory stays bounded (RSS growth, generous
// bound: the proxy runs in this process), and that another client is served right after.
//
// What each follows: Envoy's defaults — premature resets (conn_manager_impl.cc
// maybeDrainDueToPrematureResets: once half of at least 500 streams were reset by the client within
// 1 s of opening, the connection is closed, downstream_rq_too_many_premature_resets), nghttp2's own
// limits that Envoy also relies on (stream reset rate, CONTINUATION count per header block, the
// outbound control-frame queue, SETTINGS_MAX_HEADER_LIST_SIZE = max_request_headers_kb), and
// max_headers_count (100) for the header count.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { FLAG, frame, FRAME, getBlock, hpack, ping, RawH2, rstStream, settings } from "../h2-frames.js";
import { Backend } from "../helpers.js";
import { h2request, httpListener, prefixRoute, staticCluster } from "../protocol-helpers.js";

const PROXY_IP = "127.0.143.1";
const BACKEND_IP = "127.0.143.2";
const PORT = 8001;
const MB = 1024 * 1024;

/** Writes `make(i)` for i = 0.. in batches until the connection is closed or `max` were written. */
async function flood(c: RawH2, max: number, batch: number, make: (i: number) => Buffer): Promise<number> {
  let i = 0;
  while (i < max && !c.closed) {
    const parts: Buffer[] = [];
    for (let j = 0; j < batch && i < max; j++, i++) parts.push(make(i));
    if (!(await c.write(Buffer.concat(parts)))) break;
    await new Promise((r) => setImmediate(r));
  }
  return i;
}

async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) assert.fail(`timeout: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("HTTP/2 floods on the downstream", () => {
  let proxy: ProxyServer;
  let backend: Backend;
  const origin = `http://${PROXY_IP}:${PORT}`;
  const stat = (n: string) => proxy.stats.counter(n).value;
  let rss0 = 0;

  before(async () => {
    backend = await Backend.start("b", BACKEND_IP, 8080);
    proxy = new ProxyServer({
      staticResources: { listeners: [httpListener("h2", PROXY_IP, PORT, [prefixRoute("/", "main")])], clusters: [staticCluster("main", BACKEND_IP, 8080)] },
      node: { id: "test" },
      ip: PROXY_IP,
      log: () => {},
    });
    await proxy.start();
    // Warm up (the first requests allocate pools and JIT): the baseline for the memory bound.
    for (let i = 0; i < 20; i++) await h2request(origin, "/warm");
    rss0 = process.memoryUsage().rss;
  });
  after(async () => {
    await proxy.close();
    await backend.close();
  });

  async function stillServes(): Promise<void> {
    const r = await h2request(origin, "/after");
    assert.equal(r.status, 200);
    assert.equal(r.body, "b");
  }

  function memoryBounded(): void {
    const grown = process.memoryUsage().rss - rss0;
    assert.ok(grown < 200 * MB, `RSS grew by ${(grown / MB).toFixed(0)} MB`);
  }

  it("rapid reset: HEADERS + RST_STREAM, thousands of times, ends the connection early", async () => {
    const before = backend.requests;
    const c = await RawH2.open(PROXY_IP, PORT);
    const sent = await flood(c, 5000, 50, (i) => {
      const id = 2 * i + 1;
      return Buffer.concat([frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, getBlock(`/rr/${i}`)), rstStream(id)]);
    });
    await until("connection closed", () => c.closed);
    assert.ok(sent < 5000, `the proxy closed the connection after ${sent} streams`);
    assert.ok(stat("http.h2.downstream_rq_too_many_premature_resets") >= 1);
    // Streams were started before their resets arrived; far fewer than were sent reached the backend.
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(backend.requests - before < 1000, `backend saw ${backend.requests - before} of ${sent}`);
    memoryBounded();
    await stillServes();
  });

  it("CONTINUATION flood: a header block that never ends is cut off", async () => {
    const before = backend.requests;
    const c = await RawH2.open(PROXY_IP, PORT);
    await c.write(frame(FRAME.HEADERS, 0, 1, getBlock("/cont")));
    const sent = await flood(c, 20_000, 100, (i) => frame(FRAME.CONTINUATION, 0, 1, hpack.literal(`x-c${i % 50}`, "v".repeat(1000))));
    await until("connection closed", () => c.closed);
    assert.ok(sent < 20_000, `closed after ${sent} CONTINUATION frames`);
    assert.equal(backend.requests - before, 0, "the request never reached the backend");
    memoryBounded();
    await stillServes();
  });

  it("HPACK bomb: a 4 KB entry referenced 12,000 times (48 MB decoded) is refused", async () => {
    const before = backend.requests;
    const c = await RawH2.open(PROXY_IP, PORT);
    const block = Buffer.concat([getBlock("/bomb"), hpack.literalIndexed("x-bomb", "a".repeat(4000)), Buffer.alloc(12_000, 0xbe) /* indexed 62 */]);
    await c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, block));
    await until("stream refused or connection ended", () => c.closed || c.frames.some((f) => (f.type === FRAME.RST_STREAM && f.stream === 1) || f.type === FRAME.GOAWAY));
    assert.ok(!c.frames.some((f) => f.type === FRAME.HEADERS && f.stream === 1), "no response headers for the bomb");
    c.close();
    assert.equal(backend.requests - before, 0);
    memoryBounded();
    await stillServes();
  });

  it("more than max_headers_count (100) headers: the stream is refused, nothing upstream", async () => {
    const before = backend.requests;
    const c = await RawH2.open(PROXY_IP, PORT);
    const many = Array.from({ length: 110 }, (_, i) => hpack.literal(`x-h${i}`, "v"));
    await c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, Buffer.concat([getBlock("/many"), ...many])));
    await until("stream refused", () => c.closed || c.frames.some((f) => (f.type === FRAME.RST_STREAM && f.stream === 1) || f.type === FRAME.GOAWAY || (f.type === FRAME.HEADERS && f.stream === 1)));
    const head = c.frames.find((f) => f.type === FRAME.HEADERS && f.stream === 1);
    // Refused either by a reset or by a 431 (HPACK-encoded :status 431 is literal, never 200's index 8).
    if (head !== undefined) assert.notEqual(head.payload[0], 0x88, "not a 200");
    c.close();
    assert.equal(backend.requests - before, 0);
    await stillServes();
  });

  for (const [name, make] of [
    ["SETTINGS", () => settings([[3, 100]])],
    ["PING", (i: number) => ping(i)],
  ] as const) {
    it(`${name} flood from a client that never reads: the connection is ended, memory stays bounded`, async () => {
      const c = await RawH2.open(PROXY_IP, PORT);
      c.socket.pause(); // never read the ACKs: they pile up in the proxy
      const sent = await flood(c, 200_000, 1000, make);
      c.socket.resume();
      await until("connection closed", () => c.closed, 15_000);
      assert.ok(sent <= 200_000);
      memoryBounded();
      await stillServes();
    });
  }
});
