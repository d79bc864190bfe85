// bench:proxy's side-by-side of this checkout's proxies and a baseline checkout's (BENCH_BASELINE),
// measured in the same run: per configuration run both ways, the figures issue reviews ask for
// (requests/s per proxy core as a share of nginx's, latency at the fixed rate and what it adds over
// direct, CPU per 1,000 requests, RSS) for current, baseline and the change.
import { markdownTable, textTable } from "../common/table.js";
import { cpuPer1k, fin, fmtInt, fmtMb, fmtMs, fmtPct, fmtSplit, perProxy1k, rowLabel, rpsPerCore } from "./figures.js";
import type { ConfigResult } from "./runs.js";
import { BASELINE_CONFIGS, MB, RATE } from "./settings.js";

const sign = (x: number) => (x > 0 ? "+" : x < 0 ? "−" : "±");
const deltaMs = (a: number | undefined, b: number | undefined) => (fin(a) && fin(b) ? `${sign(a - b)}${fmtMs(Math.abs(a - b))}` : "—");
const deltaRel = (a: number | undefined, b: number | undefined) => (fin(a) && fin(b) && b !== 0 ? `${sign(a - b)}${fmtPct(Math.abs(a / b - 1))}` : "—");
const deltaMb = (a: number | undefined, b: number | undefined) => (fin(a) && fin(b) && a && b ? `${sign(a - b)}${(Math.abs(a - b) / MB).toFixed(1)} MB` : "—");

/** The comparison's rows (current, baseline, change per configuration run both ways); none without a baseline. */
function rows(results: ConfigResult[]): string[][] {
  const find = (name: string, baseline: boolean) => results.find((r) => r.name === name && r.baseline === baseline);
  const nginx = find("nginx", false);
  const direct = find("direct", false)?.rate;
  const nginxCore = nginx ? rpsPerCore(nginx) : undefined;
  const added = (r: ConfigResult, p: "p90" | "p99") => (r.rate && direct ? r.rate[p] - direct[p] : undefined);
  const figures = (r: ConfigResult): string[] => {
    const perCore = rpsPerCore(r);
    return [
      rowLabel(r),
      `${fmtInt(perCore)}${fin(perCore) && fin(nginxCore) ? ` (${fmtPct(perCore / nginxCore)} of nginx)` : ""}`,
      fmtMs(r.rate?.p50),
      fmtMs(r.rate?.p90),
      fmtMs(r.rate?.p99),
      fmtMs(added(r, "p90")),
      fmtMs(added(r, "p99")),
      r.rate ? fmtSplit(cpuPer1k(r), perProxy1k(r.rate.perProxyCpuMs, r.rate.completed), 3) : "—",
      r.rate?.rssMax.map((b) => fmtMb(b)).join(" / ") || "—",
    ];
  };
  const out: string[][] = [];
  for (const name of BASELINE_CONFIGS) {
    const cur = find(name, false);
    const base = find(name, true);
    if (!cur || !base) continue;
    out.push(figures(cur), figures(base), [
      "  change (current vs baseline)",
      deltaRel(rpsPerCore(cur), rpsPerCore(base)),
      deltaMs(cur.rate?.p50, base.rate?.p50),
      deltaMs(cur.rate?.p90, base.rate?.p90),
      deltaMs(cur.rate?.p99, base.rate?.p99),
      deltaMs(added(cur, "p90"), added(base, "p90")),
      deltaMs(added(cur, "p99"), added(base, "p99")),
      deltaRel(cpuPer1k(cur), cpuPer1k(base)),
      cur.rate?.rssMax.map((b, i) => deltaMb(b, base.rate?.rssMax[i])).join(" / ") || "—",
    ]);
  }
  return out;
}

const HEAD = [
  "current vs baseline",
  "rps / proxy core",
  `p50 @${RATE}`,
  `p90 @${RATE}`,
  `p99 @${RATE}`,
  "+p90 vs direct",
  "+p99 vs direct",
  `CPU s / 1k req @${RATE}`,
  `RSS @${RATE} (per proxy)`,
];

/** The comparison as text and as markdown (both empty when no configuration ran both ways). */
export function baselineComparison(results: ConfigResult[], baseline: string): { text: string[]; markdown: string[] } {
  const body = rows(results);
  if (!body.length) return { text: [], markdown: [] };
  const about = `baseline: ${baseline}; each baseline row ran right after its current one, same backend, load and addresses. rps / proxy core: at saturation, with its share of nginx's in this run; change: relative for rps and CPU, absolute for latency and RSS.`;
  const mdHead = [
    "configuration",
    "req/s per proxy core (share of nginx)",
    `p50 @ ${RATE} rps`,
    `p90 @ ${RATE} rps`,
    `p99 @ ${RATE} rps`,
    "added p90 vs direct",
    "added p99 vs direct",
    "CPU s per 1,000 req",
    `RSS at ${RATE} rps (per proxy)`,
  ];
  return { text: [...textTable(HEAD, body), about], markdown: markdownTable(mdHead, "lrrrrrrrr", body) };
}
