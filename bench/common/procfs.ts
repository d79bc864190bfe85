// What the benches read about their child processes from /proc: CPU time, resident memory (now and
// peak), private/proportional memory and children. Linux only; every reader answers undefined once
// the process is gone, so a crashed proxy shows as "not measured", never as zero.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second (/proc/PID/stat counts CPU time in them). */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + sys, all threads) of a process in ms; undefined once it is gone. */
export function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS; // fields 14 and 15: utime, stime (f[0] is field 3)
  } catch {
    return undefined;
  }
}

/** VmRSS (resident now) and VmHWM (peak resident) in bytes. */
export function memBytes(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const rss = /VmRSS:\s+(\d+)/.exec(s);
    const hwm = /VmHWM:\s+(\d+)/.exec(s);
    return { rss: Number(rss?.[1] ?? 0) * 1024, hwm: Number(hwm?.[1] ?? 0) * 1024 };
  } catch {
    return undefined;
  }
}

/** Private (USS) and proportional (PSS) memory in bytes: RSS less the pages shared with other processes. */
export function privateMem(pid: number): { uss: number; pss: number } | undefined {
  try {
    const r = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(r)?.[1] ?? 0) * 1024;
    return { uss: kb("Private_Clean") + kb("Private_Dirty"), pss: kb("Pss") };
  } catch {
    return undefined;
  }
}

/** The processes whose parent is `pid` (nginx's workers, a `--concurrency` proxy's workers). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}
