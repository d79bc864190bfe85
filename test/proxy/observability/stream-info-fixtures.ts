// Finished-stream records for formatter tests: one HTTP stream and one TCP connection with every
// field set to a known value; a test overrides the fields it is about.
import type { HttpStreamInfo, TcpStreamInfo } from "../../../src/proxy/stream-info.js";

export const START = Date.UTC(2020, 10, 25, 21, 26, 18, 409);

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
