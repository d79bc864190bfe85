// What Istio's secure-ingress task uses: a self-signed certificate for httpbin.example.com made
// with openssl (the task's example_certsN), and its curl — HTTPS with SNI and Host
// httpbin.example.com to a gateway address, trusting only the given CA.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as http2 from "node:http2";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";

/** A self-signed certificate for `host` (the task's httpbin.example.com), written to DIR/NAME.crt and .key. */
export function exampleCert(dir: string, name: string, host = "httpbin.example.com"): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const r = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", `/O=${name} Inc./CN=${host}`, "-addext", `subjectAltName=DNS:${host}`, "-keyout", key, "-out", cert], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return { cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") };
}

/** A client certificate signed by a CA of its own (the mutual TLS task's client.example.com), written to DIR/NAME-ca.crt, NAME.crt, NAME.key. */
export function exampleClientCert(dir: string, name: string): { ca: string; cert: string; key: string } {
  const f = (s: string) => join(dir, `${name}${s}`);
  const run = (args: string[]) => {
    const r = spawnSync("openssl", args, { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  run(["req", "-x509", ...ec, "-days", "2", "-subj", `/O=${name} CA/CN=${name} root`, "-keyout", f("-ca.key"), "-out", f("-ca.crt")]);
  run(["req", ...ec, "-subj", `/O=${name}/CN=client.example.com`, "-keyout", f(".key"), "-out", f(".csr")]);
  run(["x509", "-req", "-in", f(".csr"), "-CA", f("-ca.crt"), "-CAkey", f("-ca.key"), "-CAcreateserial", "-days", "2", "-out", f(".crt")]);
  return { ca: readFileSync(f("-ca.crt"), "utf8"), cert: readFileSync(f(".crt"), "utf8"), key: readFileSync(f(".key"), "utf8") };
}

/** HTTPS GET to `host`:`port` as the task's curl --resolve: SNI and Host httpbin.example.com, trusting `ca` (with `client`: curl --cert/--key). */
export function curlHttpbin(host: string, port: number, path: string, ca: string, client?: { cert: string; key: string }): Promise<{ status: number; body: string; issuer: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://httpbin.example.com:${port}`, { host, servername: "httpbin.example.com", ca, ...(client ? { cert: client.cert, key: client.key } : {}) });
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
      // No response at all: the router closed the connection (a TLS 1.3 client learns only now that its certificate was refused).
      if (status === 0) reject(new Error("the connection closed without a response"));
      else resolve({ status, body, issuer });
    });
    req.on("error", reject);
    req.end();
  });
}
