// Envoy's substitution format for access logs (SubstitutionFormatString): a text format string or a
// JSON format dictionary, compiled once per config into a formatter that renders a finished stream's
// record (StreamInfo) as one line. Text: an unavailable value prints "-" ("" with omit_empty_values).
// JSON: a value that is exactly one command keeps its type (RESPONSE_CODE, BYTES_*, DURATION stay
// numbers; DYNAMIC_METADATA and FILTER_STATE give objects), an unavailable one is null (omitted with
// omit_empty_values), properties are sorted as Envoy always sorts them, and the line ends with "\n".
// Two formatter extensions Istio's formats use are implemented when the format lists them
// (`formatters`): envoy.formatter.req_without_query (%REQ_WITHOUT_QUERY(X?Y):Z%, REQ without the
// query string) and envoy.formatter.cel (%CEL(EXPR):Z%, a CEL expression over Envoy's attributes;
// an error or a missing value prints as unavailable). Any other formatter extension is refused.
// An unknown command, an argument a command does not take, or a malformed format is an
// XdsConfigError naming the field: a config tsmesh cannot render is refused, never logged some
// other way.
import type { DataSource, envoy } from "../../envoy/types.js";
import { compileCel, isCelEvalError } from "../../core/cel/program.js";
import { celValueToString } from "../../core/cel/values.js";
import { fromStruct } from "../../envoy/protos.js";
import { anyType, typeName } from "../extensions.js";
import { type FormatCommand, getHeader, type HeaderMap, parseHeaderFormat } from "../http/headers.js";
import type { StreamInfo } from "../stream-info.js";
import { XdsConfigError } from "../xds-error.js";
import { streamInfoActivation } from "./cel-attributes.js";
import { requestHeader, responseHeader, SIMPLE_COMMANDS, simpleValue, type Value } from "./access-log-values.js";
import { type InlinePart, inlineTextRenderer } from "./access-log-inline.js";

type SubstitutionFormatString = envoy.config.core.v3.SubstitutionFormatString;

type Getter = (info: StreamInfo) => Value;

/** A compiled format: one line per finished stream. */
export interface AccessLogFormatter {
  format(info: StreamInfo): string;
}

/** Envoy's default access log format (used when an access log names none). */
export const DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ' +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

// ---- START_TIME ----

const pad = (n: number, w = 2): string => String(n).padStart(w, "0");
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/** Sub-second digits of an epoch-ms time (nanoseconds are not measured: zeros past the millisecond). */
function fraction(ms: number, digits: number): string {
  return pad(((ms % 1000) + 1000) % 1000, 3).padEnd(9, "0").slice(0, digits);
}

/**
 * A strftime format (absl::FormatTime as Envoy uses it, in UTC) compiled to a function; Envoy's
 * extensions %s (epoch seconds), %E<n>S (seconds with n fraction digits), %<n>f and %f (fraction).
 */
