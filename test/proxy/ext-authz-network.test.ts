// The network ext_authz filter on real sockets: a proxy listener (ext_authz, then tcp_proxy to a
// real echo server) checking each new connection with a real gRPC Authorization server. Allowed
// connections flow, denied ones close before a byte reaches the upstream, an unreachable service
// closes unless failure_mode_allow, filter_enabled_metadata skips the check; over TLS the check
// carries the peers' SPIFFE principals, the client certificate and the SNI. Stats as Envoy's.
import assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import { X509Certificate } from "node:crypto";
import * as tls from "node:tls";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import type { ProtoObject } from "../../src/envoy/protos.js";
import { ProxyServer } from "../../src/proxy/proxy.js";
import { GrpcCheckServer } from "./ext-authz-servers.js";
import { staticCluster } from "./protocol-helpers.js";
import { DOWNSTREAM_TLS, type Svid, TestPki } from "./sds-pki.js";

const IP = "127.0.215.1";
const ECHO_IP = "127.0.215.2";
const AUTHZ_IP = "127.0.215.3";
const PORTS = { plain: 18301, failOpen: 18302, failClosed: 18303, gated: 18304, tls: 18305 };
const TYPE = "type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz";
const TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

function listener(name: string, port: number, extAuthz: ProtoObject, chain: ProtoObject = {}): ProtoObject {
  return {
    name,
    address: { socketAddress: { address: IP, portValue: port } },
    filterChains: [
      {
        filters: [
          { name: "envoy.filters.network.ext_authz", typedConfig: { "@type": TYPE, statPrefix: "tcp.", transportApiVersion: "V3", ...extAuthz } },
          { name: "envoy.filters.network.tcp_proxy", typedConfig: { "@type": TCP_PROXY, statPrefix: name, cluster: "echo" } },
        ],
        ...chain,
      },
    ],
  };
}

const grpcService = (cluster: string) => ({ envoyGrpc: { clusterName: cluster }, timeout: { seconds: 5 } });

/** Sends "ping" and reads what comes back until the connection closes or "ping" returns. */
function exchange(connect: () => net.Socket): Promise<{ echoed: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect();
    let got = "";
    const done = (closed: boolean) => {
      s.destroy();
      resolve({ echoed: got, closed });
    };
    s.on("data", (d: Buffer) => {
      got += d.toString();
      if (got === "ping") done(false);
    });
    s.on("error", () => {});
    s.on("close", () => done(true));
    s.write("ping");
  });
}

