// Discovery responses assembled from ready bytes. A response is a few small per-stream fields
// (version, type, nonce) around the resources, and the resources are the same bytes for every
// stream that gets them: each resource's whole repeated-field entry (tag, length, Any or
// Delta Resource) is encoded once per version and copied into every response that carries it.
// protobufjs would re-walk every Any per stream; this is the push hot path (XDS-NOTES).
import type { EncodedResource } from "../../envoy/encoded.js";

const WIRE_LEN = 2;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

/** A length-delimited field: tag, length, payload. */
class Field {
  constructor(
    readonly tag: number,
    readonly payload: Buffer,
  ) {}
  get size(): number {
    return varintSize(this.tag) + varintSize(this.payload.length) + this.payload.length;
  }
  writeTo(buf: Buffer, at: number): number {
    at = writeVarint(buf, at, this.tag);
    at = writeVarint(buf, at, this.payload.length);
    buf.set(this.payload, at);
    return at + this.payload.length;
  }
}

const tag = (field: number): number => (field << 3) | WIRE_LEN;
const str = (field: number, s: string): Field => new Field(tag(field), Buffer.from(s, "utf8"));
const bytes = (field: number, b: Uint8Array): Field =>
  new Field(tag(field), Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Concatenates fields into one message body. */
function message(fields: readonly Field[]): Buffer {
  let size = 0;
  for (const f of fields) size += f.size;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const f of fields) at = f.writeTo(out, at);
  return out;
}

// google.protobuf.Any: 1 type_url, 2 value.
function anyBody(r: EncodedResource): Buffer {
  return message([str(1, r.typeUrl), bytes(2, r.bytes)]);
}

const sotwEntries = new WeakMap<EncodedResource, Buffer>();
const deltaEntries = new WeakMap<EncodedResource, Buffer>();

/** `resources` entry of a DiscoveryResponse (field 2, Any), encoded once per resource version. */
function sotwEntry(r: EncodedResource): Buffer {
  let e = sotwEntries.get(r);
  if (!e) {
    e = message([new Field(tag(2), anyBody(r))]);
    sotwEntries.set(r, e);
  }
  return e;
}

/** `resources` entry of a DeltaDiscoveryResponse (field 2, Resource{1 version, 2 Any, 3 name}). */
function deltaEntry(r: EncodedResource): Buffer {
  let e = deltaEntries.get(r);
  if (!e) {
    e = message([new Field(tag(2), message([str(1, r.version), new Field(tag(2), anyBody(r)), str(3, r.name)]))]);
    deltaEntries.set(r, e);
  }
  return e;
}

// Runs of entries, concatenated once and shared. Proxies mostly get the same resources in the same
// order (the outbound clusters of a namespace, their endpoints, the port-80 routes) with a few of
// their own mixed in (inbound clusters). Cutting lists into runs at content-defined points (an
// entry whose serial hashes to 0 mod RUN_SPLIT ends a run) makes equal stretches produce equal
// runs wherever they sit in a list, so a response is a few dozen copies, not thousands.
const RUN_SPLIT = 32;
const RUN_MAX = 256;
/** Bytes of cached runs before the cache is dropped (old versions' runs age out this way). */
const RUN_CACHE_BYTES = 256 * 1024 * 1024;

interface Run {
  refs: EncodedResource[];
  bytes: Buffer;
}

class RunCache {
  private readonly runs = new Map<string, Run>();
  private bytes = 0;

  constructor(private readonly entry: (r: EncodedResource) => Buffer) {}

  /** The resources cut into runs, each as one ready buffer. */
  split(resources: readonly EncodedResource[]): Buffer[] {
    const out: Buffer[] = [];
    let start = 0;
    let hash = 0;
    for (let i = 0; i < resources.length; i++) {
      const serial = resources[i].serial;
      hash = (Math.imul(hash, 0x01000193) ^ serial) >>> 0;
      const mixed = Math.imul(serial, 0x9e3779b1) >>> 27;
      if (mixed % RUN_SPLIT === 0 || i - start + 1 >= RUN_MAX || i === resources.length - 1) {
        out.push(this.run(resources, start, i + 1, hash));
        start = i + 1;
        hash = 0;
      }
    }
    return out;
  }

  private run(resources: readonly EncodedResource[], start: number, end: number, hash: number): Buffer {
    const n = end - start;
    if (n === 1) return this.entry(resources[start]);
    const key = `${n}:${hash}:${resources[start].serial}`;
    const hit = this.runs.get(key);
    if (hit && hit.refs.every((r, i) => r === resources[start + i])) return hit.bytes;
    const refs = resources.slice(start, end);
    const parts = refs.map(this.entry);
    let size = 0;
    for (const p of parts) size += p.length;
    const bytes = Buffer.allocUnsafe(size);
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.length;
    }
    if (this.bytes + size > RUN_CACHE_BYTES) {
      this.runs.clear();
      this.bytes = 0;
    }
    this.runs.set(key, { refs, bytes });
    this.bytes += size;
    return bytes;
  }
}

const sotwRuns = new RunCache(sotwEntry);
const deltaRuns = new RunCache(deltaEntry);

/** Writes head fields, then the ready entries, then tail fields, into one buffer. */
function assemble(head: readonly Field[], entries: readonly Buffer[], tail: readonly Field[]): Buffer {
  let size = 0;
  for (const f of head) size += f.size;
  for (const e of entries) size += e.length;
  for (const f of tail) size += f.size;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const f of head) at = f.writeTo(out, at);
  // TypedArray#set straight away: Buffer#copy builds a view per call.
  for (const e of entries) {
    out.set(e, at);
    at += e.length;
  }
  for (const f of tail) at = f.writeTo(out, at);
  return out;
}

/** envoy.service.discovery.v3.DiscoveryResponse: 1 version_info, 2 resources, 4 type_url, 5 nonce. */
export function encodeSotwResponse(versionInfo: string, typeUrl: string, nonce: string, resources: readonly EncodedResource[]): Buffer {
  return assemble([str(1, versionInfo)], sotwRuns.split(resources), [str(4, typeUrl), str(5, nonce)]);
}

/**
 * envoy.service.discovery.v3.DeltaDiscoveryResponse: 1 system_version_info, 2 resources,
 * 4 type_url, 5 nonce, 6 removed_resources.
 */
export function encodeDeltaResponse(
  systemVersionInfo: string,
  typeUrl: string,
  nonce: string,
  resources: readonly EncodedResource[],
  removed: readonly string[],
): Buffer {
  const tail = [str(4, typeUrl), str(5, nonce)];
  for (const n of removed) tail.push(str(6, n));
  return assemble([str(1, systemVersionInfo)], deltaRuns.split(resources), tail);
}
