// Parsing and the structural half of validation: YAML/JSON, document indexes, metadata, schema
// errors with Kubernetes' wording and exact field paths, unknown kinds and fields.
import assert from "node:assert/strict";
import { test } from "node:test";
import { validateText } from "../../src/api/validate.js";
import { formatDiagnostic } from "../../src/api/format.js";
import { parseDuration } from "../../src/api/validation/common.js";
import { assertError, assertValid, diagnose, resource } from "../helpers/validate.js";

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
`;

test("multi-document YAML: indexes count documents from 0, empty ones are skipped, namespace defaults", () => {
  const docs = validateText(`${VS}---\n---\n# only a comment\n---\n${VS.replace("name: reviews", "name: r2\n  namespace: prod")}`, "f.yaml");
  assert.deepEqual(
    docs.map((d) => [d.index, d.name, d.namespace, d.valid]),
    [
      [0, "reviews", "default", true],
      [3, "r2", "prod", true],
    ],
  );
  assert.equal(docs[0].resource?.metadata.namespace, "default");
  assert.equal(docs[1].line, 14);
});

test("JSON input is read like YAML", () => {
  const json = JSON.stringify({ apiVersion: "networking.istio.io/v1beta1", kind: "Gateway", metadata: { name: "gw" }, spec: { servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] } });
  const [d] = validateText(json, "gw.json");
  assert.ok(d.valid, JSON.stringify(d.diagnostics));
  assert.equal(d.kind, "Gateway");
});

test("malformed YAML names the line", () => {
  const [d] = validateText("apiVersion: v1\nkind: [unclosed\nmetadata: {}\n", "bad.yaml");
  assert.equal(d.valid, false);
  assert.equal(d.diagnostics[0].code, "TSMESH_YAML_SYNTAX");
  assert.match(d.diagnostics[0].message, /^line \d+, column \d+: /);
  const dup = validateText("a: 1\na: 2\n", "dup.yaml")[0];
  assert.match(dup.diagnostics[0].message, /line 2/);
});

test("unknown kinds and versions are reported, with a suggestion", () => {
  const [u] = validateText("apiVersion: networking.istio.io/v1\nkind: VirtualServce\nmetadata: {name: x}\n");
  assert.equal(u.diagnostics[0].code, "TSMESH_UNKNOWN_KIND");
  assert.match(u.diagnostics[0].message, /did you mean VirtualService\?/);
  const [k] = validateText("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n");
  assert.equal(k.diagnostics[0].code, "TSMESH_UNKNOWN_KIND");
  const [v] = validateText("apiVersion: security.istio.io/v1alpha3\nkind: PeerAuthentication\nmetadata: {name: x}\n");
  assert.equal(v.diagnostics[0].code, "TSMESH_UNSUPPORTED_VERSION");
  assert.match(v.diagnostics[0].message, /security\.istio\.io\/v1, security\.istio\.io\/v1beta1/);
  const [m] = validateText("kind: Gateway\nmetadata: {name: x}\n");
  assert.equal(m.diagnostics[0].code, "TSMESH_MISSING_TYPE");
});

test("every Istio apiVersion the issue names is served", () => {
  for (const v of ["v1", "v1beta1", "v1alpha3"]) for (const k of ["VirtualService", "DestinationRule", "Gateway", "ServiceEntry", "WorkloadEntry", "WorkloadGroup", "Sidecar"]) assert.ok(assertValid(resource(k, minimal(k), `networking.istio.io/${v}`)));
  for (const v of ["v1", "v1beta1"]) for (const k of ["PeerAuthentication", "AuthorizationPolicy", "RequestAuthentication"]) assertValid(resource(k, {}, `security.istio.io/${v}`));
  for (const v of ["v1", "v1alpha1"]) assertValid(resource("Telemetry", {}, `telemetry.istio.io/${v}`));
});

function minimal(kind: string): unknown {
  switch (kind) {
    case "VirtualService":
      return { hosts: ["a"], http: [{ route: [{ destination: { host: "a" } }] }] };
    case "DestinationRule":
      return { host: "a" };
    case "Gateway":
      return { servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] };
    case "ServiceEntry":
      return { hosts: ["a.example.com"], ports: [{ number: 80, name: "http", protocol: "HTTP" }], resolution: "DNS" };
    case "WorkloadEntry":
      return { address: "127.0.0.2" };
    case "WorkloadGroup":
      return { template: { serviceAccount: "sa" } };
    case "Sidecar":
      return { egress: [{ hosts: ["./*"] }] };
    default:
      return {};
  }
}

