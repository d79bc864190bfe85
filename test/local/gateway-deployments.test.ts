// Istio's automated deployment of Gateway API gateways in `tsmesh up`'s plan: a router workload per
// Gateway of an Istio class, named and labelled as istiod's Deployment, on the address the Gateway
// requests (a loopback IPAddress) or one up assigns beside the mesh's other workloads.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AnyResource, Resource } from "../../src/api/resource.js";
import { validateText } from "../../src/api/validate.js";
import { gatewayDeployments } from "../../src/local/gateway-deployments.js";
import { planMesh } from "../../src/local/plan.js";

const gw = (name: string, extra = "", className = "istio") => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ${name}, namespace: default}
spec:
  gatewayClassName: ${className}
${extra}  listeners: [{name: http, port: 80, protocol: HTTP}]
`;
const we = (name: string, address: string) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}, namespace: default}
spec: {address: ${address}, labels: {app: ${name}}}
`;

function docs(...texts: string[]): AnyResource[] {
  return validateText(texts.join("---\n"), "t.yaml").map((d) => {
    assert.ok(d.resource, JSON.stringify(d.diagnostics));
    return d.resource;
  });
}

/** up's plan for these resources (WorkloadEntries, ServiceEntries, Gateway API Gateways). */
function planOf(all: AnyResource[]) {
  return planMesh({
    workloadEntries: all.filter((r): r is Resource<"WorkloadEntry"> => r.kind === "WorkloadEntry"),
    serviceEntries: all.filter((r): r is Resource<"ServiceEntry"> => r.kind === "ServiceEntry"),
    gateways: [],
    gatewayApi: all.filter((r) => r.kind === "KubernetesGateway"),
  });
}

describe("tsmesh up: Gateway API gateways get a router", () => {
  it("named NAME-CLASS, labelled as istiod labels the Deployment, its Gateways selecting it", () => {
    const [d] = gatewayDeployments(docs(gw("web"), we("app", "127.42.3.1")));
    assert.equal(d.workloadEntry.metadata.name, "web-istio");
    assert.deepEqual(d.workloadEntry.spec.labels, {
      "gateway.networking.k8s.io/gateway-name": "web",
      "gateway.networking.k8s.io/gateway-class-name": "istio",
      "gateway.istio.io/managed": "istio.io-gateway-controller",
      "service.istio.io/canonical-name": "web-istio",
    });
    assert.equal(d.workloadEntry.spec.serviceAccount, "web-istio");
    assert.equal(d.workloadEntry.spec.address, "127.42.255.1");
    assert.deepEqual(d.gateways.map((g) => g.spec.selector), [{ "gateway.networking.k8s.io/gateway-name": "web" }]);
  });

  it("spec.infrastructure.labels label the router, as istiod's template labels the pods: over the canonical name, under the gateway's own", () => {
    const infra = "  infrastructure:\n    labels: {app: web-gw, service.istio.io/canonical-name: web, gateway.networking.k8s.io/gateway-name: other}\n";
    const [d] = gatewayDeployments(docs(gw("web", infra), we("app", "127.42.3.1")));
    assert.deepEqual(d.workloadEntry.spec.labels, {
      app: "web-gw",
      "service.istio.io/canonical-name": "web",
      "gateway.networking.k8s.io/gateway-name": "web",
      "gateway.networking.k8s.io/gateway-class-name": "istio",
      "gateway.istio.io/managed": "istio.io-gateway-controller",
    });
  });

  it("addresses: a requested loopback IPAddress is used; others count up past the taken ones; a Hostname address is a manual deployment (no router)", () => {
    const ds = gatewayDeployments(
      docs(
        gw("a"),
        gw("b", "  addresses: [{type: IPAddress, value: 127.42.255.1}]\n"),
        gw("c", "  addresses: [{type: Hostname, value: gw.example.com}]\n"),
        gw("d", "  addresses: [{value: 10.1.2.3}]\n"),
        we("app", "127.42.3.1"),
        we("other", "127.42.255.2"),
      ),
    );
    assert.deepEqual(
      ds.map((d) => [d.gateway, d.workloadEntry.spec.address]),
      [
        ["default/a", "127.42.255.3"],
        ["default/b", "127.42.255.1"],
        ["default/d", "127.42.255.4"],
      ],
    );
  });

  it("addresses go in creation order: a Gateway applied later does not move a running one", () => {
    const applied = (name: string, at: string) => gw(name).replace(`metadata: {name: ${name}, namespace: default}`, `metadata: {name: ${name}, namespace: default, creationTimestamp: "${at}"}`);
    const before = gatewayDeployments(docs(applied("zz", "2026-01-01T00:00:00Z"), we("app", "127.42.3.1")));
    const after = gatewayDeployments(docs(applied("zz", "2026-01-01T00:00:00Z"), applied("aa", "2026-01-02T00:00:00Z"), gw("file"), we("app", "127.42.3.1")));
    assert.deepEqual(before.map((d) => [d.gateway, d.workloadEntry.spec.address]), [["default/zz", "127.42.255.1"]]);
    // A file's copy has no creationTimestamp: it counts as the oldest.
    assert.deepEqual(
      after.map((d) => [d.gateway, d.workloadEntry.spec.address]),
      [
        ["default/file", "127.42.255.1"],
        ["default/zz", "127.42.255.2"],
        ["default/aa", "127.42.255.3"],
      ],
    );
  });

  it("a Gateway of another class gets nothing; a GatewayClass naming istiod's controller counts", () => {
    const cls = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: mine}
spec: {controllerName: istio.io/gateway-controller}
`;
    assert.deepEqual(gatewayDeployments(docs(gw("x", "", "other"))), []);
    assert.equal(gatewayDeployments(docs(cls, gw("x", "", "mine")))[0].workloadEntry.metadata.name, "x-mine");
  });

  it("the plan runs it as a router serving the listener", () => {
    const all = docs(gw("web"), we("app", "127.42.3.1"));
    const plan = planOf(all);
    const w = plan.workloads.find((x) => x.name === "web-istio")!;
    assert.equal(w.role, "router");
    assert.deepEqual(w.gatewayServers, [{ url: "http://127.42.255.1:80", gateway: "default/web~istio-autogenerated-k8s-gateway~http", hosts: ["*"] }]);
  });

  it("a manually deployed Gateway (a Hostname address) makes the workloads of the Service it names routers", () => {
    const se = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: edge, namespace: default}
spec:
  hosts: [edge.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 80, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: edge}}
`;
    const all = docs(gw("web", "  addresses: [{type: Hostname, value: edge}]\n"), se, we("edge", "127.42.3.1"), we("app", "127.42.3.2"));
    const plan = planOf(all);
    const role = Object.fromEntries(plan.workloads.map((w) => [w.name, w.role]));
    assert.deepEqual(role, { app: "sidecar", edge: "router" }, "no web-istio router either");
    assert.deepEqual(plan.workloads.find((w) => w.name === "edge")!.gatewayServers.map((s) => s.url), ["http://127.42.3.1:80"]);
  });
});
