// The mesh harness end-to-end tests use: a whole `tsmesh up` mesh (control plane in this process,
// proxies and apps as child processes) started from an example folder copied into a temp dir, with
// every 127.0.X.Y address moved to 127.OCTET.X.Y so test files never collide with each other or with
// a mesh the developer is running. Apply Istio YAML and wait until every proxy has it, send requests
// through the gateway or from inside a workload (through its sidecar, as its app would), read a
// proxy's stats, and tear everything down.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { parseAllDocuments } from "yaml";
import { packageRoot } from "../../src/core/paths.js";
import { ADMIN_PORT, LocalMesh, OUTBOUND_PORT, type StartResult } from "../../src/local/mesh.js";

export interface TestMeshOptions {
  /** An example under examples/ (e.g. "bookinfo") or a folder path. */
  example: string;
  /**
   * Second octet for this mesh's addresses, 100..127 or 30..60 (each test file its own): workloads move to
   * 127.OCTET.X.Y, their apps to 127.(OCTET^128).X.Y, the control plane to 127.OCTET.0.1. Octets
   * 128 and up would put apps on 127.0.X.Y, where unit tests (and a developer's own `tsmesh up`) listen.
   */
  octet: number;
  /** The mesh's state folder (`tsmesh up --state-dir`; default: one inside the temp folder, removed with it). */
  stateDir?: string;
  /** Files (e.g. from samples/) applied before the mesh starts. */
  apply?: string[];
  /** Lines from the mesh (progress, crashes); default: dropped unless TSMESH_TEST_VERBOSE is set. */
  log?: (line: string) => void;
  /** Each proxy's --concurrency (`tsmesh up --concurrency`; default 1). */
  proxyConcurrency?: number;
  /** Istio's plug-in CA folder (`tsmesh up --cacerts`). */
  cacertsDir?: string;
  /** Gateway credentials folder (`tsmesh up --credentials-dir`). */
  credentialsDir?: string;
  /** Workload certificates' lifetime (`tsmesh up --workload-cert-ttl`, a Go duration). */
  workloadCertTtl?: string;
  /** How long a workload may take to be ready before it is failed and restarted (default 30 s). */
  readyTimeoutMs?: number;
  /** First restart delay of a crashed process (default 200 ms here; `tsmesh up`'s is 10 s). */
  restartBackoffMs?: number;
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

/** Rewrites 127.0.X.Y addresses in Istio YAML to 127.OCTET.X.Y. */
export function relocate(yaml: string, octet: number): string {
  return yaml.replace(/\b127\.0\.(\d{1,3})\.(\d{1,3})\b/g, (_, c: string, d: string) => `127.${octet}.${c}.${d}`);
}

/** One HTTP/1.1 request on a fresh connection. `target` is host:port; `path` may be absolute-form. */
export function httpRequest(host: string, port: number, path: string, o: RequestOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method: o.method ?? "GET", headers: o.headers, agent: false, timeout: o.timeoutMs ?? 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`timeout: ${o.method ?? "GET"} http://${host}:${port}${path}`)));
    req.on("error", reject);
    req.end(o.body);
  });
}

/** One file per resource document: `Kind.namespace.name.yaml`. */
function resourceDocs(fileOrYaml: string, octet: number): Array<{ file: string; text: string }> {
  const text = fileOrYaml.includes("\n") ? fileOrYaml : readFileSync(fileOrYaml, "utf8");
  const out: Array<{ file: string; text: string }> = [];
  for (const doc of parseAllDocuments(text)) {
    const v = doc.toJS() as { kind?: string; metadata?: { name?: string; namespace?: string } } | null;
    if (!v?.kind || !v.metadata?.name) continue;
    out.push({ file: `${v.kind}.${v.metadata.namespace ?? "default"}.${v.metadata.name}.yaml`, text: relocate(doc.toString(), octet) });
  }
  if (out.length === 0) throw new Error(`no resources in ${fileOrYaml.includes("\n") ? "the YAML given" : fileOrYaml}`);
  return out;
}

