// Debouncer on a manual clock (quiet 20 ms, max 100 ms): when a flush happens is checked exactly,
// whatever the load on the machine.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Debouncer, type DebouncerOptions } from "../../../src/xds/server/debounce.js";
import type { PushRequest } from "../../../src/xds/server/types.js";
import { FakeClock } from "../../helpers/fake-clock.js";

const ev = (p: Partial<PushRequest> = {}): PushRequest => ({ full: true, reasons: ["config"], start: 0, context: undefined, ...p });

function debouncer(onFlush: (r: PushRequest) => void | Promise<void>, options: DebouncerOptions = { quietMs: 20, maxMs: 100 }) {
  const clock = new FakeClock();
  const d = new Debouncer(onFlush, {
    ...options,
    now: () => clock.now(),
    setTimer: (fn, ms) => {
      const h = clock.setTimeout(fn, ms);
      return () => clock.clearTimeout(h);
    },
  });
  return { d, clock };
}

/** Lets promise callbacks (a flush settling) run. */
const settle = () => new Promise((r) => setImmediate(r));

test("debounce: a burst is merged into one flush after the quiet period", () => {
  const flushed: PushRequest[] = [];
  const { d, clock } = debouncer((r) => void flushed.push(r));
  for (let i = 0; i < 5; i++) d.add(ev({ reasons: [`r${i}`], context: i }));
  clock.advance(19);
  assert.equal(flushed.length, 0, "not before 20 ms of quiet");
  clock.advance(1);
  assert.equal(flushed.length, 1);
  assert.deepEqual(flushed[0].reasons, ["r0", "r1", "r2", "r3", "r4"]);
  assert.equal(flushed[0].context, 4);
  clock.advance(1000);
  assert.equal(flushed.length, 1, "nothing more to flush");
  d.close();
});

test("debounce: each new event restarts the quiet period", () => {
  const flushedAt: number[] = [];
  const { d, clock } = debouncer(() => void flushedAt.push(clock.now()));
  d.add(ev());
  clock.advance(15);
  d.add(ev());
  clock.advance(15);
  assert.deepEqual(flushedAt, [], "quiet only 15 ms");
  clock.advance(5);
  assert.deepEqual(flushedAt, [35]);
  d.close();
});

test("debounce: a steady stream of events still flushes by the max wait", () => {
  const flushedAt: number[] = [];
  const { d, clock } = debouncer(() => void flushedAt.push(clock.now()));
  // An event every 8 ms: never 20 ms of quiet, so only the max wait (100 ms after the first) flushes.
  for (let t = 0; t < 260; t += 8) {
    d.add(ev());
    clock.advance(8);
  }
  d.close();
  assert.ok(flushedAt.length >= 2, `flushed during the stream: ${flushedAt.join(", ")}`);
  assert.equal(flushedAt[0], 100, "the first flush comes exactly at the max wait");
  // The next batch starts with the first event after that flush and flushes 100 ms later.
  assert.ok(flushedAt[1] > 200 && flushedAt[1] <= 208, `second flush at ${flushedAt[1]} ms`);
});

test("debounce: an EDS-only event merged with a full one makes a full push", () => {
  const flushed: PushRequest[] = [];
  const { d, clock } = debouncer((r) => void flushed.push(r));
  d.add(ev({ full: false, edsUpdates: new Set(["a"]), reasons: ["endpoint"], start: 5 }));
  d.add(ev({ full: true, reasons: ["config"], start: 9 }));
  clock.advance(50);
  assert.equal(flushed.length, 1);
  assert.equal(flushed[0].full, true);
  assert.equal(flushed[0].start, 5);
  assert.deepEqual(flushed[0].reasons, ["endpoint", "config"]);

  d.add(ev({ full: false, edsUpdates: new Set(["a"]), reasons: ["endpoint"] }));
  d.add(ev({ full: false, edsUpdates: new Set(["b"]), reasons: ["endpoint"] }));
  clock.advance(50);
  assert.equal(flushed.length, 2);
  assert.equal(flushed[1].full, false);
  assert.deepEqual([...(flushed[1].edsUpdates ?? [])].sort(), ["a", "b"]);
  d.close();
});

test("debounce: flushes never overlap; events during a flush wait for it", async () => {
  let running = 0;
  let overlap = false;
  const flushed: PushRequest[] = [];
  const finish: Array<() => void> = [];
  const { d, clock } = debouncer(
    (r) => {
      running++;
      if (running > 1) overlap = true;
      flushed.push(r);
      return new Promise<void>((resolve) =>
        finish.push(() => {
          running--;
          resolve();
        }),
      );
    },
    { quietMs: 10, maxMs: 30 },
  );
  d.add(ev({ reasons: ["a"] }));
  clock.advance(10);
  assert.equal(flushed.length, 1, "the first flush is running");
  d.add(ev({ reasons: ["b"] }));
  d.add(ev({ reasons: ["c"] }));
  clock.advance(1000);
  await settle();
  assert.equal(flushed.length, 1, "held back while the first flush runs, however long it takes");
  finish.shift()!();
  await settle();
  // Their quiet and max clocks ran during the flush: they go at once.
  assert.equal(flushed.length, 2);
  assert.deepEqual(flushed[1].reasons, ["b", "c"]);
  assert.equal(overlap, false);
  finish.shift()!();
  await settle();
  d.close();
});

test("debounce: close() drops pending events and clears timers", () => {
  const flushed: PushRequest[] = [];
  const { d, clock } = debouncer((r) => void flushed.push(r));
  d.add(ev());
  assert.equal(d.hasPending, true);
  d.close();
  assert.equal(clock.pending, 0, "no timer left");
  clock.advance(1000);
  assert.equal(flushed.length, 0);
  d.add(ev());
  assert.equal(d.hasPending, false);
  assert.equal(clock.pending, 0);
});

test("debounce: with real timers (the defaults), a burst is flushed once", async () => {
  const flushed: PushRequest[] = [];
  const d = new Debouncer((r) => void flushed.push(r), { quietMs: 5, maxMs: 50 });
  d.add(ev({ reasons: ["x"] }));
  d.add(ev({ reasons: ["y"] }));
  for (let i = 0; i < 500 && flushed.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(flushed.length, 1);
  assert.deepEqual(flushed[0].reasons, ["x", "y"]);
  d.close();
});

test("debounce: onFlushed reports the delay from the first merged event until the push was handed over (pilot_debounce_time)", async () => {
  const delays: number[] = [];
  const finish: Array<() => void> = [];
  let async = false;
  const { d, clock } = debouncer(
    () => {
      if (!async) return;
      return new Promise<void>((resolve) => finish.push(resolve));
    },
    { quietMs: 20, maxMs: 100, onFlushed: (ms) => delays.push(ms) },
  );
  clock.advance(7);
  d.add(ev());
  clock.advance(15);
  d.add(ev());
  clock.advance(20);
  assert.deepEqual(delays, [35], "first event at 7, flushed at 42 after 20 ms of quiet");

  // A flush that returns a promise is measured when it settles (istiod records after the push fn returns).
  async = true;
  d.add(ev());
  clock.advance(20);
  assert.deepEqual(delays, [35], "not yet: the flush is still running");
  d.add(ev()); // arrives during the flush: its own delay starts now
  clock.advance(30);
  finish.shift()!();
  await settle();
  assert.deepEqual(delays, [35, 50]);
  // The held-back event went at once when the first flush settled (its quiet clock ran): 30 ms after it arrived.
  finish.shift()!();
  await settle();
  assert.deepEqual(delays, [35, 50, 30]);
  d.close();
});
