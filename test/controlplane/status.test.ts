// The status registry: providers per kind (or for all), merged per resource, analysis computed once
// per listing; Istio's provider reports analyze's messages in IstioStatus's validationMessages shape.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { AnyResource } from "../../src/api/resource.js";
import { defaultStatusRegistry, StatusContext, StatusRegistry } from "../../src/controlplane/status.js";

const vs = (name: string, subset: string): AnyResource => ({
  apiVersion: "networking.istio.io/v1",
  kind: "VirtualService",
  metadata: { name, namespace: "default", generation: 3 },
  spec: { hosts: [name], http: [{ route: [{ destination: { host: name, subset } }] }] },
});
const dr: AnyResource = { apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: { name: "reviews", namespace: "default" }, spec: { host: "reviews", subsets: [{ name: "v1", labels: { version: "v1" } }] } };

test("providers apply to their kinds and merge, later fields winning", () => {
  const registry = new StatusRegistry();
  registry.register(() => ({ a: 1, shared: "first" }));
  registry.register(() => ({ shared: "second" }), ["VirtualService"]);
  registry.register(() => undefined, ["DestinationRule"]);
  const ctx = new StatusContext([], { rootNamespace: "istio-system" });
  const cases: Array<[AnyResource, Record<string, unknown> | undefined]> = [
    [vs("reviews", "v1"), { a: 1, shared: "second" }],
    [dr, { a: 1, shared: "first" }],
  ];
  for (const [r, want] of cases) assert.deepEqual(registry.statusOf(r, ctx), want, r.kind);
  assert.equal(new StatusRegistry().statusOf(dr, ctx), undefined);
});

test("memo computes once per context", () => {
  const ctx = new StatusContext([], { rootNamespace: "istio-system" });
  let n = 0;
  assert.equal(ctx.memo("k", () => ++n), 1);
  assert.equal(ctx.memo("k", () => ++n), 1);
  assert.equal(new StatusContext([], { rootNamespace: "istio-system" }).memo("k", () => ++n), 2);
});

test("Istio kinds: observedGeneration, and analyze's messages as validationMessages", () => {
  const good = vs("reviews", "v1");
  const bad = vs("reviews-x", "v7");
  const resources = [good, bad, dr];
  const ctx = new StatusContext(resources, { rootNamespace: "istio-system" });
  const registry = defaultStatusRegistry();
  assert.deepEqual(registry.statusOf(good, ctx), { observedGeneration: "3" });
  const s = registry.statusOf(bad, ctx) as { validationMessages: Array<Record<string, unknown>> };
  // No DestinationRule for host reviews-x: Istio's IST0101 ReferencedResourceNotFound.
  assert.equal(s.validationMessages.length, 1);
  assert.deepEqual(s.validationMessages[0].type, { code: "IST0101", name: "ReferencedResourceNotFound" });
  assert.equal(s.validationMessages[0].level, "ERROR");
  assert.equal(s.validationMessages[0].documentationUrl, "https://istio.io/latest/docs/reference/config/analysis/ist0101/");
  assert.deepEqual(registry.statusOf(dr, ctx), { observedGeneration: "1" });
});

test("Gateway API kinds: the default registry gives a Gateway its address and conditions, a route its parents", async () => {
  const { readFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { packageRoot } = await import("../../src/core/paths.js");
  const { validateText } = await import("../../src/api/validate.js");
  const file = join(packageRoot(), "samples/bookinfo/gateway-api/bookinfo-gateway.yaml");
  const resources = validateText(readFileSync(file, "utf8"), file).flatMap((d) => (d.resource ? [d.resource] : []));
  const gateway = resources.find((r) => r.kind === "KubernetesGateway");
  const route = resources.find((r) => r.kind === "HTTPRoute");
  assert.ok(gateway && route, "the sample has a Gateway and an HTTPRoute");
  const ctx = new StatusContext(resources, { rootNamespace: "istio-system" });
  const registry = defaultStatusRegistry();
  const gs = registry.statusOf(gateway, ctx) as { addresses?: Array<{ value: string }>; conditions: Array<{ type: string; status: string }> };
  assert.ok((gs.addresses ?? []).length > 0, "the Gateway's address (the router tsmesh up deploys for it)");
  assert.deepEqual(gs.conditions.map((c) => [c.type, c.status]), [["Accepted", "True"], ["Programmed", "True"], ["ResolvedRefs", "True"]]);
  const rs = registry.statusOf(route, ctx) as { parents: Array<{ conditions: Array<{ type: string; status: string }> }> };
  assert.equal(rs.parents.length, 1);
  assert.ok(rs.parents[0].conditions.some((c) => c.type === "Accepted" && c.status === "True"));
});
