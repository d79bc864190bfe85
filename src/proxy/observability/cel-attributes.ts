// Envoy's attribute vocabulary over a finished stream's StreamInfo, as CEL reads it: request.*,
// response.*, connection.*, source.*, destination.*, upstream.*, xds.*, filter_state, metadata
// (https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes). An
// activation builds a top-level attribute only when an expression reads it, and once. Attributes
// the proxy does not know for this stream are absent, as in Envoy: reading one is an evaluation
// error (`has()` tells), never a made-up default. HTTP-only attributes are absent for TCP.
import type * as http from "node:http";
import type { CelActivation, CelInput } from "../../core/cel/program.js";
import { celDuration, celInt, celTimestamp } from "../../core/cel/values.js";
import { RESPONSE_FLAGS, type ResponseFlag, type ResponseFlags, FLAG_BIT } from "../access-log.js";
import type { MetadataValue } from "../dynamic-metadata.js";
import type { ConnectionTls, HttpStreamInfo, PeerMetadata, StreamInfo } from "../stream-info.js";

/** The proxy's node, for `xds.node` and `node` (when the caller knows it). */
export interface CelNode {
  readonly id: string;
  readonly cluster?: string;
  /** The node's metadata (a google.protobuf.Struct as JSON). */
  readonly metadata?: Readonly<Record<string, MetadataValue>>;
}

/**
 * Envoy's ResponseFlag bit values (envoy/stream_info/stream_info.h); tsmesh's own bit set orders
 * flags for printing, so `response.flags` is translated to Envoy's numbering.
 */
const ENVOY_FLAG_VALUE: Readonly<Record<ResponseFlag, number>> = {
  LH: 0x1,
  UH: 0x2,
  UT: 0x4,
  LR: 0x8,
  UR: 0x10,
  UF: 0x20,
  UC: 0x40,
  UO: 0x80,
  NR: 0x100,
  DI: 0x200,
  FI: 0x400,
  RL: 0x800,
  UAEX: 0x1000,
  RLSE: 0x2000,
  DC: 0x4000,
  URX: 0x8000,
  SI: 0x10000,
  IH: 0x20000,
  DPE: 0x40000,
  UMSDR: 0x80000,
  UPE: 0x800000,
  NC: 0x1000000,
  OM: 0x2000000,
};
const ALL_FLAGS = Object.values(RESPONSE_FLAGS) as ResponseFlag[];

/** The flags as Envoy's bit vector. */
export function envoyResponseFlags(flags: ResponseFlags): number {
  let out = 0;
  if (flags === 0) return 0;
  for (const f of ALL_FLAGS) if (flags & FLAG_BIT[f]) out += ENVOY_FLAG_VALUE[f];
  return out;
}

/** Envoy's listener traffic_direction enum values (xds.listener_direction). */
const DIRECTION = { "": 0, inbound: 1, outbound: 2 } as const;

