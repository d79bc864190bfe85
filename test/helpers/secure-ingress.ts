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

/** HTTPS GET to `host`:`port` as the task's curl --resolve: SNI and Host httpbin.example.com, trusting `ca`. */
export function curlHttpbin(host: string, port: number, path: string, ca: string): Promise<{ status: number; body: string; issuer: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://httpbin.example.com:${port}`, { host, servername: "httpbin.example.com", ca });
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
