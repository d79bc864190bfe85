// Envoy's header mutations (`request_headers_to_add` / `_to_remove`, `response_headers_to_add` /
// `_to_remove` on routes, weighted clusters, virtual hosts and route configurations) over
// Node-style header objects, as envoy/source/common/router/header_parser.cc evaluates them:
//
// 1. every name in `toRemove` is removed (remove-before-add);
// 2. each HeaderValueOption is evaluated against the headers as they are now: its value is
//    formatted, an empty value is skipped unless `keepEmptyValue`, and its `appendAction` decides
//    what happens — APPEND_IF_EXISTS_OR_ADD (the default) adds another value, ADD_IF_ABSENT adds only
//    when the header is absent, OVERWRITE_IF_EXISTS_OR_ADD replaces, OVERWRITE_IF_EXISTS replaces
//    only when present. The legacy `append` BoolValue maps true → APPEND_IF_EXISTS_OR_ADD and
//    false → OVERWRITE_IF_EXISTS_OR_ADD (absent = append, Envoy's default); setting both `append`
//    and a non-default `appendAction` is a config error;
// 3. all overwrites are applied (in order, so the last overwrite of a name wins), then all adds.
//
// Levels: Envoy evaluates one parser per level, "later evaluated wins". For requests the router
// applies the weighted cluster's mutations first, then — with the RouteConfiguration's
// `mostSpecificHeaderMutationsWins` false (the default) — route → virtual host → route
// configuration, so the route configuration's overwrites win; with it true the order is route
// configuration → virtual host → route and the route's win. route-table.ts precomputes those chains.
//
// Values use Envoy's substitution format: `%%` is a literal `%`, `%COMMAND%`, `%COMMAND(arg)%` and
// `%COMMAND(arg):N%` are commands; a `%` that starts no well-formed command is a config error (as in
// Envoy). Supported commands: DOWNSTREAM_REMOTE_ADDRESS[_WITHOUT_PORT], DOWNSTREAM_REMOTE_PORT,
// DOWNSTREAM_DIRECT_REMOTE_ADDRESS[_WITHOUT_PORT], DOWNSTREAM_DIRECT_REMOTE_PORT,
// DOWNSTREAM_LOCAL_ADDRESS[_WITHOUT_PORT], DOWNSTREAM_LOCAL_PORT, UPSTREAM_HOST,
// UPSTREAM_REMOTE_ADDRESS[_WITHOUT_PORT], UPSTREAM_CLUSTER, HOSTNAME, PROTOCOL,
// REQUESTED_SERVER_NAME, ROUTE_NAME, START_TIME (default format only), REQ(h?alt), RESP(h?alt), and the
// downstream TLS commands of cert-fields.ts (DOWNSTREAM_PEER_URI_SAN, DOWNSTREAM_TLS_VERSION, …).
// Other well-formed commands render as an empty value (Envoy would know them; tsmesh does not yet).
import { hostname } from "node:os";
import type * as http from "node:http";
import type * as tls from "node:tls";
import type { HeaderValueOption } from "../../envoy/types.js";
import { XdsConfigError } from "../xds-error.js";
import { HOP_BY_HOP } from "../http1/codec.js";
import { TLS_COMMANDS, tlsCommandValue } from "./cert-fields.js";

/**
 * Headers as Node keeps them: lowercase names, one string per value or an array for repeated
 * headers (http.IncomingHttpHeaders, http2.IncomingHttpHeaders and plain objects all fit).
 */
export interface HeaderMap {
  [name: string]: string | string[] | undefined;
}

/** The value of `name` (lowercase); repeated values joined with "," as Envoy's matchers see them. */
export function getHeader(headers: HeaderMap, name: string): string | undefined {
  const v = headers[name];
  if (typeof v === "string") return v;
  if (!Array.isArray(v) || v.length === 0) return undefined;
  return v.length === 1 ? v[0] : v.join(",");
}

/** Is `name` (lowercase) present with at least one value? */
export function hasHeader(headers: HeaderMap, name: string): boolean {
  const v = headers[name];
  return typeof v === "string" || (Array.isArray(v) && v.length > 0);
}

