// Envoy's access loggers: the `access_log` entries of an http_connection_manager, a tcp_proxy or a
// listener, found by type URL in a registry (file, stdout, stderr), each writing Envoy's default
// format. What tsmesh cannot do yet — custom formats, access-log filters, other logger types (gRPC
// ALS, OpenTelemetry) — is refused with the field path, never logged some other way. Writers are
// shared per destination, so many listeners logging to one file batch their writes together.
import type { AccessLog as AccessLogConfig, envoy } from "../envoy/types.js";
import { AccessLog, type AccessLogEntry } from "./access-log.js";
import { ExtensionRegistry } from "./extensions.js";
import type { Logger } from "../core/log.js";
import { XdsConfigError } from "./xds-error.js";
import { compileAccessLogFilter } from "./observability/access-log-filter.js";

type FileAccessLog = envoy.extensions.access_loggers.file.v3.FileAccessLog;
type StdoutAccessLog = envoy.extensions.access_loggers.stream.v3.StdoutAccessLog;

/** One configured access log: where entries go. */
export interface AccessLogger {
  log(e: AccessLogEntry): void;
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

/** Refuses the format fields: tsmesh writes Envoy's default format only (custom formats come with telemetry). */
function defaultFormatOnly(c: FileAccessLog | StdoutAccessLog, path: string): void {
  for (const f of ["format", "jsonFormat", "typedJsonFormat", "logFormat"] as const) {
    if ((c as FileAccessLog)[f] !== undefined) throw new XdsConfigError(`${path}.${f}`, "custom access log formats are not implemented by tsmesh yet (Envoy's default format only)");
  }
}

/** The access loggers the proxy implements, by config type URL. */
export const ACCESS_LOGGERS = new ExtensionRegistry<LoggerExtension>("access logger")
  .register(["envoy.extensions.access_loggers.file.v3.FileAccessLog"], ((c: FileAccessLog, path: string, writers: AccessLogWriters) => {
    if (!c.path) throw new XdsConfigError(`${path}.path`, "a file access log needs a path");
    defaultFormatOnly(c, path);
    return writers.get(c.path);
  }) as LoggerExtension)
  .register(["envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"], ((c: StdoutAccessLog, path: string, writers: AccessLogWriters) => {
    defaultFormatOnly(c, path);
    return writers.get("/dev/stdout");
  }) as LoggerExtension)
  .register(["envoy.extensions.access_loggers.stream.v3.StderrAccessLog"], ((c: StdoutAccessLog, path: string, writers: AccessLogWriters) => {
    defaultFormatOnly(c, path);
    return writers.get("/dev/stderr");
  }) as LoggerExtension);

/** Compiles `access_log` entries (`path` names the field); an empty list gives no loggers. */
export function compileAccessLogs(list: readonly AccessLogConfig[] | undefined, path: string, writers: AccessLogWriters): AccessLogger[] {
  return (list ?? []).map((a, i) => {
    const at = `${path}[${i}]`;
    // Filters compile (every kind checked, errors at their own field) but decide on a StreamInfo, which loggers do not receive yet.
    if (a.filter !== undefined && compileAccessLogFilter(a.filter, `${at}.filter`)) throw new XdsConfigError(`${at}.filter`, "access log filters are not applied until loggers receive the stream's StreamInfo");
    // (AccessLog has no is_optional: an unknown logger is always an error.)
    const ext = ACCESS_LOGGERS.resolve(at, a.name ?? "", a.typedConfig, false, undefined)!;
    return ext(a.typedConfig as never, `${at}.typedConfig`, writers);
  });
}

/** Writes an entry to each logger. */
export function logTo(loggers: readonly AccessLogger[], e: AccessLogEntry): void {
  for (let i = 0; i < loggers.length; i++) loggers[i].log(e);
}

/**
 * The loggers a filter writes to: the ones its config names, else the proxy's default log (the
 * `--access-log` destination; Envoy itself logs nothing without configured access logs).
 */
export function configuredOrDefault(configured: AccessLogger[], fallback: AccessLogger | undefined): readonly AccessLogger[] {
  if (configured.length > 0) return configured;
  return fallback === undefined ? [] : [fallback];
}
