// Per-connection and per-type protocol state shared by the SotW and Delta handlers. Memory stays
// bounded: per type only the subscription, what the client holds (name → version) and the last
// sent / acked / rejected response are kept, never a history.
import type { EncodedResource } from "../../envoy/encoded.js";
import { ENDPOINT_TYPE, inPushOrder } from "../../envoy/protos.js";
import { typeLabel, type XdsMetrics } from "./metrics.js";
import type { ConnectionStatus, GenerateResult, PushRequest, TypeStatus, WatchedResource, XdsGenerator, XdsNode } from "./types.js";

/** The part of a server stream a connection writes to. */
export interface ResponseSink {
  write(chunk: Buffer, cb: (err?: Error | null) => void): boolean;
  once(event: "drain", listener: () => void): unknown;
  removeListener(event: "drain", listener: () => void): unknown;
}

export interface AckInfo {
  connectionId: string;
  nodeId: string;
  typeUrl: string;
  /** SotW: the request's version_info; Delta: the system_version_info of the acked response. */
  version: string;
  nonce: string;
  /** PushRequest.start of the push behind the acked response (absent for request-triggered ones). */
  pushStart?: number;
}

export interface NackInfo extends AckInfo {
  message: string;
}

/** What the protocol handlers need from the server. */
export interface ProtocolHost<P> {
  readonly generator: XdsGenerator<P>;
  readonly metrics: XdsMetrics;
  log(msg: string): void;
  /** The current full snapshot as a request for request-triggered responses; undefined before setContext. */
  requestContext(): PushRequest | undefined;
  /** The current push version (version_info / system_version_info). */
  version(): string;
  ack(info: AckInfo): void;
  nack(info: NackInfo): void;
}

export class TypeState {
  readonly watch: WatchedResource;
  /** SotW: the client listed a name at least once (ends the legacy-wildcard reading of an empty list). */
  everNamed = false;
  /** A request must be answered even if nothing changed (new watch, new names). */
  mustRespond = false;
  /** Resources the client holds as far as the server knows: name → version. */
  held = new Map<string, string>();
  /** Delta: subscribed names already reported absent in removed_resources. */
  readonly reportedMissing = new Set<string>();
  sentVersion?: string;
  sentNonce?: string;
  sentAt?: number;
  ackedVersion?: string;
  ackedNonce?: string;
  ackedAt?: number;
  nack?: { version?: string; nonce?: string; message: string; at: number };
  /** Start of the earliest push whose response is not acked yet (convergence time). */
  pushStart?: number;

  constructor(typeUrl: string) {
    this.watch = { typeUrl, wildcard: false, names: new Set() };
  }

  /** Whether the watch asks for `name`. */
  wants(name: string): boolean {
    return this.watch.wildcard || this.watch.names.has(name);
  }

  status(): TypeStatus {
    const s: TypeStatus = {
      typeUrl: this.watch.typeUrl,
      wildcard: this.watch.wildcard,
      names: [...this.watch.names].sort(),
      resourceVersions: Object.fromEntries([...this.held].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))),
    };
    if (this.sentVersion !== undefined) s.sentVersion = this.sentVersion;
    if (this.sentNonce !== undefined) s.sentNonce = this.sentNonce;
    if (this.sentAt !== undefined) s.sentAt = this.sentAt;
    if (this.ackedVersion !== undefined) s.ackedVersion = this.ackedVersion;
    if (this.ackedNonce !== undefined) s.ackedNonce = this.ackedNonce;
    if (this.ackedAt !== undefined) s.ackedAt = this.ackedAt;
    if (this.nack) s.nack = { ...this.nack };
    return s;
  }
}

/** Resources of a generate result the watch asks for (first of each name wins); names are distinct. */
export function wantedResources(ts: TypeState, result: GenerateResult | undefined): readonly EncodedResource[] {
  const resources = result?.resources ?? [];
  if (result?.distinctNames && ts.watch.wildcard) return resources;
  const out: EncodedResource[] = [];
  const seen = new Set<string>();
  for (const r of resources) {
    if (seen.has(r.name) || !ts.wants(r.name)) continue;
    seen.add(r.name);
    out.push(r);
  }
  return out;
}

// Nonces must be unique per stream; the per-process prefix also keeps a nonce from a previous
// control-plane process (a client that reconnected after a restart) from matching a new one.
const NONCE_PREFIX = Math.random().toString(36).slice(2, 8);

