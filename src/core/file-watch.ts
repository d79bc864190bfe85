// One file followed for changes of its content (a mounted root certificate bundle, a credential):
// fs.watch on its folder — which also sees the file replaced by a rename or a symlink swap, as
// Kubernetes updates a mounted ConfigMap — with a poll as the fallback where watching is missing
// or misses events. Bursts of events are debounced; the callback runs only when the text differs
// from the last one delivered.
import { readFileSync, statSync } from "node:fs";
import { FolderWatch } from "./folder-watch.js";

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
  private readonly folder: FolderWatch;
  private text: string;
  private lastError = "";
  private closed = false;
  private readonly maxBytes: number;

  /** Watches `path`, whose content is now `initial` (already read by the caller). */
  constructor(
    readonly path: string,
    initial: string,
    private readonly onChange: (text: string) => void,
    private readonly o: FileWatchOptions = {},
  ) {
    this.text = initial;
    this.maxBytes = o.maxBytes ?? 1024 * 1024;
    // Any event in the folder counts: a symlink swap renames a sibling (`..data`), not the file,
    // and the read that follows is cheap (the content decides whether anything changed).
    this.folder = new FolderWatch(path, { debounceMs: o.debounceMs ?? 100, pollMs: o.pollMs ?? 5000 }, () => this.check());
    this.folder.start();
  }

  close(): void {
    this.closed = true;
    this.folder.close();
  }

  private check(): void {
    if (this.closed) return;
    let text: string;
    try {
      const size = statSync(this.path).size;
      if (size > this.maxBytes) throw new Error(`the file is ${size} bytes, more than ${this.maxBytes}`);
      text = readFileSync(this.path, "utf8");
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const message = `${this.path}: ${err.code === "ENOENT" || err.code === "EACCES" ? "the file cannot be read" : err.message}; keeping its previous content`;
      // A file being replaced is briefly missing: report each distinct problem once.
      if (message !== this.lastError) this.o.onError?.(message);
      this.lastError = message;
      return;
    }
    this.lastError = "";
    if (text === this.text) return;
    this.text = text;
    this.onChange(text);
  }
}
