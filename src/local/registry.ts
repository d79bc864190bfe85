// The registry of running meshes: while `tsmesh up` runs it keeps `<stateDir>/mesh.json` saying where
// its control plane, API socket and every workload's proxy are, so the operating commands
// (proxy-status, proxy-config, describe, version, dashboard, exec, tap, analyze, apply/get/delete)
// find the mesh without being told its config. Written atomically (temp file + rename), removed on
// stop; a record whose pid is no longer alive (up was killed) is stale and ignored.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { writeFileAtomic } from "../core/atomic-file.js";
import { dirname, join, resolve } from "node:path";
import { defaultStateDir } from "../core/paths.js";

export const MESH_FILE = "mesh.json";

export interface MeshWorkloadRecord {
  name: string;
  namespace: string;
  role: "sidecar" | "router";
  address: string;
  adminPort: number;
  /** The proxy's xDS node id (sidecar~IP~NAME.NS~NS.svc.cluster.local). */
  proxyId: string;
  state: "starting" | "ready" | "failing";
  app?: { address: string; ports: number[] };
}

export interface MeshRecord {
  name: string;
  pid: number;
  /**
   * When that pid's process started (Linux /proc/PID/stat starttime, clock ticks since boot), so a pid
   * reused by another process after `up` died (or after a reboot) does not make the record live.
   */
  pidStartTime?: string;
  /** ISO time. */
  startedAt: string;
  tsmeshVersion: string;
  stateDir: string;
  configDirs: string[];
  /** The mesh API's Unix socket (<stateDir>/api.sock). */
  apiSocket: string;
  /** The control plane's ADS address, HOST:PORT. */
  xds: string;
  /** istiod's monitoring URL (http://HOST:15014), "" when turned off. */
  monitoring: string;
  prometheus?: string;
  workloads: MeshWorkloadRecord[];
}

/** Where meshes named by --name keep their state: ~/.tsmesh/NAME. */
export function meshesRoot(): string {
  return dirname(defaultStateDir());
}

/** `up --name NAME`'s state folder unless --state-dir is given. */
export function stateDirForName(name: string): string {
  return join(meshesRoot(), name);
}

/** A mesh name is a folder name under ~/.tsmesh: letters, digits, '.', '_', '-'. */
export function checkMeshName(name: string): string | undefined {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name) ? undefined : `mesh name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-' (at most 63)`;
}

/** Writes the record atomically: readers see the old file or the new one, never half of one. */
export function writeMesh(record: MeshRecord): void {
  mkdirSync(record.stateDir, { recursive: true, mode: 0o700 });
  const file = join(record.stateDir, MESH_FILE);
  writeFileAtomic(file, JSON.stringify(record, null, 2) + "\n", { mode: 0o600 });
}

/** Removes the record, if it is this process's (a newer `up` on the same state folder keeps its own). */
export function removeMesh(stateDir: string, pid = process.pid): void {
  const file = join(stateDir, MESH_FILE);
  const r = readRecord(file);
  if (r === undefined || r.pid === pid) rmSync(file, { force: true });
}

/** A process's start time from /proc/PID/stat (field 22), or undefined where there is no /proc. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its ')'.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote a record is still the one running under its pid. */
export function recordAlive(r: Pick<MeshRecord, "pid" | "pidStartTime">): boolean {
  if (!pidAlive(r.pid)) return false;
  if (r.pidStartTime === undefined) return true;
  const now = processStartTime(r.pid);
  return now === undefined || now === r.pidStartTime;
}

/** Whether a process with this pid exists (EPERM: it exists, owned by someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readRecord(file: string): MeshRecord | undefined {
  try {
    const v = JSON.parse(readFileSync(file, "utf8")) as MeshRecord;
    if (typeof v?.name !== "string" || typeof v.pid !== "number" || !Array.isArray(v.workloads)) return undefined;
    return v;
  } catch {
    return undefined;
  }
}

/** The live record in a state folder, or undefined (none, unreadable, or stale). */
export function readMesh(stateDir: string, alive: (r: MeshRecord) => boolean = recordAlive): MeshRecord | undefined {
  const r = readRecord(join(resolve(stateDir), MESH_FILE));
  return r && alive(r) ? r : undefined;
}

/** Every running mesh under ~/.tsmesh (or `root`), sorted by name. */
export function listMeshes(root = meshesRoot(), alive: (r: MeshRecord) => boolean = recordAlive): MeshRecord[] {
  if (!existsSync(root)) return [];
  const out: MeshRecord[] = [];
  for (const e of readdirSync(root, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const r = readMesh(join(root, e.name), alive);
    if (r) out.push(r);
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export interface FindMeshOptions {
  name?: string;
  stateDir?: string;
  /** Where named meshes live (tests); default ~/.tsmesh. */
  root?: string;
  alive?: (r: MeshRecord) => boolean;
}

/**
 * The running mesh a command talks to: the one in --state-dir, else the one called --name, else
 * the only one running. Several running and no --name is an error listing them.
 */
export function findMesh(o: FindMeshOptions = {}): MeshRecord | Error {
  const root = o.root ?? meshesRoot();
  if (o.stateDir !== undefined) {
    const r = readMesh(o.stateDir, o.alive);
    if (!r) return new Error(`no running mesh in ${o.stateDir} (is \`tsmesh up --state-dir ${o.stateDir}\` running?)`);
    if (o.name !== undefined && r.name !== o.name) return new Error(`the mesh running in ${o.stateDir} is ${JSON.stringify(r.name)}, not ${JSON.stringify(o.name)}`);
    return r;
  }
  const all = listMeshes(root, o.alive);
  if (o.name !== undefined) {
    const r = all.find((m) => m.name === o.name);
    if (r) return r;
    return new Error(`no running mesh named ${JSON.stringify(o.name)}${all.length ? ` (running: ${all.map((m) => m.name).join(", ")})` : ""}`);
  }
  if (all.length === 1) return all[0];
  if (all.length === 0) return new Error("no running mesh found (start one with `tsmesh up`, or give --state-dir for one started with it)");
  return new Error(`${all.length} meshes are running (${all.map((m) => m.name).join(", ")}): choose one with --name`);
}

/** A workload of a mesh by `name`, `namespace/name`, or address. */
export function meshWorkload(mesh: MeshRecord, ref: string): MeshWorkloadRecord | undefined {
  return mesh.workloads.find((w) => `${w.namespace}/${w.name}` === ref || `${w.name}.${w.namespace}` === ref || w.name === ref || w.address === ref || w.proxyId === ref);
}

/** The admin URL of a workload's proxy. */
export function adminUrl(w: MeshWorkloadRecord): string {
  return `http://${w.address}:${w.adminPort}`;
}
