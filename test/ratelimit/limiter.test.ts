// The fixed-window algorithm on the in-memory store with a manual clock: windows aligned to the
// unit, OK/OVER_LIMIT and limit_remaining, duration_until_reset, the reference's near/over/within/
// shadow counting (hits addends included), cache keys, the store's expiry and bound; and the
// service on top (replaces, unlimited, quota mode, global shadow mode, response headers, errors).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RateLimitConfig } from "../../src/ratelimit/config.js";
import { parseConfigFile } from "../../src/ratelimit/config-yaml.js";
import { FixedWindowLimiter } from "../../src/ratelimit/limiter.js";
import { MemoryCounterStore } from "../../src/ratelimit/memory-store.js";
import { DEFAULT_RESPONSE_HEADERS, RateLimitService, ServiceError, type RateLimitRequestIn, type ServiceOptions } from "../../src/ratelimit/service.js";
import { RateLimitStatsManager } from "../../src/ratelimit/stats.js";
import { FakeClock } from "../helpers/fake-clock.js";

/** 2023-11-14T22:13:00Z: a whole minute, hour-aligned plus 13 min. */
const T0 = 1_699_999_980_000;

function setup(yaml: string, o: ServiceOptions & { prefix?: string } = {}) {
  const clock = new FakeClock();
  clock.t = T0;
  const stats = new RateLimitStatsManager();
  const store = new MemoryCounterStore({ clock, sweepEveryMs: 0 });
  const limiter = new FixedWindowLimiter(store, { clock, cacheKeyPrefix: o.prefix, random: () => 0 });
  const service = new RateLimitService(limiter, stats, o);
  service.setConfig(new RateLimitConfig([{ name: "c", root: parseConfigFile("c", yaml) }], stats));
  const ask = (domain: string, entries: Array<[string, string]>[], hitsAddend?: number) => service.shouldRateLimit({ domain, descriptors: entries.map((e) => ({ entries: e.map(([key, value]) => ({ key, value })) })), hitsAddend });
  return { clock, stats, store, limiter, service, ask };
}

const TASK = "domain: ratelimit\ndescriptors:\n  - key: PATH\n    value: /productpage\n    rate_limit: {unit: minute, requests_per_unit: 1}\n  - key: PATH\n    rate_limit: {unit: minute, requests_per_unit: 100}\n";

