// Absolute-form request targets (what HTTP_PROXY clients send to the explicit-proxy listener),
// split into :authority and the origin-form path without URL parsing (table test).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { authorityWithPort, splitAbsoluteForm } from "../../../src/proxy/http/absolute-form.js";
import { explicitProxyTarget, originFormHead } from "../../../src/proxy/listeners.js";

describe("splitAbsoluteForm", () => {
  const cases: Array<[string, { scheme: string; authority: string; path: string } | undefined]> = [
    ["http://details:9080/details/0", { scheme: "http", authority: "details:9080", path: "/details/0" }],
    ["http://reviews:9080/reviews/0?x=1&y=2", { scheme: "http", authority: "reviews:9080", path: "/reviews/0?x=1&y=2" }],
    ["http://ratings:9080", { scheme: "http", authority: "ratings:9080", path: "/" }],
    ["http://ratings:9080?q=1", { scheme: "http", authority: "ratings:9080", path: "/?q=1" }],
    ["HTTP://Details.Default:9080/A", { scheme: "http", authority: "details.default:9080", path: "/A" }],
    ["https://example.com/p#frag", { scheme: "https", authority: "example.com", path: "/p" }],
    ["http://user:pw@host:80/p", { scheme: "http", authority: "host:80", path: "/p" }],
    ["http://[::1]:8080/p", { scheme: "http", authority: "[::1]:8080", path: "/p" }],
    ["ftp://host/p", undefined],
    ["http:///p", undefined],
    ["*", undefined],
    ["details:9080", undefined],
  ];
  for (const [target, want] of cases) it(target, () => assert.deepEqual(splitAbsoluteForm(target), want));

  it("authorityWithPort fills in the scheme's default port", () => {
    assert.deepEqual(authorityWithPort("details:9080", "http"), { authority: "details:9080", port: 9080 });
    assert.deepEqual(authorityWithPort("example.com", "http"), { authority: "example.com:80", port: 80 });
    assert.deepEqual(authorityWithPort("example.com", "https"), { authority: "example.com:443", port: 443 });
    assert.deepEqual(authorityWithPort("[::1]", "http"), { authority: "[::1]:80", port: 80 });
    assert.deepEqual(authorityWithPort("[::1]:8080", "http"), { authority: "[::1]:8080", port: 8080 });
  });

  it("explicitProxyTarget: absolute-form, CONNECT and Host-header targets (table)", () => {
    const head = (s: string) => Buffer.from(s.replace(/\n/g, "\r\n") + "\r\n\r\n", "latin1");
    const cases: Array<[string, ReturnType<typeof explicitProxyTarget>]> = [
      ["GET http://details:9080/details/0 HTTP/1.1\nhost: details:9080", { authority: "details:9080", port: 9080, connect: false }],
      ["GET http://example.com/ HTTP/1.1\nhost: example.com", { authority: "example.com:80", port: 80, connect: false }],
      ["CONNECT example.com:443 HTTP/1.1\nhost: example.com:443", { authority: "example.com:443", port: 443, connect: true }],
      ["CONNECT example.com HTTP/1.1", undefined],
      ["GET /x HTTP/1.1\nhost: ratings:9080", { authority: "ratings:9080", port: 9080, connect: false }],
      ["GET /x HTTP/1.1\nhost: ratings", { authority: "ratings:80", port: 80, connect: false }],
      ["GET /x HTTP/1.1", undefined],
      ["garbage", undefined],
    ];
    for (const [h, want] of cases) assert.deepEqual(explicitProxyTarget(head(h)), want, h);
    assert.equal(originFormHead(head("GET http://a:1/p?q=1 HTTP/1.1\nhost: a:1\nproxy-connection: keep-alive")).toString("latin1"), "GET /p?q=1 HTTP/1.1\r\nhost: a:1\r\nconnection: close\r\n\r\n");
  });
});
