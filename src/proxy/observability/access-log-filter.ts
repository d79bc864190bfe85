// Envoy's access-log filters (envoy.config.accesslog.v3.AccessLogFilter): whether a finished
// stream is logged, decided on its StreamInfo. Every kind Envoy has is implemented — status code,
// duration, not-health-check, traceable, runtime, and/or, header, response flag, gRPC status,
// metadata, log type — plus the CEL extension filter Istio's Telemetry API generates
// (`envoy.access_loggers.extension_filters.cel`, where an evaluation error or a non-bool result
// means "do not log", as in Envoy). Anything else, or a field tsmesh would have to ignore, is an
// XdsConfigError naming the field.
import { compileCel, isCelEvalError } from "../../core/cel/program.js";
import { GRPC_STATUS_CODES, httpToGrpcStatus } from "../../core/grpc.js";
import type { envoy } from "../../envoy/types.js";
import { RESPONSE_FLAGS, FLAG_BIT, type ResponseFlag } from "../access-log.js";
import { ExtensionRegistry } from "../extensions.js";
import { HeaderMatcher } from "../http/matchers/matchers.js";
import { compileValueMatcher } from "../http/matchers/metadata.js";
import { fractionalPercent, fractionFires } from "../http/route-policies.js";
import type { StreamInfo } from "../stream-info.js";
import { XdsConfigError } from "../xds-error.js";
import { headerString, streamInfoActivation } from "./cel-attributes.js";

type AccessLogFilterConfig = envoy.config.accesslog.v3.AccessLogFilter;
type ComparisonFilter = envoy.config.accesslog.v3.ComparisonFilter;

/** A compiled filter: true = log this stream. */
export type AccessLogFilter = (info: StreamInfo) => boolean;

/** Randomness for runtime_filter (injectable for tests): a number in [0, 1). */
export type Random01 = () => number;

const EXPRESSION_FILTER = "envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter";

interface ExpressionFilterConfig {
  expression?: string;
  celConfig?: unknown;
  cel_config?: unknown;
}

type FilterExtension = (config: never, path: string) => AccessLogFilter;

/** Access-log filter extensions by config type URL (Envoy's envoy.access_loggers.extension_filters). */
export const ACCESS_LOG_FILTER_EXTENSIONS = new ExtensionRegistry<FilterExtension>("access log filter").register([EXPRESSION_FILTER], ((c: ExpressionFilterConfig, path: string) => {
  if (c.celConfig !== undefined || c.cel_config !== undefined) throw new XdsConfigError(`${path}.celConfig`, "cel_config (string conversion/concat/functions switches) is not implemented by tsmesh");
  const expr = c.expression ?? "";
  if (expr === "") throw new XdsConfigError(`${path}.expression`, "expression must not be empty");
  let prog: ReturnType<typeof compileCel>;
  try {
    prog = compileCel(expr);
  } catch (err) {
    throw new XdsConfigError(`${path}.expression`, (err as Error).message);
  }
  return (info) => {
    const r = prog.eval(streamInfoActivation(info));
    // Envoy's CEL filter logs only on a bool true: an error or another type does not log.
    return !isCelEvalError(r) && r === true;
  };
}) as FilterExtension);

/** Envoy's valid response_flag_filter flags (the access-log proto's `in` list). */
const VALID_FLAGS: ReadonlySet<string> = new Set([
  ...Object.values(RESPONSE_FLAGS),
  // Flags Envoy knows that tsmesh never sets (cache responses, filter-config warming, duration
  // timeouts, DNS failures, drop-overload, downstream remote reset): valid, they just never match.
  "RFCF",
  "NFCF",
  "DT",
  "DF",
  "DO",
  "DR",
]);

/** A ComparisonFilter over a number (Envoy's RuntimeUInt32 default value; tsmesh has no runtime). */
function comparison(c: ComparisonFilter | undefined, path: string): (n: number) => boolean {
  if (c === undefined) throw new XdsConfigError(path, "comparison is required");
  const value = c.value?.defaultValue ?? 0;
  if (c.value !== undefined && !c.value.runtimeKey) throw new XdsConfigError(`${path}.value.runtimeKey`, "runtime_key must not be empty");
  switch (c.op ?? "EQ") {
    case "EQ":
      return (n) => n === value;
    case "GE":
      return (n) => n >= value;
    case "LE":
      return (n) => n <= value;
    default:
      throw new XdsConfigError(`${path}.op`, `unknown value ${JSON.stringify(c.op)}`);
  }
}

