// Table tests for Istio's semantic rules on Telemetry.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { assertError, assertValid, assertWarning, resource } from "../../helpers/validate.js";

interface Case {
  name: string;
  spec: unknown;
  path: string;
  contains?: string | RegExp;
}

const valid: { name: string; spec: unknown }[] = [
  { name: "empty spec", spec: {} },
  { name: "metrics with provider and overrides", spec: { metrics: [{ providers: [{ name: "prometheus" }], overrides: [{ match: { metric: "REQUEST_COUNT", mode: "CLIENT" }, tagOverrides: { request_host: { value: "request.host" }, grpc_status: { operation: "REMOVE" } } }] }] } },
  { name: "disable all metrics", spec: { metrics: [{ overrides: [{ disabled: true }] }] } },
  { name: "access log filter", spec: { accessLogging: [{ providers: [{ name: "envoy" }], filter: { expression: "response.code >= 400 || xds.cluster_name == 'x'" } }] } },
  { name: "tracing with custom tags", spec: { tracing: [{ providers: [{ name: "zipkin" }], randomSamplingPercentage: 10, customTags: { env: { environment: { name: "POD" } }, lit: { literal: { value: "v" } }, hdr: { header: { name: "x-id" } } } }] } },
  { name: "targetRefs to a Gateway", spec: { targetRefs: [{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "gw" }], tracing: [{ randomSamplingPercentage: 100 }] } },
  { name: "selector with labels", spec: { selector: { matchLabels: { app: "a" } }, accessLogging: [{ disabled: true }] } },
];

const errors: Case[] = [
  { name: "access log filter not CEL", spec: { accessLogging: [{ filter: { expression: "response.code >=" } }] }, path: "spec.accessLogging[0].filter.expression", contains: "not valid CEL" },
  { name: "access log filter with unbalanced parens", spec: { accessLogging: [{}, { filter: { expression: "(a && b" } }] }, path: "spec.accessLogging[1].filter.expression", contains: "not valid CEL" },
  { name: "access log filter without expression", spec: { accessLogging: [{ filter: {} }] }, path: "spec.accessLogging[0].filter.expression", contains: "must not be empty" },
  { name: "blank access log filter", spec: { accessLogging: [{ filter: { expression: "  " } }] }, path: "spec.accessLogging[0].filter.expression" },
  { name: "empty custom tag name", spec: { tracing: [{ customTags: { "": { literal: { value: "v" } } } }] }, path: "spec.tracing[0].customTags[]", contains: "must not be empty" },
  { name: "targetRef to a Deployment", spec: { targetRef: { group: "apps", kind: "Deployment", name: "d" } }, path: "spec.targetRef.kind", contains: "not supported" },
  { name: "targetRefs to an HTTPRoute", spec: { targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "r" }] }, path: "spec.targetRefs[0].kind" },
];

const warnings: Case[] = [
  { name: "two tracing configurations", spec: { tracing: [{ randomSamplingPercentage: 1 }, { randomSamplingPercentage: 2 }] }, path: "spec.tracing", contains: "only the first" },
  { name: "two tracing providers", spec: { tracing: [{ providers: [{ name: "a" }, { name: "b" }] }] }, path: "spec.tracing[0].providers", contains: "multiple tracing providers" },
  { name: "custom tag without a type", spec: { tracing: [{ customTags: { t: {} } }] }, path: "spec.tracing[0].customTags[t]", contains: "adds nothing" },
  { name: "empty tag override name", spec: { metrics: [{ overrides: [{ tagOverrides: { "": { operation: "REMOVE" } } }] }] }, path: "spec.metrics[0].overrides[0].tagOverrides[]", contains: "empty" },
  { name: "selector without labels", spec: { selector: {} }, path: "spec.selector", contains: "every workload" },
];

describe("Telemetry: valid", () => {
  for (const c of valid)
    test(c.name, () => {
      assertValid(resource("Telemetry", c.spec));
    });
});

describe("Telemetry: errors", () => {
  for (const c of errors)
    test(c.name, () => {
      const d = assertError(resource("Telemetry", c.spec), c.path, c.contains);
      assert.ok(!d.some((x) => x.code.startsWith("TSMESH_SCHEMA")), `unexpected schema error: ${JSON.stringify(d)}`);
    });
});

describe("Telemetry: warnings", () => {
  for (const c of warnings)
    test(c.name, () => {
      assertWarning(resource("Telemetry", c.spec), c.path, c.contains);
    });
});
