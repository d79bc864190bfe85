// `tsmesh proxy` as users run it, on what it opens and what it prints: a static bootstrap's proxy
// has its admin on the bootstrap's admin.address (IP and port, not --ip) and no port the bootstrap
// does not name (no 15000 on --ip, no 15021), while the usual sidecar keeps 15000 and 15021; log
// levels set by flags, and by /logging at run time reaching every --concurrency worker, including
// one started after the change.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import { canConnect } from "../../src/local/mesh.js";
import { eventually } from "../helpers/eventually.js";
import { Backend, request } from "../proxy/helpers.js";

const bin = join(packageRoot(), "dist/src/cli/bin.js");
const IP = "127.0.144.1";
const ADMIN_IP = "127.0.144.2";
const BACKEND_IP = "127.0.144.3";
const SIDECAR_IP = "127.0.144.5";

/** One HTTP listener (0.0.0.0:10000, bound on --ip) routing to the backend, and `admin` as given (JSON: Envoy reads either). */
function bootstrap(admin?: { address: string; port: number }): string {
  const hcm = {
    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    stat_prefix: "ingress_http",
    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
    route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }] }] },
  };
  const endpoint = { address: { socket_address: { address: BACKEND_IP, port_value: 8080 } } };
  return JSON.stringify({
    ...(admin ? { admin: { address: { socket_address: { address: admin.address, port_value: admin.port } } } } : {}),
    static_resources: {
      listeners: [{ name: "listener_0", address: { socket_address: { address: "0.0.0.0", port_value: 10000 } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: hcm }] }] }],
      clusters: [{ name: "backend", type: "STATIC", connect_timeout: "1s", load_assignment: { cluster_name: "backend", endpoints: [{ lb_endpoints: [{ endpoint }] }] } }],
    },
  });
}

class Proxy {
  stdout = "";
  stderr = "";
  readonly child: ChildProcessWithoutNullStreams;
  constructor(args: string[]) {
    this.child = spawn(process.execPath, [bin, "proxy", ...args]);
    this.child.stdout.on("data", (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr.on("data", (d: Buffer) => (this.stderr += d.toString()));
  }
  /** stderr lines from `mark` (a length of stderr) on. */
  linesSince(mark: number): string[] {
    return this.stderr.slice(mark).split("\n").filter(Boolean);
  }
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGTERM");
    const t = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(t);
  }
}

/** The pid in a log line's prefix: `[time][pid][level][logger] …`. */
const pidOf = (line: string) => Number(/^\[[^\]]+\]\[(\d+)\]/.exec(line)?.[1]);

