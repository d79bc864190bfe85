// Istio's TCP metadata exchange with real proxies, real mTLS and ALPN on loopback (127.0.224.x):
// a client sidecar (tcp_proxy to a cluster with an UpstreamTlsContext offering
// [istio-peer-exchange, istio] and the metadata exchange cluster filter) and a server sidecar (a TLS
// chain offering istio-peer-exchange, the metadata exchange network filter, tcp_proxy to an echo
// app). The server learns the client (connection filter state "downstream_peer", read by a probe
// read filter after the exchange); the connector learns the server ("upstream_peer"); the
// application's bytes flow untouched both ways. A peer without ALPN (plain TLS) still works; hostile
// exchanges are handled as Istio does (wrong magic: plain bytes) or closed (oversized, ended early).
import assert from "node:assert/strict";
import * as net from "node:net";
import * as tls from "node:tls";
import { after, before, describe, it } from "node:test";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import type { ProxyServer } from "../../../src/proxy/proxy.js";
import { NETWORK_FILTERS, NetworkFilterStatus } from "../../../src/proxy/network-filters.js";
import { TCP_PROXY_TYPE } from "../../../src/proxy/tcp.js";
import { METADATA_EXCHANGE_TYPE } from "../../../src/proxy/observability/tcp-metadata-exchange.js";
import { encodeExchange, localPeer, MX_MAGIC, readExchange } from "../../../src/proxy/observability/peer-metadata.js";
import type { PeerMetadata } from "../../../src/proxy/stream-info.js";
import { clusterSpec, UpstreamCluster } from "../../../src/proxy/upstream/cluster.js";
import { connectUpstream, UpstreamConnection } from "../../../src/proxy/upstream/connector.js";
import { StatsStore } from "../../../src/proxy/stats.js";
import { tlsFixture } from "../../helpers/tls-fixtures.js";
import { startStaticSidecar, staticCluster } from "../protocol-helpers.js";

const CLIENT_PROXY = "127.0.224.1";
const SERVER_PROXY = "127.0.224.2";
const APP = "127.0.224.3";
const PORTS = { outbound: 15201, inbound: 15202, inboundNoMx: 15203, outboundNoMx: 15204 };
const FIX = (n: string) => ({ inlineBytes: tlsFixture(n) });
const MX = { name: "istio.metadata_exchange", typedConfig: { "@type": METADATA_EXCHANGE_TYPE, protocol: "istio-peer-exchange", enable_discovery: true } };
const TLS_INSPECTOR = { name: "envoy.filters.listener.tls_inspector", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector" } };

/** Each connection's downstream_peer as the server's probe read filter saw it, by listener. */
const probed = new Map<string, Array<PeerMetadata | undefined>>();
const PROBE_TYPE = "type.googleapis.com/tsmesh.test.ConnectionStateProbe";
NETWORK_FILTERS.register([PROBE_TYPE], {
  terminal: false,
  compile: (config, ctx) => ({
    terminal: false,
    name: ctx.name,
    create: () => ({
      onNewConnection: (cb) => {
        const l = (config as unknown as { listener: string }).listener;
        probed.set(l, [...(probed.get(l) ?? []), cb.connection.filterState?.get("downstream_peer") as PeerMetadata | undefined]);
        return NetworkFilterStatus.Continue;
      },
    }),
  }),
});

const CLIENT_NODE = { NAME: "sleep-1", NAMESPACE: "default", WORKLOAD_NAME: "sleep", CLUSTER_ID: "Kubernetes", LABELS: { app: "sleep", version: "v1" } };
const SERVER_NODE = { NAME: "tcp-echo-1", NAMESPACE: "echo", WORKLOAD_NAME: "tcp-echo", CLUSTER_ID: "Kubernetes", LABELS: { app: "tcp-echo", version: "v2" } };

const tcpProxy = (cluster: string) => ({ name: "envoy.filters.network.tcp_proxy", typedConfig: { "@type": TCP_PROXY_TYPE, statPrefix: cluster, cluster } });

function serverListener(name: string, port: number, alpn: string[], filters: ProtoObject[]): ProtoObject {
  return {
    name,
    address: { socketAddress: { address: SERVER_PROXY, portValue: port } },
    listenerFilters: [TLS_INSPECTOR],
    filterChains: [
      {
        transportSocket: {
          name: "envoy.transport_sockets.tls",
          typedConfig: {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            requireClientCertificate: true,
            commonTlsContext: { alpnProtocols: alpn, tlsCertificates: [{ certificateChain: FIX("server.crt"), privateKey: FIX("server.key") }], validationContext: { trustedCa: FIX("client-ca.crt") } },
          },
        },
        filters: [...filters, { name: "probe", typedConfig: { "@type": PROBE_TYPE, listener: name } }, tcpProxy("app")],
      },
    ],
  };
}

function mtlsCluster(name: string, port: number, filters: ProtoObject[], connectTimeoutS = 5): ProtoObject {
  return {
    name,
    type: "STATIC",
    connectTimeout: { seconds: connectTimeoutS },
    loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: SERVER_PROXY, portValue: port } } } }] }] },
    transportSocket: {
      name: "envoy.transport_sockets.tls",
      typedConfig: {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        sni: "gateway.example.com",
        commonTlsContext: { alpnProtocols: ["istio-peer-exchange", "istio"], tlsCertificates: [{ certificateChain: FIX("client.crt"), privateKey: FIX("client.key") }], validationContext: { trustedCa: FIX("ca.crt") } },
      },
    },
    filters,
  };
}

