// An http_connection_manager's config compiled when its listener arrives: routes (RDS name or
// inline), the HTTP filter chain through the filter registry (in config order, the terminal filter
// last; a filter the proxy lacks is an error unless it is optional), timeouts, codec and limits.
// Everything a request needs is resolved here, so a bad config is NACKed, never a 500 later.
import type * as http from "node:http";
import { durationMs } from "../../envoy/protos.js";
import type { HttpConnectionManager as HcmMessage, HttpFilter as HttpFilterMessage, RouteConfiguration } from "../../envoy/types.js";
import { type PathNormalization, pathNormalization } from "./path-normalization.js";
import { type XfccConfig, xfccConfig } from "./xfcc.js";
import { typeName, anyType, type SkipReporter } from "../extensions.js";
import type { StatsScope } from "../stats.js";
import { XdsConfigError } from "../xds-error.js";
import { DEFAULT_BUFFER_LIMIT } from "./downstream.js";
import { type FilterContext, type FilterRuntime, HTTP_FILTERS, type HttpFilterFactory } from "./filter.js";
import { DEFAULT_H1_SETTINGS, type H1CodecSettings } from "./h1-request.js";
import type { RouteTable } from "./route-table.js";
import "./filters/index.js";
import type { StreamSinks } from "../stream-sinks.js";
import { type AccessLogger, type AccessLogWriters, compileAccessLogs, configuredOrDefault } from "../access-loggers.js";
import { compileTracing, type HttpTracing, type TraceDrivers } from "../tracing/tracing-config.js";

export const HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

export interface HcmConfig {
  statPrefix: string;
  /** RDS name, or an inline RouteConfiguration (compiled). */
  rdsName?: string;
  inlineRoutes?: RouteTable;
  serverName: string;
  /** What local replies carry (the Server header); shared by every stream, never mutated. */
  localReplyHeaders: http.OutgoingHttpHeaders;
  useRemoteAddress: boolean;
  /** xff_num_trusted_hops: how many proxies before this one X-Forwarded-For is trusted for (the downstream remote address). */
  xffNumTrustedHops: number;
  generateRequestId: boolean;
  /** 0 disables (Istio); Envoy's default is 5 minutes. */
  streamIdleTimeoutMs: number;
  /** 0 disables (Envoy's default). */
  requestTimeoutMs: number;
  maxRequestHeadersBytes: number;
  /** The HTTP/1 codec's settings (http_protocol_options, max_headers_count, max_request_headers_kb). */
  http1: H1CodecSettings;
  /** The HTTP filter chain, in config order, the terminal filter last. */
  filters: readonly HttpFilterFactory[];
  /** upgrade_configs: upgrade type (lowercase) → enabled. */
  upgradeConfigs: Readonly<Record<string, boolean>>;
  /** codec_type: AUTO sniffs the HTTP/2 preface. */
  codecType: "AUTO" | "HTTP1" | "HTTP2";
  /** http2_protocol_options.max_concurrent_streams (Envoy's default 2^31-1). */
  h2MaxConcurrentStreams: number;
  /**
   * common_http_protocol_options.max_stream_duration: every stream's bound from its start
   * (a route's max_stream_duration overrides it); 0 = none (Envoy's default).
   */
  maxStreamDurationMs: number;
  /**
   * The listener's per_connection_buffer_limit_bytes (Envoy's default 1 MiB): request body bytes
   * held while nothing takes them, and the cap of the retry/shadow buffer.
   */
  bufferLimitBytes: number;
  /** `http.<stat_prefix>.` */
  stats: StatsScope;
  /** access_log: where each request's line goes (the proxy's default log when the config names none). */
  accessLoggers: readonly AccessLogger[];
  /** Proxy-wide observers of finished streams (tap), checked per stream. */
  streamSinks: StreamSinks | undefined;
  /** normalize_path, merge_slashes, path_with_escaped_slashes_action (undefined: paths as they come). */
  paths: PathNormalization | undefined;
  /** forward_client_cert_details / set_current_client_cert_details. */
  xfcc: XfccConfig;
  /** tracing: the tracer, sampling and tags (undefined: requests are not traced). */
  tracing: HttpTracing | undefined;
}

/** What compiling an HCM needs from the proxy. */
export interface HcmCompileContext {
  compileRoutes(rc: RouteConfiguration): RouteTable;
  /** The listener's per_connection_buffer_limit_bytes. */
  bufferLimitBytes?: number;
  /** `http.<stat_prefix>.` for a stat prefix ("" → the listener's name). */
  statsFor(statPrefix: string): StatsScope;
  runtime: FilterRuntime;
  skips?: SkipReporter;
  accessLogWriters: AccessLogWriters;
  /** The proxy's default access log (--access-log). */
  defaultAccessLog: AccessLogger | undefined;
  /** The proxy's tracers (absent: a config with tracing is refused). */
  tracers?: TraceDrivers;
  /** The listener's traffic_direction is OUTBOUND (Envoy's egress operation). */
  egress?: boolean;
}