describe("tsmesh proxy --bootstrap: admin on admin.address, only the bootstrap's ports; /logging reaches the workers", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-proxy-admin-"));
  const ADMIN = `http://${ADMIN_IP}:19000`;
  let backend: Backend;
  let proxy: Proxy;
  const post = (path: string) => request(`${ADMIN}${path}`, { method: "POST" });
  const workers = async () => (JSON.parse((await request(`${ADMIN}/server_info`)).body) as { workers: number[] }).workers;
  /** Enough requests that node:cluster's round robin gives every worker some. */
  const traffic = async (n = 8) => {
    for (let i = 0; i < n; i++) assert.equal((await request(`http://${IP}:10000/x${i}`)).status, 200);
  };

  before(async () => {
    backend = await Backend.start("backend", BACKEND_IP, 8080);
    writeFileSync(join(dir, "envoy.yaml"), bootstrap({ address: ADMIN_IP, port: 19000 }));
    proxy = new Proxy(["router", "--bootstrap", join(dir, "envoy.yaml"), "--ip", IP, "--access-log", "off", "--concurrency", "2"]);
    await eventually("ready", async () => (await request(`${ADMIN}/ready`).catch(() => undefined))?.status === 200, 20_000);
  });
  after(async () => {
    await proxy.stop();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves admin on the bootstrap's IP and port, and opens nothing else but the bootstrap's listener", async () => {
    await traffic(2);
    assert.match(proxy.stdout, /admin http:\/\/127\.0\.144\.2:19000, no health port/);
    assert.equal(await canConnect(ADMIN_IP, 19000), true);
    assert.equal(await canConnect(IP, 19000), false, "not on --ip");
    assert.equal(await canConnect(IP, 15000), false, "no default admin port");
    assert.equal(await canConnect(IP, 15021), false, "no health port: the bootstrap names none");
    assert.equal(await canConnect(ADMIN_IP, 15021), false);
    assert.equal(await canConnect(ADMIN_IP, 10000), false, "the listener binds --ip");
  });

  it("POST /logging?level=debug: debug lines from every worker; ?level=error: info and debug lines stop; a new worker starts at the current levels", async () => {
    const pids = await workers();
    assert.equal(pids.length, 2);
    let mark = proxy.stderr.length;
    await traffic();
    assert.deepEqual(proxy.linesSince(mark).filter((l) => l.includes("[debug]")), [], "info by default");

    /** Sends traffic until every worker in `want` wrote a conn_handler debug line after `from`. */
    const debugFromAll = (from: number, want: number[]) =>
      eventually(`conn_handler debug lines from workers ${want.join(", ")}`, async () => {
        await traffic(4);
        const ls = proxy.linesSince(from).filter((l) => /\[debug\]\[conn_handler\] listener 'listener_0': new connection from /.test(l));
        return want.every((p) => ls.some((l) => pidOf(l) === p)) ? ls : undefined;
      });

    assert.equal((await post("/logging?level=debug")).status, 200);
    mark = proxy.stderr.length;
    const debug = await debugFromAll(mark, pids);
    assert.ok(debug.every((l) => pids.includes(pidOf(l))), "connections are the workers'");

    // A worker that replaces a dead one starts at the levels of the moment: its listener manager's
    // debug line as it binds (at the default, info, there would be none).
    const replaced = async (dead: number) =>
      eventually("a replacement worker", async () => {
        const w = await workers();
        return w.length === 2 && !w.includes(dead) ? w.find((p) => !pids.includes(p)) : undefined;
      }, 20_000);
    mark = proxy.stderr.length;
    process.kill(pids[0], "SIGKILL");
    const third = await replaced(pids[0]);
    await eventually("the new worker's start-up debug line", () => proxy.linesSince(mark).some((l) => pidOf(l) === third && /\[debug\]\[config\] listener 'listener_0' added, listening on 127\.0\.144\.1:10000/.test(l)));
    assert.ok(proxy.linesSince(mark).some((l) => new RegExp(`\\[warning\\]\\[main\\] worker ${pids[0]} exited \\(SIGKILL\\); starting another$`).test(l)), "the primary's warning");

    const before = proxy.stderr.length;
    assert.equal((await post("/logging?level=error")).status, 200);
    // The change itself is logged (at info, before it applies, as Envoy): wait for that line, which
    // reaches this process's pipe whenever it does, before watching for lines below error.
    await eventually("the level change's own line", () => proxy.linesSince(before).some((l) => l.includes("log level of every logger: error")));
    mark = proxy.stderr.length;
    const errorMark = mark;
    // The admin's info line about a change, a worker dying (the primary's warning), a new worker
    // binding (its debug line), traffic: nothing below error.
    assert.equal((await post("/logging?misc=error")).status, 200);
    process.kill(pids[1], "SIGKILL");
    const fourth = await replaced(pids[1]);
    await traffic(16);
    assert.deepEqual(proxy.linesSince(mark).filter((l) => /\]\[(trace|debug|info|warning)\]\[/.test(l)), []);

    // One logger back to debug: both replacement workers follow.
    assert.equal((await post("/logging?conn_handler=debug")).status, 200);
    mark = proxy.stderr.length;
    await debugFromAll(mark, [third!, fourth!]);
    assert.ok(proxy.linesSince(mark).every((l) => l.includes("[debug][conn_handler]")), proxy.linesSince(mark).join("\n"));
    // The fourth worker is serving, so it has bound: at error from its start, it wrote no debug line then.
    assert.ok(!proxy.linesSince(errorMark).some((l) => pidOf(l) === fourth && l.includes("[debug][config]")));
  });

  it("a GET on a state-changing endpoint is 405 and changes nothing in the workers", async () => {
    const r = await request(`${ADMIN}/drain_listeners`);
    assert.deepEqual([r.status, r.body], [405, "Method GET not allowed, POST required."]);
    await traffic(4);
    assert.equal((await post("/drain_listeners")).status, 200);
    await eventually("the workers stopped listening", async () => !(await canConnect(IP, 10000)));
  });
});

