import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bindFailureLine, changeLine, failureReport, formatDelay, readyLine, workloadOwner } from "../../src/local/console-lines.js";
import type { CrashReport } from "../../src/local/supervisor.js";

describe("up's console lines", () => {
  it("one line per changed resource, in kubectl's words", () => {
    const table: Array<[Parameters<typeof changeLine>[0], string]> = [
      [{ type: "added", kind: "VirtualService", namespace: "default", name: "reviews" }, "virtualservice default/reviews created"],
      [{ type: "updated", kind: "DestinationRule", namespace: "bookinfo", name: "reviews" }, "destinationrule bookinfo/reviews configured"],
      [{ type: "deleted", kind: "WorkloadEntry", namespace: "default", name: "ratings-v1" }, "workloadentry default/ratings-v1 deleted"],
      [{ type: "updated", kind: "ConfigMap", namespace: "istio-system", name: "istio" }, "configmap istio-system/istio configured"],
      [{ type: "added", kind: "KubernetesGateway", namespace: "default", name: "bookinfo-gateway" }, "gateway.gateway.networking.k8s.io default/bookinfo-gateway created"],
      [{ type: "added", kind: "HTTPRoute", namespace: "default", name: "bookinfo" }, "httproute default/bookinfo created"],
    ];
    for (const [c, line] of table) assert.equal(changeLine(c), line);
  });

  it("delays read as a person would say them", () => {
    const table: Array<[number, string]> = [[200, "0.2 s"], [10_000, "10 s"], [20_000, "20 s"], [160_000, "160 s"], [300_000, "5 min"], [1250, "1.3 s"]];
    for (const [ms, text] of table) assert.equal(formatDelay(ms), text, String(ms));
  });

  it("ready lines count from the workload's own launch", () => {
    assert.equal(readyLine("sidecar+app", "default/reviews-v2", "127.0.4.2", 1234), `ready  sidecar+app ${"default/reviews-v2".padEnd(36)} ${"127.0.4.2".padEnd(15)} 1.23 s`);
    assert.match(readyLine("gateway", "istio-system/gw", "127.0.1.1", "recovered"), /^ready {2}gateway {5}istio-system\/gw +127\.0\.1\.1 +recovered$/);
  });

  it("a crash loop is reported once; a different failure again, naming the one before; after recovery, anew", () => {
    const crash = (o: Partial<CrashReport>): CrashReport => ({ name: "web app", streak: 1, failed: false, code: 3, signal: null, tail: ["starting", "fatal: no db"], restartInMs: 10_000, restarts: 1, ...o });
    const first = failureReport(undefined, crash({}), "/logs/default.web.app.log", 30_000);
    assert.equal(first.failure, "web app exited (code 3)");
    assert.equal(
      first.text,
      [
        "web app exited (code 3); restart in 10 s (backoff doubling to 5 min); the rest of the mesh keeps serving. Last lines of /logs/default.web.app.log:",
        "    starting",
        "    fatal: no db",
        "    (further restarts are not reported until it recovers or fails differently; edit its WorkloadEntry to restart it now)",
      ].join("\n"),
    );
    const again = failureReport(first.failure, crash({ streak: 2, restartInMs: 20_000, restarts: 2 }), "/logs/default.web.app.log", 30_000);
    assert.deepEqual(again, { failure: "web app exited (code 3)" });
    const hung = failureReport(again.failure, crash({ failed: true, code: null, signal: "SIGKILL", tail: ["listening nowhere"] }), "/logs/default.web.app.log", 30_000);
    assert.equal(hung.failure, "web app not ready after 30 s");
    assert.equal(hung.text, "web app not ready after 30 s (before: web app exited (code 3)); restart in 10 s (backoff doubling to 5 min); the rest of the mesh keeps serving. Last lines of /logs/default.web.app.log:\n    listening nowhere");
    const signalled = failureReport(undefined, crash({ code: null, signal: "SIGKILL" }), "/l", 30_000);
    assert.match(signalled.text!, /^web app exited \(signal SIGKILL\); /);
  });
});

describe("up's line for a listener a proxy cannot bind", () => {
  const router = { key: "default/bookinfo-gateway-istio", name: "bookinfo-gateway-istio", namespace: "default", role: "router", labels: { "gateway.networking.k8s.io/gateway-name": "bookinfo-gateway" } };
  const at = (port: number, error: string) => ({ listener: `0.0.0.0_${port}`, address: "127.0.255.1", port, error });
  it("names the Gateway API Gateway a router was deployed for, else the gateway workload", () => {
    assert.equal(workloadOwner(router), "gateway.gateway.networking.k8s.io default/bookinfo-gateway");
    assert.equal(workloadOwner({ ...router, key: "istio-system/istio-ingressgateway", labels: { istio: "ingressgateway" } }), "gateway istio-system/istio-ingressgateway");
  });
  const table: Array<[string, ReturnType<typeof at>, string]> = [
    [
      "EACCES below 1024: the two ways out",
      at(80, "Permission denied"),
      "run tsmesh up as root or with CAP_NET_BIND_SERVICE, or let users bind them: sudo sysctl net.ipv4.ip_unprivileged_port_start=80",
    ],
    ["EADDRINUSE: who holds it", at(8080, "Address already in use"), "another process listens there (ss -ltnp 'sport = :8080')"],
    ["EADDRNOTAVAIL", at(8080, "Cannot assign requested address"), "127.0.255.1 is not an address of this machine"],
  ];
  for (const [what, f, hint] of table) {
    it(what, () => {
      const line = bindFailureLine("gateway.gateway.networking.k8s.io default/bookinfo-gateway", "router bookinfo-gateway-istio", f);
      assert.ok(line.startsWith(`gateway.gateway.networking.k8s.io default/bookinfo-gateway: router bookinfo-gateway-istio cannot listen on 127.0.255.1:${f.port}: ${f.error} — `), line);
      assert.ok(line.includes(hint), line);
      assert.ok(!line.includes("\n"));
    });
  }
  it("EACCES on an unprivileged port gives no privilege advice", () => {
    assert.ok(!bindFailureLine("o", "w", at(8080, "Permission denied")).includes("sysctl"));
  });
});
