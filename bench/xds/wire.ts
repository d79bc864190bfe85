// bench:xds's wire handling of Delta ADS: requests encoded and responses decoded with the project's
// protobufjs types (sampled proxies, the floor server), and a scanner that reads a response's names,
// versions and payload offsets straight off the wire, so the load stays light next to the control
// plane (each distinct resources section parsed once for the whole fleet). Names and versions are
// interned: every proxy of the fleet holds the same ones.
import { LISTENER_TYPE, messageType } from "../../src/envoy/protos.js";
import { DELTA_DISCOVERY_REQUEST, DELTA_DISCOVERY_RESPONSE } from "../../src/xds/server/service.js";
import { HCM_TYPE, type Obj } from "./settings.js";

export interface AnyMsg {
  type_url: string;
  value: Uint8Array;
}
interface DecodedResource {
  name: string;
  version: string;
  resource?: AnyMsg;
}
interface DecodedResponse {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: DecodedResource[];
  removedResources: string[];
}
interface DecodedListener {
  name: string;
  address?: { socketAddress?: { portValue?: number } };
  filterChains?: Array<{ filters?: Array<{ name?: string; typedConfig?: AnyMsg }> }>;
  defaultFilterChain?: { filters?: Array<{ name?: string; typedConfig?: AnyMsg }> };
}
interface DecodedHcm {
  rds?: { routeConfigName?: string };
}

export const requestType = messageType(DELTA_DISCOVERY_REQUEST);
const responseType = messageType(DELTA_DISCOVERY_RESPONSE);

