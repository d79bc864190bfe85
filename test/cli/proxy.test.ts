// `tsmesh proxy` from a static Envoy bootstrap, as users run it: Envoy's own envoy-demo.yaml shape
// (snake_case proto JSON, listener + inline route_config + STATIC cluster), 0.0.0.0 bound to
// --ip, admin pages, a bad bootstrap reported with its field path, SIGTERM exits 0.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Discovery } from "../../src/controlplane/discovery.js";
import { packageRoot } from "../../src/core/paths.js";
import { eventually } from "../helpers/eventually.js";
import { Backend, request } from "../proxy/helpers.js";

const bin = join(packageRoot(), "dist/src/cli/bin.js");
const IP = "127.0.64.1";
const readText = (file: string) => (existsSync(file) ? readFileSync(file, "utf8") : "");

const BOOTSTRAP = `
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
            name: local_route
            virtual_hosts:
            - name: local_service
              domains: ["*"]
              routes:
              - match: { prefix: "/hello" }
                direct_response: { status: 200, body: { inline_string: "hello from the bootstrap" } }
              - match: { prefix: "/" }
                route:
                  host_rewrite_literal: www.example.internal
                  cluster: service_backend
                  timeout: 2s
  clusters:
  - name: service_backend
    type: STATIC
    connect_timeout: 0.25s
    lb_policy: ROUND_ROBIN
    load_assignment:
      cluster_name: service_backend
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.64.2, port_value: 8080 }
`;

describe("tsmesh proxy --bootstrap (static Envoy config)", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-proxy-cli-"));
  let child: ChildProcessWithoutNullStreams;
  let stdout = "";
  let stderr = "";
  let backend: Backend;
  let admin = "";

  before(async () => {
    backend = await Backend.start("backend", "127.0.64.2", 8080);
    writeFileSync(join(dir, "envoy-demo.yaml"), BOOTSTRAP);
    child = spawn(process.execPath, [bin, "proxy", "router", "--bootstrap", join(dir, "envoy-demo.yaml"), "--ip", IP, "--admin-port", "0", "--health-port", "0", "--access-log", join(dir, "access.log")]);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    admin = await eventually("admin address", () => /admin (http:\/\/[\d.]+:\d+)/.exec(stdout)?.[1], 10_000);
  });
  after(async () => {
    if (child.exitCode === null) child.kill("SIGKILL");
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves the bootstrap's listener on --ip: direct response and a STATIC cluster with host rewrite", async () => {
    const hello = await request(`http://${IP}:10000/hello`);
    assert.equal(hello.status, 200);
    assert.equal(hello.body, "hello from the bootstrap");
    const r = await request(`http://${IP}:10000/api?x=1`);
    assert.equal(r.status, 200, stderr);
    assert.equal(r.body, "backend");
    assert.equal(backend.seen.at(-1)!.headers.host, "www.example.internal");
    assert.equal(backend.seen.at(-1)!.url, "/api?x=1");
    // --access-log FILE: the listener names no access_log, so its requests go to the default log
    // there, in Envoy's default format — and not to stdout.
    await eventually("the access-log line", () => /"GET \/api\?x=1 HTTP\/1\.1" 200 /.test(readText(join(dir, "access.log"))));
    assert.doesNotMatch(stdout, /"GET \//);
  });

  it("shows the static config and stats on the admin port", async () => {
    assert.equal((await request(`${admin}/ready`)).body, "LIVE\n");
    const dump = (await request(`${admin}/config_dump`)).body;
    assert.match(dump, /"static_clusters"/);
    assert.match(dump, /service_backend/);
    const stats = (await request(`${admin}/stats`)).body;
    assert.match(stats, /^cluster\.service_backend\.upstream_rq_total: [1-9]\d*$/m);
    assert.match(stats, /^http\.ingress_http\.downstream_rq_2xx: [1-9]\d*$/m);
  });

  let workerPids: number[] = [];
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  it("runs --concurrency workers (default 2) that share the listener; a crashed worker is replaced", async () => {
    const info = JSON.parse((await request(`${admin}/server_info`)).body) as { command_line_options: { concurrency: number }; workers: number[] };
    assert.equal(info.command_line_options.concurrency, 2);
    assert.equal(info.workers.length, 2);
    process.kill(info.workers[0], "SIGKILL");
    // (A connection the primary hands to the worker in the instant it dies is lost with it, as a
    // crashed Envoy worker's would be; once the primary has seen the exit, traffic flows.)
    workerPids = await eventually("a replacement worker", async () => {
      const now = JSON.parse((await request(`${admin}/server_info`)).body) as { workers: number[] };
      return now.workers.length === 2 && !now.workers.includes(info.workers[0]) ? now.workers : undefined;
    });
    for (let i = 0; i < 10; i++) assert.equal((await request(`http://${IP}:10000/hello`)).status, 200);
    // Stats are process-wide: every worker's requests are counted.
    const before = Number(/^http\.ingress_http\.downstream_rq_total: (\d+)$/m.exec((await request(`${admin}/stats`)).body)?.[1]);
    for (let i = 0; i < 20; i++) await request(`http://${IP}:10000/hello`);
    const after = Number(/^http\.ingress_http\.downstream_rq_total: (\d+)$/m.exec((await request(`${admin}/stats`)).body)?.[1]);
    assert.equal(after - before, 20);
  });

  it("exits 0 on SIGTERM, with its workers", async () => {
    const code = new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    child.kill("SIGTERM");
    assert.equal(await code, 0);
    assert.match(stdout, /SIGTERM, draining/);
    await eventually("workers gone", () => workerPids.every((p) => !alive(p)));
  });

  it("reports a bad bootstrap with the field's path and exits 1", () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, BOOTSTRAP.replace("connect_timeout: 0.25s", "connect_timeout: soon"));
    const r = spawnSync(process.execPath, [bin, "proxy", "router", "--bootstrap", bad, "--ip", IP, "--admin-port", "0", "--health-port", "0"], { encoding: "utf8", timeout: 10_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad\.yaml\.static_resources\.clusters\[0\]\.connect_timeout: invalid duration "soon"/);
  });
});

