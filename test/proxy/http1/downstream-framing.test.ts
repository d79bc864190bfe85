// Adversarial HTTP/1 framing from the client side (client → proxy): request smuggling shapes (CL.TE,
// TE.CL, TE.TE obfuscations), Content-Length forms, chunk sizes and extensions, line endings, obs-fold,
// control bytes, upgrade requests with bodies. Every case is followed, in the same write, by a canary
// request on the same connection, and asserts (1) the proxy's answer, (2) exactly what the backend
// received — requests, bodies, and never the `/smuggled` request hidden in the ambiguous bytes — and
// (3) that the connection is safe after it: closed by the proxy, or still in sync (the canary is
// answered as a request of its own).
//
// What each answer follows (Envoy's defaults, source/common/http/http1/codec_impl.cc and
// balsa_parser.cc; RFC 9112 where Envoy is laxer and the RFC allows or requires rejecting):
// - Transfer-Encoding with Content-Length: 400 (http1.content_length_and_chunked_not_allowed) unless
//   allow_chunked_length — codec_impl.cc onHeadersCompleteImpl.
// - Transfer-Encoding other than exactly "chunked" (case-insensitive; repeated TE lines are one
//   comma-joined value): 501 (http1.invalid_transfer_encoding) — same function.
// - Content-Length not 1*DIGIT, repeated (even with equal values), or too large: 400 — Balsa's
//   disallow_multiple_content_length and its content-length parse.
// - Chunk sizes: hex digits, extensions after `;`; anything else, a bare CR in an extension
//   (http1_balsa_disallow_lone_cr_in_chunk_extension), or a size that overflows: 400.
// - Header names must be tokens (isHeaderNameValid); control characters in values are rejected
//   (InvalidCharsLevel::kError): 400.
// - Stricter than Envoy, as RFC 9112 allows or requires: obs-fold (§5.2: reject or replace; Envoy's
//   Balsa replaces), whitespace before the colon (§5.1: MUST reject), bare LF line ends (§2.2: MAY
//   accept), control bytes in the target: 400.
// - Upgrade: h2c is stripped and the request served as plain HTTP/1.1 with its body (codec_impl.cc:
//   "removing unsupported h2c upgrade headers"); any other upgrade puts the connection in upgrade
//   mode — the bytes after the head are the upgrade's payload, never a body or a next request
//   (CallbackResult::NoBodyData), and Transfer-Encoding is not sent upstream (conn_manager_utility.cc).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ok, type Received, responses } from "../raw-backend.js";
import { Http1Fixture } from "./fixture.js";

const fx = new Http1Fixture({ proxyIp: "127.0.140.1", backendIp: "127.0.140.2", port: 8001, backendPort: 8080 });

const CANARY = "GET /canary HTTP/1.1\r\nHost: x\r\n\r\n";
const SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

interface Case {
  name: string;
  /** The request bytes; the canary follows in the same write. */
  send: string;
  /** The proxy's answer to it. */
  status: number;
  /** What the backend gets from this connection, in order ("METHOD path body"). */
  backend: string[];
}

/** `n` bytes of body that hold a smuggled request when a parser reads the framing differently. */
const H = "POST / HTTP/1.1\r\nHost: x\r\n";

