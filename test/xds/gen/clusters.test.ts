import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { TrafficPolicy } from "../../../src/api/resource.js";
import { packageRoot } from "../../../src/core/paths.js";
import { CLUSTER_TYPE, ROUTE_TYPE, fromStruct, isAnyOf, struct } from "../../../src/envoy/protos.js";
import type { Cluster, HttpProtocolOptions, UpstreamTlsContext } from "../../../src/envoy/types.js";
import { defaultEndpointAddress } from "../../../src/xds/gen/clusters-inbound.js";
import {
  buildClusters,
  outboundClusterFor,
  outboundClusters,
} from "../../../src/xds/gen/clusters.js";
import {
  consistentHashToHashPolicy,
  hashPolicyFor,
  loadBalancerFields,
  mergeTrafficPolicy,
  outlierDetectionFields,
  routeHashPolicy,
} from "../../../src/xds/gen/traffic-policy.js";
import { assertGolden, assertRoundTrip, bookinfo, testProxy } from "../../helpers/xds.js";

const productpage = (): ReturnType<typeof testProxy> =>
  testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage", version: "v1" } });
const gateway = (): ReturnType<typeof testProxy> =>
  testProxy({ type: "router", ip: "127.0.1.1", name: "istio-ingressgateway", namespace: "istio-system", labels: { istio: "ingressgateway" } });

function byName(list: readonly Cluster[], name: string): Cluster {
  const c = list.find((x) => x.name === name);
  assert.ok(c, `cluster ${name} missing (have ${list.map((x) => x.name).join(", ")})`);
  return c;
}

function roundTripAll(list: readonly Cluster[]): void {
  for (const c of list) assertRoundTrip(CLUSTER_TYPE, c, String(c.name));
}

function istioMeta(c: Cluster): Record<string, unknown> {
  return fromStruct(c.metadata?.filterMetadata?.istio);
}

function tlsContext(c: Cluster): UpstreamTlsContext {
  const tc = c.transportSocket?.typedConfig;
  assert.ok(isAnyOf(tc, "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"), `${c.name}: an UpstreamTlsContext`);
  return tc;
}

function httpOptions(c: Cluster): HttpProtocolOptions | undefined {
  const o = c.typedExtensionProtocolOptions?.["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
  if (o === undefined) return undefined;
  assert.ok(isAnyOf(o, "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"));
  return o;
}

// Every traffic-policy feature: connection pool, outlier detection, consistent-hash variants, TLS
// modes, portLevelSettings, subset overrides, DNS / DNS_ROUND_ROBIN / NONE resolution.
const FEATURES = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: httpbin, namespace: default }
spec:
  hosts: [httpbin.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - { number: 8000, name: http, protocol: HTTP }
  - { number: 9000, name: grpc, protocol: GRPC }
  - { number: 9100, name: tcp, protocol: TCP }
  - { number: 9200, name: other }
  workloadSelector: { labels: { app: httpbin } }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: httpbin-v1, namespace: default }
spec: { address: 127.0.7.1, labels: { app: httpbin, version: v1 }, serviceAccount: httpbin }
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: httpbin-v2, namespace: default }
spec: { address: 127.0.7.2, labels: { app: httpbin, version: v2 }, serviceAccount: httpbin }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: httpbin, namespace: default }
spec:
  host: httpbin
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 1
        connectTimeout: 2s
        maxConnectionDuration: 1h
        tcpKeepalive: { probes: 3, time: 60s, interval: 10s }
      http:
        http1MaxPendingRequests: 1
        http2MaxRequests: 100
        maxRequestsPerConnection: 1
        maxRetries: 5
        idleTimeout: 30s
        maxConcurrentStreams: 50
    outlierDetection:
      consecutive5xxErrors: 5
      consecutiveGatewayErrors: 3
      interval: 10s
      baseEjectionTime: 30s
      maxEjectionPercent: 50
      minHealthPercent: 20
      splitExternalLocalOriginErrors: true
      consecutiveLocalOriginFailures: 2
    loadBalancer:
      consistentHash: { httpHeaderName: x-user }
    portLevelSettings:
    - port: { number: 9000 }
      loadBalancer:
        consistentHash: { useSourceIp: true, maglev: { tableSize: 65537 } }
      tls: { mode: ISTIO_MUTUAL }
    - port: { number: 9100 }
      loadBalancer: { simple: RANDOM }
  subsets:
  - name: v1
    labels: { version: v1 }
    trafficPolicy:
      loadBalancer:
        simple: LEAST_CONN
        warmup: { duration: 30s, aggression: 2, minimumPercent: 10 }
  - name: v2
    labels: { version: v2 }
    trafficPolicy:
      connectionPool:
        http: { h2UpgradePolicy: UPGRADE, useClientProtocol: false }
      portLevelSettings:
      - port: { number: 8000 }
        loadBalancer:
          consistentHash:
            ringHash: { minimumRingSize: 2048 }
            httpCookie: { name: session, ttl: 60s, path: / }
  - name: direct
    labels: { version: v1 }
    trafficPolicy:
      loadBalancer: { simple: PASSTHROUGH }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: api, namespace: default }
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
  - { number: 443, name: https, protocol: HTTPS }
  - { number: 8443, name: tls-mutual, protocol: TLS }
  - { number: 9443, name: tls-cred, protocol: TLS }
  - { number: 10443, name: tls-insecure, protocol: TLS }
  - { number: 80, name: http, protocol: HTTP }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: api, namespace: default }
