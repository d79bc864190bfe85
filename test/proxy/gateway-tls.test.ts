// An Istio Gateway with TLS from files (serverCertificate / privateKey / caCertificates), end to
// end: tsmesh discovery → tsmesh proxy router → backend. HTTPS over HTTP/1.1 and HTTP/2 (ALPN),
// SNI routing between servers, MUTUAL requiring a client certificate, OPTIONAL_MUTUAL verifying one
// when presented, caCrl, minProtocolVersion, and HTTP → HTTPS
// redirect (httpsRedirect), as Istio's secure-ingress tasks check them. Ports 8443/8080: no root needed.
import assert from "node:assert/strict";
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import * as https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { after, before, describe, it } from "node:test";
import { Discovery } from "../../src/controlplane/discovery.js";
import { packageRoot } from "../../src/core/paths.js";
import { proxyNodeId } from "../../src/model/proxy.js";
import { ProxyServer } from "../../src/proxy/proxy.js";
import { eventually } from "../helpers/eventually.js";
import { Backend, request } from "./helpers.js";

const GW_IP = "127.0.71.1";
const fixtures = join(packageRoot(), "test", "fixtures", "tls");
const ca = readFileSync(join(fixtures, "ca.crt"));
const clientCert = readFileSync(join(fixtures, "client.crt"));
const clientKey = readFileSync(join(fixtures, "client.key"));
const fixture = (name: string) => readFileSync(join(fixtures, name));

const MESH = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: default}
spec:
  hosts: [web.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  endpoints: [{address: 127.0.71.2}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: secure, namespace: default}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: https, protocol: HTTPS}
    hosts: [gateway.example.com]
    tls: {mode: SIMPLE, serverCertificate: ${join(fixtures, "server.crt")}, privateKey: ${join(fixtures, "server.key")}}
  - port: {number: 8443, name: https-mtls, protocol: HTTPS}
    hosts: [mtls.example.com]
    tls: {mode: MUTUAL, serverCertificate: ${join(fixtures, "server.crt")}, privateKey: ${join(fixtures, "server.key")}, caCertificates: ${join(fixtures, "client-ca.crt")}}
  - port: {number: 8443, name: https-optional, protocol: HTTPS}
    hosts: [optional.example.com]
    tls: {mode: OPTIONAL_MUTUAL, minProtocolVersion: TLSV1_3, serverCertificate: ${join(fixtures, "server.crt")}, privateKey: ${join(fixtures, "server.key")}, caCertificates: ${join(fixtures, "client-ca.crt")}}
  - port: {number: 8443, name: https-crl, protocol: HTTPS}
    hosts: [crl.example.com]
    tls: {mode: MUTUAL, serverCertificate: ${join(fixtures, "server.crt")}, privateKey: ${join(fixtures, "server.key")}, caCertificates: ${join(fixtures, "crl-ca.crt")}, caCrl: ${join(fixtures, "crl-ca.crl")}}
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: [gateway.example.com]
    tls: {httpsRedirect: true}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [gateway.example.com, mtls.example.com, optional.example.com, crl.example.com]
  gateways: [secure]
  http: [{route: [{destination: {host: web.default.svc.cluster.local, port: {number: 8080}}}]}]
`;

describe("Gateway TLS from files (SIMPLE, MUTUAL, HTTP/2 by ALPN, httpsRedirect)", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-gw-tls-"));
  let discovery: Discovery;
  let proxy: ProxyServer;
  let backend: Backend;

  before(async () => {
    backend = await Backend.start("web", "127.0.71.2", 8080);
    writeFileSync(join(dir, "mesh.yaml"), MESH);
    discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", log: () => {} });
    const { xdsPort } = await discovery.start();
    proxy = new ProxyServer({
      discoveryAddress: `127.0.0.1:${xdsPort}`,
      node: { id: proxyNodeId("router", GW_IP, "istio-ingressgateway", "istio-system"), metadata: { NAMESPACE: "istio-system", LABELS: { istio: "ingressgateway" }, INTERCEPTION_MODE: "NONE" } },
      ip: GW_IP,
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

  const get = (servername: string, o: https.RequestOptions = {}) =>
    new Promise<{ status: number; body: string; alpn: string | false | null }>((resolve, reject) => {
      const req = https.request({ host: GW_IP, port: 8443, path: "/hello", servername, ca, headers: { host: servername }, agent: false, ...o }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, alpn: (res.socket as tls.TLSSocket).alpnProtocol }));
      });
      req.on("error", reject);
      req.end();
    });

  it("terminates SIMPLE TLS for the server's host and routes by the VirtualService", async () => {
    const r = await eventually("https served", () => get("gateway.example.com").catch(() => undefined), 10_000);
    assert.equal(r.status, 200);
    assert.equal(r.body, "web");
    assert.equal(backend.seen.at(-1)!.headers["x-forwarded-proto"], "https");
  });

  it("serves HTTP/2 when the client offers h2", async () => {
    const session = http2.connect(`https://gateway.example.com`, {
      createConnection: () => tls.connect({ host: GW_IP, port: 8443, servername: "gateway.example.com", ca, ALPNProtocols: ["h2", "http/1.1"] }),
    });
    try {
      const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const s = session.request({ ":path": "/h2", ":authority": "gateway.example.com" });
        let status = 0;
        let body = "";
        s.on("response", (h) => (status = Number(h[":status"])));
        s.on("data", (c: Buffer) => (body += c.toString()));
        s.on("end", () => resolve({ status, body }));
        s.on("error", reject);
        s.end();
      });
      assert.deepEqual(r, { status: 200, body: "web" });
      assert.equal((session.socket as tls.TLSSocket).alpnProtocol, "h2");
    } finally {
      session.close();
    }
  });

  it("MUTUAL: a client certificate from the trusted CA gets through, none is refused", async () => {
    const ok = await get("mtls.example.com", { cert: clientCert, key: clientKey });
    assert.equal(ok.status, 200);
    assert.equal(ok.body, "web");
    // Without a certificate the handshake (TLS 1.3: the first read) fails.
    await assert.rejects(get("mtls.example.com"), /certificate|alert|socket hang up|ECONNRESET/i);
  });

  it("OPTIONAL_MUTUAL: no certificate or a valid one gets through, one that does not verify is refused; minProtocolVersion holds", async () => {
    assert.equal((await get("optional.example.com")).status, 200);
    assert.equal((await get("optional.example.com", { cert: clientCert, key: clientKey })).status, 200);
    await assert.rejects(get("optional.example.com", { cert: fixture("crl-good.crt"), key: fixture("crl-good.key") }), /certificate|alert|socket hang up|ECONNRESET/i);
    await assert.rejects(get("optional.example.com", { maxVersion: "TLSv1.2" }), /version|alert|socket hang up|ECONNRESET/i);
  });

  it("caCrl: a revoked client certificate is refused", async () => {
    assert.equal((await get("crl.example.com", { cert: fixture("crl-good.crt"), key: fixture("crl-good.key") })).status, 200);
    await assert.rejects(get("crl.example.com", { cert: fixture("crl-revoked.crt"), key: fixture("crl-revoked.key") }), /certificate|revoked|alert|socket hang up|ECONNRESET/i);
  });

  it("an unknown server name gets no filter chain", async () => {
    await assert.rejects(get("other.example.org"), /ECONNRESET|socket hang up|disconnected|alert/i);
  });

  it("httpsRedirect: plain HTTP gets 301 to https", async () => {
    const r = await request(`http://${GW_IP}:8080/page?x=1`, { headers: { host: "gateway.example.com" } });
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, "https://gateway.example.com/page?x=1");
  });
});
