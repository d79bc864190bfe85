// Reads multi-document YAML (and JSON, which is YAML) into documents that remember where they came
// from: file, index within the file, and lines, so every message can point at the source.
import { LineCounter, parseAllDocuments, isMap, isSeq, isScalar, Scalar, visit, type Document, type Node } from "yaml";
import { diagnostic, type Diagnostic } from "../core/errors.js";

export interface ParsedDocument {
  file: string;
  /** Position of the document in its file, from 0 (empty documents count but are not returned). */
  index: number;
  /** 1-based line where the document starts. */
  line: number;
  /** The document as plain data; undefined when it failed to parse. */
  value?: unknown;
  /** Set when the YAML itself is malformed. */
  syntaxError?: Diagnostic;
  /** 1-based line of a field path like `spec.http[0].route`, if it can be found. */
  lineOf(path: string): number | undefined;
}

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

function locate(doc: Document, counter: LineCounter, path: string): number | undefined {
  let node: unknown = doc.contents;
  let last: Node | undefined = doc.contents ?? undefined;
  for (const seg of splitPath(path)) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) break;
      node = pair.value;
      last = (pair.value as Node | null) ?? (pair.key as Node);
      if (!pair.value) break;
    } else if (isSeq(node) && typeof seg === "number") {
      node = node.items[seg];
      if (!node) break;
      last = node as Node;
    } else break;
  }
  const off = last?.range?.[0];
  return off === undefined ? undefined : counter.linePos(off).line;
}

/**
 * Kubernetes reads YAML with go-yaml, which keeps `a:b:` inside a flow sequence as one plain scalar
 * when no space follows the last colon (e.g. an IPv6 address `[001:db8::]`); YAML 1.2 makes it a
 * one-pair map. Rewrite those pairs back to the scalar go-yaml (and so kubectl) would see.
 */
function goYamlFlowScalars(doc: Document, text: string): void {
  visit(doc, {
    Seq(_, seq) {
      if (!seq.flow) return;
      seq.items = seq.items.map((item) => {
        if (!isMap(item) || item.items.length !== 1 || !item.range) return item;
        const { key, value } = item.items[0];
        if (!isScalar(key) || key.type !== "PLAIN" || !key.range || key.range[0] !== item.range[0]) return item;
        if (!(isScalar(value) && value.source === "" && value.value === null)) return item;
        const colon = key.range[1];
        if (text[colon] !== ":" || /\s/.test(text[colon + 1] ?? " ")) return item;
        const s = new Scalar(text.slice(key.range[0], colon + 1));
        s.range = [key.range[0], colon + 1, colon + 1];
        return s;
      });
    },
  });
}

export function parseDocuments(text: string, file: string): ParsedDocument[] {
  const counter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  // parseAllDocuments returns an EmptyStream (array-like) for an empty input.
  const list = Array.isArray(docs) ? docs : [];
  const out: ParsedDocument[] = [];
  list.forEach((doc, index) => {
    const start = doc.range?.[0] ?? 0;
    const line = counter.linePos(start).line;
    const lineOf = (p: string) => locate(doc, counter, p);
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      const pos = e.linePos?.[0] ?? counter.linePos(e.pos[0]);
      const msg = e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
      out.push({
        file,
        index,
        line: pos.line,
        syntaxError: diagnostic("TSMESH_YAML_SYNTAX", "", `line ${pos.line}, column ${pos.col}: ${msg}`),
        lineOf,
      });
      return;
    }
    // An empty document (a trailing `---`, or only comments) is skipped, as kubectl does.
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return;
    goYamlFlowScalars(doc, text);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      out.push({ file, index, line, syntaxError: diagnostic("TSMESH_YAML_SYNTAX", "", (err as Error).message), lineOf });
      return;
    }
    out.push({ file, index, line, value, lineOf });
  });
  return out;
}
