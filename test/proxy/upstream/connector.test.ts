// The one upstream connection path (connector.ts) through a real proxy: transport_socket_matches
// pick TLS or plaintext per endpoint by its envoy.transport_socket_match metadata (Istio's auto
// mTLS shape), an endpoint whose matched socket needs SDS secrets fails closed (UF, nothing sent)
// while its plaintext neighbour serves, connect_timeout covers the TLS handshake
// (upstream_cx_connect_timeout), and cluster features the proxy does not implement are refused.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../../src/core/paths.js";
import { anyOf, CLUSTER_TYPE, type JsonValue, type ProtoObject, struct } from "../../../src/envoy/protos.js";
import type { Cluster, HttpProtocolOptions, Metadata } from "../../../src/envoy/types.js";
import { HCM_TYPE } from "../../../src/proxy/http/hcm-config.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { clusterSpec } from "../../../src/proxy/upstream/cluster.js";
import { transportSocketMatchSelects } from "../../../src/proxy/upstream/cluster-config.js";
import { asDecoded, foreignAny } from "../../helpers/xds.js";

const FIX = join(packageRoot(), "test", "fixtures", "tls");
const IP = "127.0.79.1";
const TLS_IP = "127.0.79.2";
const PLAIN_IP = "127.0.79.3";
const SILENT_IP = "127.0.79.4";
const TLS_CTX = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
const ISTIO = { "envoy.transport_socket_match": { fields: { tlsMode: { stringValue: "istio" } } } };

const tlsSocket = (common: ProtoObject, sni?: string) => ({ name: "envoy.transport_sockets.tls", typedConfig: { "@type": TLS_CTX, ...(sni ? { sni } : {}), commonTlsContext: common } });
const trusted = { validationContext: { trustedCa: { filename: join(FIX, "ca.crt") } } };
const sdsOnly = { tlsCertificateSdsSecretConfigs: [{ name: "default", sdsConfig: { ads: {} } }], combinedValidationContext: { defaultValidationContext: {}, validationContextSdsSecretConfig: { name: "ROOTCA", sdsConfig: { ads: {} } } } };

function endpoint(address: string, port: number, metadata?: ProtoObject): ProtoObject {
  return { endpoint: { address: { socketAddress: { address, portValue: port } } }, ...(metadata ? { metadata: { filterMetadata: metadata } } : {}) };
}

/** Istio's auto-mTLS cluster shape: TLS for tlsMode=istio endpoints, plaintext for the rest. */
function autoMtls(name: string, common: ProtoObject, endpoints: ProtoObject[]): ProtoObject {
  return {
    name,
    type: "STATIC",
    connectTimeout: { seconds: 2 },
    loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: endpoints }] },
    transportSocketMatches: [
      { name: "tlsMode-istio", match: { fields: { tlsMode: { stringValue: "istio" } } }, transportSocket: tlsSocket(common, "gateway.example.com") },
      { name: "tlsMode-disabled", match: {}, transportSocket: { name: "envoy.transport_sockets.raw_buffer" } },
    ],
  };
}