const CASES: Case[] = [
  // ---- CL.TE / TE.CL: both framings on one message ----
  { name: "CL.TE: Content-Length then chunked", send: `${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, status: 400, backend: [] },
  { name: "TE.CL: chunked then Content-Length", send: `${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n${SMUGGLED}\r\n0\r\n\r\n`, status: 400, backend: [] },
  { name: "CL.TE with Content-Length: 0", send: `${H}Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: 400, backend: [] },
  // ---- TE.TE obfuscations ----
  { name: "TE: chunked, identity", send: `${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}`, status: 501, backend: [] },
  { name: "TE: identity, chunked (chunked not alone)", send: `${H}Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n`, status: 501, backend: [] },
  { name: "TE: gzip, chunked", send: `${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, status: 501, backend: [] },
  { name: "TE: xchunked", send: `${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, status: 501, backend: [] },
  { name: "TE: chunked-false", send: `${H}Transfer-Encoding: chunked-false\r\n\r\n0\r\n\r\n`, status: 501, backend: [] },
  { name: "TE: two lines (chunked, chunked)", send: `${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: 501, backend: [] },
  { name: "TE: two lines (chunked, identity)", send: `${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n${SMUGGLED}`, status: 501, backend: [] },
  { name: "TE: space before the colon", send: `${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, status: 400, backend: [] },
  { name: "TE: folded onto the previous line (obs-fold)", send: `${H}X-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`, status: 400, backend: [] },
  { name: "TE: vertical tab in the value", send: `${H}Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n`, status: 400, backend: [] },
  { name: "TE: NUL after the value", send: `${H}Transfer-Encoding: chunked\x00\r\n\r\n0\r\n\r\n`, status: 400, backend: [] },
  { name: "TE: tab as whitespace (valid OWS)", send: `${H}Transfer-Encoding:\tchunked\t\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, status: 200, backend: ["POST / hello", "GET /canary "] },
  { name: "TE: CHUNKED (case-insensitive)", send: `${H}Transfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, status: 200, backend: ["POST / hello", "GET /canary "] },
  { name: "TE: name in odd case", send: `${H}tRaNsFeR-eNcOdInG: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`, status: 200, backend: ["POST / abc", "GET /canary "] },
  // ---- Content-Length forms ----
  { name: "CL: two equal lines", send: `${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, status: 400, backend: [] },
  { name: "CL: two different lines", send: `${H}Content-Length: 5\r\nContent-Length: 40\r\n\r\nhello${SMUGGLED}`, status: 400, backend: [] },
  { name: "CL: comma list", send: `${H}Content-Length: 5, 5\r\n\r\nhello`, status: 400, backend: [] },
  { name: "CL: plus sign", send: `${H}Content-Length: +5\r\n\r\nhello`, status: 400, backend: [] },
  { name: "CL: negative", send: `${H}Content-Length: -1\r\n\r\n`, status: 400, backend: [] },
  { name: "CL: hex", send: `${H}Content-Length: 0x5\r\n\r\nhello`, status: 400, backend: [] },
  { name: "CL: space inside", send: `${H}Content-Length: 1 5\r\n\r\nhello`, status: 400, backend: [] },
  { name: "CL: empty", send: `${H}Content-Length:\r\n\r\n`, status: 400, backend: [] },
  { name: "CL: 2^53 and more (overflow)", send: `${H}Content-Length: 99999999999999999999\r\n\r\nhello`, status: 400, backend: [] },
  { name: "CL: leading zeros (valid 1*DIGIT)", send: `${H}Content-Length: 005\r\n\r\nhello`, status: 200, backend: ["POST / hello", "GET /canary "] },
  { name: "CL: surrounding whitespace (OWS)", send: `${H}Content-Length: \t5 \r\n\r\nhello`, status: 200, backend: ["POST / hello", "GET /canary "] },
  // ---- chunk sizes and extensions ----
  { name: "chunk extension (valid)", send: `${H}Transfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n0;last\r\n\r\n`, status: 200, backend: ["POST / hello", "GET /canary "] },
  { name: "chunk extension, quoted value with spaces", send: `${H}Transfer-Encoding: chunked\r\n\r\n5 ; a="b c"\r\nhello\r\n0\r\n\r\n`, status: 200, backend: ["POST / hello", "GET /canary "] },
  { name: "chunk extension of 8 KiB", send: `${H}Transfer-Encoding: chunked\r\n\r\n5;x=${"a".repeat(8192)}\r\nhello\r\n0\r\n\r\n`, status: 400, backend: [] },
  { name: "chunk extension with a bare CR", send: `${H}Transfer-Encoding: chunked\r\n\r\n5;a=b\rc\r\nhello\r\n0\r\n\r\n`, status: 400, backend: [] },
  { name: "chunk extension with a bare LF", send: `${H}Transfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n`, status: 400, backend: [] },
  { name: "chunk size overflow", send: `${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nhello\r\n0\r\n\r\n`, status: 400, backend: [] },
  { name: "chunk size 0x-prefixed", send: `${H}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n`, status: 400, backend: [] },
  { name: "chunk size with a sign", send: `${H}Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n`, status: 400, backend: [] },
  { name: "chunk size with trailing space and no extension", send: `${H}Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n`, status: 400, backend: [] },
  { name: "chunk data longer than its size", send: `${H}Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n`, status: 400, backend: [] },
  { name: "chunk size line ended by a bare LF", send: `${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n`, status: 400, backend: [] },
  { name: "chunked body with trailers", send: `${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n`, status: 200, backend: ["POST / hello", "GET /canary "] },
  // ---- line endings, folding, control bytes ----
  { name: "bare LF line ends", send: `POST / HTTP/1.1\nHost: x\nContent-Length: 5\n\nhello`, status: 400, backend: [] },
  { name: "bare LF inside the head", send: `${H}X-A: 1\nContent-Length: 40\r\n\r\nhello`, status: 400, backend: [] },
  { name: "bare CR inside a value", send: `${H}X-A: 1\rContent-Length: 40\r\n\r\n`, status: 400, backend: [] },
  { name: "obs-fold of an ordinary header", send: `GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n`, status: 400, backend: [] },
  { name: "NUL in a header value", send: `GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n`, status: 400, backend: [] },
  { name: "NUL in a header name", send: `GET / HTTP/1.1\r\nHost: x\r\nX-\x00A: a\r\n\r\n`, status: 400, backend: [] },
  { name: "control byte 0x01 in a value", send: `GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01\r\n\r\n`, status: 400, backend: [] },
  { name: "DEL in a value", send: `GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7f\r\n\r\n`, status: 400, backend: [] },
  { name: "NUL in the target", send: `GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n`, status: 400, backend: [] },
  { name: "tab in the target", send: `GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n`, status: 400, backend: [] },
  { name: "space before the colon", send: `GET / HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n`, status: 400, backend: [] },
  { name: "empty header name", send: `GET / HTTP/1.1\r\nHost: x\r\n: a\r\n\r\n`, status: 400, backend: [] },
  { name: "header line without a colon", send: `GET / HTTP/1.1\r\nHost: x\r\nX-A a\r\n\r\n`, status: 400, backend: [] },
  { name: "latin1 bytes in a value (allowed obs-text)", send: `GET /obs HTTP/1.1\r\nHost: x\r\nX-A: caf\xe9\r\n\r\n`, status: 200, backend: ["GET /obs ", "GET /canary "] },
  // ---- upgrades with bodies ----
  {
    name: "h2c upgrade with a Content-Length body: served as plain HTTP/1.1 with its body",
    send: `${H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nContent-Length: 5\r\n\r\nhello`,
    status: 200,
    backend: ["POST / hello", "GET /canary "],
  },
  {
    name: "h2c upgrade with a chunked body",
    send: `${H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: 200,
    backend: ["POST / hello", "GET /canary "],
  },
  {
    name: "Upgrade without Connection: upgrade is no upgrade: a plain request with its body",
    send: `${H}Upgrade: websocket\r\nContent-Length: 5\r\n\r\nhello`,
    status: 200,
    backend: ["POST / hello", "GET /canary "],
  },
  {
    // Upgrade mode: the bytes after the head are the upgrade's payload; the backend refuses the
    // upgrade, so they go nowhere, and the connection closes after the answer.
    name: "websocket upgrade with a Content-Length body, refused upstream",
    send: `GET /ws/refuse HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: ${5 + SMUGGLED.length}\r\n\r\nhello${SMUGGLED}`,
    status: 403,
    backend: ["GET /ws/refuse "],
  },
  {
    name: "websocket upgrade with a chunked body, refused upstream",
    send: `GET /ws/refuse HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n${SMUGGLED}`,
    status: 403,
    backend: ["GET /ws/refuse "],
  },
  {
    name: "websocket upgrade on a route without upgrades: 403, nothing upstream",
    send: `POST /plain HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
    status: 403,
    backend: [],
  },
];

describe("HTTP/1 framing from the client side (adversarial table)", () => {
  before(async () => {
    await fx.start();
    fx.backend.answer = (r: Received) => (r.path === "/ws/refuse" ? `HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\n\r\nno` : ok(`${r.method} ${r.path} ${r.body}`));
  });
  after(() => fx.stop());

  for (const c of CASES) {
    it(c.name, async () => {
      const before = fx.backend.received.length;
      const rawBefore = fx.backend.raw.length;
      const { text, closed } = await fx.exchange(c.send + CANARY, { until: c.status === 200 ? /GET \/canary $/ : /\r\n\r\n/ });
      const rs = responses(text);
      assert.ok(rs.length > 0, `an answer (got ${JSON.stringify(text)})`);
      assert.equal(rs[0].status, c.status, `status (got ${JSON.stringify(text)})`);
      const got = fx.backend.received.slice(before).map((r) => `${r.method} ${r.path} ${r.body}`);
      assert.deepEqual(got, c.backend, "what the backend received");
      // Never a request the proxy did not route, on any backend connection.
      for (const raw of fx.backend.raw.slice(rawBefore)) assert.doesNotMatch(raw, /\/smuggled/);
      if (c.status === 200) {
        // In sync: the canary was answered as its own request, and the connection stays open.
        assert.equal(rs.length, 2, JSON.stringify(text));
        assert.equal(rs[1].body, "GET /canary ");
        assert.equal(closed, false);
      } else {
        // An error closes the connection: nothing after it is read as a request.
        assert.equal(rs.length, 1, JSON.stringify(text));
        assert.equal(rs[0].headers.connection, "close");
        assert.equal(closed, true, "the proxy closed the connection");
      }
    });
  }

  it("counts client protocol errors and logs them with DPE", () => {
    assert.ok(fx.counter("http.strict.downstream_cx_protocol_error") >= CASES.filter((c) => c.status === 400 || c.status === 501).length);
    assert.match(fx.log(), /" 400 DPE /);
    assert.match(fx.log(), /" 501 DPE /);
  });
});
