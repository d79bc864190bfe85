// Istio's peer metadata exchange, the parts both transports share: the Struct a proxy sends about
// itself (built from its node metadata, with the keys istio/proxy copies: NAME, NAMESPACE, OWNER,
// WORKLOAD_NAME, ISTIO_VERSION, MESH_ID, CLUSTER_ID, LABELS, PLATFORM_METADATA, APP_CONTAINERS,
// INSTANCE_IPS), the PeerMetadata a received Struct becomes (istio::common::WorkloadMetadataObject),
// the HTTP header form (`x-envoy-peer-metadata`: base64 of the Struct's deterministic protobuf
// encoding; `x-envoy-peer-metadata-id`: the node id) and the TCP form (istio-peer-exchange: magic
// 0x3D230467, 4-byte big-endian length, a google.protobuf.Any holding a Struct whose
// `x-envoy-peer-metadata` field is the node Struct and `x-envoy-peer-metadata-id` the id).
//
// Every byte here comes from a peer: sizes are bounded before decoding, and anything that does not
// parse gives "no peer metadata" (Istio ignores a bad header; the TCP filter abandons the exchange),
// never an exception to the caller.
import type { PeerMetadata } from "../stream-info.js";
import { fromStruct, struct, TYPE_PREFIX, type JsonValue } from "../../envoy/protos.js";
import { wireDecode, wireEncode } from "../../envoy/wire.js";
import { parseTypeUrlAndValue } from "../typed-struct.js";

/** The HTTP headers (and the TCP Struct's field names) istio/proxy uses. */
export const PEER_METADATA_HEADER = "x-envoy-peer-metadata";
export const PEER_METADATA_ID_HEADER = "x-envoy-peer-metadata-id";
/** Filter state keys (Istio's wasm.downstream_peer / wasm.upstream_peer, as CEL reads them). */
export const DOWNSTREAM_PEER = "downstream_peer";
export const UPSTREAM_PEER = "upstream_peer";
/** The ALPN protocol under which the TCP exchange runs. */
export const PEER_EXCHANGE_ALPN = "istio-peer-exchange";
export const MX_MAGIC = 0x3d230467;
export const MX_HEADER_BYTES = 8;
/**
 * Bound on what a peer may send: a header value or a TCP exchange payload. Istio's own node Struct
 * is well under 4 KiB; Envoy's default max request headers size is 60 KiB for all headers together.
 */
export const MAX_PEER_METADATA_BYTES = 32 * 1024;

const STRUCT = "google.protobuf.Struct";
const STRUCT_URL = `${TYPE_PREFIX}${STRUCT}`;
/** The node metadata keys istio/proxy copies into the exchanged Struct (extractStructFromNodeFlatBuffer). */
const STRING_KEYS = ["NAME", "NAMESPACE", "OWNER", "WORKLOAD_NAME", "ISTIO_VERSION", "MESH_ID", "CLUSTER_ID", "APP_CONTAINERS", "INSTANCE_IPS"] as const;
const MAP_KEYS = ["LABELS", "PLATFORM_METADATA"] as const;
const CANONICAL_NAME = "service.istio.io/canonical-name";
const CANONICAL_REVISION = "service.istio.io/canonical-revision";
/** The labels a WorkloadMetadataObject keeps (plus the configured additional_labels). */
const KEPT_LABELS = [CANONICAL_NAME, CANONICAL_REVISION, "app", "version"];
/** OWNER ".../<type>s/<workload>" → Istio's workload type. */
const WORKLOAD_TYPES = new Set(["pod", "deployment", "job", "cronjob"]);

/** The proxy's identity for the exchange: its node id and the Struct it sends (as plain JSON). */
export interface LocalPeer {
  readonly id: string;
  /** The exchanged node Struct as JSON (only the keys Istio copies, string values). */
  readonly node: Readonly<Record<string, JsonValue>>;
  /** The Struct's deterministic protobuf encoding, base64 (the header value). */
  readonly headerValue: string;
  readonly metadata: PeerMetadata;
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === null || typeof v !== "object" || Array.isArray(v)) return out;
  for (const k of Object.keys(v).sort()) out[k] = str((v as Record<string, unknown>)[k]);
  return out;
}

