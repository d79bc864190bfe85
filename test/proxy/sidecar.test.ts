// Two sidecars in local mode, end to end: a client app reaches a service by name through its
// sidecar's explicit-proxy port (virtualOutbound 15001, absolute-form and CONNECT, as HTTP_PROXY
// makes apps do), the request crosses to the server's sidecar (inbound listener IP_PORT) and reaches
// the app on its private address (INBOUND_APP_ADDRESS).
import assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Discovery } from "../../src/controlplane/discovery.js";
import { proxyNodeId } from "../../src/model/proxy.js";
import { ProxyServer } from "../../src/proxy/proxy.js";
import { Backend } from "./helpers.js";

const CLIENT_IP = "127.0.66.1";
const SERVER_IP = "127.0.66.2";
const APP_IP = "127.0.66.12";

const MESH = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: default}
spec:
  hosts: [echo.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: echo}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: echo-1, namespace: default}
spec:
  address: ${SERVER_IP}
  labels: {app: echo, version: v1}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: client-1, namespace: default}
spec:
  address: ${CLIENT_IP}
  labels: {app: client}
`;

function viaProxy(target: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: CLIENT_IP, port: 15001, method: "GET", path: `http://${target}${path}`, headers: { host: target }, agent: false }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

describe("two sidecars in local mode", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-sidecars-"));
  let discovery: Discovery;
  let app: Backend;
  const proxies: ProxyServer[] = [];

  before(async () => {
    writeFileSync(join(dir, "mesh.yaml"), MESH);
    app = await Backend.start("echo-app", APP_IP, 8080);
    discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", log: () => {} });
    const { xdsPort } = await discovery.start();
    const sidecar = (ip: string, name: string, labels: Record<string, string>, extra: Record<string, unknown> = {}) =>
      new ProxyServer({
        discoveryAddress: `127.0.0.1:${xdsPort}`,
        node: { id: proxyNodeId("sidecar", ip, name, "default"), metadata: { NAMESPACE: "default", LABELS: labels, INTERCEPTION_MODE: "NONE", ...extra } },
        ip,
        log: () => {},
      });
    proxies.push(sidecar(CLIENT_IP, "client-1", { app: "client" }), sidecar(SERVER_IP, "echo-1", { app: "echo", version: "v1" }, { INBOUND_APP_ADDRESS: APP_IP }));
    for (const p of proxies) await p.start();
    await Promise.all(proxies.map((p) => p.ready()));
  });

  after(async () => {
    for (const p of proxies) await p.close();
    await discovery.close();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("absolute-form request by FQDN and by short name reaches the app through both sidecars", async () => {
    for (const target of ["echo.default.svc.cluster.local:8080", "echo:8080"]) {
      const r = await viaProxy(target, "/hello?x=1");
      assert.equal(r.status, 200, `${target}: ${r.body}`);
      assert.equal(r.body, "echo-app");
      const seen = app.seen.at(-1)!;
      assert.equal(seen.url, "/hello?x=1");
      assert.match(String(seen.headers["x-request-id"]), /^[0-9a-f-]{36}$/);
    }
    // Both sidecars' HTTP connection managers counted it.
    const client = proxies[0].stats.text(/downstream_rq_2xx/);
    const server = proxies[1].stats.text(/downstream_rq_2xx/);
    assert.match(client, /: [1-9]/);
    assert.match(server, /: [1-9]/);
  });

  it("CONNECT tunnels to the port's listener, which routes the inner HTTP request", async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const s = net.connect(15001, CLIENT_IP, () => s.write("CONNECT echo.default.svc.cluster.local:8080 HTTP/1.1\r\nhost: echo.default.svc.cluster.local:8080\r\n\r\n"));
      let buf = "";
      let tunneled = false;
      s.on("data", (c: Buffer) => {
        buf += c.toString();
        if (!tunneled && buf.includes("\r\n\r\n")) {
          assert.match(buf, /^HTTP\/1\.1 200 /);
          tunneled = true;
          buf = "";
          s.write("GET /via-connect HTTP/1.1\r\nhost: echo.default.svc.cluster.local:8080\r\nconnection: close\r\n\r\n");
        }
      });
      s.on("end", () => resolve(buf));
      s.on("error", reject);
      s.setTimeout(5000, () => s.destroy(new Error("timeout")));
    });
    assert.match(body, /^HTTP\/1\.1 200 /);
    assert.match(body, /\r\n\r\n(?:[0-9a-f]+\r\n)?echo-app/);
    assert.equal(app.seen.at(-1)!.url, "/via-connect");
  });

  it("hosts outside the registry go through PassthroughCluster to where the app meant (ALLOW_ANY)", async () => {
    // Istio's default outbound policy: unknown destinations pass through (ORIGINAL_DST). In local
    // mode the original destination is the explicit-proxy target.
    const outside = await Backend.start("outside", "127.0.66.20", 8080);
    try {
      const r = await viaProxy("127.0.66.20:8080", "/external");
      assert.equal(r.status, 200);
      assert.equal(r.body, "outside");
      assert.equal(outside.seen.at(-1)!.url, "/external");
    } finally {
      await outside.close();
    }
    // Nobody listening there: Envoy's connection-failure reply (loopback only, no DNS lookups).
    const r = await viaProxy("127.0.66.21:8080", "/");
    assert.equal(r.status, 503);
    assert.match(r.body, /upstream connect error or disconnect\/reset before headers/);
  });
});
