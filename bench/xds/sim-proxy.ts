// bench:xds's simulated proxy: one Delta ADS stream behaving as Envoy's ADS mux does (CDS and LDS
// wildcard, then EDS for the outbound clusters and RDS for the listeners' routes, every response
// ACKed), tracking per type what it holds and awaits. Every SAMPLE_EVERY-th proxy checks each
// response in depth (protocol anomalies, the wire scanner against protobufjs); proxy 0 decodes every
// payload as Envoy would and records the responses for the transport floor.
import * as grpc from "@grpc/grpc-js";
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, messageType, ROUTE_TYPE, struct } from "../../src/envoy/protos.js";
import { DELTA_METHOD_PATH } from "../../src/xds/server/service.js";
import { now, type Obj, PORT, SAMPLE_EVERY, type Short, TYPE_NAMES } from "./settings.js";
import { decodeResponse, encodeRequest, intern, listenerRoutes, type Scanned, scanResponse } from "./wire.js";

export interface Track {
  /** At least one response of this type was ACKed. */
  acked: boolean;
  lastAckAt: number;
  /** Resource name → version the proxy holds. */
  versions: Map<string, string>;
  subscribed: Set<string>;
  /** Subscribed names not answered yet (neither in resources nor in removed_resources). */
  pending: Set<string>;
  responses: number;
  bytes: number;
}

const newTrack = (): Track => ({ acked: false, lastAckAt: 0, versions: new Map(), subscribed: new Set(), pending: new Set(), responses: 0, bytes: 0 });

/** Protocol oddities seen in responses (what a real Envoy would NACK or trip over). */
export class Anomalies {
  readonly counts = new Map<string, { n: number; example: string }>();
  add(kind: string, example: string): void {
    const c = this.counts.get(kind);
    if (c) c.n++;
    else this.counts.set(kind, { n: 1, example });
  }
}

export interface Recorded {
  type: string;
  buf: Buffer;
}

export interface PhaseState {
  name: string;
  start: number;
  check: (p: SimProxy) => boolean;
  converged: number;
  lastAt: number;
  resolve?: () => void;
}

/** Listener version → its routes (decoded once per distinct listener, shared by all proxies). */
const listenerCache = new Map<string, { port: number; routes: string[] }>();

/** What a simulated proxy reads from and reports to the fleet it belongs to. */
export interface FleetView {
  readonly anomalies: Anomalies;
  readonly proxies: readonly SimProxy[];
  phase: PhaseState | undefined;
  recording: Recorded[] | undefined;
  /** The route name of the listener on PORT (the VirtualService phase watches it). */
  route8080: string | undefined;
  lastResponseAt: number;
  closing: boolean;
}

export class SimProxy {
  readonly tracks: Record<Short, Track> = { cds: newTrack(), eds: newTrack(), lds: newTrack(), rds: newTrack() };
  bytes = 0;
  phaseDone = false;
  /** Versions noted at a phase start. */
  mark: Array<string | undefined> = [];
  private sentNode = false;
  private call: grpc.ClientDuplexStream<Obj, Buffer> | undefined;

  constructor(
    readonly idx: number,
    private readonly fleet: FleetView,
  ) {}

  get nodeId(): string {
    return `sidecar~10.200.${this.idx >> 8}.${this.idx & 255}~app-${this.idx}.bench~bench.svc.cluster.local`;
  }

  open(client: grpc.Client): void {
    const call = client.makeBidiStreamRequest<Obj, Buffer>(DELTA_METHOD_PATH, encodeRequest, (b: Buffer) => b);
    this.call = call;
    call.on("data", (buf: Buffer) => {
      try {
        this.onResponse(buf);
      } catch (e) {
        this.fleet.anomalies.add("client failed to handle a response", (e as Error).message);
      }
    });
    call.on("error", (e: grpc.ServiceError) => {
      if (!this.fleet.closing) this.fleet.anomalies.add(`stream error ${grpc.status[e.code] ?? e.code}`, e.details ?? e.message);
    });
    this.send({ typeUrl: CLUSTER_TYPE, resourceNamesSubscribe: [] });
    this.send({ typeUrl: LISTENER_TYPE, resourceNamesSubscribe: [] });
  }

  close(): void {
    this.call?.cancel();
  }

  private send(req: Obj): void {
    if (!this.sentNode) {
      this.sentNode = true;
      req.node = {
        id: this.nodeId,
        cluster: `app-${this.idx}.bench`,
        metadata: struct({ NAMESPACE: "bench", LABELS: { app: `client-${this.idx}` }, INTERCEPTION_MODE: "NONE" }),
      };
    }
    this.call?.write(req);
  }

  private subscribe(type: string, track: Track, names: string[], unsubscribe: string[] = []): void {
    if (names.length === 0 && unsubscribe.length === 0) return;
    for (const n of names) {
      track.subscribed.add(n);
      track.pending.add(n);
    }
    for (const n of unsubscribe) {
      track.subscribed.delete(n);
      track.pending.delete(n);
      track.versions.delete(n);
    }
    this.send({ typeUrl: type, resourceNamesSubscribe: names, resourceNamesUnsubscribe: unsubscribe });
  }

