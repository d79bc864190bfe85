// The coarse timer lists (src/core/timers.ts): arm, refresh, cancel, re-arm.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TimerList } from "../../src/core/timers.js";

describe("coarse timer lists", () => {
  it("fires in deadline order; refresh pushes a deadline out; cancel stops it", async () => {
    const l = new TimerList(40);
    const fired: string[] = [];
    const a = l.start(() => fired.push("a"));
    const b = l.start(() => fired.push("b"));
    const c = l.start(() => fired.push("c"));
    await new Promise((r) => setTimeout(r, 20));
    a.refresh();
    b.cancel();
    await new Promise((r) => setTimeout(r, 35));
    assert.deepEqual(fired, ["c"]);
    assert.equal(a.armed, true);
    assert.equal(b.armed, false);
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(fired, ["c", "a"]);
    assert.equal(a.armed, false);
    void c;
  });

  it("re-arms an entry that fired, and keeps working after the list emptied", async () => {
    const l = new TimerList(10);
    let n = 0;
    const e = l.start(() => n++);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(n, 1);
    l.add(e);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(n, 2);
  });
});
