// The HTTP route table: an Envoy v3 RouteConfiguration (decoded typed-object form, see
// src/envoy/protos.ts) compiled once into a matcher, plus the pure helpers the router calls per
// request (weighted cluster pick, path rewrite, redirect Location, mirror selection, header
// mutation chains). Semantics follow envoy/source/common/router/config_impl.cc:
//
// - Virtual host: the authority is lowercased (ASCII) and, with `ignorePortInHostMatching`, its
//   `:port` is dropped (Envoy's getPortStart, so `[::1]:80` → `[::1]`); then an exact domain, the
//   longest suffix wildcard (`*.foo.com`, `*-bar.foo.com`; the `*` matches at least one character),
//   the longest prefix wildcard (`foo.*`), then `*`. Without the flag, `host:port` must equal a
//   `host:port` domain. Domains are unique per configuration (case-insensitive); one `*` only.
// - Routes: in order, first match wins. Path matchers see the path without query and fragment
//   (and without `;params` when `ignorePathParametersInPathMatching`). `caseSensitive` (default
//   true) applies to prefix, path and pathSeparatedPrefix; safeRegex is a full match. Header
//   matchers see repeated headers joined with ","; pseudo-headers `:method`, `:authority`, `:path`
//   (with query) and `:scheme` come from the RequestView. Query parameters are matched on the first
//   value of a key, undecoded. `grpc` requires content-type `application/grpc` or
//   `application/grpc+…`. `runtimeFraction` uses its default value and the request's random number.
// - RE2: every regex is validated with an RE2 implementation (@bufbuild/re2) — what RE2 rejects
//   (lookarounds, backreferences…) is a config error, as in Envoy. Matchers then run as JavaScript
//   RegExps translated from the RE2 syntax; a pattern the translation cannot express, or one with
//   nested/alternated repetition (backtracking blow-up risk) or ≥ 3 unbounded repeats, runs on the
//   linear-time RE2 engine instead. Rewrites (regexRewrite, hash-policy rewrites) need capture
//   groups, so they must translate; they follow RE2::GlobalReplace (`\1`…`\9`, `\\`).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { RE2JS } from "@bufbuild/re2";
import { durationMs, type ProtoObject } from "../../envoy/protos.js";
import { XdsConfigError } from "../xds-error.js";
import { HeaderMutations, type FormatterVars, type HeaderMap } from "./headers.js";

// ---------------------------------------------------------------------------------------------
// Public types

/** What route matching needs from a request (the router's view of the downstream headers). */
export interface RequestView {
  /** The Host / :authority value as received (with port, if any). */
  authority: string;
  /** :path, with the query string. "" for a CONNECT request without a path. */
  path: string;
  method: string;
  /** A header by lowercase name; repeated values joined with ",". */
  header(name: string): string | undefined;
  /** :scheme, when known (else `header(":scheme")` is asked). */
  scheme?: string;
}

/** Anything header matchers can read: a RequestView, or just a header getter (response headers). */
export type HeaderSource = Pick<RequestView, "header"> & Partial<Pick<RequestView, "authority" | "path" | "method" | "scheme">>;

/** envoy.type.v3.FractionalPercent with the denominator as a number (100, 10000, 1000000). */
export interface FractionalPercent {
  readonly numerator: number;
  readonly denominator: number;
}

export interface RetryPolicy {
  /** `retry_on` conditions, trimmed (`5xx`, `connect-failure`, `retriable-status-codes`, gRPC codes…). */
  readonly retryOn: readonly string[];
  /** Default 1. */
  readonly numRetries: number;
  /** 0 = no per-try timeout (the route timeout applies). */
  readonly perTryTimeoutMs: number;
  readonly perTryIdleTimeoutMs: number;
  readonly retriableStatusCodes: readonly number[];
  /** Retry host predicate names (`envoy.retry_host_predicates.previous_hosts`). */
  readonly retryHostPredicates: readonly string[];
  readonly retryPriority: { readonly name: string; readonly config: ProtoObject | undefined } | undefined;
  /** Default 1. */
  readonly hostSelectionRetryMaxAttempts: number;
  /** Back-off base (default 25 ms) and max (default 10 × base). */
  readonly baseIntervalMs: number;
  readonly maxIntervalMs: number;
  /** Response headers that make a response retriable (`retriable-headers`). */
  readonly retriableHeaders: readonly HeaderMatcher[];
  /** Request headers that must match for any retry to happen. */
  readonly retriableRequestHeaders: readonly HeaderMatcher[];
}

export interface HedgePolicy {
  readonly initialRequests: number;
  readonly additionalRequestChance: FractionalPercent | undefined;
  readonly hedgeOnPerTryTimeout: boolean;
}

export type HashPolicy =
  | { readonly kind: "header"; readonly headerName: string; readonly regexRewrite: RegexRewrite | undefined; readonly terminal: boolean }
  | {
      readonly kind: "cookie";
      readonly name: string;
      /** undefined: hash only an existing cookie; set (also 0): generate one when missing. */
      readonly ttlMs: number | undefined;
      readonly path: string | undefined;
      readonly attributes: readonly { readonly name: string; readonly value: string }[];
      readonly terminal: boolean;
    }
  | { readonly kind: "sourceIp"; readonly terminal: boolean }
  | { readonly kind: "queryParameter"; readonly name: string; readonly terminal: boolean }
  | { readonly kind: "filterState"; readonly key: string; readonly terminal: boolean };

export interface MirrorPolicy {
  readonly cluster: string | undefined;
  readonly clusterHeader: string | undefined;
  /** runtimeFraction.defaultValue (100% when runtimeFraction is absent). */
  readonly fraction: FractionalPercent;
  readonly traceSampled: boolean | undefined;
  readonly disableShadowHostSuffixAppend: boolean;
}

export interface WeightedClusterEntry {
  readonly name: string | undefined;
  readonly clusterHeader: string | undefined;
  readonly weight: number;
  readonly hostRewriteLiteral: string | undefined;
  readonly requestHeaders: HeaderMutations | undefined;
  readonly responseHeaders: HeaderMutations | undefined;
  readonly typedPerFilterConfig: Readonly<Record<string, ProtoObject>>;
  /** `metadataMatch.filterMetadata["envoy.lb"]` merged over the route's (subset load balancing). */
  readonly metadataMatch: ProtoObject | undefined;
  /** Mutations the router applies for this pick, in order (this entry's, then the route's chain). */
  readonly requestHeaderChain: readonly HeaderMutations[];
  readonly responseHeaderChain: readonly HeaderMutations[];
  /** Per-filter configs, most specific first: this entry > route > virtual host > route configuration. */
  readonly filterConfigs: Readonly<Record<string, ProtoObject>>;
}

export interface WeightedClusters {
  readonly clusters: readonly WeightedClusterEntry[];
  /** Sum of the weights (> 0). */
  readonly totalWeight: number;
  /** `headerName`: a request header holding the random value (single, integer) to pick with. */
  readonly headerName: string | undefined;
  readonly useHashPolicy: boolean;
}

export interface RegexRewrite {
  readonly pattern: string;
  readonly substitution: string;
}

export interface RouteActionConfig {
  readonly kind: "route";
  readonly cluster: string | undefined;
  readonly clusterHeader: string | undefined;
  readonly weightedClusters: WeightedClusters | undefined;
  /** 503 (default), 404 or 500. */
  readonly clusterNotFoundResponseCode: number;
  /** Route timeout: 15000 when absent (Envoy's default); 0 = disabled. */
  readonly timeoutMs: number;
  /** undefined = the HCM's stream idle timeout; 0 = disabled. */
  readonly idleTimeoutMs: number | undefined;
  /** The route's retry policy, else the virtual host's. */
  readonly retryPolicy: RetryPolicy | undefined;
  readonly hedgePolicy: HedgePolicy | undefined;
  readonly prefixRewrite: string | undefined;
  readonly regexRewrite: RegexRewrite | undefined;
  readonly hostRewriteLiteral: string | undefined;
  readonly autoHostRewrite: boolean;
  readonly hostRewriteHeader: string | undefined;
  readonly hostRewritePathRegex: RegexRewrite | undefined;
  readonly appendXForwardedHost: boolean;
  readonly hashPolicy: readonly HashPolicy[];
  /** The route's mirror policies, else the virtual host's, else the route configuration's. */
  readonly requestMirrorPolicies: readonly MirrorPolicy[];
  /** max_stream_duration.max_stream_duration: the stream's bound (overrides the HCM's; 0 = none). */
  readonly maxStreamDurationMs: number | undefined;
  /**
   * The route has a max_stream_duration message (Envoy's usingNewTimeouts): the route timeout and
   * max_grpc_timeout no longer apply, the stream duration (and grpc-timeout) does.
   */
  readonly usingNewTimeouts: boolean;
  readonly grpcTimeoutHeaderMaxMs: number | undefined;
  readonly grpcTimeoutHeaderOffsetMs: number | undefined;
  /** Deprecated gRPC timeout fields (Istio still sets maxGrpcTimeout: 0 = honour grpc-timeout, no cap). */
  readonly maxGrpcTimeoutMs: number | undefined;
  readonly grpcTimeoutOffsetMs: number | undefined;
  /** From the virtual host: send `x-envoy-attempt-count` upstream. */
  readonly includeRequestAttemptCount: boolean;
  readonly includeAttemptCountInResponse: boolean;
  /** Upgrade types (lowercase) → enabled. */
  readonly upgradeConfigs: Readonly<Record<string, boolean>>;
  readonly priority: "DEFAULT" | "HIGH";
  /** `metadataMatch.filterMetadata["envoy.lb"]` (subset load balancing). */
  readonly metadataMatch: ProtoObject | undefined;
  /** Retry/shadow buffer limit: the route's, else the virtual host's; undefined = the listener's. */
  readonly perRequestBufferLimitBytes: number | undefined;
  /** Deprecated RouteAction.cors, when set. */
  readonly cors: ProtoObject | undefined;
  readonly rateLimits: readonly ProtoObject[];
}

