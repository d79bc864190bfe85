// The values Envoy's access-log commands read from a finished stream's StreamInfo: the commands
// without an argument (RESPONSE_CODE, UPSTREAM_HOST, …) and the request and response headers REQ
// and RESP name, as the formatter's compiled parts call them.
import { hostname } from "node:os";
import { FLAG_BIT, formatFlags, type ResponseFlag } from "../access-log.js";
import { getHeader, type HeaderMap, portOf, withoutPort } from "../http/headers.js";
import type { StreamInfo } from "../stream-info.js";

/** A command's value: undefined when unavailable; objects only from metadata / filter state. */
export type Value = string | number | boolean | object | undefined;

/** Envoy's long response flag names (RESPONSE_FLAGS_LONG), by short flag. */
const LONG_FLAGS: Readonly<Record<ResponseFlag, string>> = {
  LH: "FailedLocalHealthCheck",
  UH: "NoHealthyUpstream",
  UT: "UpstreamRequestTimeout",
  LR: "LocalReset",
  UR: "UpstreamRemoteReset",
  UF: "UpstreamConnectionFailure",
  UC: "UpstreamConnectionTermination",
  UO: "UpstreamOverflow",
  NR: "NoRouteFound",
  DI: "DelayInjected",
  FI: "FaultInjected",
  RL: "RateLimited",
  UAEX: "UnauthorizedExternalService",
  RLSE: "RateLimitServiceError",
  DC: "DownstreamConnectionTermination",
  URX: "UpstreamRetryLimitExceeded",
  SI: "StreamIdleTimeout",
  IH: "InvalidEnvoyRequestHeaders",
  DPE: "DownstreamProtocolError",
  UMSDR: "UpstreamMaxStreamDurationReached",
  UPE: "UpstreamProtocolError",
  NC: "NoClusterFound",
  OM: "OverloadManagerTerminated",
};

function longFlags(flags: number): string {
  if (flags === 0) return "-";
  const out: string[] = [];
  for (const f of Object.keys(FLAG_BIT) as ResponseFlag[]) if (flags & FLAG_BIT[f]) out.push(LONG_FLAGS[f]);
  return out.join(",");
}

export const nonEmpty = (s: string): string | undefined => (s === "" ? undefined : s);

/** A header of the request (pseudo-headers from the record's fields), as REQ reads it. */
export function requestHeader(info: StreamInfo, name: string): string | undefined {
  if (info.kind !== "http") return undefined;
  switch (name) {
    case ":method": return info.method;
    case ":path": return info.path;
    case ":authority": case "host": return nonEmpty(info.authority);
    case ":scheme": return info.scheme;
  }
  return getHeader(info.requestHeaders as HeaderMap, name);
}

export function responseHeader(info: StreamInfo, name: string): string | undefined {
  if (info.kind !== "http") return undefined;
  if (name === ":status") return info.responseCode === 0 ? undefined : String(info.responseCode);
  return getHeader(info.responseHeaders as HeaderMap, name);
}

const tls = (info: StreamInfo) => info.downstreamTls;

/** Commands without an argument. Numbers are typed (JSON keeps them numbers). */
export const SIMPLE_COMMANDS: readonly string[] = [
  "PROTOCOL",
  "RESPONSE_CODE",
  "RESPONSE_CODE_DETAILS",
  "CONNECTION_TERMINATION_DETAILS",
  "RESPONSE_FLAGS",
  "RESPONSE_FLAGS_LONG",
  "BYTES_RECEIVED",
  "BYTES_SENT",
  "DURATION",
  "UPSTREAM_HOST",
  "UPSTREAM_REMOTE_ADDRESS",
  "UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT",
  "UPSTREAM_REMOTE_PORT",
  "UPSTREAM_CLUSTER",
  "UPSTREAM_CLUSTER_RAW",
  "UPSTREAM_LOCAL_ADDRESS",
  "UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT",
  "UPSTREAM_LOCAL_PORT",
  "UPSTREAM_TRANSPORT_FAILURE_REASON",
  "UPSTREAM_PEER_URI_SAN",
  "UPSTREAM_LOCAL_URI_SAN",
  "UPSTREAM_TLS_VERSION",
  "DOWNSTREAM_LOCAL_ADDRESS",
  "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT",
  "DOWNSTREAM_LOCAL_PORT",
  "DOWNSTREAM_REMOTE_ADDRESS",
  "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT",
  "DOWNSTREAM_REMOTE_PORT",
  "DOWNSTREAM_DIRECT_REMOTE_ADDRESS",
  "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT",
  "DOWNSTREAM_DIRECT_REMOTE_PORT",
  "DOWNSTREAM_PEER_URI_SAN",
  "DOWNSTREAM_LOCAL_URI_SAN",
  "DOWNSTREAM_TLS_VERSION",
  "REQUESTED_SERVER_NAME",
  "ROUTE_NAME",
  "STREAM_ID",
  "GRPC_STATUS_NUMBER",
  "UPSTREAM_SERVICE_TIME",
  "HOSTNAME",
];