/** Adds one more value (Envoy's addReferenceKey): a present header becomes an array. */
export function addHeader(headers: HeaderMap, name: string, value: string): void {
  const v = headers[name];
  if (typeof v === "string") headers[name] = [v, value];
  // A new array: the old one may be shared with another header object.
  else if (Array.isArray(v) && v.length > 0) headers[name] = [...v, value];
  else headers[name] = value;
}

/** Replaces every value (Envoy's setReferenceKey). */
export function setHeader(headers: HeaderMap, name: string, value: string): void {
  headers[name] = value;
}

/** Removes every value. */
export function removeHeader(headers: HeaderMap, name: string): void {
  if (headers[name] !== undefined) delete headers[name];
}

export type HeaderAppendAction = HeaderValueOption.HeaderAppendAction;

const APPEND_ACTIONS: readonly HeaderAppendAction[] = ["APPEND_IF_EXISTS_OR_ADD", "ADD_IF_ABSENT", "OVERWRITE_IF_EXISTS_OR_ADD", "OVERWRITE_IF_EXISTS"];

/** Per-request values for the formatter commands (all optional: a missing one renders empty). */
export interface FormatterVars {
  /** Client address as Envoy prints it: `10.0.0.1:51234`, `[::1]:51234`. */
  downstreamRemoteAddress?: string;
  /** The directly connected peer (defaults to downstreamRemoteAddress). */
  downstreamDirectRemoteAddress?: string;
  /** The address the connection was accepted on: `10.0.0.2:9080`. */
  downstreamLocalAddress?: string;
  /** Upstream host address (`10.0.0.3:9080`), when known. */
  upstreamHost?: string;
  upstreamCluster?: string;
  /** `HTTP/1.1`, `HTTP/2`. */
  protocol?: string;
  requestedServerName?: string;
  routeName?: string;
  /** Epoch milliseconds of the request start (START_TIME). */
  startTimeMs?: number;
  /** Headers REQ(...) reads (the downstream request's, before this mutation). */
  requestHeaders?: HeaderMap;
  /** Headers RESP(...) reads. */
  responseHeaders?: HeaderMap;
  /** The downstream connection's TLS socket (DOWNSTREAM_PEER_* / DOWNSTREAM_LOCAL_* / DOWNSTREAM_TLS_*). */
  downstreamTls?: tls.TLSSocket;
}

/** One formatter command of a header value. */
export interface FormatCommand {
  readonly command: string;
  /** REQ/RESP: the header and its alternative (lowercase); other commands: the raw argument. */
  readonly arg: string;
  readonly alt: string;
  /** `:N` truncation. */
  readonly maxLength: number | undefined;
}

/** A compiled HeaderValueOption. */
export interface CompiledHeaderValueOption {
  /** Lowercase header name. */
  readonly key: string;
  /** The configured value, unformatted. */
  readonly value: string;
  readonly action: HeaderAppendAction;
  readonly keepEmptyValue: boolean;
  /** Literal pieces and commands; undefined when the value is a plain literal (after `%%` unescaping: see `literal`). */
  readonly format: readonly (string | FormatCommand)[] | undefined;
  /** The value with `%%` unescaped (used when `format` is undefined). */
  readonly literal: string;
}

const COMMAND_RE = /%([A-Z0-9_]+)(\([^)]*\))?(:[0-9]+)?%/y;
// Envoy's well_known_regex HTTP_HEADER_NAME / HTTP_HEADER_VALUE with strict: false: no NUL, CR, LF.
const BAD_HEADER_CHARS = /[\0\r\n]/;

/** Parses an Envoy substitution-format header value; undefined = a plain literal. */
export function parseHeaderFormat(value: string, path: string): (string | FormatCommand)[] | undefined {
  if (!value.includes("%")) return undefined;
  const parts: (string | FormatCommand)[] = [];
  let literal = "";
  let hasCommand = false;
  let pos = 0;
  while (pos < value.length) {
    const c = value.charCodeAt(pos);
    if (c !== 37 /* % */) {
      literal += value[pos];
      pos++;
      continue;
    }
    if (value.charCodeAt(pos + 1) === 37) {
      literal += "%";
      pos += 2;
      continue;
    }
    COMMAND_RE.lastIndex = pos;
    const m = COMMAND_RE.exec(value);
    if (!m) throw new XdsConfigError(path, `Incorrect configuration: ${value}. Couldn't find valid command at position ${pos}`);
    if (literal) parts.push(literal);
    literal = "";
    hasCommand = true;
    const rawArg = m[2] ? m[2].slice(1, -1) : "";
    let arg = rawArg;
    let alt = "";
    if (m[1] === "REQ" || m[1] === "RESP" || m[1] === "TRAILER") {
      const q = rawArg.indexOf("?");
      arg = (q < 0 ? rawArg : rawArg.slice(0, q)).toLowerCase();
      alt = q < 0 ? "" : rawArg.slice(q + 1).toLowerCase();
    }
    parts.push({ command: m[1], arg, alt, maxLength: m[3] ? Number(m[3].slice(1)) : undefined });
    pos += m[0].length;
  }
  if (!hasCommand) return [literal];
  if (literal) parts.push(literal);
  return parts;
}

