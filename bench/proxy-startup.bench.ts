// Benchmark (not a test): `tsmesh proxy` start-up and idle footprint with bookinfo's real config —
// what `tsmesh up` pays per workload (issue #5: all-ready ≤ 3 s; issue #4: RSS ≤ 60 MB per proxy).
//
// Per variant and round: a fresh `tsmesh discovery --config <bookinfo copy>` on 127.0.92.254
// (15010 xDS, 15014 monitoring), the WorkloadEntries of examples/bookinfo re-addressed to
// 127.0.92.1… (names, namespaces, labels, localities unchanged, so each proxy gets bookinfo's own
// config: inbound listeners for its service ports, the gateway's 8080 listener…); then
//   solo — one proxy (productpage) alone: exec → /healthz/ready, CPU at ready; stopped again;
//   all  — one proxy per WorkloadEntry (7: the gateway as `router`, the rest `sidecar`), all spawned
//          at once as `tsmesh up` does, `--concurrency 1`: each one's exec → ready time and CPU at
//          ready (/proc/PID/stat), all-ready time, discovery's CPU over that window, and each proxy's
//          VmRSS --settle-ms (2 s) and --steady-ms (12 s) after all were ready (a proxy releases its
//          start-up memory ~1 s after ready; older builds relied on V8's memory reducer, which may
//          or may not run), plus private memory (USS) and PSS: most of a Node process's RSS is the
//          node binary's pages, shared by every proxy on the machine.
// In the same run: `node -e 0` (exec → exit, its start-up CPU, and the RSS of an idle node), printed
// as the floor and as ratios. Variants compare builds (--bin LABEL=PATH/bin.js, e.g. a copy of an
// older dist) and node flags (--flags LABEL="--max-semi-space-size=2 MALLOC_ARENA_MAX=2": NAME=VALUE
// tokens are environment variables); rounds interleave them.
// Everything runs on this machine's cores (2 here, shared): compare within one run only.
//
//   npm run bench:proxy-startup -- [--rounds 3] [--settle-ms 2000] [--steady-ms 12000] [--bin L=PATH]… [--flags L="…"]… [--keep]
//
// Bounded: each phase times out (--timeout-ms, default 20 s) and every child is killed at the end.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { packageRoot } from "../src/core/paths.js";

const NET = "127.0.92";
const DISCOVERY_IP = `${NET}.254`;
const XDS = `${DISCOVERY_IP}:15010`;
const MONITORING = `${DISCOVERY_IP}:15014`;
const CLK_TCK = 100;

interface Launch {
  flags: string[];
  env: Record<string, string>;
}

function launch(spec: string): Launch {
  const l: Launch = { flags: [], env: {} };
  for (const tok of spec.split(/\s+/).filter(Boolean)) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(tok);
    if (m) l.env[m[1]] = m[2];
    else l.flags.push(tok);
  }
  return l;
}

interface Args {
  rounds: number;
  settleMs: number;
  steadyMs: number;
  timeoutMs: number;
  bins: Array<[string, string]>;
  /** Per label: node flags, and NAME=VALUE tokens as environment variables (e.g. MALLOC_ARENA_MAX=2). */
  flags: Array<[string, Launch]>;
  example: string;
  keep: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { rounds: 1, settleMs: 2000, steadyMs: 12_000, timeoutMs: 20_000, bins: [], flags: [], example: join(packageRoot(), "examples/bookinfo"), keep: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === "--keep") {
      a.keep = true;
      continue;
    }
    const v = argv[++i] ?? "";
    const labelled = (): [string, string] => {
      const eq = v.indexOf("=");
      return eq < 0 ? [v, ""] : [v.slice(0, eq), v.slice(eq + 1)];
    };
    if (k === "--rounds") a.rounds = Math.max(1, Number(v));
    else if (k === "--settle-ms") a.settleMs = Number(v);
    else if (k === "--steady-ms") a.steadyMs = Number(v);
    else if (k === "--timeout-ms") a.timeoutMs = Number(v);
    else if (k === "--example") a.example = v;
    else if (k === "--bin") a.bins.push(labelled());
    else if (k === "--flags") {
      const [l, f] = labelled();
      a.flags.push([l, launch(f)]);
    } else throw new Error(`unknown argument ${k}`);
  }
  if (a.bins.length === 0) a.bins.push(["current", join(packageRoot(), "dist/src/cli/bin.js")]);
  if (a.flags.length === 0) a.flags.push(["-", launch("")]);
  return a;
}

