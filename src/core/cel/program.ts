// CEL (the Common Expression Language) for the config tsmesh reads — Envoy's access-log filter
// expressions, istio.stats dimensions, Telemetry API tags: compileCel() turns an expression into a
// program once per config, and program.eval() runs it against an activation (the stream's
// attributes) any number of times. Parsing and evaluation are @bufbuild/cel (conformance-tested
// against cel-spec); this module adds what config from the network needs on top: bounded length,
// nesting and loop iterations, RE2 regexes validated at compile time, compile errors that name
// the column, and an evaluation that returns an error value instead of throwing.
import type { CelEnv, CelInput, CelValue } from "@bufbuild/cel";
import type { Expr } from "@bufbuild/cel-spec/cel/expr/syntax_pb.js";
import type { RE2JS } from "@bufbuild/re2";
import { bracketOverflow, CEL_MAX_EVAL_STEPS, CEL_MAX_EXPRESSION_LENGTH, CEL_MAX_NESTING, forEachNode, guardComprehensions, STEP_GUARD, treeDepth } from "./bounds.js";
import { celRuntime } from "./runtime.js";

export type { CelValue, CelInput };

/** An expression tsmesh cannot compile: the message names the line (when not the first) and column. */
export class CelError extends Error {
  constructor(
    readonly expression: string,
    /** 0-based offset into the expression. */
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`CEL ${position(expression, offset)}: ${reason}`);
    this.name = "CelError";
  }
}

/** What an evaluation that failed returns (a missing attribute, a type mismatch, a division by zero…). */
export class CelEvalError {
  constructor(readonly message: string) {}
}

/** Resolves the expression's top-level identifiers (`request`, `response`, …); undefined = not bound. Called only for names an expression reads. */
export interface CelActivation {
  resolve(name: string): CelInput | undefined;
}

export interface CelProgram {
  readonly expression: string;
  /** Never throws: a failed evaluation is a CelEvalError. */
  eval(activation: CelActivation): CelValue | CelEvalError;
}

function position(src: string, offset: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < src.length; i++) {
    if (src[i] === "\n") {
      line++;
      lineStart = i + 1;
    }
  }
  const column = offset - lineStart + 1;
  return line > 1 ? `line ${line}, column ${column}` : `column ${column}`;
}

/** Regexes from expressions, compiled once (RE2: linear time, no backtracking). Bounded: cleared when full. */
const REGEX_CACHE_SIZE = 256;
/** A pattern computed at evaluation (not a literal) longer than this is an evaluation error. */
const MAX_DYNAMIC_PATTERN = 1024;
const regexCache = new Map<string, RE2JS>();

function compileRegex(pattern: string): RE2JS {
  let re = regexCache.get(pattern);
  if (re === undefined) {
    if (pattern.length > MAX_DYNAMIC_PATTERN) throw new Error(`regex longer than ${MAX_DYNAMIC_PATTERN} characters`);
    re = celRuntime().re2.RE2JS.compile(pattern);
    if (regexCache.size >= REGEX_CACHE_SIZE) regexCache.clear();
    regexCache.set(pattern, re);
  }
  return re;
}

// Evaluation is synchronous, so the activation and the step count of the evaluation under way live
// here (saved and restored around each eval, so one started from inside another stays correct).
let activation: CelActivation | undefined;
let steps = 0;

const bindings: Record<string, CelInput> = new Proxy(Object.create(null) as Record<string, CelInput>, {
  get: (_t, name) => (typeof name === "string" ? activation?.resolve(name) : undefined),
});

let env: CelEnv | undefined;

function celEnvironment(): CelEnv {
  if (env === undefined) {
    const { celEnv, celFunc, CelScalar } = celRuntime().cel;
    env = celEnv({
      re2: { compile: (p: string) => compileRegex(p) },
      funcs: [
        // The comprehension guard: counts an iteration; past the budget the loop stops (the
        // evaluation's result is replaced by an error afterwards).
        celFunc(STEP_GUARD, [CelScalar.DYN], CelScalar.DYN, (cond) => (++steps > CEL_MAX_EVAL_STEPS ? false : cond)),
      ],
    });
  }
  return env;
}

