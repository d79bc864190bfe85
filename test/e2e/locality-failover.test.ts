// Istio's locality-failover task on a real local mesh (`tsmesh up`'s httpbin example on 127.108.x.y,
// plus the task's topology added live): a client in region1/zone1 and one helloworld-like service
// with an instance in each of region1/zone1, region1/zone2, region2/zone3 and region3/zone4. The
// task's DestinationRule (locality LB, failover region1 → region2, outlier detection); traffic stays
// in the client's zone, and moves zone → region → the failover region → the rest as each instance's
// sidecar is drained (/drain_listeners), as the task does it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { httpStatus } from "../../src/local/mesh.js";
import { TestMesh } from "../helpers/mesh.js";
import { eventually } from "./helpers.js";
import { binomialRange } from "../helpers/binomial.js";

const OCTET = 108;
const ZONES = [
  ["helloworld-region1-zone1", "127.0.9.1", "region1/zone1/sub1"],
  ["helloworld-region1-zone2", "127.0.9.2", "region1/zone2/sub1"],
  ["helloworld-region2-zone3", "127.0.9.3", "region2/zone3/sub1"],
  ["helloworld-region3-zone4", "127.0.9.4", "region3/zone4/sub1"],
] as const;

const TOPOLOGY = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: helloworld, namespace: default}
spec:
  hosts: [helloworld.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 5000, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: helloworld}}
${ZONES.map(
  ([name, ip, locality]) => `---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: ${name}
  namespace: default
  annotations: {tsmesh.io/command: "HTTPBIN_VERSION=${locality.split("/").slice(0, 2).join(".")} tsmesh app httpbin"}
spec:
  address: ${ip}
  labels: {app: helloworld, version: v1}
  locality: ${locality}
`,
).join("")}---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: sleep, namespace: default}
spec:
  address: 127.0.9.10
  labels: {app: sleep}
  locality: region1/zone1/sub1
`;

// The task's DestinationRule as written on istio.io, plus maxEjectionPercent: 100. Envoy ejects a
// host only while the ejected share stays within max_ejection_percent (default 10%), and one of
// these four hosts is already 25% (outlier_detection_impl.cc ejectHost); the drained host would
// otherwise never be ejected, as ejections_overflow shows.
const FAILOVER = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: helloworld
spec:
  host: helloworld.default.svc.cluster.local
  trafficPolicy:
    connectionPool:
      http:
        maxRequestsPerConnection: 1
    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting:
        enabled: true
        failover:
          - from: region1
            to: region2
    outlierDetection:
      consecutive5xxErrors: 1
      interval: 1s
      baseEjectionTime: 1m
      maxEjectionPercent: 100
`;

// The locality weighted distribution task's rule (istio.io "Locality weighted distribution").
const DISTRIBUTE = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: helloworld
spec:
  host: helloworld.default.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      localityLbSetting:
        enabled: true
        distribute:
        - from: region1/zone1/*
          to:
            "region1/zone1/*": 70
            "region1/zone2/*": 20
            "region3/zone4/*": 10
    outlierDetection:
      consecutive5xxErrors: 100
      interval: 1s
      baseEjectionTime: 1m
`;

describe("Istio's locality-failover and weighted-distribution tasks on tsmesh up", { timeout: 120_000 }, () => {
  let mesh: TestMesh;
  before(async () => {
    mesh = await TestMesh.start({ example: "httpbin-tcp-echo", octet: OCTET });
    await mesh.apply(TOPOLOGY);
    // The new workloads start as the mesh reconciles: wait for their sidecars and apps.
    await eventually(
      "helloworld instances and the sleep sidecar ready",
      async () => {
        for (const [name] of [...ZONES, ["sleep"]]) {
          const w = mesh.mesh.workload(name);
          if (!w || (await httpStatus(`http://${w.plan.address}:15021/healthz/ready`)) !== 200) return false;
        }
        return true;
      },
      30_000,
    );
  });
  after(async () => {
    await mesh?.stop();
  });

  /** Which locality answered each of n calls from the sleep workload (httpbin's X-Httpbin-Version). */
  async function who(n: number): Promise<string[]> {
    const out = new Set<string>();
    for (let i = 0; i < n; i++) {
      const r = await mesh.fromWorkload("sleep", "http://helloworld:5000/get");
      if (r.status === 200) out.add(String(r.headers["x-httpbin-version"]));
    }
    return [...out].sort();
  }

  const drain = async (name: string) => {
    const r = await fetch(`http://${mesh.address(name)}:15000/drain_listeners`, { method: "POST" });
    assert.equal(r.status, 200);
  };

  it("distribute 70/20/10 from region1/zone1: about 70% zone1, 20% zone2, 10% region3, none to region2", async () => {
    await mesh.apply(DISTRIBUTE);
    const counts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const r = await mesh.fromWorkload("sleep", "http://helloworld:5000/get");
      assert.equal(r.status, 200);
      const v = String(r.headers["x-httpbin-version"]);
      counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    const c = (k: string) => counts.get(k) ?? 0;
    // Each share within the range a binomial count falls outside of less than once in 1e9 runs
    // (locality picks are weighted, not independent, so the real spread is narrower still).
    const within = (k: string, p: number) => {
      const [lo, hi] = binomialRange(300, p);
      assert.ok(c(k) >= lo && c(k) <= hi, `${k}: ${c(k)} not in ${lo}..${hi} ${JSON.stringify([...counts])}`);
    };
    within("region1.zone1", 0.7);
    within("region1.zone2", 0.2);
    within("region3.zone4", 0.1);
    assert.equal(c("region2.zone3"), 0);
  });

  it("keeps traffic in the client's zone, then fails over zone → region → failover region → the rest", async () => {
    await mesh.apply(FAILOVER);
    await eventually("all traffic in region1.zone1", async () => JSON.stringify(await who(10)) === JSON.stringify(["region1.zone1"]), 10_000);
    await drain("helloworld-region1-zone1");
    await eventually("failed over to region1.zone2", async () => JSON.stringify(await who(10)) === JSON.stringify(["region1.zone2"]), 15_000);
    await drain("helloworld-region1-zone2");
    await eventually("failed over to region2 (the failover target), not region3", async () => JSON.stringify(await who(10)) === JSON.stringify(["region2.zone3"]), 15_000);
    await drain("helloworld-region2-zone3");
    await eventually("failed over to region3", async () => JSON.stringify(await who(10)) === JSON.stringify(["region3.zone4"]), 15_000);
  });
});