// ---------- the mesh config ----------

interface Workload {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  locality?: string;
  ip: string;
  role: "sidecar" | "router";
}

type Doc = { kind?: string; metadata?: { name?: string; namespace?: string }; spec?: Record<string, unknown> };

/** Copies the example to a temp dir with every WorkloadEntry moved to 127.0.92.N; returns the workloads. */
function prepareConfig(example: string, dir: string): Workload[] {
  const docsByFile = new Map<string, ReturnType<typeof parseAllDocuments>>();
  const gatewaySelectors: Array<Record<string, string>> = [];
  for (const f of readdirSync(example).filter((f) => /\.ya?ml$/.test(f))) {
    const docs = parseAllDocuments(readFileSync(join(example, f), "utf8"));
    if (!Array.isArray(docs)) throw new Error(`${f}: not a YAML stream`);
    docsByFile.set(f, docs);
    for (const d of docs) {
      const o = d.toJS() as Doc | null;
      if (o?.kind === "Gateway" && o.spec?.selector) gatewaySelectors.push(o.spec.selector as Record<string, string>);
    }
  }
  const workloads: Workload[] = [];
  for (const [f, docs] of docsByFile) {
    for (const d of docs) {
      const o = d.toJS() as Doc | null;
      if (o?.kind !== "WorkloadEntry") continue;
      const ip = `${NET}.${workloads.length + 1}`;
      d.setIn(["spec", "address"], ip);
      const labels = (o.spec?.labels ?? {}) as Record<string, string>;
      const router = gatewaySelectors.some((sel) => Object.entries(sel).every(([k, v]) => labels[k] === v));
      workloads.push({
        name: o.metadata?.name ?? "workload",
        namespace: o.metadata?.namespace ?? "default",
        labels,
        locality: o.spec?.locality as string | undefined,
        ip,
        role: router ? "router" : "sidecar",
      });
    }
    writeFileSync(join(dir, f), docs.map((d) => d.toString()).join(""));
  }
  return workloads;
}

// ---------- processes ----------

const children = new Set<ChildProcess>();

function start(file: string, args: string[], out: string, env: Record<string, string> = {}): ChildProcess {
  const c = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  // The tail of its output, each chunk stamped with ms since spawn (kept with --keep).
  const t0 = performance.now();
  const chunks: Buffer[] = [];
  const keep = (b: Buffer) => {
    chunks.push(Buffer.from(`[+${(performance.now() - t0).toFixed(0)} ms] `), b);
    if (chunks.length > 400) chunks.splice(0, 2);
  };
  c.stdout?.on("data", keep);
  c.stderr?.on("data", keep);
  c.on("exit", () => {
    children.delete(c);
    try {
      writeFileSync(out, Buffer.concat(chunks));
    } catch {
      /* temp dir gone */
    }
  });
  children.add(c);
  return c;
}

async function stop(c: ChildProcess, graceMs = 3000): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((r) => c.once("exit", () => r()));
  c.kill("SIGTERM");
  const t = setTimeout(() => c.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(t);
}

function killAll(): void {
  for (const c of children) c.kill("SIGKILL");
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => process.exit(130));

/** utime+stime of a process in ms (from /proc/PID/stat), or NaN once it is gone. */
function cpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}