export interface RedirectActionConfig {
  readonly kind: "redirect";
  readonly schemeRedirect: string | undefined;
  readonly httpsRedirect: boolean;
  readonly hostRedirect: string | undefined;
  readonly portRedirect: number | undefined;
  readonly pathRedirect: string | undefined;
  readonly prefixRewrite: string | undefined;
  readonly regexRewrite: RegexRewrite | undefined;
  /** 301 (MOVED_PERMANENTLY, default), 302, 303, 307, 308. */
  readonly responseCode: number;
  readonly stripQuery: boolean;
  /**
   * The route's path matcher value that prefixRewrite replaces (prefix, path or
   * pathSeparatedPrefix); undefined for regex/connect routes, where the whole path is replaced.
   */
  readonly matchedPrefix: string | undefined;
  /** Envoy's require_tls redirect: `https://` + the authority as received + path. */
  readonly sslRedirect: boolean;
}

export interface DirectResponseConfig {
  readonly kind: "direct";
  readonly status: number;
  /** The body (inlineString, inlineBytes, filename or environmentVariable), undefined for none. */
  readonly body: Buffer | undefined;
}

export type RouteAction = RouteActionConfig | RedirectActionConfig | DirectResponseConfig;

export type PathMatchKind = "prefix" | "path" | "safeRegex" | "pathSeparatedPrefix" | "connect";

/** A descriptive view of a route's match (for debug pages and tests; matching is compiled). */
export interface RouteMatchInfo {
  readonly kind: PathMatchKind;
  /** The prefix, path or regex; "" for connect. */
  readonly value: string;
  readonly caseSensitive: boolean;
  readonly grpc: boolean;
  readonly headers: readonly HeaderMatcher[];
  readonly queryParameters: readonly QueryParameterMatcher[];
  readonly runtimeFraction: FractionalPercent | undefined;
}

export interface RouteMatch {
  readonly vhost: CompiledVirtualHost;
  readonly route: CompiledRoute;
}

// ---------------------------------------------------------------------------------------------
// Decoded-proto access (strict about types, lenient about wrapper/duration spellings)

type P = ProtoObject;
const EMPTY: readonly never[] = Object.freeze([]);
const NO_CONFIGS: Readonly<Record<string, ProtoObject>> = Object.freeze({});

function at(base: string, field: string): string {
  return base ? `${base}.${field}` : field;
}

function isObj(v: unknown): v is P {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function objField(o: P, k: string, path: string): P | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) throw new XdsConfigError(at(path, k), "expected a message");
  return v;
}

function strField(o: P, k: string, path: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new XdsConfigError(at(path, k), "expected a string");
  return v;
}

function boolField(o: P, k: string, path: string): boolean {
  const v = o[k];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw new XdsConfigError(at(path, k), "expected a bool");
  return v;
}

function numField(o: P, k: string, path: string): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  const n = typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) throw new XdsConfigError(at(path, k), "expected a number");
  return n;
}

function listField(o: P, k: string, path: string): readonly unknown[] {
  const v = o[k];
  if (v === undefined || v === null) return EMPTY;
  if (!Array.isArray(v)) throw new XdsConfigError(at(path, k), "expected a list");
  return v;
}

function objList(o: P, k: string, path: string): P[] {
  return listField(o, k, path).map((v, i) => {
    if (!isObj(v)) throw new XdsConfigError(`${at(path, k)}[${i}]`, "expected a message");
    return v;
  });
}

function strList(o: P, k: string, path: string): string[] {
  return listField(o, k, path).map((v, i) => {
    if (typeof v !== "string") throw new XdsConfigError(`${at(path, k)}[${i}]`, "expected a string");
    return v;
  });
}

/** google.protobuf.UInt32Value & co: `{ value }` (a plain number is accepted too). */
function wrappedNum(o: P, k: string, path: string): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "number") return v;
  if (isObj(v)) return numField(v, "value", at(path, k)) ?? 0;
  throw new XdsConfigError(at(path, k), "expected a wrapped number");
}

function wrappedBool(o: P, k: string, path: string): boolean | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "boolean") return v;
  if (isObj(v)) return boolField(v, "value", at(path, k));
  throw new XdsConfigError(at(path, k), "expected a BoolValue");
}

const DURATION_TEXT = /^(-?\d+(?:\.\d+)?)s$/;

/** google.protobuf.Duration in ms: `{seconds, nanos}` (or the JSON form "1.5s"); undefined when absent. */
function durField(o: P, k: string, path: string): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  let ms: number | undefined;
  if (typeof v === "string") {
    const m = DURATION_TEXT.exec(v);
    ms = m ? Number(m[1]) * 1000 : undefined;
  } else if (isObj(v)) ms = durationMs(v);
  if (ms === undefined || !Number.isFinite(ms)) throw new XdsConfigError(at(path, k), "expected a duration");
  if (ms < 0) throw new XdsConfigError(at(path, k), "duration must not be negative");
  return ms;
}

function enumField<T extends string>(o: P, k: string, path: string, values: readonly T[]): T {
  const v = o[k];
  if (v === undefined || v === null) return values[0];
  if (typeof v === "number" && v >= 0 && v < values.length) return values[v];
  const found = values.find((x) => x === v);
  if (found === undefined) throw new XdsConfigError(at(path, k), `unknown value ${JSON.stringify(v)}`);
  return found;
}

