// bench:proxy's fixed-rate client (a child role: the entry file run with `--loadgen OPTIONS`). Open
// loop: a schedule of one request every 1/rate s, each sent on an idle connection of a fixed pool of
// HTTP/1.1 keep-alive sockets (raw net sockets and a minimal response parser, no http.Agent overhead
// in the figures), queued when all are busy. A request's latency runs from the moment the client's
// timer released it (time queued behind a slow server counts, as in wrk2; the client's own timer
// granularity does not) to the last byte of the response. Every sample is kept: percentiles are
// exact. Prints `measuring` when the unrecorded warm-up ends and `result {json}` at the end.
import { connect, type Socket } from "node:net";
import { now, sleep } from "./settings.js";

export interface LoadgenOptions {
  host: string;
  port: number;
  /** Absolute-form request target (explicit proxy); default `/`. */
  target?: string;
  /** Extra request headers (e.g. the policy configuration's Authorization). */
  headers?: Record<string, string>;
  rate: number;
  connections: number;
  warmupMs: number;
  durationMs: number;
}

export interface LoadgenResult {
  scheduled: number;
  completed: number;
  errors: number;
  non200: number;
  reconnects: number;
  unfinished: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  achievedRps: number;
  clientCpuMs: number;
  firstError?: string;
}

/**
 * BENCH_CLIENT_HEADERS: a JSON object of headers every fixed-rate request carries besides Host (a
 * real client's own, e.g. curl's User-Agent and Accept): the default request is as small as HTTP/1.1
 * allows, so whatever a configuration adds per header weighs more than with real clients.
 */
function clientHeaders(): Record<string, string> {
  const raw = process.env.BENCH_CLIENT_HEADERS;
  if (raw === undefined || raw === "") return {};
  const v: unknown = JSON.parse(raw);
  if (typeof v !== "object" || v === null || Array.isArray(v) || !Object.values(v).every((x) => typeof x === "string")) throw new Error("BENCH_CLIENT_HEADERS: a JSON object of header names to string values");
  return v as Record<string, string>;
}

