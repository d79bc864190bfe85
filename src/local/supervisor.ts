// One supervised child process of `tsmesh up` (a sidecar, a gateway or an app): started in its own
// process group with stdout and stderr appended to its log file, restarted with Kubernetes'
// CrashLoopBackOff when it exits on its own (10 s, doubling to 5 min; back to 10 s after 10 min of
// running), and stopped as a group (SIGTERM, then SIGKILL after a grace period) so nothing it
// started outlives the mesh. The clock is injectable so the backoff is tested exactly.
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
  /** 1 for the first crash after a good run (or the first start), then 2, 3, … while it keeps failing. */
  streak: number;
  /** True when the supervisor itself ended the run (fail(): e.g. not ready in time). */
  failed: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines of its log. */
  tail: string[];
  /** Milliseconds until the restart. */
  restartInMs: number;
  restarts: number;
}

/** Time for the backoff (FakeClock in tests). */
export interface SupervisorClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: SupervisorClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Kubernetes' kubelet: first restart delay 10 s, doubling to 5 min, reset after 10 min running. */
export const CRASH_LOOP_BACKOFF = { initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 } as const;

export interface SupervisorOptions {
  /** First restart delay (default 10 s); doubles per crash up to maxBackoffMs (5 min), and resets after a run of stableMs (10 min). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  stableMs?: number;
  clock?: SupervisorClock;
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
  private restartTimer: unknown;
  private stopping = false;
  private failing = false;
  private backoffMs: number;
  private exited: Promise<void> = Promise.resolve();
  private readonly clock: SupervisorClock;
  /** When the current (or last) run started, on the supervisor's clock. */
  startedAt = 0;
  restarts = 0;
  /** Crashes since the last run that lasted stableMs (0: none). */
  streak = 0;

  constructor(
    readonly spec: ProcessSpec,
    private readonly options: SupervisorOptions = {},
  ) {
    this.clock = options.clock ?? realClock;
    this.backoffMs = this.initialBackoffMs;
  }

  private get initialBackoffMs(): number {
    return this.options.initialBackoffMs ?? CRASH_LOOP_BACKOFF.initialMs;
  }

  /** Whether a restart is scheduled (crashed, waiting out its backoff). */
  get backingOff(): boolean {
    return this.restartTimer !== undefined;
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
    this.startedAt = this.clock.now();
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
    const failed = this.failing;
    this.failing = false;
    this.scheduleRestart(code, signal, failed);
  }

  private scheduleRestart(code: number | null, signal: NodeJS.Signals | null, failed: boolean): void {
    const ranMs = this.clock.now() - this.startedAt;
    if (ranMs >= (this.options.stableMs ?? CRASH_LOOP_BACKOFF.resetAfterMs)) {
      this.backoffMs = this.initialBackoffMs;
      this.streak = 0;
    }
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? CRASH_LOOP_BACKOFF.maxMs);
    this.restarts++;
    this.streak++;
    this.options.onCrash?.({ name: this.spec.name, streak: this.streak, failed, code, signal, tail: tailFile(this.spec.logFile), restartInMs: delay, restarts: this.restarts });
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = undefined;
      this.start();
    }, delay);
  }

  /**
   * Ends the current run as a failure (e.g. not ready in time): the group is killed and the restart
   * waits out the backoff like a crash, reported with failed: true.
   */
  fail(): void {
    if (this.stopping || !this.child?.pid) return;
    this.failing = true;
    killGroup(this.child.pid, "SIGKILL");
  }

  /** SIGTERM to the group, SIGKILL after graceMs; resolves when the process has exited. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer !== undefined) this.clock.clearTimeout(this.restartTimer);
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
    if (this.restartTimer !== undefined) this.clock.clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
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
