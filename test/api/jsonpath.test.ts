// kubectl's JSONPath (client-go's util/jsonpath): a table of paths and what they select in a Gateway
// API Gateway (the CRD columns' and custom columns' use), templates as `get -o jsonpath` prints them
// over kubectl's List (text, range, nested range, unclosed range, literals, JSON values), an
// adversarial table of templates that must fail to parse with client-go's messages, evaluation errors
// with and without --allow-missing-template-keys, and the bounds.
import assert from "node:assert/strict";
import { test } from "node:test";
import { JsonPathError, MAX_PATH_LENGTH, parseJsonPath, parseJsonPathTemplate } from "../../src/api/jsonpath.js";
import { evaluateJsonPath, executeJsonPath, JsonPathEvalError, MAX_RANGE_DEPTH, MAX_VALUES } from "../../src/api/jsonpath-eval.js";

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
    weight: 0.5,
    tiny: 1e-7,
    ready: true,
  },
};

const select = (path: string) => evaluateJsonPath(parseJsonPath(path), gateway);

test("paths select what kubectl selects", () => {
  const cases: Array<[string, unknown[]]> = [
    [".spec.gatewayClassName", ["istio"]],
    ["{.spec.gatewayClassName}", ["istio"]],
    ["$.spec.gatewayClassName", ["istio"]],
    ["@.spec.gatewayClassName", ["istio"]],
    [".metadata.creationTimestamp", ["2026-12-06T12:00:00Z"]],
    [".spec.listeners[*].name", ["http", "https"]],
    [".spec.listeners[0].port", [80]],
    [".spec.listeners[-1].port", [443]],
    [".spec.listeners[0:1].name", ["http"]],
    [".spec.listeners[:].name", ["http", "https"]],
    [".spec.listeners[::2].name", ["http"]],
    [".spec.listeners[1:1].name", []],
    [".spec.listeners[0,1].port", [80, 443]],
    [".spec.listeners[*]['name','port']", ["http", "https", 80, 443]],
    [".status.addresses[*].value", ["127.0.0.10", "127.0.0.11"]],
    ['.status.conditions[?(@.type=="Programmed")].status', ["False"]],
    [".status.conditions[?(@.type=='Accepted')].status", ["True"]],
    ['.status.conditions[?(@.type != "Accepted")].type', ["Programmed"]],
    [".spec.listeners[?(@.port>100)].name", ["https"]],
    [".spec.listeners[?(@.port<=80)].name", ["http"]],
    [".spec.listeners[?(@.tls)].name", ["https"]],
    ['.spec.listeners[?(@.tls.mode=="Terminate")].port', [443]],
    // An item without the compared field is skipped, not an error.
    [".status.conditions[?(@.observedGeneration==1)].type", ["Programmed"]],
    ["..name", ["bookinfo-gateway", "http", "https"]],
    [".spec..port", [80, 443]],
    [".metadata.labels.app\\.kubernetes\\.io/name", ["gw"]],
    // kubectl reads ['a.b'] as .a.b: a key with dots needs \. (a known kubectl trap).
    [".metadata.labels['app.kubernetes.io/name']", []],
    [".metadata.labels['app']", ["gw"]],
    [".metadata.labels.*", ["gw", "gw"]],
    [".kind.*", [71, 97, 116, 101, 119, 97, 121]],
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

const list = {
  apiVersion: "v1",
  items: [
    { kind: "Gateway", metadata: { name: "a" }, spec: { listeners: [{ name: "http", port: 80 }, { name: "https", port: 443 }], weight: 1.5 } },
    { kind: "Gateway", metadata: { name: "b" }, spec: { listeners: [{ name: "tcp", port: 31400 }], weight: 3 } },
  ],
  kind: "List",
  metadata: { resourceVersion: "" },
};

const run = (template: string, data: unknown = list, allowMissingKeys = true) => executeJsonPath(parseJsonPathTemplate(template), data, { allowMissingKeys });

test("templates print as kubectl's jsonpath printer prints them", () => {
  const cases: Array<[string, string]> = [
    ["{.items[*].metadata.name}", "a b"],
    ["{.items..metadata.name}", "a b"],
    ["{.items[0].metadata.name}", "a"],
    ['{range .items[*]}{.metadata.name}{"\\n"}{end}', "a\nb\n"],
    ["{range .items[*]}{.metadata.name}{'\\t'}{.spec.listeners[*].port}{'\\n'}{end}", "a\t80 443\nb\t31400\n"],
    ['{range .items[*]}{.metadata.name}:{range .spec.listeners[*]} {.name}={.port}{end}{"\\n"}{end}', "a: http=80 https=443\nb: tcp=31400\n"],
    // No {end}: client-go runs the body once more over the outer object (the List has no name).
    ['{range .items[*]}{.metadata.name}{"\\n"}', "a\nb\n\n"],
    ['{range .items[?(@.kind=="X")]}{.metadata.name}{end}after', "after"],
    ["names: {.items[*].metadata.name}.", "names: a b."],
    ["just text, no action", "just text, no action"],
    ["{.items[0].spec.listeners[0]}", '{"name":"http","port":80}'],
    ["{.items[*].spec.listeners[0]}", '{"name":"http","port":80} {"name":"tcp","port":31400}'],
    ["{.items[1].spec.listeners}", '[{"name":"tcp","port":31400}]'],
    ["{.metadata}", '{"resourceVersion":""}'],
    ["{.items[*].spec.weight}", "1.5 3"],
    ["{$.kind}", "List"],
    ["{.kind}{.apiVersion}", "Listv1"],
    ["{.missing}x", "x"],
    ["{1}{-2}{2.50}{true}", "1-22.5true"],
    ["{1.5 .kind}", ""],
    ['{"a{b}c"}', "a{b}c"],
    ["{'\\x41\\u00e9'}", "Aé"],
    ["} is text", "} is text"],
  ];
  for (const [template, want] of cases) assert.equal(run(template), want, template);
  assert.equal(run("{.status.nothing} {.status.weight} {.status.tiny} {.status.ready} {.spec.listeners[0].port}", gateway), "null 0.5 1e-07 true 80");
  assert.equal(run("{.a}", { a: "<b>&" }), "<b>&");
  assert.equal(run("{.a}", { a: { x: "<b>&" } }), '{"x":"\\u003cb\\u003e\\u0026"}');
  assert.equal(executeJsonPath(parseJsonPathTemplate("{.items[*].metadata.name}"), list, { allowMissingKeys: true, asJson: true }), '[\n    "a",\n    "b"\n]\n');
});

test("templates kubectl refuses fail with client-go's messages", () => {
  const cases: Array<[string, string]> = [
    ["{.a", "unclosed action"],
    ["{.a\n}", "unclosed action"],
    ["{.a[0}", "unterminated array"],
    ["{.a[x]}", "invalid array index x"],
    ['{.a["k"]}', 'invalid array index "k"'],
    ["{.a[1:2:x]}", "invalid array index 1:2:x"],
    ["{.a[-]}", "array index - is not a number"],
    ["{.a[99999999999999999999]}", "array index 99999999999999999999 is not a number"],
    ["{.a[?(@.b==1}", "unterminated filter"],
    ['{.a[?(@.b=="x)]}', "unterminated filter"],
    ["{.a[?(@.b)x}", "unclosed array expect ]"],
    ['{"abc}', "unterminated quoted string"],
    ["{'\\q'}", "unquote string '\\q' error invalid syntax"],
    ["{....a}", "invalid multiple recursive descent"],
    ["{#}", "unrecognized character in action: U+0023 '#'"],
    ["{\t.a}", "unrecognized character in action: U+0009"],
    ["{1.2.3}", "cannot parse number 1.2.3"],
    ["{.a[0,x]}", "invalid array index x"],
    ["{" + ".a".repeat(MAX_PATH_LENGTH) + "}", `the template is longer than ${MAX_PATH_LENGTH} characters`],
  ];
  for (const [template, want] of cases) assert.throws(() => parseJsonPathTemplate(template), (e: unknown) => e instanceof JsonPathError && e.message === want, JSON.stringify(template));
  assert.throws(() => parseJsonPath(".a}{.b"), JsonPathError);
});

test("evaluation errors are client-go's; missing keys are one only when not allowed", () => {
  const cases: Array<[string, RegExp]> = [
    ["{.spec.listeners[2]}", /^array index out of bounds: index 2, length 2$/],
    ["{.spec.listeners[-3]}", /^array index out of bounds: index -1, length 2$/],
    ["{.status.empty[0]}", /^array index out of bounds: index 0, length 0$/],
    ["{.spec.listeners[1:0]}", /^starting index 1 is greater than ending index 0$/],
    ["{.spec.listeners[0:1:0]}", /^step must be > 0$/],
    ["{.spec.gatewayClassName[0]}", /^string is not array or slice$/],
    ["{.spec.listeners[0].port[0]}", /^int64 is not array or slice$/],
    ["{.spec[0]}", /^map\[string\]interface \{\} is not array or slice$/],
    ["{.spec[?(@.x)]}", /^map\[gatewayClassName:istio listeners:\[map\[name:http port:80 protocol:HTTP\] .* is not array or slice and cannot be filtered$/],
    ['{.spec.listeners[?(@.port=="80")]}', /^incompatible types for comparison$/],
    ["{.spec.listeners[?(@.port==80.0)]}", /^incompatible types for comparison$/],
    ["{.status.conditions[?(@.type<true)]}", /^incompatible types for comparison$/],
    ["{.status.conditions[?(@.observedGeneration<@.status)]}", /^incompatible types for comparison$/],
    ["{.spec.listeners[?(@.tls<1)]}", /^invalid type for comparison$/],
    ["{.spec.listeners[?(@.port=<80)]}", /^unrecognized filter operator =<$/],
    ["{.spec.listeners[?(@.*==1)]}", /^can only compare one element at a time$/],
    ["{foo}", /^unrecognized identifier foo$/],
    ["{end}", /^not in range, nothing to end$/],
    ["{range .spec.listeners[*]}{end}{end}", /^not in range, nothing to end$/],
  ];
  for (const [template, want] of cases) assert.throws(() => run(template, gateway), (e: unknown) => e instanceof JsonPathEvalError && want.test(e.message), template);
  assert.equal(run("{.spec.missing}", gateway), "");
  assert.throws(() => run("{.spec.missing}", gateway, false), { message: "missing is not found" });
  assert.throws(() => run("{.status.conditions[?(@.observedGeneration==1)].type}", gateway, false), { message: "observedGeneration is not found" });
  // An empty range still walks its body (with nothing): with missing keys not allowed, kubectl fails.
  assert.equal(run("{range .items[*]}{.metadata.name}{end}", { items: [] }, true), "");
  assert.throws(() => run("{range .items[*]}{.metadata.name}{end}", { items: [] }, false), { message: "metadata is not found" });
  // client-go before its fix stopped at an empty list; kubectl's own test wants the later list's values.
  assert.equal(run("{.items[*].spec.values[*]}", { items: [{ spec: { values: [] } }, { spec: { values: ["second"] } }] }), "second");
});

test("deep objects and deep templates are walked without recursion; fan-out and range nesting are bounded", () => {
  let deep: Record<string, unknown> = { leaf: "here" };
  for (let i = 0; i < 5000; i++) deep = { a: deep };
  assert.deepEqual(evaluateJsonPath(parseJsonPath("..leaf"), deep), ["here"]);
  assert.deepEqual(run("{..leaf}", { a: deep, b: deep }), "here here");
  const path = ".a".repeat(300) + ".a";
  let want: unknown = deep;
  for (let i = 0; i < 301; i++) want = (want as Record<string, unknown>).a;
  assert.deepEqual(evaluateJsonPath(parseJsonPath(path), deep), [want]);

  // 200 × 200 values: more than a cell's bound.
  const wide = { rows: Array.from({ length: 200 }, () => ({ cells: Array.from({ length: 200 }, (_, i) => i) })) };
  assert.throws(() => evaluateJsonPath(parseJsonPath(".rows[*].cells[*]"), wide), (e: unknown) => e instanceof JsonPathEvalError && e.message.includes(String(MAX_VALUES)));
  assert.equal(evaluateJsonPath(parseJsonPath(".rows[*].cells[0]"), wide).length, 200);
  // Nested ranges multiply: bounded by the template's budget.
  const square = { rows: Array.from({ length: 1000 }, (_, i) => i) };
  assert.throws(() => executeJsonPath(parseJsonPathTemplate("{range .rows[*]}{range $.rows[*]}x{end}{end}"), { rows: square.rows.map(() => square) }, { allowMissingKeys: true, maxValues: 100_000 }), /more than 100000 values/);
  assert.throws(() => run("{range @}".repeat(MAX_RANGE_DEPTH + 2) + "x"), (e: unknown) => e instanceof JsonPathEvalError && /ranges nest deeper than/.test(e.message));
  assert.equal(run("{range @}".repeat(10) + "x" + "{end}".repeat(10)), "x");
});
