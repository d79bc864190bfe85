/* global process, console */
// Per-request on-CPU time (µs, both proxies together) by symbol and by kind (tsmesh JS, node's JS,
// V8 builtins, GC, the rest of V8, kernel, crypto…) from two perf-pair.sh folders, sorted by the
// difference: where configuration B spends more than A; then tsmesh's JS by module (file). With
// V8's inlining on, a function's time lands in whichever caller inlined it, and the two sides
// inline differently; profiles taken with PERF_NODE_ARGS=--no-turbo-inlining put each function's
// time under its own name (every side slower, the difference between them about the same).
//   node bench/profiling/perf-diff.mjs DIR_A DIR_B [--top N]
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [dirA, dirB, flag, n] = process.argv.slice(2);
if (!dirA || !dirB) {
  console.error("usage: perf-diff.mjs DIR_A DIR_B [--top N]");
  process.exit(2);
}
const top = flag === "--top" ? Number(n) : 40;
const SAMPLE_US = 1e6 / 1999;

function kind(sym) {
  if (sym.startsWith("JS:")) return sym.includes("/dist/src/") ? "JS tsmesh" : "JS node/lib";
  if (sym.startsWith("Builtins_")) return "V8 builtins";
  if (/Mark|Scaveng|Sweep|Concurrent|Evacuat|Marking|Compactor|Visitor|Remembered|SlotSet/.test(sym)) return "V8 GC";
  if (sym.startsWith("v8::")) return "V8 other";
  if (/^(node::|uv_|uv__)/.test(sym)) return "node/libuv";
  if (/aes|gcm|ghash|SSL|ssl|EVP|CRYPTO|sha\d|bn_|ec_/.test(sym)) return "crypto";
  return "other";
}

/** µs per request by symbol ("[k]" rows are the kernel's). */
function load(dir) {
  const reqs = Number(readFileSync(join(dir, "requests"), "utf8"));
  const bySym = new Map();
  for (const f of readdirSync(dir).filter((x) => /^sym\.\d+\.txt$/.test(x))) {
    for (const line of readFileSync(join(dir, f), "utf8").split("\n")) {
      const m = /^\s*[\d.]+%\s+(\d+)\s+\[(.)\]\s+(.*)$/.exec(line);
      if (!m) continue;
      const sym = m[2] === "k" ? `[kernel] ${m[3].trim()}` : m[3].trim().replace(/0x[0-9a-f]+/g, "");
      bySym.set(sym, (bySym.get(sym) ?? 0) + (Number(m[1]) * SAMPLE_US) / reqs);
    }
  }
  return bySym;
}

function diff(a, b, keyOf) {
  const m = new Map();
  for (const [map, i] of [[a, 0], [b, 1]]) {
    for (const [sym, us] of map) {
      const k = keyOf(sym);
      const row = m.get(k) ?? [0, 0];
      row[i] += us;
      m.set(k, row);
    }
  }
  return [...m].map(([k, [x, y]]) => ({ k, x, y })).sort((r, s) => s.y - s.x - (r.y - r.x));
}

const a = load(dirA);
const b = load(dirB);
const show = (rows, count) => {
  for (const r of rows.slice(0, count)) console.log(`${(r.y - r.x).toFixed(2).padStart(7)} ${r.x.toFixed(2).padStart(7)} ${r.y.toFixed(2).padStart(7)}  ${r.k}`);
};
const kinds = diff(a, b, (s) => (s.startsWith("[kernel]") ? "kernel" : kind(s)));
console.log(`µs per request, both proxies: A ${kinds.reduce((s, r) => s + r.x, 0).toFixed(1)}, B ${kinds.reduce((s, r) => s + r.y, 0).toFixed(1)} (diff, A, B)`);
show(kinds, kinds.length);
console.log("--- by symbol");
show(diff(a, b, (s) => s), top);
console.log("--- tsmesh JS by module");
const tsmeshOnly = (m) => new Map([...m].filter(([sym]) => kind(sym) === "JS tsmesh"));
show(diff(tsmeshOnly(a), tsmeshOnly(b), (s) => /\/dist\/(src\/[^:]*)/.exec(s)?.[1] ?? s), top);
