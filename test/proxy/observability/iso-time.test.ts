// START_TIME's default text (Date#toISOString) built from a per-second cache: the same text as
// toISOString for every instant, across second, minute and year boundaries, fractional
// milliseconds, and outside the years 0–9999 (where the cache is not used).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isoTime } from "../../../src/proxy/observability/access-log-format.js";

describe("isoTime (START_TIME without a format)", () => {
  it("equals Date#toISOString (table, visited in an order that reuses and replaces the cached second)", () => {
    const cases = [
      0, 1, 9, 10, 99, 100, 999, 1000, 1001, 59_999, 60_000, 1_606_339_578_409, 1_606_339_578_409.9, 1_606_339_578_999, 1_606_339_579_000, 1_606_339_578_001,
      Date.UTC(2020, 11, 31, 23, 59, 59, 999), Date.UTC(2021, 0, 1), 253_402_300_799_999, 253_402_300_800_000, -1, -62_167_219_200_000, 8.64e15,
    ];
    for (const t of cases) assert.equal(isoTime(t), new Date(t).toISOString(), String(t));
  });

  it("an invalid time throws as toISOString does", () => {
    assert.throws(() => isoTime(Number.NaN), RangeError);
  });
});
