// Files other processes (or a restart) may read at any moment: written to a temporary name in the
// same folder, then renamed over the target, so a reader sees the old content or the new, never half.
import { chmodSync, renameSync, rmSync, writeFileSync } from "node:fs";

/** Writes `text` to `file` atomically with `mode` (the temporary file has it before any byte is written). */
export function writeFileAtomic(file: string, text: string, mode = 0o600): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text, { mode });
    chmodSync(tmp, mode); // an existing leftover keeps its mode otherwise
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
