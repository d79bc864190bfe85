// A `tsmesh proxy --concurrency 2` for tests, keep-alive client connections to it and the worker
// process serving each (read from /proc): tests of proxy-wide limits put requests on chosen workers.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packageRoot } from "../../src/core/paths.js";
import { request } from "../proxy/helpers.js";
import { eventually } from "./eventually.js";
import { socketOwner } from "./sockets.js";

export interface Answer {
  status: number;
  body: string;
}

/** A keep-alive client connection to the proxy, and the worker process that serves it. */
export class Client {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(
    private readonly ip: string,
    private readonly port: number,
  ) {}
  localPort = 0;
  worker: number | undefined;
  private current: http.ClientRequest | undefined;

  get(path: string, timeoutMs = 15_000): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: this.ip, port: this.port, path, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      });
      this.current = req;
      req.on("socket", (s: Socket) => {
        const note = () => (this.localPort = (s.address() as AddressInfo).port);
        if (s.connecting) s.once("connect", note);
        else note();
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer for ${path}`)));
      req.on("error", reject);
      req.end();
    });
  }

  /** Abandons the request in flight (the client goes away). */
  abort(): void {
    this.current?.destroy();
  }

  close(): void {
    this.agent.destroy();
  }
}


/**
 * New client connections until `n` are served by each worker (node:cluster hands connections
 * round-robin); each first asks `probe` (a path the proxy answers `probeStatus` to). The clients are
 * also pushed to `all` (to close them after the test).
 */
export async function clientsOnEachWorker(workers: readonly number[], ip: string, port: number, n: number, all: Client[], probe = "/ping", probeStatus = 404): Promise<Client[][]> {
  const by = new Map<number, Client[]>(workers.map((w) => [w, []]));
  for (let i = 0; i < 8 * n && [...by.values()].some((l) => l.length < n); i++) {
    const c = new Client(ip, port);
    all.push(c);
    assert.equal((await c.get(probe)).status, probeStatus, "the probe's answer");
    c.worker = socketOwner(workers, { address: ip, port }, { address: "127.0.0.1", port: c.localPort }) ?? socketOwner(workers, { address: ip, port }, { address: ip, port: c.localPort });
    assert.ok(c.worker !== undefined, "a worker serves the connection");
    by.get(c.worker)!.push(c);
  }
  const lists = [...by.values()];
  assert.ok(lists.every((l) => l.length >= n), `connections on every worker: ${lists.map((l) => l.length).join(", ")}`);
  return lists.map((l) => l.slice(0, n));
}

/** A `tsmesh proxy router --concurrency 2` from a bootstrap, ready: its admin URL and workers' pids. */
export interface WorkerProxy {
  readonly admin: string;
  readonly workers: readonly number[];
  /** What the proxy wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM, then SIGKILL after 5 s; removes the bootstrap's folder. */
  stop(): Promise<void>;
}

/** Starts the proxy on `ip` from `bootstrap` (Envoy YAML) with two workers and waits until it is ready. */
export async function startWorkerProxy(bootstrap: string, ip: string): Promise<WorkerProxy> {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-proxy-workers-"));
  writeFileSync(join(dir, "envoy.yaml"), bootstrap);
  const bin = join(packageRoot(), "dist/src/cli/bin.js");
  const child = spawn(process.execPath, [bin, "proxy", "router", "--bootstrap", join(dir, "envoy.yaml"), "--ip", ip, "--admin-port", "0", "--access-log", "off", "--concurrency", "2"]);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const admin = await eventually("admin address", () => /admin (http:\/\/[\d.]+:\d+)/.exec(stdout)?.[1], 20_000);
    await eventually("ready", async () => (await request(`${admin}/ready`)).status === 200, 20_000);
    const workers = (JSON.parse((await request(`${admin}/server_info`)).body) as { workers: number[] }).workers;
    return { admin, workers, stderr: () => stderr, stop };
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}; stderr: ${stderr}`);
  }
}