/**
 * The node Struct Istio exchanges, from a node's metadata (plain JSON): the copied keys only, string
 * values (a non-string is "" as protobuf's string_value of another kind), keys sorted so the
 * encoding is deterministic as istio/proxy's.
 */
export function exchangedNodeStruct(metadata: Readonly<Record<string, unknown>>): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  const keys = [...STRING_KEYS, ...MAP_KEYS].sort();
  for (const k of keys) {
    if (!(k in metadata)) continue;
    out[k] = (MAP_KEYS as readonly string[]).includes(k) ? stringMap(metadata[k]) : str(metadata[k]);
  }
  return out;
}

/** Protobuf bytes of a JSON object as a google.protobuf.Struct (map keys in sorted order). */
export function encodeStruct(o: Readonly<Record<string, JsonValue>>): Buffer {
  return wireEncode(STRUCT, struct(sortKeys(o) as Record<string, JsonValue>) as never);
}

function sortKeys(v: JsonValue): JsonValue {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(sortKeys);
  const out: Record<string, JsonValue> = {};
  for (const k of Object.keys(v).sort()) out[k] = sortKeys(v[k]);
  return out;
}

/** A Struct's bytes as plain JSON; undefined when they are not a well-formed Struct or too large. */
export function decodeStruct(bytes: Uint8Array): Record<string, unknown> | undefined {
  if (bytes.length > MAX_PEER_METADATA_BYTES) return undefined;
  try {
    return fromStruct(wireDecode(STRUCT, bytes));
  } catch {
    return undefined;
  }
}

/**
 * What a peer's node Struct says about it (istio/proxy's conversion to WorkloadMetadataObject):
 * canonical service and revision from the labels, falling back to app / version ("latest") and the
 * workload; the workload type from OWNER; `additionalLabels` kept besides Istio's four.
 */
export function peerFromStruct(node: Readonly<Record<string, unknown>>, additionalLabels: readonly string[] = []): PeerMetadata {
  const labels = stringMap(node.LABELS);
  const workload = str(node.WORKLOAD_NAME);
  const kept: Record<string, string> = {};
  for (const k of [...KEPT_LABELS, ...additionalLabels]) if (labels[k] !== undefined && labels[k] !== "") kept[k] = labels[k];
  const app = labels.app ?? "";
  const version = labels.version ?? "";
  return {
    name: str(node.NAME),
    namespace: str(node.NAMESPACE),
    cluster: str(node.CLUSTER_ID),
    workload,
    service: labels[CANONICAL_NAME] || app || workload,
    revision: labels[CANONICAL_REVISION] || version || "latest",
    app,
    version,
    type: workloadType(str(node.OWNER), workload),
    identity: "",
    labels: kept,
  };
}

/** "kubernetes://apis/apps/v1/namespaces/NS/deployments/NAME" → "deployment"; "pod" otherwise. */
function workloadType(owner: string, workload: string): string {
  const suffix = `s/${workload}`;
  if (!owner.endsWith(suffix)) return "pod";
  const head = owner.slice(0, owner.length - suffix.length);
  const t = head.slice(head.lastIndexOf("/") + 1);
  return WORKLOAD_TYPES.has(t) ? t : "pod";
}

