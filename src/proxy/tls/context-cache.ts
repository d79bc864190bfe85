// One secure context per distinct (settings, secrets) pair, shared by the upstream TLS contexts that
// need it. Istio gives every outbound cluster (and its auto-mTLS transport socket match) the same
// `default` and `ROOTCA`: without sharing, each CDS push and each certificate rotation would parse
// the same key and certificates once per cluster (~2 ms each, hundreds of clusters) on the event
// loop. Entries are held weakly — a context lives as long as a cluster uses it — and dead ones are
// swept when a new context is made, so the map is bounded by the contexts in use (Envoy's
// cache_parsed_tls_certificates does the same for parsed certificates and keys).
import { createHash } from "node:crypto";
import type * as tls from "node:tls";

const ids = new WeakMap<object, number>();
let nextId = 0;

/** A number naming one object (a secret as the SecretManager holds it) for as long as it lives. */
export function identity(o: object): number {
  let id = ids.get(o);
  if (id === undefined) ids.set(o, (id = ++nextId));
  return id;
}

/** A digest of the options that do not come from secrets (protocol settings, a static CA or CRL). */
export function optionsFingerprint(o: tls.SecureContextOptions): string {
  const h = createHash("sha256");
  h.update(JSON.stringify([o.minVersion, o.maxVersion, o.ciphers, o.ecdhCurve, o.sigalgs, o.secureOptions, o.sessionTimeout]));
  for (const part of [o.ca, o.crl]) {
    h.update("\u0000");
    for (const b of part === undefined ? [] : Array.isArray(part) ? part : [part]) h.update(typeof b === "string" ? b : Buffer.from(b as Uint8Array));
  }
  return h.digest("base64");
}

const cache = new Map<string, WeakRef<tls.SecureContext>>();

/** The context cached under `key`, or `make()`'s (then cached). */
export function sharedSecureContext(key: string, make: () => tls.SecureContext): tls.SecureContext {
  const hit = cache.get(key)?.deref();
  if (hit !== undefined) return hit;
  for (const [k, ref] of cache) if (ref.deref() === undefined) cache.delete(k);
  const made = make();
  cache.set(key, new WeakRef(made));
  return made;
}

/** Option sets already known to make a context (bounded: forgotten all at once past 1,000). */
const checked = new Set<string>();

/**
 * Runs `check` (which throws for options node cannot use) unless options with this fingerprint
 * already passed: a context over SDS checks its settings when its config arrives, once per
 * distinct settings rather than once per cluster and push.
 */
export function checkOptionsOnce(fingerprint: string, check: () => void): void {
  if (checked.has(fingerprint)) return;
  check();
  if (checked.size >= 1000) checked.clear();
  checked.add(fingerprint);
}
