// Soak (not a test): issue 16's check at full length — a workload that crashes forever while the
// rest of the mesh serves 10 minutes of traffic without an error (the e2e test runs 20 s of it).
// httpbin-tcp-echo on 127.32.x.y (the e2e test's octet: do not run both at once) plus the crasher,
// restarted with up's real backoff (10 s doubling to 5 min). Knobs: SOAK_SECONDS (600). Exits 1 on
// any failed request or when the crash was reported more than once.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CRASH_LOOP_BACKOFF } from "../src/local/supervisor.js";
import { TestMesh } from "../test/helpers/mesh.js";
import { CRASHER_SERVICE, crasherEntry, serveUntil } from "../test/e2e/failing-workload.js";

const SECONDS = Math.max(10, Math.min(3600, Number(process.env.SOAK_SECONDS ?? 600)));
const watchdog = setTimeout(() => {
  console.error("soak: watchdog: giving up");
  process.exit(2);
}, (SECONDS + 180) * 1000);

const files = mkdtempSync(join(tmpdir(), "tsmesh-soak-"));
writeFileSync(join(files, "ServiceEntry.default.crasher.yaml"), CRASHER_SERVICE);
writeFileSync(join(files, "WorkloadEntry.default.crasher.yaml"), crasherEntry("crash"));
const lines: string[] = [];
const apply = [join(files, "ServiceEntry.default.crasher.yaml"), join(files, "WorkloadEntry.default.crasher.yaml")];
const mesh = await TestMesh.start({ example: "httpbin-tcp-echo", octet: 32, apply, restartBackoffMs: CRASH_LOOP_BACKOFF.initialMs, log: (l) => lines.push(l) });
let code = 0;
try {
  console.log(`soak: ${SECONDS} s of traffic through the gateway and a sidecar while default/crasher crash-loops`);
  const { ok, failed } = await serveUntil(mesh, Date.now() + SECONDS * 1000);
  const crasher = mesh.mesh.workload("crasher")!;
  const reports = lines.filter((l) => l.includes("crasher app exited")).length;
  console.log(`soak: ${ok} requests ok, ${failed.length} failed; crasher restarted ${crasher.app!.restarts} times, reported ${reports} time(s), state ${crasher.state}`);
  for (const f of failed.slice(0, 10)) console.log(`  failed: ${f}`);
  if (failed.length > 0 || reports !== 1 || crasher.state !== "failing") code = 1;
} finally {
  await mesh.stop();
  rmSync(files, { recursive: true, force: true });
  clearTimeout(watchdog);
}
process.exit(code);
