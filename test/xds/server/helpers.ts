// A raw xDS test client (real gRPC, protobufjs encoding, so tests control nonces and error_detail
// exactly) and a small in-memory generator. Only the generator is ours; the stack is real.
import * as grpc from "@grpc/grpc-js";
import { MetricsRegistry } from "../../../src/core/metrics.js";
import { encodeResource, type EncodedResource } from "../../../src/envoy/encoded.js";
import {
  CLUSTER_TYPE,
  decodeMessage,
  ENDPOINT_TYPE,
  LISTENER_TYPE,
  messageType,
  ROUTE_TYPE,
  struct,
  type ProtoObject,
} from "../../../src/envoy/protos.js";
import { AdsServer, type AdsServerOptions } from "../../../src/xds/server/ads.js";
import { DELTA_METHOD_PATH, SOTW_METHOD_PATH } from "../../../src/xds/server/service.js";
import type { GenerateResult, PushRequest, WatchedResource, XdsGenerator, XdsNode } from "../../../src/xds/server/types.js";

export { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE };

// ---------- resources and snapshots ----------

/** typeUrl → name → typed object. */
export type Snapshot = Record<string, Record<string, ProtoObject>>;

export function cluster(name: string, timeoutS = 1): ProtoObject {
  return { name, type: "EDS", edsClusterConfig: { edsConfig: { ads: {} } }, connectTimeout: { seconds: timeoutS } };
}

export function cla(name: string, ...ips: string[]): ProtoObject {
  return {
    clusterName: name,
    endpoints: [{ lbEndpoints: ips.map((ip) => ({ endpoint: { address: { socketAddress: { address: ip, portValue: 8080 } } } })) }],
  };
}

export function listener(name: string, port: number): ProtoObject {
  return { name, address: { socketAddress: { address: "0.0.0.0", portValue: port } } };
}

export function route(name: string, cluster: string): ProtoObject {
  return {
    name,
    virtualHosts: [{ name: "vh", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster } }] }],
  };
}

export function snapshot(parts: { clusters?: ProtoObject[]; clas?: ProtoObject[]; listeners?: ProtoObject[]; routes?: ProtoObject[] }): Snapshot {
  const byName = (objs: ProtoObject[] | undefined, key: string): Record<string, ProtoObject> =>
    Object.fromEntries((objs ?? []).map((o) => [String(o[key]), o]));
  return {
    [CLUSTER_TYPE]: byName(parts.clusters, "name"),
    [ENDPOINT_TYPE]: byName(parts.clas, "clusterName"),
    [LISTENER_TYPE]: byName(parts.listeners, "name"),
    [ROUTE_TYPE]: byName(parts.routes, "name"),
  };
}

export function fullPush(context: Snapshot, reason = "config"): PushRequest {
  return { full: true, reasons: [reason], start: Date.now(), context };
}

export function edsPush(context: Snapshot, names?: string[]): PushRequest {
  return { full: false, edsUpdates: names && new Set(names), reasons: ["endpoint"], start: Date.now(), context };
}

// ---------- a fake generator ----------

export interface FakeProxy {
  id: string;
  node: XdsNode;
}

export class FakeGenerator implements XdsGenerator<FakeProxy> {
  /** Every generate call: type and full flag, in order. */
  readonly calls: Array<{ node: string; typeUrl: string; full: boolean }> = [];
  readonly disconnected: string[] = [];
  /** Throw from generate for this type URL. */
  throwOn: string | undefined;

  connect(node: XdsNode): FakeProxy {
    if (node.id.startsWith("reject")) throw new Error(`node ${node.id} is not welcome`);
    return { id: node.id, node };
  }

  generate(proxy: FakeProxy, typeUrl: string, watch: WatchedResource, request: PushRequest): GenerateResult | undefined {
    this.calls.push({ node: proxy.id, typeUrl, full: request.full });
    if (this.throwOn === typeUrl) throw new Error("generator exploded");
    const snap = request.context as Snapshot | undefined;
    const objs = snap?.[typeUrl];
    if (!objs) return undefined;
    let names = watch.wildcard ? Object.keys(objs) : [...watch.names].filter((n) => n in objs);
    if (!request.full && typeUrl === ENDPOINT_TYPE && request.edsUpdates) {
      const eds = request.edsUpdates;
      names = names.filter((n) => eds.has(n));
    }
    const resources: EncodedResource[] = names.map((n) => encodeResource(typeUrl, n, objs[n]));
    return { resources };
  }

  disconnect(proxy: FakeProxy): void {
    this.disconnected.push(proxy.id);
  }
}

// ---------- the raw client ----------

