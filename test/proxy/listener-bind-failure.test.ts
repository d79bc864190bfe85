// A listener that cannot bind, as Envoy reports it: a real proxy fed by a real Discovery is given a
// gateway with two ports, one of them held by a socket of this test. The held port's listener is
// not added (listener_manager.listener_create_failure counts it), the LDS update is NACKed with a
// message naming the listener, its address:port and the OS error, and the other listener serves.
// The error text for EACCES is checked by binding port 80 as the `nobody` user when the test runs
// as root on a machine that keeps ports below 1024 privileged (skipped otherwise).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Discovery } from "../../src/controlplane/discovery.js";
import { proxyNodeId } from "../../src/model/proxy.js";
import { cannotBind } from "../../src/proxy/bind-error.js";
import { ProxyServer } from "../../src/proxy/proxy.js";
import type { NackInfo } from "../../src/xds/server/connection.js";
import { httpRequest } from "../helpers/mesh.js";
import { eventually } from "../helpers/eventually.js";
import { holdPort } from "../helpers/held-port.js";

const ROUTER = "127.0.97.1";

const mesh = (heldPort: number) => `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - {port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}
  - {port: {number: ${heldPort}, name: http-held, protocol: HTTP}, hosts: ["*"]}
`;

describe("a listener that cannot bind (EADDRINUSE: the port is held)", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-bind-failure-"));
  let held: net.Server;
  let heldPort = 0;
  let discovery: Discovery;
  let proxy: ProxyServer;
  const nacks: NackInfo[] = [];

  before(async () => {
    held = await holdPort(ROUTER);
    heldPort = (held.address() as net.AddressInfo).port;
    writeFileSync(join(dir, "mesh.yaml"), mesh(heldPort));
    discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", log: () => {} });
    discovery.server.on("nack", (n) => nacks.push(n));
    const { xdsPort } = await discovery.start();
    proxy = new ProxyServer({
      discoveryAddress: `127.0.0.1:${xdsPort}`,
      node: { id: proxyNodeId("router", ROUTER, "gw", "default"), metadata: { NAMESPACE: "default", LABELS: { istio: "ingressgateway" }, INTERCEPTION_MODE: "NONE" } },
      ip: ROUTER,
      log: () => {},
    });
    await proxy.start();
    await proxy.ready();
    await eventually("the LDS NACK", () => nacks.some((n) => n.typeUrl.endsWith("Listener")), 60_000);
    await eventually("the 8080 listener", () => proxy.listeners.list().some((l) => l.port === 8080), 60_000);
  });
  after(async () => {
    await proxy?.close();
    await discovery?.close();
    held?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("NACKs the LDS update naming the listener, its address:port and the OS error", () => {
    const lds = nacks.filter((n) => n.typeUrl.endsWith("Listener"));
    assert.equal(lds[0].message, `Error adding/updating listener(s) 0.0.0.0_${heldPort}: cannot bind '${ROUTER}:${heldPort}': Address already in use`);
  });

  it("counts the failure in listener_manager.listener_create_failure", () => {
    assert.ok(proxy.stats.counter("listener_manager.listener_create_failure").value >= 1);
  });

  it("does not add the listener, and the other one keeps serving", async () => {
    const names = proxy.listeners.list().map((l) => l.name);
    assert.ok(!names.includes(`0.0.0.0_${heldPort}`), names.join(", "));
    assert.ok(names.includes("0.0.0.0_8080"), names.join(", "));
    // Nothing routes there: the proxy's own 404 (NR) shows the listener answers.
    const r = await httpRequest(ROUTER, 8080, "/", { timeoutMs: 30_000 });
    assert.equal(r.status, 404);
    // The port stays the other socket's: the proxy did not take it over.
    assert.equal((held.address() as net.AddressInfo).port, heldPort);
  });
});

describe("cannotBind: Envoy's message for each bind error", () => {
  const table: Array<[string, string, string]> = [
    ["EACCES", "127.0.0.1", "cannot bind '127.0.0.1:80': Permission denied"],
    ["EADDRINUSE", "127.0.0.1", "cannot bind '127.0.0.1:80': Address already in use"],
    ["EADDRNOTAVAIL", "::1", "cannot bind '[::1]:80': Cannot assign requested address"],
  ];
  for (const [code, address, want] of table) {
    it(code, () => assert.equal(cannotBind(address, 80, Object.assign(new Error(`listen ${code}`), { code })), want));
  }
  it("another error keeps Node's message", () => assert.equal(cannotBind("127.0.0.1", 80, new Error("boom")), "cannot bind '127.0.0.1:80': boom"));
});

// EACCES happens only to a user without CAP_NET_BIND_SERVICE: run the bind as `nobody`.
const unprivilegedStart = Number(readFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8").trim());
const setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p));
const skipNobody =
  process.getuid?.() !== 0 ? "not root: cannot switch to nobody" : !setpriv ? "no setpriv" : unprivilegedStart <= 80 ? `ports from ${unprivilegedStart} are unprivileged here` : false;

describe("as a user who may not bind port 80", () => {
  it("the bind check reports EACCES as Envoy does", { skip: skipNobody }, (t) => {
    // nobody may not be able to read the checkout (a clone in a 0700 folder): it runs a copy of the
    // module (which imports only node:net) from a folder anyone can read.
    const shared = mkdtempSync(join(tmpdir(), "bind-nobody-"));
    chmodSync(shared, 0o755);
    const module = join(shared, "bind-error.mjs");
    copyFileSync(fileURLToPath(new URL("../../src/proxy/bind-error.js", import.meta.url)), module);
    chmodSync(module, 0o644);
    t.after(() => rmSync(shared, { recursive: true, force: true }));
    const script = `import(${JSON.stringify(module)}).then(async (m) => { const e = await m.tryBind("127.0.97.2", 80); process.stdout.write(e ? m.cannotBind("127.0.97.2", 80, e) : "bound"); })`;
    const out = spawnSync(setpriv!, ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "-e", script], { encoding: "utf8", cwd: "/" });
    assert.equal(out.status, 0, out.stderr);
    assert.equal(out.stdout, "cannot bind '127.0.97.2:80': Permission denied");
    // And it really was the user: root binds it.
    assert.equal(execFileSync(process.execPath, ["-e", script], { encoding: "utf8", cwd: "/" }), "bound");
  });
});
