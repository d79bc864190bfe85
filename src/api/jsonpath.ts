// kubectl's JSONPath templates (client-go's util/jsonpath), parsed as client-go parses them: literal
// text with `{…}` actions; inside an action `.field` (`\.` escapes a dot), `..` (recursive descent),
// `*`, `[N]`, `[a:b:c]`, `['key']` (read as `.key`), unions `[a,b]`, filters `[?(@.x OP y)]`
// (`==` `!=` `<` `>` `<=` `>=`, or existence), quoted text (`{"\n"}`), numbers, true/false, and the
// identifiers `range` and `end`; `@` and `$` are the current object. The error messages are
// client-go's. Evaluation is in jsonpath-eval.ts. Templates are bounded in length.

/** A template or path that does not parse: the message is client-go's. */
export class JsonPathError extends Error {}

/** The longest template accepted (kubectl has no limit; a hand-written one is far shorter). */
export const MAX_PATH_LENGTH = 64 * 1024;

/** A slice bound: client-go's ParamsEntry. `derived`: the end of `[N]`, which is N+1. */
export interface SliceParam {
  value: number;
  known: boolean;
  derived: boolean;
}

export type PathNode =
  | { t: "field"; name: string }
  | { t: "wildcard" }
  | { t: "recursive" }
  | { t: "array"; params: [SliceParam, SliceParam, SliceParam] }
  | { t: "union"; lists: PathNode[][] }
  | { t: "filter"; left: PathNode[]; right: PathNode[]; op: string }
  | { t: "text"; text: string }
  | { t: "int"; value: number }
  | { t: "float"; value: number }
  | { t: "bool"; value: boolean }
  | { t: "identifier"; name: string };

/** A template's top level: literal text, or an action (`range` and `end` are identifiers in actions, paired when run, as client-go pairs them). */
export type TemplateNode = { t: "text"; text: string } | { t: "action"; nodes: PathNode[] };

export interface JsonPathTemplate {
  source: string;
  nodes: TemplateNode[];
}

/** One action's path, as a CRD printer column or custom column evaluates it. */
export interface JsonPath {
  source: string;
  nodes: PathNode[];
}

const isSpace = (c: string) => c === " " || c === "\t";
const isEndOfLine = (c: string) => c === "\r" || c === "\n";
const isAlphaNumeric = (c: string) => /^[\p{L}\p{Nd}_]$/u.test(c);
const isDigit = (c: string) => /^\p{Nd}$/u.test(c);
/** Where a field name or identifier ends (undefined: the end of the input). */
const isTerminator = (c: string | undefined) => c === undefined || isSpace(c) || isEndOfLine(c) || ".,[]$@{}".includes(c);

/** Go's %#U of a rune: `U+0021 '!'` (the character only when it is printable). */
function goRune(c: string): string {
  const cp = c.codePointAt(0)!;
  const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u.test(c);
  return `U+${cp.toString(16).toUpperCase().padStart(4, "0")}${printable ? ` '${c}'` : ""}`;
}

class Parser {
  pos = 0;
  constructor(readonly input: string) {}

  /** The next character (a whole code point), or undefined at the end. */
  peek(): string | undefined {
    const cp = this.input.codePointAt(this.pos);
    return cp === undefined ? undefined : String.fromCodePoint(cp);
  }

  next(): string | undefined {
    const c = this.peek();
    if (c !== undefined) this.pos += c.length;
    return c;
  }

  /** Text and actions until the end. */
  template(): TemplateNode[] {
    const out: TemplateNode[] = [];
    while (this.pos < this.input.length) {
      const open = this.input.indexOf("{", this.pos);
      if (open < 0) {
        out.push({ t: "text", text: this.input.slice(this.pos) });
        break;
      }
      if (open > this.pos) out.push({ t: "text", text: this.input.slice(this.pos, open) });
      this.pos = open + 1;
      out.push({ t: "action", nodes: this.action() });
    }
    return out;
  }

