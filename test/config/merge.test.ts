// kubectl apply's three-way merge for custom resources: a table of kubectl's cases (last applied,
// new configuration, live object → patch and result), and RFC 7386's own examples for the patch.
import assert from "node:assert/strict";
import { test } from "node:test";
import { applyMergePatch, createMergePatch, sortedJson, threeWayMergePatch, type JsonObject } from "../../src/config/merge.js";

interface Case {
  name: string;
  lastApplied: JsonObject;
  modified: JsonObject;
  live: JsonObject;
  patch: JsonObject;
  result: JsonObject;
}

const cases: Case[] = [
  {
    name: "unchanged: same configuration, live as applied",
    lastApplied: { spec: { hosts: ["reviews"], http: [{ route: [{ destination: { host: "reviews", subset: "v1" } }] }] } },
    modified: { spec: { hosts: ["reviews"], http: [{ route: [{ destination: { host: "reviews", subset: "v1" } }] }] } },
    live: { spec: { hosts: ["reviews"], http: [{ route: [{ destination: { host: "reviews", subset: "v1" } }] }] }, status: { observedGeneration: 1 } },
    patch: {},
    result: { spec: { hosts: ["reviews"], http: [{ route: [{ destination: { host: "reviews", subset: "v1" } }] }] }, status: { observedGeneration: 1 } },
  },
  {
    name: "removed field: in the last applied, not in the file → cleared from live",
    lastApplied: { spec: { host: "reviews", trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } } } },
    modified: { spec: { host: "reviews" } },
    live: { spec: { host: "reviews", trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } } } },
    patch: { spec: { trafficPolicy: null } },
    result: { spec: { host: "reviews" } },
  },
  {
    name: "field another writer set (never in the last applied) is kept",
    lastApplied: { spec: { host: "reviews" } },
    modified: { spec: { host: "reviews", exportTo: ["."] } },
    live: { spec: { host: "reviews", trafficPolicy: { loadBalancer: { simple: "LEAST_REQUEST" } } } },
    patch: { spec: { exportTo: ["."] } },
    result: { spec: { host: "reviews", trafficPolicy: { loadBalancer: { simple: "LEAST_REQUEST" } }, exportTo: ["."] } },
  },
  {
    name: "removed list item: lists are atomic, replaced whole (items another writer added are lost)",
    lastApplied: { spec: { subsets: [{ name: "v1" }, { name: "v2" }] } },
    modified: { spec: { subsets: [{ name: "v1" }] } },
    live: { spec: { subsets: [{ name: "v1" }, { name: "v2" }, { name: "v3" }] } },
    patch: { spec: { subsets: [{ name: "v1" }] } },
    result: { spec: { subsets: [{ name: "v1" }] } },
  },
  {
    name: "list removed from the file entirely → deleted",
    lastApplied: { spec: { hosts: ["a"], gateways: ["gw"] } },
    modified: { spec: { hosts: ["a"] } },
    live: { spec: { hosts: ["a"], gateways: ["gw"] } },
    patch: { spec: { gateways: null } },
    result: { spec: { hosts: ["a"] } },
  },
  {
    name: "map keys: one removed, one changed, one added, one set by another writer kept",
    lastApplied: { metadata: { labels: { app: "reviews", team: "a", old: "x" } } },
    modified: { metadata: { labels: { app: "reviews", team: "b", tier: "web" } } },
    live: { metadata: { labels: { app: "reviews", team: "a", old: "x", owner: "ops" } } },
    patch: { metadata: { labels: { old: null, team: "b", tier: "web" } } },
    result: { metadata: { labels: { app: "reviews", team: "b", owner: "ops", tier: "web" } } },
  },
  {
    name: "null in the file clears the live field even when the last apply never set it",
    lastApplied: { spec: { host: "reviews" } },
    modified: { spec: { host: "reviews", trafficPolicy: null } },
    live: { spec: { host: "reviews", trafficPolicy: { tls: { mode: "DISABLE" } } } },
    patch: { spec: { trafficPolicy: null } },
    result: { spec: { host: "reviews" } },
  },
  {
    name: "null for a field nobody set: nothing to delete, the result has no such key",
    lastApplied: {},
    modified: { spec: { host: "reviews", exportTo: null } },
    live: { spec: { host: "reviews" } },
    patch: { spec: { exportTo: null } },
    result: { spec: { host: "reviews" } },
  },
  {
    name: "live drifted from the last applied on a field the file still sets → set back",
    lastApplied: { spec: { http: [{ timeout: "1s" }] } },
    modified: { spec: { http: [{ timeout: "1s" }] } },
    live: { spec: { http: [{ timeout: "9s" }] } },
    patch: { spec: { http: [{ timeout: "1s" }] } },
    result: { spec: { http: [{ timeout: "1s" }] } },
  },
  {
    name: "an object replaced by a scalar, and an explicitly empty map set as a value",
    lastApplied: { spec: { a: { b: 1 } } },
    modified: { spec: { a: "x", c: {} } },
    live: { spec: { a: { b: 1 } } },
    patch: { spec: { a: "x", c: {} } },
    result: { spec: { a: "x", c: {} } },
  },
  {
    name: "a whole object removed from the file while another writer added a key inside it: the object goes",
    lastApplied: { spec: { tls: { mode: "SIMPLE" } } },
    modified: { spec: {} },
    live: { spec: { tls: { mode: "SIMPLE", sni: "x" } } },
    patch: { spec: { tls: null } },
    result: { spec: {} },
  },
  {
    name: "first apply over an object nobody applied (no last applied): only additions, live extras kept",
    lastApplied: {},
    modified: { spec: { hosts: ["a"] } },
    live: { spec: { hosts: ["b"], exportTo: ["*"] } },
    patch: { spec: { hosts: ["a"] } },
    result: { spec: { hosts: ["a"], exportTo: ["*"] } },
  },
];

