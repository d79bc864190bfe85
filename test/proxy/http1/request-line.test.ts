// Request-line, Host and limit rules of the HTTP/1 codec, as Envoy's defaults have them: each case
// sends one request and asserts the answer, what the backend got (nothing for a refusal), and that
// a refusal closes the connection. Sources: codec_impl.cc (checkProtocolVersion: HTTP/1.0 and 0.9
// get 426 unless http_protocol_options.accept_http_10; completeCurrentHeader: more than
// max_headers_count (100) headers -> 431; checkMaxHeadersSize: max_request_headers_kb -> 431),
// balsa_parser.cc (isMethodValid: a fixed method list; isUrlValid; isVersionValid: HTTP/d.d),
// conn_manager_impl.cc (no Host on HTTP/1.1 -> 400 missing_host_header), header_utility.cc
// (requestHeadersValid: an invalid authority -> 400), utility.cc (sanitizeConnectionHeader: nominated
// headers removed, X-Forwarded-* may not be nominated, ten or more tokens refused). RFC 9112 §3.2
// (more than one Host -> 400) where Envoy would join them.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ok, type Received, responses } from "../raw-backend.js";
import { Http1Fixture } from "./fixture.js";

const strict = new Http1Fixture({ proxyIp: "127.0.142.1", backendIp: "127.0.142.2", port: 8001, backendPort: 8080 });
const http10 = new Http1Fixture({ proxyIp: "127.0.142.3", backendIp: "127.0.142.4", port: 8001, backendPort: 8080 }, { httpProtocolOptions: { acceptHttp_10: true, defaultHostForHttp_10: "default.example" } });

interface Case {
  name: string;
  send: string;
  status: number;
  /** What the backend gets ("METHOD path host"), or nothing. */
  backend?: string;
  /** A header the backend must not see. */
  absent?: string;
  /** Not a refusal: the request was routed (and found no route), the connection stays open. */
  routed?: boolean;
  fixture?: Http1Fixture;
}

const headers = (n: number) => Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join("");

