// Envoy's continuously filled token bucket with an injected clock: starts full, refills at
// tokens_per_fill / fill_interval, never beyond max_tokens; a plan consumes bucket by bucket and
// stops at the first without a token; full buckets are swept (equal to new ones).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LocalTokenBuckets, TokenBucket } from "../../../src/proxy/ratelimit/token-bucket.js";

function manualClock(start = 1000) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe("TokenBucket (AtomicTokenBucket semantics)", () => {
  it("4 tokens per 60 s: four requests pass, the fifth is refused, one token back after 15 s", () => {
    const clock = manualClock();
    const b = new TokenBucket(4, 4 / 60, clock);
    for (let i = 0; i < 4; i++) {
      assert.equal(b.consume(), true, `request ${i + 1}`);
      clock.t += 1000;
    }
    // 4 s passed: 4/60*4 ≈ 0.27 tokens
    assert.equal(b.consume(), false);
    assert.equal(b.remaining(), 0);
    // 11 s to the next token, less rounding: Envoy truncates the milliseconds, then the seconds.
    assert.ok([10, 11].includes(b.resetSeconds()));
    // 0.2 tokens were left by the 4th request at 3 s; a whole one is back 12 s later (15 s after the first).
    clock.t += 10_900;
    assert.equal(b.consume(), false, "0.99 tokens at 14.9 s are not one");
    clock.t += 200;
    assert.equal(b.consume(), true);
    assert.equal(b.consume(), false);
  });

  it("never holds more than max_tokens, however long it waits", () => {
    const clock = manualClock();
    const b = new TokenBucket(3, 1, clock);
    clock.t += 3_600_000;
    assert.equal(b.remaining(), 3);
    assert.equal(b.full(), true);
    for (let i = 0; i < 3; i++) assert.equal(b.consume(), true);
    assert.equal(b.consume(), false);
    assert.equal(b.full(), false);
  });

  it("a partial token is not enough", () => {
    const clock = manualClock();
    const b = new TokenBucket(1, 10, clock); // a token per 100 ms
    assert.equal(b.consume(), true);
    clock.t += 99;
    assert.equal(b.consume(), false);
    clock.t += 2;
    assert.equal(b.consume(), true);
  });
});

describe("LocalTokenBuckets", () => {
  it("consumes a plan in order and reports the bucket that refused", () => {
    const clock = manualClock();
    const store = new LocalTokenBuckets(clock);
    const slow = { key: "slow", maxTokens: 1, fillRate: 0.001 };
    const fast = { key: "fast", maxTokens: 5, fillRate: 1 };
    const v1 = store.consume([slow, fast]);
    assert.deepEqual(v1, { allowed: true, maxTokens: 1, remaining: 0, resetSeconds: 1000 });
    const v2 = store.consume([slow, fast]);
    assert.equal(v2.allowed, false);
    assert.equal(v2.maxTokens, 1);
    // The refused plan stopped at `slow`: `fast` still has 4 of 5.
    assert.deepEqual(store.consume([fast]), { allowed: true, maxTokens: 5, remaining: 3, resetSeconds: 0 });
    assert.deepEqual(store.consume([]), { allowed: true, maxTokens: 0, remaining: 0, resetSeconds: 0 });
  });

  it("a key whose limits change is a new bucket; the same key and limits share one", () => {
    const clock = manualClock();
    const store = new LocalTokenBuckets(clock);
    assert.equal(store.consume([{ key: "k", maxTokens: 1, fillRate: 0.01 }]).allowed, true);
    assert.equal(store.consume([{ key: "k", maxTokens: 1, fillRate: 0.01 }]).allowed, false);
    assert.equal(store.consume([{ key: "k", maxTokens: 2, fillRate: 0.01 }]).allowed, true);
  });

  it("sweeps full buckets once many keys pile up, keeping the ones in use", () => {
    const clock = manualClock();
    const store = new LocalTokenBuckets(clock);
    assert.equal(store.consume([{ key: "busy", maxTokens: 1, fillRate: 0.0001 }]).allowed, true);
    for (let i = 0; i < 1023; i++) store.consume([{ key: `old${i}`, maxTokens: 10, fillRate: 1000 }]);
    clock.t += 1000; // the old ones refill
    store.consume([{ key: "new", maxTokens: 1, fillRate: 1 }]);
    assert.ok(store.size < 10, `size ${store.size}`);
    assert.equal(store.consume([{ key: "busy", maxTokens: 1, fillRate: 0.0001 }]).allowed, false, "the empty bucket survived the sweep");
  });
});
