// Envoy's admin endpoints that change state, over real sockets: they answer only POST (anything else
// is 405 with Envoy's body and changes nothing), /healthcheck/fail|ok drive readiness, /reset_counters
// zeroes counters, and /logging really changes what the proxy's loggers write.
import assert from "node:assert/strict";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../../src/core/paths.js";
import { releaseOfBuildVersion } from "../../src/core/tsmesh-version.js";
import { AdminServer } from "../../src/proxy/admin.js";
import { ProxyServer } from "../../src/proxy/proxy.js";
import { eventually } from "../helpers/eventually.js";
import { Backend, request } from "./helpers.js";
import { httpListener, prefixRoute, RawConn, staticCluster } from "./protocol-helpers.js";

const IP = "127.0.143.1";
const BACKEND_IP = "127.0.143.2";
const WEB = `http://${IP}:8080`;

/** Envoy's mutating admin endpoints (admin.cc: mutates_server_state), implemented or not. */
const MUTATING = [
  "/logging",
  "/drain_listeners",
  "/healthcheck/fail",
  "/healthcheck/ok",
  "/reset_counters",
  "/quitquitquit",
  "/cpuprofiler",
  "/heapprofiler",
  "/runtime_modify",
  "/reopen_logs",
  "/stats/recentlookups/clear",
  "/stats/recentlookups/disable",
  "/stats/recentlookups/enable",
];

