// tsmesh's own release (package.json's version), as `tsmesh version` and the mesh registry report it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "./paths.js";

let cached: string | undefined;

export function tsmeshVersion(): string {
  cached ??= (JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string }).version;
  return cached;
}
