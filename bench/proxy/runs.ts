// bench:proxy's measurements of one configuration: the load runs (wrk's closed-loop saturation, the
// open-loop fixed-rate client) with the proxy processes' CPU time and memory over each, and the
// sequence a configuration goes through (start, fixed rate, warm-up, saturation, stats, stop).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitLine } from "../common/lines.js";
import { cpuMs, memBytes, privateMem } from "../common/procfs.js";
import { fileTag, startConfig, type ProxyBuild, type Proc, type Running } from "./configs.js";
import type { LoadgenOptions, LoadgenResult } from "./loadgen.js";
import { isStopping, killGroup, spawnChild, stopChild } from "./processes.js";
import { BENCH_ENTRY, CONNECTIONS, type ConfigName, now, RATE, RATE_S, RATE_WARMUP_S, SAT_S, WARMUP_S } from "./settings.js";

/** NaN once a process is gone (a crashed proxy has no measurable CPU for the run). */
const sumCpu = (pids: number[]) => pids.reduce((a, p) => a + (cpuMs(p) ?? NaN), 0);
/** CPU ms per process group (a proxy: one pid; nginx: master + worker). */
const groupCpu = (groups: number[][]) => groups.map(sumCpu);
const diff = (a: number[], b: number[]) => a.map((x, i) => x - b[i]);
const total = (a: number[]) => a.reduce((x, y) => x + y, 0);

/** What runConfig needs from the bench: its temp dir, the backend, wrk and the proxies to run. */
export interface RunContext {
  dir: string;
  backendPid: number;
  backendPort: number;
  wrk: string;
  build: ProxyBuild;
}

export interface WrkResult {
  rps: number;
  requests: number;
  non2xx: number;
  socketErrors: string;
  wallMs: number;
  proxyCpuMs: number;
  /** Per proxy (process group), same order as the configuration's procs. */
  perProxyCpuMs: number[];
  backendCpuMs: number;
  raw: string;
}

function runWrk(wrk: string, url: string, seconds: number, proxyPids: number[][], backendPid: number, script?: string): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const cpu0 = groupCpu(proxyPids);
    const b0 = cpuMs(backendPid) ?? 0;
    const t0 = now();
    const child = spawnChild(wrk, ["-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "--timeout", "5s", ...(script ? ["-s", script] : []), url]);
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => killGroup(child, "SIGKILL"), (seconds + 10) * 1000);
    child.once("exit", (code, sig) => {
      const wallMs = now() - t0;
      const perProxyCpuMs = diff(groupCpu(proxyPids), cpu0);
      const backendCpuMs = (cpuMs(backendPid) ?? 0) - b0;
      clearTimeout(timer);
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
      const reqs = /(\d+) requests in/.exec(out);
      if (code !== 0 || !rps || !reqs) {
        reject(new Error(`wrk failed (${code ?? sig}): ${out.trim()}`));
        return;
      }
      resolve({
        rps: Number(rps[1]),
        requests: Number(reqs[1]),
        non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
        socketErrors: /Socket errors:[^\n]*/.exec(out)?.[0] ?? "",
        wallMs,
        proxyCpuMs: total(perProxyCpuMs),
        perProxyCpuMs,
        backendCpuMs,
        raw: out,
      });
    });
  });
}

export interface RateResult extends LoadgenResult {
  /** Highest VmRSS sampled (every 100 ms) during the measured window, per proxy (summed over its pids). */
  rssMax: number[];
  /** USS and PSS per proxy at the end of the measured window. */
  privateAtEnd: Array<{ uss: number; pss: number }>;
  proxyCpuMs: number;
  perProxyCpuMs: number[];
  windowMs: number;
}

async function runRate(host: string, port: number, proxyPids: number[][], target?: string, headers?: Record<string, string>): Promise<RateResult> {
  const o: LoadgenOptions = { host, port, target, headers, rate: RATE, connections: CONNECTIONS, warmupMs: RATE_WARMUP_S * 1000, durationMs: RATE_S * 1000 };
  const err: string[] = [];
  const child = spawnChild(process.execPath, [BENCH_ENTRY, "--loadgen", JSON.stringify(o)], err);
  const timer = setTimeout(() => killGroup(child, "SIGKILL"), (RATE_WARMUP_S + RATE_S + 10) * 1000);
  try {
    await waitLine(child, /^measuring$/, RATE_WARMUP_S * 1000 + 5000, "load generator", err);
    const cpu0 = groupCpu(proxyPids);
    const t0 = now();
    const rssMax = proxyPids.map(() => 0);
    const sample = () => proxyPids.forEach((pids, i) => (rssMax[i] = Math.max(rssMax[i], pids.reduce((a, pid) => a + (memBytes(pid)?.rss ?? 0), 0))));
    const sampler = setInterval(sample, 100);
    let m: RegExpExecArray;
    try {
      m = await waitLine(child, /^result (.*)$/, RATE_S * 1000 + 8000, "load generator", err);
    } finally {
      clearInterval(sampler);
    }
    const perProxyCpuMs = diff(groupCpu(proxyPids), cpu0);
    const privateAtEnd = proxyPids.map((pids) => pids.reduce((a, pid) => ({ uss: a.uss + (privateMem(pid)?.uss ?? 0), pss: a.pss + (privateMem(pid)?.pss ?? 0) }), { uss: 0, pss: 0 }));
    const r = JSON.parse(m[1]) as LoadgenResult;
    return { ...r, rssMax, privateAtEnd, proxyCpuMs: total(perProxyCpuMs), perProxyCpuMs, windowMs: now() - t0 };
  } finally {
    clearTimeout(timer);
    await stopChild(child);
  }
}

