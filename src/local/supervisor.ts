// One supervised child process of `tsmesh up` (a sidecar, a gateway or an app): started in its own
// process group with stdout and stderr appended to its log file, restarted with exponential
// backoff when it exits on its own, and stopped as a group (SIGTERM, then SIGKILL after a grace
// period) so nothing it started outlives the mesh.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readSync, fstatSync } from "node:fs";

export interface ProcessSpec {
  /** Display name, e.g. `reviews-v2 app`. */
  name: string;
  file: string;
  args: string[];
  env: Record<string, string | undefined>;
  cwd: string;
  logFile: string;
}

export interface CrashReport {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines of its log. */
  tail: string[];
  /** Milliseconds until the restart. */
  restartInMs: number;
  restarts: number;
}

export interface SupervisorOptions {
  /** First restart delay; doubles per crash up to maxBackoffMs, and resets after a run of stableMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  stableMs?: number;
  onCrash?: (report: CrashReport) => void;
  /** Called when spawning fails (e.g. program not found), before the restart is scheduled. */
  onSpawnError?: (name: string, error: Error) => void;
}

/** The last `lines` lines of a file (reads at most 16 KiB from its end). */
export function tailFile(path: string, lines = 12): string[] {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const size = fstatSync(fd).size;
    const len = Math.min(size, 16 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const all = buf.toString("utf8").split("\n");
    if (all.length > 0 && all[all.length - 1] === "") all.pop();
    return all.slice(-lines);
  } catch {
    return [];
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export class SupervisedProcess {
  private child: ChildProcess | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private startedAt = 0;
  private backoffMs: number;
  private exited: Promise<void> = Promise.resolve();
  restarts = 0;

  constructor(
    readonly spec: ProcessSpec,
    private readonly options: SupervisorOptions = {},
  ) {
    this.backoffMs = options.initialBackoffMs ?? 500;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  start(): void {
    if (this.stopping || this.child) return;
    const fd = openSync(this.spec.logFile, "a");
    let child: ChildProcess;
    try {
      // detached: a process group of its own, so stop() reaches whatever the command starts.
      // The IPC channel lets tsmesh's own children (proxies, sample apps) exit if `up` dies.
      child = spawn(this.spec.file, this.spec.args, {
        cwd: this.spec.cwd,
        env: this.spec.env,
        detached: true,
        stdio: ["ignore", fd, fd, "ipc"],
      });
    } finally {
      closeSync(fd);
    }
    this.child = child;
    this.startedAt = Date.now();
    let resolveExit!: () => void;
    this.exited = new Promise((r) => (resolveExit = r));
    child.on("error", (e) => {
      // Spawn failures (ENOENT, EACCES) arrive here and are followed by 'close' only sometimes.
      this.options.onSpawnError?.(this.spec.name, e);
      if (this.child === child && child.pid === undefined) this.onExit(child, null, null, resolveExit);
    });
    child.on("exit", (code, signal) => this.onExit(child, code, signal, resolveExit));
    // The channel must not keep `up` alive, nor should messages from the child matter.
    child.channel?.unref();
    child.on("message", () => {});
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, resolveExit: () => void): void {
    if (this.child !== child) return;
    this.child = undefined;
    resolveExit();
    // Whatever the command left in its group goes with it.
    if (child.pid !== undefined) killGroup(child.pid, "SIGKILL");
    if (this.stopping) return;
    const ranMs = Date.now() - this.startedAt;
    if (ranMs >= (this.options.stableMs ?? 10_000)) this.backoffMs = this.options.initialBackoffMs ?? 500;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 30_000);
    this.restarts++;
    this.options.onCrash?.({ name: this.spec.name, code, signal, tail: tailFile(this.spec.logFile), restartInMs: delay, restarts: this.restarts });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.start();
    }, delay);
  }

  /** SIGTERM to the group, SIGKILL after graceMs; resolves when the process has exited. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    if (!child || child.pid === undefined) return;
    const pid = child.pid;
    killGroup(pid, "SIGTERM");
    const timer = setTimeout(() => killGroup(pid, "SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Synchronous last resort (process 'exit' handler): SIGKILL the group. */
  killNow(): void {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.child?.pid !== undefined) killGroup(this.child.pid, "SIGKILL");
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone (ESRCH).
  }
}
