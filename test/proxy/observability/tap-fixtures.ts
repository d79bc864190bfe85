// Finished-stream records for tap's tests: what the proxy's HTTP and TCP paths hand the StreamSinks
// when a stream ends, with the fields a test cares about overridden.
import { FLAG_BIT } from "../../../src/proxy/access-log.js";
import type { HttpStreamInfo, PeerMetadata, TcpStreamInfo } from "../../../src/proxy/stream-info.js";

export const START = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

export function peer(workload: string, namespace: string, identity = ""): PeerMetadata {
  return { name: `${workload}-abc`, namespace, cluster: "Kubernetes", workload, service: workload, revision: "v1", app: workload, version: "v1", type: "deployment", identity, labels: {} };
}

const base = {
  startTime: START,
  durationMs: 12,
  listenerName: "virtualInbound",
  direction: "inbound" as const,
  downstreamRemoteAddress: "127.125.200.9:40000",
  downstreamDirectRemoteAddress: "127.125.200.9:40000",
  downstreamLocalAddress: "127.125.200.1:15006",
  downstreamTls: undefined,
  upstreamCluster: "inbound|9080||",
  upstreamClusterMetadata: undefined,
  upstreamHost: "127.0.0.1:9080",
  upstreamLocalAddress: "127.0.0.1:50000",
  upstreamTls: undefined,
  upstreamTransportFailureReason: "",
  flags: 0,
  dynamicMetadata: undefined,
  filterState: new Map<string, unknown>(),
  bytesReceived: 0,
  bytesSent: 178,
};

export function httpInfo(o: Partial<HttpStreamInfo> = {}): HttpStreamInfo {
  return {
    ...base,
    kind: "http",
    requestedServerName: "",
    protocol: "HTTP/1.1",
    method: "GET",
    path: "/reviews/0",
    authority: "reviews:9080",
    scheme: "http",
    requestHeaders: {},
    responseHeaders: { ":status": "200" },
    responseTrailers: undefined,
    responseCode: 200,
    responseCodeDetails: "via_upstream",
    grpcStatus: undefined,
    requestMessages: 0,
    responseMessages: 0,
    routeName: "default",
    requestId: "rid-1",
    upstreamServiceTimeMs: 10,
    requestHeadersBytes: 100,
    responseHeadersBytes: 80,
    ...o,
  };
}

export function tcpInfo(o: Partial<TcpStreamInfo> = {}): TcpStreamInfo {
  return { ...base, kind: "tcp", requestedServerName: "", upstreamCluster: "inbound|9000||", bytesReceived: 5, bytesSent: 5, connectionTerminationDetails: "", intermediate: false, ...o };
}

export { FLAG_BIT };