const schemaCases: Array<{ name: string; kind: string; spec: unknown; path: string; contains: string; code: string }> = [
  { name: "wrong type", kind: "VirtualService", spec: { hosts: "reviews" }, path: "spec.hosts", contains: 'must be of type array: "string"', code: "TSMESH_SCHEMA_TYPE" },
  { name: "enum", kind: "PeerAuthentication", spec: { mtls: { mode: "STRIKT" } }, path: "spec.mtls.mode", contains: 'Unsupported value: "STRIKT": supported values: "UNSET", "DISABLE", "PERMISSIVE", "STRICT"', code: "TSMESH_SCHEMA_ENUM" },
  { name: "unknown field with a suggestion", kind: "VirtualService", spec: { hosts: ["a"], http: [{ rout: [] }] }, path: "spec.http[0].rout", contains: 'Unknown field "rout" (did you mean "route"?)', code: "TSMESH_SCHEMA_UNKNOWN_FIELD" },
  { name: "required", kind: "Gateway", spec: { servers: [{ hosts: ["*"] }] }, path: "spec.servers[0].port", contains: "Required value", code: "TSMESH_SCHEMA_REQUIRED" },
  { name: "oneOf", kind: "VirtualService", spec: { hosts: ["a"], http: [{ match: [{ uri: { exact: "/a", prefix: "/b" } }], route: [{ destination: { host: "a" } }] }] }, path: "spec.http[0].match[0].uri", contains: "only one of exact, prefix, regex may be set, found exact, prefix", code: "TSMESH_SCHEMA_ONEOF" },
  { name: "maximum", kind: "DestinationRule", spec: { host: "a", trafficPolicy: { loadBalancer: { warmup: { duration: "10s", minimumPercent: 150 } } } }, path: "spec.trafficPolicy.loadBalancer.warmup.minimumPercent", contains: "should be less than or equal to 100", code: "TSMESH_SCHEMA_RANGE" },
  { name: "CEL rule", kind: "DestinationRule", spec: { host: "a", trafficPolicy: { connectionPool: { tcp: { connectTimeout: "0.1ms" } } } }, path: "spec.trafficPolicy.connectionPool.tcp.connectTimeout", contains: 'Invalid value: "string": must be a valid duration greater than 1ms', code: "TSMESH_SCHEMA_RULE" },
  { name: "duplicate in a set-list", kind: "ServiceEntry", spec: { hosts: ["example.com"], ports: [{ name: "a", number: 1 }, { name: "a", number: 2 }] }, path: "spec.ports[1]", contains: "Duplicate value", code: "TSMESH_SCHEMA_DUPLICATE" },
];

for (const c of schemaCases) {
  test(`schema: ${c.name}`, () => {
    const d = assertError(resource(c.kind, c.spec), c.path, c.contains);
    assert.ok(d.some((x) => x.code === c.code), `expected code ${c.code}, got ${d.map((x) => x.code).join(", ")}`);
  });
}

test("metadata is validated as Kubernetes does", () => {
  const r = (meta: object) => ({ ...(resource("DestinationRule", { host: "a" }) as object), metadata: meta });
  assertError(r({}), "metadata.name", "Required value");
  assertError(r({ name: "Bad_Name" }), "metadata.name", "RFC 1123 subdomain");
  assertError(r({ name: "ok", namespace: "Prod" }), "metadata.namespace", "RFC 1123 label");
  assertError(r({ name: "ok", labels: { version: 1 } }), "metadata.labels[version]", "must be a string");
  assertError(r({ name: "ok", labels: { "bad key!": "x" } }), "metadata.labels[bad key!]", "invalid label key");
  assertValid(r({ name: "ok", namespace: "prod", labels: { app: "x" }, annotations: { "a.b/c": "anything at all" }, generation: 3, resourceVersion: "42" }));
  assertError({ ...(resource("DestinationRule", { host: "a" }) as object), extra: 1 }, "extra", "Unknown field");
});

test("a formatted message names file, line, document, resource, field and code", () => {
  const text = `${VS}---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: reviews\nspec:\n  host: reviews\n  trafficPolicy:\n    loadBalancer:\n      simple: ROUND_ROBBIN\n`;
  const [, dr] = validateText(text, "rules.yaml");
  assert.equal(dr.valid, false);
  const line = formatDiagnostic(dr, dr.diagnostics[0]);
  assert.match(line, /^rules\.yaml:19:7 \(document 1\) DestinationRule default\/reviews: spec\.trafficPolicy\.loadBalancer\.simple: Unsupported value: "ROUND_ROBBIN"/);
  assert.match(line, /\[TSMESH_SCHEMA_ENUM\]$/);
});

test("go-yaml compatibility: an IPv6 address in a flow list stays a string", () => {
  const d = diagnose(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: v6}
spec:
  hosts: [example.com]
  addresses: [1.2.3.4, 2001:db8::]
  resolution: STATIC
  endpoints: [{address: 1.2.3.4}]
`);
  assert.deepEqual(d.filter((x) => x.severity === "error"), []);
});

test("durations: protobuf and Go forms", () => {
  const table: Array<[string, number | undefined]> = [
    ["1s", 1000],
    ["0.5s", 500],
    ["1.5s", 1500],
    ["250ms", 250],
    ["1m30s", 90_000],
    ["2h", 7_200_000],
    ["10us", 0.01],
    ["0", 0],
    ["5", undefined],
    ["s", undefined],
    ["1x", undefined],
    ["-1s", -1000],
  ];
  for (const [s, ms] of table) assert.equal(parseDuration(s), ms, s);
});
