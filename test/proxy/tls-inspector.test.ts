// Envoy's tls_inspector: a TLS connection picks its filter chain by the ClientHello's server name
// (exact before wildcard) without the proxy terminating TLS (Istio's PASSTHROUGH and TLS routes);
// plaintext on the same listener takes the chain without server names.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as net from "node:net";
import { join } from "node:path";
import * as tls from "node:tls";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import type * as v3 from "../../src/envoy/types.js";
import { parseClientHello } from "../../src/proxy/listeners.js";
import { ProxyServer } from "../../src/proxy/proxy.js";
import { eventually } from "../helpers/eventually.js";
import { Backend } from "./helpers.js";

const IP = "127.0.67.1";

/** A TCP backend that remembers the first bytes of each connection and answers its name. */
class RawBackend {
  readonly first: Buffer[] = [];
  private readonly server: net.Server;
  constructor(readonly name: string) {
    this.server = net.createServer((s) => {
      s.once("data", (d: Buffer) => {
        this.first.push(d);
        s.end(name);
      });
      s.on("error", () => {});
    });
  }
  listen(address: string): Promise<void> {
    return new Promise((r) => this.server.listen(9443, address, () => r()));
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

const tcpChain = (cluster: string, serverNames?: string[]): v3.FilterChain => ({
  ...(serverNames ? { filterChainMatch: { serverNames } } : {}),
  filters: [
    {
      name: "envoy.filters.network.tcp_proxy",
      typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", statPrefix: cluster, cluster },
    },
  ],
});

const staticCluster = (name: string, address: string): v3.Cluster => ({
  name,
  type: "STATIC",
  connectTimeout: { seconds: 1 },
  loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address, portValue: 9443 } } } }] }] },
});

function tlsHello(servername: string): Promise<void> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: IP, port: 9443, servername, rejectUnauthorized: false, ALPNProtocols: ["h2", "http/1.1"] });
    s.on("error", () => resolve()); // the backends are not TLS servers: the handshake fails after routing
    s.on("close", () => resolve());
  });
}

describe("tls_inspector filter chain selection", () => {
  const backends = [new RawBackend("exact"), new RawBackend("wildcard"), new RawBackend("plain")];
  let proxy: ProxyServer;

  before(async () => {
    await backends[0].listen("127.0.67.2");
    await backends[1].listen("127.0.67.3");
    await backends[2].listen("127.0.67.4");
    proxy = new ProxyServer({
      node: { id: "tls-test" },
      staticResources: {
        clusters: [staticCluster("exact", "127.0.67.2"), staticCluster("wildcard", "127.0.67.3"), staticCluster("plain", "127.0.67.4")],
        listeners: [
          {
            name: "passthrough",
            address: { socketAddress: { address: IP, portValue: 9443 } },
            filterChains: [tcpChain("wildcard", ["*.example.com"]), tcpChain("exact", ["api.example.com"]), tcpChain("plain")],
          },
        ],
      },
    });
    await proxy.start();
  });
  after(async () => {
    await proxy.close();
    for (const b of backends) await b.close();
  });

  it("routes by SNI: exact beats wildcard, wildcard catches the rest, plaintext goes to the chain without names", async () => {
    await tlsHello("api.example.com");
    await tlsHello("www.example.com");
    const plain = await new Promise<string>((resolve, reject) => {
      const s = net.connect(9443, IP, () => s.write("hello"));
      let out = "";
      s.on("data", (d: Buffer) => (out += d.toString()));
      s.on("close", () => resolve(out));
      s.on("error", reject);
    });
    assert.equal(plain, "plain");
    assert.equal(backends[0].first.length, 1);
    assert.equal(backends[1].first.length, 1);
    // The backends got the untouched ClientHello (no termination), with its SNI and ALPN.
    const hello = parseClientHello(backends[0].first[0]);
    assert.ok(hello && hello !== "incomplete");
    assert.equal(hello.sni, "api.example.com");
    assert.deepEqual(hello.alpn, ["h2", "http/1.1"]);
  });

  it("parses ClientHellos defensively", () => {
    assert.equal(parseClientHello(Buffer.from([0x16, 0x03])), "incomplete");
    assert.equal(parseClientHello(Buffer.from("GET / HTTP/1.1\r\n")), undefined);
    assert.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0, 0, 0])), undefined);
  });
});

