import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { watchParent } from "../../src/local/parent-watch.js";

describe("watchParent", () => {
  function harness(ppids: number[]) {
    let tick: (() => void) | undefined;
    let i = 0;
    let gone = 0;
    const stop = watchParent(() => gone++, {
      ppid: () => ppids[Math.min(i, ppids.length - 1)],
      setInterval: (fn) => (tick = fn),
      clearInterval: () => (tick = undefined),
    });
    return {
      step() {
        i++;
        tick?.();
      },
      get gone() {
        return gone;
      },
      get watching() {
        return tick !== undefined;
      },
      stop,
    };
  }

  it("calls back once when the parent pid changes (re-parented to init or a subreaper)", () => {
    const h = harness([400, 400, 400, 1, 1]);
    h.step();
    h.step();
    assert.equal(h.gone, 0);
    h.step();
    assert.equal(h.gone, 1);
    assert.equal(h.watching, false);
    h.step();
    assert.equal(h.gone, 1);
  });

  it("a subreaper counts as a new parent too", () => {
    const h = harness([400, 77]);
    h.step();
    assert.equal(h.gone, 1);
  });

  it("does not watch when started by init, and stop() ends the watch", () => {
    assert.equal(harness([1]).watching, false);
    const h = harness([400, 1]);
    h.stop();
    assert.equal(h.watching, false);
    assert.equal(h.gone, 0);
  });
});