const CASES: Case[] = [
  // ---- versions ----
  { name: "HTTP/0.9 (no version): 426 as soon as the line ends", send: "GET /\r\n", status: 426 },
  { name: "HTTP/1.0: 426 (accept_http_10 off)", send: "GET / HTTP/1.0\r\nHost: x\r\n\r\n", status: 426 },
  { name: "HTTP/1.2: 426 (not 1.1 counts as 1.0)", send: "GET / HTTP/1.2\r\nHost: x\r\n\r\n", status: 426 },
  { name: "HTTP/2.0 in an HTTP/1 request line: 426", send: "GET / HTTP/2.0\r\nHost: x\r\n\r\n", status: 426 },
  { name: "HTTP/1.10: 400", send: "GET / HTTP/1.10\r\nHost: x\r\n\r\n", status: 400 },
  { name: "lower-case version: 400", send: "GET / http/1.1\r\nHost: x\r\n\r\n", status: 400 },
  { name: "a fourth token: 400", send: "GET / HTTP/1.1 x\r\nHost: x\r\n\r\n", status: 400 },
  { name: "two spaces: 400", send: "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", status: 400 },
  { name: "HTTP/1.0 accepted: default_host_for_http_10 fills the Host", send: "GET /ten HTTP/1.0\r\n\r\n", status: 200, backend: "GET /ten default.example", fixture: http10 },
  { name: "HTTP/1.0 accepted: its own Host", send: "GET /ten HTTP/1.0\r\nHost: h10\r\n\r\n", status: 200, backend: "GET /ten h10", fixture: http10 },
  { name: "HTTP/1.0 with Transfer-Encoding: 400", send: "POST /ten HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 400, fixture: http10 },
  // ---- methods ----
  { name: "lower-case method: 400", send: "get / HTTP/1.1\r\nHost: x\r\n\r\n", status: 400 },
  { name: "unknown method: 400", send: "FOO / HTTP/1.1\r\nHost: x\r\n\r\n", status: 400 },
  { name: "no target: 400", send: "GET\r\nHost: x\r\n\r\n", status: 400 },
  { name: "PURGE (in Envoy's list): served", send: "PURGE /p HTTP/1.1\r\nHost: x\r\n\r\n", status: 200, backend: "PURGE /p x" },
  { name: "PROPFIND: served", send: "PROPFIND /dav HTTP/1.1\r\nHost: x\r\n\r\n", status: 200, backend: "PROPFIND /dav x" },
  // ---- targets ----
  { name: "target neither origin- nor absolute-form: 400", send: "GET foo HTTP/1.1\r\nHost: x\r\n\r\n", status: 400 },
  { name: "absolute-form with another scheme: 400", send: "GET ftp://x/a HTTP/1.1\r\nHost: x\r\n\r\n", status: 400 },
  { name: "asterisk-form on GET: 400", send: "GET * HTTP/1.1\r\nHost: x\r\n\r\n", status: 400 },
  // Accepted and routed with path "*": no prefix route matches it (404 NR, as in Envoy).
  { name: "asterisk-form on OPTIONS: routed", send: "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", status: 404, routed: true },
  { name: "absolute-form: the target's host wins over Host", send: "GET http://Target.Example:81/a?b HTTP/1.1\r\nHost: other\r\n\r\n", status: 200, backend: "GET /a?b target.example:81" },
  { name: "absolute-form without a path", send: "GET http://t.example HTTP/1.1\r\nHost: t.example\r\n\r\n", status: 200, backend: "GET / t.example" },
  { name: "obs-text in the target: 400", send: "GET /caf\xe9 HTTP/1.1\r\nHost: x\r\n\r\n", status: 400 },
  { name: "CONNECT without a CONNECT route: 404, nothing upstream", send: "CONNECT x.example:443 HTTP/1.1\r\nHost: x.example:443\r\n\r\n", status: 404 },
  { name: "CONNECT with a body: 400", send: "CONNECT x.example:443 HTTP/1.1\r\nHost: x.example:443\r\nContent-Length: 5\r\n\r\nhello", status: 400 },
  { name: "CONNECT with Transfer-Encoding: 501", send: "CONNECT x.example:443 HTTP/1.1\r\nHost: x.example:443\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 501 },
  // ---- Host ----
  { name: "no Host on HTTP/1.1: 400", send: "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", status: 400 },
  { name: "two Host lines: 400", send: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400 },
  { name: "two Host lines, same value: 400", send: "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", status: 400 },
  { name: "Host with a space: 400", send: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400 },
  { name: "Host with a slash: 400", send: "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", status: 400 },
  { name: "empty Host (allowed by RFC 9112): served", send: "GET /e HTTP/1.1\r\nHost:\r\n\r\n", status: 200, backend: "GET /e " },
  { name: "Host with a port and an IPv6 literal: served", send: "GET /v6 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", status: 200, backend: "GET /v6 [::1]:8080" },
  // ---- header count and size ----
  { name: "100 header lines (Host + 99): served", send: `GET /100 HTTP/1.1\r\nHost: x\r\n${headers(99)}\r\n`, status: 200, backend: "GET /100 x" },
  { name: "101 header lines: 431", send: `GET /101 HTTP/1.1\r\nHost: x\r\n${headers(100)}\r\n`, status: 431 },
  { name: "a head over max_request_headers_kb (60 KiB): 431", send: `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(61 * 1024)}\r\n\r\n`, status: 431 },
  { name: "an unfinished head over 60 KiB: 431 before it ends", send: `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(61 * 1024)}`, status: 431 },
  // ---- Connection-nominated headers ----
  { name: "a nominated header is removed", send: "GET /nom HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\n\r\n", status: 200, backend: "GET /nom x", absent: "x-secret" },
  { name: "nominating X-Forwarded-For: 400", send: "GET / HTTP/1.1\r\nHost: x\r\nConnection: X-Forwarded-For\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n", status: 400 },
  { name: "ten Connection tokens: 400", send: `GET / HTTP/1.1\r\nHost: x\r\nConnection: ${Array.from({ length: 10 }, (_, i) => `x-${i}`).join(", ")}\r\n\r\n`, status: 400 },
];

describe("HTTP/1 request line, Host and limits (Envoy's defaults)", () => {
  before(async () => {
    for (const f of [strict, http10]) {
      await f.start();
      f.backend.answer = (r: Received) => ok(`${r.method} ${r.path} ${r.headers.host ?? ""}`);
    }
  });
  after(async () => {
    await strict.stop();
    await http10.stop();
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const f = c.fixture ?? strict;
      const before = f.backend.received.length;
      const { text, closed } = await f.exchange(c.send, { until: /\r\n\r\n/, timeoutMs: 3000 });
      const rs = responses(text);
      assert.ok(rs.length > 0, `an answer (got ${JSON.stringify(text.slice(0, 200))})`);
      assert.equal(rs[0].status, c.status, JSON.stringify(text.slice(0, 300)));
      const got = f.backend.received.slice(before);
      if (c.routed === true) {
        assert.equal(got.length, 0, "nothing reached the backend");
        assert.equal(closed, false);
      } else if (c.backend === undefined) {
        assert.equal(got.length, 0, "nothing reached the backend");
        assert.equal(closed, true, "a refused request closes the connection");
        assert.equal(rs[0].headers.connection, "close");
      } else {
        assert.equal(got.length, 1);
        assert.equal(rs[0].body, c.backend);
        if (c.absent !== undefined) assert.equal(got[0].headers[c.absent], undefined);
      }
    });
  }

  it("logs refusals as Envoy's codec errors (DPE) and counts them", async () => {
    const end = Date.now() + 3000;
    while (!/"- - HTTP\/1\.1" 431 DPE /.test(strict.log()) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.match(strict.log(), /"- - HTTP\/1\.1" 431 DPE /);
    assert.match(strict.log(), /"GET \/ HTTP\/1\.0" 426 DPE /);
    assert.ok(strict.counter("http.strict.downstream_cx_protocol_error") >= 20);
    assert.ok(strict.counter("http.strict.downstream_rq_4xx") >= 25);
  });
});
