/* global console */
// Self time per request of two sets of V8 .cpuprofile files (BENCH_PROXY_NODE_ARGS=--cpu-prof), by
// function or by file, sorted by the difference: where configuration B spends more than A.
// The profiler samples wall time, so native socket writes absorb time the process waited to run;
// trust perf-pair.sh (on-CPU samples) for those.
//   node bench/profiling/cpuprofile-diff.mjs REQS_A REQS_B --a A1 A2 --b B1 B2 [--by file] [--top N]
import { readFileSync } from "node:fs";
import { compareArgs } from "./compare-args.mjs";

const { reqsA, reqsB, filesA, filesB, top, by } = compareArgs("cpuprofile-diff.mjs REQS_A REQS_B --a FILE... --b FILE... [--by file] [--top N]", { top: 50, by: "fn" });

/** Self time (µs) by key over the files' samples. */
function load(files) {
  const m = new Map();
  for (const f of files) {
    const p = JSON.parse(readFileSync(f, "utf8"));
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    for (let i = 0; i < p.samples.length; i++) {
      const cf = nodes.get(p.samples[i]).callFrame;
      if (cf.functionName === "(idle)") continue;
      const file = cf.url ? cf.url.replace(/^.*\/(dist|node_modules)\//, "$1/") : cf.functionName.startsWith("(") ? cf.functionName : "(native)";
      const key = by === "file" ? file : `${cf.functionName || "(anonymous)"} ${file}:${cf.lineNumber + 1}`;
      m.set(key, (m.get(key) ?? 0) + (p.timeDeltas[i] ?? 0));
    }
  }
  return m;
}

const a = load(filesA);
const b = load(filesB);
const rows = [...new Set([...a.keys(), ...b.keys()])].map((k) => {
  const x = (a.get(k) ?? 0) / reqsA;
  const y = (b.get(k) ?? 0) / reqsB;
  return { k, x, y, d: y - x };
});
const sum = (f) => rows.reduce((s, r) => s + f(r), 0);
console.log(`µs per request: A ${sum((r) => r.x).toFixed(1)}, B ${sum((r) => r.y).toFixed(1)} (diff, A, B)`);
rows.sort((r, s) => s.d - r.d);
for (const r of rows.slice(0, top)) console.log(`${r.d.toFixed(2).padStart(7)} ${r.x.toFixed(2).padStart(7)} ${r.y.toFixed(2).padStart(7)}  ${r.k}`);
