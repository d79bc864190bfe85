// Benchmark (not a test): load and validate 10,000 generated Istio resources from a folder into the
// config store. Baseline, measured side by side in the same run: parsing the same YAML with no
// validation. Goal (issue #2): >= 20,000 resources/s, peak RSS <= 300 MB.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import jsyaml from "js-yaml";
import { DirectorySource } from "../src/config/directory.js";
import { listConfigFiles } from "../src/config/files.js";
import { ConfigStore } from "../src/config/store.js";

const TOTAL = Number(process.env.BENCH_RESOURCES ?? 10_000);
const PER_FILE = 50;
const ROUNDS = 3;

function resourceYaml(i: number): string {
  const ns = `ns-${i % 20}`;
  const svc = `svc-${i}`;
  switch (i % 6) {
    case 0:
      return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${svc}, namespace: ${ns}}
spec:
  hosts: [${svc}]
  http:
  - name: canary
    match:
    - headers: {end-user: {exact: jason}}
      uri: {prefix: /api/v${i % 3}}
    route:
    - destination: {host: ${svc}, subset: v2}
    timeout: 2s
    retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "5xx,connect-failure"}
  - route:
    - destination: {host: ${svc}, subset: v1}
      weight: 90
    - destination: {host: ${svc}, subset: v2}
      weight: 10
`;
    case 1:
      return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${svc}, namespace: ${ns}}
spec:
  host: ${svc}
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 100, connectTimeout: 1s}
      http: {http1MaxPendingRequests: 10, maxRequestsPerConnection: 5}
    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50}
    loadBalancer: {simple: LEAST_REQUEST}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;
    case 2:
      return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${svc}, namespace: ${ns}}
spec:
  hosts: [${svc}.${ns}.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 9080, name: http, protocol: HTTP}
  - {number: 9443, name: grpc, protocol: GRPC}
  workloadSelector: {labels: {app: ${svc}}}
`;
    case 3:
      return `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${svc}, namespace: ${ns}}
spec:
  address: 127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255 || 1}
  labels: {app: ${svc}, version: v${i % 3}}
  serviceAccount: ${svc}
  locality: region-${i % 3}/zone-${i % 5}
`;
    case 4:
      return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${svc}, namespace: ${ns}}
spec:
  selector: {matchLabels: {app: ${svc}}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/${ns}/sa/${svc}"]}}]
    to: [{operation: {methods: [GET, POST], paths: ["/api/*"]}}]
    when: [{key: "request.headers[x-token]", values: [admin]}]
`;
    default:
      return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ${svc}, namespace: ${ns}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["${ns}/${svc}.example.com"]
`;
  }
}

function writeTree(dir: string): void {
  for (let f = 0; f * PER_FILE < TOTAL; f++) {
    const sub = join(dir, `group-${f % 10}`);
    mkdirSync(sub, { recursive: true });
    const docs: string[] = [];
    for (let i = f * PER_FILE; i < Math.min(TOTAL, (f + 1) * PER_FILE); i++) docs.push(resourceYaml(i));
    writeFileSync(join(sub, `rules-${f}.yaml`), docs.join("---\n"));
  }
}

function timeIt(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function best(fn: () => void): number {
  let min = Infinity;
  for (let r = 0; r < ROUNDS; r++) min = Math.min(min, timeIt(fn));
  return min;
}

const dir = mkdtempSync(join(tmpdir(), "tsmesh-bench-"));
try {
  writeTree(dir);
  const files = listConfigFiles(dir);

  // tsmesh: load the folder into a fresh store (parse + schema + CEL + Istio rules + store).
  const loadMs = best(() => {
    const store = new ConfigStore();
    const src = new DirectorySource(dir, store, { pollMs: 0 });
    const problems = src.load();
    src.close();
    if (problems.length > 0) throw new Error(`unexpected invalid files: ${JSON.stringify(problems[0].results.flatMap((r) => r.diagnostics).filter((d) => d.severity === "error").slice(0, 3))}`);
    if (store.size !== TOTAL) throw new Error(`store holds ${store.size}, expected ${TOTAL}`);
  });

  // Peak RSS of tsmesh's load, before the baseline runs in this process.
  const peakMb = Math.round(process.resourceUsage().maxRSS / 1024);

  // Baseline: read and parse the same YAML with the same parser (js-yaml), nothing else.
  const parseMs = best(() => {
    let n = 0;
    for (const f of files) n += jsyaml.loadAll(readFileSync(f, "utf8")).length;
    if (n !== TOTAL) throw new Error(`parsed ${n} documents, expected ${TOTAL}`);
  });

  const rate = (ms: number) => Math.round((TOTAL / ms) * 1000);
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`);
  console.log(`resources: ${TOTAL} in ${files.length} files (best of ${ROUNDS})`);
  console.log(`baseline  yaml parse only (js-yaml) ${parseMs.toFixed(0).padStart(6)} ms  ${rate(parseMs).toLocaleString("en-US").padStart(8)} resources/s`);
  console.log(`tsmesh    load+validate+store      ${loadMs.toFixed(0).padStart(6)} ms  ${rate(loadMs).toLocaleString("en-US").padStart(8)} resources/s`);
  console.log(`ratio     tsmesh / parse-only time: ${(loadMs / parseMs).toFixed(2)}×`);
  console.log(`peak RSS  ${peakMb} MB`);
  console.log(`goal      >= 20,000 resources/s: ${rate(loadMs) >= 20_000 ? "met" : "NOT met"}; RSS <= 300 MB: ${peakMb <= 300 ? "met" : "NOT met"}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
