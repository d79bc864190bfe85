// CEL as tsmesh compiles config expressions: a table of syntax and semantics (literals with their
// escapes, operators, CEL's error absorption in && and ||, the functions Envoy's and Istio's
// expressions use, timestamps and durations), the bounds (length, nesting, comprehension steps),
// RE2 regexes (constructs JavaScript would read differently are refused), compile errors that name
// the column, and adversarial inputs that must end in an error value or a CelError, never a throw
// from eval or a hang.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CEL_MAX_EVAL_STEPS, CEL_MAX_EXPRESSION_LENGTH, CEL_MAX_NESTING } from "../../../src/core/cel/bounds.js";
import { CelError, CelEvalError, compileCel, isCelEvalError, type CelActivation, type CelInput } from "../../../src/core/cel/program.js";
import { celDuration, celInt, celTimestamp, celUintOf, celValueToString } from "../../../src/core/cel/values.js";

/** An activation over fixed top-level values, recording which names were resolved. */
function activation(vars: Record<string, CelInput>, reads: string[] = []): CelActivation {
  return {
    resolve(name) {
      reads.push(name);
      return Object.hasOwn(vars, name) ? vars[name] : undefined;
    },
  };
}

const VARS: Record<string, CelInput> = {
  request: {
    path: "/productpage?u=1",
    host: "bookinfo.example",
    headers: new Map([
      ["user-agent", "curl/8.5.0"],
      ["x-b3-sampled", "1"],
    ]),
    time: celTimestamp(Date.UTC(2026, 0, 2, 3, 4, 5, 250)),
    duration: celDuration(1500),
  },
  response: { code: celInt(503), grpc_status: celInt(14) },
  connection: { id: celUintOf(7), mtls: true },
  list: [celInt(1), celInt(2), celInt(3)],
};

/** Evaluates and prints the result ("error: …" for an error value). */
function run(expr: string, vars = VARS): string {
  const r = compileCel(expr).eval(activation(vars));
  return isCelEvalError(r) ? `error: ${r.message}` : celValueToString(r);
}

describe("CEL: syntax and semantics", () => {
  const table: Array<[string, string | RegExp]> = [
    // literals
    ["42", "42"],
    ["-7", "-7"],
    ["0x1F", "31"],
    ["42u", "42"],
    ["1.5", "1.5"],
    ["1e3", "1000"],
    ["'single'", "single"],
    ['"double"', "double"],
    ["'''tri\nple'''", "tri\nple"],
    ["'tab\\there'", "tab\there"],
    ["'\\u00e9\\x41\\101'", "éAA"],
    ["r'\\d+' == '\\\\d+'", "true"],
    ["b'abc' == bytes('abc')", "true"],
    ["size(b'\\xff\\x00')", "2"],
    ["true", "true"],
    ["null", "null"],
    ["[1, 'a', true]", '[1, "a", true]'],
    ["{'k': 1, 'j': [2]}['j'][0]", "2"],
    // arithmetic, comparison, types
    ["1 + 2 * 3 - 4 / 2 % 3", "5"],
    ["7 / 2", "3"],
    ["7.0 / 2.0", "3.5"],
    ["2u * 3u", "6"],
    ["1 + 1u", /^error: .*no matching overload/],
    ["9223372036854775807 + 1", /^error: .*overflow/],
    ["1 / 0", /^error: .*divide by zero/],
    ["'a' + 'b'", "ab"],
    ["[1] + [2]", "[1, 2]"],
    ["1 == 1.0", "true"],
    ["1 < 2u", "true"],
    ["'abc' < 'abd'", "true"],
    ["!true", "false"],
    ["true ? 'y' : 'n'", "y"],
    ["2 in [1, 2]", "true"],
    ["'k' in {'k': 1}", "true"],
    // logical operators absorb errors when the other side decides (CEL's commutative && / ||)
    ["response.missing || true", "true"],
    ["true || response.missing", "true"],
    ["response.missing && false", "false"],
    ["false && response.missing", "false"],
    ["response.missing || false", /^error: /],
    ["response.missing && true", /^error: /],
    ["(1 / 0 > 1) || response.code == 503", "true"],
    ["response.missing ? 1 : 2", /^error: /],
    // functions
    ["size('héllo')", "5"],
    ["'héllo'.size()", "5"],
    ["size([1, 2])", "2"],
    ["size({'a': 1})", "1"],
    ["request.path.startsWith('/product')", "true"],
    ["request.path.endsWith('u=1')", "true"],
    ["request.host.contains('info')", "true"],
    ["request.path.matches('^/product[a-z]+')", "true"],
    ["request.path.matches('page')", "true"],
    ["string(42)", "42"],
    ["string(1.5)", "1.5"],
    ["string(b'hi')", "hi"],
    ["int('-12')", "-12"],
    ["int('x')", /^error: /],
    ["uint(3)", "3"],
    ["uint(-1)", /^error: /],
    ["double('2.5')", "2.5"],
    ["int(2.9)", "2"],
    ["has(request.host)", "true"],
    ["has(request.nothing)", "false"],
    ["[1, 2, 3].exists(x, x > 2)", "true"],
    ["[1, 2, 3].all(x, x > 0)", "true"],
    ["[1, 2, 3].map(x, x * 10)", "[10, 20, 30]"],
    ["[1, 2, 3].filter(x, x != 2)", "[1, 3]"],
    // timestamps and durations as Envoy's request.time / request.duration
    ["request.time > timestamp('2026-01-01T00:00:00Z')", "true"],
    ["request.time", "2026-01-02T03:04:05.25Z"],
    ["request.duration", "1.5s"],
    ["request.duration > duration('1s')", "true"],
    ["request.duration < duration('100ms')", "false"],
    ["request.time.getFullYear()", "2026"],
    ["timestamp('2026-01-01T00:00:10Z') - timestamp('2026-01-01T00:00:00Z') == duration('10s')", "true"],
    ["duration('1x')", /^error: /],
    // the expressions Istio's telemetry tasks use
    ["response.code >= 400", "true"],
    ["request.host", "bookinfo.example"],
    ["request.headers['user-agent']", "curl/8.5.0"],
    ["request.headers['missing']", /^error: .*(no such key|not found)/],
    ["'missing' in request.headers", "false"],
    ["connection.id == 7u", "true"],
    ["connection.mtls && response.code >= 500", "true"],
    ["response.grpc_status == 14", "true"],
    // an unbound top-level identifier is an error value, not a throw
    ["nope.field", /^error: /],
  ];
  for (const [expr, want] of table) {
    it(`${JSON.stringify(expr)} → ${want}`, () => {
      const got = run(expr);
      if (typeof want === "string") assert.equal(got, want);
      else assert.match(got, want);
    });
  }
});

