// kubectl's shapes in `tsmesh get`: AGE as apimachinery's HumanDuration prints it, and columns padded
// as kubectl's tabwriter pads them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatTable, humanDuration } from "../../src/cli/output.js";

// kubectl's tables: three spaces after the widest cell.
const kubectlTable = (rows: string[][]) => formatTable(rows[0], rows.slice(1), { gap: 3 }).split("\n");

test("AGE reads as kubectl's", () => {
  const s = 1000;
  const m = 60 * s;
  const h = 60 * m;
  const d = 24 * h;
  const cases: Array<[number, string]> = [
    [-5 * s, "<invalid>"],
    [-1 * s, "0s"],
    [0, "0s"],
    [45 * s, "45s"],
    [119 * s, "119s"],
    [2 * m, "2m"],
    [2 * m + 30 * s, "2m30s"],
    [9 * m + 59 * s, "9m59s"],
    [10 * m + 30 * s, "10m"],
    [179 * m, "179m"],
    [3 * h, "3h"],
    [4 * h + 5 * m, "4h5m"],
    [8 * h, "8h"],
    [47 * h, "47h"],
    [2 * d, "2d"],
    [3 * d + 4 * h, "3d4h"],
    [8 * d, "8d"],
    [400 * d, "400d"],
    [2 * 365 * d + 30 * d, "2y30d"],
    [3 * 365 * d, "3y"],
    [9 * 365 * d + 100 * d, "9y"],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms} ms`);
});

test("columns are padded three spaces past the widest cell, the last one not at all", () => {
  assert.deepEqual(kubectlTable([["NAME", "AGE"], ["reviews", "5m"], ["ratings-long-name", "12d"]]), ["NAME                AGE", "reviews             5m", "ratings-long-name   12d"]);
  assert.deepEqual(kubectlTable([["NAMESPACE", "NAME", "AGE"], ["default", "a", "1s"]]), ["NAMESPACE   NAME   AGE", "default     a      1s"]);
});
