// Envoy's safe_regex (RE2) for the proxy: every pattern is validated with an RE2 implementation
// (@bufbuild/re2) — what RE2 rejects (lookarounds, backreferences…) is a config error, as in
// Envoy. Matchers then run as JavaScript RegExps translated from the RE2 syntax; a pattern the
// translation cannot express, or one with nested/alternated repetition (backtracking blow-up risk)
// or ≥ 3 unbounded repeats, runs on the linear-time RE2 engine instead. Rewrites (regex_rewrite,
// hash-policy rewrites) need capture groups, so they must translate; they follow RE2::GlobalReplace
// (`\1`…`\9`, `\\`).
import { createRequire } from "node:module";
import type { RE2JS } from "@bufbuild/re2";
import type * as v3 from "../../../envoy/types.js";
import { XdsConfigError } from "../../xds-error.js";

// ---------------------------------------------------------------------------------------------
// RE2 → JavaScript

/** A compiled envoy.type.matcher.v3.RegexMatcher: full-match semantics. */
export interface RegexMatcher {
  readonly regex: string;
  /** "js" = translated to a JavaScript RegExp; "re2" = the linear-time RE2 engine. */
  readonly engine: "js" | "re2";
  matches(value: string): boolean;
}

class JsRegexMatcher implements RegexMatcher {
  readonly engine = "js";
  constructor(
    readonly regex: string,
    private readonly re: RegExp,
  ) {}
  matches(value: string): boolean {
    return this.re.test(value);
  }
}

class Re2RegexMatcher implements RegexMatcher {
  readonly engine = "re2";
  constructor(
    readonly regex: string,
    private readonly re: RE2JS,
  ) {}
  matches(value: string): boolean {
    return this.re.matches(value);
  }
}

class Untranslatable extends Error {}

interface Translation {
  source: string;
  ignoreCase: boolean;
  /** Nested or alternated repetition, or ≥ 3 unbounded repeats: backtracking could blow up. */
  risky: boolean;
}

const DIGIT_RANGES = [0x30, 0x39];
const SPACE_RANGES = [0x09, 0x0a, 0x0c, 0x0d, 0x20, 0x20];
const WORD_RANGES = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a];
const POSIX_CLASSES: Readonly<Record<string, readonly number[]>> = {
  alnum: [0x30, 0x39, 0x41, 0x5a, 0x61, 0x7a],
  alpha: [0x41, 0x5a, 0x61, 0x7a],
  ascii: [0x00, 0x7f],
  blank: [0x09, 0x09, 0x20, 0x20],
  cntrl: [0x00, 0x1f, 0x7f, 0x7f],
  digit: DIGIT_RANGES,
  graph: [0x21, 0x7e],
  lower: [0x61, 0x7a],
  print: [0x20, 0x7e],
  punct: [0x21, 0x2f, 0x3a, 0x40, 0x5b, 0x60, 0x7b, 0x7e],
  space: [0x09, 0x0d, 0x20, 0x20],
  upper: [0x41, 0x5a],
  word: WORD_RANGES,
  xdigit: [0x30, 0x39, 0x41, 0x46, 0x61, 0x66],
};
const GENERAL_CATEGORIES = new Set(
  "L Lu Ll Lt Lm Lo M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po S Sm Sc Sk So Z Zs Zl Zp C Cc Cf Cs Co Cn".split(" "),
);
const JS_SYNTAX = new Set("\\^$.*+?()[]{}|/".split(""));

function complementRanges(r: readonly number[]): number[] {
  const out: number[] = [];
  let next = 0;
  for (let i = 0; i < r.length; i += 2) {
    if (r[i] > next) out.push(next, r[i] - 1);
    next = r[i + 1] + 1;
  }
  if (next <= 0x10ffff) out.push(next, 0x10ffff);
  return out;
}

/** A code point as a pattern atom valid inside and outside classes in `u` mode. */
function cpAtom(c: number): string {
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f) return String.fromCharCode(c);
  return `\\u{${c.toString(16)}}`;
}

