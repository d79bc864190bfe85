// `tsmesh get -o …` beyond tables: kubectl's jsonpath printers (`jsonpath=`, `jsonpath-file=`,
// `jsonpath-as-json=`, over the object or the v1 List kubectl builds) and custom columns
// (`custom-columns=NAME:.path,…`, `custom-columns-file=` with a header line and a path line), with
// kubectl's errors for a format it has no printer for, a template that does not parse or cannot run,
// and a spec it cannot read.
import { readFileSync } from "node:fs";
import { goSprint } from "../api/go-value.js";
import { JsonPathError, parseJsonPath, parseJsonPathTemplate, type JsonPath, type JsonPathTemplate } from "../api/jsonpath.js";
import { evaluateJsonPath, executeJsonPath, JsonPathEvalError } from "../api/jsonpath-eval.js";
import { formatTable } from "./output.js";

/** An -o kubectl has no printer for, or a template or spec kubectl refuses: kubectl's words. */
export class OutputFormatError extends Error {}

export type OutputFormat =
  | { t: "table" | "wide" | "yaml" | "json" | "name" }
  | { t: "jsonpath"; raw: string; template: JsonPathTemplate; asJson: boolean }
  | { t: "custom-columns"; columns: CustomColumn[]; noHeaders: boolean };

export interface CustomColumn {
  header: string;
  path: JsonPath;
}

/** What `get` prints with (kubectl's list, less its Go templates, which tsmesh does not have). */
export const ALLOWED_FORMATS = ["custom-columns", "custom-columns-file", "json", "jsonpath", "jsonpath-as-json", "jsonpath-file", "name", "wide", "yaml"];

/** A file's text, with Go's words for a file that cannot be opened. */
function readSpecFile(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file or directory" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : (e as Error).message;
    throw new OutputFormatError(`error reading ${what} ${path}, open ${path}: ${why}`);
  }
}

/** Reads `-o` as kubectl's printer flags do. `noHeaders`: --no-headers (a custom-columns file ignores it, as kubectl's does). */
export function parseOutputFormat(o: string | undefined, noHeaders = false): OutputFormat {
  const format = o ?? "";
  if (format === "" || format === "table") return { t: "table" };
  if (format === "wide" || format === "yaml" || format === "json" || format === "name") return { t: format };
  const eq = format.indexOf("=");
  const name = eq < 0 ? format : format.slice(0, eq);
  const value = eq < 0 ? "" : format.slice(eq + 1);
  if (name === "jsonpath" || name === "jsonpath-file" || name === "jsonpath-as-json") {
    if (value === "") throw new OutputFormatError("template format specified but no template given");
    const text = name === "jsonpath-file" ? readSpecFile(value, "--template") : value;
    try {
      return { t: "jsonpath", raw: text, template: parseJsonPathTemplate(text), asJson: name === "jsonpath-as-json" };
    } catch (e) {
      if (e instanceof JsonPathError) throw new OutputFormatError(`error parsing jsonpath ${text}, ${e.message}`);
      throw e;
    }
  }
  if (name === "custom-columns" || name === "custom-columns-file") {
    if (value === "") throw new OutputFormatError("custom-columns format specified but no custom columns given");
    if (name === "custom-columns-file") return { t: "custom-columns", columns: columnsFromFile(readSpecFile(value, "template")), noHeaders: false };
    const columns = value.split(",").map((part) => {
      const colon = part.indexOf(":");
      if (colon < 0) throw new OutputFormatError(`unexpected custom-columns spec: ${part}, expected <header>:<json-path-expr>`);
      return column(part.slice(0, colon), part.slice(colon + 1));
    });
    return { t: "custom-columns", columns, noHeaders };
  }
  throw new OutputFormatError(`unable to match a printer suitable for the output format ${JSON.stringify(format)}, allowed formats are: ${ALLOWED_FORMATS.join(",")}`);
}

/**
 * kubectl's RelaxedJSONPathExpression: `a.b`, `.a.b`, `{a.b}` and `{.a.b}` all mean `{.a.b}`; braces
 * inside are refused.
 */
