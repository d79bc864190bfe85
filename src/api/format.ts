// How diagnostics read on a terminal: file:line:column (document N) Kind ns/name: field.path: message
// [CODE] — the line and column (1-based) of the field in error, the same in validate, up's log and apply.
import type { Diagnostic } from "../core/errors.js";
import type { DocumentResult } from "./validate.js";

export function describeDocument(r: Pick<DocumentResult, "kind" | "namespace" | "name">): string {
  if (!r.kind) return "";
  return `${r.kind} ${r.namespace ?? "default"}/${r.name ?? "<unnamed>"}`;
}

/** Where a diagnostic's field is: `FILE:LINE:COLUMN`, or `FILE:LINE` (the document's) when the field has no position. */
export function sourcePosition(r: Pick<DocumentResult, "file" | "line" | "lineOf" | "columnOf">, path: string): string {
  const line = path ? r.lineOf?.(path) : undefined;
  const column = r.columnOf?.(path);
  if (path && line === undefined) return `${r.file}:${r.line}`;
  return `${r.file}:${line ?? r.line}${column === undefined ? "" : `:${column}`}`;
}

export function formatDiagnostic(r: DocumentResult, d: Diagnostic): string {
  const where = `${sourcePosition(r, d.path)} (document ${r.index})`;
  const what = describeDocument(r);
  const field = d.path ? `${d.path}: ` : "";
  const sev = d.severity === "warning" ? "warning: " : "";
  return `${where}${what ? ` ${what}` : ""}: ${sev}${field}${d.message} [${d.code}]`;
}

/** JSON shape of `tsmesh validate -o json`, one entry per document. */
export interface ValidateJsonEntry {
  file: string;
  index: number;
  kind: string | null;
  namespace: string | null;
  name: string | null;
  valid: boolean;
  errors: Array<{ code: string; path: string; message: string; line?: number; column?: number }>;
  warnings: Array<{ code: string; path: string; message: string; line?: number; column?: number }>;
}

export function toJsonEntry(r: DocumentResult): ValidateJsonEntry {
  const entry = (d: Diagnostic) => ({ code: d.code, path: d.path, message: d.message, line: (d.path && r.lineOf?.(d.path)) || r.line, column: r.columnOf?.(d.path) });
  return {
    file: r.file,
    index: r.index,
    kind: r.kind ?? null,
    namespace: r.kind ? (r.namespace ?? "default") : null,
    name: r.name ?? null,
    valid: r.valid,
    errors: r.diagnostics.filter((d) => d.severity === "error").map(entry),
    warnings: r.diagnostics.filter((d) => d.severity === "warning").map(entry),
  };
}