function rangesBody(r: readonly number[]): string {
  let s = "";
  for (let i = 0; i < r.length; i += 2) s += r[i] === r[i + 1] ? cpAtom(r[i]) : `${cpAtom(r[i])}-${cpAtom(r[i + 1])}`;
  return s;
}

function isOctal(ch: string | undefined): boolean {
  return ch !== undefined && ch >= "0" && ch <= "7";
}

/** One escape: a single code point (`code`) or a class-like piece (`text`, a class body inside classes). */
function translateEscape(p: string, i: number, inClass: boolean): { code?: number; text?: string; next: number } {
  const c = p[i + 1];
  if (c === undefined) throw new Untranslatable();
  switch (c) {
    case "d":
    case "D":
    case "s":
    case "S":
    case "w":
    case "W": {
      const lower = c.toLowerCase();
      const base = lower === "d" ? DIGIT_RANGES : lower === "s" ? SPACE_RANGES : WORD_RANGES;
      const neg = c !== lower;
      if (inClass) return { text: rangesBody(neg ? complementRanges(base) : base), next: i + 2 };
      return { text: `[${neg ? "^" : ""}${rangesBody(base)}]`, next: i + 2 };
    }
    case "p":
    case "P": {
      let name: string;
      let next: number;
      if (p[i + 2] === "{") {
        const end = p.indexOf("}", i + 3);
        if (end < 0) throw new Untranslatable();
        name = p.slice(i + 3, end);
        next = end + 1;
      } else {
        name = p[i + 2] ?? "";
        next = i + 3;
      }
      let neg = c === "P";
      if (name.startsWith("^")) {
        neg = !neg;
        name = name.slice(1);
      }
      if (!/^[A-Za-z_]+$/.test(name)) throw new Untranslatable();
      if (name === "Any") {
        if (inClass) return { text: neg ? "" : "\\u{0}-\\u{10ffff}", next };
        return { text: neg ? "[^\\s\\S]" : "[\\s\\S]", next };
      }
      const prop = GENERAL_CATEGORIES.has(name) ? name : `Script=${name}`;
      return { text: `\\${neg ? "P" : "p"}{${prop}}`, next };
    }
    case "A":
      if (inClass) throw new Untranslatable();
      return { text: "(?<![\\s\\S])", next: i + 2 };
    case "z":
      if (inClass) throw new Untranslatable();
      return { text: "(?![\\s\\S])", next: i + 2 };
    case "b":
    case "B":
      if (inClass) throw new Untranslatable();
      return { text: `\\${c}`, next: i + 2 };
    case "Q": {
      if (inClass) throw new Untranslatable();
      const end = p.indexOf("\\E", i + 2);
      const lit = end < 0 ? p.slice(i + 2) : p.slice(i + 2, end);
      let text = "";
      for (const ch of lit) text += cpAtom(ch.codePointAt(0) ?? 0);
      return { text: text ? `(?:${text})` : "", next: end < 0 ? p.length : end + 2 };
    }
    case "E":
      return { text: "", next: i + 2 };
    case "x": {
      if (p[i + 2] === "{") {
        const end = p.indexOf("}", i + 3);
        if (end < 0) throw new Untranslatable();
        const code = parseInt(p.slice(i + 3, end), 16);
        if (!Number.isFinite(code) || code > 0x10ffff) throw new Untranslatable();
        return { code, next: end + 1 };
      }
      const code = parseInt(p.slice(i + 2, i + 4), 16);
      if (!Number.isFinite(code)) throw new Untranslatable();
      return { code, next: i + 4 };
    }
    case "a":
      return { code: 7, next: i + 2 };
    case "f":
      return { code: 12, next: i + 2 };
    case "n":
      return { code: 10, next: i + 2 };
    case "r":
      return { code: 13, next: i + 2 };
    case "t":
      return { code: 9, next: i + 2 };
    case "v":
      return { code: 11, next: i + 2 };
  }
  if (isOctal(c) && (c === "0" || isOctal(p[i + 2]))) {
    let j = i + 1;
    let code = 0;
    while (j < i + 4 && isOctal(p[j])) code = code * 8 + (p.charCodeAt(j++) - 48);
    return { code, next: j };
  }
  const code = p.codePointAt(i + 1) ?? 0;
  // RE2: a backslash before punctuation is that character; anything else it rejects.
  if (code < 0x80 && /[A-Za-z0-9]/.test(c)) throw new Untranslatable();
  return { code, next: i + 1 + (code > 0xffff ? 2 : 1) };
}

