// Benchmark (not a test): the data plane. Four configurations, side by side in one run, on the same
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
//   mesh    — the same pair as `tsmesh up` runs it with bookinfo's config: the control plane (in this
//             process) serves examples/bookinfo (moved to 127.91.x.y) over ADS; productpage's sidecar
//             takes the load on 15001 as its app's HTTP_PROXY would (absolute-form requests for
//             details:9080), details' sidecar forwards to the backend on details' app address. The
//             proxies get exactly `tsmesh up`'s arguments; their access logs go to files, as there.
// Goals (issue #4): single-proxy throughput ≥ 50% of nginx's at equal cores; the sidecar pair adds
// ≤ 0.5 ms p90 at 1,000 rps (pair p90 − direct p90); ≤ 0.2 vCPU per 1,000 rps per proxy (Istio 1.24's
// published sidecar figure: 0.20 vCPU and 60 MB at 1,000 rps); RSS ≤ 60 MB with bookinfo's config
// (the mesh configuration's peak; the static-bootstrap proxies' RSS is reported too).
//
// Per configuration: (1) warm-up with wrk (JIT, connection pools; discarded); (2) saturation: wrk -t1
// -c16 closed loop → requests/s, and the proxy processes' CPU time from /proc/PID/stat over the run →
// cores used and requests/s per proxy core (the equal-cores comparison: tsmesh is one process today —
// `--concurrency` is only reported in the node metadata — and nginx runs one worker); (3) latency at a
// fixed 1,000 rps over 16 keep-alive connections, 1 KB response bodies → p50/p90/p99, and the proxy
// CPU seconds per 1,000 requests (= vCPU per 1,000 rps) over that run; (4) RSS of the proxy processes
// (VmHWM = peak over the whole run, VmRSS idle before load), from /proc/PID/status.
//
// The fixed-rate client is this file run as a child process (`--loadgen`), not wrk: Debian's wrk has
// no rate mode (that is wrk2), and pacing wrk with Lua (`delay()`) is still closed loop — a late
// response postpones the next request and the wait goes unmeasured (coordinated omission). The child
// is open loop: a schedule of one request every 1/rate s, each sent on an idle connection of a fixed
// pool of 16 HTTP/1.1 keep-alive sockets (raw net sockets and a minimal response parser — no
// http.Agent overhead in the figures), queued when all 16 are busy. A request's latency runs from the
// moment the client's timer released it (so time queued behind a slow server counts, as in wrk2, but
// the client's own 1 ms timer granularity does not) to the last byte of the response. Every sample is
// kept: percentiles are exact. The first second is warm-up and not recorded.
//
// The backend is this file as a child (`--backend`): node:http answering every request with 200 and a
// fixed 1 KB body (content-length, keep-alive never timed out) — the same process for all four.
// Addresses: 127.0.90.10 backend (ephemeral port), 127.0.90.1:8080 tsmesh, 127.0.90.2:8080 nginx,
// 127.0.90.3:8080 / 127.0.90.4:8080 the pair (client side / server side), 127.0.90.5-7:8080 c2,
// c2-local, c2-tight. Admin and health ports are 0.
//
// Requirements: `wrk` and `nginx` on PATH (Debian: apt-get install wrk nginx); the bench installs
// nothing. Bounded: each load run ≤ 15 s, a watchdog kills every child and exits after 420 s.
// All tsmesh proxies run with the node flags `tsmesh up` gives them (PROXY_NODE_FLAGS).
// Knobs: BENCH_CONFIGS=direct,nginx,tsmesh,c2,c2-local,pair,mesh (subset/order; c2-tight on request), BENCH_SAT_S (10), BENCH_RATE_S (10),
// BENCH_WARMUP_S (3), BENCH_RATE (1000), BENCH_MESH_ACCESS_LOG=off (the mesh proxies without access logs), BENCH_CONNECTIONS (16), BENCH_PROXY_NODE_ARGS (node flags
// for the tsmesh proxies, e.g. --cpu-prof), BENCH_KEEP_LOGS=DIR (keep proxy/nginx logs and configs, and
// the proxies' --cpu-prof / --heap-prof output: they run in the bench's temp directory).
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, request as httpRequest } from "node:http";
import { connect, createServer, type Socket } from "node:net";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { delimiter, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Discovery } from "../src/controlplane/discovery.js";
import { packageRoot } from "../src/core/paths.js";
import { PROXY_NODE_FLAGS, proxyCommandArgs } from "../src/local/mesh.js";
import { planMesh } from "../src/local/plan.js";

const clampS = (v: string | undefined, d: number) => Math.min(15, Math.max(1, Number(v ?? d) || d));
const SAT_S = clampS(process.env.BENCH_SAT_S, 10);
const RATE_S = clampS(process.env.BENCH_RATE_S, 10);
const WARMUP_S = clampS(process.env.BENCH_WARMUP_S, 3);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const BODY_BYTES = 1024;
const WATCHDOG_MS = 420_000;
const ALL_CONFIGS = ["direct", "nginx", "tsmesh", "c2", "c2-local", "c2-tight", "pair", "mesh"] as const;
type ConfigName = (typeof ALL_CONFIGS)[number];
const DEFAULT_CONFIGS: readonly ConfigName[] = ALL_CONFIGS.filter((c) => c !== "c2-tight");

const BACKEND_IP = "127.0.90.10";
const TSMESH_IP = "127.0.90.1";
const NGINX_IP = "127.0.90.2";
const PAIR_CLIENT_IP = "127.0.90.3";
const PAIR_SERVER_IP = "127.0.90.4";
/** --concurrency 2: shared limits, per-worker limits, shared and always contended. */
const C2_IPS: Record<"c2" | "c2-local" | "c2-tight", string> = { c2: "127.0.90.5", "c2-local": "127.0.90.6", "c2-tight": "127.0.90.7" };
const LISTEN_PORT = 8080;
/** The mesh configuration: examples/bookinfo's 127.0.X.Y moved to 127.MESH_OCTET.X.Y. */
const MESH_OCTET = 91;
const MESH_XDS = `127.${MESH_OCTET}.0.1:15010`;
/** What productpage's app asks its sidecar for (absolute-form, as an HTTP_PROXY client sends it). */
const MESH_TARGET = "http://details:9080/details/0";

const GOALS = { nginxShare: 0.5, pairAddedP90Ms: 0.5, vcpuPer1kRps: 0.2, rssBytes: 60 * 2 ** 20 };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const now = () => performance.now();
const MB = 2 ** 20;

// ---------------------------------------------------------------------------------------------
// child role: the backend

