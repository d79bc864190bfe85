// The coarse timer lists (src/core/timers.ts): arm, refresh, cancel, re-arm.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TimerList } from "../../src/core/timers.js";
import { eventually } from "../helpers/eventually.js";

describe("coarse timer lists", () => {
  // What is asserted holds however late the machine runs timers: the order, lower bounds on when
  // each fired, and what had fired when; the 500 ms duration only leaves room to refresh in time.
  it("fires in deadline order; refresh pushes a deadline out; cancel stops it", async () => {
    const l = new TimerList(500);
    const fired: Array<[string, number]> = [];
    let aArmedWhenCFired: boolean | undefined;
    const t0 = Date.now();
    const a = l.start(() => fired.push(["a", Date.now()]));
    const b = l.start(() => fired.push(["b", Date.now()]));
    l.start(() => {
      fired.push(["c", Date.now()]);
      aArmedWhenCFired = a.armed;
    });
    await new Promise((r) => setTimeout(r, 20));
    const refreshedAt = Date.now();
    a.refresh();
    b.cancel();
    assert.equal(b.armed, false);
    await eventually("a and c fired", () => fired.length >= 2);
    // b's deadline (t0 + 500) has long passed: had cancel() not worked it would be here.
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(fired.map(([n]) => n), ["c", "a"]);
    assert.ok(fired[0][1] - t0 >= 500, "c at its deadline");
    assert.ok(fired[1][1] - refreshedAt >= 500, "a's deadline moved to its refresh + 500 ms");
    assert.equal(aArmedWhenCFired, true);
    assert.equal(a.armed, false);
  });

  it("re-arms an entry that fired, and keeps working after the list emptied", async () => {
    const l = new TimerList(10);
    let n = 0;
    const e = l.start(() => n++);
    await eventually("fired once", () => n === 1);
    assert.equal(e.armed, false);
    l.add(e);
    assert.equal(e.armed, true);
    await eventually("fired again", () => n === 2);
  });
});
