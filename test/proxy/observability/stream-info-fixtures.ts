// Hand-built finished-stream records (StreamInfo) for the observability tests, one module for all:
// every field set to a known value so a test overrides only what it is about. Three scenes:
// - httpInfo / tcpInfo: Envoy's access-log docs example (outbound GET /status/418 to httpbin,
//   plaintext), the default-format lines the format tests compare against;
// - inboundHttpInfo / inboundTcpInfo: a plain request or connection arriving at reviews' sidecar
//   (virtualInbound, inbound|9080||, 200) on 127.125.200.x, for tap and istio.stats;
// - mtlsHttpInfo / mtlsTcpInfo: productpage → reviews over mTLS that got 503 UF,URX, with both
//   peers' metadata, JWT dynamic metadata and filter state, and an outbound mTLS TCP connection to
//   tcp-echo, for the CEL attribute and access-log filter tables.
import { DynamicMetadata } from "../../../src/proxy/dynamic-metadata.js";
import { FLAG_BIT } from "../../../src/proxy/access-log.js";
import type { HttpStreamInfo, PeerMetadata, TcpStreamInfo } from "../../../src/proxy/stream-info.js";

export { FLAG_BIT };

/** The docs example's start time (2020-11-25T21:26:18.409Z). */
export const START = Date.UTC(2020, 10, 25, 21, 26, 18, 409);

/** A peer's metadata as metadata exchange gives it (a Deployment's pod `WORKLOAD-abc`). */
export function peer(workload: string, namespace: string, identity = ""): PeerMetadata {
  return { name: `${workload}-abc`, namespace, cluster: "Kubernetes", workload, service: workload, revision: "v1", app: workload, version: "v1", type: "deployment", identity, labels: {} };
}

