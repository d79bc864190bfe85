// Trace context propagation and Envoy's sampling decision: adversarial tables for the B3 (multi and
// single header) and W3C traceparent parsers, injection round trips, and the x-request-id trace
// reason as Envoy encodes it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { extractB3, extractW3c, inject, randomId, type SpanContext } from "../../../src/proxy/tracing/propagation.js";
import { decide, TraceReason, traceReason } from "../../../src/proxy/tracing/sampling.js";
import { isInternalAddress } from "../../../src/proxy/tracing/span.js";

const T32 = "463ac35c9f6413ad48485a3953bb6124";
const T16 = "48485a3953bb6124";
const S = "a2fb4a1d1a96d312";
const P = "0020000000000001";

describe("B3 extraction", () => {
  const table: Array<[string, Record<string, string | string[]>, string]> = [
    ["nothing", {}, "none:undefined"],
    ["sampled only", { "x-b3-sampled": "1" }, "none:true"],
    ["not sampled only", { "x-b3-sampled": "0" }, "none:false"],
    ["'true' is sampled", { "x-b3-sampled": "true" }, "none:true"],
    ["debug flag wins", { "x-b3-flags": "1", "x-b3-sampled": "0" }, "none:true"],
    ["bad sampled value", { "x-b3-sampled": "yes" }, "malformed"],
    ["128-bit trace", { "x-b3-traceid": T32, "x-b3-spanid": S, "x-b3-sampled": "1" }, `ctx:${T32}:${S}:-:true`],
    ["64-bit trace with parent", { "x-b3-traceid": T16, "x-b3-spanid": S, "x-b3-parentspanid": P }, `ctx:${T16}:${S}:${P}:undefined`],
    ["trace id without span id", { "x-b3-traceid": T32 }, "malformed"],
    ["span id without trace id", { "x-b3-spanid": S }, "malformed"],
    ["uppercase hex", { "x-b3-traceid": T32.toUpperCase(), "x-b3-spanid": S }, "malformed"],
    ["short trace id", { "x-b3-traceid": "abc", "x-b3-spanid": S }, "malformed"],
    ["24-digit trace id", { "x-b3-traceid": T32.slice(0, 24), "x-b3-spanid": S }, "malformed"],
    ["all-zero trace id", { "x-b3-traceid": "0".repeat(32), "x-b3-spanid": S }, "malformed"],
    ["all-zero span id", { "x-b3-traceid": T32, "x-b3-spanid": "0".repeat(16) }, "malformed"],
    ["non-hex span id", { "x-b3-traceid": T32, "x-b3-spanid": "zzzzzzzzzzzzzzzz" }, "malformed"],
    ["bad parent", { "x-b3-traceid": T32, "x-b3-spanid": S, "x-b3-parentspanid": "1" }, "malformed"],
    ["repeated trace id header", { "x-b3-traceid": [T32, T32], "x-b3-spanid": S }, "malformed"],
    ["single: full", { b3: `${T32}-${S}-1-${P}` }, `ctx:${T32}:${S}:${P}:true`],
    ["single: no sampling", { b3: `${T16}-${S}` }, `ctx:${T16}:${S}:-:undefined`],
    ["single: debug", { b3: `${T32}-${S}-d` }, `ctx:${T32}:${S}:-:true`],
    ["single: deny", { b3: "0" }, "none:false"],
    ["single: accept", { b3: "1" }, "none:true"],
    ["single: bad sampling state", { b3: `${T32}-${S}-x` }, "malformed"],
    ["single: 'true' is not a single-header state", { b3: `${T32}-${S}-true` }, "malformed"],
    ["single: too many parts", { b3: `${T32}-${S}-1-${P}-1` }, "malformed"],
    ["single: empty", { b3: "" }, "malformed"],
    ["single: one id", { b3: T32 }, "malformed"],
    ["single: huge", { b3: "a".repeat(10_000) }, "malformed"],
    ["multi wins over single", { "x-b3-traceid": T32, "x-b3-spanid": S, b3: `${T16}-${P}-0` }, `ctx:${T32}:${S}:-:undefined`],
  ];
  for (const [name, headers, want] of table) {
    it(name, () => {
      const r = extractB3(headers);
      const got = r.kind === "none" ? `none:${String(r.sampled)}` : r.kind === "malformed" ? "malformed" : `ctx:${r.context.traceId}:${r.context.spanId}:${r.context.parentId ?? "-"}:${String(r.context.sampled)}`;
      assert.equal(got, want);
    });
  }
});