function runBackend(ip = BACKEND_IP, port = 0): void {
  const body = Buffer.alloc(BODY_BYTES, "x");
  const server = createHttpServer((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "text/plain", "content-length": BODY_BYTES });
    res.end(body);
  });
  server.keepAliveTimeout = 0; // never close an idle keep-alive connection
  server.requestTimeout = 0;
  server.listen(port, ip, () => {
    const a = server.address();
    process.stdout.write(`port ${typeof a === "object" && a ? a.port : 0}\n`);
  });
  process.on("SIGTERM", () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// child role: the open-loop fixed-rate client

interface LoadgenOptions {
  host: string;
  port: number;
  /** Absolute-form request target (explicit proxy); default `/`. */
  target?: string;
  rate: number;
  connections: number;
  warmupMs: number;
  durationMs: number;
}

interface LoadgenResult {
  scheduled: number;
  completed: number;
  errors: number;
  non200: number;
  reconnects: number;
  unfinished: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  achievedRps: number;
  clientCpuMs: number;
  firstError?: string;
}

function runLoadgen(o: LoadgenOptions): void {
  const request = Buffer.from(o.target ? `GET ${o.target} HTTP/1.1\r\nHost: ${new URL(o.target).host}\r\n\r\n` : `GET / HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\n\r\n`);
  const period = 1000 / o.rate;
  const samples = new Float64Array(Math.ceil((o.rate * o.durationMs) / 1000) + 16);
  let nSamples = 0;
  let scheduledInWindow = 0;
  let completedInWindow = 0;
  let errors = 0;
  let non200 = 0;
  let reconnects = 0;
  let firstError: string | undefined;
  const queue: number[] = []; // release times of requests waiting for an idle connection
  let queueHead = 0;
  const idle: Conn[] = [];
  let t0 = 0;
  let windowStart = 0;
  let windowEnd = 0;
  let next = 0;
  let stopped = false;
  let outstanding = 0;

  const noteError = (e: string) => {
    errors++;
    firstError ??= e;
  };

  class Conn {
    sock!: Socket;
    buf: Buffer | undefined;
    start = -1;
    constructor() {
      this.open();
    }
    open(): void {
      const s = connect({ host: o.host, port: o.port, noDelay: true });
      this.sock = s;
      this.buf = undefined;
      s.on("connect", () => {
        idle.push(this);
        pump();
      });
      s.on("data", (d: Buffer) => this.onData(d));
      s.on("error", (e) => noteError(`socket: ${e.message}`));
      s.on("close", () => {
        const i = idle.indexOf(this);
        if (i >= 0) idle.splice(i, 1);
        if (this.start >= 0) {
          noteError("connection closed with a request in flight");
          this.finish(false, 0);
        }
        if (!stopped) {
          reconnects++;
          setTimeout(() => this.open(), 10);
        }
      });
    }
    send(start: number): void {
      this.start = start;
      outstanding++;
      this.sock.write(request);
    }
    onData(d: Buffer): void {
      if (this.start < 0) {
        noteError("unsolicited bytes from the server");
        this.sock.destroy();
        return;
      }
      const b = this.buf ? Buffer.concat([this.buf, d]) : d;
      const parsed = parseResponse(b);
      if (parsed === undefined) {
        this.buf = b;
        return;
      }
      if (parsed === "error") {
        noteError(`unparsable response: ${JSON.stringify(b.subarray(0, 80).toString("latin1"))}`);
        this.buf = undefined;
        this.sock.destroy();
        return;
      }
      this.buf = undefined;
      if (parsed.end !== b.length) noteError("extra bytes after a response");
      this.finish(true, parsed.status);
      if (parsed.close) this.sock.end();
      else {
        idle.push(this);
        pump();
      }
    }
    finish(ok: boolean, status: number): void {
      const start = this.start;
      this.start = -1;
      outstanding--;
      if (start < windowStart || start >= windowEnd) return;
      if (!ok) return;
      completedInWindow++;
      if (status !== 200) non200++;
      if (nSamples < samples.length) samples[nSamples++] = now() - start;
    }
  }

  function pump(): void {
    while (queueHead < queue.length && idle.length > 0) idle.pop()!.send(queue[queueHead++]);
    if (queueHead > 4096 && queueHead === queue.length) {
      queue.length = 0;
      queueHead = 0;
    }
  }

  function tick(): void {
    if (stopped) return;
    const t = now();
    while (t0 + next * period <= t) {
      const due = t0 + next * period;
      if (due >= windowEnd) {
        stopped = true;
        break;
      }
      if (t >= windowStart && t < windowEnd) scheduledInWindow++;
      queue.push(t); // released now: the client's timer lateness is not the server's latency
      next++;
    }
    pump();
    if (stopped) {
      void finishRun();
      return;
    }
    setTimeout(tick, Math.max(0, t0 + next * period - now()));
  }

  async function finishRun(): Promise<void> {
    const deadline = now() + 5000;
    while ((outstanding > 0 || queueHead < queue.length) && now() < deadline) await sleep(5);
    const unfinished = outstanding + (queue.length - queueHead);
    const cpu = process.cpuUsage();
    const sorted = samples.subarray(0, nSamples).sort();
    const pct = (p: number) => (nSamples === 0 ? NaN : sorted[Math.min(nSamples - 1, Math.floor((p / 100) * nSamples))]);
    let sum = 0;
    for (let i = 0; i < nSamples; i++) sum += sorted[i];
    const result: LoadgenResult = {
      scheduled: scheduledInWindow,
      completed: completedInWindow,
      errors,
      non200,
      reconnects,
      unfinished,
      p50: pct(50),
      p90: pct(90),
      p99: pct(99),
      p999: pct(99.9),
      max: nSamples ? sorted[nSamples - 1] : NaN,
      mean: nSamples ? sum / nSamples : NaN,
      achievedRps: completedInWindow / (o.durationMs / 1000),
      clientCpuMs: (cpu.user + cpu.system) / 1000,
      firstError,
    };
    process.stdout.write(`result ${JSON.stringify(result)}\n`);
    process.exit(0);
  }

  const conns: Conn[] = [];
  for (let i = 0; i < o.connections; i++) conns.push(new Conn());
  // Start once every connection is up (or after 2 s, counting the rest as errors).
  const startAt = now();
  const waitConnected = () => {
    if (idle.length < o.connections && now() - startAt < 2000) {
      setTimeout(waitConnected, 5);
      return;
    }
    if (idle.length < o.connections) noteError(`only ${idle.length}/${o.connections} connections came up`);
    t0 = now();
    windowStart = t0 + o.warmupMs;
    windowEnd = windowStart + o.durationMs;
    setTimeout(() => process.stdout.write("measuring\n"), o.warmupMs);
    tick();
  };
  waitConnected();
}

/** One HTTP/1.1 response at the start of `b`: undefined while incomplete. */
function parseResponse(b: Buffer): { status: number; end: number; close: boolean } | "error" | undefined {
  const headEnd = b.indexOf("\r\n\r\n");
  if (headEnd < 0) return b.length > 65536 ? "error" : undefined;
  const head = b.toString("latin1", 0, headEnd);
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (!m) return "error";
  const status = Number(m[1]);
  const lower = head.toLowerCase();
  const close = /\r\nconnection:[ \t]*close/.test(lower) || head.startsWith("HTTP/1.0");
  const cl = /\r\ncontent-length:[ \t]*(\d+)/.exec(lower);
  let at = headEnd + 4;
  if (/\r\ntransfer-encoding:[ \t]*[^\r]*chunked/.test(lower)) {
    while (true) {
      const lineEnd = b.indexOf("\r\n", at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(b.toString("latin1", at, lineEnd), 16);
      if (!Number.isFinite(size)) return "error";
      at = lineEnd + 2;
      if (size === 0) {
        // trailers (none expected) then the final CRLF
        const end = b.indexOf("\r\n\r\n", at - 2);
        if (end < 0) return undefined;
        return { status, end: end + 4, close };
      }
      if (b.length < at + size + 2) return undefined;
      at += size + 2;
    }
  }
  const len = cl ? Number(cl[1]) : status === 204 || status === 304 ? 0 : -1;
  if (len < 0) return "error"; // read-until-close bodies are not used here
  if (b.length < at + len) return undefined;
  return { status, end: at + len, close };
}

// ---------------------------------------------------------------------------------------------
// processes

const children = new Set<ChildProcess>();
let tempDir: string | undefined;

/** Children run in their own process group (nginx has workers): signals go to the whole group. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

function spawnChild(cmd: string, args: string[], logs?: string[], cwd?: string, env?: Record<string, string>): ChildProcess {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], detached: true, cwd, env: env ? { ...process.env, ...env } : undefined });
  children.add(child);
  child.once("exit", () => children.delete(child));
  if (logs) {
    collectLines(child.stderr, logs);
  } else child.stderr?.resume();
  return child;
}

/** Children this bench is stopping on purpose (an exit of any other is a crash). */
const stopping = new WeakSet<ChildProcess>();

async function stopChild(child: ChildProcess): Promise<void> {
  stopping.add(child);
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return;
  }
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  killGroup(child, "SIGTERM");
  const kill = setTimeout(() => killGroup(child, "SIGKILL"), 3000);
  await Promise.race([exited, sleep(5000)]);
  clearTimeout(kill);
  killGroup(child, "SIGKILL"); // leftovers in the group (nginx workers)
  children.delete(child);
}

function killAll(): void {
  for (const c of children) stopping.add(c);
  for (const c of children) killGroup(c, "SIGKILL");
}

function collectLines(stream: NodeJS.ReadableStream | null, into: string[], max = 200): void {
  if (!stream) return;
  createInterface({ input: stream }).on("line", (l) => {
    if (into.length < max) into.push(l);
  });
}

/** Resolves with the first stdout line matching `re` (its match), rejects on exit or timeout. */
function waitLine(child: ChildProcess, re: RegExp, timeoutMs: number, what: string, err: string[] = []): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no ${re} within ${timeoutMs} ms; stderr: ${err.slice(-5).join(" | ")}`)), timeoutMs);
    const rl = createInterface({ input: child.stdout! });
    rl.on("line", (l) => {
      const m = re.exec(l);
      if (m) {
        clearTimeout(timer);
        rl.removeAllListeners("line");
        resolve(m);
      }
    });
    child.once("exit", (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code ?? sig}) before ${re}; stderr: ${err.slice(-5).join(" | ")}`));
    });
  });
}

