// The hand-written HTTP/1.1 pieces (src/proxy/http1/codec.ts): header parsing with node's rules for
// repeated headers, the chunked coding split at every byte, tokens, serialization with node's
// validation.
import assert from "node:assert/strict";
import type * as http from "node:http";
import { describe, it } from "node:test";
import { addHeaderLine, ChunkedDecoder, encodeChunk, hasToken, HOP_BY_HOP, HopHeaders, headerLine, invalidHead, parseContentLength, parseEndToEnd, parseHeaderLines, requestHopByHop, serializeHeaders } from "../../../src/proxy/http1/codec.js";

function parse(lines: string): http.IncomingHttpHeaders | false {
  const h: http.IncomingHttpHeaders = {};
  return parseHeaderLines(lines, 0, lines.length - 2, h) ? h : false;
}

describe("http1 codec header lines", () => {
  it("lowercases names, trims values, and repeats headers as node:http does", () => {
    const h = parse("Host: a\r\nX-Dup: 1\r\nx-dup:  2 \r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nCookie: c=1\r\ncookie: d=2\r\nContent-Type: text/plain\r\ncontent-type: text/html\r\nEmpty:\r\n");
    assert.deepEqual(h, {
      host: "a",
      "x-dup": "1, 2",
      "set-cookie": ["a=1", "b=2"],
      cookie: "c=1; d=2",
      "content-type": "text/plain",
      empty: "",
    });
  });

  it("rejects lines without a colon, names that are not tokens, and obs-fold", () => {
    assert.equal(parse("NoColon\r\n"), false);
    assert.equal(parse("Bad Name: x\r\n"), false);
    assert.equal(parse(": x\r\n"), false);
    assert.equal(parse("A: b\r\n continued\r\n"), false);
  });

  it("flags control characters and bare CR or LF in a head", () => {
    assert.equal(invalidHead("GET / HTTP/1.1\r\nA: b\r\n"), false);
    assert.equal(invalidHead("GET / HTTP/1.1\r\nA: b\tc\r\n"), false);
    assert.equal(invalidHead("GET / HTTP/1.1\r\nA: b\nC: d\r\n"), true);
    assert.equal(invalidHead("GET / HTTP/1.1\r\nA: b\rC: d\r\n"), true);
    assert.equal(invalidHead("GET / HTTP/1.1\r\nA: b\x00\r\n"), true);
    assert.equal(invalidHead("GET / HTTP/1.1\r\nA: caf\xe9\r\n"), false);
  });

  it("finds tokens in comma-separated values", () => {
    assert.equal(hasToken("close", "close"), true);
    assert.equal(hasToken("Keep-Alive, Upgrade", "upgrade"), true);
    assert.equal(hasToken("keep-alive,close", "close"), true);
    assert.equal(hasToken("closed", "close"), false);
    assert.equal(hasToken(["a", "Close"], "close"), true);
    assert.equal(hasToken(undefined, "close"), false);
  });

  it("parses Content-Length strictly", () => {
    assert.equal(parseContentLength("0"), 0);
    assert.equal(parseContentLength("1024"), 1024);
    for (const bad of ["", "nope", "-1", "1 2", "0x10", "1".repeat(16)]) assert.equal(parseContentLength(bad), -1, bad);
    assert.equal(parseContentLength(undefined), -1);
  });

  it("serializes headers (arrays repeat), throws on names that are not tokens, and checks Host-like lines for CR/LF", () => {
    assert.equal(serializeHeaders({ a: "1", b: ["x", "y"], c: 3, d: undefined }, ""), "a: 1\r\nb: x\r\nb: y\r\nc: 3\r\n");
    assert.throws(() => serializeHeaders({ "bad name": "x" }, ""), { code: "ERR_INVALID_HTTP_TOKEN" });
    assert.equal(headerLine("host", "example.com:8080"), "host: example.com:8080\r\n");
    assert.throws(() => headerLine("host", "x\r\ninjected: 1"), { code: "ERR_INVALID_CHAR" });
    assert.throws(() => headerLine("upgrade", "a\0b"), { code: "ERR_INVALID_CHAR" });
  });

  it("keeps Host and hop-by-hop headers aside (Envoy's set; requests: TE only if trailers, Expect: 100-continue)", () => {
    const lines = "Host: a\r\nhost: b\r\nConnection: keep-alive\r\nconnection: Upgrade\r\nKeep-Alive: 5\r\nTE: trailers\r\nTransfer-Encoding: chunked\r\nUpgrade: websocket\r\nExpect: 100-continue\r\nProxy-Authorization: x\r\nX-A: 1\r\n";
    const h: http.IncomingHttpHeaders = {};
    const hop = new HopHeaders();
    assert.equal(parseEndToEnd(lines, 0, lines.length - 2, h, hop, true), 11, "the number of header lines");
    assert.deepEqual(h, { te: "trailers", "proxy-authorization": "x", "x-a": "1" });
    assert.deepEqual({ ...hop }, { host: "a", hosts: 2, connection: "keep-alive, Upgrade", transferEncoding: "chunked", upgrade: "websocket", expect: true });
    const r: http.IncomingHttpHeaders = {};
    hop.clear();
    assert.equal(parseEndToEnd(lines, 0, lines.length - 2, r, hop, false), 11);
    assert.deepEqual(r, { host: "a", te: "trailers", expect: "100-continue", "proxy-authorization": "x", "x-a": "1" });
    const dup = "Content-Length: 1\r\ncontent-length: 1\r\n";
    assert.equal(parseEndToEnd(dup, 0, dup.length - 2, {}, hop, true), -1);
    // Expectations other than 100-continue are end-to-end (Envoy forwards them).
    const other = "Expect: something\r\n";
    const o: http.IncomingHttpHeaders = {};
    hop.clear();
    assert.equal(parseEndToEnd(other, 0, other.length - 2, o, hop, true), 1);
    assert.deepEqual(o, { expect: "something" });
    assert.equal(hop.expect, false);
    // The one list, as the other paths (HTTP/2, the router) apply it.
    assert.deepEqual([...HOP_BY_HOP].sort(), ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);
    const req = (n: string, v: string) => requestHopByHop(n, v);
    assert.deepEqual(
      [req("te", "trailers"), req("te", "gzip"), req("http2-settings", "x"), req("expect", "100-Continue"), req("expect", "x"), req("trailer", "x"), req("proxy-authorization", "x"), req("upgrade", "ws")],
      [false, true, true, true, false, false, false, true],
    );
  });

  it("adds repeated header lines like IncomingMessage", () => {
    const h: http.IncomingHttpHeaders = {};
    addHeaderLine(h, "authorization", "a");
    addHeaderLine(h, "authorization", "b");
    addHeaderLine(h, "via", "1");
    addHeaderLine(h, "via", "2");
    assert.deepEqual(h, { authorization: "a", via: "1, 2" });
  });
});

