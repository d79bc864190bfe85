// tap's in-proxy parts without sockets: the event a finished stream becomes (identities, bounded
// strings), the filters a tapper's query gives (adversarial table), the ring that drops its oldest
// and counts, the hub that registers its sink only while someone taps, and a worker's forwarder.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseTapFilter, TAP_MAX_STRING, TapForwarder, TapHub, tapMatches, tapRecord, TapRing, type TapEvent, type TapFilter, type TapRecord } from "../../../src/proxy/observability/tap.js";
import { StreamSinks } from "../../../src/proxy/stream-sinks.js";
import { FLAG_BIT, inboundHttpInfo, peer, START, inboundTcpInfo } from "./stream-info-fixtures.js";

const tls = (peerPrincipal: string, sni = "") => ({ peerPrincipal, localPrincipal: "spiffe://cluster.local/ns/default/sa/me", peerCertificatePresented: peerPrincipal !== "", sni, version: "TLSv1.3", alpn: "istio" });

describe("tap: a finished stream's event", () => {
  it("HTTP: source and destination with their identities, request, response, latency, bytes, flags, route", () => {
    const info = inboundHttpInfo({
      downstreamTls: tls("spiffe://cluster.local/ns/default/sa/bookinfo-productpage"),
      upstreamTls: tls("spiffe://cluster.local/ns/default/sa/bookinfo-reviews"),
      filterState: new Map([
        ["downstream_peer", peer("productpage-v1", "default")],
        ["upstream_peer", peer("reviews-v2", "default", "spiffe://x")],
      ]),
      flags: FLAG_BIT.UT | FLAG_BIT.URX,
      responseCode: 504,
      responseCodeDetails: "upstream_response_timeout",
      grpcStatus: 4,
      bytesReceived: 7,
      bytesSent: 24,
      durationMs: 3001,
    });
    const r = tapRecord(info);
    assert.deepEqual(r, {
      type: "http",
      time: new Date(START).toISOString(),
      direction: "inbound",
      listener: "virtualInbound",
      src: { address: "127.125.200.9:40000", principal: "spiffe://cluster.local/ns/default/sa/bookinfo-productpage", workload: "productpage-v1", namespace: "default" },
      dst: { authority: "reviews:9080", cluster: "inbound|9080||", address: "127.0.0.1:9080", principal: "spiffe://cluster.local/ns/default/sa/bookinfo-reviews", workload: "reviews-v2", namespace: "default" },
      tls: true,
      protocol: "HTTP/1.1",
      method: "GET",
      path: "/reviews/0",
      status: 504,
      grpcStatus: 4,
      latencyMs: 3001,
      bytesReceived: 7,
      bytesSent: 24,
      flags: "UT,URX",
      route: "default",
      details: "upstream_response_timeout",
    });
  });

  it("HTTP: identities from peer metadata when there was no TLS; the path before a rewrite; '-' without flags", () => {
    const r = tapRecord(inboundHttpInfo({ filterState: new Map([["downstream_peer", peer("ratings", "prod", "spiffe://cluster.local/ns/prod/sa/ratings")]]), requestHeaders: { "x-envoy-original-path": "/api/v1/x" }, path: "/x" }));
    assert.equal(r.src.principal, "spiffe://cluster.local/ns/prod/sa/ratings");
    assert.equal(r.tls, false);
    assert.equal(r.path, "/api/v1/x");
    assert.equal(r.flags, "-");
    assert.equal(r.grpcStatus, null);
    assert.equal(r.dst.principal, "");
  });

  it("TCP: the SNI as authority, no method/path/status, termination details", () => {
    const r = tapRecord(inboundTcpInfo({ downstreamTls: tls("", "tcp-echo.default.svc.cluster.local"), connectionTerminationDetails: "idle timeout", flags: FLAG_BIT.UF }));
    assert.equal(r.type, "tcp");
    assert.equal(r.dst.authority, "tcp-echo.default.svc.cluster.local");
    assert.deepEqual([r.method, r.path, r.status, r.protocol, r.flags, r.details], ["", "", 0, "tcp", "UF", "idle timeout"]);
  });

  it("a hostile client's long strings are cut to a bounded length", () => {
    const long = "/" + "a".repeat(60_000);
    const r = tapRecord(inboundHttpInfo({ path: long, authority: "h".repeat(10_000), method: "M".repeat(5000) }));
    for (const s of [r.path, r.dst.authority, r.method]) {
      assert.equal(s.length, TAP_MAX_STRING);
      assert.ok(s.endsWith("…"));
    }
    assert.ok(r.path.startsWith("/aaa"));
  });
});

