// Test helpers for validation table tests.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { kindInfo } from "../../src/api/kinds.js";
import { validateObject, validateText } from "../../src/api/validate.js";
import type { Diagnostic } from "../../src/core/errors.js";

/** Validates one resource given as YAML text or an object; returns its diagnostics. */
export function diagnose(input: string | object): Diagnostic[] {
  if (typeof input === "string") {
    const docs = validateText(input, "test.yaml");
    assert.equal(docs.length, 1, "expected exactly one document");
    return docs[0].diagnostics;
  }
  return validateObject(input).diagnostics;
}

/** Builds a resource of `kind` with the given spec (metadata name "test", namespace "default"). */
export function resource(kind: string, spec: unknown, apiVersion?: string): object {
  const group: Record<string, string> = {
    AuthorizationPolicy: "security.istio.io/v1",
    PeerAuthentication: "security.istio.io/v1",
    RequestAuthentication: "security.istio.io/v1",
    Telemetry: "telemetry.istio.io/v1",
    WasmPlugin: "extensions.istio.io/v1alpha1",
    TrafficExtension: "extensions.istio.io/v1alpha1",
    EnvoyFilter: "networking.istio.io/v1alpha3",
    ProxyConfig: "networking.istio.io/v1beta1",
    Service: "v1",
  };
  // Gateway API kinds may be named by Istio's internal name (KubernetesGateway): YAML spells them by yamlKind.
  const info = kindInfo(kind);
  if (info?.group === "gateway.networking.k8s.io")
    return { apiVersion: apiVersion ?? `${info.group}/${info.storageVersion}`, kind: info.yamlKind, metadata: { name: "test", namespace: "default" }, spec };
  return { apiVersion: apiVersion ?? group[kind] ?? "networking.istio.io/v1", kind, metadata: { name: "test", namespace: "default" }, spec };
}

/** Asserts no errors (warnings allowed). */
export function assertValid(input: string | object): Diagnostic[] {
  const d = diagnose(input);
  const errors = d.filter((x) => x.severity === "error");
  assert.deepEqual(errors, [], "expected the resource to be valid");
  return d;
}

/**
 * Asserts at least one error whose path equals `path` and whose message contains `contains`
 * (when given). Returns all diagnostics.
 */
export function assertError(input: string | object, path: string, contains?: string | RegExp): Diagnostic[] {
  const d = diagnose(input);
  const hit = d.find(
    (x) =>
      x.severity === "error" &&
      x.path === path &&
      (contains === undefined || (typeof contains === "string" ? x.message.includes(contains) : contains.test(x.message))),
  );
  assert.ok(hit, `expected an error at ${path}${contains ? ` containing ${String(contains)}` : ""}; got:\n${d.map((x) => `  ${x.path}: ${x.message}`).join("\n")}`);
  return d;
}

/** Asserts a warning (not an error) at `path`. */
export function assertWarning(input: string | object, path: string, contains?: string | RegExp): Diagnostic[] {
  const d = diagnose(input);
  const hit = d.find(
    (x) =>
      x.severity === "warning" &&
      x.path === path &&
      (contains === undefined || (typeof contains === "string" ? x.message.includes(contains) : contains.test(x.message))),
  );
  assert.ok(hit, `expected a warning at ${path}; got:\n${d.map((x) => `  ${x.severity} ${x.path}: ${x.message}`).join("\n")}`);
  assert.ok(!d.some((x) => x.severity === "error"), "expected no errors");
  return d;
}

export interface TableCase {
  name: string;
  spec: object;
  path?: string;
  contains?: string | RegExp;
}

/** The rejects / warns / accepts trio of table tests for one kind. */
export function kindTables(kind: string, tables: { invalid: TableCase[]; warnings: TableCase[]; valid: TableCase[] }, extraWarns?: () => void): void {
  describe(`${kind} semantic validation`, () => {
    describe("rejects", () => {
      for (const c of tables.invalid) it(c.name, () => void assertError(resource(kind, c.spec), c.path ?? "", c.contains));
    });
    describe("warns", () => {
      for (const c of tables.warnings) it(c.name, () => void assertWarning(resource(kind, c.spec), c.path ?? "", c.contains));
      extraWarns?.();
    });
    describe("accepts", () => {
      for (const c of tables.valid) it(c.name, () => void assertValid(resource(kind, c.spec)));
    });
  });
}
