// The proxy's one-time release of start-up memory: V8's young generation, grown while loading,
// shrinks back to its minimum (and would grow again under load).
import assert from "node:assert/strict";
import { test } from "node:test";
import v8 from "node:v8";
import { releaseMemoryWhenSettled, releaseStartupMemory } from "../../src/cli/proxy-workers.js";

const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")!.space_size;

/** Allocates enough surviving objects for V8 to grow the young generation. */
function grow(): unknown[] {
  const keep: unknown[] = [];
  for (let i = 0; i < 300_000; i++) keep.push({ i, s: `x${i}` });
  return keep;
}

test("releaseStartupMemory shrinks the young generation start-up grew", async () => {
  let keep: unknown[] | undefined = grow();
  const grown = newSpace();
  assert.ok(keep.length > 0);
  keep = undefined;
  await releaseStartupMemory();
  const after = newSpace();
  assert.ok(after < grown, `new space ${grown} → ${after} bytes`);
  assert.ok(after <= 4 * 1024 * 1024, `new space back near its minimum (${after} bytes)`);
});

test("releaseMemoryWhenSettled releases after the calls stop", async () => {
  let keep: unknown[] | undefined = grow();
  const grown = newSpace();
  const settled = releaseMemoryWhenSettled(50);
  for (let i = 0; i < 5; i++) {
    settled();
    await new Promise((r) => setTimeout(r, 10));
  }
  keep = undefined;
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(newSpace() < grown);
  void keep;
});
