// Envoy's route hedge_policy: tsmesh's router sends one request per try and never hedges, so a
// policy that asks for hedging is refused with its field path (fail closed); the defaults, which ask
// for nothing, are accepted.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileHedgePolicy } from "../../../src/proxy/http/route-policies.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";
import type * as v3 from "../../../src/envoy/types.js";

describe("hedge_policy", () => {
  const accepted: Array<[string, v3.HedgePolicy]> = [
    ["empty", {}],
    ["initial_requests 1", { initialRequests: { value: 1 } }],
    ["additional_request_chance 0", { additionalRequestChance: { numerator: 0 } }],
    ["hedge_on_per_try_timeout false", { hedgeOnPerTryTimeout: false }],
  ];
  for (const [what, p] of accepted) {
    it(`accepted: ${what}`, () => assert.equal(compileHedgePolicy(p, "route").hedgeOnPerTryTimeout, false));
  }
  const refused: Array<[string, v3.HedgePolicy, string]> = [
    ["hedge_on_per_try_timeout", { hedgeOnPerTryTimeout: true }, "route.hedgeOnPerTryTimeout"],
    ["initial_requests 2", { initialRequests: { value: 2 } }, "route.initialRequests"],
    ["additional_request_chance 10%", { additionalRequestChance: { numerator: 10 } }, "route.additionalRequestChance"],
  ];
  for (const [what, p, path] of refused) {
    it(`refused: ${what}`, () => assert.throws(() => compileHedgePolicy(p, "route"), (e: unknown) => e instanceof XdsConfigError && e.path === path && /hedging is not implemented/.test(e.message)));
  }
});
