// End-to-end harness: a tsmesh discovery server (in process, real gRPC on 127.0.0.1) watching a
// temp config folder, real gRPC echo servers on 127.0.x.y, and proxyless clients (grpc-js-xds in
// process, gRPC C-core through Debian's python3-grpcio in a child process).
import { mkdtempSync, rmSync, writeFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Discovery } from "../../src/controlplane/discovery.js";
import { EchoClient, EchoServer, grpcBootstrap, type ProxylessEchoClient, type XdsClientNode } from "../helpers/grpc-echo.js";
import { eventually } from "../helpers/eventually.js";
import { PythonEchoClient } from "../helpers/grpc-python.js";

export { eventually };

/** The proxyless gRPC implementations the e2e tests run against. */
export type ProxylessImpl = "grpc-js" | "python";

export class MeshFixture {
  readonly dir = mkdtempSync(join(tmpdir(), "tsmesh-e2e-"));
  discovery!: Discovery;
  readonly servers: EchoServer[] = [];
  readonly clients: ProxylessEchoClient[] = [];
  readonly logs: string[] = [];

  /** Writes (atomically) a config file in the watched folder. */
  write(file: string, yaml: string): void {
    const tmp = join(this.dir, `.${file}.tmp`);
    writeFileSync(tmp, yaml);
    renameSync(tmp, join(this.dir, file));
  }

  async start(files: Record<string, string>): Promise<void> {
    for (const [f, y] of Object.entries(files)) this.write(f, y);
    this.discovery = new Discovery({ configPaths: [this.dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "127.0.0.1:0", log: (l) => this.logs.push(l) });
    await this.discovery.start();
  }

  get xdsAddress(): string {
    return `127.0.0.1:${this.discovery.xdsPort}`;
  }

  get monitoringUrl(): string {
    return `http://127.0.0.1:${this.discovery.monitoringPort}`;
  }

  async server(name: string, address: string, port: number): Promise<EchoServer> {
    const s = new EchoServer({ name, address, port });
    await s.start();
    this.servers.push(s);
    return s;
  }

  client(target: string, node: XdsClientNode): EchoClient {
    const c = new EchoClient(target, grpcBootstrap(this.xdsAddress, node));
    this.clients.push(c);
    return c;
  }

  /** A client on `impl`: grpc-js-xds in this process, or gRPC C-core (python3-grpcio) in a child. */
  clientOn(impl: ProxylessImpl, target: string, node: XdsClientNode): ProxylessEchoClient {
    if (impl === "grpc-js") return this.client(target, node);
    const c = new PythonEchoClient(target, grpcBootstrap(this.xdsAddress, node));
    this.clients.push(c);
    return c;
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.close();
    await Promise.all(this.servers.map((s) => s.stop()));
    await this.discovery?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** ServiceEntry + WorkloadEntries for an echo service: one entry per [name, address, labels]. */
export function echoService(host: string, port: number, workloads: Array<[string, string, Record<string, string>, string?]>): string {
  const docs = [
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${host.split(".")[0]}, namespace: default }
spec:
  hosts: [${host}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ name: grpc, number: ${port}, protocol: GRPC }]
  workloadSelector: { labels: { app: ${host.split(".")[0]} } }`,
  ];
  for (const [name, address, labels, locality] of workloads) {
    docs.push(`apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: ${name}, namespace: default }
spec:
  address: ${address}
  labels: ${JSON.stringify({ app: host.split(".")[0], ...labels })}${locality ? `\n  locality: ${locality}` : ""}`);
  }
  return docs.join("\n---\n") + "\n";
}

/** VirtualService default/echo (hosts [echo]); `http` is the YAML of its `http:` entries, indented two spaces. */
export function echoVirtualService(http: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: default }
spec:
  hosts: [echo]
  http:
${http}`;
}

/** DestinationRule default/echo: a subset per `version` label value, and a trafficPolicy (YAML indented four spaces). */
export function echoDestinationRule(trafficPolicy = "", subsets: readonly string[] = []): string {
  const subsetYaml = subsets.length ? `  subsets:\n${subsets.map((v) => `  - { name: ${v}, labels: { version: ${v} } }\n`).join("")}` : "";
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo, namespace: default }
spec:
  host: echo
${subsetYaml}${trafficPolicy ? `  trafficPolicy:\n${trafficPolicy}` : ""}`;
}

export const clientNode = (name: string, locality?: XdsClientNode["locality"]): XdsClientNode => ({
  id: `sidecar~127.0.0.1~${name}.default~default.svc.cluster.local`,
  locality,
  metadata: { NAMESPACE: "default", LABELS: { app: name } },
});
