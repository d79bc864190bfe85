// `tsmesh up --prometheus`'s generated scrape config (golden), the proxies' file_sd targets as
// workloads come and go, and the refusal when Debian's prometheus is not installed.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parse } from "yaml";
import { packageRoot } from "../../src/core/paths.js";
import type { PlannedWorkload } from "../../src/local/plan.js";
import { prometheusConfigYaml, PROXY_SCRAPE, proxyTargetGroups, writeProxyTargets, type FileSdGroup } from "../../src/local/prometheus-config.js";
import { findPrometheus } from "../../src/local/prometheus.js";

function workload(namespace: string, name: string, address: string, labels: Record<string, string>): PlannedWorkload {
  return { key: `${namespace}/${name}`, name, namespace, role: "sidecar", address, labels, ports: [], gatewayServers: [] };
}

const productpage = workload("default", "productpage-v1", "127.0.2.1", { app: "productpage", version: "v1" });
const gateway = workload("istio-system", "istio-ingressgateway", "127.0.1.1", { app: "istio-ingressgateway", istio: "ingressgateway", "security.istio.io/tlsMode": "istio" });
const reviews = workload("default", "reviews-v2", "127.0.4.2", { app: "reviews", version: "v2" });

const tmp = mkdtempSync(join(tmpdir(), "tsmesh-prom-config-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Compares with test/local/testdata/NAME (source tree); UPDATE_GOLDEN=1 rewrites it. */
function assertGoldenText(name: string, text: string): void {
  const file = join(packageRoot(), "test", "local", "testdata", name);
  if (process.env.UPDATE_GOLDEN === "1" || (!existsSync(file) && process.env.CI !== "true")) {
    writeFileSync(file, text);
    return;
  }
  assert.equal(text, readFileSync(file, "utf8"), `generated config differs from golden ${file} (UPDATE_GOLDEN=1 to accept, then review the diff)`);
}

describe("prometheus scrape config", () => {
  it("scrapes istiod's monitoring port, every proxy through file_sd and itself, with Istio's job names (golden)", () => {
    const yaml = prometheusConfigYaml({ scrapeIntervalSeconds: 15, controlPlane: "127.0.0.1:15014", self: "127.0.0.2:9090", proxyTargetsFile: "/state/prometheus/proxies.json" });
    assertGoldenText("prometheus.yml", yaml);
    const config = parse(yaml) as { global: Record<string, string>; scrape_configs: Array<Record<string, unknown>> };
    assert.deepEqual(config.scrape_configs.map((j) => j.job_name), ["istiod", "kubernetes-pods", "prometheus"]);
    assert.equal(config.global.scrape_interval, "15s");
    const pods = config.scrape_configs[1] as { metrics_path: string; file_sd_configs: Array<{ files: string[] }> };
    assert.equal(pods.metrics_path, "/stats/prometheus");
    assert.deepEqual(pods.file_sd_configs, [{ files: ["proxies.json"] }]);
  });

  it("has no istiod job when the monitoring port is off; a short interval bounds the scrape timeout", () => {
    const config = parse(prometheusConfigYaml({ scrapeIntervalSeconds: 1, self: "127.9.0.2:9090", proxyTargetsFile: "p.json" })) as { global: Record<string, string>; scrape_configs: Array<{ job_name: string }> };
    assert.deepEqual(config.scrape_configs.map((j) => j.job_name), ["kubernetes-pods", "prometheus"]);
    assert.deepEqual(config.global, { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" });
  });
});

describe("the proxies' file_sd targets", () => {
  it("one group per workload, with the labels Kubernetes pod discovery gives (label keys made label names)", () => {
    assert.deepEqual(proxyTargetGroups([productpage, gateway]), [
      { targets: [`127.0.2.1:${PROXY_SCRAPE.port}`], labels: { __meta_kubernetes_namespace: "default", __meta_kubernetes_pod_name: "productpage-v1", __meta_kubernetes_pod_label_app: "productpage", __meta_kubernetes_pod_label_version: "v1" } },
      {
        targets: [`127.0.1.1:${PROXY_SCRAPE.port}`],
        labels: {
          __meta_kubernetes_namespace: "istio-system",
          __meta_kubernetes_pod_name: "istio-ingressgateway",
          __meta_kubernetes_pod_label_app: "istio-ingressgateway",
          __meta_kubernetes_pod_label_istio: "ingressgateway",
          __meta_kubernetes_pod_label_security_istio_io_tlsMode: "istio",
        },
      },
    ]);
  });

  it("is rewritten by rename as workloads come and go: never a partial file, nothing left beside it", () => {
    const dir = join(tmp, "sd");
    mkdirSync(dir);
    const file = join(dir, "proxies.json");
    const read = () => (JSON.parse(readFileSync(file, "utf8")) as FileSdGroup[]).map((g) => g.labels.__meta_kubernetes_pod_name);
    writeProxyTargets(file, []);
    assert.deepEqual(read(), []);
    writeProxyTargets(file, [reviews, productpage]);
    assert.deepEqual(read(), ["productpage-v1", "reviews-v2"]);
    writeProxyTargets(file, [reviews, productpage, gateway]);
    assert.deepEqual(read(), ["productpage-v1", "reviews-v2", "istio-ingressgateway"]);
    writeProxyTargets(file, [gateway]);
    assert.deepEqual(read(), ["istio-ingressgateway"]);
    assert.deepEqual(readdirSync(dir), ["proxies.json"]);
  });
});

describe("finding Debian's prometheus", () => {
  it("finds an executable named prometheus on PATH, and names the package when there is none", () => {
    const bin = join(tmp, "bin");
    mkdirSync(bin);
    const notExecutable = join(tmp, "noexec");
    mkdirSync(notExecutable);
    writeFileSync(join(notExecutable, "prometheus"), "");
    writeFileSync(join(bin, "prometheus"), "#!/bin/sh\n");
    chmodSync(join(bin, "prometheus"), 0o755);
    assert.equal(findPrometheus(`${notExecutable}:${bin}`), join(bin, "prometheus"));
    const missing = findPrometheus(notExecutable);
    assert.ok(missing instanceof Error);
    assert.match(missing.message, /Debian's package `prometheus` \(as root: apt-get install prometheus\)/);
  });

  it("tsmesh up --prometheus refuses to start without it (exit 1, nothing started)", () => {
    const r = spawnSync(process.execPath, [join(packageRoot(), "dist/src/cli/bin.js"), "up", "--prometheus", "--xds-address", "127.255.255.254:1", "--state-dir", join(tmp, "state"), "--log-dir", join(tmp, "logs")], {
      encoding: "utf8",
      env: { ...process.env, PATH: join(tmp, "noexec") },
      timeout: 60_000,
    });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /tsmesh up: --prometheus needs the `prometheus` program, which is not on PATH; install Debian's package `prometheus`/);
    assert.doesNotMatch(r.stdout, /control plane +xDS/);
  });

  it("refuses --prometheus-address or --prometheus-scrape-interval without --prometheus, and a bad interval", () => {
    const up = (...args: string[]) => spawnSync(process.execPath, [join(packageRoot(), "dist/src/cli/bin.js"), "up", ...args], { encoding: "utf8", timeout: 30_000 });
    assert.match(up("--prometheus-address", "127.0.0.2:9090").stderr, /need --prometheus/);
    assert.match(up("--prometheus", "--prometheus-scrape-interval", "500ms").stderr, /use whole seconds, at least 1s/);
  });
});