function callNode(id: bigint, fn: string, arg: Expr): Expr {
  return {
    $typeName: "cel.expr.Expr",
    id,
    exprKind: { case: "callExpr", value: { $typeName: "cel.expr.Expr.Call", function: fn, args: [arg] } },
  } as Expr;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** Operators the planner implements itself (short-circuiting, indexing), not through the function table. */
const PLANNER_OPERATORS: ReadonlySet<string> = new Set(["_&&_", "_||_", "_?_:_", "_[_]", "@not_strictly_false"]);

/**
 * Checks what the parser leaves to the checker: every function exists, integer literals within 64 bits and finite doubles
 * (cel-go's "invalid int literal"), and `matches` patterns that are literals compile as RE2.
 */
function checkNodes(expression: string, root: Expr, at: (id: bigint) => number): void {
  forEachNode(root, (e) => {
    const k = e.exprKind;
    if (k.case === "constExpr") {
      const c = k.value.constantKind;
      if (c.case === "int64Value" && (c.value < INT64_MIN || c.value > INT64_MAX)) throw new CelError(expression, at(e.id), "int literal out of the 64-bit range");
      if (c.case === "uint64Value" && (c.value < 0n || c.value > UINT64_MAX)) throw new CelError(expression, at(e.id), "uint literal out of the 64-bit range");
      if (c.case === "doubleValue" && !Number.isFinite(c.value)) throw new CelError(expression, at(e.id), "double literal out of range");
      return;
    }
    if (k.case !== "callExpr") return;
    const fn = k.value.function;
    // A call the evaluator could never bind is a config error now (cel-cpp's builder refuses
    // functions without overloads too), not an error value on every request.
    if (!PLANNER_OPERATORS.has(fn) && celEnvironment().funcs.find(fn) === undefined) {
      const why = fn === "has" ? "has() takes a field selection such as has(a.b) (use 'k' in m for map keys)" : `unknown function ${fn}()`;
      throw new CelError(expression, at(e.id), why);
    }
    if (fn !== "matches") return;
    const pat = k.value.args[k.value.args.length - 1];
    if (pat?.exprKind.case !== "constExpr" || pat.exprKind.value.constantKind.case !== "stringValue") return;
    const pattern = pat.exprKind.value.constantKind.value;
    try {
      compileRegex(pattern);
    } catch (err) {
      throw new CelError(expression, at(pat.id), `invalid RE2 regex ${JSON.stringify(pattern)}: ${(err as Error).message}`);
    }
  });
}

interface ParseFailure {
  location?: { start?: { offset?: number } };
  message?: string;
}

// Programs by expression: configs repeat the same few expressions on many listeners and every
// push recompiles them, while parsing is the slow part. Bounded: cleared when full.
const PROGRAM_CACHE_SIZE = 512;
const programs = new Map<string, CelProgram>();

/**
 * Compiles an expression; throws CelError (with the column) when it is malformed or over a bound.
 * Programs are immutable, so the same expression yields the same program.
 */
export function compileCel(expression: string): CelProgram {
  let p = programs.get(expression);
  if (p === undefined) {
    p = compile(expression);
    if (programs.size >= PROGRAM_CACHE_SIZE) programs.clear();
    programs.set(expression, p);
  }
  return p;
}

function compile(expression: string): CelProgram {
  if (expression.length > CEL_MAX_EXPRESSION_LENGTH) {
    throw new CelError(expression, CEL_MAX_EXPRESSION_LENGTH, `expression longer than ${CEL_MAX_EXPRESSION_LENGTH} characters`);
  }
  if (expression.trim() === "") throw new CelError(expression, 0, "empty expression");
  const deep = bracketOverflow(expression, CEL_MAX_NESTING);
  if (deep !== undefined) throw new CelError(expression, deep, `nested more than ${CEL_MAX_NESTING} levels`);
  const { isCelError, parse, plan } = celRuntime().cel;
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(expression);
  } catch (err) {
    const f = err as ParseFailure;
    const offset = f.location?.start?.offset ?? 0;
    // The parser's messages start with "<input>:LINE:COLUMN: "; CelError says where itself.
    const reason = String(f.message ?? err).replace(/^<input>:\d+:\d+:\s*/, "");
    throw new CelError(expression, offset, `syntax error: ${reason}`);
  }
  const positions = parsed.sourceInfo?.positions ?? {};
  const at = (id: bigint): number => positions[id.toString()] ?? 0;
  if (treeDepth(parsed.expr) > CEL_MAX_NESTING) throw new CelError(expression, 0, `nested more than ${CEL_MAX_NESTING} levels (operator or selection chain)`);
  checkNodes(expression, parsed.expr, at);
  const loops = guardComprehensions(parsed.expr, callNode);
  let run: (ctx: Record<string, CelInput>) => unknown;
  try {
    run = plan(celEnvironment(), parsed) as (ctx: Record<string, CelInput>) => unknown;
  } catch (err) {
    throw new CelError(expression, 0, (err as Error).message);
  }
  return {
    expression,
    eval(a: CelActivation): CelValue | CelEvalError {
      const savedActivation = activation;
      const savedSteps = steps;
      activation = a;
      steps = 0;
      try {
        const r = run(bindings);
        if (loops > 0 && steps > CEL_MAX_EVAL_STEPS) return new CelEvalError(`evaluation took more than ${CEL_MAX_EVAL_STEPS} comprehension steps`);
        if (isCelError(r)) return new CelEvalError(r.message);
        return r as CelValue;
      } catch (err) {
        // plan() already turns errors into values; a stack overflow or a bug elsewhere must not escape either.
        return new CelEvalError(err instanceof Error ? err.message : String(err));
      } finally {
        activation = savedActivation;
        steps = savedSteps;
      }
    },
  };
}

/** Whether an evaluation failed. */
export function isCelEvalError(v: unknown): v is CelEvalError {
  return v instanceof CelEvalError;
}
