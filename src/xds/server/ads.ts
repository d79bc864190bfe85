// The generic ADS server (go-control-plane's role; istiod's DiscoveryServer protocol layer): gRPC
// streams, per-connection subscriptions, the push queue. It knows the xDS protocol and nothing of
// Istio: resources come from an XdsGenerator, snapshots are opaque (PushRequest.context).
import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { MetricsRegistry } from "../../core/metrics.js";
import { ENDPOINT_TYPE } from "../../envoy/protos.js";
import { type AckInfo, Connection, errorMessage, type NackInfo, type ProtocolHost } from "./connection.js";
import { handleDeltaRequest, pushDelta } from "./delta.js";
import { typeLabel, XdsMetrics } from "./metrics.js";
import { PushQueue } from "./push-queue.js";
import { adsServiceDefinition, type AdsHandlers, type DeltaRequest, type SotwRequest } from "./service.js";
import { handleSotwRequest, pushSotw } from "./sotw.js";
import type { ConnectionStatus, PushRequest, XdsGenerator } from "./types.js";

export { mergePushRequests } from "./push-queue.js";
export type { AckInfo as AckEvent, NackInfo as NackEvent } from "./connection.js";

export interface AdsServerOptions {
  /** Where istiod's pilot_xds_* metrics go (a private registry when absent). */
  metrics?: MetricsRegistry;
  /** Connection pushes in flight at once (istiod's PILOT_PUSH_THROTTLE, default 100). */
  maxConcurrentPushes?: number;
  /** Diagnostics (generator failures, rejected streams); stderr by default. */
  log?: (msg: string) => void;
  /** How long close() lets a server it created finish before forcing it down (default 1000 ms). */
  shutdownGraceMs?: number;
  /**
   * Who a stream's caller is, from its call metadata (istiod's authenticators): resolved before the
   * stream's first request is handled and handed to the generator's connect; undefined when the
   * caller presented no valid credential (the stream is still served: what it may read is the
   * generator's decision).
   */
  authenticate?: (metadata: grpc.Metadata) => Promise<unknown>;
}

export interface AdsServerEvents {
  ack: [AckInfo];
  nack: [NackInfo];
  connect: [ConnectionStatus];
  disconnect: [ConnectionStatus];
}

const CONNECTED_LABELS = { version: "tsmesh" };
let connectionCounter = 0;

type AnyRequest = SotwRequest | DeltaRequest;
type Stream<Req> = grpc.ServerDuplexStream<Req, Buffer>;

function statusError(code: grpc.status, details: string): Error & { code: grpc.status; details: string } {
  return Object.assign(new Error(details), { code, details });
}

export class AdsServer<P = unknown> extends EventEmitter<AdsServerEvents> {
  readonly metrics: XdsMetrics;
  private readonly log: (msg: string) => void;
  private readonly conns = new Map<string, Connection<P>>();
  /** Every open stream (connected or not) → its cleanup. */
  private readonly streams = new Map<Stream<AnyRequest>, () => void>();
  private readonly queue: PushQueue<Connection<P>>;
  private readonly host: ProtocolHost<P>;
  private readonly graceMs: number;
  private context: PushRequest | undefined;
  private versionCounter = 0;
  private currentVersion = "";
  private ownedServer: grpc.Server | undefined;
  private closing: Promise<void> | undefined;
  private readonly authenticate: ((metadata: grpc.Metadata) => Promise<unknown>) | undefined;

  constructor(
    private readonly generator: XdsGenerator<P>,
    options: AdsServerOptions = {},
  ) {
    super();
    this.metrics = new XdsMetrics(options.metrics ?? new MetricsRegistry());
    this.log = options.log ?? ((msg) => process.stderr.write(msg + "\n"));
    this.graceMs = options.shutdownGraceMs ?? 1000;
    this.authenticate = options.authenticate;
    this.queue = new PushQueue((conn, req, at) => this.pushConnection(conn, req, at), options.maxConcurrentPushes ?? 100, (err) =>
      this.log(`xds: push failed: ${errorMessage(err)}`),
    );
    this.host = {
      generator,
      metrics: this.metrics,
      log: this.log,
      requestContext: () =>
        this.context && { full: true, reasons: ["proxyrequest"], start: Date.now(), context: this.context.context },
      version: () => this.currentVersion,
      ack: (info) => this.safeEmit("ack", info),
      nack: (info) => this.safeEmit("nack", info),
    };
  }

