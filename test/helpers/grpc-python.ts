// A second, independent proxyless gRPC implementation for the e2e tests: gRPC C-core through
// Debian's python3-grpcio, run by /usr/bin/python3 (the pyenv python3 first on PATH has no grpc).
// test/fixtures/grpc-python/xds_client.py does the calls; this drives it over JSON lines and offers
// the same echo/tally calls as the @grpc/grpc-js-xds EchoClient.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { packageRoot } from "../../src/core/paths.js";
import type { EchoReply, ProxylessEchoClient } from "./grpc-echo.js";

/** Debian's interpreter: python3-grpcio installs the `grpc` module for it only. */
export const DEBIAN_PYTHON = "/usr/bin/python3";
const SCRIPT = join(packageRoot(), "test", "fixtures", "grpc-python", "xds_client.py");

const STDERR_LINES = Number(process.env.TSMESH_PYTHON_STDERR_LINES) || 200;

let version: string | null | undefined;

/** The python3-grpcio version (gRPC C-core's), or undefined when it is not installed. */
export function pythonGrpcVersion(): string | undefined {
  if (version === undefined) {
    const r = spawnSync(DEBIAN_PYTHON, ["-c", "import grpc; print(grpc.__version__)"], { encoding: "utf8", timeout: 30_000 });
    version = r.status === 0 ? r.stdout.trim() : null;
  }
  return version ?? undefined;
}

// ring_hash to a closed port, no xDS: a working build answers UNAVAILABLE; Debian 12's 1.51.1 dies
// with SIGSEGV in its ring_hash policy (a client defect, not one of tsmesh's config).
const RING_HASH_PROBE = `
import json, grpc
cfg = json.dumps({"loadBalancingConfig": [{"ring_hash_experimental": {}}]})
ch = grpc.insecure_channel("ipv4:127.0.0.1:9", options=[("grpc.service_config", cfg)])
try:
    ch.unary_unary("/probe.Probe/Probe")(b"", timeout=2)
except grpc.RpcError as e:
    print(e.code().name)
`;

let ringHash: string | undefined;

/**
 * Why this python3-grpcio cannot run ring hash at all (undefined when it can): its ring_hash LB policy
 * is tried on a plain service config, without xDS or tsmesh.
 */
export function pythonRingHashDefect(): string | undefined {
  if (ringHash === undefined) {
    const r = spawnSync(DEBIAN_PYTHON, ["-c", RING_HASH_PROBE], { encoding: "utf8", timeout: 30_000 });
    ringHash = r.status === 0 && r.stdout.trim() === "UNAVAILABLE" ? "" : `python3-grpcio ${pythonGrpcVersion() ?? "?"} fails in its own ring_hash policy, without xDS (${r.signal ?? `exit ${r.status}`})`;
  }
  return ringHash || undefined;
}

/** One call's outcome as the script reports it: the answering backend, or a gRPC status. */
export interface CallResult {
  server?: string;
  code?: number;
  details?: string;
}

interface Answer {
  id?: number;
  results?: CallResult[];
  ready?: boolean;
  grpc?: string;
}

/** An error shaped like grpc-js's ServiceError (code + details), so tests treat both clients alike. */
export class PythonCallError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${code} ${details}`);
  }
}

export class PythonEchoClient implements ProxylessEchoClient {
  readonly impl = "grpc-python (C-core)";
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly dir = mkdtempSync(join(tmpdir(), "tsmesh-grpc-python-"));
  private readonly waiting = new Map<number, (a: Answer) => void>();
  private nextId = 1;
  private exited: string | undefined;
  readonly stderr: string[] = [];

  /** target: `xds:///HOST:PORT`; bootstrap: the JSON Istio's agent would write (GRPC_XDS_BOOTSTRAP). */
  constructor(target: string, bootstrap: string, env: Record<string, string> = {}) {
    const file = join(this.dir, "bootstrap.json");
    writeFileSync(file, bootstrap);
    this.proc = spawn(DEBIAN_PYTHON, [SCRIPT, target], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PYTHONDONTWRITEBYTECODE: "1", GRPC_XDS_BOOTSTRAP: file, ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    createInterface({ input: this.proc.stdout }).on("line", (line) => {
      const a = JSON.parse(line) as Answer;
      if (a.id === undefined) return;
      this.waiting.get(a.id)?.(a);
      this.waiting.delete(a.id);
    });
    createInterface({ input: this.proc.stderr }).on("line", (line) => {
      // The last lines: where a crash or a NACK shows.
      this.stderr.push(line);
      if (this.stderr.length > STDERR_LINES) this.stderr.shift();
    });
    this.proc.on("exit", (code, signal) => {
      this.exited = `python client exited (${code ?? signal}): ${this.stderr.slice(-5).join(" | ")}`;
      for (const resolve of this.waiting.values()) resolve({});
      this.waiting.clear();
    });
  }

  private send(cmd: Record<string, unknown>): Promise<Answer> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (a) => (a.id === id ? resolve(a) : reject(new Error(this.exited ?? "no answer"))));
      this.proc.stdin.write(JSON.stringify({ id, ...cmd }) + "\n");
    });
  }

  /** Runs `n` calls one after another on channel `channel` (each index its own channel, its own channel id). */
  async calls(n: number, metadata: Record<string, string> = {}, opts: { channel?: number; deadlineMs?: number } = {}): Promise<CallResult[]> {
    const a = await this.send({ n, metadata, channel: opts.channel ?? 0, deadline_ms: opts.deadlineMs ?? 3000 });
    return a.results ?? [];
  }

  async echo(metadata: Record<string, string> = {}, deadlineMs = 3000): Promise<EchoReply> {
    const [r] = await this.calls(1, metadata, { deadlineMs });
    if (r.server === undefined) throw new PythonCallError(r.code ?? 2, r.details ?? "");
    return { server: r.server, metadata: {} };
  }

  async tally(n: number, metadata: Record<string, string> = {}, channel = 0): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const r of await this.calls(n, metadata, { channel })) {
      const k = r.server ?? `error:${r.code}`;
      counts[k] = (counts[k] ?? 0) + 1;
    }
    return counts;
  }

  close(): void {
    this.proc.stdin.end();
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 2000);
    this.proc.once("exit", () => {
      clearTimeout(t);
      rmSync(this.dir, { recursive: true, force: true });
    });
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
      clearTimeout(t);
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
