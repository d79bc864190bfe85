/* global console */
// Bytes allocated per request by function (self) in two sets of heap-sample.mjs profiles, sorted by
// the difference: where configuration B allocates more than A.
//   node bench/profiling/heap-diff.mjs REQS_A REQS_B --a A1 A2 --b B1 B2 [--top N]
import { readFileSync } from "node:fs";
import { compareArgs } from "./compare-args.mjs";

const { reqsA, reqsB, filesA, filesB, top } = compareArgs("heap-diff.mjs REQS_A REQS_B --a FILE... --b FILE... [--top N]", { top: 40 });

function load(files) {
  const m = new Map();
  const walk = (n) => {
    const cf = n.callFrame;
    const k = `${cf.functionName || "(anonymous)"} ${(cf.url || "").split("/").pop()}:${cf.lineNumber + 1}`;
    if (n.selfSize) m.set(k, (m.get(k) ?? 0) + n.selfSize);
    n.children.forEach(walk);
  };
  for (const f of files) walk(JSON.parse(readFileSync(f, "utf8")).head);
  return m;
}

const a = load(filesA);
const b = load(filesB);
const rows = [...new Set([...a.keys(), ...b.keys()])].map((k) => ({ k, x: (a.get(k) ?? 0) / reqsA, y: (b.get(k) ?? 0) / reqsB }));
console.log(`bytes per request: A ${rows.reduce((s, r) => s + r.x, 0).toFixed(0)}, B ${rows.reduce((s, r) => s + r.y, 0).toFixed(0)} (diff, A, B)`);
rows.sort((r, s) => s.y - s.x - (r.y - r.x));
for (const r of rows.slice(0, top)) console.log(`${(r.y - r.x).toFixed(0).padStart(6)} ${r.x.toFixed(0).padStart(6)} ${r.y.toFixed(0).padStart(6)}  ${r.k}`);
