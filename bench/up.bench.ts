// Benchmark (not a test): `tsmesh up` start-up time to all-ready for bookinfo (goal ≤ 3 s, issue #5).
// Each run starts the bundled bookinfo mesh — control plane in this process, 7 proxies and 6 apps as
// child processes — on 127.104.x.y (the test harness's relocation), waits until every proxy reports
// /healthz/ready and every app accepts connections, checks one page through the gateway, and stops.
// The floor, in the same run: the same number of bare Node processes (`node -e` that listens on a
// loopback port), started at once and waited for the same way — what 13 Node start-ups cost on
// this machine before any tsmesh code runs.
// Knobs: BENCH_RUNS (3). Bounded: each run ≤ 60 s; a watchdog exits after 300 s.
import { spawn, type ChildProcess } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { canConnect } from "../src/local/mesh.js";
import { TestMesh } from "../test/helpers/mesh.js";

const RUNS = Math.max(1, Math.min(10, Number(process.env.BENCH_RUNS ?? 3)));
const OCTET = 104;
const watchdog = setTimeout(() => {
  console.error("bench: watchdog: giving up after 300 s");
  process.exit(2);
}, 300_000);

/** Starts `n` bare Node processes that each listen on a loopback port; ms until all accept. */
async function floor(n: number): Promise<number> {
  const t0 = performance.now();
  const children: ChildProcess[] = [];
  const targets: Array<{ host: string; port: number }> = [];
  for (let i = 0; i < n; i++) {
    const host = `127.${OCTET}.200.${i + 1}`;
    targets.push({ host, port: 9080 });
    children.push(spawn(process.execPath, ["-e", `require("net").createServer().listen(9080, "${host}")`], { stdio: "ignore" }));
  }
  let pending = targets;
  while (pending.length > 0) {
    const ok = await Promise.all(pending.map((t) => canConnect(t.host, t.port)));
    pending = pending.filter((_, i) => !ok[i]);
    if (pending.length > 0) await new Promise((r) => setTimeout(r, 50));
  }
  const ms = performance.now() - t0;
  for (const c of children) c.kill("SIGKILL");
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(undefined) : c.once("exit", r)))));
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
  const up: number[] = [];
  const floors: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const mesh = await TestMesh.start({ example: "bookinfo", octet: OCTET });
    const ready = mesh.started.readyAfterMs;
    const page = await mesh.gateway("/productpage");
    const processes = mesh.mesh.list().reduce((n, w) => n + 1 + (w.app ? 1 : 0), 0);
    await mesh.stop();
    if (page.status !== 200) throw new Error(`productpage answered ${page.status}`);
    const f = await floor(processes);
    up.push(ready);
    floors.push(f);
    console.log(`run ${i + 1}: tsmesh up bookinfo all-ready ${(ready / 1000).toFixed(2)} s (${processes} processes); floor (${processes} bare node processes listening) ${(f / 1000).toFixed(2)} s`);
  }
  const u = median(up);
  const f = median(floors);
  console.log("");
  console.log(`| | median of ${RUNS} | goal |`);
  console.log("|---|---:|---:|");
  console.log(`| tsmesh up bookinfo, start to all-ready | ${(u / 1000).toFixed(2)} s | 3 s |`);
  console.log(`| floor: the same number of bare Node processes | ${(f / 1000).toFixed(2)} s | |`);
  console.log(`| ratio | ${(u / f).toFixed(1)}× | |`);
  clearTimeout(watchdog);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