let cachedHostname: string | undefined;

/** `1.2.3.4:80` → `1.2.3.4`, `[::1]:80` → `::1`; an address without a port is returned as is. */
export function withoutPort(addr: string): string {
  if (addr.startsWith("[")) {
    const end = addr.indexOf("]");
    return end < 0 ? addr : addr.slice(1, end);
  }
  const colon = addr.lastIndexOf(":");
  if (colon < 0 || addr.indexOf(":") !== colon) return addr;
  return addr.slice(0, colon);
}

export function portOf(addr: string): string {
  const end = addr.startsWith("[") ? addr.indexOf("]") : -1;
  const colon = addr.lastIndexOf(":");
  if (colon < 0 || colon < end || (end < 0 && addr.indexOf(":") !== colon)) return "";
  return addr.slice(colon + 1);
}

function headerOr(h: HeaderMap | undefined, name: string, alt: string): string {
  if (!h) return "";
  return getHeader(h, name) ?? (alt ? (getHeader(h, alt) ?? "") : "");
}

function renderCommand(c: FormatCommand, vars: FormatterVars | undefined): string {
  const v = vars ?? {};
  let out: string;
  switch (c.command) {
    case "DOWNSTREAM_REMOTE_ADDRESS":
      out = v.downstreamRemoteAddress ?? "";
      break;
    case "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":
      out = withoutPort(v.downstreamRemoteAddress ?? "");
      break;
    case "DOWNSTREAM_REMOTE_PORT":
      out = portOf(v.downstreamRemoteAddress ?? "");
      break;
    case "DOWNSTREAM_DIRECT_REMOTE_ADDRESS":
      out = v.downstreamDirectRemoteAddress ?? v.downstreamRemoteAddress ?? "";
      break;
    case "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT":
      out = withoutPort(v.downstreamDirectRemoteAddress ?? v.downstreamRemoteAddress ?? "");
      break;
    case "DOWNSTREAM_DIRECT_REMOTE_PORT":
      out = portOf(v.downstreamDirectRemoteAddress ?? v.downstreamRemoteAddress ?? "");
      break;
    case "DOWNSTREAM_LOCAL_ADDRESS":
      out = v.downstreamLocalAddress ?? "";
      break;
    case "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT":
      out = withoutPort(v.downstreamLocalAddress ?? "");
      break;
    case "DOWNSTREAM_LOCAL_PORT":
      out = portOf(v.downstreamLocalAddress ?? "");
      break;
    case "UPSTREAM_HOST":
    case "UPSTREAM_REMOTE_ADDRESS":
      out = v.upstreamHost ?? "";
      break;
    case "UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":
      out = withoutPort(v.upstreamHost ?? "");
      break;
    case "UPSTREAM_CLUSTER":
      out = v.upstreamCluster ?? "";
      break;
    case "HOSTNAME":
      out = cachedHostname ??= hostname();
      break;
    case "PROTOCOL":
      out = v.protocol ?? "";
      break;
    case "REQUESTED_SERVER_NAME":
      out = v.requestedServerName ?? "";
      break;
    case "ROUTE_NAME":
      out = v.routeName ?? "";
      break;
    case "START_TIME":
      out = c.arg === "" && v.startTimeMs !== undefined ? new Date(v.startTimeMs).toISOString() : "";
      break;
    case "REQ":
      out = headerOr(v.requestHeaders, c.arg, c.alt);
      break;
    case "RESP":
      out = headerOr(v.responseHeaders, c.arg, c.alt);
      break;
    default:
      out = TLS_COMMANDS.has(c.command) ? tlsCommandValue(c.command, v.downstreamTls) : "";
  }
  return c.maxLength !== undefined && out.length > c.maxLength ? out.slice(0, c.maxLength) : out;
}