describe("tap: filters from the query string", () => {
  const q = (s: string) => parseTapFilter(new URLSearchParams(s));
  it("accepts the four filters", () => {
    const table: Array<[string, TapFilter]> = [
      ["", {}],
      ["path=/reviews", { pathPrefix: "/reviews" }],
      ["method=get", { method: "GET" }],
      ["authority=Reviews:9080", { authority: "reviews:9080" }],
      ["status=5xx", { statusClass: 5 }],
      ["status=2XX", { statusClass: 2 }],
      ["status=404", { status: 404 }],
      ["path=/a&method=POST&authority=x&status=503", { pathPrefix: "/a", method: "POST", authority: "x", status: 503 }],
    ];
    for (const [query, want] of table) assert.deepEqual(q(query), want, query);
  });
  it("refuses what it cannot apply, saying why", () => {
    const table: Array<[string, RegExp]> = [
      ["paht=/x", /unknown parameter "paht"/],
      ["path=/a&path=/b", /more than once/],
      ["path=reviews", /starting with "\/"/],
      [`path=/${"a".repeat(TAP_MAX_STRING)}`, /at most 512/],
      ["method=GE T", /not an HTTP method/],
      ["method=", /not an HTTP method/],
      [`method=${"A".repeat(33)}`, /not an HTTP method/],
      ["method=%0AGET", /not an HTTP method/],
      ["authority=", /authority: 1\.\.512/],
      ["status=6xx", /a class/],
      ["status=99", /a code/],
      ["status=600", /a code/],
      ["status=2x", /a class/],
      ["status=200.0", /a class/],
    ];
    for (const [query, want] of table) {
      const f = q(query);
      assert.equal(typeof f, "string", query);
      assert.match(f as string, want, query);
    }
  });

  it("matching: every given filter must hold; TCP never matches request filters", () => {
    const get200 = tapRecord(inboundHttpInfo());
    const post503 = tapRecord(inboundHttpInfo({ method: "POST", path: "/ratings/1", authority: "ratings:9080", responseCode: 503 }));
    const tcp = tapRecord(inboundTcpInfo({ downstreamTls: tls("", "tcp-echo:9000") }));
    const table: Array<[TapFilter, [boolean, boolean, boolean]]> = [
      [{}, [true, true, true]],
      [{ pathPrefix: "/reviews" }, [true, false, false]],
      [{ pathPrefix: "/" }, [true, true, false]],
      [{ method: "POST" }, [false, true, false]],
      [{ authority: "ratings:9080" }, [false, true, false]],
      [{ authority: "tcp-echo:9000" }, [false, false, true]],
      [{ statusClass: 5 }, [false, true, false]],
      [{ statusClass: 2 }, [true, false, false]],
      [{ status: 200 }, [true, false, false]],
      [{ method: "POST", statusClass: 2 }, [false, false, false]],
    ];
    for (const [f, want] of table) assert.deepEqual([get200, post503, tcp].map((e) => tapMatches(f, e)), want, JSON.stringify(f));
  });
});

describe("tap: the ring buffer", () => {
  it("keeps the newest `capacity` entries in order, drops the oldest and counts them until taken", () => {
    const ring = new TapRing<number>(3);
    for (let i = 0; i < 2; i++) ring.push(i);
    assert.deepEqual(ring.take(), { items: [0, 1], dropped: 0 });
    for (let i = 0; i < 8; i++) ring.push(i);
    assert.equal(ring.size, 3);
    assert.deepEqual(ring.take(), { items: [5, 6, 7], dropped: 5 });
    assert.deepEqual(ring.take(), { items: [], dropped: 0 });
    ring.push(9);
    ring.addDropped(4);
    assert.deepEqual(ring.take(), { items: [9], dropped: 4 });
  });
  it("wraps around many times without losing order", () => {
    const ring = new TapRing<number>(4);
    const got: number[] = [];
    for (let i = 0; i < 103; i++) {
      ring.push(i);
      if (i % 3 === 2) got.push(...ring.take().items);
    }
    got.push(...ring.take().items);
    assert.deepEqual(got, Array.from({ length: 103 }, (_, i) => i));
  });
  it("refuses a capacity that is not a positive integer", () => {
    for (const c of [0, -1, 1.5, NaN]) assert.throws(() => new TapRing(c), /positive integer/);
  });
});

