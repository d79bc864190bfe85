// Runs kubectl's JSONPath (parsed by jsonpath.ts) over decoded JSON as client-go runs it: each action
// yields a list of values; a missing key yields nothing when missing keys are allowed (kubectl get's
// default, --allow-missing-template-keys) and is "KEY is not found" otherwise; an index outside a
// list is an error either way; `{range}` runs its body once per value; and the printing of kubectl's
// jsonpath printer (strings bare, numbers and booleans as Go prints them, null as `null`, lists and
// maps as JSON, values of one action separated by a space). Map keys are walked in sorted order
// (Go's order is random). Every value produced counts against a budget, so no template or object
// makes the work unbounded; the walk of `..` uses no recursion.
import { goJson, goJsonIndent, goNumber, goSprint, goTypeName, isGoInt } from "./go-value.js";
import type { JsonPath, JsonPathTemplate, PathNode } from "./jsonpath.js";

/** An evaluation that fails: the message is client-go's. `partial`: what client-go's walk returns with the error. */
export class JsonPathEvalError extends Error {
  constructor(
    message: string,
    readonly partial: unknown[] = [],
  ) {
    super(message);
  }
}

/** Values one path evaluation may produce (a printer column's cell). */
export const MAX_VALUES = 10_000;
/** Values one template execution may produce (a whole `get -o jsonpath`). */
export const MAX_TEMPLATE_VALUES = 1_000_000;

export interface EvalOptions {
  /** kubectl's --allow-missing-template-keys (its default: true). */
  allowMissingKeys: boolean;
  maxValues?: number;
}

type Literal = { value: unknown; kind: "int" | "float" | "bool" };
/** Float literals of filters and actions, wrapped so they keep Go's float64 kind. */
const literals = new WeakSet<object>();

/** A decoded JSON object (a float literal's wrapper is not one). */
const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v) && !literals.has(v);

class Evaluator {
  used = 0;
  // client-go's range bookkeeping: `range` and `end` count here as they are evaluated.
  beginRange = 0;
  inRange = 0;
  endRange = 0;
  lastEnd = -1;
  constructor(
    readonly allowMissingKeys: boolean,
    readonly maxValues: number,
  ) {}

  take(n: number): void {
    this.used += n;
    if (this.used > this.maxValues) throw new JsonPathEvalError(`the template produces more than ${this.maxValues} values`);
  }

  list(input: unknown[], nodes: readonly PathNode[]): unknown[] {
    let cur = input;
    for (const node of nodes) {
      cur = this.node(cur, node);
      this.take(cur.length);
    }
    return cur;
  }

  node(input: unknown[], node: PathNode): unknown[] {
    switch (node.t) {
      case "text":
        return [node.text];
      case "int":
      case "float":
      case "bool":
        return input.map(() => literal(node));
      case "field":
        return this.field(input, node.name);
      case "wildcard":
        return input.flatMap(children);
      case "recursive":
        return this.recursive(input);
      case "array":
        return this.array(input, node.params);
      case "union":
        return node.lists.flatMap((l) => this.wrap(() => this.list(input, l), input));
      case "filter":
        return this.filter(input, node);
      case "identifier":
        if (node.name === "range") {
          this.beginRange++;
          return input;
        }
        if (node.name === "end") {
          if (this.inRange === 0) throw new JsonPathEvalError("not in range, nothing to end");
          this.endRange++;
          return [];
        }
        throw new JsonPathEvalError(`unrecognized identifier ${node.name}`, input);
    }
  }

  /** Runs `f`; an error keeps its message but carries `partial` as client-go's union does. */
  wrap(f: () => unknown[], partial: unknown[]): unknown[] {
    try {
      return f();
    } catch (e) {
      if (e instanceof JsonPathEvalError) throw new JsonPathEvalError(e.message, partial);
      throw e;
    }
  }

  field(input: unknown[], name: string): unknown[] {
    if (input.length === 0) return [];
    const out: unknown[] = [];
    // Own keys only: `.constructor` or `.__proto__` name no data.
    for (const v of input) if (isMap(v) && Object.hasOwn(v, name)) out.push(v[name]);
    if (out.length === 0 && !this.allowMissingKeys) throw new JsonPathEvalError(`${name} is not found`);
    return out;
  }

