// Istio's secure-ingress task on a real local mesh (examples/httpbin-tcp-echo on 127.112.x.y): a
// Gateway with tls SIMPLE and credentialName httpbin-credential, the credential a pair of files in
// the watched credentials folder (local mode's `kubectl create secret tls`). HTTPS through the
// gateway answers /status/418 with the task's certificate; replacing the files on disk (the task's
// delete + create) makes the gateway serve the new certificate without a restart, and the old CA no
// longer verifies it (the task's last check).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually } from "../helpers/eventually.js";
import { TestMesh } from "../helpers/mesh.js";
import { curlHttpbin, exampleCert } from "../helpers/secure-ingress.js";

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

/** HTTPS GET through the gateway's 8443 as the task's curl. */
const curl = (path: string, ca: string) => curlHttpbin(GATEWAY, 8443, path, ca);

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
