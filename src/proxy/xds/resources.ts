// What the ADS client hands its user — decoded resources, updates, per-type snapshots and
// counters — and how a response's resources are decoded: each Any checked against the response's
// type URL, then decoded with the proxy's wire codec, a failure being a message fit for a NACK.
import { CLUSTER_TYPE, LISTENER_TYPE, type ProtoObject, TYPE_SHORT_NAMES } from "../../envoy/protos.js";
import { wireDecode } from "../../envoy/wire.js";
import { expandTypedStructs } from "../typed-struct.js";

export interface DecodedResource {
  name: string;
  version: string;
  object: ProtoObject;
}

/** Returns an error message to NACK the response with, or undefined to accept it. */
export type Validate = (typeUrl: string, resources: DecodedResource[]) => string | undefined;

/**
 * The asynchronous end of applying an update (binding listeners), awaited before the ACK:
 * undefined ACKs; a verdict NACKs with its message and keeps the `rejected` names as they were.
 */
export type Settle = (update: ResourceUpdate) => Promise<{ message: string; rejected: string[] } | undefined> | undefined;

export interface ResourceUpdate {
  typeUrl: string;
  /** Added or changed resources (already in snapshot()). */
  updated: DecodedResource[];
  /**
   * Names that are gone: removed by the server (Delta removed_resources, or absent from a SotW
   * LDS/CDS full-state response), reported as not existing (Delta: a subscribed name the server
   * does not have), or dropped locally because the watch no longer asks for them.
   */
  removed: string[];
  /** Delta: system_version_info; SotW: version_info (unchanged for local watch changes). */
  versionInfo: string;
  /** true for SotW LDS/CDS responses: `updated` is every resource of the type. */
  fullState: boolean;
}

export interface TypeSnapshot {
  resources: Map<string, DecodedResource & { updatedAt: number }>;
  /** Last accepted version_info / system_version_info ("" before any). */
  versionInfo: string;
  /** Last NACK, cleared by the next accepted response. */
  nack?: { message: string; nonce: string };
  /** Nonce of the last ACKed response on the current stream. */
  ackedNonce?: string;
  /** When the last accepted response was applied (ms since epoch). */
  lastUpdated?: number;
}

/** Envoy's per-subscription counters (`cluster_manager.cds.update_success`, `listener_manager.lds.update_rejected`…). */
export interface TypeStats {
  updateAttempt: number;
  updateSuccess: number;
  updateRejected: number;
  updateFailure: number;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
export function shortType(typeUrl: string): string {
  return TYPE_SHORT_NAMES[typeUrl] ?? typeUrl.slice(typeUrl.lastIndexOf(".") + 1);
}
/** LDS and CDS: an empty subscription means wildcard, and SotW responses are the full state. */
export function isFullStateType(typeUrl: string): boolean {
  return typeUrl === LISTENER_TYPE || typeUrl === CLUSTER_TYPE;
}
/** An Any as wireDecode's rawAny leaves it (google.protobuf.Any keeps its snake_case names). */
function anyParts(v: unknown): { typeUrl: string; value: Uint8Array } | undefined {
  if (!isObj(v)) return undefined;
  const typeUrl = str(v.type_url) || str(v.typeUrl);
  const value = v.value instanceof Uint8Array ? v.value : new Uint8Array(0);
  return { typeUrl, value };
}

/** Decodes one Any of a response; throws a message fit for error_detail. */
export function decodeAny(responseType: string, any: unknown, where: string): ProtoObject {
  const parts = anyParts(any);
  if (!parts) throw new Error(`${where}: resource is missing`);
  if (parts.typeUrl !== responseType) {
    throw new Error(`${where}: type URL ${parts.typeUrl} embedded in an individual Any does not match the message-wide type URL ${responseType}`);
  }
  try {
    const decoded = wireDecode(parts.typeUrl, parts.value);
    expandTypedStructs(decoded);
    return decoded;
  } catch (err) {
    throw new Error(`${where}: cannot decode ${parts.typeUrl}: ${errorMessage(err)}`);
  }
}

/** SotW resources carry no name: it is the resource's own `name` (ClusterLoadAssignment: `clusterName`). */
export function sotwName(o: ProtoObject): string {
  return typeof o.name === "string" ? o.name : typeof o.clusterName === "string" ? o.clusterName : "";
}