function rssMb(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Private (USS: Private_Clean + Private_Dirty) and proportional (PSS) memory in MB, from /proc/PID/smaps_rollup. */
function privateMb(pid: number | undefined): { uss: number; pss: number } {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(t)?.[1] ?? NaN);
    return { uss: (kb("Private_Clean") + kb("Private_Dirty")) / 1024, pss: kb("Pss") / 1024 };
  } catch {
    return { uss: NaN, pss: NaN };
  }
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", () => resolve(0));
    req.on("timeout", () => req.destroy());
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls url every `everyMs` until 200; resolves with the ms since `t0`, rejects after timeoutMs. */
async function waitReady(url: string, t0: number, timeoutMs: number, child?: ChildProcess, everyMs = 10): Promise<number> {
  while (performance.now() - t0 < timeoutMs) {
    if (child && child.exitCode !== null) throw new Error(`${url}: process exited (${child.exitCode})`);
    if ((await httpStatus(url)) === 200) return performance.now() - t0;
    await sleep(everyMs);
  }
  throw new Error(`${url}: not ready after ${timeoutMs} ms`);
}

// ---------- measurements ----------

interface NodeFloor {
  startMs: number;
  cpuMs: number;
  rssMb: number;
  ussMb: number;
}

function nodeFloor({ flags, env }: Launch): NodeFloor {
  const starts: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, [...flags, "-e", "0"], { env: { ...process.env, ...env } });
    starts.push(performance.now() - t0);
  }
  const probe = spawnSync(process.execPath, [
    ...flags,
    "-e",
    "const u=process.cpuUsage();setTimeout(()=>{const fs=require('fs');const m=/VmRSS:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status','utf8'));const r=fs.readFileSync('/proc/self/smaps_rollup','utf8');const p=(k)=>Number(new RegExp('^'+k+':\\\\s+(\\\\d+)','m').exec(r)[1]);console.log((u.user+u.system)/1000, m[1]/1024, (p('Private_Clean')+p('Private_Dirty'))/1024)},500)",
  ], { env: { ...process.env, ...env } });
  const [cpu, rss, uss] = String(probe.stdout).trim().split(" ").map(Number);
  return { startMs: median(starts), cpuMs: cpu, rssMb: rss, ussMb: uss };
}

interface ProxyResult {
  name: string;
  role: string;
  readyMs: number;
  cpuAtReadyMs: number;
  /** VmRSS settleMs after all were ready. */
  rssMb: number;
  /** VmRSS steadyMs after all were ready (V8's memory reducer has shrunk the heap by then). */
  steadyRssMb: number;
  /** Private memory (USS) and PSS, settleMs after all were ready. */
  ussMb: number;
  pssMb: number;
}

interface RoundResult {
  floor: NodeFloor;
  solo: { readyMs: number; cpuAtReadyMs: number; rssMb: number };
  allReadyMs: number;
  discoveryCpuMs: number;
  proxies: ProxyResult[];
}

function proxyArgs(bin: string, flags: string[], w: Workload): string[] {
  const args = [...flags, bin, "proxy", w.role, "--ip", w.ip, "--name", w.name, "--namespace", w.namespace, "--discovery-address", XDS, "--concurrency", "1"];
  const labels = Object.entries(w.labels).map(([k, v]) => `${k}=${v}`);
  if (labels.length) args.push("--labels", labels.join(","));
  if (w.locality) args.push("--locality", w.locality);
  return args;
}