/** GET url until it answers 200 with the backend's 1 KB body (`via`: an explicit proxy to send it to). */
async function waitServing(url: string, timeoutMs: number, what: string, via?: { host: string; port: number }): Promise<void> {
  const deadline = now() + timeoutMs;
  let last = "";
  while (now() < deadline) {
    try {
      const r = via ? await getVia(via, url) : await fetch(url, { signal: AbortSignal.timeout(1000) }).then(async (x) => ({ status: x.status, bytes: (await x.arrayBuffer()).byteLength }));
      if (r.status === 200 && r.bytes === BODY_BYTES) return;
      last = `status ${r.status}, ${r.bytes} bytes`;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(50);
  }
  throw new Error(`${what} not serving ${url} within ${timeoutMs} ms (${last})`);
}

/** One absolute-form GET through an HTTP proxy (fetch cannot send those). */
function getVia(proxy: { host: string; port: number }, url: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: proxy.host, port: proxy.port, path: url, headers: { host: new URL(url).host }, agent: false, timeout: 1000 }, (res) => {
      let bytes = 0;
      res.on("data", (c: Buffer) => (bytes += c.length));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

function findOnPath(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin", "/sbin"];
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Fails early when an address:port this bench listens on is taken (another run, another service). */
function checkFree(ip: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", (e) => reject(new Error(`${ip}:${port} is not available: ${e.message}`)));
    s.listen(port, ip, () => s.close(() => resolve()));
  });
}

// ---------------------------------------------------------------------------------------------
// /proc

let clockTicks = 100;
let wrkPath = "wrk";

/** CPU time (user + sys, all threads) of a process in ms; undefined once it is gone. */
function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks; // fields 14 and 15: utime, stime
  } catch {
    return undefined;
  }
}

function memKb(pid: number): { rss: number; hwm: number } | undefined {
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
function privateMem(pid: number): { uss: number; pss: number } | undefined {
  try {
    const r = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(r)?.[1] ?? 0) * 1024;
    return { uss: kb("Private_Clean") + kb("Private_Dirty"), pss: kb("Pss") };
  } catch {
    return undefined;
  }
}

