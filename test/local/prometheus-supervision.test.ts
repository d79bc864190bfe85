// `up --prometheus`'s Prometheus under the workloads' supervisor, with a stand-in `prometheus`
// program (a script that fails until told to serve /-/ready): a crash loop is reported once, with
// its log's tail, and restarted on CrashLoopBackOff's schedule (10 s doubling, on an injected
// clock); once it serves it is reported ready, and a later crash is reported again.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { LocalPrometheus } from "../../src/local/prometheus.js";
import type { CrashReport } from "../../src/local/supervisor.js";
import { eventually } from "../helpers/eventually.js";
import { FakeClock } from "../helpers/fake-clock.js";

const ADDRESS = "127.36.9.9:9090";
const dir = mkdtempSync(join(tmpdir(), "tsmesh-prometheus-sup-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A `prometheus` that exits 1 unless SERVE exists; then it answers /-/ready on --web.listen-address until SERVE is gone. */
function standIn(): string {
  const file = join(dir, "prometheus");
  const serve = join(dir, "SERVE");
  writeFileSync(
    file,
    `#!${process.execPath}
const fs = require("node:fs");
if (!fs.existsSync(${JSON.stringify(serve)})) { console.error("err=\\"opening storage failed\\" (stand-in)"); process.exit(1); }
const a = process.argv.find((x) => x.startsWith("--web.listen-address=")).split("=")[1].split(":");
require("node:http").createServer((q, r) => r.end("Prometheus Server is Ready.\\n")).listen(Number(a[1]), a[0]);
setInterval(() => { if (!fs.existsSync(${JSON.stringify(serve)})) process.exit(2); }, 50);
`,
  );
  chmodSync(file, 0o755);
  return file;
}

it("a failing Prometheus is reported once and backed off as the workloads are; ready once it serves; a new crash reported again", async () => {
  const clock = new FakeClock();
  const lines: string[] = [];
  const crashes: CrashReport[] = [];
  const p = new LocalPrometheus(standIn(), { address: ADDRESS, dir: join(dir, "state"), logFile: join(dir, "prometheus.log"), clock, log: (l) => lines.push(l), onCrash: (r) => crashes.push(r) });
  try {
    p.start();
    await eventually("the first crash", () => crashes.length === 1, 20_000);
    assert.equal(crashes[0].restartInMs, 10_000, "CrashLoopBackOff's first delay, not 500 ms");
    const reports = () => lines.filter((l) => l.startsWith("prometheus exited"));
    assert.equal(reports().length, 1);
    assert.match(reports()[0], /^prometheus exited \(code 1\); restart in 10 s \(backoff doubling to 5 min\); the rest of the mesh keeps serving\. Last lines of .*prometheus\.log:\n {4}err="opening storage failed" \(stand-in\)\n {4}\(further restarts are not reported until it recovers or fails differently\)$/);

    // Nothing restarts before the delay; each further crash doubles it and prints nothing.
    clock.advance(9_999);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(crashes.length, 1);
    clock.advance(1);
    await eventually("the second crash", () => crashes.length === 2, 20_000);
    clock.advance(20_000);
    await eventually("the third crash", () => crashes.length === 3, 20_000);
    assert.deepEqual(crashes.map((c) => c.restartInMs), [10_000, 20_000, 40_000]);
    assert.equal(reports().length, 1, "a crash loop is reported once");
    assert.equal(p.ready, false);

    // Fixed: the next restart serves and is reported ready.
    writeFileSync(join(dir, "SERVE"), "");
    clock.advance(40_000);
    await eventually("ready", () => p.ready, 20_000);
    assert.ok(lines.includes(`ready  prometheus  http://${ADDRESS}`), lines.join("\n"));

    // A crash after a good run is a new failure: reported again.
    rmSync(join(dir, "SERVE"));
    await eventually("the crash after serving", () => crashes.length === 4, 20_000);
    assert.equal(reports().length, 2);
    assert.match(reports()[1], /^prometheus exited \(code 2\); restart in/);
  } finally {
    await p.stop();
  }
});