/** The x-request-id UUID's trace byte (Envoy's UUID request-id extension packs the trace reason there). */
const TRACE_BYTE_POSITION = 14;
const TRACE_FORCED = "a";
const UUID_LENGTH = 36;

function requestId(info: StreamInfo): string | undefined {
  if (info.kind !== "http") return undefined;
  return info.requestId || headerString(info.requestHeaders, "x-request-id");
}

/** Envoy's stream id as an integer: the request id UUID's first 8 hex digits; undefined without one. */
function streamIdInteger(info: StreamInfo): number | undefined {
  const id = requestId(info);
  if (id === undefined || id.length !== UUID_LENGTH || !/^[0-9a-fA-F]{8}$/.test(id.slice(0, 8))) return undefined;
  return parseInt(id.slice(0, 8), 16);
}

function grpcStatusOf(info: StreamInfo): number {
  if (info.kind !== "http") return GRPC_STATUS_CODES.UNKNOWN;
  if (info.grpcStatus !== undefined) return info.grpcStatus;
  return info.responseCode > 0 ? httpToGrpcStatus(info.responseCode) : GRPC_STATUS_CODES.UNKNOWN;
}

function logType(info: StreamInfo): envoy.data.accesslog.v3.AccessLogType {
  if (info.kind === "http") return "DownstreamEnd";
  return info.intermediate ? "TcpPeriodic" : "TcpConnectionEnd";
}

const KINDS = [
  "statusCodeFilter",
  "durationFilter",
  "notHealthCheckFilter",
  "traceableFilter",
  "runtimeFilter",
  "andFilter",
  "orFilter",
  "headerFilter",
  "responseFlagFilter",
  "grpcStatusFilter",
  "extensionFilter",
  "metadataFilter",
  "logTypeFilter",
] as const;

/** Max and/or nesting (Envoy's config has no bound; a recursion bound keeps a hostile config from the stack's end). */
const MAX_FILTER_DEPTH = 32;

/**
 * Compiles an AccessLogFilter (`path` names the field). `random01` feeds runtime_filter when the
 * stream has no request id to sample on (and for use_independent_randomness).
 */
