// A DestinationRule with tls mode SIMPLE through the control plane: the app's plaintext request
// leaves the sidecar (127.0.68.60) as TLS to the backend (127.0.68.61), verified against
// caCertificates, with the SNI taken from the host (auto_sni).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Discovery } from "../../../src/controlplane/discovery.js";
import { proxyNodeId } from "../../../src/model/proxy.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { file, HttpsBackend } from "./tls-fixtures.js";

describe("DestinationRule tls SIMPLE through the control plane", () => {
  const CLIENT_IP = "127.0.68.60";
  const SECURE_IP = "127.0.68.61";
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-upstream-tls-"));
  let discovery: Discovery;
  let proxy: ProxyServer;
  let backend: HttpsBackend;

  const MESH = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: secure, namespace: default}
spec:
  hosts: [secure.example.com]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{number: 8443, name: http, protocol: HTTP}]
  endpoints: [{address: ${SECURE_IP}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: secure, namespace: default}
spec:
  host: secure.example.com
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: ${file("ca.crt")}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: client-1, namespace: default}
spec:
  address: ${CLIENT_IP}
  labels: {app: client}
`;

  before(async () => {
    writeFileSync(join(dir, "mesh.yaml"), MESH);
    backend = await new HttpsBackend("secure-backend", {}).start(SECURE_IP, 8443);
    discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", log: () => {} });
    const { xdsPort } = await discovery.start();
    proxy = new ProxyServer({
      discoveryAddress: `127.0.0.1:${xdsPort}`,
      node: { id: proxyNodeId("sidecar", CLIENT_IP, "client-1", "default"), metadata: { NAMESPACE: "default", LABELS: { app: "client" }, INTERCEPTION_MODE: "NONE" } },
      ip: CLIENT_IP,
      log: () => {},
    });
    await proxy.start();
    await proxy.ready();
  });

  after(async () => {
    await proxy.close();
    await discovery.close();
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the app's plaintext request leaves the sidecar as TLS, verified against caCertificates, SNI from the host (auto_sni)", async () => {
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: CLIENT_IP, port: 15001, path: "http://secure.example.com:8443/cp", headers: { host: "secure.example.com:8443" }, agent: false }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.setTimeout(5000, () => req.destroy(new Error("timeout")));
      req.on("error", reject);
      req.end();
    });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, "secure-backend");
    const seen = backend.seen.at(-1)!;
    assert.equal(seen.url, "/cp");
    assert.equal(seen.sni, "secure.example.com");
    const name = "outbound|8443||secure.example.com";
    assert.equal(proxy.stats.counter(`cluster.${name}.ssl.handshake`).value, 1);
    assert.equal(proxy.stats.counter(`cluster.${name}.upstream_cx_http1_total`).value, 1);
  });
});
