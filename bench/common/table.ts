// Plain-text tables for the benches' reports: columns padded to their widest cell, two spaces apart,
// a dashed rule under the header.

/** The table's lines: header, rule, one line per row. */
export function textTable(head: string[], body: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)];
}

/** A markdown table (header, alignment row, rows); `align` per column: "l" or "r". */
export function markdownTable(head: string[], align: string, body: string[][]): string[] {
  return [`| ${head.join(" | ")} |`, `|${[...align].map((a) => (a === "r" ? "---:" : "---")).join("|")}|`, ...body.map((b) => `| ${b.join(" | ")} |`)];
}
