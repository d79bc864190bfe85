// Watching a folder tree (or one file) for changes, for the sources that rescan on change (config
// folders, the credentials folder, the agent's root bundle file through FileWatch). Events only
// schedule a rescan (debounced); the rescan is the caller's and compares what is on disk, so missed
// or duplicated events cannot leave it wrong. A slow poll is the safety net for events the platform
// drops.
import { readdirSync, statSync, watch, type FSWatcher } from "node:fs";
import { dirname, join } from "node:path";

export interface FolderWatchOptions {
  /** Quiet time after a file-system event before rescanning (ms); at most 5 × this after the first event. */
  debounceMs: number;
  /** Full rescan interval (ms; 0 disables). */
  pollMs: number;
  /** Whether an event about this file name concerns the caller (subfolders and the watched path always do). */
  relevant?: (name: string) => boolean;
}

export class FolderWatch {
  /** One non-recursive watcher per folder: Node 20's recursive watch on Linux misses repeated rename-replace saves. */
  private readonly watchers = new Map<string, FSWatcher>();
  private watching = false;
  private closed = false;
  private debounce?: NodeJS.Timeout;
  private poll?: NodeJS.Timeout;
  private firstEventAt: number | undefined;

  constructor(
    readonly path: string,
    private readonly options: FolderWatchOptions,
    private readonly rescan: () => void,
  ) {}

  /** Starts the watchers and the poll; call after the first scan. */
  start(): void {
    if (this.closed) return;
    this.watching = true;
    this.sync();
    if (this.options.pollMs > 0) {
      this.poll = setInterval(() => this.rescan(), this.options.pollMs);
      this.poll.unref();
    }
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    clearTimeout(this.debounce);
    clearInterval(this.poll);
  }

  /** Follows the folder tree as it is now (new subfolders watched, gone ones dropped); call after each rescan. */
  sync(): void {
    if (!this.watching || this.closed) return;
    const dirs = new Set<string>();
    const walk = (d: string, depth: number) => {
      dirs.add(d);
      if (depth > 16) return;
      let entries;
      try {
        entries = readdirSync(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) if (e.isDirectory() && !e.name.startsWith(".")) walk(join(d, e.name), depth + 1);
    };
    let isDir = false;
    try {
      isDir = statSync(this.path).isDirectory();
    } catch {
      // gone: watch its parent so its return is noticed
    }
    if (isDir) walk(this.path, 0);
    else dirs.add(dirname(this.path));
    for (const [d, w] of this.watchers) {
      if (dirs.has(d)) continue;
      w.close();
      this.watchers.delete(d);
    }
    for (const d of dirs) {
      if (this.watchers.has(d)) continue;
      try {
        const w = watch(d, { persistent: false }, (_event, name) => {
          // Other files in the folder (a log being appended to) must not keep postponing the rescan.
          const file = typeof name === "string" ? name : undefined;
          if (file && this.options.relevant && !this.options.relevant(file) && join(d, file) !== this.path && !this.isSubfolder(join(d, file))) return;
          this.schedule();
        });
        w.on("error", () => this.schedule());
        this.watchers.set(d, w);
      } catch {
        // No watch support here: the poll still picks changes up.
      }
    }
  }

  private isSubfolder(path: string): boolean {
    try {
      return statSync(path).isDirectory();
    } catch {
      return this.watchers.has(path); // a watched folder that just went away
    }
  }

  /** Rescans once events pause for debounceMs, and at most 5 × debounceMs after the first one. */
  private schedule(): void {
    if (this.closed) return;
    const now = Date.now();
    this.firstEventAt ??= now;
    clearTimeout(this.debounce);
    const { debounceMs } = this.options;
    const wait = Math.max(0, Math.min(debounceMs, this.firstEventAt + 5 * debounceMs - now));
    this.debounce = setTimeout(() => {
      this.firstEventAt = undefined;
      this.rescan();
    }, wait);
  }
}