/** Validates a decoded HttpConnectionManager (`path` names the listener and chain). */
export function hcmConfig(c: HcmMessage, path: string, ctx: HcmCompileContext): HcmConfig {
  if (!c.rds?.routeConfigName && !c.routeConfig) throw new XdsConfigError(`${path}.rds`, "an http_connection_manager needs rds or route_config");
  if (c.scopedRoutes) throw new XdsConfigError(`${path}.scopedRoutes`, "scoped routes are not implemented by tsmesh");
  // Fields whose absence would change what a request means are refused until implemented.
  if (c.localReplyConfig) throw new XdsConfigError(`${path}.localReplyConfig`, "custom local replies are not implemented by tsmesh");
  if (c.internalAddressConfig?.cidrRanges?.length) throw new XdsConfigError(`${path}.internalAddressConfig`, "not implemented by tsmesh");
  // Periodic and on-new-request access logging (HcmAccessLogOptions): tsmesh logs once, at the stream's end.
  if (c.flushAccessLogOnNewRequest === true) throw new XdsConfigError(`${path}.flushAccessLogOnNewRequest`, "not implemented by tsmesh (access logs are written when a stream ends)");
  for (const f of ["accessLogFlushInterval", "flushAccessLogOnNewRequest", "flushLogOnTunnelSuccessfullyEstablished"] as const) {
    const v = c.accessLogOptions?.[f];
    if (v !== undefined && v !== false) throw new XdsConfigError(`${path}.accessLogOptions.${f}`, "not implemented by tsmesh (access logs are written when a stream ends)");
  }
  if (c.originalIpDetectionExtensions?.length) throw new XdsConfigError(`${path}.originalIpDetectionExtensions`, "original IP detection extensions are not implemented by tsmesh");
  const upgradeConfigs: Record<string, boolean> = {};
  (c.upgradeConfigs ?? []).forEach((u, i) => {
    const type = (u.upgradeType ?? "").toLowerCase();
    if (!type) throw new XdsConfigError(`${path}.upgradeConfigs[${i}].upgradeType`, "upgrade_type must not be empty");
    if (type in upgradeConfigs) throw new XdsConfigError(`${path}.upgradeConfigs[${i}]`, `Duplicate upgrade ${type}`);
    if ((u.filters?.length ?? 0) > 0) throw new XdsConfigError(`${path}.upgradeConfigs[${i}].filters`, "per-upgrade filter chains are not implemented by tsmesh");
    upgradeConfigs[type] = u.enabled?.value !== false;
  });
  const codec = c.codecType ?? "AUTO";
  if (codec !== "AUTO" && codec !== "HTTP1" && codec !== "HTTP2") throw new XdsConfigError(`${path}.codecType`, `unsupported codec ${String(codec)}`);
  const common = c.commonHttpProtocolOptions;
  const msd = common?.maxStreamDuration;
  const maxStreamDurationMs = msd === undefined ? 0 : durationMs(msd);
  if (maxStreamDurationMs === undefined || !Number.isFinite(maxStreamDurationMs) || maxStreamDurationMs < 0) {
    throw new XdsConfigError(`${path}.commonHttpProtocolOptions.maxStreamDuration`, "expected a non-negative duration");
  }
  if (upgradeConfigs.connect === true) throw new XdsConfigError(`${path}.upgradeConfigs`, "CONNECT tunnelling is not implemented");
  const h1o = c.httpProtocolOptions;
  const maxHeadersCount = common?.maxHeadersCount?.value ?? DEFAULT_H1_SETTINGS.maxRequestHeadersCount;
  if (!Number.isInteger(maxHeadersCount) || maxHeadersCount < 1) throw new XdsConfigError(`${path}.commonHttpProtocolOptions.maxHeadersCount`, "expected at least 1");
  const maxRequestHeadersBytes = (c.maxRequestHeadersKb?.value ?? 60) * 1024;
  // Envoy's default connection idle timeout for the HCM is 1 h; 0 disables it.
  const idle = durationMs(common?.idleTimeout);
  const http1: H1CodecSettings = {
    maxRequestHeadersBytes,
    maxRequestHeadersCount: maxHeadersCount,
    // (protobufjs keeps the underscore before a digit: accept_http_10 → acceptHttp_10.)
    acceptHttp10: h1o?.acceptHttp_10 === true,
    defaultHostForHttp10: h1o?.defaultHostForHttp_10 ?? "",
    allowChunkedLength: h1o?.allowChunkedLength === true,
    idleTimeoutMs: idle ?? 3_600_000,
  };
  const statPrefix = c.statPrefix ?? "";
  const serverName = c.serverName || "envoy";
  const localReplyHeaders: http.OutgoingHttpHeaders = Object.freeze({ server: serverName });
  const bufferLimitBytes = ctx.bufferLimitBytes ?? DEFAULT_BUFFER_LIMIT;
  const stats = ctx.statsFor(statPrefix);
  const cfg: HcmConfig = {
    statPrefix,
    serverName,
    localReplyHeaders,
    useRemoteAddress: c.useRemoteAddress?.value === true,
    xffNumTrustedHops: c.xffNumTrustedHops ?? 0,
    generateRequestId: c.generateRequestId?.value !== false,
    streamIdleTimeoutMs: durationMs(c.streamIdleTimeout) ?? 300_000,
    requestTimeoutMs: durationMs(c.requestTimeout) ?? 0,
    maxRequestHeadersBytes,
    http1,
    filters: httpFilterChain(c, path, { serverName, localReplyHeaders, bufferLimitBytes }, stats, ctx),
    upgradeConfigs,
    codecType: codec,
    h2MaxConcurrentStreams: c.http2ProtocolOptions?.maxConcurrentStreams?.value ?? 2147483647,
    maxStreamDurationMs: Math.ceil(maxStreamDurationMs),
    bufferLimitBytes,
    stats,
    accessLoggers: configuredOrDefault(compileAccessLogs(c.accessLog, `${path}.accessLog`, ctx.accessLogWriters), ctx.defaultAccessLog),
    streamSinks: ctx.runtime.streamSinks,
    paths: pathNormalization(c, path),
    xfcc: xfccConfig(c, path),
    tracing: compileTracing(c.tracing, `${path}.tracing`, ctx.egress === true, ctx.tracers),
  };
  if (c.rds?.routeConfigName) cfg.rdsName = c.rds.routeConfigName;
  if (c.routeConfig) cfg.inlineRoutes = ctx.compileRoutes(c.routeConfig);
  return cfg;
}

