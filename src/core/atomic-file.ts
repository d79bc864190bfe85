// Files other processes (or a restart) may read at any moment: written to a temporary name in the
// same folder, then renamed over the target, so a reader sees the old content or the new, never half.
// Files that are the only copy of something (the applied layer, the credential key, the root
// bundle) are also made durable: flushed before the rename and the rename flushed in the folder, so
// a crash or power loss leaves the old file or the new one, not an empty one.
import { chmodSync, closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export interface AtomicWriteOptions {
  /** The file's permission bits (default 0600), set on the temporary file before the rename. */
  mode?: number;
  /** fsync the file before the rename and its folder after (default false: a file rewritten often, or rebuilt on start). */
  durable?: boolean;
}

/** The temporary name beside `file` (per process, so two processes never write the same one). */
export function atomicTempName(file: string): string {
  return `${file}.${process.pid}.tmp`;
}

/** Writes `data` to `file` atomically with `mode`; on failure the target is untouched and the temporary file removed. */
export function writeFileAtomic(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const mode = options.mode ?? 0o600;
  const tmp = atomicTempName(file);
  try {
    // A leftover from a crashed run is removed, and the new file created exclusively, so a link
    // planted at the temporary name is never written through.
    rmSync(tmp, { force: true });
    const fd = openSync(tmp, "wx", mode);
    try {
      writeFileSync(fd, data);
      if (options.durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(tmp, mode); // the umask may have taken bits the caller asked for
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  if (options.durable) syncFolder(dirname(file));
}

/** fsync a folder so a rename in it survives a crash; file systems that cannot (EINVAL, EISDIR) have nothing to flush. */
function syncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EINVAL" && code !== "EISDIR" && code !== "EPERM") throw e;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
