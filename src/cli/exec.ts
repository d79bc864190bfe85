// `tsmesh exec WORKLOAD -- COMMAND…`: runs a command as if inside a workload of a `tsmesh up` mesh
// (kubectl exec's role for local mode): its proxy variables point at that workload's sidecar, so
// `curl http://reviews:9080/reviews/0` goes through the mesh by name, as the workload's app would.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import type { Resource } from "../api/resource.js";
import { listConfigFiles, validateFile } from "../config/files.js";

export interface ExecOptions {
  workload: string;
  config: string[];
  command: string[];
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

/**
 * The admin URL (http://ADDRESS:15000) of the proxy of WorkloadEntry `name` in a `tsmesh up` mesh
 * whose config is in `paths`, or the message saying why there is none (`cmd` names the command).
 */
export function workloadAdminUrl(paths: readonly string[], name: string, cmd: string): { url: string } | { error: string } {
  for (const p of paths) if (!existsSync(p)) return { error: `tsmesh ${cmd}: --config ${p}: no such file or folder` };
  const we = findWorkloadEntry(paths, name);
  if (!we?.spec.address) return { error: `tsmesh ${cmd}: no WorkloadEntry ${JSON.stringify(name)} with an address in ${paths.join(", ")}` };
  return { url: `http://${we.spec.address}:15000` };
}

export async function runExec(o: ExecOptions, err: (s: string) => void): Promise<number> {
  for (const p of o.config) {
    if (!existsSync(p)) {
      err(`tsmesh exec: --config ${p}: no such file or folder`);
      return 2;
    }
  }
  const we = findWorkloadEntry(o.config, o.workload);
  if (!we?.spec.address) {
    err(`tsmesh exec: no WorkloadEntry ${JSON.stringify(o.workload)} with an address in ${o.config.join(", ")}`);
    return 2;
  }
  const proxy = `http://${we.spec.address}:15001`;
  const env = {
    ...process.env,
    HTTP_PROXY: proxy,
    http_proxy: proxy,
    HTTPS_PROXY: proxy,
    https_proxy: proxy,
    NO_PROXY: "localhost,127.0.0.1,::1",
    no_proxy: "localhost,127.0.0.1,::1",
    POD_NAME: we.metadata.name,
    POD_NAMESPACE: we.metadata.namespace,
    INSTANCE_IP: we.spec.address,
  };
  return new Promise((resolve) => {
    const child = spawn(o.command[0], o.command.slice(1), { env, stdio: "inherit" });
    child.on("error", (e) => {
      err(`tsmesh exec: ${o.command[0]}: ${e.message}`);
      resolve(127);
    });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