spec:
  host: api.example.com
  trafficPolicy:
    loadBalancer: { simple: ROUND_ROBIN }
    portLevelSettings:
    - port: { number: 443 }
      tls: { mode: SIMPLE, sni: api.example.com, caCertificates: /etc/certs/ca.pem, subjectAltNames: [api.example.com] }
    - port: { number: 8443 }
      tls: { mode: MUTUAL, clientCertificate: /etc/certs/client.pem, privateKey: /etc/certs/client.key, caCertificates: /etc/certs/ca.pem }
    - port: { number: 9443 }
      tls: { mode: MUTUAL, credentialName: api-client }
    - port: { number: 10443 }
      tls: { mode: SIMPLE, insecureSkipVerify: true }
    - port: { number: 80 }
      connectionPool:
        http: { useClientProtocol: true }
      loadBalancer:
        consistentHash: { httpQueryParameterName: user, minimumRingSize: 4096 }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: db, namespace: default }
spec:
  hosts: [db.example.com]
  location: MESH_EXTERNAL
  resolution: DNS_ROUND_ROBIN
  ports:
  - { number: 5432, name: tcp, protocol: TCP }
  endpoints:
  - { address: db1.example.com, ports: { tcp: 15432 } }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: wikipedia, namespace: default }
spec:
  hosts: ["*.wikipedia.org"]
  location: MESH_EXTERNAL
  resolution: NONE
  ports:
  - { number: 443, name: tls, protocol: TLS }
