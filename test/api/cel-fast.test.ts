// Differential test: each native fast path must agree with the CEL engine on the same values.
import assert from "node:assert/strict";
import { test } from "node:test";
import { evalRule, toCel } from "../../src/api/cel.js";
import { FAST_RULES } from "../../src/api/cel-fast.js";
import { kinds } from "../../src/api/kinds.js";
import type { OpenApiSchema } from "../../src/api/schema.js";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const samples: Json[] = [
  "1ms", "0.5ms", "1s", "0s", "0", "-1s", "1.5s", "1m30s", "2h", "10us", "999us", "1000us", "apple", "", "1", "s", "1.s", ".5s", "1e3s", "+1s", "1h1h",
  "300000000000000s", "1000000000000000s",
  0, 1, 80, 65535, 65536, -1, 4294967295,
  "*", "a*b", "foo", "HTTP", "HTTPS", "http",
  {}, { a: 1 }, { "": 1 }, { "a*": 1 }, { http: 1 }, { "-bad": 1 }, { "a-b": 1, "x1": 2 }, { ["a".repeat(62)]: 1 }, { ["a".repeat(63)]: 1 }, { "é": 1 },
  "unix://", "unix:///a", "unix://@abs", "unix://rel", "unix:///dir/",
  { workloadSelector: {}, endpoints: [] }, { workloadSelector: {} }, { endpoints: [{ address: "a" }] }, { endpoints: [{ address: "a" }, { address: "b" }], resolution: "DNS_ROUND_ROBIN" },
  { endpoints: [{ address: "a" }], resolution: "DNS_ROUND_ROBIN" }, { resolution: "NONE", endpoints: [] }, { resolution: "STATIC", endpoints: [] }, { resolution: "DNS" },
  { addresses: ["1.2.3.4/16"], resolution: "DNS" }, { addresses: ["1.2.3.4/16"] }, { addresses: ["1.2.3.4"], resolution: "DNS" }, { addresses: ["1.2.3.4/16"], resolution: "STATIC" },
  { address: "unix:///x", ports: { http: 80 } }, { address: "unix:///x" }, { address: "1.1.1.1", ports: { http: 80 } }, { network: "n" }, { address: "" },
  { selector: {}, targetRef: {} }, { selector: {} }, { targetRef: {}, targetRefs: [] }, { targetRefs: [] },
  { serviceAccounts: ["a"], namespaces: ["b"] }, { serviceAccounts: ["a"] }, { notServiceAccounts: ["a"], notPrincipals: ["p"] }, { principals: ["p"] },
  [], [{ number: 1 }], [{ number: 1 }, { number: 2 }], [{ number: 1 }, { number: 1 }], [{ name: "x" }],
];

/** A schema shaped like the value, so toCel types integers as CEL ints as the CRDs declare them. */
function schemaFor(v: Json): OpenApiSchema {
  if (typeof v === "number") return { type: "integer" };
  if (typeof v === "string") return { type: "string" };
  if (Array.isArray(v)) return { type: "array", items: { type: "object", properties: { number: { type: "integer" }, name: { type: "string" } } } };
  if (v && typeof v === "object") {
    // Field-shaped objects (the shape rules) keep their values; port maps get integer values.
    const fields = ["workloadSelector", "endpoints", "addresses", "resolution", "address", "ports", "network", "selector", "targetRef", "targetRefs", "serviceAccounts", "notServiceAccounts", "principals", "notPrincipals", "namespaces", "notNamespaces"];
    if (Object.keys(v).some((k) => fields.includes(k))) return { type: "object", properties: { ports: { type: "object", additionalProperties: { type: "integer" } } } };
    return { type: "object", additionalProperties: { type: "integer" } };
  }
  return {};
}

/** The JSON type of `self` each rule sees (the CRD schema guarantees it before rules run). */
function applies(rule: string, v: Json): boolean {
  if (rule.startsWith("duration(") || rule.includes(".contains(\"*\")") && !rule.includes("key") || rule.startsWith("self in") || rule.startsWith("self !=")) return typeof v === "string";
  if (rule.startsWith("0 < self")) return typeof v === "number";
  if (rule.startsWith("self.startsWith")) return typeof v === "string";
  if (rule.startsWith("self.all(key") || rule.includes("has(self.")) return typeof v === "object" && v !== null && !Array.isArray(v);
  if (rule.startsWith("self.all(l1")) return Array.isArray(v);
  return true;
}

test("every fast rule agrees with CEL on every sample of the type the rule applies to", () => {
  let compared = 0;
  for (const [rule, fast] of FAST_RULES) {
    for (const v of samples) {
      if (!applies(rule, v)) continue;
      const viaCel = evalRule(rule, toCel(v, schemaFor(v)));
      // Where CEL cannot even type-check the rule for this value, any "false" is equivalent.
      const expected = viaCel.ok;
      assert.equal(fast(v), expected, `${rule} on ${JSON.stringify(v)}: CEL says ${expected}${"evalError" in viaCel && viaCel.evalError ? ` (${viaCel.evalError})` : ""}`);
      compared++;
    }
  }
  assert.ok(compared > 100, `compared ${compared}`);
});

test("the fast rules are the ones Istio's CRDs repeat", () => {
  const used = new Map<string, number>();
  const walk = (s: unknown) => {
    if (Array.isArray(s)) return s.forEach(walk);
    if (s && typeof s === "object") {
      for (const r of (s as OpenApiSchema)["x-kubernetes-validations"] ?? []) used.set(r.rule, (used.get(r.rule) ?? 0) + 1);
      Object.values(s).forEach(walk);
    }
  };
  // Istio's CRDs only: the Gateway API's rules are mostly one-offs, evaluated by the CEL engine.
  for (const k of kinds().values()) if (k.group.endsWith("istio.io")) walk(k.schema);
  for (const rule of FAST_RULES.keys()) assert.ok(used.has(rule), `fast rule not used by any CRD: ${rule}`);
  const covered = [...used].filter(([r]) => FAST_RULES.has(r)).reduce((a, [, n]) => a + n, 0);
  const total = [...used.values()].reduce((a, b) => a + b, 0);
  assert.ok(covered / total > 0.6, `fast paths cover ${covered} of ${total} rule uses`);
});
