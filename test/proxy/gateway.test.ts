// The proxy as an ingress gateway, end to end: a real Discovery (config folder, Delta ADS over
// gRPC), a real ProxyServer binding its listeners on 127.0.60.1, real HTTP backends on
// 127.0.60.x. Routing, subsets, local replies with Envoy's codes and flags, retries, timeouts,
// faults, admin pages, live config changes, and serving on after the control plane is gone.
import assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Discovery } from "../../src/controlplane/discovery.js";
import { proxyNodeId } from "../../src/model/proxy.js";
import { AdminServer } from "../../src/proxy/admin.js";
import { ProxyServer } from "../../src/proxy/proxy.js";
import { eventually } from "../helpers/eventually.js";
import { Backend, request } from "./helpers.js";

const GW_IP = "127.0.60.1";
const GW = `http://${GW_IP}:8080`;

function service(name: string, workloads: Array<[string, string, string]>): string {
  const we = workloads
    .map(
      ([wname, ip, version]) => `---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${wname}, namespace: default}
spec:
  address: ${ip}
  labels: {app: ${name}, version: ${version}}
`,
    )
    .join("");
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: default}
spec:
  hosts: [${name}.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: ${name}}}
${we}`;
}

const MESH = `${service("echo", [["echo-v1", "127.0.60.2", "v1"], ["echo-v2", "127.0.60.3", "v2"]])}---
${service("slow", [["slow-1", "127.0.60.4", "v1"]])}---
${service("flaky", [["flaky-1", "127.0.60.5", "v1"]])}---
${service("dead", [["dead-1", "127.0.60.9", "v1"]])}---
${service("shadow", [["shadow-1", "127.0.60.6", "v1"]])}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: echo.default.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
`;

function routes(echoDestinations: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: gw-routes, namespace: default}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - match: [{uri: {prefix: /v2}}]
    route: [{destination: {host: echo.default.svc.cluster.local, subset: v2}}]
  - match: [{uri: {prefix: /slow}}]
    timeout: 0.2s
    route: [{destination: {host: slow.default.svc.cluster.local}}]
  - match: [{uri: {prefix: /fault}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: echo.default.svc.cluster.local}}]
  - match: [{uri: {prefix: /flaky}}]
    retries: {attempts: 3, retryOn: 5xx, perTryTimeout: 1s}
    route: [{destination: {host: flaky.default.svc.cluster.local}}]
  - match: [{uri: {prefix: /mirror}}]
    route: [{destination: {host: echo.default.svc.cluster.local, subset: v1}}]
    mirror: {host: shadow.default.svc.cluster.local}
  - match: [{uri: {prefix: /cors}}]
    corsPolicy:
      allowOrigins: [{exact: "https://app.example.com"}]
      allowMethods: [GET, POST]
      allowHeaders: [x-custom]
      exposeHeaders: [x-backend]
      maxAge: 24h
      allowCredentials: true
    route: [{destination: {host: echo.default.svc.cluster.local, subset: v1}}]
  - match: [{uri: {prefix: /dead}}]
    route: [{destination: {host: dead.default.svc.cluster.local}}]
  - match: [{uri: {prefix: /echo}}]
    route:
${echoDestinations}
`;
}

const EXTRA_SERVER = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw-extra, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8081, name: http-extra, protocol: HTTP}
    hosts: ["*"]