export function runLoadgen(o: LoadgenOptions): void {
  const extra = Object.entries({ ...clientHeaders(), ...o.headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  const request = Buffer.from(o.target ? `GET ${o.target} HTTP/1.1\r\nHost: ${new URL(o.target).host}\r\n${extra}\r\n` : `GET / HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\n${extra}\r\n`);
  const period = 1000 / o.rate;
  const samples = new Float64Array(Math.ceil((o.rate * o.durationMs) / 1000) + 16);
  let nSamples = 0;
  let scheduledInWindow = 0;
  let completedInWindow = 0;
  let errors = 0;
  let non200 = 0;
  let reconnects = 0;
  let firstError: string | undefined;
  const queue: number[] = []; // release times of requests waiting for an idle connection
  let queueHead = 0;
  const idle: Conn[] = [];
  let t0 = 0;
  let windowStart = 0;
  let windowEnd = 0;
  let next = 0;
  let stopped = false;
  let outstanding = 0;

  const noteError = (e: string) => {
    errors++;
    firstError ??= e;
  };

  class Conn {
    sock!: Socket;
    buf: Buffer | undefined;
    start = -1;
    constructor() {
      this.open();
    }
    open(): void {
      const s = connect({ host: o.host, port: o.port, noDelay: true });
      this.sock = s;
      this.buf = undefined;
      s.on("connect", () => {
        idle.push(this);
        pump();
      });
      s.on("data", (d: Buffer) => this.onData(d));
      s.on("error", (e) => noteError(`socket: ${e.message}`));
      s.on("close", () => {
        const i = idle.indexOf(this);
        if (i >= 0) idle.splice(i, 1);
        if (this.start >= 0) {
          noteError("connection closed with a request in flight");
          this.finish(false, 0);
        }
        if (!stopped) {
          reconnects++;
          setTimeout(() => this.open(), 10);
        }
      });
    }
    send(start: number): void {
      this.start = start;
      outstanding++;
      this.sock.write(request);
    }
    onData(d: Buffer): void {
      if (this.start < 0) {
        noteError("unsolicited bytes from the server");
        this.sock.destroy();
        return;
      }
      const b = this.buf ? Buffer.concat([this.buf, d]) : d;
      const parsed = parseResponse(b);
      if (parsed === undefined) {
        this.buf = b;
        return;
      }
      if (parsed === "error") {
        noteError(`unparsable response: ${JSON.stringify(b.subarray(0, 80).toString("latin1"))}`);
        this.buf = undefined;
        this.sock.destroy();
        return;
      }
      this.buf = undefined;
      if (parsed.end !== b.length) noteError("extra bytes after a response");
      this.finish(true, parsed.status);
      if (parsed.close) this.sock.end();
      else {
        idle.push(this);
        pump();
      }
    }
    finish(ok: boolean, status: number): void {
      const start = this.start;
      this.start = -1;
      outstanding--;
      if (start < windowStart || start >= windowEnd) return;
      if (!ok) return;
      completedInWindow++;
      if (status !== 200) non200++;
      if (nSamples < samples.length) samples[nSamples++] = now() - start;
    }
  }

  function pump(): void {
    while (queueHead < queue.length && idle.length > 0) idle.pop()!.send(queue[queueHead++]);
    if (queueHead > 4096 && queueHead === queue.length) {
      queue.length = 0;
      queueHead = 0;
    }
  }

  function tick(): void {
    if (stopped) return;
    const t = now();
    while (t0 + next * period <= t) {
      const due = t0 + next * period;
      if (due >= windowEnd) {
        stopped = true;
        break;
      }
      if (t >= windowStart && t < windowEnd) scheduledInWindow++;
      queue.push(t); // released now: the client's timer lateness is not the server's latency
      next++;
    }
    pump();
    if (stopped) {
      void finishRun();
      return;
    }
    setTimeout(tick, Math.max(0, t0 + next * period - now()));
  }

  async function finishRun(): Promise<void> {
    const deadline = now() + 5000;
    while ((outstanding > 0 || queueHead < queue.length) && now() < deadline) await sleep(5);
    const unfinished = outstanding + (queue.length - queueHead);
    const cpu = process.cpuUsage();
    const sorted = samples.subarray(0, nSamples).sort();
    const pct = (p: number) => (nSamples === 0 ? NaN : sorted[Math.min(nSamples - 1, Math.floor((p / 100) * nSamples))]);
    let sum = 0;
    for (let i = 0; i < nSamples; i++) sum += sorted[i];
    const result: LoadgenResult = {
      scheduled: scheduledInWindow,
      completed: completedInWindow,
      errors,
      non200,
      reconnects,
      unfinished,
      p50: pct(50),
      p90: pct(90),
      p99: pct(99),
      p999: pct(99.9),
      max: nSamples ? sorted[nSamples - 1] : NaN,
      mean: nSamples ? sum / nSamples : NaN,
      achievedRps: completedInWindow / (o.durationMs / 1000),
      clientCpuMs: (cpu.user + cpu.system) / 1000,
      firstError,
    };
    process.stdout.write(`result ${JSON.stringify(result)}\n`);
    process.exit(0);
  }

  const conns: Conn[] = [];
  for (let i = 0; i < o.connections; i++) conns.push(new Conn());
  // Start once every connection is up (or after 2 s, counting the rest as errors).
  const startAt = now();
  const waitConnected = () => {
    if (idle.length < o.connections && now() - startAt < 2000) {
      setTimeout(waitConnected, 5);
      return;
    }
    if (idle.length < o.connections) noteError(`only ${idle.length}/${o.connections} connections came up`);
    t0 = now();
    windowStart = t0 + o.warmupMs;
    windowEnd = windowStart + o.durationMs;
    setTimeout(() => process.stdout.write("measuring\n"), o.warmupMs);
    tick();
  };
  waitConnected();
}

/** One HTTP/1.1 response at the start of `b`: undefined while incomplete. */
function parseResponse(b: Buffer): { status: number; end: number; close: boolean } | "error" | undefined {
  const headEnd = b.indexOf("\r\n\r\n");
  if (headEnd < 0) return b.length > 65536 ? "error" : undefined;
  const head = b.toString("latin1", 0, headEnd);
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (!m) return "error";
  const status = Number(m[1]);
  const lower = head.toLowerCase();
  const close = /\r\nconnection:[ \t]*close/.test(lower) || head.startsWith("HTTP/1.0");
  const cl = /\r\ncontent-length:[ \t]*(\d+)/.exec(lower);
  let at = headEnd + 4;
  if (/\r\ntransfer-encoding:[ \t]*[^\r]*chunked/.test(lower)) {
    while (true) {
      const lineEnd = b.indexOf("\r\n", at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(b.toString("latin1", at, lineEnd), 16);
      if (!Number.isFinite(size)) return "error";
      at = lineEnd + 2;
      if (size === 0) {
        // trailers (none expected) then the final CRLF
        const end = b.indexOf("\r\n\r\n", at - 2);
        if (end < 0) return undefined;
        return { status, end: end + 4, close };
      }
      if (b.length < at + size + 2) return undefined;
      at += size + 2;
    }
  }
  const len = cl ? Number(cl[1]) : status === 204 || status === 304 ? 0 : -1;
  if (len < 0) return "error"; // read-until-close bodies are not used here
  if (b.length < at + len) return undefined;
  return { status, end: at + len, close };
}