describe("tap: the hub", () => {
  it("registers its sink only while a tapper is connected; nothing is built or buffered without one", () => {
    const sinks = new StreamSinks();
    const changes: boolean[] = [];
    const hub = new TapHub(sinks, { onActive: (on) => changes.push(on) });
    assert.equal(sinks.active, false);
    // No tapper: a stream published directly goes nowhere.
    hub.publish(tapRecord(inboundHttpInfo()));
    let wakes = 0;
    const a = hub.open({}, () => wakes++)!;
    assert.equal(sinks.active, true);
    assert.equal(a.tapper.ring.size, 0, "what happened before the tapper came is not there");
    const b = hub.open({ method: "POST" }, () => {})!;
    sinks.http(inboundHttpInfo());
    sinks.http(inboundHttpInfo({ method: "POST" }));
    sinks.tcp(inboundTcpInfo());
    const aEvents = a.tapper.ring.take().items;
    assert.deepEqual(aEvents.map((e) => [e.type, e.method]), [["http", "GET"], ["http", "POST"], ["tcp", ""]]);
    assert.equal(wakes, 3);
    const bEvents = b.tapper.ring.take().items;
    assert.deepEqual(bEvents.map((e) => e.method), ["POST"]);
    // One event object, one id, shared by the tappers it matched.
    assert.equal(bEvents[0], aEvents[1]);
    assert.deepEqual(aEvents.map((e) => e.id), [0, 1, 2]);
    a.close();
    assert.equal(sinks.active, true);
    b.close();
    b.close();
    assert.equal(sinks.active, false);
    assert.equal(hub.active, false);
    assert.deepEqual(changes, [true, false]);
  });

  it("serves at most maxTappers at once; a closed one frees its place", () => {
    const hub = new TapHub(new StreamSinks(), { maxTappers: 2 });
    const a = hub.open({}, () => {})!;
    assert.ok(hub.open({}, () => {}));
    assert.equal(hub.open({}, () => {}), undefined);
    a.close();
    assert.ok(hub.open({}, () => {}));
    assert.equal(hub.tapperCount, 2);
  });

  it("a tapper's ring overflows on its own: the drops are counted for it alone", () => {
    const sinks = new StreamSinks();
    const hub = new TapHub(sinks, { bufferEvents: 5 });
    const slow = hub.open({}, () => {})!;
    const fast = hub.open({}, () => {})!;
    const fastSeen: TapEvent[] = [];
    for (let i = 0; i < 12; i++) {
      sinks.http(inboundHttpInfo({ path: `/r/${i}` }));
      fastSeen.push(...fast.tapper.ring.take().items);
    }
    assert.equal(fastSeen.length, 12);
    const s = slow.tapper.ring.take();
    assert.deepEqual(s.items.map((e) => e.path), ["/r/7", "/r/8", "/r/9", "/r/10", "/r/11"]);
    assert.equal(s.dropped, 7);
    hub.publishDropped(3);
    assert.equal(slow.tapper.ring.take().dropped, 3);
    assert.equal(fast.tapper.ring.take().dropped, 3);
  });
});

describe("tap: a --concurrency worker's forwarder", () => {
  it("registers only while the primary taps, batches per event-loop turn, drops past its batch and counts", async () => {
    const sinks = new StreamSinks();
    const sent: Array<[TapRecord[], number]> = [];
    const fwd = new TapForwarder(sinks, (r, d) => sent.push([r, d]), 3);
    assert.equal(sinks.active, false);
    fwd.set(true);
    fwd.set(true);
    assert.equal(sinks.active, true);
    for (let i = 0; i < 5; i++) sinks.http(inboundHttpInfo({ path: `/p/${i}` }));
    await new Promise((r) => setImmediate(r));
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0][0].map((r) => r.path), ["/p/0", "/p/1", "/p/2"]);
    assert.equal(sent[0][1], 2);
    sinks.tcp(inboundTcpInfo());
    fwd.set(false);
    assert.equal(sinks.active, false);
    await new Promise((r) => setImmediate(r));
    assert.equal(sent.length, 1, "what was queued when tapping stopped is forgotten");
  });
});
