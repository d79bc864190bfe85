// Benchmark (not a test): the control plane under a mesh of 1,000 services × 10 endpoints and 1,000
// simulated Envoy-form proxies on Delta ADS (one load process, no Sidecar scoping).
// Goals (issue): initial full push to all ACKed ≤ 5 s; one VirtualService change ACKed by all ≤ 2 s;
// one endpoint change ACKed by all ≤ 500 ms; control-plane RSS ≤ 1.5 GB; bytes pushed per proxy.
//
// The control plane runs as a child process (`tsmesh discovery`) on generated YAML in a temp dir;
// this process is the load: 1,000 Delta ADS streams over 20 gRPC channels, each behaving like Envoy
// (CDS + LDS wildcard, then EDS for outbound clusters and RDS for the listeners' routes, ACKing
// every response), with Envoy's HTTP/2 flow-control windows for its xDS cluster (256 MiB; gRPC's
// 64 KiB default would make the load, not the server, set the pace). Baseline, measured side by side in the same run: a "transport floor" — a
// trivial gRPC server (second child process) that replays to every stream the exact response bytes
// proxy 0 received from tsmesh in each phase, with zero generation cost, to the same client.
//
// Knobs (for development and analysis): BENCH_SERVICES, BENCH_PROXIES, BENCH_PHASE_TIMEOUT_MS,
// BENCH_CPU_PROF=DIR (profile the control plane), BENCH_CP_NODE_ARGS, BENCH_CP_LOG=FILE.
// `node dist/bench/xds.bench.js --write-config DIR` writes the mesh only (check: tsmesh validate DIR).
//
// Modules (bench/xds/): settings, mesh-config (the generated mesh and its edits), wire (Delta ADS
// encode/decode and the wire scanner), sim-proxy (one simulated Envoy), fleet (the load and its
// phases), processes, control-plane (the run against tsmesh), floor (the transport floor, this file
// re-run with --floor-server), report; bench/common/ is shared with bench:proxy.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { runTsmesh } from "./xds/control-plane.js";
import { Fleet, runPhases } from "./xds/fleet.js";
import { runFloorServer, startFloor, writeRecording } from "./xds/floor.js";
import { writeConfig } from "./xds/mesh-config.js";
import { killAll, stopAll, stopChild } from "./xds/processes.js";
import { printReport } from "./xds/report.js";
import { CHANNELS, ENDPOINTS_PER_SERVICE, PROXIES, ROUTED, SERVICES, WATCHDOG_MS } from "./xds/settings.js";

let tempDir: string | undefined;

async function main(): Promise<void> {
  const cpu = cpus();
  const machine = `${cpu[0]?.model ?? "cpu"}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GB RAM, node ${process.version}`;
  console.log(`machine: ${machine}`);
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-xds-bench-"));
  tempDir = dir;
  const configDir = join(dir, "config");
  const recordingPath = join(dir, "floor-recording.json");
  const fleets: Fleet[] = [];
  try {
    mkdirSync(configDir);
    const nResources = writeConfig(configDir);
    console.log(
      `mesh: ${SERVICES} ServiceEntries × ${ENDPOINTS_PER_SERVICE} WorkloadEntries, ${ROUTED} DestinationRules, ${ROUTED} VirtualServices (${nResources} resources); ${PROXIES} Delta ADS streams over ${CHANNELS} channels`,
    );
    const real = await runTsmesh(configDir, fleets);

    // The transport floor: the same client, the same bytes, no control plane work.
    writeRecording(recordingPath, real.phases.recorded);
    const floor = await startFloor(recordingPath);
    const ffleet = new Fleet("floor", `127.0.0.1:${floor.port}`);
    fleets.push(ffleet);
    const base = await runPhases(
      ffleet,
      { vs: () => floor.child.stdin!.write("push vs\n"), eds: () => floor.child.stdin!.write("push eds\n") },
      false,
      async () => {},
    );
    ffleet.close();
    await stopChild(floor.child);

    printReport(machine, real, base, fleets);
  } finally {
    for (const f of fleets) if (!f.closing) f.close();
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "--floor-server") {
  runFloorServer(process.argv[3]);
} else if (process.argv[2] === "--write-config") {
  // For checking the generated mesh by hand: `tsmesh validate DIR`.
  mkdirSync(process.argv[3], { recursive: true });
  console.log(`${writeConfig(process.argv[3])} resources written to ${process.argv[3]}`);
} else {
  const watchdog = setTimeout(() => {
    console.error(`xds bench: watchdog (${WATCHDOG_MS / 1000} s) fired, giving up`);
    killAll();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    process.exit(1);
  }, WATCHDOG_MS);
  main().then(
    () => {
      clearTimeout(watchdog);
      process.exit(0);
    },
    (e: unknown) => {
      console.error(`xds bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      killAll();
      process.exit(1);
    },
  );
}
