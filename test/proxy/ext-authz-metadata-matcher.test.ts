// Envoy's MetadataMatcher as ext_authz's filter_enabled_metadata uses it (the proxy's one compiler): a table of value
// matchers against dynamic metadata (present, absent, nested paths, kinds that must not cross),
// Istio's CUSTOM-action gate, and the configs refused with their field path.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ProtoObject } from "../../src/envoy/protos.js";
import { DynamicMetadata } from "../../src/proxy/dynamic-metadata.js";
import { compileMetadataMatcher } from "../../src/proxy/http/matchers/metadata.js";

const NS = "envoy.filters.http.rbac";

function md(fields: ProtoObject): DynamicMetadata {
  const m = new DynamicMetadata();
  m.set(NS, fields as never);
  return m;
}

describe("MetadataMatcher", () => {
  const cases: Array<[string, ProtoObject, ProtoObject, boolean]> = [
    ["Istio's CUSTOM gate: prefix istio-ext-authz", { stringMatch: { prefix: "istio-ext-authz" } }, { istio_ext_authz_shadow_effective_policy_id: "istio-ext-authz-ns[foo]-policy[ext-authz]-rule[0]" }, true],
    ["Istio's CUSTOM gate: no shadow match written", { stringMatch: { prefix: "istio-ext-authz" } }, {}, false],
    ["string exact", { stringMatch: { exact: "a" } }, { istio_ext_authz_shadow_effective_policy_id: "a" }, true],
    ["a number is not a string", { stringMatch: { exact: "1" } }, { istio_ext_authz_shadow_effective_policy_id: 1 }, false],
    ["double exact", { doubleMatch: { exact: 2 } }, { istio_ext_authz_shadow_effective_policy_id: 2 }, true],
    ["double range [1,2)", { doubleMatch: { range: { start: 1, end: 2 } } }, { istio_ext_authz_shadow_effective_policy_id: 2 }, false],
    ["bool", { boolMatch: true }, { istio_ext_authz_shadow_effective_policy_id: true }, true],
    ["null", { nullMatch: {} }, { istio_ext_authz_shadow_effective_policy_id: null }, true],
    ["present", { presentMatch: true }, { istio_ext_authz_shadow_effective_policy_id: "" }, true],
    ["present: absent", { presentMatch: true }, {}, false],
    ["present_match false never matches (Envoy's PresentMatcher): absent", { presentMatch: false }, {}, false],
    ["list one_of", { listMatch: { oneOf: { stringMatch: { exact: "b" } } } }, { istio_ext_authz_shadow_effective_policy_id: ["a", "b"] }, true],
    ["or", { orMatch: { valueMatchers: [{ boolMatch: true }, { stringMatch: { exact: "x" } }] } }, { istio_ext_authz_shadow_effective_policy_id: "x" }, true],
  ];
  for (const [what, value, fields, want] of cases) {
    it(what, () => {
      const m = compileMetadataMatcher({ filter: NS, path: [{ key: "istio_ext_authz_shadow_effective_policy_id" }], value }, "m");
      assert.equal(m(md(fields)), want);
      const inverted = compileMetadataMatcher({ filter: NS, path: [{ key: "istio_ext_authz_shadow_effective_policy_id" }], value, invert: true }, "m");
      assert.equal(inverted(md(fields)), !want);
    });
  }

  it("follows nested paths; a step that is not a struct is absent", () => {
    const m = compileMetadataMatcher({ filter: NS, path: [{ key: "a" }, { key: "b" }], value: { stringMatch: { exact: "v" } } }, "m");
    assert.equal(m(md({ a: { b: "v" } })), true);
    assert.equal(m(md({ a: "v" })), false);
    assert.equal(m(new DynamicMetadata()), false, "another namespace (or none) never matches");
  });

  const bad: Array<[string, ProtoObject, RegExp]> = [
    ["no filter", { path: [{ key: "a" }], value: { presentMatch: true } }, /^m\.filter: /],
    ["no path", { filter: NS, value: { presentMatch: true } }, /^m\.path: /],
    ["no value", { filter: NS, path: [{ key: "a" }] }, /^m\.value: /],
    ["empty value matcher", { filter: NS, path: [{ key: "a" }], value: {} }, /^m\.value: ValueMatcher needs one of/],
    ["or with one matcher", { filter: NS, path: [{ key: "a" }], value: { orMatch: { valueMatchers: [{ boolMatch: true }] } } }, /^m\.value\.orMatch\.valueMatchers: /],
    ["nested too deep", { filter: NS, path: [{ key: "a" }], value: JSON.parse(`${'{"listMatch":{"oneOf":'.repeat(20)}{"boolMatch":true}${"}}".repeat(20)}`) as ProtoObject }, /nested too deep/],
    ["empty prefix", { filter: NS, path: [{ key: "a" }], value: { stringMatch: { prefix: "" } } }, /^m\.value\.stringMatch\.prefix: /],
  ];
  for (const [what, config, re] of bad) {
    it(`refuses ${what}`, () => {
      assert.throws(
        () => compileMetadataMatcher(config, "m"),
        (e: Error & { path?: string }) => re.test(`${e.path ?? ""}: ${(e as { detail?: string }).detail ?? e.message}`),
      );
    });
  }
});