export function encodeRequest(o: Obj): Buffer {
  const u8 = requestType.encode(requestType.fromObject(o)).finish();
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

export function decodeResponse(buf: Buffer): DecodedResponse {
  return responseType.decode(buf) as unknown as DecodedResponse;
}

/**
 * A DeltaDiscoveryResponse read straight off the wire (the load must stay light next to the
 * control plane): strings for names and versions, payloads left in place as offsets. Sampled
 * proxies cross-check it against protobufjs's decode.
 */
export interface Scanned {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  names: string[];
  versions: string[];
  /** Any.type_url per resource (only when asked for). */
  anyTypes: string[];
  /** Any.value of resource i is buf[valueBase + valueAt[2i], valueBase + valueAt[2i+1]). */
  valueAt: number[];
  valueBase: number;
  removed: string[];
}

let at = 0;

function varint(b: Buffer): number {
  let x = 0;
  let mul = 1;
  let byte: number;
  do {
    if (at >= b.length) throw new Error("truncated varint");
    byte = b[at++];
    x += (byte & 0x7f) * mul;
    mul *= 128;
  } while (byte & 0x80);
  return x;
}

function skipField(b: Buffer, wire: number): void {
  if (wire === 0) varint(b);
  else if (wire === 1) at += 8;
  else if (wire === 2) {
    const n = varint(b); // (not `at += varint(b)`: that reads `at` before the call moves it)
    at += n;
  }
  else if (wire === 5) at += 4;
  else throw new Error(`unexpected wire type ${wire}`);
}

function text(b: Buffer): string {
  const n = varint(b);
  if (at + n > b.length) throw new Error("truncated string");
  const s = b.toString("utf8", at, at + n);
  at += n;
  return s;
}

// DeltaDiscoveryResponse: 1 system_version_info, 2 resources, 4 type_url, 5 nonce, 6 removed_resources.
// Resource: 1 version, 2 resource (Any: 1 type_url, 2 value), 3 name.

/** The resources part of a response, parsed once per distinct byte content (offsets relative). */
interface ParsedResources {
  bytes: Buffer;
  names: string[];
  versions: string[];
  anyTypes: string[];
  valueAt: number[];
}

/**
 * Every proxy of the fleet gets byte-identical resource sections (only version, nonce and type
 * differ per stream), so the load parses each distinct section once and recognizes repeats by a
 * byte comparison (memcmp), as cheap as the transport's own copy. Bounded: a few sections per size.
 */
const parsedSections = new Map<number, ParsedResources[]>();
let parsedSectionCount = 0;

function parseSection(b: Buffer, start: number, end: number): ParsedResources {
  const out: ParsedResources = { bytes: Buffer.from(b.subarray(start, end)), names: [], versions: [], anyTypes: [], valueAt: [] };
  at = start;
  while (at < end) {
    const tag = varint(b);
    if (tag !== ((2 << 3) | 2)) throw new Error("resources section holds another field");
    const rEnd = varint(b) + at;
    let name = "";
    let version = "";
    let anyType = "";
    let v0 = 0;
    let v1 = 0;
    while (at < rEnd) {
      const t = varint(b);
      const f = t >>> 3;
      if ((t & 7) !== 2) skipField(b, t & 7);
      else if (f === 3) name = text(b);
      else if (f === 1) version = text(b);
      else if (f === 2) {
        const anyEnd = varint(b) + at;
        while (at < anyEnd) {
          const ta = varint(b);
          if ((ta & 7) !== 2) skipField(b, ta & 7);
          else if (ta >>> 3 === 1) anyType = text(b);
          else if (ta >>> 3 === 2) {
            const n = varint(b);
            v0 = at - start;
            v1 = at + n - start;
            at += n;
          } else skipField(b, 2);
        }
      } else skipField(b, 2);
    }
    if (at !== rEnd) throw new Error("resource overran its length");
    out.names.push(intern(name));
    out.versions.push(intern(version));
    out.anyTypes.push(intern(anyType));
    out.valueAt.push(v0, v1);
  }
  return out;
}

function sectionOf(b: Buffer, start: number, end: number): ParsedResources {
  const size = end - start;
  const region = b.subarray(start, end);
  const candidates = parsedSections.get(size);
  if (candidates) for (const c of candidates) if (c.bytes.equals(region)) return c;
  const parsed = parseSection(b, start, end);
  if (parsedSectionCount > 4096) {
    parsedSections.clear();
    parsedSectionCount = 0;
  }
  if (candidates && candidates.length < 8) candidates.push(parsed);
  else parsedSections.set(size, [parsed]);
  parsedSectionCount++;
  return parsed;
}

export function scanResponse(b: Buffer, _withAnyTypes: boolean): Scanned {
  const out: Scanned = { systemVersionInfo: "", typeUrl: "", nonce: "", names: [], versions: [], anyTypes: [], valueAt: [], valueBase: 0, removed: [] };
  // Top level only: the resources (field 2) must form one run; its bytes are parsed via the cache.
  let runStart = -1;
  let runEnd = -1;
  at = 0;
  while (at < b.length) {
    const fieldAt = at;
    const tag = varint(b);
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire !== 2) skipField(b, wire);
    else if (field === 2) {
      if (runStart < 0) runStart = fieldAt;
      else if (runEnd !== fieldAt) throw new Error("resources are not one contiguous run");
      skipField(b, 2);
      runEnd = at;
    } else if (field === 1) out.systemVersionInfo = text(b);
    else if (field === 4) out.typeUrl = text(b);
    else if (field === 5) out.nonce = text(b);
    else if (field === 6) out.removed.push(text(b));
    else skipField(b, 2);
  }
  if (at !== b.length) throw new Error("message overran its length");
  if (runStart >= 0) {
    const s = sectionOf(b, runStart, runEnd);
    out.names = s.names;
    out.versions = s.versions;
    out.anyTypes = s.anyTypes;
    out.valueAt = s.valueAt;
    out.valueBase = runStart;
  }
  return out;
}

/** Route names a listener's HTTP connection managers reference, and its port. */
export function listenerRoutes(bytes: Uint8Array): { port: number; routes: string[] } {
  const l = messageType(LISTENER_TYPE).decode(bytes) as unknown as DecodedListener;
  const hcmUrl = "type.googleapis.com/" + HCM_TYPE;
  const routes: string[] = [];
  const chains = [...(l.filterChains ?? []), ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])];
  for (const fc of chains) {
    for (const f of fc.filters ?? []) {
      if (f.typedConfig?.type_url !== hcmUrl) continue;
      const hcm = messageType(HCM_TYPE).decode(f.typedConfig.value) as unknown as DecodedHcm;
      const r = hcm.rds?.routeConfigName;
      if (r && !routes.includes(r)) routes.push(r);
    }
  }
  return { port: l.address?.socketAddress?.portValue ?? 0, routes };
}

/** Versions and names are shared by all proxies: intern them to keep the load process small. */
const interned = new Map<string, string>();
export function intern(s: string): string {
  const v = interned.get(s);
  if (v !== undefined) return v;
  interned.set(s, s);
  return s;
}

