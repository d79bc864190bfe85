// Istio's circuit-breaking task (istio.io "Circuit Breaking") as the e2e tests run it on `tsmesh
// up`'s httpbin example: the task's DestinationRule, then fortio's `load -c N -n TOTAL` from the curl
// workload through its sidecar, checked as the task page checks it — one caller gets through, three
// concurrent callers trip the breaker (503 UO) and the sidecar's upstream_rq_pending_overflow counts
// each 503. Shared by the runs at --concurrency 1 and 2: the outcome must be the same.
import assert from "node:assert/strict";
import type { TestMesh } from "../helpers/mesh.js";

export const HTTPBIN_CLUSTER = "cluster.outbound|8000||httpbin.default.svc.cluster.local";

// The circuit-breaking task's DestinationRule, as written on istio.io.
export const CIRCUIT_BREAKER = `apiVersion: networking.istio.io/v1
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

/** fortio's `load -c N -n TOTAL`: N concurrent callers from the curl workload, TOTAL requests in all (each on a new connection). */
export async function load(mesh: TestMesh, concurrency: number, total: number): Promise<Map<number, number>> {
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

/** The task: applies the DestinationRule, checks one caller and three callers, deletes it. Returns the three callers' codes. */
export async function circuitBreakingTask(mesh: TestMesh): Promise<Map<number, number>> {
  await mesh.apply(CIRCUIT_BREAKER);
  const one = await load(mesh, 1, 10);
  assert.deepEqual([...one], [[200, 10]]);
  const before = (await mesh.stats("curl")).get(`${HTTPBIN_CLUSTER}.upstream_rq_pending_overflow`) ?? 0;
  const three = await load(mesh, 3, 60);
  assert.equal((three.get(200) ?? 0) + (three.get(503) ?? 0), 60, JSON.stringify([...three]));
  assert.ok((three.get(200) ?? 0) > 0, "some get through");
  assert.ok((three.get(503) ?? 0) > 0, `some overflow: ${JSON.stringify([...three])}`);
  const after = (await mesh.stats("curl")).get(`${HTTPBIN_CLUSTER}.upstream_rq_pending_overflow`) ?? 0;
  assert.equal(after - before, three.get(503), "each 503 is a pending overflow");
  await mesh.delete(CIRCUIT_BREAKER);
  return three;
}
