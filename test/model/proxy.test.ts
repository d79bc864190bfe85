import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseProxy, proxyNodeId, ProxyIdError } from "../../src/model/proxy.js";

describe("parseProxy", () => {
  it("reads Istio's node id and metadata", () => {
    const p = parseProxy({
      id: proxyNodeId("sidecar", "127.0.2.1", "productpage-v1", "default"),
      locality: { region: "local", zone: "zone-a" },
      metadata: { NAMESPACE: "default", LABELS: { app: "productpage", n: 3 }, GENERATOR: "grpc", INTERCEPTION_MODE: "NONE" },
    });
    assert.equal(p.id, "sidecar~127.0.2.1~productpage-v1.default~default.svc.cluster.local");
    assert.equal(p.type, "sidecar");
    assert.deepEqual(p.ipAddresses, ["127.0.2.1"]);
    assert.equal(p.name, "productpage-v1");
    assert.equal(p.namespace, "default");
    assert.deepEqual(p.labels, { app: "productpage" }, "non-string label values are ignored");
    assert.deepEqual(p.locality, { region: "local", zone: "zone-a", subZone: "" });
    assert.equal(p.generator, "grpc");
    assert.equal(p.interceptionMode, "NONE");
  });

  it("takes the namespace from the id when metadata has none, and routers", () => {
    const p = parseProxy({ id: "router~127.0.1.1~istio-ingressgateway.istio-system~istio-system.svc.cluster.local" });
    assert.equal(p.type, "router");
    assert.equal(p.namespace, "istio-system");
    assert.equal(p.generator, "envoy");
    assert.equal(p.interceptionMode, "REDIRECT");
  });

  const bad = ["", "sidecar~1.2.3.4", "gateway~1.2.3.4~a.b~b.svc.cluster.local", "a~b~c~d~e"];
  for (const id of bad) {
    it(`rejects node id ${JSON.stringify(id)} with an example`, () => {
      assert.throws(() => parseProxy({ id }), (e: unknown) => e instanceof ProxyIdError && /sidecar|router/.test(e.message));
    });
  }
});
