// A unified diff of two texts by lines (longest common subsequence), for `proxy-status WORKLOAD`'s
// "what istiod would send vs what the proxy has". Inputs are one resource's JSON each (hundreds of
// lines), so the quadratic table stays small; larger inputs are refused rather than allocated.

const MAX_CELLS = 4_000_000;

type Op = { op: " " | "-" | "+"; line: string; a: number; b: number };

function ops(a: readonly string[], b: readonly string[]): Op[] {
  const n = a.length;
  const m = b.length;
  // lcs[i][j]: LCS length of a[i..] and b[j..], flattened.
  const lcs = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * (m + 1) + j] = a[i] === b[j] ? lcs[(i + 1) * (m + 1) + j + 1] + 1 : Math.max(lcs[(i + 1) * (m + 1) + j], lcs[i * (m + 1) + j + 1]);
    }
  }
  const out: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) out.push({ op: " ", line: a[i], a: i++, b: j++ });
    else if (j < m && (i >= n || lcs[i * (m + 1) + j + 1] > lcs[(i + 1) * (m + 1) + j])) out.push({ op: "+", line: b[j], a: i, b: j++ });
    else out.push({ op: "-", line: a[i], a: i++, b: j });
  }
  return out;
}

/** `--- from` / `+++ to` and @@ hunks with `context` lines around each change; "" when equal. */
export function unifiedDiff(fromName: string, from: string, toName: string, to: string, context = 3): string {
  if (from === to) return "";
  const a = from.split("\n");
  const b = to.split("\n");
  if ((a.length + 1) * (b.length + 1) > MAX_CELLS) return `--- ${fromName}\n+++ ${toName}\n(too large to diff: ${a.length} and ${b.length} lines)`;
  const all = ops(a, b);
  const lines = [`--- ${fromName}`, `+++ ${toName}`];
  let k = 0;
  while (k < all.length) {
    if (all[k].op === " ") {
      k++;
      continue;
    }
    // A hunk: from `context` lines before this change to `context` lines after the last change
    // that is no more than 2*context lines from the previous one.
    const start = Math.max(0, k - context);
    let end = k;
    for (let x = k; x < all.length; x++) {
      if (all[x].op !== " ") end = x;
      else if (x - end > 2 * context) break;
    }
    const stop = Math.min(all.length, end + context + 1);
    const hunk = all.slice(start, stop);
    const aLen = hunk.filter((h) => h.op !== "+").length;
    const bLen = hunk.filter((h) => h.op !== "-").length;
    lines.push(`@@ -${hunk[0].a + 1},${aLen} +${hunk[0].b + 1},${bLen} @@`);
    for (const h of hunk) lines.push(`${h.op}${h.line}`);
    k = stop;
  }
  return lines.join("\n");
}
