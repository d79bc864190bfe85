// Hand-built StreamInfo records for the attribute and access-log filter tables: an inbound mTLS
// HTTP request that got a 503 from upstream, and a TCP connection, each overridable per case.
import { DynamicMetadata } from "../../../src/proxy/dynamic-metadata.js";
import { FLAG_BIT } from "../../../src/proxy/access-log.js";
import type { HttpStreamInfo, PeerMetadata, TcpStreamInfo } from "../../../src/proxy/stream-info.js";

export const PRODUCTPAGE_PEER: PeerMetadata = {
  name: "productpage-v1-7d4f8c",
  namespace: "default",
  cluster: "Kubernetes",
  workload: "productpage-v1",
  service: "productpage",
  revision: "v1",
  app: "productpage",
  version: "v1",
  type: "deployment",
  identity: "spiffe://cluster.local/ns/default/sa/bookinfo-productpage",
  labels: { app: "productpage", version: "v1" },
};

export const REVIEWS_PEER: PeerMetadata = {
  ...PRODUCTPAGE_PEER,
  name: "reviews-v2-5b6c",
  workload: "reviews-v2",
  service: "reviews",
  revision: "v2",
  app: "reviews",
  version: "v2",
  identity: "spiffe://cluster.local/ns/default/sa/bookinfo-reviews",
  labels: { app: "reviews", version: "v2" },
};

export function httpInfo(over: Partial<HttpStreamInfo> = {}): HttpStreamInfo {
  const md = new DynamicMetadata();
  md.set("envoy.filters.http.jwt_authn", { payload: { iss: "testing@secure.istio.io", groups: ["group1", "group2"] } });
  return {
    kind: "http",
    requestedServerName: "",
    startTime: Date.UTC(2026, 0, 2, 3, 4, 5, 0),
    durationMs: 42.7,
    listenerName: "virtualInbound",
    direction: "inbound",
    downstreamRemoteAddress: "10.0.0.7:51234",
    downstreamDirectRemoteAddress: "10.0.0.7:51234",
    downstreamLocalAddress: "10.0.0.9:9080",
    downstreamTls: { peerPrincipal: PRODUCTPAGE_PEER.identity, localPrincipal: REVIEWS_PEER.identity, peerCertificatePresented: true, sni: "outbound_.9080_._.reviews.default.svc.cluster.local", version: "TLSv1.3", alpn: "istio-peer-exchange" },
    upstreamCluster: "inbound|9080||",
    upstreamClusterMetadata: { istio: { services: [{ host: "reviews.default.svc.cluster.local", name: "reviews", namespace: "default" }] } },
    upstreamHost: "127.0.0.1:9080",
    upstreamLocalAddress: "127.0.0.6:40000",
    upstreamTls: undefined,
    upstreamTransportFailureReason: "",
    flags: FLAG_BIT.UF | FLAG_BIT.URX,
    dynamicMetadata: md,
    filterState: new Map<string, unknown>([
      ["downstream_peer", PRODUCTPAGE_PEER],
      ["upstream_peer", REVIEWS_PEER],
      ["envoy.string", "plain"],
      ["opaque", { some: "object" }],
    ]),
    bytesReceived: 120,
    bytesSent: 4096,
    protocol: "HTTP/1.1",
    method: "GET",
    path: "/reviews/0?x=1&y=2",
    authority: "reviews:9080",
    scheme: "http",
    requestHeaders: { "user-agent": "curl/8.5.0", referer: "http://productpage/", "x-request-id": "1c9e8f3a-0b6d-4a8a-9c1e-5d2f0e7b4a10", "X-Multi": ["a", "b"], removed: undefined },
    responseHeaders: { "content-type": "text/plain", server: "envoy" },
    responseTrailers: undefined,
    responseCode: 503,
    responseCodeDetails: "upstream_reset_before_response_started{connection_failure}",
    grpcStatus: undefined,
    requestMessages: 0,
    responseMessages: 0,
    routeName: "default",
    requestId: "1c9e8f3a-0b6d-4a8a-9c1e-5d2f0e7b4a10",
    upstreamServiceTimeMs: undefined,
    requestHeadersBytes: 300,
    responseHeadersBytes: 150,
    ...over,
  };
}

export function tcpInfo(over: Partial<TcpStreamInfo> = {}): TcpStreamInfo {
  return {
    kind: "tcp",
    requestedServerName: "",
    startTime: Date.UTC(2026, 0, 2, 3, 4, 5, 0),
    durationMs: 2500,
    listenerName: "0.0.0.0_9000",
    direction: "outbound",
    downstreamRemoteAddress: "10.0.0.7:40001",
    downstreamDirectRemoteAddress: "10.0.0.7:40001",
    downstreamLocalAddress: "10.96.0.20:9000",
    downstreamTls: undefined,
    upstreamCluster: "outbound|9000||tcp-echo.default.svc.cluster.local",
    upstreamClusterMetadata: undefined,
    upstreamHost: "10.0.0.30:9000",
    upstreamLocalAddress: "10.0.0.7:40100",
    upstreamTls: { peerPrincipal: "spiffe://cluster.local/ns/default/sa/tcp-echo", localPrincipal: "spiffe://cluster.local/ns/default/sa/sleep", peerCertificatePresented: true, sni: "outbound_.9000_._.tcp-echo.default.svc.cluster.local", version: "TLSv1.3", alpn: "istio-peer-exchange" },
    upstreamTransportFailureReason: "",
    flags: 0,
    dynamicMetadata: undefined,
    filterState: new Map(),
    bytesReceived: 10,
    bytesSent: 20,
    connectionTerminationDetails: "",
    intermediate: false,
    ...over,
  };
}
