// Kubernetes Services as istiod's kube registry converts them (conversion.go, ConvertProtocol, and
// the WorkloadEntries a Service selects): protocol, host, resolution, addresses, exportTo, and the
// endpoints (selector, namespace, numeric and named target ports).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KubeServicePort } from "../../src/api/kube-service.js";
import type { Resource } from "../../src/api/resource.js";
import { pushInputFrom } from "../../src/model/push-context.js";
import { kubeProtocol, kubeServiceOf, serviceEntryOfService } from "../../src/registry/kube-service.js";
import { endpointPort, ServiceRegistry } from "../../src/registry/registry.js";
import { resourcesFromYaml } from "../helpers/xds.js";

describe("kubeProtocol (Istio's kube.ConvertProtocol)", () => {
  const cases: Array<[string, KubeServicePort, string]> = [
    ["name http", { name: "http", port: 9080 }, "HTTP"],
    ["name prefix http-web", { name: "http-web", port: 80 }, "HTTP"],
    ["name prefix grpc-api", { name: "grpc-api", port: 80 }, "GRPC"],
    ["name prefix tcp-db", { name: "tcp-db", port: 80 }, "TCP"],
    ["name prefix tls", { name: "tls-x", port: 443 }, "TLS"],
    ["name prefix https", { name: "https", port: 443 }, "HTTPS"],
    ["grpc-web whole", { name: "grpc-web-x", port: 80 }, "GRPC-Web"],
    ["capitals", { name: "HTTP2-x", port: 80 }, "HTTP2"],
    ["unknown prefix: sniffed", { name: "web", port: 80 }, "UNSUPPORTED"],
    ["no name: sniffed", { port: 80 }, "UNSUPPORTED"],
    ["no name, MySQL's port: TCP", { port: 3306 }, "TCP"],
    ["no name, DNS's port: TCP", { port: 53 }, "TCP"],
    ["UDP whatever the name", { name: "http", port: 53, protocol: "UDP" }, "UDP"],
    ["appProtocol wins over the name", { name: "http", port: 80, appProtocol: "grpc" }, "GRPC"],
    ["unknown appProtocol: sniffed, the name not read", { name: "http", port: 80, appProtocol: "foo" }, "UNSUPPORTED"],
    ["kubernetes.io/h2c", { name: "web", port: 80, appProtocol: "kubernetes.io/h2c" }, "HTTP2"],
    ["kubernetes.io/ws", { port: 80, appProtocol: "kubernetes.io/ws" }, "HTTP"],
    ["kubernetes.io/wss", { port: 443, appProtocol: "kubernetes.io/wss" }, "HTTPS"],
  ];
  for (const [name, port, want] of cases) it(name, () => assert.equal(kubeProtocol(port), want));
});

function service(spec: Resource<"Service">["spec"], meta: Partial<Resource<"Service">["metadata"]> = {}): Resource<"Service"> {
  return { apiVersion: "v1", kind: "Service", metadata: { name: "reviews", namespace: "default", ...meta }, spec };
}

describe("serviceEntryOfService (istiod's ConvertService)", () => {
  const P = [{ name: "http", port: 9080 }];
  const cases: Array<[string, Resource<"Service">, string | undefined, Partial<Resource<"ServiceEntry">["spec"]>]> = [
    ["bookinfo-versions' reviews-v1", service({ ports: P, selector: { app: "reviews", version: "v1" } }, { name: "reviews-v1" }), undefined, { hosts: ["reviews-v1.default.svc.cluster.local"], resolution: "STATIC", location: "MESH_INTERNAL", workloadSelector: { labels: { app: "reviews", version: "v1" } } }],
    ["another namespace and suffix", service({ ports: P }, { namespace: "foo" }), "example.org", { hosts: ["reviews.foo.svc.example.org"] }],
    ["no selector: no workloadSelector", service({ ports: P }), undefined, { workloadSelector: undefined }],
    ["empty selector: none (as the API server stores it)", service({ ports: P, selector: {} }), undefined, { workloadSelector: undefined }],
    ["headless: NONE (istiod's Passthrough)", service({ ports: P, clusterIP: "None" }), undefined, { resolution: "NONE", addresses: undefined }],
    ["clusterIP: the address", service({ ports: P, clusterIP: "10.96.0.7" }), undefined, { addresses: ["10.96.0.7"] }],
    ["clusterIPs: all of them", service({ ports: P, clusterIP: "10.96.0.7", clusterIPs: ["10.96.0.7", "fd00::7"] }), undefined, { addresses: ["10.96.0.7", "fd00::7"] }],
    ["exportTo annotation", service({ ports: P }, { annotations: { "networking.istio.io/exportTo": "., istio-system" } }), undefined, { exportTo: [".", "istio-system"] }],
    ["ports: protocol from the name, numeric targetPort", service({ ports: [{ name: "http", port: 80, targetPort: 8080 }] }), undefined, { ports: [{ number: 80, name: "http", protocol: "HTTP", targetPort: 8080 }] }],
    ["ports: sniffed, targetPort equal to the port", service({ ports: [{ port: 80, targetPort: 80 }] }), undefined, { ports: [{ number: 80, name: "" }] }],
  ];
  for (const [name, svc, suffix, want] of cases) {
    it(name, () => {
      const se = serviceEntryOfService(svc, suffix)!;
      for (const [k, v] of Object.entries(want)) assert.deepEqual((se.spec as Record<string, unknown>)[k], v, k);
      assert.equal(kubeServiceOf(se), svc);
    });
  }
  it("ExternalName: no service (istiod's alias is not built)", () => assert.equal(serviceEntryOfService(service({ type: "ExternalName", externalName: "example.com" })), undefined));
  it("the same Service object converts to the same entry", () => {
    const svc = service({ ports: P });
    assert.equal(serviceEntryOfService(svc), serviceEntryOfService(svc));
  });
});