describe("transport sockets per endpoint, through the connector", () => {
  let tlsServer: https.Server;
  let plainServer: http.Server;
  let silent: net.Server;
  const silentSockets = new Set<net.Socket>();
  let plainRequests = 0;
  let tlsRequests = 0;
  let proxy: ProxyServer;
  const PORT = 18131;

  before(async () => {
    tlsServer = https.createServer({ cert: readFileSync(join(FIX, "server.crt")), key: readFileSync(join(FIX, "server.key")) }, (req, res) => {
      tlsRequests++;
      res.end("tls");
    });
    plainServer = http.createServer((req, res) => {
      plainRequests++;
      res.end("plain");
    });
    // Accepts and never answers: a TLS handshake to it can only time out.
    silent = net.createServer((s) => {
      silentSockets.add(s);
      s.on("error", () => {});
    });
    await new Promise<void>((r) => tlsServer.listen(0, TLS_IP, () => r()));
    await new Promise<void>((r) => plainServer.listen(0, PLAIN_IP, () => r()));
    await new Promise<void>((r) => silent.listen(0, SILENT_IP, () => r()));
    const tp = (tlsServer.address() as net.AddressInfo).port;
    const pp = (plainServer.address() as net.AddressInfo).port;
    const sp = (silent.address() as net.AddressInfo).port;
    const routes = ["mixed", "sds", "slow"].map((c) => ({ match: { prefix: `/${c}` }, route: { cluster: c } }));
    proxy = new ProxyServer({
      staticResources: {
        clusters: [
          autoMtls("mixed", trusted, [endpoint(TLS_IP, tp, ISTIO), endpoint(PLAIN_IP, pp)]),
          autoMtls("sds", sdsOnly, [endpoint(PLAIN_IP, pp, ISTIO)]),
          { name: "slow", type: "STATIC", connectTimeout: { nanos: 300_000_000 }, loadAssignment: { clusterName: "slow", endpoints: [{ lbEndpoints: [endpoint(SILENT_IP, sp)] }] }, transportSocket: tlsSocket(trusted, "gateway.example.com") },
        ],
        listeners: [
          {
            name: "l",
            address: { socketAddress: { address: IP, portValue: PORT } },
            filterChains: [{ filters: [{ name: "hcm", typedConfig: { "@type": HCM_TYPE, statPrefix: "l", routeConfig: { name: "r", virtualHosts: [{ name: "all", domains: ["*"], routes }] }, httpFilters: [{ name: "router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }] } }] }],
          },
        ],
      },
      node: { id: "connector-test" },
      ip: IP,
      log: () => {},
    });
    await proxy.start();
  });

  after(async () => {
    await proxy.close();
    for (const s of silentSockets) s.destroy();
    tlsServer.closeAllConnections();
    plainServer.closeAllConnections();
    await new Promise<void>((r) => tlsServer.close(() => r()));
    await new Promise<void>((r) => plainServer.close(() => r()));
    await new Promise<void>((r) => silent.close(() => r()));
  });

  const get = (path: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: IP, port: PORT, path, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on("error", reject);
      req.end();
    });

  it("tlsMode=istio endpoints get TLS, the others plaintext (round robin over both)", async () => {
    const bodies = [];
    for (let i = 0; i < 4; i++) bodies.push((await get("/mixed")).body);
    assert.deepEqual(bodies.sort(), ["plain", "plain", "tls", "tls"]);
    assert.equal(tlsRequests, 2);
    assert.equal(plainRequests, 2);
    assert.equal(proxy.stats.counter("cluster.mixed.ssl.handshake").value, 1, "one TLS connection, reused");
  });

  it("an endpoint whose matched socket needs SDS secrets fails closed: UF, and the plaintext server gets nothing", async () => {
    const before = plainRequests;
    const r = await get("/sds");
    assert.equal(r.status, 503);
    assert.match(r.body, /Secret is not supplied by SDS/);
    assert.equal(plainRequests, before);
    assert.equal(proxy.stats.counter("cluster.sds.upstream_cx_connect_fail").value, 1);
  });

  it("connect_timeout covers the TLS handshake: UF, upstream_cx_connect_timeout", async () => {
    const r = await get("/slow");
    assert.equal(r.status, 503);
    assert.match(r.body, /delayed connect error: timeout/);
    assert.equal(proxy.stats.counter("cluster.slow.upstream_cx_connect_timeout").value, 1);
    assert.equal(proxy.stats.counter("cluster.slow.upstream_cx_connect_fail").value, 1);
    assert.equal(proxy.stats.gauge("cluster.slow.upstream_cx_active").value, 0);
  });
});

describe("transport_socket_matches compare endpoint metadata as Envoy's ValueUtil::equal", () => {
  const spec = clusterSpec({
    name: "m",
    type: "EDS",
    transportSocketMatches: [
      { name: "nested", match: struct({ tlsMode: "istio", opts: { a: 1, b: [true, null] } }), transportSocket: { name: "envoy.transport_sockets.raw_buffer" } },
      { name: "any", match: {}, transportSocket: { name: "envoy.transport_sockets.raw_buffer" } },
    ],
  });
  const [nested, any] = spec.transportSocketMatches;
  const md = (fields: { [k: string]: JsonValue }): Metadata => ({ filterMetadata: { "envoy.transport_socket_match": struct(fields) } });
  const table: Array<[string, Metadata | undefined, boolean]> = [
    ["equal, struct keys in another order, extra keys on the endpoint", md({ opts: { b: [true, null], a: 1 }, tlsMode: "istio", zone: "z" }), true],
    ["a key missing", md({ tlsMode: "istio" }), false],
    ["a number where the match has a string", md({ tlsMode: 1, opts: { a: 1, b: [true, null] } }), false],
    ["a list in another order", md({ tlsMode: "istio", opts: { a: 1, b: [null, true] } }), false],
    ["a struct with an extra field", md({ tlsMode: "istio", opts: { a: 1, b: [true, null], c: "" } }), false],
    ["no metadata", undefined, false],
    ["no envoy.transport_socket_match metadata", { filterMetadata: {} }, false],
  ];
  for (const [what, m, want] of table) it(what, () => assert.equal(transportSocketMatchSelects(nested, m), want));
  it("an empty match selects every endpoint", () => assert.equal(transportSocketMatchSelects(any, undefined), true));
  it("a match on a key Object.prototype has needs the endpoint to have it", () => {
    // A Value of no kind equals only another such Value (or, read carelessly, Object.prototype.constructor).
    const proto = clusterSpec({ name: "p", type: "EDS", transportSocketMatches: [{ name: "c", match: { fields: { constructor: {} } } }] }).transportSocketMatches[0];
    assert.equal(transportSocketMatchSelects(proto, md({})), false);
    assert.equal(transportSocketMatchSelects(proto, { filterMetadata: { "envoy.transport_socket_match": { fields: { constructor: {} } } } }), true);
  });
});

describe("cluster features the proxy does not implement are refused, naming the field", () => {
  const base: Cluster = { name: "c", type: "STATIC", connectTimeout: { seconds: 1 } };
  const HPO = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
  const hpo = (o: HttpProtocolOptions): Cluster => ({ ...base, typedExtensionProtocolOptions: { [HPO]: anyOf(HPO, o) } });
  const cases: Array<[string, Cluster, RegExp]> = [
    ["a custom cluster type", { ...base, type: undefined, clusterType: { name: "envoy.clusters.aggregate", typedConfig: anyOf("envoy.extensions.clusters.aggregate.v3.ClusterConfig", { clusters: ["a", "b"] }) } }, /cluster c: clusterType: Didn't find a registered implementation for 'envoy\.clusters\.aggregate'/],
    ["active health checks", { ...base, healthChecks: [{ timeout: { seconds: 1 } }] }, /cluster c: healthChecks: active health checking is not implemented/],
    ["subset load balancing", { ...base, lbSubsetConfig: { subsetSelectors: [{ keys: ["version"] }] } }, /cluster c: lbSubsetConfig: subset load balancing is not implemented/],
    ["an upstream network filter other than metadata exchange", { ...base, filters: [{ name: "envoy.filters.network.rbac", typedConfig: foreignAny("type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC") }] }, /cluster c: filters\[0\]: upstream network filter 'envoy\.filters\.network\.rbac' is not implemented/],
    [
      "metadata exchange with a field it does not have",
      { ...base, filters: [{ name: "istio.metadata_exchange", typedConfig: { "@type": "type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange", protocol: "istio-peer-exchange", protocl: "x" } as never }] },
      /cluster c: filters\[0\]\.typedConfig\.protocl: unknown field/,
    ],
    ["unknown protocol options", { ...base, typedExtensionProtocolOptions: { "envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions": foreignAny("type.googleapis.com/envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions") } }, /typedExtensionProtocolOptions\["envoy\.extensions\.upstreams\.tcp\.v3\.TcpProtocolOptions"\]/],
    ["an unknown transport socket in a match", { ...base, transportSocketMatches: [{ name: "m", match: {}, transportSocket: { name: "alts", typedConfig: foreignAny("type.googleapis.com/envoy.extensions.transport_sockets.alts.v3.Alts") } }] }, /cluster c: transportSocketMatches\[0\]\.transportSocket\.typedConfig: Didn't find a registered implementation for 'alts'/],
    [
      "protocol options of another type under the HTTP key",
      { ...base, typedExtensionProtocolOptions: { [HPO]: anyOf("envoy.config.core.v3.Http1ProtocolOptions", {}) } },
      /typedExtensionProtocolOptions\["envoy\.extensions\.upstreams\.http\.v3\.HttpProtocolOptions"\]: Unable to unpack as envoy\.extensions\.upstreams\.http\.v3\.HttpProtocolOptions: type\.googleapis\.com\/envoy\.config\.core\.v3\.Http1ProtocolOptions/,
    ],
    ["upstream protocol by ALPN", hpo({ autoConfig: {} }), /\.autoConfig: auto_config \(upstream protocol by ALPN\) is not implemented/],
    ["upstream HTTP filters", hpo({ explicitHttpConfig: { httpProtocolOptions: {} }, httpFilters: [{ name: "envoy.filters.http.upstream_codec" }] }), /\.httpFilters: upstream HTTP filters are not implemented/],
    ["an ORIGINAL_DST cluster balancing by another policy", { ...base, type: "ORIGINAL_DST", lbPolicy: "ROUND_ROBIN" }, /cluster c: lbPolicy: LB policy ROUND_ROBIN is not valid for Cluster type ORIGINAL_DST/],
    ["an ORIGINAL_DST cluster with the default policy", { ...base, type: "ORIGINAL_DST" }, /LB policy ROUND_ROBIN is not valid for Cluster type ORIGINAL_DST/],
    ["CLUSTER_PROVIDED on a cluster that provides no balancer", { ...base, lbPolicy: "CLUSTER_PROVIDED" }, /cluster c: lbPolicy: CLUSTER_PROVIDED is the cluster's own load balancer/],
    // Load-balancing config is compiled with the cluster: a bad one is a CDS NACK, not a failure when endpoints arrive.
    ["a bad ring size on an EDS cluster", { ...base, type: "EDS", lbPolicy: "RING_HASH", ringHashLbConfig: { minimumRingSize: { value: 9000000 } } }, /cluster c: ringHashLbConfig\.minimumRingSize: value must be less than or equal to 8388608/],
    ["an unknown discovery type", asDecoded<Cluster>(CLUSTER_TYPE, { ...base, type: 9 }), /cluster c: type: unsupported discovery type 9/],
  ];
  for (const [what, c, re] of cases) it(what, () => assert.throws(() => clusterSpec(c), re));
});
