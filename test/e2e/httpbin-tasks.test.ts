// Istio's circuit-breaking and mirroring tasks on a real local mesh (`tsmesh up`'s httpbin example
// on 127.107.x.y), with the tasks' own YAML, checked as the task pages check them: the load
// generator's status codes and the sidecar's `upstream_rq_pending_overflow`; v2's log showing the
// mirrored requests while the client sees only v1.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { TestMesh } from "../helpers/mesh.js";
import { circuitBreakingTask } from "./circuit-breaking-task.js";
import { eventually } from "./helpers.js";

const OCTET = 107;
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

  it("ingress: /status/200 through the gateway → 200, /headers → 404 (not routed), another host → 404", async () => {
    await mesh.apply(INGRESS);
    const host = { host: "httpbin.example.com" };
    assert.equal((await mesh.gateway("/status/200", { headers: host })).status, 200);
    assert.equal((await mesh.gateway("/status/418", { headers: host })).status, 418);
    assert.equal((await mesh.gateway("/headers", { headers: host })).status, 404);
    assert.equal((await mesh.gateway("/status/200", { headers: { host: "other.example.com" } })).status, 404);
  });

  it("one caller gets through; three concurrent callers trip the breaker (503 UO, upstream_rq_pending_overflow)", async () => {
    await circuitBreakingTask(mesh);
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