function translateClass(p: string, start: number): { text: string; next: number } {
  let j = start + 1;
  let neg = false;
  if (p[j] === "^") {
    neg = true;
    j++;
  }
  let body = "";
  let first = true;
  for (;;) {
    if (j >= p.length) throw new Untranslatable();
    const ch = p[j];
    if (ch === "]" && !first) {
      j++;
      break;
    }
    first = false;
    if (ch === "[" && p[j + 1] === ":") {
      const end = p.indexOf(":]", j + 2);
      if (end >= 0) {
        let name = p.slice(j + 2, end);
        let pneg = false;
        if (name.startsWith("^")) {
          pneg = true;
          name = name.slice(1);
        }
        const r = POSIX_CLASSES[name];
        if (!r) throw new Untranslatable();
        body += rangesBody(pneg ? complementRanges(r) : r);
        j = end + 2;
        continue;
      }
    }
    let lo: number;
    if (ch === "\\") {
      const e = translateEscape(p, j, true);
      j = e.next;
      if (e.code === undefined) {
        body += e.text ?? "";
        continue;
      }
      lo = e.code;
    } else {
      lo = p.codePointAt(j) ?? 0;
      j += lo > 0xffff ? 2 : 1;
    }
    if (p[j] === "-" && j + 1 < p.length && p[j + 1] !== "]") {
      j++;
      let hi: number;
      if (p[j] === "\\") {
        const e = translateEscape(p, j, true);
        if (e.code === undefined) throw new Untranslatable();
        hi = e.code;
        j = e.next;
      } else {
        hi = p.codePointAt(j) ?? 0;
        j += hi > 0xffff ? 2 : 1;
      }
      body += `${cpAtom(lo)}-${cpAtom(hi)}`;
    } else body += cpAtom(lo);
  }
  return { text: `[${neg ? "^" : ""}${body}]`, next: j };
}

const FLAG_GROUP = /\(\?([imsU]*)(?:-([imsU]*))?([:)])/y;
const REPEAT = /\{(\d+)(,(\d*))?\}/y;

/**
 * Translates an RE2 pattern (already validated by RE2) into a JavaScript `u`-mode pattern with the
 * same meaning: RE2's `.` (no newline), `^`/`$` (text or, with (?m), `\n` boundaries), ASCII `\d\s\w`,
 * POSIX classes, `\Q…\E`, `\x{…}`, octal escapes, `\pN`/`\p{Script}`, literal `{`. Flags (?ims)
 * are supported at the start (or repeated unchanged); other scoped flags, (?U) and anything
 * unexpected throw Untranslatable.
 */
