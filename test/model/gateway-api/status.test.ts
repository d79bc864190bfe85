// The status istiod writes on Gateway API resources (Istio's conditions and reasons), as the mesh
// API's status provider returns it for Istio's samples.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { AnyResource } from "../../../src/api/resource.js";
import { validateText } from "../../../src/api/validate.js";
import { packageRoot } from "../../../src/core/paths.js";
import { gatewayApiStatusProvider, type StatusInputs } from "../../../src/model/gateway-api/status.js";

function inputs(...files: string[]): StatusInputs {
  const resources: AnyResource[] = [];
  for (const f of files) for (const d of validateText(readFileSync(join(packageRoot(), f), "utf8"), f)) if (d.resource) resources.push(d.resource);
  const memos = new Map<string, unknown>();
  let computed = 0;
  return {
    resources,
    memo<T>(key: string, compute: () => T): T {
      if (!memos.has(key)) {
        computed++;
        memos.set(key, compute());
      }
      assert.ok(computed <= 2, "the conversion and addresses are computed once per listing");
      return memos.get(key) as T;
    },
  };
}

const find = (ctx: StatusInputs, kind: string, name: string) => ctx.resources.find((r) => r.kind === kind && r.metadata.name === name)!;
const summary = (conditions: Array<{ type: string; status: string; reason: string }>) => conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);

describe("Gateway API status (istiod's conditions and reasons)", () => {
  const ctx = inputs("examples/bookinfo/services.yaml", "examples/bookinfo/workloads.yaml", "samples/bookinfo/gateway-api/bookinfo-gateway.yaml", "samples/bookinfo/gateway-api/route-reviews-90-10.yaml");

  it("the Gateway: its router's address, Accepted and Programmed, each listener's kinds and attached routes", () => {
    const s = gatewayApiStatusProvider(find(ctx, "KubernetesGateway", "bookinfo-gateway"), ctx) as {
      addresses: unknown;
      conditions: Array<{ type: string; status: string; reason: string; message: string }>;
      listeners: Array<{ name: string; attachedRoutes: number; supportedKinds: unknown; conditions: Array<{ type: string; status: string; reason: string }> }>;
    };
    assert.deepEqual(s.addresses, [{ type: "IPAddress", value: "127.0.255.1" }]);
    assert.deepEqual(summary(s.conditions), ["Accepted=True/Accepted", "Programmed=True/Programmed", "ResolvedRefs=True/ResolvedRefs"]);
    assert.equal(s.conditions[1].message, "Resource programmed, assigned to service(s) bookinfo-gateway-istio.default.svc.cluster.local:80");
    assert.equal(s.listeners[0].name, "http");
    assert.equal(s.listeners[0].attachedRoutes, 1);
    assert.deepEqual(s.listeners[0].supportedKinds, [
      { group: "gateway.networking.k8s.io", kind: "HTTPRoute" },
      { group: "gateway.networking.k8s.io", kind: "GRPCRoute" },
    ]);
    assert.deepEqual(summary(s.listeners[0].conditions), ["Accepted=True/Accepted", "Conflicted=False/NoConflicts", "ResolvedRefs=True/ResolvedRefs", "Programmed=True/Programmed"]);
  });

  it("routes: one parent per parentRef, with Accepted and ResolvedRefs", () => {
    const s = gatewayApiStatusProvider(find(ctx, "HTTPRoute", "reviews"), ctx) as { parents: Array<{ controllerName: string; parentRef: unknown; conditions: Array<{ type: string; status: string; reason: string }> }> };
    assert.equal(s.parents.length, 1);
    assert.equal(s.parents[0].controllerName, "istio.io/gateway-controller");
    assert.deepEqual(s.parents[0].parentRef, { group: "", kind: "Service", name: "reviews", port: 9080 });
    // reviews-v1 and reviews-v2 are Istio's bookinfo-versions services, not in this listing.
    assert.deepEqual(summary(s.parents[0].conditions), ["Accepted=True/Accepted", "ResolvedRefs=False/BackendNotFound"]);
  });

  it("a Gateway of another class has no status from istiod's controller", () => {
    const other = inputs("samples/httpbin/gateway-api/httpbin-gateway.yaml");
    const gw = find(other, "KubernetesGateway", "httpbin-gateway");
    const foreign = { ...gw, spec: { ...(gw.spec as object), gatewayClassName: "other" } } as AnyResource;
    const ctx2: StatusInputs = { resources: [foreign], memo: (_k, f) => f() };
    assert.equal(gatewayApiStatusProvider(foreign, ctx2), undefined);
  });
});
