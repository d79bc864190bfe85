// The working directory of a workload's app (`tsmesh.io/command`). A WorkloadEntry from a config
// folder (`up DIR`, `--config DIR`) runs its app in that folder, and one from a `--config FILE` in
// the file's folder, so relative paths in the command resolve beside the YAML that names them. A
// WorkloadEntry with no folder — applied with `tsmesh apply` (its YAML may come from stdin), or one
// whose folder is gone — runs in a folder of its own, STATE_DIR/apps/NAMESPACE/NAME (created 0700,
// kept across restarts), as a pod has a filesystem of its own whatever kubectl applied it from.
import { existsSync, mkdirSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export interface AppDirInput {
  /** The config folder or file whose copy of the WorkloadEntry is in force; undefined when it comes from no folder. */
  configPath: string | undefined;
  stateDir: string;
  namespace: string;
  name: string;
}

/** A workload's own folder under the state folder (not created). */
export function ownAppDir(stateDir: string, namespace: string, name: string): string {
  // Validated Kubernetes names hold no "/" and do not start with "."; refuse anything that could leave the folder.
  for (const part of [namespace, name]) {
    if (part === "" || basename(part) !== part || part.startsWith(".")) throw new Error(`workload name ${JSON.stringify(part)} cannot name a folder`);
  }
  return join(stateDir, "apps", namespace, name);
}

/** Where the app runs; the workload's own folder is created when it is the answer. */
export function appWorkingDir(o: AppDirInput): string {
  if (o.configPath !== undefined && existsSync(o.configPath)) return statSync(o.configPath).isDirectory() ? o.configPath : dirname(o.configPath);
  const dir = ownAppDir(o.stateDir, o.namespace, o.name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
