// TLS contexts over SDS with the agent's secrets (`default`, `ROOTCA` through the sds-grpc cluster),
// real TLS on loopback with SVIDs from the mesh CA: an upstream cluster fails closed (503 UF) until
// its secrets arrive and then originates mTLS; a listener refuses handshakes until its secrets
// arrive and then requires the client's SVID; two ProxyServers talk mTLS to each other; rotating
// `default` under a steady request stream loses no request, new connections present the new
// certificate and connections already open keep going. Addresses 127.0.133.1-4.
import assert from "node:assert/strict";
import * as http from "node:http";
import * as https from "node:https";
import { after, before, describe, it } from "node:test";
import * as tls from "node:tls";
import { ProxyServer } from "../../src/proxy/proxy.js";
import { SecretManager } from "../../src/proxy/tls/secrets.js";
import { eventually } from "../helpers/eventually.js";
import { Backend, request } from "./helpers.js";
import { httpListener, istioMutual, serialHex, staticCluster, type Svid, TestPki } from "./sds-pki.js";

const P1 = "127.0.133.1"; // client-side proxy (sleep): plain HTTP in, mTLS out
const MTLS_BACKEND = "127.0.133.2"; // an HTTPS server requiring the mesh's client certificates
const P2 = "127.0.133.3"; // server-side proxy (httpbin): mTLS in, plain out
const PLAIN_BACKEND = "127.0.133.4";

/** An HTTPS backend with its own SVID, requiring a mesh client certificate; records each request's client serial. */
class MeshBackend {
  readonly clientSerials: string[] = [];
  private server!: https.Server;

