// Envoy's access loggers: the `access_log` entries of an http_connection_manager, a tcp_proxy or a
// listener, found by type URL in a registry (file, stdout, stderr), each writing its substitution
// format and behind its AccessLogFilter. What tsmesh cannot do — other logger types (gRPC ALS,
// OpenTelemetry) — is refused with the field path, never logged some other way. Writers are
// shared per destination, so many listeners logging to one file batch their writes together.
import type { AccessLog as AccessLogConfig, envoy } from "../envoy/types.js";
import { fromStruct } from "../envoy/protos.js";
import { AccessLog } from "./access-log.js";
import { ExtensionRegistry } from "./extensions.js";
import type { Logger } from "../core/log.js";
import { type AccessLogFormatter, compileJsonFormat, compileSubstitutionFormat, compileTextFormat, defaultAccessLogFormatter } from "./observability/access-log-format.js";
import type { StreamInfo } from "./stream-info.js";
import { XdsConfigError } from "./xds-error.js";
import { type AccessLogFilter, compileAccessLogFilter } from "./observability/access-log-filter.js";

type FileAccessLog = envoy.extensions.access_loggers.file.v3.FileAccessLog;
type StdoutAccessLog = envoy.extensions.access_loggers.stream.v3.StdoutAccessLog;

/** One configured access log: a finished stream's record in, a line out. */
export interface AccessLogger {
  log(info: StreamInfo): void;
}

/** A format writing to a shared writer. */
export class FormattedAccessLog implements AccessLogger {
  constructor(
    readonly writer: AccessLog,
    readonly formatter: AccessLogFormatter,
  ) {}

  log(info: StreamInfo): void {
    this.writer.write(this.formatter.format(info));
  }
}

/** The proxy's writers by destination (a file path, "/dev/stdout", "/dev/stderr"). */
export class AccessLogWriters {
  private readonly writers = new Map<string, AccessLog>();

  constructor(private readonly warnings?: Logger) {}

  get(destination: string): AccessLog {
    let w = this.writers.get(destination);
    if (w === undefined) this.writers.set(destination, (w = new AccessLog(destination, undefined, this.warnings)));
    return w;
  }

  close(): void {
    for (const w of this.writers.values()) w.close();
    this.writers.clear();
  }
}

type LoggerExtension = (config: never, path: string, writers: AccessLogWriters) => AccessLogger;

/**
 * The logger's format: log_format, else FileAccessLog's deprecated format / json_format (values
 * rendered as strings, as Envoy's) / typed_json_format; Envoy's default format when none is set.
 */
function formatterOf(c: FileAccessLog | StdoutAccessLog, path: string): AccessLogFormatter {
  const f = c as FileAccessLog;
  const set = (["format", "jsonFormat", "typedJsonFormat", "logFormat"] as const).filter((k) => f[k] !== undefined);
  if (set.length > 1) throw new XdsConfigError(`${path}.${set[1]}`, `only one of format, json_format, typed_json_format and log_format may be set (${set.join(", ")} are)`);
  if (f.logFormat !== undefined) return compileSubstitutionFormat(f.logFormat, `${path}.logFormat`);
  if (f.format !== undefined && f.format !== "") return compileTextFormat(f.format, `${path}.format`);
  if (f.typedJsonFormat !== undefined) return compileJsonFormat(fromStruct(f.typedJsonFormat), `${path}.typedJsonFormat`);
  if (f.jsonFormat !== undefined) return compileJsonFormat(fromStruct(f.jsonFormat), `${path}.jsonFormat`, false, true);
  return defaultAccessLogFormatter();
}

/** The access loggers the proxy implements, by config type URL. */
export const ACCESS_LOGGERS = new ExtensionRegistry<LoggerExtension>("access logger")
  .register(["envoy.extensions.access_loggers.file.v3.FileAccessLog"], ((c: FileAccessLog, path: string, writers: AccessLogWriters) => {
    if (!c.path) throw new XdsConfigError(`${path}.path`, "a file access log needs a path");
    return new FormattedAccessLog(writers.get(c.path), formatterOf(c, path));
  }) as LoggerExtension)
  .register(["envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"], ((c: StdoutAccessLog, path: string, writers: AccessLogWriters) => {
    return new FormattedAccessLog(writers.get("/dev/stdout"), formatterOf(c, path));
  }) as LoggerExtension)
  .register(["envoy.extensions.access_loggers.stream.v3.StderrAccessLog"], ((c: StdoutAccessLog, path: string, writers: AccessLogWriters) => {
    return new FormattedAccessLog(writers.get("/dev/stderr"), formatterOf(c, path));
  }) as LoggerExtension);

/** Compiles `access_log` entries (`path` names the field); an empty list gives no loggers. */
export function compileAccessLogs(list: readonly AccessLogConfig[] | undefined, path: string, writers: AccessLogWriters): AccessLogger[] {
  return (list ?? []).map((a, i) => {
    const at = `${path}[${i}]`;
    const filter = a.filter === undefined ? undefined : compileAccessLogFilter(a.filter, `${at}.filter`);
    // (AccessLog has no is_optional: an unknown logger is always an error.)
    const ext = ACCESS_LOGGERS.resolve(at, a.name ?? "", a.typedConfig, false, undefined)!;
    const logger = ext(a.typedConfig as never, `${at}.typedConfig`, writers);
    return filter === undefined ? logger : new FilteredAccessLog(logger, filter);
  });
}

/** A logger behind its AccessLogFilter: a stream the filter refuses leaves no line. */
class FilteredAccessLog implements AccessLogger {
  constructor(
    private readonly inner: AccessLogger,
    private readonly filter: AccessLogFilter,
  ) {}
  log(info: StreamInfo): void {
    if (this.filter(info)) this.inner.log(info);
  }
}

/** Writes a finished stream to each logger. */
export function logTo(loggers: readonly AccessLogger[], info: StreamInfo): void {
  for (let i = 0; i < loggers.length; i++) loggers[i].log(info);
}

/**
 * The loggers a filter writes to: the ones its config names, else the proxy's default log (the
 * `--access-log` destination; Envoy itself logs nothing without configured access logs).
 */
export function configuredOrDefault(configured: AccessLogger[], fallback: AccessLogger | undefined): readonly AccessLogger[] {
  if (configured.length > 0) return configured;
  return fallback === undefined ? [] : [fallback];
}