/** Sends `text` through a plain connection to the client proxy and reads until `want` bytes came back. */
function echo(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: CLIENT_PROXY, port }, () => s.write(text));
    let got = "";
    s.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      if (got.length >= text.length) {
        s.destroy();
        resolve(got);
      }
    });
    s.on("error", reject);
    s.on("close", () => resolve(got));
  });
}

/** A raw mTLS client to the server proxy offering `alpn`: writes `first`, returns what it read until close or `until` bytes. */
function rawTls(port: number, alpn: string[] | undefined, first: Buffer, until = Infinity, end = false): Promise<{ alpn: string | false; got: Buffer; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: SERVER_PROXY, port, servername: "gateway.example.com", ca: tlsFixture("ca.crt"), cert: tlsFixture("client.crt"), key: tlsFixture("client.key"), ...(alpn ? { ALPNProtocols: alpn } : {}) }, () => {
      if (end) s.end(first);
      else s.write(first);
    });
    const chunks: Buffer[] = [];
    let n = 0;
    s.on("data", (d: Buffer) => {
      chunks.push(d);
      n += d.length;
      if (n >= until) {
        const out = { alpn: s.alpnProtocol ?? false, got: Buffer.concat(chunks), closed: false };
        s.destroy();
        resolve(out);
      }
    });
    s.on("error", (e) => (n > 0 ? undefined : reject(e)));
    s.on("close", () => resolve({ alpn: s.alpnProtocol ?? false, got: Buffer.concat(chunks), closed: true }));
  });
}

