// Reads multi-document YAML (and JSON, which is YAML) into documents that remember where they came
// from: file, index within the file, and lines, so every message can point at the source.
// js-yaml does the loading (fast: it is on the config-push path); the `yaml` library, which keeps
// source positions, re-reads a document only when a message needs the line of a field.
import jsyaml from "js-yaml";
import { LineCounter, parseDocument, isMap, isSeq, isScalar, type Node } from "yaml";
import { diagnostic, type Diagnostic } from "../core/errors.js";

export interface ParsedDocument {
  file: string;
  /** Position of the document in its file, from 0 (empty documents count but are not returned). */
  index: number;
  /** 1-based line of the document's first content. */
  line: number;
  /** The document as plain data; undefined when it failed to parse. */
  value?: unknown;
  /** Set when the YAML itself is malformed. */
  syntaxError?: Diagnostic;
  /** 1-based line of a field path like `spec.http[0].route`, if it can be found. */
  lineOf(path: string): number | undefined;
  /** 1-based column of that field (where its key starts); for a syntax error, the error's column. */
  columnOf(path: string): number | undefined;
}

// Kubernetes' YAML (go-yaml): the core schema plus merge keys; timestamps stay strings.
// (js-yaml exports its built-in types; its type definitions do not declare them.)
const { merge } = (jsyaml as unknown as { types: { merge: jsyaml.Type } }).types;
const K8S_SCHEMA = jsyaml.CORE_SCHEMA.extend({ implicit: [merge] });

/** Splits `spec.http[0].route[a.b]` into ["spec", "http", 0, "route", "a.b"]. */
export function splitPath(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  const re = /([^.[\]]+)|\[([^\]]*)\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(path))) {
    if (m[1] !== undefined) out.push(m[1]);
    else out.push(/^\d+$/.test(m[2]) ? Number(m[2]) : m[2]);
  }
  return out;
}

/**
 * 1-based line, within `text`, of the field at `path`: a mapping field's key (where the field is
 * written, also when its value is a block on the lines below), a sequence item's first line; for a
 * field that is missing, its nearest existing parent's.
 */
function locate(text: string, path: string): { line: number; column: number } | undefined {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, uniqueKeys: false });
  let node: unknown = doc.contents;
  let last: Node | undefined = doc.contents ?? undefined;
  for (const seg of splitPath(path)) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) break;
      last = isScalar(pair.key) || isMap(pair.key) || isSeq(pair.key) ? pair.key : ((pair.value as Node | null) ?? undefined);
      node = pair.value;
      if (!pair.value) break;
    } else if (isSeq(node) && typeof seg === "number") {
      node = node.items[seg];
      if (!node) break;
      last = node as Node;
    } else break;
  }
  const off = last?.range?.[0];
  if (off === undefined) return undefined;
  const { line, col } = counter.linePos(off);
  return { line, column: col };
}

interface Chunk {
  text: string;
  /** 0-based line of the chunk's first line in the file. */
  firstLine: number;
  /** Whether a `---` marker opened this chunk. */
  marked: boolean;
}

// A line starting with `---` or `...` (then blank or end) at column 0 can only be a document marker.
/** Splits a stream at its document markers, keeping line numbers (marker text becomes spaces). */
function splitDocuments(text: string): Chunk[] {
  const chunks: Chunk[] = [];
  let start = 0; // offset where the current chunk's text starts
  let startLine = 0;
  let marked = false;
  let line = 0;
  let pos = 0;
  let pending = ""; // the rest of a `---` line (e.g. `--- {a: 1}`), blanked to keep columns
  const parts: string[] = [];
  while (pos <= text.length) {
    const nl = text.indexOf("\n", pos);
    const end = nl < 0 ? text.length : nl;
    if (text.startsWith("---", pos) || text.startsWith("...", pos)) {
      const after = text.charCodeAt(pos + 3);
      const isMarker = pos + 3 >= end || after === 32 || after === 9 || after === 13;
      if (isMarker && text[pos] === "-") {
        parts.push(text.slice(start, pos));
        chunks.push({ text: pending + parts.join(""), firstLine: startLine, marked });
        parts.length = 0;
        pending = "   " + text.slice(pos + 3, end);
        start = end;
        startLine = line;
        marked = true;
      } else if (isMarker) {
        parts.push(text.slice(start, pos)); // `...` ends a document: drop the marker line
        start = end;
      }
    }
    if (nl < 0) break;
    pos = nl + 1;
    line++;
  }
  parts.push(text.slice(start));
  chunks.push({ text: pending + parts.join(""), firstLine: startLine, marked });
  // Text before the first marker is a document only if it has content (a leading `---` starts doc 0).
  if (chunks.length > 1 && !hasContent(chunks[0].text)) chunks.shift();
  return chunks;
}

/** Index of the first line that is neither blank nor a comment, or -1. */
function firstContentLine(text: string): number {
  let line = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) line++;
    else if (c === 35) {
      // a comment: skip to the end of the line
      const nl = text.indexOf("\n", i);
      if (nl < 0) return -1;
      i = nl - 1;
    } else if (c !== 32 && c !== 9 && c !== 13) return line;
  }
  return -1;
}

function hasContent(text: string): boolean {
  return firstContentLine(text) >= 0;
}

export function parseDocuments(text: string, file: string): ParsedDocument[] {
  const out: ParsedDocument[] = [];
  splitDocuments(text).forEach((chunk, index) => {
    // Lines inside a chunk are offset by where the chunk starts in the file.
    let cachedLocate: Map<string, { line: number; column: number } | undefined> | undefined;
    const positionOf = (p: string) => {
      cachedLocate ??= new Map();
      if (!cachedLocate.has(p)) {
        const l = locate(chunk.text, p);
        cachedLocate.set(p, l === undefined ? undefined : { line: l.line + chunk.firstLine, column: l.column });
      }
      return cachedLocate.get(p);
    };
    const lineOf = (p: string) => positionOf(p)?.line;
    const columnOf = (p: string) => positionOf(p)?.column;
    const line = chunk.firstLine + Math.max(0, firstContentLine(chunk.text)) + 1;
    let value: unknown;
    try {
      value = jsyaml.load(chunk.text, { schema: K8S_SCHEMA, filename: file });
    } catch (err) {
      const e = err as jsyaml.YAMLException;
      const l = (e.mark?.line ?? 0) + chunk.firstLine + 1;
      const c = (e.mark?.column ?? 0) + 1;
      out.push({ file, index, line: l, syntaxError: diagnostic("TSMESH_YAML_SYNTAX", "", `line ${l}, column ${c}: ${e.reason ?? e.message}`), lineOf, columnOf: (p) => (p === "" ? c : undefined) });
      return;
    }
    if (value === null || value === undefined) return; // an empty document (a trailing `---`, only comments)
    out.push({ file, index, line, value, lineOf, columnOf });
  });
  return out;
}