const PODS = `
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: reviews-v1, namespace: default }
spec: { address: 127.0.4.1, labels: { app: reviews, version: v1 }, serviceAccount: bookinfo-reviews }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: reviews-v2, namespace: default }
spec: { address: 127.0.4.2, labels: { app: reviews, version: v2 }, ports: { web: 9091, http: 9092 } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: reviews-other-ns, namespace: other }
spec: { address: 127.0.4.3, labels: { app: reviews, version: v1 } }
`;

function registry(yaml: string): ServiceRegistry {
  return new ServiceRegistry(pushInputFrom(resourcesFromYaml(yaml + PODS)));
}

describe("Services in the registry: endpoints from WorkloadEntries", () => {
  it("a selector picks the WorkloadEntries of the Service's namespace with every label", () => {
    const r = registry(`
apiVersion: v1
kind: Service
metadata: { name: reviews-v1 }
spec:
  ports: [{ port: 9080, name: http }]
  selector: { app: reviews, version: v1 }
---
`);
    const [svc] = r.servicesFor("reviews-v1.default.svc.cluster.local");
    assert.deepEqual(svc.source, { kind: "Service", namespace: "default", name: "reviews-v1" });
    assert.equal(svc.ports[0].protocol, "HTTP");
    assert.equal(svc.resolution, "STATIC");
    const eps = r.endpoints(svc);
    assert.deepEqual(eps.map((e) => e.workloadName), ["reviews-v1"]);
    assert.equal(endpointPort(eps[0], svc.ports[0]), 9080, "the port, targetPort defaulting to it");
    assert.deepEqual(r.servicesOf(r.workloadsAt("127.0.4.1")[0]).map((s) => s.hostname), ["reviews-v1.default.svc.cluster.local"]);
  });

  // Target ports: the Service `reviews` (app=reviews) with one port, and where each entry serves it.
  const targets: Array<[string, string, Array<[string, number | undefined]>]> = [
    ["numeric targetPort: the entry's port named as the Service port wins, else the targetPort", "{ port: 9080, name: http, targetPort: 9081 }", [["reviews-v1", 9081], ["reviews-v2", 9092]]],
    ["named targetPort: the entry's port of that name; an entry without one serves not that port", "{ port: 80, name: http, targetPort: web }", [["reviews-v1", undefined], ["reviews-v2", 9091]]],
  ];
  for (const [name, port, want] of targets) {
    it(name, () => {
      const r = registry(`apiVersion: v1\nkind: Service\nmetadata: { name: reviews }\nspec: { ports: [${port}], selector: { app: reviews } }\n---\n`);
      const [svc] = r.servicesFor("reviews.default.svc.cluster.local");
      assert.deepEqual(r.endpoints(svc).map((e) => [e.workloadName, endpointPort(e, svc.ports[0])]), want);
    });
  }

  it("no selector: no endpoints (nothing writes EndpointSlices here)", () => {
    const r = registry(`
apiVersion: v1
kind: Service
metadata: { name: reviews }
spec: { ports: [{ port: 9080, name: http }] }
---
`);
    const [svc] = r.servicesFor("reviews.default.svc.cluster.local");
    assert.deepEqual(r.endpoints(svc), []);
  });

  it("a Service beside a ServiceEntry of the same host: both are services of that host", () => {
    const r = registry(`
apiVersion: v1
kind: Service
metadata: { name: reviews }
spec: { ports: [{ port: 9080, name: http }], selector: { app: reviews } }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: reviews-se }
spec:
  hosts: [reviews.default.svc.cluster.local]
  ports: [{ number: 9080, name: http, protocol: HTTP }]
  resolution: STATIC
  workloadSelector: { labels: { app: reviews } }
---
`);
    assert.deepEqual(r.servicesFor("reviews.default.svc.cluster.local").map((s) => s.source.kind), ["Service", "ServiceEntry"]);
  });
});