async function round(a: Args, bin: string, how: Launch, workloads: Workload[], cfgDir: string, logDir: string): Promise<RoundResult> {
  const floor = nodeFloor(how);
  const flags = how.flags;
  const currentBin = join(packageRoot(), "dist/src/cli/bin.js");
  const discovery = start(process.execPath, [currentBin, "discovery", "--config", cfgDir, "--xds-address", XDS, "--monitoring-address", MONITORING], join(logDir, "discovery.log"));
  try {
    await waitReady(`http://${MONITORING}/ready`, performance.now(), a.timeoutMs, discovery, 50);
    // solo: one proxy on an otherwise idle machine
    const soloW = workloads.find((w) => w.name.startsWith("productpage")) ?? workloads[0];
    const t0 = performance.now();
    const solo = start(process.execPath, proxyArgs(bin, flags, soloW), join(logDir, `solo.${soloW.name}.log`), how.env);
    const soloReady = await waitReady(`http://${soloW.ip}:15021/healthz/ready`, t0, a.timeoutMs, solo);
    const soloCpu = cpuMs(solo.pid);
    await sleep(a.settleMs);
    const soloRss = rssMb(solo.pid);
    await stop(solo);
    await sleep(300);
    // all: one proxy per workload, spawned together
    const dCpu0 = cpuMs(discovery.pid);
    const t1 = performance.now();
    const procs = workloads.map((w) => ({ w, c: start(process.execPath, proxyArgs(bin, flags, w), join(logDir, `${w.name}.log`), how.env) }));
    const results: ProxyResult[] = await Promise.all(
      procs.map(async ({ w, c }) => {
        const readyMs = await waitReady(`http://${w.ip}:15021/healthz/ready`, t1, a.timeoutMs, c);
        return { name: w.name, role: w.role, readyMs, cpuAtReadyMs: cpuMs(c.pid), rssMb: NaN, steadyRssMb: NaN, ussMb: NaN, pssMb: NaN };
      }),
    );
    const allReadyMs = performance.now() - t1;
    const discoveryCpuMs = cpuMs(discovery.pid) - dCpu0;
    await sleep(a.settleMs);
    procs.forEach(({ c }, i) => {
      results[i].rssMb = rssMb(c.pid);
      const m = privateMb(c.pid);
      results[i].ussMb = m.uss;
      results[i].pssMb = m.pss;
    });
    if (a.steadyMs > a.settleMs) {
      await sleep(a.steadyMs - a.settleMs);
      procs.forEach(({ c }, i) => (results[i].steadyRssMb = rssMb(c.pid)));
    }
    await Promise.all(procs.map(({ c }) => stop(c)));
    return { floor, solo: { readyMs: soloReady, cpuAtReadyMs: soloCpu, rssMb: soloRss }, allReadyMs, discoveryCpuMs, proxies: results };
  } finally {
    await Promise.all([...children].filter((c) => c !== discovery).map((c) => stop(c, 1000)));
    await stop(discovery);
  }
}