function asciiLower(s: string): string {
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
function startsWithIgnoreCase(s: string, lower: string, offset = 0): boolean {
  const n = lower.length;
  if (offset < 0 || s.length - offset < n) return false;
  for (let i = 0; i < n; i++) if (foldChar(s.charCodeAt(offset + i)) !== lower.charCodeAt(i)) return false;
  return true;
}

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
export function compileRegexMatcher(o: P, path: string): RegexMatcher {
  const regex = strField(o, "regex", path) ?? "";
  return compileRegex(regex, at(path, "regex"));
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
export function compileRegexRewrite(o: P, path: string): RegexRewrite {
  const pattern = objField(o, "pattern", path);
  if (!pattern) throw new XdsConfigError(at(path, "pattern"), "pattern is required");
  const regex = strField(pattern, "regex", at(path, "pattern")) ?? "";
  const rpath = at(at(path, "pattern"), "regex");
  const re2 = re2Compile(regex, rpath);
  let re: RegExp;
  try {
    const t = translateRe2(regex);
    re = new RegExp(t.source, t.ignoreCase ? "giu" : "gu");
  } catch {
    throw new XdsConfigError(rpath, `regular expression '${regex}' uses RE2 syntax tsmesh cannot run for rewrites (scoped flags or (?U))`);
  }
  const substitution = strField(o, "substitution", path) ?? "";
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
        throw new XdsConfigError(at(path, "substitution"), `\\${n} refers to a group the pattern does not have (it has ${groups})`);
      }
      if (lit) parts.push(lit);
      lit = "";
      parts.push(n);
      i++;
    } else {
      throw new XdsConfigError(at(path, "substitution"), `invalid rewrite pattern: ${JSON.stringify(substitution)} (use \\0-\\9 or \\\\)`);
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

// ---------------------------------------------------------------------------------------------
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

  static compile(o: P, path: string): StringMatcher {
    const ignoreCase = boolField(o, "ignoreCase", path);
    const pick = (k: string, kind: number, minLen: number): StringMatcher | undefined => {
      const v = strField(o, k, path);
      if (v === undefined) return undefined;
      if (v.length < minLen) throw new XdsConfigError(at(path, k), `${k} must not be empty`);
      return new StringMatcher(kind, ignoreCase ? asciiLower(v) : v, ignoreCase, undefined);
    };
    const m = pick("exact", SM_EXACT, 0) ?? pick("prefix", SM_PREFIX, 1) ?? pick("suffix", SM_SUFFIX, 1) ?? pick("contains", SM_CONTAINS, 1);
    if (m) return m;
    const re = objField(o, "safeRegex", path);
    if (re) {
      if (ignoreCase) throw new XdsConfigError(path, "ignore_case has no effect for safe_regex.");
      return new StringMatcher(SM_REGEX, "", false, compileRegexMatcher(re, at(path, "safeRegex")));
    }
    if (o.custom !== undefined) throw new XdsConfigError(at(path, "custom"), "custom string matchers are not supported");
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

  static compile(o: P, path: string): HeaderMatcher {
    const rawName = strField(o, "name", path) ?? "";
    if (!rawName) throw new XdsConfigError(at(path, "name"), "header name must not be empty");
    const name = rawName.toLowerCase();
    const src = name === ":method" ? SRC_METHOD : name === ":authority" ? SRC_AUTHORITY : name === ":path" ? SRC_PATH : name === ":scheme" ? SRC_SCHEME : SRC_HEADER;
    const invert = boolField(o, "invertMatch", path);
    const missing = boolField(o, "treatMissingHeaderAsEmpty", path);
    const mk = (kind: number, value = "", present = true, rs = 0, re = 0, regex?: RegexMatcher, sm?: StringMatcher): HeaderMatcher =>
      new HeaderMatcher(name, src, kind, value, present, rs, re, regex, sm, invert, missing);
    const exact = strField(o, "exactMatch", path);
    if (exact !== undefined) return mk(HM_EXACT, exact);
    const sr = objField(o, "safeRegexMatch", path);
    if (sr) return mk(HM_REGEX, "", true, 0, 0, compileRegexMatcher(sr, at(path, "safeRegexMatch")));
    const range = objField(o, "rangeMatch", path);
    if (range) {
      const start = numField(range, "start", at(path, "rangeMatch")) ?? 0;
      const end = numField(range, "end", at(path, "rangeMatch")) ?? 0;
      return mk(HM_RANGE, "", true, start, end);
    }
    if (typeof o.presentMatch === "boolean") return mk(HM_PRESENT, "", o.presentMatch);
    for (const [k, kind] of [
      ["prefixMatch", HM_PREFIX],
      ["suffixMatch", HM_SUFFIX],
      ["containsMatch", HM_CONTAINS],
    ] as const) {
      const v = strField(o, k, path);
      if (v === undefined) continue;
      if (!v) throw new XdsConfigError(at(path, k), `${k} must not be empty (use presentMatch)`);
      return mk(kind, v);
    }
    const sm = objField(o, "stringMatch", path);
    if (sm) return mk(HM_STRING, "", true, 0, 0, undefined, StringMatcher.compile(sm, at(path, "stringMatch")));
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

/** Do all matchers match (an empty list matches)? */
export function matchHeaders(matchers: readonly HeaderMatcher[], r: HeaderSource): boolean {
  for (let i = 0; i < matchers.length; i++) if (!matchers[i].matches(r)) return false;
  return true;
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

  static compile(o: P, path: string): QueryParameterMatcher {
    const name = strField(o, "name", path) ?? "";
    if (!name) throw new XdsConfigError(at(path, "name"), "query parameter name must not be empty");
    const present = typeof o.presentMatch === "boolean" ? o.presentMatch : undefined;
    const sm = objField(o, "stringMatch", path);
    return new QueryParameterMatcher(name, present, sm ? StringMatcher.compile(sm, at(path, "stringMatch")) : undefined);
  }

  /** `q` is the index of "?" in `path` (or -1). */
  matches(path: string, q: number): boolean {
    const v = q < 0 ? undefined : queryValue(path, q, this.name);
    if (v === undefined) return this.present !== undefined ? !this.present : false;
    if (this.present !== undefined) return this.present;
    return this.sm ? this.sm.match(v) : true;
  }
}

// ---------------------------------------------------------------------------------------------
// Policies

const DENOMINATORS: readonly string[] = ["HUNDRED", "TEN_THOUSAND", "MILLION"];
const DENOMINATOR_VALUES = [100, 10000, 1000000];

function fractionalPercent(o: P, path: string): FractionalPercent {
  const d = enumField(o, "denominator", path, DENOMINATORS);
  return { numerator: numField(o, "numerator", path) ?? 0, denominator: DENOMINATOR_VALUES[DENOMINATORS.indexOf(d)] };
}

/** Runtime featureEnabled with the default value: does `random01` ∈ [0,1) fall inside the fraction? */
export function fractionFires(f: FractionalPercent, random01: number): boolean {
  if (f.numerator <= 0) return false;
  if (f.numerator >= f.denominator) return true;
  return Math.floor(random01 * f.denominator) < f.numerator;
}

function compileRetryPolicy(o: P, path: string): RetryPolicy {
  const retryOn = (strField(o, "retryOn", path) ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const codes = listField(o, "retriableStatusCodes", path).map((c, i) => {
    if (typeof c !== "number") throw new XdsConfigError(`${at(path, "retriableStatusCodes")}[${i}]`, "expected a status code");
    return c;
  });
  const predicates = objList(o, "retryHostPredicate", path).map((p, i) => {
    const name = strField(p, "name", `${at(path, "retryHostPredicate")}[${i}]`);
    if (!name) throw new XdsConfigError(`${at(path, "retryHostPredicate")}[${i}].name`, "name is required");
    return name;
  });
  const prio = objField(o, "retryPriority", path);
  let retryPriority: RetryPolicy["retryPriority"];
  if (prio) {
    const name = strField(prio, "name", at(path, "retryPriority")) ?? "";
    if (name) retryPriority = { name, config: objField(prio, "typedConfig", at(path, "retryPriority")) };
  }
  let baseIntervalMs = 25;
  let maxIntervalMs = 250;
  const backOff = objField(o, "retryBackOff", path);
  if (backOff) {
    const bp = at(path, "retryBackOff");
    const base = durField(backOff, "baseInterval", bp);
    if (base === undefined) throw new XdsConfigError(at(bp, "baseInterval"), "base_interval is required");
    baseIntervalMs = Math.max(1, Math.floor(base));
    const max = durField(backOff, "maxInterval", bp);
    if (max !== undefined) {
      maxIntervalMs = Math.max(1, Math.floor(max));
      if (maxIntervalMs < baseIntervalMs) throw new XdsConfigError(bp, "retry_policy.max_interval must greater than or equal to the base_interval");
    } else maxIntervalMs = baseIntervalMs * 10;
  }
  return {
    retryOn,
    numRetries: wrappedNum(o, "numRetries", path) ?? 1,
    perTryTimeoutMs: durField(o, "perTryTimeout", path) ?? 0,
    perTryIdleTimeoutMs: durField(o, "perTryIdleTimeout", path) ?? 0,
    retriableStatusCodes: codes,
    retryHostPredicates: predicates,
    retryPriority,
    hostSelectionRetryMaxAttempts: numField(o, "hostSelectionRetryMaxAttempts", path) || 1,
    baseIntervalMs,
    maxIntervalMs,
    retriableHeaders: objList(o, "retriableHeaders", path).map((h, i) => HeaderMatcher.compile(h, `${at(path, "retriableHeaders")}[${i}]`)),
    retriableRequestHeaders: objList(o, "retriableRequestHeaders", path).map((h, i) =>
      HeaderMatcher.compile(h, `${at(path, "retriableRequestHeaders")}[${i}]`),
    ),
  };
}

function compileHedgePolicy(o: P, path: string): HedgePolicy {
  const chance = objField(o, "additionalRequestChance", path);
  return {
    initialRequests: wrappedNum(o, "initialRequests", path) ?? 1,
    additionalRequestChance: chance ? fractionalPercent(chance, at(path, "additionalRequestChance")) : undefined,
    hedgeOnPerTryTimeout: boolField(o, "hedgeOnPerTryTimeout", path),
  };
}

function compileMirrorPolicy(o: P, path: string): MirrorPolicy {
  const cluster = strField(o, "cluster", path) || undefined;
  const clusterHeader = strField(o, "clusterHeader", path) || undefined;
  if (cluster && clusterHeader) {
    throw new XdsConfigError(path, `Only one of cluster '${cluster}' or cluster_header '${clusterHeader}' in request mirror policy can be specified`);
  }
  if (!cluster && !clusterHeader) throw new XdsConfigError(path, "Exactly one of cluster or cluster_header in request mirror policy need to be specified");
  const rf = objField(o, "runtimeFraction", path);
  let fraction: FractionalPercent = { numerator: 100, denominator: 100 };
  if (rf) {
    const dv = objField(rf, "defaultValue", at(path, "runtimeFraction"));
    fraction = dv ? fractionalPercent(dv, at(at(path, "runtimeFraction"), "defaultValue")) : { numerator: 0, denominator: 100 };
  }
  return {
    cluster,
    clusterHeader: clusterHeader?.toLowerCase(),
    fraction,
    traceSampled: wrappedBool(o, "traceSampled", path),
    disableShadowHostSuffixAppend: boolField(o, "disableShadowHostSuffixAppend", path),
  };
}

function compileHashPolicy(o: P, path: string): HashPolicy | undefined {
  const terminal = boolField(o, "terminal", path);
  const header = objField(o, "header", path);
  if (header) {
    const hp = at(path, "header");
    const headerName = strField(header, "headerName", hp) ?? "";
    if (!headerName) throw new XdsConfigError(at(hp, "headerName"), "header_name must not be empty");
    const rr = objField(header, "regexRewrite", hp);
    return { kind: "header", headerName: headerName.toLowerCase(), regexRewrite: rr ? compileRegexRewrite(rr, at(hp, "regexRewrite")) : undefined, terminal };
  }
  const cookie = objField(o, "cookie", path);
  if (cookie) {
    const cp = at(path, "cookie");
    const name = strField(cookie, "name", cp) ?? "";
    if (!name) throw new XdsConfigError(at(cp, "name"), "cookie name must not be empty");
    const attributes = objList(cookie, "attributes", cp).map((a, i) => ({
      name: strField(a, "name", `${at(cp, "attributes")}[${i}]`) ?? "",
      value: strField(a, "value", `${at(cp, "attributes")}[${i}]`) ?? "",
    }));
    return { kind: "cookie", name, ttlMs: durField(cookie, "ttl", cp), path: strField(cookie, "path", cp) || undefined, attributes, terminal };
  }
  const cp = objField(o, "connectionProperties", path);
  if (cp) return boolField(cp, "sourceIp", at(path, "connectionProperties")) ? { kind: "sourceIp", terminal } : undefined;
  const qp = objField(o, "queryParameter", path);
  if (qp) {
    const name = strField(qp, "name", at(path, "queryParameter")) ?? "";
    if (!name) throw new XdsConfigError(at(at(path, "queryParameter"), "name"), "query parameter name must not be empty");
    return { kind: "queryParameter", name, terminal };
  }
  const fs = objField(o, "filterState", path);
  if (fs) return { kind: "filterState", key: strField(fs, "key", at(path, "filterState")) ?? "", terminal };
  throw new XdsConfigError(path, "hash policy needs one of header, cookie, connectionProperties, queryParameter or filterState");
}

function typedPerFilterConfig(o: P, path: string): Readonly<Record<string, ProtoObject>> {
  const m = objField(o, "typedPerFilterConfig", path);
  if (!m) return NO_CONFIGS;
  const out: Record<string, ProtoObject> = {};
  for (const [k, v] of Object.entries(m)) {
    if (!isObj(v)) throw new XdsConfigError(`${at(path, "typedPerFilterConfig")}[${JSON.stringify(k)}]`, "expected an Any");
    out[k] = v;
  }
  return Object.freeze(out);
}

function mergeConfigs(...levels: Readonly<Record<string, ProtoObject>>[]): Readonly<Record<string, ProtoObject>> {
  const nonEmpty = levels.filter((l) => l !== NO_CONFIGS && Object.keys(l).length > 0);
  if (nonEmpty.length === 0) return NO_CONFIGS;
  if (nonEmpty.length === 1) return nonEmpty[0];
  return Object.freeze(Object.assign({}, ...nonEmpty) as Record<string, ProtoObject>);
}

function lbMetadata(o: P, path: string): ProtoObject | undefined {
  const mm = objField(o, "metadataMatch", path);
  if (!mm) return undefined;
  const fm = objField(mm, "filterMetadata", at(path, "metadataMatch"));
  const lb = fm?.["envoy.lb"];
  return isObj(lb) ? lb : undefined;
}

function mergeLbMetadata(parent: ProtoObject | undefined, child: ProtoObject | undefined): ProtoObject | undefined {
  if (!parent || !child) return child ?? parent;
  const pf = isObj(parent.fields) ? parent.fields : {};
  const cf = isObj(child.fields) ? child.fields : {};
  return { fields: { ...pf, ...cf } };
}

function chain(mostSpecificWins: boolean, ...mostSpecificFirst: (HeaderMutations | undefined)[]): readonly HeaderMutations[] {
  const levels = mostSpecificWins ? [...mostSpecificFirst].reverse() : mostSpecificFirst;
  const out = levels.filter((m): m is HeaderMutations => m !== undefined);
  return out.length === 0 ? EMPTY : out;
}

function dataSource(o: P, path: string, maxBytes: number): Buffer | undefined {
  let buf: Buffer | undefined;
  const s = o.inlineString;
  const b = o.inlineBytes;
  const file = strField(o, "filename", path);
  const env = strField(o, "environmentVariable", path);
  if (typeof s === "string") buf = Buffer.from(s, "utf8");
  else if (b instanceof Uint8Array) buf = Buffer.from(b);
  else if (typeof b === "string") buf = Buffer.from(b, "base64");
  else if (file !== undefined) {
    try {
      buf = readFileSync(file);
    } catch (err) {
      throw new XdsConfigError(at(path, "filename"), `cannot read ${file}: ${(err as Error).message}`);
    }
    if (maxBytes > 0 && buf.length > maxBytes) throw new XdsConfigError(at(path, "filename"), `file ${file} size is ${buf.length} bytes; maximum is ${maxBytes}`);
  } else if (env !== undefined) {
    const v = process.env[env];
    if (v === undefined) throw new XdsConfigError(at(path, "environmentVariable"), `Environment variable doesn't exist: ${env}`);
    buf = Buffer.from(v, "utf8");
  }
  if (buf && maxBytes > 0 && buf.length > maxBytes) throw new XdsConfigError(path, `response body size is ${buf.length} bytes; maximum is ${maxBytes}`);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Virtual hosts and routes

const PATH_PREFIX = 0;
const PATH_EXACT = 1;
const PATH_REGEX = 2;
const PATH_SEPARATED = 3;
const PATH_CONNECT = 4;
const PATH_KINDS: readonly PathMatchKind[] = ["prefix", "path", "safeRegex", "pathSeparatedPrefix", "connect"];

const REDIRECT_CODES: readonly string[] = ["MOVED_PERMANENTLY", "FOUND", "SEE_OTHER", "TEMPORARY_REDIRECT", "PERMANENT_REDIRECT"];
const REDIRECT_STATUS = [301, 302, 303, 307, 308];
const NOT_FOUND_CODES: readonly string[] = ["SERVICE_UNAVAILABLE", "NOT_FOUND", "INTERNAL_SERVER_ERROR"];
const NOT_FOUND_STATUS = [503, 404, 500];
const REQUIRE_TLS: readonly ("NONE" | "EXTERNAL_ONLY" | "ALL")[] = ["NONE", "EXTERNAL_ONLY", "ALL"];
const PRIORITIES: readonly ("DEFAULT" | "HIGH")[] = ["DEFAULT", "HIGH"];

/** Envoy's DEFAULT_ROUTE_TIMEOUT_MS. */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15000;

function isGrpcContentType(ct: string | undefined): boolean {
  if (ct === undefined || !ct.startsWith("application/grpc")) return false;
  return ct.length === 16 || ct.charCodeAt(16) === 43; /* + */
}

/** A compiled route. */
export class CompiledRoute {
  /** `{ vhost, route }`, allocated once. */
  readonly result: RouteMatch;
  readonly match: RouteMatchInfo;
  /** Request mutations in the order the router applies them (route → vhost → config by default). */
  readonly requestHeaderChain: readonly HeaderMutations[];
  readonly responseHeaderChain: readonly HeaderMutations[];
  /** Per-filter configs, most specific wins: route > virtual host > route configuration. */
  readonly filterConfigs: Readonly<Record<string, ProtoObject>>;

  /** @internal use RouteTable.compile */
  constructor(
    readonly vhost: CompiledVirtualHost,
    readonly index: number,
    readonly name: string,
    readonly action: RouteAction,
    private readonly pathKind: number,
    private readonly pathValue: string,
    private readonly caseSensitive: boolean,
    private readonly regex: RegexMatcher | undefined,
    private readonly grpc: boolean,
    private readonly headers: readonly HeaderMatcher[],
    private readonly queryParameters: readonly QueryParameterMatcher[],
    private readonly runtimeFraction: FractionalPercent | undefined,
    readonly requestHeaders: HeaderMutations | undefined,
    readonly responseHeaders: HeaderMutations | undefined,
    readonly typedPerFilterConfig: Readonly<Record<string, ProtoObject>>,
    readonly decorator: { readonly operation: string; readonly propagate: boolean } | undefined,
    readonly metadata: ProtoObject | undefined,
    readonly statPrefix: string | undefined,
    table: TableLevel,
  ) {
    this.result = { vhost, route: this };
    this.match = {
      kind: PATH_KINDS[pathKind],
      value: pathKind === PATH_REGEX ? (regex as RegexMatcher).regex : pathValue,
      caseSensitive,
      grpc,
      headers,
      queryParameters,
      runtimeFraction,
    };
    this.requestHeaderChain = chain(table.mostSpecificHeaderMutationsWins, requestHeaders, vhost.requestHeaders, table.requestHeaders);
    this.responseHeaderChain = chain(table.mostSpecificHeaderMutationsWins, responseHeaders, vhost.responseHeaders, table.responseHeaders);
    this.filterConfigs = mergeConfigs(table.typedPerFilterConfig, vhost.typedPerFilterConfig, typedPerFilterConfig);
  }

  /**
   * Does the route match? `path` is the request path, `end` where its path part ends (query,
   * fragment or `;params` excluded), `q` the index of "?" (-1 if none).
   * @internal
   */
  matches(req: RequestView, path: string, end: number, q: number, random01: number): boolean {
    const v = this.pathValue;
    switch (this.pathKind) {
      case PATH_PREFIX:
        if (path === "" || end < v.length) return false;
        if (this.caseSensitive ? !path.startsWith(v) : !startsWithIgnoreCase(path, v)) return false;
        break;
      case PATH_EXACT:
        if (end !== v.length || path === "") return false;
        if (this.caseSensitive ? !path.startsWith(v) : !startsWithIgnoreCase(path, v)) return false;
        break;
      case PATH_REGEX:
        if (path === "") return false;
        if (!(this.regex as RegexMatcher).matches(end === path.length ? path : path.slice(0, end))) return false;
        break;
      case PATH_SEPARATED:
        if (path === "" || end < v.length) return false;
        if (this.caseSensitive ? !path.startsWith(v) : !startsWithIgnoreCase(path, v)) return false;
        if (end !== v.length && path.charCodeAt(v.length) !== 47 /* / */) return false;
        break;
      default:
        if (req.method !== "CONNECT") return false;
    }
    if (this.grpc && (path === "" || !isGrpcContentType(req.header("content-type")))) return false;
    const h = this.headers;
    for (let i = 0; i < h.length; i++) if (!h[i].matches(req)) return false;
    const qp = this.queryParameters;
    for (let i = 0; i < qp.length; i++) if (!qp[i].matches(path, q)) return false;
    if (this.runtimeFraction !== undefined && !fractionFires(this.runtimeFraction, random01)) return false;
    return true;
  }
}

/** A compiled virtual host. */
export class CompiledVirtualHost {
  routes: readonly CompiledRoute[] = EMPTY;
  /** The require_tls redirect route (undefined when requireTls is NONE). */
  sslRedirectRoute: CompiledRoute | undefined;
  /** Does some route match on runtimeFraction (and so need the request's random number)? */
  needsRandom = false;

  /** @internal use RouteTable.compile */
  constructor(
    readonly index: number,
    readonly name: string,
    readonly domains: readonly string[],
    readonly requestHeaders: HeaderMutations | undefined,
    readonly responseHeaders: HeaderMutations | undefined,
    readonly typedPerFilterConfig: Readonly<Record<string, ProtoObject>>,
    readonly retryPolicy: RetryPolicy | undefined,
    readonly hedgePolicy: HedgePolicy | undefined,
    readonly requestMirrorPolicies: readonly MirrorPolicy[],
    readonly cors: ProtoObject | undefined,
    readonly requireTls: "NONE" | "EXTERNAL_ONLY" | "ALL",
    readonly includeRequestAttemptCount: boolean,
    readonly includeAttemptCountInResponse: boolean,
    readonly includeIsTimeoutRetryHeader: boolean,
    readonly perRequestBufferLimitBytes: number | undefined,
    readonly rateLimits: readonly ProtoObject[],
    readonly metadata: ProtoObject | undefined,
  ) {}
}

/** The route-configuration level, as routes see it. */
interface TableLevel {
  readonly mostSpecificHeaderMutationsWins: boolean;
  readonly requestHeaders: HeaderMutations | undefined;
  readonly responseHeaders: HeaderMutations | undefined;
  readonly typedPerFilterConfig: Readonly<Record<string, ProtoObject>>;
  readonly requestMirrorPolicies: readonly MirrorPolicy[];
  readonly maxDirectResponseBodySizeBytes: number;
}

const AUTHORITY_CACHE_MAX = 4096;

/** Envoy's getPortStart: index of the ":" before a port, or -1 (IPv6 literals need brackets). */
function portStart(host: string): number {
  const colon = host.lastIndexOf(":");
  if (colon < 0) return -1;
  const v6end = host.lastIndexOf("]");
  return v6end < 0 || v6end < colon ? colon : -1;
}

interface WildcardLevel {
  readonly len: number;
  readonly map: Map<string, CompiledVirtualHost>;
}

/** A compiled RouteConfiguration. */
export class RouteTable implements TableLevel {
  readonly virtualHosts: readonly CompiledVirtualHost[];
  private readonly exact = new Map<string, CompiledVirtualHost>();
  private readonly suffixes: WildcardLevel[] = [];
  private readonly prefixes: WildcardLevel[] = [];
  private defaultVhost: CompiledVirtualHost | undefined;
  private readonly onlyDefault: boolean;
  private readonly cache = new Map<string, CompiledVirtualHost | null>();

  private constructor(
    readonly name: string,
    readonly ignorePortInHostMatching: boolean,
    readonly ignorePathParametersInPathMatching: boolean,
    readonly mostSpecificHeaderMutationsWins: boolean,
    readonly requestHeaders: HeaderMutations | undefined,
    readonly responseHeaders: HeaderMutations | undefined,
    /** Headers the HCM strips from requests that are not internal (lowercase). */
    readonly internalOnlyHeaders: readonly string[],
    readonly typedPerFilterConfig: Readonly<Record<string, ProtoObject>>,
    readonly requestMirrorPolicies: readonly MirrorPolicy[],
    readonly maxDirectResponseBodySizeBytes: number,
    readonly validateClusters: boolean | undefined,
    readonly metadata: ProtoObject | undefined,
    rc: P,
  ) {
    const vhosts: CompiledVirtualHost[] = [];
    const suffixes = new Map<number, Map<string, CompiledVirtualHost>>();
    const prefixes = new Map<number, Map<string, CompiledVirtualHost>>();
    objList(rc, "virtualHosts", "").forEach((vh, i) => {
      const path = `virtualHosts[${i}]`;
      const v = compileVirtualHost(vh, i, path, this);
      vhosts.push(v);
      v.domains.forEach((raw, j) => {
        const domain = asciiLower(raw);
        const dpath = `${path}.domains[${j}]`;
        if (!domain) throw new XdsConfigError(dpath, "domain must not be empty");
        let dup: boolean;
        if (domain === "*") {
          if (this.defaultVhost) throw new XdsConfigError(dpath, `Only a single wildcard domain is permitted in route ${name}`);
          this.defaultVhost = v;
          dup = false;
        } else if (domain.startsWith("*")) dup = addWildcard(suffixes, domain.slice(1), v);
        else if (domain.endsWith("*")) dup = addWildcard(prefixes, domain.slice(0, -1), v);
        else {
          dup = this.exact.has(domain);
          if (!dup) this.exact.set(domain, v);
        }
        if (dup) {
          throw new XdsConfigError(dpath, `Only unique values for domains are permitted. Duplicate entry of domain ${domain} in route ${name}`);
        }
      });
    });
    this.virtualHosts = vhosts;
    const levels = (m: Map<number, Map<string, CompiledVirtualHost>>): WildcardLevel[] =>
      [...m.entries()].sort((a, b) => b[0] - a[0]).map(([len, map]) => ({ len, map }));
    this.suffixes = levels(suffixes);
    this.prefixes = levels(prefixes);
    this.onlyDefault = this.exact.size === 0 && this.suffixes.length === 0 && this.prefixes.length === 0;
  }

  /** Compiles a decoded RouteConfiguration; throws XdsConfigError with the field path of the problem. */
  static compile(rc: ProtoObject): RouteTable {
    if (!isObj(rc)) throw new XdsConfigError("", "expected a RouteConfiguration");
    if (rc.vhds !== undefined && rc.vhds !== null) throw new XdsConfigError("vhds", "VHDS is not supported");
    const name = strField(rc, "name", "") ?? "";
    const md = objField(rc, "metadata", "");
    return new RouteTable(
      name,
      boolField(rc, "ignorePortInHostMatching", ""),
      boolField(rc, "ignorePathParametersInPathMatching", ""),
      boolField(rc, "mostSpecificHeaderMutationsWins", ""),
      HeaderMutations.compile(listField(rc, "requestHeadersToAdd", ""), listField(rc, "requestHeadersToRemove", ""), "requestHeadersToAdd", "requestHeadersToRemove"),
      HeaderMutations.compile(listField(rc, "responseHeadersToAdd", ""), listField(rc, "responseHeadersToRemove", ""), "responseHeadersToAdd", "responseHeadersToRemove"),
      strList(rc, "internalOnlyHeaders", "").map((h) => h.toLowerCase()),
      typedPerFilterConfig(rc, ""),
      objList(rc, "requestMirrorPolicies", "").map((m, i) => compileMirrorPolicy(m, `requestMirrorPolicies[${i}]`)),
      wrappedNum(rc, "maxDirectResponseBodySizeBytes", "") ?? 4096,
      wrappedBool(rc, "validateClusters", ""),
      md,
      rc,
    );
  }

  /** The virtual host for an authority (Envoy's findVirtualHost), or undefined. */
  virtualHost(authority: string): CompiledVirtualHost | undefined {
    if (this.onlyDefault) return this.defaultVhost;
    if (!authority) return undefined;
    const cached = this.cache.get(authority);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.findVirtualHost(authority);
    if (this.cache.size >= AUTHORITY_CACHE_MAX) this.cache.clear();
    this.cache.set(authority, found ?? null);
    return found;
  }

  private findVirtualHost(authority: string): CompiledVirtualHost | undefined {
    let host = authority;
    if (this.ignorePortInHostMatching) {
      const ps = portStart(host);
      if (ps >= 0) host = host.slice(0, ps);
    }
    host = asciiLower(host);
    const exact = this.exact.get(host);
    if (exact) return exact;
    for (const { len, map } of this.suffixes) {
      if (len >= host.length) continue;
      const v = map.get(host.slice(host.length - len));
      if (v) return v;
    }
    for (const { len, map } of this.prefixes) {
      if (len >= host.length) continue;
      const v = map.get(host.slice(0, len));
      if (v) return v;
    }
    return this.defaultVhost;
  }

  /**
   * The route for a request: virtual host by authority, then the first matching route (or the
   * require_tls redirect). `random01` is the request's random number in [0, 1) for runtimeFraction
   * matches (drawn lazily when omitted).
   */
  match(req: RequestView, random01?: number): RouteMatch | undefined {
    const vh = this.virtualHost(req.authority);
    if (vh === undefined) return undefined;
    if (vh.sslRedirectRoute !== undefined) {
      const proto = req.header("x-forwarded-proto") ?? req.scheme ?? req.header(":scheme");
      if (proto !== "https" && (vh.requireTls === "ALL" || req.header("x-envoy-internal") !== "true")) return vh.sslRedirectRoute.result;
    }
    const routes = vh.routes;
    if (routes.length === 0) return undefined;
    const path = req.path;
    let q = path.indexOf("?");
    let end = q < 0 ? path.length : q;
    const hash = path.indexOf("#");
    if (hash >= 0 && hash < end) end = hash;
    if (hash >= 0 && q > hash) q = -1;
    if (this.ignorePathParametersInPathMatching) {
      const semi = path.indexOf(";");
      if (semi >= 0 && semi < end) end = semi;
    }
    // One random number per request, shared by every runtimeFraction (as Envoy's stream random).
    const rnd = random01 ?? (vh.needsRandom ? Math.random() : 0);
    for (let i = 0; i < routes.length; i++) {
      if (routes[i].matches(req, path, end, q, rnd)) return routes[i].result;
    }
    return undefined;
  }
}

function addWildcard(levels: Map<number, Map<string, CompiledVirtualHost>>, key: string, v: CompiledVirtualHost): boolean {
  let m = levels.get(key.length);
  if (!m) levels.set(key.length, (m = new Map()));
  if (m.has(key)) return true;
  m.set(key, v);
  return false;
}

function compileVirtualHost(vh: P, index: number, path: string, table: TableLevel): CompiledVirtualHost {
  const name = strField(vh, "name", path) ?? "";
  if (!name) throw new XdsConfigError(at(path, "name"), "virtual host name must not be empty");
  const domains = strList(vh, "domains", path);
  if (domains.length === 0) throw new XdsConfigError(at(path, "domains"), "a virtual host needs at least one domain");
  if (vh.matcher !== undefined && vh.matcher !== null) throw new XdsConfigError(at(path, "matcher"), "the generic matcher API is not supported; use routes");
  const rp = objField(vh, "retryPolicy", path);
  const hp = objField(vh, "hedgePolicy", path);
  const mirrors = objList(vh, "requestMirrorPolicies", path).map((m, i) => compileMirrorPolicy(m, `${at(path, "requestMirrorPolicies")}[${i}]`));
  const v = new CompiledVirtualHost(
    index,
    name,
    domains,
    HeaderMutations.compile(listField(vh, "requestHeadersToAdd", path), listField(vh, "requestHeadersToRemove", path), at(path, "requestHeadersToAdd"), at(path, "requestHeadersToRemove")),
    HeaderMutations.compile(listField(vh, "responseHeadersToAdd", path), listField(vh, "responseHeadersToRemove", path), at(path, "responseHeadersToAdd"), at(path, "responseHeadersToRemove")),
    typedPerFilterConfig(vh, path),
    rp ? compileRetryPolicy(rp, at(path, "retryPolicy")) : undefined,
    hp ? compileHedgePolicy(hp, at(path, "hedgePolicy")) : undefined,
    mirrors.length > 0 ? mirrors : table.requestMirrorPolicies,
    objField(vh, "cors", path),
    enumField(vh, "requireTls", path, REQUIRE_TLS),
    boolField(vh, "includeRequestAttemptCount", path),
    boolField(vh, "includeAttemptCountInResponse", path),
    boolField(vh, "includeIsTimeoutRetryHeader", path),
    wrappedNum(vh, "perRequestBufferLimitBytes", path),
    objList(vh, "rateLimits", path),
    objField(vh, "metadata", path),
  );
  v.routes = objList(vh, "routes", path).map((r, i) => compileRoute(r, i, `${at(path, "routes")}[${i}]`, v, table));
  v.needsRandom = v.routes.some((r) => r.match.runtimeFraction !== undefined);
  if (v.requireTls !== "NONE") {
    const redirect: RedirectActionConfig = {
      kind: "redirect",
      schemeRedirect: undefined,
      httpsRedirect: true,
      hostRedirect: undefined,
      portRedirect: undefined,
      pathRedirect: undefined,
      prefixRewrite: undefined,
      regexRewrite: undefined,
      responseCode: 301,
      stripQuery: false,
      matchedPrefix: undefined,
      sslRedirect: true,
    };
    v.sslRedirectRoute = new CompiledRoute(v, -1, "", redirect, PATH_PREFIX, "", true, undefined, false, EMPTY, EMPTY, undefined, undefined, undefined, NO_CONFIGS, undefined, undefined, undefined, table);
  }
  return v;
}

function compileRoute(r: P, index: number, path: string, vhost: CompiledVirtualHost, table: TableLevel): CompiledRoute {
  const mpath = at(path, "match");
  const m = objField(r, "match", path);
  if (!m) throw new XdsConfigError(mpath, "match is required");
  const caseSensitive = wrappedBool(m, "caseSensitive", mpath) ?? true;
  let pathKind: number;
  let pathValue = "";
  let regex: RegexMatcher | undefined;
  const prefix = strField(m, "prefix", mpath);
  const exact = strField(m, "path", mpath);
  const sep = strField(m, "pathSeparatedPrefix", mpath);
  const safeRegex = objField(m, "safeRegex", mpath);
  if (prefix !== undefined) {
    pathKind = PATH_PREFIX;
    pathValue = prefix;
  } else if (exact !== undefined) {
    pathKind = PATH_EXACT;
    pathValue = exact;
  } else if (safeRegex) {
    pathKind = PATH_REGEX;
    regex = compileRegexMatcher(safeRegex, at(mpath, "safeRegex"));
  } else if (sep !== undefined) {
    if (!/^[^?#]+[^?#/]$/.test(sep)) throw new XdsConfigError(at(mpath, "pathSeparatedPrefix"), `invalid path_separated_prefix ${JSON.stringify(sep)}`);
    pathKind = PATH_SEPARATED;
    pathValue = sep;
  } else if (m.connectMatcher !== undefined && m.connectMatcher !== null) {
    pathKind = PATH_CONNECT;
  } else if (m.pathMatchPolicy !== undefined && m.pathMatchPolicy !== null) {
    throw new XdsConfigError(at(mpath, "pathMatchPolicy"), "path match policies (URI templates) are not supported");
  } else {
    throw new XdsConfigError(mpath, "route match needs one of prefix, path, safeRegex, pathSeparatedPrefix or connectMatcher");
  }
  if (!caseSensitive && pathKind !== PATH_REGEX) pathValue = asciiLower(pathValue);
  for (const unsupported of ["dynamicMetadata", "filterState"] as const) {
    if (listField(m, unsupported, mpath).length > 0) throw new XdsConfigError(at(mpath, unsupported), `${unsupported} matchers are not supported`);
  }
  if (m.tlsContext !== undefined && m.tlsContext !== null) throw new XdsConfigError(at(mpath, "tlsContext"), "TLS context matchers are not supported");
  const headers = objList(m, "headers", mpath).map((h, i) => HeaderMatcher.compile(h, `${at(mpath, "headers")}[${i}]`));
  const queryParameters = objList(m, "queryParameters", mpath).map((q, i) => QueryParameterMatcher.compile(q, `${at(mpath, "queryParameters")}[${i}]`));
  const rf = objField(m, "runtimeFraction", mpath);
  let runtimeFraction: FractionalPercent | undefined;
  if (rf) {
    const dv = objField(rf, "defaultValue", at(mpath, "runtimeFraction"));
    runtimeFraction = dv ? fractionalPercent(dv, at(at(mpath, "runtimeFraction"), "defaultValue")) : { numerator: 0, denominator: 100 };
  }
  const grpc = isObj(m.grpc);

  const routeHeaders = HeaderMutations.compile(listField(r, "requestHeadersToAdd", path), listField(r, "requestHeadersToRemove", path), at(path, "requestHeadersToAdd"), at(path, "requestHeadersToRemove"));
  const responseHeaders = HeaderMutations.compile(listField(r, "responseHeadersToAdd", path), listField(r, "responseHeadersToRemove", path), at(path, "responseHeadersToAdd"), at(path, "responseHeadersToRemove"));
  const perFilter = typedPerFilterConfig(r, path);
  const matchedPrefix = pathKind === PATH_REGEX || pathKind === PATH_CONNECT ? undefined : pathValue;

  const routeAction = objField(r, "route", path);
  const redirect = objField(r, "redirect", path);
  const direct = objField(r, "directResponse", path);
  let action: RouteAction;
  if (routeAction) action = compileRouteAction(routeAction, at(path, "route"), vhost, wrappedNum(r, "perRequestBufferLimitBytes", path));
  else if (redirect) action = compileRedirect(redirect, at(path, "redirect"), matchedPrefix);
  else if (direct) action = compileDirectResponse(direct, at(path, "directResponse"), table.maxDirectResponseBodySizeBytes);
  else if (r.filterAction !== undefined || r.nonForwardingAction !== undefined) {
    throw new XdsConfigError(path, "filterAction and nonForwardingAction routes are not supported");
  } else throw new XdsConfigError(path, "route has no action: one of route, redirect or directResponse is required");

  const dec = objField(r, "decorator", path);
  const decorator = dec
    ? { operation: strField(dec, "operation", at(path, "decorator")) ?? "", propagate: wrappedBool(dec, "propagate", at(path, "decorator")) ?? true }
    : undefined;
  const route = new CompiledRoute(
    vhost,
    index,
    strField(r, "name", path) ?? "",
    action,
    pathKind,
    pathValue,
    caseSensitive,
    regex,
    grpc,
    headers,
    queryParameters,
    runtimeFraction,
    routeHeaders,
    responseHeaders,
    perFilter,
    decorator,
    objField(r, "metadata", path),
    strField(r, "statPrefix", path) || undefined,
    table,
  );
  if (action.kind === "route" && action.weightedClusters) finishWeightedClusters(action.weightedClusters, route);
  return route;
}

/** Weighted cluster entries need the finished route for their header chains and filter configs. */
function finishWeightedClusters(wc: WeightedClusters, route: CompiledRoute): void {
  for (const e of wc.clusters as MutableWeightedClusterEntry[]) {
    e.requestHeaderChain = e.requestHeaders ? [e.requestHeaders, ...route.requestHeaderChain] : route.requestHeaderChain;
    e.responseHeaderChain = e.responseHeaders ? [e.responseHeaders, ...route.responseHeaderChain] : route.responseHeaderChain;
    e.filterConfigs = mergeConfigs(route.filterConfigs, e.typedPerFilterConfig);
  }
}

type MutableWeightedClusterEntry = { -readonly [K in keyof WeightedClusterEntry]: WeightedClusterEntry[K] };

function compileRouteAction(a: P, path: string, vhost: CompiledVirtualHost, routeBufferLimit: number | undefined): RouteActionConfig {
  const cluster = strField(a, "cluster", path);
  const clusterHeader = strField(a, "clusterHeader", path);
  const wcRaw = objField(a, "weightedClusters", path);
  const routeMetadata = lbMetadata(a, path);
  let weightedClusters: WeightedClusters | undefined;
  if (cluster !== undefined) {
    if (!cluster) throw new XdsConfigError(at(path, "cluster"), "cluster must not be empty");
  } else if (clusterHeader !== undefined) {
    if (!clusterHeader) throw new XdsConfigError(at(path, "clusterHeader"), "cluster_header must not be empty");
  } else if (wcRaw) {
    weightedClusters = compileWeightedClusters(wcRaw, at(path, "weightedClusters"), routeMetadata);
  } else if (a.clusterSpecifierPlugin !== undefined || a.inlineClusterSpecifierPlugin !== undefined) {
    throw new XdsConfigError(path, "cluster specifier plugins are not supported");
  } else throw new XdsConfigError(path, "route action needs one of cluster, clusterHeader or weightedClusters");

  const rewrites = [a.prefixRewrite !== undefined && a.prefixRewrite !== "", isObj(a.regexRewrite), isObj(a.pathRewritePolicy)].filter(Boolean).length;
  if (rewrites > 1) throw new XdsConfigError(path, "Specify only one of prefix_rewrite, regex_rewrite or path_rewrite_policy");
  if (isObj(a.pathRewritePolicy)) throw new XdsConfigError(at(path, "pathRewritePolicy"), "path rewrite policies (URI templates) are not supported");
  const rr = objField(a, "regexRewrite", path);
  const hrr = objField(a, "hostRewritePathRegex", path);

  const rp = objField(a, "retryPolicy", path);
  const hp = objField(a, "hedgePolicy", path);
  const mirrors = objList(a, "requestMirrorPolicies", path).map((m, i) => compileMirrorPolicy(m, `${at(path, "requestMirrorPolicies")}[${i}]`));
  const hashPolicy = objList(a, "hashPolicy", path)
    .map((h, i) => compileHashPolicy(h, `${at(path, "hashPolicy")}[${i}]`))
    .filter((h): h is HashPolicy => h !== undefined);

  const upgrades: Record<string, boolean> = {};
  objList(a, "upgradeConfigs", path).forEach((u, i) => {
    const up = `${at(path, "upgradeConfigs")}[${i}]`;
    const type = (strField(u, "upgradeType", up) ?? "").toLowerCase();
    if (!type) throw new XdsConfigError(at(up, "upgradeType"), "upgrade_type must not be empty");
    if (type in upgrades) throw new XdsConfigError(up, `Duplicate upgrade ${type}`);
    upgrades[type] = wrappedBool(u, "enabled", up) ?? true;
    if (type === "connect" && upgrades[type]) throw new XdsConfigError(up, "CONNECT tunnelling is not implemented");
  });

  const msd = objField(a, "maxStreamDuration", path);
  const msdPath = at(path, "maxStreamDuration");

  return {
    kind: "route",
    cluster,
    clusterHeader: clusterHeader?.toLowerCase(),
    weightedClusters,
    clusterNotFoundResponseCode: NOT_FOUND_STATUS[NOT_FOUND_CODES.indexOf(enumField(a, "clusterNotFoundResponseCode", path, NOT_FOUND_CODES))],
    timeoutMs: durField(a, "timeout", path) ?? DEFAULT_ROUTE_TIMEOUT_MS,
    idleTimeoutMs: durField(a, "idleTimeout", path),
    retryPolicy: rp ? compileRetryPolicy(rp, at(path, "retryPolicy")) : vhost.retryPolicy,
    hedgePolicy: hp ? compileHedgePolicy(hp, at(path, "hedgePolicy")) : vhost.hedgePolicy,
    prefixRewrite: strField(a, "prefixRewrite", path) || undefined,
    regexRewrite: rr ? compileRegexRewrite(rr, at(path, "regexRewrite")) : undefined,
    hostRewriteLiteral: strField(a, "hostRewriteLiteral", path) || undefined,
    autoHostRewrite: wrappedBool(a, "autoHostRewrite", path) ?? false,
    hostRewriteHeader: strField(a, "hostRewriteHeader", path)?.toLowerCase() || undefined,
    hostRewritePathRegex: hrr ? compileRegexRewrite(hrr, at(path, "hostRewritePathRegex")) : undefined,
    appendXForwardedHost: boolField(a, "appendXForwardedHost", path),
    hashPolicy,
    requestMirrorPolicies: mirrors.length > 0 ? mirrors : vhost.requestMirrorPolicies,
    maxStreamDurationMs: msd ? durField(msd, "maxStreamDuration", msdPath) : undefined,
    usingNewTimeouts: msd !== undefined,
    grpcTimeoutHeaderMaxMs: msd ? durField(msd, "grpcTimeoutHeaderMax", msdPath) : undefined,
    grpcTimeoutHeaderOffsetMs: msd ? durField(msd, "grpcTimeoutHeaderOffset", msdPath) : undefined,
    maxGrpcTimeoutMs: durField(a, "maxGrpcTimeout", path),
    grpcTimeoutOffsetMs: durField(a, "grpcTimeoutOffset", path),
    includeRequestAttemptCount: vhost.includeRequestAttemptCount,
    includeAttemptCountInResponse: vhost.includeAttemptCountInResponse,
    upgradeConfigs: upgrades,
    priority: enumField(a, "priority", path, PRIORITIES),
    metadataMatch: routeMetadata,
    perRequestBufferLimitBytes: routeBufferLimit ?? vhost.perRequestBufferLimitBytes,
    cors: objField(a, "cors", path),
    rateLimits: objList(a, "rateLimits", path),
  };
}

function compileWeightedClusters(wc: P, path: string, routeMetadata: ProtoObject | undefined): WeightedClusters {
  const raw = objList(wc, "clusters", path);
  if (raw.length === 0) throw new XdsConfigError(at(path, "clusters"), "weighted_clusters needs at least one cluster");
  let total = 0;
  const clusters = raw.map((c, i): WeightedClusterEntry => {
    const cp = `${at(path, "clusters")}[${i}]`;
    const name = strField(c, "name", cp) || undefined;
    const clusterHeader = strField(c, "clusterHeader", cp) || undefined;
    if (!name && !clusterHeader) throw new XdsConfigError(cp, "At least one of name or cluster_header need to be specified");
    if (name && clusterHeader) throw new XdsConfigError(cp, "Only one of name or cluster_header can be specified");
    const weight = wrappedNum(c, "weight", cp) ?? 0;
    if (!Number.isInteger(weight) || weight < 0) throw new XdsConfigError(at(cp, "weight"), "weight must be a non-negative integer");
    total += weight;
    const requestHeaders = HeaderMutations.compile(listField(c, "requestHeadersToAdd", cp), listField(c, "requestHeadersToRemove", cp), at(cp, "requestHeadersToAdd"), at(cp, "requestHeadersToRemove"));
    const responseHeaders = HeaderMutations.compile(listField(c, "responseHeadersToAdd", cp), listField(c, "responseHeadersToRemove", cp), at(cp, "responseHeadersToAdd"), at(cp, "responseHeadersToRemove"));
    return {
      name,
      clusterHeader: clusterHeader?.toLowerCase(),
      weight,
      hostRewriteLiteral: strField(c, "hostRewriteLiteral", cp) || undefined,
      requestHeaders,
      responseHeaders,
      typedPerFilterConfig: typedPerFilterConfig(c, cp),
      metadataMatch: mergeLbMetadata(routeMetadata, lbMetadata(c, cp)),
      requestHeaderChain: EMPTY,
      responseHeaderChain: EMPTY,
      filterConfigs: NO_CONFIGS,
    };
  });
  if (total > 0xffffffff) throw new XdsConfigError(path, `The sum of weights of all weighted clusters exceeds ${0xffffffff}`);
  if (total === 0) throw new XdsConfigError(path, "Sum of weights in the weighted_cluster must be greater than 0.");
  // Deprecated total_weight: older Envoy required the sum to equal it; honour that check when it is set.
  const declared = wrappedNum(wc, "totalWeight", path);
  if (declared !== undefined && declared > 0 && declared !== total) {
    throw new XdsConfigError(at(path, "totalWeight"), `Sum of weights in the weighted_cluster should add up to ${declared} (they add up to ${total})`);
  }
  // runtimeKeyPrefix: tsmesh has no runtime overrides, the configured weights are used.
  const headerName = strField(wc, "headerName", path);
  return {
    clusters,
    totalWeight: total,
    headerName: headerName ? headerName.toLowerCase() : undefined,
    useHashPolicy: wrappedBool(wc, "useHashPolicy", path) ?? false,
  };
}

function compileRedirect(r: P, path: string, matchedPrefix: string | undefined): RedirectActionConfig {
  const scheme = strField(r, "schemeRedirect", path);
  const https = boolField(r, "httpsRedirect", path);
  if (scheme !== undefined && https) throw new XdsConfigError(path, "only one of httpsRedirect and schemeRedirect can be set");
  const pathRedirect = strField(r, "pathRedirect", path);
  const prefixRewrite = strField(r, "prefixRewrite", path);
  const rr = objField(r, "regexRewrite", path);
  if ([pathRedirect !== undefined, prefixRewrite !== undefined, rr !== undefined].filter(Boolean).length > 1) {
    throw new XdsConfigError(path, "only one of pathRedirect, prefixRewrite and regexRewrite can be set");
  }
  const port = numField(r, "portRedirect", path);
  if (port !== undefined && (port < 0 || port > 65535 || !Number.isInteger(port))) throw new XdsConfigError(at(path, "portRedirect"), "invalid port");
  const code = enumField(r, "responseCode", path, REDIRECT_CODES);
  return {
    kind: "redirect",
    schemeRedirect: scheme || undefined,
    httpsRedirect: https,
    hostRedirect: strField(r, "hostRedirect", path) || undefined,
    portRedirect: port || undefined,
    pathRedirect: pathRedirect || undefined,
    prefixRewrite: prefixRewrite || undefined,
    regexRewrite: rr ? compileRegexRewrite(rr, at(path, "regexRewrite")) : undefined,
    responseCode: REDIRECT_STATUS[REDIRECT_CODES.indexOf(code)],
    stripQuery: boolField(r, "stripQuery", path),
    matchedPrefix,
    sslRedirect: false,
  };
}

function compileDirectResponse(d: P, path: string, maxBody: number): DirectResponseConfig {
  const status = numField(d, "status", path) ?? 0;
  if (!Number.isInteger(status) || status < 200 || status >= 600) throw new XdsConfigError(at(path, "status"), `status must be in [200, 600), got ${status}`);
  const body = objField(d, "body", path);
  return { kind: "direct", status, body: body ? dataSource(body, at(path, "body"), maxBody) : undefined };
}

// ---------------------------------------------------------------------------------------------
// Per-request helpers

const NO_CLUSTERS: readonly string[] = Object.freeze([]);
const UINT_TEXT = /^\s*\+?\d+\s*$/;

/**
 * The weighted cluster entry for this request: `random01` ∈ [0,1) picks in proportion to the
 * weights (Envoy: value % total over the cumulative intervals, in config order). With `headerName`
 * and a request whose header holds one unsigned integer, that value is used instead.
 */
export function pickWeightedClusterEntry(action: RouteActionConfig, random01: number, req?: HeaderSource): WeightedClusterEntry | undefined {
  const wc = action.weightedClusters;
  if (!wc) return undefined;
  const total = wc.totalWeight;
  let selected = -1;
  if (wc.headerName !== undefined && req) {
    const v = req.header(wc.headerName);
    if (v !== undefined && UINT_TEXT.test(v)) {
      const n = Number(v.trim());
      if (Number.isSafeInteger(n)) selected = n % total;
    }
  }
  if (selected < 0) {
    selected = Math.floor(random01 * total);
    if (selected >= total) selected = total - 1;
    if (selected < 0) selected = 0;
  }
  const clusters = wc.clusters;
  let end = 0;
  for (let i = 0; i < clusters.length; i++) {
    end += clusters[i].weight;
    if (selected < end) return clusters[i];
  }
  return clusters[clusters.length - 1];
}

/**
 * The upstream cluster name for a route action: `cluster`, the `clusterHeader` value (first value;
 * "" when missing → the router answers clusterNotFoundResponseCode), or a weighted pick.
 */
export function pickWeightedCluster(action: RouteActionConfig, random01: number, req?: HeaderSource): string {
  if (action.cluster !== undefined) return action.cluster;
  if (action.clusterHeader !== undefined) return firstValue(req?.header(action.clusterHeader));
  const e = pickWeightedClusterEntry(action, random01, req);
  if (!e) return "";
  if (e.name !== undefined) return e.name;
  return firstValue(e.clusterHeader !== undefined ? req?.header(e.clusterHeader) : undefined);
}

function firstValue(v: string | undefined): string {
  if (v === undefined) return "";
  const comma = v.indexOf(",");
  return comma < 0 ? v : v.slice(0, comma);
}

function pathPartEnd(path: string): number {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) return i;
  }
  return path.length;
}

function applyPathRewrite(path: string, prefixRewrite: string | undefined, regexRewrite: RegexRewrite | undefined, matchedPrefix: string | undefined): string {
  if (prefixRewrite !== undefined) {
    const matched = matchedPrefix ?? path.slice(0, pathPartEnd(path));
    return prefixRewrite + path.slice(Math.min(matched.length, path.length));
  }
  if (regexRewrite !== undefined) {
    const end = pathPartEnd(path);
    return regexReplaceAll(regexRewrite, path.slice(0, end)) + path.slice(end);
  }
  return path;
}

/**
 * The upstream path after the route's rewrite (Envoy's finalizePathHeader): prefixRewrite replaces
 * the matched prefix (path and pathSeparatedPrefix routes: the matched path; regex routes: the whole
 * path before the query); regexRewrite rewrites the path before the query and keeps the query.
 * Returns `path` itself when nothing is rewritten. For redirect routes the redirect's rewrite applies.
 */
export function rewritePath(route: CompiledRoute, path: string): string {
  const a = route.action;
  if (a.kind === "route") {
    if (a.prefixRewrite === undefined && a.regexRewrite === undefined) return path;
    const mk = route.match.kind;
    return applyPathRewrite(path, a.prefixRewrite, a.regexRewrite, mk === "safeRegex" || mk === "connect" ? undefined : route.match.value);
  }
  if (a.kind === "redirect") return applyPathRewrite(path, a.prefixRewrite, a.regexRewrite, a.matchedPrefix);
  return path;
}

/**
 * The Host the upstream request carries after the route's rewrites (weighted cluster's literal,
 * then the route's hostRewriteLiteral, hostRewriteHeader or hostRewritePathRegex), or undefined for
 * no change. autoHostRewrite is applied by the router once the upstream host is known.
 */
export function rewriteHost(route: CompiledRoute, entry: WeightedClusterEntry | undefined, req: HeaderSource & { path: string }): string | undefined {
  const a = route.action;
  if (a.kind !== "route") return undefined;
  let host = entry?.hostRewriteLiteral;
  if (a.hostRewriteLiteral !== undefined) return a.hostRewriteLiteral;
  if (a.hostRewriteHeader !== undefined) {
    const v = req.header(a.hostRewriteHeader);
    if (v) return firstValue(v);
  } else if (a.hostRewritePathRegex !== undefined) {
    const v = regexReplaceAll(a.hostRewritePathRegex, req.path.slice(0, pathPartEnd(req.path)));
    if (v) host = v;
  }
  return host;
}

/** Envoy's processRequestHost: drop the request's port when redirecting to another port or scheme. */
function redirectHost(authority: string, newScheme: string, newPort: string, requestProtocol: string): string {
  if (!authority) return authority;
  let hostEnd: number;
  if (authority.startsWith("[")) {
    hostEnd = authority.lastIndexOf("]:");
    if (hostEnd >= 0) hostEnd += 1;
  } else hostEnd = authority.lastIndexOf(":");
  if (hostEnd < 0) return authority;
  const requestPort = authority.slice(hostEnd);
  let remove = newPort !== "";
  if (newScheme !== requestProtocol) {
    remove ||= requestProtocol.toLowerCase() === "https" && requestPort === ":443";
    remove ||= requestProtocol.toLowerCase() === "http" && requestPort === ":80";
  }
  return remove ? authority.slice(0, hostEnd) : authority;
}

/**
 * The redirect response (Envoy's path rewrite + Http::Utility::newUri): scheme = schemeRedirect,
 * https for httpsRedirect, else the request's; host = hostRedirect, else the request authority
 * (its port dropped when a port redirect is set, or when the scheme changes and the port is the old
 * scheme's default); `:portRedirect`; path = pathRedirect (keeping the request query unless the
 * pathRedirect has its own), else the request path after prefix/regex rewrite; stripQuery drops
 * the query unless pathRedirect carries one. `scheme` is the request's scheme (x-forwarded-proto).
 */
export function redirectLocation(redirect: RedirectActionConfig, req: Pick<RequestView, "authority" | "path">, scheme: "http" | "https"): { status: number; location: string } {
  if (redirect.sslRedirect) return { status: redirect.responseCode, location: `https://${req.authority}${req.path}` };
  const finalScheme = redirect.schemeRedirect ?? (redirect.httpsRedirect ? "https" : scheme);
  const finalPort = redirect.portRedirect !== undefined ? `:${redirect.portRedirect}` : "";
  const finalHost = redirect.hostRedirect ?? redirectHost(req.authority, finalScheme, finalPort, scheme);
  let path: string;
  const pr = redirect.pathRedirect;
  const prHasQuery = pr !== undefined && pr.includes("?");
  if (pr !== undefined) {
    if (prHasQuery) path = pr;
    else {
      const q = req.path.indexOf("?");
      path = q < 0 ? pr : pr + req.path.slice(q);
    }
  } else path = applyPathRewrite(req.path, redirect.prefixRewrite, redirect.regexRewrite, redirect.matchedPrefix);
  if (!path.startsWith("/")) path = `/${path}`;
  if (!prHasQuery && redirect.stripQuery) {
    const q = path.indexOf("?");
    if (q >= 0) path = path.slice(0, q);
  }
  return { status: redirect.responseCode, location: `${finalScheme}://${finalHost}${finalPort}${path}` };
}

/**
 * Clusters to shadow this request to: each mirror policy whose fraction fires for `random01` (the
 * same random value for every policy, as Envoy uses the stream's). Policies with clusterHeader use
 * the header's value from `req` (skipped when missing). Returns a shared empty array for none.
 */
export function mirrorsFor(route: CompiledRoute, random01: number, req?: HeaderSource): readonly string[] {
  const a = route.action;
  if (a.kind !== "route" || a.requestMirrorPolicies.length === 0) return NO_CLUSTERS;
  let out: string[] | undefined;
  for (const m of a.requestMirrorPolicies) {
    if (!fractionFires(m.fraction, random01)) continue;
    const cluster = m.cluster ?? firstValue(m.clusterHeader !== undefined ? req?.header(m.clusterHeader) : undefined);
    if (!cluster) continue;
    (out ??= []).push(cluster);
  }
  return out ?? NO_CLUSTERS;
}

/**
 * Applies the request header mutations of a matched route (Envoy's finalizeRequestHeaders order:
 * the weighted cluster entry's first, then route/vhost/config as mostSpecificHeaderMutationsWins says).
 */
export function applyRequestHeaderMutations(route: CompiledRoute, entry: WeightedClusterEntry | undefined, headers: HeaderMap, vars?: FormatterVars): void {
  const c = entry ? entry.requestHeaderChain : route.requestHeaderChain;
  for (let i = 0; i < c.length; i++) c[i].apply(headers, vars);
}

/** Applies the response header mutations of a matched route (same order as for requests). */
export function applyResponseHeaderMutations(route: CompiledRoute, entry: WeightedClusterEntry | undefined, headers: HeaderMap, vars?: FormatterVars): void {
  const c = entry ? entry.responseHeaderChain : route.responseHeaderChain;
  for (let i = 0; i < c.length; i++) c[i].apply(headers, vars);
}
