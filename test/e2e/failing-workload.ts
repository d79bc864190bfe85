// The crash-forever workload of the failing-workload e2e test and its soak (bench): a ServiceEntry
// and a WorkloadEntry whose app, run through the shell, prints where it would listen and exits 3;
// or, fixed, serves on $HOST:$PORT. And traffic through the gateway and a sidecar until a deadline.
import type { TestMesh } from "../helpers/mesh.js";

export const CRASHER_SERVICE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: crasher, namespace: default}
spec:
  hosts: [crasher.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8000, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: crasher}}
`;

/** "crash": exits 3 after two lines (through /bin/sh); "serve": an HTTP server on up's $HOST and $PORT. */
export function crasherEntry(mode: "crash" | "serve"): string {
  const annotations =
    mode === "crash"
      ? `    tsmesh.io/shell: "true"\n    tsmesh.io/command: 'echo "crasher on $HOST:$PORT"; echo "fatal: cannot open /nonexistent/db" >&2; exit 3'\n`
      : `    tsmesh.io/command: 'node -e "const [h, p, n] = process.argv.slice(1); require(\\"http\\").createServer((q, s) => s.end(\\"crasher serving on \\" + h + \\":\\" + p + \\" as \\" + n)).listen(+p, h)" $HOST \${PORT} $NAMESPACE/$NAME'\n`;
  return `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: crasher
  namespace: default
  annotations:
${annotations}spec:
  address: 127.0.8.1
  labels: {app: crasher}
`;
}

/** A workload whose app runs but never listens: never ready. */
export const SLEEPER = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: sleeper, namespace: default}
spec:
  hosts: [sleeper.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8000, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: sleeper}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: sleeper
  namespace: default
  annotations:
    tsmesh.io/command: node -e "console.log('sleeping, not listening'); setInterval(() => {}, 1000)"
spec:
  address: 127.0.8.2
  labels: {app: sleeper}
`;

/** Requests through the gateway and from a sidecar (every 100 ms) until `deadline`; what failed, by reason. */
export async function serveUntil(mesh: TestMesh, deadline: number): Promise<{ ok: number; failed: string[] }> {
  let ok = 0;
  const failed: string[] = [];
  for (let i = 0; Date.now() < deadline; i++) {
    try {
      const r = i % 2 === 0 ? await mesh.gateway("/status/200") : await mesh.fromWorkload("curl", "http://httpbin:8000/status/200");
      if (r.status === 200) ok++;
      else failed.push(`status ${r.status}`);
    } catch (e) {
      failed.push((e as Error).message);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ok, failed };
}
