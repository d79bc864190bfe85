// Shared CLI output: tabwriter-like tables cut to a terminal's width, colour only on a TTY without
// NO_COLOR, byte-stable machine output.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatTable, machineOutput, painter, terminalWidth, useColour } from "../../src/cli/output.js";

test("tables: columns padded to the widest cell, gap as asked, the last column unpadded", () => {
  const t = formatTable(["NAME", "PORT"], [["reviews", "9080"], ["a", "1"]], { gap: 3 });
  assert.equal(t, "NAME      PORT\nreviews   9080\na         1");
});

test("tables: a line longer than the width is cut with an ellipsis", () => {
  const t = formatTable(["A", "B"], [["x".repeat(30), "y".repeat(30)]], { width: 20 });
  for (const l of t.split("\n")) assert.ok(l.length <= 20, l);
  assert.ok(t.split("\n")[1].endsWith("…"));
  assert.equal(terminalWidth({ isTTY: false, columns: 80 }), undefined);
  assert.equal(terminalWidth({ isTTY: true, columns: 80 }), 80);
});

test("colour only on a TTY and without NO_COLOR", () => {
  assert.equal(useColour({ isTTY: true }, {}), true);
  assert.equal(useColour({ isTTY: true }, { NO_COLOR: "1" }), false);
  assert.equal(useColour({ isTTY: false }, {}), false);
  assert.equal(painter(false)("red", "STALE"), "STALE");
  assert.equal(painter(true)("red", "STALE"), "\x1b[31mSTALE\x1b[0m");
});

test("machine output: keys sorted at every depth unless the order is kept", () => {
  assert.equal(machineOutput({ b: 1, a: { d: 2, c: [{ z: 1, y: 2 }] } }, "json"), JSON.stringify({ a: { c: [{ y: 2, z: 1 }], d: 2 }, b: 1 }, null, 2));
  assert.equal(machineOutput({ b: 1, a: 2 }, "json", true), JSON.stringify({ b: 1, a: 2 }, null, 2));
  assert.equal(machineOutput({ b: 1, a: "x" }, "yaml"), "a: x\nb: 1");
});
