// The network RBAC filter in a running proxy, real sockets: a denied connection is closed before a
// byte reaches tcp_proxy (the backend never sees it), an allowed one is proxied; the shadow result
// lands in the connection's dynamic metadata (read by a second network RBAC filter) and both count
// under Envoy's stat names (<stat_prefix>rbac.…, the shadow prefix); over TLS, the SNI
// (requested_server_name) and the client's SPIFFE SVID (authenticated) decide. Config the filter
// cannot implement is refused with its field path. Proxy on 127.0.91.20, echo backend on
// 127.0.91.21, clients from 127.0.91.30-32.
import assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import * as tls from "node:tls";
import { after, before, describe, it } from "node:test";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import type { Svid, TestPki } from "../sds-pki.js";
import { meshIdentities } from "./rbac-input.js";

const IP = "127.0.91.20";
const ECHO_IP = "127.0.91.21";
const ECHO_PORT = 18220;
const PORTS = { tcp: 18221, tls: 18222, http: 18223, passthrough: 18224 };
const NET_RBAC = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";
const TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
const anyone = [{ any: true }];
const from = (ip: string) => ({ sourceIp: { addressPrefix: ip, prefixLen: { value: 32 } } });

const netRbac = (config: ProtoObject) => ({ name: "envoy.filters.network.rbac", typedConfig: { "@type": NET_RBAC, ...config } });
const tcpProxy = { name: "envoy.filters.network.tcp_proxy", typedConfig: { "@type": TCP_PROXY, statPrefix: "echo", cluster: "echo" } };
const listener = (name: string, port: number, filters: ProtoObject[], chain: ProtoObject = {}) => ({ name, address: { socketAddress: { address: IP, portValue: port } }, filterChains: [{ filters, ...chain }] });
const echoCluster = { name: "echo", type: "STATIC", connectTimeout: { seconds: 1 }, loadAssignment: { clusterName: "echo", endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: ECHO_IP, portValue: ECHO_PORT } } } }] }] } };

/** Sends "ping" and reports what came back before the connection closed (the echo, or "" when closed unanswered). */
function exchange(socket: net.Socket, connectEvent: "connect" | "secureConnect"): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    socket.on("data", (d: Buffer) => {
      got += d.toString();
      if (got === "ping") socket.end();
    });
    socket.on("error", () => {});
    socket.on("close", () => resolve(got));
    socket.once(connectEvent, () => socket.write("ping"));
    socket.setTimeout(10_000, () => socket.destroy());
  });
}