export interface SotwResponse {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  /** Resource names in response order. */
  names: string[];
  resources: ProtoObject[];
}

export interface DeltaResponse {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: Array<{ name: string; version: string; object: ProtoObject }>;
  removed: string[];
}

type Obj = Record<string, unknown>;

function resourceName(o: ProtoObject): string {
  return typeof o.name === "string" ? o.name : typeof o.clusterName === "string" ? o.clusterName : "";
}

function decodeSotw(buf: Buffer): SotwResponse {
  const t = messageType("envoy.service.discovery.v3.DiscoveryResponse");
  const m = t.decode(buf) as unknown as { versionInfo: string; typeUrl: string; nonce: string; resources: Array<{ type_url: string; value: Uint8Array }> };
  const resources = m.resources.map((a) => decodeMessage(a.type_url, a.value));
  return { versionInfo: m.versionInfo, typeUrl: m.typeUrl, nonce: m.nonce, names: resources.map(resourceName), resources };
}

function decodeDelta(buf: Buffer): DeltaResponse {
  const t = messageType("envoy.service.discovery.v3.DeltaDiscoveryResponse");
  const m = t.decode(buf) as unknown as {
    systemVersionInfo: string;
    typeUrl: string;
    nonce: string;
    resources: Array<{ name: string; version: string; resource: { type_url: string; value: Uint8Array } }>;
    removedResources: string[];
  };
  return {
    systemVersionInfo: m.systemVersionInfo,
    typeUrl: m.typeUrl,
    nonce: m.nonce,
    resources: m.resources.map((r) => ({ name: r.name, version: r.version, object: decodeMessage(r.resource.type_url, r.resource.value) })),
    removed: [...m.removedResources],
  };
}

/** A bidi stream with a response queue: next() waits for the next response, quiet() asserts none comes. */
export class RawStream<Res> {
  private readonly queue: Res[] = [];
  private waiter: ((r: Res) => void) | undefined;
  readonly status: Promise<grpc.StatusObject>;
  private sentNode = false;

  constructor(
    private readonly call: grpc.ClientDuplexStream<Obj, Res>,
    readonly node: Obj,
  ) {
    this.status = new Promise((resolve) => call.on("status", resolve));
    call.on("error", () => {}); // the status promise reports it
    call.on("data", (r: Res) => {
      const w = this.waiter;
      if (w) {
        this.waiter = undefined;
        w(r);
      } else this.queue.push(r);
    });
  }

  /** Sends a request; the node goes on the first one unless `node: null` is given. */
  send(req: Obj): void {
    const msg: Obj = { ...req };
    if (msg.node === null) delete msg.node;
    else if (!this.sentNode && msg.node === undefined) msg.node = this.node;
    this.sentNode = true;
    this.call.write(msg);
  }

  next(timeoutMs = 10_000): Promise<Res> {
    const r = this.queue.shift();
    if (r !== undefined) return Promise.resolve(r);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (res) => {
        clearTimeout(timer);
        resolve(res);
      };
    });
  }

  /** Resolves if no response arrives within `ms`; rejects with the unexpected response otherwise. */
  async quiet(ms = 100): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    if (this.queue.length > 0) throw new Error(`unexpected response: ${JSON.stringify(this.queue[0])}`);
  }

  /** Responses received and not yet consumed. */
  drain(): Res[] {
    return this.queue.splice(0);
  }

  /** Stops reading (gRPC and HTTP/2 flow control then push back on the server). */
  pause(): void {
    this.call.pause();
  }

  resume(): void {
    this.call.resume();
  }

  close(): void {
    this.call.cancel();
  }
}

/** SotW stream that remembers names per type so ack() resends them, as Envoy does. */
export class SotwStream extends RawStream<SotwResponse> {
  private readonly names = new Map<string, string[]>();

  request(typeUrl: string, resourceNames: string[] = [], extra: Obj = {}): void {
    this.names.set(typeUrl, resourceNames);
    this.send({ typeUrl, resourceNames, ...extra });
  }

  ack(res: SotwResponse, resourceNames?: string[]): void {
    const names = resourceNames ?? this.names.get(res.typeUrl) ?? [];
    this.names.set(res.typeUrl, names);
    this.send({ typeUrl: res.typeUrl, versionInfo: res.versionInfo, responseNonce: res.nonce, resourceNames: names });
  }

  nack(res: SotwResponse, message: string): void {
    this.send({
      typeUrl: res.typeUrl,
      versionInfo: "",
      responseNonce: res.nonce,
      resourceNames: this.names.get(res.typeUrl) ?? [],
      errorDetail: { code: 3, message },
    });
  }
}

