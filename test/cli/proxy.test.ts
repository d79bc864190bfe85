// `tsmesh proxy` from a static Envoy bootstrap, as users run it: Envoy's own envoy-demo.yaml shape
// (snake_case proto JSON, listener + inline route_config + STATIC cluster), 0.0.0.0 bound to
// --ip, admin pages, a bad bootstrap reported with its field path, SIGTERM exits 0.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import { eventually } from "../e2e/helpers.js";
import { Backend, request } from "../proxy/helpers.js";

const bin = join(packageRoot(), "dist/src/cli/bin.js");
const IP = "127.0.64.1";

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
  });

  it("shows the static config and stats on the admin port", async () => {
    assert.equal((await request(`${admin}/ready`)).body, "LIVE\n");
    const dump = (await request(`${admin}/config_dump`)).body;
    assert.match(dump, /"staticClusters"/);
    assert.match(dump, /service_backend/);
    const stats = (await request(`${admin}/stats`)).body;
    assert.match(stats, /^cluster\.service_backend\.upstream_rq_total: [1-9]\d*$/m);
    assert.match(stats, /^http\.ingress_http\.downstream_rq_2xx: [1-9]\d*$/m);
  });

  it("exits 0 on SIGTERM", async () => {
    const code = new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    child.kill("SIGTERM");
    assert.equal(await code, 0);
    assert.match(stdout, /SIGTERM, draining/);
  });

  it("reports a bad bootstrap with the field's path and exits 1", () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, BOOTSTRAP.replace("connect_timeout: 0.25s", "connect_timeout: soon"));
    const r = spawnSync(process.execPath, [bin, "proxy", "router", "--bootstrap", bad, "--ip", IP, "--admin-port", "0", "--health-port", "0"], { encoding: "utf8", timeout: 10_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad\.yaml\.static_resources\.clusters\[0\]\.connect_timeout: invalid duration "soon"/);
  });
});
