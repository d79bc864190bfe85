// One file followed for changes of its content (a mounted root certificate bundle, a credential):
// fs.watch on its folder — which also sees the file replaced by a rename or a symlink swap, as
// Kubernetes updates a mounted ConfigMap — with a poll as the fallback where watching is missing
// or misses events. Bursts of events are debounced; the callback runs only when the text differs
// from the last one delivered.
import { type FSWatcher, readFileSync, statSync, watch } from "node:fs";
import { dirname } from "node:path";

export interface FileWatchOptions {
  /** How often the file is checked even without events (ms). */
  pollMs?: number;
  /** Quiet time after an event before the file is read (ms; Istio's agent waits 100 ms). */
  debounceMs?: number;
  /** The largest file accepted; a larger one is reported and ignored. */
  maxBytes?: number;
  /** A read that failed or was refused (the previous content stays in force). */
  onError?: (message: string) => void;
}

export class FileWatch {
  private watcher: FSWatcher | undefined;
  private readonly poll: NodeJS.Timeout;
  private debounce: NodeJS.Timeout | undefined;
  private text: string;
  private stamp = "";
  private lastError = "";
  private closed = false;
  private readonly debounceMs: number;
  private readonly maxBytes: number;

  /** Watches `path`, whose content is now `initial` (already read by the caller). */
  constructor(
    readonly path: string,
    initial: string,
    private readonly onChange: (text: string) => void,
    private readonly o: FileWatchOptions = {},
  ) {
    this.text = initial;
    this.debounceMs = o.debounceMs ?? 100;
    this.maxBytes = o.maxBytes ?? 1024 * 1024;
    this.stamp = this.statStamp() ?? "";
    try {
      // Any event in the folder counts: a symlink swap renames a sibling (`..data`), not the file,
      // and the read that follows is cheap (the content decides whether anything changed).
      this.watcher = watch(dirname(path), { persistent: false }, () => this.schedule());
      this.watcher.on("error", () => {
        this.watcher?.close();
        this.watcher = undefined; // the poll carries on alone
      });
    } catch {
      // No fs.watch here: the poll notices changes.
    }
    this.poll = setInterval(() => {
      if (this.statStamp() !== this.stamp) this.check();
    }, o.pollMs ?? 5000);
    this.poll.unref();
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    clearInterval(this.poll);
    clearTimeout(this.debounce);
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.check(), this.debounceMs);
    this.debounce.unref();
  }

  /** Size, mtime and inode of the file (following symlinks), or undefined when it cannot be read. */
  private statStamp(): string | undefined {
    try {
      const st = statSync(this.path);
      return `${st.size}:${st.mtimeMs}:${st.ino}`;
    } catch {
      return undefined;
    }
  }

  private check(): void {
    if (this.closed) return;
    const stamp = this.statStamp();
    let text: string;
    try {
      if (stamp === undefined) throw new Error("the file cannot be read");
      const size = Number(stamp.split(":")[0]);
      if (size > this.maxBytes) throw new Error(`the file is ${size} bytes, more than ${this.maxBytes}`);
      text = readFileSync(this.path, "utf8");
    } catch (e) {
      const message = `${this.path}: ${(e as Error).message}; keeping its previous content`;
      // A file being replaced is briefly missing: report each distinct problem once.
      if (message !== this.lastError) this.o.onError?.(message);
      this.lastError = message;
      return;
    }
    this.stamp = stamp;
    this.lastError = "";
    if (text === this.text) return;
    this.text = text;
    this.onChange(text);
  }
}
