/* global process, console */
// Bytes allocated per request by function (self) in two sets of heap-sample.mjs profiles, sorted by
// the difference: where configuration B allocates more than A.
//   node bench/profiling/heap-diff.mjs REQS_A REQS_B --a A1 A2 --b B1 B2 [--top N]
import { readFileSync } from "node:fs";

const argv = process.argv.slice(2);
const reqsA = Number(argv[0]);
const reqsB = Number(argv[1]);
let into;
let top = 40;
const filesA = [];
const filesB = [];
for (let i = 2; i < argv.length; i++) {
  if (argv[i] === "--a") into = filesA;
  else if (argv[i] === "--b") into = filesB;
  else if (argv[i] === "--top") top = Number(argv[++i]);
  else into?.push(argv[i]);
}
if (!(reqsA > 0 && reqsB > 0) || filesA.length === 0 || filesB.length === 0) {
  console.error("usage: heap-diff.mjs REQS_A REQS_B --a FILE... --b FILE... [--top N]");
  process.exit(2);
}

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
