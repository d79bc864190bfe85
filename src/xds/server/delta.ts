// Incremental xDS (DeltaAggregatedResources). Subscriptions change by subscribe/unsubscribe lists
// ("*" = wildcard; a first LDS/CDS request with no names is a wildcard, Envoy's rule), responses
// carry only what changed plus removed_resources for deletions and for subscribed names that do
// not exist (so clients need not wait out a timeout), and a reconnecting client's
// initial_resource_versions spare resending what it already has.
import type { EncodedResource } from "../../envoy/encoded.js";
import { CLUSTER_TYPE, LISTENER_TYPE } from "../../envoy/protos.js";
import { type Connection, errorMessage, type ProtocolHost, pushWatchedTypes, sendResponse, type TypeState, wantedResources } from "./connection.js";
import { typeLabel } from "./metrics.js";
import { encodeDeltaResponse } from "./wire.js";
import { type DeltaRequest } from "./service.js";
import type { PushRequest } from "./types.js";

/** Applies subscribe/unsubscribe; true when the watch gained something the client must be told about. */
function applySubscriptions(ts: TypeState, req: DeltaRequest, initial: boolean): boolean {
  const w = ts.watch;
  let gained = false;
  if (initial) {
    for (const [name, version] of Object.entries(req.initialResourceVersions)) ts.held.set(name, version);
    if (req.subscribe.length === 0 && (w.typeUrl === LISTENER_TYPE || w.typeUrl === CLUSTER_TYPE)) {
      w.wildcard = true;
      gained = true;
    }
  }
  for (const n of req.subscribe) {
    if (n === "*") {
      if (!w.wildcard) gained = true;
      w.wildcard = true;
    } else if (!w.names.has(n)) {
      w.names.add(n);
      ts.reportedMissing.delete(n);
      gained = true;
    }
  }
  for (const n of req.unsubscribe) {
    if (n === "*") {
      w.wildcard = false;
      // The client drops what it only had through the wildcard.
      for (const h of [...ts.held.keys()]) if (!w.names.has(h)) ts.held.delete(h);
    } else {
      w.names.delete(n);
      ts.reportedMissing.delete(n);
      if (!w.wildcard) ts.held.delete(n);
    }
  }
  return gained;
}

export function handleDeltaRequest<P>(host: ProtocolHost<P>, conn: Connection<P>, req: DeltaRequest): void {
  const type = req.typeUrl;
  const existing = conn.types.get(type);
  const initial = !existing;
  const ts = existing ?? conn.watch(type);
  const nonce = req.responseNonce;
  if (!initial && nonce !== "") {
    if (nonce === ts.sentNonce) {
      const now = Date.now();
      const info = { connectionId: conn.id, nodeId: conn.nodeId, typeUrl: type, version: ts.sentVersion ?? "", nonce, pushStart: ts.pushStart };
      ts.pushStart = undefined;
      if (req.errorDetail) {
        ts.nack = { version: ts.sentVersion, nonce, message: req.errorDetail.message, at: now };
        host.metrics.recordReject(type, conn.nodeId, req.errorDetail.code);
        host.nack({ ...info, message: req.errorDetail.message });
      } else {
        ts.ackedVersion = ts.sentVersion;
        ts.ackedNonce = nonce;
        ts.ackedAt = now;
        if (info.pushStart !== undefined) host.metrics.convergence.observe((now - info.pushStart) / 1000);
        host.ack(info);
      }
    } else {
      // Stale: the ACK part is void, but subscription changes still count (Delta rule).
      host.metrics.expiredNonce.inc({ type: typeLabel(type) });
    }
  }
  const gained = applySubscriptions(ts, req, initial);
  if (!initial && !gained) return;
  // The first request of a type is always answered (even empty) so the client can finish warming.
  if (initial) ts.mustRespond = true;
  const ctx = host.requestContext();
  if (!ctx) {
    ts.mustRespond = true;
    return;
  }
  try {
    sendType(host, conn, ts, ctx, false);
  } catch (err) {
    host.log(`xds: generating ${typeLabel(type)} for ${conn.id} failed: ${errorMessage(err)}`);
  }
}

/** Pushes every watched type in push order; throws when the generator throws (push skipped). */
export function pushDelta<P>(host: ProtocolHost<P>, conn: Connection<P>, push: PushRequest): void {
  pushWatchedTypes(conn, push, host.generator, (ts) => sendType(host, conn, ts, push, true));
}

function sendType<P>(host: ProtocolHost<P>, conn: Connection<P>, ts: TypeState, push: PushRequest, pushTriggered: boolean): boolean {
  const type = ts.watch.typeUrl;
  const t0 = performance.now();
  // A pending answer needs the whole picture (to report missing names): widen an EDS-only push.
  const req = !push.full && ts.mustRespond ? { ...push, full: true, edsUpdates: undefined } : push;
  const result = host.generator.generate(conn.proxy, type, ts.watch, req);
  if (!result && !ts.mustRespond) return false;
  const resources = wantedResources(ts, result);
  const toSend: EncodedResource[] = [];
  let stillHeld = 0;
  for (const r of resources) {
    const v = ts.held.get(r.name);
    if (v !== undefined) stillHeld++;
    if (v !== r.version) toSend.push(r);
  }
  const removed: string[] = [];
  if (req.full) {
    // A full generation is the complete wanted set: whatever the client holds beyond it is gone,
    // and subscribed names not in it do not exist (reported once, until they appear). Names are
    // distinct, so counts tell when nothing is gone or missing without building a name set.
    const names = ts.watch.names.size;
    const mayMiss = names > 0 && (ts.watch.wildcard || resources.length < names);
    if (stillHeld < ts.held.size || mayMiss) {
      const present = new Set(resources.map((r) => r.name));
      for (const n of ts.held.keys()) {
        if (present.has(n)) continue;
        removed.push(n);
        ts.held.delete(n);
        if (ts.watch.names.has(n)) ts.reportedMissing.add(n);
      }
      for (const n of ts.watch.names) {
        if (present.has(n) || ts.reportedMissing.has(n)) continue;
        removed.push(n);
        ts.reportedMissing.add(n);
      }
    }
  }
  if (toSend.length === 0 && removed.length === 0 && !ts.mustRespond) return false;
  for (const r of toSend) {
    ts.held.set(r.name, r.version);
    ts.reportedMissing.delete(r.name);
  }
  const version = host.version();
  const nonce = conn.nextNonce();
  sendResponse(host, conn, ts, { version, nonce, buf: encodeDeltaResponse(version, type, nonce, toSend, removed) }, push, pushTriggered, t0);
  return true;
}
