// State-of-the-world xDS (StreamAggregatedResources). Rules (XDS-NOTES, Envoy's xds_protocol):
// a response per change with a fresh nonce; requests with a stale nonce are ignored; ACK/NACK is
// decided by error_detail; LDS/CDS and wildcard responses carry the full wanted set (absence =
// deletion); RDS/EDS pushes may carry only what changed; new names are answered even if unchanged.
import { CLUSTER_TYPE, LISTENER_TYPE } from "../../envoy/protos.js";
import type { EncodedResource } from "../../envoy/encoded.js";
import { type Connection, errorMessage, type ProtocolHost, pushWatchedTypes, sendResponse, type TypeState, wantedResources } from "./connection.js";
import { typeLabel } from "./metrics.js";
import { encodeSotwResponse } from "./wire.js";
import { type SotwRequest } from "./service.js";
import type { PushRequest } from "./types.js";

/** Applies a request's resource_names to the watch; true when the subscription changed. */
function applyNames(ts: TypeState, requested: readonly string[]): boolean {
  const star = requested.includes("*");
  const names = requested.filter((n) => n !== "*");
  // Empty before any name was ever listed = legacy wildcard; after names = unsubscribe all.
  const wildcard = star || (names.length === 0 && !ts.everNamed);
  if (names.length > 0) ts.everNamed = true;
  const w = ts.watch;
  let changed = wildcard !== w.wildcard || names.length !== w.names.size;
  if (!changed) for (const n of names) if (!w.names.has(n)) changed = true;
  if (!changed) return false;
  w.wildcard = wildcard;
  w.names.clear();
  for (const n of names) w.names.add(n);
  return true;
}

export function handleSotwRequest<P>(host: ProtocolHost<P>, conn: Connection<P>, req: SotwRequest): void {
  const type = req.typeUrl;
  const existing = conn.types.get(type);
  const nonce = req.responseNonce;
  // No watch yet (even with a nonce: a client reconnecting from another control plane) or an
  // empty nonce: a new subscription, always answered.
  const initial = !existing || nonce === "";
  const ts = existing ?? conn.watch(type);
  if (!initial) {
    if (nonce !== ts.sentNonce) {
      // Superseded by a newer response; the client will answer that one with its current names.
      host.metrics.expiredNonce.inc({ type: typeLabel(type) });
      return;
    }
    const now = Date.now();
    const info = { connectionId: conn.id, nodeId: conn.nodeId, typeUrl: type, version: req.versionInfo, nonce, pushStart: ts.pushStart };
    ts.pushStart = undefined;
    if (req.errorDetail) {
      ts.nack = { version: req.versionInfo, nonce, message: req.errorDetail.message, at: now };
      host.metrics.recordReject(type, conn.nodeId, req.errorDetail.code);
      host.nack({ ...info, message: req.errorDetail.message });
    } else {
      ts.ackedVersion = req.versionInfo;
      ts.ackedNonce = nonce;
      ts.ackedAt = now;
      if (info.pushStart !== undefined) host.metrics.convergence.observe((now - info.pushStart) / 1000);
      host.ack(info);
    }
  }
  const changed = applyNames(ts, req.resourceNames);
  if (!initial && !changed) return;
  ts.mustRespond = true;
  const ctx = host.requestContext();
  // Without a snapshot yet, the first push answers (mustRespond stays set).
  if (!ctx) return;
  try {
    sendType(host, conn, ts, ctx, false);
  } catch (err) {
    host.log(`xds: generating ${typeLabel(type)} for ${conn.id} failed: ${errorMessage(err)}`);
  }
}

/** Pushes every watched type in push order; throws when the generator throws (push skipped). */
export function pushSotw<P>(host: ProtocolHost<P>, conn: Connection<P>, push: PushRequest): void {
  pushWatchedTypes(conn, push, host.generator, (ts) => sendType(host, conn, ts, push, true));
}

/** Generates one type for the connection and sends it if the client's view would change. */
function sendType<P>(host: ProtocolHost<P>, conn: Connection<P>, ts: TypeState, push: PushRequest, pushTriggered: boolean): boolean {
  const type = ts.watch.typeUrl;
  const t0 = performance.now();
  // Full-state responses need every resource: an EDS-only push is widened for them.
  const fullState = ts.mustRespond || ts.watch.wildcard || type === LISTENER_TYPE || type === CLUSTER_TYPE;
  const req = !push.full && fullState ? { ...push, full: true, edsUpdates: undefined } : push;
  const result = host.generator.generate(conn.proxy, type, ts.watch, req);
  if (!result && !ts.mustRespond) return false;
  const resources = wantedResources(ts, result);
  let toSend: readonly EncodedResource[];
  if (fullState) {
    if (!ts.mustRespond && sameAsHeld(ts.held, resources)) return false;
    toSend = resources;
    ts.held = new Map(resources.map((r) => [r.name, r.version]));
  } else {
    toSend = resources.filter((r) => ts.held.get(r.name) !== r.version);
    if (req.full) {
      // Gone from a full generation: the parent (cluster/listener) dropped it; forget it quietly.
      const present = new Set(resources.map((r) => r.name));
      for (const n of ts.held.keys()) if (!present.has(n)) ts.held.delete(n);
    }
    if (toSend.length === 0) return false;
    for (const r of toSend) ts.held.set(r.name, r.version);
  }
  const version = host.version();
  const nonce = conn.nextNonce();
  sendResponse(host, conn, ts, { version, nonce, buf: encodeSotwResponse(version, type, nonce, toSend) }, push, pushTriggered, t0);
  return true;
}

function sameAsHeld(held: ReadonlyMap<string, string>, resources: readonly EncodedResource[]): boolean {
  if (held.size !== resources.length) return false;
  for (const r of resources) if (held.get(r.name) !== r.version) return false;
  return true;
}