export function compileAccessLogFilter(cfg: AccessLogFilterConfig, path: string, random01: Random01 = Math.random, depth = 0): AccessLogFilter {
  if (depth > MAX_FILTER_DEPTH) throw new XdsConfigError(path, `access log filters nested more than ${MAX_FILTER_DEPTH} levels`);
  const set = KINDS.filter((k) => cfg[k] !== undefined);
  const unknown = Object.keys(cfg).filter((k) => !(KINDS as readonly string[]).includes(k) && cfg[k as keyof AccessLogFilterConfig] !== undefined);
  if (unknown.length > 0) throw new XdsConfigError(`${path}.${unknown[0]}`, "unknown access log filter field");
  if (set.length !== 1) throw new XdsConfigError(path, set.length === 0 ? "an access log filter needs one filter specifier" : `an access log filter takes one filter specifier, got ${set.join(", ")}`);
  const kind = set[0];
  const at = `${path}.${kind}`;
  switch (kind) {
    case "statusCodeFilter": {
      const cmp = comparison(cfg.statusCodeFilter!.comparison, `${at}.comparison`);
      // Envoy compares 0 when no response code was set (a TCP connection, a reset before the response).
      return (info) => cmp(info.kind === "http" ? info.responseCode : 0);
    }
    case "durationFilter": {
      const cmp = comparison(cfg.durationFilter!.comparison, `${at}.comparison`);
      return (info) => cmp(Math.floor(info.durationMs));
    }
    case "notHealthCheckFilter":
      // Envoy marks a request as a health check only in its health_check HTTP filter, which tsmesh
      // does not implement: no stream is a health check, as in Envoy without that filter.
      return () => true;
    case "traceableFilter":
      // Envoy's TraceableRequestFilter: the trace reason is ServiceForced, which its UUID request-id
      // extension reads from the x-request-id's trace byte.
      return (info) => {
        const id = requestId(info);
        return id !== undefined && id.length === UUID_LENGTH && id[TRACE_BYTE_POSITION] === TRACE_FORCED;
      };
    case "runtimeFilter": {
      const r = cfg.runtimeFilter!;
      if (!r.runtimeKey) throw new XdsConfigError(`${at}.runtimeKey`, "runtime_key must not be empty");
      // No runtime in tsmesh: the key never overrides, so percent_sampled (default 0%) decides, as Envoy with no runtime value.
      const f = r.percentSampled ? fractionalPercent(r.percentSampled, `${at}.percentSampled`) : { numerator: 0, denominator: 100 };
      const independent = r.useIndependentRandomness === true;
      return (info) => {
        const id = independent ? undefined : streamIdInteger(info);
        if (id === undefined) return fractionFires(f, random01());
        return id % f.denominator < f.numerator;
      };
    }
    case "andFilter":
    case "orFilter": {
      const list = (kind === "andFilter" ? cfg.andFilter!.filters : cfg.orFilter!.filters) ?? [];
      if (list.length < 2) throw new XdsConfigError(`${at}.filters`, "needs at least 2 filters");
      const fs = list.map((f, i) => compileAccessLogFilter(f, `${at}.filters[${i}]`, random01, depth + 1));
      return kind === "andFilter" ? (info) => fs.every((f) => f(info)) : (info) => fs.some((f) => f(info));
    }
    case "headerFilter": {
      const h = cfg.headerFilter!.header;
      if (h === undefined) throw new XdsConfigError(`${at}.header`, "header is required");
      const m = HeaderMatcher.compile(h, `${at}.header`);
      return (info) => {
        // A TCP stream has no request headers: the matcher sees an empty map, as in Envoy.
        if (info.kind !== "http") return m.matches({ header: () => undefined });
        return m.matches({ header: (n) => headerString(info.requestHeaders, n), method: info.method, authority: info.authority, path: info.path, scheme: info.scheme });
      };
    }
    case "responseFlagFilter": {
      const flags = cfg.responseFlagFilter!.flags ?? [];
      let mask = 0;
      flags.forEach((f, i) => {
        if (!VALID_FLAGS.has(f)) throw new XdsConfigError(`${at}.flags[${i}]`, `unknown response flag ${JSON.stringify(f)}`);
        if (Object.hasOwn(FLAG_BIT, f)) mask |= FLAG_BIT[f as ResponseFlag];
      });
      // No flags listed: any flag set matches.
      if (flags.length === 0) return (info) => info.flags !== 0;
      return (info) => (info.flags & mask) !== 0;
    }
    case "grpcStatusFilter": {
      const g = cfg.grpcStatusFilter!;
      const codes = new Set(
        (g.statuses ?? []).map((s, i) => {
          const c = GRPC_STATUS_CODES[s];
          if (c === undefined) throw new XdsConfigError(`${at}.statuses[${i}]`, `unknown gRPC status ${JSON.stringify(s)}`);
          return c;
        }),
      );
      const exclude = g.exclude === true;
      return (info) => codes.has(grpcStatusOf(info)) !== exclude;
    }
    case "metadataFilter": {
      const mf = cfg.metadataFilter!;
      // match_if_key_not_found: a BoolValue, true when absent (a BoolValue present without its value is false).
      const dflt = mf.matchIfKeyNotFound === undefined ? true : mf.matchIfKeyNotFound.value === true;
      const m = mf.matcher;
      if (m === undefined) return () => dflt;
      // Envoy's metadata filter ignores `invert`; refusing it says so instead of ignoring it too.
      if (m.invert === true) throw new XdsConfigError(`${at}.matcher.invert`, "invert is not applied by Envoy's access log metadata filter");
      const ns = m.filter ?? "";
      const keys = (m.path ?? []).map((s, i) => {
        if (!s.key) throw new XdsConfigError(`${at}.matcher.path[${i}].key`, "key must not be empty");
        return s.key;
      });
      if (m.value === undefined) throw new XdsConfigError(`${at}.matcher.value`, "value is required");
      const value = compileValueMatcher(m.value, `${at}.matcher.value`);
      return (info) => {
        const v = ns === "" ? undefined : info.dynamicMetadata?.lookup(ns, keys);
        return v === undefined ? dflt : value(v);
      };
    }
    case "logTypeFilter": {
      const lt = cfg.logTypeFilter!;
      const types = new Set(lt.types ?? []);
      const exclude = lt.exclude === true;
      return (info) => types.has(logType(info)) !== exclude;
    }
    case "extensionFilter": {
      const e = cfg.extensionFilter!;
      const ext = ACCESS_LOG_FILTER_EXTENSIONS.resolve(at, e.name ?? "", e.typedConfig, false, undefined)!;
      return ext(e.typedConfig as never, `${at}.typedConfig`);
    }
  }
}
