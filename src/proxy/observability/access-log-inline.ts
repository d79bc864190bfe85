// A text access-log format compiled to one straight-line function per kind of record (HTTP, TCP):
// each command's read inlined as a field load or a header lookup, the literals in place. At 1,000
// rps every line is rendered cold (other processes ran since the last request), and its cost is
// then set by how much code and memory it touches, not by how long it runs: one function touches
// far less than the interpreted loop over parts (a call, a switch and a conversion per command).
// Only our own templates go into the generated source; what the config gives (literals, header
// names) goes in as JSON string literals, which cannot leave their quotes. Commands without a
// template call the interpreter's value function, so every format renders exactly as the
// interpreted renderer does (access-log-format.ts keeps that as the reference and for JSON).
import { formatFlags } from "../access-log.js";
import { getHeader } from "../http/headers.js";
import type { HttpStreamInfo, StreamInfo, TcpStreamInfo } from "../stream-info.js";
import type { Value } from "./access-log-values.js";

/** How a command's value becomes text: "s" string or undefined ("" too prints the dash), "n" a number, "nu" a number or undefined. */
type Conv = "s" | "n" | "nu";
type Template = readonly [Conv, string];

const str = (expr: string): Template => ["s", expr];
const UNAVAILABLE: Template = ["s", "undefined"];

/** Templates of the commands without argument, by kind of record (`i`: the record). */
const HTTP_TEMPLATES: Readonly<Record<string, Template>> = {
  PROTOCOL: str("i.protocol"),
  RESPONSE_CODE: ["n", "i.responseCode"],
  RESPONSE_CODE_DETAILS: str("i.responseCodeDetails"),
  CONNECTION_TERMINATION_DETAILS: UNAVAILABLE,
  ROUTE_NAME: str("i.routeName"),
  STREAM_ID: str("i.requestId"),
  GRPC_STATUS_NUMBER: ["nu", "i.grpcStatus"],
  UPSTREAM_SERVICE_TIME: ["nu", "i.upstreamServiceTimeMs"],
};

const TCP_TEMPLATES: Readonly<Record<string, Template>> = {
  PROTOCOL: UNAVAILABLE,
  RESPONSE_CODE: ["n", "0"],
  RESPONSE_CODE_DETAILS: UNAVAILABLE,
  CONNECTION_TERMINATION_DETAILS: str("i.connectionTerminationDetails"),
  ROUTE_NAME: UNAVAILABLE,
  STREAM_ID: UNAVAILABLE,
  GRPC_STATUS_NUMBER: UNAVAILABLE,
  UPSTREAM_SERVICE_TIME: UNAVAILABLE,
};

const COMMON_TEMPLATES: Readonly<Record<string, Template>> = {
  RESPONSE_FLAGS: str("F(i.flags)"),
  BYTES_RECEIVED: ["n", "i.bytesReceived"],
  BYTES_SENT: ["n", "i.bytesSent"],
  DURATION: ["n", "Math.round(i.durationMs)"],
  UPSTREAM_HOST: str("i.upstreamHost"),
  UPSTREAM_REMOTE_ADDRESS: str("i.upstreamHost"),
  UPSTREAM_CLUSTER: str("i.upstreamCluster"),
  UPSTREAM_CLUSTER_RAW: str("i.upstreamCluster"),
  UPSTREAM_LOCAL_ADDRESS: str("i.upstreamLocalAddress"),
  UPSTREAM_TRANSPORT_FAILURE_REASON: str("i.upstreamTransportFailureReason"),
  UPSTREAM_PEER_URI_SAN: str("(i.upstreamTls === undefined ? undefined : i.upstreamTls.peerPrincipal)"),
  UPSTREAM_LOCAL_URI_SAN: str("(i.upstreamTls === undefined ? undefined : i.upstreamTls.localPrincipal)"),
  DOWNSTREAM_LOCAL_ADDRESS: str("i.downstreamLocalAddress"),
  DOWNSTREAM_REMOTE_ADDRESS: str("i.downstreamRemoteAddress"),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: str("i.downstreamDirectRemoteAddress"),
  DOWNSTREAM_PEER_URI_SAN: str("(i.downstreamTls === undefined ? undefined : i.downstreamTls.peerPrincipal)"),
  DOWNSTREAM_LOCAL_URI_SAN: str("(i.downstreamTls === undefined ? undefined : i.downstreamTls.localPrincipal)"),
  REQUESTED_SERVER_NAME: str("i.requestedServerName"),
};

