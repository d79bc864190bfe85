// Reading a child process's output by lines: keeping its log (bounded) and waiting for the line
// that says it is up (a port, "ready"), failing early when it exits or takes too long.
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

/** Keeps the first `max` lines of a stream (a child's stderr: its log). */
export function collectLines(stream: NodeJS.ReadableStream | null, into: string[], max = 200): void {
  if (!stream) return;
  createInterface({ input: stream }).on("line", (l) => {
    if (into.length < max) into.push(l);
  });
}

/** Resolves with the first stdout line matching `re` (its match), rejects on exit or timeout. */
export function waitLine(child: ChildProcess, re: RegExp, timeoutMs: number, what: string, err: string[] = []): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no ${re} within ${timeoutMs} ms; stderr: ${err.slice(-5).join(" | ")}`)), timeoutMs);
    const rl = createInterface({ input: child.stdout! });
    rl.on("line", (l) => {
      const m = re.exec(l);
      if (m) {
        clearTimeout(timer);
        rl.removeAllListeners("line");
        resolve(m);
      }
    });
    child.once("exit", (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code ?? sig}) before ${re}; stderr: ${err.slice(-5).join(" | ")}`));
    });
  });
}