describe("tsmesh proxy: the usual sidecar keeps admin on IP:15000 and health on IP:15021", () => {
  let proxy: Proxy;
  before(() => {
    // A control plane that is not there: the sidecar stays unready, its ports open.
    proxy = new Proxy(["sidecar", "--ip", SIDECAR_IP, "--name", "app", "--discovery-address", `${SIDECAR_IP}:1`, "--access-log", "off", "--concurrency", "1"]);
  });
  after(async () => {
    await proxy.stop();
  });

  it("answers on 15000 and 15021 of its --ip", async () => {
    const ready = await eventually("admin up", () => request(`http://${SIDECAR_IP}:15000/ready`).catch(() => undefined), 20_000);
    assert.deepEqual([ready.status, ready.body], [503, "PRE_INITIALIZING\n"]);
    assert.equal((await request(`http://${SIDECAR_IP}:15021/healthz/ready`)).status, 503);
    assert.match(proxy.stdout, /admin http:\/\/127\.0\.144\.5:15000, health http:\/\/127\.0\.144\.5:15021\/healthz\/ready, xDS from 127\.0\.144\.5:1/);
  });

  it("serves Istio's 15090 and the agent's 15020 metrics on its --ip", async () => {
    assert.match(proxy.stdout, /metrics http:\/\/127\.0\.144\.5:15090\/stats\/prometheus, merged metrics http:\/\/127\.0\.144\.5:15020\/stats\/prometheus/);
    for (const port of [15090, 15020]) {
      const r = await request(`http://${SIDECAR_IP}:${port}/stats/prometheus`);
      assert.equal(r.status, 200, `${port}`);
      assert.match(r.body, /^# TYPE envoy_/m, `${port}: the proxy's stats`);
    }
    assert.equal((await request(`http://${SIDECAR_IP}:15020/healthz/ready`)).status, 503);
  });
});

describe("tsmesh proxy --log-level / --component-log-level", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-proxy-loglevel-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("set the loggers from the start (debug lines of the listener manager as it starts)", async () => {
    writeFileSync(join(dir, "envoy.yaml"), bootstrap({ address: "127.0.144.6", port: 0 }));
    const p = new Proxy(["router", "--bootstrap", join(dir, "envoy.yaml"), "--ip", "127.0.144.7", "--access-log", "off", "--concurrency", "1", "--log-level", "warning", "--component-log-level", "config:debug"]);
    try {
      await eventually("started", () => /admin http:\/\/127\.0\.144\.6:\d+/.test(p.stdout), 20_000);
      await eventually("the listener manager's debug line", () => /\[debug\]\[config\] listener 'listener_0' added, listening on 127\.0\.144\.7:10000 \(1 filter chain\(s\)\)/.test(p.stderr));
      const admin = /admin (http:\/\/[\d.]+:\d+)/.exec(p.stdout)![1];
      const levels = (await request(`${admin}/logging`, { method: "POST" })).body;
      assert.match(levels, /^ {2}admin: warning\n {2}config: debug\n {2}conn_handler: warning\n/m);
      assert.ok(!/\[info\]/.test(p.stderr), p.stderr);
    } finally {
      await p.stop();
    }
  });

  it("refuse an unknown level or logger, naming the flag", () => {
    for (const [flags, want] of [
      [["--log-level", "loud"], /--log-level: unknown level "loud"/],
      [["--component-log-level", "nope:debug"], /--component-log-level: unknown logger name \(loggers: admin, config, conn_handler, main, misc, rbac, secret, upstream\)/],
      [["--component-log-level", "config"], /--component-log-level: empty logger name or empty logger level/],
    ] as const) {
      const r = spawnSync(process.execPath, [bin, "proxy", "router", "--ip", "127.0.144.8", "--discovery-address", "127.0.144.8:1", ...flags], { encoding: "utf8", timeout: 10_000 });
      assert.equal(r.status, 1, flags.join(" "));
      assert.match(r.stderr, want);
    }
  });
});
