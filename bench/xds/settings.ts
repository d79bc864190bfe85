// bench:xds's settings: the mesh's size and shape (BENCH_SERVICES, BENCH_PROXIES), the simulated
// fleet's channels and sampling, per-phase time limits, the goals, the xDS type names, where its
// programs are (the entry file the floor server re-runs, tsmesh's CLI) and how figures print.
import { fileURLToPath } from "node:url";
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from "../../src/envoy/protos.js";

export const SERVICES = Number(process.env.BENCH_SERVICES ?? 1000);
export const ENDPOINTS_PER_SERVICE = 10;
export const PROXIES = Number(process.env.BENCH_PROXIES ?? 1000);
export const CHANNELS = 20;
export const ROUTED = Math.min(100, SERVICES); // services with a DestinationRule (v1/v2) and a VirtualService
export const WE_FILES = 20;
export const SE_FILES = 5;
export const PORT = 8080;
/** Per-phase time limits (9×, 10× and 20× the goals): worst case, both runs stay under the watchdog. */
export const PHASE_TIMEOUT_MS: Record<string, number> = process.env.BENCH_PHASE_TIMEOUT_MS
  ? { initial: Number(process.env.BENCH_PHASE_TIMEOUT_MS), vs: Number(process.env.BENCH_PHASE_TIMEOUT_MS), eds: Number(process.env.BENCH_PHASE_TIMEOUT_MS) }
  : { initial: 45_000, vs: 20_000, eds: 10_000 };
export const WATCHDOG_MS = 175_000;
/** The service whose endpoint changes (it has subsets, so subset clusters change too). */
export const EDS_SERVICE = Math.min(5, SERVICES - 1);
/** Every SAMPLE_EVERY-th proxy checks each response in depth (all proxies get the same content). */
export const SAMPLE_EVERY = 50;

export const GOALS = { initial: 5000, vs: 2000, eds: 500, rssBytes: 1.5 * 2 ** 30 };

export const HCM_TYPE = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
export const TYPE_NAMES: Record<string, string> = { [CLUSTER_TYPE]: "cds", [ENDPOINT_TYPE]: "eds", [LISTENER_TYPE]: "lds", [ROUTE_TYPE]: "rds" };
export const SHORT_TYPES = ["cds", "eds", "lds", "rds"] as const;
export type Short = (typeof SHORT_TYPES)[number];

export type Obj = Record<string, unknown>;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const now = () => performance.now();

/** The bench's entry file: the transport floor is it, re-run with `--floor-server RECORDING`. */
export const BENCH_ENTRY = fileURLToPath(new URL("../xds.bench.js", import.meta.url));
/** This checkout's CLI (dist/src/cli/bin.js): the control plane runs as `tsmesh discovery`. */
export const TSMESH_BIN = fileURLToPath(new URL("../../src/cli/bin.js", import.meta.url));

export const MB = 2 ** 20;
export const fmtMs = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
export const fmtBytes = (b: number) => (b >= MB ? `${(b / MB).toFixed(2)} MB` : `${(b / 1024).toFixed(1)} KB`);
export const fmtMb = (b: number) => `${Math.round(b / MB)} MB`;