/** This proxy's side of the exchange, from its node id and metadata. */
export function localPeer(id: string, metadata: Readonly<Record<string, unknown>>, additionalLabels: readonly string[] = []): LocalPeer {
  const node = exchangedNodeStruct(metadata);
  return { id, node, headerValue: encodeStruct(node).toString("base64"), metadata: peerFromStruct(node, additionalLabels) };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * The peer from an `x-envoy-peer-metadata` value (base64 with or without padding, as Envoy's
 * decodeWithoutPadding accepts); undefined for one that is too long, not base64, or not a Struct.
 */
export function peerFromHeader(value: string, additionalLabels: readonly string[] = []): PeerMetadata | undefined {
  if (value.length === 0 || value.length > Math.ceil((MAX_PEER_METADATA_BYTES * 4) / 3) + 4 || !BASE64.test(value)) return undefined;
  if (value.length % 4 === 1) return undefined;
  const node = decodeStruct(Buffer.from(value, "base64"));
  return node === undefined ? undefined : peerFromStruct(node, additionalLabels);
}

/** A protobuf Any (type_url = 1, value = 2) of `value` as `typeUrl`. */
function encodeAny(typeUrl: string, value: Uint8Array): Buffer {
  const url = Buffer.from(typeUrl, "utf8");
  return Buffer.concat([Buffer.from([0x0a]), varint(url.length), url, Buffer.from([0x12]), varint(value.length), value]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** The bytes a proxy writes first on an istio-peer-exchange connection (its header and payload). */
export function encodeExchange(local: Pick<LocalPeer, "id" | "node">): Buffer {
  const payload: Record<string, JsonValue> = { [PEER_METADATA_HEADER]: local.node as Record<string, JsonValue> };
  if (local.id) payload[PEER_METADATA_ID_HEADER] = local.id;
  const any = encodeAny(STRUCT_URL, encodeStruct(payload));
  const head = Buffer.alloc(MX_HEADER_BYTES);
  head.writeUInt32BE(MX_MAGIC, 0);
  head.writeUInt32BE(any.length, 4);
  return Buffer.concat([head, any]);
}

/** What reading a peer's exchange from the bytes received so far gives. */
export type ExchangeRead =
  /** Not all of it is here yet. */
  | { readonly kind: "more" }
  /** Not an exchange (wrong magic): nothing consumed, the bytes are the application's. */
  | { readonly kind: "no-magic" }
  /** The declared length is past the bound: the exchange cannot be read. */
  | { readonly kind: "too-large"; readonly length: number }
  /** The header was read (`consumed` bytes) but the payload was not an Any of a Struct. */
  | { readonly kind: "bad-payload"; readonly consumed: number }
  /** The peer's metadata (undefined when its Struct had no node field) and id. */
  | { readonly kind: "peer"; readonly consumed: number; readonly node: Record<string, unknown> | undefined; readonly id: string };

/**
 * Reads a peer's exchange at the start of `data`, as istio/proxy's filter: the 8-byte header (magic
 * and length), then `length` bytes of a google.protobuf.Any of a Struct. Istio drains the header
 * before it parses the payload, so a payload that does not parse is consumed only up to the header.
 */
export function readExchange(data: Buffer): ExchangeRead {
  if (data.length < MX_HEADER_BYTES) return { kind: "more" };
  if (data.readUInt32BE(0) !== MX_MAGIC) return { kind: "no-magic" };
  const length = data.readUInt32BE(4);
  if (length > MAX_PEER_METADATA_BYTES) return { kind: "too-large", length };
  if (data.length < MX_HEADER_BYTES + length) return { kind: "more" };
  const payload = data.subarray(MX_HEADER_BYTES, MX_HEADER_BYTES + length);
  let any: { typeUrl: string; value: Uint8Array };
  try {
    any = parseTypeUrlAndValue(payload);
  } catch {
    return { kind: "bad-payload", consumed: MX_HEADER_BYTES };
  }
  const outer = any.typeUrl === STRUCT_URL ? decodeStruct(any.value) : undefined;
  if (outer === undefined) return { kind: "bad-payload", consumed: MX_HEADER_BYTES };
  const node = outer[PEER_METADATA_HEADER];
  const isObject = node !== null && typeof node === "object" && !Array.isArray(node);
  return { kind: "peer", consumed: MX_HEADER_BYTES + length, node: isObject ? (node as Record<string, unknown>) : undefined, id: str(outer[PEER_METADATA_ID_HEADER]) };
}
