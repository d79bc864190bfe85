// Keeps a running LocalMesh's entry in the registry of running meshes (registry.ts): writes
// `<stateDir>/mesh.json` once the control plane listens, rewrites it when a workload's state
// (LocalMesh's starting / ready / failing) or address changes (checked twice a second: the mesh has
// no single place all of that passes through), and removes it on stop.
import { join } from "node:path";
import { tsmeshVersion } from "../core/tsmesh-version.js";
import { proxyNodeId } from "../model/proxy.js";
import { ADMIN_PORT, type LocalMesh } from "./mesh.js";
import { processStartTime, removeMesh, writeMesh, type MeshRecord } from "./registry.js";


/** The registry record for a mesh as it is now. */
export function meshRecord(mesh: LocalMesh, o: { name: string; startedAt: Date; configDirs: readonly string[] }): MeshRecord {
  const pidStart = processStartTime(process.pid);
  return {
    name: o.name,
    pid: process.pid,
    ...(pidStart === undefined ? {} : { pidStartTime: pidStart }),
    startedAt: o.startedAt.toISOString(),
    tsmeshVersion: tsmeshVersion(),
    stateDir: mesh.stateDir,
    configDirs: [...o.configDirs],
    apiSocket: join(mesh.stateDir, "api.sock"),
    xds: mesh.xdsAddress,
    monitoring: mesh.monitoringUrl ?? "",
    ...(mesh.prometheus ? { prometheus: mesh.prometheus.url } : {}),
    workloads: mesh.list().map((w) => ({
      name: w.plan.name,
      namespace: w.plan.namespace,
      role: w.plan.role,
      address: w.plan.address,
      adminPort: ADMIN_PORT,
      proxyId: proxyNodeId(w.plan.role, w.plan.address, w.plan.name, w.plan.namespace),
      state: w.state,
      ...(w.plan.appAddress && w.app ? { app: { address: w.plan.appAddress, ports: w.plan.ports.map((p) => p.port) } } : {}),
    })),
  };
}

export class MeshRegistration {
  private timer: NodeJS.Timeout | undefined;
  private last = "";
  private readonly startedAt = new Date();

  constructor(
    private readonly mesh: LocalMesh,
    private readonly o: { name: string; configDirs: readonly string[]; intervalMs?: number; log?: (line: string) => void },
  ) {}

  /** Starts keeping the record (written as soon as the control plane has its ports). */
  start(): void {
    this.refresh();
    this.timer = setInterval(() => this.refresh(), this.o.intervalMs ?? 500);
    this.timer.unref();
  }

  /** Rewrites mesh.json when anything in it changed. */
  refresh(): void {
    if (this.mesh.discovery.xdsPort === 0) return;
    const record = meshRecord(this.mesh, { name: this.o.name, startedAt: this.startedAt, configDirs: this.o.configDirs });
    const text = JSON.stringify(record);
    if (text === this.last) return;
    try {
      writeMesh(record);
      this.last = text;
    } catch (e) {
      this.o.log?.(`cannot write ${join(this.mesh.stateDir, "mesh.json")}: ${(e as Error).message}`);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    removeMesh(this.mesh.stateDir);
  }
}