  /** The inside of `{…}`, up to and past its `}`. */
  action(): PathNode[] {
    const nodes: PathNode[] = [];
    for (;;) {
      const rest = this.input.startsWith.bind(this.input);
      if (rest("}", this.pos)) {
        this.pos++;
        return nodes;
      }
      if (rest("[?(", this.pos)) {
        nodes.push(this.filter());
        continue;
      }
      if (rest("..", this.pos)) {
        if (nodes.at(-1)?.t === "recursive") throw new JsonPathError("invalid multiple recursive descent");
        this.pos += 2;
        nodes.push({ t: "recursive" });
        const c = this.peek();
        if (c !== undefined && isAlphaNumeric(c)) nodes.push(this.field());
        continue;
      }
      const c = this.next();
      if (c === undefined || isEndOfLine(c)) throw new JsonPathError("unclosed action");
      if (c === " " || c === "@" || c === "$") continue;
      if (c === "[") nodes.push(...this.array());
      else if (c === '"' || c === "'") nodes.push(this.quoted(c));
      else if (c === ".") nodes.push(this.field());
      else if (c === "+" || c === "-" || isDigit(c)) {
        this.pos -= c.length;
        nodes.push(this.number());
      } else if (isAlphaNumeric(c)) {
        this.pos -= c.length;
        nodes.push(this.identifier());
      } else throw new JsonPathError(`unrecognized character in action: ${goRune(c)}`);
    }
  }

  /** A field name up to an unescaped terminator; `\x` keeps x (the backslashes are dropped). */
  field(): PathNode {
    const start = this.pos;
    for (;;) {
      const c = this.peek();
      if (c === "\\") {
        this.next();
        this.next();
      } else if (isTerminator(c)) break;
      else this.next();
    }
    const raw = this.input.slice(start, this.pos);
    return raw === "*" ? { t: "wildcard" } : { t: "field", name: raw.replaceAll("\\", "") };
  }

  identifier(): PathNode {
    const start = this.pos;
    while (!isTerminator(this.peek())) this.next();
    const value = this.input.slice(start, this.pos);
    if (value === "true" || value === "false") return { t: "bool", value: value === "true" };
    return { t: "identifier", name: value };
  }

  number(): PathNode {
    const start = this.pos;
    if (this.peek() === "+" || this.peek() === "-") this.next();
    for (let c = this.peek(); c !== undefined && (c === "." || isDigit(c)); c = this.peek()) this.next();
    const value = this.input.slice(start, this.pos);
    if (/^[+-]?[0-9]+$/.test(value) && BigInt(value) >= -(2n ** 63n) && BigInt(value) < 2n ** 63n) return { t: "int", value: Number(value) };
    // Go's ParseFloat over what this scan takes: digits with at most one point, and some digit.
    if (/^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$/.test(value)) return { t: "float", value: Number(value) };
    throw new JsonPathError(`cannot parse number ${value}`);
  }

  /** `[…]` after its `[`: an index or slice, `*`, a union, or `'key'` (read as `.key`). */
  array(): PathNode[] {
    const start = this.pos;
    for (;;) {
      const c = this.next();
      if (c === undefined || c === "\n") throw new JsonPathError("unterminated array");
      if (c === "]") break;
    }
    let text = this.input.slice(start, this.pos - 1);
    if (text === "*") text = ":";
    const parts = text.split(",");
    if (parts.length > 1) return [{ t: "union", lists: parts.map((p) => subAction(`[${p.replace(/^ +| +$/g, "")}]`)) }];
    const key = /^'([^']*)'$/.exec(text);
    if (key) return subAction(`.${key[1]}`);
    const m = /^(-?[0-9]*)(:-?[0-9]*)?(:-?[0-9]*)?$/.exec(text);
    if (!m) throw new JsonPathError(`invalid array index ${text}`);
    const params: SliceParam[] = [];
    for (let i = 0; i < 3; i++) {
      let v = m[i + 1] ?? "";
      if (v !== "") {
        if (i > 0) v = v.slice(1);
        if (i > 0 && v === "") params.push({ value: 0, known: false, derived: false });
        else {
          if (!/^-?[0-9]+$/.test(v) || BigInt(v) >= 2n ** 63n || BigInt(v) < -(2n ** 63n)) throw new JsonPathError(`array index ${v} is not a number`);
          params.push({ value: Number(v), known: true, derived: false });
        }
      } else if (i === 1) params.push({ value: params[0].value + 1, known: true, derived: true });
      else params.push({ value: 0, known: false, derived: false });
    }
    return [{ t: "array", params: params as [SliceParam, SliceParam, SliceParam] }];
  }

  /** `[?(…)]` from its `[`: up to the first `)` outside quotes, then `]`. */
  filter(): PathNode {
    this.pos += 3;
    const start = this.pos;
    let begin = false;
    let end = false;
    let pair = "";
    for (;;) {
      const c = this.next();
      if (c === undefined || c === "\n") throw new JsonPathError("unterminated filter");
      if (c === '"' || c === "'") {
        if (!begin) {
          begin = true;
          pair = c;
          continue;
        }
        if (this.input[this.pos - 2] !== "\\" && c === pair) end = true;
      } else if (c === ")" && begin === end) break;
    }
    if (this.next() !== "]") throw new JsonPathError("unclosed array expect ]");
    const text = this.input.slice(start, this.pos - 2);
    const m = /^([^!<>=]+)([!<>=]+)(.+?)$/.exec(text);
    if (!m) return { t: "filter", left: subAction(text), right: [], op: "exists" };
    return { t: "filter", left: subAction(m[1]), right: subAction(m[3]), op: m[2] };
  }

  /** A quoted string after its opening quote, unquoted as Go's strconv does (single quotes too). */
  quoted(quote: string): PathNode {
    const start = this.pos - 1;
    for (;;) {
      const c = this.next();
      if (c === undefined || c === "\n") throw new JsonPathError("unterminated quoted string");
      if (c === quote && this.input[this.pos - 2] !== "\\") break;
    }
    const raw = this.input.slice(start, this.pos);
    const text = unquote(raw);
    if (text === undefined) throw new JsonPathError(`unquote string ${raw} error invalid syntax`);
    return { t: "text", text };
  }
}