function childPids(pid: number): number[] {
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

/** NaN once a process is gone (a crashed proxy has no measurable CPU for the run). */
const sumCpu = (pids: number[]) => pids.reduce((a, p) => a + (cpuMs(p) ?? NaN), 0);
/** CPU ms per process group (a proxy: one pid; nginx: master + worker). */
const groupCpu = (groups: number[][]) => groups.map(sumCpu);
const diff = (a: number[], b: number[]) => a.map((x, i) => x - b[i]);
const total = (a: number[]) => a.reduce((x, y) => x + y, 0);

// ---------------------------------------------------------------------------------------------
// load runs

interface WrkResult {
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

function runWrk(url: string, seconds: number, proxyPids: number[][], backendPid: number, script?: string): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const cpu0 = groupCpu(proxyPids);
    const b0 = cpuMs(backendPid) ?? 0;
    const t0 = now();
    const child = spawnChild(wrkPath, ["-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "--timeout", "5s", ...(script ? ["-s", script] : []), url]);
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

interface RateResult extends LoadgenResult {
  /** Highest VmRSS sampled (every 100 ms) during the measured window, per proxy (summed over its pids). */
  rssMax: number[];
  /** USS and PSS per proxy at the end of the measured window. */
  privateAtEnd: Array<{ uss: number; pss: number }>;
  proxyCpuMs: number;
  perProxyCpuMs: number[];
  windowMs: number;
}

async function runRate(host: string, port: number, proxyPids: number[][], target?: string): Promise<RateResult> {
  const o: LoadgenOptions = { host, port, target, rate: RATE, connections: CONNECTIONS, warmupMs: 2000, durationMs: RATE_S * 1000 };
  const err: string[] = [];
  const child = spawnChild(process.execPath, [fileURLToPath(import.meta.url), "--loadgen", JSON.stringify(o)], err);
  const timer = setTimeout(() => killGroup(child, "SIGKILL"), (RATE_S + 12) * 1000);
  try {
    await waitLine(child, /^measuring$/, 5000, "load generator", err);
    const cpu0 = groupCpu(proxyPids);
    const t0 = now();
    const rssMax = proxyPids.map(() => 0);
    const sample = () => proxyPids.forEach((pids, i) => (rssMax[i] = Math.max(rssMax[i], pids.reduce((a, pid) => a + (memKb(pid)?.rss ?? 0), 0))));
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

// ---------------------------------------------------------------------------------------------
// configurations

function nginxConf(dir: string, backendPort: number): string {
  const user = process.getuid?.() === 0 ? "user root;\n" : ""; // as the current user (ignored unless root)
  return `# generated by bench/proxy.bench.ts
${user}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy_temp;
  fastcgi_temp_path ${dir}/fastcgi_temp;
  uwsgi_temp_path ${dir}/uwsgi_temp;
  scgi_temp_path ${dir}/scgi_temp;
  keepalive_timeout 120s;
  keepalive_requests 1000000;
  upstream backend {
    server ${BACKEND_IP}:${backendPort};
    keepalive 32;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
  }
  server {
    listen ${NGINX_IP}:${LISTEN_PORT};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** Envoy-style bootstrap: one listener, HCM with an inline route `/` → STATIC cluster `backend` (with `thresholds`: its default-priority circuit breakers). */
function bootstrapYaml(listenIp: string, upstreamIp: string, upstreamPort: number, statPrefix: string, thresholds?: string): string {
  return `# generated by bench/proxy.bench.ts
static_resources:
  listeners:
  - name: listener_0
    address: {socket_address: {address: ${listenIp}, port_value: ${LISTEN_PORT}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${statPrefix}
          route_config:
            name: local_route
            virtual_hosts:
            - name: backend
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                route: {cluster: backend}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: backend
    type: STATIC
    connect_timeout: 1s${thresholds ? `\n    circuit_breakers: {thresholds: [${thresholds}]}` : ""}
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint:
            address: {socket_address: {address: ${upstreamIp}, port_value: ${upstreamPort}}}
`;
}

interface Proc {
  label: string;
  child: ChildProcess;
  /** PIDs whose CPU and memory count (nginx: master + worker). */
  pids: number[];
  stderr: string[];
  admin?: string;
  idleRss: number;
}

interface Running {
  url: { host: string; port: number };
  /** Absolute-form target to request through url (the mesh configuration's explicit proxy). */
  target?: string;
  procs: Proc[];
  /** Extra teardown (the mesh configuration's control plane and backend). */
  stop?: () => Promise<void>;
}

interface TsmeshOptions {
  concurrency?: number;
  env?: Record<string, string>;
  thresholds?: string;
}

async function startTsmesh(dir: string, label: string, role: "router" | "sidecar", ip: string, upstream: { ip: string; port: number }, statPrefix: string, o: TsmeshOptions = {}): Promise<Proc> {
  const file = join(dir, `${label}.yaml`);
  writeFileSync(file, bootstrapYaml(ip, upstream.ip, upstream.port, statPrefix, o.thresholds));
  const bin = fileURLToPath(new URL("../src/cli/bin.js", import.meta.url));
  const nodeArgs = (process.env.BENCH_PROXY_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const stderr: string[] = [];
  const child = spawnChild(
    process.execPath,
    [...PROXY_NODE_FLAGS, ...nodeArgs, bin, "proxy", role, "--bootstrap", file, "--ip", ip, "--name", label, "--admin-port", "0", "--health-port", "0", "--access-log", "off", "--concurrency", String(o.concurrency ?? 1)],
    stderr,
    dir, // where --cpu-prof / --heap-prof files land (kept with BENCH_KEEP_LOGS)
    o.env,
  );
  const ready = waitLine(child, /ready \(clusters and listeners warm\)/, 15_000, `tsmesh proxy ${label}`, stderr);
  const admin = await waitLine(child, /admin (http:\/\/[\d.]+:\d+)/, 15_000, `tsmesh proxy ${label}`, stderr);
  await ready;
  child.stdout!.resume();
  // --concurrency N: the primary and its workers count together.
  return { label, child, pids: [child.pid!, ...childPids(child.pid!)], stderr, admin: admin[1], idleRss: 0 };
}

/** Polls a proxy's health port until /healthz/ready answers 200. */
async function waitReady(ip: string, what: string, child: ChildProcess, err: string[]): Promise<void> {
  const deadline = now() + 15_000;
  while (now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}); stderr: ${err.slice(-5).join(" | ")}`);
    const ok = await fetch(`http://${ip}:15021/healthz/ready`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${what} not ready within 15 s; stderr: ${err.slice(-5).join(" | ")}`);
}

/** bookinfo's productpage → details sidecar pair, driven over ADS as `tsmesh up` runs it. */
async function startMesh(dir: string): Promise<Running> {
  const cfg = join(dir, "bookinfo");
  mkdirSync(cfg, { recursive: true });
  const example = join(packageRoot(), "examples", "bookinfo");
  for (const f of readdirSync(example)) {
    if (/\.ya?ml$/.test(f)) writeFileSync(join(cfg, f), readFileSync(join(example, f), "utf8").replace(/\b127\.0\.(\d{1,3})\.(\d{1,3})\b/g, `127.${MESH_OCTET}.$1.$2`));
  }
  const discovery = new Discovery({ configPaths: [cfg], xdsAddress: MESH_XDS, monitoringAddress: "", log: () => {} });
  await discovery.start();
  const procs: Proc[] = [];
  let backend: ChildProcess | undefined;
  const stop = async () => {
    if (backend) await stopChild(backend);
    await discovery.close();
  };
  try {
    const store = discovery.store;
    const plan = planMesh({ workloadEntries: store.list("WorkloadEntry"), serviceEntries: store.list("ServiceEntry"), gateways: store.list("Gateway") });
    const byName = (n: string) => {
      const w = plan.workloads.find((x) => x.name === n);
      if (!w) throw new Error(`examples/bookinfo has no workload ${n}`);
      return w;
    };
    const client = byName("productpage-v1");
    const server = byName("details-v1");
    // The backend plays details' app, on its private address and port 9080.
    const backendErr: string[] = [];
    backend = spawnChild(process.execPath, [fileURLToPath(import.meta.url), "--backend", server.appAddress!, "9080"], backendErr);
    await waitLine(backend, /^port (\d+)$/, 10_000, "mesh backend", backendErr);
    backend.stdout!.resume();
    const bin = fileURLToPath(new URL("../src/cli/bin.js", import.meta.url));
    const nodeArgs = (process.env.BENCH_PROXY_NODE_ARGS ?? "").split(" ").filter(Boolean);
    for (const [w, label] of [
      [server, "details sidecar"],
      [client, "productpage sidecar"],
    ] as const) {
      const args = proxyCommandArgs(w, { tsmeshBin: bin, xdsAddress: MESH_XDS, concurrency: 1 });
      // tsmesh up sends a proxy's stdout (its access log) to a file; so does --access-log FILE.
      args.push("--access-log", process.env.BENCH_MESH_ACCESS_LOG === "off" ? "off" : join(dir, `${w.name}.access.log`));
      const stderr: string[] = [];
      const child = spawnChild(process.execPath, [...args.slice(0, PROXY_NODE_FLAGS.length), ...nodeArgs, ...args.slice(PROXY_NODE_FLAGS.length)], stderr, dir);
      child.stdout!.resume();
      await waitReady(w.address, `tsmesh proxy (${label})`, child, stderr);
      procs.unshift({ label, child, pids: [child.pid!], stderr, admin: `http://${w.address}:15000`, idleRss: 0 });
    }
    const url = { host: client.address, port: 15001 };
    await waitServing(MESH_TARGET, 10_000, "bookinfo sidecar pair", url);
    return { url, target: MESH_TARGET, procs, stop };
  } catch (e) {
    for (const p of procs) await stopChild(p.child);
    await stop();
    throw e;
  }
}

async function startConfig(name: ConfigName, dir: string, backendPort: number): Promise<Running> {
  if (name === "mesh") return startMesh(dir);
  if (name === "direct") return { url: { host: BACKEND_IP, port: backendPort }, procs: [] };
  if (name === "nginx") {
    writeFileSync(join(dir, "nginx.conf"), nginxConf(dir, backendPort));
    const stderr: string[] = [];
    const child = spawnChild(findOnPath("nginx")!, ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "nginx-error.log"), "-g", "daemon off;"], stderr);
    await waitServing(`http://${NGINX_IP}:${LISTEN_PORT}/`, 10_000, "nginx").catch((e: Error) => {
      throw new Error(`${e.message}; nginx stderr: ${stderr.join(" | ")}`);
    });
    const workers = childPids(child.pid!);
    return { url: { host: NGINX_IP, port: LISTEN_PORT }, procs: [{ label: `nginx (master + ${workers.length} worker)`, child, pids: [child.pid!, ...workers], stderr, idleRss: 0 }] };
  }
  if (name === "tsmesh") {
    const p = await startTsmesh(dir, "tsmesh", "router", TSMESH_IP, { ip: BACKEND_IP, port: backendPort }, "ingress_http");
    await waitServing(`http://${TSMESH_IP}:${LISTEN_PORT}/`, 10_000, "tsmesh proxy");
    return { url: { host: TSMESH_IP, port: LISTEN_PORT }, procs: [p] };
  }
  if (name === "c2" || name === "c2-local" || name === "c2-tight") {
    const ip = C2_IPS[name];
    const p = await startTsmesh(dir, name, "router", ip, { ip: BACKEND_IP, port: backendPort }, "ingress_http", {
      concurrency: 2,
      env: name === "c2-local" ? { TSMESH_PROXY_PER_WORKER_LIMITS: "1" } : undefined,
      thresholds: name === "c2-tight" ? "{max_connections: 8, max_requests: 8}" : undefined,
    });
    await waitServing(`http://${ip}:${LISTEN_PORT}/`, 10_000, `tsmesh proxy (${name})`);
    p.label = `${name} (primary + ${p.pids.length - 1} workers)`;
    return { url: { host: ip, port: LISTEN_PORT }, procs: [p] };
  }
  const server = await startTsmesh(dir, "server-side", "sidecar", PAIR_SERVER_IP, { ip: BACKEND_IP, port: backendPort }, "inbound_http");
  const client = await startTsmesh(dir, "client-side", "sidecar", PAIR_CLIENT_IP, { ip: PAIR_SERVER_IP, port: LISTEN_PORT }, "outbound_http");
  await waitServing(`http://${PAIR_CLIENT_IP}:${LISTEN_PORT}/`, 10_000, "tsmesh pair");
  return { url: { host: PAIR_CLIENT_IP, port: LISTEN_PORT }, procs: [client, server] };
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

interface ConfigResult {
  name: ConfigName;
  sat?: WrkResult;
  rate?: RateResult;
  procMem: Array<{ label: string; idleRss: number; rss: number; hwm: number }>;
  notes: string[];
  failed?: string;
}

async function runConfig(name: ConfigName, dir: string, backendPid: number, backendPort: number): Promise<ConfigResult> {
  const res: ConfigResult = { name, procMem: [], notes: [] };
  let running: Running | undefined;
  const t0 = now();
  const crashWatch = (p: Proc) => {
    p.child.once("exit", (code, sig) => {
      if (!stopping.has(p.child)) res.notes.push(`${p.label} EXITED (${code ?? sig}) during the run; stderr tail: ${p.stderr.slice(-5).join(" | ")}`);
    });
  };
  try {
    running = await startConfig(name, dir, backendPort);
    for (const p of running.procs) {
      p.idleRss = p.pids.reduce((a, pid) => a + (memKb(pid)?.rss ?? 0), 0);
      crashWatch(p);
    }
    const startMs = now() - t0;
    if (running.procs.length) res.notes.push(`started and serving in ${startMs.toFixed(0)} ms`);
    const pids = running.procs.map((p) => p.pids);
    const url = `http://${running.url.host}:${running.url.port}/`;
    // wrk sends the absolute-form target with a script (the request line takes wrk.path as is).
    let script: string | undefined;
    if (running.target) {
      script = join(dir, `${name}.lua`);
      writeFileSync(script, `wrk.path = ${JSON.stringify(running.target)}\nwrk.headers["Host"] = ${JSON.stringify(new URL(running.target).host)}\n`);
    }
    // The fixed rate runs first (after its own 2 s unrecorded warm-up) so that the RSS sampled
    // during it is the RSS at that rate, not what a saturation run left behind.
    process.stdout.write(`  ${name}: ${RATE} rps for ${RATE_S} s, `);
    res.rate = await runRate(running.url.host, running.url.port, pids, running.target);
    process.stdout.write(`warm-up ${WARMUP_S} s, `);
    await runWrk(url, WARMUP_S, pids, backendPid, script);
    process.stdout.write(`saturation ${SAT_S} s`);
    res.sat = await runWrk(url, SAT_S, pids, backendPid, script);
    process.stdout.write(` — done\n`);
    for (const p of running.procs) {
      let rss = 0;
      let hwm = 0;
      for (const pid of p.pids) {
        const m = memKb(pid);
        rss += m?.rss ?? NaN; // gone (crashed): not measurable
        hwm += m?.hwm ?? NaN;
      }
      res.procMem.push({ label: p.label, idleRss: p.idleRss, rss, hwm });
      if (p.admin) res.notes.push(`${p.label} stats: ${await adminStats(p.admin)}`);
      const errs = p.stderr.filter((l) => l.trim() !== "");
      if (errs.length) res.notes.push(`${p.label} stderr (${errs.length} lines, first 5): ${errs.slice(0, 5).join(" | ")}`);
    }
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

// ---------------------------------------------------------------------------------------------
// main

const fin = (x: number | null | undefined): x is number => typeof x === "number" && Number.isFinite(x);
const fmtMs = (ms: number | null | undefined) => (!fin(ms) ? "—" : ms < 10 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(1)} ms`);
const fmtInt = (n: number | undefined) => (!fin(n) ? "—" : Math.round(n).toLocaleString("en-US"));
const fmtMb = (b: number | undefined) => (b === undefined || !b ? "—" : `${(b / MB).toFixed(1)} MB`);
const met = (ok: boolean) => (ok ? "met" : "NOT met");
/** A goal's status; a figure that could not be measured (crash, failure) is not met either. */
const judge = (v: number | undefined, ok: (v: number) => boolean) => (!fin(v) ? "NOT met (not measured)" : met(ok(v)));
const fmtPct = (x: number) => (fin(x) ? `${(x * 100).toFixed(0)}%` : "—");

async function main(): Promise<number> {
  const wrk = findOnPath("wrk");
  const nginx = findOnPath("nginx");
  if (!wrk || !nginx) {
    console.error(
      `proxy bench: needs ${[!wrk && "wrk", !nginx && "nginx"].filter(Boolean).join(" and ")} on PATH (Debian/Ubuntu: apt-get install -y wrk nginx). The bench installs nothing.`,
    );
    return 1;
  }
  wrkPath = wrk;
  const bin = fileURLToPath(new URL("../src/cli/bin.js", import.meta.url));
  if (!existsSync(bin)) {
    console.error(`proxy bench: ${bin} is missing (npm run build)`);
    return 1;
  }
  try {
    clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    clockTicks = 100;
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
  if (cpu.length < 4) {
    console.log(
      `note: ${cpu.length} cores for load generator + backend + proxy (+ proxy): at saturation they compete for cores, so absolute requests/s are bounded by the machine; requests/s per proxy core (from the proxy's own CPU time) is the comparable figure.`,
    );
  }

  const dir = mkdtempSync(join(tmpdir(), "tsmesh-proxy-bench-"));
  tempDir = dir;
  const results: ConfigResult[] = [];
  let backend: ChildProcess | undefined;
  try {
    for (const [ip, port] of [
      [TSMESH_IP, LISTEN_PORT],
      [NGINX_IP, LISTEN_PORT],
      [PAIR_CLIENT_IP, LISTEN_PORT],
      [PAIR_SERVER_IP, LISTEN_PORT],
      ...Object.values(C2_IPS).map((ip) => [ip, LISTEN_PORT] as const),
      [`127.${MESH_OCTET}.0.1`, 15010],
    ] as const) {
      await checkFree(ip, port);
    }
    const backendErr: string[] = [];
    backend = spawnChild(process.execPath, [fileURLToPath(import.meta.url), "--backend"], backendErr);
    const backendPort = Number((await waitLine(backend, /^port (\d+)$/, 10_000, "backend", backendErr))[1]);
    backend.stdout!.resume();
    await waitServing(`http://${BACKEND_IP}:${backendPort}/`, 5000, "backend");
    console.log(`backend: node:http on ${BACKEND_IP}:${backendPort}, 200 + ${BODY_BYTES} B body; warm-up ${WARMUP_S} s, saturation ${SAT_S} s, fixed rate ${RATE_S} s (+1 s unrecorded) per configuration`);
    console.log("");
    for (const name of configs) results.push(await runConfig(name, dir, backend.pid!, backendPort));
    if (process.env.BENCH_KEEP_LOGS) cpSync(dir, process.env.BENCH_KEEP_LOGS, { recursive: true });
  } finally {
    if (backend) await stopChild(backend);
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }

  // ---- report
  console.log(`load average at end ${loadavg().map((x) => x.toFixed(2)).join(" ")} (this bench alone keeps about 2 busy)`);
  const by = (n: ConfigName) => results.find((r) => r.name === n);
  const direct = by("direct");
  const cores = (r: ConfigResult) => (r.sat && r.name !== "direct" ? r.sat.proxyCpuMs / r.sat.wallMs : undefined);
  const rpsPerCore = (r: ConfigResult) => {
    const c = cores(r);
    return r.sat && c ? r.sat.rps / c : undefined;
  };
  /** CPU seconds per 1,000 requests (= vCPU per 1,000 rps), all proxy processes of the configuration. */
  const cpuPer1k = (r: ConfigResult) => (r.rate && r.name !== "direct" && r.rate.completed > 0 ? r.rate.proxyCpuMs / 1000 / (r.rate.completed / 1000) : undefined);
  /** The same per proxy (pair: client-side, server-side). */
  const perProxy1k = (ms: number[], requests: number) => ms.map((m) => m / 1000 / (requests / 1000));
  const fmtSplit = (total: number | undefined, parts: number[] | undefined, digits: number) =>
    !fin(total) ? "—" : parts && parts.length > 1 ? `${parts.map((x) => x.toFixed(digits)).join(" + ")} = ${total.toFixed(digits)}` : total.toFixed(digits);
  const rssCell = (r: ConfigResult) => r.procMem.map((m, i) => `${fmtMb(r.rate?.rssMax[i])} / ${fmtMb(m.hwm)}`).join(", ") || "—";
  const label: Record<ConfigName, string> = {
    direct: "direct to backend",
    nginx: "nginx (1 worker)",
    tsmesh: "tsmesh proxy",
    c2: "tsmesh --concurrency 2",
    "c2-local": "… per-worker limits",
    "c2-tight": "… limits contended",
    pair: "tsmesh sidecar pair",
    mesh: "bookinfo sidecar pair (ADS)",
  };

  const head = [
    "configuration",
    "saturation rps",
    "proxy cores",
    "rps / proxy core",
    "backend cores",
    `p50 @${RATE}`,
    `p90 @${RATE}`,
    `p99 @${RATE}`,
    "+p90 vs direct",
    `CPU s / 1k req @${RATE}`,
    "at saturation",
    `RSS idle → @${RATE} → peak (per proxy)`,
    "errors",
  ];
  const body: string[][] = results.map((r) => {
    const errs: string[] = [];
    if (r.failed) errs.push("FAILED");
    if (r.sat && (r.sat.non2xx || /connect [1-9]|read [1-9]|write [1-9]|timeout [1-9]/.test(r.sat.socketErrors))) errs.push(`wrk: ${r.sat.non2xx} non-2xx; ${r.sat.socketErrors}`);
    if (r.rate && (r.rate.errors || r.rate.non200 || r.rate.unfinished)) errs.push(`rate: ${r.rate.errors} errors, ${r.rate.non200} non-200, ${r.rate.unfinished} unfinished`);
    if (r.notes.some((x) => x.includes("EXITED"))) errs.push("proxy exited");
    return [
      label[r.name],
      fmtInt(r.sat?.rps),
      fmtSplit(cores(r), r.sat?.perProxyCpuMs.map((m) => m / r.sat!.wallMs), 2),
      fmtInt(rpsPerCore(r)),
      r.sat && fin(r.sat.backendCpuMs) ? (r.sat.backendCpuMs / r.sat.wallMs).toFixed(2) : "—",
      fmtMs(r.rate?.p50),
      fmtMs(r.rate?.p90),
      fmtMs(r.rate?.p99),
      r.rate && direct?.rate && r.name !== "direct" && fin(r.rate.p90) && fin(direct.rate.p90) ? fmtMs(r.rate.p90 - direct.rate.p90) : "—",
      r.rate && r.name !== "direct" ? fmtSplit(cpuPer1k(r), perProxy1k(r.rate.perProxyCpuMs, r.rate.completed), 3) : "—",
      r.sat && r.name !== "direct" ? fmtSplit(r.sat.proxyCpuMs / r.sat.requests, perProxy1k(r.sat.perProxyCpuMs, r.sat.requests), 3) : "—",
      r.procMem.length ? r.procMem.map((m, i) => `${fmtMb(m.idleRss)} → ${fmtMb(r.rate?.rssMax[i])} → ${fmtMb(m.hwm)}`).join(" / ") : "—",
      errs.length ? errs.join("; ") : "0",
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  console.log("");
  console.log(line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const b of body) console.log(line(b));
  console.log("");
  console.log(`saturation: wrk -t1 -c${CONNECTIONS} -d${SAT_S}s, closed loop; proxy cores = CPU time (user+sys, all threads, /proc/PID/stat) of the proxy`);
  console.log("  processes over the run ÷ wall time; rps / proxy core = saturation rps ÷ proxy cores; backend cores likewise for the backend.");
  console.log(`latency: open loop, ${RATE} rps scheduled over ${CONNECTIONS} keep-alive connections for ${RATE_S} s; from the client's release of the request to`);
  console.log("  the last response byte, queueing behind busy connections included; exact percentiles over every request.");
  console.log(`CPU s / 1k req: proxy CPU during the ${RATE}-rps run ÷ (requests/1000) — equal to vCPU per 1,000 rps; "at saturation": same during the wrk run.`);
  console.log("pair: CPU figures are client-side + server-side = both; RSS client-side / server-side. nginx: master + worker summed.");
  console.log("RSS: VmRSS once serving, before load → highest VmRSS sampled during the fixed-rate run → VmHWM (peak) after the saturation run.");
  for (const r of results) {
    const extra: string[] = [];
    if (r.rate) {
      extra.push(
        `${r.rate.completed}/${r.rate.scheduled} requests at ${r.rate.achievedRps.toFixed(0)} rps, mean ${fmtMs(r.rate.mean)}, p99.9 ${fmtMs(r.rate.p999)}, max ${fmtMs(r.rate.max)}, reconnects ${r.rate.reconnects}, client CPU ${(r.rate.clientCpuMs / 1000).toFixed(2)} s`,
      );
      if (r.rate.firstError) extra.push(`first client error: ${r.rate.firstError}`);
    }
    if (r.failed) extra.push(`FAILED: ${r.failed}`);
    console.log(`${label[r.name]}: ${[...extra, ...r.notes].join("; ")}`);
  }

  // ---- what proxy-wide limits cost (--concurrency 2, side by side)
  const c2 = by("c2");
  const c2Local = by("c2-local");
  const c2Tight = by("c2-tight");
  const limitRows = [c2Local, c2, c2Tight].filter((r): r is ConfigResult => !!r?.sat || !!r?.rate);
  const limitLines: string[] = [];
  if (c2 && c2Local && limitRows.length >= 2) {
    const lw = [28, 16, 18, 12, 12];
    const row = (cells: string[]) => cells.map((c, i) => c.padEnd(lw[i])).join("  ");
    limitLines.push(row(["--concurrency 2", "saturation rps", "rps / proxy core", `p50 @${RATE}`, `p99 @${RATE}`]));
    for (const r of limitRows) limitLines.push(row([r.name === "c2-local" ? "per-worker limits (before)" : r.name === "c2" ? "proxy-wide limits (after)" : "proxy-wide, always contended", fmtInt(r.sat?.rps), fmtInt(rpsPerCore(r)), fmtMs(r.rate?.p50), fmtMs(r.rate?.p99)]));
    if (c2.sat && c2Local.sat && c2.rate && c2Local.rate) {
      limitLines.push(
        `proxy-wide limits at Envoy's default thresholds: ${fmtPct(c2.sat.rps / c2Local.sat.rps)} of the per-worker requests/s, ${fmtPct(rpsPerCore(c2)! / rpsPerCore(c2Local)!)} per proxy core, p99 ${fmtMs(c2.rate.p99 - c2Local.rate.p99)} (${fmtMs(c2.rate.p99)} vs ${fmtMs(c2Local.rate.p99)}).`,
      );
    }
    console.log("");
    for (const l of limitLines) console.log(l);
  }

  // ---- goals
  const goals: string[][] = [];
  const ts = by("tsmesh");
  const ng = by("nginx");
  const pair = by("pair");
  const mesh = by("mesh");
  if (ts && ng && rpsPerCore(ts) !== undefined && rpsPerCore(ng) !== undefined) {
    const share = rpsPerCore(ts)! / rpsPerCore(ng)!;
    goals.push([
      "single-proxy throughput vs nginx at equal cores (rps per proxy core)",
      `${fmtPct(share)} (${fmtInt(rpsPerCore(ts))} vs ${fmtInt(rpsPerCore(ng))}; raw rps ${fmtPct(ts.sat!.rps / ng.sat!.rps)})`,
      "≥ 50%",
      judge(share, (v) => v >= GOALS.nginxShare),
    ]);
  }
  for (const r of [pair, mesh]) {
    if (!r?.rate || !direct?.rate) continue;
    const added = r.rate.p90 - direct.rate.p90;
    goals.push([`${label[r.name]} added p90 at ${RATE} rps`, `${fmtMs(added)} (${fmtMs(r.rate.p90)} − ${fmtMs(direct.rate.p90)})`, "≤ 0.50 ms", judge(added, (v) => v <= GOALS.pairAddedP90Ms)]);
  }
  const vcpu: Array<[string, number]> = [];
  if (ts && cpuPer1k(ts) !== undefined) vcpu.push(["tsmesh proxy", cpuPer1k(ts)!]);
  if (pair?.rate && cpuPer1k(pair) !== undefined) {
    const [c, sv] = perProxy1k(pair.rate.perProxyCpuMs, pair.rate.completed);
    vcpu.push(["pair client-side", c], ["pair server-side", sv]);
  }
  if (mesh?.rate && cpuPer1k(mesh) !== undefined) {
    const [c, sv] = perProxy1k(mesh.rate.perProxyCpuMs, mesh.rate.completed);
    vcpu.push(["productpage sidecar", c], ["details sidecar", sv]);
  }
  if (vcpu.length) {
    const worst = Math.max(...vcpu.map(([, v]) => v));
    goals.push([`vCPU per 1,000 rps per proxy (at ${RATE} rps)`, vcpu.map(([k, v]) => `${fin(v) ? v.toFixed(3) : "—"} (${k})`).join(", "), "≤ 0.20", judge(worst, (v) => v <= GOALS.vcpuPer1kRps)]);
  }
  // The goal is for bookinfo's config (the mesh configuration); static bootstraps load more code
  // (the YAML reader and protobufjs, about 20 MB) and are reported for comparison.
  // Istio's reference is RSS at 1,000 rps; the peak over the saturation run is shown beside it.
  const rssGoal = (rows: Array<ConfigResult | undefined>, what: string, goal: boolean) => {
    const list = rows.filter((r): r is ConfigResult => !!r && r.procMem.length > 0 && !!r.rate);
    if (!list.length) return;
    const worst = Math.max(...list.flatMap((r) => r.rate!.rssMax));
    const text = list
      .map((r) => r.procMem.map((m, i) => `${fmtMb(r.rate!.rssMax[i])} (${m.label}; private ${fmtMb(r.rate!.privateAtEnd[i]?.uss)}, PSS ${fmtMb(r.rate!.privateAtEnd[i]?.pss)}; peak at saturation ${fmtMb(m.hwm)})`).join(", "))
      .join(", ");
    goals.push([what, text, "≤ 60 MB", goal ? judge(worst, (v) => v <= GOALS.rssBytes) : "(for comparison)"]);
  };
  rssGoal([mesh], `proxy RSS with bookinfo's config at ${RATE} rps`, true);
  rssGoal([ts, pair], `proxy RSS from a static bootstrap at ${RATE} rps`, !mesh);
  if (goals.length) {
    const gw = [0, 1, 2, 3].map((i) => Math.max(...goals.map((g) => g[i].length), ["goal", "measured", "target", "status"][i].length));
    const gl = (cells: string[]) => cells.map((c, i) => c.padEnd(gw[i])).join("  ");
    console.log("");
    console.log(gl(["goal", "measured", "target", "status"]));
    console.log(gw.map((w) => "-".repeat(w)).join("  "));
    for (const g of goals) console.log(gl(g));
  }

  // ---- markdown
  console.log("");
  console.log("markdown:");
  console.log("");
  console.log(`| configuration | saturation req/s | proxy cores used | req/s per proxy core | p50 @ ${RATE} rps | p90 @ ${RATE} rps | p99 @ ${RATE} rps | added p90 vs direct | CPU s per 1,000 req (= vCPU per 1,000 rps) | RSS at ${RATE} rps / peak (per proxy) |`);
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const b of body) console.log(`| ${[b[0], b[1], b[2], b[3], b[5], b[6], b[7], b[8], b[9], rssCell(results.find((r) => label[r.name] === b[0])!)].join(" | ")} |`);
  if (limitLines.length) {
    console.log("");
    console.log(`| --concurrency 2 | saturation req/s | req/s per proxy core | p50 @ ${RATE} rps | p99 @ ${RATE} rps |`);
    console.log("|---|---:|---:|---:|---:|");
    for (const r of limitRows) console.log(`| ${label[r.name]} | ${fmtInt(r.sat?.rps)} | ${fmtInt(rpsPerCore(r))} | ${fmtMs(r.rate?.p50)} | ${fmtMs(r.rate?.p99)} |`);
  }
  if (goals.length) {
    console.log("");
    console.log("| goal | measured | target | status |");
    console.log("|---|---|---:|---|");
    for (const g of goals) console.log(`| ${g.join(" | ")} |`);
  }
  console.log("");
  console.log(
    `Machine: ${machine}. Load: wrk -t1 -c${CONNECTIONS} -d${SAT_S}s (saturation); open-loop client at ${RATE} rps over ${CONNECTIONS} keep-alive connections for ${RATE_S} s (latency); GET with ${BODY_BYTES} B response bodies from one node:http backend; ${nginxName} with 1 worker; tsmesh proxies with ${PROXY_NODE_FLAGS.join(" ")} (as tsmesh up runs them), from static bootstraps with the access log off, and (mesh) over ADS with bookinfo's config and access logs to files.`,
  );
  const anyFailure = results.some((r) => r.failed || r.notes.some((n) => n.includes("EXITED")));
  return anyFailure ? 1 : 0;
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
