// Istio's HTTP metadata exchange between two real proxies on loopback (127.0.223.x): the client's
// sidecar (outbound config: upstream_discovery + upstream_propagation) adds its headers to the
// request; the server's sidecar (inbound config: downstream_discovery + downstream_propagation)
// learns the client, strips the headers before the app, and answers with its own; the client's
// sidecar learns the server and strips them before its client. Each side's filter state is read by
// a probe filter listed before istio.metadata_exchange (its encodeHeaders runs after the exchange's).
// Also: the strict config schema, skip_external_clusters, and a hostile header that is ignored.
import { httpListener, startStaticSidecar, staticCluster } from "../protocol-helpers.js";
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, it } from "node:test";
import type { JsonValue, ProtoObject } from "../../../src/envoy/protos.js";
import type { ProxyServer } from "../../../src/proxy/proxy.js";
import { FilterStatus, registerHttpFilter } from "../../../src/proxy/http/filter.js";
import type { PeerMetadata } from "../../../src/proxy/stream-info.js";
import { PEER_METADATA_TYPE, parsePeerMetadataConfig } from "../../../src/proxy/observability/peer-metadata-filter.js";
import { encodeStruct, localPeer } from "../../../src/proxy/observability/peer-metadata.js";
import { expandTypedStructs } from "../../../src/proxy/typed-struct.js";
import { XdsConfigError } from "../../../src/proxy/xds-error.js";

const CLIENT_PROXY = "127.0.223.1";
const SERVER_PROXY = "127.0.223.2";
const APP = "127.0.223.3";
const PORTS = { outbound: 15101, inbound: 15102, external: 15103 };

/** What the probe saw at response time, per listener. */
const probed = new Map<string, Array<{ downstream?: PeerMetadata; upstream?: PeerMetadata }>>();
const PROBE_TYPE = "type.googleapis.com/tsmesh.test.FilterStateProbe";
registerHttpFilter<{ listener: string }>([PROBE_TYPE], {
  terminal: false,
  create: (config) => ({
    create: (cb) => ({
      encodeHeaders: () => {
        const seen = probed.get(config.listener) ?? [];
        seen.push({ downstream: cb.filterState.get("downstream_peer") as PeerMetadata | undefined, upstream: cb.filterState.get("upstream_peer") as PeerMetadata | undefined });
        probed.set(config.listener, seen);
        return FilterStatus.Continue;
      },
    }),
  }),
});

