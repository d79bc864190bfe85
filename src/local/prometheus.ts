// Debian's Prometheus under `tsmesh up --prometheus`: found on PATH (refused with the package to
// install when it is not there), run on a loopback address with the generated scrape config
// (prometheus-config.ts), its TSDB in the mesh's state folder with bounded retention, its log in
// the mesh's log folder, supervised like the workloads (process group, Kubernetes' CrashLoopBackOff,
// a crash loop reported once until it is ready again) and wrapped so it stops if `up` is killed
// (exit-with-parent.ts).
import { accessSync, constants, mkdirSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { packageRoot } from "../core/paths.js";
import type { PlannedWorkload } from "./plan.js";
import { prometheusConfigYaml, writeProxyTargets } from "./prometheus-config.js";
import { failureReport } from "./console-lines.js";
import { httpStatus, sleep } from "./probes.js";
import { SupervisedProcess, type CrashReport, type SupervisorClock } from "./supervisor.js";

/** Bounded storage: a local mesh's metrics are for the session, not for history. */
export const PROMETHEUS_RETENTION = { time: "1d", size: "512MB" };

export interface LocalPrometheusOptions {
  /** HOST:PORT Prometheus listens on (loopback). */
  address: string;
  /** Seconds between scrapes (default 15, Istio's add-on). */
  scrapeIntervalSeconds?: number;
  /** The control plane's monitoring port, HOST:PORT, when it is on. */
  controlPlane?: string;
  /** Its folder: prometheus.yml, the proxies' targets file and data/ (the TSDB). */
  dir: string;
  logFile: string;
  /** First restart delay (default: CrashLoopBackOff's 10 s, doubling to 5 min, as the workloads'). */
  restartBackoffMs?: number;
  /** The backoff's clock (tests inject one). */
  clock?: SupervisorClock;
  /** Every crash, reported or not (the console gets one report per crash loop). */
  onCrash?: (report: CrashReport) => void;
  log: (line: string) => void;
}

/** The prometheus binary on PATH, or an Error saying which package provides it. */
export function findPrometheus(path = process.env.PATH ?? ""): string | Error {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, "prometheus");
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return new Error("--prometheus needs the `prometheus` program, which is not on PATH; install Debian's package `prometheus` (as root: apt-get install prometheus), or run without --prometheus");
}

export class LocalPrometheus {
  readonly configFile: string;
  readonly targetsFile: string;
  private readonly process: SupervisedProcess;
  /** "ready" from its first 200 on /-/ready until it crashes; "failing" until it is ready again. */
  private state: "starting" | "ready" | "failing" = "starting";
  /** The failure last reported (console-lines.ts): the same one again is not reported. */
  private reportedFailure: string | undefined;
  private stopped = false;
  private startedAt = 0;

  constructor(
    binary: string,
    private readonly o: LocalPrometheusOptions,
  ) {
    this.configFile = join(o.dir, "prometheus.yml");
    this.targetsFile = join(o.dir, "proxies.json");
    const args = [
      join(packageRoot(), "dist/src/local/exit-with-parent.js"),
      binary,
      `--config.file=${this.configFile}`,
      `--web.listen-address=${o.address}`,
      `--storage.tsdb.path=${join(o.dir, "data")}`,
      `--storage.tsdb.retention.time=${PROMETHEUS_RETENTION.time}`,
      `--storage.tsdb.retention.size=${PROMETHEUS_RETENTION.size}`,
    ];
    this.process = new SupervisedProcess(
      { name: "prometheus", file: process.execPath, args, env: { ...process.env }, cwd: o.dir, logFile: o.logFile },
      { initialBackoffMs: o.restartBackoffMs, clock: o.clock, onCrash: (r) => this.crashed(r), onSpawnError: (name, e) => o.log(`${name}: cannot start: ${e.message}`) },
    );
  }

  get logFile(): string {
    return this.o.logFile;
  }

  get url(): string {
    return `http://${this.o.address}`;
  }

  /** Writes the config and an empty target list, then starts Prometheus. */
  start(): void {
    mkdirSync(this.o.dir, { recursive: true });
    writeProxyTargets(this.targetsFile, []);
    writeFileSync(this.configFile, prometheusConfigYaml({ scrapeIntervalSeconds: this.o.scrapeIntervalSeconds ?? 15, controlPlane: this.o.controlPlane, self: this.o.address, proxyTargetsFile: this.targetsFile }));
    this.startedAt = Date.now();
    this.process.start();
    void this.watchReadiness();
  }

  /** Whether it answered /-/ready since its last start (and has not crashed since). */
  get ready(): boolean {
    return this.state === "ready";
  }

  /** Resolves when it is ready, has crashed, or `timeoutMs` passed since start() (then says so once; it keeps being watched). */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = this.startedAt + timeoutMs;
    while (!this.stopped && this.state === "starting" && Date.now() < deadline) await sleep(50);
    if (!this.stopped && this.state === "starting") this.o.log(`prometheus not ready after ${(timeoutMs / 1000).toFixed(0)} s; see ${this.o.logFile}`);
  }

  private crashed(r: CrashReport): void {
    this.state = "failing";
    const { failure, text } = failureReport(this.reportedFailure, r, this.o.logFile, 0, "");
    this.reportedFailure = failure;
    if (text) this.o.log(text);
    this.o.onCrash?.(r);
  }

  /** Polls /-/ready while not ready: `ready  prometheus  URL` the first time, `… recovered` after a crash. */
  private async watchReadiness(): Promise<void> {
    let wasReady = false;
    while (!this.stopped) {
      if (this.state !== "ready" && this.process.running && (await httpStatus(`${this.url}/-/ready`)) === 200 && !this.stopped && this.process.running) {
        this.o.log(`ready  prometheus  ${this.url}${wasReady ? "  recovered" : ""}`);
        wasReady = true;
        this.state = "ready";
        this.reportedFailure = undefined;
      }
      await sleep(this.state === "ready" ? 500 : 100);
    }
  }

  /** The proxies Prometheus scrapes: every running workload (file_sd picks the change up live). */
  setWorkloads(workloads: readonly PlannedWorkload[]): void {
    writeProxyTargets(this.targetsFile, workloads);
  }

  stop(): Promise<void> {
    this.stopped = true;
    return this.process.stop(10_000);
  }

  killNow(): void {
    this.stopped = true;
    this.process.killNow();
  }
}
