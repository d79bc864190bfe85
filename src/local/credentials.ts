// Each workload's credential file in a `tsmesh up` mesh (the stand-in for the projected
// service-account token Kubernetes mounts into a pod): a token the control plane signed for the
// workload's namespace and service account, written 0600 into the state folder's credentials/
// (0700) and rewritten at about half its life, so the agent, which re-reads the file at every CSR,
// always finds a valid one. Writes are atomic (temporary file, then rename).
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { writeFileAtomic } from "../core/atomic-file.js";
import { join } from "node:path";
import type { CallerIdentity } from "../security/authenticator.js";
import type { IssuedCredential } from "../security/credential.js";

export interface WorkloadCredentialsOptions {
  /** The folder the files go in (created 0700). */
  dir: string;
  /** Signs a credential (the control plane's issuer). */
  issue: (id: CallerIdentity) => Promise<IssuedCredential>;
  log: (line: string) => void;
  now?: () => Date;
}

interface Entry {
  file: string;
  id: CallerIdentity;
  timer?: NodeJS.Timeout;
}

/** The smallest delay between two rewrites (a clock far off must not spin). */
const MIN_REFRESH_MS = 1000;

export class WorkloadCredentials {
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(private readonly o: WorkloadCredentialsOptions) {}

  /** Writes (or rewrites) the credential of workload `key` ("namespace/name") and keeps it fresh; returns the file. */
  async write(key: string, id: CallerIdentity): Promise<string> {
    this.remove(key, false);
    mkdirSync(this.o.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.o.dir, 0o700);
    const entry: Entry = { file: join(this.o.dir, `${key.replace(/[^A-Za-z0-9_.-]/g, ".")}.token`), id };
    this.entries.set(key, entry);
    await this.refresh(key, entry);
    return entry.file;
  }

  /** The file of a workload's credential, if it has one. */
  fileOf(key: string): string | undefined {
    return this.entries.get(key)?.file;
  }

  /** Stops refreshing a workload's credential and deletes its file. */
  remove(key: string, deleteFile = true): void {
    const e = this.entries.get(key);
    if (!e) return;
    clearTimeout(e.timer);
    this.entries.delete(key);
    if (deleteFile) rmSync(e.file, { force: true });
  }

  close(): void {
    this.closed = true;
    for (const key of [...this.entries.keys()]) this.remove(key);
  }

  private async refresh(key: string, entry: Entry): Promise<void> {
    const { token, expiresAt } = await this.o.issue(entry.id);
    if (this.closed || this.entries.get(key) !== entry) return;
    writeFileAtomic(entry.file, token, { mode: 0o600 });
    const now = (this.o.now?.() ?? new Date()).getTime();
    this.schedule(key, entry, Math.max(MIN_REFRESH_MS, (expiresAt.getTime() - now) / 2));
  }

  /** The next rewrite in `inMs`; a failed one is logged and retried every 10 s (the old token still serves until it expires). */
  private schedule(key: string, entry: Entry, inMs: number): void {
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      this.refresh(key, entry).catch((e: unknown) => {
        this.o.log(`${key}: renewing its credential failed: ${(e as Error).message}; retrying in 10 s`);
        if (this.entries.get(key) === entry) this.schedule(key, entry, 10_000);
      });
    }, inMs);
    entry.timer.unref();
  }
}