describe("W3C traceparent extraction", () => {
  const table: Array<[string, Record<string, string>, string]> = [
    ["none", {}, "none"],
    ["sampled", { traceparent: `00-${T32}-${S}-01` }, `ctx:${S}:true`],
    ["not sampled", { traceparent: `00-${T32}-${S}-00` }, `ctx:${S}:false`],
    ["other flag bits ignored", { traceparent: `00-${T32}-${S}-03` }, `ctx:${S}:true`],
    ["tracestate kept", { traceparent: `00-${T32}-${S}-01`, tracestate: "congo=t61rcWkgMzE" }, `ctx:${S}:true:congo=t61rcWkgMzE`],
    ["future version with more fields", { traceparent: `01-${T32}-${S}-01-extra` }, `ctx:${S}:true`],
    ["future version glued", { traceparent: `01-${T32}-${S}-01extra` }, "malformed"],
    ["version 00 with more", { traceparent: `00-${T32}-${S}-01-x` }, "malformed"],
    ["version ff", { traceparent: `ff-${T32}-${S}-01` }, "malformed"],
    ["uppercase", { traceparent: `00-${T32.toUpperCase()}-${S}-01` }, "malformed"],
    ["zero trace", { traceparent: `00-${"0".repeat(32)}-${S}-01` }, "malformed"],
    ["zero span", { traceparent: `00-${T32}-${"0".repeat(16)}-01` }, "malformed"],
    ["short", { traceparent: `00-${T16}-${S}-01` }, "malformed"],
    ["wrong separators", { traceparent: `00_${T32}_${S}_01` }, "malformed"],
    ["bad flags", { traceparent: `00-${T32}-${S}-0g` }, "malformed"],
    ["huge", { traceparent: `01-${T32}-${S}-01-${"a".repeat(10_000)}` }, "malformed"],
  ];
  for (const [name, headers, want] of table) {
    it(name, () => {
      const r = extractW3c(headers);
      const got = r.kind === "none" ? "none" : r.kind === "malformed" ? "malformed" : `ctx:${r.context.spanId}:${String(r.context.sampled)}${r.context.tracestate ? `:${r.context.tracestate}` : ""}`;
      assert.equal(got, want);
      if (r.kind === "context") assert.equal(r.context.traceId, T32);
    });
  }
});

describe("injection", () => {
  const ctx: SpanContext = { traceId: T32, spanId: S, parentId: P, sampled: true, tracestate: "a=b" };
  it("B3 writes the multi-header set and clears the single form", () => {
    const h: Record<string, string | undefined> = { b3: "1", "x-b3-flags": "1" };
    inject("b3", ctx, h);
    assert.deepEqual(h, { b3: undefined, "x-b3-flags": undefined, "x-b3-traceid": T32, "x-b3-spanid": S, "x-b3-parentspanid": P, "x-b3-sampled": "1" });
    const back = extractB3(h);
    assert.equal(back.kind, "context");
  });
  it("B3 without a parent removes a stale parent; unsampled writes 0", () => {
    const h: Record<string, string | undefined> = { "x-b3-parentspanid": "1111111111111111" };
    inject("b3", { traceId: T16, spanId: S, sampled: false }, h);
    assert.equal(h["x-b3-parentspanid"], undefined);
    assert.equal(h["x-b3-sampled"], "0");
  });
  it("B3 adds no keys for headers the request did not carry", () => {
    const h: Record<string, string | undefined> = { "x-request-id": "r" };
    inject("b3", { traceId: T16, spanId: S, sampled: false }, h);
    assert.deepEqual(Object.keys(h).sort(), ["x-b3-sampled", "x-b3-spanid", "x-b3-traceid", "x-request-id"]);
  });
  it("W3C round trip", () => {
    const h: Record<string, string> = {};
    inject("w3c", ctx, h);
    assert.equal(h.traceparent, `00-${T32}-${S}-01`);
    assert.equal(h.tracestate, "a=b");
    const back = extractW3c(h);
    assert.ok(back.kind === "context" && back.context.spanId === S && back.context.sampled === true);
  });
  it("random ids are hex of the right length and differ", () => {
    const a = randomId(16);
    assert.match(a, /^[0-9a-f]{32}$/);
    assert.match(randomId(8), /^[0-9a-f]{16}$/);
    assert.notEqual(a, randomId(16));
  });
  it("random ids stay well-formed and distinct across refills of the id pool", () => {
    const seen = new Set<string>();
    // 4 KiB pool: 3,000 ids of 8 or 16 bytes refill it several times.
    for (let i = 0; i < 3000; i++) {
      const id = randomId(i % 3 === 0 ? 16 : 8);
      assert.match(id, i % 3 === 0 ? /^[0-9a-f]{32}$/ : /^[0-9a-f]{16}$/);
      assert.doesNotMatch(id, /^0+$/);
      seen.add(id);
    }
    assert.equal(seen.size, 3000);
  });
});

