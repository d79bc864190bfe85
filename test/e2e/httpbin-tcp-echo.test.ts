// The second example on a real local mesh (127.102.x.y): httpbin through the gateway and from the
// curl workload by name, Istio's TCP traffic-shifting task (tcp-echo through the gateway's port
// 31400, all to v1, then 80/20), and a Sidecar egress listener with bind/port/captureMode NONE giving
// a client that knows nothing of proxies a local port for tcp-echo.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import { processesUsing } from "../helpers/leftovers.js";
import { TestMesh } from "../helpers/mesh.js";
import { binomialRange } from "../helpers/binomial.js";
import { echoLine as echo } from "../helpers/sockets.js";

const OCTET = 102;
const TCP_ECHO = join(packageRoot(), "samples/tcp-echo");

describe("httpbin and tcp-echo on tsmesh up", { timeout: 120_000 }, () => {
  let mesh: TestMesh;
  before(async () => {
    mesh = await TestMesh.start({ example: "httpbin-tcp-echo", octet: OCTET });
  });
  after(async () => {
    await mesh?.stop();
  });

  it("httpbin answers through the gateway (Istio's httpbin-gateway.yaml: port 80 → the gateway's 8080)", async () => {
    assert.equal(mesh.gatewayUrl, `http://127.${OCTET}.1.1:8080`);
    const r = await mesh.gateway("/headers", { headers: { host: "httpbin.example.com" } });
    assert.equal(r.status, 200);
    const headers = (JSON.parse(r.body) as { headers: Record<string, string[]> }).headers;
    assert.ok(headers["X-Request-Id"]?.[0], "the gateway added x-request-id");
    assert.deepEqual(headers["Host"], ["httpbin.example.com"]);
  });

  it("the curl workload reaches httpbin by name through its sidecar", async () => {
    const r = await mesh.fromWorkload("curl", "http://httpbin:8000/status/418");
    assert.equal(r.status, 418);
    const stats = await mesh.stats("curl");
    assert.ok((stats.get("cluster.outbound|8000||httpbin.default.svc.cluster.local.upstream_rq_total") ?? 0) >= 1);
  });

  it("TCP traffic shifting: tcp-echo-all-v1.yaml sends everything to v1 (\"one\")", async () => {
    await mesh.apply(join(TCP_ECHO, "tcp-echo-all-v1.yaml"));
    const answers = new Set<string>();
    for (let i = 0; i < 10; i++) answers.add(await echo(`127.${OCTET}.1.1`, 31400, `hello ${i}`).then((a) => a.split(" ")[0]));
    assert.deepEqual([...answers], ["one"]);
  });

  it("TCP traffic shifting: tcp-echo-20-v2.yaml sends about 20% to v2 (\"two\")", async () => {
    await mesh.apply(join(TCP_ECHO, "tcp-echo-20-v2.yaml"));
    // 20% of 200 connections, within the exact binomial range (chance alone fails it below 1e-9).
    let two = 0;
    for (let i = 0; i < 200; i++) if ((await echo(`127.${OCTET}.1.1`, 31400, "hello")).startsWith("two ")) two++;
    const [lo, hi] = binomialRange(200, 0.2);
    assert.ok(two >= lo && two <= hi, `${two} of 200 to v2, expected ${lo}..${hi}`);
  });

  it("a Sidecar egress listener (bind, port, captureMode NONE) gives a plain TCP client a local port for tcp-echo", async () => {
    await mesh.apply(`apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: curl
  namespace: default
spec:
  workloadSelector:
    labels:
      app: curl
  egress:
  - port:
      number: 9000
      protocol: TCP
      name: tcp
    bind: 127.0.7.1
    captureMode: NONE
    hosts:
    - ./tcp-echo.default.svc.cluster.local
  - hosts:
    - "./*"
`);
    // Until both versions answered (40 connections miss one with probability 2·2^-40).
    const answers = new Set<string>();
    for (let i = 0; i < 40 && answers.size < 2; i++) answers.add((await echo(`127.${OCTET}.7.1`, 9000, "hello")).split(" ")[0]);
    // Mesh traffic is not bound to the gateway's VirtualService: both versions answer.
    assert.deepEqual([...answers].sort(), ["one", "two"]);
  });

  it("a WorkloadEntry added live starts its sidecar and app, and serves; removed, it stops", async () => {
    const v3 = `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: httpbin-v3
  namespace: default
  annotations:
    tsmesh.io/command: "HTTPBIN_VERSION=v3 tsmesh app httpbin"
spec:
  address: 127.0.5.3
  labels:
    app: httpbin
    version: v3
  ports:
    http: 8080
  serviceAccount: httpbin
`;
    await mesh.apply(v3);
    const deadline = Date.now() + 20_000;
    while (mesh.mesh.workload("httpbin-v3")?.readyAfterMs === undefined) {
      assert.ok(Date.now() < deadline, "httpbin-v3 became ready");
      await new Promise((r) => setTimeout(r, 50));
    }
    await mesh.mesh.converged();
    // Istio's default LEAST_REQUEST picks among idle hosts at random: 12 calls miss one of three
    // hosts 2.3% of the time, 60 calls 3·(2/3)^60 ≈ 1e-10. Stop as soon as all three answered.
    const versions = new Set<string>();
    for (let i = 0; i < 60 && versions.size < 3; i++) {
      const r = await mesh.fromWorkload("curl", "http://httpbin:8000/get");
      versions.add(String(r.headers["x-httpbin-version"]));
    }
    assert.deepEqual([...versions].sort(), ["v1", "v2", "v3"]);
    const pids = [mesh.mesh.workload("httpbin-v3")!.proxy.pid, mesh.mesh.workload("httpbin-v3")!.app!.pid];
    await mesh.delete(v3);
    const gone = Date.now() + 15_000;
    while (mesh.mesh.workload("httpbin-v3") || processesUsing(pids.filter((p): p is number => p !== undefined)).length > 0) {
      assert.ok(Date.now() < gone, "httpbin-v3 stopped");
      await new Promise((r) => setTimeout(r, 50));
    }
  });
});

