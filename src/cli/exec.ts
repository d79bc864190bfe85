// `tsmesh exec WORKLOAD -- COMMAND…`: runs a command as if inside a workload of a `tsmesh up` mesh
// (kubectl exec's role for local mode): its proxy variables point at that workload's sidecar, so
// `curl http://reviews:9080/reviews/0` goes through the mesh by name, as the workload's app would.
// The workload is found in the running mesh (registry; --name/--state-dir), or, with --config, in
// the WorkloadEntries of those folders.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import type { Resource } from "../api/resource.js";
import { listConfigFiles, validateFile } from "../config/files.js";
import { workloadVariables } from "../local/command-line.js";
import { OUTBOUND_PORT } from "../local/plan.js";
import { findMesh, meshWorkload } from "../local/registry.js";

export interface ExecOptions extends WorkloadSource {
  workload: string;
  command: string[];
}

/** Where a command looks for a workload: config folders when given, else the running mesh. */
export interface WorkloadSource {
  /** WorkloadEntry folders; empty: the running mesh. */
  config: string[];
  /** The running mesh's name (`up --name`) and state folder. */
  name?: string;
  stateDir?: string;
}

/** A workload's name, namespace and address: from the running mesh, or a WorkloadEntry in --config. */
export function findWorkload(src: WorkloadSource, workload: string, cmd: string): { name: string; namespace: string; address: string } | { error: string } {
  if (src.config.length === 0) {
    const mesh = findMesh({ name: src.name, stateDir: src.stateDir });
    if (mesh instanceof Error) return { error: `tsmesh ${cmd}: ${mesh.message}` };
    const w = meshWorkload(mesh, workload);
    if (!w) return { error: `tsmesh ${cmd}: no workload ${JSON.stringify(workload)} in mesh ${mesh.name} (workloads: ${mesh.workloads.map((x) => `${x.namespace}/${x.name}`).join(", ")})` };
    return { name: w.name, namespace: w.namespace, address: w.address };
  }
  for (const p of src.config) if (!existsSync(p)) return { error: `tsmesh ${cmd}: --config ${p}: no such file or folder` };
  const we = findWorkloadEntry(src.config, workload);
  if (!we?.spec.address) return { error: `tsmesh ${cmd}: no WorkloadEntry ${JSON.stringify(workload)} with an address in ${src.config.join(", ")}` };
  return { name: we.metadata.name, namespace: we.metadata.namespace ?? "default", address: we.spec.address };
}

/** The WorkloadEntry named `name` or `namespace/name` in the config paths. */
export function findWorkloadEntry(paths: readonly string[], name: string): Resource<"WorkloadEntry"> | undefined {
  const [ns, n] = name.includes("/") ? name.split("/", 2) : [undefined, name];
  for (const path of paths) {
    for (const file of listConfigFiles(path)) {
      for (const doc of validateFile(file)) {
        const r = doc.resource;
        if (r?.kind === "WorkloadEntry" && r.metadata.name === n && (ns === undefined || r.metadata.namespace === ns)) return r;
      }
    }
  }
  return undefined;
}

/** The admin URL (http://ADDRESS:15000) of a workload's proxy, or the message saying why there is none (`cmd` names the command). */
export function workloadAdminUrl(src: WorkloadSource, workload: string, cmd: string): { url: string } | { error: string } {
  const w = findWorkload(src, workload, cmd);
  return "error" in w ? w : { url: `http://${w.address}:15000` };
}

export async function runExec(o: ExecOptions, err: (s: string) => void): Promise<number> {
  const w = findWorkload(o, o.workload, "exec");
  if ("error" in w) {
    err(w.error);
    return 2;
  }
  // The workload's own variables as `up` gives its app (identity and sidecar; the app's HOST/PORT are the app's).
  const env = { ...process.env, ...workloadVariables({ ...w, proxyUrl: `http://${w.address}:${OUTBOUND_PORT}` }) };
  return new Promise((resolve) => {
    const child = spawn(o.command[0], o.command.slice(1), { env, stdio: "inherit" });
    child.on("error", (e) => {
      err(`tsmesh exec: ${o.command[0]}: ${e.message}`);
      resolve(127);
    });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
