// Locates files shipped with the package (schemas, examples) whether we run from dist/ or src/.
import { existsSync } from "node:fs";
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