export function compileTimeFormat(fmt: string, path: string): (ms: number) => string {
  const parts: Array<string | ((d: Date, ms: number) => string)> = [];
  let lit = "";
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i];
    if (c !== "%") {
      lit += c;
      continue;
    }
    let spec = fmt[++i];
    let digits = 0;
    if (spec === "E" && /[1-9*]/.test(fmt[i + 1] ?? "") && fmt[i + 2] === "S") {
      digits = fmt[i + 1] === "*" ? 9 : Number(fmt[i + 1]);
      i += 2;
      spec = "ES";
    } else if (spec !== undefined && /[1-9]/.test(spec) && fmt[i + 1] === "f") {
      digits = Number(spec);
      i += 1;
      spec = "nf";
    }
    let part: ((d: Date, ms: number) => string) | string;
    switch (spec) {
      case "%": part = "%"; break;
      case "Y": part = (d) => String(d.getUTCFullYear()); break;
      case "y": part = (d) => pad(d.getUTCFullYear() % 100); break;
      case "m": part = (d) => pad(d.getUTCMonth() + 1); break;
      case "d": part = (d) => pad(d.getUTCDate()); break;
      case "e": part = (d) => String(d.getUTCDate()).padStart(2, " "); break;
      case "H": part = (d) => pad(d.getUTCHours()); break;
      case "M": part = (d) => pad(d.getUTCMinutes()); break;
      case "S": part = (d) => pad(d.getUTCSeconds()); break;
      case "ES": part = (d, ms) => `${pad(d.getUTCSeconds())}.${fraction(ms, digits)}`; break;
      case "nf": part = (_d, ms) => fraction(ms, digits); break;
      case "f": part = (_d, ms) => fraction(ms, 9); break;
      case "s": part = (_d, ms) => String(Math.floor(ms / 1000)); break;
      case "z": part = "+0000"; break;
      case "Z": part = "UTC"; break;
      case "F": part = (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`; break;
      case "T": part = (d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`; break;
      case "j": part = (d) => pad(Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1, 3); break;
      case "b": part = (d) => MONTHS[d.getUTCMonth()]; break;
      case "a": part = (d) => DAYS[d.getUTCDay()]; break;
      default:
        throw new XdsConfigError(path, `START_TIME format ${JSON.stringify(fmt)}: %${spec ?? ""} is not implemented by tsmesh`);
    }
    if (typeof part === "string") lit += part;
    else {
      if (lit) parts.push(lit);
      lit = "";
      parts.push(part);
    }
  }
  if (lit) parts.push(lit);
  return (ms) => {
    const d = new Date(ms);
    let out = "";
    for (const p of parts) out += typeof p === "string" ? p : p(d, ms);
    return out;
  };
}

// ---- commands ----

function headerGetter(read: (info: StreamInfo, name: string) => string | undefined, c: FormatCommand): Getter {
  const name = c.arg;
  const alt = c.alt;
  if (alt === "") return (info) => read(info, name);
  return (info) => read(info, name) ?? read(info, alt);
}

/** `REQUEST_HEADER(X?Y)` is REQ's long form; its argument arrives unsplit. */
function splitAlternative(c: FormatCommand): FormatCommand {
  const q = c.arg.indexOf("?");
  return q < 0 ? { ...c, arg: c.arg.toLowerCase() } : { ...c, arg: c.arg.slice(0, q).toLowerCase(), alt: c.arg.slice(q + 1).toLowerCase() };
}

/** Commands taking an argument (`(…)`), and whether `:N` truncation applies to them. */
const WITH_ARG = new Set(["REQ", "RESP", "TRAILER", "REQUEST_HEADER", "RESPONSE_HEADER", "RESPONSE_TRAILER", "DYNAMIC_METADATA", "CLUSTER_METADATA", "FILTER_STATE", "ENVIRONMENT", "START_TIME"]);

/** A metadata path "NS:KEY:KEY…" (keys optional). */
function metadataPath(arg: string, path: string, command: string): [string, string[]] {
  const parts = arg.split(":");
  if (parts.some((p) => p === "")) throw new XdsConfigError(path, `%${command}(${arg})%: the namespace and keys must not be empty`);
  return [parts[0], parts.slice(1)];
}

