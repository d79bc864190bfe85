// Output helpers the operating commands share (proxy-status, proxy-config, describe, version,
// dashboard): istioctl-style tables (tabwriter columns, cut to the terminal's width when it is one),
// colour only on a terminal and never with NO_COLOR (no-color.org), and stable `-o json|yaml` output.
import { stringify } from "yaml";

export interface TableOptions {
  /** Spaces between columns (istioctl's tabwriter padding: 5 for most writers, 3 for some). */
  gap?: number;
  /** Cut lines to this many characters (a terminal's width); undefined: never cut. */
  width?: number;
  /** A column's width with its gap is at least this (tabwriter's minwidth; kubectl's is 6). */
  minWidth?: number;
}

/**
 * Columns padded to their widest cell. The last column is not padded; a line longer than `width` is
 * cut and ends with "…" so a table stays one line per row on a narrow terminal.
 */
export function formatTable(head: readonly string[], rows: readonly (readonly string[])[], o: TableOptions = {}): string {
  const gap = " ".repeat(o.gap ?? 5);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length), (o.minWidth ?? 0) - gap.length));
  const line = (cells: readonly string[]) => {
    const s = cells.map((c, i) => (i === cells.length - 1 ? c : (c ?? "").padEnd(widths[i]))).join(gap).trimEnd();
    return o.width !== undefined && o.width > 1 && s.length > o.width ? s.slice(0, o.width - 1) + "…" : s;
  };
  return [head, ...rows].map(line).join("\n");
}

/** The width to fit tables to: the terminal's columns when stdout is one, else no limit. */
export function terminalWidth(stream: { isTTY?: boolean; columns?: number } = process.stdout): number | undefined {
  return stream.isTTY && stream.columns ? stream.columns : undefined;
}

/** Whether to colour: a terminal, and NO_COLOR unset or empty (no-color.org). */
export function useColour(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  return !!stream.isTTY && !env.NO_COLOR;
}

const SGR = { red: 31, green: 32, yellow: 33, blue: 34, bold: 1, dim: 2 } as const;
export type Colour = keyof typeof SGR;

/** A painter: `paint("red", s)` wraps s in the ANSI colour when colouring, else returns s. */
export function painter(on: boolean): (c: Colour, s: string) => string {
  return on ? (c, s) => `\x1b[${SGR[c]}m${s}\x1b[0m` : (_c, s) => s;
}

/** Keys sorted at every depth, so machine output is byte-stable across runs. */
function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, sortedKeys(o[k])]),
    );
  }
  return v;
}

/** `-o json` / `-o yaml`: indented, keys in a stable order (sorted unless `keepOrder`). */
export function machineOutput(value: unknown, format: "json" | "yaml", keepOrder = false): string {
  const v = keepOrder ? value : sortedKeys(value);
  return format === "json" ? JSON.stringify(v, null, 2) : stringify(v, { lineWidth: 0 }).trimEnd();
}

/** apimachinery's HumanDuration — kubectl's AGE, istioctl's SYNCED (…) age: 45s, 2m30s, 12m, 4h5m, 20h, 3d4h, 40d, 2y30d, 9y. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return "<invalid>";
  if (s < 0) return "0s";
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (h < 24 * 8) return h % 24 === 0 ? `${Math.floor(h / 24)}d` : `${Math.floor(h / 24)}d${h % 24}h`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24)}d`;
  if (h < 24 * 365 * 8) {
    const y = Math.floor(h / 24 / 365);
    const d = Math.floor(h / 24) - y * 365;
    return d === 0 ? `${y}y` : `${y}y${d}d`;
  }
  return `${Math.floor(h / 24 / 365)}y`;
}
