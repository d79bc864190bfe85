// bench:xds's mesh: N ServiceEntries with 10 WorkloadEntries each (spread over a few files), and for
// the first 100 services a DestinationRule with v1/v2 subsets and a VirtualService splitting between
// them; plus the edits its change phases make (a VirtualService's weights, one endpoint's address),
// written as editors and kubectl-style tools do (a temp file renamed over the old one).
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ENDPOINTS_PER_SERVICE, PORT, ROUTED, SE_FILES, SERVICES, WE_FILES } from "./settings.js";

export const host = (s: number) => `svc-${s}.bench.svc.cluster.local`;

function weAddress(j: number): string {
  return `10.${1 + ((j >> 16) & 255)}.${(j >> 8) & 255}.${j & 255}`;
}

function serviceEntry(s: number): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc-${s}, namespace: bench}
spec:
  hosts: [${host(s)}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: ${PORT}, name: http, protocol: HTTP}
  workloadSelector: {labels: {app: svc-${s}}}
`;
}

function workloadEntry(j: number, address = weAddress(j)): string {
  const s = Math.floor(j / ENDPOINTS_PER_SERVICE);
  const k = j % ENDPOINTS_PER_SERVICE;
  return `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: svc-${s}-${k}, namespace: bench}
spec:
  address: ${address}
  labels: {app: svc-${s}, version: v${1 + (k % 2)}}
  serviceAccount: svc-${s}
  locality: bench-region/zone-${k % 3}
`;
}

function destinationRule(s: number): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-${s}, namespace: bench}
spec:
  host: ${host(s)}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;
}

export function virtualService(s: number, w1 = 90): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc-${s}, namespace: bench}
spec:
  hosts: [${host(s)}]
  http:
  - route:
    - destination: {host: ${host(s)}, subset: v1, port: {number: ${PORT}}}
      weight: ${w1}
    - destination: {host: ${host(s)}, subset: v2, port: {number: ${PORT}}}
      weight: ${100 - w1}
`;
}

export const weFile = (f: number) => `workloads-${String(f).padStart(2, "0")}.yaml`;
export const wePerFile = () => Math.ceil((SERVICES * ENDPOINTS_PER_SERVICE) / WE_FILES);

export function weFileText(f: number, override?: { j: number; address: string }): string {
  const docs: string[] = [];
  const per = wePerFile();
  for (let j = f * per; j < Math.min(SERVICES * ENDPOINTS_PER_SERVICE, (f + 1) * per); j++) {
    docs.push(workloadEntry(j, override && override.j === j ? override.address : undefined));
  }
  return docs.join("---\n");
}

/** Writes the mesh; returns the number of resources. */
export function writeConfig(dir: string): number {
  const perSe = Math.ceil(SERVICES / SE_FILES);
  for (let f = 0; f * perSe < SERVICES; f++) {
    const docs: string[] = [];
    for (let s = f * perSe; s < Math.min(SERVICES, (f + 1) * perSe); s++) docs.push(serviceEntry(s));
    writeFileSync(join(dir, `services-${f}.yaml`), docs.join("---\n"));
  }
  for (let f = 0; f < WE_FILES; f++) writeFileSync(join(dir, weFile(f)), weFileText(f));
  const drs: string[] = [];
  for (let s = 0; s < ROUTED; s++) drs.push(destinationRule(s));
  writeFileSync(join(dir, "destination-rules.yaml"), drs.join("---\n"));
  for (let s = 0; s < ROUTED; s++) writeFileSync(join(dir, `vs-${s}.yaml`), virtualService(s));
  return SERVICES + SERVICES * ENDPOINTS_PER_SERVICE + 2 * ROUTED;
}

/** Atomic replace (write a hidden temp file, rename over), as editors and kubectl-style tools do. */
export function replaceFile(path: string, text: string): void {
  const slash = path.lastIndexOf("/");
  const tmp = `${path.slice(0, slash)}/.${path.slice(slash + 1)}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
