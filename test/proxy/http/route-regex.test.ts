// RE2 regexes in routes: every translated pattern checked against the RE2 engine on the same inputs
// (JavaScript RegExp or the RE2 fallback), RE2's rejections with their field path, and rewrites'
// GlobalReplace semantics.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RE2JS } from "@bufbuild/re2";
import { compileRegex, compileRegexRewrite, regexReplaceAll } from "../../../src/proxy/http/matchers/regex.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";

describe("RE2 regexes", () => {
  // Each pattern is checked against RE2 itself on every input: the translated JavaScript RegExp
  // (or the RE2 fallback) must agree with RE2's full match.
  const inputs = [
    "",
    "a",
    "A",
    "abc",
    "ABC",
    "a\nb",
    "a\rb",
    "\u000b",
    " ",
    "\t",
    "x{2}",
    "{",
    "a.b",
    "/api/v1/items",
    "/API/V1/ITEMS",
    "ж",
    "Ωmega",
    "😀",
    "123",
    "-5",
    "a+b",
    "foo.bar",
    "\\",
    "]",
    "a]b",
    "abab",
    "ab\nab",
    "K",
    "k",
    "\u212a",
  ];
  const patterns: [string, "js" | "re2"][] = [
    ["a", "js"],
    [".", "js"], // RE2 . matches \r but not \n
    ["a.b", "js"],
    ["(?s)a.b", "js"],
    ["\\s", "js"], // ASCII space class: no \v
    ["\\S+", "js"],
    ["\\d+", "js"],
    ["\\w+", "js"],
    ["\\W", "js"],
    ["[[:alpha:]]+", "js"],
    ["[[:^alpha:]]", "js"],
    ["[[:punct:][:space:]]", "js"],
    ["[^a-z]", "js"],
    ["[]a]+", "js"],
    ["[a\\]]+", "js"],
    ["[\\d-]+", "js"],
    ["-?\\d+", "js"],
    ["\\Qa.b\\E", "js"],
    ["\\Q{\\E", "js"],
    ["x\\{2\\}", "js"],
    ["x{2}", "js"],
    ["x{", "js"],
    ["{", "js"],
    ["a{,2}", "js"],
    ["(?i)abc", "js"],
    ["(?i)k", "js"],
    ["(?i)[a-c]+", "js"],
    ["\\pL+", "js"],
    ["\\p{Greek}mega", "js"],
    ["\\PL", "js"],
    ["\\p{^Greek}", "js"],
    ["\\x{1F600}", "js"],
    ["\\x41", "js"],
    ["\\101", "js"],
    ["\\0", "js"],
    ["\\.", "js"],
    ["\\\\", "js"],
    ["a\\]b", "js"],
    ["(?P<first>a)(?<second>b)", "js"],
    ["^abc$", "js"],
    ["\\Aabc\\z", "js"],
    ["(?m)^ab$\\n^ab$", "js"],
    ["ab\\nab", "js"],
    ["/api/v[0-9]+/items", "js"],
    ["(?i)/api/v[0-9]+/items", "js"],
    ["a+?b*?c??", "js"],
    ["(?:ab)+", "js"],
    ["(ab)*", "js"],
    ["\\bab", "js"],
    ["(a+)+", "re2"], // nested repetition
    ["(a|b)*", "re2"], // alternation under repetition
    [".*a.*b.*", "re2"], // three unbounded repeats
    ["a(?i)bc", "re2"], // scoped flags: not expressible in JavaScript
    ["(?i:a)b", "re2"],
    ["(?U)a+", "re2"],
  ];
  for (const [pattern, engine] of patterns) {
    it(`${JSON.stringify(pattern)} on ${engine}`, () => {
      const m = compileRegex(pattern, "r");
      assert.equal(m.engine, engine);
      const re2 = RE2JS.compile(pattern);
      for (const s of inputs) assert.equal(m.matches(s), re2.matches(s), `${JSON.stringify(pattern)} on ${JSON.stringify(s)}`);
    });
  }

  it("rejects what RE2 rejects, with the field path", () => {
    for (const bad of ["(?=a)", "(a)\\1", "a**", "(", "[a", "\\8", "x{1001}", ""]) {
      assert.throws(() => compileRegex(bad, "match.safeRegex.regex"), (err: unknown) => {
        assert.ok(err instanceof XdsConfigError);
        assert.equal(err.path, "match.safeRegex.regex");
        return true;
      }, bad);
    }
  });

  it("GlobalReplace semantics for rewrites", () => {
    const rw = (pattern: string, substitution: string, input: string): string => regexReplaceAll(compileRegexRewrite({ pattern: { regex: pattern }, substitution }, "r"), input);
    assert.equal(rw("^/service/([^/]+)(/.*)$", "\\2/instance/\\1", "/service/foo/v1/api"), "/v1/api/instance/foo");
    assert.equal(rw("one", "two", "/xxx/one/yyy/one/zzz"), "/xxx/two/yyy/two/zzz");
    assert.equal(rw("^(.*?)one(.*)$", "\\1two\\2", "/xxx/one/yyy/one/zzz"), "/xxx/two/yyy/one/zzz");
    assert.equal(rw(".*", "x", "/foo"), "x"); // no second (empty) match right after the first
    assert.equal(rw("a*", "-", "baaac"), "-b-c-");
    assert.equal(rw("z", "y", "/foo"), "/foo");
    assert.equal(rw("(o)", "\\\\\\1\\0", "o"), "\\oo");
    assert.equal(rw("(?i)FOO", "bar", "/foo/Foo"), "/bar/bar");
    assert.throws(() => compileRegexRewrite({ pattern: { regex: "(a)" }, substitution: "\\2" }, "regexRewrite"), /regexRewrite\.substitution: \\2 refers to a group/);
    assert.throws(() => compileRegexRewrite({ pattern: { regex: "a" }, substitution: "\\x" }, "regexRewrite"), /invalid rewrite pattern/);
    assert.throws(() => compileRegexRewrite({ pattern: { regex: "a(?i)b" }, substitution: "" }, "regexRewrite"), /regexRewrite\.pattern\.regex: .*cannot run for rewrites/);
  });
});
