// Leveled, named loggers in Envoy's model: each component logs through a logger with a name
// (`config`, `upstream`, `conn_handler`…) and its own level (trace < debug < info < warning < error
// < critical < off); the admin's /logging lists and changes them at run time. A line is written as
// Envoy's default format writes it — `[2024-05-01 10:00:00.123][PID][level][name] message` — with
// the process id where Envoy has the thread id (tsmesh's workers are processes).
//
// A level below the logger's costs one comparison: the methods check before writing, and a call
// site whose message is costly to build checks `enabled(level)` (or compares `level`) first.

export const TRACE = 0;
export const DEBUG = 1;
export const INFO = 2;
export const WARNING = 3;
export const ERROR = 4;
export const CRITICAL = 5;
export const OFF = 6;
export type LogLevel = 0 | 1 | 2 | 3 | 4 | 5 | 6;

/** Envoy's level names (spdlog's, with "warning"), indexed by level. */
export const LEVEL_NAMES = ["trace", "debug", "info", "warning", "error", "critical", "off"] as const;
export type LogLevelName = (typeof LEVEL_NAMES)[number];

export function parseLogLevel(name: string): LogLevel | undefined {
  const i = (LEVEL_NAMES as readonly string[]).indexOf(name);
  return i < 0 ? undefined : (i as LogLevel);
}

/** Where formatted lines go (stderr by default). */
export type LogSink = (line: string) => void;

const stderrSink: LogSink = (line) => void process.stderr.write(line + "\n");

const pad2 = (n: number) => (n < 10 ? "0" : "") + n;
const pad3 = (n: number) => (n < 10 ? "00" : n < 100 ? "0" : "") + n;

/** Envoy's `%Y-%m-%d %T.%e` (local time). */
function timestamp(d: Date): string {
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${pad3(d.getMilliseconds())}`;
}

export class Logger {
  /** Lines below this level are dropped. */
  level: LogLevel;

  constructor(
    readonly name: string,
    level: LogLevel,
    private readonly registry: LogRegistry,
  ) {
    this.level = level;
  }

  enabled(level: LogLevel): boolean {
    return level >= this.level;
  }

  trace(msg: string): void {
    if (this.level <= TRACE) this.registry.write(TRACE, this.name, msg);
  }
  debug(msg: string): void {
    if (this.level <= DEBUG) this.registry.write(DEBUG, this.name, msg);
  }
  info(msg: string): void {
    if (this.level <= INFO) this.registry.write(INFO, this.name, msg);
  }
  warn(msg: string): void {
    if (this.level <= WARNING) this.registry.write(WARNING, this.name, msg);
  }
  error(msg: string): void {
    if (this.level <= ERROR) this.registry.write(ERROR, this.name, msg);
  }
  critical(msg: string): void {
    if (this.level <= CRITICAL) this.registry.write(CRITICAL, this.name, msg);
  }
}

/** Every logger of one process (or one proxy in a test), by name, sharing a sink. */
export class LogRegistry {
  private readonly loggers = new Map<string, Logger>();

  constructor(
    names: readonly string[],
    private readonly sink: LogSink = stderrSink,
    level: LogLevel = INFO,
  ) {
    for (const n of [...names].sort()) this.loggers.set(n, new Logger(n, level, this));
  }

  /** The logger `name` (one of the names the registry was made with). */
  get(name: string): Logger {
    const l = this.loggers.get(name);
    if (!l) throw new Error(`no logger named ${JSON.stringify(name)}`);
    return l;
  }

  /** Name → level name, sorted by name (what /logging lists, and what workers are sent). */
  levels(): Array<[string, LogLevelName]> {
    return [...this.loggers.values()].map((l) => [l.name, LEVEL_NAMES[l.level]]);
  }

  setAll(level: LogLevel): void {
    for (const l of this.loggers.values()) l.level = level;
  }

  /** Takes the levels another registry listed (a --concurrency worker following its primary); unknown names are ignored. */
  follow(levels: ReadonlyArray<readonly [string, string]>): void {
    for (const [name, levelName] of levels) {
      const l = this.loggers.get(name);
      const level = parseLogLevel(levelName);
      if (l && level !== undefined) l.level = level;
    }
  }

  /** The first of `names` that is not a logger here. */
  unknown(names: Iterable<string>): string | undefined {
    for (const n of names) if (!this.loggers.has(n)) return n;
    return undefined;
  }

  /** Sets each named logger's level; changes nothing and returns an error when a name is unknown. */
  set(changes: ReadonlyMap<string, LogLevel>): string | undefined {
    if (this.unknown(changes.keys()) !== undefined) return "unknown logger name";
    for (const [name, level] of changes) this.loggers.get(name)!.level = level;
    return undefined;
  }

  write(level: LogLevel, name: string, msg: string): void {
    this.sink(`[${timestamp(new Date())}][${process.pid}][${LEVEL_NAMES[level]}][${name}] ${msg}`);
  }
}

/**
 * Envoy's `name1:level1,name2:level2` (/logging?paths=, --component-log-level) as a map; an error
 * message for an empty name or level or an unknown level.
 */
export function parseComponentLevels(spec: string): Map<string, LogLevel> | string {
  const out = new Map<string, LogLevel>();
  for (const pair of spec.split(",")) {
    if (pair.trim() === "") continue;
    const i = pair.indexOf(":");
    const name = (i < 0 ? pair : pair.slice(0, i)).trim();
    const levelName = i < 0 ? "" : pair.slice(i + 1).trim();
    if (name === "" || levelName === "") return "empty logger name or empty logger level";
    const level = parseLogLevel(levelName);
    if (level === undefined) return "unknown logger level";
    out.set(name, level);
  }
  return out;
}

/**
 * Applies the admin's /logging query as Envoy does: no parameter lists only; `level=L` sets every
 * logger; `paths=a:L1,b:L2` or `NAME=L` set the named ones. Exactly one parameter; an unknown
 * logger or level changes nothing. `announce` is told each change before it is made (so a line
 * about lowering a logger's level is still written by it). Returns the error, if any, and the changes.
 */
export function applyLoggingQuery(
  registry: LogRegistry,
  query: URLSearchParams,
  announce: (name: string, level: LogLevelName) => void = () => {},
): { error?: string; changed: Array<[string, LogLevelName]> } {
  const params = [...query];
  if (params.length === 0) return { changed: [] };
  if (params.length !== 1) return { error: "invalid number of parameters", changed: [] };
  const [key, value] = params[0];
  if (key === "level") {
    const level = parseLogLevel(value);
    if (level === undefined) return { error: "unknown logger level", changed: [] };
    announce("*", LEVEL_NAMES[level]);
    registry.setAll(level);
    return { changed: [["*", LEVEL_NAMES[level]]] };
  }
  let changes: Map<string, LogLevel> | string;
  if (key === "paths") changes = parseComponentLevels(value);
  else {
    const level = parseLogLevel(value);
    changes = level === undefined ? "unknown logger level" : new Map([[key, level]]);
  }
  if (typeof changes === "string") return { error: changes, changed: [] };
  const unknown = registry.unknown(changes.keys());
  if (unknown) return { error: "unknown logger name", changed: [] };
  for (const [n, l] of changes) announce(n, LEVEL_NAMES[l]);
  registry.set(changes);
  return { changed: [...changes].map(([n, l]) => [n, LEVEL_NAMES[l]]) };
}
