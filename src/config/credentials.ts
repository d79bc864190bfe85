// The credentials folder, watched (local mode's Secret informer for istiod's SecretGen): credentials
// are read and checked as their files change (credential-files.ts has the layout); a bad edit is
// reported naming the file and the last good copy keeps serving; a credential whose files are gone
// is removed. Listeners hear which credentials (`namespace/name`) changed, so only proxies that
// watch those names get a push.
import { statSync } from "node:fs";
import { displayPath } from "./files.js";
import { Credential, CredentialError, credentialKey, listCredentials, readCredential, type CredentialFiles, type StrayFile } from "./credential-files.js";
import { FolderWatch } from "../core/folder-watch.js";

export { Credential, credentialKey, TOP_LEVEL_NAMESPACE, NAMESPACES_FOLDER } from "./credential-files.js";

/** Read access to the current credentials (what the Secret generator needs). */
export interface CredentialLookup {
  get(namespace: string, name: string): Credential | undefined;
}

export interface CredentialReport {
  /** `namespace/name`; "" for a file that is part of no credential. */
  credential: string;
  /** The file (or folder) the report is about. */
  file: string;
  /** applied: served; rejected: not served (last good copy kept, if any); removed; ignored: a stray file. */
  status: "applied" | "rejected" | "removed" | "ignored";
  message?: string;
  /** Served, but worth knowing (an expired certificate). */
  warnings: readonly string[];
  keptLastGood: boolean;
}

export interface CredentialsFolderOptions {
  /** Quiet time after a file-system event before rescanning (ms). */
  debounceMs?: number;
  /** Full rescan interval as a safety net for dropped events (ms; 0 disables). */
  pollMs?: number;
  onReport?: (report: CredentialReport) => void;
  /** Called after a rescan that changed what is served, with the changed `namespace/name` keys. */
  onChange?: (changed: ReadonlySet<string>) => void;
  /** Clock for certificate validity warnings (tests). */
  now?: () => number;
}

interface Entry {
  /** Paths, sizes, mtimes and inodes of the files last read (a rescan rereads only when it changes). */
  stamp: string;
  good?: Credential;
  error?: string;
}

function stampOf(c: CredentialFiles): string {
  const parts = [c.problems.join("\n")];
  for (const f of [c.cert, c.key, c.ca]) {
    if (!f) {
      parts.push("-");
      continue;
    }
    try {
      const st = statSync(f);
      parts.push(`${f}:${st.mtimeMs}:${st.size}:${st.ino}`);
    } catch {
      parts.push(`${f}:gone`);
    }
  }
  return parts.join("|");
}

function firstFile(c: CredentialFiles): string {
  return displayPath(c.cert ?? c.key ?? c.ca ?? c.name);
}

export class CredentialsFolder implements CredentialLookup {
  private readonly entries = new Map<string, Entry>();
  /** Stray files already reported (file + message), so each is reported once. */
  private strays = new Set<string>();
  private readonly watch: FolderWatch;
  private readonly now: () => number;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly options: CredentialsFolderOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.watch = new FolderWatch(path, { debounceMs: options.debounceMs ?? 40, pollMs: options.pollMs ?? 5000 }, () => this.rescan());
  }

  /** Reads everything once; returns the reports of what is not served as-is. */
  load(): CredentialReport[] {
    const out: CredentialReport[] = [];
    this.rescan((r) => {
      if (r.status !== "applied" || r.warnings.length > 0) out.push(r);
    });
    return out;
  }

  /** Loads, then keeps watching until close(). */
  start(): CredentialReport[] {
    const reports = this.load();
    this.watch.start();
    return reports;
  }

  close(): void {
    this.closed = true;
    this.watch.close();
  }

  get(namespace: string, name: string): Credential | undefined {
    return this.entries.get(credentialKey(namespace, name))?.good;
  }

  /** Every credential served now. */
  list(): Credential[] {
    return [...this.entries.values()].flatMap((e) => (e.good ? [e.good] : []));
  }

  /** Credentials whose current files are rejected (whether or not an older copy is served). */
  problems(): Array<{ credential: string; message: string; keptLastGood: boolean }> {
    return [...this.entries].flatMap(([k, e]) => (e.error ? [{ credential: k, message: e.error, keptLastGood: !!e.good }] : []));
  }

  private rescan(extra?: (r: CredentialReport) => void): void {
    if (this.closed) return;
    const report = (r: CredentialReport) => {
      this.options.onReport?.(r);
      extra?.(r);
    };
    let listed: CredentialFiles[];
    let strays: StrayFile[];
    try {
      ({ credentials: listed, strays } = listCredentials(this.path));
    } catch {
      // The folder is gone (or unreadable): nothing in it is served.
      listed = [];
      strays = [];
    }
    const changed = new Set<string>();
    const present = new Set(listed.map((c) => credentialKey(c.namespace, c.name)));
    for (const [key, e] of [...this.entries]) {
      if (present.has(key)) continue;
      this.entries.delete(key);
      if (e.good) changed.add(key);
      report({ credential: key, file: key, status: "removed", warnings: [], keptLastGood: false });
    }
    for (const c of listed) {
      const key = credentialKey(c.namespace, c.name);
      const stamp = stampOf(c);
      const old = this.entries.get(key);
      if (old && old.stamp === stamp) continue;
      let cred: Credential;
      try {
        cred = readCredential(c, this.now());
      } catch (e) {
        if (!(e instanceof CredentialError)) {
          // Changed between listing and reading (an editor's replace): the next event or poll rereads it.
          if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
          throw e;
        }
        this.entries.set(key, { stamp, good: old?.good, error: e.message });
        report({ credential: key, file: firstFile(c), status: "rejected", message: e.message, warnings: [], keptLastGood: !!old?.good });
        continue;
      }
      // The same content keeps the same object (the Secret built from it is shared and encoded once).
      const same = old?.good?.version === cred.version;
      this.entries.set(key, { stamp, good: same ? old.good : cred });
      if (same && !old.error) continue; // touched, same content
      if (!same) changed.add(key);
      report({ credential: key, file: firstFile(c), status: "applied", warnings: cred.warnings, keptLastGood: false });
    }
    const seenStrays = new Set<string>();
    for (const s of strays) {
      const id = `${s.file}\0${s.message}`;
      seenStrays.add(id);
      if (!this.strays.has(id)) report({ credential: "", file: displayPath(s.file), status: "ignored", message: s.message, warnings: [], keptLastGood: false });
    }
    this.strays = seenStrays;
    if (changed.size > 0) this.options.onChange?.(changed);
    this.watch.sync();
  }
}