/** The formatted value of one option. */
export function formatHeaderValue(o: CompiledHeaderValueOption, vars?: FormatterVars): string {
  const f = o.format;
  if (f === undefined) return o.literal;
  let out = "";
  for (let i = 0; i < f.length; i++) {
    const p = f[i];
    out += typeof p === "string" ? p : renderCommand(p, vars);
  }
  return out;
}

/**
 * Envoy's isModifiableHeader / isRemovableHeader: pseudo-headers and `host` are off limits (the
 * route's host_rewrite and path rewrites are the way to change them).
 */
function isModifiable(name: string): boolean {
  return !name.startsWith(":") && name !== "host";
}

/** Compiles one HeaderValueOption (throws XdsConfigError at `path`). */
export function compileHeaderValueOption(raw: HeaderValueOption, path: string): CompiledHeaderValueOption {
  const header = raw.header;
  if (!header) throw new XdsConfigError(`${path}.header`, "header is required");
  const key = header.key ?? "";
  if (!key) throw new XdsConfigError(`${path}.header.key`, "header name must not be empty");
  if (BAD_HEADER_CHARS.test(key) || key.length > 16384) throw new XdsConfigError(`${path}.header.key`, `invalid header name ${JSON.stringify(key)}`);
  const lower = key.toLowerCase();
  if (!isModifiable(lower)) throw new XdsConfigError(`${path}.header.key`, ":-prefixed or host headers may not be modified");
  let value = header.value;
  const rawBytes = header.rawValue;
  const rawValue = rawBytes ? Buffer.from(rawBytes.buffer, rawBytes.byteOffset, rawBytes.byteLength).toString("utf8") : "";
  if (rawValue !== "") {
    if (value) throw new XdsConfigError(`${path}.header`, "only one of value and raw_value can be set");
    value = rawValue;
  }
  value ??= "";
  if (BAD_HEADER_CHARS.test(value) || value.length > 16384) throw new XdsConfigError(`${path}.header.value`, "invalid header value");

  let action: HeaderAppendAction = "APPEND_IF_EXISTS_OR_ADD";
  const rawAction = raw.appendAction;
  if (rawAction !== undefined) {
    // A value this schema does not know arrives as its number.
    if (!APPEND_ACTIONS.includes(rawAction)) throw new XdsConfigError(`${path}.appendAction`, `unknown append action ${JSON.stringify(rawAction)}`);
    action = rawAction;
  }
  const append = raw.append;
  if (append !== undefined) {
    if (action !== "APPEND_IF_EXISTS_OR_ADD") throw new XdsConfigError(path, "Both append and append_action are set and it's not allowed");
    action = append.value === true ? "APPEND_IF_EXISTS_OR_ADD" : "OVERWRITE_IF_EXISTS_OR_ADD";
  }
  const parsed = parseHeaderFormat(value, `${path}.header.value`);
  const literalOnly = parsed === undefined || (parsed.length === 1 && typeof parsed[0] === "string");
  return {
    key: lower,
    value,
    action,
    keepEmptyValue: raw.keepEmptyValue === true,
    format: literalOnly ? undefined : parsed,
    literal: parsed === undefined ? value : literalOnly ? (parsed[0] as string) : "",
  };
}

// Scratch space for one apply() (synchronous, never re-entered): no per-request allocation.
const OP_SKIP = 0;
const OP_ADD = 1;
const OP_SET = 2;
let opScratch = new Uint8Array(16);
let valueScratch: string[] = new Array<string>(16).fill("");

/** One level's compiled mutations (a HeaderParser in Envoy). */
export class HeaderMutations {
  private constructor(
    /** Options in config order. */
    readonly toAdd: readonly CompiledHeaderValueOption[],
    /** Lowercase names to remove first. */
    readonly toRemove: readonly string[],
  ) {}

