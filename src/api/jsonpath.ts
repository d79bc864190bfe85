// The JSONPath dialect of kubectl (client-go's util/jsonpath) that CRDs' additionalPrinterColumns use:
// `.spec.hosts`, `.status.addresses[*].value`, `[0]`, `[-1]`, `[1:3]`, `['a.b']`, `.*`, and filters
// `[?(@.type=="Programmed")]` / `[?(@.port>8000)]` / `[?(@.name)]`. Recursive descent (`..`),
// unions and template text are not supported and say so. Parsing and evaluation are bounded
// (path length, nesting of filters, values produced), so a hostile path or object costs little.

/** A path that does not parse: the message names the position. */
export class JsonPathError extends Error {}

/** The longest path accepted (kubectl has no limit; CRD columns are short). */
export const MAX_PATH_LENGTH = 1024;
/** Filters inside filters. */
const MAX_FILTER_DEPTH = 4;
/** Values one evaluation may produce across its steps. */
export const MAX_VALUES = 10_000;

type Literal = string | number | boolean;
type Operator = "==" | "!=" | "<" | ">" | "<=" | ">=";

type Step =
  | { t: "field"; name: string }
  | { t: "wildcard" }
  | { t: "index"; start?: number; end?: number; step?: number; slice: boolean }
  | { t: "filter"; left: Step[]; op?: Operator; right?: Literal | Step[] };

export interface JsonPath {
  source: string;
  steps: Step[];
}

class Parser {
  i = 0;
  constructor(readonly s: string) {}

  fail(what: string, at = this.i): never {
    throw new JsonPathError(`${what} at character ${at + 1} of ${JSON.stringify(this.s)}`);
  }

  /** Steps until the end, or (inside a filter) until a character that ends the operand. */
  steps(depth: number, inFilter: boolean): Step[] {
    const out: Step[] = [];
    while (this.i < this.s.length) {
      const c = this.s[this.i];
      if (c === ".") {
        if (this.s[this.i + 1] === ".") this.fail("recursive descent (..) is not supported");
        this.i++;
        out.push(this.field());
      } else if (c === "[") out.push(this.bracket(depth));
      else if (inFilter) break;
      else this.fail(`unexpected ${JSON.stringify(c)}`);
    }
    return out;
  }

  /** A field name after `.`: up to the next `.`, `[` (or an operator or `)` inside a filter); `\.` is a dot. */
  field(): Step {
    let name = "";
    while (this.i < this.s.length) {
      const c = this.s[this.i];
      if (c === "\\" && this.s[this.i + 1] === ".") {
        name += ".";
        this.i += 2;
        continue;
      }
      if (".[]()=!<> \t'\"".includes(c)) break;
      name += c;
      this.i++;
    }
    if (name === "") this.fail("a field name is missing");
    return name === "*" ? { t: "wildcard" } : { t: "field", name };
  }

  bracket(depth: number): Step {
    const open = this.i;
    this.i++;
    const c = this.s[this.i];
    let step: Step;
    if (c === "?") {
      if (depth >= MAX_FILTER_DEPTH) this.fail(`filters nest deeper than ${MAX_FILTER_DEPTH}`);
      this.i++;
      this.expect("(");
      step = this.filter(depth + 1);
      this.expect(")");
    } else if (c === "*") {
      this.i++;
      step = { t: "wildcard" };
    } else if (c === "'" || c === '"') step = { t: "field", name: this.quoted() };
    else step = this.index();
    if (this.s[this.i] !== "]") this.fail(`unterminated [ (opened at character ${open + 1})`);
    this.i++;
    return step;
  }

  expect(ch: string): void {
    if (this.s[this.i] !== ch) this.fail(`expected ${JSON.stringify(ch)}`);
    this.i++;
  }

  quoted(): string {
    const q = this.s[this.i];
    const start = this.i;
    const end = this.s.indexOf(q, this.i + 1);
    if (end < 0) this.fail("unterminated string", start);
    this.i = end + 1;
    return this.s.slice(start + 1, end);
  }

  integer(): number | undefined {
    const m = /^-?\d{1,9}/.exec(this.s.slice(this.i));
    if (!m) return undefined;
    this.i += m[0].length;
    return Number(m[0]);
  }

  /** `[N]`, `[-N]`, `[a:b]`, `[a:b:c]` (each part optional in a slice). */
  index(): Step {
    const at = this.i;
    const start = this.integer();
    if (this.s[this.i] !== ":") {
      if (start === undefined) this.fail("expected an index, *, a quoted name or a ?(filter)", at);
      return { t: "index", start, slice: false };
    }
    this.i++;
    const end = this.integer();
    let step: number | undefined;
    if (this.s[this.i] === ":") {
      this.i++;
      step = this.integer();
      if (step !== undefined && step <= 0) this.fail("a slice's step must be positive", at);
    }
    return { t: "index", start, end, step, slice: true };
  }