const INTERESTING_STATS = /^(cluster\.(?:backend|outbound\|9080\|\|details[\w.]*|inbound\|9080\|\|)\.(upstream_cx_total|upstream_cx_connect_fail|upstream_cx_destroy\w*|upstream_rq_total|upstream_rq_5xx|upstream_rq_pending_overflow|upstream_rq_pending_total|upstream_rq_timeout|upstream_cx_overflow)|http\.[\w.]+\.(downstream_rq_total|downstream_rq_[45]xx|downstream_cx_total|downstream_rq_rx_reset|downstream_rq_tx_reset))$/;

async function adminStats(admin: string): Promise<string> {
  try {
    const r = await fetch(`${admin}/stats`, { signal: AbortSignal.timeout(2000) });
    const text = await r.text();
    return text
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => {
        const [k, v] = l.split(": ");
        return INTERESTING_STATS.test(k) && v !== "0";
      })
      .join(", ");
  } catch (e) {
    return `(admin /stats failed: ${(e as Error).message})`;
  }
}

export interface ConfigResult {
  name: ConfigName;
  /** Run with the baseline checkout's proxies (BENCH_BASELINE). */
  baseline: boolean;
  sat?: WrkResult;
  rate?: RateResult;
  procMem: Array<{ label: string; idleRss: number; rss: number; hwm: number }>;
  notes: string[];
  failed?: string;
}

/** Runs one configuration through its measurements; failures are recorded in the result, not thrown. */
export async function runConfig(name: ConfigName, ctx: RunContext): Promise<ConfigResult> {
  const { dir, backendPid, backendPort, wrk, build } = ctx;
  const baseline = build.baseline;
  const res: ConfigResult = { name, baseline, procMem: [], notes: [] };
  let running: Running | undefined;
  const t0 = now();
  const crashWatch = (p: Proc) => {
    p.child.once("exit", (code, sig) => {
      if (!isStopping(p.child)) res.notes.push(`${p.label} EXITED (${code ?? sig}) during the run; stderr tail: ${p.stderr.slice(-5).join(" | ")}`);
    });
  };
  try {
    running = await startConfig(name, dir, backendPort, build);
    for (const p of running.procs) {
      p.idleRss = p.pids.reduce((a, pid) => a + (memBytes(pid)?.rss ?? 0), 0);
      crashWatch(p);
    }
    const startMs = now() - t0;
    if (running.procs.length) res.notes.push(`started and serving in ${startMs.toFixed(0)} ms`);
    const pids = running.procs.map((p) => p.pids);
    const url = `http://${running.url.host}:${running.url.port}/`;
    // wrk sends the absolute-form target with a script (the request line takes wrk.path as is).
    let script: string | undefined;
    if (running.target || running.headers) {
      script = join(dir, `${name}${fileTag(build)}.lua`);
      const lines = running.target ? [`wrk.path = ${JSON.stringify(running.target)}`, `wrk.headers["Host"] = ${JSON.stringify(new URL(running.target).host)}`] : [];
      for (const [k, v] of Object.entries(running.headers ?? {})) lines.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
      writeFileSync(script, lines.join("\n") + "\n");
    }
    // The fixed rate runs first (after its own unrecorded warm-up, RATE_WARMUP_S) so that the RSS sampled
    // during it is the RSS at that rate, not what a saturation run left behind.
    process.stdout.write(`  ${name}${baseline ? " (baseline)" : ""}: ${RATE} rps for ${RATE_S} s, `);
    res.rate = await runRate(running.url.host, running.url.port, pids, running.target, running.headers);
    process.stdout.write(`warm-up ${WARMUP_S} s, `);
    await runWrk(wrk, url, WARMUP_S, pids, backendPid, script);
    process.stdout.write(`saturation ${SAT_S} s`);
    res.sat = await runWrk(wrk, url, SAT_S, pids, backendPid, script);
    process.stdout.write(` — done\n`);
    for (const p of running.procs) {
      let rss = 0;
      let hwm = 0;
      for (const pid of p.pids) {
        const m = memBytes(pid);
        rss += m?.rss ?? NaN; // gone (crashed): not measurable
        hwm += m?.hwm ?? NaN;
      }
      res.procMem.push({ label: p.label, idleRss: p.idleRss, rss, hwm });
      if (p.admin) res.notes.push(`${p.label} stats: ${await adminStats(p.admin)}`);
      const errs = p.stderr.filter((l) => l.trim() !== "");
      if (errs.length) res.notes.push(`${p.label} stderr (${errs.length} lines, first 5): ${errs.slice(0, 5).join(" | ")}`);
    }
    if (running.notes) res.notes.push(...(await running.notes()));
  } catch (e) {
    process.stdout.write(` — FAILED\n`);
    res.failed = (e as Error).message;
  } finally {
    for (const p of running?.procs ?? []) await stopChild(p.child);
    await running?.stop?.();
    if (name === "nginx" && existsSync(join(dir, "nginx-error.log"))) {
      const log = readFileSync(join(dir, "nginx-error.log"), "utf8").trim();
      if (log) res.notes.push(`nginx error.log: ${log.split("\n").slice(0, 3).join(" | ")}`);
    }
  }
  return res;
}