function lookupPath(v: unknown, keys: readonly string[]): unknown {
  let cur = v;
  for (const k of keys) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/** The second whose ISO 8601 text (up to the dot) isoTime last built: one Date per second, not per line. */
let isoSecond = Number.NaN;
let isoPrefix = "";

/** Date#toISOString of epoch milliseconds (Envoy's default START_TIME), the second's text cached. */
export function isoTime(ms: number): string {
  const whole = Math.floor(ms);
  const sec = Math.floor(whole / 1000);
  // Years 0–9999 only: toISOString writes others with a sign and six digits.
  if (!(whole >= 0 && whole < 253402300800000)) return new Date(ms).toISOString();
  if (sec !== isoSecond) {
    isoPrefix = new Date(sec * 1000).toISOString().slice(0, 20);
    isoSecond = sec;
  }
  const m = whole - sec * 1000;
  return `${isoPrefix}${m < 10 ? "00" : m < 100 ? "0" : ""}${m}Z`;
}

/** The formatter extensions a format lists (SubstitutionFormatString.formatters). */
export interface FormatterExtensions {
  readonly reqWithoutQuery: boolean;
  readonly cel: boolean;
}

const NO_EXTENSIONS: FormatterExtensions = { reqWithoutQuery: false, cel: false };
const REQ_WITHOUT_QUERY_TYPE = "envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery";
const CEL_FORMATTER_TYPE = "envoy.extensions.formatter.cel.v3.Cel";

/** %REQ_WITHOUT_QUERY(X?Y)%: the request header (or its alternative) up to its query string. */
function reqWithoutQuery(c: FormatCommand, path: string): Getter {
  const h = splitAlternative(c);
  if (h.arg === "" || h.alt.includes("?")) throw new XdsConfigError(path, `%REQ_WITHOUT_QUERY(${c.arg})%: one header name, optionally ?ALTERNATIVE, is required`);
  const get = headerGetter(requestHeader, h);
  return (info) => {
    const v = get(info);
    if (typeof v !== "string") return undefined;
    const q = v.indexOf("?");
    return q < 0 ? v : v.slice(0, q);
  };
}

/** %CEL(EXPR)%: compiled once; an evaluation error or null is unavailable; JSON keeps numbers and bools. */
function celCommand(c: FormatCommand, path: string): Getter {
  if (c.arg === "") throw new XdsConfigError(path, "%CEL()% needs an expression");
  let prog: ReturnType<typeof compileCel>;
  try {
    prog = compileCel(c.arg);
  } catch (err) {
    throw new XdsConfigError(path, `%CEL(${c.arg})%: ${(err as Error).message}`);
  }
  return (info) => {
    const v = prog.eval(streamInfoActivation(info));
    if (isCelEvalError(v) || v === null) return undefined;
    if (typeof v === "boolean" || typeof v === "string") return v;
    if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
    if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : String(v);
    return celValueToString(v);
  };
}

const enum PartOp {
  Simple,
  RequestHeader,
  ResponseHeader,
  StartTime,
  Getter,
}

/** One command of a format string, compiled (one shape for all, so the line's loop stays monomorphic). */
class Part {
  constructor(
    readonly op: PartOp,
    /** Simple: the SIMPLE_COMMANDS string; headers: the lower-case name. */
    readonly name: string,
    /** A header's alternative (`REQ(X?Y)`), else "". */
    readonly alt: string,
    readonly get: Getter | undefined,
    readonly maxLength: number | undefined,
  ) {}
}

function partValue(p: Part, info: StreamInfo): Value {
  switch (p.op) {
    case PartOp.Simple:
      return simpleValue(p.name, info);
    case PartOp.RequestHeader: {
      const v = requestHeader(info, p.name);
      return v !== undefined || p.alt === "" ? v : requestHeader(info, p.alt);
    }
    case PartOp.ResponseHeader: {
      const v = responseHeader(info, p.name);
      return v !== undefined || p.alt === "" ? v : responseHeader(info, p.alt);
    }
    case PartOp.StartTime:
      return isoTime(info.startTime);
    default:
      return p.get!(info);
  }
}

function compileCommand(c: FormatCommand, path: string, ext: FormatterExtensions): Part {
  const getter = (g: Getter) => new Part(PartOp.Getter, "", "", g, c.maxLength);
  const name = c.command;
  if (name === "REQ_WITHOUT_QUERY" && ext.reqWithoutQuery) return getter(reqWithoutQuery(c, path));
  if (name === "CEL" && ext.cel) return getter(celCommand(c, path));
  if (!WITH_ARG.has(name)) {
    const known = SIMPLE_COMMANDS.find((n) => n === name);
    if (known === undefined) throw new XdsConfigError(path, `Not supported field in StreamInfo: ${name} (unknown or not implemented by tsmesh)`);
    if (c.arg !== "" || c.maxLength !== undefined) throw new XdsConfigError(path, `%${name}% takes no argument or length`);
    return new Part(PartOp.Simple, known, "", undefined, undefined);
  }
  if (name === "START_TIME") {
    if (c.maxLength !== undefined) throw new XdsConfigError(path, "%START_TIME% takes no length");
    if (c.arg === "") return new Part(PartOp.StartTime, "", "", undefined, undefined);
    const f = compileTimeFormat(c.arg, path);
    return getter((i) => f(i.startTime));
  }
  if (name === "REQ" || name === "REQUEST_HEADER" || name === "RESP" || name === "RESPONSE_HEADER") {
    const h = name.length > 7 ? splitAlternative(c) : c;
    if (h.arg === "" || h.arg.includes("?") || h.alt.includes("?")) throw new XdsConfigError(path, `%${name}(${c.arg})%: one header name, optionally ?ALTERNATIVE, is required`);
    return new Part(name === "REQ" || name === "REQUEST_HEADER" ? PartOp.RequestHeader : PartOp.ResponseHeader, h.arg, h.alt, undefined, c.maxLength);
  }
  return getter(commandGetter(c, path));
}

/** The commands with an argument that stay closures (trailers, metadata, filter state, environment). */
function commandGetter(c: FormatCommand, path: string): Getter {
  const name = c.command;
  switch (name) {
    case "TRAILER":
    case "RESPONSE_TRAILER": {
      const h = name.length > 7 ? splitAlternative(c) : c;
      if (h.arg === "" || h.arg.includes("?") || h.alt.includes("?")) throw new XdsConfigError(path, `%${name}(${c.arg})%: one header name, optionally ?ALTERNATIVE, is required`);
      return headerGetter((info: StreamInfo, n: string) => (info.kind === "http" && info.responseTrailers ? getHeader(info.responseTrailers as HeaderMap, n) : undefined), h);
    }
    case "DYNAMIC_METADATA": {
      const [ns, keys] = metadataPath(c.arg, path, name);
      return (i) => {
        const v = i.dynamicMetadata?.lookup(ns, keys);
        return v === undefined || v === null ? undefined : (v as Value);
      };
    }
    case "CLUSTER_METADATA": {
      const [ns, keys] = metadataPath(c.arg, path, name);
      return (i) => {
        const v = lookupPath(i.upstreamClusterMetadata?.[ns], keys);
        return v === undefined || v === null ? undefined : (v as Value);
      };
    }
    case "FILTER_STATE": {
      const parts = c.arg.split(":");
      const key = parts[0];
      const mode = parts[1] ?? "TYPED";
      if (key === "" || parts.length > 2 || (mode !== "TYPED" && mode !== "PLAIN")) throw new XdsConfigError(path, `%FILTER_STATE(${c.arg})%: KEY, KEY:PLAIN or KEY:TYPED is required`);
      return (i) => {
        const v = i.filterState.get(key);
        if (v === undefined || v === null) return undefined;
        if (mode === "PLAIN") return typeof v === "string" ? v : JSON.stringify(v);
        return v as Value;
      };
    }
    case "ENVIRONMENT": {
      if (c.arg === "") throw new XdsConfigError(path, "%ENVIRONMENT()% needs a variable name");
      // Read once, when the config is compiled (Envoy reads the environment at configuration time).
      const v = process.env[c.arg];
      return () => (v === undefined || v === "" ? undefined : v);
    }
  }
  throw new XdsConfigError(path, `Not supported field in StreamInfo: ${name}`);
}

/** A value as text: unavailable → `dash`; objects as JSON; truncated to `max`. */
function asText(v: Value, dash: string, max: number | undefined): string {
  if (v === undefined) return dash;
  let s = typeof v === "object" ? JSON.stringify(v) : String(v);
  if (max !== undefined && s.length > max) s = s.slice(0, max);
  return s === "" ? dash : s;
}

/** One format string compiled: literal pieces around its commands. */
interface Compiled {
  readonly literals: readonly string[];
  readonly parts: readonly Part[];
}

function compileString(format: string, path: string, ext: FormatterExtensions): Compiled {
  const parsed = parseHeaderFormat(format, path) ?? [format];
  const literals: string[] = [""];
  const parts: Part[] = [];
  for (const p of parsed) {
    if (typeof p === "string") literals[literals.length - 1] += p;
    else {
      parts.push(compileCommand(p, path, ext));
      literals.push("");
    }
  }
  return { literals, parts };
}

function renderText(c: Compiled, info: StreamInfo, dash: string): string {
  const parts = c.parts;
  let out = c.literals[0];
  for (let i = 0; i < parts.length; i++) out += asText(partValue(parts[i], info), dash, parts[i].maxLength) + c.literals[i + 1];
  return out;
}

const INLINE_KIND: Readonly<Record<PartOp, InlinePart["kind"]>> = { [PartOp.Simple]: "simple", [PartOp.RequestHeader]: "req", [PartOp.ResponseHeader]: "resp", [PartOp.StartTime]: "time", [PartOp.Getter]: "other" };

/** A text format: rendered by its straight-line functions (access-log-inline.ts), which fall back to partValue for commands they have no template for. */
class TextFormatter implements AccessLogFormatter {
  readonly format: (info: StreamInfo) => string;

  constructor(c: Compiled, dash: string) {
    const parts = c.parts.map((p): InlinePart => ({ kind: INLINE_KIND[p.op], name: p.name, alt: p.alt, maxLength: p.maxLength }));
    this.format = inlineTextRenderer(c.literals, parts, dash, { value: (k, info) => partValue(c.parts[k], info), asText, isoTime });
  }
}

/** The interpreted renderer of a text format (what the straight-line one must match: the tests compare them). */
export function interpretedTextFormat(format: string, path: string, omitEmptyValues = false, ext: FormatterExtensions = NO_EXTENSIONS): AccessLogFormatter {
  const c = compileString(format, path, ext);
  const dash = omitEmptyValues ? "" : "-";
  return { format: (info) => renderText(c, info, dash) };
}

/** A JSON format dictionary's node: a fixed value, a format string, or a nested object. */
type JsonNode = { kind: "fixed"; value: unknown } | { kind: "format"; c: Compiled } | { kind: "object"; entries: ReadonlyArray<readonly [string, JsonNode]> };

function compileJson(v: unknown, path: string, depth: number, ext: FormatterExtensions): JsonNode {
  if (depth > 16) throw new XdsConfigError(path, "json_format nests too deeply");
  if (typeof v === "string") {
    const c = compileString(v, path, ext);
    return c.parts.length === 0 ? { kind: "fixed", value: c.literals[0] } : { kind: "format", c };
  }
  if (typeof v === "number" || typeof v === "boolean" || v === null) return { kind: "fixed", value: v };
  if (Array.isArray(v)) throw new XdsConfigError(path, "json_format: list values are not implemented by tsmesh");
  const entries = Object.keys(v as object)
    .sort()
    .map((k) => [k, compileJson((v as Record<string, unknown>)[k], `${path}.${k}`, depth + 1, ext)] as const);
  return { kind: "object", entries };
}

/** A JSON value of one format string: a lone command keeps its type; anything else is text. */
function jsonValue(c: Compiled, info: StreamInfo): unknown {
  if (c.parts.length === 1 && c.literals[0] === "" && c.literals[1] === "") {
    let v = partValue(c.parts[0], info);
    const max = c.parts[0].maxLength;
    if (typeof v === "string") {
      if (max !== undefined && v.length > max) v = v.slice(0, max);
      if (v === "") v = undefined;
    } else if (typeof v === "object" && max !== undefined) v = asText(v, "", max);
    return v === undefined ? null : v;
  }
  return renderText(c, info, "-");
}

function renderJson(n: JsonNode, info: StreamInfo, omitEmpty: boolean, stringsOnly: boolean): unknown {
  if (n.kind === "fixed") return n.value;
  if (n.kind === "format") return stringsOnly ? renderText(n.c, info, "-") : jsonValue(n.c, info);
  const out: Record<string, unknown> = {};
  for (const [k, child] of n.entries) {
    const v = renderJson(child, info, omitEmpty, stringsOnly);
    if (omitEmpty && (v === null || v === undefined)) continue;
    out[k] = v;
  }
  return out;
}

class JsonFormatter implements AccessLogFormatter {
  constructor(
    private readonly root: JsonNode,
    private readonly omitEmpty: boolean,
    private readonly stringsOnly: boolean,
  ) {}

  format(info: StreamInfo): string {
    return JSON.stringify(renderJson(this.root, info, this.omitEmpty, this.stringsOnly)) + "\n";
  }
}

/** A text format string (`format`, `text_format`, `text_format_source`). */
export function compileTextFormat(format: string, path: string, omitEmptyValues = false, ext: FormatterExtensions = NO_EXTENSIONS): AccessLogFormatter {
  return new TextFormatter(compileString(format, path, ext), omitEmptyValues ? "" : "-");
}

/**
 * A JSON format dictionary (plain JSON, already out of its google.protobuf.Struct). `stringsOnly`:
 * FileAccessLog's deprecated json_format, whose values all render as text.
 */
export function compileJsonFormat(dict: Record<string, unknown>, path: string, omitEmptyValues = false, stringsOnly = false, ext: FormatterExtensions = NO_EXTENSIONS): AccessLogFormatter {
  return new JsonFormatter(compileJson(dict, path, 0, ext), omitEmptyValues, stringsOnly);
}

let defaultFormatter: AccessLogFormatter | undefined;

/** Envoy's default format, compiled once. */
export function defaultAccessLogFormatter(): AccessLogFormatter {
  return (defaultFormatter ??= compileTextFormat(DEFAULT_FORMAT, "default access log format"));
}

function dataSourceText(d: DataSource, path: string): string {
  if (d.inlineString !== undefined) return d.inlineString;
  if (d.inlineBytes !== undefined) return Buffer.from(d.inlineBytes).toString("utf8");
  if (d.environmentVariable !== undefined) {
    const v = process.env[d.environmentVariable];
    if (v === undefined) throw new XdsConfigError(`${path}.environmentVariable`, `environment variable ${d.environmentVariable} is not set`);
    return v;
  }
  throw new XdsConfigError(path, "text_format_source: only inline_string, inline_bytes and environment_variable are implemented by tsmesh");
}

/** An access logger's `log_format` (SubstitutionFormatString). */
/** SubstitutionFormatString.formatters: the two extensions tsmesh implements, each an empty config. */
function formatterExtensions(list: readonly envoy.config.core.v3.TypedExtensionConfig[], path: string): FormatterExtensions {
  let reqWithoutQuery = false;
  let cel = false;
  list.forEach((x, i) => {
    const at = `${path}[${i}].typedConfig`;
    const any = x.typedConfig as unknown as Record<string, unknown> | undefined;
    const type = typeName(anyType(any));
    // A decoded Any holds "@type" and the message's fields: both messages have none.
    const decoded = any !== undefined && typeof any["@type"] === "string";
    if (decoded && Object.keys(any).some((k) => k !== "@type")) throw new XdsConfigError(at, `${type} has no fields tsmesh knows`);
    if (decoded && type === REQ_WITHOUT_QUERY_TYPE) reqWithoutQuery = true;
    else if (decoded && type === CEL_FORMATTER_TYPE) cel = true;
    else throw new XdsConfigError(at, `formatter extension '${x.name ?? ""}' of type ${type || "(none)"} is not implemented by tsmesh (envoy.formatter.req_without_query and envoy.formatter.cel are)`);
  });
  return { reqWithoutQuery, cel };
}

export function compileSubstitutionFormat(f: SubstitutionFormatString, path: string): AccessLogFormatter {
  const ext = f.formatters?.length ? formatterExtensions(f.formatters, `${path}.formatters`) : NO_EXTENSIONS;
  if (f.contentType) throw new XdsConfigError(`${path}.contentType`, "content_type applies to local replies, not access logs");
  const omit = f.omitEmptyValues === true;
  const set = [f.textFormat !== undefined, f.jsonFormat !== undefined, f.textFormatSource !== undefined].filter(Boolean).length;
  if (set !== 1) throw new XdsConfigError(path, "exactly one of text_format, json_format and text_format_source must be set");
  if (f.jsonFormat !== undefined) return compileJsonFormat(fromStruct(f.jsonFormat), `${path}.jsonFormat`, omit, false, ext);
  // (json_format_options.sort_properties has no effect: properties are always sorted, as in Envoy.)
  if (f.textFormat !== undefined) return compileTextFormat(f.textFormat, `${path}.textFormat`, omit, ext);
  return compileTextFormat(dataSourceText(f.textFormatSource!, `${path}.textFormatSource`), `${path}.textFormatSource`, omit, ext);
}