  /** Every value that has something inside (maps, lists, non-empty strings) with what is inside it, depth first. */
  recursive(input: unknown[]): unknown[] {
    const out: unknown[] = [];
    const stack = [...input].reverse();
    while (stack.length > 0) {
      const v = stack.pop();
      const inner = children(v);
      if (inner.length === 0) continue;
      out.push(v);
      for (let i = inner.length - 1; i >= 0; i--) stack.push(inner[i]);
    }
    return out;
  }

  array(input: unknown[], params: readonly [{ value: number; known: boolean; derived: boolean }, { value: number; known: boolean; derived: boolean }, { value: number; known: boolean; derived: boolean }]): unknown[] {
    const out: unknown[] = [];
    for (const v of input) {
      if (v === null || v === undefined) continue;
      if (!Array.isArray(v)) throw new JsonPathEvalError(`${goTypeName(v)} is not array or slice`, input);
      const len = v.length;
      let start = params[0].known ? params[0].value : 0;
      if (start < 0) start += len;
      let end = params[1].known ? params[1].value : len;
      if (end < 0 || (end === 0 && params[1].derived)) end += len;
      // Nothing asked for: nothing, and on to the next list (client-go before its fix stopped here).
      if (end === start) continue;
      if (start >= len || start < 0) throw new JsonPathEvalError(`array index out of bounds: index ${start}, length ${len}`, input);
      if (end > len || end < 0) throw new JsonPathEvalError(`array index out of bounds: index ${end - 1}, length ${len}`, input);
      if (start > end) throw new JsonPathEvalError(`starting index ${start} is greater than ending index ${end}`, input);
      const step = params[2].known ? params[2].value : 1;
      if (step <= 0) throw new JsonPathEvalError("step must be > 0", input);
      for (let i = start; i < end; i += step) out.push(v[i]);
    }
    return out;
  }

  filter(input: unknown[], node: Extract<PathNode, { t: "filter" }>): unknown[] {
    const out: unknown[] = [];
    for (const v of input) {
      if (!Array.isArray(v)) throw new JsonPathEvalError(`${goSprint(v)} is not array or slice and cannot be filtered`, input);
      for (const item of v) {
        if (node.op === "exists") {
          // client-go keeps what the walk returned with an error, and tests that.
          let lefts: unknown[];
          try {
            lefts = this.list([item], node.left);
          } catch (e) {
            if (!(e instanceof JsonPathEvalError) || e.message.startsWith("the template produces")) throw e;
            lefts = e.partial;
          }
          if (lefts.length > 0) out.push(item);
          continue;
        }
        const lefts = this.list([item], node.left);
        if (lefts.length === 0) continue;
        if (lefts.length > 1) throw new JsonPathEvalError("can only compare one element at a time", input);
        const rights = this.list([item], node.right);
        if (rights.length === 0) continue;
        if (rights.length > 1) throw new JsonPathEvalError("can only compare one element at a time", input);
        if (compare(node.op, lefts[0], rights[0])) out.push(item);
      }
    }
    return out;
  }
}


/** A number literal keeps its Go kind (`1.0` is a float64 even though JavaScript says it is whole). */
function literal(node: Extract<PathNode, { t: "int" | "float" | "bool" }>): unknown {
  if (node.t !== "float") return node.value;
  const l: Literal = { value: node.value, kind: "float" };
  literals.add(l);
  return l;
}

const unwrap = (v: unknown): unknown => (typeof v === "object" && v !== null && literals.has(v) ? (v as Literal).value : v);

/** What is inside a value as client-go's `*` and `..` see it: a map's values, a list's items, a string's bytes. */
function children(v: unknown): unknown[] {
  v = unwrap(v);
  if (Array.isArray(v)) return v;
  if (isMap(v))
    return Object.keys(v)
      .sort()
      .map((k) => v[k]);
  if (typeof v === "string") return [...Buffer.from(v, "utf8")];
  return [];
}

/** The comparison kind of Go's text/template (funcs.go): int, float, string, bool, or none. */
function kindOf(v: unknown): "int" | "float" | "string" | "bool" | undefined {
  if (typeof v === "object" && v !== null && literals.has(v)) return (v as Literal).kind === "float" ? "float" : "int";
  if (typeof v === "number") return isGoInt(v) ? "int" : "float";
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "bool";
  return undefined;
}

