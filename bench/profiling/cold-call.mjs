/* global process, console, Buffer */
// What a piece of the request path costs the first time it runs after the caches were flushed, as
// it runs at 1,000 rps (other processes run between two requests) — beside its cost run twice in a
// row. Each sample walks 64 MiB first (evicting the CPU caches and TLB), then times one call on a
// fresh stream record. The access-log line (Istio's text format) measured this way: 6–10 µs cold
// against about 2 µs run again right away, so a per-request cost at that rate is set by how much
// code and memory it touches, not by how long its loops run. The figures are relative: they move
// with the machine and with details of how the result is used, so compare variants measured alike,
// interleaved in one process: a process can also land in a mode about twice as slow (8 vs 18 µs
// here, from one start to the next, the same code), as bench:proxy's rounds vary from one set of
// proxy processes to the next.
//   node bench/profiling/cold-call.mjs [access-log|access-log-interpreted|istio-stats|span-start|null] [SAMPLES]     (after npx tsc)
import { compileTextFormat, interpretedTextFormat } from "../../dist/src/proxy/observability/access-log-format.js";
import { ISTIO_TEXT_LOG_FORMAT } from "../../dist/src/xds/gen/telemetry/access-log.js";
import { mtlsHttpInfo, PRODUCTPAGE_PEER } from "../../dist/test/proxy/observability/stream-info-fixtures.js";
import { IstioHttpStats } from "../../dist/src/proxy/observability/istio-stats.js";
import { compilePluginConfig } from "../../dist/src/proxy/observability/istio-stats-labels.js";
import { StatsStore } from "../../dist/src/proxy/stats.js";
import { ActiveSpan } from "../../dist/src/proxy/tracing/span.js";

const which = process.argv[2] ?? "access-log";
const samples = Math.max(100, Number(process.argv[3] ?? 1500) || 1500);
const flush = Buffer.alloc(64 << 20);
// (The cluster's metadata is one object per cluster in a proxy: istio.stats' label cache keys on it.)
const clusterMetadata = mtlsHttpInfo().upstreamClusterMetadata;
const record = (i) => mtlsHttpInfo({ startTime: 1733500000000 + i * 7, durationMs: i % 50, bytesSent: 1000 + i, upstreamClusterMetadata: clusterMetadata });

const logBuffer = Buffer.alloc(64 * 1024);
let logAt = 0;
function logLine(f) {
  return (i) => {
    if (logAt > logBuffer.length - 4096) logAt = 0;
    logAt += logBuffer.write(f.format(i), logAt);
    return 1;
  };
}

const pieces = {
  // The timer's and the call's own cold cost: the floor under every other figure.
  null: () => (i) => i.responseCode + 1,
  // The line rendered and written into a log buffer, as the file logger does.
  "access-log": () => logLine(compileTextFormat(ISTIO_TEXT_LOG_FORMAT, "cold-call")),
  // The same by the interpreted renderer (a loop over the parts), which the straight-line one replaced.
  "access-log-interpreted": () => logLine(interpretedTextFormat(ISTIO_TEXT_LOG_FORMAT, "cold-call")),
  // istio.stats' record of a finished stream (its standard labels cached from the stream before).
  "istio-stats": () => {
    const rec = new IstioHttpStats(new StatsStore(), compilePluginConfig({}, "cold-call"), PRODUCTPAGE_PEER);
    return (i) => (rec.record(i), 1);
  },
  // The span start of an unsampled outbound request (Zipkin's B3, 1%): the decision, the extraction, the ids.
  "span-start": () => {
    const driver = { propagation: "b3", traceId128: true, sharedSpanContext: true, node: { id: "n", zone: "", istioTags: new Map() }, report() {}, malformed() {} };
    const tracing = { driver, sampling: { client: 100, random: 1, overall: 100 }, customTags: [], maxPathTagLength: 256, egress: true, spawnUpstreamSpan: false };
    return (i) => {
      const headers = { ...i.requestHeaders, "x-request-id": "5f0b0c1e-3c1a-4d2b-9a6e-0c3d2e1f4a5b" };
      const span = ActiveSpan.start(tracing, { headers, authority: i.authority, path: i.path, method: i.method, protocol: i.protocol, scheme: i.scheme, downstreamRemoteAddress: i.downstreamRemoteAddress });
      return span === undefined ? 0 : 1;
    };
  },
};
if (!(which in pieces)) {
  console.error(`cold-call: unknown piece ${which} (${Object.keys(pieces).join(", ")})`);
  process.exit(2);
}
// (In a function, not the module's top level: V8 optimizes the timing loop itself then.)
function measure(fn) {
  let sink = 0;
  // Optimized first, as in a proxy past its warm-up.
  for (let i = 0; i < 30000; i++) sink += fn(record(i));
  const cold = [];
  const warm = [];
  for (let i = 0; i < samples; i++) {
    for (let j = 0; j < flush.length; j += 64) flush[j]++;
    const a = record(i);
    let t0 = process.hrtime.bigint();
    sink += fn(a);
    let t1 = process.hrtime.bigint();
    cold.push(Number(t1 - t0));
    const b = record(i + 1);
    t0 = process.hrtime.bigint();
    sink += fn(b);
    t1 = process.hrtime.bigint();
    warm.push(Number(t1 - t0));
  }
  return { cold, warm, sink };
}

const { cold, warm, sink } = measure(pieces[which]());
const q = (v, p) => [...v].sort((x, y) => x - y)[Math.floor(v.length * p)];
console.log(`${which}: cold p25 ${q(cold, 0.25)} p50 ${q(cold, 0.5)} p75 ${q(cold, 0.75)} ns; run again right after: p50 ${q(warm, 0.5)} ns (${samples} samples; ${sink % 2})`);