/** A web ServiceEntry behind an ingress Gateway, routed (all, or only `path`) by a VirtualService. */
const gatewayMesh = (endpoint: string, path?: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: default}
spec:
  hosts: [web.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  endpoints: [{address: ${endpoint}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: ["*"]
  gateways: [gw]
  http: [{${path ? `match: [{uri: {prefix: ${path}}}], ` : ""}route: [{destination: {host: web.default.svc.cluster.local}}]}]
`;

describe("tsmesh proxy --concurrency 2 with a control plane", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-proxy-workers-"));
  const GW = "127.0.64.11";
  let discovery: Discovery;
  let child: ChildProcessWithoutNullStreams;
  let out = "";
  const backends: Backend[] = [];

  before(async () => {
    backends.push(await Backend.start("web", "127.0.64.12", 8080));
    writeFileSync(join(dir, "mesh.yaml"), gatewayMesh("127.0.64.12", "/one"));
    discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", log: () => {} });
    const { xdsPort } = await discovery.start();
    child = spawn(process.execPath, [
      bin, "proxy", "router", "--discovery-address", `127.0.0.1:${xdsPort}`, "--ip", GW, "--name", "gw", "--namespace", "default",
      "--labels", "istio=ingressgateway", "--admin-port", "0", "--health-port", "0", "--access-log", "off", "--concurrency", "2",
    ]);
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    await eventually("workers up", () => /\(2 workers\)/.test(out) && /admin http/.test(out), 15_000);
  });
  after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    await discovery.close();
    for (const b of backends) await b.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("every worker serves the ADS config, and a change reaches them all", async () => {
    await eventually("routed", async () => (await request(`http://${GW}:8080/one`)).status === 200, 10_000);
    for (let i = 0; i < 10; i++) assert.equal((await request(`http://${GW}:8080/one`)).body, "web");
    writeFileSync(join(dir, ".mesh.tmp"), gatewayMesh("127.0.64.12", "/two"));
    renameSync(join(dir, ".mesh.tmp"), join(dir, "mesh.yaml"));
    await eventually("new route on every worker", async () => {
      for (let i = 0; i < 10; i++) if ((await request(`http://${GW}:8080/two`)).status !== 200) return false;
      return true;
    });
    for (let i = 0; i < 10; i++) assert.equal((await request(`http://${GW}:8080/one`)).status, 404);
    // Config changes are logged once, by the primary (it holds the ADS stream), as Envoy's main thread does.
    const lds = out.split("\n").filter((l) => /\[info\]\[upstream\] lds: add\/update listener '0\.0\.0\.0_8080'$/.test(l));
    assert.ok(lds.length >= 1, out);
    assert.deepEqual([...new Set(lds.map((l) => Number(/^\[[^\]]+\]\[(\d+)\]/.exec(l)?.[1])))], [child.pid]);
    assert.match(out, new RegExp(`\\]\\[${child.pid}\\]\\[info\\]\\[upstream\\] cds: add \\d+ cluster\\(s\\), remove 0 cluster\\(s\\)`));
  });
});

