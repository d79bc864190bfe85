// The proxy's xDS client: Envoy's ADS gRPC mux (GrpcMuxImpl / NewGrpcMuxImpl) over a minimal gRPC
// bidi stream on node:http2 (grpc-h2.ts: the one call the proxy makes, without a gRPC library's
// start-up cost). Messages are encoded and decoded with the proxy's own codec (envoy/wire.ts: the
// same typed objects as protobufjs, without loading it); responses are decoded here (not in a
// deserializer) so a bad resource becomes a NACK, not a broken stream.
//
// Rules (Envoy's, data-plane-api "xDS REST and gRPC protocol"; XDS-NOTES.md):
// - the first request of a stream carries the node; Delta is the default, SotW is available;
// - a response is decoded, validated, applied, announced ("update", synchronously), settled
//   (options.settle: the listeners it brings are bound; later responses wait) and only then ACKed;
//   any failure NACKs (error_detail {code: 3 INVALID_ARGUMENT}) and changes nothing (a settle
//   verdict keeps only the resources it rejects as they were);
// - SotW LDS/CDS responses are the full state: held names missing from them are removed;
// - on losing the stream every resource is kept (the last good config keeps serving) and the
//   client reconnects with jittered exponential backoff, resending its subscriptions with
//   initial_resource_versions (Delta) or the last accepted version_info (SotW).
// Memory stays bounded: per type the subscription, the current resources and the last status.
import { EventEmitter } from "node:events";
import { DEBUG, type Logger, LogRegistry } from "../../core/log.js";
import {
  DELTA_DISCOVERY_REQUEST,
  DELTA_DISCOVERY_RESPONSE,
  DELTA_METHOD_PATH,
  DISCOVERY_REQUEST,
  DISCOVERY_RESPONSE,
  inPushOrder,
  SOTW_METHOD_PATH,
  struct,
  type XdsNode,
} from "../../envoy/protos.js";
import { wireDecode, wireEncode } from "../../envoy/wire.js";
import { describeResponse, describeUpdate } from "./debug-lines.js";
import { type DecodedResource, decodeAny, errorMessage, isFullStateType, type ResourceUpdate, type Settle, shortType, sotwName, type TypeSnapshot, type TypeStats, type Validate } from "./resources.js";
import { type BidiCall, GRPC_STATUS_NAMES, type GrpcStatus, H2Channel } from "./grpc-h2.js";

/** google.rpc.Code INVALID_ARGUMENT, what Envoy puts in a NACK's error_detail. */
const INVALID_ARGUMENT = 3;
/** Envoy's xDS HTTP/2 stream and connection window (its default for gRPC clusters). */
const FLOW_CONTROL_WINDOW = 256 * 1024 * 1024;

type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

export interface AdsClientOptions {
  /** host:port of the ADS server ("127.0.0.1:15010"). */
  target: string;
  /** Sent on each stream's first request (metadata as a google.protobuf.Struct; user agent "tsmesh" by default). */
  node: XdsNode;
  /** Delta (incremental, the default) or state-of-the-world ADS. */
  protocol?: "delta" | "sotw";
  /** Reconnect backoff: Envoy's jittered exponential backoff, 500 ms doubling up to 30 s. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** The proxy's `config` logger (Envoy's xDS client logs there); silent without one. */
  log?: Logger;
  /**
   * Call metadata for each new stream (read again at every reconnect): the workload credential as
   * `authorization: Bearer TOKEN`, which istiod requires before it sends keys (gateway credentials).
   */
  callMetadata?: () => Record<string, string>;
  /** Awaited after an update is applied, before its ACK (the stream's later responses wait for it). */
  settle?: Settle;
}

export interface AdsClientEvents {
  update: [ResourceUpdate];
  connected: [];
  disconnected: [string];
}

type Stored = DecodedResource & { updatedAt: number };

/** Everything the client keeps for one type. */
interface TypeState {
  readonly typeUrl: string;
  wildcard: boolean;
  names: Set<string>;
  readonly resources: Map<string, Stored>;
  versionInfo: string;
  nack?: { message: string; nonce: string };
  ackedNonce?: string;
  lastUpdated?: number;
  readonly stats: TypeStats;
}