  /** Registers envoy.service.discovery.v3.AggregatedDiscoveryService (SotW and Delta) on `server`. */
  addTo(server: grpc.Server): void {
    const handlers: AdsHandlers = {
      StreamAggregatedResources: (call) => this.handleStream(call, "sotw"),
      DeltaAggregatedResources: (call) => this.handleStream(call, "delta"),
    };
    server.addService(
      adsServiceDefinition({
        size: (n) => this.metrics.recordRequestSize(n),
        malformed: (err) => {
          this.metrics.internalErrors.inc();
          this.log(`xds: a request could not be decoded (the stream ends with INTERNAL): ${errorMessage(err)}`);
        },
      }),
      handlers,
    );
  }

  /** Serves ADS on a server of its own (plaintext, like istiod's 15010); returns the bound port. */
  async listen(address: string): Promise<number> {
    if (this.ownedServer) throw new Error("AdsServer.listen called twice");
    const server = new grpc.Server();
    this.addTo(server);
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    this.ownedServer = server;
    return port;
  }

  /** Ends every stream (UNAVAILABLE, clients reconnect elsewhere), stops pushes, shuts an owned server down. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.queue.close();
    for (const [call, cleanup] of [...this.streams]) {
      cleanup();
      if (!call.writableEnded && !call.destroyed) call.emit("error", statusError(grpc.status.UNAVAILABLE, "xDS server shutting down"));
    }
    const server = this.ownedServer;
    if (!server) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, this.graceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Sets the snapshot used to answer requests; requests still waiting for one are answered. */
  setContext(request: PushRequest): void {
    if (this.closing) return;
    this.applyContext(request);
    for (const conn of this.conns.values()) {
      if (conn.orderedTypes().some((t) => t.mustRespond)) {
        this.queue.enqueue(conn, { full: true, reasons: ["proxyrequest"], start: request.start, context: request.context });
      }
    }
  }

  /** Pushes to every connection (merged with pushes still queued for it). */
  push(request: PushRequest): void {
    if (this.closing) return;
    for (const r of request.reasons) this.metrics.triggers.inc({ type: r });
    if (request.full) this.applyContext(request);
    else {
      // An endpoints-only snapshot still replaces the one new requests are answered from.
      if (request.context !== undefined && this.context) this.context = { ...this.context, context: request.context };
      this.bumpVersion();
    }
    for (const conn of this.conns.values()) {
      // An endpoints-only push concerns EDS watchers (and requests waiting for an answer) only.
      if (!request.full && !conn.types.has(ENDPOINT_TYPE) && !conn.orderedTypes().some((t) => t.mustRespond)) continue;
      this.queue.enqueue(conn, request);
    }
  }

  /** Resolves when no push is queued or in flight. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Every connection's protocol state (/debug/syncz). */
  connections(): ConnectionStatus[] {
    return [...this.conns.values()].map((c) => c.status());
  }

  /** One connection by connection id, or the newest connection of a node id. */
  connection(nodeIdOrConnId: string): ConnectionStatus | undefined {
    const byId = this.conns.get(nodeIdOrConnId);
    if (byId) return byId.status();
    let found: Connection<P> | undefined;
    for (const c of this.conns.values()) if (c.nodeId === nodeIdOrConnId) found = c;
    return found?.status();
  }

  private applyContext(request: PushRequest): void {
    this.context = request;
    this.bumpVersion();
  }

  // istiod's push version shape: timestamp/counter.
  private bumpVersion(): void {
    this.currentVersion = `${new Date().toISOString()}/${++this.versionCounter}`;
  }