function translateRe2(p: string): Translation {
  let i = 0;
  let fi = false;
  let fs = false;
  let fm = false;
  const applyFlags = (on: string, off: string, cur: [boolean, boolean, boolean]): [boolean, boolean, boolean] => {
    if (on.includes("U") || off.includes("U")) throw new Untranslatable();
    const r: [boolean, boolean, boolean] = [...cur];
    for (const f of on) r["ism".indexOf(f)] = true;
    for (const f of off) r["ism".indexOf(f)] = false;
    return r;
  };
  for (;;) {
    FLAG_GROUP.lastIndex = i;
    const m = FLAG_GROUP.exec(p);
    if (!m || m[3] !== ")") break;
    [fi, fs, fm] = applyFlags(m[1], m[2] ?? "", [fi, fs, fm]);
    i += m[0].length;
  }
  let out = "";
  const groups: boolean[] = [false]; // does the (innermost open) group contain repetition or alternation?
  let lastComplex = false;
  let risky = false;
  let unbounded = 0;
  const quantified = (isUnbounded: boolean): void => {
    if (lastComplex) risky = true;
    groups[groups.length - 1] = true;
    if (isUnbounded) unbounded++;
    lastComplex = false;
    if (p[i] === "?") {
      out += "?";
      i++;
    }
  };
  while (i < p.length) {
    const ch = p[i];
    switch (ch) {
      case "\\": {
        const e = translateEscape(p, i, false);
        out += e.code !== undefined ? cpAtom(e.code) : (e.text ?? "");
        i = e.next;
        lastComplex = false;
        break;
      }
      case "[": {
        const c = translateClass(p, i);
        out += c.text;
        i = c.next;
        lastComplex = false;
        break;
      }
      case ".":
        out += fs ? "[\\s\\S]" : "[^\\n]";
        i++;
        lastComplex = false;
        break;
      case "^":
        out += fm ? "(?<![^\\n])" : "(?<![\\s\\S])";
        i++;
        lastComplex = false;
        break;
      case "$":
        out += fm ? "(?![^\\n])" : "(?![\\s\\S])";
        i++;
        lastComplex = false;
        break;
      case "(": {
        if (p[i + 1] === "?") {
          if (p.startsWith("(?P<", i) || (p.startsWith("(?<", i) && p[i + 3] !== "=" && p[i + 3] !== "!")) {
            const close = p.indexOf(">", i);
            if (close < 0) throw new Untranslatable();
            out += "(";
            i = close + 1;
          } else if (p.startsWith("(?:", i)) {
            out += "(?:";
            i += 3;
          } else {
            FLAG_GROUP.lastIndex = i;
            const m = FLAG_GROUP.exec(p);
            if (!m) throw new Untranslatable();
            const [ni, ns, nm] = applyFlags(m[1], m[2] ?? "", [fi, fs, fm]);
            if (ni !== fi || ns !== fs || nm !== fm) throw new Untranslatable();
            i += m[0].length;
            if (m[3] === ")") continue;
            out += "(?:";
          }
        } else {
          out += "(";
          i++;
        }
        groups.push(false);
        lastComplex = false;
        break;
      }
      case ")": {
        if (groups.length < 2) throw new Untranslatable();
        const complex = groups.pop() ?? false;
        if (complex) groups[groups.length - 1] = true;
        out += ")";
        i++;
        lastComplex = complex;
        break;
      }
      case "|":
        out += "|";
        groups[groups.length - 1] = true;
        i++;
        lastComplex = false;
        break;
      case "*":
      case "+":
      case "?":
        out += ch;
        i++;
        quantified(ch !== "?");
        break;
      case "{": {
        REPEAT.lastIndex = i;
        const m = REPEAT.exec(p);
        if (m) {
          out += m[0];
          i += m[0].length;
          quantified(m[2] !== undefined && m[3] === "");
        } else {
          out += cpAtom(0x7b);
          i++;
          lastComplex = false;
        }
        break;
      }
      default: {
        const code = p.codePointAt(i) ?? 0;
        const s = String.fromCodePoint(code);
        out += JS_SYNTAX.has(s) ? cpAtom(code) : s;
        i += s.length;
        lastComplex = false;
      }
    }
  }
  if (groups.length !== 1) throw new Untranslatable();
  return { source: out, ignoreCase: fi, risky: risky || unbounded >= 3 };
}

// Loaded on the first safe_regex: most route tables (bookinfo's among them) have none, and the
// library costs a proxy about 15–30 ms of start-up CPU and 1 MB.
let re2Module: typeof import("@bufbuild/re2") | undefined;
function re2(): typeof import("@bufbuild/re2") {
  return (re2Module ??= createRequire(import.meta.url)("@bufbuild/re2") as typeof import("@bufbuild/re2"));
}

function re2Compile(regex: string, path: string): RE2JS {
  if (!regex) throw new XdsConfigError(path, "regex must not be empty");
  try {
    return re2().RE2JS.compile(regex);
  } catch (err) {
    throw new XdsConfigError(path, `invalid regular expression '${regex}': ${(err as Error).message}`);
  }
}

/**
 * Compiles an RE2 pattern for full matching (Envoy's safe_regex): validated with RE2, run as a
 * translated JavaScript RegExp, or on RE2 itself when translation is impossible or risky.
 */
