// clusterSpec as a table: what a Cluster compiles to (upstream protocol, timeouts, connection
// options from the typed HttpProtocolOptions or the deprecated Cluster fields, EDS service name,
// DNS refresh, load-balancing settings), for Istio's shapes and Envoy's defaults.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { anyOf } from "../../../src/envoy/protos.js";
import type { Cluster, HttpProtocolOptions } from "../../../src/envoy/types.js";
import { clusterSpec, type ClusterSpec } from "../../../src/proxy/upstream/cluster-config.js";

const HPO = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const base: Cluster = { name: "c", type: "EDS" };
const withHpo = (o: HttpProtocolOptions, extra: Cluster = {}): Cluster => ({ ...base, ...extra, typedExtensionProtocolOptions: { [HPO]: anyOf(HPO, o) } });

type Picked = Partial<Pick<ClusterSpec, "upstreamProtocol" | "connectTimeoutMs" | "idleTimeoutMs" | "maxRequestsPerConnection" | "maxStreamDurationMs" | "edsServiceName" | "dnsRefreshRateMs">>;

describe("clusterSpec", () => {
  const table: Array<[string, Cluster, Picked]> = [
    ["Envoy's defaults", base, { upstreamProtocol: "http1", connectTimeoutMs: 5000, idleTimeoutMs: undefined, maxRequestsPerConnection: undefined, maxStreamDurationMs: 0, edsServiceName: "c" }],
    ["eds service name", { ...base, edsClusterConfig: { serviceName: "outbound|80||a.default.svc.cluster.local" } }, { edsServiceName: "outbound|80||a.default.svc.cluster.local" }],
    ["connect timeout", { ...base, connectTimeout: { seconds: 1, nanos: 500_000_000 } }, { connectTimeoutMs: 1500 }],
    ["a zero connect timeout is Envoy's 5 s", { ...base, connectTimeout: {} }, { connectTimeoutMs: 5000 }],
    ["explicit HTTP/2 (Istio's h2 ports)", withHpo({ explicitHttpConfig: { http2ProtocolOptions: {} } }), { upstreamProtocol: "http2" }],
    ["the downstream protocol (Istio's sniffed ports)", withHpo({ useDownstreamProtocolConfig: { httpProtocolOptions: {}, http2ProtocolOptions: {} } }), { upstreamProtocol: "downstream" }],
    ["the deprecated http2_protocol_options", { ...base, http2ProtocolOptions: {} }, { upstreamProtocol: "http2" }],
    [
      "common options from HttpProtocolOptions",
      withHpo({ explicitHttpConfig: { httpProtocolOptions: {} }, commonHttpProtocolOptions: { idleTimeout: { seconds: 30 }, maxRequestsPerConnection: { value: 5 }, maxStreamDuration: { seconds: 2 } } }),
      { upstreamProtocol: "http1", idleTimeoutMs: 30000, maxRequestsPerConnection: 5, maxStreamDurationMs: 2000 },
    ],
    [
      "the deprecated Cluster fields when HttpProtocolOptions leave them unset",
      { ...base, maxRequestsPerConnection: { value: 7 }, commonHttpProtocolOptions: { idleTimeout: { seconds: 9 }, maxStreamDuration: { seconds: 3 } } },
      { idleTimeoutMs: 9000, maxRequestsPerConnection: 7, maxStreamDurationMs: 3000 },
    ],
    [
      "HttpProtocolOptions win over the deprecated fields",
      withHpo({ commonHttpProtocolOptions: { maxRequestsPerConnection: { value: 2 }, idleTimeout: { seconds: 1 } } }, { maxRequestsPerConnection: { value: 7 }, commonHttpProtocolOptions: { idleTimeout: { seconds: 9 } } }),
      { idleTimeoutMs: 1000, maxRequestsPerConnection: 2 },
    ],
    ["dns refresh rate", { name: "d", type: "STRICT_DNS", dnsRefreshRate: { seconds: 1 }, loadAssignment: { clusterName: "d", endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: "localhost", portValue: 80 } } } }] }] } }, { dnsRefreshRateMs: 1000 }],
  ];
  for (const [what, c, want] of table) {
    it(what, () => {
      const spec = clusterSpec(c);
      for (const [k, v] of Object.entries(want)) assert.deepEqual(spec[k as keyof Picked], v, k);
    });
  }

  it("compiles the load-balancing settings once, with the cluster; ORIGINAL_DST has none", () => {
    const ring = clusterSpec({ ...base, lbPolicy: "RING_HASH", ringHashLbConfig: { minimumRingSize: { value: 64 }, hashFunction: "MURMUR_HASH_2" } });
    assert.equal(ring.lb?.policy, "RING_HASH");
    assert.equal(ring.lb?.minimumRingSize, 64);
    assert.equal(ring.lb?.hashFunction, "MURMUR_HASH_2");
    assert.equal(clusterSpec({ name: "PassthroughCluster", type: "ORIGINAL_DST", lbPolicy: "CLUSTER_PROVIDED" }).lb, undefined);
  });
});
