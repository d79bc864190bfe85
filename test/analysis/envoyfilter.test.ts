// EnvoyFilter analysis on bookinfo: Istio's relative-operation and ignored-operation warnings, and
// tsmesh's "has no effect" / "not applied" from applying the filters to the mesh's proxies.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { analyze } from "../../src/analysis/analyze.js";
import { validateText } from "../../src/api/validate.js";
import { listConfigFiles } from "../../src/config/files.js";
import { packageRoot } from "../../src/core/paths.js";

const bookinfo = listConfigFiles(join(packageRoot(), "examples", "bookinfo")).map((f) => readFileSync(f, "utf8")).join("\n---\n");
const task = (f: string) => readFileSync(join(packageRoot(), "test", "xds", "gen", "envoyfilter", "testdata", f), "utf8");
const efCodes = (...yaml: string[]) =>
  analyze(validateText([bookinfo, ...yaml].join("\n---\n"), "in.yaml"))
    .filter((m) => m.resource.startsWith("EnvoyFilter"))
    .map((m) => `${m.code} ${m.resource}${m.path ? ` ${m.path}` : ""}`);

const ef = (name: string, spec: string) => `apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: ${name}, namespace: istio-system}\nspec:\n${spec.replace(/^/gm, "  ")}\n`;

test("the rate limit task's EnvoyFilters take effect on bookinfo (only Istio's priority warning)", () => {
  assert.deepEqual(efCodes(task("global-ratelimit.yaml")), ["IST0151 EnvoyFilter istio-system/filter-ratelimit spec.configPatches[0]"]);
  assert.deepEqual(efCodes(task("local-ratelimit-route.yaml")), ["IST0151 EnvoyFilter istio-system/filter-local-ratelimit-svc spec.configPatches[0]"]);
});

test("an EnvoyFilter that selects no proxy, and a patch that matches nothing", () => {
  const none = ef("none", "workloadSelector: {labels: {app: nobody}}\nconfigPatches:\n- applyTo: CLUSTER\n  patch: {operation: MERGE, value: {connect_timeout: 1s}}");
  const miss = ef(
    "miss",
    "priority: 1\nconfigPatches:\n- applyTo: CLUSTER\n  match: {cluster: {service: nothing.example.com}}\n  patch: {operation: MERGE, value: {connect_timeout: 1s}}\n- applyTo: CLUSTER\n  match: {cluster: {service: reviews.default.svc.cluster.local}}\n  patch: {operation: MERGE, value: {connect_timeout: 1s}}",
  );
  assert.deepEqual(efCodes(none, miss), ["TSM0006 EnvoyFilter istio-system/none", "TSM0006 EnvoyFilter istio-system/miss spec.configPatches[0]"]);
});

test("Istio's ignored-operation errors and a filter the proxies would not get", () => {
  const got = efCodes(
    ef("ops", "priority: 1\nconfigPatches:\n- applyTo: CLUSTER\n  patch: {operation: REPLACE, value: {name: x}}\n- applyTo: ROUTE_CONFIGURATION\n  patch: {operation: ADD, value: {name: x}}"),
    ef("ecds", "configPatches:\n- applyTo: EXTENSION_CONFIG\n  patch: {operation: ADD, value: {name: x}}"),
  );
  assert.ok(got.includes("IST0152 EnvoyFilter istio-system/ops spec.configPatches[0].patch.operation"), got.join("\n"));
  assert.ok(got.includes("IST0153 EnvoyFilter istio-system/ops spec.configPatches[1].patch.operation"), got.join("\n"));
  assert.ok(got.includes("TSM0007 EnvoyFilter istio-system/ecds"), got.join("\n"));
});

test("a STRICT_DNS cluster of a mesh hostname is flagged: local mode has no cluster DNS", () => {
  const add = ef(
    "dns",
    "priority: 1\nconfigPatches:\n- applyTo: CLUSTER\n  patch:\n    operation: ADD\n    value:\n      name: rate_limit_cluster\n      type: STRICT_DNS\n      connect_timeout: 10s\n      load_assignment:\n        cluster_name: rate_limit_cluster\n        endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: reviews.default.svc.cluster.local, port_value: 9080}}}}]}]",
  );
  const msgs = analyze(validateText([bookinfo, add].join("\n---\n"), "in.yaml")).filter((m) => m.code === "TSM0008");
  assert.equal(msgs.length, 1);
  assert.match(msgs[0].message, /outbound\|PORT\|\|reviews\.default\.svc\.cluster\.local/);
});