describe("CEL: compile errors name the column", () => {
  const table: Array<[string, RegExp]> = [
    ["response.code >= ", /^CEL column \d+: syntax error/],
    ["1 +", /^CEL column 3: syntax error/],
    ["'unterminated", /^CEL column 1: syntax error/],
    ["a.b\n  .c)", /^CEL line 2, column 5: syntax error/],
    ["", /^CEL column 1: empty expression/],
    ["   ", /^CEL column 1: empty expression/],
    // RE2: constructs JavaScript's RegExp would accept but RE2 does not (or reads differently)
    ["request.path.matches('(a)\\\\1')", /^CEL column 22: invalid RE2 regex .*\\1/],
    ["request.path.matches('(?=a)b')", /^CEL column 22: invalid RE2 regex .*Perl syntax/],
    ["request.path.matches('(?<!a)b')", /^CEL column 22: invalid RE2 regex/],
    ["matches(request.path, '[z-a]')", /^CEL column 23: invalid RE2 regex/],
    // calls nothing could ever bind are config errors, not an error value on every request
    ["has(request.headers['x'])", /^CEL column 1: has\(\) takes a field selection/],
    ["response.code > 1 && nosuch(1)", /^CEL column 22: unknown function nosuch\(\)/],
    ["request.path.lowerAscii() == 'x'", /^CEL column 13: unknown function lowerAscii\(\)/],
  ];
  for (const [expr, want] of table) {
    it(JSON.stringify(expr), () => {
      assert.throws(
        () => compileCel(expr),
        (err: unknown) => err instanceof CelError && want.test(err.message),
      );
    });
  }

  it("a pattern computed at evaluation is checked then, as an error value", () => {
    const r = compileCel("request.path.matches(request.host + '(?=x)')").eval(activation(VARS));
    assert.ok(r instanceof CelEvalError, `got ${String(r)}`);
  });
});

