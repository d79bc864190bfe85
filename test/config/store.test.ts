// The config store: versions, change events, layered sources, no events for unchanged re-applies.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { AnyResource } from "../../src/api/resource.js";
import { ConfigStore, type ChangeBatch } from "../../src/config/store.js";

function dr(name: string, host: string, namespace = "default"): AnyResource {
  return { apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: { name, namespace }, spec: { host } };
}

test("replaceSource adds, updates and deletes with one version per batch", () => {
  const store = new ConfigStore();
  const batches: ChangeBatch[] = [];
  store.subscribe((b) => batches.push(b));
  store.replaceSource("a", [dr("r1", "reviews"), dr("r2", "ratings")]);
  assert.equal(store.currentVersion, 1);
  assert.deepEqual(batches[0].changes.map((c) => [c.type, c.kind, c.name]), [
    ["added", "DestinationRule", "r1"],
    ["added", "DestinationRule", "r2"],
  ]);
  store.replaceSource("a", [dr("r1", "reviews.prod"), dr("r2", "ratings")]);
  assert.equal(store.currentVersion, 2);
  assert.deepEqual(batches[1].changes.map((c) => [c.type, c.name]), [["updated", "r1"]]);
  assert.equal(store.get("DestinationRule", "default", "r1")?.metadata.generation, 2);
  assert.equal(store.get("DestinationRule", "default", "r1")?.metadata.resourceVersion, "2");
  // Re-applying the same content is not a change.
  assert.equal(store.replaceSource("a", [dr("r1", "reviews.prod"), dr("r2", "ratings")]), undefined);
  assert.equal(store.currentVersion, 2);
  store.replaceSource("a", [dr("r2", "ratings")]);
  assert.deepEqual(batches[2].changes.map((c) => [c.type, c.name]), [["deleted", "r1"]]);
  assert.equal(store.get("DestinationRule", "default", "r1"), undefined);
  assert.equal(store.size, 1);
});

test("a higher-priority source overrides, and the lower one shows again when it goes", () => {
  const store = new ConfigStore();
  store.addSource("base", 0);
  store.addSource("extra", 1);
  store.replaceSource("base", [dr("reviews", "reviews")]);
  store.replaceSource("extra", [dr("reviews", "reviews.override")]);
  assert.equal((store.get("DestinationRule", "default", "reviews")?.spec as { host: string }).host, "reviews.override");
  assert.equal(store.sourceOf("DestinationRule", "default", "reviews"), "extra");
  const b = store.removeSource("extra");
  assert.deepEqual(b?.changes.map((c) => c.type), ["updated"]);
  assert.equal((store.get("DestinationRule", "default", "reviews")?.spec as { host: string }).host, "reviews");
});

test("list filters by kind and namespace, in key order", () => {
  const store = new ConfigStore();
  store.replaceSource("a", [dr("b", "x", "ns2"), dr("a", "x", "ns1"), { apiVersion: "networking.istio.io/v1", kind: "Gateway", metadata: { name: "g", namespace: "ns1" }, spec: {} }]);
  assert.deepEqual(store.list("DestinationRule").map((r) => r.metadata.name), ["a", "b"]);
  assert.deepEqual(store.list("DestinationRule", "ns2").map((r) => r.metadata.name), ["b"]);
  assert.equal(store.list().length, 3);
});