describe("tsmesh proxy --bootstrap with dynamic_resources (ADS through the xds-grpc cluster)", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-proxy-dyn-"));
  const GW = "127.0.64.31";
  const ADMIN_IP = "127.0.64.33";
  let discovery: Discovery;
  let child: ChildProcessWithoutNullStreams;
  let backend: Backend;
  let out = "";

  before(async () => {
    backend = await Backend.start("dyn-web", "127.0.64.32", 8080);
    writeFileSync(join(dir, "mesh.yaml"), gatewayMesh("127.0.64.32"));
    discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", log: () => {} });
    const { xdsPort } = await discovery.start();
    // Istio's bootstrap shape: node identity and labels in the bootstrap, ADS over a static cluster.
    writeFileSync(
      join(dir, "bootstrap.yaml"),
      `node:
  id: router~${GW}~gw-boot.default~default.svc.cluster.local
  cluster: gw-boot.default
  metadata:
    NAMESPACE: default
    LABELS: {istio: ingressgateway}
admin:
  address: {socket_address: {address: ${ADMIN_IP}, port_value: 19071}}
dynamic_resources:
  lds_config: {ads: {}, resource_api_version: V3}
  cds_config: {ads: {}, resource_api_version: V3}
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    grpc_services:
    - envoy_grpc: {cluster_name: xds-grpc}
static_resources:
  clusters:
  - name: xds-grpc
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
    load_assignment:
      cluster_name: xds-grpc
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: ${xdsPort}}}}
`,
    );
    // No --access-log: as Istio's proxies with mesh config accessLogFile empty, no access log at all.
    child = spawn(process.execPath, [bin, "proxy", "router", "--bootstrap", join(dir, "bootstrap.yaml"), "--ip", GW, "--health-port", "0", "--concurrency", "1"]);
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    await eventually("ready", () => /ready \(clusters and listeners warm\)/.test(out), 15_000);
  });
  after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    await discovery.close();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("takes the ADS address, SotW variant, node and admin address from the bootstrap and serves the pushed config", async () => {
    assert.match(out, /xDS from 127\.0\.0\.1:\d+/);
    assert.match(out, /admin http:\/\/127\.0\.64\.33:19071/);
    assert.match(out, /connected to 127\.0\.0\.1:\d+ \(sotw\)/);
    // The Gateway's selector matched the bootstrap's LABELS, so its listener and route came over ADS.
    await eventually("routed", async () => (await request(`http://${GW}:8080/x`)).status === 200, 10_000);
    assert.equal((await request(`http://${GW}:8080/x`)).body, "dyn-web");
    await assert.rejects(fetch(`http://${GW}:19071/ready`), "the admin is on the bootstrap's IP, not --ip");
    const dump = (await (await fetch(`http://${ADMIN_IP}:19071/config_dump`)).json()) as { configs: Array<{ bootstrap?: { node?: { id?: string; cluster?: string; metadata?: Record<string, unknown> } } }> };
    const node = dump.configs.find((c) => c.bootstrap)?.bootstrap?.node;
    assert.equal(node?.id, `router~${GW}~gw-boot.default~default.svc.cluster.local`);
    assert.equal(node?.cluster, "gw-boot.default");
    assert.deepEqual(node?.metadata?.LABELS, { istio: "ingressgateway" });
  });

  it("writes no access-log line when neither its config nor --access-log asks for one (stdout read to the exit)", async () => {
    assert.equal((await request(`http://${GW}:8080/no-log`)).status, 200);
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
    assert.match(out, /SIGTERM, draining/);
    assert.doesNotMatch(out, /"GET \/(x|no-log) HTTP/);
  });

  it("rejects config sources other than ADS with the field's path", () => {
    const bad = join(dir, "bad-dyn.yaml");
    writeFileSync(bad, "dynamic_resources:\n  lds_config: {path_config_source: {path: /etc/lds.yaml}}\n");
    const r = spawnSync(process.execPath, [bin, "proxy", "router", "--bootstrap", bad, "--ip", GW, "--admin-port", "0", "--health-port", "0"], { encoding: "utf8", timeout: 10_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad-dyn\.yaml\.dynamic_resources\.lds_config: only ADS config sources are supported/);
    writeFileSync(bad, "dynamic_resources:\n  ads_config: {api_type: GRPC, grpc_services: [{envoy_grpc: {cluster_name: nowhere}}]}\n");
    const r2 = spawnSync(process.execPath, [bin, "proxy", "router", "--bootstrap", bad, "--ip", GW, "--admin-port", "0", "--health-port", "0"], { encoding: "utf8", timeout: 10_000 });
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /cluster_name: no static cluster named "nowhere"/);
  });
});
