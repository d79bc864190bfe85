// Locates files shipped with the package (schemas, examples) whether we run from dist/ or src/.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let cached: string | undefined;

/** The folder holding tsmesh's package.json. */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("tsmesh: cannot find package.json above " + import.meta.url);
    dir = up;
  }
  cached = dir;
  return dir;
}

/**
 * The control plane's default state folder (its mesh CA, credential key, root bundle): per user,
 * ~/.tsmesh/default, shared by `tsmesh up` and `tsmesh discovery` so their workloads trust one root.
 */
export function defaultStateDir(): string {
  return join(homedir(), ".tsmesh", "default");
}
