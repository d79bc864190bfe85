// bench:xds's run against tsmesh: the control plane as a child process (`tsmesh discovery` on the
// generated mesh), the fleet through the three phases with the config edits that trigger them, the
// control plane's RSS and CPU per phase, and the server's own counters (pushes, rejects, the
// incremental EDS path, pilot_proxy_convergence_time) read from its /metrics between phases.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { collectLines } from "../common/lines.js";
import { Fleet, type Phases, runPhases } from "./fleet.js";
import { replaceFile, virtualService, weFile, weFileText, wePerFile } from "./mesh-config.js";
import { freePort, metricSum, metricValues, RssSampler, stopChild, track, waitReady } from "./processes.js";
import { EDS_SERVICE, ENDPOINTS_PER_SERVICE, fmtMb, fmtMs, now, SHORT_TYPES, TSMESH_BIN } from "./settings.js";

/** The control plane's RSS (now and peak) and CPU over a phase. */
export interface CpPhase {
  rssNow: number;
  rssPeak: number;
  cpuMs: number;
}

export interface TsmeshRun {
  phases: Phases;
  cp: Record<string, CpPhase>;
  /** VmHWM over the whole run, and RSS once ready. */
  hwm: number;
  startupRss: number;
  cpErr: string[];
  edsIncr: number;
  fullDelta: number;
  rejects: number;
  expired: number;
  pushesByType: string;
  convergenceVs: string;
  convergenceEds: string;
}

/** Runs the phases against tsmesh; `fleets` gets the fleet (closed when done, or by the caller on failure). */
export async function runTsmesh(configDir: string, fleets: Fleet[]): Promise<TsmeshRun> {
  const [xdsPort, monPort] = [await freePort(), await freePort()];
  // For analysis: BENCH_CPU_PROF=DIR profiles the control plane; BENCH_CP_NODE_ARGS adds node flags
  // (e.g. --trace-gc); BENCH_CP_LOG=FILE keeps its stdout and stderr.
  const nodeArgs = [
    ...(process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
    ...(process.env.BENCH_CP_NODE_ARGS ?? "").split(" ").filter(Boolean),
  ];
  const t0 = now();
  const tsmesh = track(
    spawn(
      process.execPath,
      [...nodeArgs, TSMESH_BIN, "discovery", "--config", configDir, "--xds-address", `127.0.0.1:${xdsPort}`, "--monitoring-address", `127.0.0.1:${monPort}`],
      { stdio: ["ignore", "pipe", "pipe"] },
    ),
  );
  const cpOut: string[] = [];
  const cpErr: string[] = [];
  collectLines(tsmesh.stdout, cpOut);
  collectLines(tsmesh.stderr, cpErr);
  if (process.env.BENCH_CP_LOG) {
    const log = createWriteStream(process.env.BENCH_CP_LOG);
    tsmesh.stdout?.on("data", (c: Buffer) => log.write(c));
    tsmesh.stderr?.on("data", (c: Buffer) => log.write(c));
  }
  const mon = `http://127.0.0.1:${monPort}`;
  await waitReady(`${mon}/ready`, tsmesh, 60_000);
  const startupMs = now() - t0;
  const sampler = new RssSampler(tsmesh.pid!);
  const startup = sampler.take();
  console.log(`control plane ready in ${fmtMs(startupMs)} (RSS ${fmtMb(startup.now?.rss ?? 0)})`);

  const cp: Record<string, CpPhase> = {};
  let cpuMark = startup.now?.cpuMs ?? 0;
  const cpPhase = (name: string): void => {
    const t = sampler.take();
    cp[name] = { rssNow: t.now?.rss ?? 0, rssPeak: t.phasePeak, cpuMs: (t.now?.cpuMs ?? cpuMark) - cpuMark };
    cpuMark = t.now?.cpuMs ?? cpuMark;
  };
  const m0 = new Map<string, Map<string, number>>();
  const fleet = new Fleet("tsmesh", `127.0.0.1:${xdsPort}`);
  fleets.push(fleet);
  const real = await runPhases(
    fleet,
    {
      vs: () => replaceFile(join(configDir, "vs-0.yaml"), virtualService(0, 50)),
      eds: () => {
        const j = EDS_SERVICE * ENDPOINTS_PER_SERVICE; // svc-K-0, version v1
        const f = Math.floor(j / wePerFile());
        replaceFile(join(configDir, weFile(f)), weFileText(f, { j, address: "10.250.0.1" }));
      },
    },
    true,
    async (phase) => {
      cpPhase(phase);
      m0.set(phase, await metricValues(`${mon}/metrics`));
    },
  );
  const hwm = sampler.sample()?.hwm ?? 0;
  sampler.stop();
  const metricsAfterInitial = m0.get("initial")!;
  const metricsAfterVs = m0.get("vs")!;
  const metricsAfterEds = m0.get("eds")!;
  // The server's own view: pilot_proxy_convergence_time (change → ACK of push-triggered responses).
  const convergence = (before: Map<string, number>, after: Map<string, number>): string => {
    const n = metricSum(after, "pilot_proxy_convergence_time_count") - metricSum(before, "pilot_proxy_convergence_time_count");
    const sum = metricSum(after, "pilot_proxy_convergence_time_sum") - metricSum(before, "pilot_proxy_convergence_time_sum");
    return n > 0 ? `mean ${fmtMs((sum / n) * 1000)} over ${n} ACKs` : "no ACKs recorded";
  };
  const edsIncr = metricSum(metricsAfterEds, "pilot_push_eds_incremental") - metricSum(metricsAfterVs, "pilot_push_eds_incremental");
  const fullDelta = metricSum(metricsAfterEds, "pilot_push_full") - metricSum(metricsAfterVs, "pilot_push_full");
  const rejects = metricSum(metricsAfterEds, "pilot_total_xds_rejects");
  const expired = metricSum(metricsAfterEds, "pilot_xds_expired_nonce");
  const pushesByType = SHORT_TYPES.map((t) => `${t} ${metricsAfterEds.get(`pilot_xds_pushes{type="${t}"}`) ?? 0}`).join(", ");
  fleet.close();
  await stopChild(tsmesh);
  return {
    phases: real,
    cp,
    hwm,
    startupRss: startup.now?.rss ?? 0,
    cpErr,
    edsIncr,
    fullDelta,
    rejects,
    expired,
    pushesByType,
    convergenceVs: convergence(metricsAfterInitial, metricsAfterVs),
    convergenceEds: convergence(metricsAfterVs, metricsAfterEds),
  };
}