  /**
   * Compiles `toAdd` (HeaderValueOption[]) and `toRemove` (names); undefined when both are empty.
   * `addPath` / `removePath` name the fields in errors (`virtualHosts[0].requestHeadersToAdd`).
   */
  static compile(
    toAdd: readonly HeaderValueOption[] | undefined,
    toRemove: readonly string[] | undefined,
    addPath = "headersToAdd",
    removePath = "headersToRemove",
  ): HeaderMutations | undefined {
    if ((!toAdd || toAdd.length === 0) && (!toRemove || toRemove.length === 0)) return undefined;
    const add = (toAdd ?? []).map((o, i) => compileHeaderValueOption(o, `${addPath}[${i}]`));
    const remove = (toRemove ?? []).map((n, i) => {
      const p = `${removePath}[${i}]`;
      if (n === "") throw new XdsConfigError(p, "header name must not be empty");
      const lower = n.toLowerCase();
      if (!isModifiable(lower)) throw new XdsConfigError(p, ":-prefixed or host headers may not be removed");
      return lower;
    });
    return new HeaderMutations(add, remove);
  }

  /** Applies the mutations to `target` in place (Envoy's HeaderParser::evaluateHeaders). */
  apply(target: HeaderMap, vars?: FormatterVars): void {
    const remove = this.toRemove;
    for (let i = 0; i < remove.length; i++) {
      if (target[remove[i]] !== undefined) delete target[remove[i]];
    }
    const add = this.toAdd;
    const n = add.length;
    if (n === 0) return;
    if (opScratch.length < n) {
      opScratch = new Uint8Array(n * 2);
      valueScratch = new Array<string>(n * 2).fill("");
    }
    const ops = opScratch;
    const values = valueScratch;
    let sets = 0;
    for (let i = 0; i < n; i++) {
      const o = add[i];
      const value = o.format === undefined ? o.literal : formatHeaderValue(o, vars);
      let op = OP_SKIP;
      if (value !== "" || o.keepEmptyValue) {
        switch (o.action) {
          case "APPEND_IF_EXISTS_OR_ADD":
            op = OP_ADD;
            break;
          case "ADD_IF_ABSENT":
            op = hasHeader(target, o.key) ? OP_SKIP : OP_ADD;
            break;
          case "OVERWRITE_IF_EXISTS":
            op = hasHeader(target, o.key) ? OP_SET : OP_SKIP;
            break;
          case "OVERWRITE_IF_EXISTS_OR_ADD":
            op = OP_SET;
            break;
        }
      }
      ops[i] = op;
      values[i] = value;
      if (op === OP_SET) sets++;
    }
    if (sets > 0) {
      for (let i = 0; i < n; i++) if (ops[i] === OP_SET) target[add[i].key] = values[i];
    }
    for (let i = 0; i < n; i++) {
      if (ops[i] === OP_ADD) addHeader(target, add[i].key, values[i]);
      values[i] = "";
    }
  }
}

const compiledCache = new WeakMap<readonly HeaderValueOption[], { toRemove: readonly string[] | undefined; compiled: HeaderMutations | undefined }>();
const NO_ADD: readonly HeaderValueOption[] = [];

/**
 * Applies Envoy header mutations given in decoded form (HeaderValueOption objects and names). The
 * compiled form is cached per `toAdd` array, so calling this per request with the same config
 * arrays costs one WeakMap lookup; hot paths should keep a HeaderMutations instead.
 */
export function applyHeaderMutations(
  target: HeaderMap,
  toAdd: readonly HeaderValueOption[] | undefined,
  toRemove: readonly string[] | undefined,
  vars?: FormatterVars,
): void {
  const key = toAdd ?? NO_ADD;
  let entry = compiledCache.get(key);
  if (!entry || entry.toRemove !== toRemove) {
    entry = { toRemove, compiled: HeaderMutations.compile(toAdd, toRemove, "requestHeadersToAdd", "requestHeadersToRemove") };
    if (key !== NO_ADD) compiledCache.set(key, entry);
  }
  entry.compiled?.apply(target, vars);
}

/** Response headers copied downstream (hop-by-hop and pseudo-headers removed). */
export function responseHeaders(h: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const k in h) {
    const v = h[k];
    if (v !== undefined && k.charCodeAt(0) !== 58 /* : */ && !HOP_BY_HOP.has(k)) out[k] = v;
  }
  return out;
}
