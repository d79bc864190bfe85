import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { Resource } from "../../src/api/resource.js";
import { packageRoot } from "../../src/core/paths.js";
import { appAddressFor, planMesh, sameWorkload } from "../../src/local/plan.js";
import { validateFile } from "../../src/config/files.js";
import { listConfigFiles } from "../../src/config/files.js";

function loadExample(name: string): { workloadEntries: Resource<"WorkloadEntry">[]; serviceEntries: Resource<"ServiceEntry">[]; gateways: Resource<"Gateway">[] } {
  const all = listConfigFiles(join(packageRoot(), "examples", name)).flatMap((f) => validateFile(f).map((d) => d.resource).filter((r) => r !== undefined));
  return {
    workloadEntries: all.filter((r): r is Resource<"WorkloadEntry"> => r.kind === "WorkloadEntry"),
    serviceEntries: all.filter((r): r is Resource<"ServiceEntry"> => r.kind === "ServiceEntry"),
    gateways: all.filter((r): r is Resource<"Gateway"> => r.kind === "Gateway"),
  };
}

function we(name: string, address: string, labels: Record<string, string>, annotations?: Record<string, string>): Resource<"WorkloadEntry"> {
  return { apiVersion: "networking.istio.io/v1", kind: "WorkloadEntry", metadata: { name, namespace: "default", annotations }, spec: { address, labels } };
}