  private onResponse(buf: Buffer): void {
    const fleet = this.fleet;
    fleet.lastResponseAt = now();
    this.bytes += buf.length;
    const sampled = this.idx % SAMPLE_EVERY === 0;
    const m = scanResponse(buf, sampled);
    const type = m.typeUrl;
    if (this.idx === 0 && fleet.recording) fleet.recording.push({ type, buf: Buffer.from(buf) });
    const short = TYPE_NAMES[type] as Short | undefined;
    if (!m.nonce) fleet.anomalies.add("empty nonce", type);
    if (!short) {
      fleet.anomalies.add("response for a type never requested", type);
      return;
    }
    const track = this.tracks[short];
    track.responses++;
    track.bytes += buf.length;
    if (sampled) this.check(buf, m, short, track);
    for (let i = 0; i < m.names.length; i++) {
      const name = m.names[i];
      track.versions.set(name, m.versions[i]);
      track.pending.delete(name);
    }
    for (const n of m.removed) {
      track.versions.delete(n);
      track.pending.delete(n);
    }
    // ACK (Delta: the nonce, no error_detail), then follow-up subscriptions as Envoy's ADS mux does.
    this.send({ typeUrl: type, responseNonce: m.nonce });
    track.acked = true;
    track.lastAckAt = now();
    if (short === "cds") {
      const eds = this.tracks.eds;
      const add = m.names.filter((n) => n.startsWith("outbound|") && !eds.subscribed.has(n));
      const drop = m.removed.filter((n) => eds.subscribed.has(n));
      this.subscribe(ENDPOINT_TYPE, eds, add, drop);
    } else if (short === "lds") {
      const rds = this.tracks.rds;
      const add: string[] = [];
      for (let i = 0; i < m.names.length; i++) {
        let info = listenerCache.get(m.versions[i]);
        if (!info) {
          info = listenerRoutes(buf.subarray(m.valueBase + m.valueAt[2 * i], m.valueBase + m.valueAt[2 * i + 1]));
          listenerCache.set(m.versions[i], info);
        }
        if (info.port === PORT && info.routes.length > 0) fleet.route8080 ??= info.routes[0];
        for (const n of info.routes) if (!rds.subscribed.has(n) && !add.includes(n)) add.push(n);
      }
      this.subscribe(ROUTE_TYPE, rds, add.map(intern));
    }
    if (this.idx === 0) this.fullDecode(buf, m, type);
    const phase = fleet.phase;
    if (phase && !this.phaseDone && phase.check(this)) {
      this.phaseDone = true;
      phase.converged++;
      phase.lastAt = now();
      if (phase.converged === fleet.proxies.length) phase.resolve?.();
    }
  }

  /** Sampled proxies: protocol checks per resource, and the scanner against protobufjs. */
  private check(buf: Buffer, m: Scanned, short: Short, track: Track): void {
    const a = this.fleet.anomalies;
    const d = decodeResponse(buf);
    const same =
      d.typeUrl === m.typeUrl &&
      d.nonce === m.nonce &&
      d.systemVersionInfo === m.systemVersionInfo &&
      d.resources.length === m.names.length &&
      d.resources.every((r, i) => r.name === m.names[i] && r.version === m.versions[i] && (r.resource?.type_url ?? "") === m.anyTypes[i]) &&
      d.removedResources.join("\n") === m.removed.join("\n");
    if (!same) a.add("bench bug: wire scanner disagrees with protobufjs", short);
    if (!m.systemVersionInfo) a.add("empty system_version_info", short);
    const seen = new Set<string>();
    const removed = new Set(m.removed);
    for (let i = 0; i < m.names.length; i++) {
      const name = m.names[i];
      const version = m.versions[i];
      if (!name) a.add("resource without a name", short);
      if (!version) a.add("resource without a version", `${short} ${name}`);
      if (seen.has(name)) a.add("duplicate resource name in one response", `${short} ${name}`);
      seen.add(name);
      if (removed.has(name)) a.add("resource both sent and removed", `${short} ${name}`);
      if (m.anyTypes[i] !== m.typeUrl) a.add("Any type_url differs from the response type_url", `${short} ${name}: ${m.anyTypes[i]}`);
      if ((short === "eds" || short === "rds") && !track.subscribed.has(name)) a.add("unsubscribed resource sent", `${short} ${name}`);
      if (track.versions.get(name) === version) a.add("resource resent at the version the client holds", `${short} ${name}`);
    }
    for (const n of m.removed) {
      if (!track.versions.has(n) && !track.pending.has(n)) a.add("removal of a resource the client neither holds nor awaits", `${short} ${n}`);
    }
    if (m.names.length === 0 && m.removed.length === 0 && track.responses > 1) a.add("empty response (nothing sent, nothing removed)", short);
  }

  /** Proxy 0 only: decode every payload fully, as Envoy would (a decode failure would be a NACK). */
  private fullDecode(buf: Buffer, m: Scanned, type: string): void {
    const a = this.fleet.anomalies;
    for (let i = 0; i < m.names.length; i++) {
      try {
        const o = messageType(type).decode(buf.subarray(m.valueBase + m.valueAt[2 * i], m.valueBase + m.valueAt[2 * i + 1])) as unknown as {
          name?: string;
          clusterName?: string;
          type?: number;
          edsClusterConfig?: unknown;
        };
        const name = o.name ?? o.clusterName;
        if (name !== m.names[i]) a.add("Resource.name differs from the payload's name", `${m.names[i]} vs ${name}`);
        // Cluster.DiscoveryType EDS (3) needs eds_cluster_config (Envoy rejects the cluster otherwise).
        if (type === CLUSTER_TYPE && o.type === 3 && !o.edsClusterConfig) a.add("EDS cluster without eds_cluster_config", m.names[i]);
      } catch (e) {
        a.add("payload does not decode", `${m.names[i]}: ${(e as Error).message}`);
      }
    }
  }
}

