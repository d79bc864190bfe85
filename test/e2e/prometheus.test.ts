// `tsmesh up --prometheus` with the bundled bookinfo (moved to 127.124.x.y) and Debian's real
// Prometheus scraping it every second: Prometheus becomes ready, its targets API shows the control
// plane and every proxy up, PromQL over its HTTP API returns control-plane and proxy series, a
// WorkloadEntry added and removed live appears and disappears as a target, and when `up` is killed
// Prometheus goes with it.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import { eventually } from "../helpers/eventually.js";
import { portsBoundOn } from "../helpers/leftovers.js";
import { httpRequest, relocate } from "../helpers/mesh.js";
import { assertPresent, skipUnlessPresent } from "../helpers/prereqs.js";

const OCTET = 124;
const PROMETHEUS = `127.${OCTET}.0.2:9090`;
const bin = join(packageRoot(), "dist/src/cli/bin.js");
const installed = spawnSync("prometheus", ["--version"]).status === 0;

interface Target {
  labels: Record<string, string>;
  health: string;
  scrapeUrl: string;
}
interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function api<T>(path: string): Promise<T> {
  const r = await httpRequest(`127.${OCTET}.0.2`, 9090, path);
  assert.equal(r.status, 200, r.body);
  const body = JSON.parse(r.body) as { status: string; data: T };
  assert.equal(body.status, "success");
  return body.data;
}

const activeTargets = async () => (await api<{ activeTargets: Target[] }>("/api/v1/targets?state=active")).activeTargets;
const query = async (promql: string) => (await api<{ result: Sample[] }>(`/api/v1/query?query=${encodeURIComponent(promql)}`)).result;

/** Pids of Prometheus on this test's address (with its exit-with-parent wrapper when `wrapper`). */
function prometheusProcesses(wrapper = false): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
      if (argv.includes(`--web.listen-address=${PROMETHEUS}`) && (wrapper || argv[0].endsWith("/prometheus"))) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

const EXTRA_DETAILS = `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: details-v2
  namespace: default
  annotations:
    tsmesh.io/command: "tsmesh app details"
spec:
  address: 127.${OCTET}.3.2
  labels:
    app: details
    version: v2
  serviceAccount: bookinfo-details
`;