/** The `istio` ConfigMap in istio-system holding `mesh` (MeshConfig YAML), as `istioctl install --set meshConfig…` leaves it. */
export function istioMeshConfigMap(mesh: string): string {
  const body = mesh
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => `    ${l}`)
    .join("\n");
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio\n  namespace: istio-system\ndata:\n  mesh: |-\n${body}\n`;
}

export class TestMesh {
  private constructor(
    readonly mesh: LocalMesh,
    readonly root: string,
    readonly appliedDir: string,
    readonly octet: number,
    readonly started: StartResult,
  ) {}

  static async start(o: TestMeshOptions): Promise<TestMesh> {
    const inRange = (o.octet >= 100 && o.octet <= 127) || (o.octet >= 30 && o.octet <= 60);
    if (!inRange) throw new Error(`octet ${o.octet} is outside the harness ranges 100..127 and 30..60`);
    const source = o.example.includes("/") ? o.example : join(packageRoot(), "examples", o.example);
    const root = mkdtempSync(join(tmpdir(), `tsmesh-mesh-${basename(source)}-`));
    const configDir = join(root, "config");
    const appliedDir = join(root, "applied");
    mkdirSync(appliedDir);
    cpSync(source, configDir, { recursive: true });
    for (const f of readdirSync(configDir)) {
      if (/\.(ya?ml|json)$/i.test(f)) writeFileSync(join(configDir, f), relocate(readFileSync(join(configDir, f), "utf8"), o.octet));
    }
    for (const f of o.apply ?? []) writeFileSync(join(appliedDir, basename(f)), relocate(readFileSync(f, "utf8"), o.octet));
    const verbose = process.env.TSMESH_TEST_VERBOSE ? (l: string) => process.stderr.write(`[mesh ${o.octet}] ${l}\n`) : () => {};
    const mesh = new LocalMesh({
      dir: configDir,
      extraConfig: [appliedDir],
      xdsAddress: `127.${o.octet}.0.1:15010`,
      monitoringAddress: `127.${o.octet}.0.1:15014`,
      logDir: join(root, "logs"),
      stateDir: o.stateDir ?? join(root, "state"),
      restartBackoffMs: 200,
      proxyConcurrency: o.proxyConcurrency,
      cacertsDir: o.cacertsDir,
      credentialsDir: o.credentialsDir,
      workloadCertTtl: o.workloadCertTtl,
      readyTimeoutMs: o.readyTimeoutMs,
      log: o.log ?? verbose,
    });
    try {
      const started = await mesh.start();
      return new TestMesh(mesh, root, appliedDir, o.octet, started);
    } catch (e) {
      await mesh.stop();
      throw e;
    }
  }

  /** The first HTTP URL a gateway serves, e.g. http://127.101.1.1:8080. */
  get gatewayUrl(): string {
    for (const w of this.mesh.list()) for (const s of w.plan.gatewayServers) if (s.url.startsWith("http://")) return s.url;
    throw new Error("no HTTP gateway in this mesh");
  }

  /** A workload's address by WorkloadEntry name. */
  address(workload: string): string {
    const w = this.mesh.workload(workload);
    if (!w) throw new Error(`no workload ${workload}`);
    return w.plan.address;
  }

  /**
   * Applies Istio YAML (a file path or YAML text) the way `kubectl apply` does: each resource replaces
   * the one of the same kind, namespace and name applied before. Each lands in its own file in the
   * watched extra folder; resolves when every proxy has the change.
   */
  async apply(fileOrYaml: string): Promise<void> {
    const docs = resourceDocs(fileOrYaml, this.octet);
    await this.changeAndConverge(() => {
      for (const d of docs) writeFileSync(join(this.appliedDir, d.file), d.text);
    });
  }

  /** Deletes the resources a file (or YAML text) defines, as `kubectl delete -f`; resolves when every proxy has the change. */
  async delete(fileOrYaml: string): Promise<void> {
    const docs = resourceDocs(fileOrYaml, this.octet);
    await this.changeAndConverge(() => {
      for (const d of docs) rmSync(join(this.appliedDir, d.file), { force: true });
    });
  }

  private async changeAndConverge(change: () => void): Promise<void> {
    const store = this.mesh.discovery.store;
    let unsubscribe: () => void = () => {};
    const changed = new Promise<void>((resolve) => (unsubscribe = store.subscribe(() => resolve())));
    change();
    // No batch arrives when the content did not change anything; 3 s covers the watch's settle time.
    await Promise.race([changed, new Promise((r) => setTimeout(r, 3000).unref())]);
    unsubscribe();
    await this.mesh.converged();
  }

  /** A request through the first HTTP gateway. */
  gateway(path: string, o: RequestOptions = {}): Promise<HttpResult> {
    const url = new URL(this.gatewayUrl);
    return httpRequest(url.hostname, Number(url.port), path, o);
  }

  /** A request from inside a workload: absolute-form through its sidecar, as its app (HTTP_PROXY) would. */
  fromWorkload(workload: string, url: string, o: RequestOptions = {}): Promise<HttpResult> {
    const u = new URL(url);
    return httpRequest(this.address(workload), OUTBOUND_PORT, url, { ...o, headers: { host: u.host, ...o.headers } });
  }

  /** A proxy's counters and gauges from its admin /stats. */
  async stats(workload: string): Promise<Map<string, number>> {
    const r = await httpRequest(this.address(workload), ADMIN_PORT, "/stats");
    const out = new Map<string, number>();
    for (const line of r.body.split("\n")) {
      const i = line.lastIndexOf(": ");
      const v = Number(line.slice(i + 2));
      if (i > 0 && Number.isFinite(v)) out.set(line.slice(0, i), v);
    }
    return out;
  }

  /** Stops every process and the control plane, and removes the temp folder (kept, and named on stderr, with TSMESH_TEST_KEEP_MESH=1: its logs). */
  async stop(): Promise<void> {
    await this.mesh.stop();
    if (process.env.TSMESH_TEST_KEEP_MESH === "1") process.stderr.write(`[mesh ${this.octet}] kept ${this.root}\n`);
    else rmSync(this.root, { recursive: true, force: true });
  }
}
