/* global process, console, setTimeout */
// A preload (BENCH_PROXY_NODE_ARGS="--import /abs/path/bench/profiling/heap-sample.mjs") that samples
// a proxy's allocations, garbage included, from HEAP_SAMPLE_START to HEAP_SAMPLE_END seconds after
// it starts, and writes heap-PID.json (a V8 sampling heap profile) in HEAP_SAMPLE_DIR (default its
// working folder, which for bench:proxy's mesh pairs is a temporary one). With
// HEAP_SAMPLE_MAJOR=1 only what survives to a major GC is kept: the promoted garbage.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Session } from "node:inspector";

const session = new Session();
session.connect();
const start = Number(process.env.HEAP_SAMPLE_START ?? 20) * 1000;
const end = Number(process.env.HEAP_SAMPLE_END ?? 30) * 1000;
const minor = process.env.HEAP_SAMPLE_MAJOR !== "1";
setTimeout(() => {
  session.post("HeapProfiler.enable", () =>
    session.post("HeapProfiler.startSampling", { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: minor }),
  );
  setTimeout(() => {
    session.post("HeapProfiler.stopSampling", (err, r) => {
      if (err) console.error(`heap-sample: ${err.message}`);
      else writeFileSync(join(process.env.HEAP_SAMPLE_DIR ?? ".", `heap-${process.pid}.json`), JSON.stringify(r.profile));
    });
  }, end - start).unref();
}, start).unref();