/**
 * http_filters through the registry, in order. As Envoy: the terminal filter (the router) must be
 * last and the last must be terminal; an empty list means the router alone.
 */
function httpFilterChain(c: HcmMessage, path: string, hcm: FilterContext["hcm"], stats: StatsScope, ctx: HcmCompileContext): HttpFilterFactory[] {
  const list = c.httpFilters ?? [];
  const entries: HttpFilterMessage[] = list.length > 0 ? list : [{ name: "envoy.filters.http.router", typedConfig: { "@type": ROUTER_TYPE } as HttpFilterMessage["typedConfig"] }];
  const out: HttpFilterFactory[] = [];
  entries.forEach((f, i) => {
    const at = `${path}.httpFilters[${i}]`;
    const name = f.name ?? "";
    if (!name) throw new XdsConfigError(`${at}.name`, "an http filter needs a name");
    const optional = f.isOptional === true;
    if (f.configDiscovery !== undefined && f.typedConfig === undefined) {
      if (optional) return ctx.skips?.skipped(at, name, "config_discovery");
      throw new XdsConfigError(`${at}.configDiscovery`, `filter '${name}': extension config discovery (ECDS) is not implemented by tsmesh`);
    }
    const ext = HTTP_FILTERS.resolve(at, name, f.typedConfig, optional, ctx.skips);
    if (ext === undefined) return;
    const type = anyType(f.typedConfig);
    const last = i === entries.length - 1;
    if (ext.terminal && !last) throw new XdsConfigError(at, `Error: terminal filter named ${name} of type ${typeName(type)} must be the last filter in a http filter chain.`);
    if (!ext.terminal && last) throw new XdsConfigError(at, `Error: non-terminal filter named ${name} of type ${typeName(type)} is the last filter in a http filter chain.`);
    // The registry resolved the filter by this Any's type: it is there, decoded.
    const made = ext.create(f.typedConfig!, { name, stats, path: `${at}.typedConfig`, hcm, runtime: ctx.runtime });
    out.push({ name, terminal: ext.terminal, disabledByDefault: f.disabled === true, create: made.create });
  });
  if (out.length === 0 || !out[out.length - 1].terminal) throw new XdsConfigError(`${path}.httpFilters`, "the chain has no terminal filter (the router)");
  return out;
}
