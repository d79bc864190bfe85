// Benchmark (not a test): the data plane. Configurations side by side in one run, on the same
// machine, against the same backend, driven by the same load generators:
//   direct  — the load straight to the backend (the floor every proxy adds to);
//   nginx   — nginx (Debian package) as reverse proxy, `worker_processes 1`, keepalive upstream pool,
//             access_log off: the baseline for "throughput per core";
//   tsmesh  — one `tsmesh proxy router` from an Envoy-style static bootstrap (listener + HCM + inline
//             route `/` → STATIC cluster), access log off;
//   c2      — the same proxy with --concurrency 2 (a primary and two workers): circuit breakers and
//             outlier detection hold for the proxy as a whole (docs/design/concurrency-limits.md), here
//             with Envoy's default thresholds (1024: leases in chunks, almost no messages);
//   c2-local — the same with TSMESH_PROXY_PER_WORKER_LIMITS=1 (each worker keeps its own limits, as
//             before they were shared): c2 beside it is what sharing the limits costs;
//   c2-tight — not run unless named in BENCH_CONFIGS: --concurrency 2 with max_connections and
//             max_requests 8 under the 16 connections, so the limits are always contended (every
//             admission goes through the primary; half the requests wait in the pending queue);
//   pair    — a tsmesh sidecar pair: client-side proxy → server-side proxy → backend (two bootstraps);
//   pair-mtls — the same pair with Istio's mutual TLS between the proxies (issue #13): SVIDs from a
//             mesh CA made in the bench's folder, given as files in place of SDS; the client side
//             offers ALPN istio-peer-exchange/istio and checks the server's SPIFFE ID, the server side
//             requires a client certificate. Goal: ≤ 25% more CPU per request than the plaintext pair;
//   pair-policy — the mTLS pair with issue #14's policy on the server side: the jwt_authn and rbac
//             filters the control plane generates for a RequestAuthentication (keys inline) and an
//             ALLOW AuthorizationPolicy on the client's SPIFFE identity and the token's principal
//             (bench/proxy/policy.ts); every request carries Istio's demo.jwt. Goal: ≤ 10% more CPU
//             per request than the mTLS pair;
//   pair-telemetry — the mTLS pair with issue #15's telemetry on both sides, as the control plane
//             generates it from mesh config (accessLogFile, a zipkin provider) and a mesh-wide Telemetry
//             (tracing at 1%) plus Istio's default prometheus metrics (bench/proxy/telemetry.ts): the
//             istio.metadata_exchange HTTP filters and TCP exchange, istio.stats, an access-log file in
//             Istio's text format per side, HCM tracing to a Zipkin sink in this process. Goal: ≤ 15%
//             more CPU per request than the mTLS pair;
//   mesh    — the same pair as `tsmesh up` runs it with bookinfo's config: the control plane (in this
//             process) serves examples/bookinfo (moved to 127.91.x.y) over ADS; productpage's sidecar
//             takes the load on 15001 as its app's HTTP_PROXY would (absolute-form requests for
//             details:9080), details' sidecar forwards to the backend on details' app address. The
//             proxies get exactly `tsmesh up`'s arguments (with the agent: the control plane runs the
//             mesh CA on 15012, so productpage → details is Istio's auto mTLS, SDS from the agents);
//             their access logs go to files, as there. A baseline from before issue #13 runs it
//             plaintext (enableAutoMtls: false), having no agent.
// Goals (issue #4): single-proxy throughput ≥ 50% of nginx's at equal cores; the sidecar pair adds
// ≤ 0.5 ms p90 at 1,000 rps (pair p90 − direct p90); ≤ 0.2 vCPU per 1,000 rps per proxy (Istio 1.24's
// published sidecar figure: 0.20 vCPU and 60 MB at 1,000 rps); RSS ≤ 60 MB with bookinfo's config
// (the mesh configuration's peak; the static-bootstrap proxies' RSS is reported too).
//
// Per configuration: (1) latency at a fixed 1,000 rps over 16 keep-alive connections, 1 KB response
// bodies → p50/p90/p99, and the proxy CPU seconds per 1,000 requests (= vCPU per 1,000 rps) over that
// run, with the proxies' RSS sampled during it; (2) warm-up with wrk (discarded); (3) saturation: wrk
// -t1 -c16 closed loop → requests/s, and the proxy processes' CPU time from /proc/PID/stat over the run
// → cores used and requests/s per proxy core (the equal-cores comparison: nginx runs one worker);
// (4) RSS of the proxy processes (VmHWM = peak over the whole run, VmRSS idle before load).
//
// The fixed-rate client is this file run as a child process (`--loadgen`, bench/proxy/loadgen.ts), not
// wrk: Debian's wrk has no rate mode (that is wrk2), and pacing wrk with Lua (`delay()`) is still
// closed loop — a late response postpones the next request and the wait goes unmeasured (coordinated
// omission). The child is open loop over a fixed pool of keep-alive sockets; a request's latency runs
// from its scheduled release to the last byte of the response, every sample kept (exact percentiles).
// The first 20 s (BENCH_RATE_WARMUP_S) are warm-up and not recorded: V8 is still tiering the proxy's
// per-request code up then, and what is measured is the proxy's steady state.
//
// The backend is this file as a child (`--backend`, bench/proxy/backend.ts): node:http answering every
// request with 200 and a fixed 1 KB body — the same process for all configurations.
// Addresses (BENCH_IP_BLOCK moves 127.0.90.x to another 127.0.X.x): 127.0.90.10 backend (ephemeral port), 127.0.90.1:8080 tsmesh, 127.0.90.2:8080 nginx,
// 127.0.90.3:8080 / 127.0.90.4:8080 the pair (client side / server side), 127.0.90.8 / .9 the mTLS pair (and
// the policy and telemetry pairs), 127.0.90.11 the telemetry pair's Zipkin sink, 127.0.90.5-7:8080 c2,
// c2-local, c2-tight. Admin and health ports are 0.
//
// Baseline, side by side in the same run: BENCH_BASELINE=DIR, DIR another built checkout of tsmesh
// (its dist/src/cli/bin.js; `bench/baseline.sh REF [DIR]` makes one: a git worktree of REF,
// node_modules linked to this checkout's, built with tsc, and prints the BENCH_BASELINE to use). Then
// tsmesh, pair and mesh each run a second time right after their current run, with DIR's proxies on
// the same addresses (mesh: this checkout's control plane, in-process, serving DIR's proxies), shown
// as "(baseline)" rows and in a current-vs-baseline table: requests/s per proxy core (share of
// nginx's), p50/p90/p99 at the fixed rate, added p90 and p99 vs direct, CPU s per 1,000 requests,
// RSS. The proxies get only flags every version has (--bootstrap, --ip, --name, --admin-port,
// --health-port, --access-log, --concurrency; the mesh: tsmesh up's arguments).
//
// Requirements: `wrk` and `nginx` on PATH (Debian: apt-get install wrk nginx); the bench installs
// nothing. Bounded: each load run ≤ 15 s after its unrecorded fixed-rate warm-up (≤ 300 s), a
// watchdog kills every child and exits after 480 s (660 s with a baseline) plus the warm-ups, times the rounds. All tsmesh proxies run with the node flags `tsmesh up` gives them (PROXY_NODE_FLAGS).
// Knobs: BENCH_CONFIGS=direct,nginx,tsmesh,c2,c2-local,pair,pair-mtls,pair-policy,pair-telemetry,mesh (subset/order; c2-tight on request),
// BENCH_TELEMETRY_OFF=mx,stats,log,tracing (pieces left out of pair-telemetry, to see what each costs), BENCH_SAT_S (10), BENCH_RATE_S (10), BENCH_WARMUP_S (3), BENCH_RATE (1000), BENCH_CONNECTIONS (16), BENCH_ROUNDS (1;
// up to 5 interleaved rounds, each configuration shown by its median round, CPU ratios by their median
// and judged met only when every round agrees), BENCH_RATE_WARMUP_S (20, up to 300),
// BENCH_BASELINE=DIR (above), BENCH_MESH_ACCESS_LOG=off (the mesh proxies without access logs),
// BENCH_PROXY_NODE_ARGS (node flags for the tsmesh proxies, e.g. --cpu-prof), BENCH_KEEP_LOGS=DIR (keep
// proxy/nginx logs and configs, and the proxies' --cpu-prof / --heap-prof output: they run in the
// bench's temp directory), BENCH_IP_BLOCK (90: the third octet of the addresses above),
// BENCH_CLIENT_HEADERS (a JSON object of headers the fixed-rate client adds, e.g. curl's User-Agent and Accept).
//
// Modules (bench/proxy/): settings (knobs, addresses, goals), backend and loadgen (the child roles),
// processes (children, waits), configs (starting each configuration), runs (the measurements of one
// configuration), figures, report, compare (current vs baseline); bench/common/ is shared with bench:xds.
import { execFileSync, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { waitLine } from "./common/lines.js";
import { runBackend } from "./proxy/backend.js";
import type { ProxyBuild } from "./proxy/configs.js";
import { type LoadgenOptions, runLoadgen } from "./proxy/loadgen.js";
import { checkFree, findOnPath, killAll, spawnChild, stopChild, waitServing } from "./proxy/processes.js";
import { printReport } from "./proxy/report.js";
import { type ConfigResult, runConfig } from "./proxy/runs.js";
import {
  ALL_CONFIGS,
  BACKEND_IP,
  BASELINE_CONFIGS,
  BASELINE_DIR,
  BENCH_ENTRY,
  binIn,
  BODY_BYTES,
  C2_IPS,
  type ConfigName,
  CONNECTIONS,
  DEFAULT_CONFIGS,
  LISTEN_PORT,
  MESH_OCTET,
  MTLS_CLIENT_IP,
  MTLS_SERVER_IP,
  NGINX_IP,
  PAIR_CLIENT_IP,
  PAIR_SERVER_IP,
  RATE,
  ROUNDS,
  RATE_S,
  RATE_WARMUP_S,
  SAT_S,
  TSMESH_BIN,
  TSMESH_IP,
  WARMUP_S,
  WATCHDOG_MS,
} from "./proxy/settings.js";

let tempDir: string | undefined;

/** A checkout's commit and subject, for the report (the directory when git cannot say). */
function describeCheckout(dir: string): string {
  try {
    const s = execFileSync("git", ["-C", dir, "log", "-1", "--format=%h %s"], { encoding: "utf8", timeout: 5000 }).trim();
    return `${s.length > 80 ? `${s.slice(0, 79)}…` : s} (${dir})`;
  } catch {
    return dir;
  }
}

async function main(): Promise<number> {
  const wrk = findOnPath("wrk");
  const nginx = findOnPath("nginx");
  if (!wrk || !nginx) {
    console.error(
      `proxy bench: needs ${[!wrk && "wrk", !nginx && "nginx"].filter(Boolean).join(" and ")} on PATH (Debian/Ubuntu: apt-get install -y wrk nginx). The bench installs nothing.`,
    );
    return 1;
  }
  if (!existsSync(TSMESH_BIN)) {
    console.error(`proxy bench: ${TSMESH_BIN} is missing (npm run build)`);
    return 1;
  }
  const current: ProxyBuild = { bin: TSMESH_BIN, baseline: false };
  let baseline: ProxyBuild | undefined;
  let baselineAbout: string | undefined;
  if (BASELINE_DIR) {
    const bin = binIn(resolve(BASELINE_DIR));
    if (!existsSync(bin)) {
      console.error(`proxy bench: BENCH_BASELINE=${BASELINE_DIR} has no ${bin} (bench/baseline.sh REF makes a built checkout)`);
      return 1;
    }
    baseline = { bin, baseline: true };
    baselineAbout = describeCheckout(resolve(BASELINE_DIR));
  }
  const configs = (process.env.BENCH_CONFIGS ?? DEFAULT_CONFIGS.join(","))
    .split(",")
    .map((s) => s.trim())
    .filter((s): s is ConfigName => (ALL_CONFIGS as readonly string[]).includes(s));
  const cpu = cpus();
  const machine = `${cpu[0]?.model ?? "cpu"}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GB RAM, node ${process.version}`;
  console.log(`machine: ${machine}; load average at start ${loadavg().map((x) => x.toFixed(2)).join(" ")} (other work on the machine skews the figures)`);
  // Both print their version to stderr (wrk -v also exits 1).
  const versionOf = (cmd: string) => {
    const r = spawnSync(cmd, ["-v"], { encoding: "utf8", timeout: 5000 });
    return `${r.stdout ?? ""}${r.stderr ?? ""}`.split("\n")[0].trim();
  };
  const wrkV = versionOf(wrk).replace(/ Copyright.*/, "") || "wrk";
  const nginxName = versionOf(nginx).replace(/^nginx version: /, "") || "nginx";
  console.log(`load: ${wrkV} -t1 -c${CONNECTIONS} (saturation); open-loop node client, ${CONNECTIONS} keep-alive connections at ${RATE} rps (latency); ${BODY_BYTES} B response bodies`);
  console.log(`baseline proxy: ${nginxName}, worker_processes 1`);
  if (baselineAbout) console.log(`baseline tsmesh: ${baselineAbout}; ${configs.filter((c) => BASELINE_CONFIGS.includes(c)).join(", ") || "none of the configurations"} run a second time with its proxies`);
  if (cpu.length < 4) {
    console.log(
      `note: ${cpu.length} cores for load generator + backend + proxy (+ proxy): at saturation they compete for cores, so absolute requests/s are bounded by the machine; requests/s per proxy core (from the proxy's own CPU time) is the comparable figure.`,
    );
  }

  const dir = mkdtempSync(join(tmpdir(), "tsmesh-proxy-bench-"));
  tempDir = dir;
  const rounds: ConfigResult[][] = [];
  let backend: ChildProcess | undefined;
  try {
    for (const [ip, port] of [
      [TSMESH_IP, LISTEN_PORT],
      [NGINX_IP, LISTEN_PORT],
      [PAIR_CLIENT_IP, LISTEN_PORT],
      [PAIR_SERVER_IP, LISTEN_PORT],
      [MTLS_CLIENT_IP, LISTEN_PORT],
      [MTLS_SERVER_IP, LISTEN_PORT],
      ...Object.values(C2_IPS).map((ip) => [ip, LISTEN_PORT] as const),
      [`127.${MESH_OCTET}.0.1`, 15010],
    ] as const) {
      await checkFree(ip, port);
    }
    const backendErr: string[] = [];
    backend = spawnChild(process.execPath, [BENCH_ENTRY, "--backend"], backendErr);
    const backendPort = Number((await waitLine(backend, /^port (\d+)$/, 10_000, "backend", backendErr))[1]);
    backend.stdout!.resume();
    await waitServing(`http://${BACKEND_IP}:${backendPort}/`, 5000, "backend");
    console.log(`backend: node:http on ${BACKEND_IP}:${backendPort}, 200 + ${BODY_BYTES} B body; warm-up ${WARMUP_S} s, saturation ${SAT_S} s, fixed rate ${RATE_S} s (+${RATE_WARMUP_S} s unrecorded) per configuration`);
    console.log("");
    // A baseline run follows its current one at once: the two see the same machine state.
    const runs = configs.flatMap((name) => (baseline && BASELINE_CONFIGS.includes(name) ? [[name, current] as const, [name, baseline] as const] : [[name, current] as const]));
    for (let round = 0; round < ROUNDS; round++) {
      if (ROUNDS > 1) console.log(`round ${round + 1} of ${ROUNDS}`);
      const these: ConfigResult[] = [];
      for (const [name, build] of runs) these.push(await runConfig(name, { dir, backendPid: backend.pid!, backendPort, wrk, build }));
      rounds.push(these);
    }
    if (process.env.BENCH_KEEP_LOGS) cpSync(dir, process.env.BENCH_KEEP_LOGS, { recursive: true });
  } finally {
    if (backend) await stopChild(backend);
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }

  return printReport(rounds, { machine, nginxName, baseline: baselineAbout }) ? 1 : 0;
}

if (process.argv[2] === "--backend") {
  runBackend(process.argv[3], process.argv[4] ? Number(process.argv[4]) : undefined);
} else if (process.argv[2] === "--loadgen") {
  runLoadgen(JSON.parse(process.argv[3]) as LoadgenOptions);
} else {
  const watchdog = setTimeout(() => {
    console.error(`proxy bench: watchdog (${WATCHDOG_MS / 1000} s) fired, giving up`);
    killAll();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    process.exit(1);
  }, WATCHDOG_MS);
  const onSignal = (sig: string) => {
    console.error(`proxy bench: ${sig}, stopping children`);
    killAll();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    process.exit(1);
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  main().then(
    (code) => {
      clearTimeout(watchdog);
      process.exit(code);
    },
    (e: unknown) => {
      console.error(`proxy bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      killAll();
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
      process.exit(1);
    },
  );
}