export const PRODUCTPAGE_PEER: PeerMetadata = {
  ...peer("productpage-v1", "default", "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"),
  name: "productpage-v1-7d4f8c",
  service: "productpage",
  app: "productpage",
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

export function httpInfo(o: Partial<HttpStreamInfo> = {}): HttpStreamInfo {
  return {
    kind: "http",
    startTime: START,
    durationMs: 4.2,
    listenerName: "0.0.0.0_8000",
    direction: "outbound",
    downstreamRemoteAddress: "10.44.1.23:46520",
    downstreamDirectRemoteAddress: "10.44.1.23:46520",
    downstreamLocalAddress: "10.0.45.184:8000",
    downstreamTls: undefined,
    requestedServerName: "",
    upstreamCluster: "outbound|8000||httpbin.foo.svc.cluster.local",
    upstreamClusterMetadata: undefined,
    upstreamHost: "10.44.1.27:80",
    upstreamLocalAddress: "10.44.1.23:37652",
    upstreamTls: undefined,
    upstreamTransportFailureReason: "",
    flags: 0,
    dynamicMetadata: undefined,
    filterState: new Map(),
    bytesReceived: 0,
    bytesSent: 135,
    protocol: "HTTP/1.1",
    method: "GET",
    path: "/status/418",
    authority: "httpbin:8000",
    scheme: "http",
    requestHeaders: { "user-agent": "curl/7.73.0-DEV", "x-request-id": "84961386-6d84-929d-98bd-c5aee93b5c88" },
    responseHeaders: { "x-envoy-upstream-service-time": "4" },
    responseTrailers: undefined,
    responseCode: 418,
    responseCodeDetails: "via_upstream",
    grpcStatus: undefined,
    requestMessages: 0,
    responseMessages: 0,
    routeName: "default",
    requestId: "84961386-6d84-929d-98bd-c5aee93b5c88",
    upstreamServiceTimeMs: 4,
    requestHeadersBytes: 0,
    responseHeadersBytes: 0,
    ...o,
  };
}

export function tcpInfo(o: Partial<TcpStreamInfo> = {}): TcpStreamInfo {
  return {
    kind: "tcp",
    startTime: START,
    durationMs: 1523.4,
    listenerName: "0.0.0.0_9000",
    direction: "outbound",
    downstreamRemoteAddress: "10.44.1.23:50112",
    downstreamDirectRemoteAddress: "10.44.1.23:50112",
    downstreamLocalAddress: "10.0.45.190:9000",
    downstreamTls: undefined,
    requestedServerName: "",
    upstreamCluster: "outbound|9000||tcp-echo.foo.svc.cluster.local",
    upstreamClusterMetadata: undefined,
    upstreamHost: "10.44.1.30:9000",
    upstreamLocalAddress: "10.44.1.23:41000",
    upstreamTls: undefined,
    upstreamTransportFailureReason: "",
    flags: 0,
    dynamicMetadata: undefined,
    filterState: new Map(),
    bytesReceived: 12,
    bytesSent: 24,
    connectionTerminationDetails: "",
    intermediate: false,
    ...o,
  };
}

/** What an inbound stream at reviews' sidecar has in common, HTTP or TCP. */
const INBOUND = {
  durationMs: 12,
  listenerName: "virtualInbound",
  direction: "inbound" as const,
  downstreamRemoteAddress: "127.125.200.9:40000",
  downstreamDirectRemoteAddress: "127.125.200.9:40000",
  downstreamLocalAddress: "127.125.200.1:15006",
  upstreamCluster: "inbound|9080||",
  upstreamHost: "127.0.0.1:9080",
  upstreamLocalAddress: "127.0.0.1:50000",
};

export function inboundHttpInfo(o: Partial<HttpStreamInfo> = {}): HttpStreamInfo {
  return httpInfo({
    ...INBOUND,
    bytesReceived: 0,
    bytesSent: 178,
    path: "/reviews/0",
    authority: "reviews:9080",
    requestHeaders: {},
    responseHeaders: { ":status": "200" },
    responseCode: 200,
    requestId: "rid-1",
    upstreamServiceTimeMs: 10,
    requestHeadersBytes: 100,
    responseHeadersBytes: 80,
    ...o,
  });
}

export function inboundTcpInfo(o: Partial<TcpStreamInfo> = {}): TcpStreamInfo {
  return tcpInfo({ ...INBOUND, upstreamCluster: "inbound|9000||", upstreamHost: "127.0.0.1:9000", bytesReceived: 5, bytesSent: 5, ...o });
}

/** When the mTLS scenes start (2026-01-02T03:04:05Z). */
const MTLS_START = Date.UTC(2026, 0, 2, 3, 4, 5, 0);

export function mtlsHttpInfo(o: Partial<HttpStreamInfo> = {}): HttpStreamInfo {
  const md = new DynamicMetadata();
  md.set("envoy.filters.http.jwt_authn", { payload: { iss: "testing@secure.istio.io", groups: ["group1", "group2"] } });
  return httpInfo({
    startTime: MTLS_START,
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
    path: "/reviews/0?x=1&y=2",
    authority: "reviews:9080",
    requestHeaders: { "user-agent": "curl/8.5.0", referer: "http://productpage/", "x-request-id": "1c9e8f3a-0b6d-4a8a-9c1e-5d2f0e7b4a10", "X-Multi": ["a", "b"], removed: undefined },
    responseHeaders: { "content-type": "text/plain", server: "envoy" },
    responseCode: 503,
    responseCodeDetails: "upstream_reset_before_response_started{connection_failure}",
    requestId: "1c9e8f3a-0b6d-4a8a-9c1e-5d2f0e7b4a10",
    upstreamServiceTimeMs: undefined,
    requestHeadersBytes: 300,
    responseHeadersBytes: 150,
    ...o,
  });
}

export function mtlsTcpInfo(o: Partial<TcpStreamInfo> = {}): TcpStreamInfo {
  return tcpInfo({
    startTime: MTLS_START,
    durationMs: 2500,
    downstreamRemoteAddress: "10.0.0.7:40001",
    downstreamDirectRemoteAddress: "10.0.0.7:40001",
    downstreamLocalAddress: "10.96.0.20:9000",
    upstreamCluster: "outbound|9000||tcp-echo.default.svc.cluster.local",
    upstreamHost: "10.0.0.30:9000",
    upstreamLocalAddress: "10.0.0.7:40100",
    upstreamTls: { peerPrincipal: "spiffe://cluster.local/ns/default/sa/tcp-echo", localPrincipal: "spiffe://cluster.local/ns/default/sa/sleep", peerCertificatePresented: true, sni: "outbound_.9000_._.tcp-echo.default.svc.cluster.local", version: "TLSv1.3", alpn: "istio-peer-exchange" },
    bytesReceived: 10,
    bytesSent: 20,
    ...o,
  });
}