/** A header's value as one string (repeated values comma-joined, as Envoy's header map); undefined when absent. */
export function headerString(h: http.OutgoingHttpHeaders | undefined, name: string): string | undefined {
  const v = h?.[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(",") : String(v);
}

/** Headers as CEL's map<string, string>, keys lower-cased. */
function headerMap(h: http.OutgoingHttpHeaders | undefined, pseudo?: readonly (readonly [string, string])[]): Map<string, string> {
  const m = new Map<string, string>();
  if (pseudo) for (const [k, v] of pseudo) if (v !== "") m.set(k, v);
  if (h === undefined) return m;
  for (const k of Object.keys(h)) {
    const v = h[k];
    if (v === undefined) continue;
    const key = k.toLowerCase();
    const s = Array.isArray(v) ? v.join(",") : String(v);
    const prev = m.get(key);
    m.set(key, prev === undefined || key.startsWith(":") ? s : `${prev},${s}`);
  }
  return m;
}

/** "ip:port" / "[v6]:port" → the port, undefined when there is none. */
export function addressPort(addr: string): number | undefined {
  const colon = addr.lastIndexOf(":");
  if (colon < 0 || addr.endsWith("]")) return undefined;
  const p = Number(addr.slice(colon + 1));
  return Number.isInteger(p) && p >= 0 && p <= 65535 && colon + 1 < addr.length ? p : undefined;
}

type Fields = Record<string, CelInput>;

function setIf(o: Fields, k: string, v: string | undefined): void {
  if (v !== undefined && v !== "") o[k] = v;
}

function peer(o: Fields, address: string): Fields {
  if (address !== "") {
    o.address = address;
    const port = addressPort(address);
    if (port !== undefined) o.port = celInt(port);
  }
  return o;
}

function tlsFields(o: Fields, tls: ConnectionTls | undefined): void {
  if (tls === undefined) return;
  setIf(o, "tls_version", tls.version);
  setIf(o, "uri_san_peer_certificate", tls.peerPrincipal);
  setIf(o, "uri_san_local_certificate", tls.localPrincipal);
}

/** Max nesting of metadata converted to CEL maps (deeper parts are left out). */
const MAX_METADATA_DEPTH = 32;

/** A google.protobuf.Value (as JSON) as a CEL value; undefined past the depth bound. */
function jsonToCel(v: MetadataValue, depth = 0): CelInput | undefined {
  if (v === null || typeof v !== "object") return v;
  if (depth >= MAX_METADATA_DEPTH) return undefined;
  if (Array.isArray(v)) {
    const out: CelInput[] = [];
    for (const x of v as readonly MetadataValue[]) {
      const c = jsonToCel(x, depth + 1);
      if (c !== undefined) out.push(c);
    }
    return out;
  }
  const m = new Map<string, CelInput>();
  const o = v as { readonly [k: string]: MetadataValue };
  for (const k of Object.keys(o)) {
    const c = jsonToCel(o[k], depth + 1);
    if (c !== undefined) m.set(k, c);
  }
  return m;
}

/** An envoy.config.core.v3.Metadata: `filter_metadata` by namespace. */
function metadataMessage(byNamespace: Readonly<Record<string, unknown>> | undefined): Fields {
  const fm = new Map<string, CelInput>();
  for (const ns of Object.keys(byNamespace ?? {})) {
    const c = jsonToCel(byNamespace![ns] as MetadataValue);
    if (c !== undefined) fm.set(ns, c);
  }
  return { filter_metadata: fm };
}

function isPeerMetadata(v: unknown): v is PeerMetadata {
  if (v === null || typeof v !== "object") return false;
  const p = v as Record<string, unknown>;
  return typeof p.workload === "string" && typeof p.namespace === "string" && typeof p.labels === "object" && p.labels !== null;
}

/** A PeerMetadata as Istio's WorkloadMetadataObject reads in CEL (its field names). */
export function peerMetadataToCel(p: PeerMetadata): Fields {
  return {
    name: p.name,
    namespace: p.namespace,
    cluster: p.cluster,
    workload: p.workload,
    service: p.service,
    revision: p.revision,
    app: p.app,
    version: p.version,
    type: p.type,
    identity: p.identity,
    labels: new Map(Object.entries(p.labels)),
  };
}

/** A filter state object as CEL sees it: PeerMetadata as a map, scalars as they are; others are left out. */
function filterStateValue(v: unknown): CelInput | undefined {
  if (isPeerMetadata(v)) return peerMetadataToCel(v);
  switch (typeof v) {
    case "string":
    case "boolean":
    case "bigint":
      return v;
    case "number":
      return Number.isInteger(v) ? celInt(v) : v;
  }
  if (v instanceof Uint8Array) return v;
  return undefined;
}

function request(s: HttpStreamInfo): Fields {
  const q = s.path.indexOf("?");
  const o: Fields = {
    path: s.path,
    url_path: q < 0 ? s.path : s.path.slice(0, q),
    query: q < 0 ? "" : s.path.slice(q + 1),
    host: s.authority,
    scheme: s.scheme,
    method: s.method,
    headers: headerMap(s.requestHeaders, [
      [":authority", s.authority],
      [":path", s.path],
      [":method", s.method],
      [":scheme", s.scheme],
    ]),
    headers_bytes: celInt(s.requestHeadersBytes),
    time: celTimestamp(s.startTime),
    protocol: s.protocol,
    duration: celDuration(s.durationMs),
    size: celInt(s.bytesReceived),
    total_size: celInt(s.bytesReceived + s.requestHeadersBytes),
  };
  setIf(o, "referer", headerString(s.requestHeaders, "referer"));
  setIf(o, "useragent", headerString(s.requestHeaders, "user-agent"));
  setIf(o, "id", s.requestId || headerString(s.requestHeaders, "x-request-id"));
  return o;
}

function response(s: HttpStreamInfo): Fields {
  const o: Fields = {
    flags: celInt(envoyResponseFlags(s.flags)),
    headers: headerMap(s.responseHeaders),
    trailers: headerMap(s.responseTrailers),
    headers_bytes: celInt(s.responseHeadersBytes),
    size: celInt(s.bytesSent),
    total_size: celInt(s.bytesSent + s.responseHeadersBytes),
  };
  if (s.responseCode > 0) o.code = celInt(s.responseCode);
  setIf(o, "code_details", s.responseCodeDetails);
  if (s.grpcStatus !== undefined) o.grpc_status = celInt(s.grpcStatus);
  if (s.upstreamServiceTimeMs !== undefined) o.backend_latency = celDuration(s.upstreamServiceTimeMs);
  return o;
}

function connection(s: StreamInfo): Fields {
  const tls = s.downstreamTls;
  const o: Fields = { mtls: tls !== undefined && tls.peerCertificatePresented };
  if (tls !== undefined) {
    setIf(o, "requested_server_name", tls.sni);
    tlsFields(o, tls);
  }
  if (s.kind === "tcp") setIf(o, "termination_details", s.connectionTerminationDetails);
  return o;
}

function upstream(s: StreamInfo): Fields {
  const o = peer({}, s.upstreamHost);
  setIf(o, "local_address", s.upstreamLocalAddress);
  tlsFields(o, s.upstreamTls);
  setIf(o, "transport_failure_reason", s.upstreamTransportFailureReason);
  return o;
}

function nodeMessage(n: CelNode): Fields {
  const o: Fields = { id: n.id, metadata: jsonToCel((n.metadata ?? {}) as MetadataValue) ?? new Map() };
  setIf(o, "cluster", n.cluster);
  return o;
}

function xds(s: StreamInfo, node: CelNode | undefined): Fields {
  const o: Fields = { listener_direction: celInt(DIRECTION[s.direction]) };
  setIf(o, "cluster_name", s.upstreamCluster);
  if (s.upstreamClusterMetadata !== undefined) o.cluster_metadata = metadataMessage(s.upstreamClusterMetadata);
  if (s.kind === "http") setIf(o, "route_name", s.routeName);
  if (node !== undefined) o.node = nodeMessage(node);
  return o;
}

function filterState(s: StreamInfo): Map<string, CelInput> {
  const m = new Map<string, CelInput>();
  for (const [k, v] of s.filterState) {
    const c = filterStateValue(v);
    if (c !== undefined) m.set(k, c);
  }
  return m;
}

/** The top-level attributes, each built on first read. */
class StreamInfoActivation implements CelActivation {
  private readonly built = new Map<string, CelInput | undefined>();

  constructor(
    private readonly info: StreamInfo,
    private readonly node: CelNode | undefined,
  ) {}

  resolve(name: string): CelInput | undefined {
    if (this.built.has(name)) return this.built.get(name);
    const v = this.build(name);
    this.built.set(name, v);
    return v;
  }

  private build(name: string): CelInput | undefined {
    const s = this.info;
    switch (name) {
      case "request":
        return s.kind === "http" ? request(s) : undefined;
      case "response":
        return s.kind === "http" ? response(s) : undefined;
      case "connection":
        return connection(s);
      case "source":
        return peer({}, s.downstreamRemoteAddress);
      case "destination":
        return peer({}, s.downstreamLocalAddress);
      case "upstream":
        return upstream(s);
      case "xds":
        return xds(s, this.node);
      case "filter_state":
        return filterState(s);
      case "metadata":
        return metadataMessage(s.dynamicMetadata?.toJSON());
      case "node":
        return this.node === undefined ? undefined : nodeMessage(this.node);
      default:
        return undefined;
    }
  }
}

/** Envoy's attributes of a finished stream, for CEL; `node` adds `xds.node` and `node`. */
export function streamInfoActivation(info: StreamInfo, node?: CelNode): CelActivation {
  return new StreamInfoActivation(info, node);
}