export class Connection<P> {
  readonly types = new Map<string, TypeState>();
  closed = false;
  private nonceCounter = 0;
  private needsDrain = false;
  private readonly closeWaiters = new Set<() => void>();
  /** Told of each unexpected send error (the server logs it). */
  onSendError: ((typeUrl: string, err: unknown) => void) | undefined;

  constructor(
    readonly id: string,
    readonly node: XdsNode,
    readonly peer: string,
    readonly protocol: "sotw" | "delta",
    readonly proxy: P,
    private readonly sink: ResponseSink,
    private readonly metrics: XdsMetrics,
    readonly connectedAt = Date.now(),
  ) {}

  get nodeId(): string {
    return this.node.id;
  }

  nextNonce(): string {
    return `${NONCE_PREFIX}-${++this.nonceCounter}`;
  }

  /** The watch for a type, created on first use. */
  watch(typeUrl: string): TypeState {
    let ts = this.types.get(typeUrl);
    if (!ts) {
      ts = new TypeState(typeUrl);
      this.types.set(typeUrl, ts);
    }
    return ts;
  }

  /** Watched types in push order (make before break), then any others in subscription order. */
  orderedTypes(): TypeState[] {
    return inPushOrder(this.types);
  }

  /**
   * Writes an encoded response of `typeUrl`; notes backpressure for waitDrain. A write the stream
   * refuses (ended or destroyed before its close reached us) is istiod's send error; the stream's
   * own error and close events then end the connection.
   */
  write(buf: Buffer, typeUrl: string): void {
    if (this.closed) return;
    const t0 = performance.now();
    const failed = (err: unknown): void => {
      if (this.metrics.recordSendError(typeUrl, err)) this.onSendError?.(typeUrl, err);
    };
    let ok: boolean;
    try {
      ok = this.sink.write(buf, (err) => {
        if (err) failed(err);
        else this.metrics.sendTime.observe((performance.now() - t0) / 1000);
      });
    } catch (err) {
      failed(err);
      return;
    }
    if (!ok) this.needsDrain = true;
  }

  /** Resolves once the stream accepted everything written so far (or closed). */
  waitDrain(): Promise<void> {
    if (!this.needsDrain || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.sink.removeListener("drain", done);
        this.closeWaiters.delete(done);
        this.needsDrain = false;
        resolve();
      };
      this.sink.once("drain", done);
      this.closeWaiters.add(done);
    });
  }

  /** Marks the connection closed and releases anything waiting on it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.closeWaiters]) w();
  }

  status(): ConnectionStatus {
    return {
      connectionId: this.id,
      nodeId: this.node.id,
      peer: this.peer,
      protocol: this.protocol,
      connectedAt: this.connectedAt,
      types: [...this.types.values()].map((t) => t.status()),
    };
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Walks a connection's watched types in push order (CDS, EDS, LDS, RDS) for a push; an
 * endpoints-only push touches EDS only (and answers requests still waiting for a snapshot).
 */
export function pushWatchedTypes<P>(
  conn: Connection<P>,
  push: PushRequest,
  generator: XdsGenerator<P>,
  send: (ts: TypeState) => void,
): void {
  for (const ts of conn.orderedTypes()) {
    if (conn.closed) return;
    if (!ts.mustRespond) {
      if (!push.full && ts.watch.typeUrl !== ENDPOINT_TYPE) continue;
      if (push.full && generator.needsPush && !generator.needsPush(conn.proxy, ts.watch.typeUrl, push, ts.watch)) continue;
    }
    send(ts);
  }
}

/**
 * Sends a response built for `nonce` and records it: the type's sent state, convergence start for
 * push-triggered responses, and istiod's push metrics (SotW and Delta alike).
 */
export function sendResponse<P>(
  host: ProtocolHost<P>,
  conn: Connection<P>,
  ts: TypeState,
  response: { version: string; nonce: string; buf: Buffer },
  push: PushRequest,
  pushTriggered: boolean,
  startedAt: number,
): void {
  const typeUrl = ts.watch.typeUrl;
  const label = { type: typeLabel(typeUrl) };
  ts.sentVersion = response.version;
  ts.sentNonce = response.nonce;
  ts.sentAt = Date.now();
  ts.mustRespond = false;
  if (pushTriggered) ts.pushStart = Math.min(ts.pushStart ?? push.start, push.start);
  conn.write(response.buf, typeUrl);
  // As istiod: the push is counted (and timed) whether or not the send succeeded.
  host.metrics.pushes.inc(label);
  // istiod labels config sizes with the full type URL, unlike its other xDS metrics.
  host.metrics.configSize.observe(response.buf.length, { type: typeUrl });
  host.metrics.pushTime.observe((performance.now() - startedAt) / 1000, label);
}
