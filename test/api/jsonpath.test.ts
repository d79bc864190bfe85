// kubectl's JSONPath dialect as CRD printer columns use it: a table of paths and what they select in
// a Gateway API Gateway (with status), an adversarial table of paths that must fail to parse (with
// the position), evaluation errors kubectl turns into empty cells, and the bounds.
import assert from "node:assert/strict";
import { test } from "node:test";
import { evaluateJsonPath, JsonPathError, JsonPathEvalError, MAX_PATH_LENGTH, MAX_VALUES, parseJsonPath } from "../../src/api/jsonpath.js";

const gateway = {
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "Gateway",
  metadata: { name: "bookinfo-gateway", namespace: "default", labels: { "app.kubernetes.io/name": "gw", app: "gw" }, creationTimestamp: "2026-12-06T12:00:00Z" },
  spec: {
    gatewayClassName: "istio",
    listeners: [
      { name: "http", port: 80, protocol: "HTTP" },
      { name: "https", port: 443, protocol: "HTTPS", tls: { mode: "Terminate" } },
    ],
  },
  status: {
    addresses: [
      { type: "IPAddress", value: "127.0.0.10" },
      { type: "IPAddress", value: "127.0.0.11" },
    ],
    conditions: [
      { type: "Accepted", status: "True" },
      { type: "Programmed", status: "False", observedGeneration: 1 },
    ],
    empty: [],
    nothing: null,
  },
};

const select = (path: string) => evaluateJsonPath(parseJsonPath(path), gateway);

test("paths select what kubectl selects", () => {
  const cases: Array<[string, unknown[]]> = [
    [".spec.gatewayClassName", ["istio"]],
    ["{.spec.gatewayClassName}", ["istio"]],
    ["$.spec.gatewayClassName", ["istio"]],
    [".metadata.creationTimestamp", ["2026-12-06T12:00:00Z"]],
    [".spec.listeners[*].name", ["http", "https"]],
    [".spec.listeners[0].port", [80]],
    [".spec.listeners[-1].port", [443]],
    [".spec.listeners[0:1].name", ["http"]],
    [".spec.listeners[:].name", ["http", "https"]],
    [".spec.listeners[::2].name", ["http"]],
    [".status.addresses[*].value", ["127.0.0.10", "127.0.0.11"]],
    ['.status.conditions[?(@.type=="Programmed")].status', ["False"]],
    [".status.conditions[?(@.type=='Accepted')].status", ["True"]],
    ['.status.conditions[?(@.type != "Accepted")].type', ["Programmed"]],
    [".spec.listeners[?(@.port>100)].name", ["https"]],
    [".spec.listeners[?(@.port<=80)].name", ["http"]],
    [".spec.listeners[?(@.tls)].name", ["https"]],
    [".spec.listeners[?(@.tls.mode==\"Terminate\")].port", [443]],
    [".status.conditions[?(@.observedGeneration==1)].type", ["Programmed"]],
    [".metadata.labels.app\\.kubernetes\\.io/name", ["gw"]],
    [".metadata.labels['app.kubernetes.io/name']", ["gw"]],
    [".metadata.labels.*", ["gw", "gw"]],
    [".status.empty", [[]]],
    [".status.empty[*]", []],
    [".status.nothing", [null]],
    [".status.nothing.deeper", []],
    [".spec.missing", []],
    [".spec.missing[0].x", []],
    [".spec.gatewayClassName.length", []],
    // Own keys only: inherited properties are no data.
    [".metadata.constructor", []],
    [".metadata.__proto__", []],
    [".spec.listeners.length", []],
    ["", [gateway]],
  ];
  for (const [path, want] of cases) assert.deepEqual(select(path), want, path);
});

test("paths kubectl would refuse fail with the position", () => {
  const cases: Array<[string, RegExp]> = [
    ["spec.hosts", /starts with \. or \[/],
    [".spec..hosts", /recursive descent/],
    ["..hosts", /recursive descent/],
    [".spec.hosts[", /expected an index/],
    [".spec.hosts[0", /unterminated \[ \(opened at character 12\)/],
    [".spec.hosts[x]", /expected an index.* at character 13/],
    [".spec.hosts[1:2:0]", /step must be positive/],
    ['.status.conditions[?(@.type=="Programmed").status', /expected "\)"|unterminated/],
    ['.status.conditions[?(@.type=="Programmed)].status', /unterminated string/],
    [".status.conditions[?(@.type==)]", /expected @, a quoted string/],
    [".status.conditions[?(type=='x')]", /a filter starts with @|expected @/],
    [".status.conditions[?@.type]", /expected "\("/],
    [".spec.", /field name is missing/],
    [".spec.hosts]", /unexpected "\]"/],
    ["{.spec.hosts", /unclosed \{/],
    [".a[?(@.b[?(@.c[?(@.d[?(@.e[?(@.f)])])])])]", /nest deeper than 4/],
    ["." + "a".repeat(MAX_PATH_LENGTH), /longer than 1024/],
  ];
  for (const [path, want] of cases) assert.throws(() => parseJsonPath(path), (e: unknown) => e instanceof JsonPathError && want.test(e.message), path);
  assert.throws(() => parseJsonPath(".spec.hosts[x]"), { message: 'expected an index, *, a quoted name or a ?(filter) at character 13 of ".spec.hosts[x]"' });
});

test("evaluation errors (kubectl's empty cell): an index out of range, an index or filter on a non-list, incomparable values", () => {
  for (const path of [".spec.listeners[2]", ".spec.listeners[-3]", ".status.empty[0]", ".spec.gatewayClassName[0]", ".spec[?(@.x)]", '.spec.listeners[?(@.port=="80")]', ".status.conditions[?(@.type<true)]", ".spec.listeners[?(@.tls.mode>1)]"]) {
    assert.throws(() => select(path), JsonPathEvalError, path);
  }
});

test("deep paths and deep objects are walked without recursion; large fan-out is bounded", () => {
  let deep: Record<string, unknown> = { leaf: "here" };
  for (let i = 0; i < 5000; i++) deep = { a: deep };
  const path = ".a".repeat(300) + ".a";
  assert.equal(path.length <= MAX_PATH_LENGTH, true);
  let want: unknown = deep;
  for (let i = 0; i < 301; i++) want = (want as Record<string, unknown>).a;
  assert.deepEqual(evaluateJsonPath(parseJsonPath(path), deep), [want]);

  // 200 × 200 values: more than the bound.
  const wide = { rows: Array.from({ length: 200 }, () => ({ cells: Array.from({ length: 200 }, (_, i) => i) })) };
  assert.throws(() => evaluateJsonPath(parseJsonPath(".rows[*].cells[*]"), wide), (e: unknown) => e instanceof JsonPathEvalError && e.message.includes(String(MAX_VALUES)));
  assert.equal(evaluateJsonPath(parseJsonPath(".rows[*].cells[0]"), wide).length, 200);
});
