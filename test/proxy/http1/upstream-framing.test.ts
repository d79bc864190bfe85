// Adversarial HTTP/1 framing from the upstream side (upstream → proxy): responses with both framings,
// bad Content-Length and Transfer-Encoding, malformed status lines and header blocks, broken chunks,
// 1xx storms, bodies on responses that cannot have one (HEAD, 204, 304). Each case answers one
// request with the scripted bytes; a canary request follows on the same client connection. Asserted:
// (1) what the client received (status and body; a framing error after the head resets the client
// connection instead), (2) the access log flag (UPE for a malformed response, as Envoy), and (3) that
// no state leaks: the client connection is still in sync (the canary answered as its own response)
// and the upstream connection that carried a malformed or over-long response is not reused.
//
// What each answer follows (Envoy's defaults): a codec error on an upstream connection resets the
// stream with reason protocol_error (source/common/http/codec_client.cc counts it as the cluster's
// upstream_cx_protocol_error); the router answers 502 with the UPE flag and details
// upstream_reset_before_response_started{protocol_error} before the response started, or resets the
// downstream after (source/common/router/router.cc onUpstreamReset / streamResetReasonToResponseFlag).
// The codec's errors (codec_impl.cc): Transfer-Encoding with Content-Length unless
// allow_chunked_length; a Transfer-Encoding other than "chunked"; Transfer-Encoding, or a non-zero
// Content-Length, on a 1xx or 204; a repeated Content-Length; invalid characters; more than
// max_response_headers_count (100) headers or 80 KiB of head. Bytes after a response that cannot
// have a body are "extraneous data after response complete": the response stands, the connection
// closes. Stricter than Envoy's Balsa, as RFC 9112 allows: obs-fold and whitespace before a colon
// in a response are rejected (§5.1/§5.2 let a proxy answer 502 instead of repairing them).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ok, type Received, responses } from "../raw-backend.js";
import { Http1Fixture } from "./fixture.js";

const fx = new Http1Fixture({ proxyIp: "127.0.141.1", backendIp: "127.0.141.2", port: 8001, backendPort: 8080 });

interface Case {
  name: string;
  /** What the upstream answers (for a HEAD case, `method` is HEAD). */
  answer: string;
  method?: string;
  /** The client sees: a status (and body), or a reset after a started response (`reset`). */
  status: number;
  body?: string;
  reset?: boolean;
  flag: string;
  /** Bytes follow the response's end: its upstream connection must not carry another request. */
  noReuse?: boolean;
}