describe("CEL: bounds and adversarial inputs", () => {
  const nest = (n: number) => "(".repeat(n) + "1" + ")".repeat(n);
  const compileFails: Array<[string, string, RegExp]> = [
    ["over the length bound", `'${"x".repeat(CEL_MAX_EXPRESSION_LENGTH)}'`, /longer than/],
    ["brackets nested past the bound", nest(CEL_MAX_NESTING + 1), /nested more than/],
    ["10,000 nested brackets (would overflow the parser's stack)", nest(10_000).slice(0, CEL_MAX_EXPRESSION_LENGTH), /nested more than/],
    ["lists nested past the bound", "[".repeat(CEL_MAX_NESTING + 1) + "]".repeat(CEL_MAX_NESTING + 1), /nested more than/],
    ["an operator chain deeper than the bound", "1" + " + 1".repeat(CEL_MAX_NESTING + 1), /nested more than .*chain/],
    ["a selection chain deeper than the bound", "a" + ".b".repeat(CEL_MAX_NESTING + 1), /nested more than .*chain/],
    ["a catastrophic-backtracking regex with a backreference", "request.path.matches('(a+)+\\\\1')", /invalid RE2 regex/],
  ];
  for (const [what, expr, want] of compileFails) {
    it(`refused at compile time: ${what}`, () => {
      assert.throws(
        () => compileCel(expr),
        (err: unknown) => err instanceof CelError && want.test(err.message),
      );
    });
  }

  it("nesting at the bound compiles and evaluates", () => {
    assert.equal(run(nest(CEL_MAX_NESTING)), "1");
  });

  it("brackets inside string literals do not count as nesting", () => {
    assert.equal(run(`'${"(".repeat(500)}' + "${"[".repeat(500)}" + r'${"{".repeat(500)}' != ''`), "true");
  });

  for (const [lit, want] of [
    ["9".repeat(400), /int literal out of the 64-bit range/],
    ["9223372036854775808", /int literal out of the 64-bit range/],
    ["0x" + "f".repeat(40), /int literal out of the 64-bit range/],
    ["18446744073709551616u", /uint literal out of the 64-bit range/],
    ["1e999", /double literal out of range/],
  ] as const) {
    it(`a literal out of range is refused, not read as another number: ${lit.slice(0, 24)}`, () => {
      assert.throws(
        () => compileCel(`1 + ${lit}`),
        (err: unknown) => err instanceof CelError && want.test(err.message) && /column 5/.test(err.message),
      );
    });
  }

  it("the extreme int64 values are literals", () => {
    assert.equal(run("-9223372036854775808"), "-9223372036854775808");
    assert.equal(run("9223372036854775807"), "9223372036854775807");
    assert.equal(run("18446744073709551615u"), "18446744073709551615");
  });

  it("a regex that backtracks catastrophically in JavaScript runs in linear time (RE2)", () => {
    const evil = "a".repeat(5_000) + "!";
    const prog = compileCel("request.path.matches('^(a+)+$')");
    const r = prog.eval(activation({ request: { path: evil } }));
    assert.equal(r, false);
  });

  it(`nested comprehensions stop at ${CEL_MAX_EVAL_STEPS} steps with an error value`, () => {
    const list = `[${Array.from({ length: 100 }, (_, i) => i).join(",")}]`;
    const r = compileCel(`${list}.all(x, ${list}.all(y, ${list}.all(z, true)))`).eval(activation({}));
    assert.ok(r instanceof CelEvalError && /comprehension steps/.test(r.message), `got ${String(r)}`);
  });

  it("the step budget cannot be absorbed by || (the whole result is the error)", () => {
    const list = `[${Array.from({ length: 100 }, (_, i) => i).join(",")}]`;
    const r = compileCel(`${list}.all(x, ${list}.all(y, true)) || true`).eval(activation({}));
    assert.ok(r instanceof CelEvalError, `got ${String(r)}`);
  });

  it("a comprehension within the budget evaluates (and the budget is per evaluation)", () => {
    const prog = compileCel("request.headers.all(k, k.size() > 0)");
    const headers = new Map(Array.from({ length: 100 }, (_, i) => [`h${i}`, "v"] as const));
    for (let i = 0; i < 20; i++) assert.equal(prog.eval(activation({ request: { headers } })), true);
  });

  it("an internal step-guard name cannot be called from source", () => {
    assert.throws(() => compileCel("@tsmesh_step_guard(true)"), CelError);
  });

  it("eval never throws, whatever the activation holds", () => {
    const bad: CelActivation = {
      resolve() {
        throw new Error("activation blew up");
      },
    };
    const r = compileCel("request.path == '/'").eval(bad);
    assert.ok(r instanceof CelEvalError);
    const odd = compileCel("x.y").eval(activation({ x: Symbol("s") as unknown as CelInput }));
    assert.ok(odd instanceof CelEvalError);
  });
});

describe("CEL: evaluation is lazy and programs are reused", () => {
  it("resolves only the identifiers the expression reads, short-circuiting what it need not", () => {
    const reads: string[] = [];
    compileCel("response.code >= 400 || request.host == 'x'").eval(activation(VARS, reads));
    const top = new Set(reads.filter((n) => !n.includes(".")));
    assert.deepEqual([...top], ["response"]);
  });

  it("the same expression compiles to the same program", () => {
    assert.equal(compileCel("1 + 1 == 2"), compileCel("1 + 1 == 2"));
  });
});
