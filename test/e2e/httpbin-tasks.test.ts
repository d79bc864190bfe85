// Istio's circuit-breaking and mirroring tasks on a real local mesh (`tsmesh up`'s httpbin example
// on 127.107.x.y), with the tasks' own YAML, checked as the task pages check them: the load
// generator's status codes and the sidecar's `upstream_rq_pending_overflow`; v2's log showing the
// mirrored requests while the client sees only v1.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { TestMesh } from "../helpers/mesh.js";
import { eventually } from "./helpers.js";

const OCTET = 107;
const CLUSTER = "cluster.outbound|8000||httpbin.default.svc.cluster.local";

// The circuit-breaking task's DestinationRule, as written on istio.io.
const CIRCUIT_BREAKER = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: httpbin
spec:
  host: httpbin
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 1
      http:
        http1MaxPendingRequests: 1
        maxRequestsPerConnection: 1
    outlierDetection:
      consecutive5xxErrors: 1
      interval: 1s
      baseEjectionTime: 3m
      maxEjectionPercent: 100
`;

// The mirroring task's rules: subsets by version, everything to v1, mirrored 100% to v2.
const SUBSETS = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: httpbin
spec:
  host: httpbin
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
`;
const MIRROR = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin-mirror
spec:
  hosts:
  - httpbin
  http:
  - route:
    - destination:
        host: httpbin
        subset: v1
      weight: 100
    mirror:
      host: httpbin
      subset: v2
    mirrorPercentage:
      value: 100.0
`;

// The ingress task's Gateway and VirtualService (istio.io "Ingress Gateways"): only /status and
// /delay are routed. Same names as the example's httpbin-gateway.yaml, which they replace (an extra
// config folder wins over the example's, as a later kubectl apply would).
const INGRESS = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: httpbin-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - "httpbin.example.com"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "httpbin.example.com"
  gateways:
  - httpbin-gateway
  http:
  - match:
    - uri:
        prefix: /status
    - uri:
        prefix: /delay
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
`;

describe("httpbin on tsmesh up: Istio's ingress, circuit-breaking and mirroring tasks", { timeout: 120_000 }, () => {
  let mesh: TestMesh;
  before(async () => {
    mesh = await TestMesh.start({ example: "httpbin-tcp-echo", octet: OCTET });
  });
  after(async () => {
    await mesh?.stop();
  });

  /** fortio's `load -c N -n TOTAL`: N concurrent callers from the curl workload, TOTAL requests in all. */
  async function load(concurrency: number, total: number): Promise<Map<number, number>> {
    const codes = new Map<number, number>();
    let left = total;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (left-- > 0) {
          const r = await mesh.fromWorkload("curl", "http://httpbin:8000/get");
          codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
          if (r.status === 503) assert.match(r.body, /reset reason: overflow/);
        }
      }),
    );
    return codes;
  }

  it("ingress: /status/200 through the gateway → 200, /headers → 404 (not routed), another host → 404", async () => {
    await mesh.apply(INGRESS);
    const host = { host: "httpbin.example.com" };
    assert.equal((await mesh.gateway("/status/200", { headers: host })).status, 200);
    assert.equal((await mesh.gateway("/status/418", { headers: host })).status, 418);
    assert.equal((await mesh.gateway("/headers", { headers: host })).status, 404);
    assert.equal((await mesh.gateway("/status/200", { headers: { host: "other.example.com" } })).status, 404);
  });

  it("one caller gets through; three concurrent callers trip the breaker (503 UO, upstream_rq_pending_overflow)", async () => {
    await mesh.apply(CIRCUIT_BREAKER);
    const one = await load(1, 10);
    assert.deepEqual([...one], [[200, 10]]);
    const before = (await mesh.stats("curl")).get(`${CLUSTER}.upstream_rq_pending_overflow`) ?? 0;
    const three = await load(3, 60);
    assert.equal((three.get(200) ?? 0) + (three.get(503) ?? 0), 60, JSON.stringify([...three]));
    assert.ok((three.get(200) ?? 0) > 0, "some get through");
    assert.ok((three.get(503) ?? 0) > 0, `some overflow: ${JSON.stringify([...three])}`);
    const after = (await mesh.stats("curl")).get(`${CLUSTER}.upstream_rq_pending_overflow`) ?? 0;
    assert.equal(after - before, three.get(503), "each 503 is a pending overflow");
    await mesh.delete(CIRCUIT_BREAKER);
  });

  it("mirroring: the client sees v1's answers while v2's log shows every request too", async () => {
    await mesh.apply(SUBSETS);
    await mesh.apply(MIRROR);
    const logOf = (w: string) => readFileSync(join(mesh.mesh.logDir, `default.${w}.app.log`), "utf8");
    const tag = `mirror-${Date.now()}`;
    for (let i = 0; i < 5; i++) {
      const r = await mesh.fromWorkload("curl", `http://httpbin:8000/anything/${tag}/${i}`);
      assert.equal(r.status, 200);
      assert.equal(r.headers["x-httpbin-version"], "v1", "the answer is v1's, never the mirror's");
    }
    await eventually("v2 saw the mirrored requests", () => {
      const v2 = logOf("httpbin-v2");
      return [0, 1, 2, 3, 4].every((i) => v2.includes(`/anything/${tag}/${i}`));
    }, 10_000);
    const v1 = logOf("httpbin-v1");
    for (let i = 0; i < 5; i++) assert.ok(v1.includes(`/anything/${tag}/${i}`), "v1 served each request");
  });
});
