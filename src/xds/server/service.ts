// The ADS gRPC service, hand-written over protobufjs types: requests are decoded into small plain
// records; responses are written as ready Buffers (wire.ts assembles them from bytes each resource
// version encoded once), so serialization is the identity.
import type * as grpc from "@grpc/grpc-js";
import { DELTA_DISCOVERY_REQUEST, DELTA_METHOD_PATH, DISCOVERY_REQUEST, messageType, SOTW_METHOD_PATH, TO_OBJECT } from "../../envoy/protos.js";
import type { XdsNode } from "./types.js";

export {
  ADS_SERVICE,
  DELTA_DISCOVERY_REQUEST,
  DELTA_DISCOVERY_RESPONSE,
  DELTA_METHOD_PATH,
  DISCOVERY_REQUEST,
  DISCOVERY_RESPONSE,
  SOTW_METHOD_PATH,
} from "../../envoy/protos.js";

/** google.rpc.Status as a NACK carries it. */
export interface ErrorDetail {
  code: number;
  message: string;
}

/** A decoded envoy.service.discovery.v3.DiscoveryRequest. */
export interface SotwRequest {
  versionInfo: string;
  node?: XdsNode;
  resourceNames: string[];
  typeUrl: string;
  responseNonce: string;
  /** Present on a NACK. */
  errorDetail?: ErrorDetail;
}

/** A decoded envoy.service.discovery.v3.DeltaDiscoveryRequest. */
export interface DeltaRequest {
  node?: XdsNode;
  typeUrl: string;
  subscribe: string[];
  unsubscribe: string[];
  initialResourceVersions: Record<string, string>;
  responseNonce: string;
  errorDetail?: ErrorDetail;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}
function strList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/** google.protobuf.Value (typed-object form) → plain JSON value. */
function structValue(v: unknown): unknown {
  if (!isObj(v)) return null;
  if ("stringValue" in v) return v.stringValue;
  if ("numberValue" in v) return v.numberValue;
  if ("boolValue" in v) return v.boolValue;
  if ("structValue" in v) return structToJson(v.structValue);
  if ("listValue" in v) return isObj(v.listValue) && Array.isArray(v.listValue.values) ? v.listValue.values.map(structValue) : [];
  return null;
}

/** google.protobuf.Struct (typed-object form) → plain JSON object (proto3's JSON mapping). */
export function structToJson(s: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!isObj(s) || !isObj(s.fields)) return out;
  for (const [k, v] of Object.entries(s.fields)) out[k] = structValue(v);
  return out;
}

function decodeNode(v: unknown): XdsNode | undefined {
  if (!isObj(v)) return undefined;
  const node: XdsNode = { id: str(v.id) };
  if (typeof v.cluster === "string") node.cluster = v.cluster;
  if (v.metadata !== undefined) node.metadata = structToJson(v.metadata);
  if (isObj(v.locality)) {
    const l = v.locality;
    node.locality = {};
    if (typeof l.region === "string") node.locality.region = l.region;
    if (typeof l.zone === "string") node.locality.zone = l.zone;
    if (typeof l.subZone === "string") node.locality.subZone = l.subZone;
  }
  if (typeof v.userAgentName === "string") node.userAgentName = v.userAgentName;
  if (typeof v.userAgentVersion === "string") node.userAgentVersion = v.userAgentVersion;
  return node;
}

function decodeError(v: unknown): ErrorDetail | undefined {
  if (!isObj(v)) return undefined;
  return { code: typeof v.code === "number" ? v.code : 0, message: str(v.message) };
}

function toObject(typeName: string, buf: Buffer): Obj {
  const t = messageType(typeName);
  return t.toObject(t.decode(buf), TO_OBJECT);
}

export function decodeSotwRequest(buf: Buffer): SotwRequest {
  const o = toObject(DISCOVERY_REQUEST, buf);
  return {
    versionInfo: str(o.versionInfo),
    node: decodeNode(o.node),
    resourceNames: strList(o.resourceNames),
    typeUrl: str(o.typeUrl),
    responseNonce: str(o.responseNonce),
    errorDetail: decodeError(o.errorDetail),
  };
}

export function decodeDeltaRequest(buf: Buffer): DeltaRequest {
  const o = toObject(DELTA_DISCOVERY_REQUEST, buf);
  const initial: Record<string, string> = {};
  if (isObj(o.initialResourceVersions)) {
    for (const [k, v] of Object.entries(o.initialResourceVersions)) if (typeof v === "string") initial[k] = v;
  }
  return {
    node: decodeNode(o.node),
    typeUrl: str(o.typeUrl),
    subscribe: strList(o.resourceNamesSubscribe),
    unsubscribe: strList(o.resourceNamesUnsubscribe),
    initialResourceVersions: initial,
    responseNonce: str(o.responseNonce),
    errorDetail: decodeError(o.errorDetail),
  };
}

function identity(b: Buffer): Buffer {
  return b;
}

// The client half of MethodDefinition is required by the type but unused: this definition serves.
function serverOnly(): never {
  throw new Error("the ADS service definition is server-side only");
}

// A type alias (not an interface) so it is assignable to grpc's UntypedServiceImplementation.
export type AdsHandlers = {
  StreamAggregatedResources: grpc.handleBidiStreamingCall<SotwRequest, Buffer>;
  DeltaAggregatedResources: grpc.handleBidiStreamingCall<DeltaRequest, Buffer>;
};

/** What the server learns of each request's bytes before it is decoded. */
export interface RequestObserver {
  /** Its size in bytes (istiod's pilot_xds_recv_max). */
  size(bytes: number): void;
  /** It could not be decoded; gRPC then ends the stream with INTERNAL (istiod's internal error). */
  malformed(err: unknown): void;
}

/** The ADS service definition for grpc.Server.addService. */
export function adsServiceDefinition(observer?: RequestObserver): grpc.ServiceDefinition<AdsHandlers> {
  const observed = <R>(decode: (buf: Buffer) => R) =>
    observer
      ? (buf: Buffer): R => {
          observer.size(buf.length);
          try {
            return decode(buf);
          } catch (err) {
            observer.malformed(err);
            throw err;
          }
        }
      : decode;
  return {
    StreamAggregatedResources: {
      path: SOTW_METHOD_PATH,
      originalName: "streamAggregatedResources",
      requestStream: true,
      responseStream: true,
      requestSerialize: serverOnly,
      requestDeserialize: observed(decodeSotwRequest),
      responseSerialize: identity,
      responseDeserialize: serverOnly,
    },
    DeltaAggregatedResources: {
      path: DELTA_METHOD_PATH,
      originalName: "deltaAggregatedResources",
      requestStream: true,
      responseStream: true,
      requestSerialize: serverOnly,
      requestDeserialize: observed(decodeDeltaRequest),
      responseSerialize: identity,
      responseDeserialize: serverOnly,
    },
  };
}