  /** `@.path`, `@.path OP literal`, `@.path OP @.path`. */
  filter(depth: number): Step {
    const left = this.operand(depth);
    if (typeof left !== "object") this.fail("a filter starts with @");
    this.spaces();
    const m = /^(==|!=|<=|>=|<|>)/.exec(this.s.slice(this.i));
    if (!m) return { t: "filter", left };
    this.i += m[1].length;
    this.spaces();
    return { t: "filter", left, op: m[1] as Operator, right: this.operand(depth) };
  }

  spaces(): void {
    while (this.s[this.i] === " ") this.i++;
  }

  operand(depth: number): Literal | Step[] {
    this.spaces();
    const c = this.s[this.i];
    if (c === "@") {
      this.i++;
      return this.steps(depth, true);
    }
    if (c === "'" || c === '"') return this.quoted();
    const m = /^(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false)/.exec(this.s.slice(this.i));
    if (!m) this.fail("expected @, a quoted string, a number, true or false");
    this.i += m[1].length;
    return m[1] === "true" ? true : m[1] === "false" ? false : Number(m[1]);
  }
}

/** Parses a kubectl JSONPath (`.a.b[0]`, with or without `{…}` and `$`). Throws JsonPathError. */
export function parseJsonPath(source: string): JsonPath {
  if (source.length > MAX_PATH_LENGTH) throw new JsonPathError(`the path is longer than ${MAX_PATH_LENGTH} characters`);
  let s = source.trim();
  if (s.startsWith("{")) {
    if (!s.endsWith("}")) throw new JsonPathError(`unclosed { in ${JSON.stringify(source)}`);
    s = s.slice(1, -1);
  }
  if (s.startsWith("$")) s = s.slice(1);
  if (s !== "" && s[0] !== "." && s[0] !== "[") throw new JsonPathError(`a path starts with . or [ (not ${JSON.stringify(s[0])}) in ${JSON.stringify(source)}`);
  const p = new Parser(s);
  return { source, steps: p.steps(0, false) };
}

/** An evaluation that fails (an index out of range, a filter on a non-list): kubectl prints an empty cell. */
export class JsonPathEvalError extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function compare(op: Operator, a: unknown, b: unknown): boolean {
  const same = (typeof a === "number" && typeof b === "number") || (typeof a === "string" && typeof b === "string") || (typeof a === "boolean" && typeof b === "boolean");
  if (!same) throw new JsonPathEvalError(`cannot compare ${JSON.stringify(a)} with ${JSON.stringify(b)}`);
  if (op === "==") return a === b;
  if (op === "!=") return a !== b;
  if (typeof a === "boolean") throw new JsonPathEvalError(`${op} does not order booleans`);
  const [x, y] = [a as number | string, b as number | string];
  return op === "<" ? x < y : op === ">" ? x > y : op === "<=" ? x <= y : x >= y;
}

class Budget {
  used = 0;
  take(n: number): void {
    this.used += n;
    if (this.used > MAX_VALUES) throw new JsonPathEvalError(`the path produces more than ${MAX_VALUES} values`);
  }
}

function run(steps: readonly Step[], input: unknown[], budget: Budget): unknown[] {
  let values = input;
  for (const step of steps) {
    const next: unknown[] = [];
    for (const v of values) {
      if (v === null || v === undefined) continue;
      switch (step.t) {
        case "field":
          // Own keys only: `.constructor` or `.__proto__` name no data.
          if (isObject(v) && Object.hasOwn(v, step.name)) next.push(v[step.name]);
          break;
        case "wildcard":
          if (Array.isArray(v)) next.push(...v);
          else if (isObject(v)) next.push(...Object.keys(v).sort().map((k) => v[k]));
          break;
        case "index": {
          if (!Array.isArray(v)) throw new JsonPathEvalError("an index applies to a list");
          const len = v.length;
          const norm = (n: number) => (n < 0 ? n + len : n);
          if (!step.slice) {
            const i = norm(step.start!);
            if (i < 0 || i >= len) throw new JsonPathEvalError(`index ${step.start} is out of range (length ${len})`);
            next.push(v[i]);
            break;
          }
          const from = Math.max(0, norm(step.start ?? 0));
          const to = Math.min(len, norm(step.end ?? len));
          for (let i = from; i < to; i += step.step ?? 1) next.push(v[i]);
          break;
        }
        case "filter": {
          if (!Array.isArray(v)) throw new JsonPathEvalError("a filter applies to a list");
          for (const item of v) {
            const lefts = run(step.left, [item], budget);
            if (!step.op) {
              if (lefts.length > 0) next.push(item);
              continue;
            }
            if (lefts.length === 0) continue;
            const rights = typeof step.right === "object" ? run(step.right, [item], budget) : [step.right];
            if (rights.length === 0) continue;
            if (lefts.length > 1 || rights.length > 1) throw new JsonPathEvalError("a filter compares one value at a time");
            if (compare(step.op, lefts[0], rights[0])) next.push(item);
          }
          break;
        }
      }
    }
    budget.take(next.length);
    values = next;
  }
  return values;
}

/** The values a path selects in `root`, in order (missing fields select nothing). Throws JsonPathEvalError. */
export function evaluateJsonPath(path: JsonPath, root: unknown): unknown[] {
  return run(path.steps, [root], new Budget());
}