/** What the current stream has told the server for one type. */
interface StreamTypeState {
  wildcard: boolean;
  names: Set<string>;
  /** Names were listed on this stream (an empty list now means "nothing", not the legacy wildcard). */
  everNamed: boolean;
  /** SotW: the nonce of the last response of this type on this stream. */
  lastNonce: string;
}

interface Stream {
  readonly call: BidiCall;
  readonly types: Map<string, StreamTypeState>;
  sentNode: boolean;
  established: boolean;
  ended: boolean;
  /** A response is settling: later ones queue, in order. */
  settling: boolean;
  queue: Buffer[];
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}
function encoder(typeName: string): (o: Obj) => Buffer {
  return (o) => wireEncode(typeName, o);
}

/** Error of a NACK: the rejected nonce's message. */
class NackError extends Error {}

export class AdsClient extends EventEmitter<AdsClientEvents> {
  private readonly protocol: "delta" | "sotw";
  private readonly initialBackoff: number;
  private readonly maxBackoff: number;
  private readonly log: Logger;
  private readonly types = new Map<string, TypeState>();
  private client: H2Channel | undefined;
  private stream: Stream | undefined;
  private started = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private readonly encodeRequest: (o: Obj) => Buffer;
  private readonly nodeObject: Obj;

  constructor(
    private readonly options: AdsClientOptions,
    private readonly validate: Validate,
  ) {
    super();
    this.protocol = options.protocol ?? "delta";
    this.initialBackoff = Math.max(1, options.backoff?.initialMs ?? 500);
    this.maxBackoff = Math.max(this.initialBackoff, options.backoff?.maxMs ?? 30_000);
    this.log = options.log ?? new LogRegistry(["config"], () => {}).get("config");
    this.encodeRequest = encoder(this.protocol === "delta" ? DELTA_DISCOVERY_REQUEST : DISCOVERY_REQUEST);
    this.nodeObject = nodeObject(options.node);
  }

  /** Connected: the current stream got response headers or a response from the server. */
  get connected(): boolean {
    return this.stream?.established === true;
  }

