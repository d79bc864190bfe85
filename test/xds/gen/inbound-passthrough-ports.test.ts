// Local mode's passthrough ports (Istio's traffic.sidecar.istio.io/includeInboundPorts on a
// WorkloadEntry): a port no service declares gets a bound inbound listener and an inbound cluster to
// the app on the same port, with the workload's authorization filters on its chains; ports of a
// service, capture mode and Sidecar ingress listeners add nothing; a bad value is a validation error.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validateText } from "../../../src/api/validate.js";
import type { AnyResource } from "../../../src/api/resource.js";
import type { Listener } from "../../../src/envoy/types.js";
import { buildClusters } from "../../../src/xds/gen/clusters.js";
import { buildListeners } from "../../../src/xds/gen/listeners.js";
import { pushContext, resourcesFromPaths, resourcesFromYaml, testProxy } from "../../helpers/xds.js";

const ALLOW_9080 = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ratings, namespace: default}
spec:
  selector: {matchLabels: {app: ratings}}
  rules: [{to: [{operation: {ports: ["9080"]}}]}]
`;

function resources(annotation: string | undefined, extra = ""): AnyResource[] {
  const res = [...resourcesFromPaths("examples/bookinfo"), ...(extra ? resourcesFromYaml(extra) : [])];
  const we = res.find((r) => r.kind === "WorkloadEntry" && r.metadata.name === "ratings-v1")!;
  if (annotation !== undefined) we.metadata.annotations = { ...we.metadata.annotations, "traffic.sidecar.istio.io/includeInboundPorts": annotation };
  return res;
}

const ratings = (metadata: Record<string, unknown> = { INTERCEPTION_MODE: "NONE", INBOUND_APP_ADDRESS: "127.128.5.1" }) =>
  testProxy({ ip: "127.0.5.1", name: "ratings-v1", labels: { app: "ratings", version: "v1" }, metadata });

const listenerNames = (ls: Listener[]) => ls.map((l) => l.name).filter((n) => n?.startsWith("127.0.5.1_"));

describe("includeInboundPorts in local mode", () => {
  it("binds a listener and an inbound cluster to the app for each port no service declares", () => {
    const push = pushContext(resources("9080,9002,7070", ALLOW_9080));
    const proxy = ratings();
    assert.deepEqual(listenerNames(buildListeners(proxy, push)).sort(), ["127.0.5.1_7070", "127.0.5.1_9002", "127.0.5.1_9080"]);
    const clusters = buildClusters(proxy, push).filter((c) => c.name?.startsWith("inbound|"));
    const c9002 = clusters.find((c) => c.name === "inbound|9002||");
    assert.ok(c9002, clusters.map((c) => c.name).join(", "));
    assert.deepEqual(c9002.loadAssignment?.endpoints?.[0].lbEndpoints?.[0].endpoint?.address?.socketAddress, { address: "127.128.5.1", portValue: 9002 });
    // The ALLOW for 9080 only: the passthrough port's chains carry the network RBAC that denies it.
    const l9002 = buildListeners(proxy, push).find((l) => l.name === "127.0.5.1_9002")!;
    const tcpChains = l9002.filterChains!.filter((fc) => fc.filters!.some((f) => f.name === "envoy.filters.network.tcp_proxy"));
    assert.ok(tcpChains.length > 0);
    // After Istio's metadata exchange, which every inbound chain starts with.
    for (const fc of tcpChains) assert.deepEqual(fc.filters!.slice(0, 2).map((f) => f.name), ["istio.metadata_exchange", "envoy.filters.network.rbac"]);
  });

  it("adds nothing for \"*\", without the annotation, under capture, or with Sidecar ingress listeners", () => {
    for (const a of ["*", undefined]) assert.deepEqual(listenerNames(buildListeners(ratings(), pushContext(resources(a)))), ["127.0.5.1_9080"], String(a));
    const captured = buildListeners(ratings({ INTERCEPTION_MODE: "REDIRECT" }), pushContext(resources("9002")));
    assert.equal(captured.some((l) => l.name?.endsWith("_9002")), false);
    const sidecar = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ratings, namespace: default}
spec:
  workloadSelector: {labels: {app: ratings}}
  ingress:
  - port: {number: 9080, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:9080
`;
    assert.equal(listenerNames(buildListeners(ratings(), pushContext(resources("9002", sidecar)))).includes("127.0.5.1_9002"), false);
  });

  it("validation refuses what is not \"*\" or a list of ports, naming the annotation", () => {
    const we = (v: string) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: w
  annotations: {"traffic.sidecar.istio.io/includeInboundPorts": "${v}"}
spec: {address: 127.0.0.9}
`;
    for (const good of ["*", "9000", "9000, 9002", ""]) assert.equal(validateText(we(good), "w.yaml")[0].valid, true, good);
    for (const bad of ["0", "70000", "http", "9000;9001", "-1"]) {
      const d = validateText(we(bad), "w.yaml")[0];
      assert.equal(d.valid, false, bad);
      assert.match(d.diagnostics.map((x) => `${x.path}: ${x.message}`).join("\n"), /metadata\.annotations\[traffic\.sidecar\.istio\.io\/includeInboundPorts\]: .* is not a port/, bad);
    }
  });
});
