// `tsmesh validate PATH…`: every document of every file, one message per problem; exit 1 on errors.
import { existsSync } from "node:fs";
import { diagnostic } from "../core/errors.js";
import { formatDiagnostic, toJsonEntry } from "../api/format.js";
import type { DocumentResult } from "../api/validate.js";
import { displayPath, listConfigFiles, validateFile } from "../config/files.js";

export interface ValidateOptions {
  output: "text" | "json";
  /** Report kinds tsmesh does not know (Deployments, Services…) as warnings instead of errors. */
  ignoreUnknown: boolean;
}

/** Validates files and folders, each document on its own (as `istioctl validate` does). */
export function validatePaths(paths: string[], opts: Pick<ValidateOptions, "ignoreUnknown">): DocumentResult[] {
  const results: DocumentResult[] = [];
  for (const p of paths) {
    if (p !== "-" && !existsSync(p)) {
      results.push({ file: p, index: 0, line: 1, valid: false, diagnostics: [diagnostic("TSMESH_FILE_READ", "", `no such file or folder: ${p}`)] });
      continue;
    }
    let files: string[];
    try {
      files = p === "-" ? ["-"] : listConfigFiles(p);
    } catch (err) {
      results.push({ file: p, index: 0, line: 1, valid: false, diagnostics: [diagnostic("TSMESH_FILE_READ", "", (err as Error).message)] });
      continue;
    }
    for (const file of files) {
      for (const r of validateFile(file, file === "-" ? "<stdin>" : displayPath(file))) {
        if (opts.ignoreUnknown && r.diagnostics.length > 0 && r.diagnostics.every((d) => d.code === "TSMESH_UNKNOWN_KIND")) {
          r.diagnostics = r.diagnostics.map((d) => ({ ...d, severity: "warning" as const }));
          r.valid = true;
        }
        results.push(r);
      }
    }
  }
  return results;
}

export function runValidate(paths: string[], opts: ValidateOptions, out: (s: string) => void): number {
  const results = validatePaths(paths, opts);
  if (opts.output === "json") {
    out(JSON.stringify(results.map(toJsonEntry), null, 2));
  } else {
    for (const r of results) for (const d of r.diagnostics) out(formatDiagnostic(r, d));
    const invalid = results.filter((r) => !r.valid).length;
    const files = new Set(results.map((r) => r.file)).size;
    const notEnforced = results.filter((r) => r.diagnostics.some((d) => d.code === "TSMESH_NOT_ENFORCED")).length;
    const note = notEnforced > 0 ? ` (${notEnforced} use${notEnforced === 1 ? "s" : ""} what is not enforced yet)` : "";
    out(
      invalid === 0
        ? `✔ ${results.length} document${results.length === 1 ? "" : "s"} in ${files} file${files === 1 ? "" : "s"}: all valid${note}`
        : `✘ ${invalid} of ${results.length} documents invalid${note}`,
    );
  }
  return results.every((r) => r.valid) ? 0 : 1;
}

