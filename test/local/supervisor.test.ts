import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SupervisedProcess, tailFile, type CrashReport } from "../../src/local/supervisor.js";

const dir = mkdtempSync(join(tmpdir(), "tsmesh-supervisor-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(f: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("supervised processes", () => {
  it("a crash is reported with the tail of its log and restarted with doubling backoff", async () => {
    const crashes: CrashReport[] = [];
    const logFile = join(dir, "crash.log");
    const p = new SupervisedProcess(
      { name: "crasher app", file: process.execPath, args: ["-e", "console.log('starting'); console.error('boom: cannot open db'); process.exit(3)"], env: process.env, cwd: dir, logFile },
      { initialBackoffMs: 50, onCrash: (r) => crashes.push(r) },
    );
    p.start();
    await until(() => crashes.length >= 3);
    await p.stop();
    assert.equal(crashes[0].name, "crasher app");
    assert.equal(crashes[0].code, 3);
    assert.deepEqual(crashes[0].tail.slice(-2), ["starting", "boom: cannot open db"]);
    assert.deepEqual(crashes.slice(0, 3).map((c) => c.restartInMs), [50, 100, 200]);
    assert.deepEqual(crashes.slice(0, 3).map((c) => c.restarts), [1, 2, 3]);
    assert.equal(readFileSync(logFile, "utf8").split("starting").length - 1 >= 3, true);
  });

  it("stop() takes the whole process group, grandchildren included, and no restart follows", async () => {
    const logFile = join(dir, "group.log");
    const script = "const c = require('child_process').spawn(process.execPath, ['-e', 'setInterval(()=>{},1000)'], { stdio: 'ignore' }); console.log('grandchild ' + c.pid); setInterval(() => {}, 1000);";
    let crashed = false;
    const p = new SupervisedProcess({ name: "parent", file: process.execPath, args: ["-e", script], env: process.env, cwd: dir, logFile }, { onCrash: () => (crashed = true) });
    p.start();
    await until(() => /grandchild \d+/.test(tailFile(logFile).join("\n")));
    const grandchild = Number(/grandchild (\d+)/.exec(tailFile(logFile).join("\n"))![1]);
    const pid = p.pid!;
    assert.ok(alive(grandchild));
    await p.stop(2000);
    await until(() => !alive(grandchild) && !alive(pid));
    assert.equal(p.running, false);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(crashed, false);
  });

  it("a process that ignores SIGTERM is killed after the grace period", async () => {
    const p = new SupervisedProcess({
      name: "stubborn",
      file: process.execPath,
      args: ["-e", "process.on('SIGTERM', () => console.log('ignoring')); console.log('up'); setInterval(() => {}, 1000)"],
      env: process.env,
      cwd: dir,
      logFile: join(dir, "stubborn.log"),
    });
    p.start();
    await until(() => tailFile(join(dir, "stubborn.log")).includes("up"));
    const t0 = Date.now();
    await p.stop(300);
    assert.ok(Date.now() - t0 >= 250);
    assert.equal(p.running, false);
  });

  it("a program that does not exist is reported and retried", async () => {
    const errors: string[] = [];
    const crashes: CrashReport[] = [];
    const p = new SupervisedProcess(
      { name: "missing", file: join(dir, "no-such-program"), args: [], env: process.env, cwd: dir, logFile: join(dir, "missing.log") },
      { initialBackoffMs: 30, onSpawnError: (_n, e) => errors.push(e.message), onCrash: (r) => crashes.push(r) },
    );
    p.start();
    await until(() => crashes.length >= 2);
    await p.stop();
    assert.match(errors[0], /ENOENT/);
  });
});