export function compileRegex(regex: string, path: string): RegexMatcher {
  const re2 = re2Compile(regex, path);
  let t: Translation | undefined;
  try {
    t = translateRe2(regex);
  } catch {
    t = undefined;
  }
  if (t && !t.risky) {
    try {
      return new JsRegexMatcher(regex, new RegExp(`^(?:${t.source})$`, t.ignoreCase ? "iu" : "u"));
    } catch {
      // fall through to RE2
    }
  }
  return new Re2RegexMatcher(regex, re2);
}

/** A compiled envoy.type.matcher.v3.RegexMatcher message (`{ regex, googleRe2? }`) at `path`. */
export function compileRegexMatcher(o: v3.RegexMatcher, path: string): RegexMatcher {
  return compileRegex(o.regex ?? "", `${path}.regex`);
}

export interface RegexRewrite {
  readonly pattern: string;
  readonly substitution: string;
}

class CompiledRegexRewrite implements RegexRewrite {
  constructor(
    readonly pattern: string,
    readonly substitution: string,
    readonly re: RegExp,
    /** Literal pieces and group numbers. */
    readonly parts: readonly (string | number)[],
  ) {}
}

/** envoy.type.matcher.v3.RegexMatchAndSubstitute at `path`. */
export function compileRegexRewrite(o: v3.RegexMatchAndSubstitute, path: string): RegexRewrite {
  const pattern = o.pattern;
  if (!pattern) throw new XdsConfigError(`${path}.pattern`, "pattern is required");
  const regex = pattern.regex ?? "";
  const rpath = `${path}.pattern.regex`;
  const re2 = re2Compile(regex, rpath);
  let re: RegExp;
  try {
    const t = translateRe2(regex);
    re = new RegExp(t.source, t.ignoreCase ? "giu" : "gu");
  } catch {
    throw new XdsConfigError(rpath, `regular expression '${regex}' uses RE2 syntax tsmesh cannot run for rewrites (scoped flags or (?U))`);
  }
  const substitution = o.substitution ?? "";
  const groups = re2.groupCount();
  const parts: (string | number)[] = [];
  let lit = "";
  for (let i = 0; i < substitution.length; i++) {
    const c = substitution[i];
    if (c !== "\\") {
      lit += c;
      continue;
    }
    const d = substitution[i + 1];
    if (d === "\\") {
      lit += "\\";
      i++;
    } else if (d !== undefined && d >= "0" && d <= "9") {
      const n = d.charCodeAt(0) - 48;
      if (n > groups) {
        throw new XdsConfigError(`${path}.substitution`, `\\${n} refers to a group the pattern does not have (it has ${groups})`);
      }
      if (lit) parts.push(lit);
      lit = "";
      parts.push(n);
      i++;
    } else {
      throw new XdsConfigError(`${path}.substitution`, `invalid rewrite pattern: ${JSON.stringify(substitution)} (use \\0-\\9 or \\\\)`);
    }
  }
  if (lit) parts.push(lit);
  return new CompiledRegexRewrite(regex, substitution, re, parts);
}

/** RE2::GlobalReplace: every non-overlapping match replaced; no empty match right after a match. */
export function regexReplaceAll(rewrite: RegexRewrite, input: string): string {
  const rw = rewrite as CompiledRegexRewrite;
  const re = rw.re;
  let out = "";
  let p = 0;
  let lastEnd = -1;
  let count = 0;
  while (p <= input.length) {
    re.lastIndex = p;
    const m = re.exec(input);
    if (!m) break;
    const ms = m.index;
    const me = ms + m[0].length;
    if (p < ms) out += input.slice(p, ms);
    if (ms === lastEnd && me === ms) {
      if (p < input.length) {
        const w = (input.codePointAt(p) ?? 0) > 0xffff ? 2 : 1;
        out += input.slice(p, p + w);
        p += w;
      } else p++;
      continue;
    }
    for (const part of rw.parts) out += typeof part === "string" ? part : (m[part] ?? "");
    p = me;
    lastEnd = me;
    count++;
  }
  if (count === 0) return input;
  if (p < input.length) out += input.slice(p);
  return out;
}