`;

const BOTH = `    - {destination: {host: echo.default.svc.cluster.local, subset: v1}, weight: 50}
    - {destination: {host: echo.default.svc.cluster.local, subset: v2}, weight: 50}`;
const ONLY_V2 = `    - {destination: {host: echo.default.svc.cluster.local, subset: v2}}`;

describe("tsmesh proxy as an ingress gateway", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-proxy-gw-"));
  const logFile = join(dir, "access.log");
  let discovery: Discovery;
  let proxy: ProxyServer;
  let admin: AdminServer;
  let adminUrl = "";
  const backends: Backend[] = [];

  before(async () => {
    writeFileSync(join(dir, "mesh.yaml"), MESH);
    writeFileSync(join(dir, "routes.yaml"), routes(BOTH));
    backends.push(
      await Backend.start("echo-v1", "127.0.60.2", 8080),
      await Backend.start("echo-v2", "127.0.60.3", 8080),
      await Backend.start("slow", "127.0.60.4", 8080, { delayMs: 1000 }),
      await Backend.start("flaky", "127.0.60.5", 8080, { status: (_req, n) => (n % 3 === 0 ? 200 : 503) }),
      await Backend.start("shadow", "127.0.60.6", 8080, { status: 500 }),
    );
    discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", log: () => {} });
    const { xdsPort } = await discovery.start();
    const nodeId = proxyNodeId("router", GW_IP, "istio-ingressgateway", "default");
    proxy = new ProxyServer({
      discoveryAddress: `127.0.0.1:${xdsPort}`,
      node: { id: nodeId, metadata: { NAMESPACE: "default", LABELS: { istio: "ingressgateway" }, INTERCEPTION_MODE: "NONE" } },
      ip: GW_IP,
      accessLogPath: logFile,
      drainMs: 200,
      log: () => {},
    });
    admin = new AdminServer(proxy, { nodeId, onQuit: () => {} });
    adminUrl = `http://${GW_IP}:${await admin.listen(GW_IP, 0)}`;
    await proxy.start();
    await proxy.ready();
  });

  after(async () => {
    admin.close();
    await proxy.close();
    await discovery.close();
    for (const b of backends) await b.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("routes to both subsets by weight, with Envoy's request headers", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const r = await request(`${GW}/echo/x?q=1`, { headers: { host: "bookinfo.example.com" } });
      assert.equal(r.status, 200);
      assert.ok(r.headers["x-envoy-upstream-service-time"] !== undefined);
      seen.add(r.body);
    }
    assert.deepEqual([...seen].sort(), ["echo-v1", "echo-v2"]);
    const s = backends[0].seen.at(-1)!;
    assert.equal(s.url, "/echo/x?q=1");
    assert.equal(s.headers.host, "bookinfo.example.com");
    assert.match(String(s.headers["x-request-id"]), /^[0-9a-f-]{36}$/);
    assert.equal(s.headers["x-forwarded-proto"], "http");
  });

  it("matches routes in order: a prefix picks the v2 subset only", async () => {
    for (let i = 0; i < 10; i++) assert.equal((await request(`${GW}/v2/page`)).body, "echo-v2");
  });

  it("answers Envoy's local replies: 404 NR, 503 UF, 504 UT, fault abort FI", async () => {
    const nr = await request(`${GW}/nowhere`);
    assert.equal(nr.status, 404);
    const uf = await request(`${GW}/dead`);
    assert.equal(uf.status, 503);
    assert.match(uf.body, /^upstream connect error or disconnect\/reset before headers\. reset reason: remote connection failure/);
    const ut = await request(`${GW}/slow`);
    assert.equal(ut.status, 504);
    assert.equal(ut.body, "upstream request timeout");
    const fi = await request(`${GW}/fault`);
    assert.equal(fi.status, 418);
    assert.equal(fi.body, "fault filter abort");
    await eventually("access log lines", () => {
      const log = readFileSync(logFile, "utf8");
      return /"GET \/nowhere HTTP\/1\.1" 404 NR /.test(log) && /"GET \/dead HTTP\/1\.1" 503 UF,URX /.test(log) && /" 504 UT /.test(log) && /" 418 FI /.test(log);
    });
  });

  it("answers bad traffic with 400 and 431 and keeps serving", async () => {
    const raw = (bytes: string) =>
      new Promise<string>((resolve, reject) => {
        const s = net.connect(8080, GW_IP, () => s.end(bytes));
        let out = "";
        s.on("data", (c: Buffer) => (out += c.toString()));
        s.on("close", () => resolve(out));
        s.on("error", reject);
        s.setTimeout(3000, () => s.destroy(new Error("no answer")));
      });
    assert.match(await raw("GARBAGE\r\n\r\n"), /^HTTP\/1\.1 400 /);
    assert.match(await raw("GET /echo HTTP/1.1\r\nhost: x\r\ncontent-length: nope\r\n\r\n"), /^HTTP\/1\.1 400 /);
    assert.match(await raw(`GET /echo HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(80 * 1024)}\r\n\r\n`), /^HTTP\/1\.1 431 /);
    // A client that goes away mid-request leaves nothing behind, and the next request works.
    await new Promise<void>((resolve) => {
      const s = net.connect(8080, GW_IP, () => {
        s.write("POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\npartial");
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 50);
      });
    });
    assert.equal((await request(`${GW}/echo`)).status, 200);
  });

  it("answers CORS preflights from allowed origins itself and decorates actual responses", async () => {
    const hits = backends[0].requests;
    const pre = await request(`${GW}/cors/x`, { method: "OPTIONS", headers: { origin: "https://app.example.com", "access-control-request-method": "POST" } });
    assert.equal(pre.status, 200);
    assert.equal(pre.headers["access-control-allow-origin"], "https://app.example.com");
    assert.equal(pre.headers["access-control-allow-methods"], "GET,POST");
    assert.equal(pre.headers["access-control-allow-headers"], "x-custom");
    assert.equal(pre.headers["access-control-max-age"], "86400");
    assert.equal(pre.headers["access-control-allow-credentials"], "true");
    assert.equal(backends[0].requests, hits, "the preflight never reaches the app");
    const actual = await request(`${GW}/cors/x`, { headers: { origin: "https://app.example.com" } });
    assert.equal(actual.body, "echo-v1");
    assert.equal(actual.headers["access-control-allow-origin"], "https://app.example.com");
    assert.equal(actual.headers["access-control-expose-headers"], "x-backend");
    const other = await request(`${GW}/cors/x`, { headers: { origin: "https://evil.example.com" } });
    assert.equal(other.body, "echo-v1");
    assert.equal(other.headers["access-control-allow-origin"], undefined);
    // Istio forwards preflights from origins it does not allow (unmatchedPreflights: FORWARD).
    await request(`${GW}/cors/x`, { method: "OPTIONS", headers: { origin: "https://evil.example.com", "access-control-request-method": "POST" } });
    assert.equal(backends[0].seen.at(-1)!.method, "OPTIONS");
  });

  it("retries 5xx as the VirtualService says and counts the retries", async () => {
    const before = backends[3].requests;
    const r = await request(`${GW}/flaky`);
    assert.equal(r.status, 200);
    assert.equal(r.body, "flaky");
    assert.equal(backends[3].requests - before, 3);
    const stats = await request(`${adminUrl}/stats?filter=flaky`);
    assert.match(stats.body, /cluster\.outbound\|8080\|\|flaky\.default\.svc\.cluster\.local\.upstream_rq_retry: 2/);
  });

  it("mirrors a request to the shadow service (Host gets -shadow) without affecting the answer", async () => {
    const r = await request(`${GW}/mirror/item`, { method: "POST", headers: { host: "shop.example.com:8080", "content-type": "text/plain" }, body: "payload" });
    assert.equal(r.status, 200);
    assert.equal(r.body, "echo-v1");
    const shadow = backends[4];
    const seen = await eventually("the shadow copy", () => shadow.seen.at(-1));
    assert.equal(seen.headers.host, "shop.example.com-shadow:8080");
    assert.equal(seen.url, "/mirror/item");
    assert.equal(seen.method, "POST");
    assert.equal(seen.body, "payload");
  });

  it("serves admin pages in Envoy's shapes", async () => {
    const text = (await request(`${adminUrl}/config_dump`)).body;
    const dump = JSON.parse(text) as { configs: Array<Record<string, unknown>> };
    type Dumped = { cluster: { name: string; connect_timeout?: string }; last_updated: string; version_info: string };
    const clusters = dump.configs.find((c) => String(c["@type"]).endsWith("ClustersConfigDump")) as { dynamic_active_clusters: Dumped[] };
    const v2 = clusters.dynamic_active_clusters.find((c) => c.cluster.name === "outbound|8080|v2|echo.default.svc.cluster.local");
    // Envoy's admin prints proto field names and proto3 JSON: durations as "10s", timestamps in RFC 3339.
    assert.match(v2?.cluster.connect_timeout ?? "", /^\d+(\.\d+)?s$/);
    assert.match(v2?.last_updated ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.ok(v2?.version_info);
    for (const camel of ["dynamicActiveClusters", "typedConfig", "filterChains", "lastUpdated"]) assert.ok(!text.includes(`"${camel}"`), camel);
    const cl = (await request(`${adminUrl}/clusters`)).body;
    assert.match(cl, /^outbound\|8080\|\|echo\.default\.svc\.cluster\.local::127\.0\.60\.2:8080::health_flags::healthy$/m);
    assert.match(cl, /^outbound\|8080\|v1\|echo\.default\.svc\.cluster\.local::127\.0\.60\.2:8080::rq_success::[1-9]\d*$/m);
    const prom = (await request(`${adminUrl}/stats/prometheus`)).body;
    assert.match(prom, /^envoy_cluster_upstream_rq_total\{envoy_cluster_name="outbound\|8080\|v2\|echo\.default\.svc\.cluster\.local"\} \d+$/m);
    assert.equal((await request(`${adminUrl}/ready`)).body, "LIVE\n");
    assert.match((await request(`${adminUrl}/listeners`)).body, /^0\.0\.0\.0_8080::127\.0\.60\.1:8080$/m);
  });

  it("applies a VirtualService edit live", async () => {
    const tmp = join(dir, ".routes.yaml.tmp");
    writeFileSync(tmp, routes(ONLY_V2));
    renameSync(tmp, join(dir, "routes.yaml"));
    const echoRoute = () => {
      const rc = JSON.stringify(proxy.routeObjects.get("http.8080") ?? {});
      return rc.slice(rc.indexOf('"/echo"'));
    };
    await eventually("the store has the edit", () => {
      const vs = discovery.store.get("VirtualService", "default", "gw-routes");
      return JSON.stringify(vs?.spec).includes('"weight"') ? undefined : vs;
    });
    await eventually("the proxy has the new route", () => !echoRoute().includes("|v1|"));
    for (let i = 0; i < 20; i++) assert.equal((await request(`${GW}/echo`)).body, "echo-v2");
  });

  it("loses no request while routes and listeners change under a stream of requests", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const statuses = new Map<string, number>();
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = http.get({ host: GW_IP, port: 8080, path: "/echo", agent }, (res) => {
            let body = "";
            res.on("data", (c: Buffer) => (body += c.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          });
          req.on("error", reject);
        });
        const key = `${r.status} ${r.body}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      }
    };
    const workers = [worker(), worker(), worker(), worker()];
    const replace = (file: string, text: string) => {
      writeFileSync(join(dir, `.${file}.tmp`), text);
      renameSync(join(dir, `.${file}.tmp`), join(dir, file));
    };
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 250));
      replace("routes.yaml", routes(i % 2 === 0 ? BOTH : ONLY_V2));
      // A second Gateway server: a new listener (LDS) and new routes (RDS) appear, then go.
      replace("extra.yaml", i % 2 === 0 ? EXTRA_SERVER : "");
      const extra = i % 2 === 0;
      await eventually(`listener 8081 ${extra ? "added" : "removed"}`, () => proxy.listeners.list().some((l) => l.port === 8081) === extra);
    }
    await new Promise((r) => setTimeout(r, 400));
    stop = true;
    await Promise.all(workers);
    agent.destroy();
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    assert.ok(total > 50, `only ${total} requests`);
    for (const key of statuses.keys()) assert.match(key, /^200 echo-v[12]$/, JSON.stringify(Object.fromEntries(statuses)));
  });

  it("keeps serving the last good config when the control plane goes away", async () => {
    await discovery.close();
    await eventually("disconnected", () => !proxy.ads!.connected);
    for (let i = 0; i < 5; i++) {
      const r = await request(`${GW}/echo`);
      assert.equal(r.status, 200);
      const rc = JSON.stringify(proxy.routeObjects.get("http.8080"));
      assert.equal(r.body, "echo-v2", `${rc.slice(rc.indexOf('"/echo"') - 20, rc.indexOf('"/echo"') + 400)} ${JSON.stringify(proxy.cluster("outbound|8080|v2|echo.default.svc.cluster.local")?.hosts().map((h) => h.key))}`);
    }
  });
});
