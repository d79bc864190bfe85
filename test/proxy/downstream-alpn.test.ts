// ALPN on TLS termination as Envoy negotiates it: a client offering protocols the context does not
// speak (Istio's `istio` / `istio-peer-exchange` against an inbound chain offering h2 and http/1.1)
// completes its handshake without ALPN instead of the no_application_protocol alert node would send;
// an overlapping offer gets the context's choice. Real listener, real TLS, 127.0.136.x.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tls from "node:tls";
import { packageRoot } from "../../src/core/paths.js";
import type * as v3 from "../../src/envoy/types.js";
import { ProxyServer } from "../../src/proxy/proxy.js";

const IP = "127.0.136.1";
const PORT = 8443;
const FIX = join(packageRoot(), "test", "fixtures", "tls");

const listener: v3.Listener = {
  name: "tls_in",
  address: { socketAddress: { address: IP, portValue: PORT } },
  filterChains: [
    {
      transportSocket: {
        name: "envoy.transport_sockets.tls",
        typedConfig: {
          "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
          commonTlsContext: {
            alpnProtocols: ["h2", "http/1.1"],
            tlsCertificates: [{ certificateChain: { filename: join(FIX, "server.crt") }, privateKey: { filename: join(FIX, "server.key") } }],
          },
        },
      },
      filters: [
        {
          name: "envoy.filters.network.http_connection_manager",
          typedConfig: {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            statPrefix: "in",
            routeConfig: { name: "r", virtualHosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, directResponse: { status: 200, body: { inlineString: "ok" } } }] }] },
            httpFilters: [{ name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
          },
        },
      ],
    },
  ],
};

/** A TLS handshake offering `alpn`, then one HTTP/1.1 GET: the negotiated protocol and the response's first line. */
function get(alpn: string[]): Promise<{ alpn: string | false; line: string }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: IP, port: PORT, ALPNProtocols: alpn, rejectUnauthorized: false }, () => {
      s.write(`GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
    });
    let got = "";
    s.on("data", (d: Buffer) => (got += d.toString("latin1")));
    s.on("end", () => resolve({ alpn: s.alpnProtocol ?? false, line: got.split("\r\n")[0] }));
    s.on("error", reject);
  });
}

describe("downstream TLS: ALPN negotiation as Envoy's", () => {
  let proxy: ProxyServer;
  before(async () => {
    proxy = new ProxyServer({ node: { id: "alpn-test" }, staticResources: { listeners: [listener] } });
    await proxy.start();
  });
  after(async () => {
    await proxy.close();
  });

  it("an offer sharing nothing with the context completes without ALPN (Istio's `istio` against h2/http/1.1)", async () => {
    const r = await get(["istio-peer-exchange", "istio"]);
    assert.equal(r.alpn, false);
    assert.equal(r.line, "HTTP/1.1 200 OK");
  });

  it("an overlapping offer gets the protocol both speak", async () => {
    const r = await get(["istio", "http/1.1"]);
    assert.equal(r.alpn, "http/1.1");
    assert.equal(r.line, "HTTP/1.1 200 OK");
  });

  it("no ALPN offered: no ALPN, HTTP/1.1", async () => {
    const r = await get([]);
    assert.equal(r.alpn, false);
    assert.equal(r.line, "HTTP/1.1 200 OK");
  });
});