export class DeltaStream extends RawStream<DeltaResponse> {
  request(typeUrl: string, subscribe: string[] = [], extra: Obj = {}): void {
    this.send({ typeUrl, resourceNamesSubscribe: subscribe, ...extra });
  }

  ack(res: DeltaResponse, extra: Obj = {}): void {
    this.send({ typeUrl: res.typeUrl, responseNonce: res.nonce, ...extra });
  }
}

function serializer(typeName: string): (o: Obj) => Buffer {
  const t = messageType(typeName);
  return (o) => {
    const u8 = t.encode(t.fromObject(o)).finish();
    return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
  };
}

// ---------- harness ----------

/** A server on 127.0.0.1:0 plus the clients a test opens; close() tears everything down. */
export class Harness {
  readonly generator = new FakeGenerator();
  readonly registry = new MetricsRegistry();
  readonly logs: string[] = [];
  server!: AdsServer<FakeProxy>;
  port = 0;
  private readonly clients: grpc.Client[] = [];
  private readonly streams: Array<RawStream<unknown>> = [];
  private nodeCounter = 0;

  static async start(options: AdsServerOptions = {}): Promise<Harness> {
    const h = new Harness();
    h.server = new AdsServer(h.generator, { metrics: h.registry, log: (m) => h.logs.push(m), shutdownGraceMs: 200, ...options });
    h.port = await h.server.listen("127.0.0.1:0");
    return h;
  }

  private client(): grpc.Client {
    const c = new grpc.Client(`127.0.0.1:${this.port}`, grpc.credentials.createInsecure());
    this.clients.push(c);
    return c;
  }

  private nodeFor(id?: string): Obj {
    return {
      id: id ?? `sidecar~127.0.0.${++this.nodeCounter}~app-${this.nodeCounter}.default~default.svc.cluster.local`,
      cluster: "app.default",
      metadata: { fields: { GENERATOR: { stringValue: "test" } } },
    };
  }

  sotw(nodeId?: string, client = this.client()): SotwStream {
    const call = client.makeBidiStreamRequest<Obj, SotwResponse>(SOTW_METHOD_PATH, serializer("envoy.service.discovery.v3.DiscoveryRequest"), decodeSotw);
    const s = new SotwStream(call, this.nodeFor(nodeId));
    this.streams.push(s as RawStream<unknown>);
    return s;
  }

  delta(nodeId?: string, client = this.client()): DeltaStream {
    const call = client.makeBidiStreamRequest<Obj, DeltaResponse>(
      DELTA_METHOD_PATH,
      serializer("envoy.service.discovery.v3.DeltaDiscoveryRequest"),
      decodeDelta,
    );
    const s = new DeltaStream(call, this.nodeFor(nodeId));
    this.streams.push(s as RawStream<unknown>);
    return s;
  }

  /** Waits until the server sees `n` connections (streams connect on their first request). */
  async connected(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.server.connections().length !== n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} connections, have ${this.server.connections().length}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Waits until the server has processed the ACK of the response with `nonce`. */
  async acked(nonce: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.server.connections().some((c) => c.types.some((t) => t.ackedNonce === nonce))) {
      if (Date.now() > deadline) throw new Error(`ACK of ${nonce} not seen`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  async close(): Promise<void> {
    for (const s of this.streams) s.close();
    await this.server.close();
    for (const c of this.clients) c.close();
  }
}

/** Sleeps (real timers). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A Delta ADS stream to any server (e.g. a whole Discovery) with the given node (metadata as plain JSON). */
export function deltaStreamTo(client: grpc.Client, node: { id: string; metadata?: Record<string, unknown>; locality?: Obj }, callMetadata?: grpc.Metadata): DeltaStream {
  const call = client.makeBidiStreamRequest<Obj, DeltaResponse>(DELTA_METHOD_PATH, serializer("envoy.service.discovery.v3.DeltaDiscoveryRequest"), decodeDelta, callMetadata ?? new grpc.Metadata());
  const n: Obj = { id: node.id, metadata: struct((node.metadata ?? {}) as Parameters<typeof struct>[0]) };
  if (node.locality) n.locality = node.locality;
  return new DeltaStream(call, n);
}

/** A SotW ADS stream to any server (e.g. a whole Discovery) with the given node (metadata as plain JSON). */
export function sotwStreamTo(client: grpc.Client, node: { id: string; metadata?: Record<string, unknown> }): SotwStream {
  const call = client.makeBidiStreamRequest<Obj, SotwResponse>(SOTW_METHOD_PATH, serializer("envoy.service.discovery.v3.DiscoveryRequest"), decodeSotw);
  return new SotwStream(call, { id: node.id, metadata: struct((node.metadata ?? {}) as Parameters<typeof struct>[0]) });
}