describe("TLS termination (DownstreamTlsContext)", () => {
  const fixtures = join(packageRoot(), "test", "fixtures", "tls");
  const ca = readFileSync(join(fixtures, "ca.crt"));
  let backend: Backend;
  let proxy: ProxyServer;

  before(async () => {
    backend = await Backend.start("behind-tls", "127.0.67.12", 8080);
    const hcm: v3.NetworkFilter = {
      name: "envoy.filters.network.http_connection_manager",
      typedConfig: {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        statPrefix: "https",
        routeConfig: { name: "r", virtualHosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "app" } }] }] },
        httpFilters: [{ name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
      },
    };
    const tlsSocket: v3.TransportSocket = {
      name: "envoy.transport_sockets.tls",
      typedConfig: {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        commonTlsContext: {
          tlsCertificates: [{ certificateChain: { filename: join(fixtures, "server.crt") }, privateKey: { filename: join(fixtures, "server.key") } }],
          alpnProtocols: ["h2", "http/1.1"],
        },
      },
    };
    proxy = new ProxyServer({
      node: { id: "tls-termination" },
      staticResources: {
        clusters: [{ ...staticCluster("app", "127.0.67.12"), loadAssignment: { clusterName: "app", endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: "127.0.67.12", portValue: 8080 } } } }] }] } }],
        listeners: [
          {
            name: "https",
            address: { socketAddress: { address: "127.0.67.11", portValue: 8443 } },
            filterChains: [{ filterChainMatch: { serverNames: ["gateway.example.com"] }, filters: [hcm], transportSocket: tlsSocket }],
          },
        ],
      },
    });
    await proxy.start();
  });
  after(async () => {
    await proxy.close();
    await backend.close();
  });

  it("terminates TLS for the matching server name and forwards plaintext", async () => {
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request({ host: "127.0.67.11", port: 8443, path: "/secure", servername: "gateway.example.com", ca, headers: { host: "gateway.example.com" } }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(r.status, 200);
    assert.equal(r.body, "behind-tls");
    assert.equal(backend.seen.at(-1)!.headers["x-forwarded-proto"], "https");
    // A client offering only http/1.1 gets it.
    const alpn = await new Promise<string | false | null>((resolve, reject) => {
      const c = tls.connect({ host: "127.0.67.11", port: 8443, servername: "gateway.example.com", ca, ALPNProtocols: ["http/1.1"] }, () => {
        resolve(c.alpnProtocol);
        c.end();
      });
      c.on("error", reject);
    });
    assert.equal(alpn, "http/1.1");
  });

  it("serves HTTP/2 when ALPN picks h2 (several streams on one TLS connection)", async () => {
    const session = http2.connect("https://gateway.example.com:8443", {
      ca,
      servername: "gateway.example.com",
      createConnection: () => tls.connect({ host: "127.0.67.11", port: 8443, servername: "gateway.example.com", ca, ALPNProtocols: ["h2", "http/1.1"] }),
    });
    try {
      const one = (path: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const s = session.request({ ":path": path, ":authority": "gateway.example.com" });
          let status = 0;
          let body = "";
          s.on("response", (h) => (status = Number(h[":status"])));
          s.on("data", (c: Buffer) => (body += c.toString()));
          s.on("end", () => resolve({ status, body }));
          s.on("error", reject);
          s.end();
        });
      const rs = await Promise.all([one("/h2/a"), one("/h2/b"), one("/h2/c")]);
      for (const r of rs) assert.deepEqual(r, { status: 200, body: "behind-tls" });
      assert.equal((session.socket as tls.TLSSocket).alpnProtocol, "h2");
      const seen = backend.seen.filter((s) => s.url.startsWith("/h2/"));
      assert.equal(seen.length, 3);
      assert.equal(seen[0].headers["x-forwarded-proto"], "https");
    } finally {
      session.close();
    }
    assert.match(proxy.stats.text(/downstream_cx_http2_total/), /http\.https\.downstream_cx_http2_total: [1-9]/);
  });

  it("a failed handshake closes that connection only and counts ssl.connection_error", async () => {
    const err = await new Promise<Error>((resolve) => {
      // No CA: the client rejects the proxy's certificate and aborts the handshake.
      const c = tls.connect({ host: "127.0.67.11", port: 8443, servername: "gateway.example.com" }, () => resolve(new Error("handshake should fail")));
      c.on("error", resolve);
    });
    assert.match(err.message, /self.signed|unable to verify|certificate/i);
    await eventually("ssl.connection_error counted", () => /listener\.127\.0\.67\.11_8443\.ssl\.connection_error: [1-9]/.test(proxy.stats.text(/ssl\./)));
    assert.match(proxy.stats.text(/ssl\./), /ssl\.handshake: [1-9]/);
    // The listener still serves.
    const ok = await new Promise<number>((resolve, reject) => {
      https.get({ host: "127.0.67.11", port: 8443, path: "/", servername: "gateway.example.com", ca }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on("error", reject);
    });
    assert.equal(ok, 200);
  });

  it("a certificate that cannot be read is a config error naming the field", () => {
    const bad = new ProxyServer({
      node: { id: "bad-tls" },
      staticResources: {
        listeners: [
          {
            name: "bad",
            address: { socketAddress: { address: "127.0.67.11", portValue: 8444 } },
            filterChains: [
              {
                filters: [{ name: "envoy.filters.network.tcp_proxy", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", statPrefix: "x", cluster: "app" } }],
                transportSocket: {
                  name: "envoy.transport_sockets.tls",
                  typedConfig: {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                    commonTlsContext: { tlsCertificates: [{ certificateChain: { filename: "/nonexistent.crt" }, privateKey: { inlineString: "x" } }] },
                  },
                },
              },
            ],
          },
        ],
      },
    });
    return assert.rejects(bad.start(), /filterChains\[0\]\.transportSocket\.commonTlsContext\.tlsCertificates\[0\]\.certificateChain\.filename: cannot read \/nonexistent\.crt/);
  });
});
