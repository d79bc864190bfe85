// Access logs as Istio's accesslog.go and telemetry_logging.go build them: mesh `accessLogFile`
// (TEXT with Istio's format or accessLogFormat, JSON with Istio's fields or accessLogFormat's) when
// no Telemetry configures logging, else one FileAccessLog per envoyFileAccessLog provider the merged
// Telemetry keeps for the listener's mode, with the Telemetry's CEL filter as an extension filter.
// The same AccessLog list goes into the HCM and into tcp_proxy.
import { anyOf, struct, type JsonValue } from "../../../envoy/protos.js";
import type { AccessLog, envoy } from "../../../envoy/types.js";
import type { FileAccessLogProvider } from "../../../model/extension-providers.js";
import type { LoggingSpec, TelemetryMesh } from "../../../model/telemetry.js";
import { TELEMETRY_FEATURES } from "./features.js";
import { envoyExtensionAny } from "./istio-any.js";

export const FILE_ACCESS_LOG = "envoy.access_loggers.file";
export const CEL_FILTER = "envoy.access_loggers.extension_filters.cel";

/** Istio's EnvoyTextLogFormat (1.9 onwards). */
export const ISTIO_TEXT_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% ' +
  '%DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" ' +
  '"%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% ' +
  "%DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";

/** Istio's EnvoyJSONLogFormatIstio (its fields in Istio's order). */
export const ISTIO_JSON_LOG_FORMAT: Readonly<Record<string, string>> = {
  start_time: "%START_TIME%",
  route_name: "%ROUTE_NAME%",
  method: "%REQ(:METHOD)%",
  path: "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
  protocol: "%PROTOCOL%",
  response_code: "%RESPONSE_CODE%",
  response_flags: "%RESPONSE_FLAGS%",
  response_code_details: "%RESPONSE_CODE_DETAILS%",
  connection_termination_details: "%CONNECTION_TERMINATION_DETAILS%",
  bytes_received: "%BYTES_RECEIVED%",
  bytes_sent: "%BYTES_SENT%",
  duration: "%DURATION%",
  upstream_service_time: "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
  x_forwarded_for: "%REQ(X-FORWARDED-FOR)%",
  user_agent: "%REQ(USER-AGENT)%",
  request_id: "%REQ(X-REQUEST-ID)%",
  authority: "%REQ(:AUTHORITY)%",
  upstream_host: "%UPSTREAM_HOST%",
  upstream_cluster: "%UPSTREAM_CLUSTER_RAW%",
  upstream_local_address: "%UPSTREAM_LOCAL_ADDRESS%",
  downstream_local_address: "%DOWNSTREAM_LOCAL_ADDRESS%",
  downstream_remote_address: "%DOWNSTREAM_REMOTE_ADDRESS%",
  requested_server_name: "%REQUESTED_SERVER_NAME%",
  upstream_transport_failure_reason: "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
};

type SubstitutionFormatString = envoy.config.core.v3.SubstitutionFormatString;
type FileAccessLog = envoy.extensions.access_loggers.file.v3.FileAccessLog;

/** Istio's formatters for command operators Envoy keeps in extensions (accessLogTextFormatters). */
function formatters(strings: readonly string[]): envoy.config.core.v3.TypedExtensionConfig[] {
  const out: envoy.config.core.v3.TypedExtensionConfig[] = [];
  const uses = (op: string): boolean => strings.some((s) => s.includes(op));
  if (uses("%REQ_WITHOUT_QUERY")) out.push({ name: "envoy.formatter.req_without_query", typedConfig: envoyExtensionAny("envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery", {}) });
  if (uses("%CEL")) out.push({ name: "envoy.formatter.cel", typedConfig: envoyExtensionAny("envoy.extensions.formatter.cel.v3.Cel", {}) });
  return out;
}

/** Istio's fileAccessLogFormat: a newline appended when missing; Istio's format when empty. */
function textFormat(text: string): string {
  if (text === "") return ISTIO_TEXT_LOG_FORMAT;
  return text.endsWith("\n") ? text : `${text}\n`;
}

function textLogFormat(text: string, omitEmptyValues: boolean): SubstitutionFormatString {
  const f: SubstitutionFormatString = { textFormatSource: { inlineString: textFormat(text) } };
  if (omitEmptyValues) f.omitEmptyValues = true;
  const fm = formatters([textFormat(text)]);
  if (fm.length > 0) f.formatters = fm;
  return f;
}

function jsonLogFormat(labels: Readonly<Record<string, unknown>>, omitEmptyValues: boolean): SubstitutionFormatString {
  const fields = Object.keys(labels).length > 0 ? labels : ISTIO_JSON_LOG_FORMAT;
  const f: SubstitutionFormatString = { jsonFormat: struct(fields as { [k: string]: JsonValue }), jsonFormatOptions: {} };
  if (omitEmptyValues) f.omitEmptyValues = true;
  const fm = formatters(Object.values(fields).filter((v): v is string => typeof v === "string"));
  if (fm.length > 0) f.formatters = fm;
  return f;
}

function fileAccessLog(path: string, format: SubstitutionFormatString | undefined): AccessLog {
  const fl: FileAccessLog = { path };
  if (format && TELEMETRY_FEATURES.accessLogFormats) fl.logFormat = format;
  return { name: FILE_ACCESS_LOG, typedConfig: anyOf("envoy.extensions.access_loggers.file.v3.FileAccessLog", fl) };
}

/** Istio's FileAccessLogFromMeshConfig. */
export function meshAccessLog(t: TelemetryMesh): AccessLog | undefined {
  if (t.accessLogFile === "") return undefined;
  const format = t.accessLogEncoding === "JSON" ? jsonLogFormat(t.accessLogFormat === "" ? {} : (JSON.parse(t.accessLogFormat) as Record<string, unknown>), false) : textLogFormat(t.accessLogFormat, false);
  return fileAccessLog(t.accessLogFile, format);
}

/** Istio's fileAccessLogFromTelemetry. */
export function providerAccessLog(p: FileAccessLogProvider): AccessLog {
  return fileAccessLog(p.path, p.labels !== undefined ? jsonLogFormat(p.labels, p.omitEmptyValues) : textLogFormat(p.text ?? "", p.omitEmptyValues));
}

/** A Telemetry `filter.expression` as Envoy's CEL access-log extension filter. */
export function withCelFilter(al: AccessLog, spec: LoggingSpec): AccessLog {
  if (spec.filter === undefined || !TELEMETRY_FEATURES.accessLogFilters) return al;
  return {
    ...al,
    filter: {
      extensionFilter: {
        name: CEL_FILTER,
        typedConfig: envoyExtensionAny("envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter", { expression: spec.filter }),
      },
    },
  };
}
