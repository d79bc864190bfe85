// A stream whose setup throws (a bug, here injected: X.509 fingerprinting fails while building
// X-Forwarded-Client-Cert) costs that stream only: it is reset and the error is logged, the proxy
// keeps serving — over HTTP/2, where the exception would otherwise escape node:http2's event
// emitter and end the process, and over HTTP/1. Real listener, real mutual TLS, 127.0.137.x.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tls from "node:tls";
import type * as v3 from "../../../src/envoy/types.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { MeshCa } from "../../../src/security/ca.js";
import { generateCsr } from "../../../src/security/csr.js";
import { spiffeUri } from "../../../src/security/spiffe.js";

const IP = "127.0.137.1";
const PORT = 8443;
const id = (sa: string) => ({ trustDomain: "cluster.local", namespace: "default", serviceAccount: sa });

describe("an exception while setting up a stream resets that stream only", { timeout: 60_000 }, () => {
  let dir: string;
  let proxy: ProxyServer;
  const logs: string[] = [];
  let client: { cert: string; key: string };
  let ca: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "tsmesh-stream-exception-"));
    const mesh = await MeshCa.selfSigned(dir, { trustDomain: "cluster.local" });
    ca = mesh.rootsPem.join("");
    const svid = async (sa: string) => {
      const { csrPem, keyPem } = await generateCsr({ uris: [spiffeUri(id(sa))] });
      return { cert: (await mesh.sign(csrPem, id(sa))).slice(0, -1).join(""), key: keyPem };
    };
    const server = await svid("server");
    client = await svid("client");
    const listener: v3.Listener = {
      name: "mtls_in",
      address: { socketAddress: { address: IP, portValue: PORT } },
      filterChains: [
        {
          transportSocket: {
            name: "envoy.transport_sockets.tls",
            typedConfig: {
              "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
              requireClientCertificate: { value: true },
              commonTlsContext: {
                alpnProtocols: ["h2", "http/1.1"],
                tlsCertificates: [{ certificateChain: { inlineString: server.cert }, privateKey: { inlineString: server.key } }],
                validationContext: { trustedCa: { inlineString: ca } },
              },
            },
          },
          filters: [
            {
              name: "envoy.filters.network.http_connection_manager",
              typedConfig: {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                statPrefix: "in",
                forwardClientCertDetails: "SANITIZE_SET",
                setCurrentClientCertDetails: { uri: true },
                routeConfig: { name: "r", virtualHosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, directResponse: { status: 200, body: { inlineString: "ok" } } }] }] },
                httpFilters: [{ name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
              },
            },
          ],
        },
      ],
    };
    proxy = new ProxyServer({ node: { id: "stream-exception" }, log: (l) => logs.push(l), staticResources: { listeners: [listener] } });
    await proxy.start();
  });
  after(async () => {
    await proxy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `fn` while X509Certificate#fingerprint256 throws (the injected bug). */
  async function withBrokenFingerprint<T>(fn: () => Promise<T>): Promise<T> {
    const original = Object.getOwnPropertyDescriptor(X509Certificate.prototype, "fingerprint256")!;
    Object.defineProperty(X509Certificate.prototype, "fingerprint256", {
      configurable: true,
      get() {
        throw new Error("injected fingerprint failure");
      },
    });
    try {
      return await fn();
    } finally {
      Object.defineProperty(X509Certificate.prototype, "fingerprint256", original);
    }
  }

  const h2get = (): Promise<string> =>
    new Promise((resolve) => {
      const session = http2.connect(`https://${IP}:${PORT}`, { ca, ...client, checkServerIdentity: () => undefined });
      session.on("error", () => {});
      const req = session.request({ ":path": "/" });
      // A stream nobody answers or resets (the bug this guards against) fails the test, not hangs it.
      req.setTimeout(10_000, () => req.close(http2.constants.NGHTTP2_CANCEL));
      let body = "";
      let status = "";
      req.on("response", (h) => (status = String(h[":status"])));
      req.setEncoding("utf8");
      req.on("data", (d: string) => (body += d));
      req.on("close", () => {
        session.close();
        resolve(status ? `${status} ${body}` : `reset ${req.rstCode}`);
      });
      req.on("error", () => {});
      req.end();
    });

  const h1get = (): Promise<string> =>
    new Promise((resolve) => {
      const s = tls.connect({ host: IP, port: PORT, ca, ...client, ALPNProtocols: ["http/1.1"], checkServerIdentity: () => undefined }, () => s.write("GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"));
      let got = "";
      s.on("data", (d: Buffer) => (got += d.toString("latin1")));
      s.setTimeout(10_000, () => s.destroy());
      s.on("error", () => {});
      s.on("close", () => resolve(got.split("\r\n")[0] || "closed"));
    });

  it("HTTP/2: the stream is reset and logged, the proxy lives and serves the next one", async () => {
    assert.equal(await h2get(), "200 ok");
    const r = await withBrokenFingerprint(h2get);
    assert.match(r, /^reset \d+$/);
    assert.ok(logs.some((l) => /stream reset after an internal error: Error: injected fingerprint failure/.test(l)), logs.join("\n"));
    assert.equal(await h2get(), "200 ok");
  });

  it("HTTP/1.1: the connection is closed without a response, logged, and the next one served", async () => {
    const before = logs.length;
    assert.equal(await withBrokenFingerprint(h1get), "closed");
    assert.ok(logs.slice(before).some((l) => l.includes("injected fingerprint failure")), logs.join("\n"));
    assert.equal(await h1get(), "HTTP/1.1 200 OK");
  });
});