export function relaxedJsonPath(spec: string): string {
  if (spec === "") return spec;
  const m = /^\{\.?([^{}]+)\}$|^\.?([^{}]+)$/.exec(spec);
  if (!m) throw new OutputFormatError("unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}'");
  return `{.${m[1] ?? m[2]}}`;
}

function column(header: string, spec: string): CustomColumn {
  const path = relaxedJsonPath(spec);
  try {
    return { header, path: parseJsonPath(path === "" ? "{}" : path) };
  } catch (e) {
    if (e instanceof JsonPathError) throw new OutputFormatError(e.message);
    throw e;
  }
}

/** A custom-columns file: a line of headers and a line of paths, split on whitespace. */
function columnsFromFile(text: string): CustomColumn[] {
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  const expected = "Expected format is one line of space separated headers, one line of space separated column specs.";
  if (lines.length < 1 || (lines.length === 1 && lines[0] === "")) throw new OutputFormatError(`invalid template, missing header line. ${expected}`);
  if (lines.length < 2) throw new OutputFormatError(`invalid template, missing spec line. ${expected}`);
  const words = (l: string) => l.split(/\s+/).filter((w) => w !== "");
  const headers = words(lines[0]);
  const specs = words(lines[1]);
  if (headers.length !== specs.length) throw new OutputFormatError(`number of headers (${headers.length}) and field specifications (${specs.length}) don't match`);
  return headers.map((h, i) => column(h, specs[i]));
}

/** The object kubectl's generic printers get: one named object as itself, anything else as a v1 List. */
export function printedObject(objects: readonly unknown[], single: boolean): unknown {
  return single && objects.length === 1 ? objects[0] : { apiVersion: "v1", items: [...objects], kind: "List", metadata: { resourceVersion: "" } };
}

/** A template failure as kubectl reports it (the object shown as JSON, where kubectl shows Go's %#v). */
export function jsonPathFailure(raw: string, message: string, object: unknown): string {
  return (
    `error executing jsonpath ${JSON.stringify(raw)}: Error executing template: ${message}. Printing more information for debugging the template:\n` +
    `\ttemplate was:\n\t\t${raw}\n\tobject given to jsonpath engine was:\n\t\t${JSON.stringify(object)}\n`
  );
}

/** `-o jsonpath…` of the object: the text, or the error kubectl prints. */
export function printJsonPath(f: Extract<OutputFormat, { t: "jsonpath" }>, object: unknown, allowMissingKeys: boolean): { text: string } | { error: string } {
  try {
    return { text: executeJsonPath(f.template, object, { allowMissingKeys, asJson: f.asJson }) };
  } catch (e) {
    if (e instanceof JsonPathEvalError) return { error: jsonPathFailure(f.raw, e.message, object) };
    throw e;
  }
}

/** kubectl's terminal escaping of custom-column cells. */
const escapeTerminal = (s: string) => s.replaceAll("\u001b", "^[").replaceAll("\r", "\\r");

/**
 * `-o custom-columns` of the objects: one row per object, `<none>` where a path selects nothing, a
 * cell's values as Go's %v joined by commas. An evaluation error ends the table there, as kubectl's.
 */
export function printCustomColumns(f: Extract<OutputFormat, { t: "custom-columns" }>, objects: readonly unknown[]): { lines: string[]; error?: string } {
  const rows: string[][] = [];
  let error: string | undefined;
  for (const object of objects) {
    try {
      rows.push(
        f.columns.map((c) => {
          const values = evaluateJsonPath(c.path, object, { allowMissingKeys: true });
          return values.length === 0 ? "<none>" : values.map((v) => escapeTerminal(goSprint(v))).join(",");
        }),
      );
    } catch (e) {
      if (!(e instanceof JsonPathEvalError)) throw e;
      error = e.message;
      break;
    }
  }
  // kubectl's tabwriter: three spaces of padding, cells at least six wide; without headers the rows alone set the widths.
  const all = f.noHeaders ? rows : [f.columns.map((c) => c.header), ...rows];
  return { lines: all.length === 0 ? [] : formatTable(all[0], all.slice(1), { gap: 3, minWidth: 6 }).split("\n"), error };
}
