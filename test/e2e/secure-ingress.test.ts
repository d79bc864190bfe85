// Istio's secure-ingress task on a real local mesh (examples/httpbin-tcp-echo on 127.112.x.y): a
// Gateway with tls SIMPLE and credentialName httpbin-credential, the credential a pair of files in
// the watched credentials folder (local mode's `kubectl create secret tls`). HTTPS through the
// gateway answers /status/418 with the task's certificate; replacing the files on disk (the task's
// delete + create) makes the gateway serve the new certificate without a restart, and the old CA no
// longer verifies it (the task's last check).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import type { TLSSocket } from "node:tls";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually } from "../helpers/eventually.js";
import { TestMesh } from "../helpers/mesh.js";

const OCTET = 112;
const GATEWAY = `127.${OCTET}.1.1`;

const TASK = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: mygateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: SIMPLE
      credentialName: httpbin-credential
    hosts:
    - httpbin.example.com
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: httpbin
spec:
  hosts:
  - "httpbin.example.com"
  gateways:
  - mygateway
  http:
  - match:
    - uri:
        prefix: /status
    - uri:
        prefix: /delay
    route:
    - destination:
        port:
          number: 8000
        host: httpbin
`;

/** A self-signed certificate for httpbin.example.com (the task's example_certsN, made with openssl). */
function exampleCert(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const r = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", `/O=${name} Inc./CN=httpbin.example.com`, "-addext", "subjectAltName=DNS:httpbin.example.com", "-keyout", key, "-out", cert], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return { cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") };
}

/** HTTPS GET through the gateway as the task's curl: SNI and Host httpbin.example.com, trusting `ca`. */
function curl(path: string, ca: string): Promise<{ status: number; body: string; issuer: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://httpbin.example.com:8443`, { host: GATEWAY, servername: "httpbin.example.com", ca });
    session.on("error", reject);
    let issuer = "";
    session.on("connect", (_s, socket) => (issuer = (socket as TLSSocket).getPeerX509Certificate()?.issuer ?? ""));
    const req = session.request({ ":path": path, ":authority": "httpbin.example.com" });
    let body = "";
    let status = 0;
    req.on("response", (h) => (status = Number(h[":status"])));
    req.setEncoding("utf8");
    req.on("data", (d: string) => (body += d));
    req.on("end", () => {
      session.close();
      resolve({ status, body, issuer });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("Istio's secure-ingress task with a credential rotated on disk", { timeout: 120_000 }, () => {
  let mesh: TestMesh;
  let scratch: string;
  let credentials: string;
  let certs1: { cert: string; key: string };
  let certs2: { cert: string; key: string };

  /** Writes the credential atomically, as a tool replacing a mounted secret would. */
  const install = (c: { cert: string; key: string }) => {
    for (const [ext, text] of [
      ["key", c.key],
      ["crt", c.cert],
    ] as const) {
      writeFileSync(join(scratch, `tmp.${ext}`), text);
      renameSync(join(scratch, `tmp.${ext}`), join(credentials, `httpbin-credential.${ext}`));
    }
  };

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), "tsmesh-secure-ingress-"));
    credentials = join(scratch, "credentials");
    mkdirSync(credentials);
    certs1 = exampleCert(scratch, "example_certs1");
    certs2 = exampleCert(scratch, "example_certs2");
    install(certs1);
    mesh = await TestMesh.start({ example: "httpbin-tcp-echo", octet: OCTET, credentialsDir: credentials });
    await mesh.apply(TASK);
  });
  after(async () => {
    await mesh?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("HTTPS through the gateway with example_certs1: 418, the teapot", async () => {
    const r = await eventually("the gateway serves httpbin-credential", () => curl("/status/418", certs1.cert).catch(() => undefined), 20_000);
    assert.equal(r.status, 418);
    assert.match(r.body, /teapot/);
    assert.match(r.issuer, /example_certs1 Inc\./);
  });

  it("the credential replaced on disk: the new certificate is served without a restart, the old CA no longer verifies", async () => {
    install(certs2);
    const r = await eventually("the gateway serves the rotated credential", () => curl("/status/418", certs2.cert).catch(() => undefined), 20_000);
    assert.equal(r.status, 418);
    assert.match(r.issuer, /example_certs2 Inc\./);
    await assert.rejects(curl("/status/418", certs1.cert), /self.signed|unable to verify|certificate/i);
  });
});