/** The pseudo-headers REQ reads from the record's fields (requestHeader in access-log-values.ts). */
const AUTHORITY = '(i.authority === "" ? undefined : i.authority)';
const REQUEST_PSEUDO: Readonly<Record<string, string>> = { ":method": "i.method", ":path": "i.path", ":authority": AUTHORITY, host: AUTHORITY, ":scheme": "i.scheme" };

/** One command as the generator sees it (the interpreter's Part, read through this shape). */
export interface InlinePart {
  /** "simple" (name: the command), "req" / "resp" (name, alt: lower-case header names), "time" (ISO START_TIME), else "other". */
  readonly kind: "simple" | "req" | "resp" | "time" | "other";
  readonly name: string;
  readonly alt: string;
  readonly maxLength: number | undefined;
}

/** What generated code calls: the interpreter's value of part `k` (for commands without a template), its text conversion, and START_TIME's. */
export interface InlineRuntime {
  value(k: number, info: StreamInfo): Value;
  asText(v: Value, dash: string, max: number | undefined): string;
  isoTime(ms: number): string;
}

const lit = (s: string): string => JSON.stringify(s);
/** A length as source text: always a number literal (NaN included), whatever reached it. */
const num = (n: number): string => String(Number(n));

function headerRead(p: InlinePart, name: string, http: boolean): string {
  if (!http) return "undefined";
  if (p.kind === "resp") {
    // (:status: the record's code, unavailable when no response was sent.)
    if (name === ":status") return "(i.responseCode === 0 ? undefined : String(i.responseCode))";
    return `H(i.responseHeaders, ${lit(name)})`;
  }
  const field = REQUEST_PSEUDO[name];
  return field ?? `H(i.requestHeaders, ${lit(name)})`;
}

/** Part `k`'s text as an expression (it may assign the scratch `v`). */
function partSource(p: InlinePart, k: number, http: boolean, dash: string): string {
  const d = lit(dash);
  const fallback = `R.asText(R.value(${k}, i), ${d}, ${p.maxLength === undefined ? "undefined" : num(p.maxLength)})`;
  let t: Template | undefined;
  if (p.kind === "simple") t = (http ? HTTP_TEMPLATES : TCP_TEMPLATES)[p.name] ?? COMMON_TEMPLATES[p.name];
  else if (p.kind === "time") t = ["s", "R.isoTime(i.startTime)"];
  else if (p.kind === "req" || p.kind === "resp") {
    const first = headerRead(p, p.name, http);
    t = str(p.alt === "" ? first : `((v = ${first}) !== undefined ? v : ${headerRead(p, p.alt, http)})`);
  }
  if (t === undefined) return fallback;
  const [conv, expr] = t;
  // (join writes numbers as String does.)
  if (conv === "n") return `(${expr})`;
  if (conv === "nu") return `(v = ${expr}, v === undefined ? ${d} : v)`;
  const max = p.maxLength;
  // (A length of 0 leaves nothing of any value: the dash.)
  if (max === 0) return d;
  const cut = max === undefined ? "v" : `(v.length > ${num(max)} ? v.slice(0, ${num(max)}) : v)`;
  return `(v = ${expr}, v === undefined || v === "" ? ${d} : ${cut})`;
}

/**
 * The line as one array joined: a flat string in one allocation, where appending piece by piece
 * made a rope of some sixty strings that writing it to the log buffer then flattened again.
 */
function generate(literals: readonly string[], parts: readonly InlinePart[], http: boolean, dash: string): string {
  const pieces: string[] = [];
  if (literals[0] !== "") pieces.push(lit(literals[0]));
  parts.forEach((p, k) => {
    pieces.push(partSource(p, k, http, dash));
    if (literals[k + 1] !== "") pieces.push(lit(literals[k + 1]));
  });
  return `"use strict"; return function render(i) { let v; return [${pieces.join(", ")}].join(""); };`;
}

type Render<I> = (info: I) => string;

/** A text format's two renderers (`literals`: the pieces around the parts, one more than parts). */
export function inlineTextRenderer(literals: readonly string[], parts: readonly InlinePart[], dash: string, runtime: InlineRuntime): (info: StreamInfo) => string {
  const make = <I>(http: boolean): Render<I> => new Function("R", "H", "F", generate(literals, parts, http, dash))(runtime, getHeader, formatFlags) as Render<I>;
  const http = make<HttpStreamInfo>(true);
  const tcp = make<TcpStreamInfo>(false);
  return (info) => (info.kind === "http" ? http(info) : tcp(info));
}