describe("fixed window (memory store, manual clock)", () => {
  it("1 per minute: OK, then OVER_LIMIT, then OK in the next minute", async () => {
    const { clock, ask } = setup(TASK);
    clock.t = T0 + 8_000;
    const a = await ask("ratelimit", [[["PATH", "/productpage"]]]);
    assert.deepEqual(a, { overallCode: "OK", statuses: [{ code: "OK", currentLimit: { requestsPerUnit: 1, unit: "MINUTE", name: "" }, limitRemaining: 0, durationUntilResetSeconds: 52 }], responseHeadersToAdd: [] });
    clock.advance(51_000);
    const b = await ask("ratelimit", [[["PATH", "/productpage"]]]);
    assert.equal(b.overallCode, "OVER_LIMIT");
    assert.deepEqual(b.statuses[0], { code: "OVER_LIMIT", currentLimit: { requestsPerUnit: 1, unit: "MINUTE", name: "" }, limitRemaining: 0, durationUntilResetSeconds: 1 });
    clock.advance(1_000); // T0 + 60 s: a new window
    const c = await ask("ratelimit", [[["PATH", "/productpage"]]]);
    assert.equal(c.overallCode, "OK");
    assert.equal(c.statuses[0].durationUntilResetSeconds, 60);
  });

  it("limit_remaining counts down; other values share the key-only limit's own counters", async () => {
    const { ask } = setup(TASK);
    const r1 = await ask("ratelimit", [[["PATH", "/a"]]]);
    const r2 = await ask("ratelimit", [[["PATH", "/b"]]]);
    const r3 = await ask("ratelimit", [[["PATH", "/a"]]]);
    // Counters are per value (the cache key holds it), the limit is the key's.
    assert.deepEqual([r1, r2, r3].map((r) => r.statuses[0].limitRemaining), [99, 99, 98]);
  });

  it("no limit: OK with no current_limit, nothing counted", async () => {
    const { ask, store } = setup(TASK);
    const r = await ask("ratelimit", [[["METHOD", "GET"]]]);
    assert.deepEqual(r.statuses, [{ code: "OK", limitRemaining: 0 }]);
    assert.equal(store.size, 0);
  });

  it("counts near_limit, over_limit, within_limit and total_hits as the reference", async () => {
    const { ask, stats } = setup("domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 10}\n");
    for (let i = 0; i < 11; i++) await ask("d", [[["k", "v"]]]);
    const v = (s: string) => stats.value(`ratelimit.service.rate_limit.d.k.${s}`);
    // Threshold 10, near threshold floor(10 × 0.8) = 8: hits 9 and 10 are near, 11 is over.
    assert.deepEqual({ total: v("total_hits"), within: v("within_limit"), near: v("near_limit"), over: v("over_limit") }, { total: 11, within: 10, near: 2, over: 1 });
  });

  it("a hits addend past the threshold splits into near and over as the reference", async () => {
    const { ask, stats } = setup("domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: 10}\n");
    await ask("d", [[["k", "v"]]], 7);
    const r = await ask("d", [[["k", "v"]]], 5); // 7 → 12
    assert.equal(r.overallCode, "OVER_LIMIT");
    const v = (s: string) => stats.value(`ratelimit.service.rate_limit.d.k.${s}`);
    assert.deepEqual({ total: v("total_hits"), within: v("within_limit"), near: v("near_limit"), over: v("over_limit") }, { total: 12, within: 7, near: 2, over: 2 });
  });

  it("shadow mode: counted as over, answered OK", async () => {
    const { ask, stats } = setup("domain: d\ndescriptors:\n  - key: k\n    shadow_mode: true\n    rate_limit: {unit: minute, requests_per_unit: 1}\n");
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await ask("d", [[["k", "v"]]])).statuses[0].code);
    assert.deepEqual(codes, ["OK", "OK", "OK"]);
    assert.equal(stats.value("ratelimit.service.rate_limit.d.k.over_limit"), 2);
    assert.equal(stats.value("ratelimit.service.rate_limit.d.k.shadow_mode"), 2);
  });

  it("cache keys: prefix, domain, each entry, window start in Unix seconds", () => {
    const { limiter, service } = setup(TASK, { prefix: "p:" });
    const limit = service.currentConfig!.getLimit("ratelimit", { entries: [{ key: "PATH", value: "/productpage" }] })!;
    assert.equal(limiter.cacheKey("ratelimit", { entries: [{ key: "PATH", value: "/productpage" }] }, limit, 1_700_000_039), "p:ratelimit_PATH_/productpage_1699999980");
  });

  it("share_threshold: values under one wildcard share a counter; without it they do not", async () => {
    const { ask } = setup("domain: d\ndescriptors:\n  - key: files\n    value: files/*\n    share_threshold: true\n    rate_limit: {unit: hour, requests_per_unit: 2}\n  - key: other\n    value: other/*\n    rate_limit: {unit: hour, requests_per_unit: 2}\n");
    const codes = async (k: string, vals: string[]) => {
      const out = [];
      for (const v of vals) out.push((await ask("d", [[[k, v]]])).overallCode);
      return out;
    };
    assert.deepEqual(await codes("files", ["files/a", "files/b", "files/c"]), ["OK", "OK", "OVER_LIMIT"]);
    assert.deepEqual(await codes("other", ["other/a", "other/b", "other/c"]), ["OK", "OK", "OK"]);
  });

  it("the memory store expires keys, sweeps them, and stays within its bound", async () => {
    const clock = new FakeClock();
    clock.t = T0;
    const store = new MemoryCounterStore({ clock, maxKeys: 3, sweepEveryMs: 1000 });
    await store.increment([{ key: "a", hits: 1, expireSeconds: 1 }, { key: "b", hits: 1, expireSeconds: 5 }]);
    clock.advance(1000); // the sweep timer runs: "a" expired
    assert.equal(store.size, 1);
    assert.deepEqual(await store.increment([{ key: "b", hits: 2, expireSeconds: 5 }]), [3]);
    await store.increment([{ key: "c", hits: 1, expireSeconds: 60 }, { key: "d", hits: 1, expireSeconds: 60 }, { key: "e", hits: 1, expireSeconds: 60 }]);
    assert.equal(store.size, 3, "bounded");
    assert.equal(store.evicted, 1, "the oldest live key made room");
    await store.close();
    assert.equal(clock.pending, 0, "no timer left");
  });

  it("the memory store is bounded in key bytes too", async () => {
    const clock = new FakeClock();
    const store = new MemoryCounterStore({ clock, maxKeys: 100, maxKeyBytes: 2500, sweepEveryMs: 0 });
    for (let i = 0; i < 5; i++) await store.increment([{ key: String(i).repeat(1000), hits: 1, expireSeconds: 60 }]);
    assert.equal(store.size, 2, "two 1000-byte keys fit in 2500 bytes");
    assert.equal(store.evicted, 3);
    assert.deepEqual(await store.increment([{ key: "4".repeat(1000), hits: 1, expireSeconds: 60 }]), [2], "the newest key kept its count");
  });
});

