// A resource encoded once per version: the bytes and version are shared by every stream that sends
// it (XDS-NOTES: encoding dominates push cost, wrapping ready bytes in a response is cheap).
import { createHash } from "node:crypto";
import { encodeMessage } from "./protos.js";

export interface EncodedResource {
  readonly name: string;
  readonly typeUrl: string;
  /** Content hash of `bytes`: equal versions mean equal resources. */
  readonly version: string;
  readonly bytes: Uint8Array;
  /** The typed object it was encoded from (for debug pages and golden tests). */
  readonly object: object;
  /** Unique per encoded resource in this process (lets response assembly key runs of resources). */
  readonly serial: number;
}

let serials = 0;

const cache = new WeakMap<object, EncodedResource>();

/**
 * Encodes a typed object (memoized per object identity, so generators that share one object across
 * proxies pay for encoding once).
 */
export function encodeResource(typeUrl: string, name: string, object: object): EncodedResource {
  const hit = cache.get(object);
  if (hit && hit.typeUrl === typeUrl && hit.name === name) return hit;
  const bytes = encodeMessage(typeUrl, object);
  const version = createHash("sha1").update(bytes).digest("base64url").slice(0, 16);
  const enc: EncodedResource = { name, typeUrl, version, bytes, object, serial: ++serials };
  cache.set(object, enc);
  return enc;
}