describe("admin: endpoints that change state", () => {
  let backend: Backend;
  let proxy: ProxyServer;
  let admin: AdminServer;
  let adminUrl = "";
  let healthUrl = "";
  let quits = 0;
  const lines: string[] = [];
  const post = (path: string) => request(`${adminUrl}${path}`, { method: "POST" });
  const levels = async () => (await post("/logging")).body;
  /** Lines written after `mark`. */
  const since = (mark: number) => lines.slice(mark);

  before(async () => {
    backend = await Backend.start("web", BACKEND_IP, 8080);
    proxy = new ProxyServer({
      node: { id: "admin-test" },
      staticResources: { listeners: [httpListener("web", IP, 8080, [prefixRoute("/", "web")])], clusters: [staticCluster("web", BACKEND_IP, 8080)] },
      drainMs: 100,
      log: (l) => lines.push(l),
    });
    await proxy.start();
    admin = new AdminServer(proxy, { nodeId: "admin-test", onQuit: () => quits++ });
    adminUrl = `http://${IP}:${await admin.listen(IP, 0)}`;
    healthUrl = `http://${IP}:${await admin.listenHealth(IP, 0)}/healthz/ready`;
  });
  after(async () => {
    admin.close();
    await proxy.close();
    await backend.close();
  });

  it("answers only POST: GET, HEAD and PUT get 405 with Envoy's body, and nothing changes", async () => {
    assert.equal((await request(`${WEB}/x`)).status, 200);
    const before = await levels();
    const mark = lines.length;
    for (const path of MUTATING) {
      for (const method of ["GET", "PUT"]) {
        const r = await request(`${adminUrl}${path}${path === "/logging" ? "?level=debug" : ""}`, { method });
        assert.equal(r.status, 405, `${method} ${path}`);
        assert.equal(r.body, `Method ${method} not allowed, POST required.`, `${method} ${path}`);
      }
      const head = await request(`${adminUrl}${path}`, { method: "HEAD" });
      assert.equal(head.status, 405, `HEAD ${path}`);
    }
    // Each refusal is logged by the admin logger, at error.
    assert.equal(since(mark).filter((l) => /\[error\]\[admin\] admin path "\/\S+" changes state: (GET|PUT|HEAD) refused, POST required$/.test(l)).length, MUTATING.length * 3);
    assert.equal(quits, 0, "no quit");
    assert.equal(await levels(), before, "no level changed");
    assert.equal((await request(`${adminUrl}/ready`)).body, "LIVE\n");
    assert.match((await request(`${adminUrl}/listeners`)).body, /^web::127\.0\.143\.1:8080$/m);
    assert.match((await request(`${adminUrl}/stats`)).body, /^http\.web\.downstream_rq_total: [1-9]\d*$/m, "counters kept");
    // Pages that only read still answer GET.
    for (const path of ["/", "/help", "/ready", "/server_info", "/stats", "/stats/prometheus", "/clusters", "/listeners", "/config_dump"]) {
      assert.equal((await request(`${adminUrl}${path}`)).status, 200, path);
    }
  });

  it("/help lists each endpoint once, sorted, the ones that change state marked (POST); an unknown path is 404 with the list", async () => {
    const help = (await request(`${adminUrl}/help`)).body;
    assert.match(help, /^admin commands are:\n/);
    const paths = [...help.matchAll(/^ {2}(\/\S*?)( \(POST\))?: /gm)].map((m) => `${m[1]}${m[2] ?? ""}`);
    assert.deepEqual(paths, [...paths].sort());
    for (const p of ["/drain_listeners (POST)", "/healthcheck/fail (POST)", "/healthcheck/ok (POST)", "/logging (POST)", "/quitquitquit (POST)", "/reset_counters (POST)", "/ready", "/stats", "/clusters"]) assert.ok(paths.includes(p), p);
    assert.ok(!paths.some((p) => p.startsWith("/cpuprofiler")), "not implemented: not listed");
    const nf = await request(`${adminUrl}/nope`);
    assert.equal(nf.status, 404);
    assert.equal(nf.body, `invalid path. ${help}`);
  });

  it("/server_info: Envoy's ServerInfo fields, the package's release in Envoy's build-version shape", async () => {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string };
    const info = JSON.parse((await request(`${adminUrl}/server_info`)).body) as Record<string, unknown>;
    assert.equal(info.version, `0/${pkg.version}/Distribution/RELEASE/OpenSSL`);
    assert.equal(releaseOfBuildVersion(info.version as string), pkg.version, "`tsmesh version` reads the release back");
    assert.equal(info.state, "LIVE");
    assert.equal(info.hot_restart_version, "disabled");
    assert.deepEqual(info.node, { id: "admin-test" });
    assert.match(info.uptime_current_epoch as string, /^\d+s$/);
    assert.equal(info.uptime_all_epochs, info.uptime_current_epoch, "one epoch: no hot restart");
    assert.deepEqual(info.command_line_options, { concurrency: 1 });
  });

  it("/clusters?format=json: an endpoint sent without a health status reads HEALTHY (as Envoy's), health_flags healthy", async () => {
    const json = JSON.parse((await request(`${adminUrl}/clusters?format=json`)).body) as { cluster_statuses: Array<{ name: string; host_statuses: Array<{ health_status: Record<string, unknown> }> }> };
    const web = json.cluster_statuses.find((c) => c.name === "web")!;
    assert.deepEqual(web.host_statuses.map((h) => h.health_status), [{ eds_health_status: "HEALTHY" }]);
    assert.match((await request(`${adminUrl}/clusters`)).body, /^web::127\.0\.143\.2:8080::health_flags::healthy$/m);
  });

  it("releaseOfBuildVersion: the second of exactly five fields, else nothing", () => {
    const table: Array<[string, string | undefined]> = [
      ["0/0.1.0/Distribution/RELEASE/OpenSSL", "0.1.0"],
      ["6f1a2b3c/1.31.0/Clean/RELEASE/BoringSSL", "1.31.0"],
      ["tsmesh/0.1.0", undefined],
      ["a//b/c/d", undefined],
      ["a/b/c/d/e/f", undefined],
      ["", undefined],
    ];
    for (const [build, want] of table) assert.equal(releaseOfBuildVersion(build), want, build);
  });

  it("POST /healthcheck/fail: DRAINING (/ready 503, server_info, the health port); /healthcheck/ok: LIVE again", async () => {
    assert.equal((await request(healthUrl)).status, 200);
    const fail = await post("/healthcheck/fail");
    assert.deepEqual([fail.status, fail.body], [200, "OK\n"]);
    const ready = await request(`${adminUrl}/ready`);
    assert.deepEqual([ready.status, ready.body], [503, "DRAINING\n"]);
    assert.equal((JSON.parse((await request(`${adminUrl}/server_info`)).body) as { state: string }).state, "DRAINING");
    assert.equal((await request(healthUrl)).status, 503);
    assert.equal((await request(`${WEB}/still-serving`)).status, 200, "traffic still flows");
    assert.equal((await post("/healthcheck/ok")).status, 200);
    assert.deepEqual([(await request(`${adminUrl}/ready`)).status, (await request(healthUrl)).status], [200, 200]);
  });

  it("POST /reset_counters: every counter back to zero, gauges kept", async () => {
    await request(`${WEB}/count`);
    const held = await RawConn.open(IP, 8080);
    try {
      await eventually("the held connection counted", async () => /^listener\.127\.0\.143\.1_8080\.downstream_cx_active: 1$/m.test((await request(`${adminUrl}/stats`)).body));
      assert.deepEqual([(await post("/reset_counters")).status], [200]);
      const stats = (await request(`${adminUrl}/stats`)).body;
      assert.match(stats, /^http\.web\.downstream_rq_total: 0$/m);
      assert.match(stats, /^cluster\.web\.upstream_rq_total: 0$/m);
      assert.match(stats, /^listener\.127\.0\.143\.1_8080\.downstream_cx_active: 1$/m, "a gauge is a current value: kept");
    } finally {
      held.close();
    }
    await request(`${WEB}/again`);
    assert.match((await request(`${adminUrl}/stats`)).body, /^http\.web\.downstream_rq_total: 1$/m, "counting goes on from zero");
  });

  it("POST /logging lists every logger and its level, as Envoy's", async () => {
    const r = await post("/logging");
    assert.equal(r.status, 200);
    assert.equal(r.body, "active loggers:\n  admin: info\n  config: info\n  conn_handler: info\n  main: info\n  misc: info\n  rbac: info\n  secret: info\n  upstream: info\n\n");
  });

  it("POST /logging?level=debug makes debug lines appear; ?level=error makes info lines stop", async () => {
    let mark = lines.length;
    await request(`${WEB}/quiet`);
    assert.deepEqual(since(mark).filter((l) => l.includes("[debug]")), [], "no debug line at info");

    assert.equal((await post("/logging?level=debug")).status, 200);
    assert.match(await levels(), /^ {2}conn_handler: debug$/m);
    assert.ok(since(mark).some((l) => /\[info\]\[admin\] log level of every logger: debug$/.test(l)), "the change is logged at info");
    mark = lines.length;
    await request(`${WEB}/loud`);
    const debug = since(mark);
    assert.ok(debug.some((l) => /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\]\[\d+\]\[debug\]\[conn_handler\] listener 'web': new connection from 127\.\d+\.\d+\.\d+:\d+$/.test(l)), debug.join("\n"));
    assert.ok(debug.some((l) => /\[debug\]\[conn_handler\] listener 'web': connection from \S+ takes filter chain '.*' \(port 8080, raw_buffer\)$/.test(l)), debug.join("\n"));

    assert.equal((await post("/logging?level=error")).status, 200);
    mark = lines.length;
    // An info line the admin would write (a level change), traffic, a refused GET (error): only the error.
    assert.equal((await post("/logging?upstream=warning")).status, 200);
    await request(`${WEB}/after`);
    assert.equal((await request(`${adminUrl}/drain_listeners`)).status, 405);
    const after = since(mark);
    assert.deepEqual(after.filter((l) => /\]\[(trace|debug|info|warning)\]\[/.test(l)), [], after.join("\n"));
    assert.equal(after.filter((l) => l.includes("[error][admin]")).length, 1);
  });

  it("per logger: ?NAME=LEVEL and ?paths=NAME:LEVEL,... set only those", async () => {
    assert.equal((await post("/logging?level=info")).status, 200);
    assert.equal((await post("/logging?conn_handler=debug")).status, 200);
    assert.match(await levels(), /^ {2}config: info\n {2}conn_handler: debug\n {2}main: info$/m);
    const r = await post("/logging?paths=config:trace,upstream:critical");
    assert.equal(r.status, 200);
    assert.match(r.body, /^ {2}admin: info\n {2}config: trace\n {2}conn_handler: debug\n {2}main: info\n {2}misc: info\n {2}rbac: info\n {2}secret: info\n {2}upstream: critical$/m);
    // conn_handler at debug, the others not: only its debug lines.
    const mark = lines.length;
    await request(`${WEB}/one`);
    const debug = since(mark).filter((l) => l.includes("[debug]"));
    assert.ok(debug.length > 0);
    assert.ok(debug.every((l) => l.includes("[debug][conn_handler]")), debug.join("\n"));
    assert.equal((await post("/logging?level=info")).status, 200);
  });

  it("a bad /logging query is 400 with the reason and the usage, and changes nothing (table)", async () => {
    const before = await levels();
    const cases: Array<[string, string]> = [
      ["nope=debug", "unknown logger name"],
      ["level=loud", "unknown logger level"],
      ["config=loud", "unknown logger level"],
      ["level=debug&config=info", "invalid number of parameters"],
      ["paths=config", "empty logger name or empty logger level"],
      ["paths=:debug", "empty logger name or empty logger level"],
      ["paths=config:debug,nope:info", "unknown logger name"],
      ["paths=config:debug,upstream:loud", "unknown logger level"],
    ];
    for (const [q, why] of cases) {
      const r = await post(`/logging?${q}`);
      assert.equal(r.status, 400, q);
      assert.ok(r.body.startsWith(`error: ${why}\n\nusage: `), `${q}: ${r.body}`);
      assert.ok(r.body.includes("levels: trace debug info warning error critical off\n"), q);
      assert.ok(r.body.endsWith(before), `${q}: the loggers are listed, unchanged`);
    }
    assert.equal(await levels(), before);
  });

  it("Envoy's mutating endpoints tsmesh does not implement: POST is 501 naming them", async () => {
    for (const path of ["/cpuprofiler", "/heapprofiler", "/runtime_modify", "/reopen_logs", "/stats/recentlookups/clear"]) {
      const r = await post(path);
      assert.deepEqual([r.status, r.body], [501, `${path} is not implemented by tsmesh\n`]);
    }
  });

  it("POST /drain_listeners drains every listener; POST /quitquitquit quits", async () => {
    assert.equal((await post("/drain_listeners")).status, 200);
    assert.equal((await request(`${adminUrl}/listeners`)).body, "\n");
    await assert.rejects(
      new Promise((resolve, reject) => net.connect({ host: IP, port: 8080 }).once("connect", resolve).once("error", reject)),
      /ECONNREFUSED/,
    );
    assert.equal(quits, 0);
    assert.deepEqual([(await post("/quitquitquit")).body], ["OK\n"]);
    await eventually("onQuit called", () => quits === 1);
  });
});