  async start(svid: Svid, rootPem: string): Promise<this> {
    this.server = https.createServer({ cert: svid.secret.certificateChainPem, key: svid.secret.privateKeyPem, ca: rootPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const peer = (req.socket as tls.TLSSocket).getPeerCertificate();
      this.clientSerials.push(serialHex(peer.serialNumber));
      req.resume();
      const answer = () => {
        // Every third response closes its connection, so a steady stream keeps opening new ones.
        res.writeHead(200, { "content-type": "text/plain", ...(this.clientSerials.length % 3 === 0 ? { connection: "close" } : {}) });
        res.end("mesh-backend");
      };
      if (req.url?.startsWith("/slow")) setTimeout(answer, 600);
      else answer();
    });
    this.server.on("tlsClientError", () => {});
    await new Promise<void>((r) => this.server.listen(8443, MTLS_BACKEND, () => r()));
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** A TLS connection to P2's listener: the server certificate's serial, or the error. */
function handshake(opts: { svid?: Svid; rootPem: string }): Promise<{ serial: string; socket: tls.TLSSocket } | Error> {
  return new Promise((resolve) => {
    const s = tls.connect({
      host: P2,
      port: 8443,
      ca: opts.rootPem,
      ...(opts.svid ? { cert: opts.svid.secret.certificateChainPem, key: opts.svid.secret.privateKeyPem } : {}),
      checkServerIdentity: () => undefined,
      ALPNProtocols: ["http/1.1"],
    });
    s.once("secureConnect", () => {
      // TLS 1.3: the server's verdict on the client certificate comes after the handshake.
      s.once("data", () => {});
      resolve({ serial: serialHex(s.getPeerCertificate().serialNumber), socket: s });
    });
    s.once("error", (e) => resolve(e));
    s.once("close", () => resolve(new Error("closed before the handshake finished")));
  });
}

/** One HTTP/1.1 request over an open TLS socket (keep-alive), the response status and body. */
function requestOn(socket: tls.TLSSocket, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ createConnection: () => socket, host: P2, path, headers: { connection: "keep-alive" } }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("TLS contexts over SDS (the agent's default and ROOTCA)", () => {
  let pki: TestPki;
  let sleep: Svid;
  let httpbin: Svid;
  let backendSvid: Svid;
  let meshBackend: MeshBackend;
  let plainBackend: Backend;
  const s1 = new SecretManager();
  const s2 = new SecretManager();
  let p1: ProxyServer;
  let p2: ProxyServer;
  const logs: string[] = [];
  /** Every private key handed to the proxies, to check that none reaches a log line. */
  const keys: string[] = [];
  const set = (m: SecretManager, name: string, s: Svid) => {
    keys.push(s.secret.privateKeyPem);
    m.set("sds-grpc", name, s.secret);
  };

  before(async () => {
    pki = await TestPki.create();
    [sleep, httpbin, backendSvid] = await Promise.all([pki.svid("sleep"), pki.svid("httpbin"), pki.svid("backend")]);
    meshBackend = await new MeshBackend().start(backendSvid, pki.root.trustedCaPem);
    plainBackend = await Backend.start("httpbin", PLAIN_BACKEND, 8080);
    p1 = new ProxyServer({
      node: { id: "sidecar~127.0.133.1~sleep.default~default.svc.cluster.local" },
      log: (l) => logs.push(l),
      secrets: s1,
      staticResources: {
        clusters: [
          staticCluster("mtls", MTLS_BACKEND, 8443, istioMutual([backendSvid.uri])),
          staticCluster("wrongsan", MTLS_BACKEND, 8443, istioMutual(["spiffe://cluster.local/ns/default/sa/someone-else"])),
          staticCluster("mesh", P2, 8443, istioMutual([httpbin.uri], ["istio"])),
        ],
        listeners: [httpListener("out", P1, 8080, { "/mesh": "mesh", "/wrongsan": "wrongsan", "/": "mtls" })],
      },
    });
    p2 = new ProxyServer({
      node: { id: "sidecar~127.0.133.3~httpbin.default~default.svc.cluster.local" },
      log: (l) => logs.push(l),
      secrets: s2,
      staticResources: {
        clusters: [staticCluster("inbound|8080||", PLAIN_BACKEND, 8080)],
        listeners: [httpListener("in", P2, 8443, "inbound|8080||", { commonTlsContext: istioMutual([sleep.uri], ["istio", "http/1.1"]), requireClientCertificate: { value: true } })],
      },
    });
    await p1.start();
    await p2.start();
  });

  after(async () => {
    await p1.close();
    await p2.close();
    await meshBackend.close();
    await plainBackend.close();
    pki.close();
  });

  const c1 = (cluster: string, stat: string) => p1.stats.counter(`cluster.${cluster}.${stat}`).value;
  const l2 = (stat: string) => p2.stats.counter(`listener.${P2}_8443.${stat}`).value;

  it("an upstream cluster fails closed (503 UF) until every secret is here, then originates mTLS with the SVID", async () => {
    const before = meshBackend.clientSerials.length;
    let r = await request(`http://${P1}:8080/x`);
    assert.equal(r.status, 503);
    assert.match(r.body, /transport failure reason: TLS error: Secret is not supplied by SDS \("default", "ROOTCA"\)/);
    assert.equal(c1("mtls", "ssl.upstream_context_secrets_not_ready"), 1);
    // The certificate alone is not enough: ROOTCA is missing.
    set(s1, "default", sleep);
    r = await request(`http://${P1}:8080/x`);
    assert.equal(r.status, 503);
    assert.equal(meshBackend.clientSerials.length, before, "nothing reached the backend, in plaintext or otherwise");
    assert.equal(logs.filter((l) => l.includes("cluster mtls:") && l.includes("not available yet over SDS")).length, 1, "logged once per cluster");
    s1.set("sds-grpc", "ROOTCA", pki.root);
    r = await request(`http://${P1}:8080/x`);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, "mesh-backend");
    assert.equal(meshBackend.clientSerials.at(-1), sleep.serial, "the backend saw the workload's SVID");
    assert.ok(c1("mtls", "ssl.handshake") >= 1);
    // SAN matchers of the default validation context still apply (merged with the SDS root).
    r = await request(`http://${P1}:8080/wrongsan/x`);
    assert.equal(r.status, 503);
    assert.match(r.body, /CERTIFICATE_VERIFY_FAILED:verify cert failed: SAN matcher/);
    assert.equal(c1("wrongsan", "ssl.fail_verify_san"), 1);
    // Clusters with the same settings and secrets share one secure context (parsed once), each
    // keeping its own SAN checks.
    const ctx = (name: string) => p1.cluster(name)!.tlsContexts()[0].secureContext;
    assert.equal(ctx("mtls"), ctx("wrongsan"));
    assert.equal(ctx("mtls"), ctx("mesh"));
  });

  it("a listener refuses handshakes until its secrets arrive, then requires the client's SVID (SAN matched)", async () => {
    const refused = await handshake({ svid: sleep, rootPem: pki.root.trustedCaPem });
    assert.ok(refused instanceof Error, "no handshake without the listener's secrets");
    assert.ok(l2("ssl.downstream_context_secrets_not_ready") >= 1);
    s2.set("sds-grpc", "ROOTCA", pki.root);
    set(s2, "default", httpbin);
    const ok = await handshake({ svid: sleep, rootPem: pki.root.trustedCaPem });
    assert.ok(!(ok instanceof Error), String(ok));
    assert.equal(ok.serial, httpbin.serial, "the listener presents its SVID");
    const r = await requestOn(ok.socket, "/hello");
    assert.equal(r.status, 200);
    assert.equal(r.body, "httpbin");
    ok.socket.destroy();
    // No client certificate, or one whose identity the SAN matchers refuse: no request gets through.
    const seen = plainBackend.requests;
    for (const svid of [undefined, httpbin]) {
      const h = await handshake({ svid, rootPem: pki.root.trustedCaPem });
      if (!(h instanceof Error)) await assert.rejects(requestOn(h.socket, "/nope"));
    }
    assert.equal(plainBackend.requests, seen);
    assert.ok(l2("ssl.fail_verify_san") >= 1);
  });

  it("two ProxyServers talk mTLS: P1 presents sleep's SVID and verifies httpbin's, P2 the reverse", async () => {
    const seen = plainBackend.requests;
    const r = await request(`http://${P1}:8080/mesh/get`);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, "httpbin");
    assert.equal(plainBackend.requests, seen + 1);
    assert.ok(c1("mesh", "ssl.handshake") >= 1);
    assert.ok(l2("ssl.handshake") >= 1);
  });

  it("rotating default under a steady request stream loses no request; new connections take the new certificate, open ones keep theirs", async () => {
    // A listener connection opened before the rotation keeps serving after it.
    const open = await handshake({ svid: sleep, rootPem: pki.root.trustedCaPem });
    assert.ok(!(open instanceof Error), String(open));
    assert.equal(open.serial, httpbin.serial);
    // A slow request on an upstream connection made with the old certificate.
    const slow = request(`http://${P1}:8080/slow`);
    let stop = false;
    const failures: string[] = [];
    let done = 0;
    const stream = async () => {
      while (!stop) {
        for (const path of ["/x", "/mesh/get"]) {
          const r = await request(`http://${P1}:8080${path}`);
          if (r.status !== 200) failures.push(`${path}: ${r.status} ${r.body}`);
          done++;
        }
      }
    };
    const workers = [stream(), stream(), stream()];
    let sleepNow = sleep;
    let httpbinNow = httpbin;
    for (let i = 0; i < 3; i++) {
      const mark = done;
      await eventually("requests flowing", () => done >= mark + 6, 30_000);
      [sleepNow, httpbinNow] = await Promise.all([pki.svid("sleep"), pki.svid("httpbin")]);
      set(s1, "default", sleepNow);
      set(s2, "default", httpbinNow);
    }
    const latest = sleepNow.serial;
    await eventually("the backend sees the newest client certificate", () => meshBackend.clientSerials.includes(latest), 30_000);
    stop = true;
    await Promise.all(workers);
    assert.deepEqual(failures, [], "no request lost during the rotations");
    assert.ok(done >= 18);
    assert.equal((await slow).status, 200, "the request in flight across the rotations completed");
    // The old listener connection still answers; a new one gets the new certificate.
    assert.equal((await requestOn(open.socket, "/after")).status, 200);
    open.socket.destroy();
    const fresh = await handshake({ svid: sleepNow, rootPem: pki.root.trustedCaPem });
    assert.ok(!(fresh instanceof Error), String(fresh));
    assert.equal(fresh.serial, httpbinNow.serial);
    fresh.socket.destroy();
  });

  it("a removed secret makes the context unavailable again for new connections (fail closed); pooled ones finish their life", async () => {
    s1.set("sds-grpc", "ROOTCA", undefined);
    // Pooled connections may serve until they close (every third response closes one), as Envoy's.
    const statuses: number[] = [];
    for (let i = 0; i < 30 && !statuses.includes(503); i++) {
      const r = await request(`http://${P1}:8080/x`);
      statuses.push(r.status);
      if (r.status !== 200) assert.match(r.body, /Secret is not supplied by SDS/);
    }
    assert.ok(statuses.includes(503), `a new connection was refused (${statuses.join(" ")})`);
    s1.set("sds-grpc", "ROOTCA", pki.root);
    assert.equal((await request(`http://${P1}:8080/x`)).status, 200);
  });

  it("logs each secret change, and no line carries key material", () => {
    assert.ok(logs.some((l) => /sds: secret 'default' \(sds-grpc\) updated, version /.test(l)), logs.join("\n"));
    assert.ok(logs.some((l) => /sds: secret 'ROOTCA' \(sds-grpc\) removed/.test(l)));
    assert.ok(keys.length >= 8);
    const bodies = keys.flatMap((k) => k.split("\n").filter((line) => line.length > 20 && !line.startsWith("-----")));
    for (const l of logs) for (const b of bodies) assert.ok(!l.includes(b), "a log line holds key material");
  });
});
