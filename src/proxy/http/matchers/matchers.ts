// Envoy's string, header and query-parameter matchers (envoy.type.matcher.v3 and
// config.route.v3.HeaderMatcher / QueryParameterMatcher), compiled once. Header matchers see
// repeated headers joined with ","; pseudo-headers `:method`, `:authority`, `:path` (with query)
// and `:scheme` come from the request view. Query parameters are matched on the first value of a
// key, undecoded.

import type * as v3 from "../../../envoy/types.js";
import { XdsConfigError } from "../../xds-error.js";
import type { HeaderSource } from "../route-table.js";
import { compileRegexMatcher, type RegexMatcher } from "./regex.js";

export function asciiLower(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.replace(/[A-Z]+/g, (x) => x.toLowerCase());
  }
  return s;
}

function foldChar(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** ASCII case-insensitive `s.startsWith(lower, offset)` where `lower` is already lowercase. */
export function startsWithIgnoreCase(s: string, lower: string, offset = 0): boolean {
  const n = lower.length;
  if (offset < 0 || s.length - offset < n) return false;
  for (let i = 0; i < n; i++) if (foldChar(s.charCodeAt(offset + i)) !== lower.charCodeAt(i)) return false;
  return true;
}

// String, header and query parameter matchers

const SM_EXACT = 0;
const SM_PREFIX = 1;
const SM_SUFFIX = 2;
const SM_CONTAINS = 3;
const SM_REGEX = 4;

/** A compiled envoy.type.matcher.v3.StringMatcher (ignoreCase is ASCII, as absl's). */
export class StringMatcher {
  private constructor(
    private readonly kind: number,
    private readonly value: string,
    private readonly ignoreCase: boolean,
    private readonly regex: RegexMatcher | undefined,
  ) {}

  static compile(o: v3.StringMatcher, path: string): StringMatcher {
    const ignoreCase = o.ignoreCase === true;
    const pick = (k: "exact" | "prefix" | "suffix" | "contains", kind: number, minLen: number): StringMatcher | undefined => {
      const v = o[k];
      if (v === undefined) return undefined;
      if (v.length < minLen) throw new XdsConfigError(`${path}.${k}`, `${k} must not be empty`);
      return new StringMatcher(kind, ignoreCase ? asciiLower(v) : v, ignoreCase, undefined);
    };
    const m = pick("exact", SM_EXACT, 0) ?? pick("prefix", SM_PREFIX, 1) ?? pick("suffix", SM_SUFFIX, 1) ?? pick("contains", SM_CONTAINS, 1);
    if (m) return m;
    if (o.safeRegex) {
      if (ignoreCase) throw new XdsConfigError(path, "ignore_case has no effect for safe_regex.");
      return new StringMatcher(SM_REGEX, "", false, compileRegexMatcher(o.safeRegex, `${path}.safeRegex`));
    }
    if (o.custom !== undefined) throw new XdsConfigError(`${path}.custom`, "custom string matchers are not supported");
    throw new XdsConfigError(path, "StringMatcher needs one of exact, prefix, suffix, contains or safeRegex");
  }

  match(v: string): boolean {
    const x = this.value;
    switch (this.kind) {
      case SM_EXACT:
        return this.ignoreCase ? v.length === x.length && startsWithIgnoreCase(v, x) : v === x;
      case SM_PREFIX:
        return this.ignoreCase ? startsWithIgnoreCase(v, x) : v.startsWith(x);
      case SM_SUFFIX:
        return this.ignoreCase ? startsWithIgnoreCase(v, x, v.length - x.length) : v.endsWith(x);
      case SM_CONTAINS:
        return this.ignoreCase ? asciiLower(v).includes(x) : v.includes(x);
      default:
        return (this.regex as RegexMatcher).matches(v);
    }
  }
}

const HM_EXACT = 0;
const HM_REGEX = 1;
const HM_RANGE = 2;
const HM_PRESENT = 3;
const HM_PREFIX = 4;
const HM_SUFFIX = 5;
const HM_CONTAINS = 6;
const HM_STRING = 7;

const SRC_HEADER = 0;
const SRC_METHOD = 1;
const SRC_AUTHORITY = 2;
const SRC_PATH = 3;
const SRC_SCHEME = 4;

const INT_TEXT = /^\s*[+-]?\d+\s*$/;

/** A compiled envoy.config.route.v3.HeaderMatcher (Envoy's HeaderUtility::matchHeaders). */
export class HeaderMatcher {
  private constructor(
    readonly name: string,
    private readonly src: number,
    private readonly kind: number,
    private readonly value: string,
    private readonly present: boolean,
    private readonly rangeStart: number,
    private readonly rangeEnd: number,
    private readonly regex: RegexMatcher | undefined,
    private readonly sm: StringMatcher | undefined,
    readonly invert: boolean,
    readonly treatMissingHeaderAsEmpty: boolean,
  ) {}

  static compile(o: v3.HeaderMatcher, path: string): HeaderMatcher {
    const rawName = o.name ?? "";
    if (!rawName) throw new XdsConfigError(`${path}.name`, "header name must not be empty");
    const name = rawName.toLowerCase();
    const src = name === ":method" ? SRC_METHOD : name === ":authority" ? SRC_AUTHORITY : name === ":path" ? SRC_PATH : name === ":scheme" ? SRC_SCHEME : SRC_HEADER;
    const invert = o.invertMatch === true;
    const missing = o.treatMissingHeaderAsEmpty === true;
    const mk = (kind: number, value = "", present = true, rs = 0, re = 0, regex?: RegexMatcher, sm?: StringMatcher): HeaderMatcher =>
      new HeaderMatcher(name, src, kind, value, present, rs, re, regex, sm, invert, missing);
    if (o.exactMatch !== undefined) return mk(HM_EXACT, o.exactMatch);
    if (o.safeRegexMatch) return mk(HM_REGEX, "", true, 0, 0, compileRegexMatcher(o.safeRegexMatch, `${path}.safeRegexMatch`));
    if (o.rangeMatch) return mk(HM_RANGE, "", true, o.rangeMatch.start ?? 0, o.rangeMatch.end ?? 0);
    if (o.presentMatch !== undefined) return mk(HM_PRESENT, "", o.presentMatch);
    for (const [k, kind] of [
      ["prefixMatch", HM_PREFIX],
      ["suffixMatch", HM_SUFFIX],
      ["containsMatch", HM_CONTAINS],
    ] as const) {
      const v = o[k];
      if (v === undefined) continue;
      if (!v) throw new XdsConfigError(`${path}.${k}`, `${k} must not be empty (use presentMatch)`);
      return mk(kind, v);
    }
    if (o.stringMatch) return mk(HM_STRING, "", true, 0, 0, undefined, StringMatcher.compile(o.stringMatch, `${path}.stringMatch`));
    // No specifier: a presence match.
    return mk(HM_PRESENT, "", true);
  }

  private read(r: HeaderSource): string | undefined {
    switch (this.src) {
      case SRC_METHOD:
        return r.method ?? r.header(":method");
      case SRC_AUTHORITY:
        return r.authority ?? r.header(":authority");
      case SRC_PATH:
        return r.path ?? r.header(":path");
      case SRC_SCHEME:
        return r.scheme ?? r.header(":scheme");
      default:
        return r.header(this.name);
    }
  }

  matches(r: HeaderSource): boolean {
    const v = this.read(r);
    if (v === undefined && !this.treatMissingHeaderAsEmpty) {
      return this.kind === HM_PRESENT && (this.invert ? this.present : !this.present);
    }
    const value = v ?? "";
    let m: boolean;
    switch (this.kind) {
      case HM_EXACT:
        m = this.value === "" || value === this.value;
        break;
      case HM_REGEX:
        m = (this.regex as RegexMatcher).matches(value);
        break;
      case HM_RANGE: {
        m = false;
        if (INT_TEXT.test(value)) {
          const n = Number(value.trim());
          m = Number.isSafeInteger(n) && n >= this.rangeStart && n < this.rangeEnd;
        }
        break;
      }
      case HM_PRESENT:
        m = this.present;
        break;
      case HM_PREFIX:
        m = value.startsWith(this.value);
        break;
      case HM_SUFFIX:
        m = value.endsWith(this.value);
        break;
      case HM_CONTAINS:
        m = value.includes(this.value);
        break;
      default:
        m = (this.sm as StringMatcher).match(value);
    }
    return m !== this.invert;
  }
}

/** The first value of query parameter `name` in `path` (undecoded, "" for a bare key), or undefined. */
export function firstQueryParameter(path: string, name: string): string | undefined {
  const q = path.indexOf("?");
  return q < 0 ? undefined : queryValue(path, q, name);
}

function queryValue(path: string, q: number, name: string): string | undefined {
  let end = path.indexOf("#", q);
  if (end < 0) end = path.length;
  let s = q + 1;
  while (s <= end) {
    let e = path.indexOf("&", s);
    if (e < 0 || e > end) e = end;
    if (e > s) {
      let eq = path.indexOf("=", s);
      if (eq < 0 || eq > e) eq = e;
      if (eq - s === name.length && path.startsWith(name, s)) return eq === e ? "" : path.slice(eq + 1, e);
    }
    s = e + 1;
  }
  return undefined;
}

/** A compiled envoy.config.route.v3.QueryParameterMatcher. */
export class QueryParameterMatcher {
  private constructor(
    readonly name: string,
    private readonly present: boolean | undefined,
    private readonly sm: StringMatcher | undefined,
  ) {}

  static compile(o: v3.QueryParameterMatcher, path: string): QueryParameterMatcher {
    const name = o.name ?? "";
    if (!name) throw new XdsConfigError(`${path}.name`, "query parameter name must not be empty");
    const sm = o.stringMatch;
    return new QueryParameterMatcher(name, o.presentMatch, sm ? StringMatcher.compile(sm, `${path}.stringMatch`) : undefined);
  }

  /** `q` is the index of "?" in `path` (or -1). */
  matches(path: string, q: number): boolean {
    const v = q < 0 ? undefined : queryValue(path, q, this.name);
    if (v === undefined) return this.present !== undefined ? !this.present : false;
    if (this.present !== undefined) return this.present;
    return this.sm ? this.sm.match(v) : true;
  }
}