describe("network RBAC filter", () => {
  let echo: net.Server;
  const accepted: string[] = [];
  let proxy: ProxyServer;
  let pki: TestPki;
  let fooSvid: Svid;
  let barSvid: Svid;
  const counter = (name: string) => proxy.stats.counter(name).value;

  before(async () => {
    const ids = await meshIdentities("db", "data");
    ({ pki, foo: fooSvid, bar: barSvid } = ids);
    echo = net.createServer((s) => {
      accepted.push(s.remoteAddress ?? "");
      s.pipe(s);
      s.on("error", () => {});
    });
    await new Promise<void>((r) => echo.listen(ECHO_PORT, ECHO_IP, () => r()));
    const tcp = listener("tcp", PORTS.tcp, [
      netRbac({
        statPrefix: "tcp.",
        rules: { action: "ALLOW", policies: { clients: { permissions: anyone, principals: [from("127.0.91.30"), from("127.0.91.32")] } } },
        shadowRules: { action: "ALLOW", policies: { "only-30": { permissions: anyone, principals: [{ remoteIp: { addressPrefix: "127.0.91.30", prefixLen: { value: 32 } } }] } } },
        shadowRulesStatPrefix: "dry_",
      }),
      netRbac({
        statPrefix: "second",
        rules: {
          action: "DENY",
          policies: { "shadow-said-deny": { permissions: [{ metadata: { filter: "envoy.filters.network.rbac", path: [{ key: "dry_shadow_engine_result" }], value: { stringMatch: { exact: "denied" } } } }], principals: anyone } },
        },
      }),
      tcpProxy,
    ]);
    const mtls = listener(
      "tls",
      PORTS.tls,
      [
        netRbac({
          statPrefix: "tls.",
          rules: {
            action: "ALLOW",
            policies: { "foo-to-db": { permissions: [{ requestedServerName: { exact: "db.data.svc" } }], principals: [{ authenticated: { principalName: { prefix: "spiffe://cluster.local/ns/foo/" } } }] } },
          },
        }),
        tcpProxy,
      ],
      { transportSocket: ids.transportSocket },
    );
    const hcm = {
      name: "envoy.filters.network.http_connection_manager",
      typedConfig: {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        statPrefix: "web",
        routeConfig: { name: "web", virtualHosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, directResponse: { status: 200, body: { inlineString: "hello" } } }] }] },
        httpFilters: [{ name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
      },
    };
    const web = listener("http", PORTS.http, [netRbac({ statPrefix: "web.", rules: { action: "DENY", policies: { "no-31": { permissions: anyone, principals: [from("127.0.91.31")] } } } }), hcm]);
    // TLS passed through untouched (no termination): the SNI tls_inspector read decides.
    const passthrough = {
      ...listener("passthrough", PORTS.passthrough, [netRbac({ statPrefix: "pass.", rules: { action: "ALLOW", policies: { db: { permissions: [{ requestedServerName: { exact: "db.data.svc" } }], principals: anyone } } } }), tcpProxy], {
        filterChainMatch: { transportProtocol: "tls" },
      }),
      listenerFilters: [{ name: "envoy.filters.listener.tls_inspector", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector" } }],
    };
    proxy = new ProxyServer({ staticResources: { listeners: [tcp, mtls, web, passthrough] as never, clusters: [echoCluster] as never }, node: { id: "net-rbac-test" }, ip: IP, log: () => {} });
    await proxy.start();
  });

  after(async () => {
    await proxy?.close();
    await new Promise<void>((r) => echo.close(() => r()));
    pki?.close();
  });

  const plain = (localAddress: string) => exchange(net.connect({ host: IP, port: PORTS.tcp, localAddress }), "connect");

  it("proxies an allowed connection and closes a denied one before tcp_proxy sees it", async () => {
    assert.equal(await plain("127.0.91.30"), "ping");
    assert.equal(await plain("127.0.91.31"), "");
    assert.equal(accepted.length, 1);
    assert.equal(counter("tcp.rbac.allowed"), 1);
    assert.equal(counter("tcp.rbac.denied"), 1);
  });

  it("shadow rules count under their prefix and leave their result for the next filter", async () => {
    const before = { sa: counter("tcp.rbac.dry_.shadow_allowed"), sd: counter("tcp.rbac.dry_.shadow_denied") };
    // .32 is allowed by the rules, denied by the shadow rules: the second filter reads that and closes it.
    assert.equal(await plain("127.0.91.32"), "");
    assert.equal(await plain("127.0.91.30"), "ping");
    assert.equal(counter("tcp.rbac.dry_.shadow_denied") - before.sd, 1);
    assert.equal(counter("tcp.rbac.dry_.shadow_allowed") - before.sa, 1);
    // stat_prefix without a trailing dot gets one (Envoy's statPrefixJoin).
    assert.equal(counter("second.rbac.denied"), 1);
    assert.ok(counter("second.rbac.allowed") >= 1);
  });

  const get = (localAddress: string) =>
    new Promise<string>((resolve) => {
      const req = http.get({ host: IP, port: PORTS.http, path: "/", localAddress, agent: false }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve(`${res.statusCode} ${body}`));
      });
      req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
    });

  it("before an http_connection_manager: an allowed connection serves requests, a denied one is closed", async () => {
    assert.equal(await get("127.0.91.30"), "200 hello");
    assert.equal(await get("127.0.91.31"), "ECONNRESET");
    assert.equal(counter("web.rbac.denied"), 1);
    assert.equal(counter("web.rbac.allowed"), 1);
  });

  const secure = (svid: Svid, servername: string) =>
    exchange(
      tls.connect({ host: IP, port: PORTS.tls, servername, ca: pki.root.trustedCaPem, cert: svid.secret.certificateChainPem, key: svid.secret.privateKeyPem, checkServerIdentity: () => undefined }),
      "secureConnect",
    );

  it("TLS passed through: the SNI of the ClientHello decides", async () => {
    const hello = (servername: string) =>
      new Promise<void>((resolve) => {
        // The echo backend sends the ClientHello back, so an allowed handshake fails too: only
        // whether the backend got a connection tells.
        const s = tls.connect({ host: IP, port: PORTS.passthrough, servername, rejectUnauthorized: false });
        s.on("error", () => {});
        s.on("close", () => resolve());
        s.setTimeout(10_000, () => s.destroy());
      });
    const seen = accepted.length;
    await hello("other.svc");
    assert.equal(accepted.length, seen);
    await hello("db.data.svc");
    assert.equal(accepted.length, seen + 1);
    assert.equal(counter("pass.rbac.allowed"), 1);
    assert.equal(counter("pass.rbac.denied"), 1);
  });

  it("over TLS: the SNI and the client's SPIFFE identity decide", async () => {
    assert.equal(await secure(fooSvid, "db.data.svc"), "ping");
    assert.equal(await secure(fooSvid, "other.svc"), "");
    assert.equal(await secure(barSvid, "db.data.svc"), "");
    assert.equal(counter("tls.rbac.allowed"), 1);
    assert.equal(counter("tls.rbac.denied"), 2);
  });
});

describe("network RBAC config the proxy cannot implement is refused", () => {
  const cases: Array<[string, ProtoObject, RegExp]> = [
    ["CONTINUOUS enforcement", { statPrefix: "x.", enforcementType: "CONTINUOUS" }, /filters\[0\]\.typedConfig\.enforcementType: CONTINUOUS/],
    ["no stat_prefix", {}, /filters\[0\]\.typedConfig\.statPrefix: /],
    ["a matcher tree", { statPrefix: "x.", matcher: { onNoMatch: {} } }, /filters\[0\]\.typedConfig\.matcher: /],
    ["a CEL condition", { statPrefix: "x.", rules: { policies: { p: { permissions: anyone, principals: anyone, condition: { id: "1" } } } } }, /typedConfig\.rules\.policies\["p"\]\.condition: CEL/],
  ];
  for (const [name, config, re] of cases) {
    it(name, async () => {
      const p = new ProxyServer({ staticResources: { listeners: [listener("bad", 0, [netRbac(config), tcpProxy])] as never, clusters: [echoCluster] as never }, node: { id: "net-rbac-bad" }, ip: IP, log: () => {} });
      await assert.rejects(p.start(), (e: unknown) => e instanceof Error && re.test(e.message));
      await p.close();
    });
  }
});
