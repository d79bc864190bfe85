// The acceptance ranges that statistical e2e assertions use, against ranges computed independently
// with exact rational arithmetic (Python's fractions.Fraction and math.comb; each tail below half
// the false-failure rate).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { binomialRange } from "./binomial.js";

describe("binomialRange", () => {
  const cases: Array<[number, number, [number, number]]> = [
    [400, 0.5, [139, 261]],
    [400, 0.25, [51, 155]],
    [300, 0.5, [98, 202]],
    [1000, 0.8, [719, 873]],
    [2000, 0.1, [123, 287]],
    [20, 0.5, [0, 20]],
  ];
  for (const [n, p, want] of cases) {
    it(`Binomial(${n}, ${p}) → ${want.join("..")}`, () => assert.deepEqual(binomialRange(n, p), want));
  }

  it("a looser false-failure rate gives a narrower range (1e-3: 167..233)", () => assert.deepEqual(binomialRange(400, 0.5, 1e-3), [167, 233]));

  it("refuses a probability that is not strictly between 0 and 1", () => {
    for (const p of [0, 1, -0.5, Number.NaN]) assert.throws(() => binomialRange(10, p), /binomialRange/);
  });
});