function median(xs: number[]): number {
  const s = [...xs].filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const f0 = (x: number) => x.toFixed(0);
const f1 = (x: number) => x.toFixed(1);

function report(a: Args, label: string, rs: RoundResult[]): void {
  const floor = { startMs: median(rs.map((r) => r.floor.startMs)), cpuMs: median(rs.map((r) => r.floor.cpuMs)), rssMb: median(rs.map((r) => r.floor.rssMb)), ussMb: median(rs.map((r) => r.floor.ussMb)) };
  const uss = median(rs.map((r) => mean(r.proxies.map((p) => p.ussMb))));
  const pss = median(rs.map((r) => mean(r.proxies.map((p) => p.pssMb))));
  const allReady = median(rs.map((r) => r.allReadyMs));
  const soloReady = median(rs.map((r) => r.solo.readyMs));
  const soloCpu = median(rs.map((r) => r.solo.cpuAtReadyMs));
  const soloRss = median(rs.map((r) => r.solo.rssMb));
  const cpuAll = median(rs.map((r) => mean(r.proxies.map((p) => p.cpuAtReadyMs))));
  const rssAll = median(rs.map((r) => mean(r.proxies.map((p) => p.rssMb))));
  const rssMax = median(rs.map((r) => Math.max(...r.proxies.map((p) => p.rssMb))));
  const steady = median(rs.map((r) => mean(r.proxies.map((p) => p.steadyRssMb))));
  const steadyMax = median(rs.map((r) => Math.max(...r.proxies.map((p) => p.steadyRssMb))));
  const dCpu = median(rs.map((r) => r.discoveryCpuMs));
  const n = rs[0].proxies.length;
  console.log(`\n== ${label} (${rs.length} round${rs.length > 1 ? "s" : ""}, medians)`);
  console.log(`node -e 0:           start ${f0(floor.startMs)} ms, CPU ${f0(floor.cpuMs)} ms, idle RSS ${f1(floor.rssMb)} MB (private ${f1(floor.ussMb)} MB)`);
  console.log(`solo proxy:          ready ${f0(soloReady)} ms (${f1(soloReady / floor.startMs)}x node -e 0), CPU at ready ${f0(soloCpu)} ms, idle RSS ${f1(soloRss)} MB (${f1(soloRss / floor.rssMb)}x node)`);
  console.log(`${n} proxies at once:   all ready ${f0(allReady)} ms (${f1(allReady / floor.startMs)}x node -e 0); per proxy CPU at ready ${f0(cpuAll)} ms avg; discovery CPU meanwhile ${f0(dCpu)} ms`);
  const steadyText = Number.isNaN(steady) ? "" : `; after ${a.steadyMs / 1000} s: ${f1(steady)} MB avg, ${f1(steadyMax)} MB max (${f1(steady / floor.rssMb)}x)`;
  console.log(`  idle RSS ${a.settleMs / 1000} s after ready: ${f1(rssAll)} MB avg, ${f1(rssMax)} MB max (${f1(rssAll / floor.rssMb)}x node -e 0)${steadyText}`);
  console.log(`  of which private (USS) ${f1(uss)} MB avg (node -e 0: ${f1(floor.ussMb)} MB), PSS ${f1(pss)} MB avg — the rest is node's binary, shared by every proxy`);
  const last = rs[rs.length - 1];
  console.log(`  last round:  ${"workload".padEnd(22)} ${"role".padEnd(8)} ${"ready ms".padStart(9)} ${"CPU ms".padStart(7)} ${"RSS MB".padStart(7)} ${"steady".padStart(7)}`);
  for (const p of last.proxies) console.log(`               ${p.name.padEnd(22)} ${p.role.padEnd(8)} ${f0(p.readyMs).padStart(9)} ${f0(p.cpuAtReadyMs).padStart(7)} ${f1(p.rssMb).padStart(7)} ${f1(p.steadyRssMb).padStart(7)}`);
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const tmp = mkdtempSync(join(tmpdir(), "tsmesh-startup-"));
  const cfgDir = join(tmp, "config");
  const logDir = join(tmp, "logs");
  cpSync(a.example, cfgDir, { recursive: true });
  mkdirSync(logDir);
  const workloads = prepareConfig(a.example, cfgDir);
  console.log(`tsmesh proxy start-up: ${workloads.length} workloads from ${a.example} on ${NET}.0/24 (discovery ${XDS}); node ${process.version}, ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  for (const w of workloads) console.log(`  ${w.ip.padEnd(14)} ${w.role.padEnd(8)} ${w.namespace}/${w.name} ${Object.entries(w.labels).map(([k, v]) => `${k}=${v}`).join(",")}`);
  const variants = a.bins.flatMap(([bl, bin]) => a.flags.map(([fl, how]) => ({ label: `${bl}${fl === "-" ? "" : ` + ${fl}`}`, bin, how })));
  const results = new Map<string, RoundResult[]>(variants.map((v) => [v.label, []]));
  const deadline = setTimeout(() => {
    console.error(`proxy-startup: giving up after ${a.timeoutMs * 4 * a.rounds * variants.length} ms`);
    process.exit(1);
  }, a.timeoutMs * 4 * a.rounds * variants.length);
  deadline.unref();
  try {
    for (let r = 0; r < a.rounds; r++) {
      for (const v of variants) {
        const res = await round(a, v.bin, v.how, workloads, cfgDir, logDir);
        results.get(v.label)!.push(res);
        console.log(`round ${r + 1} ${v.label}: all ready ${f0(res.allReadyMs)} ms, solo ${f0(res.solo.readyMs)} ms, RSS avg ${f1(mean(res.proxies.map((p) => p.rssMb)))} MB${a.steadyMs > a.settleMs ? `, steady ${f1(mean(res.proxies.map((p) => p.steadyRssMb)))} MB` : ""}`);
      }
    }
    for (const v of variants) report(a, v.label, results.get(v.label)!);
    if (a.keep) console.log(`\nconfig and the last round's logs: ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  } catch (e) {
    console.error(`proxy-startup: failed; logs in ${logDir}`);
    throw e;
  } finally {
    killAll();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? e.stack : String(e));
    process.exit(1);
  },
);