for (const c of cases) {
  test(`three-way merge: ${c.name}`, () => {
    const patch = threeWayMergePatch(c.lastApplied, c.modified, c.live);
    assert.deepEqual(patch, c.patch);
    assert.deepEqual(applyMergePatch(c.live, patch), c.result);
  });
}

// RFC 7386 appendix A (applying) — the patch side of the algorithm.
const rfc: Array<[unknown, unknown, unknown]> = [
  [{ a: "b" }, { a: "c" }, { a: "c" }],
  [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
  [{ a: "b" }, { a: null }, {}],
  [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
  [{ a: ["b"] }, { a: "c" }, { a: "c" }],
  [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
  [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
  [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
  [["a", "b"], ["c", "d"], ["c", "d"]],
  [{ a: "b" }, ["c"], ["c"]],
  [{ a: "foo" }, null, null],
  [{ a: "foo" }, "bar", "bar"],
  [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  [[1, 2], { a: "b", c: null }, { a: "b" }],
  [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
];

test("applyMergePatch: RFC 7386's examples", () => {
  for (const [target, patch, result] of rfc) assert.deepEqual(applyMergePatch(target as JsonObject, patch as JsonObject), result, JSON.stringify([target, patch]));
});

test("createMergePatch: applying the patch it makes gives the target back", () => {
  const pairs: Array<[JsonObject, JsonObject]> = [
    [{ a: 1, b: { c: [1, 2], d: "x" } }, { a: 2, b: { c: [1], e: true } }],
    [{ a: { b: 1 } }, { a: "s" }],
    [{ a: "s" }, { a: { b: 1 } }],
    [{ a: 1 }, {}],
  ];
  for (const [from, to] of pairs) assert.deepEqual(applyMergePatch(from, createMergePatch(from, to)), to);
  assert.deepEqual(createMergePatch({ a: 1 }, { a: 1 }), {});
});

test("sortedJson writes keys in Go's order, compact", () => {
  assert.equal(sortedJson({ spec: { b: 1, a: [{ y: 2, x: null }] }, apiVersion: "v" }), '{"apiVersion":"v","spec":{"a":[{"x":null,"y":2}],"b":1}}');
  // Go's encoder escapes <, > and & (and U+2028/9) in strings and keys.
  assert.equal(sortedJson({ "a&b": "<x> & \u2028é" }), '{"a\\u0026b":"\\u003cx\\u003e \\u0026 \\u2028é"}');
});
