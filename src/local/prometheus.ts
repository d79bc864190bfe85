// Debian's Prometheus under `tsmesh up --prometheus`: found on PATH (refused with the package to
// install when it is not there), run on a loopback address with the generated scrape config
// (prometheus-config.ts), its TSDB in the mesh's state folder with bounded retention, its log in
// the mesh's log folder, supervised like the workloads (process group, restart with backoff) and
// wrapped so it stops if `up` is killed (exit-with-parent.ts).
import { accessSync, constants, mkdirSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { packageRoot } from "../core/paths.js";
import type { PlannedWorkload } from "./plan.js";
import { prometheusConfigYaml, writeProxyTargets } from "./prometheus-config.js";
import { SupervisedProcess, type CrashReport } from "./supervisor.js";

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
  restartBackoffMs?: number;
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
      { initialBackoffMs: o.restartBackoffMs ?? 500, onCrash: o.onCrash, onSpawnError: (name, e) => o.log(`${name}: cannot start: ${e.message}`) },
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
    this.process.start();
  }

  /** The proxies Prometheus scrapes: every running workload (file_sd picks the change up live). */
  setWorkloads(workloads: readonly PlannedWorkload[]): void {
    writeProxyTargets(this.targetsFile, workloads);
  }

  stop(): Promise<void> {
    return this.process.stop(10_000);
  }

  killNow(): void {
    this.process.killNow();
  }
}