const R = "HTTP/1.1 200 OK\r\n";
const CASES: Case[] = [
  // ---- both framings, Transfer-Encoding forms ----
  { name: "TE + CL (chunked body, shorter Content-Length)", answer: `${R}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, status: 502, flag: "UPE" },
  { name: "CL + TE, other order", answer: `${R}Transfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, status: 502, flag: "UPE" },
  { name: "TE: gzip, chunked", answer: `${R}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, status: 502, flag: "UPE" },
  { name: "TE: chunked, identity", answer: `${R}Transfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, status: 502, flag: "UPE" },
  { name: "TE: identity", answer: `${R}Transfer-Encoding: identity\r\n\r\nhello`, status: 502, flag: "UPE" },
  { name: "TE: xchunked", answer: `${R}Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, status: 502, flag: "UPE" },
  { name: "TE: two lines", answer: `${R}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, status: 502, flag: "UPE" },
  { name: "TE on an HTTP/1.0 response", answer: `HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, status: 502, flag: "UPE" },
  { name: "TE: Chunked (case-insensitive, valid)", answer: `${R}Transfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, status: 200, body: "hello", flag: "-" },
  // ---- Content-Length forms ----
  { name: "CL: two equal lines", answer: `${R}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, status: 502, flag: "UPE" },
  { name: "CL: comma list", answer: `${R}Content-Length: 5, 5\r\n\r\nhello`, status: 502, flag: "UPE" },
  { name: "CL: plus sign", answer: `${R}Content-Length: +5\r\n\r\nhello`, status: 502, flag: "UPE" },
  { name: "CL: hex", answer: `${R}Content-Length: 0x5\r\n\r\nhello`, status: 502, flag: "UPE" },
  { name: "CL: overflow", answer: `${R}Content-Length: 99999999999999999999\r\n\r\nhello`, status: 502, flag: "UPE" },
  { name: "CL: more bytes than it says (rest dropped, connection not reused)", answer: `${R}Content-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\ninjectd`, status: 200, body: "hello", flag: "-", noReuse: true },
  // ---- status lines and header blocks ----
  { name: "not HTTP at all", answer: "NOT HTTP AT ALL\r\n\r\n", status: 502, flag: "UPE" },
  { name: "status 2OO", answer: "HTTP/1.1 2OO OK\r\ncontent-length: 0\r\n\r\n", status: 502, flag: "UPE" },
  { name: "status 1000", answer: "HTTP/1.1 1000 OK\r\ncontent-length: 0\r\n\r\n", status: 502, flag: "UPE" },
  { name: "HTTP/2.0 status line", answer: "HTTP/2.0 200 OK\r\ncontent-length: 0\r\n\r\n", status: 502, flag: "UPE" },
  { name: "obs-fold", answer: `${R}X-A: a\r\n b\r\nContent-Length: 5\r\n\r\nhello`, status: 502, flag: "UPE" },
  { name: "folded Transfer-Encoding", answer: `${R}X-A: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello`, status: 502, flag: "UPE" },
  { name: "space before the colon", answer: `${R}Content-Length : 5\r\n\r\nhello`, status: 502, flag: "UPE" },
  { name: "NUL in a value", answer: `${R}X-A: a\x00b\r\nContent-Length: 5\r\n\r\nhello`, status: 502, flag: "UPE" },
  { name: "bare LF line ends", answer: `HTTP/1.1 200 OK\nContent-Length: 5\n\nhello`, status: 502, flag: "UPE" },
  { name: "bare CR in a value", answer: `${R}X-A: a\rContent-Length: 2\r\nContent-Length: 5\r\n\r\nhello`, status: 502, flag: "UPE" },
  { name: "101 to a request that asked for no upgrade", answer: "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n", status: 502, flag: "UPE" },
  { name: "more than 100 headers", answer: `${R}${Array.from({ length: 101 }, (_, i) => `X-H${i}: v\r\n`).join("")}Content-Length: 5\r\n\r\nhello`, status: 502, flag: "UPE" },
  { name: "100 headers (the limit)", answer: `${R}${Array.from({ length: 99 }, (_, i) => `X-H${i}: v\r\n`).join("")}Content-Length: 5\r\n\r\nhello`, status: 200, body: "hello", flag: "-" },
  { name: "a head over 80 KiB", answer: `${R}X-Big: ${"a".repeat(82 * 1024)}\r\nContent-Length: 5\r\n\r\nhello`, status: 502, flag: "UPE" },
  { name: "status line without a reason phrase", answer: "HTTP/1.1 200\r\nContent-Length: 5\r\n\r\nhello", status: 200, body: "hello", flag: "-" },
  // ---- broken chunks after the head: the client's response is cut (reset) ----
  { name: "bad chunk size after the head", answer: `${R}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n`, status: 200, reset: true, flag: "UPE" },
  { name: "chunk size overflow", answer: `${R}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nhello\r\n`, status: 200, reset: true, flag: "UPE" },
  { name: "chunk extension of 8 KiB", answer: `${R}Transfer-Encoding: chunked\r\n\r\n5;x=${"a".repeat(8192)}\r\nhello\r\n0\r\n\r\n`, status: 200, reset: true, flag: "UPE" },
  { name: "chunk data without its CRLF", answer: `${R}Transfer-Encoding: chunked\r\n\r\n3\r\nhelloworld\r\n0\r\n\r\n`, status: 200, reset: true, flag: "UPE" },
  // ---- 1xx ----
  { name: "1000 interim responses (100 and 103) before the final one", answer: `${"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n".repeat(500)}${R}Content-Length: 5\r\n\r\nhello`, status: 200, body: "hello", flag: "-" },
  { name: "Transfer-Encoding on a 1xx", answer: `HTTP/1.1 100 Continue\r\nTransfer-Encoding: chunked\r\n\r\n${R}Content-Length: 5\r\n\r\nhello`, status: 502, flag: "UPE" },
  { name: "Content-Length on a 1xx", answer: `HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\n\r\nhello${R}Content-Length: 5\r\n\r\nhello`, status: 502, flag: "UPE" },
  // ---- responses that cannot have a body ----
  { name: "204 with Content-Length: 5", answer: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello", status: 502, flag: "UPE" },
  { name: "204 with Transfer-Encoding", answer: "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 502, flag: "UPE" },
  { name: "204 with body bytes and no framing (dropped, connection not reused)", answer: "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\ninjectd", status: 204, body: "", flag: "-", noReuse: true },
  { name: "304 with a body (dropped, connection not reused)", answer: "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nhello", status: 304, body: "", flag: "-", noReuse: true },
  { name: "HEAD answered with a body (dropped, connection not reused)", method: "HEAD", answer: `${R}Content-Length: 5\r\n\r\nhello`, status: 200, body: "", flag: "-", noReuse: true },
];

describe("HTTP/1 framing from the upstream side (adversarial table)", () => {
  const script = new Map<string, string>();
  before(async () => {
    await fx.start();
    fx.backend.answer = (r: Received) => script.get(r.path) ?? ok(`canary on ${r.conn}`);
  });
  after(() => fx.stop());

  CASES.forEach((c, i) => {
    it(c.name, async () => {
      const path = `/up/${i}`;
      script.set(path, c.answer);
      const method = c.method ?? "GET";
      const first = `${method} ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
      const { text, closed } = await fx.exchange(c.reset ? first : [first, "GET /canary HTTP/1.1\r\nHost: x\r\n\r\n"], { until: c.reset ? /$^/ : /canary on \d+$/, timeoutMs: c.reset ? 1500 : 5000 });
      const rs = responses(text, { headRequests: new Set(method === "HEAD" ? [0] : []) });
      if (c.reset) {
        // The response broke off after its head: the client connection is reset, and what it got
        // (nothing, or the head and part of the body) is never a complete response.
        assert.equal(closed, true, "the client connection is reset after a response that broke off");
        assert.ok(rs.length <= 1 && !text.endsWith("\r\n0\r\n\r\n"), JSON.stringify(text.slice(0, 300)));
      } else {
        assert.ok(rs.length > 0, `an answer (got ${JSON.stringify(text.slice(0, 300))})`);
        assert.equal(rs[0].status, c.status, JSON.stringify(text.slice(0, 300)));
        if (c.body !== undefined) assert.equal(rs[0].body, c.body);
        if (c.status === 502) assert.match(rs[0].body, /reset reason: protocol error$/);
        // The client connection is in sync: the canary has its own, intact response.
        assert.equal(rs.length, 2, JSON.stringify(text.slice(0, 300)));
        assert.match(rs[1].body, /^canary on \d+$/);
        // The upstream connection that carried this case is never reused (malformed, or bytes past
        // the response's end); well-formed ones are.
        const caseConn = fx.backend.received.find((r) => r.path === path)!.conn;
        const canaryConn = Number(/canary on (\d+)/.exec(rs[1].body)![1]);
        if (c.status === 502 || c.noReuse === true) assert.notEqual(canaryConn, caseConn, "the upstream connection was not reused");
        assert.equal(closed, false);
      }
      const line = `"${method} ${path} HTTP/1.1" ${c.status} ${c.flag} `;
      await waitFor(() => fx.log().includes(line), `access log ${line} in ${fx.log().slice(-600)}`);
    });
  });

  it("counts malformed upstream responses as upstream_cx_protocol_error", () => {
    assert.ok(fx.counter("cluster.main.upstream_cx_protocol_error") >= CASES.filter((c) => c.flag === "UPE").length);
  });
});

async function waitFor(fn: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) assert.fail(what);
    await new Promise((r) => setTimeout(r, 20));
  }
}
