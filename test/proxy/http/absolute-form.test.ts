// Absolute-form request targets (what HTTP_PROXY clients send to the explicit-proxy listener),
// split into :authority and the origin-form path without URL parsing (table test).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { splitAbsoluteForm } from "../../../src/proxy/http/hcm.js";

describe("splitAbsoluteForm", () => {
  const cases: Array<[string, { authority: string; path: string } | undefined]> = [
    ["http://details:9080/details/0", { authority: "details:9080", path: "/details/0" }],
    ["http://reviews:9080/reviews/0?x=1&y=2", { authority: "reviews:9080", path: "/reviews/0?x=1&y=2" }],
    ["http://ratings:9080", { authority: "ratings:9080", path: "/" }],
    ["http://ratings:9080?q=1", { authority: "ratings:9080", path: "/?q=1" }],
    ["HTTP://Details.Default:9080/A", { authority: "details.default:9080", path: "/A" }],
    ["https://example.com/p#frag", { authority: "example.com", path: "/p" }],
    ["http://user:pw@host:80/p", { authority: "host:80", path: "/p" }],
    ["http://[::1]:8080/p", { authority: "[::1]:8080", path: "/p" }],
    ["ftp://host/p", undefined],
    ["http:///p", undefined],
    ["*", undefined],
    ["details:9080", undefined],
  ];
  for (const [target, want] of cases) it(target, () => assert.deepEqual(splitAbsoluteForm(target), want));
});
