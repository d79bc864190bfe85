// bench:proxy's verdict on its CPU-ratio goals: rounds run one after the other on a shared VM vary
// more than the margins judged, so only rounds that agree settle a goal.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { judgeRatio } from "../../bench/proxy/report.js";

describe("bench:proxy ratio goal verdict", () => {
  const cases: Array<[string, number[], RegExp]> = [
    ["every round within", [1.05, 1.1, 1.12], /^met$/],
    ["every round over", [1.2, 1.3, 1.16], /^NOT met$/],
    ["rounds on both sides", [0.9, 1.25, 1.1, 1.6, 1.05], /^unsettled: 3 of 5 rounds within the goal \(settle with bench\/profiling\/concurrent-pair\.sh pair-mtls pair-telemetry\)$/],
    ["one round within", [1.1], /^met \(one round: noisy; /],
    ["one round over", [1.3], /^NOT met \(one round: noisy; /],
    ["a round that measured nothing counts as over", [1.1, Number.NaN], /^unsettled: 1 of 2/],
    ["exactly the goal is within it", [1.15, 1.15], /^met$/],
  ];
  for (const [name, each, want] of cases) {
    it(name, () => assert.match(judgeRatio({ each }, 1.15, "pair-telemetry", "pair-mtls"), want));
  }
});