describe("tsmesh up --prometheus (real Prometheus scraping bookinfo)", { timeout: 180_000, skip: skipUnlessPresent("Debian's prometheus", installed) }, () => {
  let dir: string;
  let child: ChildProcessWithoutNullStreams;
  let output = "";
  let exit: Promise<number | null>;

  before(() => {
    assertPresent("Debian's prometheus", installed);
    dir = mkdtempSync(join(tmpdir(), "tsmesh-up-prometheus-"));
    cpSync(join(packageRoot(), "examples/bookinfo"), join(dir, "bookinfo"), { recursive: true });
    for (const f of readdirSync(join(dir, "bookinfo"))) {
      const p = join(dir, "bookinfo", f);
      writeFileSync(p, relocate(readFileSync(p, "utf8"), OCTET));
    }
    const args = [bin, "up", join(dir, "bookinfo"), "--xds-address", `127.${OCTET}.0.1:15010`, "--monitoring-address", `127.${OCTET}.0.1:15014`, "--log-dir", join(dir, "logs"), "--state-dir", join(dir, "state")];
    args.push("--prometheus", "--prometheus-address", PROMETHEUS, "--prometheus-scrape-interval", "1s");
    child = spawn(process.execPath, args, { stdio: "pipe" });
    child.stdout.on("data", (b: Buffer) => (output += b.toString()));
    child.stderr.on("data", (b: Buffer) => (output += b.toString()));
    exit = new Promise((r) => child.on("exit", (code) => r(code)));
  });
  after(() => {
    if (child?.exitCode === null) child.kill("SIGKILL");
    for (const pid of prometheusProcesses(true)) process.kill(pid, "SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("starts Prometheus with the mesh and prints its URL", async () => {
    await eventually("the summary", () => output.includes("Ctrl-C stops the mesh"), 90_000, 100);
    assert.match(output, /ready +prometheus +http:\/\/127\.124\.0\.2:9090/);
    assert.ok(output.includes(`  prometheus     http://${PROMETHEUS} (jobs istiod and kubernetes-pods; targets in ${join(dir, "state", "prometheus", "proxies.json")}, log ${join(dir, "logs", "prometheus.log")})`), output);
    assert.equal((await httpRequest(`127.${OCTET}.0.2`, 9090, "/-/ready")).status, 200);
  });

  it("its targets API shows the control plane and every proxy up", async () => {
    const targets = await eventually(
      "istiod and 7 proxies up",
      async () => {
        const t = await activeTargets();
        const up = (job: string) => t.filter((x) => x.labels.job === job && x.health === "up");
        return up("istiod").length === 1 && up("kubernetes-pods").length === 7 ? t : undefined;
      },
      30_000,
      250,
    );
    const istiod = targets.find((t) => t.labels.job === "istiod")!;
    assert.equal(istiod.scrapeUrl, `http://127.${OCTET}.0.1:15014/metrics`);
    const productpage = targets.find((t) => t.labels.pod === "productpage-v1")!;
    assert.deepEqual({ namespace: productpage.labels.namespace, app: productpage.labels.app, version: productpage.labels.version }, { namespace: "default", app: "productpage", version: "v1" });
    assert.match(productpage.scrapeUrl, new RegExp(`^http://127\\.${OCTET}\\.2\\.1:\\d+/stats/prometheus$`));
  });

  it("answers PromQL with control-plane series (pilot_xds, citadel_server_*) and proxy series (Envoy's cluster stats)", async () => {
    for (let i = 0; i < 5; i++) assert.equal((await httpRequest(`127.${OCTET}.1.1`, 8080, "/productpage")).status, 200);
    const xds = await eventually("pilot_xds", async () => {
      const r = await query('sum(pilot_xds{job="istiod"})');
      return r.length === 1 && Number(r[0].value[1]) === 7 ? r : undefined;
    }, 30_000, 250);
    assert.equal(xds.length, 1);
    const issued = await query('citadel_server_success_cert_issuance_count{job="istiod"}');
    assert.ok(Number(issued[0]?.value[1]) >= 7, JSON.stringify(issued));
    // Requests productpage's sidecar sent to reviews, by Envoy's tag-extracted cluster label.
    const rq = await eventually("productpage's upstream requests to reviews", async () => {
      const r = await query('sum by (pod, namespace) (envoy_cluster_upstream_rq_total{job="kubernetes-pods", pod="productpage-v1", envoy_cluster_name="outbound|9080||reviews.default.svc.cluster.local"})');
      return r.length === 1 && Number(r[0].value[1]) >= 5 ? r : undefined;
    }, 30_000, 250);
    assert.deepEqual(rq[0].metric, { pod: "productpage-v1", namespace: "default" });
  });

  it("follows workloads as they come and go (file_sd, no restart)", async () => {
    const file = join(dir, "bookinfo", "details-v2.yaml");
    writeFileSync(file, EXTRA_DETAILS);
    await eventually("details-v2 scraped", async () => (await activeTargets()).some((t) => t.labels.pod === "details-v2" && t.labels.version === "v2" && t.health === "up"), 60_000, 250);
    unlinkSync(file);
    await eventually("details-v2 gone", async () => !(await activeTargets()).some((t) => t.labels.pod === "details-v2"), 60_000, 250);
    assert.equal(prometheusProcesses().length, 1, "the same Prometheus throughout");
  });

  it(
    "answers Istio's dashboard query: requests to productpage by source and destination workload, mutual TLS",
    async () => {
      for (let i = 0; i < 10; i++) assert.equal((await httpRequest(`127.${OCTET}.1.1`, 8080, "/productpage")).status, 200);
      const total = await eventually("the dashboard query > 0", async () => {
        const r = await query('sum(rate(istio_requests_total{reporter="destination",destination_service="productpage.default.svc.cluster.local"}[1m]))');
        return r.length === 1 && Number(r[0].value[1]) > 0 ? r : undefined;
      }, 30_000, 250);
      assert.ok(Number(total[0].value[1]) > 0);
      const bySource = await query('sum by (source_workload, destination_workload) (istio_requests_total{reporter="destination",destination_service="productpage.default.svc.cluster.local"})');
      assert.deepEqual(bySource.map((s) => s.metric), [{ source_workload: "istio-ingressgateway", destination_workload: "productpage-v1" }]);
      // (Each sidecar is scraped on its own schedule: wait for details' scrape that has all ten.)
      const mtls = await eventually("details' ten mutual-TLS requests from productpage", async () => {
        const r = await query('sum by (source_workload, destination_workload) (istio_requests_total{reporter="destination",source_workload="productpage-v1",destination_service="details.default.svc.cluster.local",connection_security_policy="mutual_tls"})');
        return r.length === 1 && Number(r[0].value[1]) >= 10 ? r : undefined;
      }, 30_000, 250);
      assert.deepEqual(mtls.map((s) => s.metric), [{ source_workload: "productpage-v1", destination_workload: "details-v1" }]);
    },
  );

  it("when `up` is killed, Prometheus stops with it (no orphan, its port freed)", async () => {
    assert.equal(prometheusProcesses().length, 1);
    child.kill("SIGKILL");
    await exit;
    await eventually("Prometheus and its wrapper gone", () => prometheusProcesses(true).length === 0, 30_000, 100);
    await eventually("no port left on 127.124.x.y", () => portsBoundOn([`127.${OCTET}.`, `127.${OCTET ^ 0x80}.`]).length === 0, 30_000, 100);
  });
});
