// Generated xDS for Kubernetes Services over bookinfo's WorkloadEntries (tsmesh's pods): Istio's
// bookinfo-versions.yaml Services (reviews-v1, reviews-v2…) get outbound clusters and endpoints as
// istiod's kube registry gives them, and a Service with a named targetPort reaches only the
// workloads that name that port, on it, also in their inbound listeners.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CLUSTER_TYPE, ENDPOINT_TYPE } from "../../../src/envoy/protos.js";
import { buildClusters } from "../../../src/xds/gen/clusters.js";
import { EndpointsBuilder } from "../../../src/xds/gen/endpoints.js";
import { buildListeners } from "../../../src/xds/gen/listeners.js";
import { assertGolden, assertRoundTrip, pushContext, resourcesFromPaths, resourcesFromYaml, testProxy } from "../../helpers/xds.js";

// A web port on reviews-v2 only: the Service's named targetPort finds it there and nowhere else.
const NAMED_TARGET = `
apiVersion: v1
kind: Service
metadata: { name: reviews-web }
spec:
  selector: { app: reviews }
  ports: [{ name: http-web, port: 8000, targetPort: web }]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: reviews-v2-web, namespace: default }
spec: { address: 127.0.4.9, labels: { app: reviews, version: v2 }, ports: { web: 9555 }, serviceAccount: bookinfo-reviews, locality: local/zone-a }
`;

const push = () => pushContext([...resourcesFromPaths("examples/bookinfo", "samples/bookinfo/platform/kube/bookinfo-versions.yaml"), ...resourcesFromYaml(NAMED_TARGET)]);
const productpage = testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage", version: "v1" } });

describe("Kubernetes Services: generated xDS", () => {
  it("outbound clusters of bookinfo-versions' Services and the named-target Service (golden)", () => {
    const clusters = buildClusters(productpage, push()).filter((c) => /reviews-(v\d|web)\.default/.test(String(c.name)));
    for (const c of clusters) assertRoundTrip(CLUSTER_TYPE, c, String(c.name));
    assert.deepEqual(
      clusters.map((c) => c.name),
      ["outbound|8000||reviews-web.default.svc.cluster.local", "outbound|9080||reviews-v1.default.svc.cluster.local", "outbound|9080||reviews-v2.default.svc.cluster.local", "outbound|9080||reviews-v3.default.svc.cluster.local"],
    );
    assertGolden("clusters-kube-services", clusters);
  });

  it("endpoints: the selected WorkloadEntries, on the target port (golden)", () => {
    const p = push();
    const eb = new EndpointsBuilder();
    eb.beginPush(p, { full: true });
    const out: Record<string, unknown> = {};
    for (const name of ["outbound|9080||reviews-v2.default.svc.cluster.local", "outbound|8000||reviews-web.default.svc.cluster.local"]) {
      const cla = eb.build(productpage, p, name);
      assert.ok(cla, name);
      assertRoundTrip(ENDPOINT_TYPE, cla, name);
      out[name] = cla;
    }
    assertGolden("endpoints-kube-services", out);
    const addresses = (n: string) =>
      ((out[n] as { endpoints?: Array<{ lbEndpoints?: Array<{ endpoint?: { address?: { socketAddress?: { address?: string; portValue?: number } } } }> }> }).endpoints ?? []).flatMap((e) =>
        (e.lbEndpoints ?? []).map((l) => `${l.endpoint?.address?.socketAddress?.address}:${l.endpoint?.address?.socketAddress?.portValue}`),
      );
    assert.deepEqual(addresses("outbound|9080||reviews-v2.default.svc.cluster.local"), ["127.0.4.2:9080", "127.0.4.9:9080"]);
    assert.deepEqual(addresses("outbound|8000||reviews-web.default.svc.cluster.local"), ["127.0.4.9:9555"], "reviews without a web port serve not the named target");
  });

  it("inbound: a workload serves the Service port on its named port; one without that port does not", () => {
    const p = push();
    const proxy = (ip: string, name: string) => testProxy({ ip, name, labels: { app: "reviews", version: "v2" } });
    const served = (ip: string, name: string) => p.serviceInstances(proxy(ip, name)).map((i) => `${i.service.hostname}:${i.port.port}->${i.endpointPort}`);
    assert.deepEqual(served("127.0.4.9", "reviews-v2-web"), ["reviews.default.svc.cluster.local:9080->9080", "reviews-v2.default.svc.cluster.local:9080->9080", "reviews-web.default.svc.cluster.local:8000->9555"]);
    assert.deepEqual(served("127.0.4.2", "reviews-v2"), ["reviews.default.svc.cluster.local:9080->9080", "reviews-v2.default.svc.cluster.local:9080->9080"]);
    const inbound = (ip: string, name: string) => JSON.stringify(buildListeners(proxy(ip, name), p).find((l) => l.name === "virtualInbound"));
    assert.match(inbound("127.0.4.9", "reviews-v2-web"), /"destinationPort":\{"value":9555\}/);
    assert.doesNotMatch(inbound("127.0.4.2", "reviews-v2"), /"destinationPort":\{"value":9555\}/);
  });
});
