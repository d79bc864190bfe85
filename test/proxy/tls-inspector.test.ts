// Envoy's tls_inspector: a TLS connection picks its filter chain by the ClientHello's server name
// (exact before wildcard) without the proxy terminating TLS (Istio's PASSTHROUGH and TLS routes);
// plaintext on the same listener takes the chain without server names.
import assert from "node:assert/strict";
import * as net from "node:net";
import * as tls from "node:tls";
import { after, before, describe, it } from "node:test";
import { parseClientHello } from "../../src/proxy/listeners.js";
import { ProxyServer } from "../../src/proxy/proxy.js";

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

const tcpChain = (cluster: string, serverNames?: string[]) => ({
  ...(serverNames ? { filterChainMatch: { serverNames } } : {}),
  filters: [
    {
      name: "envoy.filters.network.tcp_proxy",
      typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", statPrefix: cluster, cluster },
    },
  ],
});

const staticCluster = (name: string, address: string) => ({
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
      accessLog: false,
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