describe("ext_authz (network filter)", () => {
  const check = new GrpcCheckServer();
  let echo: net.Server;
  let echoed = 0;
  let proxy: ProxyServer;
  let pki: TestPki;
  let server: Svid;
  let client: Svid;

  before(async () => {
    pki = await TestPki.create();
    server = await pki.svid("echo-server");
    client = await pki.svid("sleep", "foo");
    await check.start(AUTHZ_IP);
    echo = net.createServer((s) => {
      echoed++;
      s.on("error", () => {});
      s.pipe(s);
    });
    await new Promise<void>((r) => echo.listen(0, ECHO_IP, () => r()));
    const echoPort = (echo.address() as net.AddressInfo).port;
    const deadPort = await new Promise<number>((resolve) => {
      const s = http.createServer().listen(0, AUTHZ_IP, () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const tlsContext = {
      "@type": DOWNSTREAM_TLS,
      requireClientCertificate: true,
      commonTlsContext: {
        tlsCertificates: [{ certificateChain: { inlineString: server.secret.certificateChainPem }, privateKey: { inlineString: server.secret.privateKeyPem } }],
        validationContext: { trustedCa: { inlineString: pki.root.trustedCaPem } },
      },
    };
    proxy = new ProxyServer({
      staticResources: {
        listeners: [
          listener("plain", PORTS.plain, { grpcService: grpcService("authz") }),
          listener("failopen", PORTS.failOpen, { grpcService: grpcService("dead"), failureModeAllow: true, statPrefix: "open" }),
          listener("failclosed", PORTS.failClosed, { grpcService: grpcService("dead"), statPrefix: "closed" }),
          listener("gated", PORTS.gated, { grpcService: grpcService("authz"), statPrefix: "gated", filterEnabledMetadata: { filter: "envoy.filters.network.rbac", path: [{ key: "shadow" }], value: { presentMatch: true } } }),
          listener("tls", PORTS.tls, { grpcService: grpcService("authz"), statPrefix: "tls", includePeerCertificate: true, includeTlsSession: true }, { transportSocket: { name: "envoy.transport_sockets.tls", typedConfig: tlsContext } }),
        ],
        clusters: [staticCluster("echo", ECHO_IP, echoPort), staticCluster("authz", AUTHZ_IP, check.port, { protocol: "http2" }), staticCluster("dead", AUTHZ_IP, deadPort, { protocol: "http2" })],
      },
      node: { id: "ext-authz-network-test" },
      ip: IP,
    });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    await check.close();
    await new Promise<void>((r) => echo.close(() => r()));
    pki.close();
  });

  const plain = (port: number) => () => net.connect(port, IP);
  const counter = (name: string) => proxy.stats.counter(name).value;

  it("allowed: the connection flows; the check carries both peers' addresses", async () => {
    check.handler = () => ({ response: { status: { code: 0 } } });
    const r = await exchange(plain(PORTS.plain));
    assert.deepEqual(r, { echoed: "ping", closed: false });
    const a = check.seen[check.seen.length - 1].attributes;
    assert.equal(a.source?.address?.socketAddress?.address, "127.0.0.1");
    assert.equal(a.destination?.address?.socketAddress?.address, IP);
    assert.equal(a.destination?.address?.socketAddress?.portValue, PORTS.plain);
    assert.equal(a.request, undefined, "a TCP check has no HTTP request");
    assert.equal(counter("ext_authz.tcp.total"), 1);
    assert.equal(counter("ext_authz.tcp.ok"), 1);
    assert.equal(proxy.stats.gauge("ext_authz.tcp.active").value, 0);
  });

  it("denied: closed before any byte reaches the upstream", async () => {
    check.handler = () => ({ response: { status: { code: grpc.status.PERMISSION_DENIED } } });
    const before = echoed;
    const r = await exchange(plain(PORTS.plain));
    assert.deepEqual(r, { echoed: "", closed: true });
    assert.equal(echoed, before, "the upstream never saw the connection");
    assert.equal(counter("ext_authz.tcp.denied"), 1);
    assert.equal(counter("ext_authz.tcp.cx_closed"), 1);
  });

  it("an unreachable service: closed, or let through with failure_mode_allow", async () => {
    assert.deepEqual(await exchange(plain(PORTS.failClosed)), { echoed: "", closed: true });
    assert.equal(counter("ext_authz.closed.error"), 1);
    assert.equal(counter("ext_authz.closed.cx_closed"), 1);
    assert.deepEqual(await exchange(plain(PORTS.failOpen)), { echoed: "ping", closed: false });
    assert.equal(counter("ext_authz.open.error"), 1);
    assert.equal(counter("ext_authz.open.failure_mode_allowed"), 1);
  });

  it("filter_enabled_metadata that does not match: no check, the connection flows", async () => {
    check.handler = () => ({ response: { status: { code: grpc.status.PERMISSION_DENIED } } });
    const seen = check.seen.length;
    assert.deepEqual(await exchange(plain(PORTS.gated)), { echoed: "ping", closed: false });
    assert.equal(check.seen.length, seen);
    assert.equal(counter("ext_authz.gated.disabled"), 1);
  });

  it("over TLS: SPIFFE principals of both peers, the client certificate (URL-encoded PEM) and the SNI", async () => {
    check.handler = () => ({ response: { status: { code: 0 } } });
    const connect = () =>
      tls.connect({ host: IP, port: PORTS.tls, servername: "echo.example", ca: pki.root.trustedCaPem, cert: client.secret.certificateChainPem, key: client.secret.privateKeyPem, checkServerIdentity: () => undefined });
    assert.deepEqual(await exchange(connect), { echoed: "ping", closed: false });
    const a = check.seen[check.seen.length - 1].attributes;
    assert.equal(a.source?.principal, "spiffe://cluster.local/ns/foo/sa/sleep");
    assert.equal(a.destination?.principal, "spiffe://cluster.local/ns/default/sa/echo-server");
    assert.equal(a.tlsSession?.sni, "echo.example");
    const pem = decodeURIComponent(a.source?.certificate ?? "");
    assert.match(pem, /^-----BEGIN CERTIFICATE-----/);
    assert.equal(new X509Certificate(pem).subjectAltName, "URI:spiffe://cluster.local/ns/foo/sa/sleep");
  });
});