describe("sampling decision (x-request-id trace reason)", () => {
  const ALL = { client: 100, random: 100, overall: 100 };
  const NONE = { client: 100, random: 0, overall: 100 };
  // First 8 hex digits 0x00000064 = 100 → 100 % 10000 = 100 (under 1%+ only from 1.01%).
  const RID = "00000064-0000-4000-8000-000000000000";
  const table: Array<[string, { client: number; random: number; overall: number }, string | undefined, boolean, boolean, number, boolean, string | undefined]> = [
    ["no request id", ALL, undefined, false, false, 0, false, undefined],
    ["not a UUID", ALL, "abc", false, false, 0, false, undefined],
    // Envoy reads only the length and the first 8 hex digits (and the reason at index 14).
    ["36 characters with a hex prefix: read as Envoy does (no dashes needed)", ALL, "00000064_zzzz_4zzz_zzzz_zzzzzzzzzzzz", false, false, 0, true, "a"],
    ["36 characters without a hex prefix", ALL, "0000006g-0000-4000-8000-000000000000", false, false, 0, false, undefined],
    ["a UUID with a character more", ALL, `${RID}0`, false, false, 0, false, undefined],
    ["random 100%", ALL, RID, false, false, 0, true, "a"],
    ["random 0%", NONE, RID, false, false, 0, false, "4"],
    ["random 1%: value 100 is not under 100", { client: 100, random: 1, overall: 100 }, RID, false, false, 0, false, "4"],
    ["random 1.01%: value 100 is under 101", { client: 100, random: 1.01, overall: 100 }, RID, false, false, 0, true, "a"],
    ["force trace", NONE, RID, true, false, 0, true, "9"],
    ["client trace id under client sampling", NONE, RID, false, true, 50, true, "b"],
    ["client trace id, client sampling 0%", { client: 0, random: 0, overall: 100 }, RID, false, true, 50, false, "4"],
    ["already sampled upstream is kept", NONE, "00000064-0000-a000-8000-000000000000", false, false, 0, true, "a"],
    ["already forced upstream is kept", NONE, "00000064-0000-9000-8000-000000000000", false, false, 0, true, "9"],
    ["overall 0% wins over forced", { client: 100, random: 100, overall: 0 }, RID, true, false, 0, false, "4"],
    // 0xffffffff = 4294967295 → 7295: under 72.96% (7296), not under 72.95% (7295).
    ["the value is the first 8 digits mod 10000 (traced)", { client: 100, random: 72.96, overall: 100 }, "ffffffff-0000-4000-8000-000000000000", false, false, 0, true, "a"],
    ["the value is the first 8 digits mod 10000 (not traced)", { client: 100, random: 72.95, overall: 100 }, "ffffffff-0000-4000-8000-000000000000", false, false, 0, false, "4"],
    ["uppercase UUID", { client: 100, random: 72.96, overall: 100 }, "FFFFFFFF-0000-4000-8000-00000000000A", false, false, 0, true, "a"],
    ["a dash out of place", ALL, "0000006-40000-4000-8000-000000000000", false, false, 0, false, undefined],
    ["a digit where a dash belongs, past the prefix (Envoy does not look)", ALL, "00000064-0000-4000-80000000000000000", false, false, 0, true, "a"],
    ["a non-hex digit past the prefix (Envoy does not look)", ALL, "00000064-0000-4000-8000-00000000000g", false, false, 0, true, "a"],
    ["one digit too many", ALL, "00000064-0000-4000-8000-0000000000000", false, false, 0, false, undefined],
    ["one digit too few", ALL, "00000064-0000-4000-8000-00000000000", false, false, 0, false, undefined],
  ];
  for (const [name, cfg, rid, force, client, draw, traced, ch] of table) {
    it(name, () => {
      const d = decide(cfg, rid, force, client, () => draw);
      assert.equal(d.traced, traced);
      if (ch === undefined) assert.equal(d.requestId, undefined);
      else {
        assert.equal(d.requestId?.[14], ch);
        assert.equal(d.requestId?.slice(0, 14), rid!.slice(0, 14));
      }
    });
  }
  it("reasons read back", () => {
    assert.equal(traceReason("00000064-0000-9000-8000-000000000000"), TraceReason.Forced);
    assert.equal(traceReason("00000064-0000-b000-8000-000000000000"), TraceReason.Client);
    assert.equal(traceReason("00000064-0000-4000-8000-000000000000"), TraceReason.NotTraceable);
    assert.equal(traceReason("not-a-uuid"), TraceReason.NotTraceable);
  });
  it("internal addresses (x-envoy-force-trace is honoured only from them)", () => {
    for (const a of ["127.0.0.1:5", "10.1.2.3", "172.16.0.1:80", "192.168.1.1", "::1", "[fd00::1]:80", "::ffff:10.0.0.1"]) assert.equal(isInternalAddress(a), true, a);
    for (const a of ["8.8.8.8:53", "172.32.0.1", "2001:db8::1", "192.169.0.1"]) assert.equal(isInternalAddress(a), false, a);
  });
});