/**
 * A command without argument's value. One function with a switch rather than a closure per
 * command: the log line's loop then makes one monomorphic call per command, which V8 optimizes
 * early; calls through a dozen closures stayed megamorphic (and the closures in the baseline tier)
 * for thousands of lines. `name` is SIMPLE_COMMANDS' own string, so each case compares by identity.
 */
export function simpleValue(name: string, i: StreamInfo): Value {
  switch (name) {
    case "PROTOCOL": return (i.kind === "http" ? i.protocol : undefined);
    case "RESPONSE_CODE": return (i.kind === "http" ? i.responseCode : 0);
    case "RESPONSE_CODE_DETAILS": return (i.kind === "http" ? nonEmpty(i.responseCodeDetails) : undefined);
    case "CONNECTION_TERMINATION_DETAILS": return (i.kind === "tcp" ? nonEmpty(i.connectionTerminationDetails) : undefined);
    case "RESPONSE_FLAGS": return formatFlags(i.flags);
    case "RESPONSE_FLAGS_LONG": return longFlags(i.flags);
    case "BYTES_RECEIVED": return i.bytesReceived;
    case "BYTES_SENT": return i.bytesSent;
    case "DURATION": return Math.round(i.durationMs);
    case "UPSTREAM_HOST": return nonEmpty(i.upstreamHost);
    case "UPSTREAM_REMOTE_ADDRESS": return nonEmpty(i.upstreamHost);
    case "UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": return nonEmpty(withoutPort(i.upstreamHost));
    case "UPSTREAM_REMOTE_PORT": return portNumber(i.upstreamHost);
    case "UPSTREAM_CLUSTER": return nonEmpty(i.upstreamCluster);
    case "UPSTREAM_CLUSTER_RAW": return nonEmpty(i.upstreamCluster);
    case "UPSTREAM_LOCAL_ADDRESS": return nonEmpty(i.upstreamLocalAddress);
    case "UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT": return nonEmpty(withoutPort(i.upstreamLocalAddress));
    case "UPSTREAM_LOCAL_PORT": return portNumber(i.upstreamLocalAddress);
    case "UPSTREAM_TRANSPORT_FAILURE_REASON": return nonEmpty(i.upstreamTransportFailureReason);
    case "UPSTREAM_PEER_URI_SAN": return nonEmpty(i.upstreamTls?.peerPrincipal ?? "");
    case "UPSTREAM_LOCAL_URI_SAN": return nonEmpty(i.upstreamTls?.localPrincipal ?? "");
    case "UPSTREAM_TLS_VERSION": return nonEmpty(i.upstreamTls?.version ?? "");
    case "DOWNSTREAM_LOCAL_ADDRESS": return nonEmpty(i.downstreamLocalAddress);
    case "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT": return nonEmpty(withoutPort(i.downstreamLocalAddress));
    case "DOWNSTREAM_LOCAL_PORT": return portNumber(i.downstreamLocalAddress);
    case "DOWNSTREAM_REMOTE_ADDRESS": return nonEmpty(i.downstreamRemoteAddress);
    case "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": return nonEmpty(withoutPort(i.downstreamRemoteAddress));
    case "DOWNSTREAM_REMOTE_PORT": return portNumber(i.downstreamRemoteAddress);
    case "DOWNSTREAM_DIRECT_REMOTE_ADDRESS": return nonEmpty(i.downstreamDirectRemoteAddress);
    case "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT": return nonEmpty(withoutPort(i.downstreamDirectRemoteAddress));
    case "DOWNSTREAM_DIRECT_REMOTE_PORT": return portNumber(i.downstreamDirectRemoteAddress);
    case "DOWNSTREAM_PEER_URI_SAN": return nonEmpty(tls(i)?.peerPrincipal ?? "");
    case "DOWNSTREAM_LOCAL_URI_SAN": return nonEmpty(tls(i)?.localPrincipal ?? "");
    case "DOWNSTREAM_TLS_VERSION": return nonEmpty(tls(i)?.version ?? "");
    case "REQUESTED_SERVER_NAME": return nonEmpty(i.requestedServerName);
    case "ROUTE_NAME": return (i.kind === "http" ? nonEmpty(i.routeName) : undefined);
    case "STREAM_ID": return (i.kind === "http" ? nonEmpty(i.requestId) : undefined);
    case "GRPC_STATUS_NUMBER": return (i.kind === "http" ? i.grpcStatus : undefined);
    case "UPSTREAM_SERVICE_TIME": return (i.kind === "http" ? i.upstreamServiceTimeMs : undefined);
    case "HOSTNAME": return (cachedHostname ??= hostname());
  }
  return undefined;
}

let cachedHostname: string | undefined;

function portNumber(addr: string): number | undefined {
  const p = portOf(addr);
  return p === "" ? undefined : Number(p);
}
