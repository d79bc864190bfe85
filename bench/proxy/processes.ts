// bench:proxy's child processes: every program it starts (backend, load generators, wrk, nginx,
// proxies) runs in its own process group and is tracked, so a stop, a crash of the bench, its
// watchdog or a signal leaves nothing behind; and the small waits around them (a URL serving, an
// address free, a program on PATH).
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, statSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { collectLines } from "../common/lines.js";
import { BODY_BYTES, now, sleep } from "./settings.js";

const children = new Set<ChildProcess>();

/** Children run in their own process group (nginx has workers): signals go to the whole group. */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

export function spawnChild(cmd: string, args: string[], logs?: string[], cwd?: string, env?: Record<string, string>): ChildProcess {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], detached: true, cwd, env: env ? { ...process.env, ...env } : undefined });
  children.add(child);
  child.once("exit", () => children.delete(child));
  if (logs) {
    collectLines(child.stderr, logs);
  } else child.stderr?.resume();
  return child;
}

/**
 * A proxy's stdout (what node's --trace-gc and similar flags print) goes to `file` in its run's
 * folder — kept with BENCH_KEEP_LOGS — never left unread in a pipe.
 */
export function stdoutToFile(child: ChildProcess, file: string): void {
  child.stdout?.pipe(createWriteStream(file));
}

/** Children this bench is stopping on purpose (an exit of any other is a crash). */
const stopping = new WeakSet<ChildProcess>();

/** Whether the bench stopped `child` on purpose (an exit otherwise is a crash). */
export const isStopping = (child: ChildProcess) => stopping.has(child);

export async function stopChild(child: ChildProcess): Promise<void> {
  stopping.add(child);
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return;
  }
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  killGroup(child, "SIGTERM");
  const kill = setTimeout(() => killGroup(child, "SIGKILL"), 3000);
  await Promise.race([exited, sleep(5000)]);
  clearTimeout(kill);
  killGroup(child, "SIGKILL"); // leftovers in the group (nginx workers)
  children.delete(child);
}

export function killAll(): void {
  for (const c of children) stopping.add(c);
  for (const c of children) killGroup(c, "SIGKILL");
}

/** GET url until it answers 200 with the backend's 1 KB body (`via`: an explicit proxy to send it to). */
export async function waitServing(url: string, timeoutMs: number, what: string, via?: { host: string; port: number }, headers?: Record<string, string>): Promise<void> {
  const deadline = now() + timeoutMs;
  let last = "";
  while (now() < deadline) {
    try {
      const r = via ? await getVia(via, url) : await fetch(url, { headers, signal: AbortSignal.timeout(1000) }).then(async (x) => ({ status: x.status, bytes: (await x.arrayBuffer()).byteLength }));
      if (r.status === 200 && r.bytes === BODY_BYTES) return;
      last = `status ${r.status}, ${r.bytes} bytes`;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(50);
  }
  throw new Error(`${what} not serving ${url} within ${timeoutMs} ms (${last})`);
}

/** One absolute-form GET through an HTTP proxy (fetch cannot send those). */
function getVia(proxy: { host: string; port: number }, url: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: proxy.host, port: proxy.port, path: url, headers: { host: new URL(url).host }, agent: false, timeout: 1000 }, (res) => {
      let bytes = 0;
      res.on("data", (c: Buffer) => (bytes += c.length));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

export function findOnPath(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin", "/sbin"];
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Fails early when an address:port this bench listens on is taken (another run, another service). */
export function checkFree(ip: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", (e) => reject(new Error(`${ip}:${port} is not available: ${e.message}`)));
    s.listen(port, ip, () => s.close(() => resolve()));
  });
}