describe("TCP metadata exchange over mTLS between two proxies", () => {
  const app = net.createServer((s) => s.pipe(s));
  let client: ProxyServer;
  let server: ProxyServer;
  const serverId = "sidecar~127.0.224.2~tcp-echo-1.echo~echo.svc.cluster.local";

  before(async () => {
    await new Promise<void>((r) => app.listen(0, APP, () => r()));
    const appPort = (app.address() as net.AddressInfo).port;
    server = await startStaticSidecar(SERVER_PROXY, SERVER_NODE, {
      listeners: [serverListener("inbound", PORTS.inbound, ["istio-peer-exchange", "h2", "http/1.1"], [MX]), serverListener("inbound-plain", PORTS.inboundNoMx, ["h2", "http/1.1"], [])],
      clusters: [staticCluster("app", APP, appPort, { connectTimeoutMs: 5000 })],
    });
    const outbound = (name: string, port: number, cluster: string): ProtoObject => ({ name, address: { socketAddress: { address: CLIENT_PROXY, portValue: port } }, filterChains: [{ filters: [tcpProxy(cluster)] }] });
    client = await startStaticSidecar(CLIENT_PROXY, CLIENT_NODE, {
      listeners: [outbound("outbound", PORTS.outbound, "echo"), outbound("outbound-plain", PORTS.outboundNoMx, "echo-plain")],
      clusters: [mtlsCluster("echo", PORTS.inbound, [MX]), mtlsCluster("echo-plain", PORTS.inboundNoMx, [MX])],
    });
  });

  after(async () => {
    await client?.close();
    await server?.close();
    await new Promise<void>((r) => app.close(() => r()));
  });

  it("the server learns the client; the application's bytes pass untouched both ways", async () => {
    probed.clear();
    const text = "hello through the mesh\n".repeat(50);
    assert.equal(await echo(PORTS.outbound, text), text);
    const [peer] = probed.get("inbound") ?? [];
    assert.deepEqual(peer, localPeer("", CLIENT_NODE).metadata);
    assert.equal(peer?.workload, "sleep");
  });

  it("the client's connector learns the server (upstream_peer on the upstream connection)", async () => {
    const spec = clusterSpec(mtlsCluster("direct", PORTS.inbound, [MX]) as never);
    const cluster = new UpstreamCluster(spec, new StatsStore().tagged("cluster.", "direct"), undefined, { localNode: { id: "direct-client", metadata: CLIENT_NODE } });
    const host = cluster.pick()!;
    const conn = await new Promise<UpstreamConnection>((resolve, reject) => {
      const c = connectUpstream(cluster, host, { protocol: "tcp" }, { connected: () => resolve(c as UpstreamConnection), failed: (f) => reject(new Error(f.reason)) });
    });
    assert.deepEqual(conn.filterState?.get("upstream_peer"), localPeer(serverId, SERVER_NODE).metadata);
    // The bytes after the exchange are the application's: the echo answers exactly what was sent.
    const got = await new Promise<string>((resolve) => {
      conn.socket.on("data", (d: Buffer) => resolve(d.toString()));
      conn.socket.resume();
      conn.socket.write("ping");
    });
    assert.equal(got, "ping");
    conn.socket.destroy();
    cluster.close();
  });

  it("a server that does not offer istio-peer-exchange: no exchange, plain mTLS works", async () => {
    probed.clear();
    assert.equal(await echo(PORTS.outboundNoMx, "plain tls"), "plain tls");
    assert.deepEqual(probed.get("inbound-plain"), [undefined]);
  });

  it("a plain-TLS peer (no ALPN) to the exchange listener: no exchange, bytes flow", async () => {
    probed.clear();
    const r = await rawTls(PORTS.inbound, undefined, Buffer.from("no alpn here"), 12);
    assert.equal(r.alpn, false);
    assert.equal(r.got.toString(), "no alpn here");
    assert.deepEqual(probed.get("inbound"), [undefined]);
  });

  it("a peer that negotiates the ALPN but sends no exchange (wrong magic): its bytes are the application's, as Istio", async () => {
    probed.clear();
    const mine = encodeExchange(localPeer(serverId, SERVER_NODE)).length;
    const r = await rawTls(PORTS.inbound, ["istio-peer-exchange"], Buffer.from("GET / HTTP/1.1\r\n\r\n"), mine + 18);
    assert.equal(r.alpn, "istio-peer-exchange");
    const theirs = readExchange(r.got);
    assert.equal(theirs.kind, "peer", "the server wrote its exchange first");
    if (theirs.kind === "peer") assert.equal(r.got.subarray(theirs.consumed).toString(), "GET / HTTP/1.1\r\n\r\n");
    assert.deepEqual(probed.get("inbound"), [undefined]);
  });

  it("a well-formed exchange from a raw peer: learned, the rest echoed", async () => {
    probed.clear();
    const mine = encodeExchange(localPeer("raw", { NAME: "raw-1", WORKLOAD_NAME: "raw" }));
    const theirs = encodeExchange(localPeer(serverId, SERVER_NODE)).length;
    const r = await rawTls(PORTS.inbound, ["istio-peer-exchange"], Buffer.concat([mine, Buffer.from("after")]), theirs + 5);
    assert.equal(r.got.subarray(theirs).toString(), "after");
    assert.equal(probed.get("inbound")?.[0]?.workload, "raw");
  });

  const closes: Array<[string, Buffer, boolean]> = [
    ["a declared length past the bound", Buffer.from([...u32(MX_MAGIC), ...u32(0x7fffffff)]), false],
    ["a peer that ends its side mid-exchange", Buffer.from([...u32(MX_MAGIC), ...u32(100), 1, 2, 3]), true],
  ];
  for (const [name, bytes, end] of closes) {
    it(`closed: ${name} (nothing reaches the application)`, async () => {
      probed.clear();
      const r = await rawTls(PORTS.inbound, ["istio-peer-exchange"], bytes, Infinity, end);
      assert.equal(r.closed, true);
      // The server's own exchange (or the part written before the close), never an application byte.
      const servers = encodeExchange(localPeer(serverId, SERVER_NODE));
      assert.ok(r.got.length <= servers.length && servers.subarray(0, r.got.length).equals(r.got));
      assert.equal(probed.get("inbound"), undefined, "the chain never went past the exchange");
    });
  }

  it("an upstream that stalls in the exchange fails the connect within connect_timeout", async () => {
    // A TLS server that negotiates the ALPN and never writes its exchange.
    const stall = tls.createServer({ key: tlsFixture("server.key"), cert: tlsFixture("server.crt"), ALPNProtocols: ["istio-peer-exchange"] }, (s) => s.on("data", () => {}));
    await new Promise<void>((r) => stall.listen(0, SERVER_PROXY, () => r()));
    const port = (stall.address() as net.AddressInfo).port;
    const spec = clusterSpec(mtlsCluster("stall", port, [MX], 1) as never);
    const cluster = new UpstreamCluster(spec, new StatsStore().tagged("cluster.", "stall"), undefined, { localNode: { id: "x", metadata: CLIENT_NODE } });
    const failure = await new Promise<string>((resolve) => {
      connectUpstream(cluster, cluster.pick()!, { protocol: "tcp" }, { connected: () => resolve("connected"), failed: (f) => resolve(f.reason) });
    });
    assert.match(failure, /timeout/);
    cluster.close();
    await new Promise<void>((r) => stall.close(() => r()));
  });
});

function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}