describe("http1 codec chunked coding", () => {
  const wire = Buffer.from("5;ext=1\r\nhello\r\n1\r\n \r\nB\r\nworld, here\r\n0\r\nX-Sum: 42\r\nX-Sum: 43\r\n\r\nNEXT", "latin1");

  function decodeSplit(parts: Buffer[]): { body: string; end: number; trailers?: http.IncomingHttpHeaders; last: number } {
    const d = new ChunkedDecoder();
    let body = "";
    let end = -1;
    let last = -1;
    for (let p = 0; p < parts.length; p++) {
      end = d.feed(parts[p], 0, { body: (c) => (body += c.toString("latin1")) });
      if (end === -2) throw new Error("framing error");
      if (end >= 0) {
        last = p;
        break;
      }
    }
    return { body, end, trailers: d.trailers, last };
  }

  it("decodes a body with extensions and trailers in one piece", () => {
    const r = decodeSplit([wire]);
    assert.equal(r.body, "hello world, here");
    assert.deepEqual(r.trailers, { "x-sum": "42, 43" });
    assert.equal(wire.subarray(r.end).toString(), "NEXT");
  });

  it("decodes the same whatever the split point (two pieces, and byte by byte)", () => {
    for (let i = 1; i < wire.length - 4; i++) {
      const r = decodeSplit([wire.subarray(0, i), wire.subarray(i)]);
      assert.equal(r.body, "hello world, here", `split at ${i}`);
      assert.deepEqual(r.trailers, { "x-sum": "42, 43" });
      const rest = r.last === 0 ? wire.subarray(r.end) : wire.subarray(i).subarray(r.end);
      assert.equal(rest.toString(), "NEXT", `split at ${i}`);
    }
    const bytes = [...wire.subarray(0, wire.length - 4)].map((b) => Buffer.from([b]));
    const r = decodeSplit(bytes);
    assert.equal(r.body, "hello world, here");
    assert.equal(r.last, bytes.length - 1);
  });

  it("ends at the last chunk without trailers", () => {
    const d = new ChunkedDecoder();
    let body = "";
    const buf = Buffer.from("3\r\nabc\r\n0\r\n\r\n");
    assert.equal(d.feed(buf, 0, { body: (c) => (body += c) }), buf.length);
    assert.equal(body, "abc");
    assert.equal(d.trailers, undefined);
  });

  it("rejects bad sizes and missing CRLFs", () => {
    for (const bad of ["zz\r\n", "5\r\nhelloXX", "\r\n", "5 x\r\n", "1234567890abc\r\n"]) {
      const d = new ChunkedDecoder();
      assert.equal(d.feed(Buffer.from(bad), 0, { body: () => {} }), -2, JSON.stringify(bad));
    }
  });

  it("encodes a chunk in one buffer", () => {
    assert.equal(encodeChunk(Buffer.from("x".repeat(26))).toString(), `1a\r\n${"x".repeat(26)}\r\n`);
  });
});