  /** Opens the ADS stream (and keeps one open until close()). */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.client = new H2Channel(this.options.target, { windowSize: FLOW_CONTROL_WINDOW, userAgent: "tsmesh" });
    this.openStream();
  }

  /**
   * Sets the names wanted for a type ("*" or an empty array on LDS/CDS = wildcard). Delta sends
   * only the difference, SotW the full list. Resources no longer wanted are dropped at once and
   * reported as removed in an "update" (emitted in a microtask, never re-entrantly).
   */
  watch(typeUrl: string, names: readonly string[] | "*"): void {
    if (this.closed) return;
    const wildcard = names === "*" || names.includes("*") || (names.length === 0 && isFullStateType(typeUrl));
    const wanted = new Set(names === "*" ? [] : names.filter((n) => n !== "*"));
    let ts = this.types.get(typeUrl);
    if (!ts) {
      ts = {
        typeUrl,
        wildcard,
        names: wildcard ? new Set() : wanted,
        resources: new Map(),
        versionInfo: "",
        stats: { updateAttempt: 0, updateSuccess: 0, updateRejected: 0, updateFailure: 0 },
      };
      this.types.set(typeUrl, ts);
    } else {
      ts.wildcard = wildcard;
      ts.names = wildcard ? new Set() : wanted;
      this.dropUnwanted(ts);
    }
    const s = this.stream;
    if (s && !s.ended) this.sendSubscription(s, ts);
  }

  /** Per type: the current resources, the last accepted version, the last NACK. */
  snapshot(): Map<string, TypeSnapshot> {
    const out = new Map<string, TypeSnapshot>();
    for (const ts of this.orderedTypes()) {
      const snap: TypeSnapshot = { resources: new Map(ts.resources), versionInfo: ts.versionInfo };
      if (ts.nack) snap.nack = { ...ts.nack };
      if (ts.ackedNonce !== undefined) snap.ackedNonce = ts.ackedNonce;
      if (ts.lastUpdated !== undefined) snap.lastUpdated = ts.lastUpdated;
      out.set(ts.typeUrl, snap);
    }
    return out;
  }

  /** Per type update counters (Envoy's update_attempt / update_success / update_rejected / update_failure). */
  stats(): Map<string, TypeStats> {
    const out = new Map<string, TypeStats>();
    for (const ts of this.orderedTypes()) out.set(ts.typeUrl, { ...ts.stats });
    return out;
  }

  /** Cancels the stream, stops reconnecting; resolves once the stream and the channel are closed. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const s = this.stream;
    if (s && !s.ended) {
      const wasConnected = s.established;
      const done = new Promise<void>((resolve) => s.call.once("status", () => resolve()));
      s.call.cancel();
      await done;
      if (wasConnected) this.emitSafely("disconnected", "closed");
    }
    this.stream = undefined;
    this.client?.close();
    this.client = undefined;
  }

  // ---------- stream lifecycle ----------

  private openStream(): void {
    const client = this.client;
    if (this.closed || !client) return;
    const path = this.protocol === "delta" ? DELTA_METHOD_PATH : SOTW_METHOD_PATH;
    let metadata: Record<string, string> = {};
    try {
      metadata = this.options.callMetadata?.() ?? {};
    } catch (e) {
      this.options.log?.warn(`xds: no call credential for this stream: ${(e as Error).message}`);
    }
    const call = client.bidi(path, metadata);
    const s: Stream = { call, types: new Map(), sentNode: false, established: false, ended: false, settling: false, queue: [] };
    this.stream = s;
    call.on("metadata", () => this.establish(s));
    call.on("data", (buf: Buffer) => {
      if (this.stream !== s || s.ended) return;
      this.establish(s);
      // The backoff restarts once a stream proved useful (headers alone can precede a rejection).
      this.attempt = 0;
      if (s.settling) s.queue.push(buf);
      else this.onResponse(s, buf);
    });
    // "status" reports every ending, exactly once.
    call.on("status", (st: GrpcStatus) => this.onStreamEnd(s, `${GRPC_STATUS_NAMES[st.code] ?? st.code}: ${st.details}`));
    // Subscriptions in make-before-break order (CDS, EDS, LDS, RDS), as Envoy resumes them.
    for (const ts of this.orderedTypes()) this.sendSubscription(s, ts);
  }

  private establish(s: Stream): void {
    if (s.established || this.stream !== s) return;
    s.established = true;
    this.log.info(`xds: connected to ${this.options.target} (${this.protocol})`);
    this.emitSafely("connected");
  }

  private onStreamEnd(s: Stream, reason: string): void {
    if (s.ended) return;
    s.ended = true;
    if (this.stream !== s || this.closed) return;
    this.stream = undefined;
    const wasConnected = s.established;
    this.log.warn(`xds: stream to ${this.options.target} closed: ${reason}`);
    // Every resource is kept: the last good config keeps serving while disconnected.
    if (wasConnected) this.emitSafely("disconnected", reason);
    this.scheduleReconnect();
  }

  /** Envoy's JitteredExponentialBackOffStrategy: uniform in [0, min(initial·2^n, max)). */
  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer) return;
    const interval = Math.min(this.maxBackoff, this.initialBackoff * 2 ** Math.min(this.attempt, 30));
    if (interval < this.maxBackoff) this.attempt++;
    const delay = Math.floor(Math.random() * interval);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.openStream();
    }, delay);
  }

  /** Fails the stream from our side (an undecodable response); the status handler reconnects. */
  private resetStream(s: Stream, reason: string): void {
    this.log.warn(`xds: resetting stream: ${reason}`);
    s.call.cancel();
  }

  private write(s: Stream, req: Obj): void {
    if (s.ended || this.closed) return;
    if (!s.sentNode) {
      req.node = this.nodeObject;
      s.sentNode = true;
    }
    s.call.write(this.encodeRequest(req));
  }

  // ---------- subscriptions ----------

  private orderedTypes(): TypeState[] {
    return inPushOrder(this.types);
  }

  /** Tells the server (on stream `s`) what the client now wants for a type, if that changed. */
  private sendSubscription(s: Stream, ts: TypeState): void {
    const sent = s.types.get(ts.typeUrl);
    if (!sent) {
      // A type with nothing wanted is not announced: an empty first request would read as the
      // legacy wildcard.
      if (!ts.wildcard && ts.names.size === 0) return;
      const st: StreamTypeState = { wildcard: ts.wildcard, names: new Set(ts.names), everNamed: ts.names.size > 0, lastNonce: "" };
      s.types.set(ts.typeUrl, st);
      if (this.protocol === "delta") {
        const req: Obj = { typeUrl: ts.typeUrl, resourceNamesSubscribe: this.deltaInitialNames(ts) };
        if (ts.resources.size > 0) {
          const initial: Record<string, string> = {};
          for (const [name, r] of ts.resources) initial[name] = r.version;
          req.initialResourceVersions = initial;
        }
        this.write(s, req);
      } else {
        // Envoy resends the last accepted version_info on a new stream.
        this.write(s, { typeUrl: ts.typeUrl, versionInfo: ts.versionInfo, resourceNames: this.sotwNames(ts, st) });
      }
      return;
    }
    if (sent.wildcard === ts.wildcard && sameSet(sent.names, ts.names)) return;
    if (this.protocol === "delta") {
      const subscribe: string[] = [];
      const unsubscribe: string[] = [];
      if (ts.wildcard && !sent.wildcard) subscribe.push("*");
      if (!ts.wildcard && sent.wildcard) unsubscribe.push("*");
      for (const n of ts.names) if (!sent.names.has(n)) subscribe.push(n);
      for (const n of sent.names) if (!ts.names.has(n)) unsubscribe.push(n);
      sent.wildcard = ts.wildcard;
      sent.names = new Set(ts.names);
      if (ts.names.size > 0) sent.everNamed = true;
      this.write(s, { typeUrl: ts.typeUrl, resourceNamesSubscribe: subscribe, resourceNamesUnsubscribe: unsubscribe });
    } else {
      sent.wildcard = ts.wildcard;
      sent.names = new Set(ts.names);
      const resourceNames = this.sotwNames(ts, sent);
      if (ts.names.size > 0) sent.everNamed = true;
      this.write(s, { typeUrl: ts.typeUrl, versionInfo: ts.versionInfo, responseNonce: sent.lastNonce, resourceNames });
    }
  }

  /** Delta first request: LDS/CDS wildcard is the empty list (Envoy's legacy form), others "*". */
  private deltaInitialNames(ts: TypeState): string[] {
    if (ts.wildcard) return isFullStateType(ts.typeUrl) ? [] : ["*"];
    return [...ts.names];
  }

  /** SotW resource_names: the empty list is the wildcard only before any name on this stream. */
  private sotwNames(ts: TypeState, sent: StreamTypeState): string[] {
    if (ts.wildcard) return isFullStateType(ts.typeUrl) && !sent.everNamed ? [] : ["*"];
    return [...ts.names];
  }

  /** Drops resources the watch no longer asks for and reports them (asynchronously). */
  private dropUnwanted(ts: TypeState): void {
    if (ts.wildcard) return;
    const removed: string[] = [];
    for (const name of ts.resources.keys()) if (!ts.names.has(name)) removed.push(name);
    if (removed.length === 0) return;
    for (const n of removed) ts.resources.delete(n);
    const update: ResourceUpdate = { typeUrl: ts.typeUrl, updated: [], removed, versionInfo: ts.versionInfo, fullState: false };
    queueMicrotask(() => {
      if (!this.closed) this.emitSafely("update", update);
    });
  }

  // ---------- responses ----------

  private onResponse(s: Stream, buf: Buffer): void {
    let msg: Obj;
    try {
      msg = wireDecode(this.protocol === "delta" ? DELTA_DISCOVERY_RESPONSE : DISCOVERY_RESPONSE, buf, { rawAny: true });
    } catch (err) {
      // Without a nonce there is nothing to NACK: fail the stream, as a gRPC parse error would.
      this.resetStream(s, `undecodable discovery response: ${errorMessage(err)}`);
      return;
    }
    const typeUrl = str(msg.typeUrl);
    const nonce = str(msg.nonce);
    const ts = this.types.get(typeUrl);
    const st = s.types.get(typeUrl);
    if (!ts || !st) {
      this.log.warn(`xds: ignoring a response for ${typeUrl || "(no type)"}: not subscribed`);
      return;
    }
    st.lastNonce = nonce;
    ts.stats.updateAttempt++;
    if (this.log.level <= DEBUG) this.log.debug(`xds: received ${shortType(typeUrl)} response: ${describeResponse(msg, this.protocol)}, nonce ${nonce}`);
    if (this.protocol === "delta") this.onDeltaResponse(s, ts, msg, nonce);
    else this.onSotwResponse(s, ts, st, msg, nonce);
  }

  private onDeltaResponse(s: Stream, ts: TypeState, msg: Obj, nonce: string): void {
    const typeUrl = ts.typeUrl;
    const versionInfo = str(msg.systemVersionInfo);
    const updated: DecodedResource[] = [];
    const removed: string[] = [];
    try {
      const seen = new Set<string>();
      const list = Array.isArray(msg.resources) ? msg.resources : [];
      for (let i = 0; i < list.length; i++) {
        const r: unknown = list[i];
        if (!isObj(r)) continue;
        const name = str(r.name);
        if (seen.has(name)) throw new NackError(`duplicate name ${name} found among added/updated resources`);
        seen.add(name);
        // A Resource without a body (a TTL heartbeat) changes nothing.
        if (r.resource === undefined || r.resource === null) continue;
        if (!this.wants(ts, name)) continue;
        updated.push({ name, version: str(r.version), object: decodeAny(typeUrl, r.resource, `resources[${i}] (${name})`) });
      }
      const gone = new Set<string>();
      if (Array.isArray(msg.removedResources)) for (const n of msg.removedResources) if (typeof n === "string") gone.add(n);
      if (Array.isArray(msg.removedResourceNames)) for (const n of msg.removedResourceNames) if (isObj(n) && typeof n.name === "string") gone.add(n.name);
      for (const n of gone) {
        if (seen.has(n)) throw new NackError(`${n} is both updated and removed`);
        // Held names go; subscribed names the server does not have are reported as not existing.
        if (ts.resources.has(n) || ts.names.has(n)) removed.push(n);
      }
    } catch (err) {
      this.nack(s, ts, nonce, errorMessage(err));
      return;
    }
    this.accept(s, ts, nonce, { typeUrl, updated, removed, versionInfo, fullState: false });
  }

  private onSotwResponse(s: Stream, ts: TypeState, st: StreamTypeState, msg: Obj, nonce: string): void {
    const typeUrl = ts.typeUrl;
    const versionInfo = str(msg.versionInfo);
    const fullState = isFullStateType(typeUrl);
    const updated: DecodedResource[] = [];
    const removed: string[] = [];
    try {
      const seen = new Set<string>();
      const list = Array.isArray(msg.resources) ? msg.resources : [];
      for (let i = 0; i < list.length; i++) {
        const object = decodeAny(typeUrl, list[i], `resources[${i}]`);
        const name = sotwName(object);
        if (seen.has(name)) throw new NackError(`duplicate name ${name} found in the response`);
        seen.add(name);
        if (!this.wants(ts, name)) continue;
        updated.push({ name, version: versionInfo, object });
      }
      if (fullState) for (const n of ts.resources.keys()) if (!seen.has(n)) removed.push(n);
    } catch (err) {
      this.nack(s, ts, nonce, errorMessage(err), st);
      return;
    }
    this.accept(s, ts, nonce, { typeUrl, updated, removed, versionInfo, fullState }, st);
  }

  private wants(ts: TypeState, name: string): boolean {
    return ts.wildcard || ts.names.has(name);
  }

  /** Validates, applies, announces, ACKs; any failure (validation or the update listener) NACKs and restores. */
  private accept(s: Stream, ts: TypeState, nonce: string, update: ResourceUpdate, st?: StreamTypeState): void {
    let verdict: string | undefined;
    try {
      verdict = this.validate(ts.typeUrl, update.updated);
    } catch (err) {
      verdict = errorMessage(err);
    }
    if (verdict !== undefined) {
      this.nack(s, ts, nonce, verdict, st);
      return;
    }
    // Apply, remembering what was there so a failing listener leaves the state as it was.
    const now = Date.now();
    const previous = new Map<string, Stored | undefined>();
    for (const r of update.updated) {
      previous.set(r.name, ts.resources.get(r.name));
      ts.resources.set(r.name, { name: r.name, version: r.version, object: r.object, updatedAt: now });
    }
    for (const n of update.removed) {
      if (!previous.has(n)) previous.set(n, ts.resources.get(n));
      ts.resources.delete(n);
    }
    try {
      this.emit("update", update);
    } catch (err) {
      for (const [name, r] of previous) {
        if (r) ts.resources.set(name, r);
        else ts.resources.delete(name);
      }
      ts.stats.updateFailure++;
      this.nack(s, ts, nonce, `applying the update failed: ${errorMessage(err)}`, st);
      return;
    }
    const settling = this.options.settle?.(update);
    if (!settling) return this.ack(s, ts, nonce, update, now, st);
    s.settling = true;
    void settling
      .catch((err: unknown) => ({ message: `applying the update failed: ${errorMessage(err)}`, rejected: [...previous.keys()] }))
      .then((verdict) => {
        if (verdict) {
          // What could not be applied stays as it was; the rest of the update is in force (as in Envoy).
          for (const name of verdict.rejected) {
            const r = previous.get(name);
            if (r) ts.resources.set(name, r);
            else ts.resources.delete(name);
          }
          this.nack(s, ts, nonce, verdict.message, st);
        } else this.ack(s, ts, nonce, update, now, st);
        s.settling = false;
        while (!s.settling && s.queue.length > 0 && this.stream === s && !s.ended) this.onResponse(s, s.queue.shift()!);
      });
  }

  private ack(s: Stream, ts: TypeState, nonce: string, update: ResourceUpdate, now: number, st?: StreamTypeState): void {
    ts.versionInfo = update.versionInfo;
    ts.lastUpdated = now;
    ts.nack = undefined;
    ts.stats.updateSuccess++;
    // The listener may have closed the client or lost the stream meanwhile.
    if (this.stream !== s || s.ended) return;
    ts.ackedNonce = nonce;
    if (this.log.level <= DEBUG) this.log.debug(`xds: ACK ${shortType(ts.typeUrl)} version ${update.versionInfo || "-"} nonce ${nonce}: ${describeUpdate(update)}`);
    if (this.protocol === "delta") this.write(s, { typeUrl: ts.typeUrl, responseNonce: nonce });
    else {
      const sent = st ?? s.types.get(ts.typeUrl);
      if (!sent) return;
      this.write(s, { typeUrl: ts.typeUrl, versionInfo: ts.versionInfo, responseNonce: nonce, resourceNames: this.sotwNames(ts, sent) });
    }
  }

  /** NACK: error_detail set; SotW keeps the previous version_info. Nothing in the state changes. */
  private nack(s: Stream, ts: TypeState, nonce: string, message: string, st?: StreamTypeState): void {
    ts.stats.updateRejected++;
    ts.nack = { message, nonce };
    this.log.warn(`xds: rejecting ${shortType(ts.typeUrl)} (nonce ${nonce}; keeping version ${ts.versionInfo || "-"}): ${message}`);
    if (this.stream !== s || s.ended) return;
    const errorDetail = { code: INVALID_ARGUMENT, message };
    if (this.protocol === "delta") this.write(s, { typeUrl: ts.typeUrl, responseNonce: nonce, errorDetail });
    else {
      const sent = st ?? s.types.get(ts.typeUrl);
      if (!sent) return;
      this.write(s, { typeUrl: ts.typeUrl, versionInfo: ts.versionInfo, responseNonce: nonce, resourceNames: this.sotwNames(ts, sent), errorDetail });
    }
  }

  private emitSafely<K extends "connected" | "disconnected" | "update">(event: K, ...args: AdsClientEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: AdsClientEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.log.error(`xds: ${event} listener threw: ${errorMessage(err)}`);
    }
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/** envoy.config.core.v3.Node in typed-object form. */
function nodeObject(node: AdsClientOptions["node"]): Obj {
  const o: Obj = { id: node.id, userAgentName: node.userAgentName ?? "tsmesh" };
  if (node.cluster !== undefined) o.cluster = node.cluster;
  // Through JSON first: drops undefined values and functions, turns Dates into strings.
  if (node.metadata !== undefined) o.metadata = struct(JSON.parse(JSON.stringify(node.metadata)) as { [k: string]: JsonValue });
  if (node.locality !== undefined) o.locality = { ...node.locality };
  if (node.userAgentVersion !== undefined) o.userAgentVersion = node.userAgentVersion;
  return o;
}
