import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { changedEndpointHosts, ServiceRegistry, endpointPort } from "../../src/registry/registry.js";
import { parseLocality, parseProtocol, localityString, serviceVisibleFrom } from "../../src/registry/model.js";
import { pushInputFrom } from "../../src/model/push-context.js";
import { resourcesFromYaml } from "../helpers/xds.js";

function registry(yaml: string): ServiceRegistry {
  return new ServiceRegistry(pushInputFrom(resourcesFromYaml(yaml)));
}

const SE_SELECTOR = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: reviews, namespace: default }
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ name: http, number: 9080, protocol: HTTP, targetPort: 9081 }]
  workloadSelector: { labels: { app: reviews } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: reviews-v1, namespace: default }
spec: { address: 127.0.4.1, labels: { app: reviews, version: v1 }, locality: us/east/a, serviceAccount: bookinfo-reviews }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: reviews-v2, namespace: default }
spec: { address: 127.0.4.2, labels: { app: reviews, version: v2 }, ports: { http: 9090 }, weight: 3 }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: other-ns, namespace: other }
spec: { address: 127.0.4.3, labels: { app: reviews } }
`;

describe("ServiceRegistry", () => {
  it("selects WorkloadEntries in the ServiceEntry's namespace by labels", () => {
    const r = registry(SE_SELECTOR);
    const [svc] = r.servicesFor("reviews.default.svc.cluster.local");
    const eps = r.endpoints(svc);
    assert.deepEqual(eps.map((e) => e.address), ["127.0.4.1", "127.0.4.2"]);
    assert.equal(endpointPort(eps[0], svc.ports[0]), 9081, "targetPort when the entry names no port");
    assert.equal(endpointPort(eps[1], svc.ports[0]), 9090, "the entry's named port wins");
    assert.deepEqual(eps[0].locality, { region: "us", zone: "east", subZone: "a" });
    assert.equal(eps[0].serviceAccount, "bookinfo-reviews");
    assert.equal(eps[1].weight, 3);
    assert.deepEqual(r.servicesOf(r.workloadsAt("127.0.4.1")[0]).map((s) => s.hostname), ["reviews.default.svc.cluster.local"]);
  });

  it("uses inline endpoints, DNS self-resolution and NONE", () => {
    const r = registry(`
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ext, namespace: default }
spec:
  hosts: [a.example.com, b.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{ name: https, number: 443, protocol: HTTPS }]
  endpoints: [{ address: 127.0.9.1 }, { address: 127.0.9.2, ports: { https: 8443 } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: dns, namespace: default }
spec: { hosts: [httpbin.org], resolution: DNS, ports: [{ name: http, number: 80, protocol: HTTP }] }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: none, namespace: default }
spec: { hosts: ["*.wild.com"], resolution: NONE, ports: [{ name: tcp, number: 9000, protocol: TCP }], exportTo: ["."] }
`);
    assert.equal(r.endpoints(r.servicesFor("b.example.com")[0]).length, 2);
    const https = r.servicesFor("a.example.com")[0];
    assert.equal(https.meshExternal, true);
    assert.equal(https.ports[0].protocol, "HTTPS");
    assert.deepEqual(r.endpoints(r.servicesFor("httpbin.org")[0]).map((e) => e.address), ["httpbin.org"]);
    const none = r.servicesFor("*.wild.com")[0];
    assert.equal(r.endpoints(none).length, 0);
    assert.equal(serviceVisibleFrom(none, "default"), true);
    assert.equal(serviceVisibleFrom(none, "other"), false);
  });

  it("tells endpoint-only changes from service changes", () => {
    const before = registry(SE_SELECTOR);
    const moved = registry(SE_SELECTOR.replace("127.0.4.2", "127.0.4.9"));
    assert.deepEqual([...changedEndpointHosts(before, moved)!], ["reviews.default.svc.cluster.local"]);
    assert.deepEqual([...changedEndpointHosts(before, registry(SE_SELECTOR))!], []);
    const newPort = registry(SE_SELECTOR.replace("number: 9080", "number: 9180"));
    assert.equal(changedEndpointHosts(before, newPort), undefined);
  });
});

describe("registry model helpers", () => {
  const table: Array<[string | undefined, string | undefined, string]> = [
    ["HTTP", undefined, "HTTP"],
    ["grpc", undefined, "GRPC"],
    ["grpc-web", undefined, "GRPC-Web"],
    [undefined, "http-web", "HTTP"],
    [undefined, "grpc", "GRPC"],
    [undefined, "tcp-db", "TCP"],
    [undefined, "web", "UNSUPPORTED"],
    ["bogus", "http", "HTTP"],
  ];
  for (const [protocol, name, want] of table) {
    it(`protocol ${protocol ?? "-"} port ${name ?? "-"} → ${want}`, () => assert.equal(parseProtocol(protocol, name), want));
  }
  it("parses and prints localities", () => {
    assert.deepEqual(parseLocality("us-east/zone-a"), { region: "us-east", zone: "zone-a", subZone: "" });
    assert.equal(localityString(parseLocality("r/z/s")), "r/z/s");
    assert.equal(localityString(parseLocality("r")), "r");
    assert.equal(localityString(parseLocality(undefined)), "");
  });
});
