// `tsmesh proxy --concurrency N` helpers: the one-time release of start-up memory (V8's young
// generation, grown while loading, shrinks back to its minimum and would grow again under load),
// and, through the CLI, /clusters showing the workers' per-host counters and the primary's outlier
// ejections (the detector is proxy-wide: test/cli/proxy-limits.test.ts).
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it, test } from "node:test";
import v8 from "node:v8";
import { releaseMemoryWhenSettled, releaseStartupMemory } from "../../src/cli/proxy-workers.js";
import { packageRoot } from "../../src/core/paths.js";
import { eventually } from "../helpers/eventually.js";
import { Backend, request } from "../proxy/helpers.js";

const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")!.space_size;

/** Allocates enough surviving objects for V8 to grow the young generation. */
function grow(): unknown[] {
  const keep: unknown[] = [];
  for (let i = 0; i < 300_000; i++) keep.push({ i, s: `x${i}` });
  return keep;
}

test("releaseStartupMemory shrinks the young generation start-up grew", async () => {
  let keep: unknown[] | undefined = grow();
  const grown = newSpace();
  assert.ok(keep.length > 0);
  keep = undefined;
  await releaseStartupMemory();
  const after = newSpace();
  assert.ok(after < grown, `new space ${grown} → ${after} bytes`);
  assert.ok(after <= 4 * 1024 * 1024, `new space back near its minimum (${after} bytes)`);
});

test("releaseMemoryWhenSettled releases after the calls stop", async () => {
  let keep: unknown[] | undefined = grow();
  const grown = newSpace();
  const settled = releaseMemoryWhenSettled(50);
  for (let i = 0; i < 5; i++) {
    settled();
    await new Promise((r) => setTimeout(r, 10));
  }
  keep = undefined;
  await eventually("released after the calls stopped", () => newSpace() < grown);
  void keep;
});

// ---- /clusters under --concurrency: the workers' per-host counters, summed by the primary ----

const bin = join(packageRoot(), "dist/src/cli/bin.js");
const W_IP = "127.0.112.1";
const GOOD_IP = "127.0.112.2";
const BAD_IP = "127.0.112.3";

const WORKERS_BOOTSTRAP = `
static_resources:
  listeners:
  - name: listener_0
    address:
      socket_address: { address: 0.0.0.0, port_value: 10000 }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: two }
  clusters:
  - name: two
    type: STATIC
    connect_timeout: 0.25s
    outlier_detection:
      consecutive_gateway_failure: 2
      enforcing_consecutive_gateway_failure: 100
      max_ejection_percent: 100
      interval: 60s
      base_ejection_time: 60s
    load_assignment:
      cluster_name: two
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: ${GOOD_IP}, port_value: 8080 } } }
        - endpoint: { address: { socket_address: { address: ${BAD_IP}, port_value: 8080 } } }
`;

interface JsonHost {
  address: { socket_address: { address: string } };
  stats: Array<{ name: string; value: number }>;
  health_status: { failed_outlier_check?: boolean };
}

describe("tsmesh proxy --concurrency 2: /clusters sums the workers' per-host counters", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-proxy-workers-"));
  let child: ChildProcessWithoutNullStreams;
  let stdout = "";
  let stderr = "";
  let good: Backend;
  let bad: Backend;
  let admin = "";

  before(async () => {
    good = await Backend.start("good", GOOD_IP, 8080);
    bad = await Backend.start("bad", BAD_IP, 8080, { status: 503 });
    writeFileSync(join(dir, "envoy.yaml"), WORKERS_BOOTSTRAP);
    child = spawn(process.execPath, [bin, "proxy", "router", "--bootstrap", join(dir, "envoy.yaml"), "--ip", W_IP, "--admin-port", "0", "--health-port", "0", "--access-log", "off", "--concurrency", "2"]);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    admin = await eventually("admin address", () => /admin (http:\/\/[\d.]+:\d+)/.exec(stdout)?.[1], 15_000);
    await eventually("ready", async () => (await request(`${admin}/ready`)).status === 200);
  });
  after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    await good.close();
    await bad.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("counts every worker's requests per host (text and JSON) and shows the host the proxy ejected", async () => {
    const N = 40;
    const statuses: number[] = [];
    for (let i = 0; i < N; i++) statuses.push((await request(`http://${W_IP}:10000/x${i}`)).status);
    assert.equal(statuses.length, N, stderr);
    const served = good.requests + bad.requests;
    assert.equal(served, N);
    const text = (await request(`${admin}/clusters`)).body;
    const v = (host: string, name: string) => Number(new RegExp(`^two::${host.replace(/\./g, "\\.")}:8080::${name}::(-?\\d+)$`, "m").exec(text)?.[1]);
    assert.equal(v(GOOD_IP, "rq_total"), good.requests, text);
    assert.equal(v(BAD_IP, "rq_total"), bad.requests, text);
    assert.equal(v(GOOD_IP, "rq_success"), good.requests);
    assert.equal(v(BAD_IP, "rq_error"), bad.requests);
    assert.equal(v(GOOD_IP, "rq_success") + v(BAD_IP, "rq_error"), N, "every worker's requests are counted");
    assert.ok(v(GOOD_IP, "cx_total") >= 1);
    assert.equal(v(GOOD_IP, "rq_active"), 0);
    // Two 503s in a row (from either worker) eject the bad host, once for the proxy.
    assert.match(text, new RegExp(`^two::${BAD_IP.replace(/\./g, "\\.")}:8080::health_flags::/failed_outlier_check$`, "m"));
    assert.match(text, new RegExp(`^two::${GOOD_IP.replace(/\./g, "\\.")}:8080::health_flags::healthy$`, "m"));
    assert.match(text, /^two::outlier::success_rate_average::-1$/m);

    const json = JSON.parse((await request(`${admin}/clusters?format=json`)).body) as { cluster_statuses: Array<{ name: string; host_statuses: JsonHost[] }> };
    const hosts = json.cluster_statuses.find((c) => c.name === "two")!.host_statuses;
    const byIp = (ip: string) => hosts.find((h) => h.address.socket_address.address === ip)!;
    const stat = (h: JsonHost, name: string) => h.stats.find((s) => s.name === name)!.value;
    assert.equal(stat(byIp(GOOD_IP), "rq_total") + stat(byIp(BAD_IP), "rq_total"), N);
    assert.equal(byIp(BAD_IP).health_status.failed_outlier_check, true);
    assert.equal(byIp(GOOD_IP).health_status.failed_outlier_check, undefined);
    // /stats agrees: the cluster's requests are the hosts' sum.
    const stats = (await request(`${admin}/stats`)).body;
    assert.equal(Number(/^cluster\.two\.upstream_rq_total: (\d+)$/m.exec(stats)?.[1]), N);
    assert.equal(Number(/^cluster\.two\.outlier_detection\.ejections_enforced_total: (\d+)$/m.exec(stats)?.[1]), 1);
  });
});
