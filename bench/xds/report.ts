// bench:xds's report: per phase tsmesh's time against its goal and against the transport floor,
// bytes per proxy, the control plane's RSS and CPU and the load's CPU; then responses per type, the
// server's own counters, the protocol anomalies each fleet saw, and the table again as markdown.
import { textTable } from "../common/table.js";
import type { CpPhase, TsmeshRun } from "./control-plane.js";
import type { Fleet, PhaseResult, Phases } from "./fleet.js";
import { ENDPOINTS_PER_SERVICE, fmtBytes, fmtMb, fmtMs, GOALS, PROXIES, SERVICES, SHORT_TYPES } from "./settings.js";

export function printReport(machine: string, run: TsmeshRun, floor: Phases, fleets: Fleet[]): void {
  const rows: Array<{ phase: string; r: PhaseResult; goal: number; f: PhaseResult; c: CpPhase }> = [
    { phase: "initial full push → all ACKed", r: run.phases.initial, goal: GOALS.initial, f: floor.initial, c: run.cp.initial },
    { phase: "VirtualService change → all ACKed", r: run.phases.vs, goal: GOALS.vs, f: floor.vs, c: run.cp.vs },
    { phase: "endpoint change → all ACKed", r: run.phases.eds, goal: GOALS.eds, f: floor.eds, c: run.cp.eds },
  ];
  const status = (r: PhaseResult) => (r.timedOut ? ` (TIMEOUT: ${r.converged}/${PROXIES} converged)` : "");
  const head = ["phase", "tsmesh", "goal", "tsmesh/goal", "floor", "tsmesh/floor", "bytes/proxy", "CP RSS now / phase peak", "CP CPU", "load CPU"];
  const body = rows.map(({ phase, r, goal, f, c }) => [
    phase,
    fmtMs(r.ms) + status(r),
    `≤ ${fmtMs(goal)}`,
    `${(r.ms / goal).toFixed(2)}× ${r.ms <= goal && !r.timedOut ? "met" : "NOT met"}`,
    fmtMs(f.ms) + status(f),
    `${(r.ms / f.ms).toFixed(1)}×`,
    fmtBytes(r.bytesPerProxy),
    `${fmtMb(c.rssNow)} / ${fmtMb(c.rssPeak)}`,
    fmtMs(c.cpuMs),
    fmtMs(r.loadCpuMs),
  ]);
  body.push([
    "control-plane RSS (VmHWM, whole run)",
    fmtMb(run.hwm),
    "≤ 1536 MB",
    `${(run.hwm / GOALS.rssBytes).toFixed(2)}× ${run.hwm <= GOALS.rssBytes ? "met" : "NOT met"}`,
    "",
    "",
    "",
    `startup ${fmtMb(run.startupRss)}`,
    "",
    "",
  ]);
  console.log("");
  for (const l of textTable(head, body)) console.log(l);
  console.log("");
  console.log("tsmesh: time from the trigger (streams opened / config file renamed into place) until the last of the");
  console.log(`  ${PROXIES} simulated proxies ACKed the response that completes its state; change phases include the`);
  console.log("  control plane's file watch (40 ms) and push debounce (100 ms quiet) windows.");
  console.log("floor: a trivial gRPC server (child process) replaying to every stream the exact response bytes proxy 0");
  console.log("  got from tsmesh in that phase (pre-encoded, no generation), to the same client doing the same");
  console.log("  decode/ACK/subscribe work: the cost of transport + load client on this machine, not a control plane.");
  console.log("CP CPU / load CPU: CPU time (user+sys, all threads) of the control-plane process / of this load process in the phase.");
  console.log("");
  console.log("per-proxy responses and bytes by type (tsmesh):");
  for (const { phase, r } of rows) {
    console.log(`  ${phase.padEnd(36)} ` + SHORT_TYPES.map((t) => `${t} ${r.byType[t].responses.toFixed(2)} × ${fmtBytes(r.byType[t].bytes)}`).join(", "));
  }
  console.log(
    `endpoint change: pilot_push_eds_incremental +${run.edsIncr}, pilot_push_full +${run.fullDelta} → ${run.edsIncr > 0 && run.fullDelta === 0 ? "incremental EDS path taken" : "NOT the incremental path"}`,
  );
  console.log(`server counters: pilot_xds_pushes ${run.pushesByType}; pilot_total_xds_rejects ${run.rejects}; pilot_xds_expired_nonce ${run.expired}`);
  console.log(
    `server-side pilot_proxy_convergence_time (from the store change, after file watch): VirtualService change ${run.convergenceVs}; endpoint change ${run.convergenceEds}`,
  );
  console.log(`load process peak RSS ${fmtMb(process.resourceUsage().maxRSS * 1024)}`);
  for (const f of fleets) {
    if (f.anomalies.counts.size === 0) console.log(`protocol checks (${f.label}): no anomalies`);
    for (const [kind, { n, example }] of f.anomalies.counts) console.log(`protocol anomaly (${f.label}): ${kind} ×${n}, e.g. ${example}`);
  }
  const cpLog = run.cpErr.filter((l) => l.trim() !== "");
  if (cpLog.length > 0) {
    console.log(`control plane stderr (${cpLog.length} lines, first 10):`);
    for (const l of cpLog.slice(0, 10)) console.log(`  ${l}`);
  }

  console.log("");
  console.log("markdown:");
  console.log("");
  console.log(`| phase | tsmesh | goal | tsmesh / goal | transport floor | tsmesh / floor | bytes / proxy | control-plane RSS (now / peak) |`);
  console.log(`|---|---:|---:|---:|---:|---:|---:|---:|`);
  for (const b of body) console.log(`| ${[b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]].join(" | ")} |`);
  console.log("");
  console.log(`Machine: ${machine}. ${SERVICES} services × ${ENDPOINTS_PER_SERVICE} endpoints, ${PROXIES} Delta ADS streams (Envoy form, no Sidecar scoping), one load process.`);
}
