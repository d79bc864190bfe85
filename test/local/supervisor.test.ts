import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SupervisedProcess, tailFile, type CrashReport } from "../../src/local/supervisor.js";
import { FakeClock } from "../helpers/fake-clock.js";

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
      { initialBackoffMs: 50, maxBackoffMs: 30_000, onCrash: (r) => crashes.push(r) },
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

describe("CrashLoopBackOff (injected clock)", () => {
  const exitAt = once("-e", "process.exit(5)");
  function once(...args: string[]) {
    return { file: process.execPath, args, env: process.env, cwd: dir };
  }

  it("restarts after 10 s, doubling to 5 min; the streak counts the crashes", async () => {
    const clock = new FakeClock();
    const crashes: CrashReport[] = [];
    const p = new SupervisedProcess({ name: "crashloop", ...exitAt, logFile: join(dir, "loop.log") }, { clock, onCrash: (r) => crashes.push(r) });
    p.start();
    for (let i = 1; i <= 8; i++) {
      await until(() => crashes.length === i);
      assert.equal(p.running, false);
      assert.equal(p.backingOff, true);
      // Nothing happens before the delay is up.
      clock.advance(crashes[i - 1].restartInMs - 1);
      assert.equal(p.running, false);
      clock.advance(1);
    }
    await p.stop();
    assert.deepEqual(crashes.map((c) => c.restartInMs), [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
    assert.deepEqual(crashes.map((c) => c.streak), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.ok(crashes.every((c) => c.code === 5 && !c.failed));
    assert.equal(clock.pending, 0, "stop() cancels the pending restart");
  });

  it("10 min of running resets the backoff and the streak", async () => {
    const clock = new FakeClock();
    const crashes: CrashReport[] = [];
    const logFile = join(dir, "reset.log");
    const p = new SupervisedProcess({ name: "flaky", ...once("-e", "console.log('up'); setInterval(() => {}, 1000)"), logFile }, { clock, onCrash: (r) => crashes.push(r) });
    p.start();
    process.kill(p.pid!, "SIGKILL");
    await until(() => crashes.length === 1);
    clock.advance(10_000);
    await until(() => p.running);
    process.kill(p.pid!, "SIGKILL");
    await until(() => crashes.length === 2);
    assert.equal(crashes[1].restartInMs, 20_000);
    clock.advance(20_000);
    await until(() => p.running);
    clock.advance(600_000); // a good run of 10 minutes
    process.kill(p.pid!, "SIGKILL");
    await until(() => crashes.length === 3);
    await p.stop();
    assert.equal(crashes[2].restartInMs, 10_000);
    assert.equal(crashes[2].streak, 1);
    assert.equal(crashes[2].signal, "SIGKILL");
  });

  it("fail() ends a run as a failure: killed, reported with failed, restarted after the backoff", async () => {
    const clock = new FakeClock();
    const crashes: CrashReport[] = [];
    const logFile = join(dir, "fail.log");
    const p = new SupervisedProcess({ name: "never-ready", ...once("-e", "console.log('listening nowhere'); setInterval(() => {}, 1000)"), logFile }, { clock, onCrash: (r) => crashes.push(r) });
    p.start();
    await until(() => tailFile(logFile).includes("listening nowhere"));
    p.fail();
    await until(() => crashes.length === 1);
    assert.equal(crashes[0].failed, true);
    assert.equal(crashes[0].restartInMs, 10_000);
    clock.advance(10_000);
    await until(() => p.running);
    await p.stop();
  });
});