  private safeEmit<K extends keyof AdsServerEvents>(event: K, ...args: AdsServerEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: AdsServerEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.log(`xds: ${event} listener threw: ${errorMessage(err)}`);
    }
  }

  private async pushConnection(conn: Connection<P>, request: PushRequest, enqueuedAt: number): Promise<void> {
    if (conn.closed) return;
    this.metrics.queueTime.observe((Date.now() - enqueuedAt) / 1000);
    try {
      if (conn.protocol === "sotw") pushSotw(this.host, conn, request);
      else pushDelta(this.host, conn, request);
    } catch (err) {
      this.log(`xds: push to ${conn.id} skipped: ${errorMessage(err)}`);
    }
    // Backpressure: the push counts against the concurrency bound until the stream took it.
    await conn.waitDrain();
  }

  private handleStream<Req extends AnyRequest>(call: Stream<Req>, protocol: "sotw" | "delta"): void {
    let conn: Connection<P> | undefined;
    let done = false;
    let identity: unknown;
    const cleanup = (): void => {
      if (done) return;
      done = true;
      this.streams.delete(call);
      if (!conn) return;
      const c = conn;
      c.close();
      this.conns.delete(c.id);
      this.queue.remove(c);
      this.metrics.connected.inc(CONNECTED_LABELS, -1);
      try {
        this.generator.disconnect?.(c.proxy);
      } catch (err) {
        this.log(`xds: disconnect of ${c.id} threw: ${errorMessage(err)}`);
      }
      // A status snapshot sorts every held resource name: only build it for a listener.
      if (this.listenerCount("disconnect") > 0) this.safeEmit("disconnect", c.status());
    };
    this.streams.set(call, cleanup);
    const reject = (details: string): void => {
      cleanup();
      call.emit("error", statusError(grpc.status.INVALID_ARGUMENT, details));
    };
    call.on("data", (req: Req) => {
      if (done) return;
      try {
        if (!req.typeUrl) return reject("type_url is required on ADS requests");
        if (!conn) {
          conn = this.connect(call, req, protocol, reject, identity);
          if (!conn) return;
        }
        if (protocol === "sotw") handleSotwRequest(this.host, conn, req as SotwRequest);
        else handleDeltaRequest(this.host, conn, req as DeltaRequest);
      } catch (err) {
        this.log(`xds: request on ${conn?.id ?? "new stream"} failed: ${errorMessage(err)}`);
      }
    });
    // Client half-close: finish our side too (status OK).
    call.on("end", () => {
      cleanup();
      if (!call.writableEnded && !call.destroyed) call.end();
    });
    call.on("cancelled", cleanup);
    call.on("error", cleanup);
    call.on("close", cleanup);
    if (this.authenticate) {
      // Requests wait (flow control holds the client) until the caller's credential is checked.
      call.pause();
      this.authenticate(call.metadata).then(
        (id) => {
          identity = id;
          if (!done) call.resume();
        },
        (err: unknown) => {
          this.log(`xds: authenticating ${call.getPeer()} failed: ${errorMessage(err)}`);
          if (!done) call.resume();
        },
      );
    }
  }

  private connect(call: Stream<AnyRequest>, req: AnyRequest, protocol: "sotw" | "delta", reject: (details: string) => void, identity: unknown): Connection<P> | undefined {
    const node = req.node;
    if (!node || !node.id) {
      reject("the first request of a stream must carry node with an id");
      return undefined;
    }
    const peer = call.getPeer();
    let proxy: P;
    try {
      proxy = this.generator.connect(node, peer, identity);
    } catch (err) {
      const msg = errorMessage(err);
      this.log(`xds: rejected ${node.id} from ${peer}: ${msg}`);
      reject(msg);
      return undefined;
    }
    const conn = new Connection<P>(`${node.id}-${++connectionCounter}`, node, peer, protocol, proxy, call, this.metrics);
    conn.onSendError = (typeUrl, err) => this.log(`xds: ${typeLabel(typeUrl)}: send failure for ${conn.id}: ${errorMessage(err)}`);
    this.conns.set(conn.id, conn);
    this.metrics.connected.inc(CONNECTED_LABELS);
    if (this.listenerCount("connect") > 0) this.safeEmit("connect", conn.status());
    return conn;
  }
}
