// Debouncer with real timers and short windows (quiet 20 ms, max 100 ms).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Debouncer } from "../../../src/xds/server/debounce.js";
import type { PushRequest } from "../../../src/xds/server/types.js";
import { sleep } from "./helpers.js";

const ev = (p: Partial<PushRequest> = {}): PushRequest => ({ full: true, reasons: ["config"], start: Date.now(), context: undefined, ...p });

test("debounce: a burst is merged into one flush after the quiet period", async () => {
  const flushed: PushRequest[] = [];
  const d = new Debouncer((r) => void flushed.push(r), { quietMs: 20, maxMs: 100 });
  for (let i = 0; i < 5; i++) d.add(ev({ reasons: [`r${i}`], context: i }));
  await sleep(5);
  assert.equal(flushed.length, 0);
  await sleep(40);
  assert.equal(flushed.length, 1);
  assert.deepEqual(flushed[0].reasons, ["r0", "r1", "r2", "r3", "r4"]);
  assert.equal(flushed[0].context, 4);
  d.close();
});

test("debounce: a steady stream of events still flushes by the max wait", async () => {
  const flushedAt: number[] = [];
  const d = new Debouncer(() => void flushedAt.push(Date.now()), { quietMs: 20, maxMs: 100 });
  const t0 = Date.now();
  while (Date.now() - t0 < 160) {
    d.add(ev());
    await sleep(8);
  }
  d.close();
  assert.ok(flushedAt.length >= 1, "flushed during the stream");
  const first = flushedAt[0] - t0;
  assert.ok(first >= 95 && first < 150, `first flush at ${first} ms`);
});

test("debounce: an EDS-only event merged with a full one makes a full push", async () => {
  const flushed: PushRequest[] = [];
  const d = new Debouncer((r) => void flushed.push(r), { quietMs: 20, maxMs: 100 });
  d.add(ev({ full: false, edsUpdates: new Set(["a"]), reasons: ["endpoint"], start: 5 }));
  d.add(ev({ full: true, reasons: ["config"], start: 9 }));
  await sleep(50);
  assert.equal(flushed.length, 1);
  assert.equal(flushed[0].full, true);
  assert.equal(flushed[0].start, 5);
  assert.deepEqual(flushed[0].reasons, ["endpoint", "config"]);

  d.add(ev({ full: false, edsUpdates: new Set(["a"]), reasons: ["endpoint"] }));
  d.add(ev({ full: false, edsUpdates: new Set(["b"]), reasons: ["endpoint"] }));
  await sleep(50);
  assert.equal(flushed.length, 2);
  assert.equal(flushed[1].full, false);
  assert.deepEqual([...(flushed[1].edsUpdates ?? [])].sort(), ["a", "b"]);
  d.close();
});

test("debounce: flushes never overlap; events during a flush wait for it", async () => {
  let running = 0;
  let overlap = false;
  const flushed: PushRequest[] = [];
  const d = new Debouncer(
    async (r) => {
      running++;
      if (running > 1) overlap = true;
      flushed.push(r);
      await sleep(60);
      running--;
    },
    { quietMs: 10, maxMs: 30 },
  );
  d.add(ev({ reasons: ["a"] }));
  await sleep(20); // first flush is running now
  assert.equal(flushed.length, 1);
  d.add(ev({ reasons: ["b"] }));
  d.add(ev({ reasons: ["c"] }));
  await sleep(30);
  assert.equal(flushed.length, 1, "held back while the first flush runs");
  await sleep(60);
  assert.equal(flushed.length, 2);
  assert.deepEqual(flushed[1].reasons, ["b", "c"]);
  assert.equal(overlap, false);
  await sleep(70);
  d.close();
});

test("debounce: close() drops pending events and clears timers", async () => {
  const flushed: PushRequest[] = [];
  const d = new Debouncer((r) => void flushed.push(r), { quietMs: 20, maxMs: 100 });
  d.add(ev());
  assert.equal(d.hasPending, true);
  d.close();
  await sleep(40);
  assert.equal(flushed.length, 0);
  d.add(ev());
  assert.equal(d.hasPending, false);
});

test("debounce: injected clock and timer", () => {
  let now = 0;
  const timers: Array<{ at: number; fn: () => void; cancelled: boolean }> = [];
  const flushed: PushRequest[] = [];
  const d = new Debouncer((r) => void flushed.push(r), {
    quietMs: 100,
    maxMs: 250,
    now: () => now,
    setTimer: (fn, ms) => {
      const t = { at: now + ms, fn, cancelled: false };
      timers.push(t);
      return () => (t.cancelled = true);
    },
  });
  const advance = (to: number): void => {
    now = to;
    for (const t of [...timers]) {
      if (!t.cancelled && t.at <= now) {
        t.cancelled = true;
        t.fn();
      }
    }
  };
  d.add(ev());
  advance(60);
  d.add(ev());
  advance(100); // quiet only 40 ms: re-armed
  assert.equal(flushed.length, 0);
  advance(160);
  assert.equal(flushed.length, 1);
  // Events every 50 ms: max (250) forces a flush.
  for (let t = 200; t <= 450; t += 50) {
    now = t;
    d.add(ev());
    advance(t);
  }
  advance(450);
  assert.equal(flushed.length, 2);
  d.close();
});