function compare(op: string, a: unknown, b: unknown): boolean {
  const ka = kindOf(a);
  const kb = kindOf(b);
  if (!["==", "!=", "<", ">", "<=", ">="].includes(op)) throw new JsonPathEvalError(`unrecognized filter operator ${op}`);
  if (ka === undefined || kb === undefined) throw new JsonPathEvalError("invalid type for comparison");
  if (ka !== kb) throw new JsonPathEvalError("incompatible types for comparison");
  const [x, y] = [unwrap(a), unwrap(b)];
  const equal = x === y;
  if (op === "==") return equal;
  if (op === "!=") return !equal;
  if (ka === "bool") throw new JsonPathEvalError("invalid type for comparison");
  // Go compares strings by their bytes.
  const less = ka === "string" ? Buffer.compare(Buffer.from(x as string), Buffer.from(y as string)) < 0 : (x as number) < (y as number);
  if (op === "<") return less;
  if (op === ">=") return !less;
  if (op === "<=") return less || equal;
  return !(less || equal);
}

/** The values a path selects (missing keys allowed), in order: a CRD column's or a custom column's cell. Throws JsonPathEvalError. */
export function evaluateJsonPath(path: JsonPath, root: unknown, o: Partial<EvalOptions> = {}): unknown[] {
  const ev = new Evaluator(o.allowMissingKeys ?? true, o.maxValues ?? MAX_VALUES);
  return ev.list([root], path.nodes).map(unwrap);
}

/** Ranges inside ranges (client-go has no limit; each level is a call here). */
export const MAX_RANGE_DEPTH = 64;

/**
 * client-go's FindResults: one list of values per text or action. `{range …}` runs what follows once
 * per value up to its `{end}`, then goes on after the last `{end}` met; without one, client-go goes
 * on with what follows the range, so its body runs once more over the outer object, and so does this.
 * Throws JsonPathEvalError.
 */
export function findResults(template: JsonPathTemplate, root: unknown, o: EvalOptions): unknown[][] {
  const ev = new Evaluator(o.allowMissingKeys, o.maxValues ?? MAX_TEMPLATE_VALUES);
  const nodes = template.nodes;
  const run = (from: number, data: unknown, depth: number): unknown[][] => {
    if (depth > MAX_RANGE_DEPTH) throw new JsonPathEvalError(`ranges nest deeper than ${MAX_RANGE_DEPTH}`);
    const out: unknown[][] = [];
    for (let i = from; i < nodes.length; i++) {
      const node = nodes[i];
      const results = node.t === "text" ? [node.text] : ev.list([data], node.nodes).map(unwrap);
      ev.take(node.t === "text" ? 1 : 0);
      if (ev.endRange > 0 && ev.endRange <= ev.inRange) {
        ev.endRange--;
        ev.lastEnd = i;
        break;
      }
      if (ev.beginRange > 0) {
        ev.beginRange--;
        ev.inRange++;
        // An empty range still walks its body (with nothing), so its errors show and its end is found.
        if (results.length === 0) run(i + 1, null, depth + 1);
        for (const item of results) out.push(...run(i + 1, item, depth + 1));
        ev.inRange--;
        if (ev.lastEnd > i) i = ev.lastEnd;
        continue;
      }
      out.push(results);
    }
    return out;
  };
  return run(0, root, 0);
}

/** A value as kubectl's jsonpath printer writes it. */
export function jsonPathText(v: unknown): string {
  if (typeof v === "object" && v !== null) return goJson(v);
  if (v === null || v === undefined) return "null";
  if (typeof v === "number") return isGoInt(v) ? BigInt(v).toString() : goNumber(v);
  return String(v);
}

/**
 * kubectl's `-o jsonpath=` output of one object: each action's values joined by a space, actions and
 * text joined by nothing. `asJson` (-o jsonpath-as-json): each action's values as an indented JSON list.
 */
export function executeJsonPath(template: JsonPathTemplate, root: unknown, o: EvalOptions & { asJson?: boolean }): string {
  const results = findResults(template, root, o);
  if (o.asJson) return results.map((r) => `${goJsonIndent(r)}\n`).join("");
  return results.map((r) => r.map(jsonPathText).join(" ")).join("");
}
