// bench:xds's view of its child processes: the control plane's RSS and CPU sampled over each phase,
// its Prometheus metrics (the server's own counters), a free port for it, and stopping children.
import type { ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { cpuMs, memBytes } from "../common/procfs.js";
import { sleep } from "./settings.js";

interface ProcSample {
  rss: number;
  hwm: number;
  cpuMs: number;
}

function sampleProc(pid: number): ProcSample | undefined {
  const mem = memBytes(pid);
  const cpu = cpuMs(pid);
  return mem && cpu !== undefined ? { ...mem, cpuMs: cpu } : undefined;
}

/** Samples a process's RSS every 100 ms; tracks the peak since the last reset. */
export class RssSampler {
  peak = 0;
  last: ProcSample | undefined;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pid: number) {
    this.timer = setInterval(() => this.sample(), 100);
  }
  sample(): ProcSample | undefined {
    const s = sampleProc(this.pid);
    if (s) {
      this.last = s;
      this.peak = Math.max(this.peak, s.rss);
    }
    return s;
  }
  /** Current sample and the peak since the previous take(). */
  take(): { now: ProcSample | undefined; phasePeak: number } {
    const s = this.sample();
    const phasePeak = this.peak;
    this.peak = s?.rss ?? 0;
    return { now: s, phasePeak };
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

const children = new Set<ChildProcess>();

/** Keeps `child` for stopChild / killAll (the watchdog and a failed run kill what is left). */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  return child;
}

export function killAll(): void {
  for (const c of children) c.kill("SIGKILL");
}

/** Stops every child still running (the end of a run). */
export async function stopAll(): Promise<void> {
  for (const c of [...children]) await stopChild(c);
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return;
  }
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const kill = setTimeout(() => child.kill("SIGKILL"), 3000);
  await Promise.race([exited, sleep(5000)]);
  clearTimeout(kill);
  children.delete(child);
}

export async function waitReady(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`control plane exited with code ${child.exitCode}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms`);
}

export async function metricValues(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line === "") continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) continue;
    out.set(m[1] + (m[2] ?? ""), Number(m[3]));
  }
  return out;
}

export const metricSum = (m: Map<string, number>, name: string) => {
  let n = 0;
  for (const [k, v] of m) if (k === name || k.startsWith(name + "{")) n += v;
  return n;
};
