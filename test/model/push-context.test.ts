import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pushContext, resourcesFromYaml, testProxy, bookinfo } from "../helpers/xds.js";

const SERVICES = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: reviews, namespace: default }
spec: { hosts: [reviews.default.svc.cluster.local], resolution: STATIC, location: MESH_INTERNAL, ports: [{ name: http, number: 9080, protocol: HTTP }], workloadSelector: { labels: { app: reviews } } }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ratings, namespace: backend }
spec: { hosts: [ratings.backend.svc.cluster.local], resolution: STATIC, location: MESH_INTERNAL, ports: [{ name: http, number: 9080, protocol: HTTP }], exportTo: ["."] }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: shared-old, namespace: a }
spec: { hosts: [shared.example.com], resolution: NONE, ports: [{ name: tcp, number: 1, protocol: TCP }] }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: shared-own, namespace: default }
spec: { hosts: [shared.example.com], resolution: NONE, ports: [{ name: tcp, number: 2, protocol: TCP }] }
`;

function dr(ns: string, name: string, host: string, extra = ""): string {
  return `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name}, namespace: ${ns} }
spec:
  host: "${host}"
${extra}`;
}

const proxy = testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage" } });
const reviews = { hostname: "reviews.default.svc.cluster.local", namespace: "default" };

describe("PushContext services", () => {
  it("applies exportTo and prefers the proxy's own namespace for a shared host", () => {
    const push = pushContext(resourcesFromYaml(SERVICES));
    const hosts = push.servicesFor(proxy).map((s) => `${s.hostname}@${s.namespace}`);
    assert.deepEqual(hosts, ["reviews.default.svc.cluster.local@default", "shared.example.com@default"]);
    const other = testProxy({ ip: "127.0.9.9", name: "x", namespace: "backend" });
    assert.ok(push.servicesFor(other).some((s) => s.hostname === "ratings.backend.svc.cluster.local"));
    assert.equal(push.pickService("shared.example.com", "backend")?.namespace, "a", "oldest when none is local");
  });

  it("limits services by the Sidecar's egress hosts (workload selector beats namespace default)", () => {
    const push = pushContext(
      resourcesFromYaml(`${SERVICES}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: default }
spec: { egress: [{ hosts: ["./reviews.default.svc.cluster.local"] }] }
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: pp, namespace: default }
spec:
  workloadSelector: { labels: { app: productpage } }
  egress: [{ hosts: ["*/shared.example.com"] }]
  outboundTrafficPolicy: { mode: REGISTRY_ONLY }
`),
    );
    const scope = push.sidecarScope(proxy);
    assert.equal(scope.key, "default/pp");
    assert.equal(scope.outboundTrafficPolicy, "REGISTRY_ONLY");
    assert.deepEqual(push.servicesFor(proxy).map((s) => s.hostname), ["shared.example.com"]);
    const other = testProxy({ ip: "127.0.9.9", name: "x", labels: { app: "other" } });
    assert.deepEqual(push.servicesFor(other).map((s) => s.hostname), ["reviews.default.svc.cluster.local"]);
  });
});

describe("PushContext DestinationRule precedence", () => {
  const table: Array<{ name: string; rules: string; proxyNs?: string; want: string | undefined }> = [
    { name: "service namespace rule", rules: dr("default", "svc", "reviews"), want: "default/svc" },
    { name: "proxy namespace beats service namespace", rules: dr("default", "svc", "reviews") + dr("client", "own", "reviews.default.svc.cluster.local"), proxyNs: "client", want: "client/own" },
    { name: "root namespace as last resort", rules: dr("istio-system", "mesh", "*.svc.cluster.local"), want: "istio-system/mesh" },
    { name: "service namespace beats root", rules: dr("istio-system", "mesh", "*.svc.cluster.local") + dr("default", "svc", "reviews"), want: "default/svc" },
    { name: "exact host beats wildcard in one namespace", rules: dr("default", "wild", "*.default.svc.cluster.local") + dr("default", "exact", "reviews"), want: "default/exact" },
    { name: "rule not exported to the proxy's namespace", rules: dr("default", "svc", "reviews", '  exportTo: ["."]\n'), proxyNs: "client", want: undefined },
    { name: "no rule", rules: dr("default", "x", "ratings"), want: undefined },
  ];
  for (const t of table) {
    it(t.name, () => {
      const push = pushContext(resourcesFromYaml(SERVICES + t.rules));
      assert.equal(push.destinationRule(t.proxyNs ?? "default", reviews)?.names[0], t.want);
    });
  }

  it("merges rules for one host in one namespace: subsets added, first policy wins", () => {
    const push = pushContext(
      resourcesFromYaml(
        SERVICES +
          dr("default", "a", "reviews", "  trafficPolicy: { loadBalancer: { simple: RANDOM } }\n  subsets: [{ name: v1, labels: { version: v1 } }]\n") +
          dr("default", "b", "reviews", "  trafficPolicy: { loadBalancer: { simple: LEAST_REQUEST } }\n  subsets: [{ name: v1, labels: { version: x } }, { name: v2, labels: { version: v2 } }]\n"),
      ),
    );
    const m = push.destinationRule("default", reviews)!;
    assert.deepEqual(m.names, ["default/a", "default/b"]);
    assert.deepEqual(m.subsets.map((s) => `${s.name}:${s.labels?.version}`), ["v1:v1", "v2:v2"]);
    assert.equal(m.trafficPolicy?.loadBalancer?.simple, "RANDOM");
  });
});

describe("PushContext gateways and VirtualServices", () => {
  it("binds bookinfo's VirtualService to its gateway and selects the ingress gateway by labels", () => {
    const push = bookinfo();
    const gw = testProxy({ type: "router", ip: "127.0.1.1", name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" } });
    assert.deepEqual([...new Set(push.gatewayServers(gw).map((s) => s.gateway))], ["default/bookinfo-gateway"]);
    assert.deepEqual(push.virtualServices("istio-system", "default/bookinfo-gateway").map((v) => v.metadata.name), ["bookinfo"]);
    assert.deepEqual(push.virtualServices("default", "mesh"), []);
    assert.equal(push.gatewayServers(testProxy({ type: "router", ip: "127.0.1.2", name: "other", labels: { istio: "egress" } })).length, 0);
  });

  it("binds a VirtualService by the legacy name.namespace gateway form to that namespace's gateway", () => {
    const push = bookinfo(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: legacy, namespace: team }
spec:
  hosts: ["shop.example.com"]
  gateways: [bookinfo-gateway.default.svc.cluster.local]
  http: [{ route: [{ destination: { host: productpage.default.svc.cluster.local } }] }]
`);
    assert.deepEqual(push.virtualServices("istio-system", "default/bookinfo-gateway").map((v) => v.metadata.name), ["bookinfo", "legacy"]);
  });

  it("finds the service instances a proxy serves and the labels of its WorkloadEntry", () => {
    const push = bookinfo();
    const p = testProxy({ ip: "127.0.4.2", name: "reviews-v2" });
    assert.deepEqual(push.serviceInstances(p).map((i) => `${i.service.hostname}:${i.port.port}->${i.endpointPort}`), ["reviews.default.svc.cluster.local:9080->9080"]);
    assert.equal(push.workloadLabels(p)?.version, "v2");
  });
});
