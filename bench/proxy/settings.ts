// bench:proxy's settings: the knobs (BENCH_* environment variables), the configurations it can run,
// the addresses each listens on, the goals it judges against, and where the programs it runs are
// (the entry file its child roles re-run, tsmesh's CLI here and in a baseline checkout).
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const clampS = (v: string | undefined, d: number, max = 15) => Math.min(max, Math.max(1, Number(v ?? d) || d));
export const SAT_S = clampS(process.env.BENCH_SAT_S, 10);
export const RATE_S = clampS(process.env.BENCH_RATE_S, 10);
export const WARMUP_S = clampS(process.env.BENCH_WARMUP_S, 3);
/**
 * The fixed-rate run's unrecorded start. The proxy's per-request code is still tiering up in V8
 * (interpreter → baseline → optimized: a small function takes thousands of calls) for the first
 * 10–20 s at 1,000 rps, and its compile jobs cost CPU meanwhile; the default measures past that,
 * the proxy's steady state (start-up is bench:up's and bench:proxy-startup's to measure). Up to
 * 300 s, for bench/profiling/concurrent-pair.sh's windows, which it holds.
 */
export const RATE_WARMUP_S = clampS(process.env.BENCH_RATE_WARMUP_S, 20, 300);
export const RATE = Number(process.env.BENCH_RATE ?? 1000);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
export const BODY_BYTES = 1024;
/** The other built checkout whose proxies run beside this one's (bench/baseline.sh makes it). */
export const BASELINE_DIR = process.env.BENCH_BASELINE || undefined;
/**
 * Each configuration runs this many times, the rounds interleaved (1 2 3, 1 2 3…) so slow drift in the
 * machine's state falls on every configuration alike; the report shows each configuration's median
 * round and judges the CPU ratios by their per-round median.
 */
export const ROUNDS = Math.min(5, Math.max(1, Math.floor(Number(process.env.BENCH_ROUNDS ?? 1)) || 1));
/** Three more configurations run with a baseline: the watchdog allows for them, and for every round. */
export const ALL_CONFIGS = ["direct", "nginx", "tsmesh", "c2", "c2-local", "c2-tight", "pair", "pair-mtls", "pair-policy", "pair-telemetry", "mesh"] as const;
export type ConfigName = (typeof ALL_CONFIGS)[number];
export const DEFAULT_CONFIGS: readonly ConfigName[] = ALL_CONFIGS.filter((c) => c !== "c2-tight");
/** The whole run's limit: the runs themselves, plus each configuration's fixed-rate warm-up (twice with a baseline). */
export const WATCHDOG_MS = ((BASELINE_DIR ? 660_000 : 480_000) + RATE_WARMUP_S * 1000 * ALL_CONFIGS.length * (BASELINE_DIR ? 2 : 1)) * ROUNDS;
/** The configurations that run a second time with the baseline's proxy when BENCH_BASELINE is set. */
export const BASELINE_CONFIGS: readonly ConfigName[] = ["tsmesh", "pair", "pair-mtls", "mesh"];
export const LABELS: Record<ConfigName, string> = {
  direct: "direct to backend",
  nginx: "nginx (1 worker)",
  tsmesh: "tsmesh proxy",
  c2: "tsmesh --concurrency 2",
  "c2-local": "… per-worker limits",
  "c2-tight": "… limits contended",
  pair: "tsmesh sidecar pair",
  "pair-mtls": "… with Istio mTLS",
  "pair-policy": "… + ALLOW policy + JWT",
  "pair-telemetry": "… mTLS + Istio telemetry",
  mesh: "bookinfo sidecar pair (ADS)",
};

/**
 * The third octet of the bench's addresses (127.0.BLOCK.x): BENCH_IP_BLOCK moves them so that two
 * benches can run side by side (bench/profiling/concurrent-pair.sh); 90 by default.
 */
export const IP_BLOCK = ipBlock(process.env.BENCH_IP_BLOCK);

function ipBlock(v: string | undefined): number {
  if (v === undefined || v === "") return 90;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 254) throw new Error(`BENCH_IP_BLOCK=${v}: an integer 1–254 (the third octet of 127.0.X.Y)`);
  return n;
}

const ip = (host: number) => `127.0.${IP_BLOCK}.${host}`;
export const BACKEND_IP = ip(10);
export const TSMESH_IP = ip(1);
export const NGINX_IP = ip(2);
export const PAIR_CLIENT_IP = ip(3);
export const PAIR_SERVER_IP = ip(4);
/** The pair with Istio's mutual TLS between the two proxies (client side / server side). */
export const MTLS_CLIENT_IP = ip(8);
export const MTLS_SERVER_IP = ip(9);
/** --concurrency 2: shared limits, per-worker limits, shared and always contended. */
export const C2_IPS: Record<"c2" | "c2-local" | "c2-tight", string> = { c2: ip(5), "c2-local": ip(6), "c2-tight": ip(7) };
/** The telemetry pair's Zipkin sink (ephemeral port). */
export const ZIPKIN_SINK_IP = ip(11);
export const LISTEN_PORT = 8080;
/** The mesh configuration: examples/bookinfo's 127.0.X.Y moved to 127.MESH_OCTET.X.Y. */
export const MESH_OCTET = 91;
export const MESH_XDS = `127.${MESH_OCTET}.0.1:15010`;
/** What productpage's app asks its sidecar for (absolute-form, as an HTTP_PROXY client sends it). */
export const MESH_TARGET = "http://details:9080/details/0";

/**
 * mtlsCpuRatio (issue #13): the mTLS pair's CPU per request ≤ 1.25 × the plaintext pair's; policyCpuRatio
 * (issue #14) and telemetryCpuRatio (issue #15): the policy / telemetry pair's ≤ 1.10 / 1.15 × the mTLS pair's.
 */
export const GOALS = { nginxShare: 0.5, pairAddedP90Ms: 0.5, vcpuPer1kRps: 0.2, rssBytes: 60 * 2 ** 20, mtlsCpuRatio: 1.25, policyCpuRatio: 1.1, telemetryCpuRatio: 1.15 };

/** The bench's entry file: the backend and the load generator are it, re-run with `--backend` / `--loadgen`. */
export const BENCH_ENTRY = fileURLToPath(new URL("../proxy.bench.js", import.meta.url));
/** This checkout's CLI (dist/src/cli/bin.js). */
export const TSMESH_BIN = fileURLToPath(new URL("../../src/cli/bin.js", import.meta.url));
/** A checkout's CLI, by the checkout's root. */
export const binIn = (checkout: string) => join(checkout, "dist", "src", "cli", "bin.js");

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const now = () => performance.now();
export const MB = 2 ** 20;
