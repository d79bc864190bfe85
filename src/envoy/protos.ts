// Envoy's v3 protos, loaded once with protobufjs from the copy @grpc/grpc-js-xds ships (deps/),
// so the control plane, the proxy and the tests all speak exactly the schema a real xDS client uses.
// Resources are handled as plain objects in protobufjs' camelCase form ("typed objects"); a nested
// Any is written as { "@type": TYPE_URL, ...fields }.
import { accessSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import protobuf from "protobufjs";

const require = createRequire(import.meta.url);

/** Every proto file tsmesh needs; their imports are followed. */
const PROTO_FILES = [
  "envoy/service/discovery/v3/ads.proto",
  "envoy/service/secret/v3/sds.proto",
  "envoy/service/status/v3/csds.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/bootstrap/v3/bootstrap.proto",
  "envoy/admin/v3/config_dump.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto",
  "envoy/extensions/filters/network/rbac/v3/rbac.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/filters/http/fault/v3/fault.proto",
  "envoy/extensions/filters/http/cors/v3/cors.proto",
  "envoy/extensions/filters/http/rbac/v3/rbac.proto",
  "envoy/extensions/filters/http/jwt_authn/v3/config.proto",
  "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto",
  "envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto",
  "envoy/extensions/filters/listener/original_dst/v3/original_dst.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto",
  "envoy/extensions/load_balancing_policies/maglev/v3/maglev.proto",
  "envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto",
  "envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto",
  "envoy/extensions/load_balancing_policies/random/v3/random.proto",
  "envoy/extensions/access_loggers/file/v3/file.proto",
  "envoy/extensions/access_loggers/stream/v3/stream.proto",
  "envoy/extensions/clusters/aggregate/v3/cluster.proto",
  "envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto",
  "envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto",
  "google/protobuf/wrappers.proto",
  "google/protobuf/struct.proto",
  "google/protobuf/duration.proto",
];

export const TYPE_PREFIX = "type.googleapis.com/";

/** xDS resource type URLs (the ones ADS serves). */
export const LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener";
export const ROUTE_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
export const CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
export const ENDPOINT_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
export const SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/** Short names for logs, metrics (istiod's `type` label) and debug pages. */
export const TYPE_SHORT_NAMES: Readonly<Record<string, string>> = {
  [LISTENER_TYPE]: "lds",
  [ROUTE_TYPE]: "rds",
  [CLUSTER_TYPE]: "cds",
  [ENDPOINT_TYPE]: "eds",
  [SECRET_TYPE]: "sds",
};

/** The order a push sends types in: make before break (clusters and endpoints before their users). */
export const PUSH_ORDER: readonly string[] = [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE];

/** Per-type entries in push order (make before break: CDS, EDS, LDS, RDS, SDS), then any others. */
export function inPushOrder<T>(byType: ReadonlyMap<string, T>): T[] {
  const out: T[] = [];
  for (const t of PUSH_ORDER) {
    const v = byType.get(t);
    if (v !== undefined) out.push(v);
  }
  for (const [t, v] of byType) if (!PUSH_ORDER.includes(t)) out.push(v);
  return out;
}

/** envoy.config.core.v3.Node as ADS requests carry it, metadata as plain JSON (proto3 JSON mapping). */
export interface XdsNode {
  id: string;
  cluster?: string;
  /** The node's metadata Struct as plain JSON (`{ GENERATOR: "grpc" }`). */
  metadata?: Record<string, unknown>;
  locality?: { region?: string; zone?: string; subZone?: string };
  userAgentName?: string;
  userAgentVersion?: string;
}

// The ADS gRPC service and its messages (shared by the server and the proxy's client).
export const ADS_SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService";
export const SOTW_METHOD_PATH = `/${ADS_SERVICE}/StreamAggregatedResources`;
export const DELTA_METHOD_PATH = `/${ADS_SERVICE}/DeltaAggregatedResources`;
export const DISCOVERY_REQUEST = "envoy.service.discovery.v3.DiscoveryRequest";
export const DISCOVERY_RESPONSE = "envoy.service.discovery.v3.DiscoveryResponse";
export const DELTA_DISCOVERY_REQUEST = "envoy.service.discovery.v3.DeltaDiscoveryRequest";
export const DELTA_DISCOVERY_RESPONSE = "envoy.service.discovery.v3.DeltaDiscoveryResponse";

let root: protobuf.Root | undefined;

function protoDirs(): string[] {
  const xds = dirname(require.resolve("@grpc/grpc-js-xds/package.json"));
  const deps = join(xds, "deps");
  return [join(deps, "envoy-api"), join(deps, "xds"), join(deps, "googleapis"), join(deps, "protoc-gen-validate")];
}

function fileExists(path: string): boolean {
  try {
    accessSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The protobufjs Root with every Envoy type tsmesh uses (loaded on first call, ~200 ms). */
export function envoyRoot(): protobuf.Root {
  if (root) return root;
  const dirs = protoDirs();
  // protobufjs bundles google/protobuf/*; descriptor.proto lives beside its package.json.
  const pbDir = dirname(require.resolve("protobufjs/package.json"));
  const r = new protobuf.Root();
  r.resolvePath = (_origin: string, target: string): string => {
    if (target.startsWith("google/protobuf/")) return join(pbDir, target);
    for (const d of dirs) {
      const p = join(d, target);
      if (fileExists(p)) return p;
    }
    return target;
  };
  r.loadSync(PROTO_FILES, { keepCase: false });
  r.resolveAll();
  root = r;
  return r;
}

const typeCache = new Map<string, protobuf.Type>();

/** The message type for a full name ("envoy.config.cluster.v3.Cluster") or a type URL. */
export function messageType(nameOrUrl: string): protobuf.Type {
  let t = typeCache.get(nameOrUrl);
  if (t) return t;
  const name = nameOrUrl.startsWith(TYPE_PREFIX) ? nameOrUrl.slice(TYPE_PREFIX.length) : nameOrUrl;
  t = envoyRoot().lookupType(name);
  typeCache.set(nameOrUrl, t);
  return t;
}

/** A typed object in protobufjs' camelCase form. */
export type ProtoObject = Record<string, unknown>;

/** Wraps a typed object as an Any: `{ "@type": URL, ...fields }`. */
export function anyOf(typeName: string, fields: ProtoObject): ProtoObject {
  return { "@type": TYPE_PREFIX + typeName, ...fields };
}

/** Encodes a typed object of the given type (URL or full name) to protobuf bytes. */
export function encodeMessage(typeNameOrUrl: string, obj: ProtoObject): Uint8Array {
  const t = messageType(typeNameOrUrl);
  return t.encode(t.fromObject(obj)).finish();
}

/** Options that turn decoded messages back into the typed-object form generators write. */
export const TO_OBJECT: protobuf.IConversionOptions = { enums: String, longs: Number, json: true, defaults: false };

/** Decodes protobuf bytes to a typed object. */
export function decodeMessage(typeNameOrUrl: string, bytes: Uint8Array): ProtoObject {
  const t = messageType(typeNameOrUrl);
  return t.toObject(t.decode(bytes), TO_OBJECT) as ProtoObject;
}

/**
 * A google.protobuf.Duration from milliseconds, without proto3 default fields (zero is `{}`), so
 * the typed object equals what decoding gives back.
 */
export function duration(ms: number): { seconds?: number; nanos?: number } {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  const d: { seconds?: number; nanos?: number } = {};
  if (seconds) d.seconds = seconds;
  if (nanos) d.nanos = nanos;
  return d;
}

/** Milliseconds from a google.protobuf.Duration in typed-object form (or undefined). */
export function durationMs(d: unknown): number | undefined {
  if (!d || typeof d !== "object") return undefined;
  const { seconds, nanos } = d as { seconds?: number | string; nanos?: number };
  return Number(seconds ?? 0) * 1000 + Number(nanos ?? 0) / 1e6;
}

type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

function structValue(v: JsonValue): ProtoObject {
  if (v === null) return { nullValue: "NULL_VALUE" };
  if (typeof v === "boolean") return { boolValue: v };
  if (typeof v === "number") return { numberValue: v };
  if (typeof v === "string") return { stringValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(structValue) } };
  return { structValue: struct(v) };
}

/** A google.protobuf.Struct in typed-object form from plain JSON (protobufjs has no JSON mapping for it). */
export function struct(obj: { [k: string]: JsonValue }): ProtoObject {
  const fields: Record<string, ProtoObject> = {};
  for (const [k, v] of Object.entries(obj)) fields[k] = structValue(v);
  return { fields };
}

/** Plain JSON from a google.protobuf.Struct in typed-object form. */
export function fromStruct(s: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields = (s as { fields?: Record<string, ProtoObject> } | undefined)?.fields ?? {};
  for (const [k, v] of Object.entries(fields)) out[k] = fromStructValue(v);
  return out;
}

function fromStructValue(v: ProtoObject): unknown {
  if ("stringValue" in v) return v.stringValue;
  if ("numberValue" in v) return v.numberValue;
  if ("boolValue" in v) return v.boolValue;
  if ("listValue" in v) return ((v.listValue as { values?: ProtoObject[] }).values ?? []).map(fromStructValue);
  if ("structValue" in v) return fromStruct(v.structValue);
  return null;
}