/** `{text}`'s first action, as client-go's parseAction reads union members, keys and filter operands. */
function subAction(text: string): PathNode[] {
  const parsed = new Parser(`{${text}}`).template();
  const first = parsed[0];
  return first?.t === "action" ? first.nodes : [];
}

const SIMPLE_ESCAPES: Record<string, string> = { a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v", "\\": "\\" };

/** Go's UnquoteExtend: strconv.Unquote's escapes, in double or single quotes; undefined: invalid syntax. */
function unquote(raw: string): string | undefined {
  const quote = raw[0];
  if (raw.length < 2 || raw.at(-1) !== quote) return undefined;
  const s = raw.slice(1, -1);
  let out = "";
  for (let i = 0; i < s.length; ) {
    const c = s[i];
    if (c === quote) return undefined;
    if (c !== "\\") {
      out += c;
      i++;
      continue;
    }
    const e = s[i + 1];
    if (e === undefined) return undefined;
    if (e in SIMPLE_ESCAPES) {
      out += SIMPLE_ESCAPES[e];
      i += 2;
    } else if (e === quote) {
      out += e;
      i += 2;
    } else if (e === "x" || e === "u" || e === "U") {
      const n = e === "x" ? 2 : e === "u" ? 4 : 8;
      const hex = s.slice(i + 2, i + 2 + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) return undefined;
      const cp = parseInt(hex, 16);
      if (e === "x") out += String.fromCharCode(cp);
      else if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) return undefined;
      else out += String.fromCodePoint(cp);
      i += 2 + n;
    } else if (/[0-7]/.test(e)) {
      const oct = s.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) return undefined;
      out += String.fromCharCode(parseInt(oct, 8));
      i += 4;
    } else return undefined;
  }
  return out;
}

/** Parses a template as `kubectl get -o jsonpath=…` does. Throws JsonPathError. */
export function parseJsonPathTemplate(source: string): JsonPathTemplate {
  if (source.length > MAX_PATH_LENGTH) throw new JsonPathError(`the template is longer than ${MAX_PATH_LENGTH} characters`);
  return { source, nodes: new Parser(source).template() };
}

/**
 * Parses one path as the API server reads a CRD column's jsonPath (`{` + path + `}`); a path already
 * in braces is taken as it is. Throws JsonPathError.
 */
export function parseJsonPath(source: string): JsonPath {
  if (source.length > MAX_PATH_LENGTH) throw new JsonPathError(`the path is longer than ${MAX_PATH_LENGTH} characters`);
  const text = source.trimStart().startsWith("{") ? source.trim() : `{${source}}`;
  const parsed = new Parser(text).template();
  const actions = parsed.filter((n) => n.t === "action");
  if (parsed.length !== 1 || actions.length !== 1) throw new JsonPathError(`${JSON.stringify(source)} is not one path`);
  return { source, nodes: actions[0].nodes };
}
