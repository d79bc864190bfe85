// Upstream TLS session resumption (Envoy's max_session_keys, default 1): a cluster's next connection
// to the same server name resumes the session its last one was given (ssl.session_reused), and
// max_session_keys 0 turns it off. Real TLS on 127.0.68.62-63; the backend closes every connection
// after its response so each request needs a new one.
import assert from "node:assert/strict";
import * as https from "node:https";
import type * as tls from "node:tls";
import { after, before, describe, it } from "node:test";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { request } from "../helpers.js";
import { cluster, pem, trustCa } from "./tls-fixtures.js";

const PROXY_IP = "127.0.68.62";
const BACKEND_IP = "127.0.68.63";

function hcm(): object {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typedConfig: {
      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      statPrefix: "resume",
      routeConfig: {
        name: "r",
        virtualHosts: [{ name: "v", domains: ["*"], routes: ["resume", "noresume"].map((c) => ({ match: { prefix: `/${c}/` }, route: { cluster: c } })) }],
      },
      httpFilters: [{ name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
    },
  };
}

describe("upstream TLS session resumption", () => {
  let backend: https.Server;
  let proxy: ProxyServer;
  const reused: Record<string, boolean[]> = { resume: [], noresume: [] };

  before(async () => {
    backend = https.createServer({ cert: pem("server.crt"), key: pem("server.key") }, (req, res) => {
      const which = (req.url ?? "").split("/")[1];
      reused[which]?.push((req.socket as tls.TLSSocket).isSessionReused());
      res.writeHead(200, { connection: "close", "content-type": "text/plain" });
      res.end("ok");
    });
    await new Promise<void>((r) => backend.listen(8443, BACKEND_IP, () => r()));
    proxy = new ProxyServer({
      node: { id: "tls-resumption" },
      staticResources: {
        clusters: [
          cluster("resume", BACKEND_IP, 8443, { sni: "gateway.example.com", commonTlsContext: trustCa() }),
          cluster("noresume", BACKEND_IP, 8443, { sni: "gateway.example.com", maxSessionKeys: { value: 0 }, commonTlsContext: trustCa() }),
        ],
        listeners: [{ name: "http", address: { socketAddress: { address: PROXY_IP, portValue: 8080 } }, filterChains: [{ filters: [hcm()] }] }],
      },
    });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    backend.closeAllConnections();
    await new Promise<void>((r) => backend.close(() => r()));
  });

  const sequential = async (c: string, n: number) => {
    for (let i = 0; i < n; i++) {
      const r = await request(`http://${PROXY_IP}:8080/${c}/${i}`);
      assert.equal(r.status, 200, r.body);
    }
  };

  it("the second and later connections resume the session (ssl.session_reused), still verified", async () => {
    await sequential("resume", 3);
    assert.deepEqual(reused.resume, [false, true, true]);
    assert.equal(proxy.stats.counter("cluster.resume.ssl.session_reused").value, 2);
    assert.equal(proxy.stats.counter("cluster.resume.ssl.handshake").value, 3);
  });

  it("max_session_keys 0: every connection is a full handshake", async () => {
    await sequential("noresume", 3);
    assert.deepEqual(reused.noresume, [false, false, false]);
    assert.equal(proxy.stats.counter("cluster.noresume.ssl.session_reused").value, 0);
  });
});