describe("ShouldRateLimit (service)", () => {
  const EXAMPLE7 =
    "domain: example7\ndescriptors:\n  - key: key_1\n    value: value_1\n    descriptors:\n      - key: user\n        value: bkthomps\n        rate_limit: {name: specific_limit, requests_per_unit: 1, unit: minute}\n  - key: key_2\n    value: value_2\n    descriptors:\n      - key: user\n        value: bkthomps\n        rate_limit: {replaces: [{name: specific_limit}], requests_per_unit: 2, unit: minute}\n";

  it("replaces: the replaced limit is neither applied nor counted", async () => {
    const { ask, stats } = setup(EXAMPLE7);
    const both: Array<[string, string]>[] = [
      [
        ["key_1", "value_1"],
        ["user", "bkthomps"],
      ],
      [
        ["key_2", "value_2"],
        ["user", "bkthomps"],
      ],
    ];
    const r = await ask("example7", both);
    assert.deepEqual(r.statuses[0], { code: "OK", limitRemaining: 0 });
    assert.equal(r.statuses[1].limitRemaining, 1);
    assert.equal(stats.value("ratelimit.service.rate_limit.example7.key_1_value_1.user_bkthomps.total_hits"), 0);
    // Alone, the first limit applies.
    const alone = await ask("example7", [both[0]]);
    assert.equal(alone.statuses[0].currentLimit?.name, "specific_limit");
  });

  it("unlimited: OK with limit_remaining 4294967295, never counted", async () => {
    const { ask, store } = setup("domain: i\ndescriptors:\n  - key: ldap\n    rate_limit: {unlimited: true}\n");
    const r = await ask("i", [[["ldap", "x"]]]);
    assert.deepEqual(r.statuses, [{ code: "OK", limitRemaining: 4294967295 }]);
    assert.equal(store.size, 0);
  });

  it("overall OVER_LIMIT when any descriptor is over", async () => {
    const { ask } = setup(TASK);
    await ask("ratelimit", [[["PATH", "/productpage"]]]);
    const r = await ask("ratelimit", [[["PATH", "/x"]], [["PATH", "/productpage"]]]);
    assert.deepEqual(
      r.statuses.map((s) => s.code),
      ["OK", "OVER_LIMIT"],
    );
    assert.equal(r.overallCode, "OVER_LIMIT");
  });

  it("quota mode: over only when every quota descriptor is over", async () => {
    const { ask } = setup("domain: q\ndescriptors:\n  - key: a\n    quota_mode: true\n    rate_limit: {unit: minute, requests_per_unit: 1}\n  - key: b\n    quota_mode: true\n    rate_limit: {unit: minute, requests_per_unit: 2}\n");
    await ask("q", [[["a", ""]], [["b", ""]]]);
    const second = await ask("q", [[["a", ""]], [["b", ""]]]);
    assert.deepEqual([second.overallCode, ...second.statuses.map((s) => s.code)], ["OK", "OVER_LIMIT", "OK"]);
    const third = await ask("q", [[["a", ""]], [["b", ""]]]);
    assert.equal(third.overallCode, "OVER_LIMIT");
  });

  it("global shadow mode answers OK and counts it", async () => {
    const { ask, stats } = setup(TASK, { globalShadowMode: true });
    await ask("ratelimit", [[["PATH", "/productpage"]]]);
    const r = await ask("ratelimit", [[["PATH", "/productpage"]]]);
    assert.equal(r.overallCode, "OK");
    assert.equal(r.statuses[0].code, "OVER_LIMIT");
    assert.equal(stats.service.global_shadow_mode, 1);
  });

  it("RateLimit-* headers only when enabled, from the descriptor closest to its limit", async () => {
    const off = setup(TASK);
    assert.deepEqual((await off.ask("ratelimit", [[["PATH", "/x"]]])).responseHeadersToAdd, []);
    const on = setup(TASK, { responseHeaders: DEFAULT_RESPONSE_HEADERS });
    on.clock.t = T0 + 15_000;
    const r = await on.ask("ratelimit", [[["PATH", "/x"]], [["PATH", "/productpage"]]]);
    assert.deepEqual(r.responseHeadersToAdd, [
      { key: "RateLimit-Limit", value: "1" },
      { key: "RateLimit-Remaining", value: "0" },
      { key: "RateLimit-Reset", value: "45" },
    ]);
  });

  it("refuses what the reference refuses, and oversized requests", async () => {
    const { service, stats } = setup(TASK);
    const refused = async (req: RateLimitRequestIn, message: RegExp, invalid: boolean) => {
      await assert.rejects(service.shouldRateLimit(req), (e: unknown) => e instanceof ServiceError && message.test(e.message) && e.invalidArgument === invalid);
    };
    await refused({ domain: "", descriptors: [{ entries: [{ key: "a", value: "b" }] }] }, /^rate limit domain must not be empty$/, false);
    await refused({ domain: "ratelimit", descriptors: [] }, /^rate limit descriptor list must not be empty$/, false);
    await refused({ domain: "ratelimit", descriptors: Array.from({ length: 65 }, () => ({ entries: [{ key: "a", value: "b" }] })) }, /more than 64 descriptors/, true);
    await refused({ domain: "ratelimit", descriptors: [{ entries: [{ key: "PATH", value: "x".repeat(4097) }] }] }, /descriptors\[0\]\.entries\[0\]\.value is longer than 4096/, true);
    await refused({ domain: "ratelimit", descriptors: [{ entries: [{ key: "a", value: "b" }], limit: { requestsPerUnit: 1, unit: "UNKNOWN" } }] }, /limit\.unit "UNKNOWN"/, true);
    assert.equal(stats.service["call.should_rate_limit.service_error"], 5);
    const fresh = new RateLimitService(new FixedWindowLimiter(new MemoryCounterStore({ clock: new FakeClock(), sweepEveryMs: 0 }), { clock: new FakeClock() }), new RateLimitStatsManager());
    await assert.rejects(fresh.shouldRateLimit({ domain: "d", descriptors: [{ entries: [] }] }), /no rate limit configuration loaded/);
  });
});