const ROUTER = { name: "envoy.filters.http.router", typedConfig: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
const INBOUND_MX = { downstream_discovery: [{ istio_headers: {} }, { workload_discovery: {} }], downstream_propagation: [{ istio_headers: {} }] };
const OUTBOUND_MX = { upstream_discovery: [{ istio_headers: {} }, { workload_discovery: {} }], upstream_propagation: [{ istio_headers: { skip_external_clusters: true } }] };

function listener(name: string, address: string, port: number, cluster: string, mx: ProtoObject): ProtoObject {
  return httpListener(name, address, port, [{ match: { prefix: "/" }, route: { cluster } }], {
    httpFilters: [{ name: "probe", typedConfig: { "@type": PROBE_TYPE, listener: name } }, { name: "istio.metadata_exchange", typedConfig: { "@type": PEER_METADATA_TYPE, ...mx } }, ROUTER],
  });
}

function cluster(name: string, address: string, port: number, metadata?: ProtoObject): ProtoObject {
  return staticCluster(name, address, port, { connectTimeoutMs: 5000, metadata });
}

const CLIENT_NODE = { NAME: "productpage-v1-abc", NAMESPACE: "default", WORKLOAD_NAME: "productpage-v1", CLUSTER_ID: "Kubernetes", LABELS: { app: "productpage", version: "v1" } };
const SERVER_NODE = { NAME: "reviews-v2-xyz", NAMESPACE: "books", WORKLOAD_NAME: "reviews-v2", CLUSTER_ID: "Kubernetes", LABELS: { app: "reviews", version: "v2", "service.istio.io/canonical-name": "reviews-svc" } };

function get(port: number, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: CLIENT_PROXY, port, path: "/", headers, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("HTTP metadata exchange between two proxies", () => {
  const seenByApp: http.IncomingHttpHeaders[] = [];
  const app = http.createServer((req, res) => {
    seenByApp.push(req.headers);
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
  });
  let client: ProxyServer;
  let server: ProxyServer;

  before(async () => {
    await new Promise<void>((r) => app.listen(0, APP, () => r()));
    const appPort = (app.address() as { port: number }).port;
    server = await startStaticSidecar(SERVER_PROXY, SERVER_NODE, { listeners: [listener("inbound", SERVER_PROXY, PORTS.inbound, "app", INBOUND_MX)], clusters: [cluster("app", APP, appPort)] });
    client = await startStaticSidecar(CLIENT_PROXY, CLIENT_NODE, {
      listeners: [listener("outbound", CLIENT_PROXY, PORTS.outbound, "reviews", OUTBOUND_MX), listener("external", CLIENT_PROXY, PORTS.external, "external", OUTBOUND_MX)],
      clusters: [cluster("reviews", SERVER_PROXY, PORTS.inbound), cluster("external", SERVER_PROXY, PORTS.inbound, { filterMetadata: { istio: { fields: { external: { boolValue: true } } } } })],
    });
  });

  after(async () => {
    await client?.close();
    await server?.close();
    app.closeAllConnections();
    await new Promise<void>((r) => app.close(() => r()));
  });

  it("each side learns the other; the exchange headers reach neither app nor client", async () => {
    probed.clear();
    seenByApp.length = 0;
    const r = await get(PORTS.outbound);
    assert.equal(r.status, 200);
    assert.equal(r.headers["x-envoy-peer-metadata"], undefined, "the client's sidecar strips the server's headers");
    assert.equal(r.headers["x-envoy-peer-metadata-id"], undefined);
    assert.equal(seenByApp.length, 1);
    assert.equal(seenByApp[0]["x-envoy-peer-metadata"], undefined, "the server's sidecar strips the client's headers");
    assert.equal(seenByApp[0]["x-envoy-peer-metadata-id"], undefined);

    const [atServer] = probed.get("inbound") ?? [];
    assert.deepEqual(atServer?.downstream, localPeer("", CLIENT_NODE).metadata);
    assert.equal(atServer?.downstream?.workload, "productpage-v1");
    assert.equal(atServer?.upstream, undefined);
    const [atClient] = probed.get("outbound") ?? [];
    assert.equal(atClient?.upstream?.service, "reviews-svc");
    assert.equal(atClient?.upstream?.namespace, "books");
    assert.deepEqual(atClient?.upstream, localPeer("", SERVER_NODE).metadata);
  });

  it("a client's own x-envoy-peer-metadata does not survive: the sidecar sends its own", async () => {
    probed.clear();
    const forged = localPeer("forged", { NAME: "forged", WORKLOAD_NAME: "forged" }).headerValue;
    await get(PORTS.outbound, { "x-envoy-peer-metadata": forged, "x-envoy-peer-metadata-id": "forged" });
    const [atServer] = probed.get("inbound") ?? [];
    assert.equal(atServer?.downstream?.workload, "productpage-v1");
  });

  it("skip_external_clusters: no headers to a cluster with istio.external, so the server learns nothing and answers none", async () => {
    probed.clear();
    seenByApp.length = 0;
    const r = await get(PORTS.external);
    assert.equal(r.status, 200);
    assert.equal(seenByApp[0]["x-envoy-peer-metadata"], undefined);
    assert.equal(probed.get("inbound")?.[0].downstream, undefined);
    assert.equal(probed.get("external")?.[0].upstream, undefined, "downstream propagation answers only a request that carried the headers");
  });

  it("a hostile header at the server is ignored and removed, never an error", async () => {
    probed.clear();
    seenByApp.length = 0;
    const r = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: SERVER_PROXY, port: PORTS.inbound, path: "/", headers: { "x-envoy-peer-metadata": "%%%garbage", "x-envoy-peer-metadata-id": "x" }, agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(r, 200);
    assert.equal(probed.get("inbound")?.[0].downstream, undefined);
    assert.equal(seenByApp[0]["x-envoy-peer-metadata"], undefined);
  });
});

describe("io.istio.http.peer_metadata.Config: Istio's shapes accepted, anything else refused with its path", () => {
  it("Istio's sidecar inbound and outbound configs, camelCase names too", () => {
    const c = parsePeerMetadataConfig({ ...OUTBOUND_MX, additional_labels: ["team"], sharedWithUpstream: true }, "f");
    assert.deepEqual(c.upstreamDiscovery, ["istio_headers", "workload_discovery"]);
    assert.deepEqual(c.upstreamPropagation, [{ skipExternalClusters: true }]);
    assert.deepEqual(c.additionalLabels, ["team"]);
    assert.equal(c.sharedWithUpstream, true);
    assert.deepEqual(parsePeerMetadataConfig(INBOUND_MX, "f").downstreamPropagation, [{ skipExternalClusters: false }]);
  });
  it("arrives over xDS as a TypedStruct, handed to the filter as its JSON fields", () => {
    const url = Buffer.from(PEER_METADATA_TYPE);
    const struct = encodeStruct(INBOUND_MX as unknown as Record<string, JsonValue>);
    // TypedStruct { type_url = 1; value = 2 (Struct) }, inside an Any as the xDS decoder leaves an unknown type.
    const len = (n: number) => (n < 128 ? Buffer.from([n]) : Buffer.from([(n & 0x7f) | 0x80, n >> 7]));
    const value = Buffer.concat([Buffer.from([0x0a]), len(url.length), url, Buffer.from([0x12]), len(struct.length), struct]);
    const filter: Record<string, unknown> = { typedConfig: { type_url: "type.googleapis.com/udpa.type.v1.TypedStruct", value } };
    expandTypedStructs(filter);
    assert.deepEqual(filter.typedConfig, { ...INBOUND_MX, "@type": PEER_METADATA_TYPE });
  });
  const bad: Array<[string, Record<string, unknown>, string]> = [
    ["an unknown top-level field", { downstream_discvery: [] }, "f.downstream_discvery"],
    ["an unknown method", { downstream_discovery: [{ magic: {} }] }, "f.downstream_discovery[0].magic"],
    ["two methods in one entry", { downstream_discovery: [{ istio_headers: {}, workload_discovery: {} }] }, "f.downstream_discovery[0]"],
    ["baggage (not implemented)", { upstream_discovery: [{ baggage: {} }] }, "f.upstream_discovery[0].baggage"],
    ["an unknown field in istio_headers", { upstream_propagation: [{ istio_headers: { skip: true } }] }, "f.upstream_propagation[0].istio_headers.skip"],
    ["skip_external_clusters not a bool", { upstream_propagation: [{ istio_headers: { skip_external_clusters: "yes" } }] }, "f.upstream_propagation[0].istio_headers.skip_external_clusters"],
    ["a list that is not one", { downstream_discovery: {} }, "f.downstream_discovery"],
    ["additional_labels not strings", { additional_labels: [1] }, "f.additional_labels[0]"],
    ["one field in both spellings", { shared_with_upstream: true, sharedWithUpstream: true }, "f.sharedWithUpstream"],
    ["an empty propagation entry", { downstream_propagation: [{}] }, "f.downstream_propagation[0]"],
  ];
  for (const [name, config, path] of bad) {
    it(name, () => assert.throws(() => parsePeerMetadataConfig(config, "f"), (e: unknown) => e instanceof XdsConfigError && e.path === path));
  }
});