`;

describe("buildClusters: bookinfo", () => {
  it("productpage sidecar (golden)", () => {
    const clusters = buildClusters(productpage(), bookinfo());
    roundTripAll(clusters);
    assertGolden("clusters-bookinfo-productpage", clusters);
  });

  it("ingress gateway router (golden): outbound clusters and BlackHoleCluster only", () => {
    const clusters = buildClusters(gateway(), bookinfo());
    roundTripAll(clusters);
    assertGolden("clusters-bookinfo-ingressgateway", clusters);
    const names = clusters.map((c) => String(c.name));
    assert.ok(names.includes("BlackHoleCluster"));
    assert.ok(!names.some((n) => n.startsWith("inbound|") || n.includes("Passthrough")), names.join(", "));
  });

  it("is sorted by name and has Istio's cluster names", () => {
    const names = buildClusters(productpage(), bookinfo()).map((c) => String(c.name));
    assert.deepEqual(names, [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    for (const n of [
      "BlackHoleCluster",
      "PassthroughCluster",
      "InboundPassthroughCluster",
      "inbound|9080||",
      "outbound|9080||reviews.default.svc.cluster.local",
      "outbound|9080|v1|reviews.default.svc.cluster.local",
      "outbound|9080|v2|reviews.default.svc.cluster.local",
      "outbound|9080|v3|reviews.default.svc.cluster.local",
      "outbound|80||istio-ingressgateway.istio-system.svc.cluster.local",
    ]) {
      assert.ok(names.includes(n), n);
    }
  });

  it("EDS clusters fetch endpoints over ADS with Istio's defaults", () => {
    const c = byName(buildClusters(productpage(), bookinfo()), "outbound|9080|v2|reviews.default.svc.cluster.local");
    assert.equal(c.type, "EDS");
    assert.deepEqual(c.edsClusterConfig, {
      edsConfig: { ads: {}, initialFetchTimeout: {}, resourceApiVersion: "V3" },
      serviceName: "outbound|9080|v2|reviews.default.svc.cluster.local",
    });
    assert.deepEqual(c.connectTimeout, { seconds: 10 });
    assert.equal(c.lbPolicy, "LEAST_REQUEST", "Istio's default load balancer");
    assert.deepEqual(istioMeta(c), {
      services: [{ host: "reviews.default.svc.cluster.local", name: "reviews", namespace: "default" }],
      default_original_port: 9080,
      config: "/apis/networking.istio.io/v1/namespaces/default/destination-rule/reviews",
      subset: "v2",
    });
    assert.deepEqual(httpOptions(c), {
      "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      explicitHttpConfig: { httpProtocolOptions: {} },
    });
  });

  it("shares cluster objects between proxies of a namespace (encoded once)", () => {
    const push = bookinfo();
    const a = buildClusters(productpage(), push);
    const other = testProxy({ ip: "127.0.4.1", name: "reviews-v1", labels: { app: "reviews", version: "v1" } });
    const b = buildClusters(other, push);
    const name = "outbound|9080||ratings.default.svc.cluster.local";
    assert.equal(byName(a, name), byName(b, name));
    assert.equal(buildClusters(productpage(), push), a, "memoized per push");
    assert.equal(outboundClusters(productpage(), push), outboundClusters(other, push));
    assert.notEqual(byName(a, "inbound|9080||"), byName(b, "inbound|9080||"));
  });

  it("ISTIO_MUTUAL (destination-rule-all-mtls): SDS certs, Istio SNI, workload SANs, ALPN", () => {
    const dr = readFileSync(join(packageRoot(), "samples", "bookinfo", "networking", "destination-rule-all-mtls.yaml"), "utf8");
    const push = bookinfo(dr);
    const clusters = buildClusters(productpage(), push);
    roundTripAll(clusters);
    const c = byName(clusters, "outbound|9080|v2|reviews.default.svc.cluster.local");
    assert.equal(c.transportSocket?.name, "envoy.transport_sockets.tls");
    // Istio's ConstructSdsSecretConfig: the agent behind sds-grpc, no initial fetch timeout.
    const sds = {
      apiConfigSource: { apiType: "GRPC", setNodeOnFirstMessageOnly: true, transportApiVersion: "V3", grpcServices: [{ envoyGrpc: { clusterName: "sds-grpc" } }] },
      initialFetchTimeout: {},
      resourceApiVersion: "V3",
    };
    assert.deepEqual(tlsContext(c), {
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
      commonTlsContext: {
        tlsParams: { tlsMinimumProtocolVersion: "TLSv1_2", tlsMaximumProtocolVersion: "TLSv1_3" },
        tlsCertificateSdsSecretConfigs: [{ name: "default", sdsConfig: sds }],
        combinedValidationContext: {
          defaultValidationContext: { matchSubjectAltNames: [{ exact: "spiffe://cluster.local/ns/default/sa/bookinfo-reviews" }] },
          validationContextSdsSecretConfig: { name: "ROOTCA", sdsConfig: sds },
        },
        alpnProtocols: ["istio-peer-exchange", "istio"],
      },
      sni: "outbound_.9080_.v2_.reviews.default.svc.cluster.local",
    });
    assert.equal(istioMeta(c).alpn_override, undefined, "only SIMPLE/MUTUAL set alpn_override");
  });
});

describe("buildClusters: traffic policy features", () => {
  const push = bookinfo(FEATURES);
  const clusters = buildClusters(productpage(), push);

  it("golden + round trip", () => {
    roundTripAll(clusters);
    const interesting = clusters.filter((c) => /httpbin|example\.com|wikipedia/.test(String(c.name)));
    assertGolden("clusters-traffic-policy", interesting);
  });

  it("connection pool → circuit breakers, protocol options, keepalive, connect timeout", () => {
    const c = byName(clusters, "outbound|8000||httpbin.default.svc.cluster.local");
    assert.deepEqual(c.connectTimeout, { seconds: 2 });
    assert.deepEqual(c.circuitBreakers, {
      thresholds: [
        { maxConnections: { value: 1 }, maxPendingRequests: { value: 1 }, maxRequests: { value: 100 }, maxRetries: { value: 5 }, trackRemaining: true },
      ],
    });
    const opts = httpOptions(c);
    assert.deepEqual(opts?.commonHttpProtocolOptions, { idleTimeout: { seconds: 30 }, maxConnectionDuration: { seconds: 3600 }, maxRequestsPerConnection: { value: 1 } });
    assert.deepEqual(opts?.explicitHttpConfig, { httpProtocolOptions: {} });
    assert.deepEqual(c.upstreamConnectionOptions, { tcpKeepalive: { keepaliveProbes: { value: 3 }, keepaliveTime: { value: 60 }, keepaliveInterval: { value: 10 } } });
    assert.equal(c.lbPolicy, "RING_HASH");
    assert.deepEqual(c.ringHashLbConfig, { minimumRingSize: { value: 1024 } });
  });

  it("outlier detection as Istio's applyOutlierDetection", () => {
    const c = byName(clusters, "outbound|8000||httpbin.default.svc.cluster.local");
    assert.deepEqual(c.outlierDetection, {
      consecutive_5xx: { value: 5 },
      interval: { seconds: 10 },
      baseEjectionTime: { seconds: 30 },
      maxEjectionPercent: { value: 50 },
      enforcingConsecutive_5xx: { value: 100 },
      enforcingSuccessRate: { value: 0 },
      consecutiveGatewayFailure: { value: 3 },
      enforcingConsecutiveGatewayFailure: { value: 100 },
      splitExternalLocalOriginErrors: true,
      consecutiveLocalOriginFailure: { value: 2 },
      enforcingConsecutiveLocalOriginFailure: { value: 100 },
      enforcingLocalOriginSuccessRate: { value: 0 },
    });
    assert.deepEqual(c.commonLbConfig, { healthyPanicThreshold: { value: 20 } });
  });

  it("gRPC port: HTTP/2 with maxConcurrentStreams, port-level maglev and ISTIO_MUTUAL (h2 ALPN)", () => {
    const c = byName(clusters, "outbound|9000||httpbin.default.svc.cluster.local");
    assert.deepEqual(httpOptions(c)?.explicitHttpConfig, { http2ProtocolOptions: {} }, "port-level settings replace the connection pool");
    assert.equal(c.lbPolicy, "MAGLEV");
    assert.deepEqual(c.maglevLbConfig, { tableSize: { value: 65537 } });
    assert.equal(c.outlierDetection, undefined, "port-level settings do not inherit outlier detection");
    const ctx = tlsContext(c);
    assert.equal(ctx.sni, "outbound_.9000_._.httpbin.default.svc.cluster.local");
    assert.deepEqual(ctx.commonTlsContext?.alpnProtocols, ["istio-peer-exchange", "istio", "h2"]);
  });

  it("TCP and sniffed ports: no HTTP options on TCP, downstream protocol for undeclared", () => {
    const tcp = byName(clusters, "outbound|9100||httpbin.default.svc.cluster.local");
    assert.equal(httpOptions(tcp), undefined);
    assert.equal(tcp.lbPolicy, "RANDOM");
    const other = byName(clusters, "outbound|9200||httpbin.default.svc.cluster.local");
    assert.deepEqual(httpOptions(other)?.useDownstreamProtocolConfig, { httpProtocolOptions: {}, http2ProtocolOptions: {} });
    const gw = buildClusters(gateway(), push);
    const otherGw = byName(gw, "outbound|9200||httpbin.default.svc.cluster.local");
    assert.equal(httpOptions(otherGw)?.useDownstreamProtocolConfig, undefined, "gateways do not sniff (Istio)");
  });

  it("subsets: overrides per component, warmup, h2 upgrade, subset port-level ring hash, PASSTHROUGH", () => {
    const v1 = byName(clusters, "outbound|8000|v1|httpbin.default.svc.cluster.local");
    assert.equal(v1.lbPolicy, "LEAST_REQUEST");
    assert.deepEqual(v1.leastRequestLbConfig, {
      slowStartConfig: { slowStartWindow: { seconds: 30 }, aggression: { defaultValue: 2, runtimeKey: "upstream.slow_start.aggression" }, minWeightPercent: { value: 10 } },
    });
    assert.ok(v1.outlierDetection, "outlier detection inherited from the top level");
    assert.deepEqual(v1.connectTimeout, { seconds: 2 }, "connection pool inherited");
    const v2 = byName(clusters, "outbound|8000|v2|httpbin.default.svc.cluster.local");
    assert.equal(v2.lbPolicy, "RING_HASH");
    assert.deepEqual(v2.ringHashLbConfig, { minimumRingSize: { value: 2048 } });
    assert.equal(v2.outlierDetection, undefined, "a subset port-level entry replaces every component");
    const v2tcp = byName(clusters, "outbound|9100|v2|httpbin.default.svc.cluster.local");
    assert.deepEqual(httpOptions(v2tcp)?.explicitHttpConfig, { http2ProtocolOptions: {} }, "h2UpgradePolicy UPGRADE");
    assert.deepEqual(v2tcp.connectTimeout, { seconds: 10 }, "the subset's connection pool replaces the top-level one");
    const direct = byName(clusters, "outbound|8000|direct|httpbin.default.svc.cluster.local");
    assert.equal(direct.type, "ORIGINAL_DST");
    assert.equal(direct.lbPolicy, "CLUSTER_PROVIDED");
    assert.equal(direct.edsClusterConfig, undefined);
  });

  it("DNS clusters carry their endpoints; TLS origination modes", () => {
    const simple = byName(clusters, "outbound|443||api.example.com");
    assert.equal(simple.type, "STRICT_DNS");
    assert.equal(simple.dnsLookupFamily, "V4_ONLY");
    assert.equal(simple.lbPolicy, "LEAST_REQUEST", "port-level settings do not inherit the top-level ROUND_ROBIN");
    assert.deepEqual(simple.loadAssignment, {
      clusterName: "outbound|443||api.example.com",
      endpoints: [
        {
          locality: {},
          lbEndpoints: [
            {
              endpoint: { address: { socketAddress: { address: "api.example.com", portValue: 443 } } },
              // The host itself: no sidecar (no tlsMode), Istio's workload telemetry label.
              metadata: { filterMetadata: { istio: struct({ workload: "api;default;api;;Kubernetes" }) } },
              loadBalancingWeight: { value: 1 },
            },
          ],
          loadBalancingWeight: { value: 1 },
        },
      ],
    });
    assert.deepEqual(tlsContext(simple), {
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
      commonTlsContext: {
        tlsParams: { tlsMinimumProtocolVersion: "TLSv1_2", tlsMaximumProtocolVersion: "TLSv1_3" },
        validationContext: {
          trustedCa: { filename: "/etc/certs/ca.pem" },
          matchTypedSubjectAltNames: [{ sanType: "DNS", matcher: { exact: "api.example.com" } }],
        },
      },
      sni: "api.example.com",
    });
    assert.equal(istioMeta(simple).alpn_override, "false");
    assert.equal(istioMeta(simple).external, true);

    const mutual = tlsContext(byName(clusters, "outbound|8443||api.example.com"));
    assert.deepEqual(mutual.commonTlsContext?.tlsCertificates, [
      { certificateChain: { filename: "/etc/certs/client.pem" }, privateKey: { filename: "/etc/certs/client.key" } },
    ]);
    const mutualCluster = byName(clusters, "outbound|8443||api.example.com");
    assert.deepEqual(httpOptions(mutualCluster)?.upstreamHttpProtocolOptions, { autoSni: true, autoSanValidation: true });

    const cred = tlsContext(byName(clusters, "outbound|9443||api.example.com")).commonTlsContext!;
    // credentialName secrets come over ADS from the control plane (issue 13's contract: 0s initial fetch timeout).
    const ads = { ads: {}, initialFetchTimeout: {}, resourceApiVersion: "V3" };
    assert.deepEqual(cred.tlsCertificateSdsSecretConfigs, [{ name: "kubernetes://api-client", sdsConfig: ads }]);
    assert.deepEqual(cred.combinedValidationContext?.validationContextSdsSecretConfig, { name: "kubernetes://api-client-cacert", sdsConfig: ads });

    const insecure = tlsContext(byName(clusters, "outbound|10443||api.example.com"));
    assert.deepEqual(insecure.commonTlsContext, { tlsParams: { tlsMinimumProtocolVersion: "TLSv1_2", tlsMaximumProtocolVersion: "TLSv1_3" } }, "insecureSkipVerify: no validation context");
    assert.equal(insecure.sni, undefined);

    const http = byName(clusters, "outbound|80||api.example.com");
    assert.deepEqual(httpOptions(http)?.useDownstreamProtocolConfig, { httpProtocolOptions: {}, http2ProtocolOptions: {} }, "useClientProtocol");
    assert.deepEqual(http.ringHashLbConfig, { minimumRingSize: { value: 4096 } }, "deprecated minimumRingSize");
    assert.equal(http.transportSocket, undefined, "port-level settings without tls: plaintext");
  });

  it("DNS_ROUND_ROBIN → LOGICAL_DNS with one endpoint; NONE → ORIGINAL_DST", () => {
    const db = byName(clusters, "outbound|5432||db.example.com");
    assert.equal(db.type, "LOGICAL_DNS");
    const eps = (db.loadAssignment as { endpoints: { lbEndpoints: unknown[] }[] }).endpoints;
    assert.equal(eps.length, 1);
    assert.deepEqual(eps[0].lbEndpoints, [
      {
        endpoint: { address: { socketAddress: { address: "db1.example.com", portValue: 15432 } } },
        metadata: { filterMetadata: { istio: struct({ workload: "db-0;default;db-0;;Kubernetes" }) } },
        loadBalancingWeight: { value: 1 },
      },
    ]);
    const wiki = byName(clusters, "outbound|443||*.wikipedia.org");
    assert.equal(wiki.type, "ORIGINAL_DST");
    assert.equal(wiki.lbPolicy, "CLUSTER_PROVIDED");
    assert.equal(wiki.loadAssignment, undefined);
  });

  it("proxyless gRPC form: EDS, RING_HASH or default, no Envoy-only fields", () => {
    const svc = push.pickService("httpbin.default.svc.cluster.local", "default")!;
    const port = svc.ports.find((p) => p.port === 8000)!;
    const c = outboundClusterFor(productpage(), push, svc, port, undefined, { grpc: true })!;
    assertRoundTrip(CLUSTER_TYPE, c, "grpc");
    assert.equal(c.type, "EDS");
    assert.equal(c.lbPolicy, "RING_HASH");
    assert.deepEqual(c.ringHashLbConfig, { minimumRingSize: { value: 1024 } });
    assert.equal(c.typedExtensionProtocolOptions, undefined);
    assert.equal(c.transportSocket, undefined);
    assert.ok(c.outlierDetection);
    assert.deepEqual(c.circuitBreakers?.thresholds?.[0].maxRequests, { value: 100 });
    const v1 = outboundClusterFor(productpage(), push, svc, port, "v1", { grpc: true })!;
    assert.equal(v1.lbPolicy, undefined, "ROUND_ROBIN: gRPC rejects LEAST_REQUEST without load_balancing_policy");
    assert.equal(outboundClusterFor(productpage(), push, svc, port, "direct", { grpc: true }), undefined);
    assert.equal(outboundClusterFor(productpage(), push, svc, port, "nope"), undefined);
  });

  it("route hash policies: subset port-level > subset > port-level > top level", () => {
    const pp = productpage();
    const host = "httpbin.default.svc.cluster.local";
    assert.deepEqual(routeHashPolicy(push, pp, host, 8000, undefined), [{ header: { headerName: "x-user" } }]);
    assert.deepEqual(routeHashPolicy(push, pp, host, 9000, undefined), [{ connectionProperties: { sourceIp: true } }]);
    assert.deepEqual(routeHashPolicy(push, pp, host, 8000, "v2"), [{ cookie: { name: "session", ttl: { seconds: 60 }, path: "/" } }]);
    assert.deepEqual(routeHashPolicy(push, pp, host, 8000, "v1"), [{ header: { headerName: "x-user" } }], "v1 has no hash of its own");
    assert.deepEqual(routeHashPolicy(push, pp, "api.example.com", 80, undefined), [{ queryParameter: { name: "user" } }]);
    assert.equal(routeHashPolicy(push, pp, "reviews.default.svc.cluster.local", 9080, "v1"), undefined);
    assert.equal(routeHashPolicy(push, pp, "unknown.example.com", 80, undefined), undefined);
    for (const hp of [routeHashPolicy(push, pp, host, 8000, "v2"), routeHashPolicy(push, pp, host, 9000, undefined)]) {
      assertRoundTrip(ROUTE_TYPE, { name: "r", virtualHosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "c", hashPolicy: hp } }] }] });
    }
  });
});

describe("inbound clusters", () => {
  it("sends to INBOUND_APP_ADDRESS (tsmesh local mode) and skips the bind address without capture", () => {
    const proxy = testProxy({
      ip: "127.0.2.1",
      name: "productpage-v1",
      labels: { app: "productpage", version: "v1" },
      metadata: { INBOUND_APP_ADDRESS: "127.0.2.2", INTERCEPTION_MODE: "NONE" },
    });
    const clusters = buildClusters(proxy, bookinfo());
    roundTripAll(clusters);
    const c = byName(clusters, "inbound|9080||");
    assert.deepEqual(c.loadAssignment, {
      clusterName: "inbound|9080||",
      endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: "127.0.2.2", portValue: 9080 } } } }] }],
    });
    assert.equal(c.upstreamBindConfig, undefined);
    assert.equal(byName(clusters, "InboundPassthroughCluster").upstreamBindConfig, undefined);
  });

  it("with capture, binds to 127.0.0.6 for non-localhost apps (Istio)", () => {
    const proxy = testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage" }, metadata: { INBOUND_APP_ADDRESS: "127.0.2.2" } });
    const clusters = buildClusters(proxy, bookinfo());
    assert.deepEqual(byName(clusters, "inbound|9080||").upstreamBindConfig, { sourceAddress: { address: "127.0.0.6", portValue: 0 } });
    assert.deepEqual(byName(clusters, "InboundPassthroughCluster").upstreamBindConfig, { sourceAddress: { address: "127.0.0.6", portValue: 0 } });
  });

  it("Sidecar ingress listeners: defaultEndpoint formats and connection pool", () => {
    const sidecar = `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: productpage, namespace: default }
