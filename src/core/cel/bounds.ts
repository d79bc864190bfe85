// The bounds a CEL expression from config must keep before tsmesh plans it: its length, how deeply
// it nests (the parser and the evaluator recurse per level, so an unbounded nesting would end the
// process with a stack overflow), and how many comprehension iterations one evaluation may run (the
// only loops CEL has). Nesting is measured twice: on the text before parsing (brackets outside
// literals — the parser recurses per bracket) and on the parsed tree (long operator and selection
// chains nest without brackets). Iterations are counted at run time by a guard wrapped around each
// comprehension's loop condition.
import type { Expr } from "@bufbuild/cel-spec/cel/expr/syntax_pb.js";

/**
 * cel-go and cel-cpp accept up to 100k code points, but the parser here takes ~50 µs a character
 * (~0.3 s at this bound on a loaded machine); Istio's and Envoy's expressions are a few dozen.
 */
export const CEL_MAX_EXPRESSION_LENGTH = 4096;
/** Brackets, and levels of the parsed tree (cel-go's parser stops at 250; tsmesh's parser recurses deeper per level). */
export const CEL_MAX_NESTING = 100;
/**
 * Comprehension iterations (`all`, `exists`, `map`, `filter` …) one evaluation may run, nested ones
 * included: enough for a pass over a request's headers (Envoy allows 100) ten times over, while an
 * evaluation stays in the low milliseconds (~1-10 µs an iteration here).
 */
export const CEL_MAX_EVAL_STEPS = 1000;

/** The internal function the step guard calls (a name no CEL source can spell). */
export const STEP_GUARD = "@tsmesh_step_guard";

/**
 * The deepest bracket nesting in `src` outside string and bytes literals, with the 0-based offset
 * where it first passes `limit` (undefined when it never does).
 */
export function bracketOverflow(src: string, limit: number): number | undefined {
  let depth = 0;
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === "'" || c === '"') {
      const raw = i > 0 && (src[i - 1] === "r" || src[i - 1] === "R");
      i = skipLiteral(src, i, raw);
      continue;
    }
    if (c === "(" || c === "[" || c === "{") {
      if (++depth > limit) return i;
    } else if (c === ")" || c === "]" || c === "}") {
      depth--;
    }
    i++;
  }
  return undefined;
}

/** The offset after the string literal starting at `i` (its end of input when unterminated). */
function skipLiteral(src: string, i: number, raw: boolean): number {
  const q = src[i];
  const triple = src.startsWith(q + q + q, i);
  const close = triple ? q + q + q : q;
  let j = i + close.length;
  while (j < src.length) {
    if (!raw && src[j] === "\\") {
      j += 2;
      continue;
    }
    if (src.startsWith(close, j)) return j + close.length;
    if (!triple && (src[j] === "\n" || src[j] === "\r")) return j;
    j++;
  }
  return j;
}

/** The children of one expression node. */
function children(e: Expr): Expr[] {
  const k = e.exprKind;
  switch (k.case) {
    case "selectExpr":
      return k.value.operand ? [k.value.operand] : [];
    case "callExpr":
      return [...(k.value.target ? [k.value.target] : []), ...k.value.args];
    case "listExpr":
      return k.value.elements;
    case "structExpr":
      return k.value.entries.flatMap((en) => [...(en.keyKind.case === "mapKey" ? [en.keyKind.value] : []), ...(en.value ? [en.value] : [])]);
    case "comprehensionExpr": {
      const c = k.value;
      return [c.iterRange, c.accuInit, c.loopCondition, c.loopStep, c.result].filter((x): x is Expr => x !== undefined);
    }
    default:
      return [];
  }
}

/** The depth of the tree (iteratively: the tree may be deeper than the stack allows). */
export function treeDepth(root: Expr): number {
  let max = 0;
  const stack: [Expr, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [e, d] = stack.pop()!;
    if (d > max) max = d;
    for (const c of children(e)) stack.push([c, d + 1]);
  }
  return max;
}

/** Calls `visit` on every node (iteratively, parents before children). */
export function forEachNode(root: Expr, visit: (e: Expr) => void): void {
  const stack: Expr[] = [root];
  while (stack.length > 0) {
    const e = stack.pop()!;
    visit(e);
    stack.push(...children(e));
  }
}

/** The largest node id in the tree (new nodes take ids after it). */
function maxId(root: Expr): bigint {
  let max = 0n;
  forEachNode(root, (e) => {
    if (e.id > max) max = e.id;
  });
  return max;
}

/**
 * Wraps every comprehension's loop condition in a call to STEP_GUARD, which counts the iteration
 * and stops the loop once the budget is spent (the evaluation's result is then an error). `make`
 * builds a call node (the caller owns the protobuf factory). Returns how many loops were guarded.
 */
export function guardComprehensions(root: Expr, make: (id: bigint, fn: string, arg: Expr) => Expr): number {
  let next = maxId(root) + 1n;
  let guarded = 0;
  forEachNode(root, (e) => {
    if (e.exprKind.case !== "comprehensionExpr") return;
    const c = e.exprKind.value;
    if (c.loopCondition !== undefined) {
      c.loopCondition = make(next++, STEP_GUARD, c.loopCondition);
      guarded++;
    }
  });
  return guarded;
}
