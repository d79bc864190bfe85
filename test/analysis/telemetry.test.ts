// Telemetry analysis: Istio's IST0157/IST0160 and tsmesh's provider checks (TSM0020-TSM0022).
import assert from "node:assert/strict";
import { test } from "node:test";
import { analyze } from "../../src/analysis/analyze.js";
import type { TelemetryAnalysisMesh } from "../../src/analysis/telemetry.js";
import { validateText } from "../../src/api/validate.js";
import { meshFrom, parseMeshConfig } from "../../src/controlplane/mesh-config.js";

const tel = (name: string, ns: string, spec: string) => `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: ${name}, namespace: ${ns}}
spec:
${spec.replace(/^/gm, "  ")}
`;
const ZIPKIN_SE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: zipkin, namespace: istio-system}
spec:
  hosts: [zipkin.istio-system.svc.cluster.local]
  ports: [{number: 9411, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.9}]
`;

function meshOf(yaml: string): TelemetryAnalysisMesh {
  const m = meshFrom(parseMeshConfig(yaml, "mesh.yaml"));
  return { rootNamespace: m.rootNamespace, extensionProviders: m.extensionProviders, defaultAccessLogging: m.telemetry.defaultProviders.accessLogging };
}

const run = (docs: string[], mesh?: TelemetryAnalysisMesh) =>
  analyze(validateText(docs.join("---\n"), "in.yaml"), { mesh })
    .filter((m) => m.code !== "IST0133")
    .map((m) => `${m.code} ${m.resource}${m.path ? ` ${m.path}` : ""}`);

const MESH = meshOf(`extensionProviders:
- name: zipkin
  zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}
- name: otel
  opentelemetry: {service: otel.observability.svc.cluster.local, port: 4317}
- name: sd
  stackdriver: {}
- name: als
  envoyHttpAls: {service: als.default.svc.cluster.local, port: 9000}
`);

test("Istio's observability task Telemetries are clean with the task's mesh config", () => {
  const docs = [
    ZIPKIN_SE,
    tel("mesh-default", "istio-system", "accessLogging:\n- providers: [{name: envoy}]\ntracing:\n- providers: [{name: zipkin}]\n  randomSamplingPercentage: 100\nmetrics:\n- providers: [{name: prometheus}]"),
  ];
  assert.deepEqual(run(docs, MESH), []);
});

test("TSM0020/TSM0021/TSM0022: unknown names, wrong kinds, unimplemented kinds, services no ServiceEntry declares", () => {
  const docs = [
    ZIPKIN_SE,
    tel(
      "t",
      "default",
      [
        "metrics:",
        "- providers: [{name: nope}, {name: sd}]",
        "accessLogging:",
        "- providers: [{name: als}, {name: prometheus}]",
        "tracing:",
        "- providers: [{name: otel}, {name: ZIPKIN}]",
      ].join("\n"),
    ),
  ];
  assert.deepEqual(run(docs, MESH), [
    "TSM0020 Telemetry default/t spec.metrics[0].providers[0].name",
    "TSM0021 Telemetry default/t spec.metrics[0].providers[1].name",
    "TSM0021 Telemetry default/t spec.accessLogging[0].providers[0].name",
    "TSM0020 Telemetry default/t spec.accessLogging[0].providers[1].name",
    "TSM0022 Telemetry default/t spec.tracing[0].providers[0].name",
  ]);
  // Without a mesh config, providers are not checked; without ServiceEntries, services are not either.
  assert.deepEqual(run(docs.slice(1)), []);
  assert.deepEqual(run(docs.slice(1), MESH).filter((m) => m.startsWith("TSM0022")), []);
});

test("IST0157: access logging without providers and no default provider; IST0160: two namespace-wide Telemetries", () => {
  const docs = [tel("a", "default", "accessLogging:\n- {}\n- disabled: true"), tel("b", "default", "metrics:\n- providers: [{name: prometheus}]"), tel("c", "default", "selector: {matchLabels: {app: x}}")];
  assert.deepEqual(run(docs, MESH), ["IST0157 Telemetry default/a spec.accessLogging[0]", "IST0160 Telemetry default/a", "IST0160 Telemetry default/b"]);
  // A default access-logging provider makes the empty list mean "the default".
  assert.deepEqual(run(docs, meshOf("defaultProviders: {accessLogging: [envoy]}")), ["IST0160 Telemetry default/a", "IST0160 Telemetry default/b"]);
});