spec:
  workloadSelector: { labels: { app: productpage } }
  ingress:
  - port: { number: 9080, protocol: HTTP, name: http }
    defaultEndpoint: 127.0.0.1:8080
    connectionPool: { tcp: { maxConnections: 7 } }
  - port: { number: 9090, protocol: GRPC, name: grpc }
    defaultEndpoint: unix:///var/run/app.sock
  - port: { number: 9091, protocol: TCP, name: tcp }
    defaultEndpoint: 0.0.0.0:7070
`;
    const proxy = testProxy({ ip: "127.0.2.1", name: "productpage-v1", labels: { app: "productpage" }, metadata: { INBOUND_APP_ADDRESS: "127.0.2.2" } });
    const clusters = buildClusters(proxy, bookinfo(sidecar));
    roundTripAll(clusters);
    const http = byName(clusters, "inbound|9080||");
    assert.deepEqual((http.loadAssignment as { endpoints: { lbEndpoints: { endpoint: unknown }[] }[] }).endpoints[0].lbEndpoints[0].endpoint, {
      address: { socketAddress: { address: "127.0.0.1", portValue: 8080 } },
    });
    assert.deepEqual(http.circuitBreakers?.thresholds?.[0].maxConnections, { value: 7 });
    assert.equal(istioMeta(http).services !== undefined, true);
    const grpc = byName(clusters, "inbound|9090||");
    assert.deepEqual((grpc.loadAssignment as { endpoints: { lbEndpoints: { endpoint: unknown }[] }[] }).endpoints[0].lbEndpoints[0].endpoint, {
      address: { pipe: { path: "/var/run/app.sock" } },
    });
    assert.deepEqual(httpOptions(grpc)?.explicitHttpConfig, { http2ProtocolOptions: {} });
    const tcp = byName(clusters, "inbound|9091||");
    assert.deepEqual((tcp.loadAssignment as { endpoints: { lbEndpoints: { endpoint: unknown }[] }[] }).endpoints[0].lbEndpoints[0].endpoint, {
      address: { socketAddress: { address: "127.0.2.2", portValue: 7070 } },
    });
  });

  it("defaultEndpoint parsing table", () => {
    const cases: [string | undefined, unknown][] = [
      [undefined, { socketAddress: { address: "10.0.0.1", portValue: 80 } }],
      ["127.0.0.1:8080", { socketAddress: { address: "127.0.0.1", portValue: 8080 } }],
      ["0.0.0.0:8080", { socketAddress: { address: "10.0.0.1", portValue: 8080 } }],
      ["[::1]:8080", { socketAddress: { address: "::1", portValue: 8080 } }],
      ["unix:///var/run/someuds.sock", { pipe: { path: "/var/run/someuds.sock" } }],
      ["127.0.0.1:x", undefined],
      ["nonsense", undefined],
    ];
    for (const [input, want] of cases) assert.deepEqual(defaultEndpointAddress(input, 80, "10.0.0.1"), want, String(input));
  });
});

describe("traffic policy merging (Istio's MergeSubsetTrafficPolicy)", () => {
  const pool = (n: number): TrafficPolicy["connectionPool"] => ({ tcp: { maxConnections: n } });
  const od = { consecutive5xxErrors: 1 };
  const cases: { name: string; top?: TrafficPolicy; subset?: TrafficPolicy; port: number; want: unknown }[] = [
    { name: "nothing", port: 80, want: undefined },
    { name: "top level only", top: { connectionPool: pool(1) }, port: 80, want: { connectionPool: pool(1) } },
    {
      name: "top-level port settings replace the whole policy",
      top: { connectionPool: pool(1), outlierDetection: od, portLevelSettings: [{ port: { number: 80 }, loadBalancer: { simple: "RANDOM" } }] },
      port: 80,
      want: { loadBalancer: { simple: "RANDOM" } },
    },
    {
      name: "port settings for another port are ignored",
      top: { connectionPool: pool(1), portLevelSettings: [{ port: { number: 81 }, loadBalancer: { simple: "RANDOM" } }] },
      port: 80,
      want: { connectionPool: pool(1) },
    },
    {
      name: "subset component replaces the top-level component, others inherited",
      top: { connectionPool: pool(1), outlierDetection: od },
      subset: { connectionPool: pool(2) },
      port: 80,
      want: { connectionPool: pool(2), outlierDetection: od },
    },
    {
      name: "subset port-level replaces all four components",
      top: { connectionPool: pool(1), outlierDetection: od, tls: { mode: "ISTIO_MUTUAL" } },
      subset: { connectionPool: pool(2), portLevelSettings: [{ port: { number: 80 }, loadBalancer: { simple: "RANDOM" } }] },
      port: 80,
      want: { loadBalancer: { simple: "RANDOM" } },
    },
    { name: "subset only", subset: { loadBalancer: { simple: "RANDOM" } }, port: 80, want: { loadBalancer: { simple: "RANDOM" } } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = mergeTrafficPolicy(c.top, c.subset, c.port);
      assert.deepEqual(JSON.parse(JSON.stringify(got ?? null)), c.want ?? null);
    });
  }
});

describe("traffic policy conversions", () => {
  const lbCases: { name: string; lb: Parameters<typeof loadBalancerFields>[0]; policy?: string; config?: unknown }[] = [
    { name: "default is LEAST_REQUEST", lb: undefined, policy: "LEAST_REQUEST" },
    { name: "ROUND_ROBIN is omitted", lb: { simple: "ROUND_ROBIN" } },
    { name: "LEAST_CONN is LEAST_REQUEST", lb: { simple: "LEAST_CONN" }, policy: "LEAST_REQUEST" },
    { name: "RANDOM", lb: { simple: "RANDOM" }, policy: "RANDOM" },
    { name: "PASSTHROUGH", lb: { simple: "PASSTHROUGH" }, policy: "CLUSTER_PROVIDED" },
    { name: "consistent hash default ring", lb: { consistentHash: { httpHeaderName: "x" } }, policy: "RING_HASH", config: { ringHashLbConfig: { minimumRingSize: { value: 1024 } } } },
    { name: "ringHash without size", lb: { consistentHash: { httpHeaderName: "x", ringHash: {} } }, policy: "RING_HASH" },
    { name: "maglev", lb: { consistentHash: { useSourceIp: true, maglev: { tableSize: 7 } } }, policy: "MAGLEV", config: { maglevLbConfig: { tableSize: { value: 7 } } } },
    {
      name: "round robin warmup (deprecated warmupDurationSecs)",
      lb: { simple: "ROUND_ROBIN", warmupDurationSecs: "60s" },
      config: { roundRobinLbConfig: { slowStartConfig: { slowStartWindow: { seconds: 60 } } } },
    },
  ];
  for (const c of lbCases) {
    it(`load balancer: ${c.name}`, () => {
      const got = loadBalancerFields(c.lb);
      assert.equal(got.lbPolicy, c.policy);
      assert.deepEqual(got.lbConfig, c.config);
    });
  }

  it("outlier detection: explicit 0 disables enforcement, deprecated consecutiveErrors counts gateway errors", () => {
    assert.deepEqual(outlierDetectionFields({ consecutive5xxErrors: 0 })?.outlierDetection, {
      consecutive_5xx: { value: 0 },
      enforcingConsecutive_5xx: { value: 0 },
      enforcingSuccessRate: { value: 0 },
    });
    assert.deepEqual(outlierDetectionFields({ consecutiveErrors: 4 })?.outlierDetection, {
      enforcingSuccessRate: { value: 0 },
      consecutiveGatewayFailure: { value: 4 },
      enforcingConsecutiveGatewayFailure: { value: 100 },
      enforcingConsecutive_5xx: { value: 0 },
    });
    assert.deepEqual(outlierDetectionFields({})?.healthyPanicThreshold, {}, "panic threshold 0 (proto3 default)");
    assert.equal(outlierDetectionFields(undefined), undefined);
  });

  it("hash policies table", () => {
    const cases: [Parameters<typeof consistentHashToHashPolicy>[0], unknown][] = [
      [{ httpHeaderName: "x-user" }, { header: { headerName: "x-user" } }],
      [{ httpCookie: { name: "c" } }, { cookie: { name: "c" } }],
      [{ httpCookie: { name: "c", ttl: "1.5s", path: "/p", attributes: [{ name: "SameSite", value: "Strict" }, { name: "Secure" }] } },
        { cookie: { name: "c", ttl: { seconds: 1, nanos: 500000000 }, path: "/p", attributes: [{ name: "SameSite", value: "Strict" }, { name: "Secure" }] } }],
      [{ useSourceIp: true }, { connectionProperties: { sourceIp: true } }],
      [{ httpQueryParameterName: "q" }, { queryParameter: { name: "q" } }],
      [{ maglev: {} }, undefined],
    ];
    for (const [ch, want] of cases) assert.deepEqual(consistentHashToHashPolicy(ch), want, JSON.stringify(ch));
    assert.deepEqual(hashPolicyFor({ loadBalancer: { consistentHash: { httpHeaderName: "h" } } }), [{ header: { headerName: "h" } }]);
    assert.equal(hashPolicyFor(undefined), undefined);
  });
});
