// Envoy's response flags (the bit set the request path keeps) and the access log writer: formatted
// lines (observability/access-log-format.ts) are buffered and flushed together (one write per 64 KiB
// or per second, as Envoy's file flush).
import { createWriteStream, type WriteStream } from "node:fs";
import type { Logger } from "../core/log.js";

/** Envoy's response flags, in the order Envoy prints them (comma separated). */
export const RESPONSE_FLAGS = {
  FAILED_LOCAL_HEALTH_CHECK: "LH",
  NO_HEALTHY_UPSTREAM: "UH",
  UPSTREAM_REQUEST_TIMEOUT: "UT",
  LOCAL_RESET: "LR",
  UPSTREAM_REMOTE_RESET: "UR",
  UPSTREAM_CONNECTION_FAILURE: "UF",
  UPSTREAM_CONNECTION_TERMINATION: "UC",
  UPSTREAM_OVERFLOW: "UO",
  NO_ROUTE_FOUND: "NR",
  DELAY_INJECTED: "DI",
  FAULT_INJECTED: "FI",
  RATE_LIMITED: "RL",
  UNAUTHORIZED_EXTERNAL_SERVICE: "UAEX",
  RATELIMIT_SERVICE_ERROR: "RLSE",
  DOWNSTREAM_CONNECTION_TERMINATION: "DC",
  UPSTREAM_RETRY_LIMIT_EXCEEDED: "URX",
  STREAM_IDLE_TIMEOUT: "SI",
  INVALID_ENVOY_REQUEST_HEADERS: "IH",
  DOWNSTREAM_PROTOCOL_ERROR: "DPE",
  UPSTREAM_MAX_STREAM_DURATION_REACHED: "UMSDR",
  UPSTREAM_PROTOCOL_ERROR: "UPE",
  NO_CLUSTER_FOUND: "NC",
  OVERLOAD_MANAGER: "OM",
} as const;

export type ResponseFlag = (typeof RESPONSE_FLAGS)[keyof typeof RESPONSE_FLAGS];
const FLAG_ORDER: readonly ResponseFlag[] = Object.values(RESPONSE_FLAGS);

/**
 * Response flags as a bit set (bit i = FLAG_ORDER[i], Envoy's print order): the request path
 * keeps flags in a number, so a request allocates nothing for them.
 */
export type ResponseFlags = number;
export const FLAG_BIT: Readonly<Record<ResponseFlag, number>> = Object.fromEntries(FLAG_ORDER.map((f, i) => [f, 1 << i])) as Record<ResponseFlag, number>;

/** The bit of one flag (0 for undefined). */
export function flagBit(f: ResponseFlag | undefined): number {
  return f === undefined ? 0 : FLAG_BIT[f];
}

export function formatFlags(flags: ResponseFlags | ReadonlySet<string>): string {
  if (typeof flags !== "number") {
    if (flags.size === 0) return "-";
    return [...flags].sort((a, b) => FLAG_ORDER.indexOf(a as ResponseFlag) - FLAG_ORDER.indexOf(b as ResponseFlag)).join(",");
  }
  if (flags === 0) return "-";
  let out = "";
  for (let i = 0; i < FLAG_ORDER.length; i++) if (flags & (1 << i)) out += out ? `,${FLAG_ORDER[i]}` : FLAG_ORDER[i];
  return out;
}

/** Envoy's access log file flushing: when this much is buffered, or after FLUSH_INTERVAL_MS. */
const FLUSH_BYTES = 64 * 1024;
/**
 * Envoy's default is 10 s (`--file-flush-interval-msec`); 1 s keeps `tail -f` lively. A write per
 * request instead costs a thread-pool round trip each (+50% CPU per request at 1,000 rps).
 */
const FLUSH_INTERVAL_MS = 1000;
/** Output that cannot keep up: past this much queued in the stream, lines are dropped (counted). */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

/**
 * Writes access log lines to stdout or a file in batches. Each line is copied into a 64 KiB
 * buffer as it is logged, so the strings it was built from die young instead of being held
 * (and promoted to the old generation) until the flush.
 */
export class AccessLog {
  private readonly out: NodeJS.WritableStream | WriteStream;
  private buf = Buffer.allocUnsafeSlow(FLUSH_BYTES);
  private used = 0;
  private timer: NodeJS.Timeout | undefined;
  private dropped = 0;
  /** Why the file cannot be written, once it failed. */
  private failed: string | undefined = undefined;

  constructor(
    path: string | undefined,
    private readonly flushIntervalMs = FLUSH_INTERVAL_MS,
    /** Where the proxy's own warnings go (lines dropped); stderr without one. */
    private readonly warnings?: Logger,
  ) {
    if (!path || path === "/dev/stdout" || path === "-") this.out = process.stdout;
    else if (path === "/dev/stderr") this.out = process.stderr;
    else {
      const file = createWriteStream(path, { flags: "a" });
      // A file that cannot be opened or written (no such folder, disk full) loses its lines, loudly,
      // and never takes the proxy down (an unhandled 'error' event would).
      file.on("error", (err) => {
        this.failed = err.message;
        this.warn(`access log ${path}: ${err.message}; its lines are dropped`);
      });
      this.out = file;
    }
  }

  private warn(msg: string): void {
    if (this.warnings) this.warnings.warn(msg);
    else process.stderr.write(`proxy: ${msg}\n`);
  }

  /** Queues one formatted line (with its newline). */
  write(line: string): void {
    if (this.failed !== undefined || (this.out as { writableLength?: number }).writableLength! > MAX_QUEUED_BYTES) {
      this.dropped++;
      return;
    }
    // A UTF-8 byte per char for ASCII lines; 3 is the worst case.
    if (this.used + line.length * 3 > FLUSH_BYTES) {
      this.flush();
      if (line.length * 3 > FLUSH_BYTES) {
        this.out.write(line);
        return;
      }
    }
    this.used += this.buf.write(line, this.used);
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), this.flushIntervalMs);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.used === 0) return;
    // The stream keeps the chunk until written: hand it over and start a new buffer.
    this.out.write(this.buf.subarray(0, this.used));
    this.buf = Buffer.allocUnsafeSlow(FLUSH_BYTES);
    this.used = 0;
    if (this.dropped > 0) {
      this.warn(`access log dropped ${this.dropped} lines (output too slow)`);
      this.dropped = 0;
    }
  }

  close(): void {
    this.flush();
    if (this.out !== process.stdout && this.out !== process.stderr) (this.out as WriteStream).end();
  }
}
