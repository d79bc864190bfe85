// DynamicMetadata: namespaces merge one level deep as Envoy's setDynamicMetadata does, and a
// MetadataMatcher path finds exactly the value it names (never an inherited property).
import assert from "node:assert/strict";
import { test } from "node:test";
import { DynamicMetadata } from "../../src/proxy/dynamic-metadata.js";

test("set merges top-level keys per namespace; lookup follows a path into nested structs", () => {
  const md = new DynamicMetadata();
  assert.equal(md.get("envoy.filters.http.jwt_authn"), undefined);
  md.set("envoy.filters.http.jwt_authn", { payload: { iss: "a", sub: "b", groups: ["g1", "g2"], nested: { key: { x: 1 } } } });
  md.set("envoy.filters.http.rbac", { shadow_engine_result: "denied" });
  md.set("envoy.filters.http.rbac", { shadow_effective_policy_id: "p" });
  const table: Array<[string, string[], unknown]> = [
    ["envoy.filters.http.jwt_authn", ["payload", "iss"], "a"],
    ["envoy.filters.http.jwt_authn", ["payload", "groups"], ["g1", "g2"]],
    ["envoy.filters.http.jwt_authn", ["payload", "nested", "key", "x"], 1],
    ["envoy.filters.http.jwt_authn", ["payload", "iss", "x"], undefined], // a string is not a struct
    ["envoy.filters.http.jwt_authn", ["payload", "groups", "0"], undefined], // a list is not a struct
    ["envoy.filters.http.jwt_authn", ["payload", "toString"], undefined], // never inherited
    ["envoy.filters.http.jwt_authn", ["payload", "__proto__"], undefined],
    ["envoy.filters.http.rbac", ["shadow_engine_result"], "denied"],
    ["envoy.filters.http.rbac", ["shadow_effective_policy_id"], "p"],
    ["istio_authn", ["request.auth.principal"], undefined],
  ];
  for (const [ns, path, want] of table) assert.deepEqual(md.lookup(ns, path), want, `${ns} ${path.join(".")}`);
  assert.deepEqual(Object.keys(md.toJSON()).sort(), ["envoy.filters.http.jwt_authn", "envoy.filters.http.rbac"]);
  // A later write replaces a top-level key whole (no deep merge).
  md.set("envoy.filters.http.jwt_authn", { payload: { iss: "c" } });
  assert.equal(md.lookup("envoy.filters.http.jwt_authn", ["payload", "sub"]), undefined);
});
