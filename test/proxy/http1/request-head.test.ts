// The upstream request head as the codec serialises the router's structured request: Host first
// and only once, hop-by-hop `te` dropped, the try's x-envoy-* headers replacing same-named ones,
// upgrade and framing lines, and refusals of what no HTTP/1.1 head can carry.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BodyMode, type H1RequestHead, serializeRequestHead } from "../../../src/proxy/http1/request-head.js";

const base: H1RequestHead = { method: "GET", path: "/p?q=1", authority: "svc:8080", headers: {}, tryHeaders: [], upgrade: undefined, body: BodyMode.None };
const head = (o: Partial<H1RequestHead>) => serializeRequestHead({ ...base, ...o });

describe("serializeRequestHead", () => {
  const cases: Array<[string, Partial<H1RequestHead>, string]> = [
    ["a GET: request line and Host", {}, "GET /p?q=1 HTTP/1.1\r\nhost: svc:8080\r\n\r\n"],
    ["Host from the authority, never a host header too", { headers: { host: "other", a: "1" } }, "GET /p?q=1 HTTP/1.1\r\nhost: svc:8080\r\na: 1\r\n\r\n"],
    ["te is not forwarded", { headers: { te: "trailers", b: "2" } }, "GET /p?q=1 HTTP/1.1\r\nhost: svc:8080\r\nb: 2\r\n\r\n"],
    ["repeated values each on a line", { headers: { c: ["1", "2"] } }, "GET /p?q=1 HTTP/1.1\r\nhost: svc:8080\r\nc: 1\r\nc: 2\r\n\r\n"],
    [
      "the try's headers replace a client's",
      { headers: { "x-envoy-attempt-count": "9", d: "x" }, tryHeaders: [["x-envoy-expected-rq-timeout-ms", "250"], ["x-envoy-attempt-count", "2"]] },
      "GET /p?q=1 HTTP/1.1\r\nhost: svc:8080\r\nd: x\r\nx-envoy-expected-rq-timeout-ms: 250\r\nx-envoy-attempt-count: 2\r\n\r\n",
    ],
    ["a POST without a body says content-length: 0", { method: "POST" }, "POST /p?q=1 HTTP/1.1\r\nhost: svc:8080\r\ncontent-length: 0\r\n\r\n"],
    ["a POST with its own content-length keeps it", { method: "POST", headers: { "content-length": "0" } }, "POST /p?q=1 HTTP/1.1\r\nhost: svc:8080\r\ncontent-length: 0\r\n\r\n"],
    ["a raw body is framed by its content-length", { method: "PUT", headers: { "content-length": "5" }, body: BodyMode.Raw }, "PUT /p?q=1 HTTP/1.1\r\nhost: svc:8080\r\ncontent-length: 5\r\n\r\n"],
    ["a chunked body", { method: "POST", body: BodyMode.Chunked }, "POST /p?q=1 HTTP/1.1\r\nhost: svc:8080\r\ntransfer-encoding: chunked\r\n\r\n"],
    ["an upgrade", { upgrade: "websocket" }, "GET /p?q=1 HTTP/1.1\r\nhost: svc:8080\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n"],
  ];
  for (const [what, o, want] of cases) it(what, () => assert.equal(head(o), want));

  const refusals: Array<[string, Partial<H1RequestHead>, string]> = [
    ["a header name that is not a token", { headers: { "bad name": "v" } }, "ERR_INVALID_HTTP_TOKEN"],
    ["CR LF in the authority (a rewritten host)", { authority: "a\r\nx-injected: 1" }, "ERR_INVALID_CHAR"],
    ["NUL in the upgrade", { upgrade: "web\0socket" }, "ERR_INVALID_CHAR"],
  ];
  for (const [what, o, code] of refusals) it(`refuses ${what}`, () => assert.throws(() => head(o), { code }));
});