describe("tsmesh up: the plan", () => {
  it("app addresses flip the top bit of the second octet", () => {
    assert.equal(appAddressFor("127.0.2.1"), "127.128.2.1");
    assert.equal(appAddressFor("127.101.4.3"), "127.229.4.3");
    assert.equal(appAddressFor("10.0.0.1"), undefined);
    assert.equal(appAddressFor("127.0.0"), undefined);
  });

  it("bookinfo: one gateway picked by the Gateway's selector, six sidecars with their apps and ports", () => {
    const plan = planMesh(loadExample("bookinfo"));
    assert.deepEqual(plan.problems, []);
    const byName = new Map(plan.workloads.map((w) => [w.name, w]));
    assert.equal(plan.workloads.length, 7);
    const gw = byName.get("istio-ingressgateway")!;
    assert.equal(gw.role, "router");
    assert.equal(gw.command, undefined);
    assert.deepEqual(gw.gatewayServers, [{ url: "http://127.0.1.1:8080", gateway: "default/bookinfo-gateway", hosts: ["*"] }]);
    const r2 = byName.get("reviews-v2")!;
    assert.equal(r2.role, "sidecar");
    assert.equal(r2.appAddress, "127.128.4.2");
    assert.deepEqual(r2.command, { env: { SERVICE_VERSION: "v2", ENABLE_RATINGS: "true", STAR_COLOR: "black" }, argv: ["tsmesh", "app", "reviews"] });
    assert.deepEqual(r2.ports, [{ port: 9080, name: "http", protocol: "HTTP", service: "reviews.default.svc.cluster.local" }]);
    for (const n of ["productpage-v1", "details-v1", "reviews-v1", "reviews-v3", "ratings-v1"]) assert.ok(byName.get(n)?.command, n);
  });

  it("a WorkloadEntry's ports map a service port name to its target port", () => {
    const w = we("httpbin", "127.0.5.1", { app: "httpbin" });
    w.spec.ports = { http: 8080 };
    const se: Resource<"ServiceEntry"> = {
      apiVersion: "networking.istio.io/v1",
      kind: "ServiceEntry",
      metadata: { name: "httpbin", namespace: "default" },
      spec: { hosts: ["httpbin.default.svc.cluster.local"], ports: [{ number: 8000, name: "http", protocol: "HTTP" }], workloadSelector: { labels: { app: "httpbin" } } },
    };
    const plan = planMesh({ workloadEntries: [w], serviceEntries: [se], gateways: [] });
    assert.deepEqual(plan.workloads[0].ports.map((p) => p.port), [8080]);
  });

  it("reports what it cannot run, naming the workload and field", () => {
    const plan = planMesh({
      workloadEntries: [
        we("remote", "10.1.2.3", {}),
        we("a", "127.0.9.1", {}),
        we("b", "127.0.9.1", {}),
        we("bad", "127.0.9.2", {}, { "tsmesh.io/command": "echo 'open" }),
      ],
      serviceEntries: [],
      gateways: [],
    });
    const messages = plan.problems.map((p) => `${p.workload}: ${p.message}`);
    assert.match(messages[0], /default\/a|default\/b/);
    assert.ok(messages.some((m) => /default\/remote: spec\.address "10\.1\.2\.3" is not in 127\.0\.0\.0\/8/.test(m)), messages.join("\n"));
    assert.ok(messages.some((m) => /default\/b: spec\.address 127\.0\.9\.1 is taken by workload default\/a; WorkloadEntry default\/b is not started/.test(m)), messages.join("\n"));
    assert.ok(messages.some((m) => /default\/bad: metadata\.annotations\["tsmesh\.io\/command"\]: unterminated '/.test(m)), messages.join("\n"));
    assert.deepEqual(plan.workloads.map((w) => w.name), ["a", "bad"]);
  });

  it("an address belongs to the workload that had it first: a newcomer is rejected, naming both", () => {
    const running = planMesh({ workloadEntries: [we("zeta", "127.0.9.1", {})], serviceEntries: [], gateways: [] }).workloads;
    // "alpha" sorts first, but "zeta" runs on the address already: zeta keeps it.
    const plan = planMesh({ workloadEntries: [we("alpha", "127.0.9.1", {}), we("zeta", "127.0.9.1", {})], serviceEntries: [], gateways: [], running });
    assert.deepEqual(plan.workloads.map((w) => w.key), ["default/zeta"]);
    assert.deepEqual(plan.problems, [
      { workload: "default/alpha", message: "spec.address 127.0.9.1 is taken by running workload default/zeta; WorkloadEntry default/alpha is not started (every workload needs its own address; default/zeta keeps running)" },
    ]);
    // Once zeta is gone, alpha gets the address.
    const after = planMesh({ workloadEntries: [we("alpha", "127.0.9.1", {})], serviceEntries: [], gateways: [], running: plan.workloads });
    assert.deepEqual(after.workloads.map((w) => w.key), ["default/alpha"]);
    // A running workload that moves onto a taken address is the newcomer there.
    const moved = planMesh({ workloadEntries: [we("alpha", "127.0.9.2", {}), we("zeta", "127.0.9.2", {})], serviceEntries: [], gateways: [], running: [...running, ...planMesh({ workloadEntries: [we("alpha", "127.0.9.2", {})], serviceEntries: [], gateways: [] }).workloads] });
    assert.deepEqual(moved.workloads.map((w) => w.key), ["default/alpha"]);
  });

  it("tsmesh.io/command: up's variables are expanded, unknown ones are errors naming them, the shell on request", () => {
    const se: Resource<"ServiceEntry"> = {
      apiVersion: "networking.istio.io/v1",
      kind: "ServiceEntry",
      metadata: { name: "web", namespace: "default" },
      spec: { hosts: ["web.default.svc.cluster.local"], ports: [{ number: 8000, name: "http", protocol: "HTTP" }, { number: 9000, name: "grpc", protocol: "GRPC" }], workloadSelector: { labels: { app: "web" } } },
    };
    const plan = planMesh({
      workloadEntries: [
        we("web", "127.0.9.1", { app: "web" }, { "tsmesh.io/command": `GREETING="hi $NAME" python3 -m http.server --bind $HOST "\${PORT}" '$PORTS' $NAMESPACE $HOME_DIR` }),
        we("typo", "127.0.9.2", { app: "web" }, { "tsmesh.io/command": "serve --port $PROT" }),
        we("sh", "127.0.9.3", { app: "web" }, { "tsmesh.io/command": "serve --port $PORT | tee log", "tsmesh.io/shell": "true" }),
        we("yes", "127.0.9.4", { app: "web" }, { "tsmesh.io/command": "serve", "tsmesh.io/shell": "yes" }),
      ],
      serviceEntries: [se],
      gateways: [],
      environment: { HOME_DIR: "home-of-me" },
    });
    const byName = new Map(plan.workloads.map((w) => [w.name, w]));
    assert.deepEqual(byName.get("web")!.command, { env: { GREETING: "hi web" }, argv: ["python3", "-m", "http.server", "--bind", "127.128.9.1", "8000", "$PORTS", "default", "home-of-me"] });
    assert.equal(byName.get("web")!.appEnv!.PORTS, "8000,9000");
    assert.equal(byName.get("web")!.appEnv!.HTTP_PROXY, "http://127.0.9.1:15001");
    assert.deepEqual(byName.get("sh")!.command, { env: {}, argv: ["/bin/sh", "-c", "serve --port $PORT | tee log"] });
    assert.equal(byName.get("sh")!.appEnv!.PORT, "8000");
    const messages = plan.problems.map((p) => `${p.workload}: ${p.message}`);
    assert.ok(messages.some((m) => /^default\/typo: metadata\.annotations\["tsmesh\.io\/command"\]: unknown variable \$PROT at column 14; up provides \$HOST \$PORT \$PORTS \$NAME \$NAMESPACE/.test(m)), messages.join("\n"));
    assert.ok(messages.some((m) => /^default\/yes: metadata\.annotations\["tsmesh\.io\/shell"\]: tsmesh\.io\/shell must be "true" or "false", not "yes"/.test(m)), messages.join("\n"));
    // The app of a rejected command does not run; its sidecar does.
    assert.equal(byName.get("typo")!.command, undefined);
    // A change between shell and no shell restarts the app.
    const plain = planMesh({ workloadEntries: [we("sh", "127.0.9.3", { app: "web" }, { "tsmesh.io/command": "serve --port $PORT | tee log" })], serviceEntries: [se], gateways: [] }).workloads[0];
    assert.ok(!sameWorkload(byName.get("sh")!, plain));
  });

  it("sameWorkload tells a changed command or address from an unchanged workload", () => {
    const base = planMesh({ workloadEntries: [we("a", "127.0.9.1", { app: "a" }, { "tsmesh.io/command": "tsmesh app ratings" })], serviceEntries: [], gateways: [] }).workloads[0];
    const same = planMesh({ workloadEntries: [we("a", "127.0.9.1", { app: "a" }, { "tsmesh.io/command": "tsmesh app ratings" })], serviceEntries: [], gateways: [] }).workloads[0];
    const moved = planMesh({ workloadEntries: [we("a", "127.0.9.2", { app: "a" }, { "tsmesh.io/command": "tsmesh app ratings" })], serviceEntries: [], gateways: [] }).workloads[0];
    const recommanded = planMesh({ workloadEntries: [we("a", "127.0.9.1", { app: "a" }, { "tsmesh.io/command": "tsmesh app details" })], serviceEntries: [], gateways: [] }).workloads[0];
    assert.ok(sameWorkload(base, same));
    assert.ok(!sameWorkload(base, moved));
    assert.ok(!sameWorkload(base, recommanded));
  });
});
